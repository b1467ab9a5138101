//! Applying bot reports: status changes through the FSM (compare-and-set in the store), then
//! the side effects of a real change — WebSocket frames and webhooks. Transcript batches are
//! stored and streamed. Runtime exit events become terminal states when the bot said nothing.

use serde_json::{json, Map, Value};
use tokio::sync::mpsc;
use vexa_core::meeting::fsm::on_exit;
use vexa_core::meeting::{
    advance, Advance, LifecycleEvent, Meeting, MeetingId, MeetingStatus, Segment, StatusUpdate,
};

use crate::error::{MeetingsError, Result};
use crate::hub::Frame;
use crate::runtime::RuntimeEvent;
use crate::state::AppState;
use crate::view;

/// Who caused a status change (recorded in `data.status_transition`).
#[derive(Debug, Clone, Copy)]
pub enum Source {
    BotCallback,
    Runtime,
    UserStop,
    Spawn,
}

impl Source {
    fn as_str(self) -> &'static str {
        match self {
            Source::BotCallback => "bot_callback",
            Source::Runtime => "runtime_exit",
            Source::UserStop => "user_stop",
            Source::Spawn => "spawn",
        }
    }
}

/// Applies one event. Returns the row and whether it changed (a same-status report is a no-op).
pub async fn apply(
    st: &AppState,
    id: MeetingId,
    event: &LifecycleEvent,
    reason: Option<String>,
    source: Source,
) -> Result<(Meeting, bool)> {
    for _ in 0..5 {
        let m = st
            .store
            .meeting(id)
            .await?
            .ok_or_else(|| MeetingsError::NotFound("Meeting not found".into()))?;
        let (status, completion_reason, failure_stage) =
            match advance(m.status, m.stop_requested(), event) {
                Ok(Advance::NoOp) => return Ok((m, false)),
                Ok(Advance::To {
                    status,
                    completion_reason,
                    failure_stage,
                }) => (status, completion_reason, failure_stage),
                Err(e) => return Err(MeetingsError::Conflict(e.to_string())),
            };
        let now = st.clock.now();
        let mut history = m
            .data
            .get("status_transition")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        history.push(json!({
            "from": m.status.as_str(), "to": status.as_str(), "timestamp": now,
            "source": source.as_str(), "reason": reason, "completion_reason": completion_reason,
        }));
        let mut data = Map::new();
        data.insert("status_transition".into(), Value::Array(history));
        if let Some(r) = &reason {
            if status == MeetingStatus::Failed {
                data.insert("failure_reason".into(), Value::from(r.clone()));
            }
        }
        let update = StatusUpdate {
            from: m.status,
            to: status,
            completion_reason,
            failure_stage: failure_stage.map(|s| s.as_str().to_owned()),
            data,
            now,
        };
        if let Some(new) = st.store.update_status(id, &update).await? {
            publish_status(st, m.status, &new, reason.as_deref(), source);
            if new.status.is_terminal() {
                // A bot that reported its end must also go: make sure its process group exits.
                if let Some(rt) = st.runtime.clone() {
                    let grace = st.cfg.stop_grace;
                    tokio::spawn(async move { rt.stop(id, grace).await });
                }
            }
            return Ok((new, true));
        }
        // Another writer moved the row between our read and write: decide again on fresh state.
    }
    Err(MeetingsError::Conflict(
        "meeting is being updated concurrently; retry".into(),
    ))
}

fn meeting_ref(m: &Meeting) -> Value {
    json!({"id": m.id, "platform": m.platform.as_str(), "native_id": m.native_meeting_id})
}

