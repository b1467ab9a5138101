//! Plans and metadata: `POST /meetings` (a planned meeting), `PATCH /meetings/…` (plan fields
//! while planned; `data` metadata in any status).

use serde_json::{Map, Value};
use vexa_core::meeting::{
    data, parse_meeting_url, DataPatch, Meeting, MeetingStatus, NewMeeting, Platform,
};
use vexa_core::{StoreError, Timestamp, UserId};

use super::MeetingRef;
use crate::caller::Caller;
use crate::error::{InvalidInput, MeetingsError, Result};
use crate::lifecycle;
use crate::state::AppState;
use crate::wire::field::bounded;
use crate::wire::meetings::{MeetingPatch, PlanRequest};

/// Metadata keys a user may edit in any status.
const META_FIELDS: &[&str] = &["name", "participants", "languages", "notes"];
/// Largest metadata patch, as JSON.
const MAX_META_BYTES: usize = 64 * 1024;

/// What a plan is made of, before and after its fields are applied.
struct Plan {
    platform: Platform,
    native: Option<String>,
    status: MeetingStatus,
    data: Map<String, Value>,
}

impl Plan {
    fn into_meeting(self, user_id: UserId) -> NewMeeting {
        NewMeeting {
            user_id,
            platform: self.platform,
            native_meeting_id: self.native,
            status: self.status,
            data: self.data,
        }
    }
}

/// Applies the plan fields of `req` over `plan`, in the original's order; a field given as
/// `null` clears it.
fn apply_plan(req: PlanRequest, mut plan: Plan) -> Result<Plan, InvalidInput> {
    if req.title.is_present() {
        let title = req.title.read("title")?.map(|t| t.trim().to_owned());
        let title = bounded("title", title, 512)?;
        plan.data.insert("title".into(), Value::from(title));
    }
    if req.scheduled_at.is_present() {
        let at = req
            .scheduled_at
            .read("scheduled_at")
            .map_err(|_| InvalidInput::ScheduledAt)?;
        schedule(&mut plan, at)?;
    }
    if req.meeting_url.is_present() {
        link(&mut plan, req.meeting_url.read("meeting_url")?)?;
    }
    if req.workspace_id.is_present() {
        let workspace = req.workspace_id.read_bounded("workspace_id", 255)?;
        plan.data
            .insert("workspace_id".into(), Value::from(workspace));
    }
    if req.auto_join.is_present() {
        let auto_join = req.auto_join.read("'auto_join'")?;
        plan.data
            .insert("auto_join".into(), Value::Bool(auto_join.unwrap_or(true)));
        plan.data
            .insert("auto_join_user_set".into(), Value::Bool(true));
    }
    plan.data.retain(|_, v| !v.is_null());
    Ok(plan)
}

/// `scheduled_at`: a time makes the plan `scheduled`, `null` makes it `idle`.
fn schedule(plan: &mut Plan, at: Option<String>) -> Result<(), InvalidInput> {
    match at {
        Some(s) => {
            let at = Timestamp::parse_rfc3339(&s).ok_or(InvalidInput::ScheduledAt)?;
            plan.data
                .insert(data::SCHEDULED_AT.into(), Value::from(at.to_rfc3339()));
            plan.status = MeetingStatus::Scheduled;
        }
        None => {
            plan.data.remove(data::SCHEDULED_AT);
            plan.status = MeetingStatus::Idle;
        }
    }
    Ok(())
}

/// `meeting_url`: a recognized link names the plan's platform and id; `null` forgets them.
fn link(plan: &mut Plan, url: Option<String>) -> Result<(), InvalidInput> {
    let Some(url) = url else {
        plan.platform = Platform::Unknown;
        plan.native = None;
        plan.data.remove(data::CONSTRUCTED_MEETING_URL);
        return Ok(());
    };
    let parsed = parse_meeting_url(&url).map_err(|_| InvalidInput::UnrecognizedMeetingUrl)?;
    let (Some(platform), Some(native)) = (parsed.platform, parsed.native_id) else {
        return Err(InvalidInput::UnrecognizedMeetingUrl);
    };
    plan.platform = platform;
    plan.native = Some(native);
    plan.data
        .insert(data::CONSTRUCTED_MEETING_URL.into(), Value::from(url));
    Ok(())
}

/// `POST /meetings`: a planned meeting (`idle`, or `scheduled` with `scheduled_at`).
pub async fn create(state: &AppState, caller: &Caller, req: PlanRequest) -> Result<Meeting> {
    let mut data = Map::new();
    data.insert("auto_join".into(), Value::Bool(true));
    let empty = Plan {
        platform: Platform::Unknown,
        native: None,
        status: MeetingStatus::Idle,
        data,
    };
    let new = apply_plan(req, empty)?.into_meeting(caller.user_id);
    match state.store.create_planned(&new, state.clock.now()).await {
        Ok(m) => {
            lifecycle::publish_plan(state, &m);
            Ok(m)
        }
        Err(StoreError::Conflict(_)) => Err(MeetingsError::PlanExists {
            platform: new.platform,
            native: new.native_meeting_id,
        }),
        Err(e) => Err(e.into()),
    }
}

