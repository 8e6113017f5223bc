//! Open connections: the cap, the timeouts, and which one goes first. Every accepted
//! connection gets a [`Tracker`] here, updated from its bytes (the [`Watched`] stream) and its
//! requests; each connection's task closes it when its header-read or idle time is up, when it
//! is chosen to make room at the cap (the one without a request that has waited longest:
//! idle keep-alives and slowloris heads alike), or when the server drains. One client (as
//! `[limits]` counts clients) holds at most `max-connections-per-client` of them: beyond it,
//! its new connections are closed at once, so it cannot push everyone else out at the cap.

use std::collections::HashMap;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::Notify;

use crate::config::ConnectionSettings;
use crate::incident::Incident;
use crate::limits::ClientKey;
use crate::metrics::ConnectionRefusal;

/// Every open connection, over all listeners.
#[derive(Debug)]
pub struct Connections {
    settings: ConnectionSettings,
    /// The cap in force: `max-connections`, or less when the open-files limit is lower.
    limit: usize,
    /// The clock the trackers' millisecond stamps count from.
    epoch: Instant,
    open: Mutex<Open>,
    /// Connections refused since the cap was last free.
    refused: Incident,
    /// Signalled whenever a connection ends (draining waits on it).
    ended: Notify,
}

#[derive(Debug, Default)]
struct Open {
    next_id: u64,
    by_id: HashMap<u64, Arc<Tracker>>,
    /// Chosen to make room, not yet gone: they no longer count against the cap.
    closing: usize,
    /// The clients with connections open (exempt ones are not counted).
    by_client: HashMap<ClientKey, Held>,
}

/// One client's connections.
#[derive(Debug, Default)]
struct Held {
    open: usize,
    /// Connections refused at its cap since its first refusal, which was logged; the count is
    /// logged when the client has no connection left.
    refused: u64,
}

impl Open {
    /// Tells the connection without a request that has waited longest to close. A scan: it
    /// runs only at the cap, over at most `max-connections` entries.
    fn shed_one(&mut self) -> bool {
        let victim = self
            .by_id
            .values()
            .filter(|tracker| tracker.is_waiting())
            .min_by_key(|tracker| tracker.since.load(Ordering::Relaxed));
        let Some(victim) = victim else {
            return false;
        };
        victim.evicted.store(true, Ordering::Relaxed);
        victim.evict.notify_one();
        self.closing += 1;
        true
    }
}

/// One connection's state, read by its task's timer and by the cap.
#[derive(Debug)]
pub struct Tracker {
    /// Requests being answered.
    busy: AtomicU32,
    /// Bytes of a request head arrived while no request was being answered.
    reading: AtomicBool,
    /// Milliseconds since the epoch at which the connection became idle, or its head began.
    since: AtomicU64,
    /// Chosen to make room at the cap.
    evicted: AtomicBool,
    evict: Notify,
    /// The server drains while a head arrives: its task waits for the request to begin.
    drain_wanted: AtomicBool,
    began: Notify,
    /// Whom it counts against for `max-connections-per-client`; `None`: exempt.
    client: Option<ClientKey>,
}

/// What a connection's timer found.
pub enum Check {
    /// Its header-read or idle time is up.
    Expired,
    /// Look again then.
    At(tokio::time::Instant),
}

impl Connections {
    pub fn new(settings: ConnectionSettings, limit: usize) -> Self {
        Connections {
            settings,
            limit: limit.clamp(1, settings.max_connections),
            epoch: Instant::now(),
            open: Mutex::new(Open::default()),
            refused: Incident::default(),
            ended: Notify::new(),
        }
    }

    pub fn limit(&self) -> usize {
        self.limit
    }

    pub fn settings(&self) -> &ConnectionSettings {
        &self.settings
    }

