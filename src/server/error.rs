//! The HTTP form of a [`Refusal`]: its status, `text/plain`, and its short fixed body.

use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::answer::Refusal;

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        let status = status(self.status());
        tracing::debug!(status = %status, "{self}");
        (
            status,
            [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
            self.body(),
        )
            .into_response()
    }
}

/// A status the answer layer chose; every one it uses is a valid code.
pub(crate) fn status(code: u16) -> StatusCode {
    StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
}
