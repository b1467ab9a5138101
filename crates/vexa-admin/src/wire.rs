//! JSON shapes on the wire: request bodies (`*Request`, strict: unknown fields are rejected) and
//! response views (`*View`). No rules live here beyond "what fields exist, of which type".
//! Key metadata goes out as core's `KeyRecord` itself (it has no field that could hold a
//! secret) plus its status; a user goes out as core's `User` minus its secret `data` keys.
//!
//! Each type derives its OpenAPI schema (`ToSchema`), so the document at `/openapi.json` is the
//! shape of these very types.

use serde::{Deserialize, Deserializer, Serialize};
use serde_json::{Map, Value};
use utoipa::ToSchema;
use vexa_core::usage::{HourBucket, KeyStatus};
use vexa_core::webhook::{masked_secret, Webhook};
use vexa_core::{KeyId, KeyLimits, KeyLimitsPatch, KeyRecord, ScopeSet, Timestamp, User, UserId};

/// `POST /admin/users`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateUserRequest {
    #[schema(example = "jane@acme.com")]
    pub email: String,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub image_url: Option<String>,
    /// Default 3; at least 0.
    #[serde(default)]
    #[schema(minimum = 0, default = 3)]
    pub max_concurrent_bots: Option<i64>,
}

/// `PATCH /admin/users/{id}`. `Some(None)` means "explicit null" (clear the field).
/// At least one field; an unknown field is a 422.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(min_properties = 1)]
pub struct PatchUserRequest {
    #[serde(default, deserialize_with = "nullable")]
    pub name: Option<Option<String>>,
    #[serde(default, deserialize_with = "nullable")]
    pub image_url: Option<Option<String>>,
    #[serde(default)]
    pub max_concurrent_bots: Option<i64>,
    /// Shallow-merged into the user's `data`. Kept as a raw value so a non-object gets a clear
    /// message instead of a serde one.
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub data: Option<Value>,
}

/// `POST /admin/users/{id}/tokens` body; every field optional, `null` means "not given".
/// Wins over the query string field by field; with neither, the key gets `["bot"]`.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MintRequest {
    /// Non-empty; each of `bot`, `tx`, `browser`; duplicates are removed, order kept.
    #[serde(default)]
    #[schema(example = json!(["bot", "tx"]))]
    pub scopes: Option<Vec<String>>,
    #[serde(default)]
    pub name: Option<String>,
    /// Lifetime in seconds, > 0.
    #[serde(default)]
    #[schema(minimum = 1)]
    pub expires_in: Option<i64>,
    /// The key's own limits (CONTRACT §10); body only, absent or `null` means none.
    #[serde(default)]
    pub rate_limit_rps: Option<f64>,
    #[serde(default)]
    pub rate_limit_burst: Option<i64>,
    #[serde(default)]
    pub max_concurrent_bots: Option<i64>,
}

impl MintRequest {
    /// The limits the body asks for, still unvalidated.
    pub fn limits(&self) -> KeyLimits {
        KeyLimits {
            rate_limit_rps: self.rate_limit_rps,
            rate_limit_burst: self.rate_limit_burst,
            max_concurrent_bots: self.max_concurrent_bots,
        }
    }
}

/// `PATCH /admin/tokens/{id}`: any of the limits; `null` clears one (`Some(None)`).
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PatchKeyRequest {
    #[serde(default, deserialize_with = "nullable")]
    pub rate_limit_rps: Option<Option<f64>>,
    #[serde(default, deserialize_with = "nullable")]
    pub rate_limit_burst: Option<Option<i64>>,
    #[serde(default, deserialize_with = "nullable")]
    pub max_concurrent_bots: Option<Option<i64>>,
}

impl From<PatchKeyRequest> for KeyLimitsPatch {
    fn from(r: PatchKeyRequest) -> KeyLimitsPatch {
        KeyLimitsPatch {
            rate_limit_rps: r.rate_limit_rps,
            rate_limit_burst: r.rate_limit_burst,
            max_concurrent_bots: r.max_concurrent_bots,
        }
    }
}

/// `POST /admin/tokens/{id}/rotate` body; `null` means "not given" (no grace).
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RotateRequest {
    #[serde(default)]
    pub grace_seconds: Option<i64>,
}

/// Distinguishes an absent field (`None`, via `default`) from an explicit `null` (`Some(None)`).
fn nullable<'de, D, T>(d: D) -> Result<Option<Option<T>>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(d).map(Some)
}

/// A user as the admin API shows it: the stored [`User`], field for field, minus the `data` keys
/// that are secrets.
#[derive(Debug, Serialize, ToSchema)]
#[serde(transparent)]
pub struct UserView(User);

impl UserView {
    /// The user as shown (secret `data` keys already removed).
    pub fn as_user(&self) -> &User {
        &self.0
    }
}

impl From<User> for UserView {
    fn from(mut user: User) -> Self {
        vexa_core::webhook::without_secret_keys(&mut user.data);
        UserView(user)
    }
}

/// `GET /user/webhook`: the user's webhook as shown, never the secret, only whether one is set
/// and its last four characters (reference `vexa-gateway-identity.md` §1.3).
#[derive(Debug, Serialize, ToSchema)]
pub struct WebhookView {
    pub webhook_url: Option<String>,
    pub webhook_secret_set: bool,
    /// The secret masked to its last four characters, never in clear.
    pub webhook_secret: Option<String>,
    #[schema(value_type = Option<Object>)]
    pub webhook_events: Option<Map<String, Value>>,
}

