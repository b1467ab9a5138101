//! Following the identity event log, so every process evicts stale cached resolutions: each
//! change any process records reaches this process's [`IdentityListener`] (the gateway's
//! `Invalidator`), once, oldest first.
//!
//! On PostgreSQL a LISTEN connection wakes the follower the instant another replica commits a
//! change; a poll every `poll_every` is the backstop for when that connection drops, so
//! staleness stays bounded by the poll interval even without notifications. On SQLite (one
//! machine, possibly several processes on one file) polling alone is used.
//!
//! Sequence numbers can commit out of order on PostgreSQL (two transactions take 7 and 8,
//! 8 commits first), so the follower does not simply remember the highest number seen: it keeps
//! a low-water mark below which everything was applied, re-reads above it, and skips a hole only
//! after it has stayed open for [`HOLE_TIMEOUT`] (a rolled-back insert leaves one forever).

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use sqlx::postgres::PgListener;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use vexa_core::{IdentityListener, IdentityStore};

use crate::identity::SqlIdentityStore;
use crate::{now_millis, Db};

/// The PostgreSQL channel the `identity_events` trigger notifies.
pub const CHANNEL: &str = "vexa_identity";

/// How long a gap in sequence numbers may stay open before it is treated as a rollback.
pub const HOLE_TIMEOUT: Duration = Duration::from_secs(10);

const BATCH: i64 = 1000;

/// How far a follower got, readable from any thread without a lock (the gateway's heartbeat
/// reports it to the replica registry).
#[derive(Debug)]
pub struct FollowerProgress {
    /// The low-water mark: every event up to it has been applied. -1 until the follower has
    /// read where the log stood when it started.
    seq: AtomicI64,
    /// Wall-clock epoch milliseconds when `seq` last moved; -1 until then.
    at_ms: AtomicI64,
}

impl Default for FollowerProgress {
    fn default() -> Self {
        FollowerProgress {
            seq: AtomicI64::new(-1),
            at_ms: AtomicI64::new(-1),
        }
    }
}

impl FollowerProgress {
    /// The applied sequence number and when it was reached (epoch ms); `None` before the
    /// follower started.
    pub fn get(&self) -> Option<(i64, i64)> {
        // Two loads, not one snapshot: a reader racing an advance may pair the new mark with
        // the previous time, off by one poll — harmless for a status display.
        let at = self.at_ms.load(Ordering::Acquire);
        let seq = self.seq.load(Ordering::Acquire);
        (seq >= 0 && at >= 0).then_some((seq, at))
    }

    fn set(&self, seq: i64) {
        if self.seq.swap(seq, Ordering::AcqRel) != seq {
            self.at_ms.store(now_millis(), Ordering::Release);
        }
    }
}

/// Starts following the events of `db` recorded from now on, handing each change to `listener`
/// (re-delivery after a restart is harmless: applying an invalidation twice only evicts twice);
/// runs until `cancel`. A zero `poll_every` is taken as one millisecond.
pub fn spawn_event_follower(
    db: Db,
    listener: Arc<dyn IdentityListener>,
    poll_every: Duration,
    cancel: CancellationToken,
) -> JoinHandle<()> {
    spawn_event_follower_with_progress(
        db,
        listener,
        poll_every,
        cancel,
        Arc::new(FollowerProgress::default()),
    )
}

/// [`spawn_event_follower`], publishing its position to `progress` as it advances.
pub fn spawn_event_follower_with_progress(
    db: Db,
    listener: Arc<dyn IdentityListener>,
    poll_every: Duration,
    cancel: CancellationToken,
    progress: Arc<FollowerProgress>,
) -> JoinHandle<()> {
    let store = SqlIdentityStore::new(db.clone());
    // tokio's interval refuses a zero period.
    let poll_every = poll_every.max(Duration::from_millis(1));
    tokio::spawn(async move {
        let start = loop {
            match store.latest_event_seq().await {
                Ok(seq) => break seq,
                Err(e) => {
                    tracing::warn!(error = %e, "identity event follower: store unavailable, retrying");
                    tokio::select! {
                        () = cancel.cancelled() => return,
                        () = tokio::time::sleep(poll_every) => {}
                    }
                }
            }
        };
        let mut cursor = Cursor::new(start);
        progress.set(cursor.low);
        let mut pg_listener: Option<PgListener> = None;
        let mut poll = tokio::time::interval(poll_every);
        poll.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            if pg_listener.is_none() {
                pg_listener = listen(&db).await;
            }
            let woke_by_notify = tokio::select! {
                () = cancel.cancelled() => return,
                _ = poll.tick() => false,
                got = recv(&mut pg_listener) => {
                    if !got {
                        // The connection dropped; the poll keeps us bounded until it is back.
                        pg_listener = None;
                    }
                    got
                }
            };
            if let Err(e) = cursor.drain(&store, listener.as_ref()).await {
                tracing::warn!(error = %e, notified = woke_by_notify, "identity event follower: read failed");
            }
            progress.set(cursor.low);
        }
    })
}

