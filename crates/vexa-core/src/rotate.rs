//! Key rotation with a grace period (CONTRACT §10), owned here so the admin API
//! (`POST /admin/tokens/{id}/rotate`) and the offline CLI (`vexa token rotate`) follow exactly
//! the same rule.
//!
//! Rotating key K mints K' for the same user with K's scopes, name and absolute expiry
//! ([`NewKey::replacing`], the one place that decides what a replacement inherits), and gives K a
//! grace end: K keeps working until then and is invalid afterwards (revoked at once with a grace
//! of 0). A key is rotated once: rotating it again while in grace is a conflict (rotate K'
//! instead, which chains); an unknown, revoked, expired or retired key is not found.
//! How the grace is spelled on the wire, and how the answer is rendered, is the caller's business.

use rand::rngs::OsRng;
use rand::RngCore;

use crate::audit::AuditContext;
use crate::error::{StoreError, ValidationError};
use crate::key::MintedKey;
use crate::mint::{Lifetime, MAX_EXPIRES_IN_SECS};
use crate::scope::Scope;
use crate::store::{AuditedStore, IdentityChange, IdentityStore, KeyId, KeyRecord, NewKey};
use crate::time::Timestamp;

/// The refusal for a grace that is not a whole number of seconds ≥ 0.
pub const GRACE_RULE: &str = "grace_seconds must be a non-negative integer number of seconds";

/// A validated grace period: whole seconds, `0..=MAX_EXPIRES_IN_SECS` (the same cap as a key's
/// lifetime, for the same reason: beyond it a timestamp is not representable).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Grace(i64);

impl Grace {
    /// No grace: the old key is revoked as the new one is stored.
    pub const NONE: Grace = Grace(0);

    /// Reads a grace as given (a JSON number or text from a query or a flag); absent means 0.
    pub fn parse(given: Option<Lifetime>) -> Result<Grace, ValidationError> {
        let refuse = || ValidationError::new("grace_seconds", GRACE_RULE);
        let secs = match given {
            None => return Ok(Grace::NONE),
            Some(Lifetime::Seconds(secs)) => secs,
            Some(Lifetime::Text(raw)) => raw.trim().parse().map_err(|_| refuse())?,
        };
        if secs < 0 {
            return Err(refuse());
        }
        if secs > MAX_EXPIRES_IN_SECS {
            return Err(ValidationError::new(
                "grace_seconds",
                format!("grace_seconds must be at most {MAX_EXPIRES_IN_SECS} seconds"),
            ));
        }
        Ok(Grace(secs))
    }

    pub fn as_secs(self) -> i64 {
        self.0
    }
}

