//! Minting rules (CONTRACT §3), owned here so the admin API and the offline CLI (`vexa token
//! mint`) refuse and accept exactly the same requests with the same words.
//!
//! A [`KeySpec`] is what the caller asked for, as given; [`KeySpec::validate`] applies every rule
//! (scope names trimmed, empties dropped, duplicates removed in order, at least one known scope,
//! a name of at most [`MAX_NAME_LEN`] characters, a positive lifetime of at most
//! [`MAX_EXPIRES_IN_SECS`]) and yields a [`ValidKeySpec`], the only thing that can be minted.
//! Where the options come from (a JSON body, a query string, flags) is the caller's business.

use rand::rngs::OsRng;
use rand::RngCore;

use crate::error::ValidationError;
use crate::key::MintedKey;
use crate::key_limits::KeyLimits;
use crate::scope::{invalid_scopes_message, Scope, ScopeSet};
use crate::store::NewKey;
use crate::time::Timestamp;
use crate::user::{check_len, UserId, MAX_NAME_LEN};

/// Longest accepted lifetime: 100 years. Beyond that a timestamp stops being representable as
/// RFC 3339 and the caller almost certainly meant "no expiry".
pub const MAX_EXPIRES_IN_SECS: i64 = 100 * 365 * 24 * 3600;

/// The refusal for a lifetime that is not a positive whole number of seconds.
pub const EXPIRES_IN_RULE: &str = "expires_in must be a positive integer number of seconds";

/// The refusal for a scope list with no scope in it.
pub const EMPTY_SCOPES: &str = "scopes must not be empty";

/// A requested lifetime, as the caller gave it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Lifetime {
    /// A number of seconds (a JSON body's `expires_in`).
    Seconds(i64),
    /// Text still to be read as a number of seconds (a query parameter, a command-line flag).
    Text(String),
}

/// What a caller asks to mint, before any rule is applied.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct KeySpec {
    /// Scope names as given; surrounding spaces and empty entries are ignored.
    pub scopes: Vec<String>,
    /// The key's label; an empty one counts as none.
    pub name: Option<String>,
    pub expires_in: Option<Lifetime>,
    /// The key's own limits, as given.
    pub limits: KeyLimits,
}

/// A [`KeySpec`] that passed every rule: at least one scope, so a primary scope exists.
#[derive(Debug, Clone, PartialEq)]
pub struct ValidKeySpec {
    scopes: ScopeSet,
    primary: Scope,
    name: Option<String>,
    expires_in: Option<i64>,
    limits: KeyLimits,
}

impl KeySpec {
    /// Applies the minting rules, in the order the caller reads them: scopes, name, lifetime,
    /// limits.
    pub fn validate(self) -> Result<ValidKeySpec, ValidationError> {
        let scopes = parse_scopes(&self.scopes)?;
        let primary = scopes
            .primary()
            .ok_or_else(|| ValidationError::new("scopes", EMPTY_SCOPES))?;
        let name = self.name.filter(|n| !n.is_empty());
        if let Some(n) = &name {
            check_len("name", n, MAX_NAME_LEN)?;
        }
        let expires_in = self.expires_in.map(check_lifetime).transpose()?;
        let limits = self.limits.validate()?;
        Ok(ValidKeySpec {
            scopes,
            primary,
            name,
            expires_in,
            limits,
        })
    }
}

impl ValidKeySpec {
    /// The scopes, deduplicated, in the order given; never empty.
    pub fn scopes(&self) -> &ScopeSet {
        &self.scopes
    }

    /// The first scope given: the one the key's text shows (`vxa_<primary>_…`).
    pub fn primary(&self) -> Scope {
        self.primary
    }

    pub fn name(&self) -> Option<&str> {
        self.name.as_deref()
    }

    /// Lifetime in seconds, when the key expires.
    pub fn expires_in(&self) -> Option<i64> {
        self.expires_in
    }

    /// The key's own limits (validated).
    pub fn limits(&self) -> KeyLimits {
        self.limits
    }

    /// Generates the key (OS CSPRNG) and the row that stores it for `user_id`, created `now`.
    pub fn mint(self, user_id: UserId, now: Timestamp) -> (MintedKey, NewKey) {
        self.mint_with(user_id, now, &mut OsRng)
    }

    /// [`ValidKeySpec::mint`] with a caller-supplied RNG (tests and benchmarks).
    pub fn mint_with<R: RngCore>(
        self,
        user_id: UserId,
        now: Timestamp,
        rng: &mut R,
    ) -> (MintedKey, NewKey) {
        let key = MintedKey::generate_with(self.primary, rng);
        let expires_at = self.expires_in.map(|secs| now.plus_secs(secs));
        let mut row = NewKey::new(user_id, &key, self.scopes, self.name, now, expires_at);
        row.limits = self.limits;
        (key, row)
    }
}

impl NewKey {
    /// The row that stores `key`: its digest and display prefix, never its plaintext. No limits
    /// of its own; set [`NewKey::limits`] to give it some.
    pub fn new(
        user_id: UserId,
        key: &MintedKey,
        scopes: ScopeSet,
        name: Option<String>,
        created_at: Timestamp,
        expires_at: Option<Timestamp>,
    ) -> NewKey {
        NewKey {
            user_id,
            digest: key.digest,
            display_prefix: key.display_prefix.clone(),
            scopes,
            name,
            created_at,
            expires_at,
            limits: KeyLimits::NONE,
        }
    }
}