pub fn publish_status(
    st: &AppState,
    old: MeetingStatus,
    m: &Meeting,
    reason: Option<&str>,
    source: Source,
) {
    let now = st.clock.now();
    let nested = json!({
        "type": "meeting.status", "meeting": meeting_ref(m), "payload": {"status": m.status.as_str()},
        "user_id": m.user_id, "ts": now,
    });
    let flat = json!({
        "type": "meeting.status", "meeting_id": m.id, "native": m.native_meeting_id,
        "status": m.status.as_str(), "when": now,
    });
    for (frame, user_wide) in [(nested, false), (flat, true)] {
        st.hub.publish(Frame {
            user: m.user_id,
            key: key_of(m),
            user_wide,
            text: frame.to_string().into(),
        });
    }
    let change = json!({
        "from": old.as_str(), "to": m.status.as_str(), "reason": reason,
        "timestamp": now, "transition_source": source.as_str(),
    });
    let row = view::meeting(m);
    let dedupe = format!("{}|{}", m.id.0, m.status.as_str());
    st.webhooks.emit(
        m.user_id,
        "meeting.status_change",
        dedupe.clone(),
        json!({"meeting": row, "status_change": change}),
    );
    let typed = match m.status {
        MeetingStatus::Active => Some((
            "meeting.started",
            json!({"meeting": row, "status_change": change}),
        )),
        MeetingStatus::Completed => Some(("meeting.completed", json!({"meeting": row}))),
        MeetingStatus::Failed => Some((
            "bot.failed",
            json!({"meeting": row, "status_change": change}),
        )),
        _ => None,
    };
    if let Some((event_type, data)) = typed {
        st.webhooks.emit(m.user_id, event_type, dedupe, data);
    }
    metrics::counter!("vexa_meetings_status_changes_total", "status" => m.status.as_str())
        .increment(1);
}

pub fn key_of(m: &Meeting) -> Option<(String, String)> {
    m.native_meeting_id
        .as_ref()
        .map(|n| (m.platform.as_str().to_owned(), n.clone()))
}

/// Stores a batch of segments and streams it to subscribers.
pub async fn ingest(st: &AppState, m: &Meeting, segments: Vec<Segment>) -> Result<()> {
    if segments.is_empty() {
        return Ok(());
    }
    st.store.upsert_segments(m.id, &segments).await?;
    let base = m.start_time.or(Some(m.created_at)).map(|t| t.0);
    let (confirmed, pending): (Vec<&Segment>, Vec<&Segment>) =
        segments.iter().partition(|s| s.completed);
    let frame = json!({
        "type": "transcript",
        "meeting": meeting_ref(m),
        "speaker": segments.first().and_then(|s| s.speaker.clone()),
        "confirmed": confirmed.iter().map(|s| view::segment(s, base)).collect::<Vec<_>>(),
        "pending": pending.iter().map(|s| view::segment(s, base)).collect::<Vec<_>>(),
        "ts": st.clock.now(),
    });
    st.hub.publish(Frame {
        user: m.user_id,
        key: key_of(m),
        user_wide: false,
        text: frame.to_string().into(),
    });
    metrics::counter!("vexa_meetings_segments_total").increment(segments.len() as u64);
    Ok(())
}

/// Turns process exits into terminal states when the bot did not report one (a crash).
pub async fn run_runtime_events(st: AppState, mut rx: mpsc::UnboundedReceiver<RuntimeEvent>) {
    while let Some(RuntimeEvent::Exited { meeting, code }) = rx.recv().await {
        let Ok(Some(m)) = st.store.meeting(meeting).await else {
            continue;
        };
        if let Some(ev) = on_exit(m.status, m.stop_requested(), code) {
            let reason = Some(format!(
                "bot process exited (code {})",
                code.map_or("signal".into(), |c| c.to_string())
            ));
            if let Err(e) = apply(&st, meeting, &ev, reason, Source::Runtime).await {
                tracing::info!(meeting = meeting.0, error = %e, "exit of a bot did not change its meeting");
            }
        }
    }
}

/// A flat user-channel frame for plan changes (no FSM advance, no webhook).
pub fn publish_user_frame(st: &AppState, m: &Meeting) {
    let flat = json!({
        "type": "meeting.status", "meeting_id": m.id, "native": m.native_meeting_id,
        "status": m.status.as_str(), "when": m.data.get("scheduled_at"),
    });
    st.hub.publish(Frame {
        user: m.user_id,
        key: key_of(m),
        user_wide: true,
        text: flat.to_string().into(),
    });
}

/// At startup no bot process of an earlier run is alive (each leaves when its stdin closes, and
/// shutdown stops them all), so meetings still marked live are given their terminal state.
pub async fn reconcile_after_restart(st: &AppState) -> Result<usize> {
    let mut n = 0;
    for m in st.store.live_meetings().await? {
        if let Some(ev) = on_exit(m.status, m.stop_requested(), None) {
            let reason =
                Some("the meetings service restarted; the bot did not survive it".to_owned());
            if apply(st, m.id, &ev, reason, Source::Runtime).await.is_ok() {
                n += 1;
            }
        }
    }
    Ok(n)
}
