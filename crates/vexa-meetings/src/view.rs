//! JSON shapes of meetings and transcripts, and the projection that keeps secrets out of them.

use serde_json::{json, Map, Value};
use vexa_core::meeting::{Meeting, Segment};

/// Keys of `data` never shown to anyone.
fn is_secret_key(k: &str) -> bool {
    const EXACT: &[&str] = &[
        "webhook_secret",
        "webhook_secrets",
        "share_grants",
        "auth_userdata_path",
        "passcode",
    ];
    const SUFFIX: &[&str] = &[
        "_secret",
        "_secrets",
        "_token",
        "_tokens",
        "_password",
        "_credential",
        "_credentials",
        "_api_key",
        "_apikey",
        "_private_key",
        "_signing_key",
        "_access_key",
    ];
    let k = k.to_ascii_lowercase();
    EXACT.contains(&k.as_str())
        || SUFFIX.iter().any(|s| k.ends_with(s))
        || k == "token"
        || k == "secret"
}

pub fn project(data: &Map<String, Value>) -> Map<String, Value> {
    data.iter()
        .filter(|(k, _)| !is_secret_key(k))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

pub fn constructed_url(m: &Meeting) -> Value {
    if let Some(u) = m
        .data
        .get("constructed_meeting_url")
        .and_then(Value::as_str)
    {
        return Value::from(u);
    }
    m.native_meeting_id
        .as_deref()
        .and_then(|n| m.platform.construct_url(n))
        .map_or(Value::Null, Value::from)
}

pub fn meeting(m: &Meeting) -> Value {
    json!({
        "id": m.id,
        "user_id": m.user_id,
        "platform": m.platform.as_str(),
        "native_meeting_id": m.native_meeting_id,
        "constructed_meeting_url": constructed_url(m),
        "status": m.status.as_str(),
        "bot_container_id": m.bot_container_id,
        "start_time": m.start_time,
        "end_time": m.end_time,
        "completion_reason": m.completion_reason,
        "failure_stage": m.failure_stage,
        "shared": false,
        "data": project(&m.data),
        "created_at": m.created_at,
        "updated_at": m.updated_at,
    })
}

pub fn segment(s: &Segment, base_ms: Option<i64>) -> Value {
    let abs = |secs: f64| -> Value {
        base_ms.map_or(Value::Null, |b| {
            // Bots send offsets from their session start; epoch seconds are accepted as-is.
            let ms = if secs >= 1e9 {
                secs * 1000.0
            } else {
                b as f64 + secs * 1000.0
            };
            Value::from(vexa_core::Timestamp(ms as i64).to_rfc3339())
        })
    };
    json!({
        "segment_id": s.segment_id,
        "start": s.start,
        "end": s.end,
        "text": s.text,
        "language": s.language,
        "speaker": s.speaker,
        "completed": s.completed,
        "absolute_start_time": abs(s.start),
        "absolute_end_time": abs(s.end),
        "created_at": s.created_at,
        "updated_at": s.updated_at,
    })
}

pub fn transcript(m: &Meeting, segments: &[Segment]) -> Value {
    let base = m.start_time.or(Some(m.created_at)).map(|t| t.0);
    json!({
        "id": m.id,
        "platform": m.platform.as_str(),
        "native_meeting_id": m.native_meeting_id,
        "constructed_meeting_url": constructed_url(m),
        "status": m.status.as_str(),
        "start_time": m.start_time,
        "end_time": m.end_time,
        "recordings": [],
        "notes": m.data.get("notes").cloned().unwrap_or(Value::Null),
        "data": project(&m.data),
        "segments": segments.iter().map(|s| segment(s, base)).collect::<Vec<_>>(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_never_leave_in_data() {
        let d = json!({"webhook_secret": "x", "bot_token": "y", "name": "Weekly", "passcode": "p"});
        let got = project(d.as_object().unwrap_or(&Map::new()));
        assert_eq!(Value::Object(got), json!({"name": "Weekly"}));
    }
}
