//! JSON shapes on the wire: request bodies (`*Request`, strict: unknown fields are rejected) and
//! response views (`*View`). No rules live here beyond "what fields exist, of which type".
//! Key metadata goes out as core's `KeyRecord` itself (it has no field that could hold a
//! secret); a user goes out as core's `User` minus its secret `data` keys.
//!
//! Each type derives its OpenAPI schema (`ToSchema`), so the document at `/openapi.json` is the
//! shape of these very types.

use serde::{Deserialize, Deserializer, Serialize};
use serde_json::{Map, Value};
use utoipa::ToSchema;
use vexa_core::webhook::{masked_secret, Webhook};
use vexa_core::{KeyId, ScopeSet, Timestamp, User, UserId};

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
    }
}
