//! The bot protocol's receiving end. Every call carries `Authorization: Bearer <token>`, a
//! per-meeting HMAC token minted at spawn (see `token`); these routes are not in the gateway's
//! route table, so only bots on this host's network reach them.
//!
//! - `POST /internal/bot/lifecycle` `{"status", "connection_id"?, "completion_reason"?, "reason"?, "exit_code"?}`
//!   → 200 `{"status":"accepted","meeting_status"}`; 409 on an illegal edge; same status = no-op.
//! - `POST /internal/bot/segments` `{"segments":[{"segment_id","text","start","end","speaker"?,
//!   "language"?, "completed"?}]}` → 200 `{"status":"accepted","count"}`; upsert by `segment_id`.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::Json;
use serde_json::{json, Value};
use vexa_core::meeting::{LifecycleEvent, Meeting, MeetingStatus, Segment};

use crate::error::{MeetingsError, Result};
use crate::input::{bounded, object, opt_str};
use crate::lifecycle::{self, Source};
use crate::state::AppState;

const MAX_SEGMENTS: usize = 500;
const MAX_TEXT: usize = 10_000;

async fn authorized(st: &AppState, headers: &HeaderMap) -> Result<Meeting> {
    let token = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .ok_or(MeetingsError::BadBotToken)?;
    let id = st
        .tokens
        .verify(token.trim(), st.clock.now())
        .ok_or(MeetingsError::BadBotToken)?;
    st.store
        .meeting(id)
        .await?
        .ok_or(MeetingsError::BadBotToken)
}

pub async fn lifecycle(
    State(st): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<Value>> {
    let m = authorized(&st, &headers).await?;
    let b = object(&body)?;
    let raw = opt_str(&b, "status")?
        .ok_or_else(|| MeetingsError::Validation("'status' is required".into()))?;
    let status = MeetingStatus::parse(&raw)
        .filter(|s| {
            !s.is_planned() && !matches!(s, MeetingStatus::Requested | MeetingStatus::Stopping)
        })
        .ok_or_else(|| MeetingsError::Validation(format!("unknown lifecycle status '{raw}'")))?;
    let completion_reason = bounded("completion_reason", opt_str(&b, "completion_reason")?, 64)?;
    let reason = bounded("reason", opt_str(&b, "reason")?, 1000)?;
    let event = LifecycleEvent {
        status,
        completion_reason,
    };
    let (m, changed) = lifecycle::apply(&st, m.id, &event, reason, Source::BotCallback).await?;
    Ok(Json(json!({
        "status": "accepted", "changed": changed, "meeting_status": m.status.as_str(),
        "completion_reason": m.completion_reason, "failure_stage": m.failure_stage,
    })))
}

fn segment(v: &Value, now: vexa_core::Timestamp) -> Result<Segment> {
    let bad = |d: &str| MeetingsError::Validation(format!("segment {d}"));
    let o = v.as_object().ok_or_else(|| bad("must be an object"))?;
    let id = bounded("segment_id", opt_str(o, "segment_id")?, 255)?
        .filter(|s| !s.is_empty())
        .ok_or_else(|| bad("'segment_id' is required"))?;
    let text = opt_str(o, "text")?.unwrap_or_default();
    if text.len() > MAX_TEXT {
        return Err(bad("'text' is too long"));
    }
    let num = |k: &str| o.get(k).and_then(Value::as_f64).filter(|f| f.is_finite());
    let (mut start, mut end) = (
        num("start").ok_or_else(|| bad("'start' must be a number"))?,
        num("end").ok_or_else(|| bad("'end' must be a number"))?,
    );
    if end < start {
        std::mem::swap(&mut start, &mut end);
    }
    Ok(Segment {
        segment_id: id,
        session_uid: bounded("session_uid", opt_str(o, "session_uid")?, 64)?,
        speaker: bounded("speaker", opt_str(o, "speaker")?, 255)?,
        text,
        start,
        end,
        language: bounded("language", opt_str(o, "language")?, 16)?,
        completed: o.get("completed").and_then(Value::as_bool).unwrap_or(true),
        created_at: now,
        updated_at: now,
    })
}

pub async fn segments(
    State(st): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<Value>> {
    let m = authorized(&st, &headers).await?;
    let b = object(&body)?;
    let list = b
        .get("segments")
        .and_then(Value::as_array)
        .ok_or_else(|| MeetingsError::Validation("'segments' must be a list".into()))?;
    if list.len() > MAX_SEGMENTS {
        return Err(MeetingsError::Validation(format!(
            "at most {MAX_SEGMENTS} segments per batch"
        )));
    }
    if m.status.is_planned() {
        return Err(MeetingsError::Conflict("meeting has no bot".into()));
    }
    let now = st.clock.now();
    let segs = list
        .iter()
        .map(|v| segment(v, now))
        .collect::<Result<Vec<_>>>()?;
    let count = segs.len();
    lifecycle::ingest(&st, &m, segs).await?;
    Ok(Json(json!({"status": "accepted", "count": count})))
}
