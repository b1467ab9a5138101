//! Settings: read once from the environment and `.env` (environment wins), validated into typed
//! values, failing fast with a message that names the variable. Secrets never reach `Debug`.

use std::collections::HashMap;
use std::fmt;
use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

use vexa_core::admin_token::insecure_admin_token_reason;

/// A configuration problem, naming the variable at fault.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{var}: {reason}")]
    Invalid { var: &'static str, reason: String },
    #[error(
        "refusing to start: BIND_HOST={host} is not a loopback address and {reason}. \
         Set a random ADMIN_TOKEN of at least 16 characters in .env \
         (e.g. `openssl rand -hex 24`), or set ALLOW_INSECURE_ADMIN_TOKEN=true to override"
    )]
    InsecureAdminToken { host: String, reason: &'static str },
}

/// A secret string: usable, never printed.
#[derive(Clone, Default)]
pub struct Secret(String);

impl Secret {
    pub fn expose(&self) -> &str {
        &self.0
    }
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_empty() {
            f.write_str("<unset>")
        } else {
            f.write_str("<redacted>")
        }
    }
}

/// Every setting of every role.
#[derive(Debug, Clone)]
pub struct Settings {
    pub bind_host: IpAddr,
    pub gateway_port: u16,
    pub admin_port: u16,
    pub meetings_port: u16,
    pub database_url: String,
    pub admin_token: Secret,
    pub allow_insecure_admin_token: bool,
    pub internal_secret: Secret,
    pub meetings_url: String,
    pub browser_url: Option<String>,
    pub admin_url: String,
    pub gateway_admin_proxy: bool,
    pub upstream_timeout: Duration,
    pub max_body_bytes: u64,
    pub rate_limit_rps: f64,
    pub rate_limit_burst: u32,
    pub rate_limit_disabled: bool,
    pub guard_enabled: bool,
    pub guard_rpm: u32,
    pub guard_ban_threshold: u32,
    pub guard_ban_duration: Duration,
    pub guard_trusted_proxies: String,
    pub redis_url: Option<String>,
    pub key_cache_capacity: usize,
    pub bot_command: Option<String>,
    pub bot_stop_grace: Duration,
    pub data_dir: PathBuf,
    pub log_format: LogFormat,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Json,
    Pretty,
}

/// The variables as read: `.env` first, the process environment over it.
pub struct Env(HashMap<String, String>);

impl Env {
    /// Loads `.env` from the working directory (if present) under the process environment.
    pub fn load() -> Env {
        let mut map = HashMap::new();
        if let Ok(iter) = dotenvy::from_filename_iter(".env") {
            for (k, v) in iter.flatten() {
                map.insert(k, v);
            }
        }
        for (k, v) in std::env::vars() {
            map.insert(k, v);
        }
        Env(map)
    }

    #[cfg(test)]
    pub fn from_map(map: HashMap<String, String>) -> Env {
        Env(map)
    }

    fn get(&self, var: &str) -> Option<&str> {
        self.0
            .get(var)
            .map(String::as_str)
            .filter(|v| !v.trim().is_empty())
    }

    fn string(&self, var: &str, default: &str) -> String {
        self.get(var).unwrap_or(default).trim().to_owned()
    }

