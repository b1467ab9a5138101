//! The bot protocol's service → bot half, as types both ends use: [`BotConfig`] is what the
//! service puts in `VEXA_BOT_CONFIG` when it starts a bot and what `vexa mock-bot` reads back;
//! [`BotCommand`] is one line on the bot's stdin. The keys are the original's (camelCase, with
//! its one `meeting_id`), listed in the crate doc.

use serde::{Deserialize, Serialize};
use vexa_core::meeting::{MeetingId, Platform};

/// `VEXA_BOT_CONFIG`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BotConfig {
    pub platform: Platform,
    /// The link the bot opens.
    pub meeting_url: Option<String>,
    pub native_meeting_id: String,
    pub bot_name: String,
    pub passcode: Option<String>,
    #[serde(rename = "meeting_id")]
    pub meeting_id: MeetingId,
    /// The bot session's uid (a new one per start).
    pub connection_id: String,
    /// The per-meeting bearer token for the callbacks.
    pub token: String,
    pub language: Option<String>,
    pub task: Option<String>,
    pub transcribe_enabled: bool,
    pub recording_enabled: bool,
    pub automatic_leave: AutomaticLeave,
    /// The lifecycle callback again, under the name older bots read.
    pub meeting_api_callback_url: String,
    pub callbacks: Callbacks,
    pub commands: Commands,
}

/// When the bot leaves on its own, in the units the original's bot reads. Only the limits the
/// caller set are sent.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AutomaticLeave {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_bot_time: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_wait_for_admission: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_time_left_alone: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub no_one_joined_timeout: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub waiting_room_timeout: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub everyone_left_timeout: Option<u64>,
}

impl AutomaticLeave {
    /// The keys a request may set.
    pub const KEYS: &'static [&'static str] = &[
        "max_bot_time",
        "max_wait_for_admission",
        "max_time_left_alone",
        "no_one_joined_timeout",
        "waiting_room_timeout",
        "everyone_left_timeout",
    ];

    /// Sets the limit named `key` (one of [`AutomaticLeave::KEYS`]); `false` for any other key.
    pub fn set(&mut self, key: &str, value: u64) -> bool {
        let slot = match key {
            "max_bot_time" => &mut self.max_bot_time,
            "max_wait_for_admission" => &mut self.max_wait_for_admission,
            "max_time_left_alone" => &mut self.max_time_left_alone,
            "no_one_joined_timeout" => &mut self.no_one_joined_timeout,
            "waiting_room_timeout" => &mut self.waiting_room_timeout,
            "everyone_left_timeout" => &mut self.everyone_left_timeout,
            _ => return false,
        };
        *slot = Some(value);
        true
    }
}

/// Where the bot reports (URLs on this service).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Callbacks {
    pub lifecycle: String,
    pub segments: String,
}

/// How the bot is commanded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Commands {
    pub transport: String,
    pub format: String,
    pub actions: Vec<String>,
}

impl Commands {
    /// JSON lines on stdin: `leave` and `reconfigure` ([`BotCommand`]).
    pub fn stdin_jsonl() -> Commands {
        Commands {
            transport: "stdin".into(),
            format: "jsonl".into(),
            actions: vec!["leave".into(), "reconfigure".into()],
        }
    }
}

/// One command on the bot's stdin.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum BotCommand {
    /// Leave the meeting and exit.
    Leave,
    /// New settings for the rest of the meeting. A key absent from the line is unchanged; a
    /// key sent as `null` goes back to the bot's default.
    Reconfigure {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        language: Option<Option<String>>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        task: Option<Option<String>>,
    },
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, Value};

    fn config() -> BotConfig {
        let mut leave = AutomaticLeave::default();
        leave.set("max_bot_time", 60_000);
        BotConfig {
            platform: Platform::GoogleMeet,
            meeting_url: Some("https://meet.google.com/abc-defg-hij".into()),
            native_meeting_id: "abc-defg-hij".into(),
            bot_name: "mock:happy".into(),
            passcode: None,
            meeting_id: MeetingId(7),
            connection_id: "c0ffee".into(),
            token: "v1.7.1.ab".into(),
            language: Some("en".into()),
            task: None,
            transcribe_enabled: true,
            recording_enabled: false,
            automatic_leave: leave,
            meeting_api_callback_url: "http://h/internal/bot/lifecycle".into(),
            callbacks: Callbacks {
                lifecycle: "http://h/internal/bot/lifecycle".into(),
                segments: "http://h/internal/bot/segments".into(),
            },
            commands: Commands::stdin_jsonl(),
        }
    }

    #[test]
    fn the_config_has_exactly_the_protocols_keys() {
        let v = serde_json::to_value(config()).unwrap_or(Value::Null);
        let mut keys: Vec<&str> = v
            .as_object()
            .map(|o| o.keys().map(String::as_str).collect())
            .unwrap_or_default();
        keys.sort_unstable();
        assert_eq!(
            keys,
            [
                "automaticLeave",
                "botName",
                "callbacks",
                "commands",
                "connectionId",
                "language",
                "meetingApiCallbackUrl",
                "meetingUrl",
                "meeting_id",
                "nativeMeetingId",
                "passcode",
                "platform",
                "recordingEnabled",
                "task",
                "token",
                "transcribeEnabled",
            ]
        );
        assert_eq!(v["platform"], "google_meet");
        assert_eq!(v["meeting_id"], 7);
        assert_eq!(v["automaticLeave"], json!({"max_bot_time": 60_000}));
        assert_eq!(
            v["callbacks"],
            json!({"lifecycle": "http://h/internal/bot/lifecycle", "segments": "http://h/internal/bot/segments"})
        );
        assert_eq!(
            v["commands"],
            json!({"transport": "stdin", "format": "jsonl", "actions": ["leave", "reconfigure"]})
        );
    }

    #[test]
    fn the_mock_bot_reads_back_what_the_service_writes() {
        let text = serde_json::to_string(&config()).unwrap_or_default();
        let back: Option<BotConfig> = serde_json::from_str(&text).ok();
        assert_eq!(back, Some(config()));
    }

    #[test]
    fn commands_are_one_json_object_with_an_action() {
        let line = |c: &BotCommand| serde_json::to_value(c).unwrap_or(Value::Null);
        assert_eq!(line(&BotCommand::Leave), json!({"action": "leave"}));
        let c = BotCommand::Reconfigure {
            language: Some(Some("fr".into())),
            task: Some(None),
        };
        assert_eq!(
            line(&c),
            json!({"action": "reconfigure", "language": "fr", "task": null})
        );
        let c = BotCommand::Reconfigure {
            language: None,
            task: Some(Some("translate".into())),
        };
        assert_eq!(
            line(&c),
            json!({"action": "reconfigure", "task": "translate"})
        );
        let read: Option<BotCommand> = serde_json::from_str(r#"{"action":"leave"}"#).ok();
        assert_eq!(read, Some(BotCommand::Leave));
    }
}
