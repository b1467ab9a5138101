//! Settings: read once from the environment and `.env` (environment wins), validated into typed
//! sections, failing fast with a message that names the variable. Secrets never reach `Debug`.
//!
//! Each section is parsed by a `from_env` next to its type, starting from that type's `Default`
//! (the one place its defaults are written), and each variable's name is an `ENV_*` constant
//! beside the field it fills. The role crates' sections live in those crates
//! ([`GatewayConfig`], [`MeetingsConfig`]); the binary's own ones live here. Loading the `.env`
//! file is the only I/O, in [`load_env`].

mod admin;
#[cfg(test)]
mod env_example;
mod listen;
mod log;
mod stack;
mod store;

use std::collections::HashMap;

use vexa_core::env::{Env, EnvError};
use vexa_gateway::GatewayConfig;
use vexa_meetings::MeetingsConfig;

pub use admin::AdminSettings;
pub use listen::{Listen, ENV_ADMIN_API_PORT, ENV_API_GATEWAY_HOST_PORT, ENV_MEETINGS_API_PORT};
pub use log::{LogFormat, ENV_RUST_LOG};
pub use stack::StackSettings;
pub use store::{StoreSettings, ENV_DATABASE_URL};

/// A configuration problem, naming the variable at fault.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error(transparent)]
    Invalid(#[from] EnvError),
    #[error(
        "refusing to start: BIND_HOST={host} is not a loopback address and {reason}. \
         Set a random ADMIN_TOKEN of at least 16 characters in .env \
         (e.g. `openssl rand -hex 24`), or set ALLOW_INSECURE_ADMIN_TOKEN=true to override"
    )]
    InsecureAdminToken { host: String, reason: &'static str },
}

/// Every setting of every role, by section.
#[derive(Debug, Clone)]
pub struct Settings {
    pub listen: Listen,
    pub store: StoreSettings,
    pub gateway: GatewayConfig,
    pub admin: AdminSettings,
    pub meetings: MeetingsConfig,
    pub stack: StackSettings,
    pub log: LogFormat,
}

/// The variables as this process sees them: `.env` in the working directory (if present), with
/// the process environment over it.
pub fn load_env() -> Env {
    let mut map = HashMap::new();
    if let Ok(iter) = dotenvy::from_filename_iter(".env") {
        for (k, v) in iter.flatten() {
            map.insert(k, v);
        }
    }
    for (k, v) in std::env::vars() {
        map.insert(k, v);
    }
    Env::from_map(map)
}

impl Settings {
    /// Reads and validates every section.
    pub fn from_env(env: &Env) -> Result<Settings, ConfigError> {
        let listen = Listen::from_env(env)?;
        let log = LogFormat::from_env(env)?;
        Ok(Settings {
            store: StoreSettings::from_env(env)?,
            gateway: GatewayConfig {
                // JSON logs: the gateway writes its access lines itself, in the same shape.
                access_log: match log {
                    LogFormat::Json => vexa_gateway::AccessLog::JsonLines,
                    LogFormat::Pretty => vexa_gateway::AccessLog::TracingEvents,
                },
                ..GatewayConfig::from_env(env, &listen.local_upstreams()?)?
            },
            admin: AdminSettings::from_env(env)?,
            meetings: MeetingsConfig {
                // Bots call back on the port this process binds.
                callback_base_url: listen.meetings_url(),
                ..MeetingsConfig::from_env(env)?
            },
            stack: StackSettings::from_env(env)?,
            log,
            listen,
        })
    }

