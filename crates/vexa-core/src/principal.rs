//! The identity a valid key resolves to: what the gateway injects downstream.

use std::sync::Arc;

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
}

impl Principal {
    /// Expired at `now` (a key is valid strictly before its `expires_at`).
    pub fn is_expired_at(&self, now: Timestamp) -> bool {
        matches!(self.expires_at, Some(exp) if now >= exp)
    }
}
