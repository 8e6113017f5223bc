//! The HTTP form of a [`Refusal`]: its status, `text/plain`, its short fixed body, and for a
//! rate limit the `Retry-After` it names.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::answer::Refusal;

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        let status = status(self.status());
        tracing::debug!(status = %status, "{self}");
        let mut response = (
            status,
            [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
            self.body(),
        )
            .into_response();
        if let Refusal::TooMany { retry_after } = self {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(retry_after));
        }
        response
    }
}

/// A status the answer layer chose; every one it uses is a valid code.
pub(crate) fn status(code: u16) -> StatusCode {
    StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
}
