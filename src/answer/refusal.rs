//! Why a request gets no settings: every refusal of the protocol endpoints, and its one
//! mapping to an HTTP status and a short, fixed body (what `mxconf render` prints too).
//! Nothing a client sent and no internal detail is ever in the body. Protocol-level answers
//! (Autodiscover 600/601, v2 `InvalidProtocol`) are not here: renderers produce them.

use crate::account::AddressError;
use crate::resolve::ResolveError;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
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
    /// The client has used up one of its `[limits]` budgets; it may ask again after
    /// `retry_after` seconds (the `Retry-After` header).
    #[error("too many requests, try again later")]
    TooMany { retry_after: u64 },
}

impl Refusal {
    /// The HTTP status it goes out with.
    pub fn status(&self) -> u16 {
        match self {
            Refusal::BadAddress(_)
            | Refusal::BadDomain
            | Refusal::MissingAddress
            | Refusal::BadParameter
            | Refusal::BadHost
            | Refusal::BadBody => 400,
            Refusal::UnknownDomain | Refusal::NotFound => 404,
            Refusal::BodyTooLarge => 413,
            Refusal::MethodNotAllowed => 405,
            Refusal::BackendUnavailable => 503,
            Refusal::TooMany { .. } => 429,
        }
    }

    /// The body: the fixed message and a newline.
    pub fn body(&self) -> String {
        format!("{self}\n")
    }
}

impl From<ResolveError> for Refusal {
    fn from(error: ResolveError) -> Self {
        match error {
            // Never another domain's settings; 404 lets clients move on to their next method.
            ResolveError::UnknownDomain => Refusal::UnknownDomain,
            ResolveError::BackendUnavailable => Refusal::BackendUnavailable,
        }
    }
}
