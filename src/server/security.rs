//! Security headers, set in one layer for every response so no handler has to remember
//! them: nothing is sniffed (`nosniff`: our XML and plain-text errors never become HTML), and
//! an HTML page also gets its Content-Security-Policy, no referrer and no framing.

use std::sync::Arc;

use axum::http::{HeaderValue, header};
use axum::response::Response;
use tower::util::MapResponseLayer;

use super::AppState;

pub fn headers(state: Arc<AppState>) -> MapResponseLayer<impl Fn(Response) -> Response + Clone> {
    MapResponseLayer::new(move |mut response: Response| {
        set(&state, &mut response);
        response
    })
}

/// `X-Content-Type-Options` on every response (the fast lane writes it too).
pub const NOSNIFF: &str = "nosniff";

/// Sets the security headers on one response (the layer's, and the fast lane's).
pub fn set(state: &AppState, response: &mut Response) {
    let headers = response.headers_mut();
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static(NOSNIFF),
    );
    let page = headers
        .get(header::CONTENT_TYPE)
        .is_some_and(|value| value.as_bytes().starts_with(b"text/html"));
    if page {
        headers.insert(header::CONTENT_SECURITY_POLICY, state.csp.clone());
        headers.insert(
            header::REFERRER_POLICY,
            HeaderValue::from_static("no-referrer"),
        );
        // For browsers that predate CSP frame-ancestors.
        headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    }
}
