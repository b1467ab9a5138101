//! What the edge refuses before a handler runs, and how it answers: always the contract's
//! `{"detail": …}` JSON, never axum's plain-text rejections.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;

/// Longest `detail` echoed; serde messages can quote arbitrarily long input values.
pub const MAX_DETAIL_CHARS: usize = 300;

/// A request refused at the edge of a service.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EdgeRejection {
    /// The body is over the limit (declared or counted while reading).
    #[error("Request body too large")]
    BodyTooLarge,
    /// The body could not be read (the client went away mid-upload).
    #[error("Request body could not be read")]
    BodyUnreadable,
    /// The input breaks a rule (bad JSON, wrong type, unknown field, bad path or query).
    #[error("{0}")]
    Invalid(String),
    /// No route matches the path.
    #[error("Not Found")]
    NotFound,
    /// The path exists, but not for this method.
    #[error("Method Not Allowed")]
    MethodNotAllowed,
}

impl EdgeRejection {
    /// A 422 whose `detail` is cut to a readable length.
    pub fn invalid(detail: impl Into<String>) -> EdgeRejection {
        EdgeRejection::Invalid(truncate_detail(detail.into()))
    }

    pub fn status(&self) -> StatusCode {
        match self {
            EdgeRejection::BodyTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            EdgeRejection::BodyUnreadable => StatusCode::BAD_REQUEST,
            EdgeRejection::Invalid(_) => StatusCode::UNPROCESSABLE_ENTITY,
            EdgeRejection::NotFound => StatusCode::NOT_FOUND,
            EdgeRejection::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
        }
    }
}

/// `detail` cut to [`MAX_DETAIL_CHARS`] characters (plus an ellipsis when cut).
pub fn truncate_detail(detail: String) -> String {
    if detail.chars().count() <= MAX_DETAIL_CHARS {
        return detail;
    }
    let mut cut: String = detail.chars().take(MAX_DETAIL_CHARS).collect();
    cut.push('…');
    cut
}

/// The contract's error body: `{"detail": "<text>"}`.
pub fn detail_response(status: StatusCode, detail: &str) -> Response {
    (status, Json(serde_json::json!({ "detail": detail }))).into_response()
}

impl IntoResponse for EdgeRejection {
    fn into_response(self) -> Response {
        detail_response(self.status(), &self.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_details_are_truncated() {
        let e = EdgeRejection::invalid("x".repeat(10_000));
        assert!(e.to_string().chars().count() <= MAX_DETAIL_CHARS + 1);
    }

    #[test]
    fn statuses_follow_the_contract() {
        assert_eq!(EdgeRejection::BodyTooLarge.status(), 413);
        assert_eq!(EdgeRejection::invalid("x").status(), 422);
        assert_eq!(EdgeRejection::NotFound.status(), 404);
        assert_eq!(EdgeRejection::MethodNotAllowed.status(), 405);
    }
}
