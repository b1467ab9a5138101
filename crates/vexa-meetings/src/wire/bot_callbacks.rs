//! The bot protocol's bot → service half: what a bot posts to `callbacks.lifecycle` and
//! `callbacks.segments`, and the answers.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use vexa_core::meeting::{Meeting, MeetingStatus};

use super::field::{present, Text};

/// `POST /internal/bot/lifecycle`. Bots also send `connection_id` and `exit_code`, which the
/// service does not need.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct LifecycleReport {
    pub status: Text,
    pub completion_reason: Text,
    pub reason: Text,
}

/// `POST /internal/bot/segments`: the list is checked (length, then each entry) when read.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct SegmentBatch {
    #[serde(deserialize_with = "present")]
    pub segments: Option<Value>,
}

/// One entry of a segment batch.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct SegmentReport {
    pub segment_id: Text,
    pub text: Text,
    /// Seconds from the bot's session start (or epoch seconds); any JSON number.
    pub start: Value,
    pub end: Value,
    pub session_uid: Text,
    pub speaker: Text,
    pub language: Text,
    /// `false` marks a draft; anything but a JSON bool counts as confirmed.
    pub completed: Value,
}

/// The answer to a lifecycle report.
#[derive(Debug, Serialize)]
pub struct LifecycleReceipt {
    pub status: &'static str,
    /// `false` when the report repeated the current status.
    pub changed: bool,
    pub meeting_status: MeetingStatus,
    pub completion_reason: Option<String>,
    pub failure_stage: Option<String>,
}

impl LifecycleReceipt {
    pub fn new(m: &Meeting, changed: bool) -> LifecycleReceipt {
        LifecycleReceipt {
            status: "accepted",
            changed,
            meeting_status: m.status,
            completion_reason: m.completion_reason.clone(),
            failure_stage: m.failure_stage.clone(),
        }
    }
}

/// The answer to a segment batch.
#[derive(Debug, Serialize)]
pub struct SegmentsReceipt {
    pub status: &'static str,
    pub count: usize,
}

impl SegmentsReceipt {
    pub fn new(count: usize) -> SegmentsReceipt {
        SegmentsReceipt {
            status: "accepted",
            count,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::parse_object;

    #[test]
    fn a_mock_bot_segment_is_read_as_sent() {
        let body = br#"{"segment_id":"c:Alice:0","speaker":"Alice","text":"Hello","start":0.0,"end":1.5,"language":"en","completed":false,"session_uid":"c"}"#;
        let s: SegmentReport = parse_object(body).unwrap_or_default();
        assert_eq!(s.segment_id, Text::Given("c:Alice:0".into()));
        assert_eq!(s.end.as_f64(), Some(1.5));
        assert_eq!(s.completed, Value::Bool(false));
    }
}
