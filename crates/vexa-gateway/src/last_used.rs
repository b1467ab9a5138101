//! Write-behind `last_used_at`: uses are noted in memory (at most once a second per key, via the
//! cache entry's timestamp) and written in ONE `record_key_use` batch every few seconds and at
//! shutdown. Never a database write per request.

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use vexa_core::{IdentityStore, KeyId, Timestamp};

use crate::cache::ResolvedIdentity;

/// How often pending uses are flushed.
pub const FLUSH_EVERY: Duration = Duration::from_secs(3);
const SHARDS: usize = 16;

pub struct LastUsed {
    pending: Box<[Mutex<HashMap<KeyId, Timestamp>>]>,
    store: Arc<dyn IdentityStore>,
}

impl LastUsed {
    pub fn new(store: Arc<dyn IdentityStore>) -> Self {
        LastUsed {
            pending: (0..SHARDS).map(|_| Mutex::new(HashMap::new())).collect(),
            store,
        }
    }

    /// Notes one use of a key. Cheap: one atomic load on most calls.
    pub fn note(&self, cached: &ResolvedIdentity, now: Timestamp) {
        let last = cached.last_recorded_ms.load(Ordering::Relaxed);
        if now.0.saturating_sub(last) < 1000 {
            return;
        }
        cached.last_recorded_ms.store(now.0, Ordering::Relaxed);
        let id = cached.principal.key_id;
        let idx = (id.0.unsigned_abs() % SHARDS as u64) as usize;
        let mut map = self.pending[idx]
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let slot = map.entry(id).or_insert(now);
        if *slot < now {
            *slot = now;
        }
    }

    /// Writes every pending use in one batch. On failure the uses are put back (newest wins).
    pub async fn flush(&self) {
        let mut batch: Vec<(KeyId, Timestamp)> = Vec::new();
        for shard in self.pending.iter() {
            let taken = std::mem::take(&mut *shard.lock().unwrap_or_else(PoisonError::into_inner));
            batch.extend(taken);
        }
        if batch.is_empty() {
            return;
        }
        if let Err(e) = self.store.record_key_use(&batch).await {
            tracing::warn!(error = %e, keys = batch.len(), "could not record key use; will retry");
            for (id, at) in batch {
                let idx = (id.0.unsigned_abs() % SHARDS as u64) as usize;
                let mut map = self.pending[idx]
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner);
                let slot = map.entry(id).or_insert(at);
                if *slot < at {
                    *slot = at;
                }
            }
        }
    }
}
