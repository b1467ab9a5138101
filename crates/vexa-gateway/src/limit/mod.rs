//! The gateway's two rate limiters, as pure decisions the request pipeline calls:
//!
//! - [`EdgeGuard`]: per-client-IP budget with auto-ban, checked before any key lookup. Memory is
//!   a fixed-size sketch that can only over-count, so no flood of addresses can evict a limited
//!   client back to a fresh allowance.
//! - [`UserLimiter`]: per-user token bucket checked after authentication, in process or shared
//!   through Redis (one atomic Lua script per decision), degrading to local decisions when Redis
//!   is unreachable.
//! - [`client_ip_from_headers`]: which address the edge guard keys on (`X-Forwarded-For` only
//!   from [`TrustedProxies`]).
//!
//! Both limiters answer with a [`Decision`]; `gcra.rs` holds the arithmetic they share, whose
//! answer is a `Verdict`. Reading `X-Forwarded-For` is the only HTTP work here: callers map a
//! refused edge [`Decision`] to 429 "Too many requests" and a refused per-user one to 429 "Rate
//! limit exceeded", and the `RateLimit-*` headers are rendered with the rest of the gateway's
//! header work (`headers.rs`). Time is always passed in (epoch milliseconds from
//! `vexa_core::Clock`), so nothing here reads a clock or sleeps.

mod client_ip;
mod edge;
mod gcra;
mod redis;
mod user;

#[cfg(any(test, feature = "testing"))]
pub use client_ip::client_ip;
pub use client_ip::{client_ip_from_headers, TrustedProxies};
pub use edge::{EdgeConfig, EdgeGuard};
pub use user::{UserLimitConfig, UserLimiter, DEFAULT_REDIS_PREFIX};

/// A limiter's verdict on one request — the edge guard's or the per-user limiter's — with what
/// the client is told about its budget. The edge guard reports no budget.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decision {
    pub allowed: bool,
    /// Bucket capacity (`RateLimit-Limit`).
    pub limit: u32,
    /// Whole tokens left after this request (`RateLimit-Remaining`).
    pub remaining: u32,
    /// Seconds until the bucket is full again (`RateLimit-Reset`).
    pub reset_secs: u64,
    /// Seconds until a request would be admitted: ≥ 1 when refused, 0 when allowed.
    pub retry_after_secs: u64,
    /// Whether `limit`, `remaining` and `reset_secs` describe a budget to report: only the
    /// per-user limiter's decisions, and not when it is disabled.
    pub reports_budget: bool,
}

impl Decision {
    /// Admitted, with no budget to report.
    pub const fn allow() -> Decision {
        Decision {
            allowed: true,
            limit: 0,
            remaining: 0,
            reset_secs: 0,
            retry_after_secs: 0,
            reports_budget: false,
        }
    }

    /// Refused for `retry_after_secs` (at least 1), with no budget to report.
    pub const fn deny(retry_after_secs: u64) -> Decision {
        Decision {
            allowed: false,
            retry_after_secs,
            ..Decision::allow()
        }
    }

    /// True when admitted (tests).
    #[cfg(any(test, feature = "testing"))]
    pub fn is_allow(&self) -> bool {
        self.allowed
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
