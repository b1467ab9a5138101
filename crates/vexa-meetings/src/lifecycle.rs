//! Applying bot reports: status changes through the FSM (compare-and-set in the store), then
//! the side effects of a real change — WebSocket frames and webhooks. Transcript batches are
//! stored and streamed. Runtime exit events become terminal states when the bot said nothing.

use serde::Serialize;
use tokio::sync::mpsc;
use vexa_core::meeting::fsm::on_exit;
use vexa_core::meeting::{
    advance, Advance, DataPatch, LifecycleEvent, Meeting, MeetingId, MeetingStatus, Segment,
    StatusTransition, StatusUpdate, TransitionSource,
};
use vexa_core::{StoreError, Timestamp};

use crate::error::{MeetingsError, Result};
use crate::hub::Frame;
use crate::runtime::RuntimeEvent;
use crate::state::AppState;
use crate::wire::live::{
    MeetingEvent, MeetingFrame, MeetingRef, StatusChange, TranscriptFrame, UserStatusFrame,
};
use crate::wire::meetings::MeetingView;
use crate::wire::transcripts::SegmentView;

/// Reads and compare-and-set writes per report before giving up on a row that keeps moving.
const MAX_ATTEMPTS: usize = 5;

/// Applies one event. Returns the row and whether it changed (a same-status report is a no-op).
pub async fn apply(
    state: &AppState,
    id: MeetingId,
    event: &LifecycleEvent,
    reason: Option<String>,
    source: TransitionSource,
) -> Result<(Meeting, bool)> {
    for _ in 0..MAX_ATTEMPTS {
        let m = state
            .store
            .meeting(id)
            .await?
            .ok_or(MeetingsError::MeetingNotFound)?;
        let decided = advance(m.status, m.stop_requested(), event)?;
        let Some(update) = status_update(&m, decided, reason.as_deref(), source, state.clock.now())
        else {
            return Ok((m, false));
        };
        if let Some(new) = state.store.update_status(id, &update).await? {
            publish_status(state, m.status, &new, reason.as_deref(), source);
            if new.status.is_terminal() {
                // A bot that reported its end must also go: make sure its process group exits.
                state.stop_bot_process(id);
            }
            return Ok((new, true));
        }
        // Another writer moved the row between our read and write: decide again on fresh state.
    }
    Err(MeetingsError::ConcurrentUpdate)
}

/// The write that records a decided change (with its history entry); `None` for a no-op.
fn status_update(
    m: &Meeting,
    decided: Advance,
    reason: Option<&str>,
    source: TransitionSource,
    now: Timestamp,
) -> Option<StatusUpdate> {
    let Advance::To {
        status,
        completion_reason,
        failure_stage,
    } = decided
    else {
        return None;
    };
    let change = StatusTransition {
        from: m.status,
        to: status,
        timestamp: now,
        source,
        reason: reason.map(str::to_owned),
        completion_reason: completion_reason.clone(),
    };
    let mut data = DataPatch::new().record_transition(m, &change);
    if let (Some(reason), MeetingStatus::Failed) = (reason, status) {
        data = data.failure_reason(reason);
    }
    Some(StatusUpdate {
        from: m.status,
        to: status,
        completion_reason,
        failure_stage: failure_stage.map(|s| s.as_str().to_owned()),
        data,
        now,
    })
}

/// Tells everyone who follows `m` that its status changed from `old`: both WebSocket channels,
/// the user's webhook, the metrics.
pub fn publish_status(
    state: &AppState,
    old: MeetingStatus,
    m: &Meeting,
    reason: Option<&str>,
    source: TransitionSource,
) {
    let now = state.clock.now();
    publish(state, m, false, &MeetingFrame::status(m, now));
    publish(
        state,
        m,
        true,
        &UserStatusFrame::new(m, m.status.as_str(), now),
    );
    let change = StatusChange {
        from: old,
        to: m.status,
        reason: reason.map(str::to_owned),
        timestamp: now,
        transition_source: source.as_str(),
    };
    let event = |with_change: bool| MeetingEvent {
        meeting: MeetingView::for_webhook(m),
        status_change: with_change.then(|| change.clone()),
    };
    let dedupe = format!("{}|{}", m.id.0, m.status.as_str());
    state.webhooks.emit(
        m.user_id,
        "meeting.status_change",
        dedupe.clone(),
        event(true),
    );
    let typed = match m.status {
        MeetingStatus::Active => Some(("meeting.started", true)),
        MeetingStatus::Completed => Some(("meeting.completed", false)),
        MeetingStatus::Failed => Some(("bot.failed", true)),
        _ => None,
    };
    if let Some((event_type, with_change)) = typed {
        state
            .webhooks
            .emit(m.user_id, event_type, dedupe, event(with_change));
    }
    metrics::counter!("vexa_meetings_status_changes_total", "status" => m.status.as_str())
        .increment(1);
}