async fn listen(db: &Db) -> Option<PgListener> {
    let Db::Postgres(pool) = db else {
        return None;
    };
    let mut listener = match PgListener::connect_with(pool).await {
        Ok(l) => l,
        Err(e) => {
            tracing::debug!(error = %e, "identity event follower: LISTEN connection failed");
            return None;
        }
    };
    match listener.listen(CHANNEL).await {
        Ok(()) => Some(listener),
        Err(e) => {
            tracing::debug!(error = %e, "identity event follower: LISTEN failed");
            None
        }
    }
}

/// Waits for a notification; `false` when the listener failed. Without a listener, never returns.
async fn recv(listener: &mut Option<PgListener>) -> bool {
    match listener {
        Some(l) => l.try_recv().await.map(|n| n.is_some()).unwrap_or(false),
        None => std::future::pending().await,
    }
}

/// Which events have been applied.
#[derive(Debug)]
struct Cursor {
    /// Every event with `seq <= low` has been applied (or its hole timed out).
    low: i64,
    /// Applied events above `low` (above a hole).
    applied: BTreeSet<i64>,
    /// When the hole just above `low` was first seen.
    hole_since: Option<Instant>,
}

impl Cursor {
    fn new(start: i64) -> Self {
        Cursor {
            low: start,
            applied: BTreeSet::new(),
            hole_since: None,
        }
    }

    async fn drain(
        &mut self,
        store: &SqlIdentityStore,
        listener: &dyn IdentityListener,
    ) -> Result<(), vexa_core::StoreError> {
        loop {
            let events = store.events_since(self.low, BATCH).await?;
            let fetched = events.len();
            let mut fresh = 0usize;
            for event in &events {
                if self.applied.insert(event.seq) {
                    listener.on_change(&event.change);
                    fresh += 1;
                }
            }
            self.advance(Instant::now());
            if fetched < usize::try_from(BATCH).unwrap_or(usize::MAX) || fresh == 0 {
                return Ok(());
            }
        }
    }

    fn advance(&mut self, now: Instant) {
        loop {
            while self.applied.remove(&(self.low + 1)) {
                self.low += 1;
            }
            let Some(&next) = self.applied.iter().next() else {
                self.hole_since = None;
                return;
            };
            let since = *self.hole_since.get_or_insert(now);
            if now.duration_since(since) < HOLE_TIMEOUT {
                return;
            }
            // The hole outlived any transaction: its sequence number was rolled back.
            self.low = next - 1;
            self.hole_since = None;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn low_water_mark_waits_at_a_hole_then_skips_it() {
        let mut c = Cursor::new(10);
        let t0 = Instant::now();
        c.applied.extend([11, 13, 14]);
        c.advance(t0);
        assert_eq!(c.low, 11, "12 is not yet committed");
        c.advance(t0 + Duration::from_secs(1));
        assert_eq!(c.low, 11);
        c.applied.insert(12);
        c.advance(t0 + Duration::from_secs(2));
        assert_eq!(c.low, 14);
        assert!(c.applied.is_empty());
        c.applied.insert(16);
        c.advance(t0 + Duration::from_secs(3));
        assert_eq!(c.low, 14);
        c.advance(t0 + Duration::from_secs(3) + HOLE_TIMEOUT);
        assert_eq!(c.low, 16, "a hole older than the timeout is a rollback");
    }
}