/// Why a key could not be rotated.
#[derive(Debug, thiserror::Error)]
pub enum RotateError {
    /// No such key, or it no longer works (revoked, expired, past its grace end).
    #[error("Token not found")]
    NotFound,
    /// The key was rotated already and is in its grace period.
    #[error("Token already rotated; rotate its replacement")]
    AlreadyRotated,
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A completed rotation: the new key (plaintext shown once), its stored row, and what the
/// caller must tell its [`crate::IdentityListener`] about the old key.
#[derive(Debug)]
pub struct Rotated {
    pub key: MintedKey,
    pub record: KeyRecord,
    /// The old key's grace end (equal to the rotation time when there was no grace).
    pub old_retires_at: Timestamp,
    /// `KeyRevoked` (no grace) or `KeyChanged` (its cached resolutions must learn the grace end).
    pub change: IdentityChange,
}

impl NewKey {
    /// The row that replaces `old` with `key`, created `now`: same user, scopes, name and
    /// absolute expiry. Every field a key carries over a rotation is decided here, and only here.
    pub fn replacing(old: &KeyRecord, key: &MintedKey, now: Timestamp) -> NewKey {
        NewKey {
            limits: old.limits,
            ..NewKey::new(
                old.user_id,
                key,
                old.scopes.clone(),
                old.name.clone(),
                now,
                old.expires_at,
            )
        }
    }
}

/// Drops the keys past their grace end at `now`: a user's key list shows a rotated key only
/// while it still works.
pub fn drop_retired(keys: &mut Vec<KeyRecord>, now: Timestamp) {
    keys.retain(|k| !k.is_retired_at(now));
}

/// Rotates key `id` at `now` with `grace`, through `store` (one transaction for the write and
/// its audit entry, recorded as `ctx`).
pub async fn rotate_key(
    store: &dyn AuditedStore,
    id: KeyId,
    grace: Grace,
    now: Timestamp,
    ctx: &AuditContext,
) -> Result<Rotated, RotateError> {
    rotate_key_with(store, id, grace, now, ctx, &mut OsRng).await
}

/// [`rotate_key`] with a caller-supplied RNG (tests).
pub async fn rotate_key_with<R: RngCore + Send>(
    store: &dyn AuditedStore,
    id: KeyId,
    grace: Grace,
    now: Timestamp,
    ctx: &AuditContext,
    rng: &mut R,
) -> Result<Rotated, RotateError> {
    let old = rotatable(store, id, now).await?;
    // Imported keys always carry a scope; an empty set can only be a damaged row, and the
    // stored set (not the text) decides access anyway.
    let primary = old.scopes.primary().unwrap_or(Scope::Bot);
    let key = MintedKey::generate_with(primary, rng);
    let replacement = NewKey::replacing(&old, &key, now);
    let retires_at = now.plus_secs(grace.as_secs());
    match store
        .rotate_key_audited(id, &replacement, retires_at, now, ctx)
        .await?
    {
        Some((record, old_digest)) => Ok(Rotated {
            key,
            record,
            old_retires_at: retires_at,
            change: if grace == Grace::NONE {
                IdentityChange::KeyRevoked(old_digest)
            } else {
                IdentityChange::KeyChanged(old_digest)
            },
        }),
        // Revoked or rotated by someone else between the read and the write: answer as if the
        // write had come second.
        None => Err(rotatable(store, id, now)
            .await
            .err()
            .unwrap_or(RotateError::AlreadyRotated)),
    }
}

/// The key `id` when it may be rotated at `now`, else why not.
async fn rotatable(
    store: &dyn IdentityStore,
    id: KeyId,
    now: Timestamp,
) -> Result<KeyRecord, RotateError> {
    let stored = store.key(id).await?.ok_or(RotateError::NotFound)?;
    let rec = stored.record;
    let expired = matches!(rec.expires_at, Some(exp) if now >= exp);
    if stored.revoked || expired || rec.is_retired_at(now) {
        return Err(RotateError::NotFound);
    }
    if rec.retires_at.is_some() {
        return Err(RotateError::AlreadyRotated);
    }
    Ok(rec)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scope::ScopeSet;
    use crate::user::UserId;

    #[test]
    fn grace_is_zero_when_absent_and_whole_non_negative_seconds_up_to_the_cap() {
        assert_eq!(Grace::parse(None).expect("absent"), Grace::NONE);
        let ok = |l| Grace::parse(Some(l)).expect("valid").as_secs();
        assert_eq!(ok(Lifetime::Seconds(0)), 0);
        assert_eq!(ok(Lifetime::Text(" 3600 ".into())), 3600);
        assert_eq!(
            ok(Lifetime::Seconds(MAX_EXPIRES_IN_SECS)),
            MAX_EXPIRES_IN_SECS
        );
        let refusal = |l| Grace::parse(Some(l)).expect_err("refused").detail;
        for raw in ["-1", "abc", "1.5", "", "99999999999999999999"] {
            assert_eq!(refusal(Lifetime::Text(raw.into())), GRACE_RULE, "{raw:?}");
        }
        assert_eq!(refusal(Lifetime::Seconds(-1)), GRACE_RULE);
        assert_eq!(
            refusal(Lifetime::Seconds(MAX_EXPIRES_IN_SECS + 1)),
            "grace_seconds must be at most 3153600000 seconds"
        );
    }

    #[test]
    fn a_replacement_carries_user_scopes_name_limits_and_absolute_expiry() {
        let created = Timestamp(1_000_000);
        let old = KeyRecord {
            id: KeyId(4),
            user_id: UserId(9),
            scopes: ScopeSet::parse_names(["tx", "bot"]).expect("scopes"),
            name: Some("ci".into()),
            prefix: "vxa_tx_abcde".into(),
            created_at: created,
            last_used_at: Some(created.plus_secs(5)),
            expires_at: Some(created.plus_secs(3600)),
            limits: crate::KeyLimits {
                rate_limit_rps: Some(2.5),
                rate_limit_burst: Some(5),
                max_concurrent_bots: Some(1),
            },
            revoked_at: None,
            last_client: None,
            retires_at: None,
        };
        let now = created.plus_secs(60);
        let key = MintedKey::generate(Scope::Tx);
        let new = NewKey::replacing(&old, &key, now);
        assert_eq!(new.user_id, old.user_id);
        assert_eq!(new.scopes, old.scopes);
        assert_eq!(new.name, old.name);
        assert_eq!(new.limits, old.limits);
        assert_eq!(
            new.expires_at, old.expires_at,
            "absolute, not re-counted from now"
        );
        assert_eq!(new.created_at, now);
        assert_eq!(new.digest, key.digest);
        assert_eq!(new.display_prefix, key.display_prefix);
    }
}
