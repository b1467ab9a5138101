//! Write-behind `last_used_at`, shared by every service that authenticates keys (the gateway's
//! pipeline, the admin API's `POST /internal/validate`): uses are noted in memory and written in
//! ONE [`IdentityStore::record_key_use`] batch when the owner flushes (every few seconds and at
//! shutdown). Never a database write per request. The owner runs the timer; nothing here does
//! I/O but the flush through the storage port.

use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use crate::error::StoreError;
use crate::store::{IdentityStore, KeyId};
use crate::time::Timestamp;

/// How often owners flush pending uses.
pub const FLUSH_EVERY: Duration = Duration::from_secs(3);
const SHARDS: usize = 16;

/// Pending uses, newest per key.
pub struct LastUsed {
    pending: Box<[Mutex<HashMap<KeyId, Timestamp>>]>,
    store: Arc<dyn IdentityStore>,
}

impl std::fmt::Debug for LastUsed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LastUsed").finish_non_exhaustive()
    }
}

impl LastUsed {
    pub fn new(store: Arc<dyn IdentityStore>) -> Self {
        LastUsed {
            pending: (0..SHARDS).map(|_| Mutex::new(HashMap::new())).collect(),
            store,
        }
    }

    /// Notes one use of key `id` at `now`: one short shard lock.
    pub fn note(&self, id: KeyId, now: Timestamp) {
        let mut map = self
            .shard(id)
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let slot = map.entry(id).or_insert(now);
        if *slot < now {
            *slot = now;
        }
    }

    /// [`LastUsed::note`] at most once a second per key, `last_recorded_ms` being the caller's
    /// per-key memory of the last noted use (one atomic load on most calls).
    pub fn note_throttled(&self, id: KeyId, last_recorded_ms: &AtomicI64, now: Timestamp) {
        let last = last_recorded_ms.load(Ordering::Relaxed);
        if now.0.saturating_sub(last) < 1000 {
            return;
        }
        last_recorded_ms.store(now.0, Ordering::Relaxed);
        self.note(id, now);
    }

    /// Writes every pending use in one batch; returns how many keys were written. On failure
    /// the uses are put back (newest wins) for the next flush, and the error is returned for the
    /// owner to log.
    pub async fn flush(&self) -> Result<usize, StoreError> {
        let mut batch: Vec<(KeyId, Timestamp)> = Vec::new();
        for shard in self.pending.iter() {
            let taken = std::mem::take(&mut *shard.lock().unwrap_or_else(PoisonError::into_inner));
            batch.extend(taken);
        }
        if batch.is_empty() {
            return Ok(0);
        }
        match self.store.record_key_use(&batch).await {
            Ok(()) => Ok(batch.len()),
            Err(e) => {
                for (id, at) in batch {
                    self.note(id, at);
                }
                Err(e)
            }
        }
    }

    fn shard(&self, id: KeyId) -> &Mutex<HashMap<KeyId, Timestamp>> {
        &self.pending[(id.0.unsigned_abs() % SHARDS as u64) as usize]
    }
}