    fn parse<T: std::str::FromStr>(&self, var: &'static str, default: T) -> Result<T, ConfigError>
    where
        T::Err: fmt::Display,
    {
        match self.get(var) {
            None => Ok(default),
            Some(v) => v.trim().parse().map_err(|e: T::Err| ConfigError::Invalid {
                var,
                reason: format!("cannot parse {v:?}: {e}"),
            }),
        }
    }

    fn flag(&self, var: &'static str, default: bool) -> Result<bool, ConfigError> {
        match self.get(var).map(|v| v.trim().to_ascii_lowercase()) {
            None => Ok(default),
            Some(v) => match v.as_str() {
                "1" | "true" | "yes" | "on" => Ok(true),
                "0" | "false" | "no" | "off" => Ok(false),
                _ => Err(ConfigError::Invalid {
                    var,
                    reason: format!("expected true or false, got {v:?}"),
                }),
            },
        }
    }
}

impl Settings {
    /// Reads and validates every setting.
    pub fn from_env(env: &Env) -> Result<Settings, ConfigError> {
        let bind_host: IpAddr = env.parse("BIND_HOST", IpAddr::from([127, 0, 0, 1]))?;
        let gateway_port = env.parse("API_GATEWAY_HOST_PORT", 18056u16)?;
        let admin_port = env.parse("ADMIN_API_PORT", 18057u16)?;
        let meetings_port = env.parse("MEETINGS_API_PORT", 18058u16)?;
        let local = local_host(bind_host);
        // The original's variable names (`docs/reference/vexa-gateway-identity.md` §4.2–4.3) are
        // honoured so an existing .env keeps working.
        let admin_token = env
            .get("ADMIN_TOKEN")
            .or_else(|| env.get("ADMIN_API_TOKEN"))
            .unwrap_or("")
            .to_owned();
        let meetings_url = env
            .get("MEETINGS_API_URL")
            .or_else(|| env.get("MEETING_API_URL"))
            .map(str::to_owned)
            .unwrap_or_else(|| format!("http://{local}:{meetings_port}"));
        let settings = Settings {
            bind_host,
            gateway_port,
            admin_port,
            meetings_port,
            database_url: env.string("DATABASE_URL", "sqlite://data/vexa.db"),
            admin_token: Secret(admin_token),
            allow_insecure_admin_token: env.flag("ALLOW_INSECURE_ADMIN_TOKEN", false)?,
            internal_secret: Secret(env.get("INTERNAL_API_SECRET").unwrap_or("").to_owned()),
            meetings_url,
            browser_url: env.get("BROWSER_API_URL").map(str::to_owned),
            admin_url: env
                .get("ADMIN_API_URL")
                .map(str::to_owned)
                .unwrap_or_else(|| format!("http://{local}:{admin_port}")),
            gateway_admin_proxy: env.flag("GATEWAY_ADMIN_PROXY", false)?,
            upstream_timeout: Duration::from_secs_f64(positive(
                env.parse("UPSTREAM_TIMEOUT_S", 30.0)?,
                "UPSTREAM_TIMEOUT_S",
            )?),
            max_body_bytes: env.parse("MAX_BODY_BYTES", 10 * 1024 * 1024u64)?,
            rate_limit_rps: positive(
                env.parse("GATEWAY_RATE_LIMIT_RPS", 40.0)?,
                "GATEWAY_RATE_LIMIT_RPS",
            )?,
            rate_limit_burst: env.parse("GATEWAY_RATE_LIMIT_BURST", 120u32)?,
            rate_limit_disabled: env.flag("GATEWAY_RATE_LIMIT_DISABLED", false)?,
            guard_enabled: env.flag("GUARD_ENABLED", true)?,
            guard_rpm: env.parse("GUARD_RATE_LIMIT_RPM", 600u32)?,
            guard_ban_threshold: env.parse("GUARD_AUTO_BAN_THRESHOLD", 10u32)?,
            guard_ban_duration: Duration::from_secs(env.parse("GUARD_AUTO_BAN_DURATION", 3600u64)?),
            guard_trusted_proxies: env.string("GUARD_TRUSTED_PROXIES", ""),
            redis_url: env.get("REDIS_URL").map(str::to_owned),
            key_cache_capacity: env.parse("KEY_CACHE_CAPACITY", 1_000_000usize)?,
            bot_command: env.get("BOT_COMMAND").map(str::to_owned),
            bot_stop_grace: Duration::from_secs_f64(positive(
                env.parse("BOT_STOP_GRACE_S", 10.0)?,
                "BOT_STOP_GRACE_S",
            )?),
            data_dir: PathBuf::from(env.string("DATA_DIR", "data")),
            log_format: match env.string("LOG_FORMAT", "json").as_str() {
                "json" => LogFormat::Json,
                "pretty" | "text" => LogFormat::Pretty,
                other => {
                    return Err(ConfigError::Invalid {
                        var: "LOG_FORMAT",
                        reason: format!("expected json or pretty, got {other:?}"),
                    })
                }
            },
        };
        if settings.rate_limit_burst == 0 {
            return Err(ConfigError::Invalid {
                var: "GATEWAY_RATE_LIMIT_BURST",
                reason: "must be at least 1".into(),
            });
        }
        if settings.guard_rpm == 0 {
            return Err(ConfigError::Invalid {
                var: "GUARD_RATE_LIMIT_RPM",
                reason: "must be at least 1".into(),
            });
        }
        Ok(settings)
    }

