//! `DELETE /bots/{platform}/{native}`: record the stop, tell the bot to leave, force it after
//! the grace period. The terminal state comes from the bot (or from its exit). A meeting still
//! planned is cancelled instead.

use vexa_core::meeting::{
    DataPatch, Meeting, MeetingStatus, Platform, StatusUpdate, TransitionSource,
};
use vexa_core::Timestamp;

use crate::caller::Caller;
use crate::error::{InvalidInput, MeetingsError, Result};
use crate::lifecycle;
use crate::state::AppState;

/// The platform of a bot route: any a bot can run on.
fn bot_platform(raw: &str) -> Result<Platform, InvalidInput> {
    match Platform::parse(raw) {
        Some(p) if p != Platform::Unknown => Ok(p),
        _ => Err(InvalidInput::UnsupportedPlatform(raw.to_owned())),
    }
}

/// The caller's newest meeting named by a bot route (`/bots/{platform}/{native}`); none is
/// `404 No active meeting for this bot`.
pub async fn bot_meeting(
    state: &AppState,
    caller: &Caller,
    platform: &str,
    native: &str,
) -> Result<Meeting> {
    let platform = bot_platform(platform)?;
    state
        .store
        .latest_for_key(caller.user_id, platform, native)
        .await?
        .ok_or(MeetingsError::NoActiveBot)
}

/// Stops the caller's bot for the meeting; returns the meeting as it was and whether it was a
/// plan (cancelled rather than stopped).
pub async fn stop_bot(
    state: &AppState,
    caller: &Caller,
    platform: &str,
    native: &str,
) -> Result<(Meeting, bool)> {
    let m = bot_meeting(state, caller, platform, native).await?;
    if m.status.is_terminal() || m.stop_requested() {
        return Err(MeetingsError::NoActiveBot);
    }
    let now = state.clock.now();
    if m.status.is_planned() {
        cancel_plan(state, &m, now).await?;
        return Ok((m, true));
    }
    state
        .store
        .merge_data(m.id, &DataPatch::new().request_stop(), now)
        .await?;
    if matches!(m.status, MeetingStatus::Active | MeetingStatus::NeedsHelp) {
        let leaving = StatusUpdate {
            from: m.status,
            to: MeetingStatus::Stopping,
            completion_reason: None,
            failure_stage: None,
            data: DataPatch::new(),
            now,
        };
        state.store.update_status(m.id, &leaving).await?;
    }
    state.stop_bot_process(m.id);
    Ok((m, false))
}

/// A plan stopped before any bot was dispatched fails as `stopped`.
async fn cancel_plan(state: &AppState, m: &Meeting, now: Timestamp) -> Result<()> {
    let cancelled = StatusUpdate {
        from: m.status,
        to: MeetingStatus::Failed,
        completion_reason: Some("stopped".into()),
        failure_stage: None,
        data: DataPatch::new()
            .request_stop()
            .failure_reason("cancelled by the user before the bot was dispatched"),
        now,
    };
    if let Some(new) = state.store.update_status(m.id, &cancelled).await? {
        lifecycle::publish_status(
            state,
            m.status,
            &new,
            Some("cancelled"),
            TransitionSource::UserStop,
        );
    }
    Ok(())
}
