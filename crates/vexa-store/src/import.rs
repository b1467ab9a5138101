//! The writes of `vexa import vexa`: a snapshot of what is here to diff against, batched
//! inserts and updates of imported users and keys (ids kept, `origin = 'vexa'`), revocation of
//! keys gone at the source, and id sequences moved past the imported ids.
//!
//! Only digests are written. Every change that makes a cached resolution stale records an
//! identity event in the same transaction, as the admin API's writes do, so running gateways
//! converge within their follower's delay.

use std::collections::HashMap;

use serde_json::Value;
use vexa_core::audit::{self, AuditContext};
use vexa_core::import::{ImportedKey, ImportedUser, ORIGIN_VEXA};
use vexa_core::{KeyDigest, KeyId, ScopeSet, StoreError, Timestamp, UserId};

use crate::chain::append_entry;
use crate::identity::SqlIdentityStore;
use crate::{map_err, with_pool, Db};

/// Rows per multi-row INSERT: 10 columns × 400 stays far below SQLite's bind limit.
const INSERT_CHUNK: usize = 400;

/// A user here, as the import compares it.
#[derive(Debug, Clone)]
pub struct HereUser {
    pub user: ImportedUser,
    pub imported: bool,
}

/// A key here, as the import compares it.
#[derive(Debug, Clone)]
pub struct HereKey {
    pub key: ImportedKey,
    pub imported: bool,
    pub revoked: bool,
}

/// Everything here the import diffs against.
#[derive(Debug, Default)]
pub struct Snapshot {
    pub users: HashMap<i64, HereUser>,
    pub keys: HashMap<i64, HereKey>,
}

/// One transaction's worth of changes.
#[derive(Debug, Default)]
pub struct ImportBatch {
    pub new_users: Vec<ImportedUser>,
    pub changed_users: Vec<ImportedUser>,
    pub new_keys: Vec<ImportedKey>,
    /// Changed metadata; `digest_changed` keys also need their old digest evicted.
    pub changed_keys: Vec<ImportedKey>,
    pub revoked_keys: Vec<KeyId>,
}

impl ImportBatch {
    pub fn len(&self) -> usize {
        self.new_users.len()
            + self.changed_users.len()
            + self.new_keys.len()
            + self.changed_keys.len()
            + self.revoked_keys.len()
    }

