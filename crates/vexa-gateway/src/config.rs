//! Gateway settings: the config types, their defaults (the contract's, written only in the
//! `Default` impls), and [`GatewayConfig::from_env`], which reads the gateway's variables over
//! those defaults. The limiters' sections are read next to their types ([`EdgeConfig::from_env`],
//! [`UserLimitConfig::from_env`]).

use std::fmt;
use std::time::Duration;

use vexa_core::env::{
    redact_url, Env, EnvError, Secret, DEFAULT_MAX_BODY_BYTES, ENV_INTERNAL_API_SECRET,
    ENV_MAX_BODY_BYTES,
};

use crate::identity::IdentityConfig;
use crate::limit::{EdgeConfig, LimitError, TrustedProxies, UserLimitConfig};

/// `MEETINGS_API_URL`: where user routes and `/ws` go.
pub const ENV_MEETINGS_API_URL: &str = "MEETINGS_API_URL";
/// `MEETING_API_URL`: the original's name for `MEETINGS_API_URL`, honoured when that is unset.
pub const ENV_MEETING_API_URL: &str = "MEETING_API_URL";
/// `BROWSER_API_URL`: where `/browser/*` goes.
pub const ENV_BROWSER_API_URL: &str = "BROWSER_API_URL";
/// `GATEWAY_ADMIN_PROXY`: forward `/admin/*` to the admin API.
pub const ENV_GATEWAY_ADMIN_PROXY: &str = "GATEWAY_ADMIN_PROXY";
/// `ADMIN_API_URL`: the admin API `/admin/*` is forwarded to.
pub const ENV_ADMIN_API_URL: &str = "ADMIN_API_URL";
/// `AGENT_API_URL`: where `/agent/*` goes (the original's agent-api); unset → those rows 404.
pub const ENV_AGENT_API_URL: &str = "AGENT_API_URL";
/// `MCP_URL`: where `/mcp` goes (the original's MCP service); unset → those rows 404.
pub const ENV_MCP_URL: &str = "MCP_URL";
/// `MEETINGS_API_KIND`: `ours` (default) or `vexa` — what answers at `MEETINGS_API_URL`.
pub const ENV_MEETINGS_API_KIND: &str = "MEETINGS_API_KIND";
/// `VEXA_GATEWAY_IDENTITY_SIGNING_KEY_FILE`: an Ed25519 PKCS#8 PEM file; when set every
/// forwarded request carries a signed `X-Vexa-Identity`.
pub const ENV_IDENTITY_SIGNING_KEY_FILE: &str = "VEXA_GATEWAY_IDENTITY_SIGNING_KEY_FILE";
/// `UPSTREAM_TIMEOUT_S`: longest wait for an upstream's response headers, in seconds.
pub const ENV_UPSTREAM_TIMEOUT_S: &str = "UPSTREAM_TIMEOUT_S";
/// `REDIS_URL`: shares the per-user buckets between replicas.
pub const ENV_REDIS_URL: &str = "REDIS_URL";
/// `GUARD_TRUSTED_PROXIES`: proxies whose `X-Forwarded-For` is believed.
pub const ENV_GUARD_TRUSTED_PROXIES: &str = "GUARD_TRUSTED_PROXIES";
/// `GATEWAY_WORKERS`: how many threads serve the gateway, each with its own current-thread
/// runtime and `SO_REUSEPORT` listener; unset or 0 means one per core.
pub const ENV_GATEWAY_WORKERS: &str = "GATEWAY_WORKERS";
/// `KEY_USAGE=off` stops counting usage per key (last use is still recorded).
pub const ENV_KEY_USAGE: &str = "KEY_USAGE";
/// `REPLICA_HEARTBEAT_MS`: how often the gateway announces itself in the replica registry.
pub const ENV_REPLICA_HEARTBEAT_MS: &str = "REPLICA_HEARTBEAT_MS";
/// `KEY_CACHE_CAPACITY`: most key resolutions held in memory.
pub const ENV_KEY_CACHE_CAPACITY: &str = "KEY_CACHE_CAPACITY";

