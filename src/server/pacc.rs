//! PACC endpoint: `/.well-known/user-agent-configuration.json` on `ua-auto-config.<domain>`
//! (the domain from the Host, like the bare autoconfig request). The bytes are the ones
//! rendered at load, so they match the digest `mxconf dns` printed for this configuration.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::response::Response;

use super::extract::Origin;
use super::{AppState, respond};
use crate::answer::Refusal;
use crate::protocol::pacc::HOST_LABEL;

/// GET/HEAD the domain's document; 404 for a domain that publishes none.
pub async fn document(
    State(state): State<Arc<AppState>>,
    request: Request,
) -> Result<Response, Refusal> {
    let (parts, _) = request.into_parts();
    let origin = Origin::of(&parts, &state)?;
    let domain = origin
        .domain(&format!("{HOST_LABEL}."))
        .ok_or(Refusal::BadHost)?;
    Ok(respond(state.answers.pacc(&domain)?))
}
