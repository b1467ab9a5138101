//! Meetings as records on the wire: the listing queries, plan and metadata bodies, the meeting
//! view (with the projection that keeps secrets out of `data`) and the list shapes.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use vexa_core::meeting::{data, Meeting, MeetingId, MeetingStatus, Platform};
use vexa_core::{Timestamp, UserId};

use super::field::{present, Flag, Text};

/// `GET /meetings`, `GET /bots` and `GET /bots/status` (which reads only `platform`). Values
/// are checked by the listing service, with the original's words. Read through a map, so
/// unknown parameters are ignored and a repeated one counts once (the last), as they always
/// have been.
#[derive(Debug, Default, Deserialize)]
#[serde(from = "HashMap<String, String>")]
pub struct ListQuery {
    pub limit: Option<String>,
    pub offset: Option<String>,
    pub status: Option<String>,
    pub exclude_planned: Option<String>,
    pub platform: Option<String>,
}

impl From<HashMap<String, String>> for ListQuery {
    fn from(mut params: HashMap<String, String>) -> ListQuery {
        ListQuery {
            limit: params.remove("limit"),
            offset: params.remove("offset"),
            status: params.remove("status"),
            exclude_planned: params.remove("exclude_planned"),
            platform: params.remove("platform"),
        }
    }
}

/// `POST /meetings`, and the plan fields of `PATCH /meetings/…`.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct PlanRequest {
    pub title: Text,
    pub scheduled_at: Text,
    pub meeting_url: Text,
    pub workspace_id: Text,
    pub auto_join: Flag,
}

impl PlanRequest {
    /// Any plan field is in the body (even as `null`, which clears it).
    pub fn is_present(&self) -> bool {
        self.title.is_present()
            || self.scheduled_at.is_present()
            || self.meeting_url.is_present()
            || self.workspace_id.is_present()
            || self.auto_join.is_present()
    }
}

/// `PATCH /meetings/{id}` and `PATCH /meetings/{platform}/{native}`: plan fields (planned rows
/// only) and/or `data` metadata (any status).
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct MeetingPatch {
    #[serde(flatten)]
    pub plan: PlanRequest,
    /// `{"name"?, "participants"?, "languages"?, "notes"?}`; checked when read.
    #[serde(deserialize_with = "present")]
    pub data: Option<Value>,
}

/// A meeting as the API shows it.
#[derive(Debug, Clone, Serialize)]
pub struct MeetingView {
    pub id: MeetingId,
    pub user_id: UserId,
    pub platform: Platform,
    pub native_meeting_id: Option<String>,
    pub constructed_meeting_url: Option<String>,
    pub status: MeetingStatus,
    pub bot_container_id: Option<String>,
    pub start_time: Option<Timestamp>,
    pub end_time: Option<Timestamp>,
    pub completion_reason: Option<String>,
    pub failure_stage: Option<String>,
    /// Sharing is not implemented: always `false`.
    pub shared: bool,
    /// `Meeting.data` without its secrets.
    pub data: Map<String, Value>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

/// `data` keys too bulky or internal for list rows (still shown by `GET /meetings/{id}`).
const LIST_HIDDEN_KEYS: &[&str] = &[
    data::STATUS_TRANSITION,
    "bot_logs",
    "speaker_events",
    "recordings",
];

impl MeetingView {
    pub fn new(m: &Meeting) -> MeetingView {
        MeetingView {
            id: m.id,
            user_id: m.user_id,
            platform: m.platform,
            native_meeting_id: m.native_meeting_id.clone(),
            constructed_meeting_url: m.meeting_url(),
            status: m.status,
            bot_container_id: m.bot_container_id.clone(),
            start_time: m.start_time,
            end_time: m.end_time,
            completion_reason: m.completion_reason.clone(),
            failure_stage: m.failure_stage.clone(),
            shared: false,
            data: without_secrets(&m.data),
            created_at: m.created_at,
            updated_at: m.updated_at,
        }
    }

    /// The full view, with the bot sessions of the meeting in `data.sessions`.
    pub fn with_sessions(m: &Meeting, sessions: Vec<String>) -> MeetingView {
        let mut view = MeetingView::new(m);
        view.data.insert("sessions".into(), Value::from(sessions));
        view
    }

    /// The meeting as a webhook event carries it: without the webhook settings themselves
    /// (reference `vexa-meetings.md` §8.2, "cleaned").
    pub fn for_webhook(m: &Meeting) -> MeetingView {
        let mut view = MeetingView::new(m);
        for k in vexa_core::webhook::WEBHOOK_KEYS {
            view.data.remove(k);
        }
        view
    }

