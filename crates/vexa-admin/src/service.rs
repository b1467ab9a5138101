//! The identity service behind the admin routes: validates requests into domain values, calls
//! the `AuditedStore` port, and tells the `IdentityListener`. Knows nothing of HTTP beyond the
//! error type; never sees or stores a key's plaintext except to hand it back once from `mint`.
//! Every mutation takes the caller's [`AuditContext`] and goes through the store's audited
//! method, which writes the audit entry in the mutation's own transaction.

use std::sync::Arc;

use serde_json::{Map, Value};
use vexa_core::audit::{AuditFilter, AuditPage, BrokenLink};
use vexa_core::rotate::{self, Grace};
use vexa_core::store::IdentityChange;
use vexa_core::usage::{key_status, recent_since, Outcome, UsageWindow};
use vexa_core::user::{
    check_len, check_max_concurrent_bots, DEFAULT_MAX_CONCURRENT_BOTS, MAX_DATA_BYTES,
    MAX_NAME_LEN, MAX_URL_LEN,
};
use vexa_core::webhook::{reserved_key_in, Webhook, WebhookUpdate, WEBHOOK_KEYS};
use vexa_core::{
    AuditAction, AuditContext, AuditedStore, Clock, Email, IdentityListener, KeyDigest, KeyId,
    KeyRecord, Lifetime, NewUser, Principal, Scope, StoreError, User, UserId, UserPatch,
};

use crate::error::AdminError;
use crate::key_events::{KeyEvent, KeyEventKind, KeyEvents};
use crate::mint::{self, MintQuery};
use crate::wire::{
    AuditEntryView, CreateUserRequest, KeyView, MintRequest, MintedKeyView, PatchKeyRequest,
    PatchUserRequest, RotateRequest, UsageView, UserView, WebhookView,
};

/// Scopes that may read and set a user's webhook (CONTRACT §4 scope table).
const WEBHOOK_SCOPES: &[Scope] = &[Scope::Bot, Scope::Tx];

/// Largest page of users one request may ask for.
pub const MAX_PAGE: i64 = 1000;
pub const DEFAULT_PAGE: i64 = 100;

/// The store as the admin API sees it (the console's replicas screen).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreStatus {
    pub reachable: bool,
    /// `None` when the store did not answer.
    pub latest_event_seq: Option<i64>,
}

/// Users and keys, as the admin API manages them.
pub struct AdminService {
    store: Arc<dyn AuditedStore>,
    clock: Arc<dyn Clock>,
    on_change: Arc<dyn IdentityListener>,
    key_events: KeyEvents,
}

impl AdminService {
    pub fn new(
        store: Arc<dyn AuditedStore>,
        clock: Arc<dyn Clock>,
        on_change: Arc<dyn IdentityListener>,
    ) -> Self {
        AdminService {
            store,
            clock,
            on_change,
            key_events: KeyEvents::disabled(),
        }
    }

    /// Announces rotations and revocations on the users' webhooks through `events`.
    pub fn with_key_events(mut self, events: KeyEvents) -> Self {
        self.key_events = events;
        self
    }

    /// Find-or-create by email; `true` when the user was created.
    pub async fn create_user(
        &self,
        req: CreateUserRequest,
        ctx: &AuditContext,
    ) -> Result<(UserView, bool), AdminError> {
        let email = Email::parse(&req.email)?;
        if let Some(name) = &req.name {
            check_len("name", name, MAX_NAME_LEN)?;
        }
        if let Some(url) = &req.image_url {
            check_len("image_url", url, MAX_URL_LEN)?;
        }
        let max_concurrent_bots = req
            .max_concurrent_bots
            .unwrap_or(DEFAULT_MAX_CONCURRENT_BOTS);
        check_max_concurrent_bots(max_concurrent_bots)?;
        let new = NewUser {
            email,
            name: req.name,
            image_url: req.image_url,
            max_concurrent_bots,
        };
        let (user, created) = self
            .store
            .create_or_find_user_audited(&new, self.clock.now(), ctx)
            .await?;
        Ok((user.into(), created))
    }