/// `data` of a patch: only the editable keys, strings or lists of strings, at most 64 KiB.
fn metadata(value: Option<Value>) -> Result<Option<Map<String, Value>>, InvalidInput> {
    let fields = match value {
        None => return Ok(None),
        Some(Value::Object(fields)) => fields,
        Some(_) => return Err(InvalidInput::DataNotAnObject),
    };
    let unknown: Vec<&str> = fields
        .keys()
        .map(String::as_str)
        .filter(|k| !META_FIELDS.contains(k))
        .collect();
    if !unknown.is_empty() {
        return Err(InvalidInput::DataUnknownFields(unknown.join(", ")));
    }
    for (k, v) in &fields {
        let text = matches!(k.as_str(), "name" | "notes");
        let ok = if text {
            v.is_string() || v.is_null()
        } else {
            v.is_null() || v.as_array().is_some_and(|a| a.iter().all(Value::is_string))
        };
        if !ok {
            let expected = if text {
                "a string"
            } else {
                "a list of strings"
            };
            return Err(InvalidInput::DataFieldType {
                field: k.clone(),
                expected,
            });
        }
    }
    if serde_json::to_vec(&fields).map_or(0, |v| v.len()) > MAX_META_BYTES {
        return Err(InvalidInput::DataTooLarge);
    }
    Ok(Some(fields))
}

/// `PATCH /meetings/{id}` and `/meetings/{platform}/{native}`.
pub async fn patch(
    state: &AppState,
    caller: &Caller,
    target: &MeetingRef,
    req: MeetingPatch,
) -> Result<Meeting> {
    let mut current = super::find(state, caller, target).await?;
    let meta = metadata(req.data)?;
    if !req.plan.is_present() && meta.is_none() {
        return Err(InvalidInput::NothingToEdit.into());
    }
    if req.plan.is_present() {
        current = replan(state, current, req.plan).await?;
        lifecycle::publish_plan(state, &current);
    }
    if let Some(meta) = meta {
        current = state
            .store
            .merge_data(current.id, &DataPatch::from(meta), state.clock.now())
            .await?
            .ok_or(MeetingsError::MeetingNotFound)?;
    }
    Ok(current)
}

/// Rewrites a plan; refused once a bot owns the meeting.
async fn replan(state: &AppState, current: Meeting, req: PlanRequest) -> Result<Meeting> {
    if !current.status.is_planned() {
        return Err(MeetingsError::NoLongerPlanned);
    }
    let before = Plan {
        platform: current.platform,
        native: current.native_meeting_id.clone(),
        status: current.status,
        data: current.data.clone(),
    };
    let new = apply_plan(req, before)?.into_meeting(current.user_id);
    match state
        .store
        .replan(current.id, &new, state.clock.now())
        .await
    {
        Ok(Some(m)) => Ok(m),
        Ok(None) => Err(MeetingsError::NoLongerPlanned),
        Err(StoreError::Conflict(_)) => Err(MeetingsError::LinkInUse),
        Err(e) => Err(e.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn detail(v: Value) -> String {
        match metadata(Some(v)) {
            Ok(_) => "ok".into(),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn metadata_is_checked_with_the_originals_words() {
        assert_eq!(detail(json!({"name": "x", "participants": ["a"]})), "ok");
        assert_eq!(
            detail(json!({"bogus": 1})),
            "data has unknown field(s): bogus — editable: name, participants, languages, notes"
        );
        assert_eq!(detail(json!({"name": 5})), "data.name must be a string");
        assert_eq!(
            detail(json!({"languages": [1]})),
            "data.languages must be a list of strings"
        );
        assert_eq!(detail(json!(null)), "'data' must be an object");
    }

    fn plan(body: &str) -> Result<Plan, String> {
        let req: PlanRequest = crate::wire::parse_object(body.as_bytes()).unwrap_or_default();
        let empty = Plan {
            platform: Platform::Unknown,
            native: None,
            status: MeetingStatus::Idle,
            data: Map::new(),
        };
        apply_plan(req, empty).map_err(|e| e.to_string())
    }

    #[test]
    fn plan_fields_are_checked_with_the_originals_words() {
        let p = plan(
            r#"{"meeting_url":"https://meet.google.com/abc-defg-hij","scheduled_at":"2030-01-01T10:00:00Z","title":" T "}"#,
        );
        let p = p.ok();
        assert_eq!(p.as_ref().map(|p| p.status), Some(MeetingStatus::Scheduled));
        assert_eq!(p.as_ref().map(|p| p.platform), Some(Platform::GoogleMeet));
        assert_eq!(
            p.and_then(|p| p.data.get("title").cloned()),
            Some(json!("T"))
        );
        assert_eq!(
            plan(r#"{"scheduled_at": 5}"#).err().as_deref(),
            Some("'scheduled_at' must be an ISO8601 string")
        );
        assert_eq!(
            plan(r#"{"auto_join": "maybe"}"#).err().as_deref(),
            Some("'auto_join' must be a boolean")
        );
        assert_eq!(
            plan(r#"{"meeting_url": "https://example.com/x"}"#)
                .err()
                .as_deref(),
            Some("unrecognized 'meeting_url'")
        );
    }
}
