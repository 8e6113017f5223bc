//! Microsoft Autodiscover endpoints: POX (`POST /autodiscover/autodiscover.xml`, GET for the
//! domain-level answer Delta Chat asks for) and v2 JSON (both URL forms). Redirecting domains
//! get POX `redirectAddr`/`redirectUrl` (MobileSync `Redirect`/601). Unknown domains get
//! the protocol's own "no settings" answer (POX error 500/601, JSON 404), never another
//! domain's settings and never a 5xx (except 503 while a per-user source set to `on-failure =
//! "fail"` is down).

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, RawPathParamsRejection};
use axum::extract::{RawPathParams, Request, State};
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::response::{IntoResponse as _, Response};

use super::error::HttpError;
use super::extract::{self, Origin};
use super::{AppState, respond};
use crate::account::EmailAddress;
use crate::protocol::autodiscover::{self, ErrorCode, PoxRequest, ResponseSchema, error};
use crate::protocol::autodiscover_json::{self, JsonProtocol};
use crate::protocol::{Rendered, autodiscover::outlook};
use crate::resolve::{Resolution, ResolveError};

/// POST: the request body decides schema and address. A body over the limit is 413; a
/// missing or garbled one is error 600 in an XML body with HTTP 200 (NOTES.md).
pub async fn pox(
    State(state): State<Arc<AppState>>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, HttpError> {
    let body = body.map_err(|rejection| match rejection.status() {
        StatusCode::PAYLOAD_TOO_LARGE => HttpError::BodyTooLarge,
        _ => HttpError::BadBody,
    })?;
    let rendered = match PoxRequest::parse(&body) {
        Ok(request) => for_request(&state, &request).await?,
        Err(reason) => {
            tracing::debug!("autodiscover request refused: {reason}");
            error::render(ErrorCode::InvalidRequest)
        }
    };
    Ok(respond(rendered))
}

/// GET: no body and no address (Delta Chat); the domain comes from
/// `Host: autodiscover.<domain>` or `<domain>`, and the answer is the domain-level one.
pub async fn pox_get(State(state): State<Arc<AppState>>, request: Request) -> Response {
    let (parts, _) = request.into_parts();
    let domain = Origin::of(&parts, &state)
        .ok()
        .and_then(|o| o.domain("autodiscover."));
    let rendered = match domain.map(|d| state.resolver.lookup_domain(&d)) {
        None => error::render(ErrorCode::InvalidRequest),
        Some(Ok(Resolution::Account(account))) => outlook::render(&account),
        // Delta Chat follows RedirectUrl (protocols.md §1.2), GET included.
        Some(Ok(Resolution::Redirect(redirect))) => outlook::redirect(&redirect),
        Some(Err(ResolveError::UnknownDomain)) => {
            autodiscover::unknown_domain(ResponseSchema::Outlook)
        }
        // Domain-level answers consult no backend; mapped all the same, never a 500.
        Some(Err(error @ ResolveError::BackendUnavailable)) => {
            return HttpError::from(error).into_response();
        }
    };
    respond(rendered)
}

/// The POX answer for a parsed request (also what `mxconf render outlook|mobilesync` prints).
/// A failing per-user backend is an HTTP 503, not an Autodiscover error the client caches.
pub async fn for_request(state: &AppState, request: &PoxRequest) -> Result<Rendered, HttpError> {
    match state.resolver.lookup(&request.email).await {
        Ok(Resolution::Account(account)) => Ok(autodiscover::render(request.schema, &account)),
        Ok(Resolution::Redirect(redirect)) => Ok(autodiscover::redirect(request.schema, &redirect)),
        Err(ResolveError::UnknownDomain) => Ok(autodiscover::unknown_domain(request.schema)),
        Err(error @ ResolveError::BackendUnavailable) => Err(error.into()),
    }
}

/// GET `/autodiscover/autodiscover.json/v1.0/{email}?Protocol=X`.
pub async fn json_path(
    State(state): State<Arc<AppState>>,
    params: Result<RawPathParams, RawPathParamsRejection>,
    request: Request,
) -> Result<Response, HttpError> {
    let params = params.map_err(|_| HttpError::BadParameter)?;
    let email = params.iter().next().map(|(_, v)| v).unwrap_or_default();
    let (parts, _) = request.into_parts();
    json(&state, Some(email), &parts).await
}

/// GET `/autodiscover/autodiscover.json?Email=…&Protocol=X`.
pub async fn json_query(
    State(state): State<Arc<AppState>>,
    request: Request,
) -> Result<Response, HttpError> {
    let (parts, _) = request.into_parts();
    let email = extract::query_value(parts.uri.query(), "Email")
        .map(extract::decode)
        .transpose()?;
    json(&state, email.as_deref(), &parts).await
}

async fn json(state: &AppState, email: Option<&str>, parts: &Parts) -> Result<Response, HttpError> {
    let given = extract::query_value(parts.uri.query(), "Protocol").unwrap_or_default();
    let given = extract::decode(given)?;
    // The protocol is checked first, as Microsoft does: a bad one is 400 whatever the address.
    let Some(protocol) = JsonProtocol::parse(&given) else {
        return Ok(respond(autodiscover_json::invalid_protocol(&given)));
    };
    let email = email
        .filter(|e| !e.is_empty())
        .ok_or(HttpError::MissingAddress)?;
    let email = extract::parse_email(email)?;
    let pox_url = match protocol {
        JsonProtocol::AutodiscoverV1 => Origin::of(parts, state)?.pox_url(),
        JsonProtocol::ActiveSync => String::new(),
    };
    Ok(respond(json_for(state, &email, protocol, &pox_url).await?))
}

/// The v2 answer for an address (also what `mxconf render json` prints). v2 has no redirect:
/// `ActiveSync` for a domain alias answers with its target's settings (the resolver follows
/// it) and for a domain served elsewhere with the "not served here" 404; `AutodiscoverV1`
/// names the POX endpoint that answers the address, the other server's for the latter.
pub async fn json_for(
    state: &AppState,
    email: &EmailAddress,
    protocol: JsonProtocol,
    pox_url: &str,
) -> Result<Rendered, HttpError> {
    let resolution = match protocol {
        JsonProtocol::AutodiscoverV1 => state.resolver.lookup(email).await,
        JsonProtocol::ActiveSync => state.resolver.resolve(email).await.map(Resolution::Account),
    };
    match resolution {
        Ok(Resolution::Account(account)) => {
            Ok(autodiscover_json::render(&account, protocol, pox_url))
        }
        Ok(Resolution::Redirect(redirect)) => Ok(autodiscover_json::autodiscover_v1_redirect(
            &redirect, pox_url,
        )),
        Err(ResolveError::UnknownDomain) => Ok(autodiscover_json::unknown_domain()),
        Err(error @ ResolveError::BackendUnavailable) => Err(error.into()),
    }
}
