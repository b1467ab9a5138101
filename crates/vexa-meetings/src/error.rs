//! The errors of the meetings service and their one mapping to HTTP: [`MeetingsError`] for
//! everything a request can end in (with [`InvalidInput`], the 422 reasons, in the original's
//! words), [`StartError`] for what stops the service from starting (never an HTTP answer).
//! Variants say what happened; the status and `detail` are decided only in
//! [`MeetingsError::status`] and [`MeetingsError::detail`].

use axum::extract::ws::rejection::WebSocketUpgradeRejection;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use vexa_core::meeting::{IllegalTransition, Platform, TargetError};
use vexa_core::StoreError;
use vexa_http::EdgeRejection;

use crate::runtime::RuntimeError;
use crate::wire::DetailView;

/// Why a request's content is refused (422). `Display` is the `detail`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvalidInput {
    #[error("invalid JSON body")]
    NotJson,
    #[error("body must be an object")]
    NotAnObject,
    #[error("'{0}' must be a string")]
    NotAString(&'static str),
    /// `{0}` is the field as the message names it.
    #[error("{0} must be a boolean")]
    NotABoolean(&'static str),
    #[error("'{field}' is longer than {max} characters")]
    TooLong { field: &'static str, max: usize },
    #[error("'{0}' contains control characters")]
    ControlCharacters(&'static str),
    #[error("'{field}' must be an integer between {min} and {max}")]
    OutOfRange {
        field: &'static str,
        min: i64,
        max: i64,
    },
    /// The bot's destination (platform, id, link) cannot be decided.
    #[error(transparent)]
    Target(#[from] TargetError),
    #[error("unsupported platform '{0}' — must be one of: google_meet, jitsi, teams, zoom")]
    UnsupportedPlatform(String),
    #[error("unknown platform '{0}'")]
    UnknownPlatform(String),
    #[error("unknown status '{0}'")]
    UnknownStatus(String),
    #[error("automatic_leave must be an object")]
    AutoLeaveNotAnObject,
    #[error("automatic_leave has unknown field(s): {0}")]
    AutoLeaveUnknownFields(String),
    #[error("automatic_leave.{0} must be a positive integer")]
    AutoLeaveNotPositive(String),
    #[error("'language' or 'task' is required")]
    NothingToReconfigure,
    #[error("'scheduled_at' must be an ISO8601 string")]
    ScheduledAt,
    #[error("unrecognized 'meeting_url'")]
    UnrecognizedMeetingUrl,
    #[error("'data' must be an object")]
    DataNotAnObject,
    #[error("data has unknown field(s): {0} — editable: name, participants, languages, notes")]
    DataUnknownFields(String),
    #[error("data.{field} must be {expected}")]
    DataFieldType {
        field: String,
        expected: &'static str,
    },
    #[error("data is larger than 64 KiB")]
    DataTooLarge,
    #[error("no editable fields in body")]
    NothingToEdit,
    #[error("'meeting_id' must be an integer")]
    MeetingIdNotAnInteger,
    #[error("'status' is required")]
    StatusRequired,
    #[error("unknown lifecycle status '{0}'")]
    UnknownLifecycleStatus(String),
    #[error("'segments' must be a list")]
    SegmentsNotAList,
    #[error("at most {0} segments per batch")]
    TooManySegments(usize),
    #[error("segment must be an object")]
    SegmentNotAnObject,
    #[error("segment 'segment_id' is required")]
    SegmentIdRequired,
    #[error("segment 'text' is too long")]
    SegmentTextTooLong,
    #[error("segment '{0}' must be a number")]
    SegmentNotANumber(&'static str),
}

/// Everything a request to the meetings service can end in, other than success.
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
    /// Refused at the shared HTTP edge (body too large, malformed path or query, no route).
    #[error(transparent)]
    Edge(#[from] EdgeRejection),
    /// `GET /ws` without a WebSocket handshake.
    #[error(transparent)]
    NotAWebSocket(#[from] WebSocketUpgradeRejection),
    #[error(transparent)]
    Invalid(#[from] InvalidInput),
    #[error("Meeting not found")]
    MeetingNotFound,
    #[error("Meeting not found for platform {platform} and ID {native}")]
    MeetingNotFoundForKey { platform: String, native: String },
    /// The transcript routes by id name the id as given.
    #[error("Meeting {0} not found")]
    TranscriptNotFound(String),
    #[error("No active meeting for this bot")]
    NoActiveBot,
    #[error("An active meeting already exists for {}/{native}", .platform.as_str())]
    BotAlreadyActive { platform: Platform, native: String },
    #[error("A meeting already exists for {}/{}", .platform.as_str(), .native.as_deref().unwrap_or_default())]
    PlanExists {
        platform: Platform,
        native: Option<String>,
    },
    #[error("Meeting is no longer planned (bot lifecycle owns it)")]
    NoLongerPlanned,
    #[error("Another active meeting uses that link")]
    LinkInUse,
    #[error("Meeting artifacts can only be deleted after the lifecycle is terminal")]
    LifecycleNotTerminal,
    /// Segments for a meeting that never had a bot.
    #[error("meeting has no bot")]
    NoBot,
    /// A bot report the state machine refuses.
    #[error(transparent)]
    IllegalTransition(#[from] IllegalTransition),
    /// Other writers kept moving the row while a report was applied.
    #[error("meeting is being updated concurrently; retry")]
    ConcurrentUpdate,
    #[error("User has reached the maximum concurrent bot limit ({0}).")]
    LimitReached(i64),
    #[error("No bot runtime configured: set BOT_COMMAND to the command line that runs a meeting bot (for development: BOT_COMMAND=\"vexa mock-bot\") and restart")]
    NoBotCommand,
    /// The runtime could not start the bot (502; the runtime's message is safe to show).
    #[error("bot runtime failed to start: {0}")]
    BotStartFailed(RuntimeError),
    #[error("store: {0}")]
    Store(#[from] StoreError),
}

impl MeetingsError {
    pub fn status(&self) -> StatusCode {
        match self {
            MeetingsError::Unauthorized
            | MeetingsError::MissingIdentity
            | MeetingsError::InvalidIdentity
            | MeetingsError::BadBotToken => StatusCode::UNAUTHORIZED,
            MeetingsError::Edge(rejection) => rejection.status(),
            MeetingsError::NotAWebSocket(rejection) => rejection.status(),
            MeetingsError::Invalid(_) => StatusCode::UNPROCESSABLE_ENTITY,
            MeetingsError::MeetingNotFound
            | MeetingsError::MeetingNotFoundForKey { .. }
            | MeetingsError::TranscriptNotFound(_)
            | MeetingsError::NoActiveBot => StatusCode::NOT_FOUND,
            MeetingsError::BotAlreadyActive { .. }
            | MeetingsError::PlanExists { .. }
            | MeetingsError::NoLongerPlanned
            | MeetingsError::LinkInUse
            | MeetingsError::LifecycleNotTerminal
            | MeetingsError::NoBot
            | MeetingsError::IllegalTransition(_)
            | MeetingsError::ConcurrentUpdate => StatusCode::CONFLICT,
            MeetingsError::LimitReached(_) => StatusCode::TOO_MANY_REQUESTS,
            MeetingsError::NoBotCommand => StatusCode::SERVICE_UNAVAILABLE,
            MeetingsError::BotStartFailed(_) => StatusCode::BAD_GATEWAY,
            MeetingsError::Store(StoreError::Unavailable(_)) => StatusCode::SERVICE_UNAVAILABLE,
            MeetingsError::Store(StoreError::NotFound) => StatusCode::NOT_FOUND,
            MeetingsError::Store(StoreError::Conflict(_)) => StatusCode::CONFLICT,
            MeetingsError::Store(StoreError::Other(_)) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The `detail` shown to the caller; a store error never shows its internal text.
    pub fn detail(&self) -> String {
        match self {
            MeetingsError::Store(StoreError::Unavailable(_)) => {
                "Database temporarily unavailable, retry".into()
            }
            MeetingsError::Store(StoreError::NotFound) => "Not Found".into(),
            MeetingsError::Store(StoreError::Conflict(_)) => "Conflict".into(),
            MeetingsError::Store(StoreError::Other(_)) => "Internal error".into(),
            MeetingsError::NotAWebSocket(rejection) => rejection.body_text(),
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
        let detail = self.detail();
        (status, Json(DetailView { detail })).into_response()
    }
}

/// Why the meetings service could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// `BOT_COMMAND` is not a command line.
    #[error("BOT_COMMAND: {0}")]
    BotCommand(RuntimeError),
    /// The meetings an earlier run left live could not be read.
    #[error("closing the meetings an earlier run left live: {0}")]
    Reconcile(#[from] StoreError),
}

pub type Result<T, E = MeetingsError> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn store_failures_never_show_their_internal_text() {
        for e in [
            StoreError::Unavailable("db at 10.0.0.5 refused".into()),
            StoreError::Other("syntax error near SELECT".into()),
        ] {
            let detail = MeetingsError::Store(e).detail();
            assert!(
                !detail.contains("10.0.0.5") && !detail.contains("SELECT"),
                "{detail}"
            );
        }
    }

    #[test]
    fn edge_refusals_keep_their_contract_status() {
        let e = MeetingsError::from(EdgeRejection::BodyTooLarge);
        assert_eq!(
            (e.status(), e.detail().as_str()),
            (StatusCode::PAYLOAD_TOO_LARGE, "Request body too large")
        );
    }

    #[test]
    fn conflicts_name_the_meeting() {
        let e = MeetingsError::BotAlreadyActive {
            platform: Platform::GoogleMeet,
            native: "abc".into(),
        };
        assert_eq!(
            e.detail(),
            "An active meeting already exists for google_meet/abc"
        );
        let e = MeetingsError::PlanExists {
            platform: Platform::Unknown,
            native: None,
        };
        assert_eq!(e.detail(), "A meeting already exists for unknown/");
    }
}
