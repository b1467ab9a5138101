//! The `store` section: which database, and how often this process polls its identity event log.

use std::fmt;
use std::time::Duration;

use vexa_core::env::{redact_url, Env, EnvError};

/// `DATABASE_URL`: fills [`StoreSettings::database_url`].
pub const ENV_DATABASE_URL: &str = "DATABASE_URL";
/// `IDENTITY_EVENT_POLL_MS`: fills [`StoreSettings::identity_event_poll`].
pub const ENV_IDENTITY_EVENT_POLL_MS: &str = "IDENTITY_EVENT_POLL_MS";

/// Where state lives.
#[derive(Clone, PartialEq, Eq)]
pub struct StoreSettings {
    /// `sqlite://…` (embedded) or `postgres://…` (shared between replicas).
    pub database_url: String,
    /// How often a gateway polls for identity changes other processes made: the backstop under
    /// PostgreSQL's LISTEN/NOTIFY, and the only path on SQLite. Bounds how long a revocation
    /// made elsewhere takes to reach this process.
    pub identity_event_poll: Duration,
}

impl Default for StoreSettings {
    fn default() -> Self {
        StoreSettings {
            database_url: "sqlite://data/vexa.db".into(),
            identity_event_poll: Duration::from_millis(250),
        }
    }
}

impl StoreSettings {
    /// The defaults, overridden by whichever store variables `env` sets.
    pub fn from_env(env: &Env) -> Result<StoreSettings, EnvError> {
        let d = StoreSettings::default();
        Ok(StoreSettings {
            database_url: env.string(ENV_DATABASE_URL, &d.database_url),
            identity_event_poll: env.millis(
                ENV_IDENTITY_EVENT_POLL_MS,
                d.identity_event_poll,
                1,
            )?,
        })
    }
}

impl fmt::Debug for StoreSettings {
    // By hand to keep a database password out of `vexa config`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StoreSettings")
            .field("database_url", &redact_url(&self.database_url))
            .field("identity_event_poll", &self.identity_event_poll)
            .finish()
    }
}