/// Trims names and drops empty entries (as the original does), dedupes in order.
fn parse_scopes(names: &[String]) -> Result<ScopeSet, ValidationError> {
    let trimmed: Vec<&str> = names
        .iter()
        .map(|s| s.trim())
        .filter(|s| !s.is_empty())
        .collect();
    if trimmed.is_empty() {
        return Err(ValidationError::new("scopes", EMPTY_SCOPES));
    }
    ScopeSet::parse_names(trimmed)
        .map_err(|unknown| ValidationError::new("scopes", invalid_scopes_message(&unknown)))
}

fn check_lifetime(lifetime: Lifetime) -> Result<i64, ValidationError> {
    let secs = match lifetime {
        Lifetime::Seconds(secs) => secs,
        Lifetime::Text(raw) => raw
            .trim()
            .parse()
            .map_err(|_| ValidationError::new("expires_in", EXPIRES_IN_RULE))?,
    };
    if secs <= 0 {
        return Err(ValidationError::new("expires_in", EXPIRES_IN_RULE));
    }
    if secs > MAX_EXPIRES_IN_SECS {
        return Err(ValidationError::new(
            "expires_in",
            format!("expires_in must be at most {MAX_EXPIRES_IN_SECS} seconds"),
        ));
    }
    Ok(secs)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::key::ApiKey;

    fn spec(scopes: &[&str]) -> KeySpec {
        KeySpec {
            scopes: scopes.iter().map(|s| (*s).to_owned()).collect(),
            ..KeySpec::default()
        }
    }

    fn refusal(spec: KeySpec) -> String {
        spec.validate().expect_err("refused").detail
    }

    #[test]
    fn scopes_are_trimmed_deduplicated_and_kept_in_order() {
        let valid = spec(&["tx", " bot", "tx", "", "bot "])
            .validate()
            .expect("valid");
        assert_eq!(valid.scopes().to_csv(), "tx,bot");
        assert_eq!(valid.primary(), Scope::Tx);
    }

    #[test]
    fn empty_and_unknown_scopes_are_refused_with_the_contract_text() {
        assert_eq!(refusal(spec(&[])), "scopes must not be empty");
        assert_eq!(refusal(spec(&[" ", ""])), "scopes must not be empty");
        assert_eq!(
            refusal(spec(&["bot", "foo"])),
            "Invalid scope(s): ['foo']. Valid: ['bot', 'browser', 'tx']"
        );
    }

    #[test]
    fn names_are_optional_empty_means_none_and_long_ones_are_refused() {
        let mut s = spec(&["bot"]);
        s.name = Some(String::new());
        assert_eq!(s.validate().expect("valid").name(), None);
        let mut s = spec(&["bot"]);
        s.name = Some("n".repeat(MAX_NAME_LEN));
        assert!(s.validate().is_ok());
        let mut s = spec(&["bot"]);
        s.name = Some("n".repeat(MAX_NAME_LEN + 1));
        assert_eq!(refusal(s), "name must be at most 255 characters");
    }

    #[test]
    fn lifetimes_must_be_positive_whole_seconds_up_to_a_hundred_years() {
        let with = |l: Lifetime| KeySpec {
            expires_in: Some(l),
            ..spec(&["bot"])
        };
        for raw in ["0", "-5", "abc", "1.5", "", "99999999999999999999"] {
            assert_eq!(refusal(with(Lifetime::Text(raw.into()))), EXPIRES_IN_RULE);
        }
        for secs in [0, -1] {
            assert_eq!(refusal(with(Lifetime::Seconds(secs))), EXPIRES_IN_RULE);
        }
        assert_eq!(
            refusal(with(Lifetime::Seconds(MAX_EXPIRES_IN_SECS + 1))),
            "expires_in must be at most 3153600000 seconds"
        );
        let valid = with(Lifetime::Text(" 60 ".into()))
            .validate()
            .expect("valid");
        assert_eq!(valid.expires_in(), Some(60));
        let valid = with(Lifetime::Seconds(MAX_EXPIRES_IN_SECS))
            .validate()
            .expect("valid");
        assert_eq!(valid.expires_in(), Some(MAX_EXPIRES_IN_SECS));
    }

    #[test]
    fn rules_are_checked_scopes_first_then_name_then_lifetime() {
        let all_wrong = KeySpec {
            scopes: vec!["foo".into()],
            name: Some("n".repeat(MAX_NAME_LEN + 1)),
            expires_in: Some(Lifetime::Seconds(-1)),
            limits: KeyLimits::default(),
        };
        assert!(refusal(all_wrong.clone()).starts_with("Invalid scope(s)"));
        let name_and_lifetime = KeySpec {
            scopes: vec!["bot".into()],
            ..all_wrong
        };
        assert!(refusal(name_and_lifetime).starts_with("name must be"));
    }

    #[test]
    fn minting_stores_the_digest_and_prefix_of_a_key_of_the_primary_scope() {
        let now = Timestamp(1_795_888_800_000);
        let valid = KeySpec {
            scopes: vec!["tx".into(), "bot".into()],
            name: Some("ci".into()),
            expires_in: Some(Lifetime::Seconds(60)),
            limits: KeyLimits {
                rate_limit_rps: Some(2.0),
                ..KeyLimits::NONE
            },
        }
        .validate()
        .expect("valid");
        let (key, row) = valid.mint(UserId(7), now);
        let parsed = ApiKey::parse(key.expose_secret()).expect("own key parses");
        assert_eq!(parsed.primary_scope, Scope::Tx);
        assert_eq!(row.digest, parsed.digest);
        assert_eq!(row.display_prefix, key.display_prefix);
        assert_eq!(row.user_id, UserId(7));
        assert_eq!(row.scopes.to_csv(), "tx,bot");
        assert_eq!(row.name.as_deref(), Some("ci"));
        assert_eq!(row.created_at, now);
        assert_eq!(row.expires_at, Some(now.plus_secs(60)));
        assert_eq!(row.limits.rate_limit_rps, Some(2.0));
    }
}
