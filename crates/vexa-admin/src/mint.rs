//! Minting rules (CONTRACT §3): where scopes, name and expiry come from, and what is valid.
//! Pure functions over already-parsed input; no I/O, so every rule is unit-tested here.

use vexa_core::scope::invalid_scopes_message;
use vexa_core::user::{check_len, MAX_NAME_LEN};
use vexa_core::ScopeSet;

use crate::error::AdminError;
use crate::wire::MintRequest;

/// Longest accepted lifetime: 100 years. Beyond that a timestamp stops being representable as
/// RFC 3339 and the caller almost certainly meant "no expiry".
pub const MAX_EXPIRES_IN_SECS: i64 = 100 * 365 * 24 * 3600;

/// The mint options from the query string, still as text.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct MintQuery {
    /// Every `scopes=` value (comma lists), in order.
    pub scopes: Vec<String>,
    /// Every `scope=` value, in order.
    pub scope: Vec<String>,
    pub name: Option<String>,
    pub expires_in: Option<String>,
}

impl MintQuery {
    /// Picks the mint options out of decoded query pairs; other parameters are ignored.
    pub fn from_pairs(pairs: Vec<(String, String)>) -> MintQuery {
        let mut q = MintQuery::default();
        for (k, v) in pairs {
            match k.as_str() {
                "scopes" => q.scopes.push(v),
                "scope" => q.scope.push(v),
                "name" => q.name = Some(v),
                "expires_in" => q.expires_in = Some(v),
                _ => {}
            }
        }
        q
    }
}

/// What to mint, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MintSpec {
    pub scopes: ScopeSet,
    pub name: Option<String>,
    pub expires_in: Option<i64>,
}

/// Resolves body-over-query precedence field by field, then validates.
pub fn resolve(body: Option<MintRequest>, query: MintQuery) -> Result<MintSpec, AdminError> {
    let body = body.unwrap_or_default();
    let names: Vec<String> = match body.scopes {
        Some(list) => list,
        None if !query.scopes.is_empty() => split_csv(&query.scopes),
        None if !query.scope.is_empty() => split_csv(&query.scope),
        None => vec!["bot".to_owned()],
    };
    let scopes = parse_scopes(&names)?;
    let name = match body.name {
        Some(n) => Some(n),
        None => query.name,
    };
    let name = name.filter(|n| !n.is_empty());
    if let Some(n) = &name {
        check_len("name", n, MAX_NAME_LEN)?;
    }
    let expires_in = match body.expires_in {
        Some(secs) => Some(check_expires_in(secs)?),
        None => match query.expires_in {
            Some(raw) => Some(parse_expires_in(&raw)?),
            None => None,
        },
    };
    Ok(MintSpec {
        scopes,
        name,
        expires_in,
    })
}

fn split_csv(values: &[String]) -> Vec<String> {
    values
        .iter()
        .flat_map(|v| v.split(','))
        .map(str::to_owned)
        .collect()
}

/// Trims names and drops empty entries (as the original does:
/// `docs/reference/vexa-gateway-identity.md` §1.2, mint), dedupes in order.
fn parse_scopes(names: &[String]) -> Result<ScopeSet, AdminError> {
    let trimmed: Vec<&str> = names
        .iter()
        .map(|s| s.trim())
        .filter(|s| !s.is_empty())
        .collect();
    if trimmed.is_empty() {
        return Err(AdminError::invalid("scopes must not be empty"));
    }
    ScopeSet::parse_names(trimmed)
        .map_err(|unknown| AdminError::invalid(invalid_scopes_message(&unknown)))
}

const EXPIRES_IN_RULE: &str = "expires_in must be a positive integer number of seconds";

fn parse_expires_in(raw: &str) -> Result<i64, AdminError> {
    let secs: i64 = raw
        .trim()
        .parse()
        .map_err(|_| AdminError::invalid(EXPIRES_IN_RULE))?;
    check_expires_in(secs)
}

