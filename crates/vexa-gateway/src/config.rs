//! Gateway settings: what the binary fills from the environment, with the contract's defaults.

use std::time::Duration;

use crate::limit::{EdgeConfig, TrustedProxies, UserLimitConfig};

/// Sizing and lifetimes of the in-process key cache.
#[derive(Debug, Clone, PartialEq)]
pub struct CacheConfig {
    /// Most entries (positive and negative) held at once.
    pub capacity: usize,
    /// How long a resolved key is trusted without asking the store again. Revocations do not
    /// wait for this: they arrive through `Invalidator::apply`.
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

/// Everything [`crate::Gateway::new`] needs besides its collaborators.
#[derive(Debug, Clone)]
pub struct GatewayConfig {
    /// `MEETINGS_API_URL`: where user routes and `/ws` go.
    pub meetings_url: http::Uri,
    /// `BROWSER_API_URL`: where `/browser/*` goes; `None` answers 503.
    pub browser_url: Option<http::Uri>,
    /// The admin API, only when `GATEWAY_ADMIN_PROXY=true`; `None` makes `/admin/*` a 404.
    pub admin_url: Option<http::Uri>,
    /// `INTERNAL_API_SECRET`, sent as `X-Internal-Secret` to the meetings service.
    pub internal_secret: String,
    /// `UPSTREAM_TIMEOUT_S`: longest wait for an upstream's response headers.
    pub upstream_timeout: Duration,
    /// `MAX_BODY_BYTES`: largest request body forwarded.
    pub max_body_bytes: u64,
    pub edge: EdgeConfig,
    pub user_limit: UserLimitConfig,
    /// `REDIS_URL`: shares the per-user buckets between replicas when set.
    pub redis_url: Option<String>,
    pub trusted_proxies: TrustedProxies,
    pub cache: CacheConfig,
}

impl Default for GatewayConfig {
    fn default() -> Self {
        GatewayConfig {
            meetings_url: http::Uri::from_static("http://127.0.0.1:18058"),
            browser_url: None,
            admin_url: None,
            internal_secret: String::new(),
            upstream_timeout: Duration::from_secs(30),
            max_body_bytes: 10 * 1024 * 1024,
            edge: EdgeConfig::default(),
            user_limit: UserLimitConfig::default(),
            redis_url: None,
            trusted_proxies: TrustedProxies::none(),
            cache: CacheConfig::default(),
        }
    }
}
