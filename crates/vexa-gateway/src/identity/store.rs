//! `IDENTITY_SOURCE=store`: keys resolved by digest in our own identity store.

use std::sync::Arc;

use futures_util::future::{BoxFuture, FutureExt};
use vexa_core::{ApiKey, IdentityStore, StoreError};

use super::{KeySource, PresentedKey, SourceResult, SourceUnavailable};

/// Our own store, behind the one storage trait.
pub struct StoreKeySource {
    store: Arc<dyn IdentityStore>,
}

impl StoreKeySource {
    pub fn new(store: Arc<dyn IdentityStore>) -> StoreKeySource {
        StoreKeySource { store }
    }
}

/// The store path's format check: only keys in our checksummed format are looked up, so a
/// malformed key never reaches the cache or the store.
pub fn admit_store_key(raw: &str) -> Option<PresentedKey> {
    ApiKey::parse(raw)
        .ok()
        .map(|k| PresentedKey::by_digest(k.digest))
}

impl KeySource for StoreKeySource {
    fn admit(&self, raw: &str) -> Option<PresentedKey> {
        admit_store_key(raw)
    }

    fn lookup(&self, key: PresentedKey) -> BoxFuture<'static, SourceResult> {
        let store = self.store.clone();
        async move {
            match store.resolve_key(&key.digest).await {
                Ok(found) => Ok(found),
                Err(StoreError::NotFound) => Ok(None),
                Err(e) => {
                    tracing::warn!(error = %e, "key lookup failed: store unavailable");
                    Err(SourceUnavailable)
                }
            }
        }
        .boxed()
    }

    fn is_own_store(&self) -> bool {
        true
    }
}
