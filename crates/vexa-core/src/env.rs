//! Reading settings from environment variables: [`Env`], the variables as one map with typed
//! getters that fail naming the variable; [`Secret`], a setting `Debug` never prints; and the
//! names and defaults of the few variables that more than one role reads.
//!
//! It lives in the domain crate because every role crate parses its own configuration section
//! next to its config type (`GatewayConfig::from_env`, `MeetingsConfig::from_env`, …) and this is
//! the one crate they all depend on. It stays within the domain crate's promise of no I/O: it
//! parses a map it is given. Where the map comes from (a `.env` file under the process
//! environment) is the binary's business, so the same parsers run from a literal map in tests.

use std::collections::HashMap;
use std::fmt;
use std::str::FromStr;
use std::time::Duration;

/// `MAX_BODY_BYTES`: the largest request body any role reads. The gateway refuses larger bodies
/// with 413 before forwarding; the admin API and the meetings service use the same limit, so no
/// body the gateway lets through is refused behind it in another shape.
pub const ENV_MAX_BODY_BYTES: &str = "MAX_BODY_BYTES";
/// The contract's default `MAX_BODY_BYTES`: 10 MiB.
pub const DEFAULT_MAX_BODY_BYTES: u64 = 10 * 1024 * 1024;

/// `INTERNAL_API_SECRET`: sent by the gateway in `X-Internal-Secret`, required by the meetings
/// service. Empty means "not configured" (the binary then picks one when it runs both roles).
pub const ENV_INTERNAL_API_SECRET: &str = "INTERNAL_API_SECRET";

/// `DATA_DIR`: where the background stack keeps its pid file and log, and bots their logs.
pub const ENV_DATA_DIR: &str = "DATA_DIR";
/// Default `DATA_DIR`, relative to the working directory.
pub const DEFAULT_DATA_DIR: &str = "data";

/// A secret setting: usable through [`Secret::expose`], never printed by `Debug`.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// The secret itself, for the one place that needs it.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// True when no secret is configured.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl From<String> for Secret {
    fn from(s: String) -> Secret {
        Secret(s)
    }
}

impl From<&str> for Secret {
    fn from(s: &str) -> Secret {
        Secret(s.to_owned())
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.0.is_empty() {
            "<unset>"
        } else {
            "<redacted>"
        })
    }
}

/// A variable whose value cannot be used; the message starts with the variable's name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{var}: {reason}")]
pub struct EnvError {
    /// The variable at fault.
    pub var: &'static str,
    /// What is wrong with its value.
    pub reason: String,
}

impl EnvError {
    /// An error about `var`.
    pub fn new(var: &'static str, reason: impl Into<String>) -> EnvError {
        EnvError {
            var,
            reason: reason.into(),
        }
    }
}

/// The variables as read. A variable set to a blank value counts as unset, so `FOO=` in `.env`
/// means "use the default".
#[derive(Clone, Default)]
pub struct Env(HashMap<String, String>);

impl fmt::Debug for Env {
    // Values may be secrets: only the names are shown.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut names: Vec<&str> = self.0.keys().map(String::as_str).collect();
        names.sort_unstable();
        f.debug_struct("Env").field("vars", &names).finish()
    }
}

impl<K: Into<String>, V: Into<String>> FromIterator<(K, V)> for Env {
    fn from_iter<I: IntoIterator<Item = (K, V)>>(pairs: I) -> Env {
        Env(pairs
            .into_iter()
            .map(|(k, v)| (k.into(), v.into()))
            .collect())
    }
}

impl Env {
    /// The variables of `map`, as they are.
    pub fn from_map(map: HashMap<String, String>) -> Env {
        Env(map)
    }

    /// The variables of a literal list (tests of every section start from one).
    pub fn from_pairs(pairs: &[(&str, &str)]) -> Env {
        pairs.iter().copied().collect()
    }

    /// The raw value of `var`, or `None` when unset or blank.
    pub fn get(&self, var: &str) -> Option<&str> {
        self.0
            .get(var)
            .map(String::as_str)
            .filter(|v| !v.trim().is_empty())
    }

    /// The trimmed value of `var`, or `default`.
    pub fn string(&self, var: &str, default: &str) -> String {
        self.get(var).unwrap_or(default).trim().to_owned()
    }

