//! The abuse protection as one layer over every route (fallbacks included): it names the
//! client (the TCP peer, or behind `[server] trusted-proxies` the address they forwarded, by
//! the request log's rule), asks [`Limiter::admit`](crate::limits::Limiter::admit) before the
//! request and counts a client error after it. A refusal is `429` with `Retry-After`; on
//! `/mobileconfig` it also carries what the web form needs to show "too many" in the page.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::extract::{client_ip, peer};
use super::{AppState, HEALTH_ROUTE, PROFILE_ROUTE, READY_ROUTE, form};
use crate::answer::Refusal;
use crate::limits::{ClientKey, Cost, Refused};
use crate::webform::FormProblem;

/// Marks a response whose status is 200 but which is an error answer (an Autodiscover error
/// document): it counts against the client like a 4xx.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ErrorDocument;

pub async fn limit(State(state): State<Arc<AppState>>, request: Request, next: Next) -> Response {
    let endpoint = request
        .extensions()
        .get::<MatchedPath>()
        .map(MatchedPath::as_str);
    // The load balancer asks for the instance's health, which no client's budget may hide.
    if endpoint == Some(HEALTH_ROUTE) || endpoint == Some(READY_ROUTE) {
        return next.run(request).await;
    }
    let client =
        peer(request.extensions()).and_then(|peer| client(&state, request.headers(), peer));
    let profile = endpoint == Some(PROFILE_ROUTE);
    limited(&state, client, profile, next.run(request)).await
}

/// Whom a request from `peer` counts against: the client behind trusted proxies, by the
/// rule of `[limits]`; `None` when exempt or with the limits off.
pub fn client(state: &AppState, headers: &HeaderMap, peer: SocketAddr) -> Option<ClientKey> {
    let proxies = &state.answers.config.trusted_proxies;
    state.limiter.client(client_ip(headers, peer.ip(), proxies))
}

/// Counts the request `run` answers against `client`'s budgets: refused with 429 before it
/// when over one, a client error recorded after it. `None` (exempt, limits off, or no TCP
/// peer: a request built in process): neither counted nor refused. The router's layer and
/// the fast lane both count through it.
pub async fn limited<A: Answered>(
    state: &AppState,
    client: Option<ClientKey>,
    profile: bool,
    run: impl Future<Output = A>,
) -> A {
    let Some(client) = client else {
        return run.await;
    };
    let limiter = &state.limiter;
    let cost = if profile {
        Cost::Profile
    } else {
        Cost::Request
    };
    if let Err(refused) = limiter.admit(client, cost).await {
        return too_many(refused, profile).into();
    }
    let response = run.await;
    if response.is_client_error() {
        limiter.record_error(client).await;
    }
    response
}

/// What [`limited`] counts: a response, or the fast lane's answer that may not be one yet.
pub trait Answered: From<Response> {
    /// Whether it counts against `client-error-limit`.
    fn is_client_error(&self) -> bool;
}

impl Answered for Response {
    fn is_client_error(&self) -> bool {
        is_client_error(self)
    }
}

/// The 429; for the profile route with the form's message attached (its fields stay empty:
/// the body of a refused request is never read).
fn too_many(refused: Refused, profile: bool) -> Response {
    let retry_after = refused.retry_after_secs();
    let mut response = Refusal::TooMany { retry_after }.into_response();
    if profile {
        response.extensions_mut().insert(form::Refused {
            problem: FormProblem::TooMany {
                minutes: retry_after.div_ceil(60),
            },
            email: String::new(),
            name: String::new(),
        });
    }
    response
}

/// What counts against `client-error-limit`: every 4xx but our own 429 (bad input, unknown
/// domains, wrong methods, oversized bodies, refused form submissions, unrouted paths) and
/// Autodiscover's error documents (600, 601, 500), which go out as 200.
fn is_client_error(response: &Response) -> bool {
    counts_as_client_error(
        response.status(),
        response.extensions().get::<ErrorDocument>().is_some(),
    )
}

/// The rule of [`is_client_error`], for a status and whether the answer is an error document.
pub(crate) fn counts_as_client_error(status: StatusCode, error_document: bool) -> bool {
    (status.is_client_error() && status != StatusCode::TOO_MANY_REQUESTS) || error_document
}
