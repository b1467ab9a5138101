//! [`AuditedStore`] for SQLite and PostgreSQL: the admin mutations of [`crate::identity`] with
//! their audit entry (the `Some(ctx)` path of the one implementation of each mutation), and the
//! reads of the log from [`crate::chain`].

use async_trait::async_trait;
use vexa_core::audit::{AuditAction, AuditContext, AuditEntry, AuditFilter, AuditPage, ChainHead};
use vexa_core::{
    AuditedStore, KeyDigest, KeyId, KeyLimitsPatch, KeyRecord, NewKey, NewUser, StoreError,
    Timestamp, User, UserId, UserPatch,
};

use crate::identity::SqlIdentityStore;

#[async_trait]
impl AuditedStore for SqlIdentityStore {
    async fn create_or_find_user_audited(
        &self,
        new: &NewUser,
        now: Timestamp,
        ctx: &AuditContext,
    ) -> Result<(User, bool), StoreError> {
        self.create_or_find_user_in(new, now, Some(ctx)).await
    }

    async fn update_user_audited(
        &self,
        id: UserId,
        patch: &UserPatch,
        action: AuditAction,
        now: Timestamp,
        ctx: &AuditContext,
    ) -> Result<Option<User>, StoreError> {
        self.update_user_in(id, patch, now, Some((ctx, action)))
            .await
    }

    async fn delete_user_audited(
        &self,
        id: UserId,
        now: Timestamp,
        ctx: &AuditContext,
    ) -> Result<bool, StoreError> {
        self.delete_user_in(id, now, Some(ctx)).await
    }

    async fn insert_key_audited(
        &self,
        key: &NewKey,
        ctx: &AuditContext,
    ) -> Result<KeyRecord, StoreError> {
        self.insert_key_in(key, Some(ctx)).await
    }

    async fn revoke_key_audited(
        &self,
        id: KeyId,
        now: Timestamp,
        ctx: &AuditContext,
    ) -> Result<Option<KeyDigest>, StoreError> {
        self.revoke_key_in(id, now, Some(ctx)).await
    }

    async fn rotate_key_audited(
        &self,
        old: KeyId,
        replacement: &NewKey,
        retires_at: Timestamp,
        now: Timestamp,
        ctx: &AuditContext,
    ) -> Result<Option<(KeyRecord, KeyDigest)>, StoreError> {
        self.rotate_key_in(old, replacement, retires_at, now, Some(ctx))
            .await
    }

    async fn update_key_limits_audited(
        &self,
        id: KeyId,
        patch: &KeyLimitsPatch,
        now: Timestamp,
        ctx: &AuditContext,
    ) -> Result<Option<(KeyRecord, KeyDigest)>, StoreError> {
        self.update_key_limits_in(id, patch, now, Some(ctx)).await
    }

    async fn audit_page(
        &self,
        filter: &AuditFilter,
        page: AuditPage,
    ) -> Result<(Vec<AuditEntry>, i64), StoreError> {
        self.read_audit_page(filter, page).await
    }

    async fn audit_entries_from(
        &self,
        after_seq: i64,
        limit: i64,
    ) -> Result<Vec<AuditEntry>, StoreError> {
        self.read_audit_from(after_seq, limit).await
    }

    async fn audit_head(&self) -> Result<ChainHead, StoreError> {
        self.read_audit_head().await
    }
}