    pub async fn user(&self, id: UserId) -> Result<UserView, AdminError> {
        self.store
            .user(id)
            .await?
            .map(UserView::from)
            .ok_or(AdminError::UserNotFound)
    }

    pub async fn user_by_email(&self, raw: &str) -> Result<UserView, AdminError> {
        let email = Email::parse(raw)?;
        let user = self.store.user_by_email(&email).await?;
        user.map(UserView::from).ok_or(AdminError::UserNotFound)
    }

    /// A page of users, oldest first, and the total number of users.
    pub async fn list_users(
        &self,
        skip: i64,
        limit: i64,
    ) -> Result<(Vec<UserView>, i64), AdminError> {
        let (users, total) = self.store.list_users(skip, limit).await?;
        Ok((users.into_iter().map(UserView::from).collect(), total))
    }

    pub async fn patch_user(
        &self,
        id: UserId,
        req: PatchUserRequest,
        ctx: &AuditContext,
    ) -> Result<UserView, AdminError> {
        let patch = to_patch(req)?;
        let user = self
            .store
            .update_user_audited(id, &patch, AuditAction::UserUpdate, self.clock.now(), ctx)
            .await?
            .ok_or(AdminError::UserNotFound)?;
        self.notify(&IdentityChange::UserChanged(id));
        Ok(user.into())
    }

    /// Deletes the user; their keys stop working at once. When the user has a webhook, each
    /// live key's `key.revoked` goes to it (read before the delete: the user is gone after).
    pub async fn delete_user(&self, id: UserId, ctx: &AuditContext) -> Result<(), AdminError> {
        let before = self.revocation_notices(id).await;
        if !self
            .store
            .delete_user_audited(id, self.clock.now(), ctx)
            .await?
        {
            return Err(AdminError::UserNotFound);
        }
        self.notify(&IdentityChange::UserChanged(id));
        let now = self.clock.now();
        for (hook, key) in before {
            self.key_events.emit(KeyEvent {
                kind: KeyEventKind::Revoked,
                key,
                at: now,
                hook: Some(hook),
            });
        }
        Ok(())
    }

    /// The user's webhook and live keys, for the notices of a delete; empty without a webhook
    /// or when the store cannot say (the delete itself decides the answer).
    async fn revocation_notices(&self, id: UserId) -> Vec<(Webhook, KeyRecord)> {
        let Ok(Some(user)) = self.store.user(id).await else {
            return Vec::new();
        };
        let Some(hook) = Webhook::from_user_data(&user.data) else {
            return Vec::new();
        };
        let Ok(Some(mut keys)) = self.store.list_keys(id).await else {
            return Vec::new();
        };
        rotate::drop_retired(&mut keys, self.clock.now());
        keys.into_iter().map(|k| (hook.clone(), k)).collect()
    }

    /// Mints a key. The user is checked before the options, as the original does
    /// (`docs/reference/vexa-gateway-identity.md` §1.2, mint), so an unknown user is a 404 whatever
    /// the options say.
    pub async fn mint_key(
        &self,
        user_id: UserId,
        body: Option<MintRequest>,
        query: MintQuery,
        ctx: &AuditContext,
    ) -> Result<MintedKeyView, AdminError> {
        let spec = mint::requested_spec(body, query).validate();
        let _user: User = self
            .store
            .user(user_id)
            .await?
            .ok_or(AdminError::UserNotFound)?;
        let (key, new) = spec?.mint(user_id, self.clock.now());
        let record = match self.store.insert_key_audited(&new, ctx).await {
            Ok(r) => r,
            // The user was deleted between the check and the insert.
            Err(StoreError::NotFound) => return Err(AdminError::UserNotFound),
            Err(e) => return Err(e.into()),
        };
        Ok(MintedKeyView::shown_once(&key, record))
    }

    /// A user's live keys, metadata only (`KeyRecord` has no field that could hold a secret).
    /// A rotated key is listed until its grace end, not after.
    pub async fn list_keys(&self, user_id: UserId) -> Result<Vec<KeyRecord>, AdminError> {
        let now = self.clock.now();
        let mut keys = self
            .store
            .list_keys(user_id)
            .await?
            .ok_or(AdminError::UserNotFound)?;
        rotate::drop_retired(&mut keys, now);
        Ok(keys)
    }

