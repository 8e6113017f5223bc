//! The accept loop and each connection's task, on hyper-util's HTTP/1.1 + HTTP/2 builder (the
//! protocol is read from the first bytes, and from ALPN once TLS terminates here). A listener
//! admits a connection through [`Connections`] before reading from it; a failing `accept`
//! (out of file descriptors…) is logged once per incident and retried after a pause, never in
//! a busy loop. The process's soft open-files limit is raised to the hard one at start.

use std::io;
use std::net::{IpAddr, SocketAddr};
use std::pin::{Pin, pin};
use std::sync::Arc;
use std::time::Duration;

use axum::extract::ConnectInfo;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt as _};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio_rustls::server::TlsStream;
use tower::ServiceExt as _;

use super::AppState;
use super::connections::{Check, Connections, ReadReady, Tracker};
use super::extract::{OverTls, is_trusted};
use super::fast_lane::{self, Outcome};
use super::plain_http::HttpsElsewhere;
use super::reload::Live;
use crate::incident::Incident;
use crate::limits::ClientKey;
use crate::metrics::HandshakeFailure;
use crate::tls::{Accepted, Acceptor};

/// Descriptors kept free of connections: listeners, log, backend pools, signing, config and
/// template files read on reload.
const RESERVED_FILES: u64 = 128;
/// After an `accept` error other than a vanished client, wait this long before the next try.
const ACCEPT_PAUSE: Duration = Duration::from_millis(100);
/// The largest request head hyper reads (431 beyond it), nginx's default total: a connection
/// sending one holds this much until its header-read time is up, where hyper's default let
/// each one hold ~400 KiB. Bodies are read through the same buffer in pieces of at most this.
const MAX_HEAD: usize = 32 * 1024;

/// Raises the soft `RLIMIT_NOFILE` to the hard limit (systemd's soft default, 1,024, is far
/// below what a public server needs); returns how many connections fit below it.
pub fn raise_open_files_limit() -> usize {
    use rustix::process::{Resource, Rlimit, getrlimit, setrlimit};
    let limit = getrlimit(Resource::Nofile);
    let raised = Rlimit {
        current: limit.maximum,
        maximum: limit.maximum,
    };
    let soft = match setrlimit(Resource::Nofile, raised) {
        Ok(()) => limit.maximum,
        Err(error) => {
            tracing::warn!(%error, "cannot raise the open-files limit");
            limit.current
        }
    };
    soft.map_or(usize::MAX, |soft| {
        usize::try_from(soft.saturating_sub(RESERVED_FILES).max(16)).unwrap_or(usize::MAX)
    })
}

/// What every connection task shares.
#[derive(Clone)]
pub struct Shared {
    pub connections: Arc<Connections>,
    /// HTTP/1.1 or HTTP/2, as a connection's first bytes (or ALPN) say.
    pub builder: Arc<auto::Builder<TokioExecutor>>,
    /// HTTP/1.1 only: for a connection the fast lane hands over as HTTP/1 for certain (it
    /// answered on it, or its bytes do not begin the HTTP/2 preface).
    pub http1: Arc<auto::Builder<TokioExecutor>>,
    /// The current configuration; each request takes its router once.
    pub live: Arc<Live>,
    /// Becomes `true` when the server drains.
    pub stopping: watch::Receiver<bool>,
    /// `[tls] handshake-timeout`: from accept until a TLS listener's handshake is done.
    pub handshake_timeout: Duration,
    /// Where HTTPS is served beside the plain listeners, if it is: told to their requests.
    pub https: Option<HttpsElsewhere>,
}

impl Shared {
    pub fn new(
        connections: Arc<Connections>,
        live: Arc<Live>,
        stopping: watch::Receiver<bool>,
        handshake_timeout: Duration,
        https: Option<HttpsElsewhere>,
    ) -> Self {
        // Header-read and idle times are enforced by the connection tasks (one clock for
        // both protocols), not by hyper's own HTTP/1 timer.
        let mut builder = auto::Builder::new(TokioExecutor::new());
        // A client that shuts its sending side after its request (`nc -N`, some health checkers)
        // still gets the answer, as from the fast lane; otherwise hyper drops it at the end of
        // the stream. The request and idle timeouts bound how long such a connection stays.
        builder.http1().half_close(true).max_buf_size(MAX_HEAD);
        let http1 = builder.clone().http1_only();
        Shared {
            connections,
            builder: Arc::new(builder),
            http1: Arc::new(http1),
            live,
            stopping,
            handshake_timeout,
            https,
        }
    }
}

