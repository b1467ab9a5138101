//! Meetings as records: finding the caller's own ([`owned`], [`MeetingRef`]), and in one file
//! each: listing (`list`), plans and metadata (`plan`), deletion (`delete`) and transcripts
//! (`transcript`). A meeting of another user is answered exactly like one that does not exist.

pub mod delete;
pub mod list;
pub mod plan;
pub mod transcript;

use vexa_core::meeting::{Meeting, MeetingId, Platform};

use crate::caller::Caller;
use crate::error::{MeetingsError, Result};
use crate::state::AppState;

/// How a route names a meeting: `/meetings/{id}` or `/meetings/{platform}/{native}`.
#[derive(Debug, Clone)]
pub enum MeetingRef {
    Id(String),
    Key { platform: String, native: String },
}

impl MeetingRef {
    pub fn key((platform, native): (String, String)) -> MeetingRef {
        MeetingRef::Key { platform, native }
    }
}

fn key_not_found(platform: &str, native: &str) -> MeetingsError {
    MeetingsError::MeetingNotFoundForKey {
        platform: platform.to_owned(),
        native: native.to_owned(),
    }
}

/// The caller's meeting with this id; anything else (not a number, unknown, another user's) is
/// `404 Meeting not found`.
pub async fn owned(state: &AppState, caller: &Caller, id: &str) -> Result<Meeting> {
    let id = id
        .parse::<i64>()
        .map_err(|_| MeetingsError::MeetingNotFound)?;
    match state.store.meeting(MeetingId(id)).await? {
        Some(m) if m.user_id == caller.user_id => Ok(m),
        _ => Err(MeetingsError::MeetingNotFound),
    }
}

/// The caller's newest meeting for a platform and native id.
pub async fn owned_by_key(
    state: &AppState,
    caller: &Caller,
    platform: &str,
    native: &str,
) -> Result<Meeting> {
    let parsed = Platform::parse(platform).ok_or_else(|| key_not_found(platform, native))?;
    state
        .store
        .latest_for_key(caller.user_id, parsed, native)
        .await?
        .ok_or_else(|| key_not_found(platform, native))
}

/// The caller's meeting named by `target`.
pub async fn find(state: &AppState, caller: &Caller, target: &MeetingRef) -> Result<Meeting> {
    match target {
        MeetingRef::Id(id) => owned(state, caller, id).await,
        MeetingRef::Key { platform, native } => owned_by_key(state, caller, platform, native).await,
    }
}

/// `GET /meetings/{id}`: the meeting and its bot sessions.
pub async fn get(state: &AppState, caller: &Caller, id: &str) -> Result<(Meeting, Vec<String>)> {
    let m = owned(state, caller, id).await?;
    let sessions = state.store.sessions(m.id).await?;
    Ok((m, sessions))
}
