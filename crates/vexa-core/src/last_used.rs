//! Write-behind key activity, shared by every service that authenticates keys (the gateway's
//! pipeline, the admin API's `POST /internal/validate`): last use (time and client address) and
//! usage counts per key, hour and [`Outcome`] are noted in memory and written in ONE
//! [`IdentityStore::record_key_activity`] batch when the owner flushes (every few seconds and
//! at shutdown). Never a database write per request; one short shard lock per counted request
//! (use and count under the same lock). The owner runs the timer; nothing here does I/O but the
//! flush through the storage port.
//!
//! The shard maps are pre-sized and drained in place (their capacity is kept), and keyed by
//! integers only, so counting allocates nothing on the hot path once a shard has seen its keys.
//! A thread notes into its own shard (picked once per thread, round robin), not the key's: one
//! hot key served by every worker thread would otherwise make all of them take one mutex. The
//! flush merges the shards (uses: newest wins; counts: summed by the store).

use std::cell::Cell;
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicI64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use crate::error::StoreError;
use crate::store::{IdentityStore, KeyId};
use crate::time::Timestamp;
use crate::usage::{hour_start, KeyUse, Outcome, UsageCount};

/// How often owners flush pending activity.
pub const FLUSH_EVERY: Duration = Duration::from_secs(3);
const SHARDS: usize = 16;
/// Room per shard before a map grows (keys in use between two flushes, spread over shards).
const SHARD_CAPACITY: usize = 64;

/// Hands each thread its shard index, round robin.
static NEXT_SHARD: AtomicUsize = AtomicUsize::new(0);

thread_local! {
    static THREAD_SHARD: Cell<Option<usize>> = const { Cell::new(None) };
}

/// This thread's shard index (assigned on first use).
fn thread_shard() -> usize {
    THREAD_SHARD.with(|slot| match slot.get() {
        Some(i) => i,
        None => {
            let i = NEXT_SHARD.fetch_add(1, Ordering::Relaxed) % SHARDS;
            slot.set(Some(i));
            i
        }
    })
}

/// The newest use of a key: when, and from where (when known).
#[derive(Debug, Clone, Copy)]
struct Use {
    at: Timestamp,
    client: Option<IpAddr>,
}

/// Maps on the request path, keyed by ids the server assigned (not chosen by clients), so a
/// fast hasher instead of SipHash (which cost ~140 instructions per lookup here).
type Map<K, V> = HashMap<K, V, foldhash::fast::RandomState>;

/// Counts keyed by key, hour start (epoch ms) and outcome.
type Counts = Map<(KeyId, i64, Outcome), i64>;

struct Shard {
    uses: Map<KeyId, Use>,
    counts: Counts,
}

impl Shard {
    fn new() -> Shard {
        Shard {
            uses: Map::with_capacity_and_hasher(SHARD_CAPACITY, Default::default()),
            counts: Map::with_capacity_and_hasher(SHARD_CAPACITY, Default::default()),
        }
    }

    /// Newest wins; a newer use without an address keeps the address already noted.
    fn note_use(&mut self, id: KeyId, used: Use) {
        let slot = self.uses.entry(id).or_insert(used);
        if slot.at < used.at {
            slot.at = used.at;
        }
        if used.client.is_some() {
            slot.client = used.client;
        }
    }
}

/// Pending activity: newest use per key and counts per key, hour and outcome.
pub struct LastUsed {
    shards: Box<[Mutex<Shard>]>,
    store: Arc<dyn IdentityStore>,
    counting: bool,
}

impl std::fmt::Debug for LastUsed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LastUsed")
            .field("counting", &self.counting)
            .finish_non_exhaustive()
    }
}

impl LastUsed {
    /// A batcher that counts usage.
    pub fn new(store: Arc<dyn IdentityStore>) -> Self {
        LastUsed {
            shards: (0..SHARDS).map(|_| Mutex::new(Shard::new())).collect(),
            store,
            counting: true,
        }
    }

