//! `POST /bots`, `DELETE /bots/{platform}/{native}` and `PUT /bots/{platform}/{native}/config`:
//! the bodies as sent and the answers.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use vexa_core::meeting::{Meeting, MeetingId};

use super::field::{present, Flag, Text};

/// `POST /bots`. Unknown fields are ignored (clients send more than this service reads).
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct BotRequest {
    pub platform: Text,
    pub native_meeting_id: Text,
    pub meeting_url: Text,
    pub passcode: Text,
    pub bot_name: Text,
    pub language: Text,
    pub task: Text,
    pub transcribe_enabled: Flag,
    pub recording_enabled: Flag,
    /// `{"max_bot_time": 3600000, …}`; checked key by key when read.
    #[serde(deserialize_with = "present")]
    pub automatic_leave: Option<Value>,
}

/// `PUT /bots/{platform}/{native}/config`: `language` and/or `task`; a key given as `null` is
/// still sent to the bot (as `null`).
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct BotConfigUpdate {
    pub language: Text,
    pub task: Text,
}

/// The answer to `DELETE /bots/{platform}/{native}`.
#[derive(Debug, Serialize)]
pub struct StopReceipt {
    pub status: &'static str,
    pub meeting_id: MeetingId,
    pub native_meeting_id: Option<String>,
    /// Other bots stopped with this one (none: one bot per meeting).
    pub also_stopped: [MeetingId; 0],
    /// The plan cancelled instead of a bot stopped, when the meeting had no bot yet.
    pub cancelled: Vec<MeetingId>,
}

impl StopReceipt {
    /// `cancelled_plan`: the meeting was a plan, cancelled before any bot was dispatched.
    pub fn new(m: &Meeting, cancelled_plan: bool) -> StopReceipt {
        StopReceipt {
            status: "stopping",
            meeting_id: m.id,
            native_meeting_id: m.native_meeting_id.clone(),
            also_stopped: [],
            cancelled: if cancelled_plan {
                vec![m.id]
            } else {
                Vec::new()
            },
        }
    }
}

/// The answer to `PUT /bots/{platform}/{native}/config` (202).
#[derive(Debug, Serialize)]
pub struct ReconfigureReceipt {
    pub message: &'static str,
}

impl ReconfigureReceipt {
    pub const SENT: ReconfigureReceipt = ReconfigureReceipt {
        message: "Reconfiguration request sent to the bot",
    };
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::parse_object;

    #[test]
    fn what_the_python_client_sends_is_read_as_given() {
        // vexa-client 0.5.4 `request_bot(platform, native_meeting_id, bot_name, language, task, passcode)`.
        let body = br#"{"platform":"google_meet","native_meeting_id":"abc-defg-hij","bot_name":"Vexa","language":"en","task":"transcribe","passcode":"123"}"#;
        let req: BotRequest = parse_object(body).unwrap_or_default();
        assert_eq!(req.platform, Text::Given("google_meet".into()));
        assert_eq!(req.native_meeting_id, Text::Given("abc-defg-hij".into()));
        assert_eq!(req.task, Text::Given("transcribe".into()));
        assert_eq!(req.passcode, Text::Given("123".into()));
        assert_eq!(req.transcribe_enabled, Flag::Absent);
        assert_eq!(req.automatic_leave, None);
    }

    #[test]
    fn flags_may_be_bool_ish_strings() {
        let body = br#"{"transcribe_enabled":"false","recording_enabled":"yes"}"#;
        let req: BotRequest = parse_object(body).unwrap_or_default();
        assert_eq!(req.transcribe_enabled, Flag::Given(false));
        assert_eq!(req.recording_enabled, Flag::Given(true));
    }

    #[test]
    fn a_config_update_tells_a_null_from_an_absent_key() {
        let req: BotConfigUpdate = parse_object(br#"{"language": null}"#).unwrap_or_default();
        assert_eq!((req.language, req.task), (Text::Null, Text::Absent));
    }
}
