//! SQLite and PostgreSQL implementation of [`IdentityStore`], one code path for both.
//!
//! Keys are stored as SHA-256 digests only. Every change that makes a cached resolution stale
//! (revocation, rotation, a key's limits, user update or deletion) appends to `identity_events`
//! in the same transaction, so other processes can follow the log (see [`crate::watch`]); on
//! PostgreSQL a trigger also NOTIFYs them at commit. Each mutation exists once; its audited form
//! (the admin mutations, [`vexa_core::AuditedStore`] in `crate::audited`) also appends the audit
//! entry in the same transaction, through `crate::chain`.

use std::sync::Arc;

use async_trait::async_trait;
use serde_json::{Map, Value};
use vexa_core::audit::{self, AuditAction, AuditContext};
use vexa_core::usage::{KeyUse, Outcome, UsageCount};
use vexa_core::{
    Email, IdentityChange, IdentityEvent, IdentityStore, KeyDigest, KeyId, KeyLimits,
    KeyLimitsPatch, KeyRecord, NewKey, NewUser, Principal, ScopeSet, StoreError, StoredKey,
    Timestamp, User, UserId, UserPatch, UserProfile,
};

use crate::chain::append_entry;
use crate::{map_err, now_millis, with_pool, Db};

/// The identity store over a [`Db`].
#[derive(Debug, Clone)]
pub struct SqlIdentityStore {
    pub(crate) db: Db,
    event_retention: i64,
}

/// How many of the newest identity events are kept. Followers read events within milliseconds
/// of their commit, so this only has to outlast a follower's outage at the highest write rate.
pub const EVENT_RETENTION: i64 = 100_000;
/// Old events are pruned on every this-many-th event, so pruning is rare and concurrent
/// writers almost never contend on it.
const PRUNE_EVERY: i64 = 256;

impl SqlIdentityStore {
    pub fn new(db: Db) -> Self {
        SqlIdentityStore {
            db,
            event_retention: EVENT_RETENTION,
        }
    }

    /// A user's keys (live only unless `with_revoked`); `None` when the user does not exist.
    async fn keys_of(
        &self,
        user: UserId,
        with_revoked: bool,
    ) -> Result<Option<Vec<KeyRecord>>, StoreError> {
        with_pool!(&self.db, p => {
            let mut tx = p.begin().await.map_err(map_err)?;
            let exists: Option<(i64,)> = sqlx::query_as("SELECT id FROM users WHERE id = $1")
                .bind(user.0)
                .fetch_optional(&mut *tx)
                .await
                .map_err(map_err)?;
            if exists.is_none() {
                return Ok(None);
            }
            let rows: Vec<KeyRow> = sqlx::query_as(&format!(
                "SELECT {KEY_COLS} FROM api_keys WHERE user_id = $1 AND ($2 OR revoked_at IS NULL) ORDER BY id"
            ))
            .bind(user.0)
            .bind(with_revoked)
            .fetch_all(&mut *tx)
            .await
            .map_err(map_err)?;
            tx.commit().await.map_err(map_err)?;
            Ok(Some(rows.into_iter().map(to_key).collect()))
        })
    }

    /// How a mutation's transaction starts. An audited one on SQLite is `BEGIN IMMEDIATE`: it
    /// takes the write lock up front (waiting under the busy timeout) before the chain head is
    /// read, so the head can never come from a snapshot another writer has moved past. PostgreSQL
    /// serializes on the head row's lock instead.
    pub(crate) fn begin(&self, audited: bool) -> &'static str {
        match (&self.db, audited) {
            (Db::Sqlite(_), true) => "BEGIN IMMEDIATE",
            _ => "BEGIN",
        }
    }

    /// Keeps only the newest `n` events (tests use a small `n`).
    pub fn with_event_retention(mut self, n: i64) -> Self {
        self.event_retention = n.max(1);
        self
    }
}

/// The columns of [`UserRow`], in its field order.
const USER_COLS: &str = "id, email, name, image_url, max_concurrent_bots, data, created_at";

/// One `users` row as stored, read by column name.
#[derive(sqlx::FromRow)]
struct UserRow {
    id: i64,
    email: String,
    name: Option<String>,
    image_url: Option<String>,
    max_concurrent_bots: i64,
    /// A JSON object, as text.
    data: String,
    created_at: i64,
}

/// The columns of [`KeyRow`], in its field order.
const KEY_COLS: &str = "id, user_id, scopes, name, prefix, created_at, last_used_at, expires_at, \
     rate_limit_rps, rate_limit_burst, max_concurrent_bots, revoked_at, last_client, retires_at";

