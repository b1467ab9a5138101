//! The identity a valid key resolves to: what the gateway injects downstream.

use std::sync::Arc;

use crate::key_limits::KeyLimits;
use crate::scope::ScopeSet;
use crate::store::KeyId;
use crate::time::Timestamp;
use crate::user::UserId;

/// Who is calling, with what rights and limits. Cheap to clone (shared email).
#[derive(Debug, Clone, PartialEq)]
pub struct Principal {
    pub user_id: UserId,
    pub email: Arc<str>,
    pub scopes: ScopeSet,
    pub max_concurrent_bots: i64,
    pub key_id: KeyId,
    pub expires_at: Option<Timestamp>,
    /// The key's own limits, inside the user's (`max_concurrent_bots` above is the user's).
    pub limits: KeyLimits,
    /// When a rotated key stops working: the end of its grace period (`None` for a key that was
    /// never rotated). Kept apart from `expires_at` because a retired key is refused as invalid,
    /// never as "expired", and `/auth/me` keeps showing the expiry the key was minted with.
    pub retires_at: Option<Timestamp>,
    /// What else is known about the user, when the identity source knows it (the original's
    /// identity service answers workspaces and webhook settings; our store may not).
    pub profile: UserProfile,
}

/// Optional facts about a user that the original Vexa services read from the gateway
/// (`x-user-workspaces`, `x-user-webhook-*`). Empty by default: a source that does not know a
/// fact leaves it out, and the gateway then sends no header for it.
#[derive(Clone, Default, PartialEq)]
pub struct UserProfile {
    /// Workspace ids the user is a member of (`x-user-workspaces`, comma-joined).
    pub workspaces: Vec<String>,
    /// The user's webhook settings, when a webhook URL is set.
    pub webhook: Option<WebhookSettings>,
}

/// A user's webhook, as the original meeting-api copies it onto each meeting at `POST /bots`.
#[derive(Clone, PartialEq)]
pub struct WebhookSettings {
    pub url: String,
    /// The signing secret, when set. Never printed (see the `Debug` impl).
    pub secret: Option<String>,
    /// Which events fire (a JSON object of event name → bool), when set.
    pub events: Option<serde_json::Value>,
}

impl std::fmt::Debug for UserProfile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UserProfile")
            .field("workspaces", &self.workspaces)
            .field("webhook", &self.webhook)
            .finish()
    }
}

impl std::fmt::Debug for WebhookSettings {
    // By hand: the secret must never reach a log line or a debug print.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebhookSettings")
            .field("url", &self.url)
            .field("secret", &self.secret.as_ref().map(|_| "<redacted>"))
            .field("events", &self.events)
            .finish()
    }
}

impl Principal {
    /// Expired at `now` (a key is valid strictly before its `expires_at`).
    pub fn is_expired_at(&self, now: Timestamp) -> bool {
        matches!(self.expires_at, Some(exp) if now >= exp)
    }

    /// Past the grace end of a rotation at `now` (valid strictly before `retires_at`).
    pub fn is_retired_at(&self, now: Timestamp) -> bool {
        matches!(self.retires_at, Some(end) if now >= end)
    }

    /// The first instant the key stops working for either reason (what a long-lived
    /// connection authenticated by it waits for); `None` when it works until revoked.
    pub fn valid_until(&self) -> Option<Timestamp> {
        match (self.expires_at, self.retires_at) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_prints_the_webhook_secret() {
        let p = UserProfile {
            workspaces: vec!["ws1".into()],
            webhook: Some(WebhookSettings {
                url: "https://h.example/x".into(),
                secret: Some("whsec-very-secret".into()),
                events: None,
            }),
        };
        let printed = format!("{p:?}");
        assert!(!printed.contains("whsec-very-secret"), "{printed}");
        assert!(printed.contains("https://h.example/x"));
    }
}