/// What serves the meetings domain, which decides the rows that exist and how `/ws` behaves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum MeetingsApiKind {
    /// Our own meetings service (`vexa up`): rows it does not implement answer 404.
    #[default]
    Ours,
    /// The original Vexa meeting-api: every row of the original's table is forwarded.
    Vexa,
}

impl MeetingsApiKind {
    fn parse(value: &str) -> Result<MeetingsApiKind, EnvError> {
        match value.trim().to_ascii_lowercase().as_str() {
            "ours" => Ok(MeetingsApiKind::Ours),
            "vexa" => Ok(MeetingsApiKind::Vexa),
            other => Err(EnvError::new(
                ENV_MEETINGS_API_KIND,
                format!("{other:?} is neither \"ours\" nor \"vexa\""),
            )),
        }
    }
}

/// Sizing and lifetimes of the in-process key cache.
#[derive(Debug, Clone, PartialEq)]
pub struct CacheConfig {
    /// `KEY_CACHE_CAPACITY`: most entries (positive and negative) held at once.
    pub capacity: usize,
    /// How long a resolved key is trusted without asking the store again. Revocations do not
    /// wait for this: they arrive through the `IdentityListener` (`Invalidator`).
    pub positive_ttl: Duration,
    /// How long an unknown digest is answered from memory (shields the store from floods of
    /// well-formed but unknown keys).
    pub negative_ttl: Duration,
    /// How long past `positive_ttl` a resolved key keeps working while the store is unreachable.
    pub max_stale: Duration,
}

impl Default for CacheConfig {
    fn default() -> Self {
        CacheConfig {
            capacity: 1_000_000,
            positive_ttl: Duration::from_secs(60),
            negative_ttl: Duration::from_secs(30),
            max_stale: Duration::from_secs(15 * 60),
        }
    }
}

/// Where the gateway's own stack answers, for upstream variables left unset. Only the process
/// that binds the roles knows their ports, so it says; the default is the default stack.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalUpstreams {
    /// Used when `MEETINGS_API_URL` is unset.
    pub meetings: http::Uri,
    /// Used when `GATEWAY_ADMIN_PROXY=true` and `ADMIN_API_URL` is unset.
    pub admin: http::Uri,
}

impl Default for LocalUpstreams {
    fn default() -> Self {
        LocalUpstreams {
            meetings: http::Uri::from_static("http://127.0.0.1:18058"),
            admin: http::Uri::from_static("http://127.0.0.1:18057"),
        }
    }
}