    /// What the batch's audit entry records: how many of each change.
    fn audit_counts(&self) -> serde_json::Map<String, Value> {
        let mut m = serde_json::Map::new();
        m.insert("users_created".into(), Value::from(self.new_users.len()));
        m.insert(
            "users_updated".into(),
            Value::from(self.changed_users.len()),
        );
        m.insert("keys_created".into(), Value::from(self.new_keys.len()));
        m.insert("keys_updated".into(), Value::from(self.changed_keys.len()));
        m.insert("keys_revoked".into(), Value::from(self.revoked_keys.len()));
        m
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[derive(sqlx::FromRow)]
struct UserSnapRow {
    id: i64,
    email: String,
    email_lower: String,
    name: Option<String>,
    image_url: Option<String>,
    max_concurrent_bots: i64,
    data: String,
    created_at: i64,
    origin: String,
}

#[derive(sqlx::FromRow)]
struct KeySnapRow {
    id: i64,
    user_id: i64,
    digest: String,
    prefix: String,
    scopes: String,
    name: Option<String>,
    created_at: i64,
    last_used_at: Option<i64>,
    expires_at: Option<i64>,
    revoked_at: Option<i64>,
    origin: String,
}

const EVENT: &str =
    "INSERT INTO identity_events (kind, key_digest, user_id, created_at) VALUES ($1, $2, $3, $4)";

impl SqlIdentityStore {
    /// Whether any live imported key exists (one indexed probe).
    pub async fn imported_keys_present(&self) -> Result<bool, StoreError> {
        with_pool!(&self.db, p => {
            let (n,): (i64,) = sqlx::query_as(
                "SELECT COUNT(*) FROM (SELECT 1 FROM api_keys WHERE origin <> 'local' AND revoked_at IS NULL LIMIT 1) t",
            )
            .fetch_one(p)
            .await
            .map_err(map_err)?;
            Ok(n > 0)
        })
    }

    /// Every user and key here (keys without secrets: digests only).
    pub async fn import_snapshot(&self) -> Result<Snapshot, StoreError> {
        let (users, keys): (Vec<UserSnapRow>, Vec<KeySnapRow>) = with_pool!(&self.db, p => {
            let users = sqlx::query_as(
                "SELECT id, email, email_lower, name, image_url, max_concurrent_bots, data, created_at, origin FROM users",
            )
            .fetch_all(p)
            .await
            .map_err(map_err)?;
            let keys = sqlx::query_as(
                "SELECT id, user_id, digest, prefix, scopes, name, created_at, last_used_at, expires_at, revoked_at, origin FROM api_keys",
            )
            .fetch_all(p)
            .await
            .map_err(map_err)?;
            (users, keys)
        });
        let mut snap = Snapshot::default();
        for r in users {
            let data = match serde_json::from_str::<Value>(&r.data) {
                Ok(Value::Object(m)) => m,
                _ => Default::default(),
            };
            let user = ImportedUser {
                id: UserId(r.id),
                email: r.email,
                email_lower: r.email_lower,
                name: r.name,
                image_url: r.image_url,
                max_concurrent_bots: r.max_concurrent_bots,
                data,
                created_at: Timestamp(r.created_at),
            };
            let imported = r.origin == ORIGIN_VEXA;
            snap.users.insert(r.id, HereUser { user, imported });
        }
        for r in keys {
            let Some(digest) = KeyDigest::from_hex(&r.digest) else {
                continue;
            };
            let key = ImportedKey {
                id: KeyId(r.id),
                user_id: UserId(r.user_id),
                digest,
                display_prefix: r.prefix,
                scopes: ScopeSet::from_csv_lenient(&r.scopes),
                name: r.name,
                created_at: Timestamp(r.created_at),
                last_used_at: r.last_used_at.map(Timestamp),
                expires_at: r.expires_at.map(Timestamp),
            };
            let imported = r.origin == ORIGIN_VEXA;
            let revoked = r.revoked_at.is_some();
            snap.keys.insert(
                r.id,
                HereKey {
                    key,
                    imported,
                    revoked,
                },
            );
        }
        Ok(snap)
    }

    /// Applies one batch in one transaction, with one audit entry of its counts (a per-key
    /// entry would double the import's writes for no information the source does not hold).
    pub async fn apply_import(
        &self,
        b: &ImportBatch,
        now: Timestamp,
        ctx: &AuditContext,
    ) -> Result<(), StoreError> {
        if b.is_empty() {
            return Ok(());
        }
        with_pool!(&self.db, p => {
            let mut tx = p.begin_with(self.begin(true)).await.map_err(map_err)?;
            for chunk in b.new_users.chunks(INSERT_CHUNK) {
                let mut q = sqlx::QueryBuilder::new(
                    "INSERT INTO users (id, email, email_lower, name, image_url, max_concurrent_bots, data, created_at, origin) ",
                );
                q.push_values(chunk, |mut row, u| {
                    row.push_bind(u.id.0)
                        .push_bind(u.email.clone())
                        .push_bind(u.email_lower.clone())
                        .push_bind(u.name.clone())
                        .push_bind(u.image_url.clone())
                        .push_bind(u.max_concurrent_bots)
                        .push_bind(Value::Object(u.data.clone()).to_string())
                        .push_bind(u.created_at.0)
                        .push_bind(ORIGIN_VEXA);
                });
                q.build().execute(&mut *tx).await.map_err(map_err)?;
            }
            for u in &b.changed_users {
                sqlx::query(
                    "UPDATE users SET email = $1, email_lower = $2, name = $3, image_url = $4, \
                     max_concurrent_bots = $5, data = $6 WHERE id = $7 AND origin = 'vexa'",
                )
                .bind(&u.email)
                .bind(&u.email_lower)
                .bind(u.name.as_deref())
                .bind(u.image_url.as_deref())
                .bind(u.max_concurrent_bots)
                .bind(Value::Object(u.data.clone()).to_string())
                .bind(u.id.0)
                .execute(&mut *tx)
                .await
                .map_err(map_err)?;
                sqlx::query(EVENT).bind("user_changed").bind(None::<String>).bind(Some(u.id.0)).bind(now.0)
                    .execute(&mut *tx).await.map_err(map_err)?;
            }
            for chunk in b.new_keys.chunks(INSERT_CHUNK) {
                let mut q = sqlx::QueryBuilder::new(
                    "INSERT INTO api_keys (id, user_id, digest, prefix, scopes, name, created_at, last_used_at, expires_at, origin) ",
                );
                q.push_values(chunk, |mut row, k| {
                    row.push_bind(k.id.0)
                        .push_bind(k.user_id.0)
                        .push_bind(k.digest.to_hex())
                        .push_bind(k.display_prefix.clone())
                        .push_bind(k.scopes.to_csv())
                        .push_bind(k.name.clone())
                        .push_bind(k.created_at.0)
                        .push_bind(k.last_used_at.map(|t| t.0))
                        .push_bind(k.expires_at.map(|t| t.0))
                        .push_bind(ORIGIN_VEXA);
                });
                q.build().execute(&mut *tx).await.map_err(map_err)?;
            }
            for k in &b.changed_keys {
                // The old digest (if the token changed) is returned so caches can drop it.
                let old: Option<(String,)> = sqlx::query_as(
                    "SELECT digest FROM api_keys WHERE id = $1 AND origin = 'vexa'",
                )
                .bind(k.id.0)
                .fetch_optional(&mut *tx)
                .await
                .map_err(map_err)?;
                sqlx::query(
                    "UPDATE api_keys SET digest = $1, prefix = $2, scopes = $3, name = $4, \
                     last_used_at = $5, expires_at = $6 WHERE id = $7 AND origin = 'vexa'",
                )
                .bind(k.digest.to_hex())
                .bind(&k.display_prefix)
                .bind(k.scopes.to_csv())
                .bind(k.name.as_deref())
                .bind(k.last_used_at.map(|t| t.0))
                .bind(k.expires_at.map(|t| t.0))
                .bind(k.id.0)
                .execute(&mut *tx)
                .await
                .map_err(map_err)?;
                match old {
                    Some((hex,)) if hex != k.digest.to_hex() => {
                        sqlx::query(EVENT).bind("key_revoked").bind(Some(hex)).bind(None::<i64>).bind(now.0)
                            .execute(&mut *tx).await.map_err(map_err)?;
                    }
                    // Scopes or expiry changed: the user's cached keys re-resolve.
                    _ => {
                        sqlx::query(EVENT).bind("user_changed").bind(None::<String>).bind(Some(k.user_id.0)).bind(now.0)
                            .execute(&mut *tx).await.map_err(map_err)?;
                    }
                }
            }
            for id in &b.revoked_keys {
                let revoked: Option<(String,)> = sqlx::query_as(
                    "UPDATE api_keys SET revoked_at = $1 WHERE id = $2 AND origin = 'vexa' AND revoked_at IS NULL RETURNING digest",
                )
                .bind(now.0)
                .bind(id.0)
                .fetch_optional(&mut *tx)
                .await
                .map_err(map_err)?;
                if let Some((hex,)) = revoked {
                    sqlx::query(EVENT).bind("key_revoked").bind(Some(hex)).bind(None::<i64>).bind(now.0)
                        .execute(&mut *tx).await.map_err(map_err)?;
                }
            }
            append_entry!(tx, audit::imported(b.audit_counts()), ctx, now);
            tx.commit().await.map_err(map_err)?;
            Ok(())
        })
    }

    /// Moves the id sequences past every id present, so ids minted here after an import never
    /// collide with imported ones. SQLite's AUTOINCREMENT already follows explicit ids; it is
    /// still set explicitly so the rule does not rest on that.
    pub async fn continue_id_sequences(&self) -> Result<(), StoreError> {
        match &self.db {
            Db::Sqlite(p) => {
                for table in ["users", "api_keys"] {
                    let sql = format!(
                        "UPDATE sqlite_sequence SET seq = MAX(seq, (SELECT COALESCE(MAX(id), 0) FROM {table})) WHERE name = '{table}'"
                    );
                    sqlx::query(&sql).execute(p).await.map_err(map_err)?;
                }
            }
            Db::Postgres(p) => {
                for table in ["users", "api_keys"] {
                    // GREATEST with the sequence's own position: never moves it back (an id
                    // handed out and then deleted is never handed out again).
                    let sql = format!(
                        "SELECT setval(pg_get_serial_sequence('{table}', 'id'), \
                         GREATEST((SELECT COALESCE(MAX(id), 0) FROM {table}), \
                                  (SELECT last_value FROM {table}_id_seq), 1))"
                    );
                    sqlx::query(&sql).execute(p).await.map_err(map_err)?;
                }
            }
        }
        Ok(())
    }
}