    /// One key's metadata, revoked or not (the console's key pages name the key they are about).
    pub async fn key(&self, id: KeyId) -> Result<KeyRecord, AdminError> {
        self.store
            .key(id)
            .await?
            .map(|k| k.record)
            .ok_or(AdminError::TokenNotFound)
    }

    /// Rotates a key (`vexa_core::rotate`): answers the replacement like a mint, and tells this
    /// process's caches about the old key before returning (other processes learn it from the
    /// event log the same transaction wrote).
    pub async fn rotate_key(
        &self,
        id: KeyId,
        body: Option<RotateRequest>,
        grace_query: Option<String>,
        ctx: &AuditContext,
    ) -> Result<MintedKeyView, AdminError> {
        let given = match body.and_then(|b| b.grace_seconds) {
            Some(secs) => Some(Lifetime::Seconds(secs)),
            None => grace_query.map(Lifetime::Text),
        };
        let grace = Grace::parse(given)?;
        let now = self.clock.now();
        let rotated = rotate::rotate_key(self.store.as_ref(), id, grace, now, ctx).await?;
        self.notify(&rotated.change);
        // The old key's row as it was (the rotation changed only its grace end).
        if let Ok(Some(old)) = self.store.key(id).await {
            self.key_events.emit(KeyEvent {
                kind: KeyEventKind::Rotated {
                    replacement: rotated.record.clone(),
                    retires_at: rotated.old_retires_at,
                },
                key: old.record,
                at: now,
                hook: None,
            });
        }
        Ok(MintedKeyView::shown_once(&rotated.key, rotated.record))
    }

    /// Changes a live key's limits and evicts it from in-process caches before returning (other
    /// replicas follow the event the store recorded with the change).
    pub async fn patch_key(
        &self,
        id: KeyId,
        req: PatchKeyRequest,
        ctx: &AuditContext,
    ) -> Result<KeyRecord, AdminError> {
        let patch = vexa_core::KeyLimitsPatch::from(req).validate()?;
        if patch.is_empty() {
            return Err(AdminError::invalid(
                "at least one key field must be supplied",
            ));
        }
        let (record, digest) = self
            .store
            .update_key_limits_audited(id, &patch, self.clock.now(), ctx)
            .await?
            .ok_or(AdminError::TokenNotFound)?;
        self.notify(&IdentityChange::KeyChanged(digest));
        Ok(record)
    }

    /// A user's keys with their status (revoked ones, and rotated ones past their grace end,
    /// too when `include_revoked`); the rate-limited status reads the last hour's usage buckets
    /// of the user's keys in one query.
    pub async fn list_key_views(
        &self,
        user_id: UserId,
        include_revoked: bool,
    ) -> Result<Vec<KeyView>, AdminError> {
        let now = self.clock.now();
        let keys = if include_revoked {
            self.store.list_keys_with_revoked(user_id).await?
        } else {
            self.store.list_keys(user_id).await?.map(|mut keys| {
                rotate::drop_retired(&mut keys, now);
                keys
            })
        }
        .ok_or(AdminError::UserNotFound)?;
        let recent = self
            .store
            .user_key_usage(user_id, recent_since(now))
            .await?;
        Ok(keys
            .into_iter()
            .map(|key| {
                let limited: i64 = recent
                    .iter()
                    .filter(|c| c.key_id == key.id && c.outcome == Outcome::RateLimited)
                    .map(|c| c.count)
                    .sum();
                let status = key_status(&key, now, limited);
                KeyView { key, status }
            })
            .collect())
    }

    /// A key's usage per hour over `window`, every hour present.
    pub async fn key_usage(&self, id: KeyId, window: UsageWindow) -> Result<UsageView, AdminError> {
        let now = self.clock.now();
        let rows = self
            .store
            .key_usage(id, window.first_hour(now))
            .await?
            .ok_or(AdminError::TokenNotFound)?;
        Ok(UsageView {
            token_id: id,
            hours: window.hours(),
            buckets: window.buckets(now, &rows),
        })
    }

