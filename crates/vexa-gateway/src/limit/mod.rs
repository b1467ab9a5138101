//! The gateway's two rate limiters, as pure decisions the request pipeline calls:
//!
//! - [`EdgeGuard`]: per-client-IP budget with auto-ban, checked before any key lookup. Memory is
//!   a fixed-size sketch that can only over-count, so no flood of addresses can evict a limited
//!   client back to a fresh allowance.
//! - [`UserLimiter`]: per-user token bucket checked after authentication, in process or shared
//!   through Redis (one atomic Lua script per decision), degrading to local decisions when Redis
//!   is unreachable.
//! - [`client_ip`]: which address the edge guard keys on (`X-Forwarded-For` only from
//!   [`TrustedProxies`]).
//!
//! No HTTP handling lives here: callers map [`Decision::Deny`] to 429 "Too many requests" and a
//! refused [`UserDecision`] to 429 "Rate limit exceeded". Time is always passed in (epoch
//! milliseconds from `vexa_core::Clock`), so nothing here reads a clock or sleeps.

mod client_ip;
mod edge;
mod gcra;
mod redis;
mod user;

pub use client_ip::{client_ip, client_ip_from_headers, TrustedProxies};
pub use edge::{EdgeConfig, EdgeGuard};
pub use user::{UserDecision, UserLimitConfig, UserLimiter, DEFAULT_REDIS_PREFIX};

/// The edge guard's verdict on one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    Allow,
    /// Respond 429 `{"detail":"Too many requests"}` with `Retry-After: retry_after_secs` (≥ 1).
    Deny {
        retry_after_secs: u64,
    },
}

impl Decision {
    pub fn is_allow(&self) -> bool {
        matches!(self, Decision::Allow)
    }
}

/// Configuration errors of the limiters; all are startup-time problems.
#[derive(Debug, thiserror::Error)]
pub enum LimitError {
    /// One entry of `GUARD_TRUSTED_PROXIES` is neither an IP address nor a CIDR.
    #[error("GUARD_TRUSTED_PROXIES: {entry:?} is not an IP address or CIDR")]
    InvalidTrustedProxy { entry: String },
    /// The Redis URL does not parse. The URL itself is never included: it may hold a password.
    #[error("REDIS_URL is not a valid redis:// URL")]
    InvalidRedisUrl,
}
