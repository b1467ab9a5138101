//! Scopes a key can carry and the compact set type used on the hot path.

use std::fmt;

use serde::{Serialize, Serializer};

/// One capability a key grants. The wire names are the contract's: `bot`, `tx`, `browser`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, utoipa::ToSchema)]
#[schema(rename_all = "lowercase")]
pub enum Scope {
    Bot,
    Tx,
    Browser,
}

impl Scope {
    /// Every scope, in the alphabetical order used by error messages.
    pub const ALL_SORTED: [Scope; 3] = [Scope::Bot, Scope::Browser, Scope::Tx];

    pub const fn as_str(self) -> &'static str {
        match self {
            Scope::Bot => "bot",
            Scope::Tx => "tx",
            Scope::Browser => "browser",
        }
    }

    /// Parses an exact wire name; anything else (including different case) is not a scope.
    pub fn parse(s: &str) -> Option<Scope> {
        match s {
            "bot" => Some(Scope::Bot),
            "tx" => Some(Scope::Tx),
            "browser" => Some(Scope::Browser),
            _ => None,
        }
    }

    const fn bit(self) -> u8 {
        match self {
            Scope::Bot => 1,
            Scope::Tx => 2,
            Scope::Browser => 4,
        }
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for Scope {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

/// An ordered, duplicate-free list of scopes as minted (the first is the key's primary scope),
/// with a bitmask for O(1) membership checks on the request path. On the wire (and in the
/// OpenAPI documents) it is the list itself, e.g. `["bot","tx"]`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ScopeSet {
    ordered: Vec<Scope>,
    mask: u8,
}

/// The schema of the wire form: the scopes in minted order, each once.
impl utoipa::PartialSchema for ScopeSet {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::schema::ArrayBuilder::new()
            .items(<Scope as utoipa::PartialSchema>::schema())
            .unique_items(true)
            .examples([serde_json::json!(["bot", "tx"])])
            .into()
    }
}

impl utoipa::ToSchema for ScopeSet {}

impl ScopeSet {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a scope unless already present; keeps first-seen order.
    pub fn insert(&mut self, scope: Scope) {
        if self.mask & scope.bit() == 0 {
            self.mask |= scope.bit();
            self.ordered.push(scope);
        }
    }

    pub fn contains(&self, scope: Scope) -> bool {
        self.mask & scope.bit() != 0
    }

    /// True when this set holds at least one of `accepted`.
    pub fn intersects(&self, accepted: &[Scope]) -> bool {
        accepted.iter().any(|s| self.contains(*s))
    }

    pub fn is_empty(&self) -> bool {
        self.ordered.is_empty()
    }

    pub fn primary(&self) -> Option<Scope> {
        self.ordered.first().copied()
    }

    pub fn iter(&self) -> impl Iterator<Item = Scope> + '_ {
        self.ordered.iter().copied()
    }

    pub fn as_slice(&self) -> &[Scope] {
        &self.ordered
    }

    /// Comma-separated wire form, e.g. `bot,tx` (the storage and header encoding).
    pub fn to_csv(&self) -> String {
        let mut out = String::with_capacity(self.ordered.len() * 4);
        for (i, s) in self.ordered.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            out.push_str(s.as_str());
        }
        out
    }

    /// Parses names, deduplicating in order. Returns the unknown names if any.
    pub fn parse_names<'a, I>(names: I) -> Result<ScopeSet, Vec<String>>
    where
        I: IntoIterator<Item = &'a str>,
    {
        let mut set = ScopeSet::new();
        let mut unknown = Vec::new();
        for name in names {
            match Scope::parse(name) {
                Some(s) => set.insert(s),
                None => unknown.push(name.to_owned()),
            }
        }
        if unknown.is_empty() {
            Ok(set)
        } else {
            Err(unknown)
        }
    }

    /// Parses the storage encoding; unknown names are dropped (never widen access).
    pub fn from_csv_lenient(csv: &str) -> ScopeSet {
        let mut set = ScopeSet::new();
        for name in csv.split(',') {
            if let Some(s) = Scope::parse(name.trim()) {
                set.insert(s);
            }
        }
        set
    }
}

impl FromIterator<Scope> for ScopeSet {
    fn from_iter<T: IntoIterator<Item = Scope>>(iter: T) -> Self {
        let mut set = ScopeSet::new();
        for s in iter {
            set.insert(s);
        }
        set
    }
}

impl Serialize for ScopeSet {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.ordered.serialize(s)
    }
}

/// The contract's message for unknown scopes: `Invalid scope(s): ['foo']. Valid: ['bot', 'browser', 'tx']`.
pub fn invalid_scopes_message(unknown: &[String]) -> String {
    let quoted: Vec<String> = unknown.iter().map(|u| format!("'{u}'")).collect();
    let valid: Vec<String> = Scope::ALL_SORTED
        .iter()
        .map(|s| format!("'{}'", s.as_str()))
        .collect();
    format!(
        "Invalid scope(s): [{}]. Valid: [{}]",
        quoted.join(", "),
        valid.join(", ")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dedupes_in_first_seen_order() {
        let set = ScopeSet::parse_names(["tx", "bot", "tx"]).expect("valid");
        assert_eq!(set.to_csv(), "tx,bot");
        assert_eq!(set.primary(), Some(Scope::Tx));
    }

    #[test]
    fn unknown_scope_message_matches_contract() {
        let err = ScopeSet::parse_names(["bot", "foo"]).expect_err("foo is unknown");
        assert_eq!(
            invalid_scopes_message(&err),
            "Invalid scope(s): ['foo']. Valid: ['bot', 'browser', 'tx']"
        );
    }

    #[test]
    fn lenient_csv_drops_unknown_names() {
        let set = ScopeSet::from_csv_lenient("bot,legacy,browser");
        assert!(
            set.contains(Scope::Bot) && set.contains(Scope::Browser) && !set.contains(Scope::Tx)
        );
    }
}
