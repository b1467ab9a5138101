//! The audit log's storage: the statements every audited transaction runs last (lock the chain
//! head, append the sealed entry; a trigger moves the head) and the reads of the log. Sealing and verification
//! are `vexa_core::audit`'s; this module only moves entries in and out of `audit_log`.
//!
//! Appends are serialized by the head row, taken LAST, right before the entry is written and the
//! transaction commits: its `UPDATE … RETURNING` row-locks the head on PostgreSQL (a concurrent
//! writer waits, then reads the committed new head), and audited SQLite transactions start with
//! `BEGIN IMMEDIATE`, so they hold the database's write lock before anything is read. Taking the
//! head after the mutation's own rows means whoever holds it takes no other lock until it
//! commits, so audited transactions cannot deadlock on it, and it is held for the shortest time
//! (two statements and the commit): the chain's cost is that appends commit one at a time.

use vexa_core::audit::{AuditEntry, AuditFilter, AuditPage, ChainHead};
use vexa_core::{KeyId, StoreError, Timestamp, UserId};

use crate::identity::SqlIdentityStore;
use crate::{map_err, with_pool};

pub(crate) const LOCK_HEAD: &str =
    "UPDATE audit_head SET seq = seq WHERE id = 1 RETURNING seq, hash";
pub(crate) const INSERT_ENTRY: &str = "INSERT INTO audit_log \
     (seq, at, actor, action, user_id, key_id, request_id, client_addr, changes, prev_hash, hash) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)";

const ENTRY_COLS: &str =
    "seq, at, actor, action, user_id, key_id, request_id, client_addr, changes, prev_hash, hash";

/// Locks and reads the chain head inside `$tx`, seals `$draft` after it and appends it (the
/// migration's trigger moves the head along). The last statements before the commit.
macro_rules! append_entry {
    ($tx:expr, $draft:expr, $ctx:expr, $now:expr) => {{
        let (seq, hash): (i64, String) = sqlx::query_as($crate::chain::LOCK_HEAD)
            .fetch_one(&mut *$tx)
            .await
            .map_err($crate::map_err)?;
        let head = vexa_core::audit::ChainHead { seq, hash };
        let e = vexa_core::audit::seal(&$draft, $ctx, $now, &head);
        sqlx::query($crate::chain::INSERT_ENTRY)
            .bind(e.seq)
            .bind(e.time.0)
            .bind(&e.actor)
            .bind(&e.action)
            .bind(e.user_id.map(|u| u.0))
            .bind(e.key_id.map(|k| k.0))
            .bind(e.request_id.as_deref())
            .bind(e.client_addr.as_deref())
            .bind(&e.changes)
            .bind(&e.prev_hash)
            .bind(&e.hash)
            .execute(&mut *$tx)
            .await
            .map_err($crate::map_err)?;
    }};
}
pub(crate) use append_entry;

/// One `audit_log` row.
#[derive(sqlx::FromRow)]
struct EntryRow {
    seq: i64,
    at: i64,
    actor: String,
    action: String,
    user_id: Option<i64>,
    key_id: Option<i64>,
    request_id: Option<String>,
    client_addr: Option<String>,
    changes: String,
    prev_hash: String,
    hash: String,
}

fn to_entry(r: EntryRow) -> AuditEntry {
    AuditEntry {
        seq: r.seq,
        time: Timestamp(r.at),
        actor: r.actor,
        action: r.action,
        user_id: r.user_id.map(UserId),
        key_id: r.key_id.map(KeyId),
        request_id: r.request_id,
        client_addr: r.client_addr,
        changes: r.changes,
        prev_hash: r.prev_hash,
        hash: r.hash,
    }
}

impl SqlIdentityStore {
    pub(crate) async fn read_audit_page(
        &self,
        f: &AuditFilter,
        page: AuditPage,
    ) -> Result<(Vec<AuditEntry>, i64), StoreError> {
        // NULL parameters switch a filter off, so one statement text serves every combination.
        let cond = "($1 IS NULL OR user_id = $1) AND ($2 IS NULL OR key_id = $2) \
                    AND ($3 IS NULL OR action = $3) AND ($4 IS NULL OR at >= $4) \
                    AND ($5 IS NULL OR at <= $5)";
        let user = f.user_id.map(|u| u.0);
        let key = f.key_id.map(|k| k.0);
        let action = f.action.map(|a| a.as_str());
        let since = f.since.map(|t| t.0);
        let until = f.until.map(|t| t.0);
        with_pool!(&self.db, p => {
            let mut tx = p.begin().await.map_err(map_err)?;
            let rows: Vec<EntryRow> = sqlx::query_as(&format!(
                "SELECT {ENTRY_COLS} FROM audit_log WHERE {cond} AND ($6 IS NULL OR seq < $6) \
                 ORDER BY seq DESC LIMIT $7"
            ))
            .bind(user).bind(key).bind(action).bind(since).bind(until)
            .bind(page.before_seq)
            .bind(page.limit.max(0))
            .fetch_all(&mut *tx)
            .await
            .map_err(map_err)?;
            let (total,): (i64,) = sqlx::query_as(&format!("SELECT COUNT(*) FROM audit_log WHERE {cond}"))
                .bind(user).bind(key).bind(action).bind(since).bind(until)
                .fetch_one(&mut *tx)
                .await
                .map_err(map_err)?;
            tx.commit().await.map_err(map_err)?;
            Ok((rows.into_iter().map(to_entry).collect(), total))
        })
    }

    pub(crate) async fn read_audit_from(
        &self,
        after_seq: i64,
        limit: i64,
    ) -> Result<Vec<AuditEntry>, StoreError> {
        with_pool!(&self.db, p => {
            let rows: Vec<EntryRow> = sqlx::query_as(&format!(
                "SELECT {ENTRY_COLS} FROM audit_log WHERE seq > $1 ORDER BY seq LIMIT $2"
            ))
            .bind(after_seq)
            .bind(limit.max(1))
            .fetch_all(p)
            .await
            .map_err(map_err)?;
            Ok(rows.into_iter().map(to_entry).collect())
        })
    }

    pub(crate) async fn read_audit_head(&self) -> Result<ChainHead, StoreError> {
        with_pool!(&self.db, p => {
            let (seq, hash): (i64, String) = sqlx::query_as("SELECT seq, hash FROM audit_head WHERE id = 1")
                .fetch_one(p)
                .await
                .map_err(map_err)?;
            Ok(ChainHead { seq, hash })
        })
    }
}
