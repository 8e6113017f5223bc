//! The http-01 challenge answer (RFC 8555 §8.3): `GET /.well-known/acme-challenge/{token}`
//! on any listener, the key authorization while the CA validates, 404 otherwise.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};

use super::AppState;
use crate::answer::Refusal;

pub async fn challenge(State(state): State<Arc<AppState>>, Path(token): Path<String>) -> Response {
    match state.http01.answer(&token) {
        Some(key_authorization) => (
            [(header::CONTENT_TYPE, "application/octet-stream")],
            key_authorization,
        )
            .into_response(),
        None => Refusal::NotFound.into_response(),
    }
}
