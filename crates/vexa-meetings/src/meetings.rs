//! Meetings as records: listing, reading, planning, metadata edits, deletion, transcripts and
//! the user's webhook target.

use std::collections::HashMap;

use serde_json::{json, Map, Value};
use vexa_core::meeting::{
    parse_meeting_url, Meeting, MeetingFilter, MeetingId, MeetingStatus, NewMeeting, Platform,
    Webhook,
};
use vexa_core::{StoreError, Timestamp};

use crate::caller::Caller;
use crate::error::{MeetingsError, Result};
use crate::input::{bounded, int_param, object, opt_bool, opt_str};
use crate::lifecycle;
use crate::state::AppState;
use crate::view;

fn invalid(d: impl Into<String>) -> MeetingsError {
    MeetingsError::Validation(d.into())
}

fn not_found() -> MeetingsError {
    MeetingsError::NotFound("Meeting not found".into())
}

fn key_not_found(p: &str, n: &str) -> MeetingsError {
    MeetingsError::NotFound(format!("Meeting not found for platform {p} and ID {n}"))
}

pub const RUNNING: [MeetingStatus; 6] = [
    MeetingStatus::Requested,
    MeetingStatus::Joining,
    MeetingStatus::AwaitingAdmission,
    MeetingStatus::NeedsHelp,
    MeetingStatus::Active,
    MeetingStatus::Stopping,
];

fn filter(q: &HashMap<String, String>) -> Result<MeetingFilter> {
    let mut f = MeetingFilter {
        limit: int_param(q, "limit", 50, 1, 100)?,
        offset: int_param(q, "offset", 0, 0, i64::MAX)?,
        ..Default::default()
    };
    if let Some(s) = q.get("status") {
        f.statuses =
            vec![MeetingStatus::parse(s).ok_or_else(|| invalid(format!("unknown status '{s}'")))?];
    } else if q
        .get("exclude_planned")
        .is_some_and(|v| matches!(v.as_str(), "true" | "1" | "yes"))
    {
        f.statuses = MeetingStatus::ALL
            .into_iter()
            .filter(|s| !s.is_planned())
            .collect();
    }
    if let Some(p) = q.get("platform") {
        f.platform =
            Some(Platform::parse(p).ok_or_else(|| invalid(format!("unknown platform '{p}'")))?);
    }
    Ok(f)
}

/// List rows stay light: bulky or internal keys are left to `GET /meetings/{id}`.
fn slim(m: &Meeting) -> Value {
    let mut v = view::meeting(m);
    if let Some(d) = v.get_mut("data").and_then(Value::as_object_mut) {
        for k in [
            "status_transition",
            "bot_logs",
            "speaker_events",
            "recordings",
        ] {
            d.remove(k);
        }
    }
    v
}

pub async fn list(
    st: &AppState,
    caller: &Caller,
    q: &HashMap<String, String>,
) -> Result<Vec<Value>> {
    let f = filter(q)?;
    Ok(st
        .store
        .list(caller.user_id, &f)
        .await?
        .iter()
        .map(slim)
        .collect())
}

/// `GET /bots`: one extra row tells whether there is a next page.
pub async fn list_bots(
    st: &AppState,
    caller: &Caller,
    q: &HashMap<String, String>,
) -> Result<Value> {
    let mut f = filter(q)?;
    let limit = f.limit;
    f.limit += 1;
    let rows = st.store.list(caller.user_id, &f).await?;
    let has_more = rows.len() as i64 > limit;
    let meetings: Vec<Value> = rows.iter().take(limit as usize).map(slim).collect();
    Ok(json!({"meetings": meetings, "has_more": has_more}))
}

pub async fn running(st: &AppState, caller: &Caller, q: &HashMap<String, String>) -> Result<Value> {
    let mut f = MeetingFilter {
        statuses: RUNNING.to_vec(),
        limit: 1000,
        offset: 0,
        platform: None,
    };
    if let Some(p) = q.get("platform") {
        f.platform =
            Some(Platform::parse(p).ok_or_else(|| invalid(format!("unknown platform '{p}'")))?);
    }
    let rows: Vec<Value> = st
        .store
        .list(caller.user_id, &f)
        .await?
        .iter()
        .map(slim)
        .collect();
    Ok(json!({"count": rows.len(), "running": rows, "running_bots": rows}))
}

pub async fn owned(st: &AppState, caller: &Caller, id: &str) -> Result<Meeting> {
    let id = id.parse::<i64>().map_err(|_| not_found())?;
    match st.store.meeting(MeetingId(id)).await? {
        Some(m) if m.user_id == caller.user_id => Ok(m),
        _ => Err(not_found()),
    }
}

