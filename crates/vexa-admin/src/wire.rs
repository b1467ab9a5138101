//! JSON shapes on the wire: request bodies (`*Request`, strict: unknown fields are rejected) and
//! response views (`*View`). No rules live here beyond "what fields exist, of which type".

use serde::{Deserialize, Deserializer, Serialize};
use serde_json::{Map, Value};
use vexa_core::{KeyId, KeyRecord, ScopeSet, Timestamp, User, UserId};

/// `POST /admin/users`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateUserRequest {
    pub email: String,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub image_url: Option<String>,
    #[serde(default)]
    pub max_concurrent_bots: Option<i64>,
}

/// `PATCH /admin/users/{id}`. `Some(None)` means "explicit null" (clear the field).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PatchUserRequest {
    #[serde(default, deserialize_with = "nullable")]
    pub name: Option<Option<String>>,
    #[serde(default, deserialize_with = "nullable")]
    pub image_url: Option<Option<String>>,
    #[serde(default)]
    pub max_concurrent_bots: Option<i64>,
    /// Kept as a raw value so a non-object gets a clear message instead of a serde one.
    #[serde(default)]
    pub data: Option<Value>,
}

/// `POST /admin/users/{id}/tokens` body; every field optional, `null` means "not given".
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MintRequest {
    #[serde(default)]
    pub scopes: Option<Vec<String>>,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
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

/// `data` keys that are secrets and never shown back.
const HIDDEN_DATA_KEYS: &[&str] = &["webhook_secret"];

/// A user as the admin API shows it.
#[derive(Debug, Serialize)]
pub struct UserView {
    pub id: UserId,
    pub email: String,
    pub name: Option<String>,
    pub image_url: Option<String>,
    pub max_concurrent_bots: i64,
    pub data: Map<String, Value>,
    pub created_at: Timestamp,
}

impl From<User> for UserView {
    fn from(u: User) -> Self {
        let mut data = u.data;
        for k in HIDDEN_DATA_KEYS {
            data.remove(*k);
        }
        UserView {
            id: u.id,
            email: u.email,
            name: u.name,
            image_url: u.image_url,
            max_concurrent_bots: u.max_concurrent_bots,
            data,
            created_at: u.created_at,
        }
    }
}

/// Key metadata; deliberately has no field that could hold the secret.
#[derive(Debug, Serialize)]
pub struct KeyView {
    pub id: KeyId,
    pub user_id: UserId,
    pub scopes: ScopeSet,
    pub name: Option<String>,
    pub prefix: String,
    pub created_at: Timestamp,
    pub last_used_at: Option<Timestamp>,
    pub expires_at: Option<Timestamp>,
}

impl From<KeyRecord> for KeyView {
    fn from(k: KeyRecord) -> Self {
        KeyView {
            id: k.id,
            user_id: k.user_id,
            scopes: k.scopes,
            name: k.name,
            prefix: k.prefix,
            created_at: k.created_at,
            last_used_at: k.last_used_at,
            expires_at: k.expires_at,
        }
    }
}

/// The mint response: the only response that ever carries a key.
#[derive(Serialize)]
pub struct MintedKeyView {
    pub id: KeyId,
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
    fn unknown_fields_are_rejected() {
        assert!(serde_json::from_str::<MintRequest>(r#"{"scope":"bot"}"#).is_err());
        assert!(serde_json::from_str::<PatchUserRequest>(r#"{"email":"a@b.co"}"#).is_err());
        assert!(serde_json::from_str::<CreateUserRequest>(r#"{"email":"a@b.co","x":1}"#).is_err());
    }
}
