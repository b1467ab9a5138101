//! Keys for tests that write to a store directly: a freshly minted key and the [`NewKey`] row
//! the admin API would store for it, built in one place instead of field by field in each suite.

use vexa_core::{MintedKey, NewKey, Scope, ScopeSet, Timestamp, UserId};

/// 2023-11-14T22:13:20Z: the creation time of a key when a test does not care.
pub const CREATED_AT: Timestamp = Timestamp(1_700_000_000_000);

/// Builds a key for `user` with `scopes` (the first one names the key's prefix, as minting does).
///
/// ```ignore
/// let (minted, new_key) = NewKeyBuilder::new(user.id, &[Scope::Bot, Scope::Tx])
///     .name("ci")
///     .expires_at(Some(expiry))
///     .build();
/// store.insert_key(&new_key).await?;
/// ```
#[derive(Debug, Clone)]
pub struct NewKeyBuilder {
    user_id: UserId,
    scopes: Vec<Scope>,
    name: Option<String>,
    created_at: Timestamp,
    expires_at: Option<Timestamp>,
    limits: vexa_core::KeyLimits,
}

impl NewKeyBuilder {
    /// No name, created at [`CREATED_AT`], never expiring. An empty `scopes` makes a bot key.
    pub fn new(user_id: UserId, scopes: &[Scope]) -> NewKeyBuilder {
        NewKeyBuilder {
            user_id,
            scopes: scopes.to_vec(),
            name: None,
            created_at: CREATED_AT,
            expires_at: None,
            limits: vexa_core::KeyLimits::NONE,
        }
    }

    pub fn name(mut self, name: &str) -> NewKeyBuilder {
        self.name = Some(name.to_owned());
        self
    }

    pub fn created_at(mut self, at: Timestamp) -> NewKeyBuilder {
        self.created_at = at;
        self
    }

    /// The key's own limits (none by default).
    pub fn limits(mut self, limits: vexa_core::KeyLimits) -> NewKeyBuilder {
        self.limits = limits;
        self
    }

    pub fn expires_at(mut self, at: Option<Timestamp>) -> NewKeyBuilder {
        self.expires_at = at;
        self
    }

    /// Mints the key; returns it (the plaintext the client would hold) with its row.
    pub fn build(self) -> (MintedKey, NewKey) {
        let primary = self.scopes.first().copied().unwrap_or(Scope::Bot);
        let minted = MintedKey::generate(primary);
        let key = NewKey {
            user_id: self.user_id,
            digest: minted.digest,
            display_prefix: minted.display_prefix.clone(),
            scopes: self.scopes.iter().copied().collect::<ScopeSet>(),
            name: self.name,
            created_at: self.created_at,
            expires_at: self.expires_at,
            limits: self.limits,
        };
        (minted, key)
    }
}