/// Accepts on `listener` until the server drains; with `tls`, every connection's handshake
/// runs first, in the connection's own task.
pub async fn accept_loop(listener: TcpListener, shared: Shared, tls: Option<Arc<Acceptor>>) {
    let mut stopping = shared.stopping.clone();
    let failing = Incident::default();
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            _ = stopping.wait_for(|stop| *stop) => return,
        };
        match accepted {
            Ok((stream, peer)) => {
                if let Some(failures) = failing.cleared() {
                    tracing::info!(failures, "accepting connections again");
                }
                let client = connection_client(&shared.live.state(), peer.ip());
                let Some((id, tracker)) = shared.connections.admit(client) else {
                    continue; // dropped: closed at once
                };
                // Answers are written whole; Nagle's delay would only hold back their last bytes.
                let _ = stream.set_nodelay(true);
                let shared = shared.clone();
                let tls = tls.clone();
                tokio::spawn(async move {
                    // The handshake runs here, inside the connection's task and its place
                    // under the cap, so a slow one holds only its own connection. Boxed: an
                    // idle connection's task is as large as its future, and a plain one need
                    // not carry room for TLS state.
                    match tls {
                        None => {
                            serve_connection(stream, peer, None, false, &tracker, &shared).await
                        }
                        Some(acceptor) => {
                            Box::pin(serve_tls(&acceptor, stream, peer, &tracker, &shared)).await
                        }
                    }
                    shared.connections.remove(id);
                });
            }
            // The client gave up between SYN and accept: nothing to do.
            Err(error) if is_per_connection(&error) => {}
            Err(error) => {
                if failing.occurred() {
                    tracing::error!(%error, "cannot accept connections; retrying every 100 ms");
                }
                if is_out_of_files(&error) {
                    shared.connections.shed_one();
                }
                tokio::select! {
                    () = tokio::time::sleep(ACCEPT_PAUSE) => {}
                    _ = stopping.wait_for(|stop| *stop) => return,
                }
            }
        }
    }
}

/// A TLS connection: its handshake, then its requests.
async fn serve_tls(
    acceptor: &Acceptor,
    stream: TcpStream,
    peer: SocketAddr,
    tracker: &Arc<Tracker>,
    shared: &Shared,
) {
    if let Some(stream) = handshake(acceptor, stream, tracker, shared).await {
        shared.connections.handshake_done(tracker);
        let h2 = stream.get_ref().1.alpn_protocol() == Some(b"h2");
        serve_connection(stream, peer, Some(OverTls), h2, tracker, shared).await;
    }
}

/// Whom a connection from `ip` counts against for `max-connections-per-client`: the client as
/// `[limits]` names it, or `None` for an exempt network and for a trusted proxy, whose one
/// address carries many clients.
fn connection_client(state: &AppState, ip: IpAddr) -> Option<ClientKey> {
    if is_trusted(ip, &state.answers.config.trusted_proxies) {
        return None;
    }
    state.limiter.counted_as(ip)
}

fn is_per_connection(error: &io::Error) -> bool {
    matches!(
        error.kind(),
        io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
            | io::ErrorKind::ConnectionRefused
    )
}

fn is_out_of_files(error: &io::Error) -> bool {
    let code = error.raw_os_error();
    code == Some(rustix::io::Errno::MFILE.raw_os_error())
        || code == Some(rustix::io::Errno::NFILE.raw_os_error())
}

/// What a plain-HTTP client that reached a TLS port is told (as nginx does), instead of a TLS
/// alert it cannot read.
const PLAIN_HTTP_ON_TLS: &[u8] = b"HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: 50\r\nConnection: close\r\n\r\nThis port speaks HTTPS: use https:// to reach it.\n";
/// A TLS connection starts with a handshake record; an HTTP request with a method's letter.
const TLS_HANDSHAKE_RECORD: u8 = 0x16;

/// The TLS handshake of one connection, bounded by the handshake timeout (and ended early when
/// the connection is chosen to make room or the server drains). `None`: nothing to serve
/// (failed, timed out, a plain-HTTP client told off, or a tls-alpn-01 validation, which ends
/// with its handshake).
async fn handshake(
    acceptor: &Acceptor,
    stream: TcpStream,
    tracker: &Tracker,
    shared: &Shared,
) -> Option<TlsStream<TcpStream>> {
    let accepting = async {
        let mut first = [0u8; 1];
        if stream.peek(&mut first).await? == 1
            && first[0] != TLS_HANDSHAKE_RECORD
            && first[0].is_ascii_uppercase()
        {
            let mut stream = stream;
            stream.write_all(PLAIN_HTTP_ON_TLS).await?;
            let _ = stream.shutdown().await;
            return Ok(None);
        }
        acceptor.accept(stream).await.map(Some)
    };
    let mut stopping = shared.stopping.clone();
    let outcome = tokio::select! {
        outcome = tokio::time::timeout(shared.handshake_timeout, accepting) => outcome,
        () = tracker.evicted() => return None,
        _ = stopping.wait_for(|stop| *stop) => return None,
    };
    let failure = match outcome {
        Ok(Ok(Some(Accepted::Serve(stream)))) => return Some(stream),
        Ok(Ok(Some(Accepted::Challenge(mut stream)))) => {
            // The validator closes after the handshake (RFC 8737 §3); close_notify is polite
            // but must not wait on a peer that does not read.
            let _ = tokio::time::timeout(ACCEPT_PAUSE, stream.shutdown()).await;
            return None;
        }
        Ok(Ok(None)) => HandshakeFailure::PlainHttp,
        Ok(Err(error)) => {
            // Scanners and clients that give up are routine: not worth more than debug.
            tracing::debug!(%error, "TLS handshake failed");
            HandshakeFailure::Error
        }
        Err(_) => HandshakeFailure::Timeout,
    };
    crate::metrics::tls_handshake_failure(failure);
    None
}

