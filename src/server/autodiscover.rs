//! Microsoft Autodiscover endpoints: POX (`POST /autodiscover/autodiscover.xml`, and GET for
//! the domain-level answer Delta Chat asks for) and v2 JSON (both URL forms). They read the
//! request; the answers, redirects and "no settings" ones included, come from
//! [`Answers`](crate::answer::Answers).

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, RawPathParamsRejection};
use axum::extract::{RawPathParams, Request, State};
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::response::Response;

use super::extract::{self, Origin};
use super::{AppState, respond};
use crate::answer::{self, Refusal};
use crate::protocol::autodiscover_json::{self, JsonProtocol};

/// POST: the request body decides schema and address. A body over the limit is 413; a
/// missing or garbled one is error 600 in an XML body with HTTP 200.
pub async fn pox(
    State(state): State<Arc<AppState>>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, Refusal> {
    let body = body.map_err(|rejection| match rejection.status() {
        StatusCode::PAYLOAD_TOO_LARGE => Refusal::BodyTooLarge,
        _ => Refusal::BadBody,
    })?;
    answer_pox(&state, &body).await
}

/// The answer for a POX request body (the handler's and the fast lane's).
pub async fn answer_pox(state: &AppState, body: &[u8]) -> Result<Response, Refusal> {
    Ok(respond(state.answers.pox_body(body).await?))
}

/// GET: no body and no address (Delta Chat); the domain comes from
/// `Host: autodiscover.<domain>` or `<domain>`, and the answer is the domain-level one.
pub async fn pox_get(
    State(state): State<Arc<AppState>>,
    origin: Result<Origin, Refusal>,
) -> Result<Response, Refusal> {
    let domain = origin.ok().and_then(|o| o.domain("autodiscover."));
    Ok(respond(state.answers.pox_domain(domain.as_ref())?))
}

/// GET `/autodiscover/autodiscover.json/v1.0/{email}?Protocol=X`.
pub async fn json_path(
    State(state): State<Arc<AppState>>,
    params: Result<RawPathParams, RawPathParamsRejection>,
    request: Request,
) -> Result<Response, Refusal> {
    let params = params.map_err(|_| Refusal::BadParameter)?;
    let email = params.iter().next().map(|(_, v)| v).unwrap_or_default();
    let (parts, _) = request.into_parts();
    json(&state, Some(email), &parts).await
}

/// GET `/autodiscover/autodiscover.json?Email=…&Protocol=X`.
pub async fn json_query(
    State(state): State<Arc<AppState>>,
    request: Request,
) -> Result<Response, Refusal> {
    let (parts, _) = request.into_parts();
    let email = extract::query_value(parts.uri.query(), "Email")
        .map(extract::decode)
        .transpose()?;
    json(&state, email.as_deref(), &parts).await
}

async fn json(state: &AppState, email: Option<&str>, parts: &Parts) -> Result<Response, Refusal> {
    let given = extract::query_value(parts.uri.query(), "Protocol").unwrap_or_default();
    let given = extract::decode(given)?;
    // The protocol is checked first, as Microsoft does: a bad one is 400 whatever the address.
    let Some(protocol) = JsonProtocol::parse(&given) else {
        return Ok(respond(autodiscover_json::invalid_protocol(&given)));
    };
    let email = email
        .filter(|e| !e.is_empty())
        .ok_or(Refusal::MissingAddress)?;
    let email = answer::parse_address(email)?;
    // Only AutodiscoverV1 names an endpoint, and only it needs the public origin.
    let pox_url = match protocol {
        JsonProtocol::AutodiscoverV1 => Origin::of(parts, state)?.pox_url(),
        JsonProtocol::ActiveSync | JsonProtocol::Ews => String::new(),
    };
    Ok(respond(
        state.answers.json(&email, protocol, &pox_url).await?,
    ))
}
