//! The `stack` section: the background stack of `vexa start` (`make all`), its directory and how
//! long starting it may take.

use std::path::PathBuf;
use std::time::Duration;

use vexa_core::env::{Env, EnvError, DEFAULT_DATA_DIR, ENV_DATA_DIR};

/// `STACK_HEALTH_WAIT_S`: fills [`StackSettings::health_wait`].
pub const ENV_STACK_HEALTH_WAIT_S: &str = "STACK_HEALTH_WAIT_S";

/// The background stack.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StackSettings {
    /// `DATA_DIR`: holds `vexa.pid` and `vexa.log` (and, for the meetings service, bot logs).
    pub data_dir: PathBuf,
    /// How long `vexa start` waits for every role to answer `/health` before giving up.
    pub health_wait: Duration,
}

impl Default for StackSettings {
    fn default() -> Self {
        StackSettings {
            data_dir: PathBuf::from(DEFAULT_DATA_DIR),
            health_wait: Duration::from_secs(90),
        }
    }
}

impl StackSettings {
    /// The defaults, overridden by whichever stack variables `env` sets.
    pub fn from_env(env: &Env) -> Result<StackSettings, EnvError> {
        let d = StackSettings::default();
        Ok(StackSettings {
            data_dir: env
                .get(ENV_DATA_DIR)
                .map_or(d.data_dir, |v| v.trim().into()),
            health_wait: env.positive_secs(ENV_STACK_HEALTH_WAIT_S, d.health_wait)?,
        })
    }
}
