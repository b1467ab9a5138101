//! Whether the store holds keys imported from an original Vexa (`vexa import vexa`), as one
//! cached flag: the store path's format check reads it on every request, so it is an atomic
//! load, never a store call. It is probed once when the gateway starts, then refreshed on a
//! timer ([`PROBE_EVERY`], by `server::serve`) and after every identity change the gateway is
//! told of (a revocation may have removed the last imported key).
//!
//! Must not know about requests, the cache or HTTP.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use vexa_core::IdentityStore;

/// How often the flag is re-read from the store. An import made while the gateway runs is seen
/// within this delay (its new keys emit no identity event).
pub const PROBE_EVERY: Duration = Duration::from_secs(5);

/// The cached answer of [`IdentityStore::holds_imported_keys`].
pub struct ImportedKeys {
    present: AtomicBool,
    store: Arc<dyn IdentityStore>,
}

impl ImportedKeys {
    /// A flag that says "none" until the first [`ImportedKeys::refresh`].
    pub fn new(store: Arc<dyn IdentityStore>) -> Arc<ImportedKeys> {
        Arc::new(ImportedKeys {
            present: AtomicBool::new(false),
            store,
        })
    }

    /// Whether imported keys were present at the last probe.
    pub fn present(&self) -> bool {
        self.present.load(Ordering::Relaxed)
    }

    /// Asks the store once. On a store failure the last answer stands (a transient outage must
    /// neither lock imported keys out nor open the digest path needlessly).
    pub async fn refresh(&self) {
        match self.store.holds_imported_keys().await {
            Ok(present) => self.present.store(present, Ordering::Relaxed),
            Err(e) => {
                tracing::warn!(error = %e, "could not probe for imported keys; keeping the last answer")
            }
        }
    }
}
