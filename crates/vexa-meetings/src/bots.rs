//! Sending, stopping and reconfiguring bots.

use rand::RngCore;
use serde_json::{json, Map, Value};
use vexa_core::meeting::{
    parse_meeting_url, validate_native_id, CreateBotError, LifecycleEvent, Meeting, MeetingStatus,
    NewMeeting, Platform, StatusUpdate,
};

use crate::caller::Caller;
use crate::error::{MeetingsError, Result};
use crate::input::{bounded, object, opt_bool, opt_str};
use crate::lifecycle::{self, Source};
use crate::state::AppState;
use crate::view;

/// Bot tokens outlive any sane meeting (the original's 5 h default,
/// `docs/reference/vexa-meetings.md` §4.2).
const TOKEN_TTL_SECS: i64 = 5 * 3600;
const AUTO_LEAVE_KEYS: &[&str] = &[
    "max_bot_time",
    "max_wait_for_admission",
    "max_time_left_alone",
    "no_one_joined_timeout",
    "waiting_room_timeout",
    "everyone_left_timeout",
];

/// A validated `POST /bots` body.
#[derive(Debug)]
struct BotRequest {
    platform: Platform,
    native: String,
    meeting_url: Option<String>,
    passcode: Option<String>,
    bot_name: String,
    language: Option<String>,
    task: Option<String>,
    transcribe_enabled: bool,
    recording_enabled: bool,
    automatic_leave: Map<String, Value>,
}

fn invalid(d: impl Into<String>) -> MeetingsError {
    MeetingsError::Validation(d.into())
}

fn parse_request(body: &[u8]) -> Result<BotRequest> {
    let b = object(body)?;
    let platform_raw = opt_str(&b, "platform")?;
    let native_raw = opt_str(&b, "native_meeting_id")?.filter(|s| !s.is_empty());
    let url = opt_str(&b, "meeting_url")?.filter(|s| !s.is_empty());
    let parsed = match &url {
        Some(u) => Some(parse_meeting_url(u).map_err(|e| invalid(e.detail))?),
        None => None,
    };
    let url_platform = parsed.as_ref().and_then(|p| p.platform);
    let platform = match (&platform_raw, url_platform) {
        (Some(p), q) => {
            let p = Platform::parse_spawnable(p).map_err(|e| invalid(e.detail))?;
            if let Some(q) = q.filter(|q| *q != p) {
                return Err(invalid(format!(
                    "platform '{}' disagrees with meeting_url (which is a '{}' link) — drop one or make them agree",
                    p.as_str(),
                    q.as_str()
                )));
            }
            p
        }
        (None, Some(q)) => q,
        (None, None) => {
            return Err(match (&url, &native_raw) {
                (Some(u), None) => invalid(format!(
                    "'native_meeting_id' is required: it could not be derived from meeting_url '{u}' (unrecognized meeting link)"
                )),
                _ => invalid("'platform' and 'native_meeting_id' (or 'meeting_url') are required"),
            })
        }
    };
    let native = match (native_raw, parsed.as_ref().and_then(|p| p.native_id.clone())) {
        (Some(n), _) | (None, Some(n)) => n,
        (None, None) => {
            return Err(match &url {
                Some(u) => invalid(format!(
                    "'native_meeting_id' is required: it could not be derived from meeting_url '{u}' (unrecognized meeting link)"
                )),
                None => invalid("'platform' and 'native_meeting_id' (or 'meeting_url') are required"),
            })
        }
    };
    validate_native_id(&native).map_err(|e| invalid(e.detail))?;
    if url.is_none() && platform.construct_url(&native).is_none() {
        return Err(invalid(format!(
            "unsupported platform '{}' without a meeting_url — use google_meet/teams, or provide meeting_url (required for zoom/jitsi)",
            platform.as_str()
        )));
    }
    let passcode = bounded("passcode", opt_str(&b, "passcode")?, 128)?
        .or_else(|| parsed.and_then(|p| p.passcode));
    let bot_name = bounded("bot_name", opt_str(&b, "bot_name")?, 100)?
        .filter(|s| !s.trim().is_empty())
        .unwrap_or_else(|| {
            let mut r = [0u8; 3];
            rand::thread_rng().fill_bytes(&mut r);
            format!("VexaBot-{}", hex::encode(r))
        });
    let automatic_leave = match b.get("automatic_leave") {
        None | Some(Value::Null) => Map::new(),
        Some(Value::Object(m)) => {
            let unknown: Vec<&str> = m
                .keys()
                .map(String::as_str)
                .filter(|k| !AUTO_LEAVE_KEYS.contains(k))
                .collect();
            if !unknown.is_empty() {
                return Err(invalid(format!(
                    "automatic_leave has unknown field(s): {}",
                    unknown.join(", ")
                )));
            }
            for (k, v) in m {
                if !matches!(v.as_i64(), Some(n) if n > 0) {
                    return Err(invalid(format!(
                        "automatic_leave.{k} must be a positive integer"
                    )));
                }
            }
            m.clone()
        }
        Some(_) => return Err(invalid("automatic_leave must be an object")),
    };
    Ok(BotRequest {
        platform,
        native,
        meeting_url: url,
        passcode,
        bot_name,
        language: bounded("language", opt_str(&b, "language")?, 16)?,
        task: bounded("task", opt_str(&b, "task")?, 32)?,
        transcribe_enabled: opt_bool(&b, "transcribe_enabled")?.unwrap_or(true),
        recording_enabled: opt_bool(&b, "recording_enabled")?.unwrap_or(true),
        automatic_leave,
    })
}