fn check_expires_in(secs: i64) -> Result<i64, AdminError> {
    if secs <= 0 {
        return Err(AdminError::invalid(EXPIRES_IN_RULE));
    }
    if secs > MAX_EXPIRES_IN_SECS {
        return Err(AdminError::invalid(format!(
            "expires_in must be at most {MAX_EXPIRES_IN_SECS} seconds"
        )));
    }
    Ok(secs)
}

#[cfg(test)]
mod tests {
    use super::*;
    use vexa_core::Scope;

    fn q(pairs: &[(&str, &str)]) -> MintQuery {
        MintQuery::from_pairs(
            pairs
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
        )
    }

    fn detail(e: AdminError) -> String {
        e.to_string()
    }

    #[test]
    fn defaults_to_bot_without_body_or_query() {
        let spec = resolve(None, MintQuery::default()).expect("valid");
        assert_eq!(spec.scopes.as_slice(), &[Scope::Bot]);
        assert_eq!(spec.name, None);
        assert_eq!(spec.expires_in, None);
    }

    #[test]
    fn body_scopes_win_over_query_and_scopes_over_scope() {
        let body = MintRequest {
            scopes: Some(vec!["tx".into()]),
            ..MintRequest::default()
        };
        let spec = resolve(Some(body), q(&[("scopes", "bot"), ("name", "q")])).expect("valid");
        assert_eq!(spec.scopes.as_slice(), &[Scope::Tx]);
        assert_eq!(spec.name.as_deref(), Some("q"));
        let spec = resolve(None, q(&[("scope", "browser"), ("scopes", "tx,bot")])).expect("valid");
        assert_eq!(spec.scopes.as_slice(), &[Scope::Tx, Scope::Bot]);
    }

    #[test]
    fn duplicates_are_removed_keeping_order() {
        let spec = resolve(None, q(&[("scopes", "tx, bot,tx,,bot")])).expect("valid");
        assert_eq!(spec.scopes.to_csv(), "tx,bot");
    }

    #[test]
    fn empty_and_unknown_scopes_are_rejected_with_contract_text() {
        assert_eq!(
            detail(resolve(None, q(&[("scopes", " , ")])).expect_err("empty")),
            "scopes must not be empty"
        );
        let body = MintRequest {
            scopes: Some(vec![]),
            ..MintRequest::default()
        };
        assert_eq!(
            detail(resolve(Some(body), MintQuery::default()).expect_err("empty")),
            "scopes must not be empty"
        );
        assert_eq!(
            detail(resolve(None, q(&[("scopes", "bot,foo")])).expect_err("unknown")),
            "Invalid scope(s): ['foo']. Valid: ['bot', 'browser', 'tx']"
        );
    }

    #[test]
    fn expires_in_must_be_a_positive_integer_in_body_and_query() {
        for raw in ["0", "-5", "abc", "1.5", "", "99999999999999999999"] {
            assert!(resolve(None, q(&[("expires_in", raw)])).is_err(), "{raw}");
        }
        for secs in [0, -1, MAX_EXPIRES_IN_SECS + 1] {
            let body = MintRequest {
                expires_in: Some(secs),
                ..MintRequest::default()
            };
            assert!(resolve(Some(body), MintQuery::default()).is_err(), "{secs}");
        }
        let spec = resolve(None, q(&[("expires_in", "60")])).expect("valid");
        assert_eq!(spec.expires_in, Some(60));
    }

    #[test]
    fn body_expiry_wins_over_query_expiry() {
        let body = MintRequest {
            expires_in: Some(30),
            ..MintRequest::default()
        };
        let spec = resolve(Some(body), q(&[("expires_in", "abc")])).expect("valid");
        assert_eq!(spec.expires_in, Some(30));
    }

    #[test]
    fn over_long_names_are_rejected() {
        let long = "n".repeat(MAX_NAME_LEN + 1);
        assert!(resolve(None, q(&[("name", long.as_str())])).is_err());
    }
}