    /// Revokes a key and evicts it from in-process caches before returning.
    pub async fn revoke_key(&self, id: KeyId, ctx: &AuditContext) -> Result<(), AdminError> {
        let digest = self
            .store
            .revoke_key_audited(id, self.clock.now(), ctx)
            .await?
            .ok_or(AdminError::TokenNotFound)?;
        self.notify(&IdentityChange::KeyRevoked(digest));
        // Read after the commit, for the event only: a failure here costs the event, not the
        // revocation.
        if let Ok(Some(key)) = self.store.key(id).await {
            self.key_events.emit(KeyEvent {
                kind: KeyEventKind::Revoked,
                key: key.record,
                at: self.clock.now(),
                hook: None,
            });
        }
        Ok(())
    }

    /// The user tier's key check (`X-API-Key` on `/user/*`): a live, unexpired key of an existing
    /// user, holding a scope of the webhook routes.
    pub async fn authenticate_user(&self, raw_key: &str) -> Result<Principal, AdminError> {
        let principal = self
            .store
            .resolve_key(&KeyDigest::of(raw_key))
            .await?
            .filter(|p| {
                let now = self.clock.now();
                !p.is_expired_at(now) && !p.is_retired_at(now)
            })
            .ok_or(AdminError::InvalidApiKey)?;
        if !principal.scopes.intersects(WEBHOOK_SCOPES) {
            return Err(AdminError::ScopeNotAuthorized);
        }
        Ok(principal)
    }

    /// `PUT /user/webhook`: checks the body, merges the settings into the user's `data` (one
    /// locked update) and answers the user record, secret left out.
    pub async fn set_webhook(
        &self,
        id: UserId,
        body: &Value,
        ctx: &AuditContext,
    ) -> Result<UserView, AdminError> {
        let update = WebhookUpdate::parse(body)?;
        let patch = UserPatch {
            data: Some(update.data_patch()),
            ..UserPatch::default()
        };
        let user = self
            .store
            .update_user_audited(id, &patch, AuditAction::UserWebhook, self.clock.now(), ctx)
            .await?
            // The key resolved a moment ago; its user has been deleted since.
            .ok_or(AdminError::InvalidApiKey)?;
        self.notify(&IdentityChange::UserChanged(id));
        Ok(user.into())
    }

    /// `GET /user/webhook`: the settings as shown (secret masked).
    pub async fn webhook(&self, id: UserId) -> Result<WebhookView, AdminError> {
        let user = self
            .store
            .user(id)
            .await?
            .ok_or(AdminError::InvalidApiKey)?;
        Ok(WebhookView::new(
            Webhook::from_user_data(&user.data).as_ref(),
        ))
    }

    /// A page of the audit log, newest first, and how many entries match the filter.
    pub async fn audit(
        &self,
        filter: &AuditFilter,
        page: AuditPage,
    ) -> Result<(Vec<AuditEntryView>, i64), AdminError> {
        let (entries, total) = self.store.audit_page(filter, page).await?;
        Ok((
            entries.into_iter().map(AuditEntryView::from).collect(),
            total,
        ))
    }

    /// Walks the audit log's hash chain up to the head the store records, a page of entries at
    /// a time (as `vexa audit verify` does): how many entries fit the chain, or the first that
    /// does not. Entries appended during the walk are past the head and not judged.
    pub async fn verify_audit_chain(&self) -> Result<Result<i64, BrokenLink>, AdminError> {
        Ok(vexa_core::audit::verify_stored_chain(self.store.as_ref()).await?)
    }

    /// What the admin API can tell about the store the gateways share: whether it answers,
    /// and the newest identity event they follow. Never fails: an outage is the answer.
    pub async fn store_status(&self) -> StoreStatus {
        let reachable = self.store.ping().await.is_ok();
        let latest_event_seq = self.store.latest_event_seq().await.ok();
        StoreStatus {
            reachable,
            latest_event_seq,
        }
    }