fn random_hex(n: usize) -> String {
    let mut b = vec![0u8; n];
    rand::thread_rng().fill_bytes(&mut b);
    hex::encode(b)
}

/// `POST /bots`: validate, record atomically (409/429), start the bot, answer 201.
pub async fn request_bot(st: &AppState, caller: &Caller, body: &[u8]) -> Result<Value> {
    let req = parse_request(body)?;
    let runtime = st.runtime.clone().ok_or(MeetingsError::NoBotCommand)?;
    let constructed = req
        .meeting_url
        .clone()
        .or_else(|| req.platform.construct_url(&req.native));
    let mut data = Map::new();
    data.insert("constructed_meeting_url".into(), json!(constructed));
    data.insert("bot_name".into(), json!(req.bot_name));
    data.insert("transcribe_enabled".into(), json!(req.transcribe_enabled));
    data.insert("recording_enabled".into(), json!(req.recording_enabled));
    if let Some(l) = &req.language {
        data.insert("language".into(), json!(l));
    }
    if let Some(t) = &req.task {
        data.insert("task".into(), json!(t));
    }
    let new = NewMeeting {
        user_id: caller.user_id,
        platform: req.platform,
        native_meeting_id: Some(req.native.clone()),
        status: MeetingStatus::Requested,
        data,
    };
    let now = st.clock.now();
    let meeting = match st
        .store
        .create_bot_meeting(&new, caller.max_concurrent, now)
        .await
    {
        Ok(m) => m,
        Err(CreateBotError::AlreadyActive) => {
            metrics::counter!("vexa_meetings_bot_requests_total", "outcome" => "conflict")
                .increment(1);
            return Err(MeetingsError::Conflict(format!(
                "An active meeting already exists for {}/{}",
                req.platform.as_str(),
                req.native
            )));
        }
        Err(CreateBotError::LimitReached(n)) => {
            metrics::counter!("vexa_meetings_bot_requests_total", "outcome" => "limited")
                .increment(1);
            return Err(MeetingsError::LimitReached(n));
        }
        Err(CreateBotError::Store(e)) => return Err(e.into()),
    };
    let session_uid = random_hex(16);
    let workload_id = format!("mtg-{}-{}", meeting.id.0, &session_uid[..8]);
    let token = st.tokens.mint(meeting.id, now.plus_secs(TOKEN_TTL_SECS));
    let base = st.cfg.callback_base_url.trim_end_matches('/');
    let config = json!({
        "platform": req.platform.as_str(),
        "meetingUrl": constructed,
        "nativeMeetingId": req.native,
        "botName": req.bot_name,
        "passcode": req.passcode,
        "meeting_id": meeting.id,
        "connectionId": session_uid,
        "token": token,
        "language": req.language,
        "task": req.task,
        "transcribeEnabled": req.transcribe_enabled,
        "recordingEnabled": req.recording_enabled,
        "automaticLeave": req.automatic_leave,
        "meetingApiCallbackUrl": format!("{base}/internal/bot/lifecycle"),
        "callbacks": {
            "lifecycle": format!("{base}/internal/bot/lifecycle"),
            "segments": format!("{base}/internal/bot/segments"),
        },
        "commands": {"transport": "stdin", "format": "jsonl", "actions": ["leave", "reconfigure"]},
    });
    if let Err(e) = runtime.spawn(meeting.id, &workload_id, &config).await {
        let ev = LifecycleEvent {
            status: MeetingStatus::Failed,
            completion_reason: Some("start_failed".into()),
        };
        let _ = lifecycle::apply(st, meeting.id, &ev, Some(e.to_string()), Source::Spawn).await;
        metrics::counter!("vexa_meetings_bot_requests_total", "outcome" => "start_failed")
            .increment(1);
        return Err(MeetingsError::Runtime(format!(
            "bot runtime failed to start: {e}"
        )));
    }
    st.store
        .set_bot_container(meeting.id, &workload_id, &session_uid, st.clock.now())
        .await?;
    metrics::counter!("vexa_meetings_bot_requests_total", "outcome" => "created").increment(1);
    let current = st
        .store
        .meeting(meeting.id)
        .await?
        .unwrap_or_else(|| meeting.clone());
    if current.stop_requested() {
        // A stop arrived while the bot was starting: it must not outlive the request.
        schedule_stop(st, &current);
    }
    // The answer describes the request as accepted (`requested`), like the original
    // (`docs/reference/vexa-meetings.md` §2.2), even when a
    // fast bot has already reported `joining` by now; later states are for the status routes.
    let mut shown = current;
    if !shown.stop_requested() {
        shown.status = meeting.status;
    }
    let mut out = view::meeting(&shown);
    out["data"]["sessions"] = json!(st.store.sessions(shown.id).await?);
    Ok(out)
}

