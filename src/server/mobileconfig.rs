//! `GET`/`POST /mobileconfig`: the signed Apple profile for one address, as a download Safari
//! hands to Settings. Extract (query or automx-web form) → [`Answers::profile`] (resolve,
//! build, sign on the signing threads) → respond. A refusal carries what the web form needs
//! to show itself again ([`form::Refused`]); the form layer decides whether to.
//!
//! [`Answers::profile`]: crate::answer::Answers::profile

use std::sync::Arc;

use axum::extract::rejection::RawFormRejection;
use axum::extract::{RawForm, State};
use axum::http::{HeaderValue, Uri, header};
use axum::response::{IntoResponse, Response};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};

use super::error::status;
use super::{AppState, extract, form};
use crate::account::EmailAddress;
use crate::answer::{ProfileFields, ProfileRefusal};

/// A query string is decoded as every endpoint decodes one ([`extract::decode`]): `+` stays a
/// `+` (`jane+lists@…`), and text that is not UTF-8 is refused.
pub async fn get(State(state): State<Arc<AppState>>, uri: Uri) -> Response {
    answer_query(&state, uri.query()).await
}

/// [`get`]'s answer for its query string (the router's and the fast lane's).
pub async fn answer_query(state: &AppState, query: Option<&str>) -> Response {
    let field = |key| {
        extract::query_value(query, key)
            .map(|raw| extract::decode(raw).map(|text| text.into_owned()))
            .transpose()
            .map_err(|_| ProfileRefusal::Encoding)
    };
    let fields = (|| {
        Ok(ProfileFields {
            emailaddress: field("emailaddress")?,
            name: field("name")?,
            cn: field("cn")?,
        })
    })();
    answer(state, fields).await
}

/// A form body is `application/x-www-form-urlencoded`, where browsers send a space as `+` and a
/// `+` as `%2B`; text that is not UTF-8 is refused here too, never replaced and signed.
pub async fn post(
    State(state): State<Arc<AppState>>,
    form: Result<RawForm, RawFormRejection>,
) -> Response {
    let fields = form
        .map_err(|_| ProfileRefusal::Malformed)
        .and_then(|RawForm(body)| form_fields(&body));
    answer(&state, fields).await
}

fn form_fields(body: &[u8]) -> Result<ProfileFields, ProfileRefusal> {
    // `&` and `=` are ASCII, so the body decodes to UTF-8 exactly when every key and value does.
    let decoded: Vec<u8> = percent_encoding::percent_decode(body).collect();
    if std::str::from_utf8(&decoded).is_err() {
        return Err(ProfileRefusal::Encoding);
    }
    let mut fields = ProfileFields::default();
    for (key, value) in url::form_urlencoded::parse(body) {
        let slot = match &*key {
            "emailaddress" => &mut fields.emailaddress,
            "name" => &mut fields.name,
            "cn" => &mut fields.cn,
            _ => continue,
        };
        slot.get_or_insert_with(|| value.into_owned());
    }
    Ok(fields)
}

/// Both methods.
async fn answer(state: &AppState, fields: Result<ProfileFields, ProfileRefusal>) -> Response {
    let fields = match fields {
        Ok(fields) => fields,
        Err(refusal) => return refused(refusal, &ProfileFields::default()),
    };
    match produce(state, &fields).await {
        Ok(download) => download.into_response(),
        Err(refusal) => refused(refusal, &fields),
    }
}

async fn produce(
    state: &AppState,
    fields: &ProfileFields,
) -> Result<ProfileDownload, ProfileRefusal> {
    let address = fields.address()?;
    let answers = &state.answers;
    let body = answers
        .profile(&address, fields.name(), answers.signing())
        .await
        .map_err(|failure| ProfileRefusal::new(failure, &address))?;
    Ok(ProfileDownload { address, body })
}

/// The refusal's short answer, with what the form shows for it attached.
fn refused(refusal: ProfileRefusal, fields: &ProfileFields) -> Response {
    let refused = form::Refused {
        problem: refusal.form_problem(),
        email: fields.emailaddress.clone().unwrap_or_default(),
        name: fields.name().unwrap_or_default().to_owned(),
    };
    let mut response = refusal.into_response();
    response.extensions_mut().insert(refused);
    response
}

impl IntoResponse for ProfileRefusal {
    fn into_response(self) -> Response {
        let status = status(self.status());
        if status.is_server_error() && !self.is_incident() {
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
                // The type that makes Safari hand the file to Settings.
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::incident::tests::Logs;
    use crate::signing::SigningError;

    #[test]
    fn load_shedding_is_not_logged_per_request() {
        let logs = Logs::default();
        let _guard = logs.capture();
        for _ in 0..100 {
            let response = ProfileRefusal::Signing(SigningError::Busy).into_response();
            assert_eq!(response.status(), 503);
        }
        assert_eq!(
            logs.text(),
            "",
            "the signing queue logs its incident itself"
        );
        let response = ProfileRefusal::Signing(SigningError::Sign("boom".into())).into_response();
        assert_eq!(response.status(), 503);
        assert_eq!(
            logs.count("no profile served"),
            1,
            "other failures are logged"
        );
    }

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
}