    /// A list row: light, the bulky keys are left to `GET /meetings/{id}`.
    pub fn row(m: &Meeting) -> MeetingView {
        let mut view = MeetingView::new(m);
        for k in LIST_HIDDEN_KEYS {
            view.data.remove(*k);
        }
        view
    }
}

/// Keys of `data` never shown to anyone.
fn is_secret_key(k: &str) -> bool {
    const EXACT: &[&str] = &[
        "webhook_secret",
        "webhook_secrets",
        "share_grants",
        "auth_userdata_path",
        "passcode",
        "token",
        "secret",
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
    EXACT.contains(&k.as_str()) || SUFFIX.iter().any(|s| k.ends_with(s))
}

/// `data` as shown: every secret key left out.
pub fn without_secrets(data: &Map<String, Value>) -> Map<String, Value> {
    data.iter()
        .filter(|(k, _)| !is_secret_key(k))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

/// `GET /meetings`.
#[derive(Debug, Serialize)]
pub struct MeetingList {
    pub meetings: Vec<MeetingView>,
}

/// `GET /bots`: a page of meetings and whether there is a next one.
#[derive(Debug, Serialize)]
pub struct BotList {
    pub meetings: Vec<MeetingView>,
    pub has_more: bool,
}

/// `GET /bots/status`: the live bots, under both names clients read.
#[derive(Debug, Serialize)]
pub struct RunningBots {
    pub count: usize,
    pub running: Vec<MeetingView>,
    pub running_bots: Vec<MeetingView>,
}

impl RunningBots {
    pub fn new(rows: Vec<MeetingView>) -> RunningBots {
        RunningBots {
            count: rows.len(),
            running: rows.clone(),
            running_bots: rows,
        }
    }
}

/// The answer to `DELETE /meetings/{platform}/{native}`.
#[derive(Debug, Serialize)]
pub struct DeleteReceipt {
    pub status: &'static str,
    pub id: MeetingId,
    pub platform: Platform,
    pub native_meeting_id: Option<String>,
    /// Set when a finished meeting's transcript was erased (rather than a plan deleted).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub deleted: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub objects_deleted: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub backup_residuals: Option<&'static str>,
}

impl DeleteReceipt {
    /// `artifacts`: the meeting was finished and its transcript erased (not a plan deleted).
    pub fn new(m: &Meeting, artifacts: bool) -> DeleteReceipt {
        DeleteReceipt {
            status: "deleted",
            id: m.id,
            platform: m.platform,
            native_meeting_id: m.native_meeting_id.clone(),
            deleted: artifacts.then_some("completed_meeting_artifacts"),
            objects_deleted: artifacts.then_some(0),
            backup_residuals: artifacts
                .then_some(vexa_core::meeting::ArtifactDeletion::BACKUP_RESIDUALS),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn secrets_never_leave_in_data() {
        let d = json!({"webhook_secret": "x", "bot_token": "y", "name": "Weekly", "passcode": "p", "Token": "t"});
        let got = without_secrets(d.as_object().unwrap_or(&Map::new()));
        assert_eq!(Value::Object(got), json!({"name": "Weekly"}));
    }

    #[test]
    fn a_repeated_query_parameter_counts_once_and_unknown_ones_are_ignored() {
        let uri: axum::http::Uri = "/meetings?limit=1&limit=7&bogus=x"
            .parse()
            .unwrap_or_default();
        let query = axum::extract::Query::<ListQuery>::try_from_uri(&uri).map(|q| q.0);
        assert_eq!(query.ok().and_then(|q| q.limit).as_deref(), Some("7"));
    }

    #[test]
    fn a_patch_reads_plan_fields_and_metadata_side_by_side() {
        let p: MeetingPatch =
            crate::wire::parse_object(br#"{"scheduled_at": null, "data": {"name": "x"}}"#)
                .unwrap_or_default();
        assert!(p.plan.is_present());
        assert_eq!(p.plan.scheduled_at, Text::Null);
        assert_eq!(p.data, Some(json!({"name": "x"})));
        let p: MeetingPatch = crate::wire::parse_object(br#"{"data": null}"#).unwrap_or_default();
        assert!(!p.plan.is_present());
        assert_eq!(p.data, Some(Value::Null));
    }
}