impl WebhookView {
    pub fn new(hook: Option<&Webhook>) -> WebhookView {
        WebhookView {
            webhook_url: hook.map(|h| h.url.clone()),
            webhook_secret_set: hook.is_some_and(|h| h.secret.is_some()),
            webhook_secret: hook.and_then(|h| masked_secret(h.secret.as_deref())),
            webhook_events: hook.and_then(|h| h.events.clone()),
        }
    }
}

/// One key of `GET /admin/users/{id}/tokens`: its metadata and its status.
#[derive(Debug, Serialize, ToSchema)]
pub struct KeyView {
    #[serde(flatten)]
    pub key: KeyRecord,
    pub status: KeyStatus,
}

/// `GET /admin/tokens/{id}/usage`: every hour of the window, oldest first, summed over replicas.
#[derive(Debug, Serialize, ToSchema)]
pub struct UsageView {
    pub token_id: KeyId,
    pub hours: u32,
    pub buckets: Vec<HourBucket>,
}

/// The mint response: the only response that ever carries a key.
#[derive(Serialize, ToSchema)]
pub struct MintedKeyView {
    pub id: KeyId,
    /// The full key, shown this once and never again.
    #[schema(example = "vxa_bot_…")]
    pub token: String,
    pub user_id: UserId,
    pub scopes: ScopeSet,
    pub name: Option<String>,
    pub expires_at: Option<Timestamp>,
    pub created_at: Timestamp,
    /// `rate_limit_rps`, `rate_limit_burst`, `max_concurrent_bots`, as listed.
    #[serde(flatten)]
    pub limits: KeyLimits,
}

impl MintedKeyView {
    /// The answer that shows `key` its one time, with its stored row.
    pub fn shown_once(key: &vexa_core::MintedKey, record: vexa_core::KeyRecord) -> MintedKeyView {
        MintedKeyView {
            id: record.id,
            token: key.expose_secret().to_owned(),
            user_id: record.user_id,
            scopes: record.scopes,
            name: record.name,
            expires_at: record.expires_at,
            created_at: record.created_at,
            limits: record.limits,
        }
    }
}

impl std::fmt::Debug for MintedKeyView {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MintedKeyView")
            .field("id", &self.id)
            .field("token", &"<redacted>")
            .field("user_id", &self.user_id)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patch_distinguishes_absent_from_null() {
        let p: PatchUserRequest = serde_json::from_str(r#"{"name":null}"#).expect("valid");
        assert_eq!(p.name, Some(None));
        assert_eq!(p.image_url, None);
    }

    #[test]
    fn a_user_view_is_the_user_without_its_secret_data() {
        let data = serde_json::json!({"webhook_url": "https://h.example", "webhook_secret": "s3"});
        let user = User {
            id: UserId(1),
            email: "jane@acme.com".into(),
            name: Some("Jane".into()),
            image_url: None,
            max_concurrent_bots: 2,
            data: data.as_object().cloned().unwrap_or_default(),
            created_at: Timestamp(0),
        };
        let shown = serde_json::to_string(&UserView::from(user)).expect("json");
        assert_eq!(
            shown,
            r#"{"id":1,"email":"jane@acme.com","name":"Jane","image_url":null,"max_concurrent_bots":2,"data":{"webhook_url":"https://h.example"},"created_at":"1970-01-01T00:00:00Z"}"#
        );
    }

    #[test]
    fn unknown_fields_are_rejected() {
        assert!(serde_json::from_str::<MintRequest>(r#"{"scope":"bot"}"#).is_err());
        assert!(serde_json::from_str::<PatchUserRequest>(r#"{"email":"a@b.co"}"#).is_err());
        assert!(serde_json::from_str::<CreateUserRequest>(r#"{"email":"a@b.co","x":1}"#).is_err());
        assert!(serde_json::from_str::<PatchKeyRequest>(r#"{"rate_limit":1}"#).is_err());
    }
}

/// One entry of `GET /admin/audit`: the stored fields as hashed, `changes` as JSON, the time
/// both as RFC 3339 and as the epoch milliseconds the hash covers.
#[derive(Debug, Serialize, ToSchema)]
pub struct AuditEntryView {
    pub seq: i64,
    pub time: Timestamp,
    pub time_ms: i64,
    pub actor: String,
    pub action: String,
    pub user_id: Option<UserId>,
    pub key_id: Option<KeyId>,
    pub request_id: Option<String>,
    pub client_addr: Option<String>,
    /// What changed (keys by id and prefix only, a webhook secret as `"<set>"`).
    #[schema(value_type = Object)]
    pub changes: Value,
    pub prev_hash: String,
    pub hash: String,
}

impl From<vexa_core::audit::AuditEntry> for AuditEntryView {
    fn from(e: vexa_core::audit::AuditEntry) -> Self {
        AuditEntryView {
            seq: e.seq,
            time: e.time,
            time_ms: e.time.0,
            // Text that is not JSON (an edited row) is shown as the string it is.
            changes: serde_json::from_str(&e.changes).unwrap_or(Value::String(e.changes)),
            actor: e.actor,
            action: e.action,
            user_id: e.user_id,
            key_id: e.key_id,
            request_id: e.request_id,
            client_addr: e.client_addr,
            prev_hash: e.prev_hash,
            hash: e.hash,
        }
    }
}