pub fn parse_platform_for_stop(p: &str) -> Result<Platform> {
    match Platform::parse(p) {
        Some(pl) if pl != Platform::Unknown => Ok(pl),
        _ => Err(invalid(format!(
            "unsupported platform '{p}' — must be one of: google_meet, jitsi, teams, zoom"
        ))),
    }
}

fn schedule_stop(st: &AppState, m: &Meeting) {
    if let Some(rt) = st.runtime.clone() {
        let id = m.id;
        let grace = st.cfg.stop_grace;
        tokio::spawn(async move { rt.stop(id, grace).await });
    }
}

/// `DELETE /bots/{platform}/{native}`: record the stop, tell the bot to leave, force it after
/// the grace period. The terminal state comes from the bot (or from its exit).
pub async fn stop_bot(
    st: &AppState,
    caller: &Caller,
    platform: &str,
    native: &str,
) -> Result<Value> {
    let platform = parse_platform_for_stop(platform)?;
    let none = || MeetingsError::NotFound("No active meeting for this bot".into());
    let m = st
        .store
        .latest_for_key(caller.user_id, platform, native)
        .await?
        .ok_or_else(none)?;
    if m.status.is_terminal() || m.stop_requested() {
        return Err(none());
    }
    let now = st.clock.now();
    let mut patch = Map::new();
    patch.insert("stop_requested".into(), Value::Bool(true));
    if m.status.is_planned() {
        patch.insert(
            "failure_reason".into(),
            json!("cancelled by the user before the bot was dispatched"),
        );
        let update = StatusUpdate {
            from: m.status,
            to: MeetingStatus::Failed,
            completion_reason: Some("stopped".into()),
            failure_stage: None,
            data: patch,
            now,
        };
        if let Some(new) = st.store.update_status(m.id, &update).await? {
            lifecycle::publish_status(st, m.status, &new, Some("cancelled"), Source::UserStop);
        }
        return Ok(stop_receipt(&m, vec![m.id.0]));
    }
    st.store.merge_data(m.id, &patch, now).await?;
    if matches!(m.status, MeetingStatus::Active | MeetingStatus::NeedsHelp) {
        let update = StatusUpdate {
            from: m.status,
            to: MeetingStatus::Stopping,
            completion_reason: None,
            failure_stage: None,
            data: Map::new(),
            now,
        };
        st.store.update_status(m.id, &update).await?;
    }
    schedule_stop(st, &m);
    Ok(stop_receipt(&m, Vec::new()))
}

fn stop_receipt(m: &Meeting, cancelled: Vec<i64>) -> Value {
    json!({
        "status": "stopping", "meeting_id": m.id, "native_meeting_id": m.native_meeting_id,
        "also_stopped": [], "cancelled": cancelled,
    })
}

/// `PUT /bots/{platform}/{native}/config`: forwards `language`/`task` to the live bot.
pub async fn reconfigure(
    st: &AppState,
    caller: &Caller,
    platform: &str,
    native: &str,
    body: &[u8],
) -> Result<Value> {
    let platform = parse_platform_for_stop(platform)?;
    let b = object(body)?;
    let language = bounded("language", opt_str(&b, "language")?, 16)?;
    let task = bounded("task", opt_str(&b, "task")?, 32)?;
    if !b.contains_key("language") && !b.contains_key("task") {
        return Err(invalid("'language' or 'task' is required"));
    }
    let none = || MeetingsError::NotFound("No active meeting for this bot".into());
    let m = st
        .store
        .latest_for_key(caller.user_id, platform, native)
        .await?
        .ok_or_else(none)?;
    let runtime = st.runtime.as_ref().ok_or_else(none)?;
    if !m.status.is_live() || m.stop_requested() {
        return Err(none());
    }
    let mut command = json!({"action": "reconfigure"});
    let mut patch = Map::new();
    if b.contains_key("language") {
        command["language"] = json!(language);
        patch.insert("language".into(), json!(language));
    }
    if b.contains_key("task") {
        command["task"] = json!(task);
        patch.insert("task".into(), json!(task));
    }
    runtime.send(m.id, &command).await.map_err(|_| none())?;
    st.store.merge_data(m.id, &patch, st.clock.now()).await?;
    Ok(json!({"message": "Reconfiguration request sent to the bot"}))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn detail(body: &str) -> String {
        match parse_request(body.as_bytes()) {
            Err(MeetingsError::Validation(d)) => d,
            other => format!("{other:?}"),
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
    }

    #[test]
    fn a_meeting_link_alone_is_enough() {
        let r = parse_request(br#"{"meeting_url":"https://meet.google.com/abc-defg-hij"}"#);
        assert!(
            matches!(r, Ok(BotRequest { platform: Platform::GoogleMeet, ref native, .. }) if native == "abc-defg-hij")
        );
    }
}
