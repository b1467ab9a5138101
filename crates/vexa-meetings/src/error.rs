//! The one error type of the meetings service and its one mapping to HTTP.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;
use vexa_core::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum MeetingsError {
    /// No or wrong `X-Internal-Secret`: the caller is not the gateway.
    #[error("Unauthorized")]
    Unauthorized,
    #[error("Missing user identity")]
    MissingIdentity,
    #[error("Invalid user identity")]
    InvalidIdentity,
    /// A bot token that is missing, forged, expired or for another meeting.
    #[error("Invalid bot token")]
    BadBotToken,
    #[error("{0}")]
    Validation(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    #[error("User has reached the maximum concurrent bot limit ({0}).")]
    LimitReached(i64),
    #[error("No bot runtime configured: set BOT_COMMAND to the command line that runs a meeting bot (for development: BOT_COMMAND=\"vexa mock-bot\") and restart")]
    NoBotCommand,
    /// The runtime could not start or reach a bot (502, detail safe to show).
    #[error("{0}")]
    Runtime(String),
    #[error("store: {0}")]
    Store(#[from] StoreError),
    /// Startup problems (never an HTTP answer).
    #[error("{0}")]
    Setup(String),
}

impl MeetingsError {
    pub fn status(&self) -> StatusCode {
        match self {
            MeetingsError::Unauthorized
            | MeetingsError::MissingIdentity
            | MeetingsError::InvalidIdentity
            | MeetingsError::BadBotToken => StatusCode::UNAUTHORIZED,
            MeetingsError::Validation(_) => StatusCode::UNPROCESSABLE_ENTITY,
            MeetingsError::NotFound(_) => StatusCode::NOT_FOUND,
            MeetingsError::Conflict(_) => StatusCode::CONFLICT,
            MeetingsError::LimitReached(_) => StatusCode::TOO_MANY_REQUESTS,
            MeetingsError::NoBotCommand => StatusCode::SERVICE_UNAVAILABLE,
            MeetingsError::Runtime(_) => StatusCode::BAD_GATEWAY,
            MeetingsError::Store(StoreError::Unavailable(_)) => StatusCode::SERVICE_UNAVAILABLE,
            MeetingsError::Store(StoreError::NotFound) => StatusCode::NOT_FOUND,
            MeetingsError::Store(StoreError::Conflict(_)) => StatusCode::CONFLICT,
            MeetingsError::Store(StoreError::Other(_)) | MeetingsError::Setup(_) => {
                StatusCode::INTERNAL_SERVER_ERROR
            }
        }
    }

    /// The `detail` shown to the caller; 5xx never carry internal text.
    pub fn detail(&self) -> String {
        match self {
            MeetingsError::Store(StoreError::Unavailable(_)) => {
                "Database temporarily unavailable, retry".into()
            }
            MeetingsError::Store(StoreError::NotFound) => "Not Found".into(),
            MeetingsError::Store(StoreError::Conflict(_)) => "Conflict".into(),
            MeetingsError::Store(StoreError::Other(_)) | MeetingsError::Setup(_) => {
                "Internal error".into()
            }
            other => other.to_string(),
        }
    }
}

impl IntoResponse for MeetingsError {
    fn into_response(self) -> Response {
        let status = self.status();
        if status.is_server_error() {
            tracing::warn!(error = %self, "meetings request failed");
        }
        (status, Json(json!({ "detail": self.detail() }))).into_response()
    }
}

pub type Result<T, E = MeetingsError> = std::result::Result<T, E>;