    /// The trimmed value of `var` parsed as `T`, or `default` when unset.
    pub fn parse<T: FromStr>(&self, var: &'static str, default: T) -> Result<T, EnvError>
    where
        T::Err: fmt::Display,
    {
        match self.get(var) {
            None => Ok(default),
            Some(v) => v
                .trim()
                .parse()
                .map_err(|e: T::Err| EnvError::new(var, format!("cannot parse {v:?}: {e}"))),
        }
    }

    /// A boolean: `1`/`true`/`yes`/`on` or `0`/`false`/`no`/`off`, any case.
    pub fn flag(&self, var: &'static str, default: bool) -> Result<bool, EnvError> {
        match self.get(var).map(|v| v.trim().to_ascii_lowercase()) {
            None => Ok(default),
            Some(v) => match v.as_str() {
                "1" | "true" | "yes" | "on" => Ok(true),
                "0" | "false" | "no" | "off" => Ok(false),
                _ => Err(EnvError::new(
                    var,
                    format!("expected true or false, got {v:?}"),
                )),
            },
        }
    }

    /// A number that must be finite and above zero.
    pub fn positive(&self, var: &'static str, default: f64) -> Result<f64, EnvError> {
        let v = self.parse(var, default)?;
        if v.is_finite() && v > 0.0 {
            Ok(v)
        } else {
            Err(EnvError::new(var, "must be a positive number"))
        }
    }

    /// A positive number of seconds, fractions allowed (`_S` variables).
    pub fn positive_secs(
        &self,
        var: &'static str,
        default: Duration,
    ) -> Result<Duration, EnvError> {
        let secs = self.positive(var, default.as_secs_f64())?;
        Duration::try_from_secs_f64(secs)
            .map_err(|_| EnvError::new(var, "is too large a number of seconds"))
    }

    /// A whole number of milliseconds (`_MS` variables); at least `min_ms`.
    pub fn millis(
        &self,
        var: &'static str,
        default: Duration,
        min_ms: u64,
    ) -> Result<Duration, EnvError> {
        let default_ms = u64::try_from(default.as_millis()).unwrap_or(u64::MAX);
        let ms: u64 = self.parse(var, default_ms)?;
        if ms < min_ms {
            return Err(EnvError::new(var, format!("must be at least {min_ms}")));
        }
        Ok(Duration::from_millis(ms))
    }

    /// A whole number that must be at least 1.
    pub fn at_least_one<T>(&self, var: &'static str, default: T) -> Result<T, EnvError>
    where
        T: FromStr + PartialOrd + From<u8>,
        T::Err: fmt::Display,
    {
        let v = self.parse(var, default)?;
        if v < T::from(1) {
            return Err(EnvError::new(var, "must be at least 1"));
        }
        Ok(v)
    }
}

/// `url` with the password of its `user:password@` part, if any, replaced by `***` (for
/// printing a database or Redis URL).
pub fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let creds = &url[scheme + 3..at];
            match creds.split_once(':') {
                Some((user, _)) => format!("{}{}:***{}", &url[..scheme + 3], user, &url[at..]),
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blank_counts_as_unset_and_values_are_trimmed() {
        let e = Env::from_pairs(&[("A", "  "), ("B", " 7 "), ("C", " x ")]);
        assert_eq!(e.get("A"), None);
        assert_eq!(e.parse("A", 3u32), Ok(3));
        assert_eq!(e.parse("B", 3u32), Ok(7));
        assert_eq!(e.string("C", "d"), "x");
        assert_eq!(e.string("Z", "d"), "d");
    }

    #[test]
    fn errors_start_with_the_variable() {
        let e = Env::from_pairs(&[("N", "eighty"), ("F", "maybe"), ("P", "-1"), ("S", "1e300")]);
        for err in [
            e.parse("N", 1u16).map(|_| ()),
            e.flag("F", true).map(|_| ()),
            e.positive("P", 1.0).map(|_| ()),
            e.positive_secs("S", Duration::from_secs(1)).map(|_| ()),
        ] {
            let err = err.expect_err("refused");
            assert!(err.to_string().starts_with(err.var), "{err}");
        }
    }

    #[test]
    fn durations_and_minimums() {
        let e = Env::from_pairs(&[("MS", "0"), ("S", "0.5"), ("ONE", "0")]);
        let second = Duration::from_secs(1);
        assert_eq!(e.millis("MS", second, 0), Ok(Duration::ZERO));
        assert!(e.millis("MS", second, 1).is_err());
        assert_eq!(e.millis("UNSET", second, 1), Ok(second));
        assert_eq!(e.positive_secs("S", second), Ok(Duration::from_millis(500)));
        assert!(e.at_least_one("ONE", 5u32).is_err());
        assert_eq!(e.at_least_one("UNSET", 5u32), Ok(5));
    }

    #[test]
    fn redact_url_hides_only_the_password() {
        assert_eq!(
            redact_url("postgres://u:pw@h:5432/db"),
            "postgres://u:***@h:5432/db"
        );
        assert_eq!(redact_url("sqlite://data/vexa.db"), "sqlite://data/vexa.db");
        assert_eq!(redact_url("redis://h:6379"), "redis://h:6379");
    }

    #[test]
    fn debug_shows_names_not_values() {
        let e = Env::from_pairs(&[("ADMIN_TOKEN", "hunter2-hunter2")]);
        assert!(!format!("{e:?}").contains("hunter2"));
        let s = Secret::from("hunter2-hunter2");
        assert_eq!(format!("{s:?}"), "<redacted>");
        assert_eq!(format!("{:?}", Secret::default()), "<unset>");
    }
}
