//! The bot protocol's receiving end. Every call carries `Authorization: Bearer <token>`, a
//! per-meeting HMAC token minted at spawn (see `token`); these routes are not in the gateway's
//! route table, so only bots on this host's network reach them. The token is checked by
//! [`require_bot_token`] before the body is read.
//!
//! - `POST /internal/bot/lifecycle` `{"status", "connection_id"?, "completion_reason"?, "reason"?, "exit_code"?}`
//!   → 200 `{"status":"accepted","changed","meeting_status",…}`; 409 on an illegal edge; same
//!   status = no-op.
//! - `POST /internal/bot/segments` `{"segments":[{"segment_id","text","start","end","speaker"?,
//!   "language"?, "completed"?}]}` → 200 `{"status":"accepted","count"}`; upsert by `segment_id`.

use axum::extract::{FromRequestParts, Request, State};
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use axum::http::HeaderMap;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde_json::Value;
use vexa_core::meeting::{LifecycleEvent, Meeting, MeetingStatus, Segment, TransitionSource};
use vexa_core::Timestamp;
use vexa_http::answer_after_body;

use crate::error::{InvalidInput, MeetingsError, Result};
use crate::lifecycle;
use crate::state::AppState;
use crate::wire::bot_callbacks::{LifecycleReport, SegmentBatch, SegmentReport};
use crate::wire::FromWire;

const MAX_SEGMENTS: usize = 500;
/// Longest segment text, in bytes.
const MAX_TEXT: usize = 10_000;

/// The meeting a verified bot token names (set by [`require_bot_token`]).
#[derive(Debug, Clone)]
pub struct BotMeeting(pub Meeting);

/// Lets a request through only with a valid, unexpired token for an existing meeting.
pub async fn require_bot_token(
    State(state): State<AppState>,
    mut req: Request,
    next: Next,
) -> Response {
    let verdict = authorize(&state, req.headers()).await;
    match verdict {
        Ok(meeting) => {
            req.extensions_mut().insert(BotMeeting(meeting));
            next.run(req).await
        }
        Err(refusal) => answer_after_body(req, refusal.into_response()).await,
    }
}

async fn authorize(state: &AppState, headers: &HeaderMap) -> Result<Meeting> {
    let token = headers
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .ok_or(MeetingsError::BadBotToken)?;
    let id = state
        .tokens
        .verify(token.trim(), state.clock.now())
        .ok_or(MeetingsError::BadBotToken)?;
    state
        .store
        .meeting(id)
        .await?
        .ok_or(MeetingsError::BadBotToken)
}

impl<S: Send + Sync> FromRequestParts<S> for BotMeeting {
    type Rejection = MeetingsError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self> {
        parts
            .extensions
            .get::<BotMeeting>()
            .cloned()
            .ok_or(MeetingsError::BadBotToken)
    }
}

/// A bot's status report, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BotReport {
    pub event: LifecycleEvent,
    /// The bot's words (kept as the failure reason when it failed).
    pub reason: Option<String>,
}

impl FromWire for BotReport {
    type Wire = LifecycleReport;

    fn from_wire(report: LifecycleReport) -> Result<BotReport, InvalidInput> {
        let raw = report
            .status
            .read("status")?
            .ok_or(InvalidInput::StatusRequired)?;
        // Plans, `requested` and `stopping` are the service's to set, never a bot's.
        let status = MeetingStatus::parse(&raw)
            .filter(|s| {
                !s.is_planned() && !matches!(s, MeetingStatus::Requested | MeetingStatus::Stopping)
            })
            .ok_or(InvalidInput::UnknownLifecycleStatus(raw))?;
        let completion_reason = report
            .completion_reason
            .read_bounded("completion_reason", 64)?;
        Ok(BotReport {
            event: LifecycleEvent {
                status,
                completion_reason,
            },
            reason: report.reason.read_bounded("reason", 1000)?,
        })
    }
}

