//! Import rules: how an original Vexa deployment's `users` and `api_tokens` rows map onto ours.
//!
//! Owns the decisions only (what a row becomes, or why it is skipped). Reading the source
//! database and writing ours live in the `vexa` binary and `vexa-store`; nothing here does I/O.
//!
//! The original stores keys in plain text; a [`SourceToken`] holds one just long enough to be
//! digested, is zeroed on drop, and never prints.

use std::collections::HashMap;
use std::fmt;

use serde_json::{Map, Value};
use zeroize::Zeroizing;

use crate::key::KeyDigest;
use crate::scope::{Scope, ScopeSet};
use crate::store::KeyId;
use crate::time::Timestamp;
use crate::user::UserId;

/// Marks rows that came from an original Vexa database (the `origin` column).
pub const ORIGIN_VEXA: &str = "vexa";

/// The original's `api_tokens.token`, in clear, as read from the source. Redacted `Debug`.
pub struct SourceToken(Zeroizing<String>);

impl SourceToken {
    pub fn new(plaintext: String) -> SourceToken {
        SourceToken(Zeroizing::new(plaintext))
    }
}

impl fmt::Debug for SourceToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SourceToken(<redacted>)")
    }
}

/// One `users` row of the source.
#[derive(Debug, Clone)]
pub struct SourceUser {
    pub id: i64,
    pub email: String,
    pub name: Option<String>,
    pub image_url: Option<String>,
    pub max_concurrent_bots: i64,
    /// `users.data` as text (JSONB in the source).
    pub data: String,
    pub created_at: Option<Timestamp>,
}

/// One `api_tokens` row of the source.
#[derive(Debug)]
pub struct SourceKey {
    pub id: i64,
    pub token: SourceToken,
    pub user_id: i64,
    /// `None` for a NULL array (pre-scope rows).
    pub scopes: Option<Vec<String>>,
    pub name: Option<String>,
    pub created_at: Option<Timestamp>,
    pub last_used_at: Option<Timestamp>,
    pub expires_at: Option<Timestamp>,
}

/// A user as it will be stored here (id kept).
#[derive(Debug, Clone, PartialEq)]
pub struct ImportedUser {
    pub id: UserId,
    pub email: String,
    pub email_lower: String,
    pub name: Option<String>,
    pub image_url: Option<String>,
    pub max_concurrent_bots: i64,
    pub data: Map<String, Value>,
    pub created_at: Timestamp,
}

/// A key as it will be stored here (id kept, digest only).
#[derive(Debug, Clone, PartialEq)]
pub struct ImportedKey {
    pub id: KeyId,
    pub user_id: UserId,
    pub digest: KeyDigest,
    pub display_prefix: String,
    pub scopes: ScopeSet,
    pub name: Option<String>,
    pub created_at: Timestamp,
    pub last_used_at: Option<Timestamp>,
    pub expires_at: Option<Timestamp>,
}

/// Why a source row was not copied. The `Display` text is the report's reason column.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SkipReason {
    /// Another user (source or here) has the same email apart from case.
    EmailCollision {
        other: i64,
    },
    /// The id is already used here by a row that did not come from the import.
    IdTaken,
    EmptyEmail,
    /// A scope outside {bot, tx, browser}; importing it would widen or change access.
    UnknownScope(Vec<String>),
    /// The key's user is not in the source, or was itself skipped.
    MissingUser,
    EmptyToken,
    /// The same token as an earlier key (cannot happen under the original's unique index).
    DuplicateToken {
        other: i64,
    },
}

impl fmt::Display for SkipReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SkipReason::EmailCollision { other } => {
                write!(f, "email collides case-insensitively with user {other}")
            }
            SkipReason::IdTaken => f.write_str("id already used here by a row not imported"),
            SkipReason::EmptyEmail => f.write_str("empty email"),
            SkipReason::UnknownScope(names) => write!(f, "unknown scope(s): {names:?}"),
            SkipReason::MissingUser => f.write_str("key for a missing or skipped user"),
            SkipReason::EmptyToken => f.write_str("empty token"),
            SkipReason::DuplicateToken { other } => write!(f, "same token as key {other}"),
        }
    }
}

/// The scopes a source row grants here.
///
/// A scope-less row (NULL or `{}`, the original's 0.10 tokens) means full access: the original's
/// admin-api runs MIGRATION-0004 (`SET scopes = '{bot,tx,browser}'`) on every boot, so a live
/// original serves such a row as full-scope. Unknown names are refused, never dropped: dropping
/// one would silently change what the key can do.
pub fn map_scopes(scopes: Option<&[String]>) -> Result<ScopeSet, SkipReason> {
    let names: Vec<&str> = scopes
        .unwrap_or_default()
        .iter()
        .map(|s| s.trim())
        .filter(|s| !s.is_empty())
        .collect();
    if names.is_empty() {
        return Ok([Scope::Bot, Scope::Tx, Scope::Browser]
            .into_iter()
            .collect());
    }
    ScopeSet::parse_names(names).map_err(SkipReason::UnknownScope)
}

/// The non-secret display prefix of an imported key. Our own keys show 12 characters, which
/// leaves ≥ 28 secret ones; the original's legacy tokens can be short, so at most a quarter of
/// the token is shown.
pub fn display_prefix(token: &str) -> String {
    let n = (token.chars().count() / 4).min(12);
    token.chars().take(n).collect()
}