pub async fn owned_by_key(st: &AppState, caller: &Caller, p: &str, n: &str) -> Result<Meeting> {
    let platform = Platform::parse(p).ok_or_else(|| key_not_found(p, n))?;
    st.store
        .latest_for_key(caller.user_id, platform, n)
        .await?
        .ok_or_else(|| key_not_found(p, n))
}

pub async fn get(st: &AppState, caller: &Caller, id: &str) -> Result<Value> {
    let m = owned(st, caller, id).await?;
    let mut v = view::meeting(&m);
    v["data"]["sessions"] = json!(st.store.sessions(m.id).await?);
    Ok(v)
}

/// Plan fields of `POST /meetings` / `PATCH`, applied over `data`.
struct Plan {
    platform: Platform,
    native: Option<String>,
    status: MeetingStatus,
    data: Map<String, Value>,
}

const PLAN_FIELDS: &[&str] = &[
    "title",
    "scheduled_at",
    "meeting_url",
    "workspace_id",
    "auto_join",
];

fn apply_plan(b: &Map<String, Value>, mut plan: Plan) -> Result<Plan> {
    if b.contains_key("title") {
        let t = bounded(
            "title",
            opt_str(b, "title")?.map(|t| t.trim().to_owned()),
            512,
        )?;
        plan.data.insert("title".into(), json!(t));
    }
    if b.contains_key("scheduled_at") {
        let at = opt_str(b, "scheduled_at")
            .map_err(|_| invalid("'scheduled_at' must be an ISO8601 string"))?;
        match at {
            Some(s) => {
                let t = Timestamp::parse_rfc3339(&s)
                    .ok_or_else(|| invalid("'scheduled_at' must be an ISO8601 string"))?;
                plan.data.insert("scheduled_at".into(), json!(t));
                plan.status = MeetingStatus::Scheduled;
            }
            None => {
                plan.data.remove("scheduled_at");
                plan.status = MeetingStatus::Idle;
            }
        }
    }
    if b.contains_key("meeting_url") {
        match opt_str(b, "meeting_url")? {
            Some(u) => {
                let parsed =
                    parse_meeting_url(&u).map_err(|_| invalid("unrecognized 'meeting_url'"))?;
                match (parsed.platform, parsed.native_id) {
                    (Some(p), Some(n)) => {
                        plan.platform = p;
                        plan.native = Some(n);
                        plan.data.insert("constructed_meeting_url".into(), json!(u));
                    }
                    _ => return Err(invalid("unrecognized 'meeting_url'")),
                }
            }
            None => {
                plan.platform = Platform::Unknown;
                plan.native = None;
                plan.data.remove("constructed_meeting_url");
            }
        }
    }
    if b.contains_key("workspace_id") {
        let w = bounded("workspace_id", opt_str(b, "workspace_id")?, 255)?;
        plan.data.insert("workspace_id".into(), json!(w));
    }
    if b.contains_key("auto_join") {
        let a = opt_bool(b, "auto_join").map_err(|_| invalid("'auto_join' must be a boolean"))?;
        plan.data
            .insert("auto_join".into(), json!(a.unwrap_or(true)));
        plan.data.insert("auto_join_user_set".into(), json!(true));
    }
    plan.data.retain(|_, v| !v.is_null());
    Ok(plan)
}

pub async fn create_planned(st: &AppState, caller: &Caller, body: &[u8]) -> Result<Value> {
    let b = object(body)?;
    let mut data = Map::new();
    data.insert("auto_join".into(), json!(true));
    let plan = apply_plan(
        &b,
        Plan {
            platform: Platform::Unknown,
            native: None,
            status: MeetingStatus::Idle,
            data,
        },
    )?;
    let new = NewMeeting {
        user_id: caller.user_id,
        platform: plan.platform,
        native_meeting_id: plan.native.clone(),
        status: plan.status,
        data: plan.data,
    };
    match st.store.create_planned(&new, st.clock.now()).await {
        Ok(m) => {
            lifecycle::publish_user_frame(st, &m);
            Ok(view::meeting(&m))
        }
        Err(StoreError::Conflict(_)) => Err(MeetingsError::Conflict(format!(
            "A meeting already exists for {}/{}",
            plan.platform.as_str(),
            plan.native.unwrap_or_default()
        ))),
        Err(e) => Err(e.into()),
    }
}

const META_FIELDS: &[&str] = &["name", "participants", "languages", "notes"];

