//! Mozilla autoconfig endpoints: `/mail/config-v1.1.xml` and its `.well-known` twin (address
//! from `?emailaddress=`, else the domain from `Host: autoconfig.<domain>` or `<domain>`), and
//! ISPDB-style `/v1.1/{domain}`. Unknown domain → 404 (Thunderbird then tries its next source).

use std::sync::Arc;

use axum::extract::{RawPathParams, Request, State};
use axum::response::Response;

use super::error::HttpError;
use super::extract::{self, Origin};
use super::{AppState, respond};
use crate::account::{Domain, EmailAddress};
use crate::protocol::{Rendered, autoconfig};

/// GET/HEAD `/mail/config-v1.1.xml` and `/.well-known/autoconfig/mail/config-v1.1.xml`.
pub async fn config(
    State(state): State<Arc<AppState>>,
    request: Request,
) -> Result<Response, HttpError> {
    let (parts, _) = request.into_parts();
    let rendered = match extract::email_in_query(parts.uri.query(), "emailaddress")? {
        Some(email) => for_address(&state, &email).await?,
        None => {
            let origin = Origin::of(&parts, &state)?;
            let domain = origin.domain("autoconfig.").ok_or(HttpError::BadHost)?;
            for_domain(&state, &domain)?
        }
    };
    Ok(respond(rendered))
}

/// GET/HEAD `/v1.1/{domain}`: what Thunderbird's `mailnews.auto_config_url` fetches.
pub async fn ispdb(
    State(state): State<Arc<AppState>>,
    params: Result<RawPathParams, axum::extract::rejection::RawPathParamsRejection>,
) -> Result<Response, HttpError> {
    let params = params.map_err(|_| HttpError::BadParameter)?;
    let name = params.iter().next().map(|(_, v)| v).unwrap_or_default();
    let domain = Domain::parse(name).map_err(|_| HttpError::BadDomain)?;
    Ok(respond(for_domain(&state, &domain)?))
}

/// The answer for one address (also what `mxconf render autoconfig` prints).
pub async fn for_address(state: &AppState, email: &EmailAddress) -> Result<Rendered, HttpError> {
    let account = state.resolver.resolve(email).await?;
    Ok(autoconfig::render(&account))
}

fn for_domain(state: &AppState, domain: &Domain) -> Result<Rendered, HttpError> {
    let account = state.resolver.resolve_domain(domain)?;
    Ok(autoconfig::render(&account))
}
