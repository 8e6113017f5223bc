//! Mozilla autoconfig endpoints: `/mail/config-v1.1.xml` and its `.well-known` twin (address
//! from `?emailaddress=`, else the domain from `Host: autoconfig.<domain>` or `<domain>`), and
//! ISPDB-style `/v1.1/{domain}`. The answers come from [`Answers`](crate::answer::Answers).

use std::sync::Arc;

use axum::extract::rejection::RawPathParamsRejection;
use axum::extract::{RawPathParams, Request, State};
use axum::response::Response;

use super::extract::{self, Origin};
use super::{AppState, respond};
use crate::account::Domain;
use crate::answer::Refusal;
use crate::protocol::Rendered;

/// GET/HEAD `/mail/config-v1.1.xml` and `/.well-known/autoconfig/mail/config-v1.1.xml`.
pub async fn config(
    State(state): State<Arc<AppState>>,
    request: Request,
) -> Result<Response, Refusal> {
    let (parts, _) = request.into_parts();
    answer(&state, parts.uri.query(), || Origin::of(&parts, &state)).await
}

/// The answer for the address in `query` (`?emailaddress=`), else for the domain of the
/// request's origin, which is read only then. The handler and the fast lane both answer here.
pub async fn answer(
    state: &AppState,
    query: Option<&str>,
    origin: impl FnOnce() -> Result<Origin, Refusal>,
) -> Result<Response, Refusal> {
    let address = extract::query_value(query, ADDRESS);
    Ok(respond(rendered(state, address, origin).await?))
}

/// The query parameter with the address.
pub const ADDRESS: &str = "emailaddress";

/// [`answer`] before it becomes a response, for the raw (still percent-encoded) `address`
/// from the query: the fast lane has it from its parse, and writes the answer as it is.
pub async fn rendered(
    state: &AppState,
    address: Option<&str>,
    origin: impl FnOnce() -> Result<Origin, Refusal>,
) -> Result<Rendered, Refusal> {
    match extract::email_in_value(address)? {
        Some(email) => state.answers.autoconfig(&email).await,
        None => {
            let domain = origin()?.domain("autoconfig.").ok_or(Refusal::BadHost)?;
            state.answers.autoconfig_domain(&domain)
        }
    }
}

/// GET/HEAD `/v1.1/{domain}`: what Thunderbird's `mailnews.auto_config_url` fetches.
pub async fn ispdb(
    State(state): State<Arc<AppState>>,
    params: Result<RawPathParams, RawPathParamsRejection>,
) -> Result<Response, Refusal> {
    let params = params.map_err(|_| Refusal::BadParameter)?;
    let name = params.iter().next().map(|(_, v)| v).unwrap_or_default();
    let domain = Domain::parse(name).map_err(|_| Refusal::BadDomain)?;
    Ok(respond(state.answers.autoconfig_domain(&domain)?))
}
