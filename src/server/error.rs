//! Every HTTP-level failure of the server, and its one mapping to a status and a short, fixed
//! body. Nothing a client sent and no internal detail is ever in the body. Protocol-level
//! answers (Autodiscover 600/601, v2 `InvalidProtocol`) are not here: renderers produce them.

use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::account::AddressError;
use crate::resolve::ResolveError;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HttpError {
    /// The address is malformed; the reason is one of `AddressError`'s fixed texts.
    #[error("invalid email address: {0}")]
    BadAddress(#[from] AddressError),
    #[error("invalid domain name")]
    BadDomain,
    #[error("an email address is required")]
    MissingAddress,
    /// A query or path parameter is not valid percent-encoded UTF-8, or is far too long.
    #[error("malformed request parameter")]
    BadParameter,
    /// No usable domain in the Host header (or X-Forwarded-Host from a trusted proxy).
    #[error("invalid or missing Host header")]
    BadHost,
    #[error("no settings for this domain")]
    UnknownDomain,
    #[error("request body too large")]
    BodyTooLarge,
    #[error("request body could not be read")]
    BadBody,
    #[error("method not allowed")]
    MethodNotAllowed,
    #[error("not found")]
    NotFound,
    /// A per-user source with `on-failure = "fail"` is down; details are in the server log.
    #[error("settings are temporarily unavailable")]
    BackendUnavailable,
}

impl HttpError {
    pub fn status(&self) -> StatusCode {
        match self {
            HttpError::BadAddress(_)
            | HttpError::BadDomain
            | HttpError::MissingAddress
            | HttpError::BadParameter
            | HttpError::BadHost
            | HttpError::BadBody => StatusCode::BAD_REQUEST,
            HttpError::UnknownDomain | HttpError::NotFound => StatusCode::NOT_FOUND,
            HttpError::BodyTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            HttpError::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            HttpError::BackendUnavailable => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    /// The response body: the fixed message and a newline (what `mxconf render` prints too).
    pub fn body(&self) -> String {
        format!("{self}\n")
    }
}

impl From<ResolveError> for HttpError {
    fn from(error: ResolveError) -> Self {
        match error {
            // Never another domain's settings; 404 lets clients move on to their next method.
            ResolveError::UnknownDomain => HttpError::UnknownDomain,
            ResolveError::BackendUnavailable => HttpError::BackendUnavailable,
        }
    }
}

impl IntoResponse for HttpError {
    fn into_response(self) -> Response {
        tracing::debug!(status = %self.status(), "{self}");
        (
            self.status(),
            [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
            self.body(),
        )
            .into_response()
    }
}
