//! Settings of the key-resolution seam: which [`IdentitySource`] resolves keys and, for the
//! original's identity service, its cache lifetimes and call timeout.

use std::time::Duration;

use vexa_core::env::{Env, EnvError};

use crate::config::ENV_ADMIN_API_URL;

/// `IDENTITY_SOURCE`: `store` (default, our own store) or `vexa` (the original's identity
/// service at `ADMIN_API_URL`).
pub const ENV_IDENTITY_SOURCE: &str = "IDENTITY_SOURCE";
/// `IDENTITY_CACHE_TTL_S`: how long a valid answer of the original's identity service is reused
/// (also the longest a revocation there can take to be seen here).
pub const ENV_IDENTITY_CACHE_TTL_S: &str = "IDENTITY_CACHE_TTL_S";
/// `IDENTITY_NEGATIVE_TTL_S`: how long a refused key is answered from memory; shorter than
/// `IDENTITY_CACHE_TTL_S` (a key minted a moment after a failed try works soon).
pub const ENV_IDENTITY_NEGATIVE_TTL_S: &str = "IDENTITY_NEGATIVE_TTL_S";
/// `IDENTITY_VALIDATE_TIMEOUT_S`: longest wait for `/internal/validate`; past it, 503.
pub const ENV_IDENTITY_VALIDATE_TIMEOUT_S: &str = "IDENTITY_VALIDATE_TIMEOUT_S";

/// Where keys are resolved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IdentitySource {
    /// Our own identity store (the contract's §2).
    Store,
    /// The original Vexa identity service's `POST /internal/validate`.
    Vexa,
}

/// The key-resolution settings (`IDENTITY_*`).
#[derive(Debug, Clone, PartialEq)]
pub struct IdentityConfig {
    pub source: IdentitySource,
    /// `ADMIN_API_URL`: the original identity service's base URL; required for `vexa`.
    pub validate_base: Option<http::Uri>,
    /// `IDENTITY_CACHE_TTL_S` (vexa only; our store pushes revocations instead).
    pub cache_ttl: Duration,
    /// `IDENTITY_NEGATIVE_TTL_S` (vexa only).
    pub negative_ttl: Duration,
    /// `IDENTITY_VALIDATE_TIMEOUT_S` (vexa only).
    pub validate_timeout: Duration,
}

impl Default for IdentityConfig {
    fn default() -> Self {
        IdentityConfig {
            source: IdentitySource::Store,
            validate_base: None,
            cache_ttl: Duration::from_secs(5),
            negative_ttl: Duration::from_secs(1),
            validate_timeout: Duration::from_secs(5),
        }
    }
}

impl IdentityConfig {
    pub fn from_env(env: &Env) -> Result<IdentityConfig, EnvError> {
        let d = IdentityConfig::default();
        let source = match env.get(ENV_IDENTITY_SOURCE).map(str::trim) {
            None | Some("") | Some("store") => IdentitySource::Store,
            Some("vexa") => IdentitySource::Vexa,
            Some(other) => {
                return Err(EnvError::new(
                    ENV_IDENTITY_SOURCE,
                    format!("expected store or vexa, got {other:?}"),
                ))
            }
        };
        let validate_base = match (source, env.get(ENV_ADMIN_API_URL)) {
            (IdentitySource::Store, _) => None,
            (IdentitySource::Vexa, None) => {
                return Err(EnvError::new(
                    ENV_ADMIN_API_URL,
                    "must be set (the identity service) when IDENTITY_SOURCE=vexa",
                ))
            }
            (IdentitySource::Vexa, Some(v)) => Some(v.parse::<http::Uri>().map_err(|e| {
                EnvError::new(ENV_ADMIN_API_URL, format!("{v:?} is not a valid URL: {e}"))
            })?),
        };
        let cache_ttl = env.positive_secs(ENV_IDENTITY_CACHE_TTL_S, d.cache_ttl)?;
        let negative_ttl = env.positive_secs(ENV_IDENTITY_NEGATIVE_TTL_S, d.negative_ttl)?;
        if negative_ttl > cache_ttl {
            return Err(EnvError::new(
                ENV_IDENTITY_NEGATIVE_TTL_S,
                "must not be longer than IDENTITY_CACHE_TTL_S",
            ));
        }
        Ok(IdentityConfig {
            source,
            validate_base,
            cache_ttl,
            negative_ttl,
            validate_timeout: env
                .positive_secs(ENV_IDENTITY_VALIDATE_TIMEOUT_S, d.validate_timeout)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_is_our_store_with_the_contract_ttl() {
        let cfg = IdentityConfig::from_env(&Env::from_pairs(&[])).expect("valid");
        assert_eq!(cfg, IdentityConfig::default());
        assert_eq!(cfg.cache_ttl, Duration::from_secs(5));
        assert!(cfg.negative_ttl < cfg.cache_ttl);
    }

    #[test]
    fn vexa_needs_the_identity_service_url() {
        let err = IdentityConfig::from_env(&Env::from_pairs(&[("IDENTITY_SOURCE", "vexa")]))
            .expect_err("no url");
        assert_eq!(err.var, "ADMIN_API_URL");
        let cfg = IdentityConfig::from_env(&Env::from_pairs(&[
            ("IDENTITY_SOURCE", "vexa"),
            ("ADMIN_API_URL", "http://admin-api:8001"),
            ("IDENTITY_CACHE_TTL_S", "2"),
        ]))
        .expect("valid");
        assert_eq!(cfg.source, IdentitySource::Vexa);
        assert_eq!(cfg.cache_ttl, Duration::from_secs(2));
    }

    #[test]
    fn bad_values_name_the_variable() {
        for (var, value) in [
            ("IDENTITY_SOURCE", "ldap"),
            ("IDENTITY_CACHE_TTL_S", "0"),
            ("IDENTITY_NEGATIVE_TTL_S", "30"),
            ("IDENTITY_VALIDATE_TIMEOUT_S", "-1"),
        ] {
            let err = IdentityConfig::from_env(&Env::from_pairs(&[(var, value)])).expect_err(var);
            assert_eq!(err.var, var, "{err}");
        }
    }
}