/// A flat user-channel frame for plan changes (no FSM advance, no webhook).
pub fn publish_plan(state: &AppState, m: &Meeting) {
    publish(
        state,
        m,
        true,
        &UserStatusFrame::new(m, m.status.as_str(), m.scheduled_at()),
    );
}

/// A flat user-channel frame for a deleted plan.
pub fn publish_deleted(state: &AppState, m: &Meeting) {
    publish(
        state,
        m,
        true,
        &UserStatusFrame::new(m, "deleted", None::<Timestamp>),
    );
}

/// Puts one frame about `m` on the hub: on the user channel (`user_wide`) or for the
/// meeting's subscribers.
fn publish<T: Serialize>(state: &AppState, m: &Meeting, user_wide: bool, frame: &T) {
    let text = match serde_json::to_string(frame) {
        Ok(text) => text,
        Err(e) => {
            tracing::warn!(meeting = m.id.0, error = %e, "live frame could not be encoded");
            return;
        }
    };
    state.hub.publish(Frame {
        user: m.user_id,
        key: key_of(m),
        user_wide,
        text: text.into(),
    });
}

/// What WebSocket clients subscribe to: `(platform, native id)`.
fn key_of(m: &Meeting) -> Option<(String, String)> {
    m.native_meeting_id
        .as_ref()
        .map(|n| (m.platform.as_str().to_owned(), n.clone()))
}

/// Stores a batch of segments and streams it to subscribers.
pub async fn ingest(state: &AppState, m: &Meeting, segments: Vec<Segment>) -> Result<()> {
    if segments.is_empty() {
        return Ok(());
    }
    state.store.upsert_segments(m.id, &segments).await?;
    let base = SegmentView::base_of(m);
    let (confirmed, pending): (Vec<&Segment>, Vec<&Segment>) =
        segments.iter().partition(|s| s.completed);
    let views = |list: Vec<&Segment>| -> Vec<SegmentView> {
        list.into_iter()
            .map(|s| SegmentView::new(s, base))
            .collect()
    };
    let frame = TranscriptFrame {
        kind: "transcript",
        meeting: MeetingRef::new(m),
        speaker: segments.first().and_then(|s| s.speaker.clone()),
        confirmed: views(confirmed),
        pending: views(pending),
        ts: state.clock.now(),
    };
    publish(state, m, false, &frame);
    metrics::counter!("vexa_meetings_segments_total").increment(segments.len() as u64);
    Ok(())
}

/// Turns process exits into terminal states when the bot did not report one (a crash).
pub async fn run_runtime_events(state: AppState, mut rx: mpsc::UnboundedReceiver<RuntimeEvent>) {
    while let Some(RuntimeEvent::Exited { meeting, code }) = rx.recv().await {
        let Ok(Some(m)) = state.store.meeting(meeting).await else {
            continue;
        };
        if let Some(event) = on_exit(m.status, m.stop_requested(), code) {
            let reason = Some(format!(
                "bot process exited (code {})",
                code.map_or("signal".into(), |c| c.to_string())
            ));
            let source = TransitionSource::RuntimeExit;
            if let Err(e) = apply(&state, meeting, &event, reason, source).await {
                tracing::info!(meeting = meeting.0, error = %e, "exit of a bot did not change its meeting");
            }
        }
    }
}

/// At startup no bot process of an earlier run is alive (each leaves when its stdin closes, and
/// shutdown stops them all), so meetings still marked live are given their terminal state.
pub async fn reconcile_after_restart(state: &AppState) -> Result<usize, StoreError> {
    let mut closed = 0;
    for m in state.store.live_meetings().await? {
        if let Some(event) = on_exit(m.status, m.stop_requested(), None) {
            let reason =
                Some("the meetings service restarted; the bot did not survive it".to_owned());
            let source = TransitionSource::RuntimeExit;
            if apply(state, m.id, &event, reason, source).await.is_ok() {
                closed += 1;
            }
        }
    }
    Ok(closed)
}
