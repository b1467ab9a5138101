//! The `admin` section: the admin API's token, the override for a weak token off loopback, and
//! its body limit (the gateway's `MAX_BODY_BYTES`).

use vexa_core::admin_token::insecure_admin_token_reason;
use vexa_core::env::{Env, EnvError, Secret, DEFAULT_MAX_BODY_BYTES, ENV_MAX_BODY_BYTES};

/// `ADMIN_TOKEN`: fills [`AdminSettings::token`].
pub const ENV_ADMIN_TOKEN: &str = "ADMIN_TOKEN";
/// `ADMIN_API_TOKEN`: the original's name for `ADMIN_TOKEN`, honoured when that is unset.
pub const ENV_ADMIN_API_TOKEN: &str = "ADMIN_API_TOKEN";
/// `ALLOW_INSECURE_ADMIN_TOKEN`: fills [`AdminSettings::allow_insecure_token`].
pub const ENV_ALLOW_INSECURE_ADMIN_TOKEN: &str = "ALLOW_INSECURE_ADMIN_TOKEN";
/// `KEY_EXPIRY_CHECK_S`: fills [`AdminSettings::key_expiry_check`].
pub const ENV_KEY_EXPIRY_CHECK_S: &str = "KEY_EXPIRY_CHECK_S";

/// What the admin API is configured with.
#[derive(Debug, Clone)]
pub struct AdminSettings {
    /// The token `X-Admin-API-Key` must carry; empty refuses every admin call.
    pub token: Secret,
    /// Start off loopback even with a weak token (CONTRACT §1).
    pub allow_insecure_token: bool,
    /// `MAX_BODY_BYTES`: largest request body the admin API reads.
    // Read once the admin API takes its body limit from `AdminState` (another part of this
    // restructuring adds that field).
    pub max_body_bytes: u64,
    /// How often the admin API looks for keys expiring within 24 h (`key.expiring` events).
    pub key_expiry_check: std::time::Duration,
}

impl Default for AdminSettings {
    fn default() -> Self {
        AdminSettings {
            token: Secret::default(),
            allow_insecure_token: false,
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
            key_expiry_check: std::time::Duration::from_secs(60),
        }
    }
}

impl AdminSettings {
    /// The defaults, overridden by whichever admin variables `env` sets.
    pub fn from_env(env: &Env) -> Result<AdminSettings, EnvError> {
        let d = AdminSettings::default();
        Ok(AdminSettings {
            token: env
                .get(ENV_ADMIN_TOKEN)
                .or_else(|| env.get(ENV_ADMIN_API_TOKEN))
                .map_or(d.token, Secret::from),
            allow_insecure_token: env
                .flag(ENV_ALLOW_INSECURE_ADMIN_TOKEN, d.allow_insecure_token)?,
            max_body_bytes: env.parse(ENV_MAX_BODY_BYTES, d.max_body_bytes)?,
            key_expiry_check: env.positive_secs(ENV_KEY_EXPIRY_CHECK_S, d.key_expiry_check)?,
        })
    }

    /// Why this token must not guard an admin API reachable off loopback, unless overridden.
    pub fn weakness(&self) -> Option<&'static str> {
        if self.allow_insecure_token {
            return None;
        }
        insecure_admin_token_reason(self.token.expose())
    }
}