/// Serves one connection until the client closes it, its time is up, it makes room at the
/// cap, or the server drains (then a request in progress is finished first). An HTTP/1
/// connection starts in the [fast lane](fast_lane), which hands it to hyper at the first
/// request that is not its own; one that negotiated `h2` goes to hyper at once.
async fn serve_connection<I>(
    io: I,
    peer: SocketAddr,
    tls: Option<OverTls>,
    h2: bool,
    tracker: &Arc<Tracker>,
    shared: &Shared,
) where
    I: AsyncRead + AsyncWrite + ReadReady + Unpin + Send + 'static,
{
    let connections = &shared.connections;
    let mut io = connections.watch(io, tracker);
    let mut clock = Clock {
        due: tokio::time::Instant::now() + connections.settings().header_read_timeout,
        draining: false,
    };
    // Whether the fast lane handed the connection over as HTTP/1 for certain.
    let mut http1 = false;
    if !h2 {
        let lane = fast_lane::Lane {
            peer,
            over_tls: tls.is_some(),
            https_routes: tls.is_some() || shared.https.is_none(),
            connections,
            tracker,
            live: &shared.live,
            stopping: &shared.stopping,
        };
        // The lane closes a draining connection itself, after the answer in progress.
        let served = lane.serve(&mut io);
        let outcome = supervise(pin!(served), tracker, shared, &mut clock, |_| {}).await;
        match outcome {
            Some(Outcome::HandOff {
                bytes,
                http1: certain,
            }) => {
                io.replay(bytes);
                http1 = certain;
            }
            Some(Outcome::Closed) | None => return,
        }
        // A drain seen by the lane is told to hyper too, once it has begun the request.
        clock.draining = false;
    }
    let service = {
        let connections = Arc::clone(connections);
        let tracker = Arc::clone(tracker);
        let live = Arc::clone(&shared.live);
        let https = shared.https.clone().filter(|_| tls.is_none());
        hyper::service::service_fn(move |mut request: hyper::Request<Incoming>| {
            let busy = connections.begin(&tracker);
            request.extensions_mut().insert(ConnectInfo(peer));
            if let Some(tls) = tls {
                request.extensions_mut().insert(tls);
            }
            if let Some(https) = &https {
                request.extensions_mut().insert(https.clone());
            }
            // One snapshot for the whole request, whatever a reload does meanwhile.
            let app = live.router();
            async move {
                let response = app.oneshot(request.map(axum::body::Body::new)).await;
                drop(busy);
                response
            }
        })
    };
    // Boxed when it is needed: hyper's connection state is most of a connection's memory.
    let builder = if http1 {
        &shared.http1
    } else {
        &shared.builder
    };
    let mut connection = Box::pin(builder.serve_connection(TokioIo::new(io), service));
    supervise(
        connection.as_mut(),
        tracker,
        shared,
        &mut clock,
        |connection| connection.graceful_shutdown(),
    )
    .await;
}

/// A connection's timer and whether the server is draining it.
struct Clock {
    due: tokio::time::Instant,
    draining: bool,
}

/// Runs `connection` to its end (`Some`), or until its header-read or idle time is up, it is
/// chosen to make room, or the server drains while it is idle (`None`). When the server drains
/// during a request, or while its head arrives, `drain` tells the connection once the request
/// has begun, and it runs on to answer it.
async fn supervise<F: Future>(
    mut connection: Pin<&mut F>,
    tracker: &Tracker,
    shared: &Shared,
    clock: &mut Clock,
    mut drain: impl FnMut(Pin<&mut F>),
) -> Option<F::Output> {
    let connections = &shared.connections;
    let mut stopping = shared.stopping.clone();
    // Draining while a head arrives: the connection is told once its request has begun.
    let mut drain_when_begun = false;
    loop {
        tokio::select! {
            // The connection first: bytes handed over from the fast lane are read (and their
            // request begun) before a drain can find the connection idle.
            biased;
            output = connection.as_mut() => return Some(output),
            () = tracker.evicted() => return None,
            () = tokio::time::sleep_until(clock.due) => match connections.check(tracker) {
                Check::Expired => return None,
                Check::At(next) => clock.due = next,
            },
            _ = stopping.wait_for(|stop| *stop), if !clock.draining => {
                // Draining: an idle keep-alive closes now; a request in progress (or one
                // whose head is arriving) is answered first, its timers still running.
                if tracker.is_idle() {
                    return None;
                }
                // hyper takes a shutdown before it has begun a request as closing an idle
                // connection, dropping the head that is arriving.
                if tracker.is_busy() {
                    drain(connection.as_mut());
                } else {
                    tracker.want_drain();
                    drain_when_begun = true;
                }
                clock.draining = true;
            }
            () = tracker.began(), if drain_when_begun => {
                drain_when_begun = false;
                drain(connection.as_mut());
            }
        }
    }
}