    /// Turns usage counting on or off (`KEY_USAGE=off`): off, only last use is recorded.
    pub fn with_counting(mut self, on: bool) -> Self {
        self.counting = on;
        self
    }

    /// Whether [`LastUsed::record`] counts.
    pub fn counts_usage(&self) -> bool {
        self.counting
    }

    /// Notes one use of key `id` at `now`: one short shard lock.
    pub fn note(&self, id: KeyId, now: Timestamp) {
        self.lock().note_use(
            id,
            Use {
                at: now,
                client: None,
            },
        );
    }

    /// Counts one request of key `id` with `outcome` (when counting is on) and, for an admitted
    /// one, notes the use and the client address — one shard lock for both.
    pub fn record(&self, id: KeyId, now: Timestamp, client: Option<IpAddr>, outcome: Outcome) {
        if !self.counting {
            if outcome == Outcome::Allowed {
                self.lock().note_use(id, Use { at: now, client });
            }
            return;
        }
        let mut shard = self.lock();
        *shard
            .counts
            .entry((id, hour_start(now).0, outcome))
            .or_insert(0) += 1;
        if outcome == Outcome::Allowed {
            shard.note_use(id, Use { at: now, client });
        }
    }

    /// [`LastUsed::note`] (with the client address) at most once a second per key,
    /// `last_recorded_ms` being the caller's per-key memory of the last noted use (one atomic
    /// load on most calls). For owners that do not count usage.
    pub fn note_throttled(
        &self,
        id: KeyId,
        last_recorded_ms: &AtomicI64,
        now: Timestamp,
        client: Option<IpAddr>,
    ) {
        let last = last_recorded_ms.load(Ordering::Relaxed);
        if now.0.saturating_sub(last) < 1000 {
            return;
        }
        last_recorded_ms.store(now.0, Ordering::Relaxed);
        self.lock().note_use(id, Use { at: now, client });
    }

    /// Writes all pending activity in one batch; returns how many keys had a use written. On
    /// failure everything is put back (uses: newest wins; counts: added) for the next flush,
    /// and the error is returned for the owner to log.
    pub async fn flush(&self) -> Result<usize, StoreError> {
        // One use per key and one count per (key, hour, outcome), however many threads noted them.
        let mut merged = Shard {
            uses: Map::default(),
            counts: Map::default(),
        };
        for shard in self.shards.iter() {
            let mut shard = shard.lock().unwrap_or_else(PoisonError::into_inner);
            for (id, u) in shard.uses.drain() {
                merged.note_use(id, u);
            }
            for (k, n) in shard.counts.drain() {
                *merged.counts.entry(k).or_insert(0) += n;
            }
        }
        let counts: Vec<UsageCount> = merged
            .counts
            .into_iter()
            .map(|((key_id, hour, outcome), count)| UsageCount {
                key_id,
                hour: Timestamp(hour),
                outcome,
                count,
            })
            .collect();
        let uses: Vec<KeyUse> = merged
            .uses
            .into_iter()
            .map(|(key_id, u)| KeyUse {
                key_id,
                at: u.at,
                client: u.client,
            })
            .collect();
        if uses.is_empty() && counts.is_empty() {
            return Ok(0);
        }
        match self.store.record_key_activity(&uses, &counts).await {
            Ok(()) => Ok(uses.len()),
            Err(e) => {
                let mut shard = self.lock();
                for u in &uses {
                    shard.note_use(
                        u.key_id,
                        Use {
                            at: u.at,
                            client: u.client,
                        },
                    );
                }
                for c in &counts {
                    *shard
                        .counts
                        .entry((c.key_id, c.hour.0, c.outcome))
                        .or_insert(0) += c.count;
                }
                Err(e)
            }
        }
    }

    /// This thread's shard (see the module note).
    fn lock(&self) -> std::sync::MutexGuard<'_, Shard> {
        self.shards[thread_shard()]
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }
}
