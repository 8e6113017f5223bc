//! Open connections: the cap, the timeouts, and which one goes first. Every accepted
//! connection gets a [`Tracker`] here, updated from its bytes (the [`Watched`] stream) and its
//! requests; each connection's task closes it when its header-read or idle time is up, when it
//! is chosen to make room at the cap (the one without a request that has waited longest:
//! idle keep-alives and slowloris heads alike), or when the server drains.

use std::collections::HashMap;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::Notify;

use crate::config::ConnectionSettings;
use crate::incident::Incident;

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

    /// Registers a new connection from `peer`. At the cap, the connection without a request
    /// that has waited longest is told to close; when every connection is answering a request,
    /// `None`: the new one is refused (closed at once). A per-client cap belongs here too: the
    /// peer is known before anything is read.
    pub fn admit(&self, _peer: SocketAddr) -> Option<(u64, Arc<Tracker>)> {
        let mut open = self.open();
        if open.by_id.len() - open.closing >= self.limit && !open.shed_one() {
            if self.refused.occurred() {
                tracing::warn!(
                    limit = self.limit,
                    "every connection is answering a request: refusing new ones until one ends"
                );
            }
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
        });
        open.by_id.insert(id, Arc::clone(&tracker));
        Some((id, tracker))
    }

    /// Makes room for one descriptor when accept fails for lack of them: the connection without
    /// a request that has waited longest is closed. `false` when there is none.
    pub fn shed_one(&self) -> bool {
        self.open().shed_one()
    }

    pub fn remove(&self, id: u64) {
        let mut open = self.open();
        if let Some(tracker) = open.by_id.remove(&id)
            && tracker.evicted.load(Ordering::Relaxed)
        {
            open.closing -= 1;
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
pub struct Watched<I> {
    io: I,
    connections: Arc<Connections>,
    tracker: Arc<Tracker>,
}

impl<I: AsyncRead + Unpin> AsyncRead for Watched<I> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
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

    fn peer() -> SocketAddr {
        "192.0.2.1:4000".parse().unwrap()
    }

    #[test]
    fn at_the_cap_the_longest_waiting_idle_connection_makes_room() {
        let settings = ConnectionSettings {
            max_connections: 2,
            ..ConnectionSettings::default()
        };
        let connections = Arc::new(Connections::new(settings, 100));
        assert_eq!(connections.limit(), 2);
        let (_, first) = connections.admit(peer()).unwrap();
        let (_, second) = connections.admit(peer()).unwrap();
        first.since.store(5, Ordering::Relaxed);
        second.since.store(1, Ordering::Relaxed);
        let _busy = connections.begin(&second);
        // The second waited longer but is answering a request: the first goes.
        let (_, third) = connections.admit(peer()).unwrap();
        assert!(first.evicted.load(Ordering::Relaxed));
        assert!(!second.evicted.load(Ordering::Relaxed));
        let _busy_too = connections.begin(&third);
        assert!(
            connections.admit(peer()).is_none(),
            "every connection busy: refused"
        );
    }
}