    fn now(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    fn open(&self) -> MutexGuard<'_, Open> {
        // A panic while holding the lock leaves nothing half-done here (plain counters).
        self.open
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Registers a new connection from `client` (`None`: exempt from the per-client cap).
    /// `None` when it is refused (closed at once): its client already holds
    /// `max-connections-per-client`, or every connection is answering a request. Otherwise,
    /// at the cap, the connection without a request that has waited longest is told to close.
    pub fn admit(&self, client: Option<ClientKey>) -> Option<(u64, Arc<Tracker>)> {
        let mut open = self.open();
        let cap = self.settings.max_connections_per_client;
        if let Some(key) = client
            && let Some(held) = open.by_client.get_mut(&key)
            && held.open >= cap
        {
            held.refused += 1;
            if held.refused == 1 {
                tracing::warn!(
                    client = %key,
                    limit = cap,
                    "client holds max-connections-per-client: its new connections are refused while it does (logged again once it has closed them all)"
                );
            }
            crate::metrics::connection_refused(ConnectionRefusal::ClientCap);
            return None;
        }
        if open.by_id.len() - open.closing >= self.limit && !open.shed_one() {
            if self.refused.occurred() {
                tracing::warn!(
                    limit = self.limit,
                    "every connection is answering a request: refusing new ones until one ends"
                );
            }
            crate::metrics::connection_refused(ConnectionRefusal::Busy);
            return None;
        }
        if let Some(refused) = self.refused.cleared() {
            tracing::info!(refused, "accepting connections again");
        }
        open.next_id += 1;
        let id = open.next_id;
        let tracker = Arc::new(Tracker {
            busy: AtomicU32::new(0),
            // A new connection owes a request head: the header-read clock runs from accept.
            reading: AtomicBool::new(true),
            since: AtomicU64::new(self.now()),
            evicted: AtomicBool::new(false),
            evict: Notify::new(),
            drain_wanted: AtomicBool::new(false),
            began: Notify::new(),
            client,
        });
        open.by_id.insert(id, Arc::clone(&tracker));
        if let Some(key) = client {
            open.by_client.entry(key).or_default().open += 1;
        }
        Some((id, tracker))
    }

    /// Makes room for one descriptor when accept fails for lack of them: the connection without
    /// a request that has waited longest is closed. `false` when there is none.
    pub fn shed_one(&self) -> bool {
        self.open().shed_one()
    }

    pub fn remove(&self, id: u64) {
        let mut open = self.open();
        let Some(tracker) = open.by_id.remove(&id) else {
            return;
        };
        if tracker.evicted.load(Ordering::Relaxed) {
            open.closing -= 1;
        }
        if let Some(key) = tracker.client
            && let Some(held) = open.by_client.get_mut(&key)
        {
            held.open -= 1;
            if held.open == 0 {
                if held.refused > 0 {
                    tracing::info!(
                        client = %key,
                        refused = held.refused,
                        "client has no connection left; its connections refused at its cap meanwhile:"
                    );
                }
                open.by_client.remove(&key);
            }
        }
        drop(open);
        self.ended.notify_waiters();
    }

    pub fn count(&self) -> usize {
        self.open().by_id.len()
    }

    /// Waits until no connection is open.
    pub async fn drained(&self) {
        loop {
            let ended = self.ended.notified();
            if self.count() == 0 {
                return;
            }
            ended.await;
        }
    }

    /// When `tracker`'s connection is due to close, measured from now.
    pub fn check(&self, tracker: &Tracker) -> Check {
        let now = self.now();
        let wait = if tracker.busy.load(Ordering::Relaxed) > 0 {
            // The request timeout bounds a request; look again after it.
            return Check::At(tokio::time::Instant::now() + self.settings.idle_timeout);
        } else if tracker.reading.load(Ordering::Relaxed) {
            self.settings.header_read_timeout
        } else {
            self.settings.idle_timeout
        };
        let since = tracker.since.load(Ordering::Relaxed);
        let due = since.saturating_add(u64::try_from(wait.as_millis()).unwrap_or(u64::MAX));
        if now >= due {
            Check::Expired
        } else {
            Check::At(tokio::time::Instant::now() + Duration::from_millis(due - now))
        }
    }

    /// A request of `tracker`'s connection starts; the returned guard ends it when dropped
    /// (answered, or abandoned with the connection).
    pub fn begin(self: &Arc<Self>, tracker: &Arc<Tracker>) -> Busy {
        tracker.busy.fetch_add(1, Ordering::Relaxed);
        tracker.reading.store(false, Ordering::Relaxed);
        if tracker.drain_wanted.load(Ordering::Relaxed) {
            tracker.began.notify_one();
        }
        Busy {
            connections: Arc::clone(self),
            tracker: Arc::clone(tracker),
        }
    }

    /// The TLS handshake of `tracker`'s connection is done: its header-read time starts now,
    /// not at accept (the handshake had a timeout of its own).
    pub fn handshake_done(&self, tracker: &Tracker) {
        tracker.since.store(self.now(), Ordering::Relaxed);
    }

    /// The stream of `tracker`'s connection, watched for the first bytes of a request head.
    pub fn watch<I>(self: &Arc<Self>, io: I, tracker: &Arc<Tracker>) -> Watched<I> {
        Watched {
            io,
            replay: Vec::new(),
            replayed: 0,
            connections: Arc::clone(self),
            tracker: Arc::clone(tracker),
        }
    }
}

impl Tracker {
    /// Chosen to make room: close now.
    pub async fn evicted(&self) {
        self.evict.notified().await;
    }

