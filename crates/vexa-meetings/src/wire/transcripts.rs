//! Transcripts on the wire: `GET /transcripts/…` and the segment view shared with the live
//! `transcript` frames.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use vexa_core::meeting::{Meeting, MeetingId, MeetingStatus, Platform, Segment};
use vexa_core::Timestamp;

use super::meetings::without_secrets;

/// `GET /transcripts/{platform}/{native}?meeting_id=`: a specific meeting of that key. Read
/// through a map, like [`super::meetings::ListQuery`].
#[derive(Debug, Default, Deserialize)]
#[serde(from = "HashMap<String, String>")]
pub struct TranscriptQuery {
    pub meeting_id: Option<String>,
}

impl From<HashMap<String, String>> for TranscriptQuery {
    fn from(mut params: HashMap<String, String>) -> TranscriptQuery {
        TranscriptQuery {
            meeting_id: params.remove("meeting_id"),
        }
    }
}

/// One segment, with absolute times when the meeting's start is known.
#[derive(Debug, Clone, Serialize)]
pub struct SegmentView {
    pub segment_id: String,
    pub start: f64,
    pub end: f64,
    pub text: String,
    pub language: Option<String>,
    pub speaker: Option<String>,
    pub completed: bool,
    pub absolute_start_time: Option<String>,
    pub absolute_end_time: Option<String>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

impl SegmentView {
    /// `base_ms`: when the bot's session started (segment offsets count from there).
    pub fn new(s: &Segment, base_ms: Option<i64>) -> SegmentView {
        let absolute = |secs: f64| {
            base_ms.map(|base| {
                // Bots send offsets from their session start; epoch seconds are taken as-is.
                let ms = if secs >= 1e9 {
                    secs * 1000.0
                } else {
                    base as f64 + secs * 1000.0
                };
                Timestamp(ms as i64).to_rfc3339()
            })
        };
        SegmentView {
            segment_id: s.segment_id.clone(),
            start: s.start,
            end: s.end,
            text: s.text.clone(),
            language: s.language.clone(),
            speaker: s.speaker.clone(),
            completed: s.completed,
            absolute_start_time: absolute(s.start),
            absolute_end_time: absolute(s.end),
            created_at: s.created_at,
            updated_at: s.updated_at,
        }
    }

    /// Where a meeting's segment offsets count from: its start, else its creation.
    pub fn base_of(m: &Meeting) -> Option<i64> {
        Some(m.start_time.unwrap_or(m.created_at).0)
    }
}

/// A meeting's transcript.
#[derive(Debug, Serialize)]
pub struct TranscriptView {
    pub id: MeetingId,
    pub platform: Platform,
    pub native_meeting_id: Option<String>,
    pub constructed_meeting_url: Option<String>,
    pub status: MeetingStatus,
    pub start_time: Option<Timestamp>,
    pub end_time: Option<Timestamp>,
    /// No recording storage: always empty.
    pub recordings: [Value; 0],
    pub notes: Option<Value>,
    pub data: Map<String, Value>,
    pub segments: Vec<SegmentView>,
}

impl TranscriptView {
    pub fn new(m: &Meeting, segments: &[Segment]) -> TranscriptView {
        let base = SegmentView::base_of(m);
        TranscriptView {
            id: m.id,
            platform: m.platform,
            native_meeting_id: m.native_meeting_id.clone(),
            constructed_meeting_url: m.meeting_url(),
            status: m.status,
            start_time: m.start_time,
            end_time: m.end_time,
            recordings: [],
            notes: m.notes().cloned(),
            data: without_secrets(&m.data),
            segments: segments.iter().map(|s| SegmentView::new(s, base)).collect(),
        }
    }
}
