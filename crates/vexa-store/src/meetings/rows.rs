//! Rows as the database returns them (`FromRow` structs, named columns) and their parsing
//! into domain values, one place per table; plus the small value encodings both backends
//! share (JSON as text, status sets as `IN` lists).

use serde_json::{Map, Value};
use vexa_core::meeting::{
    DataPatch, Meeting, MeetingId, MeetingStatus, NewMeeting, Platform, Segment,
};
use vexa_core::{StoreError, Timestamp, UserId};

/// A `meetings` row as stored; [`MeetingRow::into_meeting`] parses it.
#[derive(sqlx::FromRow)]
pub(super) struct MeetingRow {
    id: i64,
    user_id: i64,
    platform: String,
    native_meeting_id: Option<String>,
    status: String,
    bot_container_id: Option<String>,
    start_time: Option<i64>,
    end_time: Option<i64>,
    completion_reason: Option<String>,
    failure_stage: Option<String>,
    /// JSON object as text.
    data: String,
    created_at: i64,
    updated_at: i64,
}

impl MeetingRow {
    pub(super) fn into_meeting(self) -> Result<Meeting, StoreError> {
        let platform = Platform::parse(&self.platform)
            .ok_or_else(|| StoreError::Other(format!("bad platform {}", self.platform)))?;
        let status = MeetingStatus::parse(&self.status)
            .ok_or_else(|| StoreError::Other(format!("bad status {}", self.status)))?;
        Ok(Meeting {
            id: MeetingId(self.id),
            user_id: UserId(self.user_id),
            platform,
            native_meeting_id: self.native_meeting_id,
            status,
            bot_container_id: self.bot_container_id,
            start_time: self.start_time.map(Timestamp),
            end_time: self.end_time.map(Timestamp),
            completion_reason: self.completion_reason,
            failure_stage: self.failure_stage,
            data: json_object(&self.data).unwrap_or_default(),
            created_at: Timestamp(self.created_at),
            updated_at: Timestamp(self.updated_at),
        })
    }
}

/// A `transcript_segments` row as stored.
#[derive(sqlx::FromRow)]
pub(super) struct SegmentRow {
    segment_id: String,
    session_uid: Option<String>,
    speaker: Option<String>,
    text: String,
    start_s: f64,
    end_s: f64,
    language: Option<String>,
    /// 0 or 1 (both backends store an integer).
    completed: i64,
    created_at: i64,
    updated_at: i64,
}

impl From<SegmentRow> for Segment {
    fn from(r: SegmentRow) -> Segment {
        Segment {
            segment_id: r.segment_id,
            session_uid: r.session_uid,
            speaker: r.speaker,
            text: r.text,
            start: r.start_s,
            end: r.end_s,
            language: r.language,
            completed: r.completed != 0,
            created_at: Timestamp(r.created_at),
            updated_at: Timestamp(r.updated_at),
        }
    }
}

pub(super) fn json_object(text: &str) -> Option<Map<String, Value>> {
    match serde_json::from_str::<Value>(text) {
        Ok(Value::Object(m)) => Some(m),
        _ => None,
    }
}

pub(super) fn json(m: &Map<String, Value>) -> String {
    Value::Object(m.clone()).to_string()
}

/// `('a','b')` for an SQL `IN`. Statuses come from the closed enum, so inlining their names as
/// literals is safe.
pub(super) fn status_list(statuses: &[MeetingStatus]) -> String {
    let quoted: Vec<String> = statuses
        .iter()
        .map(|s| format!("'{}'", s.as_str()))
        .collect();
    format!("({})", quoted.join(","))
}

/// A planned row taken over by a bot request: it keeps its metadata, the spawn data is laid
/// over it, and it starts afresh as `requested`.
pub(super) fn claim_plan(mut plan: Meeting, new: &NewMeeting, now: Timestamp) -> Meeting {
    DataPatch::from(new.data.clone()).apply_to(&mut plan.data);
    plan.clear_stop_request();
    plan.status = MeetingStatus::Requested;
    plan.updated_at = now;
    plan
}