/// One `api_keys` row as stored (never the digest), read by column name.
#[derive(sqlx::FromRow)]
struct KeyRow {
    id: i64,
    user_id: i64,
    /// Comma-separated scope names.
    scopes: String,
    name: Option<String>,
    prefix: String,
    created_at: i64,
    last_used_at: Option<i64>,
    expires_at: Option<i64>,
    rate_limit_rps: Option<f64>,
    rate_limit_burst: Option<i64>,
    max_concurrent_bots: Option<i64>,
    revoked_at: Option<i64>,
    last_client: Option<String>,
    retires_at: Option<i64>,
}

/// One `key_usage` row.
#[derive(sqlx::FromRow)]
struct UsageRow {
    key_id: i64,
    hour: i64,
    outcome: String,
    count: i64,
}

/// What resolving a key reads: the key's own columns and its user's.
#[derive(sqlx::FromRow)]
struct ResolvedRow {
    /// `k.id`: the key's id.
    #[sqlx(rename = "id")]
    key_id: i64,
    user_id: i64,
    scopes: String,
    expires_at: Option<i64>,
    retires_at: Option<i64>,
    email: String,
    max_concurrent_bots: i64,
    rate_limit_rps: Option<f64>,
    rate_limit_burst: Option<i64>,
    key_max_concurrent_bots: Option<i64>,
}

/// One `identity_events` row.
#[derive(sqlx::FromRow)]
struct EventRow {
    seq: i64,
    kind: String,
    key_digest: Option<String>,
    user_id: Option<i64>,
}

const KIND_KEY_REVOKED: &str = "key_revoked";
const KIND_USER_CHANGED: &str = "user_changed";
const KIND_KEY_CHANGED: &str = "key_changed";
const INSERT_EVENT: &str =
    "INSERT INTO identity_events (kind, key_digest, user_id, created_at) VALUES ($1, $2, $3, $4) RETURNING seq";

/// Appends an event inside the caller's transaction and now and then prunes the oldest ones.
macro_rules! record_event {
    ($self:expr, $tx:expr, $kind:expr, $digest:expr, $user:expr, $now:expr) => {{
        let (seq,): (i64,) = sqlx::query_as(INSERT_EVENT)
            .bind($kind)
            .bind($digest)
            .bind($user)
            .bind($now)
            .fetch_one(&mut *$tx)
            .await
            .map_err(map_err)?;
        if seq % PRUNE_EVERY == 0 {
            sqlx::query("DELETE FROM identity_events WHERE seq <= $1")
                .bind(seq - $self.event_retention)
                .execute(&mut *$tx)
                .await
                .map_err(map_err)?;
        }
    }};
}

fn to_user(r: UserRow) -> User {
    // `data` is written only by this module as a JSON object; anything else is treated as empty
    // rather than failing every read of the user.
    let data = match serde_json::from_str::<Value>(&r.data) {
        Ok(Value::Object(m)) => m,
        _ => Map::new(),
    };
    User {
        id: UserId(r.id),
        email: r.email,
        name: r.name,
        image_url: r.image_url,
        max_concurrent_bots: r.max_concurrent_bots,
        data,
        created_at: Timestamp(r.created_at),
    }
}

fn to_key(r: KeyRow) -> KeyRecord {
    KeyRecord {
        id: KeyId(r.id),
        user_id: UserId(r.user_id),
        scopes: ScopeSet::from_csv_lenient(&r.scopes),
        name: r.name,
        prefix: r.prefix,
        created_at: Timestamp(r.created_at),
        last_used_at: r.last_used_at.map(Timestamp),
        expires_at: r.expires_at.map(Timestamp),
        limits: KeyLimits {
            rate_limit_rps: r.rate_limit_rps,
            rate_limit_burst: r.rate_limit_burst,
            max_concurrent_bots: r.max_concurrent_bots,
        },
        revoked_at: r.revoked_at.map(Timestamp),
        last_client: r.last_client,
        retires_at: r.retires_at.map(Timestamp),
    }
}

/// A usage row; `None` for an outcome this version does not know (skipped, not fatal).
fn to_usage(r: UsageRow) -> Option<UsageCount> {
    Some(UsageCount {
        key_id: KeyId(r.key_id),
        hour: Timestamp(r.hour),
        outcome: Outcome::parse(&r.outcome)?,
        count: r.count,
    })
}

