//! The request log: one INFO event per answered request (target `mxconf::request`) with the
//! method, the endpoint (the route as written in [`super::router`], never the URI: query
//! strings and paths carry addresses), the status, the duration and the client address behind
//! trusted proxies; and the same endpoint, status and duration counted for the metrics. No
//! span and one clock pair per request: the hot path stays cheap.

use std::sync::Arc;
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
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

/// Logs and counts one request (each only when wanted).
pub async fn log(State(state): State<Arc<AppState>>, request: Request, next: Next) -> Response {
    let start = Instant::now();
    let method = request.method().clone();
    // Unrouted paths (404s) are one endpoint, so neither the log nor the metrics ever hold
    // what a scanner typed.
    let endpoint = request.extensions().get::<MatchedPath>().cloned();
    let logged = enabled();
    let client = peer(request.extensions()).filter(|_| logged).map(|addr| {
        client_ip(
            request.headers(),
            addr.ip(),
            &state.answers.config.trusted_proxies,
        )
    });
    let response = next.run(request).await;
    let elapsed = start.elapsed();
    let endpoint = endpoint.as_ref().map_or("-", MatchedPath::as_str);
    let status = response.status().as_u16();
    crate::metrics::request(endpoint, status, elapsed);
    if logged {
        tracing::info!(
            target: TARGET,
            method = %method,
            endpoint,
            status,
            duration_ms = elapsed.as_micros() as f64 / 1000.0,
            client = client.map(tracing::field::display),
            "request"
        );
    }
    response
}