    /// The store's status and every registered gateway replica, judged now. Fails only when
    /// the registry cannot be read.
    pub async fn fleet(&self) -> Result<crate::fleet::Fleet, AdminError> {
        use crate::fleet::{Fleet, ReplicaView};
        let status = self.store_status().await;
        let rows = self.store.replicas().await?;
        let now = self.clock.now();
        Ok(Fleet {
            now,
            store: (&status).into(),
            replicas: rows
                .iter()
                .map(|r| ReplicaView::judge(r, status.latest_event_seq, now))
                .collect(),
        })
    }

    fn notify(&self, change: &IdentityChange) {
        self.on_change.on_change(change);
    }
}

/// Validates a PATCH body into a domain patch; an empty patch is an error.
fn to_patch(req: PatchUserRequest) -> Result<UserPatch, AdminError> {
    if let Some(Some(name)) = &req.name {
        check_len("name", name, MAX_NAME_LEN)?;
    }
    if let Some(Some(url)) = &req.image_url {
        check_len("image_url", url, MAX_URL_LEN)?;
    }
    if let Some(n) = req.max_concurrent_bots {
        check_max_concurrent_bots(n)?;
    }
    let data = req.data.map(check_data).transpose()?;
    let patch = UserPatch {
        name: req.name,
        image_url: req.image_url,
        max_concurrent_bots: req.max_concurrent_bots,
        data,
    };
    if patch.is_empty() {
        return Err(AdminError::invalid(
            "at least one user field must be supplied",
        ));
    }
    Ok(patch)
}

fn check_data(value: Value) -> Result<Map<String, Value>, AdminError> {
    let Value::Object(map) = value else {
        return Err(AdminError::invalid("data must be a JSON object"));
    };
    if let Some(key) = reserved_key_in(&map) {
        return Err(AdminError::invalid(reserved_detail(key)));
    }
    let size = serde_json::to_vec(&map)
        .map(|v| v.len())
        .unwrap_or(usize::MAX);
    if size > MAX_DATA_BYTES {
        return Err(AdminError::invalid(format!(
            "data must be at most {MAX_DATA_BYTES} bytes of JSON"
        )));
    }
    Ok(map)
}

/// Why `data.<key>` is refused by `PATCH /admin/users/{id}`.
fn reserved_detail(key: &str) -> String {
    if WEBHOOK_KEYS.contains(&key) {
        format!("data.{key} is reserved: set it through PUT /user/webhook")
    } else {
        format!("data.{key} is reserved and cannot be set through this endpoint")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reserved_data_keys_are_refused_by_name() {
        for key in vexa_core::webhook::RESERVED_DATA_KEYS {
            let data = Value::Object(Map::from_iter([(key.to_owned(), Value::Null)]));
            let e = to_patch(PatchUserRequest {
                data: Some(data),
                ..PatchUserRequest::default()
            })
            .expect_err("reserved");
            assert!(
                e.to_string()
                    .starts_with(&format!("data.{key} is reserved")),
                "{e}"
            );
        }
    }

    #[test]
    fn empty_patch_is_rejected() {
        let e = to_patch(PatchUserRequest::default()).expect_err("empty");
        assert_eq!(e.to_string(), "at least one user field must be supplied");
    }

    #[test]
    fn non_object_or_oversized_data_is_rejected() {
        assert!(to_patch(PatchUserRequest {
            data: Some(Value::Array(vec![])),
            ..PatchUserRequest::default()
        })
        .is_err());
        let big = Value::Object(Map::from_iter([(
            "k".to_owned(),
            Value::String("x".repeat(MAX_DATA_BYTES)),
        )]));
        assert!(to_patch(PatchUserRequest {
            data: Some(big),
            ..PatchUserRequest::default()
        })
        .is_err());
    }

    #[test]
    fn explicit_null_name_is_a_change() {
        let p = to_patch(PatchUserRequest {
            name: Some(None),
            ..PatchUserRequest::default()
        })
        .expect("valid");
        assert_eq!(p.name, Some(None));
    }
}