/// Adds a count to its hour's row. The `WHERE EXISTS` drops counts of a key deleted since (its
/// user was), instead of failing the whole batch on the foreign key forever.
const ADD_USAGE: &str = "INSERT INTO key_usage (key_id, hour, outcome, count) \
     SELECT $1, $2, $3, $4 WHERE EXISTS (SELECT 1 FROM api_keys WHERE id = $1) \
     ON CONFLICT (key_id, hour, outcome) DO UPDATE SET count = key_usage.count + excluded.count";
const NOTE_USE: &str =
    "UPDATE api_keys SET last_used_at = $1, last_client = COALESCE($2, last_client) \
     WHERE id = $3 AND (last_used_at IS NULL OR last_used_at <= $1)";

fn to_principal(r: ResolvedRow) -> Principal {
    Principal {
        key_id: KeyId(r.key_id),
        user_id: UserId(r.user_id),
        scopes: ScopeSet::from_csv_lenient(&r.scopes),
        expires_at: r.expires_at.map(Timestamp),
        retires_at: r.retires_at.map(Timestamp),
        email: Arc::from(r.email),
        max_concurrent_bots: r.max_concurrent_bots,
        limits: KeyLimits {
            rate_limit_rps: r.rate_limit_rps,
            rate_limit_burst: r.rate_limit_burst,
            max_concurrent_bots: r.key_max_concurrent_bots,
        },
        profile: UserProfile::default(),
    }
}

/// The change an event row announces; `None` for a row this version cannot read.
fn to_change(r: &EventRow) -> Option<IdentityChange> {
    match (r.kind.as_str(), &r.key_digest, r.user_id) {
        (KIND_KEY_REVOKED, Some(hex), _) => {
            KeyDigest::from_hex(hex).map(IdentityChange::KeyRevoked)
        }
        (KIND_KEY_CHANGED, Some(hex), _) => {
            KeyDigest::from_hex(hex).map(IdentityChange::KeyChanged)
        }
        (KIND_USER_CHANGED, _, Some(uid)) => Some(IdentityChange::UserChanged(UserId(uid))),
        _ => None,
    }
}

fn data_json(m: &Map<String, Value>) -> String {
    Value::Object(m.clone()).to_string()
}

/// The mutations, once each: with `Some(ctx)` they also append their audit entry in the same
/// transaction (the [`vexa_core::AuditedStore`] methods), with `None` they do not (the plain
/// [`IdentityStore`] methods, for callers that are not admin mutations).
impl SqlIdentityStore {
    pub(crate) async fn create_or_find_user_in(
        &self,
        new: &NewUser,
        now: Timestamp,
        audit: Option<&AuditContext>,
    ) -> Result<(User, bool), StoreError> {
        let lower = new.email.normalized();
        with_pool!(&self.db, p => {
            let mut tx = p.begin_with(self.begin(audit.is_some())).await.map_err(map_err)?;
            // ON CONFLICT DO NOTHING makes concurrent creates of one email converge on one row:
            // the loser inserts nothing and reads the winner's row.
            let inserted: Option<UserRow> = sqlx::query_as(&format!(
                "INSERT INTO users (email, email_lower, name, image_url, max_concurrent_bots, data, created_at) \
                 VALUES ($1, $2, $3, $4, $5, '{{}}', $6) ON CONFLICT (email_lower) DO NOTHING RETURNING {USER_COLS}"
            ))
            .bind(new.email.as_str())
            .bind(&lower)
            .bind(new.name.as_deref())
            .bind(new.image_url.as_deref())
            .bind(new.max_concurrent_bots)
            .bind(now.0)
            .fetch_optional(&mut *tx)
            .await
            .map_err(map_err)?;
            if let Some(row) = inserted {
                if let Some(ctx) = audit {
                    append_entry!(tx, audit::user_created(UserId(row.id), new), ctx, now);
                }
                tx.commit().await.map_err(map_err)?;
                return Ok((to_user(row), true));
            }
            let existing: Option<UserRow> =
                sqlx::query_as(&format!("SELECT {USER_COLS} FROM users WHERE email_lower = $1"))
                    .bind(&lower)
                    .fetch_optional(&mut *tx)
                    .await
                    .map_err(map_err)?;
            tx.commit().await.map_err(map_err)?;
            existing
                .map(|r| (to_user(r), false))
                .ok_or_else(|| StoreError::Other("user vanished between insert and read".into()))
        })
    }

