//! The request log: one INFO event per answered request (target `mxconf::request`) with the
//! method, the endpoint (the route as written in [`super::router`], never the URI: query
//! strings and paths carry addresses), the status, the duration and the client address behind
//! trusted proxies; and the same endpoint, status and duration counted for the metrics. No
//! span and one clock pair per request: the hot path stays cheap.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::middleware::Next;
use axum::response::Response;

use super::AppState;
use super::extract::{client_ip, peer};

/// The log target; `RUST_LOG=info,mxconf::request=off` turns request lines off.
pub const TARGET: &str = "mxconf::request";

/// Whether request lines are wanted at all: decided once, when the router is built, so a
/// server that does not log requests does not pay for this layer.
pub fn enabled() -> bool {
    tracing::enabled!(target: TARGET, tracing::Level::INFO)
}

/// Whether anything is recorded per request: a line or a count.
pub fn wanted() -> bool {
    enabled() || crate::metrics::enabled()
}

/// One request's line and count: started before the request runs, finished with its status.
/// The router's layer and the fast lane both record through it.
pub struct Line {
    start: Instant,
    method: Method,
    /// Only when lines are wanted: the client behind trusted proxies.
    client: Option<IpAddr>,
}

impl Line {
    pub fn start(
        state: &AppState,
        method: &Method,
        headers: &HeaderMap,
        peer: Option<SocketAddr>,
    ) -> Self {
        let client = peer
            .filter(|_| enabled())
            .map(|addr| client_ip(headers, addr.ip(), &state.answers.config.trusted_proxies));
        Line {
            start: Instant::now(),
            method: method.clone(),
            client,
        }
    }

    /// `endpoint` is the route as written, `-` for an unrouted path.
    pub fn finish(self, endpoint: &str, status: StatusCode) {
        let elapsed = self.start.elapsed();
        let status = status.as_u16();
        crate::metrics::request(endpoint, status, elapsed);
        if enabled() {
            tracing::info!(
                target: TARGET,
                method = %self.method,
                endpoint,
                status,
                duration_ms = elapsed.as_micros() as f64 / 1000.0,
                client = self.client.map(tracing::field::display),
                "request"
            );
        }
    }
}

/// Logs and counts one request (each only when wanted).
pub async fn log(State(state): State<Arc<AppState>>, request: Request, next: Next) -> Response {
    // Unrouted paths (404s) are one endpoint, so neither the log nor the metrics ever hold
    // what a scanner typed.
    let endpoint = request.extensions().get::<MatchedPath>().cloned();
    let line = Line::start(
        &state,
        request.method(),
        request.headers(),
        peer(request.extensions()),
    );
    let response = next.run(request).await;
    line.finish(
        endpoint.as_ref().map_or("-", MatchedPath::as_str),
        response.status(),
    );
    response
}
