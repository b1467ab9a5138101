//! Storage ports for identities and keys. Implemented for SQLite and PostgreSQL in `vexa-store`;
//! the admin API writes through them and the gateway resolves keys through them.

use async_trait::async_trait;
use serde::Serialize;

use crate::audit::{AuditAction, AuditContext, AuditEntry, AuditFilter, AuditPage, ChainHead};
use crate::error::StoreError;
use crate::key::KeyDigest;
use crate::key_limits::{KeyLimits, KeyLimitsPatch};
use crate::principal::Principal;
use crate::replica::{ReplicaBeat, ReplicaRecord};
use crate::scope::ScopeSet;
use crate::time::Timestamp;
use crate::usage::{KeyUse, UsageCount};
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
    pub limits: KeyLimits,
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
    /// Shown as top-level `rate_limit_rps`, `rate_limit_burst`, `max_concurrent_bots` (`null`
    /// when the key has none of its own).
    #[serde(flatten)]
    pub limits: KeyLimits,
    /// Set once revoked (only lists that include revoked keys show such a record).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub revoked_at: Option<Timestamp>,
    /// The client address of the newest admitted use the gateway recorded.
    pub last_client: Option<String>,
    /// Set on a key that was rotated: the end of its grace period, after which it stops
    /// working and leaves the user's key list (see [`crate::rotate`]).
    /// Listed only when set, so the contract's list shape is unchanged for every other key.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retires_at: Option<Timestamp>,
}

impl KeyRecord {
    /// Listed and usable at `now` as far as rotation goes (revocation is the store's filter).
    pub fn is_retired_at(&self, now: Timestamp) -> bool {
        matches!(self.retires_at, Some(end) if now >= end)
    }
}

/// One key row by id, whatever its state: what rotation reads before it writes.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredKey {
    pub record: KeyRecord,
    pub revoked: bool,
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
    /// One key's stored state changed while it stays valid for now (a rotation set the end of
    /// its grace period, or its limits changed): cached resolutions of it are stale and must be
    /// read again.
    KeyChanged(KeyDigest),
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
    /// Every key of a user, revoked ones included, by id ascending; `None` when the user does
    /// not exist.
    async fn list_keys_with_revoked(
        &self,
        user: UserId,
    ) -> Result<Option<Vec<KeyRecord>>, StoreError>;
    /// Revokes a live key and returns its digest (so callers can evict caches at once);
    /// `None` when there is no such live key. Durable on return.
    async fn revoke_key(&self, id: KeyId, now: Timestamp) -> Result<Option<KeyDigest>, StoreError>;
    /// Applies `patch` to a live key's limits and records a [`IdentityChange::KeyChanged`] in
    /// the same transaction; the updated key and its digest (so callers can evict caches at
    /// once), or `None` when there is no such live key. Durable on return.
    async fn update_key_limits(
        &self,
        id: KeyId,
        patch: &KeyLimitsPatch,
        now: Timestamp,
    ) -> Result<Option<(KeyRecord, KeyDigest)>, StoreError>;
    /// The key `id` in whatever state (revoked, retired, expired); `None` when no such row.
    async fn key(&self, id: KeyId) -> Result<Option<StoredKey>, StoreError>;
    /// Rotates `old` in ONE transaction: claims it (only while it is neither revoked nor
    /// already rotated), stores `replacement`, and sets the old key's grace end `retires_at`
    /// (revoking it outright when `retires_at <= now`), recording the matching identity event.
    /// `Ok(None)` when the old key was revoked or rotated since it was read (nothing written).
    async fn rotate_key(
        &self,
        old: KeyId,
        replacement: &NewKey,
        retires_at: Timestamp,
        now: Timestamp,
    ) -> Result<Option<(KeyRecord, KeyDigest)>, StoreError>;
    /// Claims, for one notice each, up to `limit` live keys expiring in `(now, before]` whose
    /// notice nobody claimed yet, and returns them. The claim is a conditional UPDATE, so of
    /// several processes sweeping at once each key goes to exactly one.
    async fn claim_expiring_keys(
        &self,
        now: Timestamp,
        before: Timestamp,
        limit: i64,
    ) -> Result<Vec<KeyRecord>, StoreError>;
    /// Resolves a digest to its live (not revoked) key's principal, in one indexed lookup.
    /// Expiry is carried in the principal and checked by the caller against its clock.
    async fn resolve_key(&self, digest: &KeyDigest) -> Result<Option<Principal>, StoreError>;
    /// Records last use of keys, in one batch (write-behind from the gateway).
    async fn record_key_use(&self, uses: &[(KeyId, Timestamp)]) -> Result<(), StoreError>;
    /// One flush of the key-activity batcher, in one transaction: newest uses (time and client
    /// address) and usage counts ADDED to their per-hour rows (every replica adds its own).
    /// Counts of keys that no longer exist are dropped.
    async fn record_key_activity(
        &self,
        uses: &[KeyUse],
        counts: &[UsageCount],
    ) -> Result<(), StoreError>;
    /// A key's usage rows with `hour >= since`; `None` when there is no such key (revoked keys
    /// keep their usage).
    async fn key_usage(
        &self,
        id: KeyId,
        since: Timestamp,
    ) -> Result<Option<Vec<UsageCount>>, StoreError>;
    /// The usage rows with `hour >= since` of every key of a user.
    async fn user_key_usage(
        &self,
        user: UserId,
        since: Timestamp,
    ) -> Result<Vec<UsageCount>, StoreError>;

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

    /// Upserts one gateway replica's heartbeat (one row per replica id) and, in the same
    /// transaction, deletes rows not seen since `prune_before`. Stores without a replica
    /// registry (in-memory test stores, the benchmark's) keep nothing.
    async fn record_replica(
        &self,
        _beat: &ReplicaBeat,
        _prune_before: Timestamp,
    ) -> Result<(), StoreError> {
        Ok(())
    }
    /// Deletes a replica's row (its graceful shutdown). Absent rows are no error.
    async fn remove_replica(&self, _id: &str) -> Result<(), StoreError> {
        Ok(())
    }
    /// Every registered replica, oldest start first, with when the oldest identity event it
    /// has not applied was recorded.
    async fn replicas(&self) -> Result<Vec<ReplicaRecord>, StoreError> {
        Ok(Vec::new())
    }
}

