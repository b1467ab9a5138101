//! Where the mint options come from (CONTRACT §3): the JSON body wins over the query string,
//! field by field; `scopes=` wins over `scope=`; with neither, the key gets `["bot"]`.
//! What is valid is not decided here: the result is a [`KeySpec`] that `vexa_core::mint`
//! validates, the same rules `vexa token mint` goes through.

use vexa_core::{KeySpec, Lifetime};

use crate::wire::MintRequest;

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

/// Resolves body-over-query precedence field by field into what the caller asked to mint.
pub fn requested_spec(body: Option<MintRequest>, query: MintQuery) -> KeySpec {
    let body = body.unwrap_or_default();
    let limits = body.limits();
    let scopes = match body.scopes {
        Some(list) => list,
        None if !query.scopes.is_empty() => split_csv(&query.scopes),
        None if !query.scope.is_empty() => split_csv(&query.scope),
        None => vec!["bot".to_owned()],
    };
    let expires_in = match body.expires_in {
        Some(secs) => Some(Lifetime::Seconds(secs)),
        None => query.expires_in.map(Lifetime::Text),
    };
    KeySpec {
        scopes,
        name: body.name.or(query.name),
        expires_in,
        limits,
    }
}

fn split_csv(values: &[String]) -> Vec<String> {
    values
        .iter()
        .flat_map(|v| v.split(','))
        .map(str::to_owned)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use vexa_core::mint::MAX_EXPIRES_IN_SECS;
    use vexa_core::user::MAX_NAME_LEN;
    use vexa_core::{Scope, ValidKeySpec, ValidationError};

    fn q(pairs: &[(&str, &str)]) -> MintQuery {
        MintQuery::from_pairs(
            pairs
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
        )
    }

    fn resolve(
        body: Option<MintRequest>,
        query: MintQuery,
    ) -> Result<ValidKeySpec, ValidationError> {
        requested_spec(body, query).validate()
    }

    fn detail(e: ValidationError) -> String {
        e.detail
    }

    #[test]
    fn defaults_to_bot_without_body_or_query() {
        let spec = resolve(None, MintQuery::default()).expect("valid");
        assert_eq!(spec.scopes().as_slice(), &[Scope::Bot]);
        assert_eq!(spec.name(), None);
        assert_eq!(spec.expires_in(), None);
    }

    #[test]
    fn body_scopes_win_over_query_and_scopes_over_scope() {
        let body = MintRequest {
            scopes: Some(vec!["tx".into()]),
            ..MintRequest::default()
        };
        let spec = resolve(Some(body), q(&[("scopes", "bot"), ("name", "q")])).expect("valid");
        assert_eq!(spec.scopes().as_slice(), &[Scope::Tx]);
        assert_eq!(spec.name(), Some("q"));
        let spec = resolve(None, q(&[("scope", "browser"), ("scopes", "tx,bot")])).expect("valid");
        assert_eq!(spec.scopes().as_slice(), &[Scope::Tx, Scope::Bot]);
    }

    #[test]
    fn duplicates_are_removed_keeping_order() {
        let spec = resolve(None, q(&[("scopes", "tx, bot,tx,,bot")])).expect("valid");
        assert_eq!(spec.scopes().to_csv(), "tx,bot");
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
        assert_eq!(spec.expires_in(), Some(60));
    }

    #[test]
    fn body_expiry_wins_over_query_expiry() {
        let body = MintRequest {
            expires_in: Some(30),
            ..MintRequest::default()
        };
        let spec = resolve(Some(body), q(&[("expires_in", "abc")])).expect("valid");
        assert_eq!(spec.expires_in(), Some(30));
    }

    #[test]
    fn over_long_names_are_rejected() {
        let long = "n".repeat(MAX_NAME_LEN + 1);
        assert!(resolve(None, q(&[("name", long.as_str())])).is_err());
    }
}