/// Everything [`crate::Gateway::new`] needs besides its collaborators.
#[derive(Clone)]
pub struct GatewayConfig {
    /// `MEETINGS_API_URL`: where user routes and `/ws` go.
    pub meetings_url: http::Uri,
    /// `MEETINGS_API_KIND`: our meetings service or the original's meeting-api.
    pub meetings_api_kind: MeetingsApiKind,
    /// `BROWSER_API_URL`: where `/browser/*` goes; `None` answers 503.
    pub browser_url: Option<http::Uri>,
    /// `ADMIN_API_URL`: the admin domain (the `/user/*` settings rows, and `/admin/*` when
    /// `admin_proxy`); `None` makes those rows 404.
    pub admin_url: Option<http::Uri>,
    /// `GATEWAY_ADMIN_PROXY`: forward `/admin/*` to `admin_url` untouched.
    pub admin_proxy: bool,
    /// `AGENT_API_URL`: the agent domain; `None` makes `/agent/*` a 404.
    pub agent_url: Option<http::Uri>,
    /// `MCP_URL`: the MCP domain; `None` makes `/mcp*` a 404.
    pub mcp_url: Option<http::Uri>,
    /// `VEXA_GATEWAY_IDENTITY_SIGNING_KEY_FILE`: sign the forwarded identity with this key.
    pub identity_signing_key_file: Option<std::path::PathBuf>,
    /// Accept the RFC 8032 test keys as the signing key (tests only; never set in production).
    pub allow_test_signing_key: bool,
    /// `INTERNAL_API_SECRET`, sent as `X-Internal-Secret` to the meetings service.
    pub internal_secret: Secret,
    /// `UPSTREAM_TIMEOUT_S`: longest wait for an upstream's response headers.
    pub upstream_timeout: Duration,
    /// `MAX_BODY_BYTES`: largest request body forwarded.
    pub max_body_bytes: u64,
    /// The per-IP edge guard (`GUARD_*`).
    pub edge: EdgeConfig,
    /// The per-user limiter (`GATEWAY_RATE_LIMIT_*`).
    pub user_limit: UserLimitConfig,
    /// `REDIS_URL`: shares the per-user buckets between replicas when set.
    pub redis_url: Option<String>,
    /// `GUARD_TRUSTED_PROXIES`.
    pub trusted_proxies: TrustedProxies,
    pub cache: CacheConfig,
    /// Where keys are resolved (`IDENTITY_*`).
    pub identity: IdentityConfig,
    /// `GATEWAY_WORKERS`: serving threads; 0 = one per core (see [`GatewayConfig::worker_threads`]).
    pub workers: usize,
    /// `KEY_USAGE` (default on): count requests per key, hour and outcome for
    /// `GET /admin/tokens/{id}/usage`.
    pub key_usage: bool,
    /// `REPLICA_HEARTBEAT_MS` (default 5 s): how often this gateway writes its row in the
    /// replica registry (`GET /admin/replicas`); three missed beats mark it stale.
    pub replica_heartbeat: Duration,
    /// How the access log is written (the server picks it from `LOG_FORMAT`).
    pub access_log: AccessLog,
}

/// How the gateway writes its access log line per request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AccessLog {
    /// As `tracing` events (target `vexa_gateway::access`), formatted by whatever subscriber is
    /// installed: for human-readable logs, and for embedders.
    #[default]
    TracingEvents,
    /// As JSON lines on stdout written by the gateway itself, in the JSON subscriber's shape
    /// (`crate::access_log`); on when the filter enables `vexa_gateway::access` at INFO.
    JsonLines,
}

impl Default for GatewayConfig {
    fn default() -> Self {
        GatewayConfig {
            meetings_url: LocalUpstreams::default().meetings,
            meetings_api_kind: MeetingsApiKind::Ours,
            browser_url: None,
            admin_url: None,
            admin_proxy: false,
            agent_url: None,
            mcp_url: None,
            identity_signing_key_file: None,
            allow_test_signing_key: false,
            internal_secret: Secret::default(),
            upstream_timeout: Duration::from_secs(30),
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
            edge: EdgeConfig::default(),
            user_limit: UserLimitConfig::default(),
            redis_url: None,
            trusted_proxies: TrustedProxies::none(),
            cache: CacheConfig::default(),
            identity: IdentityConfig::default(),
            workers: 0,
            key_usage: true,
            replica_heartbeat: Duration::from_secs(5),
            access_log: AccessLog::default(),
        }
    }
}

