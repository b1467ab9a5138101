//! The gateway replica registry (`gateway_replicas`), one code path for both backends: the
//! heartbeat's upsert and prune, the graceful-shutdown delete, and the admin API's list.

use vexa_core::replica::{ReplicaBeat, ReplicaRecord};
use vexa_core::{StoreError, Timestamp};

use crate::identity::SqlIdentityStore;
use crate::{map_err, with_pool};

type Row = (
    String,
    String,
    i64,
    String,
    i64,
    i64,
    i64,
    i64,
    i64,
    Option<i64>,
    Option<i64>,
);

impl SqlIdentityStore {
    pub(crate) async fn upsert_replica(
        &self,
        beat: &ReplicaBeat,
        prune_before: Timestamp,
    ) -> Result<(), StoreError> {
        with_pool!(&self.db, p => {
            let mut tx = p.begin().await.map_err(map_err)?;
            sqlx::query(
                "INSERT INTO gateway_replicas (id, host, pid, addr, started_at, last_seen, \
                 heartbeat_ms, cache_entries, applied_seq, applied_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) \
                 ON CONFLICT (id) DO UPDATE SET last_seen = excluded.last_seen, \
                 heartbeat_ms = excluded.heartbeat_ms, cache_entries = excluded.cache_entries, \
                 applied_seq = excluded.applied_seq, applied_at = excluded.applied_at",
            )
            .bind(&beat.id)
            .bind(&beat.host)
            .bind(beat.pid)
            .bind(&beat.addr)
            .bind(beat.started_at.as_millis())
            .bind(beat.last_seen.as_millis())
            .bind(beat.heartbeat_ms)
            .bind(beat.cache_entries)
            .bind(beat.applied_seq)
            .bind(beat.applied_at.map(Timestamp::as_millis))
            .execute(&mut *tx)
            .await
            .map_err(map_err)?;
            sqlx::query("DELETE FROM gateway_replicas WHERE last_seen < $1")
                .bind(prune_before.as_millis())
                .execute(&mut *tx)
                .await
                .map_err(map_err)?;
            tx.commit().await.map_err(map_err)?;
            Ok(())
        })
    }

    pub(crate) async fn delete_replica(&self, id: &str) -> Result<(), StoreError> {
        with_pool!(&self.db, p => {
            sqlx::query("DELETE FROM gateway_replicas WHERE id = $1")
                .bind(id)
                .execute(p)
                .await
                .map_err(map_err)?;
            Ok(())
        })
    }

    pub(crate) async fn list_replicas(&self) -> Result<Vec<ReplicaRecord>, StoreError> {
        // The oldest unapplied event is the first one past the replica's low-water mark (by the
        // primary key, so one index probe per replica).
        let rows: Vec<Row> = with_pool!(&self.db, p => {
            sqlx::query_as(
                "SELECT r.id, r.host, r.pid, r.addr, r.started_at, r.last_seen, r.heartbeat_ms, \
                 r.cache_entries, r.applied_seq, r.applied_at, \
                 (SELECT e.created_at FROM identity_events e WHERE e.seq > r.applied_seq \
                  ORDER BY e.seq LIMIT 1) \
                 FROM gateway_replicas r ORDER BY r.started_at, r.id",
            )
            .fetch_all(p)
            .await
            .map_err(map_err)?
        });
        Ok(rows
            .into_iter()
            .map(
                |(id, host, pid, addr, started, seen, beat_ms, entries, seq, applied, oldest)| {
                    ReplicaRecord {
                        beat: ReplicaBeat {
                            id,
                            host,
                            pid,
                            addr,
                            started_at: Timestamp::from_millis(started),
                            last_seen: Timestamp::from_millis(seen),
                            heartbeat_ms: beat_ms,
                            cache_entries: entries,
                            applied_seq: seq,
                            applied_at: applied.map(Timestamp::from_millis),
                        },
                        oldest_unapplied_at: oldest.map(Timestamp::from_millis),
                    }
                },
            )
            .collect())
    }
}
