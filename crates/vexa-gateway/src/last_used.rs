//! The gateway's use of the shared write-behind batcher ([`vexa_core::last_used`]): uses noted
//! at most once a second per key (via the cache entry's timestamp), flushed by `server::serve`
//! every [`FLUSH_EVERY`] and at shutdown. Never a database write per request.

use std::sync::Arc;

use vexa_core::last_used::LastUsed as Batcher;
use vexa_core::{IdentityStore, Timestamp};

use crate::cache::ResolvedIdentity;

pub use vexa_core::last_used::FLUSH_EVERY;

pub struct LastUsed(Batcher);

impl LastUsed {
    pub fn new(store: Arc<dyn IdentityStore>) -> Self {
        LastUsed(Batcher::new(store))
    }

    /// Notes one use of a key. Cheap: one atomic load on most calls.
    pub fn note(&self, cached: &ResolvedIdentity, now: Timestamp) {
        self.0
            .note_throttled(cached.principal.key_id, &cached.last_recorded_ms, now);
    }

    /// Writes every pending use in one batch; on failure they are retried at the next flush.
    pub async fn flush(&self) {
        if let Err(e) = self.0.flush().await {
            tracing::warn!(error = %e, "could not record key use; will retry");
        }
    }
}