impl GatewayConfig {
    /// How many serving threads to start: `GATEWAY_WORKERS`, or one per core when it is 0.
    pub fn worker_threads(&self) -> usize {
        if self.workers > 0 {
            return self.workers;
        }
        std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get)
    }

    /// The defaults, overridden by whichever gateway variables `env` sets; unset upstreams point
    /// at `local`.
    pub fn from_env(env: &Env, local: &LocalUpstreams) -> Result<GatewayConfig, EnvError> {
        let d = GatewayConfig::default();
        let meetings = env
            .get(ENV_MEETINGS_API_URL)
            .or_else(|| env.get(ENV_MEETING_API_URL));
        let optional = |var: &'static str| env.get(var).map(|v| parse_url(var, v)).transpose();
        Ok(GatewayConfig {
            meetings_url: url_or(ENV_MEETINGS_API_URL, meetings, &local.meetings)?,
            meetings_api_kind: env
                .get(ENV_MEETINGS_API_KIND)
                .map_or(Ok(d.meetings_api_kind), MeetingsApiKind::parse)?,
            browser_url: optional(ENV_BROWSER_API_URL)?,
            // The admin domain always has an address: our own admin API when unset.
            admin_url: Some(url_or(
                ENV_ADMIN_API_URL,
                env.get(ENV_ADMIN_API_URL),
                &local.admin,
            )?),
            admin_proxy: env.flag(ENV_GATEWAY_ADMIN_PROXY, d.admin_proxy)?,
            agent_url: optional(ENV_AGENT_API_URL)?,
            mcp_url: optional(ENV_MCP_URL)?,
            identity_signing_key_file: env
                .get(ENV_IDENTITY_SIGNING_KEY_FILE)
                .filter(|v| !v.trim().is_empty())
                .map(std::path::PathBuf::from),
            allow_test_signing_key: d.allow_test_signing_key,
            internal_secret: env
                .get(ENV_INTERNAL_API_SECRET)
                .map_or(d.internal_secret, Secret::from),
            upstream_timeout: env.positive_secs(ENV_UPSTREAM_TIMEOUT_S, d.upstream_timeout)?,
            max_body_bytes: env.parse(ENV_MAX_BODY_BYTES, d.max_body_bytes)?,
            edge: EdgeConfig::from_env(env)?,
            user_limit: UserLimitConfig::from_env(env)?,
            redis_url: env.get(ENV_REDIS_URL).map(str::to_owned).or(d.redis_url),
            trusted_proxies: trusted_proxies(env)?,
            cache: CacheConfig {
                capacity: env.parse(ENV_KEY_CACHE_CAPACITY, d.cache.capacity)?,
                ..d.cache
            },
            identity: IdentityConfig::from_env(env)?,
            workers: env.parse(ENV_GATEWAY_WORKERS, d.workers)?,
            key_usage: env.flag(ENV_KEY_USAGE, d.key_usage)?,
            replica_heartbeat: env.millis(ENV_REPLICA_HEARTBEAT_MS, d.replica_heartbeat, 1)?,
            access_log: d.access_log,
        })
    }
}

fn parse_url(var: &'static str, value: &str) -> Result<http::Uri, EnvError> {
    value
        .parse::<http::Uri>()
        .map_err(|e| EnvError::new(var, format!("{value:?} is not a valid URL: {e}")))
}

fn url_or(
    var: &'static str,
    value: Option<&str>,
    default: &http::Uri,
) -> Result<http::Uri, EnvError> {
    value.map_or_else(|| Ok(default.clone()), |v| parse_url(var, v))
}

fn trusted_proxies(env: &Env) -> Result<TrustedProxies, EnvError> {
    TrustedProxies::parse(&env.string(ENV_GUARD_TRUSTED_PROXIES, "")).map_err(|e| {
        let reason = match e {
            LimitError::InvalidTrustedProxy { entry } => {
                format!("{entry:?} is not an IP address or CIDR")
            }
            LimitError::InvalidRedisUrl => e.to_string(),
        };
        EnvError::new(ENV_GUARD_TRUSTED_PROXIES, reason)
    })
}

