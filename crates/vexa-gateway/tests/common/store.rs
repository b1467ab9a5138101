//! An identity store for the gateway tests: the `IdentityStore` port over memory, with a switch
//! that makes every call fail as `Unavailable` (the database is down) and a log of
//! `record_key_use` batches.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use vexa_core::*;

#[derive(Default)]
pub struct TestStore {
    keys: Mutex<HashMap<KeyDigest, Principal>>,
    next_id: AtomicI64,
    pub down: AtomicBool,
    pub resolves: AtomicUsize,
    pub uses: Mutex<Vec<Vec<(KeyId, Timestamp)>>>,
}

impl TestStore {
    pub fn new() -> Arc<TestStore> {
        Arc::new(TestStore::default())
    }

    pub fn add(
        &self,
        minted: &MintedKey,
        scopes: ScopeSet,
        expires_at: Option<Timestamp>,
    ) -> Principal {
        let id = self.next_id.fetch_add(1, Ordering::SeqCst) + 1;
        let p = Principal {
            user_id: UserId(id),
            email: Arc::from(format!("user{id}@acme.com")),
            scopes,
            max_concurrent_bots: 3,
            key_id: KeyId(id),
            expires_at,
        };
        self.keys
            .lock()
            .expect("lock")
            .insert(minted.digest, p.clone());
        p
    }

    /// Deletes the key, returning the change the admin API would announce.
    pub fn revoke(&self, raw: &str) -> IdentityChange {
        let digest = KeyDigest::of(raw);
        self.keys.lock().expect("lock").remove(&digest);
        IdentityChange::KeyRevoked(digest)
    }

    pub fn delete_user_of(&self, raw: &str) -> IdentityChange {
        let digest = KeyDigest::of(raw);
        let p = self
            .keys
            .lock()
            .expect("lock")
            .remove(&digest)
            .expect("known key");
        IdentityChange::UserChanged(p.user_id)
    }

    fn check(&self) -> Result<(), StoreError> {
        if self.down.load(Ordering::SeqCst) {
            Err(StoreError::Unavailable("down".into()))
        } else {
            Ok(())
        }
    }
}

#[async_trait]
impl IdentityStore for TestStore {
    async fn create_or_find_user(
        &self,
        _: &NewUser,
        _: Timestamp,
    ) -> Result<(User, bool), StoreError> {
        Err(StoreError::Other("unused".into()))
    }
    async fn user(&self, _: UserId) -> Result<Option<User>, StoreError> {
        Ok(None)
    }
    async fn user_by_email(&self, _: &Email) -> Result<Option<User>, StoreError> {
        Ok(None)
    }
    async fn list_users(&self, _: i64, _: i64) -> Result<(Vec<User>, i64), StoreError> {
        Ok((vec![], 0))
    }
    async fn update_user(&self, _: UserId, _: &UserPatch) -> Result<Option<User>, StoreError> {
        Ok(None)
    }
    async fn delete_user(&self, _: UserId, _: Timestamp) -> Result<bool, StoreError> {
        Ok(false)
    }
    async fn insert_key(&self, _: &NewKey) -> Result<KeyRecord, StoreError> {
        Err(StoreError::Other("unused".into()))
    }
    async fn list_keys(&self, _: UserId) -> Result<Option<Vec<KeyRecord>>, StoreError> {
        Ok(None)
    }
    async fn revoke_key(&self, _: KeyId, _: Timestamp) -> Result<Option<KeyDigest>, StoreError> {
        Ok(None)
    }
    async fn resolve_key(&self, digest: &KeyDigest) -> Result<Option<ResolvedKey>, StoreError> {
        self.check()?;
        self.resolves.fetch_add(1, Ordering::SeqCst);
        Ok(self.keys.lock().expect("lock").get(digest).cloned())
    }
    async fn record_key_use(&self, uses: &[(KeyId, Timestamp)]) -> Result<(), StoreError> {
        self.check()?;
        self.uses.lock().expect("lock").push(uses.to_vec());
        Ok(())
    }
    async fn events_since(&self, _: i64, _: i64) -> Result<Vec<IdentityEvent>, StoreError> {
        Ok(vec![])
    }
    async fn latest_event_seq(&self) -> Result<i64, StoreError> {
        Ok(0)
    }
    async fn ping(&self) -> Result<(), StoreError> {
        self.check()
    }
}