/// A status report: through the state machine; returns the row and whether it changed.
pub async fn report_lifecycle(
    state: &AppState,
    meeting: &Meeting,
    report: BotReport,
) -> Result<(Meeting, bool)> {
    let source = TransitionSource::BotCallback;
    lifecycle::apply(state, meeting.id, &report.event, report.reason, source).await
}

/// A batch of segments: stored and streamed; returns how many. It takes the batch as sent: a
/// meeting without a bot is refused (409) before any entry is checked (422).
pub async fn ingest_segments(
    state: &AppState,
    meeting: &Meeting,
    batch: SegmentBatch,
) -> Result<usize> {
    let Some(Value::Array(list)) = batch.segments else {
        return Err(InvalidInput::SegmentsNotAList.into());
    };
    if list.len() > MAX_SEGMENTS {
        return Err(InvalidInput::TooManySegments(MAX_SEGMENTS).into());
    }
    if meeting.status.is_planned() {
        return Err(MeetingsError::NoBot);
    }
    let now = state.clock.now();
    let segments = list
        .into_iter()
        .map(|v| segment(v, now))
        .collect::<Result<Vec<_>, InvalidInput>>()?;
    let count = segments.len();
    lifecycle::ingest(state, meeting, segments).await?;
    Ok(count)
}

/// One entry of a batch, checked in the original's order.
fn segment(entry: Value, now: Timestamp) -> Result<Segment, InvalidInput> {
    if !entry.is_object() {
        return Err(InvalidInput::SegmentNotAnObject);
    }
    let report: SegmentReport =
        serde_json::from_value(entry).map_err(|_| InvalidInput::SegmentNotAnObject)?;
    let segment_id = report
        .segment_id
        .read_bounded("segment_id", 255)?
        .filter(|s| !s.is_empty())
        .ok_or(InvalidInput::SegmentIdRequired)?;
    let text = report.text.read("text")?.unwrap_or_default();
    if text.len() > MAX_TEXT {
        return Err(InvalidInput::SegmentTextTooLong);
    }
    let seconds = |v: &Value, field| {
        v.as_f64()
            .filter(|f| f.is_finite())
            .ok_or(InvalidInput::SegmentNotANumber(field))
    };
    let (mut start, mut end) = (
        seconds(&report.start, "start")?,
        seconds(&report.end, "end")?,
    );
    if end < start {
        std::mem::swap(&mut start, &mut end);
    }
    Ok(Segment {
        segment_id,
        session_uid: report.session_uid.read_bounded("session_uid", 64)?,
        speaker: report.speaker.read_bounded("speaker", 255)?,
        text,
        start,
        end,
        language: report.language.read_bounded("language", 16)?,
        completed: report.completed.as_bool().unwrap_or(true),
        created_at: now,
        updated_at: now,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn detail(entry: Value) -> String {
        match segment(entry, Timestamp(0)) {
            Ok(s) => format!("ok {}", s.segment_id),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn segments_are_checked_with_the_originals_words() {
        assert_eq!(detail(json!(5)), "segment must be an object");
        assert_eq!(
            detail(json!({"text": "x"})),
            "segment 'segment_id' is required"
        );
        assert_eq!(
            detail(json!({"segment_id": 5})),
            "'segment_id' must be a string"
        );
        assert_eq!(
            detail(json!({"segment_id": "a", "start": "1", "end": 2})),
            "segment 'start' must be a number"
        );
        assert_eq!(
            detail(json!({"segment_id": "a", "start": 1, "end": 2})),
            "ok a"
        );
    }

    #[test]
    fn a_reversed_segment_is_turned_around_and_drafts_are_kept_as_drafts() {
        let s = segment(
            json!({"segment_id": "a", "start": 3.0, "end": 1.0, "completed": false}),
            Timestamp(0),
        );
        assert_eq!(
            s.map(|s| (s.start, s.end, s.completed)),
            Ok((1.0, 3.0, false))
        );
    }
}
