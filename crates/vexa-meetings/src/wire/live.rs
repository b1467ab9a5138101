//! What the service pushes: frames on `/ws` (ws.v1) and the `data` of webhook events.
//!
//! - [`MeetingFrame`] — `meeting.status` for subscribers of one meeting;
//! - [`UserStatusFrame`] — the flat `meeting.status` of the user channel (every own meeting);
//! - [`TranscriptFrame`] — new and rewritten segments for subscribers;
//! - [`WsReply`] — the answer to a client's frame;
//! - [`MeetingEvent`] — the `data` of `meeting.status_change`, `meeting.started`,
//!   `meeting.completed` and `bot.failed` webhooks.

use serde::Serialize;
use vexa_core::meeting::{Meeting, MeetingId, MeetingStatus, Platform};
use vexa_core::{Timestamp, UserId};

use super::meetings::MeetingView;
use super::transcripts::SegmentView;

/// Which meeting a frame is about.
#[derive(Debug, Clone, Serialize)]
pub struct MeetingRef {
    pub id: MeetingId,
    pub platform: Platform,
    pub native_id: Option<String>,
}

impl MeetingRef {
    pub fn new(m: &Meeting) -> MeetingRef {
        MeetingRef {
            id: m.id,
            platform: m.platform,
            native_id: m.native_meeting_id.clone(),
        }
    }
}

/// `{"status": …}` of a [`MeetingFrame`].
#[derive(Debug, Clone, Serialize)]
pub struct StatusPayload {
    pub status: MeetingStatus,
}

/// `meeting.status` for the subscribers of one meeting.
#[derive(Debug, Clone, Serialize)]
pub struct MeetingFrame {
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub meeting: MeetingRef,
    pub payload: StatusPayload,
    pub user_id: UserId,
    pub ts: Timestamp,
}

impl MeetingFrame {
    pub fn status(m: &Meeting, now: Timestamp) -> MeetingFrame {
        MeetingFrame {
            kind: "meeting.status",
            meeting: MeetingRef::new(m),
            payload: StatusPayload { status: m.status },
            user_id: m.user_id,
            ts: now,
        }
    }
}

/// The flat `meeting.status` of the user channel. `status` is a meeting status or `deleted`;
/// `when` is the change's time, a plan's `scheduled_at`, or `null`.
#[derive(Debug, Clone, Serialize)]
pub struct UserStatusFrame<W: Serialize> {
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub meeting_id: MeetingId,
    pub native: Option<String>,
    pub status: &'static str,
    pub when: W,
}

impl<W: Serialize> UserStatusFrame<W> {
    pub fn new(m: &Meeting, status: &'static str, when: W) -> UserStatusFrame<W> {
        UserStatusFrame {
            kind: "meeting.status",
            meeting_id: m.id,
            native: m.native_meeting_id.clone(),
            status,
            when,
        }
    }
}

/// A batch of segments for the subscribers of one meeting, drafts apart.
#[derive(Debug, Clone, Serialize)]
pub struct TranscriptFrame {
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub meeting: MeetingRef,
    pub speaker: Option<String>,
    pub confirmed: Vec<SegmentView>,
    pub pending: Vec<SegmentView>,
    pub ts: Timestamp,
}

/// A `(platform, native id)` as the WebSocket protocol names it.
#[derive(Debug, Clone, Serialize)]
pub struct WsMeetingKey {
    pub platform: String,
    pub native_id: String,
}

/// The `details` of a [`WsReply::Error`]: one message or one per refused entry.
#[derive(Debug, Clone, Serialize)]
#[serde(untagged)]
pub enum WsErrorDetails {
    One(&'static str),
    Each(Vec<String>),
}

/// The service's answer to a client frame on `/ws`.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum WsReply {
    Pong,
    Subscribed {
        meetings: Vec<WsMeetingKey>,
    },
    Unsubscribed {
        meetings: Vec<WsMeetingKey>,
    },
    Error {
        error: &'static str,
        #[serde(skip_serializing_if = "Option::is_none")]
        details: Option<WsErrorDetails>,
    },
}

/// What changed, in a status webhook.
#[derive(Debug, Clone, Serialize)]
pub struct StatusChange {
    pub from: MeetingStatus,
    pub to: MeetingStatus,
    pub reason: Option<String>,
    pub timestamp: Timestamp,
    pub transition_source: &'static str,
}

/// The `data` of a meeting webhook: the meeting, and the change for status events.
#[derive(Debug, Clone, Serialize)]
pub struct MeetingEvent {
    pub meeting: MeetingView,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status_change: Option<StatusChange>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, Value};

    #[test]
    fn ws_replies_have_the_protocols_shapes() {
        let v = |r: &WsReply| serde_json::to_value(r).unwrap_or(Value::Null);
        assert_eq!(v(&WsReply::Pong), json!({"type": "pong"}));
        let keys = vec![WsMeetingKey {
            platform: "google_meet".into(),
            native_id: "x".into(),
        }];
        assert_eq!(
            v(&WsReply::Subscribed { meetings: keys }),
            json!({"type": "subscribed", "meetings": [{"platform": "google_meet", "native_id": "x"}]})
        );
        let e = WsReply::Error {
            error: "unknown_action",
            details: None,
        };
        assert_eq!(v(&e), json!({"type": "error", "error": "unknown_action"}));
        let e = WsReply::Error {
            error: "invalid_subscribe_payload",
            details: Some(WsErrorDetails::One("no valid meeting objects")),
        };
        assert_eq!(v(&e)["details"], "no valid meeting objects");
    }
}
