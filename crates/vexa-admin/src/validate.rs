//! `POST /internal/validate`, the original Vexa identity service's oracle
//! (`reference/vexa-gateway-identity.md` §1.4), over our store: the presented key is digested
//! (any format: our own keys and imported ones are stored by the SHA-256 of the raw string),
//! resolved, checked for expiry, and answered in the original's shape. Last use and the usage
//! counts (`allowed`, `expired`) go to the shared write-behind batcher, never written per
//! validation. Knows nothing of HTTP.

use std::sync::Arc;

use serde::Serialize;
use serde_json::{Map, Value};
use vexa_core::last_used::LastUsed;
use vexa_core::usage::Outcome;
use vexa_core::{Clock, IdentityStore, KeyDigest, Principal, Timestamp, User};

use crate::error::AdminError;

/// The 200 answer, field for field as the original's.
#[derive(Debug, Serialize, PartialEq, utoipa::ToSchema)]
pub struct ValidationView {
    pub user_id: i64,
    /// The key's scopes; `["legacy"]` for a scope-less row, as the original answers it.
    #[schema(value_type = Vec<String>)]
    pub scopes: Vec<&'static str>,
    pub max_concurrent: i64,
    pub email: String,
    pub is_admin: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Value>)]
    pub webhook_url: Option<Value>,
    /// In clear, as the original sends it over this internal hop.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Value>)]
    pub webhook_secret: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub webhook_events: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Vec<Object>>)]
    pub workspaces: Option<Vec<Value>>,
}

/// Resolves keys for the original's services.
pub struct Validator {
    store: Arc<dyn IdentityStore>,
    clock: Arc<dyn Clock>,
    last_used: Arc<LastUsed>,
}

impl Validator {
    pub fn new(
        store: Arc<dyn IdentityStore>,
        clock: Arc<dyn Clock>,
        last_used: Arc<LastUsed>,
    ) -> Validator {
        Validator {
            store,
            clock,
            last_used,
        }
    }

    /// Validates the `token` member of the request body (any JSON value, as the original reads
    /// `payload.get("token")`).
    pub async fn validate(&self, token: Option<&Value>) -> Result<ValidationView, AdminError> {
        let raw = match token {
            Some(Value::String(s)) if !s.is_empty() => s.as_str(),
            // Python truthiness: a falsy value is "missing", any other non-string matches no row.
            None | Some(Value::Null | Value::Bool(false)) => return Err(AdminError::MissingToken),
            Some(Value::String(_)) => return Err(AdminError::MissingToken),
            Some(Value::Array(a)) if a.is_empty() => return Err(AdminError::MissingToken),
            Some(Value::Object(o)) if o.is_empty() => return Err(AdminError::MissingToken),
            Some(Value::Number(n)) if n.as_f64() == Some(0.0) => {
                return Err(AdminError::MissingToken)
            }
            Some(_) => return Err(AdminError::InvalidToken),
        };
        let digest = KeyDigest::of(raw);
        let principal = self
            .store
            .resolve_key(&digest)
            .await?
            .ok_or(AdminError::InvalidToken)?;
        let now = self.clock.now();
        // Past a rotation's grace end the key answers as revoked, never as expired.
        if principal.is_retired_at(now) {
            return Err(AdminError::InvalidToken);
        }
        if expired(&principal, now) {
            self.last_used
                .record(principal.key_id, now, None, Outcome::Expired);
            return Err(AdminError::TokenExpired);
        }
        let user = self
            .store
            .user(principal.user_id)
            .await?
            .ok_or(AdminError::InvalidToken)?;
        // The caller is the original's gateway, not the client: no client address to note.
        self.last_used
            .record(principal.key_id, now, None, Outcome::Allowed);
        Ok(answer(&principal, &user))
    }
}

/// The original's rule: expired when `expires_at < now` (strictly).
fn expired(p: &Principal, now: Timestamp) -> bool {
    matches!(p.expires_at, Some(exp) if exp < now)
}