    pub(crate) async fn update_user_in(
        &self,
        id: UserId,
        patch: &UserPatch,
        now: Timestamp,
        audit: Option<(&AuditContext, AuditAction)>,
    ) -> Result<Option<User>, StoreError> {
        with_pool!(&self.db, p => {
            let mut tx = p.begin_with(self.begin(audit.is_some())).await.map_err(map_err)?;
            // A no-op write first takes the row lock (PostgreSQL) or the write lock (SQLite), so
            // two concurrent merges of `data` cannot lose each other's keys.
            let locked = sqlx::query("UPDATE users SET id = id WHERE id = $1")
                .bind(id.0)
                .execute(&mut *tx)
                .await
                .map_err(map_err)?;
            if locked.rows_affected() == 0 {
                return Ok(None);
            }
            let row: UserRow = sqlx::query_as(&format!("SELECT {USER_COLS} FROM users WHERE id = $1"))
                .bind(id.0)
                .fetch_one(&mut *tx)
                .await
                .map_err(map_err)?;
            let mut user = to_user(row);
            patch.apply_to(&mut user);
            sqlx::query("UPDATE users SET name = $1, image_url = $2, max_concurrent_bots = $3, data = $4 WHERE id = $5")
                .bind(user.name.as_deref())
                .bind(user.image_url.as_deref())
                .bind(user.max_concurrent_bots)
                .bind(data_json(&user.data))
                .bind(id.0)
                .execute(&mut *tx)
                .await
                .map_err(map_err)?;
            record_event!(self, tx, KIND_USER_CHANGED, None::<String>, Some(id.0), now.0);
            if let Some((ctx, action)) = audit {
                append_entry!(tx, audit::user_patched(action, id, patch), ctx, now);
            }
            tx.commit().await.map_err(map_err)?;
            Ok(Some(user))
        })
    }

    pub(crate) async fn delete_user_in(
        &self,
        id: UserId,
        now: Timestamp,
        audit: Option<&AuditContext>,
    ) -> Result<bool, StoreError> {
        with_pool!(&self.db, p => {
            let mut tx = p.begin_with(self.begin(audit.is_some())).await.map_err(map_err)?;
            // Counted inside the transaction so the entry states how many live keys went with
            // the user.
            let (live_keys,): (i64,) = sqlx::query_as(
                "SELECT COUNT(*) FROM api_keys WHERE user_id = $1 AND revoked_at IS NULL",
            )
            .bind(id.0)
            .fetch_one(&mut *tx)
            .await
            .map_err(map_err)?;
            let deleted: Option<(String,)> = sqlx::query_as("DELETE FROM users WHERE id = $1 RETURNING email")
                .bind(id.0)
                .fetch_optional(&mut *tx)
                .await
                .map_err(map_err)?;
            let Some((email,)) = deleted else {
                return Ok(false);
            };
            // The keys go with the user (ON DELETE CASCADE); one event evicts them all everywhere.
            // The audit log has no foreign key: the user's entries stay.
            record_event!(self, tx, KIND_USER_CHANGED, None::<String>, Some(id.0), now.0);
            if let Some(ctx) = audit {
                append_entry!(tx, audit::user_deleted(id, &email, live_keys), ctx, now);
            }
            tx.commit().await.map_err(map_err)?;
            Ok(true)
        })
    }

    pub(crate) async fn insert_key_in(
        &self,
        key: &NewKey,
        audit: Option<&AuditContext>,
    ) -> Result<KeyRecord, StoreError> {
        with_pool!(&self.db, p => {
            let mut tx = p.begin_with(self.begin(audit.is_some())).await.map_err(map_err)?;
            let row: KeyRow = sqlx::query_as(&format!(
                "INSERT INTO api_keys (user_id, digest, prefix, scopes, name, created_at, expires_at, \
                 rate_limit_rps, rate_limit_burst, max_concurrent_bots) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) RETURNING {KEY_COLS}"
            ))
            .bind(key.user_id.0)
            .bind(key.digest.to_hex())
            .bind(&key.display_prefix)
            .bind(key.scopes.to_csv())
            .bind(key.name.as_deref())
            .bind(key.created_at.0)
            .bind(key.expires_at.map(|t| t.0))
            .bind(key.limits.rate_limit_rps)
            .bind(key.limits.rate_limit_burst)
            .bind(key.limits.max_concurrent_bots)
            .fetch_one(&mut *tx)
            .await
            .map_err(map_err)?;
            if let Some(ctx) = audit {
                append_entry!(tx, audit::key_minted(KeyId(row.id), key), ctx, key.created_at);
            }
            tx.commit().await.map_err(map_err)?;
            Ok(to_key(row))
        })
    }