fn metadata(b: &Map<String, Value>) -> Result<Option<Map<String, Value>>> {
    let d = match b.get("data") {
        None => return Ok(None),
        Some(Value::Object(d)) => d,
        Some(_) => return Err(invalid("'data' must be an object")),
    };
    let unknown: Vec<&str> = d
        .keys()
        .map(String::as_str)
        .filter(|k| !META_FIELDS.contains(k))
        .collect();
    if !unknown.is_empty() {
        return Err(invalid(format!(
            "data has unknown field(s): {} — editable: name, participants, languages, notes",
            unknown.join(", ")
        )));
    }
    for (k, v) in d {
        let ok = match k.as_str() {
            "name" | "notes" => v.is_string() || v.is_null(),
            _ => v.is_null() || v.as_array().is_some_and(|a| a.iter().all(Value::is_string)),
        };
        if !ok {
            let want = if matches!(k.as_str(), "name" | "notes") {
                "a string"
            } else {
                "a list of strings"
            };
            return Err(invalid(format!("data.{k} must be {want}")));
        }
    }
    if serde_json::to_vec(d).map_or(0, |v| v.len()) > 64 * 1024 {
        return Err(invalid("data is larger than 64 KiB"));
    }
    Ok(Some(d.clone()))
}

/// `PATCH /meetings/{id}` and `/meetings/{p}/{n}`: plan fields (planned rows only) and
/// `data` metadata (any status).
pub async fn patch(st: &AppState, m: Meeting, body: &[u8]) -> Result<Value> {
    let b = object(body)?;
    let meta = metadata(&b)?;
    let has_plan = PLAN_FIELDS.iter().any(|f| b.contains_key(*f));
    if !has_plan && meta.is_none() {
        return Err(invalid("no editable fields in body"));
    }
    let mut current = m;
    if has_plan {
        if !current.status.is_planned() {
            return Err(MeetingsError::Conflict(
                "Meeting is no longer planned (bot lifecycle owns it)".into(),
            ));
        }
        let plan = apply_plan(
            &b,
            Plan {
                platform: current.platform,
                native: current.native_meeting_id.clone(),
                status: current.status,
                data: current.data.clone(),
            },
        )?;
        let new = NewMeeting {
            user_id: current.user_id,
            platform: plan.platform,
            native_meeting_id: plan.native,
            status: plan.status,
            data: plan.data,
        };
        current = match st.store.replan(current.id, &new, st.clock.now()).await {
            Ok(Some(m)) => m,
            Ok(None) => {
                return Err(MeetingsError::Conflict(
                    "Meeting is no longer planned (bot lifecycle owns it)".into(),
                ))
            }
            Err(StoreError::Conflict(_)) => {
                return Err(MeetingsError::Conflict(
                    "Another active meeting uses that link".into(),
                ))
            }
            Err(e) => return Err(e.into()),
        };
        lifecycle::publish_user_frame(st, &current);
    }
    if let Some(meta) = meta {
        current = st
            .store
            .merge_data(current.id, &meta, st.clock.now())
            .await?
            .ok_or_else(not_found)?;
    }
    Ok(view::meeting(&current))
}

/// What a delete did.
pub enum Deleted {
    Plan,
    Artifacts,
}

/// Deletes a plan, or erases a finished meeting's transcript; refuses while a bot runs.
pub async fn delete(st: &AppState, m: &Meeting) -> Result<Deleted> {
    if m.status.is_planned() {
        st.store.delete_meeting(m.id).await?;
        let frame = json!({"type": "meeting.status", "meeting_id": m.id, "native": m.native_meeting_id, "status": "deleted", "when": null});
        st.hub.publish(crate::hub::Frame {
            user: m.user_id,
            key: lifecycle::key_of(m),
            user_wide: true,
            text: frame.to_string().into(),
        });
        return Ok(Deleted::Plan);
    }
    if !m.status.is_terminal() {
        return Err(MeetingsError::Conflict(
            "Meeting artifacts can only be deleted after the lifecycle is terminal".into(),
        ));
    }
    st.store.delete_segments(m.id).await?;
    let mut patch = Map::new();
    patch.insert("notes".into(), Value::Null);
    patch.insert(
        "artifact_deletion".into(),
        json!({"state": "completed", "completed_at": st.clock.now(), "scope": "primary_transcript_and_recording_storage",
               "backup_residuals": "expire_under_deployment_retention_policy"}),
    );
    st.store.merge_data(m.id, &patch, st.clock.now()).await?;
    Ok(Deleted::Artifacts)
}

