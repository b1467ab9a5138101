//! Support code for vexa's benchmarks: an in-memory, lookup-counting identity store for the
//! criterion benches, key seeding straight into the real schema for the scale runs, and small
//! statistics helpers. Nothing here is used by the product.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use async_trait::async_trait;
use rand::rngs::StdRng;
use rand::SeedableRng;
use vexa_core::store::{IdentityEvent, KeyRecord, NewKey};
use vexa_core::{
    Email, IdentityStore, KeyDigest, KeyId, MintedKey, NewUser, Principal, Scope, ScopeSet,
    StoreError, Timestamp, User, UserId, UserPatch,
};

pub mod relay;
pub mod seed;
pub mod stats;

/// An identity store holding only resolvable keys, counting `resolve_key` calls. Every other
/// method reports `StoreError::Other`: the benches never call them.
pub struct MemStore {
    keys: HashMap<KeyDigest, Principal>,
    sample: String,
    lookups: AtomicU64,
}

impl MemStore {
    /// `n` keys (at least one) spread over users of 1000 keys each, from a seeded RNG.
    pub fn with_keys(n: usize, seed: u64) -> MemStore {
        let mut rng = StdRng::seed_from_u64(seed);
        let mut keys = HashMap::with_capacity(n.max(1));
        let mut sample = String::new();
        let email: Arc<str> = Arc::from("bench@vexa.local");
        for i in 0..n.max(1) {
            let minted = MintedKey::generate_with(Scope::Browser, &mut rng);
            if i == 0 {
                sample = minted.expose_secret().to_owned();
            }
            let principal = Principal {
                user_id: UserId(1 + (i / 1000) as i64),
                email: email.clone(),
                scopes: [Scope::Browser].into_iter().collect::<ScopeSet>(),
                max_concurrent_bots: 3,
                key_id: KeyId(1 + i as i64),
                expires_at: None,
                limits: Default::default(),
                retires_at: None,
                profile: Default::default(),
            };
            keys.insert(minted.digest, principal);
        }
        MemStore {
            keys,
            sample,
            lookups: AtomicU64::new(0),
        }
    }

    pub fn digests(&self) -> Vec<KeyDigest> {
        self.keys.keys().copied().collect()
    }

    /// The plaintext of one stored key.
    pub fn sample_plaintext(&self) -> String {
        self.sample.clone()
    }

    /// How many times `resolve_key` ran.
    pub fn lookups(&self) -> u64 {
        self.lookups.load(Ordering::Relaxed)
    }
}

fn unsupported<T>() -> Result<T, StoreError> {
    Err(StoreError::Other(
        "not supported by the benchmark store".into(),
    ))
}

#[async_trait]
impl IdentityStore for MemStore {
    async fn create_or_find_user(
        &self,
        _new: &NewUser,
        _now: Timestamp,
    ) -> Result<(User, bool), StoreError> {
        unsupported()
    }
    async fn user(&self, _id: UserId) -> Result<Option<User>, StoreError> {
        unsupported()
    }
    async fn user_by_email(&self, _email: &Email) -> Result<Option<User>, StoreError> {
        unsupported()
    }
    async fn list_users(&self, _skip: i64, _limit: i64) -> Result<(Vec<User>, i64), StoreError> {
        unsupported()
    }
    async fn update_user(
        &self,
        _id: UserId,
        _patch: &UserPatch,
    ) -> Result<Option<User>, StoreError> {
        unsupported()
    }
    async fn delete_user(&self, _id: UserId, _now: Timestamp) -> Result<bool, StoreError> {
        unsupported()
    }
    async fn insert_key(&self, _key: &NewKey) -> Result<KeyRecord, StoreError> {
        unsupported()
    }
    async fn list_keys(&self, _user: UserId) -> Result<Option<Vec<KeyRecord>>, StoreError> {
        unsupported()
    }
    async fn revoke_key(
        &self,
        _id: KeyId,
        _now: Timestamp,
    ) -> Result<Option<KeyDigest>, StoreError> {
        unsupported()
    }
    async fn update_key_limits(
        &self,
        _id: KeyId,
        _patch: &vexa_core::KeyLimitsPatch,
        _now: Timestamp,
    ) -> Result<Option<(KeyRecord, KeyDigest)>, StoreError> {
        unsupported()
    }
    async fn key(&self, _id: KeyId) -> Result<Option<vexa_core::StoredKey>, StoreError> {
        unsupported()
    }
    async fn rotate_key(
        &self,
        _old: KeyId,
        _replacement: &NewKey,
        _retires_at: Timestamp,
        _now: Timestamp,
    ) -> Result<Option<(KeyRecord, KeyDigest)>, StoreError> {
        unsupported()
    }
    async fn claim_expiring_keys(
        &self,
        _now: Timestamp,
        _before: Timestamp,
        _limit: i64,
    ) -> Result<Vec<KeyRecord>, StoreError> {
        unsupported()
    }
    async fn resolve_key(&self, digest: &KeyDigest) -> Result<Option<Principal>, StoreError> {
        self.lookups.fetch_add(1, Ordering::Relaxed);
        Ok(self.keys.get(digest).cloned())
    }
    async fn record_key_use(&self, _uses: &[(KeyId, Timestamp)]) -> Result<(), StoreError> {
        Ok(())
    }
    async fn list_keys_with_revoked(
        &self,
        _user: UserId,
    ) -> Result<Option<Vec<KeyRecord>>, StoreError> {
        unsupported()
    }
    async fn record_key_activity(
        &self,
        _uses: &[vexa_core::usage::KeyUse],
        _counts: &[vexa_core::usage::UsageCount],
    ) -> Result<(), StoreError> {
        Ok(())
    }
    async fn key_usage(
        &self,
        _id: KeyId,
        _since: Timestamp,
    ) -> Result<Option<Vec<vexa_core::usage::UsageCount>>, StoreError> {
        unsupported()
    }
    async fn user_key_usage(
        &self,
        _user: UserId,
        _since: Timestamp,
    ) -> Result<Vec<vexa_core::usage::UsageCount>, StoreError> {
        unsupported()
    }
    async fn events_since(
        &self,
        _after_seq: i64,
        _limit: i64,
    ) -> Result<Vec<IdentityEvent>, StoreError> {
        Ok(Vec::new())
    }
    async fn latest_event_seq(&self) -> Result<i64, StoreError> {
        Ok(0)
    }
    async fn ping(&self) -> Result<(), StoreError> {
        Ok(())
    }
}