/// The identity store with the admin mutations that write an audit entry (CONTRACT §10).
///
/// Each `*_audited` method makes the same change as its [`IdentityStore`] counterpart and appends
/// exactly one entry, sealed onto the hash chain, in the same transaction: the change and its
/// entry commit together or not at all, and concurrent writers (any number of processes on one
/// PostgreSQL) append one after another. The unaudited methods stay for callers that are not
/// admin mutations (the gateway, test fixtures). Nothing here updates or deletes an entry.
#[async_trait]
pub trait AuditedStore: IdentityStore {
    /// [`IdentityStore::create_or_find_user`]; an entry only when the user was created.
    async fn create_or_find_user_audited(
        &self,
        new: &NewUser,
        now: Timestamp,
        ctx: &AuditContext,
    ) -> Result<(User, bool), StoreError>;
    /// [`IdentityStore::update_user`], recorded as `action` (`user.update` or `user.webhook`).
    async fn update_user_audited(
        &self,
        id: UserId,
        patch: &UserPatch,
        action: AuditAction,
        now: Timestamp,
        ctx: &AuditContext,
    ) -> Result<Option<User>, StoreError>;
    async fn delete_user_audited(
        &self,
        id: UserId,
        now: Timestamp,
        ctx: &AuditContext,
    ) -> Result<bool, StoreError>;
    async fn insert_key_audited(
        &self,
        key: &NewKey,
        ctx: &AuditContext,
    ) -> Result<KeyRecord, StoreError>;
    async fn revoke_key_audited(
        &self,
        id: KeyId,
        now: Timestamp,
        ctx: &AuditContext,
    ) -> Result<Option<KeyDigest>, StoreError>;
    /// [`IdentityStore::rotate_key`], recorded as `key.rotate` on the old key.
    async fn rotate_key_audited(
        &self,
        old: KeyId,
        replacement: &NewKey,
        retires_at: Timestamp,
        now: Timestamp,
        ctx: &AuditContext,
    ) -> Result<Option<(KeyRecord, KeyDigest)>, StoreError>;
    /// [`IdentityStore::update_key_limits`], recorded as `key.update`.
    async fn update_key_limits_audited(
        &self,
        id: KeyId,
        patch: &KeyLimitsPatch,
        now: Timestamp,
        ctx: &AuditContext,
    ) -> Result<Option<(KeyRecord, KeyDigest)>, StoreError>;

    /// Entries matching `filter`, newest first, one page; plus how many match in all.
    async fn audit_page(
        &self,
        filter: &AuditFilter,
        page: AuditPage,
    ) -> Result<(Vec<AuditEntry>, i64), StoreError>;
    /// Entries with `seq > after_seq`, oldest first, at most `limit` (for verification).
    async fn audit_entries_from(
        &self,
        after_seq: i64,
        limit: i64,
    ) -> Result<Vec<AuditEntry>, StoreError>;
    /// The chain head the store keeps next to the log.
    async fn audit_head(&self) -> Result<ChainHead, StoreError>;
}
