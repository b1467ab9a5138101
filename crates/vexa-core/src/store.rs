//! Storage ports for identities and keys. Implemented for SQLite and PostgreSQL in `vexa-store`;
//! the admin API writes through them and the gateway resolves keys through them.

use async_trait::async_trait;
use serde::Serialize;

use crate::error::StoreError;
use crate::key::KeyDigest;
use crate::principal::Principal;
use crate::scope::ScopeSet;
use crate::time::Timestamp;
use crate::user::{Email, NewUser, User, UserId, UserPatch};

/// Database id of an API key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, utoipa::ToSchema)]
#[serde(transparent)]
pub struct KeyId(pub i64);

/// A key to store: only its digest and display prefix, never the secret.
#[derive(Debug, Clone)]
pub struct NewKey {
    pub user_id: UserId,
    pub digest: KeyDigest,
    pub display_prefix: String,
    pub scopes: ScopeSet,
    pub name: Option<String>,
    pub created_at: Timestamp,
    pub expires_at: Option<Timestamp>,
}

/// A key's metadata as listed by the admin API.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct KeyRecord {
    pub id: KeyId,
    pub user_id: UserId,
    pub scopes: ScopeSet,
    pub name: Option<String>,
    pub prefix: String,
    pub created_at: Timestamp,
    pub last_used_at: Option<Timestamp>,
    pub expires_at: Option<Timestamp>,
}

/// A change that makes cached resolutions stale, in the order the store recorded it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdentityEvent {
    pub seq: i64,
    pub change: IdentityChange,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IdentityChange {
    /// One key was revoked.
    KeyRevoked(KeyDigest),
    /// A user was updated or deleted: every cached key of this user is stale.
    UserChanged(UserId),
}

/// Whoever must act on an [`IdentityChange`] in this process: the gateway's `Invalidator` evicts
/// cached keys and closes revoked WebSockets. The admin API calls it right after its own change
/// commits (so the process that served a revocation enforces it before answering), and
/// `vexa_store::watch` calls it for every change any process records.
///
/// Called synchronously on the caller's task: it must not block. Work that needs I/O is spawned.
pub trait IdentityListener: Send + Sync {
    /// Applies one change. May be called twice for the same change (an in-process notification
    /// and the event log); applying it again must be harmless.
    fn on_change(&self, change: &IdentityChange);
}

/// The listener of a process with no key cache to keep fresh (an admin API on its own).
#[derive(Debug, Clone, Copy, Default)]
pub struct IgnoreChanges;

impl IdentityListener for IgnoreChanges {
    fn on_change(&self, _change: &IdentityChange) {}
}

/// Users and keys. Every method is one short transaction; none holds a lock across calls.
#[async_trait]
pub trait IdentityStore: Send + Sync + 'static {
    /// Inserts the user, or returns the existing one with the same email (case-insensitive),
    /// unchanged. `true` when created. Safe under concurrent calls for one email.
    async fn create_or_find_user(
        &self,
        new: &NewUser,
        now: Timestamp,
    ) -> Result<(User, bool), StoreError>;
    async fn user(&self, id: UserId) -> Result<Option<User>, StoreError>;
    async fn user_by_email(&self, email: &Email) -> Result<Option<User>, StoreError>;
    /// A page of users, oldest first, plus the total count.
    async fn list_users(&self, skip: i64, limit: i64) -> Result<(Vec<User>, i64), StoreError>;
    /// Applies the patch (shallow-merging `data`); `None` when the user does not exist.
    async fn update_user(&self, id: UserId, patch: &UserPatch) -> Result<Option<User>, StoreError>;
    /// Deletes the user and revokes all their keys; `false` when there was no such user.
    async fn delete_user(&self, id: UserId, now: Timestamp) -> Result<bool, StoreError>;

    /// Stores a key; `StoreError::NotFound` when the user does not exist. Durable on return.
    async fn insert_key(&self, key: &NewKey) -> Result<KeyRecord, StoreError>;
    /// Live keys of a user, by id ascending; `None` when the user does not exist.
    async fn list_keys(&self, user: UserId) -> Result<Option<Vec<KeyRecord>>, StoreError>;
    /// Revokes a live key and returns its digest (so callers can evict caches at once);
    /// `None` when there is no such live key. Durable on return.
    async fn revoke_key(&self, id: KeyId, now: Timestamp) -> Result<Option<KeyDigest>, StoreError>;
    /// Resolves a digest to its live (not revoked) key's principal, in one indexed lookup.
    /// Expiry is carried in the principal and checked by the caller against its clock.
    async fn resolve_key(&self, digest: &KeyDigest) -> Result<Option<Principal>, StoreError>;
    /// Records last use of keys, in one batch (write-behind from the gateway).
    async fn record_key_use(&self, uses: &[(KeyId, Timestamp)]) -> Result<(), StoreError>;

    /// Changes recorded after `after_seq`, oldest first, at most `limit`.
    async fn events_since(
        &self,
        after_seq: i64,
        limit: i64,
    ) -> Result<Vec<IdentityEvent>, StoreError>;
    /// The newest change's sequence number (0 when none).
    async fn latest_event_seq(&self) -> Result<i64, StoreError>;
    /// Whether live keys imported from an original Vexa (not in our checksum format) exist; the
    /// gateway then resolves malformed-looking keys by digest. Stores without imports say no.
    async fn holds_imported_keys(&self) -> Result<bool, StoreError> {
        Ok(false)
    }
    /// Cheap liveness check of the connection.
    async fn ping(&self) -> Result<(), StoreError>;
}