    /// Answering a request.
    pub fn is_busy(&self) -> bool {
        self.busy.load(Ordering::Relaxed) > 0
    }

    /// Ready once a request begins, from the call of [`Tracker::want_drain`] on.
    pub async fn began(&self) {
        self.began.notified().await;
    }

    /// The server drains while this connection's head arrives: [`Tracker::began`] tells when
    /// its request begins.
    pub fn want_drain(&self) {
        self.drain_wanted.store(true, Ordering::Relaxed);
    }

    /// Between requests: no request being answered and no head arriving.
    pub fn is_idle(&self) -> bool {
        self.busy.load(Ordering::Relaxed) == 0 && !self.reading.load(Ordering::Relaxed)
    }

    /// No request being answered: idle, or still sending a head.
    pub fn is_waiting(&self) -> bool {
        self.busy.load(Ordering::Relaxed) == 0 && !self.evicted.load(Ordering::Relaxed)
    }
}

/// One request in progress on a connection.
pub struct Busy {
    connections: Arc<Connections>,
    tracker: Arc<Tracker>,
}

impl Drop for Busy {
    fn drop(&mut self) {
        if self.tracker.busy.fetch_sub(1, Ordering::Relaxed) == 1 {
            self.tracker
                .since
                .store(self.connections.now(), Ordering::Relaxed);
        }
    }
}

/// A connection's stream that marks the start of a request head: the first bytes that arrive
/// while no request is being answered start the header-read clock instead of the idle one.
/// Bytes the fast lane read and handed over are read again first ([`Watched::replay`]).
pub struct Watched<I> {
    io: I,
    replay: Vec<u8>,
    replayed: usize,
    connections: Arc<Connections>,
    tracker: Arc<Tracker>,
}

impl<I> Watched<I> {
    /// `bytes` are read before anything more from the connection. They were watched when
    /// they arrived, so they do not start a clock again.
    pub fn replay(&mut self, bytes: Vec<u8>) {
        self.replay = bytes;
        self.replayed = 0;
    }
}

/// A stream that can tell when bytes have arrived without reading them, so that an idle
/// connection waits for its next request without holding a buffer.
pub trait ReadReady {
    /// Ready when a read may find bytes (or the end of the stream).
    fn poll_read_ready(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>>;
}

impl ReadReady for tokio::net::TcpStream {
    fn poll_read_ready(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        tokio::net::TcpStream::poll_read_ready(self, cx)
    }
}

/// Always ready: rustls may hold decrypted bytes that the socket no longer signals, so a TLS
/// connection reads into its buffer at once (its TLS state is far larger anyway).
impl<I> ReadReady for tokio_rustls::server::TlsStream<I> {
    fn poll_read_ready(&self, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

impl<I: ReadReady> ReadReady for Watched<I> {
    fn poll_read_ready(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if self.replayed < self.replay.len() {
            return Poll::Ready(Ok(()));
        }
        self.io.poll_read_ready(cx)
    }
}

impl<I: AsyncRead + Unpin> AsyncRead for Watched<I> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        if self.replayed < self.replay.len() {
            let this = &mut *self;
            let rest = &this.replay[this.replayed..];
            let n = rest.len().min(buf.remaining());
            buf.put_slice(&rest[..n]);
            this.replayed += n;
            if this.replayed == this.replay.len() {
                this.replay = Vec::new();
                this.replayed = 0;
            }
            return Poll::Ready(Ok(()));
        }
        let before = buf.filled().len();
        let poll = Pin::new(&mut self.io).poll_read(cx, buf);
        let tracker = &self.tracker;
        if buf.filled().len() > before
            && tracker.busy.load(Ordering::Relaxed) == 0
            && !tracker.reading.load(Ordering::Relaxed)
        {
            tracker.reading.store(true, Ordering::Relaxed);
            tracker
                .since
                .store(self.connections.now(), Ordering::Relaxed);
        }
        poll
    }
}

impl<I: AsyncWrite + Unpin> AsyncWrite for Watched<I> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.io).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.io).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::incident::tests::Logs;

    fn client(ip: &str) -> Option<ClientKey> {
        Some(ClientKey::new(ip.parse().unwrap(), 64))
    }

    #[test]
    fn at_the_cap_the_longest_waiting_idle_connection_makes_room() {
        let settings = ConnectionSettings {
            max_connections: 2,
            ..ConnectionSettings::default()
        };
        let connections = Arc::new(Connections::new(settings, 100));
        assert_eq!(connections.limit(), 2);
        let (_, first) = connections.admit(client("192.0.2.1")).unwrap();
        let (_, second) = connections.admit(client("192.0.2.1")).unwrap();
        first.since.store(5, Ordering::Relaxed);
        second.since.store(1, Ordering::Relaxed);
        let _busy = connections.begin(&second);
        // The second waited longer but is answering a request: the first goes.
        let (_, third) = connections.admit(client("192.0.2.1")).unwrap();
        assert!(first.evicted.load(Ordering::Relaxed));
        assert!(!second.evicted.load(Ordering::Relaxed));
        let _busy_too = connections.begin(&third);
        assert!(
            connections.admit(client("192.0.2.1")).is_none(),
            "every connection busy: refused"
        );
    }

    #[test]
    fn one_client_holds_at_most_its_cap_and_others_still_get_in() {
        let logs = Logs::default();
        let _guard = logs.capture();
        let settings = ConnectionSettings {
            max_connections: 20,
            max_connections_per_client: 3,
            ..ConnectionSettings::default()
        };
        let connections = Connections::new(settings, 100);
        let greedy = client("192.0.2.1");
        let held: Vec<_> = (0..3)
            .map(|_| connections.admit(greedy).unwrap().0)
            .collect();
        for _ in 0..5 {
            assert!(connections.admit(greedy).is_none(), "over its cap");
        }
        assert_eq!(logs.count("client holds max-connections-per-client"), 1);
        // Another client, one of the same IPv6 /64 as a third, and exempt ones are not held back.
        assert!(connections.admit(client("192.0.2.2")).is_some());
        let network = client("2001:db8:1:2::1");
        assert!(connections.admit(network).is_some());
        assert!(connections.admit(client("2001:db8:1:2::ffff")).is_some());
        assert!(connections.admit(client("2001:db8:1:2:abcd::")).is_some());
        assert!(
            connections.admit(client("2001:db8:1:2::7")).is_none(),
            "one /64"
        );
        for _ in 0..3 {
            assert!(connections.admit(None).is_some());
        }
        // Below its cap again, the client gets in; the incident ends when it has closed all.
        connections.remove(held[0]);
        let (again, _) = connections.admit(greedy).unwrap();
        for id in [held[1], held[2], again] {
            connections.remove(id);
        }
        assert_eq!(logs.count("refused=5"), 1, "{}", logs.text());
        assert_eq!(connections.count(), 7);
    }
}
