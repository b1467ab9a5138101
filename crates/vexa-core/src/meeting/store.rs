//! The meetings storage port and the shapes it stores.

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::{DataPatch, MeetingStatus, Platform};
use crate::error::StoreError;
use crate::store::KeyId;
use crate::time::Timestamp;
use crate::user::UserId;
pub use crate::webhook::Webhook;

/// Database id of a meeting.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct MeetingId(pub i64);

/// A stored meeting row. The state kept in `data` is read through the accessors in
/// [`super::data`].
#[derive(Debug, Clone, PartialEq)]
pub struct Meeting {
    pub id: MeetingId,
    pub user_id: UserId,
    pub platform: Platform,
    pub native_meeting_id: Option<String>,
    pub status: MeetingStatus,
    pub bot_container_id: Option<String>,
    pub start_time: Option<Timestamp>,
    pub end_time: Option<Timestamp>,
    pub completion_reason: Option<String>,
    pub failure_stage: Option<String>,
    pub data: Map<String, Value>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

/// A meeting to create (bot or plan).
#[derive(Debug, Clone)]
pub struct NewMeeting {
    pub user_id: UserId,
    pub platform: Platform,
    pub native_meeting_id: Option<String>,
    pub status: MeetingStatus,
    pub data: Map<String, Value>,
}

/// Who starts a bot and the caps it must stay under: the user's and the starting key's own
/// (CONTRACT §10); the stricter decides.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BotCaps {
    /// The user's `max_concurrent_bots`; `None` = no cap given.
    pub user: Option<i64>,
    /// The key the bot is started with, recorded on the meeting (`None` = not known).
    pub key_id: Option<KeyId>,
    /// The key's own cap on the bots started with it; counted only with `key_id`.
    pub key: Option<i64>,
}

impl BotCaps {
    /// Only the user's cap.
    pub fn user(cap: Option<i64>) -> BotCaps {
        BotCaps {
            user: cap,
            ..BotCaps::default()
        }
    }
}

/// Why a bot could not be recorded.
#[derive(Debug, thiserror::Error)]
pub enum CreateBotError {
    #[error("an active meeting already exists")]
    AlreadyActive,
    #[error("concurrent bot limit {0} reached")]
    LimitReached(i64),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A status change, applied only if the row is still in `from` (compare-and-set).
#[derive(Debug, Clone)]
pub struct StatusUpdate {
    pub from: MeetingStatus,
    pub to: MeetingStatus,
    pub completion_reason: Option<String>,
    pub failure_stage: Option<String>,
    /// Merged into `data`.
    pub data: DataPatch,
    pub now: Timestamp,
}

/// Listing filter.
#[derive(Debug, Clone, Default)]
pub struct MeetingFilter {
    /// Only these statuses (empty = all).
    pub statuses: Vec<MeetingStatus>,
    pub platform: Option<Platform>,
    pub limit: i64,
    pub offset: i64,
}

/// One transcript segment. `completed = false` is a live draft that may still be rewritten.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Segment {
    pub segment_id: String,
    pub session_uid: Option<String>,
    pub speaker: Option<String>,
    pub text: String,
    pub start: f64,
    pub end: f64,
    pub language: Option<String>,
    pub completed: bool,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

/// Meetings, bot sessions and transcripts, and the webhook targets meetings deliver to. Every method is one short
/// transaction; rules that must hold under concurrency are decided inside it.
#[async_trait]
pub trait MeetingStore: Send + Sync + 'static {
    /// Records a bot request atomically per user: 409 when a live row exists for the meeting,
    /// 429 when the user's cap of live bots is reached, or the key's cap of live bots started
    /// with `caps.key_id`; a planned row for the meeting is claimed in place. The starting key
    /// is stored on the row.
    async fn create_bot_meeting(
        &self,
        new: &NewMeeting,
        caps: &BotCaps,
        now: Timestamp,
    ) -> Result<Meeting, CreateBotError>;
    /// Inserts a planned meeting; `Conflict` when a non-terminal row exists for the key.
    async fn create_planned(&self, new: &NewMeeting, now: Timestamp)
        -> Result<Meeting, StoreError>;
    async fn meeting(&self, id: MeetingId) -> Result<Option<Meeting>, StoreError>;
    /// The user's newest meeting for a platform/native id.
    async fn latest_for_key(
        &self,
        user: UserId,
        platform: Platform,
        native: &str,
    ) -> Result<Option<Meeting>, StoreError>;
    /// Every meeting with a bot that is not finished (any user), oldest first: the rows a
    /// restarted service must reconcile, since its bot processes did not survive it.
    async fn live_meetings(&self) -> Result<Vec<Meeting>, StoreError>;
    /// The user's meetings, newest first.
    async fn list(&self, user: UserId, filter: &MeetingFilter) -> Result<Vec<Meeting>, StoreError>;
    /// Compare-and-set status change; `None` when the row is gone or no longer in `from`.
    async fn update_status(
        &self,
        id: MeetingId,
        update: &StatusUpdate,
    ) -> Result<Option<Meeting>, StoreError>;
    /// Shallow-merges keys into `data` (a `null` removes the key); `None` when the row is gone.
    async fn merge_data(
        &self,
        id: MeetingId,
        patch: &DataPatch,
        now: Timestamp,
    ) -> Result<Option<Meeting>, StoreError>;
    /// Rewrites a planned row (platform, native id, status, data) if it is still planned;
    /// `Conflict` when the new key collides with another non-terminal row.
    async fn replan(
        &self,
        id: MeetingId,
        new: &NewMeeting,
        now: Timestamp,
    ) -> Result<Option<Meeting>, StoreError>;
    async fn set_bot_container(
        &self,
        id: MeetingId,
        container: &str,
        session_uid: &str,
        now: Timestamp,
    ) -> Result<(), StoreError>;
    async fn sessions(&self, id: MeetingId) -> Result<Vec<String>, StoreError>;
    /// Deletes the row and everything under it; `false` when there was none.
    async fn delete_meeting(&self, id: MeetingId) -> Result<bool, StoreError>;
    /// Deletes the transcript of a meeting.
    async fn delete_segments(&self, id: MeetingId) -> Result<u64, StoreError>;
    /// Inserts or rewrites segments by `(meeting, segment_id)`; a confirmed segment is never
    /// turned back into a draft.
    async fn upsert_segments(&self, id: MeetingId, segments: &[Segment]) -> Result<(), StoreError>;
    /// The transcript, ordered by start time.
    async fn segments(&self, id: MeetingId) -> Result<Vec<Segment>, StoreError>;
    /// The user's webhook target, read from the user's `data`
    /// ([`Webhook::from_user_data`]); `None` when unset or when there is no such user.
    async fn webhook(&self, user: UserId) -> Result<Option<Webhook>, StoreError>;
}
