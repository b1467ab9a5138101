//! The state the service keeps in `Meeting.data`, read and written only through this module.
//!
//! `data` stays one JSON map, as in the original (clients read it, the plan and metadata
//! routes edit it), but a few of its keys carry state the code depends on: whether a stop was
//! requested, the status history, why a bot failed, whether the transcript was erased. Their
//! names and shapes live here, behind [`Meeting`]'s accessors and [`DataPatch`]'s writers, so no
//! caller spells a key.

use serde::Serialize;
use serde_json::{Map, Value};

use super::{Meeting, MeetingStatus};
use crate::time::Timestamp;

/// `true` once the user asked the bot to stop (stop dominates the completion reason).
const STOP_REQUESTED: &str = "stop_requested";
/// The status history: a list of [`StatusTransition`]s, oldest first.
pub const STATUS_TRANSITION: &str = "status_transition";
/// The reason a failed bot gave (or the runtime's, when it crashed).
const FAILURE_REASON: &str = "failure_reason";
/// Present once a finished meeting's transcript was erased ([`ArtifactDeletion`]).
const ARTIFACT_DELETION: &str = "artifact_deletion";
/// The link the bot opens (or the plan's link).
pub const CONSTRUCTED_MEETING_URL: &str = "constructed_meeting_url";
/// When a planned meeting is due (RFC 3339).
pub const SCHEDULED_AT: &str = "scheduled_at";
/// The user's notes (metadata); erased with the transcript.
const NOTES: &str = "notes";

/// Who caused a status change (recorded in each `status_transition` entry).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum TransitionSource {
    /// The bot reported it.
    #[serde(rename = "bot_callback")]
    BotCallback,
    /// The bot process exited (or the service restarted without it).
    #[serde(rename = "runtime_exit")]
    RuntimeExit,
    /// The user stopped the bot.
    #[serde(rename = "user_stop")]
    UserStop,
    /// The bot could not be started.
    #[serde(rename = "spawn")]
    Spawn,
}

impl TransitionSource {
    pub fn as_str(self) -> &'static str {
        match self {
            TransitionSource::BotCallback => "bot_callback",
            TransitionSource::RuntimeExit => "runtime_exit",
            TransitionSource::UserStop => "user_stop",
            TransitionSource::Spawn => "spawn",
        }
    }
}

/// One entry of the status history.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StatusTransition {
    pub from: MeetingStatus,
    pub to: MeetingStatus,
    pub timestamp: Timestamp,
    pub source: TransitionSource,
    pub reason: Option<String>,
    pub completion_reason: Option<String>,
}

/// The record that a finished meeting's transcript (and any recording) was erased.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ArtifactDeletion {
    pub state: &'static str,
    pub completed_at: Timestamp,
    pub scope: &'static str,
    pub backup_residuals: &'static str,
}

impl ArtifactDeletion {
    /// What happens to copies in backups: they age out under the deployment's retention.
    pub const BACKUP_RESIDUALS: &'static str = "expire_under_deployment_retention_policy";

    /// An erasure finished at `at`.
    pub fn completed(at: Timestamp) -> ArtifactDeletion {
        ArtifactDeletion {
            state: "completed",
            completed_at: at,
            scope: "primary_transcript_and_recording_storage",
            backup_residuals: ArtifactDeletion::BACKUP_RESIDUALS,
        }
    }
}

impl Meeting {
    /// The user asked the bot to stop.
    pub fn stop_requested(&self) -> bool {
        self.data
            .get(STOP_REQUESTED)
            .and_then(Value::as_bool)
            .unwrap_or(false)
    }

    /// Forgets an earlier stop request (a plan claimed by a new bot starts afresh).
    pub fn clear_stop_request(&mut self) {
        self.data.remove(STOP_REQUESTED);
    }

    /// Why the bot failed, when it said (or the runtime did).
    pub fn failure_reason(&self) -> Option<&str> {
        self.data.get(FAILURE_REASON).and_then(Value::as_str)
    }

    /// The transcript was erased: the meeting's transcript routes answer 404.
    pub fn artifacts_deleted(&self) -> bool {
        self.data.contains_key(ARTIFACT_DELETION)
    }

    /// The link a bot opens: the stored one, else the one the platform derives from the id.
    pub fn meeting_url(&self) -> Option<String> {
        if let Some(url) = self
            .data
            .get(CONSTRUCTED_MEETING_URL)
            .and_then(Value::as_str)
        {
            return Some(url.to_owned());
        }
        self.native_meeting_id
            .as_deref()
            .and_then(|n| self.platform.construct_url(n))
    }

    /// When the plan is due, as stored (`None` when unscheduled).
    pub fn scheduled_at(&self) -> Option<&Value> {
        self.data.get(SCHEDULED_AT)
    }

    /// The user's notes, as stored.
    pub fn notes(&self) -> Option<&Value> {
        self.data.get(NOTES)
    }
}