    pub(crate) async fn revoke_key_in(
        &self,
        id: KeyId,
        now: Timestamp,
        audit: Option<&AuditContext>,
    ) -> Result<Option<KeyDigest>, StoreError> {
        with_pool!(&self.db, p => {
            let mut tx = p.begin_with(self.begin(audit.is_some())).await.map_err(map_err)?;
            let revoked: Option<(String, i64, String)> = sqlx::query_as(
                "UPDATE api_keys SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL RETURNING digest, user_id, prefix",
            )
            .bind(now.0)
            .bind(id.0)
            .fetch_optional(&mut *tx)
            .await
            .map_err(map_err)?;
            let Some((hex, user_id, prefix)) = revoked else {
                return Ok(None);
            };
            let digest = KeyDigest::from_hex(&hex)
                .ok_or_else(|| StoreError::Other(format!("stored digest of key {} is malformed", id.0)))?;
            record_event!(self, tx, KIND_KEY_REVOKED, Some(hex), None::<i64>, now.0);
            if let Some(ctx) = audit {
                append_entry!(tx, audit::key_revoked(id, UserId(user_id), &prefix), ctx, now);
            }
            tx.commit().await.map_err(map_err)?;
            Ok(Some(digest))
        })
    }

    pub(crate) async fn update_key_limits_in(
        &self,
        id: KeyId,
        patch: &KeyLimitsPatch,
        now: Timestamp,
        audit: Option<&AuditContext>,
    ) -> Result<Option<(KeyRecord, KeyDigest)>, StoreError> {
        with_pool!(&self.db, p => {
            let mut tx = p.begin_with(self.begin(audit.is_some())).await.map_err(map_err)?;
            // Lock first (as `update_user`), so concurrent patches of different fields of one key
            // cannot lose each other's change.
            let locked = sqlx::query("UPDATE api_keys SET id = id WHERE id = $1 AND revoked_at IS NULL")
                .bind(id.0)
                .execute(&mut *tx)
                .await
                .map_err(map_err)?;
            if locked.rows_affected() == 0 {
                return Ok(None);
            }
            let row: KeyRow = sqlx::query_as(&format!("SELECT {KEY_COLS} FROM api_keys WHERE id = $1"))
                .bind(id.0)
                .fetch_one(&mut *tx)
                .await
                .map_err(map_err)?;
            let mut key = to_key(row);
            key.limits = patch.apply_to(key.limits);
            let (hex,): (String,) = sqlx::query_as(
                "UPDATE api_keys SET rate_limit_rps = $1, rate_limit_burst = $2, max_concurrent_bots = $3 \
                 WHERE id = $4 RETURNING digest",
            )
            .bind(key.limits.rate_limit_rps)
            .bind(key.limits.rate_limit_burst)
            .bind(key.limits.max_concurrent_bots)
            .bind(id.0)
            .fetch_one(&mut *tx)
            .await
            .map_err(map_err)?;
            let digest = KeyDigest::from_hex(&hex)
                .ok_or_else(|| StoreError::Other(format!("stored digest of key {} is malformed", id.0)))?;
            record_event!(self, tx, KIND_KEY_CHANGED, Some(hex), None::<i64>, now.0);
            if let Some(ctx) = audit {
                append_entry!(tx, audit::key_limits_changed(&key, patch), ctx, now);
            }
            tx.commit().await.map_err(map_err)?;
            Ok(Some((key, digest)))
        })
    }