    /// CONTRACT §1: off loopback, a weak admin token is refused unless explicitly allowed.
    pub fn check_admin_token_safety(&self) -> Result<(), ConfigError> {
        if self.listen.bind_host.is_loopback() {
            return Ok(());
        }
        match self.admin.weakness() {
            Some(reason) => Err(ConfigError::InsecureAdminToken {
                host: self.listen.bind_host.to_string(),
                reason,
            }),
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn defaults_match_the_contract() {
        let s = Settings::from_env(&Env::from_pairs(&[])).expect("defaults are valid");
        assert_eq!(
            (
                s.listen.gateway_port,
                s.listen.admin_port,
                s.listen.meetings_port
            ),
            (18056, 18057, 18058)
        );
        assert_eq!(s.store.database_url, "sqlite://data/vexa.db");
        assert_eq!(
            s.gateway.meetings_url,
            http::Uri::from_static("http://127.0.0.1:18058")
        );
        assert_eq!(s.gateway.max_body_bytes, 10 * 1024 * 1024);
        assert!(!s.gateway.admin_proxy);
    }

    #[test]
    fn one_max_body_bytes_feeds_every_role() {
        let s =
            Settings::from_env(&Env::from_pairs(&[("MAX_BODY_BYTES", "4096")])).expect("parses");
        assert_eq!(
            (
                s.gateway.max_body_bytes,
                s.admin.max_body_bytes,
                s.meetings.max_body_bytes
            ),
            (4096, 4096, 4096)
        );
        let d = Settings::from_env(&Env::from_pairs(&[])).expect("parses");
        assert_eq!(d.admin.max_body_bytes, d.gateway.max_body_bytes);
        assert_eq!(d.meetings.max_body_bytes, d.gateway.max_body_bytes);
    }

    #[test]
    fn buried_knobs_are_settable() {
        let s = Settings::from_env(&Env::from_pairs(&[
            ("WEBHOOK_TIMEOUT_S", "3"),
            ("WEBHOOK_RETRY_BACKOFF_MS", "20"),
            ("STACK_HEALTH_WAIT_S", "5"),
            ("IDENTITY_EVENT_POLL_MS", "100"),
        ]))
        .expect("parses");
        assert_eq!(s.meetings.webhook_timeout, Duration::from_secs(3));
        assert_eq!(s.meetings.webhook_retry_backoff, Duration::from_millis(20));
        assert_eq!(s.stack.health_wait, Duration::from_secs(5));
        assert_eq!(s.store.identity_event_poll, Duration::from_millis(100));
        let err = Settings::from_env(&Env::from_pairs(&[("IDENTITY_EVENT_POLL_MS", "0")]))
            .expect_err("zero");
        assert!(err.to_string().starts_with("IDENTITY_EVENT_POLL_MS"));
    }

    #[test]
    fn the_meetings_service_is_called_back_on_its_own_port() {
        let s = Settings::from_env(&Env::from_pairs(&[("MEETINGS_API_PORT", "19058")]))
            .expect("parses");
        assert_eq!(s.meetings.callback_base_url, "http://127.0.0.1:19058");
        assert_eq!(
            s.gateway.meetings_url,
            http::Uri::from_static("http://127.0.0.1:19058")
        );
        let d = Settings::from_env(&Env::from_pairs(&[])).expect("parses");
        assert_eq!(
            d.meetings.callback_base_url,
            MeetingsConfig::default().callback_base_url
        );
    }

    #[test]
    fn weak_admin_token_is_refused_off_loopback() {
        for token in ["", "dev-admin-token", "short"] {
            let s = Settings::from_env(&Env::from_pairs(&[
                ("BIND_HOST", "0.0.0.0"),
                ("ADMIN_TOKEN", token),
            ]))
            .expect("parses");
            let err = s.check_admin_token_safety().expect_err("refused");
            assert!(err.to_string().contains("ADMIN_TOKEN"), "{err}");
        }
        let ok = Settings::from_env(&Env::from_pairs(&[
            ("BIND_HOST", "0.0.0.0"),
            ("ADMIN_TOKEN", "a-long-random-admin-token"),
        ]))
        .expect("parses");
        assert!(ok.check_admin_token_safety().is_ok());
        let allowed = Settings::from_env(&Env::from_pairs(&[
            ("BIND_HOST", "0.0.0.0"),
            ("ADMIN_TOKEN", "dev-admin-token"),
            ("ALLOW_INSECURE_ADMIN_TOKEN", "true"),
        ]))
        .expect("parses");
        assert!(allowed.check_admin_token_safety().is_ok());
        let local = Settings::from_env(&Env::from_pairs(&[("ADMIN_TOKEN", "dev-admin-token")]))
            .expect("parses");
        assert!(local.check_admin_token_safety().is_ok());
    }

    #[test]
    fn bad_values_name_the_variable() {
        let err = Settings::from_env(&Env::from_pairs(&[("API_GATEWAY_HOST_PORT", "eighty")]))
            .expect_err("bad port");
        assert!(err.to_string().starts_with("API_GATEWAY_HOST_PORT"));
        let err = Settings::from_env(&Env::from_pairs(&[("GUARD_ENABLED", "maybe")]))
            .expect_err("bad flag");
        assert!(err.to_string().starts_with("GUARD_ENABLED"));
        let err =
            Settings::from_env(&Env::from_pairs(&[("LOG_FORMAT", "xml")])).expect_err("bad format");
        assert!(err.to_string().starts_with("LOG_FORMAT"));
    }

    #[test]
    fn debug_never_prints_secrets() {
        let s = Settings::from_env(&Env::from_pairs(&[
            ("ADMIN_TOKEN", "super-secret-admin-token-123"),
            ("INTERNAL_API_SECRET", "super-secret-internal"),
            ("DATABASE_URL", "postgres://u:super-secret-pw@h/db"),
        ]))
        .expect("parses");
        assert!(!format!("{s:?}").contains("super-secret"));
    }

    #[test]
    fn original_variable_names_still_work() {
        let s = Settings::from_env(&Env::from_pairs(&[
            ("ADMIN_API_TOKEN", "legacy-token"),
            ("MEETING_API_URL", "http://m:1"),
        ]))
        .expect("parses");
        assert_eq!(s.admin.token.expose(), "legacy-token");
        assert_eq!(s.gateway.meetings_url, http::Uri::from_static("http://m:1"));
    }
}
