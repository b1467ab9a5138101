//! The key-resolution seam: where a presented API key is turned into a [`Principal`].
//!
//! A [`KeySource`] owns two decisions, and nothing else: which presented strings are worth
//! looking up at all ([`KeySource::admit`], the format check), and how one admitted key is
//! looked up ([`KeySource::lookup`]). Caching, single-flight and revocation tombstones stay in
//! [`crate::cache::KeyCache`], the same for every source. Two sources exist:
//!
//! - [`StoreKeySource`]: our own identity store, by SHA-256 digest (`IDENTITY_SOURCE=store`),
//!   including keys imported from an original Vexa ([`ImportedKeys`]);
//! - [`VexaKeySource`]: the original Vexa identity service's `POST /internal/validate`
//!   (`IDENTITY_SOURCE=vexa`), which needs the key itself for the duration of one call.
//!
//! This module must not know about HTTP requests of clients, routes or limits.

mod config;
mod imported;
mod store;
mod vexa;

use std::fmt;

use futures_util::future::BoxFuture;
use vexa_core::{KeyDigest, Principal};
use zeroize::Zeroizing;

pub use config::{
    IdentityConfig, IdentitySource, ENV_IDENTITY_CACHE_TTL_S, ENV_IDENTITY_NEGATIVE_TTL_S,
    ENV_IDENTITY_SOURCE, ENV_IDENTITY_VALIDATE_TIMEOUT_S,
};
pub use imported::{ImportedKeys, PROBE_EVERY as IMPORTED_PROBE_EVERY};
pub use store::StoreKeySource;
pub use store::{admit_store_key, admit_store_or_imported_key};
pub use vexa::{admit_vexa_key, VexaKeySource};

/// A key a client presented that its source agreed to look up: always its digest (the cache
/// key), and the plaintext only for sources that must send it on (zeroed on drop, never logged,
/// never stored — it lives exactly as long as the request or lookup that holds it).
#[derive(Clone)]
pub struct PresentedKey {
    pub digest: KeyDigest,
    plaintext: Option<Zeroizing<String>>,
}

impl PresentedKey {
    /// A key known by digest only.
    pub fn by_digest(digest: KeyDigest) -> PresentedKey {
        PresentedKey {
            digest,
            plaintext: None,
        }
    }

    /// A key whose plaintext the source needs; the digest is computed here.
    pub fn with_plaintext(raw: &str) -> PresentedKey {
        PresentedKey {
            digest: KeyDigest::of(raw),
            plaintext: Some(Zeroizing::new(raw.to_owned())),
        }
    }

    /// The plaintext, for the one call that must send it.
    pub fn plaintext(&self) -> Option<&str> {
        self.plaintext.as_deref().map(String::as_str)
    }
}

impl From<KeyDigest> for PresentedKey {
    fn from(digest: KeyDigest) -> PresentedKey {
        PresentedKey::by_digest(digest)
    }
}

impl fmt::Debug for PresentedKey {
    // Never the plaintext: only the (non-secret) digest.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PresentedKey")
            .field("digest", &self.digest)
            .finish_non_exhaustive()
    }
}

/// The source could not say whether the key is valid (down, slow, or answered nonsense). Never
/// mapped to "invalid key": the caller answers 503.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SourceUnavailable;

/// What one lookup found: `Some` principal, or `None` for a key the source does not accept.
pub type SourceResult = Result<Option<Principal>, SourceUnavailable>;

/// Where keys are resolved. Implementations are cheap to call concurrently; the cache makes
/// sure one digest has at most one lookup in flight.
pub trait KeySource: Send + Sync + 'static {
    /// The format check: `None` means "invalid key" without any lookup.
    fn admit(&self, raw: &str) -> Option<PresentedKey>;

    /// Looks up one admitted key.
    fn lookup(&self, key: PresentedKey) -> BoxFuture<'static, SourceResult>;

    /// Whether this source is our own store (uses are then recorded in it, `last_used_at`).
    fn is_own_store(&self) -> bool;
}