    pub(crate) async fn rotate_key_in(
        &self,
        old: KeyId,
        replacement: &NewKey,
        retires_at: Timestamp,
        now: Timestamp,
        audit: Option<&AuditContext>,
    ) -> Result<Option<(KeyRecord, KeyDigest)>, StoreError> {
        // No grace: the old key is revoked in the same write, exactly as DELETE would.
        let revoke_now = retires_at <= now;
        with_pool!(&self.db, p => {
            let mut tx = p.begin_with(self.begin(audit.is_some())).await.map_err(map_err)?;
            // The claim comes first and is conditional, so of two concurrent rotations (or a
            // rotation racing a revocation) exactly one writes; the other finds no row and
            // rolls back before inserting anything. It also takes the row (PostgreSQL) or the
            // write lock (SQLite) for the rest of the transaction.
            let claimed: Option<(String,)> = sqlx::query_as(
                "UPDATE api_keys SET retires_at = $1, revoked_at = $2 \
                 WHERE id = $3 AND user_id = $4 AND revoked_at IS NULL AND retires_at IS NULL \
                 RETURNING digest",
            )
            .bind(retires_at.0)
            .bind(revoke_now.then_some(now.0))
            .bind(old.0)
            .bind(replacement.user_id.0)
            .fetch_optional(&mut *tx)
            .await
            .map_err(map_err)?;
            let Some((hex,)) = claimed else {
                return Ok(None);
            };
            let old_digest = KeyDigest::from_hex(&hex)
                .ok_or_else(|| StoreError::Other(format!("stored digest of key {} is malformed", old.0)))?;
            let row: KeyRow = sqlx::query_as(&format!(
                "INSERT INTO api_keys (user_id, digest, prefix, scopes, name, created_at, expires_at, \
                 rate_limit_rps, rate_limit_burst, max_concurrent_bots) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) RETURNING {KEY_COLS}"
            ))
            .bind(replacement.user_id.0)
            .bind(replacement.digest.to_hex())
            .bind(&replacement.display_prefix)
            .bind(replacement.scopes.to_csv())
            .bind(replacement.name.as_deref())
            .bind(replacement.created_at.0)
            .bind(replacement.expires_at.map(|t| t.0))
            .bind(replacement.limits.rate_limit_rps)
            .bind(replacement.limits.rate_limit_burst)
            .bind(replacement.limits.max_concurrent_bots)
            .fetch_one(&mut *tx)
            .await
            .map_err(map_err)?;
            sqlx::query("UPDATE api_keys SET replaced_by = $1 WHERE id = $2")
                .bind(row.id)
                .bind(old.0)
                .execute(&mut *tx)
                .await
                .map_err(map_err)?;
            let kind = if revoke_now { KIND_KEY_REVOKED } else { KIND_KEY_CHANGED };
            record_event!(self, tx, kind, Some(hex), None::<i64>, now.0);
            let new = to_key(row);
            if let Some(ctx) = audit {
                append_entry!(tx, audit::key_rotated(old, &new, retires_at, revoke_now), ctx, now);
            }
            tx.commit().await.map_err(map_err)?;
            Ok(Some((new, old_digest)))
        })
    }
}

#[async_trait]
impl IdentityStore for SqlIdentityStore {
    async fn create_or_find_user(
        &self,
        new: &NewUser,
        now: Timestamp,
    ) -> Result<(User, bool), StoreError> {
        self.create_or_find_user_in(new, now, None).await
    }

    async fn user(&self, id: UserId) -> Result<Option<User>, StoreError> {
        with_pool!(&self.db, p => {
            let row: Option<UserRow> = sqlx::query_as(&format!("SELECT {USER_COLS} FROM users WHERE id = $1"))
                .bind(id.0)
                .fetch_optional(p)
                .await
                .map_err(map_err)?;
            Ok(row.map(to_user))
        })
    }

    async fn user_by_email(&self, email: &Email) -> Result<Option<User>, StoreError> {
        with_pool!(&self.db, p => {
            let row: Option<UserRow> = sqlx::query_as(&format!("SELECT {USER_COLS} FROM users WHERE email_lower = $1"))
                .bind(email.normalized())
                .fetch_optional(p)
                .await
                .map_err(map_err)?;
            Ok(row.map(to_user))
        })
    }