impl fmt::Debug for GatewayConfig {
    // By hand only to keep the password of a Redis URL out of `vexa config`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GatewayConfig")
            .field("meetings_url", &self.meetings_url)
            .field("browser_url", &self.browser_url)
            .field("meetings_api_kind", &self.meetings_api_kind)
            .field("admin_url", &self.admin_url)
            .field("admin_proxy", &self.admin_proxy)
            .field("agent_url", &self.agent_url)
            .field("mcp_url", &self.mcp_url)
            .field("identity_signing_key_file", &self.identity_signing_key_file)
            .field("internal_secret", &self.internal_secret)
            .field("upstream_timeout", &self.upstream_timeout)
            .field("max_body_bytes", &self.max_body_bytes)
            .field("edge", &self.edge)
            .field("user_limit", &self.user_limit)
            .field("redis_url", &self.redis_url.as_deref().map(redact_url))
            .field("trusted_proxies", &self.trusted_proxies)
            .field("cache", &self.cache)
            .field("identity", &self.identity)
            .field("workers", &self.workers)
            .field("key_usage", &self.key_usage)
            .field("access_log", &self.access_log)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unset_variables_give_the_defaults() {
        let cfg = GatewayConfig::from_env(&Env::from_pairs(&[]), &LocalUpstreams::default())
            .expect("valid");
        let d = GatewayConfig::default();
        assert_eq!(cfg.meetings_url, d.meetings_url);
        assert_eq!(cfg.meetings_api_kind, MeetingsApiKind::Ours);
        assert_eq!(cfg.admin_url, Some(LocalUpstreams::default().admin));
        assert!(!cfg.admin_proxy);
        assert_eq!((cfg.agent_url, cfg.mcp_url), (None, None));
        assert_eq!(cfg.upstream_timeout, Duration::from_secs(30));
        assert_eq!(cfg.max_body_bytes, 10 * 1024 * 1024);
        assert_eq!(cfg.edge, EdgeConfig::default());
        assert_eq!(cfg.user_limit, UserLimitConfig::default());
        assert_eq!(cfg.cache, CacheConfig::default());
        assert!(cfg.key_usage, "usage is counted unless KEY_USAGE=off");
        let off = GatewayConfig::from_env(
            &Env::from_pairs(&[("KEY_USAGE", "off")]),
            &LocalUpstreams::default(),
        )
        .expect("valid");
        assert!(!off.key_usage);
    }

    #[test]
    fn upstreams_default_to_the_local_roles_and_honour_the_original_name() {
        let local = LocalUpstreams {
            meetings: http::Uri::from_static("http://10.0.0.1:1"),
            admin: http::Uri::from_static("http://10.0.0.1:2"),
        };
        let cfg =
            GatewayConfig::from_env(&Env::from_pairs(&[("GATEWAY_ADMIN_PROXY", "true")]), &local)
                .expect("valid");
        assert_eq!(cfg.meetings_url, local.meetings);
        assert_eq!(cfg.admin_url, Some(local.admin.clone()));
        assert!(cfg.admin_proxy);
        let legacy = GatewayConfig::from_env(
            &Env::from_pairs(&[("MEETING_API_URL", "http://m:1")]),
            &local,
        )
        .expect("valid");
        assert_eq!(legacy.meetings_url, http::Uri::from_static("http://m:1"));
    }

    #[test]
    fn bad_values_name_the_variable() {
        let local = LocalUpstreams::default();
        for (var, value) in [
            ("MEETINGS_API_URL", "http://bad host"),
            ("GUARD_TRUSTED_PROXIES", "10.0.0.0/8, nonsense"),
            ("UPSTREAM_TIMEOUT_S", "0"),
            ("MEETINGS_API_KIND", "theirs"),
            ("AGENT_API_URL", "http://bad host"),
            ("GATEWAY_RATE_LIMIT_BURST", "0"),
            ("GUARD_RATE_LIMIT_RPM", "0"),
            ("KEY_USAGE", "sometimes"),
        ] {
            let err =
                GatewayConfig::from_env(&Env::from_pairs(&[(var, value)]), &local).expect_err(var);
            assert_eq!(err.var, var, "{err}");
        }
    }

    #[test]
    fn debug_masks_the_secret_and_the_redis_password() {
        let cfg = GatewayConfig::from_env(
            &Env::from_pairs(&[
                ("INTERNAL_API_SECRET", "s3cret-internal"),
                ("REDIS_URL", "redis://u:pw-redis@h:6379"),
            ]),
            &LocalUpstreams::default(),
        )
        .expect("valid");
        let printed = format!("{cfg:?}");
        assert!(
            !printed.contains("s3cret") && !printed.contains("pw-redis"),
            "{printed}"
        );
    }
}
