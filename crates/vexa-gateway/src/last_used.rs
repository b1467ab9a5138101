//! The gateway's use of the shared key-activity batcher ([`vexa_core::last_used`]): with usage
//! counting on (`KEY_USAGE`, default), every authenticated request is counted by outcome and an
//! admitted one notes its key's use and client address under the same shard lock; with it off,
//! uses are noted at most once a second per key (via the cache entry's timestamp). Flushed by
//! `server::serve` every [`FLUSH_EVERY`] and at shutdown. Never a database write per request.

use std::net::IpAddr;
use std::sync::Arc;

use vexa_core::last_used::LastUsed as Batcher;
use vexa_core::usage::Outcome;
use vexa_core::{IdentityStore, KeyId, Timestamp};

use crate::cache::ResolvedIdentity;

pub use vexa_core::last_used::FLUSH_EVERY;

pub struct LastUsed(Batcher);

impl LastUsed {
    pub fn new(store: Arc<dyn IdentityStore>, count_usage: bool) -> Self {
        LastUsed(Batcher::new(store).with_counting(count_usage))
    }

    /// One admitted request: counted, and its key's use (and `client`) noted.
    pub fn admitted(&self, cached: &ResolvedIdentity, now: Timestamp, client: IpAddr) {
        let id = cached.principal.key_id;
        if self.0.counts_usage() {
            self.0.record(id, now, Some(client), Outcome::Allowed);
        } else {
            self.0
                .note_throttled(id, &cached.last_recorded_ms, now, Some(client));
        }
    }

    /// One refused request of a known key (scope, rate limit, expiry): counted when counting.
    pub fn refused(&self, id: KeyId, now: Timestamp, outcome: Outcome) {
        if self.0.counts_usage() {
            self.0.record(id, now, None, outcome);
        }
    }

    /// Writes all pending activity in one batch; on failure it is retried at the next flush.
    pub async fn flush(&self) {
        if let Err(e) = self.0.flush().await {
            tracing::warn!(error = %e, "could not record key activity; will retry");
        }
    }
}