/// Maps one source key; `users` holds the ids of users imported (or already imported) here.
pub fn map_key(
    k: &SourceKey,
    user_ok: impl Fn(i64) -> bool,
    now: Timestamp,
) -> Result<ImportedKey, SkipReason> {
    let token = k.token.0.as_str();
    if token.is_empty() {
        return Err(SkipReason::EmptyToken);
    }
    if !user_ok(k.user_id) {
        return Err(SkipReason::MissingUser);
    }
    let scopes = map_scopes(k.scopes.as_deref())?;
    Ok(ImportedKey {
        id: KeyId(k.id),
        user_id: UserId(k.user_id),
        digest: KeyDigest::of(token),
        display_prefix: display_prefix(token),
        scopes,
        name: k.name.clone(),
        created_at: k.created_at.unwrap_or(now),
        last_used_at: k.last_used_at,
        expires_at: k.expires_at,
    })
}

/// Decides which source users are copied. Source users are seen in id order; the first of a
/// case-insensitive email group wins (the oldest account), later ones are skipped.
#[derive(Debug, Default)]
pub struct UserRules {
    /// lower-cased email → the user id that owns it (here or earlier in the source).
    by_email: HashMap<String, i64>,
    /// Ids here that were not imported (local users): never overwritten.
    local_ids: std::collections::HashSet<i64>,
}

impl UserRules {
    /// `existing` lists every user here as (id, lower-cased email, imported?).
    pub fn new(existing: impl IntoIterator<Item = (i64, String, bool)>) -> UserRules {
        let mut rules = UserRules::default();
        for (id, lower, imported) in existing {
            rules.by_email.insert(lower, id);
            if !imported {
                rules.local_ids.insert(id);
            }
        }
        rules
    }

    /// Maps one source user, or says why it is skipped.
    pub fn map_user(&mut self, u: &SourceUser, now: Timestamp) -> Result<ImportedUser, SkipReason> {
        let email = u.email.trim();
        if email.is_empty() {
            return Err(SkipReason::EmptyEmail);
        }
        if self.local_ids.contains(&u.id) {
            return Err(SkipReason::IdTaken);
        }
        let lower = email.to_lowercase();
        match self.by_email.get(&lower) {
            Some(&other) if other != u.id => return Err(SkipReason::EmailCollision { other }),
            _ => {}
        }
        self.by_email.insert(lower.clone(), u.id);
        let data = match serde_json::from_str::<Value>(&u.data) {
            Ok(Value::Object(m)) => m,
            _ => Map::new(),
        };
        Ok(ImportedUser {
            id: UserId(u.id),
            email: email.to_owned(),
            email_lower: lower,
            name: u.name.clone(),
            image_url: u.image_url.clone(),
            max_concurrent_bots: u.max_concurrent_bots,
            data,
            created_at: u.created_at.unwrap_or(now),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(token: &str, scopes: Option<Vec<&str>>) -> SourceKey {
        SourceKey {
            id: 1,
            token: SourceToken::new(token.to_owned()),
            user_id: 1,
            scopes: scopes.map(|v| v.into_iter().map(String::from).collect()),
            name: None,
            created_at: None,
            last_used_at: None,
            expires_at: None,
        }
    }

    #[test]
    fn scope_less_rows_mean_full_scope_as_the_original_backfills_them() {
        let full = map_scopes(None).map(|s| s.to_csv());
        assert_eq!(full, Ok("bot,tx,browser".to_owned()));
        assert_eq!(map_scopes(Some(&[])).map(|s| s.to_csv()), full);
    }

    #[test]
    fn unknown_scope_is_a_skip_not_a_silent_drop() {
        let r = map_key(
            &key("abc", Some(vec!["bot", "admin"])),
            |_| true,
            Timestamp(0),
        );
        assert_eq!(
            r.err(),
            Some(SkipReason::UnknownScope(vec!["admin".into()]))
        );
    }

    #[test]
    fn key_of_missing_user_is_skipped() {
        let r = map_key(&key("abc", None), |_| false, Timestamp(0));
        assert_eq!(r.err(), Some(SkipReason::MissingUser));
    }

    #[test]
    fn token_debug_is_redacted_and_prefix_is_short_for_short_tokens() {
        let k = key("legacy-secret-token", None);
        assert!(!format!("{k:?}").contains("legacy"));
        assert_eq!(display_prefix("legacy-secret-token"), "lega");
        assert_eq!(
            display_prefix("vxa_bot_0123456789abcdefghijABCDEFGHIJ01").len(),
            10
        );
    }

    #[test]
    fn case_insensitive_email_collision_keeps_the_oldest() {
        let mut rules = UserRules::new([]);
        let u = |id, email: &str| SourceUser {
            id,
            email: email.into(),
            name: None,
            image_url: None,
            max_concurrent_bots: 3,
            data: "{}".into(),
            created_at: None,
        };
        assert!(rules.map_user(&u(1, "Jane@acme.com"), Timestamp(0)).is_ok());
        assert_eq!(
            rules.map_user(&u(2, "jane@ACME.com"), Timestamp(0)).err(),
            Some(SkipReason::EmailCollision { other: 1 })
        );
        // A re-run sees user 1 again: not a collision with itself.
        assert!(rules.map_user(&u(1, "Jane@acme.com"), Timestamp(0)).is_ok());
    }
}
