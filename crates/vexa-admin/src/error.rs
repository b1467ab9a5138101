//! The admin API's one error type and its one mapping to HTTP status + `{"detail": ...}`.
//!
//! Refusals made before a handler runs (body too large, bad JSON, bad path or query, unknown
//! route) are [`vexa_http::EdgeRejection`]s, answered by the shared edge in the same shape; every
//! failure of the admin API's own gate, rules and store ends up here, so the status and wording
//! of each is decided in a single exhaustive match. 5xx bodies never carry the underlying
//! message; it goes to the log instead.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use vexa_core::rotate::RotateError;
use vexa_core::{StoreError, ValidationError};
use vexa_http::rejection::{detail_response, truncate_detail};

/// Everything that can go wrong while serving an admin request, past the edge.
#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    /// `X-Admin-API-Key` missing or wrong.
    #[error("Invalid or missing admin token.")]
    Forbidden,
    /// `/user/*` without `X-API-Key` (the original's wording, capital K).
    #[error("Missing API Key")]
    MissingApiKey,
    /// `/user/*` with a key that resolves to no live, unexpired key of an existing user.
    #[error("Invalid API Key")]
    InvalidApiKey,
    /// `/user/*` with a key that holds none of the route's scopes.
    #[error("Token scope not authorized for this endpoint")]
    ScopeNotAuthorized,
    /// Input that breaks a rule: out-of-range value, bad email, bad mint options.
    #[error("{0}")]
    Invalid(String),
    /// `/internal/*` with no `INTERNAL_API_SECRET` configured (fail-closed).
    #[error("INTERNAL_API_SECRET not configured")]
    InternalSecretNotConfigured,
    /// `X-Internal-Secret` missing or wrong.
    #[error("Invalid internal secret")]
    InvalidInternalSecret,
    /// `POST /internal/validate` without a token.
    #[error("Missing token")]
    MissingToken,
    /// A token that matches no live key.
    #[error("Invalid token")]
    InvalidToken,
    #[error("Token expired")]
    TokenExpired,
    #[error("User not found")]
    UserNotFound,
    #[error("Token not found")]
    TokenNotFound,
    /// Rotating a key that is in its grace period after an earlier rotation.
    #[error("Token already rotated; rotate its replacement")]
    TokenAlreadyRotated,
    /// The database is unreachable; retryable.
    #[error("Database temporarily unavailable, retry")]
    StoreUnavailable(String),
    /// Anything unexpected; the message is logged, never sent.
    #[error("Internal server error")]
    Internal(String),
}

impl AdminError {
    /// A 422 with `detail`, cut to a readable length.
    pub fn invalid(detail: impl Into<String>) -> AdminError {
        AdminError::Invalid(truncate_detail(detail.into()))
    }

    pub fn status(&self) -> StatusCode {
        match self {
            AdminError::Forbidden
            | AdminError::InvalidApiKey
            | AdminError::ScopeNotAuthorized
            | AdminError::InvalidInternalSecret => StatusCode::FORBIDDEN,
            AdminError::InternalSecretNotConfigured => StatusCode::SERVICE_UNAVAILABLE,
            AdminError::MissingApiKey
            | AdminError::MissingToken
            | AdminError::InvalidToken
            | AdminError::TokenExpired => StatusCode::UNAUTHORIZED,
            AdminError::Invalid(_) => StatusCode::UNPROCESSABLE_ENTITY,
            AdminError::UserNotFound | AdminError::TokenNotFound => StatusCode::NOT_FOUND,
            AdminError::TokenAlreadyRotated => StatusCode::CONFLICT,
            AdminError::StoreUnavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            AdminError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

impl From<ValidationError> for AdminError {
    fn from(e: ValidationError) -> Self {
        AdminError::invalid(e.detail)
    }
}

impl From<StoreError> for AdminError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Unavailable(msg) => AdminError::StoreUnavailable(msg),
            // Callers that expect NotFound handle it before converting; here it is a surprise.
            StoreError::NotFound => {
                AdminError::Internal("store reported an unexpected NotFound".into())
            }
            StoreError::Conflict(msg) => AdminError::Internal(format!("store conflict: {msg}")),
            StoreError::Other(msg) => AdminError::Internal(msg),
        }
    }
}

impl From<RotateError> for AdminError {
    fn from(e: RotateError) -> Self {
        match e {
            RotateError::NotFound => AdminError::TokenNotFound,
            RotateError::AlreadyRotated => AdminError::TokenAlreadyRotated,
            RotateError::Store(e) => e.into(),
        }
    }
}

impl IntoResponse for AdminError {
    fn into_response(self) -> Response {
        match &self {
            AdminError::StoreUnavailable(msg) => tracing::warn!(error = %msg, "store unavailable"),
            AdminError::Internal(msg) => tracing::error!(error = %msg, "internal error"),
            AdminError::Forbidden
            | AdminError::MissingApiKey
            | AdminError::InvalidApiKey
            | AdminError::ScopeNotAuthorized
            | AdminError::InternalSecretNotConfigured
            | AdminError::InvalidInternalSecret
            | AdminError::MissingToken
            | AdminError::InvalidToken
            | AdminError::TokenExpired
            | AdminError::Invalid(_)
            | AdminError::UserNotFound
            | AdminError::TokenNotFound
            | AdminError::TokenAlreadyRotated => {}
        }
        detail_response(self.status(), &self.to_string())
    }
}

#[cfg(test)]
mod tests {
    use vexa_http::rejection::MAX_DETAIL_CHARS;

    use super::*;

    #[test]
    fn server_errors_never_carry_internal_text() {
        let e = AdminError::from(StoreError::Other("relation users does not exist".into()));
        assert_eq!(e.to_string(), "Internal server error");
        let e = AdminError::from(StoreError::Unavailable(
            "connection refused 10.0.0.1".into(),
        ));
        assert_eq!(e.to_string(), "Database temporarily unavailable, retry");
        assert_eq!(e.status(), StatusCode::SERVICE_UNAVAILABLE);
    }

    #[test]
    fn long_details_are_truncated() {
        let e = AdminError::invalid("x".repeat(10_000));
        assert!(e.to_string().chars().count() <= MAX_DETAIL_CHARS + 1);
    }
}