    /// CONTRACT §1: off loopback, a weak admin token is refused unless explicitly allowed.
    pub fn check_admin_token_safety(&self) -> Result<(), ConfigError> {
        if self.bind_host.is_loopback() || self.allow_insecure_admin_token {
            return Ok(());
        }
        match insecure_admin_token_reason(self.admin_token.expose()) {
            Some(reason) => Err(ConfigError::InsecureAdminToken {
                host: self.bind_host.to_string(),
                reason,
            }),
            None => Ok(()),
        }
    }

    /// Host to use when this machine calls its own roles.
    pub fn local_host(&self) -> String {
        local_host(self.bind_host)
    }

    pub fn gateway_url(&self) -> String {
        format!("http://{}:{}", self.local_host(), self.gateway_port)
    }

    pub fn admin_base_url(&self) -> String {
        format!("http://{}:{}", self.local_host(), self.admin_port)
    }

    pub fn meetings_base_url(&self) -> String {
        format!("http://{}:{}", self.local_host(), self.meetings_port)
    }
}

fn local_host(bind: IpAddr) -> String {
    match bind {
        IpAddr::V4(v4) if v4.is_unspecified() => "127.0.0.1".into(),
        IpAddr::V6(v6) if v6.is_unspecified() => "[::1]".into(),
        IpAddr::V6(v6) => format!("[{v6}]"),
        IpAddr::V4(v4) => v4.to_string(),
    }
}

fn positive(v: f64, var: &'static str) -> Result<f64, ConfigError> {
    if v.is_finite() && v > 0.0 {
        Ok(v)
    } else {
        Err(ConfigError::Invalid {
            var,
            reason: "must be a positive number".into(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Env {
        Env::from_map(
            pairs
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
        )
    }

    #[test]
    fn defaults_match_the_contract() {
        let s = Settings::from_env(&env(&[])).expect("defaults are valid");
        assert_eq!(
            (s.gateway_port, s.admin_port, s.meetings_port),
            (18056, 18057, 18058)
        );
        assert_eq!(s.database_url, "sqlite://data/vexa.db");
        assert_eq!(s.meetings_url, "http://127.0.0.1:18058");
        assert_eq!(s.max_body_bytes, 10 * 1024 * 1024);
        assert!(!s.gateway_admin_proxy);
    }

    #[test]
    fn weak_admin_token_is_refused_off_loopback() {
        for token in ["", "dev-admin-token", "short"] {
            let s = Settings::from_env(&env(&[("BIND_HOST", "0.0.0.0"), ("ADMIN_TOKEN", token)]))
                .expect("parses");
            let err = s.check_admin_token_safety().expect_err("refused");
            assert!(err.to_string().contains("ADMIN_TOKEN"), "{err}");
        }
        let ok = Settings::from_env(&env(&[
            ("BIND_HOST", "0.0.0.0"),
            ("ADMIN_TOKEN", "a-long-random-admin-token"),
        ]))
        .expect("parses");
        assert!(ok.check_admin_token_safety().is_ok());
        let allowed = Settings::from_env(&env(&[
            ("BIND_HOST", "0.0.0.0"),
            ("ADMIN_TOKEN", "dev-admin-token"),
            ("ALLOW_INSECURE_ADMIN_TOKEN", "true"),
        ]))
        .expect("parses");
        assert!(allowed.check_admin_token_safety().is_ok());
        let local =
            Settings::from_env(&env(&[("ADMIN_TOKEN", "dev-admin-token")])).expect("parses");
        assert!(local.check_admin_token_safety().is_ok());
    }

    #[test]
    fn bad_values_name_the_variable() {
        let err =
            Settings::from_env(&env(&[("API_GATEWAY_HOST_PORT", "eighty")])).expect_err("bad port");
        assert!(err.to_string().starts_with("API_GATEWAY_HOST_PORT"));
        let err = Settings::from_env(&env(&[("GUARD_ENABLED", "maybe")])).expect_err("bad flag");
        assert!(err.to_string().starts_with("GUARD_ENABLED"));
    }

    #[test]
    fn debug_never_prints_secrets() {
        let s = Settings::from_env(&env(&[("ADMIN_TOKEN", "super-secret-admin-token-123")]))
            .expect("parses");
        assert!(!format!("{s:?}").contains("super-secret"));
    }

    #[test]
    fn original_variable_names_still_work() {
        let s = Settings::from_env(&env(&[
            ("ADMIN_API_TOKEN", "legacy-token"),
            ("MEETING_API_URL", "http://m:1"),
        ]))
        .expect("parses");
        assert_eq!(s.admin_token.expose(), "legacy-token");
        assert_eq!(s.meetings_url, "http://m:1");
    }
}
