//! `DELETE /meetings/…`: a plan is deleted outright; a finished meeting keeps its row but its
//! transcript (and notes) are erased; a meeting whose bot still runs is refused.

use vexa_core::meeting::{ArtifactDeletion, DataPatch, Meeting};

use super::MeetingRef;
use crate::caller::Caller;
use crate::error::{MeetingsError, Result};
use crate::lifecycle;
use crate::state::AppState;

/// What a delete did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Deleted {
    /// The plan is gone.
    Plan,
    /// The finished meeting's transcript was erased.
    Artifacts,
}

/// Deletes the caller's meeting named by `target`; returns it as it was and what was done.
pub async fn delete(
    state: &AppState,
    caller: &Caller,
    target: &MeetingRef,
) -> Result<(Meeting, Deleted)> {
    let m = super::find(state, caller, target).await?;
    if m.status.is_planned() {
        state.store.delete_meeting(m.id).await?;
        lifecycle::publish_deleted(state, &m);
        return Ok((m, Deleted::Plan));
    }
    if !m.status.is_terminal() {
        return Err(MeetingsError::LifecycleNotTerminal);
    }
    state.store.delete_segments(m.id).await?;
    let now = state.clock.now();
    let erased = DataPatch::new().erase_artifacts(&ArtifactDeletion::completed(now));
    state.store.merge_data(m.id, &erased, now).await?;
    Ok((m, Deleted::Artifacts))
}
