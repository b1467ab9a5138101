//! A `POST /bots` body turned into a [`BotOrder`]: every field checked in the original's order
//! and words, the destination decided by [`BotTarget::resolve`].

use rand::RngCore;
use serde_json::{Map, Value};
use vexa_core::meeting::BotTarget;

use crate::error::InvalidInput;
use crate::wire::bot_config::AutomaticLeave;
use crate::wire::bots::BotRequest;
use crate::wire::FromWire;

/// A validated bot request.
#[derive(Debug, Clone, PartialEq)]
pub struct BotOrder {
    pub target: BotTarget,
    pub passcode: Option<String>,
    pub bot_name: String,
    pub language: Option<String>,
    pub task: Option<String>,
    pub transcribe_enabled: bool,
    pub recording_enabled: bool,
    pub automatic_leave: AutomaticLeave,
}

impl FromWire for BotOrder {
    type Wire = BotRequest;

    fn from_wire(req: BotRequest) -> Result<BotOrder, InvalidInput> {
        let platform = req.platform.read("platform")?;
        let native = req.native_meeting_id.read("native_meeting_id")?;
        let url = req.meeting_url.read("meeting_url")?;
        let target = BotTarget::resolve(platform.as_deref(), native, url)?;
        let passcode = req
            .passcode
            .read_bounded("passcode", 128)?
            .or_else(|| target.link_passcode.clone());
        let bot_name = req
            .bot_name
            .read_bounded("bot_name", 100)?
            .filter(|s| !s.trim().is_empty())
            .unwrap_or_else(random_bot_name);
        Ok(BotOrder {
            target,
            passcode,
            bot_name,
            automatic_leave: automatic_leave(req.automatic_leave)?,
            language: req.language.read_bounded("language", 16)?,
            task: req.task.read_bounded("task", 32)?,
            transcribe_enabled: req
                .transcribe_enabled
                .read("transcribe_enabled")?
                .unwrap_or(true),
            recording_enabled: req
                .recording_enabled
                .read("recording_enabled")?
                .unwrap_or(true),
        })
    }
}

impl BotOrder {
    /// What the meeting row keeps of the request (`data`).
    pub fn meeting_data(&self) -> Map<String, Value> {
        let mut data = Map::new();
        data.insert(
            vexa_core::meeting::data::CONSTRUCTED_MEETING_URL.into(),
            Value::from(self.target.url()),
        );
        data.insert("bot_name".into(), Value::from(self.bot_name.clone()));
        data.insert(
            "transcribe_enabled".into(),
            Value::Bool(self.transcribe_enabled),
        );
        data.insert(
            "recording_enabled".into(),
            Value::Bool(self.recording_enabled),
        );
        if let Some(language) = &self.language {
            data.insert("language".into(), Value::from(language.clone()));
        }
        if let Some(task) = &self.task {
            data.insert("task".into(), Value::from(task.clone()));
        }
        data
    }
}

/// `VexaBot-<6 hex>` for a request without a name.
fn random_bot_name() -> String {
    let mut raw = [0u8; 3];
    rand::thread_rng().fill_bytes(&mut raw);
    format!("VexaBot-{}", hex::encode(raw))
}

/// `automatic_leave`: absent or `null` = no limits; else an object of known keys, each a
/// positive integer (unknown keys are named all at once, before any value is checked).
fn automatic_leave(value: Option<Value>) -> Result<AutomaticLeave, InvalidInput> {
    let limits = match value {
        None | Some(Value::Null) => return Ok(AutomaticLeave::default()),
        Some(Value::Object(limits)) => limits,
        Some(_) => return Err(InvalidInput::AutoLeaveNotAnObject),
    };
    let unknown: Vec<&str> = limits
        .keys()
        .map(String::as_str)
        .filter(|k| !AutomaticLeave::KEYS.contains(k))
        .collect();
    if !unknown.is_empty() {
        return Err(InvalidInput::AutoLeaveUnknownFields(unknown.join(", ")));
    }
    let mut out = AutomaticLeave::default();
    for (key, v) in &limits {
        let positive = v
            .as_i64()
            .filter(|n| *n > 0)
            .and_then(|n| u64::try_from(n).ok());
        match positive {
            Some(n) if out.set(key, n) => {}
            _ => return Err(InvalidInput::AutoLeaveNotPositive(key.clone())),
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use vexa_core::meeting::Platform;

    fn detail(body: &str) -> String {
        let parsed =
            crate::wire::parse_object::<BotRequest>(body.as_bytes()).and_then(BotOrder::from_wire);
        match parsed {
            Err(e) => e.to_string(),
            Ok(order) => format!("{order:?}"),
        }
    }

    #[test]
    fn requests_are_validated_with_the_originals_words() {
        assert_eq!(detail("[1]"), "body must be an object");
        assert_eq!(detail("{"), "invalid JSON body");
        assert!(
            detail(r#"{"platform":"skype","native_meeting_id":"x"}"#).contains("cannot be spawned")
        );
        assert!(detail(r#"{"platform":"zoom","native_meeting_id":"123"}"#)
            .contains("required for zoom/jitsi"));
        assert!(
            detail(r#"{"platform":"google_meet","native_meeting_id":"a/b"}"#)
                .contains("bare meeting id")
        );
        assert!(
            detail(r#"{"platform":"teams","meeting_url":"https://meet.google.com/abc"}"#)
                .contains("disagrees")
        );
        assert!(
            detail(r#"{"meeting_url":"https://example.com/x"}"#).contains("could not be derived")
        );
        assert!(detail(
            r#"{"platform":"google_meet","native_meeting_id":"a","automatic_leave":{"x":1}}"#
        )
        .contains("unknown field"));
        assert_eq!(detail(r#"{"platform":5}"#), "'platform' must be a string");
        assert_eq!(
            detail(
                r#"{"platform":"google_meet","native_meeting_id":"x","transcribe_enabled":"maybe"}"#
            ),
            "transcribe_enabled must be a boolean"
        );
        assert_eq!(
            detail(
                r#"{"platform":"google_meet","native_meeting_id":"x","automatic_leave":{"max_bot_time":0}}"#
            ),
            "automatic_leave.max_bot_time must be a positive integer"
        );
        assert_eq!(
            detail(r#"{"platform":"google_meet","native_meeting_id":"x","automatic_leave":[1]}"#),
            "automatic_leave must be an object"
        );
    }

    #[test]
    fn a_meeting_link_alone_is_enough() {
        let r = crate::wire::parse_object::<BotRequest>(
            br#"{"meeting_url":"https://meet.google.com/abc-defg-hij"}"#,
        )
        .and_then(BotOrder::from_wire);
        assert!(
            matches!(r, Ok(BotOrder { ref target, .. }) if target.platform == Platform::GoogleMeet && target.native_id == "abc-defg-hij")
        );
    }

    #[test]
    fn defaults_fill_what_the_python_client_leaves_out() {
        let r = crate::wire::parse_object::<BotRequest>(
            br#"{"platform":"google_meet","native_meeting_id":"abc-defg-hij","transcribe_enabled":"0","automatic_leave":{"max_bot_time":60}}"#,
        )
        .and_then(BotOrder::from_wire);
        let order = r.ok();
        assert!(order
            .as_ref()
            .is_some_and(|o| o.bot_name.starts_with("VexaBot-")));
        assert_eq!(
            order
                .as_ref()
                .map(|o| (o.transcribe_enabled, o.recording_enabled)),
            Some((false, true))
        );
        assert_eq!(order.and_then(|o| o.automatic_leave.max_bot_time), Some(60));
    }
}