/// A shallow patch of `Meeting.data`: each key is set, and a `null` removes it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DataPatch(Map<String, Value>);

impl DataPatch {
    pub fn new() -> DataPatch {
        DataPatch::default()
    }

    /// Records that the user asked the bot to stop.
    pub fn request_stop(mut self) -> DataPatch {
        self.0.insert(STOP_REQUESTED.into(), Value::Bool(true));
        self
    }

    /// Records why the bot failed.
    pub fn failure_reason(mut self, reason: &str) -> DataPatch {
        self.0.insert(FAILURE_REASON.into(), Value::from(reason));
        self
    }

    /// Appends `change` to `meeting`'s status history (entries already there are kept as they
    /// are, whatever wrote them).
    pub fn record_transition(mut self, meeting: &Meeting, change: &StatusTransition) -> DataPatch {
        let mut history = meeting
            .data
            .get(STATUS_TRANSITION)
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        if let Ok(entry) = serde_json::to_value(change) {
            history.push(entry);
        }
        self.0
            .insert(STATUS_TRANSITION.into(), Value::Array(history));
        self
    }

    /// Records an erased transcript and drops the notes that went with it.
    pub fn erase_artifacts(mut self, deletion: &ArtifactDeletion) -> DataPatch {
        self.0.insert(NOTES.into(), Value::Null);
        if let Ok(record) = serde_json::to_value(deletion) {
            self.0.insert(ARTIFACT_DELETION.into(), record);
        }
        self
    }

    /// Sets a free-form key (metadata, bot settings); `Value::Null` removes it.
    pub fn set(mut self, key: &str, value: Value) -> DataPatch {
        self.0.insert(key.to_owned(), value);
        self
    }

    /// Merges `patch` into `data` by the patch rules.
    pub fn apply_to(&self, data: &mut Map<String, Value>) {
        for (k, v) in &self.0 {
            if v.is_null() {
                data.remove(k);
            } else {
                data.insert(k.clone(), v.clone());
            }
        }
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl From<Map<String, Value>> for DataPatch {
    fn from(map: Map<String, Value>) -> DataPatch {
        DataPatch(map)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::meeting::{MeetingId, Platform};
    use crate::user::UserId;

    fn meeting() -> Meeting {
        Meeting {
            id: MeetingId(1),
            user_id: UserId(1),
            platform: Platform::GoogleMeet,
            native_meeting_id: Some("abc-defg-hij".into()),
            status: MeetingStatus::Active,
            bot_container_id: None,
            start_time: None,
            end_time: None,
            completion_reason: None,
            failure_stage: None,
            data: Map::new(),
            created_at: Timestamp(0),
            updated_at: Timestamp(0),
        }
    }

    #[test]
    fn a_stop_request_is_read_back_and_can_be_cleared() {
        let mut m = meeting();
        assert!(!m.stop_requested());
        DataPatch::new().request_stop().apply_to(&mut m.data);
        assert!(m.stop_requested());
        m.clear_stop_request();
        assert!(!m.stop_requested());
    }

    #[test]
    fn transitions_append_to_the_history() {
        let mut m = meeting();
        let change = StatusTransition {
            from: MeetingStatus::Active,
            to: MeetingStatus::Failed,
            timestamp: Timestamp(5),
            source: TransitionSource::RuntimeExit,
            reason: Some("crashed".into()),
            completion_reason: None,
        };
        for _ in 0..2 {
            DataPatch::new()
                .record_transition(&m, &change)
                .failure_reason("crashed")
                .apply_to(&mut m.data);
        }
        let history = m.data.get(STATUS_TRANSITION).and_then(Value::as_array);
        assert_eq!(history.map(Vec::len), Some(2));
        assert_eq!(
            history.and_then(|h| h[0].get("source")),
            Some(&Value::from("runtime_exit"))
        );
        assert_eq!(m.failure_reason(), Some("crashed"));
    }

    #[test]
    fn erasing_artifacts_drops_the_notes() {
        let mut m = meeting();
        DataPatch::new()
            .set("notes", Value::from("n"))
            .apply_to(&mut m.data);
        assert_eq!(m.notes(), Some(&Value::from("n")));
        DataPatch::new()
            .erase_artifacts(&ArtifactDeletion::completed(Timestamp(9)))
            .apply_to(&mut m.data);
        assert!(m.artifacts_deleted());
        assert_eq!(m.notes(), None);
    }

    #[test]
    fn the_link_is_the_stored_one_or_derived_from_the_id() {
        let mut m = meeting();
        assert_eq!(
            m.meeting_url().as_deref(),
            Some("https://meet.google.com/abc-defg-hij")
        );
        DataPatch::new()
            .set(CONSTRUCTED_MEETING_URL, Value::from("https://x.example/y"))
            .apply_to(&mut m.data);
        assert_eq!(m.meeting_url().as_deref(), Some("https://x.example/y"));
    }
}