/// The answer for a live key of `user`, from the key's scopes and the user's `data`.
pub fn answer(p: &Principal, user: &User) -> ValidationView {
    let mut scopes: Vec<&'static str> = p.scopes.iter().map(|s| s.as_str()).collect();
    if scopes.is_empty() {
        scopes.push("legacy");
    }
    let data = &user.data;
    let set = |k: &str| data.get(k).filter(|v| truthy(v)).cloned();
    let webhook_url = set("webhook_url");
    let (webhook_secret, webhook_events) = match webhook_url {
        Some(_) => (set("webhook_secret"), set("webhook_events")),
        None => (None, None),
    };
    ValidationView {
        user_id: user.id.0,
        scopes,
        max_concurrent: user.max_concurrent_bots,
        email: user.email.clone(),
        is_admin: data.get("is_admin") == Some(&Value::Bool(true)),
        webhook_url,
        webhook_secret,
        webhook_events,
        workspaces: workspaces(data),
    }
}

/// `data.memberships[].workspace_id`, present only when `memberships` is a list.
fn workspaces(data: &Map<String, Value>) -> Option<Vec<Value>> {
    let list = data.get("memberships")?.as_array()?;
    Some(
        list.iter()
            .filter_map(|m| m.get("workspace_id").cloned())
            .collect(),
    )
}

/// Python truthiness of a JSON value (the original tests `if user.data.get(...)`).
fn truthy(v: &Value) -> bool {
    match v {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64() != Some(0.0),
        Value::String(s) => !s.is_empty(),
        Value::Array(a) => !a.is_empty(),
        Value::Object(o) => !o.is_empty(),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;
    use vexa_core::{KeyId, ScopeSet, UserId, UserProfile};

    use super::*;

    fn principal(scopes: ScopeSet) -> Principal {
        Principal {
            user_id: UserId(1),
            email: "jane@acme.com".into(),
            scopes,
            max_concurrent_bots: 3,
            key_id: KeyId(7),
            expires_at: Some(Timestamp(1000)),
            limits: vexa_core::KeyLimits::NONE,
            retires_at: None,
            profile: UserProfile::default(),
        }
    }

    fn user(data: Value) -> User {
        User {
            id: UserId(1),
            email: "jane@acme.com".into(),
            name: None,
            image_url: None,
            max_concurrent_bots: 5,
            data: data.as_object().cloned().unwrap_or_default(),
            created_at: Timestamp(0),
        }
    }

    #[test]
    fn the_answer_has_the_originals_shape_and_optional_fields() {
        let a = answer(
            &principal(ScopeSet::parse_names(["bot", "tx"]).unwrap_or_default()),
            &user(
                json!({"webhook_url": "https://h.example/x", "webhook_secret": "s3",
                         "is_admin": true, "memberships": [{"workspace_id": "wsA"}, {"role": "x"}]}),
            ),
        );
        assert_eq!(
            serde_json::to_value(&a).ok(),
            Some(
                json!({"user_id": 1, "scopes": ["bot", "tx"], "max_concurrent": 5,
                        "email": "jane@acme.com", "is_admin": true,
                        "webhook_url": "https://h.example/x", "webhook_secret": "s3",
                        "workspaces": ["wsA"]})
            )
        );
    }

    #[test]
    fn a_scope_less_row_answers_legacy_and_webhook_extras_need_the_url() {
        let a = answer(
            &principal(ScopeSet::default()),
            &user(
                json!({"webhook_secret": "s3", "webhook_events": {"a": true}, "is_admin": "true"}),
            ),
        );
        assert_eq!(a.scopes, vec!["legacy"]);
        assert!(!a.is_admin, "only the JSON boolean true");
        assert_eq!(
            (a.webhook_secret, a.webhook_events, a.workspaces),
            (None, None, None)
        );
    }

    #[test]
    fn expiry_is_strict_as_the_original() {
        let p = principal(ScopeSet::default());
        assert!(!expired(&p, Timestamp(1000)));
        assert!(expired(&p, Timestamp(1001)));
    }
}