pub fn delete_body(m: &Meeting, d: &Deleted) -> Value {
    let mut v = json!({"status": "deleted", "id": m.id, "platform": m.platform.as_str(), "native_meeting_id": m.native_meeting_id});
    if matches!(d, Deleted::Artifacts) {
        v["deleted"] = json!("completed_meeting_artifacts");
        v["objects_deleted"] = json!(0);
        v["backup_residuals"] = json!("expire_under_deployment_retention_policy");
    }
    v
}

fn erased(m: &Meeting) -> bool {
    m.data.contains_key("artifact_deletion")
}

pub async fn transcript(st: &AppState, m: &Meeting) -> Result<Value> {
    let segments = st.store.segments(m.id).await?;
    Ok(view::transcript(m, &segments))
}

pub async fn transcript_by_key(
    st: &AppState,
    caller: &Caller,
    p: &str,
    n: &str,
    q: &HashMap<String, String>,
) -> Result<Value> {
    let m = match q.get("meeting_id") {
        Some(id) => {
            let id = id
                .parse::<i64>()
                .map_err(|_| invalid("'meeting_id' must be an integer"))?;
            match st.store.meeting(MeetingId(id)).await? {
                Some(m)
                    if m.user_id == caller.user_id
                        && m.platform.as_str() == p
                        && m.native_meeting_id.as_deref() == Some(n) =>
                {
                    m
                }
                _ => return Err(key_not_found(p, n)),
            }
        }
        None => owned_by_key(st, caller, p, n).await?,
    };
    if erased(&m) {
        return Err(key_not_found(p, n));
    }
    transcript(st, &m).await
}

pub async fn transcript_by_id(st: &AppState, caller: &Caller, id: &str) -> Result<Value> {
    let gone = || MeetingsError::NotFound(format!("Meeting {id} not found"));
    let m = owned(st, caller, id).await.map_err(|_| gone())?;
    if erased(&m) {
        return Err(gone());
    }
    transcript(st, &m).await
}

fn mask(secret: &Option<String>) -> Value {
    match secret.as_deref() {
        Some(s) if s.chars().count() > 8 => {
            let tail: String = s
                .chars()
                .rev()
                .take(4)
                .collect::<Vec<_>>()
                .into_iter()
                .rev()
                .collect();
            json!(format!("********{tail}"))
        }
        Some(_) => json!("********"),
        None => Value::Null,
    }
}

fn webhook_view(h: Option<&Webhook>) -> Value {
    match h {
        Some(h) => json!({
            "webhook_url": h.url,
            "webhook_secret_set": h.secret.is_some(),
            "webhook_secret": mask(&h.secret),
            "webhook_events": h.events,
        }),
        None => {
            json!({"webhook_url": null, "webhook_secret_set": false, "webhook_secret": null, "webhook_events": null})
        }
    }
}

pub async fn get_webhook(st: &AppState, caller: &Caller) -> Result<Value> {
    Ok(webhook_view(
        st.store.webhook(caller.user_id).await?.as_ref(),
    ))
}

pub async fn put_webhook(st: &AppState, caller: &Caller, body: &[u8]) -> Result<Value> {
    let b = object(body)?;
    let url = opt_str(&b, "webhook_url")?.ok_or_else(|| invalid("'webhook_url' is required"))?;
    let parsed =
        reqwest::Url::parse(&url).map_err(|_| invalid("'webhook_url' must be an http(s) URL"))?;
    if !matches!(parsed.scheme(), "http" | "https")
        || parsed.host_str().is_none()
        || url.len() > 2048
    {
        return Err(invalid("'webhook_url' must be an http(s) URL"));
    }
    let existing = st.store.webhook(caller.user_id).await?;
    let secret = match bounded("webhook_secret", opt_str(&b, "webhook_secret")?, 256)? {
        Some(s) if !s.is_empty() => Some(s),
        // An empty or missing secret keeps the stored one (the original's rule,
        // `docs/reference/vexa-meetings.md` §8.1).
        _ => existing.as_ref().and_then(|h| h.secret.clone()),
    };
    let events = match b.get("webhook_events") {
        None => existing.and_then(|h| h.events),
        Some(Value::Null) => None,
        Some(Value::Object(m)) if m.values().all(Value::is_boolean) => Some(m.clone()),
        Some(_) => return Err(invalid("'webhook_events' must be an object of booleans")),
    };
    let hook = Webhook {
        url,
        secret,
        events,
    };
    st.store
        .set_webhook(caller.user_id, &hook, st.clock.now())
        .await?;
    Ok(webhook_view(Some(&hook)))
}
