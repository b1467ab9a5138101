//! The `log` section: the format of the server's log lines. The filter (`RUST_LOG`) is read by
//! `tracing_subscriber` from the process environment itself.

use vexa_core::env::{Env, EnvError};

/// `LOG_FORMAT`: fills [`LogFormat`].
pub const ENV_LOG_FORMAT: &str = "LOG_FORMAT";
/// `RUST_LOG`: the log filter, from the process environment only (not `.env`).
pub const ENV_RUST_LOG: &str = "RUST_LOG";

/// How server log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LogFormat {
    /// One JSON object per line.
    #[default]
    Json,
    /// Human-readable text.
    Pretty,
}

impl LogFormat {
    /// `LOG_FORMAT`: `json`, or `pretty` (alias `text`).
    pub fn from_env(env: &Env) -> Result<LogFormat, EnvError> {
        match env.get(ENV_LOG_FORMAT).map(str::trim) {
            None => Ok(LogFormat::default()),
            Some("json") => Ok(LogFormat::Json),
            Some("pretty" | "text") => Ok(LogFormat::Pretty),
            Some(other) => Err(EnvError::new(
                ENV_LOG_FORMAT,
                format!("expected json or pretty, got {other:?}"),
            )),
        }
    }
}
