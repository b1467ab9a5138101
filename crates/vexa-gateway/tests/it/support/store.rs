//! The identity store of the gateway tests: the real [`SqlIdentityStore`] on a fresh SQLite file
//! or PostgreSQL database, observed by a thin wrapper that can make every call fail as
//! `Unavailable` (the database is down), counts resolutions (`resolves`: the counting wrapper
//! that proves what never reaches the store) and logs the uses of `record_key_activity` batches (proving write-behind batching).

use std::sync::atomic::{AtomicBool, AtomicI64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use vexa_core::usage::{KeyUse, UsageCount};
use vexa_core::*;
use vexa_store::identity::SqlIdentityStore;
use vexa_testkit::keys::NewKeyBuilder;
use vexa_testkit::{Backend, TestDb};

pub struct TestStore {
    inner: SqlIdentityStore,
    /// Keeps the database (and a SQLite file's temp dir) alive as long as the store.
    _db: TestDb,
    next_user: AtomicI64,
    pub down: AtomicBool,
    pub resolves: AtomicUsize,
    pub uses: Mutex<Vec<Vec<(KeyId, Timestamp)>>>,
}

const NOW: Timestamp = Timestamp(1_700_000_000_000);

impl TestStore {
    pub async fn new(backend: Backend) -> Arc<TestStore> {
        let db = TestDb::new(backend).await;
        Arc::new(TestStore {
            inner: SqlIdentityStore::new(db.db.clone()),
            _db: db,
            next_user: AtomicI64::new(0),
            down: AtomicBool::new(false),
            resolves: AtomicUsize::new(0),
            uses: Mutex::new(Vec::new()),
        })
    }

    /// The real store underneath, for admin mutations a test makes as the admin API would
    /// (audited, outside the gateway's counters and outage switch).
    pub fn admin_side(&self) -> &SqlIdentityStore {
        &self.inner
    }

    /// A fresh user with a fresh key of `scopes` (the first names its prefix); the plaintext.
    pub async fn add(&self, scopes: &[Scope], expires_at: Option<Timestamp>) -> String {
        self.add_with_limits(scopes, expires_at, vexa_core::KeyLimits::NONE)
            .await
    }

    /// [`TestStore::add`] with the key's own limits.
    pub async fn add_with_limits(
        &self,
        scopes: &[Scope],
        expires_at: Option<Timestamp>,
        limits: vexa_core::KeyLimits,
    ) -> String {
        let n = self.next_user.fetch_add(1, Ordering::SeqCst) + 1;
        let new = NewUser {
            email: Email::parse(&format!("user{n}@acme.com")).expect("email"),
            name: None,
            image_url: None,
            max_concurrent_bots: 3,
        };
        let (user, _) = self
            .inner
            .create_or_find_user(&new, NOW)
            .await
            .expect("create user");
        let (minted, new_key) = NewKeyBuilder::new(user.id, scopes)
            .created_at(NOW)
            .expires_at(expires_at)
            .limits(limits)
            .build();
        self.inner.insert_key(&new_key).await.expect("insert key");
        // Straight to the inner store: a harness lookup must not count as the gateway's.
        self.inner
            .resolve_key(&minted.digest)
            .await
            .expect("resolve")
            .expect("live key");
        minted.expose_secret().to_owned()
    }

    /// A user and one key as `vexa import vexa` stores them from an original Vexa row: `token`
    /// in whatever format the original had, kept only as its digest; `scopes` as mapped
    /// (a scope-less row arrives as full scope). Ids are `id` for both. Straight to the inner
    /// store, like [`TestStore::add`].
    pub async fn import_legacy(&self, id: i64, token: &str, scopes: &[Scope]) {
        use vexa_core::import::{display_prefix, ImportedKey, ImportedUser};
        let email = format!("legacy{id}@acme.com");
        let batch = vexa_store::import::ImportBatch {
            new_users: vec![ImportedUser {
                id: UserId(id),
                email: email.clone(),
                email_lower: email,
                name: None,
                image_url: None,
                max_concurrent_bots: 2,
                data: Default::default(),
                created_at: NOW,
            }],
            new_keys: vec![ImportedKey {
                id: KeyId(id),
                user_id: UserId(id),
                digest: KeyDigest::of(token),
                display_prefix: display_prefix(token),
                scopes: scopes.iter().copied().collect(),
                name: Some("imported".into()),
                created_at: NOW,
                last_used_at: None,
                expires_at: None,
            }],
            ..Default::default()
        };
        self.inner
            .apply_import(
                &batch,
                NOW,
                &vexa_core::AuditContext::local(vexa_core::AuditActor::Import),
            )
            .await
            .expect("import");
        self.inner.continue_id_sequences().await.expect("sequences");
    }

    /// Revokes the key in the store, returning the change the admin API would announce.
    pub async fn revoke(&self, raw: &str) -> IdentityChange {
        let p = self.principal_of(raw).await;
        let digest = self
            .inner
            .revoke_key(p.key_id, NOW)
            .await
            .expect("revoke")
            .expect("live key");
        IdentityChange::KeyRevoked(digest)
    }

    /// Deletes the key's user in the store, returning the change the admin API would announce.
    pub async fn delete_user_of(&self, raw: &str) -> IdentityChange {
        let p = self.principal_of(raw).await;
        assert!(self
            .inner
            .delete_user(p.user_id, NOW)
            .await
            .expect("delete user"));
        IdentityChange::UserChanged(p.user_id)
    }

    /// `last_used_at` of the key as stored.
    pub async fn last_used_at(&self, raw: &str) -> Option<Timestamp> {
        let p = self.principal_of(raw).await;
        let keys = self
            .inner
            .list_keys(p.user_id)
            .await
            .expect("list")
            .expect("user");
        keys.into_iter()
            .find(|k| k.id == p.key_id)
            .and_then(|k| k.last_used_at)
    }

    async fn principal_of(&self, raw: &str) -> Principal {
        self.inner
            .resolve_key(&KeyDigest::of(raw))
            .await
            .expect("resolve")
            .expect("live key")
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
        new: &NewUser,
        now: Timestamp,
    ) -> Result<(User, bool), StoreError> {
        self.check()?;
        self.inner.create_or_find_user(new, now).await
    }
    async fn user(&self, id: UserId) -> Result<Option<User>, StoreError> {
        self.check()?;
        self.inner.user(id).await
    }
    async fn user_by_email(&self, email: &Email) -> Result<Option<User>, StoreError> {
        self.check()?;
        self.inner.user_by_email(email).await
    }
    async fn list_users(&self, skip: i64, limit: i64) -> Result<(Vec<User>, i64), StoreError> {
        self.check()?;
        self.inner.list_users(skip, limit).await
    }
    async fn update_user(&self, id: UserId, patch: &UserPatch) -> Result<Option<User>, StoreError> {
        self.check()?;
        self.inner.update_user(id, patch).await
    }
    async fn delete_user(&self, id: UserId, now: Timestamp) -> Result<bool, StoreError> {
        self.check()?;
        self.inner.delete_user(id, now).await
    }
    async fn insert_key(&self, key: &NewKey) -> Result<KeyRecord, StoreError> {
        self.check()?;
        self.inner.insert_key(key).await
    }
    async fn list_keys(&self, user: UserId) -> Result<Option<Vec<KeyRecord>>, StoreError> {
        self.check()?;
        self.inner.list_keys(user).await
    }
    async fn revoke_key(&self, id: KeyId, now: Timestamp) -> Result<Option<KeyDigest>, StoreError> {
        self.check()?;
        self.inner.revoke_key(id, now).await
    }
    async fn update_key_limits(
        &self,
        id: KeyId,
        patch: &vexa_core::KeyLimitsPatch,
        now: Timestamp,
    ) -> Result<Option<(KeyRecord, KeyDigest)>, StoreError> {
        self.check()?;
        self.inner.update_key_limits(id, patch, now).await
    }
    async fn key(&self, id: KeyId) -> Result<Option<vexa_core::StoredKey>, StoreError> {
        self.check()?;
        self.inner.key(id).await
    }
    async fn rotate_key(
        &self,
        old: KeyId,
        replacement: &NewKey,
        retires_at: Timestamp,
        now: Timestamp,
    ) -> Result<Option<(KeyRecord, KeyDigest)>, StoreError> {
        self.check()?;
        self.inner
            .rotate_key(old, replacement, retires_at, now)
            .await
    }
    async fn claim_expiring_keys(
        &self,
        now: Timestamp,
        before: Timestamp,
        limit: i64,
    ) -> Result<Vec<KeyRecord>, StoreError> {
        self.check()?;
        self.inner.claim_expiring_keys(now, before, limit).await
    }
    async fn resolve_key(&self, digest: &KeyDigest) -> Result<Option<Principal>, StoreError> {
        self.check()?;
        self.resolves.fetch_add(1, Ordering::SeqCst);
        self.inner.resolve_key(digest).await
    }
    async fn record_key_use(&self, uses: &[(KeyId, Timestamp)]) -> Result<(), StoreError> {
        self.check()?;
        self.uses.lock().expect("lock").push(uses.to_vec());
        self.inner.record_key_use(uses).await
    }
    async fn list_keys_with_revoked(
        &self,
        user: UserId,
    ) -> Result<Option<Vec<KeyRecord>>, StoreError> {
        self.check()?;
        self.inner.list_keys_with_revoked(user).await
    }
    async fn record_key_activity(
        &self,
        uses: &[KeyUse],
        counts: &[UsageCount],
    ) -> Result<(), StoreError> {
        self.check()?;
        let logged: Vec<(KeyId, Timestamp)> = uses.iter().map(|u| (u.key_id, u.at)).collect();
        self.uses.lock().expect("lock").push(logged);
        self.inner.record_key_activity(uses, counts).await
    }
    async fn key_usage(
        &self,
        id: KeyId,
        since: Timestamp,
    ) -> Result<Option<Vec<UsageCount>>, StoreError> {
        self.check()?;
        self.inner.key_usage(id, since).await
    }
    async fn user_key_usage(
        &self,
        user: UserId,
        since: Timestamp,
    ) -> Result<Vec<UsageCount>, StoreError> {
        self.check()?;
        self.inner.user_key_usage(user, since).await
    }
    async fn events_since(&self, after: i64, limit: i64) -> Result<Vec<IdentityEvent>, StoreError> {
        self.check()?;
        self.inner.events_since(after, limit).await
    }
    async fn latest_event_seq(&self) -> Result<i64, StoreError> {
        self.check()?;
        self.inner.latest_event_seq().await
    }
    async fn holds_imported_keys(&self) -> Result<bool, StoreError> {
        self.check()?;
        self.inner.holds_imported_keys().await
    }
    async fn ping(&self) -> Result<(), StoreError> {
        self.check()?;
        self.inner.ping().await
    }
}
