//! Settings of the meetings service: [`MeetingsConfig`], its defaults (written only in its
//! `Default` impl), and [`MeetingsConfig::from_env`], which reads the service's variables over
//! them. Where bots call back (`callback_base_url`) is not a variable: the process that binds the
//! service's port fills it in.

use std::path::PathBuf;
use std::time::Duration;

use rand::RngCore;
use vexa_core::env::{
    Env, EnvError, DEFAULT_DATA_DIR, DEFAULT_MAX_BODY_BYTES, ENV_DATA_DIR, ENV_INTERNAL_API_SECRET,
    ENV_MAX_BODY_BYTES,
};

/// `BOT_COMMAND`: fills [`MeetingsConfig::bot_command`].
pub const ENV_BOT_COMMAND: &str = "BOT_COMMAND";
/// `BOT_STOP_GRACE_S`: fills [`MeetingsConfig::stop_grace`].
pub const ENV_BOT_STOP_GRACE_S: &str = "BOT_STOP_GRACE_S";
/// `WEBHOOK_TIMEOUT_S`: fills [`MeetingsConfig::webhook_timeout`].
pub const ENV_WEBHOOK_TIMEOUT_S: &str = "WEBHOOK_TIMEOUT_S";
/// `WEBHOOK_RETRY_BACKOFF_MS`: fills [`MeetingsConfig::webhook_retry_backoff`].
pub const ENV_WEBHOOK_RETRY_BACKOFF_MS: &str = "WEBHOOK_RETRY_BACKOFF_MS";

/// Configuration of the meetings service.
#[derive(Clone)]
pub struct MeetingsConfig {
    /// `INTERNAL_API_SECRET`, shared with the gateway; every public route requires it in
    /// `X-Internal-Secret`.
    pub internal_secret: String,
    /// `BOT_COMMAND` (shell words). `None` = `POST /bots` answers 503.
    pub bot_command: Option<String>,
    /// Where bots reach this service, e.g. `http://127.0.0.1:18058`.
    pub callback_base_url: String,
    /// `DATA_DIR`: bot logs go to `<data_dir>/bots/`.
    pub data_dir: PathBuf,
    /// `BOT_STOP_GRACE_S`: how long a bot may take to leave after being told to, before SIGTERM.
    pub stop_grace: Duration,
    /// Key of the per-meeting bot tokens. Random by default: tokens only need to verify in the
    /// process that issued them.
    pub token_key: [u8; 32],
    /// `WEBHOOK_TIMEOUT_S`: longest wait for a webhook receiver's answer.
    pub webhook_timeout: Duration,
    /// `WEBHOOK_RETRY_BACKOFF_MS`: wait before the first retry of a failed webhook delivery,
    /// doubled before each further retry.
    pub webhook_retry_backoff: Duration,
    /// `MAX_BODY_BYTES`: largest request body read, the same limit the gateway enforces.
    pub max_body_bytes: u64,
}

impl Default for MeetingsConfig {
    fn default() -> Self {
        let mut token_key = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut token_key);
        MeetingsConfig {
            internal_secret: String::new(),
            bot_command: None,
            callback_base_url: "http://127.0.0.1:18058".into(),
            data_dir: PathBuf::from(DEFAULT_DATA_DIR),
            stop_grace: Duration::from_secs(10),
            token_key,
            webhook_timeout: Duration::from_secs(10),
            webhook_retry_backoff: Duration::from_secs(1),
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
        }
    }
}

impl MeetingsConfig {
    /// The defaults, overridden by whichever of the service's variables `env` sets.
    pub fn from_env(env: &Env) -> Result<MeetingsConfig, EnvError> {
        let d = MeetingsConfig::default();
        Ok(MeetingsConfig {
            internal_secret: env
                .get(ENV_INTERNAL_API_SECRET)
                .map_or(d.internal_secret, str::to_owned),
            bot_command: env
                .get(ENV_BOT_COMMAND)
                .map(str::to_owned)
                .or(d.bot_command),
            data_dir: env
                .get(ENV_DATA_DIR)
                .map_or(d.data_dir, |v| v.trim().into()),
            stop_grace: env.positive_secs(ENV_BOT_STOP_GRACE_S, d.stop_grace)?,
            webhook_timeout: env.positive_secs(ENV_WEBHOOK_TIMEOUT_S, d.webhook_timeout)?,
            webhook_retry_backoff: env.millis(
                ENV_WEBHOOK_RETRY_BACKOFF_MS,
                d.webhook_retry_backoff,
                0,
            )?,
            max_body_bytes: env.parse(ENV_MAX_BODY_BYTES, d.max_body_bytes)?,
            ..d
        })
    }
}

impl std::fmt::Debug for MeetingsConfig {
    // By hand so the internal secret and the token key never print.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MeetingsConfig")
            .field("bot_command", &self.bot_command)
            .field("callback_base_url", &self.callback_base_url)
            .field("data_dir", &self.data_dir)
            .field("stop_grace", &self.stop_grace)
            .field("webhook_timeout", &self.webhook_timeout)
            .field("webhook_retry_backoff", &self.webhook_retry_backoff)
            .field("max_body_bytes", &self.max_body_bytes)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unset_variables_give_the_defaults() {
        let cfg = MeetingsConfig::from_env(&Env::from_pairs(&[])).expect("valid");
        assert_eq!(cfg.bot_command, None);
        assert_eq!(cfg.data_dir, PathBuf::from("data"));
        assert_eq!(cfg.stop_grace, Duration::from_secs(10));
        assert_eq!(cfg.webhook_timeout, Duration::from_secs(10));
        assert_eq!(cfg.webhook_retry_backoff, Duration::from_secs(1));
        assert_eq!(cfg.max_body_bytes, 10 * 1024 * 1024);
    }

    #[test]
    fn variables_override_and_bad_values_name_the_variable() {
        let cfg = MeetingsConfig::from_env(&Env::from_pairs(&[
            ("WEBHOOK_TIMEOUT_S", "2.5"),
            ("WEBHOOK_RETRY_BACKOFF_MS", "50"),
            ("MAX_BODY_BYTES", "1024"),
            ("DATA_DIR", "/tmp/vexa"),
        ]))
        .expect("valid");
        assert_eq!(cfg.webhook_timeout, Duration::from_millis(2500));
        assert_eq!(cfg.webhook_retry_backoff, Duration::from_millis(50));
        assert_eq!(cfg.max_body_bytes, 1024);
        assert_eq!(cfg.data_dir, PathBuf::from("/tmp/vexa"));
        for var in [
            "WEBHOOK_TIMEOUT_S",
            "WEBHOOK_RETRY_BACKOFF_MS",
            "BOT_STOP_GRACE_S",
        ] {
            let err = MeetingsConfig::from_env(&Env::from_pairs(&[(var, "-1")])).expect_err(var);
            assert_eq!(err.var, var);
        }
    }

    #[test]
    fn debug_never_prints_the_secret_or_the_token_key() {
        let cfg = MeetingsConfig::from_env(&Env::from_pairs(&[(
            "INTERNAL_API_SECRET",
            "s3cret-internal",
        )]))
        .expect("valid");
        let printed = format!("{cfg:?}");
        assert!(!printed.contains("s3cret") && !printed.contains("token_key"));
    }
}
