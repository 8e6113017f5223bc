//! The accept loop and each connection's task, on hyper-util's HTTP/1.1 + HTTP/2 builder (the
//! protocol is read from the first bytes, and from ALPN once TLS terminates here). A listener
//! admits a connection through [`Connections`] before reading from it; a failing `accept`
//! (out of file descriptors…) is logged once per incident and retried after a pause, never in
//! a busy loop. The process's soft open-files limit is raised to the hard one at start.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::ConnectInfo;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tower::ServiceExt as _;

use super::connections::{Check, Connections, Tracker};
use super::reload::Live;
use crate::incident::Incident;

/// Descriptors kept free of connections: listeners, log, backend pools, signing, config and
/// template files read on reload.
const RESERVED_FILES: u64 = 128;
/// After an `accept` error other than a vanished client, wait this long before the next try.
const ACCEPT_PAUSE: Duration = Duration::from_millis(100);

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
    pub builder: Arc<auto::Builder<TokioExecutor>>,
    /// The current configuration; each request takes its router once.
    pub live: Arc<Live>,
    /// Becomes `true` when the server drains.
    pub stopping: watch::Receiver<bool>,
}

impl Shared {
    pub fn new(
        connections: Arc<Connections>,
        live: Arc<Live>,
        stopping: watch::Receiver<bool>,
    ) -> Self {
        // Header-read and idle times are enforced by the connection tasks (one clock for
        // both protocols), not by hyper's own HTTP/1 timer.
        let builder = auto::Builder::new(TokioExecutor::new());
        Shared {
            connections,
            builder: Arc::new(builder),
            live,
            stopping,
        }
    }
}

/// Accepts on `listener` until the server drains.
pub async fn accept_loop(listener: TcpListener, shared: Shared) {
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
                let Some((id, tracker)) = shared.connections.admit(peer) else {
                    continue; // dropped: closed at once
                };
                // Answers are written whole; Nagle's delay would only hold back their last bytes.
                let _ = stream.set_nodelay(true);
                let shared = shared.clone();
                tokio::spawn(async move {
                    // A TLS acceptor wraps `stream` here, inside the connection's task, so a
                    // slow handshake holds only its own connection.
                    serve_connection(stream, peer, &tracker, &shared).await;
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

/// Serves one connection until the client closes it, its time is up, it makes room at the
/// cap, or the server drains (then a request in progress is finished first).
async fn serve_connection<I>(io: I, peer: SocketAddr, tracker: &Arc<Tracker>, shared: &Shared)
where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let connections = &shared.connections;
    let service = {
        let connections = Arc::clone(connections);
        let tracker = Arc::clone(tracker);
        let live = Arc::clone(&shared.live);
        hyper::service::service_fn(move |mut request: hyper::Request<Incoming>| {
            let busy = connections.begin(&tracker);
            request.extensions_mut().insert(ConnectInfo(peer));
            // One snapshot for the whole request, whatever a reload does meanwhile.
            let app = live.router();
            async move {
                let response = app.oneshot(request.map(axum::body::Body::new)).await;
                drop(busy);
                response
            }
        })
    };
    let io = TokioIo::new(connections.watch(io, tracker));
    let connection = shared.builder.serve_connection(io, service);
    tokio::pin!(connection);
    let mut stopping = shared.stopping.clone();
    let mut draining = false;
    let mut due = tokio::time::Instant::now() + connections.settings().header_read_timeout;
    loop {
        tokio::select! {
            _ = connection.as_mut() => return,
            () = tracker.evicted() => return,
            () = tokio::time::sleep_until(due) => match connections.check(tracker) {
                Check::Expired => return,
                Check::At(next) => due = next,
            },
            _ = stopping.wait_for(|stop| *stop), if !draining => {
                // Draining: an idle keep-alive closes now; a request in progress (or one
                // whose head is arriving) is answered first, its timers still running.
                if tracker.is_idle() {
                    return;
                }
                connection.as_mut().graceful_shutdown();
                draining = true;
            }
        }
    }
}
