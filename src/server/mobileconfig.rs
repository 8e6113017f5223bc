//! `GET`/`POST /mobileconfig`: the signed Apple profile for one address, as a download Safari
//! hands to Settings. Extract (query or automx-web form) → resolve → `profile::build` → sign
//! (the [`CachingSigner`](crate::signing::CachingSigner): a recent signature of the same
//! bytes, or a new one on a signing thread) → respond. Fail closed: with `[signing]`
//! configured, an unsigned profile is never served (automx served an empty 200; NOTES.md).

use std::sync::Arc;

use axum::extract::rejection::{FormRejection, QueryRejection};
use axum::extract::{Form, Query, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use serde::Deserialize;

use super::AppState;
use crate::account::{AddressError, EmailAddress};
use crate::profile::{self, ProfileError};
use crate::resolve::ResolveError;
use crate::signing::{SignedProfile, SigningError};

/// The request, from the query string or a form. automx-web posts `cn` for the name and a
/// `_mobileconfig=true` marker, which is accepted and ignored.
#[derive(Debug, Default, Deserialize)]
pub struct ProfileRequest {
    pub emailaddress: Option<String>,
    pub name: Option<String>,
    pub cn: Option<String>,
}

/// Why no profile was served. `Display` is the short, fixed message for the user (never
/// their input, never internal detail); the `source` goes to the log. The web form shows the
/// message next to the field (see [`ProfileRequestError::status`]).
#[derive(Debug, thiserror::Error)]
pub enum ProfileRequestError {
    #[error("please give an email address")]
    MissingAddress,
    #[error("{0}")]
    InvalidAddress(AddressError),
    #[error("the request could not be read")]
    Malformed,
    #[error("this domain is not served here")]
    UnknownDomain,
    #[error("no profile can be made for this domain")]
    NothingToConfigure,
    #[error("the profile could not be signed; please try again later")]
    Signing(#[source] SigningError),
    #[error("the profile could not be built; please try again later")]
    Build(#[source] ProfileError),
    /// A per-user source set to `on-failure = "fail"` is down (the resolver logged it).
    #[error("settings are temporarily unavailable; please try again later")]
    BackendUnavailable,
}

impl ProfileRequestError {
    pub fn status(&self) -> StatusCode {
        match self {
            ProfileRequestError::MissingAddress
            | ProfileRequestError::InvalidAddress(_)
            | ProfileRequestError::Malformed => StatusCode::BAD_REQUEST,
            ProfileRequestError::UnknownDomain | ProfileRequestError::NothingToConfigure => {
                StatusCode::NOT_FOUND
            }
            ProfileRequestError::Signing(_)
            | ProfileRequestError::Build(_)
            | ProfileRequestError::BackendUnavailable => StatusCode::SERVICE_UNAVAILABLE,
        }
    }
}

impl IntoResponse for ProfileRequestError {
    fn into_response(self) -> Response {
        let status = self.status();
        // A backend outage is logged once per incident by the resolver, not once per request.
        if status.is_server_error() && !matches!(self, ProfileRequestError::BackendUnavailable) {
            tracing::error!(error = %error_chain(&self), "no profile served");
        }
        (
            status,
            [
                (header::CONTENT_TYPE, "text/plain; charset=utf-8"),
                (header::CACHE_CONTROL, "no-store"),
            ],
            format!("{self}\n"),
        )
            .into_response()
    }
}

fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// A finished profile download.
#[derive(Debug)]
pub struct ProfileDownload {
    pub address: EmailAddress,
    /// Signed DER, or the XML plist when no `[signing]` is configured.
    pub body: Vec<u8>,
}

impl IntoResponse for ProfileDownload {
    fn into_response(self) -> Response {
        let disposition = content_disposition(&format!("{}.mobileconfig", self.address));
        let mut response = (
            [
                // NOTES.md: this type makes Safari hand the file to Settings.
                (header::CONTENT_TYPE, "application/x-apple-aspen-config"),
                (header::CACHE_CONTROL, "no-store"),
            ],
            self.body,
        )
            .into_response();
        if let Ok(value) = HeaderValue::from_str(&disposition) {
            response
                .headers_mut()
                .insert(header::CONTENT_DISPOSITION, value);
        }
        response
    }
}

/// RFC 6266 `attachment` with a plain `filename` every browser reads (unsafe characters become
/// `_`) and, when that lost anything, the exact name as RFC 5987 `filename*=UTF-8''…`.
pub fn content_disposition(name: &str) -> String {
    let plain: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "@._+-".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect();
    if plain == name {
        format!("attachment; filename=\"{plain}\"")
    } else {
        let exact = utf8_percent_encode(name, ATTR_CHAR);
        format!("attachment; filename=\"{plain}\"; filename*=UTF-8''{exact}")
    }
}

/// Everything but RFC 5987 `attr-char` is percent-encoded.
const ATTR_CHAR: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'!')
    .remove(b'#')
    .remove(b'$')
    .remove(b'&')
    .remove(b'+')
    .remove(b'-')
    .remove(b'.')
    .remove(b'^')
    .remove(b'_')
    .remove(b'`')
    .remove(b'|')
    .remove(b'~');

pub async fn get(
    State(state): State<Arc<AppState>>,
    query: Result<Query<ProfileRequest>, QueryRejection>,
) -> Result<ProfileDownload, ProfileRequestError> {
    let Query(request) = query.map_err(|_| ProfileRequestError::Malformed)?;
    produce(&state, request).await
}

pub async fn post(
    State(state): State<Arc<AppState>>,
    form: Result<Form<ProfileRequest>, FormRejection>,
) -> Result<ProfileDownload, ProfileRequestError> {
    let Form(request) = form.map_err(|_| ProfileRequestError::Malformed)?;
    produce(&state, request).await
}

/// The whole flow behind both methods; the web form calls it too.
pub async fn produce(
    state: &Arc<AppState>,
    request: ProfileRequest,
) -> Result<ProfileDownload, ProfileRequestError> {
    let text = request
        .emailaddress
        .as_deref()
        .filter(|text| !text.trim().is_empty())
        .ok_or(ProfileRequestError::MissingAddress)?;
    let address = EmailAddress::parse(text).map_err(ProfileRequestError::InvalidAddress)?;
    let mut account = state
        .resolver
        .resolve(&address)
        .await
        .map_err(|error| match error {
            ResolveError::UnknownDomain => ProfileRequestError::UnknownDomain,
            ResolveError::BackendUnavailable => ProfileRequestError::BackendUnavailable,
        })?;
    if let Some(name) = request.name.or(request.cn) {
        account.display_name = profile::clean_name(&name);
    }
    // Building takes tens of microseconds, like rendering any other protocol; only the
    // signature (~1 ms of CPU) leaves the async workers, inside the CachingSigner.
    let xml = profile::build(&account, &state.config.profile).map_err(|error| match error {
        ProfileError::NothingToConfigure | ProfileError::NoAddress => {
            ProfileRequestError::NothingToConfigure
        }
        ProfileError::Serialize(_) => ProfileRequestError::Build(error),
    })?;
    let body = match (&state.signer, &state.config.signing) {
        (Some(signer), _) => signer
            .sign(xml)
            .await
            .map(SignedProfile::into_der)
            .map_err(ProfileRequestError::Signing)?,
        (None, None) => xml,
        // [signing] configured but no signer in this state: refuse, never fall back.
        (None, Some(_)) => {
            return Err(ProfileRequestError::Signing(SigningError::Sign(
                "signing is configured but no signer is loaded".into(),
            )));
        }
    };
    Ok(ProfileDownload { address, body })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filenames_are_safe_and_exact() {
        assert_eq!(
            content_disposition("jane@example.com.mobileconfig"),
            "attachment; filename=\"jane@example.com.mobileconfig\""
        );
        assert_eq!(
            content_disposition("jörg&\"x/y@example.com.mobileconfig"),
            "attachment; filename=\"j_rg__x_y@example.com.mobileconfig\"; \
             filename*=UTF-8''j%C3%B6rg&%22x%2Fy%40example.com.mobileconfig"
        );
    }

    #[tokio::test]
    async fn configured_signing_without_a_signer_fails_closed() {
        let state = Arc::new(AppState::new(crate::config::Config::demo().unwrap()).unwrap());
        assert!(state.config.signing.is_some());
        let request = ProfileRequest {
            emailaddress: Some("jane@example.com".into()),
            ..ProfileRequest::default()
        };
        let error = produce(&state, request).await.unwrap_err();
        assert_eq!(error.status(), StatusCode::SERVICE_UNAVAILABLE);
    }
}
