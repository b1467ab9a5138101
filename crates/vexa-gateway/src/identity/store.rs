//! `IDENTITY_SOURCE=store`: keys resolved by digest in our own identity store.
//!
//! Keys in our checksummed format are looked up by their digest. Keys imported from an original
//! Vexa (`vexa import vexa`) are not in that format, so while the store holds any, a key that
//! fails the format check is looked up too, by the SHA-256 digest of the raw presented string
//! (what the import stored, `vexa_core::import::map_key`). Otherwise the fast rejection stands.

use std::sync::Arc;

use futures_util::future::{BoxFuture, FutureExt};
use vexa_core::{ApiKey, IdentityStore, KeyDigest, StoreError};

use super::imported::ImportedKeys;
use super::{KeySource, PresentedKey, SourceResult, SourceUnavailable};

/// Our own store, behind the one storage trait.
pub struct StoreKeySource {
    store: Arc<dyn IdentityStore>,
    imported: Arc<ImportedKeys>,
}

impl StoreKeySource {
    /// A source that never admits keys outside our format (its imported-keys flag is never
    /// refreshed).
    pub fn new(store: Arc<dyn IdentityStore>) -> StoreKeySource {
        let imported = ImportedKeys::new(store.clone());
        StoreKeySource { store, imported }
    }

    /// A source that also admits any key while `imported` says the store holds imported keys.
    pub fn with_imported(
        store: Arc<dyn IdentityStore>,
        imported: Arc<ImportedKeys>,
    ) -> StoreKeySource {
        StoreKeySource { store, imported }
    }
}

/// The store path's format check: only keys in our checksummed format are looked up, so a
/// malformed key never reaches the cache or the store.
pub fn admit_store_key(raw: &str) -> Option<PresentedKey> {
    ApiKey::parse(raw)
        .ok()
        .map(|k| PresentedKey::by_digest(k.digest))
}

/// [`admit_store_key`], and while `imported_present`, any other non-empty key by the digest of
/// its raw string. Such keys then go through the cache like any other: one store lookup per
/// distinct key, cached misses after that.
pub fn admit_store_or_imported_key(raw: &str, imported_present: bool) -> Option<PresentedKey> {
    match admit_store_key(raw) {
        Some(k) => Some(k),
        None if imported_present && !raw.is_empty() => {
            Some(PresentedKey::by_digest(KeyDigest::of(raw)))
        }
        None => None,
    }
}

impl KeySource for StoreKeySource {
    fn admit(&self, raw: &str) -> Option<PresentedKey> {
        admit_store_or_imported_key(raw, self.imported.present())
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_non_format_key_is_admitted_by_its_raw_digest_only_while_imports_exist() {
        let legacy = "legacy-0.10-token-abc";
        assert!(admit_store_or_imported_key(legacy, false).is_none());
        let admitted = admit_store_or_imported_key(legacy, true).map(|k| k.digest);
        assert_eq!(admitted, Some(KeyDigest::of(legacy)));
        assert!(admit_store_or_imported_key("", true).is_none());
    }
}