    async fn list_users(&self, skip: i64, limit: i64) -> Result<(Vec<User>, i64), StoreError> {
        with_pool!(&self.db, p => {
            let mut tx = p.begin().await.map_err(map_err)?;
            let rows: Vec<UserRow> =
                sqlx::query_as(&format!("SELECT {USER_COLS} FROM users ORDER BY id LIMIT $1 OFFSET $2"))
                    .bind(limit.max(0))
                    .bind(skip.max(0))
                    .fetch_all(&mut *tx)
                    .await
                    .map_err(map_err)?;
            let (total,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM users")
                .fetch_one(&mut *tx)
                .await
                .map_err(map_err)?;
            tx.commit().await.map_err(map_err)?;
            Ok((rows.into_iter().map(to_user).collect(), total))
        })
    }

    async fn update_user(&self, id: UserId, patch: &UserPatch) -> Result<Option<User>, StoreError> {
        self.update_user_in(id, patch, Timestamp(now_millis()), None)
            .await
    }

    async fn delete_user(&self, id: UserId, now: Timestamp) -> Result<bool, StoreError> {
        self.delete_user_in(id, now, None).await
    }

    async fn insert_key(&self, key: &NewKey) -> Result<KeyRecord, StoreError> {
        self.insert_key_in(key, None).await
    }

    async fn list_keys(&self, user: UserId) -> Result<Option<Vec<KeyRecord>>, StoreError> {
        self.keys_of(user, false).await
    }

    async fn list_keys_with_revoked(
        &self,
        user: UserId,
    ) -> Result<Option<Vec<KeyRecord>>, StoreError> {
        self.keys_of(user, true).await
    }

    async fn revoke_key(&self, id: KeyId, now: Timestamp) -> Result<Option<KeyDigest>, StoreError> {
        self.revoke_key_in(id, now, None).await
    }

    async fn update_key_limits(
        &self,
        id: KeyId,
        patch: &KeyLimitsPatch,
        now: Timestamp,
    ) -> Result<Option<(KeyRecord, KeyDigest)>, StoreError> {
        self.update_key_limits_in(id, patch, now, None).await
    }

    async fn key(&self, id: KeyId) -> Result<Option<StoredKey>, StoreError> {
        with_pool!(&self.db, p => {
            let row: Option<KeyRow> =
                sqlx::query_as(&format!("SELECT {KEY_COLS} FROM api_keys WHERE id = $1"))
                    .bind(id.0)
                    .fetch_optional(p)
                    .await
                    .map_err(map_err)?;
            Ok(row.map(|r| StoredKey {
                revoked: r.revoked_at.is_some(),
                record: to_key(r),
            }))
        })
    }

    async fn rotate_key(
        &self,
        old: KeyId,
        replacement: &NewKey,
        retires_at: Timestamp,
        now: Timestamp,
    ) -> Result<Option<(KeyRecord, KeyDigest)>, StoreError> {
        self.rotate_key_in(old, replacement, retires_at, now, None)
            .await
    }

    async fn claim_expiring_keys(
        &self,
        now: Timestamp,
        before: Timestamp,
        limit: i64,
    ) -> Result<Vec<KeyRecord>, StoreError> {
        with_pool!(&self.db, p => {
            // The outer `expiry_notified_at IS NULL` is re-checked on the locked row
            // (PostgreSQL, READ COMMITTED), so a row another sweeper claimed in the meantime is
            // skipped, not claimed twice. A rotated key in grace is left out: its replacement
            // carries the same expiry and gets the notice.
            let rows: Vec<KeyRow> = sqlx::query_as(&format!(
                "UPDATE api_keys SET expiry_notified_at = $1 \
                 WHERE expiry_notified_at IS NULL AND id IN ( \
                   SELECT id FROM api_keys WHERE expiry_notified_at IS NULL AND revoked_at IS NULL \
                   AND retires_at IS NULL AND expires_at > $1 AND expires_at <= $2 ORDER BY id LIMIT $3) \
                 RETURNING {KEY_COLS}"
            ))
            .bind(now.0)
            .bind(before.0)
            .bind(limit.max(1))
            .fetch_all(p)
            .await
            .map_err(map_err)?;
            Ok(rows.into_iter().map(to_key).collect())
        })
    }

    async fn resolve_key(&self, digest: &KeyDigest) -> Result<Option<Principal>, StoreError> {
        with_pool!(&self.db, p => {
            let row: Option<ResolvedRow> = sqlx::query_as(
                "SELECT k.id, k.user_id, k.scopes, k.expires_at, k.retires_at, u.email, u.max_concurrent_bots, \
                 k.rate_limit_rps, k.rate_limit_burst, k.max_concurrent_bots AS key_max_concurrent_bots \
                 FROM api_keys k JOIN users u ON u.id = k.user_id \
                 WHERE k.digest = $1 AND k.revoked_at IS NULL",
            )
            .bind(digest.to_hex())
            .fetch_optional(p)
            .await
            .map_err(map_err)?;
            Ok(row.map(to_principal))
        })
    }

    async fn record_key_use(&self, uses: &[(KeyId, Timestamp)]) -> Result<(), StoreError> {
        if uses.is_empty() {
            return Ok(());
        }
        with_pool!(&self.db, p => {
            let mut tx = p.begin().await.map_err(map_err)?;
            for (id, at) in uses {
                sqlx::query(
                    "UPDATE api_keys SET last_used_at = $1 WHERE id = $2 \
                     AND (last_used_at IS NULL OR last_used_at < $1)",
                )
                .bind(at.0)
                .bind(id.0)
                .execute(&mut *tx)
                .await
                .map_err(map_err)?;
            }
            tx.commit().await.map_err(map_err)?;
            Ok(())
        })
    }

    async fn record_key_activity(
        &self,
        uses: &[KeyUse],
        counts: &[UsageCount],
    ) -> Result<(), StoreError> {
        if uses.is_empty() && counts.is_empty() {
            return Ok(());
        }
        with_pool!(&self.db, p => {
            let mut tx = p.begin().await.map_err(map_err)?;
            for u in uses {
                sqlx::query(NOTE_USE)
                    .bind(u.at.0)
                    .bind(u.client.map(|ip| ip.to_string()))
                    .bind(u.key_id.0)
                    .execute(&mut *tx)
                    .await
                    .map_err(map_err)?;
            }
            for c in counts {
                sqlx::query(ADD_USAGE)
                    .bind(c.key_id.0)
                    .bind(c.hour.0)
                    .bind(c.outcome.as_str())
                    .bind(c.count)
                    .execute(&mut *tx)
                    .await
                    .map_err(map_err)?;
            }
            tx.commit().await.map_err(map_err)?;
            Ok(())
        })
    }

    async fn key_usage(
        &self,
        id: KeyId,
        since: Timestamp,
    ) -> Result<Option<Vec<UsageCount>>, StoreError> {
        with_pool!(&self.db, p => {
            let mut tx = p.begin().await.map_err(map_err)?;
            let exists: Option<(i64,)> = sqlx::query_as("SELECT id FROM api_keys WHERE id = $1")
                .bind(id.0)
                .fetch_optional(&mut *tx)
                .await
                .map_err(map_err)?;
            if exists.is_none() {
                return Ok(None);
            }
            let rows: Vec<UsageRow> = sqlx::query_as(
                "SELECT key_id, hour, outcome, count FROM key_usage WHERE key_id = $1 AND hour >= $2",
            )
            .bind(id.0)
            .bind(since.0)
            .fetch_all(&mut *tx)
            .await
            .map_err(map_err)?;
            tx.commit().await.map_err(map_err)?;
            Ok(Some(rows.into_iter().filter_map(to_usage).collect()))
        })
    }

    async fn user_key_usage(
        &self,
        user: UserId,
        since: Timestamp,
    ) -> Result<Vec<UsageCount>, StoreError> {
        with_pool!(&self.db, p => {
            let rows: Vec<UsageRow> = sqlx::query_as(
                "SELECT u.key_id, u.hour, u.outcome, u.count FROM key_usage u \
                 JOIN api_keys k ON k.id = u.key_id WHERE k.user_id = $1 AND u.hour >= $2",
            )
            .bind(user.0)
            .bind(since.0)
            .fetch_all(p)
            .await
            .map_err(map_err)?;
            Ok(rows.into_iter().filter_map(to_usage).collect())
        })
    }

    async fn events_since(
        &self,
        after_seq: i64,
        limit: i64,
    ) -> Result<Vec<IdentityEvent>, StoreError> {
        let rows: Vec<EventRow> = with_pool!(&self.db, p => {
            sqlx::query_as("SELECT seq, kind, key_digest, user_id FROM identity_events WHERE seq > $1 ORDER BY seq LIMIT $2")
                .bind(after_seq)
                .bind(limit.max(1))
                .fetch_all(p)
                .await
                .map_err(map_err)?
        });
        let mut events = Vec::with_capacity(rows.len());
        for row in rows {
            match to_change(&row) {
                Some(change) => events.push(IdentityEvent {
                    seq: row.seq,
                    change,
                }),
                None => {
                    tracing::warn!(seq = row.seq, kind = %row.kind, "skipping malformed identity event")
                }
            }
        }
        Ok(events)
    }

    async fn latest_event_seq(&self) -> Result<i64, StoreError> {
        with_pool!(&self.db, p => {
            let (seq,): (Option<i64>,) = sqlx::query_as("SELECT MAX(seq) FROM identity_events")
                .fetch_one(p)
                .await
                .map_err(map_err)?;
            Ok(seq.unwrap_or(0))
        })
    }

    async fn holds_imported_keys(&self) -> Result<bool, StoreError> {
        self.imported_keys_present().await
    }

    async fn ping(&self) -> Result<(), StoreError> {
        with_pool!(&self.db, p => {
            sqlx::query("SELECT 1").execute(p).await.map_err(map_err)?;
            Ok(())
        })
    }

    async fn record_replica(
        &self,
        beat: &vexa_core::replica::ReplicaBeat,
        prune_before: Timestamp,
    ) -> Result<(), StoreError> {
        self.upsert_replica(beat, prune_before).await
    }

    async fn remove_replica(&self, id: &str) -> Result<(), StoreError> {
        self.delete_replica(id).await
    }

    async fn replicas(&self) -> Result<Vec<vexa_core::replica::ReplicaRecord>, StoreError> {
        self.list_replicas().await
    }
}
