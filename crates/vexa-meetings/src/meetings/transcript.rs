//! `GET /transcripts/{platform}/{native}` (the newest meeting of that key, or `?meeting_id=`)
//! and `GET /transcripts/by-id/{id}`. An erased transcript is answered like a missing one.

use vexa_core::meeting::{Meeting, MeetingId, Segment};

use super::{key_not_found, owned, owned_by_key};
use crate::caller::Caller;
use crate::error::{InvalidInput, MeetingsError, Result};
use crate::state::AppState;
use crate::wire::transcripts::TranscriptQuery;

/// The meeting and its segments, ordered by start time.
pub type Transcript = (Meeting, Vec<Segment>);

/// By platform and native id; `meeting_id` picks a specific meeting of that key.
pub async fn by_key(
    state: &AppState,
    caller: &Caller,
    platform: &str,
    native: &str,
    query: TranscriptQuery,
) -> Result<Transcript> {
    let m = match query.meeting_id {
        Some(id) => {
            let id = id
                .parse::<i64>()
                .map_err(|_| InvalidInput::MeetingIdNotAnInteger)?;
            match state.store.meeting(MeetingId(id)).await? {
                Some(m)
                    if m.user_id == caller.user_id
                        && m.platform.as_str() == platform
                        && m.native_meeting_id.as_deref() == Some(native) =>
                {
                    m
                }
                _ => return Err(key_not_found(platform, native)),
            }
        }
        None => owned_by_key(state, caller, platform, native).await?,
    };
    if m.artifacts_deleted() {
        return Err(key_not_found(platform, native));
    }
    with_segments(state, m).await
}

/// By meeting id. Every failure to find it (including a bad id) is `Meeting {id} not found`.
pub async fn by_id(state: &AppState, caller: &Caller, id: &str) -> Result<Transcript> {
    let gone = || MeetingsError::TranscriptNotFound(id.to_owned());
    let m = owned(state, caller, id).await.map_err(|_| gone())?;
    if m.artifacts_deleted() {
        return Err(gone());
    }
    with_segments(state, m).await
}

async fn with_segments(state: &AppState, m: Meeting) -> Result<Transcript> {
    let segments = state.store.segments(m.id).await?;
    Ok((m, segments))
}
