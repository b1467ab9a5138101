//! Per-user token bucket (`GATEWAY_RATE_LIMIT_RPS` refill, `GATEWAY_RATE_LIMIT_BURST` capacity),
//! keyed by user id so every key of one user shares one budget; and, for a key with a rate limit
//! of its own (`KeyLimits`), the key's bucket inside it: such a request must pass both, spends a
//! token from both or from neither, and is refused by whichever bucket is empty. A key without
//! limits never touches a key bucket.
//!
//! Buckets live in this process ([`UserLimiter::local`]) or in Redis, shared by every gateway
//! replica ([`UserLimiter::with_redis`]); when Redis cannot answer quickly, that decision is taken
//! by the local buckets instead (fail open to a per-replica budget, never to "unlimited" and never
//! to an error). The local map forgets only full buckets, which carry no state.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use vexa_core::env::{Env, EnvError};
use vexa_core::KeyLimits;

use super::gcra::{secs_ceil_us, Gcra, Verdict};
use super::redis::RedisBuckets;
use super::{Decision, LimitError};

/// Key prefix of the shared buckets in Redis (`<prefix><user_id>`).
pub const DEFAULT_REDIS_PREFIX: &str = "vexa:ratelimit:user:";

const SHARDS: usize = 64;
/// Buckets a shard holds before it sweeps out full ones. Only users active within the last
/// `burst / rate` seconds (3 s by default) have non-full buckets, so this is rarely exceeded.
const SHARD_SOFT_CAP: usize = 1024;

/// `GATEWAY_RATE_LIMIT_DISABLED`: fills [`UserLimitConfig::disabled`].
pub const ENV_GATEWAY_RATE_LIMIT_DISABLED: &str = "GATEWAY_RATE_LIMIT_DISABLED";
/// `GATEWAY_RATE_LIMIT_RPS`: fills [`UserLimitConfig::rate_per_sec`].
pub const ENV_GATEWAY_RATE_LIMIT_RPS: &str = "GATEWAY_RATE_LIMIT_RPS";
/// `GATEWAY_RATE_LIMIT_BURST`: fills [`UserLimitConfig::burst`].
pub const ENV_GATEWAY_RATE_LIMIT_BURST: &str = "GATEWAY_RATE_LIMIT_BURST";

/// Settings of the per-user limiter.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct UserLimitConfig {
    /// `GATEWAY_RATE_LIMIT_DISABLED`: admit everything and emit no rate-limit headers.
    pub disabled: bool,
    /// `GATEWAY_RATE_LIMIT_RPS`: tokens added per second. Non-positive means no refill.
    pub rate_per_sec: f64,
    /// `GATEWAY_RATE_LIMIT_BURST`: bucket capacity (at least 1 is used).
    pub burst: u32,
}

impl Default for UserLimitConfig {
    fn default() -> Self {
        UserLimitConfig {
            disabled: false,
            rate_per_sec: 40.0,
            burst: 120,
        }
    }
}

impl UserLimitConfig {
    /// The defaults, overridden by whichever `GATEWAY_RATE_LIMIT_*` variables `env` sets. From
    /// the environment the rate must be positive and the burst at least 1.
    pub fn from_env(env: &Env) -> Result<UserLimitConfig, EnvError> {
        let d = UserLimitConfig::default();
        Ok(UserLimitConfig {
            disabled: env.flag(ENV_GATEWAY_RATE_LIMIT_DISABLED, d.disabled)?,
            rate_per_sec: env.positive(ENV_GATEWAY_RATE_LIMIT_RPS, d.rate_per_sec)?,
            burst: env.at_least_one(ENV_GATEWAY_RATE_LIMIT_BURST, d.burst)?,
        })
    }
}

/// The per-user limiter's [`Decision`] for a bucket [`Verdict`], with the budget it leaves.
fn decision_from_bucket(gcra: &Gcra, verdict: Verdict, now_us: i64) -> Decision {
    let (allowed, tat_us, retry_after_secs) = match verdict {
        Verdict::Allow { new_tat_us } => (true, new_tat_us, 0),
        Verdict::Deny { tat_us, wait_us } => (false, tat_us, secs_ceil_us(wait_us).max(1)),
    };
    Decision {
        allowed,
        limit: gcra.burst(),
        remaining: gcra.remaining(tat_us, now_us),
        reset_secs: secs_ceil_us(tat_us.saturating_sub(now_us)),
        retry_after_secs,
        reports_budget: true,
    }
}

/// The decision on a request that must pass its user's and its key's bucket: the refusing
/// bucket's (the longer wait when both refuse), else the one with fewer tokens left.
fn stricter(user: Decision, key: Decision) -> Decision {
    match (user.allowed, key.allowed) {
        (true, false) => key,
        (false, true) => user,
        (false, false) if key.retry_after_secs > user.retry_after_secs => key,
        (false, false) => user,
        (true, true) if key.remaining < user.remaining => key,
        (true, true) => user,
    }
}

/// The per-user limiter. Cheap to share (`Arc<UserLimiter>`); all methods take `&self`.
#[derive(Debug)]
pub struct UserLimiter {
    /// `None` when disabled.
    gcra: Option<Gcra>,
    /// `GATEWAY_RATE_LIMIT_RPS`: the refill of a key given only a burst.
    user_rps: f64,
    local: LocalBuckets,
    /// Buckets of keys with a rate limit of their own, by key id.
    local_keys: LocalBuckets,
    redis: Option<Arc<RedisBuckets>>,
}

impl UserLimiter {
    /// Buckets in this process only.
    pub fn local(cfg: UserLimitConfig) -> Self {
        UserLimiter {
            gcra: (!cfg.disabled).then(|| Gcra::per_second(cfg.rate_per_sec, cfg.burst)),
            user_rps: cfg.rate_per_sec,
            local: LocalBuckets::new(),
            local_keys: LocalBuckets::new(),
            redis: None,
        }
    }

    /// Buckets shared through Redis under [`DEFAULT_REDIS_PREFIX`]. Fails only on a malformed
    /// URL: an unreachable server is retried in the background while decisions stay local.
    pub async fn with_redis(cfg: UserLimitConfig, redis_url: &str) -> Result<Self, LimitError> {
        Self::with_redis_prefix(cfg, redis_url, DEFAULT_REDIS_PREFIX).await
    }

    /// As [`UserLimiter::with_redis`], with an explicit key prefix (separate deployments or tests
    /// sharing one Redis).
    pub async fn with_redis_prefix(
        cfg: UserLimitConfig,
        redis_url: &str,
        prefix: &str,
    ) -> Result<Self, LimitError> {
        let mut limiter = Self::local(cfg);
        if limiter.gcra.is_some() {
            limiter.redis = Some(RedisBuckets::connect(redis_url, prefix).await?);
        }
        Ok(limiter)
    }

    /// True when decisions are currently taken by Redis.
    #[cfg(any(test, feature = "testing"))]
    pub fn is_shared(&self) -> bool {
        self.redis.as_ref().is_some_and(|r| r.is_connected())
    }

    /// Decisions taken locally because Redis was configured but could not answer (0 without Redis).
    #[cfg(any(test, feature = "testing"))]
    pub fn redis_fallbacks(&self) -> u64 {
        self.redis.as_ref().map_or(0, |r| r.fallbacks())
    }

    /// Decides one request of `user_id` at `now_ms` (epoch milliseconds). Spends one token when
    /// admitted. Never fails; with Redis configured it waits at most ~50 ms for it.
    pub async fn check(&self, user_id: i64, now_ms: i64) -> Decision {
        let Some(gcra) = self.gcra else {
            return Decision::allow();
        };
        let now_us = now_ms.saturating_mul(1000);
        let shared = match &self.redis {
            Some(redis) => redis.acquire(&gcra, user_id, now_ms).await,
            None => None,
        };
        let verdict = match shared {
            Some(verdict) => verdict,
            None => self.local.acquire(&gcra, user_id, now_us),
        };
        decision_from_bucket(&gcra, verdict, now_us)
    }

    /// Decides one request of `user_id` made with key `key_id`, whose own limits are `limits`:
    /// the key's bucket inside the user's (see the module doc). Without a rate limit on the key
    /// this is [`UserLimiter::check`]; callers on the hot path test
    /// [`KeyLimits::has_rate_limit`] first and call that directly.
    pub async fn check_key(
        &self,
        user_id: i64,
        key_id: i64,
        limits: &KeyLimits,
        now_ms: i64,
    ) -> Decision {
        let (Some(user), Some((rps, burst))) = (self.gcra, limits.rate(self.user_rps)) else {
            return self.check(user_id, now_ms).await;
        };
        let key = Gcra::per_second(rps, burst);
        let now_us = now_ms.saturating_mul(1000);
        let shared = match &self.redis {
            Some(redis) => {
                redis
                    .acquire_pair((&user, user_id), (&key, key_id), now_ms)
                    .await
            }
            None => None,
        };
        let (user_verdict, key_verdict) = match shared {
            Some(pair) => pair,
            None => self.acquire_pair_locally((&user, user_id), (&key, key_id), now_us),
        };
        stricter(
            decision_from_bucket(&user, user_verdict, now_us),
            decision_from_bucket(&key, key_verdict, now_us),
        )
    }

    /// Both buckets under their shard locks (the key's first, then the user's: always that
    /// order, and they are different maps, so two requests cannot deadlock), written only when
    /// both admit.
    fn acquire_pair_locally(
        &self,
        (user, user_id): (&Gcra, i64),
        (key, key_id): (&Gcra, i64),
        now_us: i64,
    ) -> (Verdict, Verdict) {
        let mut key_shard = self.local_keys.shard(key_id);
        let mut user_shard = self.local.shard(user_id);
        let key_verdict = key.decide(key_shard.tat(key_id), now_us);
        let user_verdict = user.decide(user_shard.tat(user_id), now_us);
        if let (Verdict::Allow { new_tat_us: u }, Verdict::Allow { new_tat_us: k }) =
            (user_verdict, key_verdict)
        {
            user_shard.insert(user_id, u, now_us);
            key_shard.insert(key_id, k, now_us);
        }
        (user_verdict, key_verdict)
    }
}

/// In-process buckets: user id → TAT, sharded to keep lock sections short and uncontended.
#[derive(Debug)]
struct LocalBuckets {
    shards: Box<[Mutex<Shard>]>,
}

#[derive(Debug, Default)]
struct Shard {
    /// User ids are not client-chosen: a fast hasher, not SipHash.
    tats: HashMap<i64, i64, foldhash::fast::RandomState>,
    /// Size at which the next sweep runs; doubles while sweeps free nothing, so a shard full of
    /// busy users costs amortised O(1) per request rather than a sweep per insert.
    sweep_at: usize,
}

impl LocalBuckets {
    fn new() -> Self {
        let shards = (0..SHARDS)
            .map(|_| {
                Mutex::new(Shard {
                    tats: HashMap::default(),
                    sweep_at: SHARD_SOFT_CAP,
                })
            })
            .collect();
        LocalBuckets { shards }
    }

    /// The locked shard of bucket `id`.
    fn shard(&self, id: i64) -> std::sync::MutexGuard<'_, Shard> {
        // Fibonacci hashing spreads sequential ids; ids are not attacker-chosen.
        let mixed = (id as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        let index = (mixed >> 58) as usize % self.shards.len();
        self.shards[index]
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    fn acquire(&self, gcra: &Gcra, user_id: i64, now_us: i64) -> Verdict {
        let mut shard = self.shard(user_id);
        let verdict = gcra.decide(shard.tat(user_id), now_us);
        if let Verdict::Allow { new_tat_us } = verdict {
            shard.insert(user_id, new_tat_us, now_us);
        }
        verdict
    }
}

impl Shard {
    /// The stored TAT of bucket `id`; `i64::MIN` (a full bucket) when none is stored.
    fn tat(&self, id: i64) -> i64 {
        self.tats.get(&id).copied().unwrap_or(i64::MIN)
    }

    fn insert(&mut self, user_id: i64, tat_us: i64, now_us: i64) {
        if self.tats.len() >= self.sweep_at && !self.tats.contains_key(&user_id) {
            // A bucket whose TAT has passed is full: dropping it loses nothing.
            self.tats.retain(|_, tat| *tat > now_us);
            self.sweep_at = (self.tats.len() * 2).max(SHARD_SOFT_CAP);
        }
        self.tats.insert(user_id, tat_us);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(rate_per_sec: f64, burst: u32) -> UserLimitConfig {
        UserLimitConfig {
            disabled: false,
            rate_per_sec,
            burst,
        }
    }

    fn key_limits(rps: f64, burst: i64) -> KeyLimits {
        KeyLimits {
            rate_limit_rps: Some(rps),
            rate_limit_burst: Some(burst),
            max_concurrent_bots: None,
        }
    }

    #[tokio::test]
    async fn the_key_bucket_refuses_first_when_it_is_the_stricter_and_spends_no_user_token() {
        let limiter = UserLimiter::local(cfg(1.0, 5));
        let strict = key_limits(1.0, 2);
        let mut admitted = 0;
        for _ in 0..4 {
            if limiter.check_key(1, 10, &strict, 0).await.allowed {
                admitted += 1;
            }
        }
        assert_eq!(admitted, 2);
        let refused = limiter.check_key(1, 10, &strict, 0).await;
        assert!(!refused.allowed);
        assert_eq!((refused.limit, refused.retry_after_secs), (2, 1));
        // The user spent only the two admitted requests: three left for another key.
        let mut other = 0;
        for _ in 0..5 {
            if limiter.check(1, 0).await.allowed {
                other += 1;
            }
        }
        assert_eq!(other, 3);
    }

    #[tokio::test]
    async fn the_user_bucket_refuses_when_it_is_the_stricter_and_spends_no_key_token() {
        let limiter = UserLimiter::local(cfg(1.0, 2));
        let loose = key_limits(100.0, 50);
        assert!(limiter.check_key(1, 10, &loose, 0).await.allowed);
        assert!(limiter.check_key(1, 10, &loose, 0).await.allowed);
        let refused = limiter.check_key(1, 10, &loose, 0).await;
        assert!(!refused.allowed);
        assert_eq!(refused.limit, 2, "the user's bucket answers");
        // The refused request took nothing from the key: 48 left after the two admitted.
        let after = limiter.check_key(1, 10, &loose, 1_000).await;
        assert!(after.allowed);
        assert_eq!(after.limit, 2, "the user's bucket is still the stricter");
    }

    #[tokio::test]
    async fn a_key_without_a_rate_limit_is_the_user_bucket_alone() {
        let limiter = UserLimiter::local(cfg(1.0, 2));
        let none = KeyLimits {
            max_concurrent_bots: Some(1),
            ..KeyLimits::NONE
        };
        assert!(limiter.check_key(1, 10, &none, 0).await.allowed);
        assert!(limiter.check_key(1, 10, &none, 0).await.allowed);
        assert!(!limiter.check_key(1, 10, &none, 0).await.allowed);
        assert!(limiter
            .local_keys
            .shards
            .iter()
            .all(|s| s.lock().map(|s| s.tats.is_empty()).unwrap_or(false)));
    }

    #[test]
    fn sweeping_drops_only_full_buckets() {
        let gcra = Gcra::with_interval(1_000, 2);
        let buckets = LocalBuckets::new();
        // Users 0..N spend a token at t=0; their buckets are full again from t=1000 µs.
        for id in 0..(SHARDS * SHARD_SOFT_CAP * 2) as i64 {
            buckets.acquire(&gcra, id, 0);
        }
        let held: usize = buckets
            .shards
            .iter()
            .map(|s| s.lock().map(|s| s.tats.len()).unwrap_or(0))
            .sum();
        assert!(
            held >= SHARDS * SHARD_SOFT_CAP * 2,
            "no bucket was full yet, none may go"
        );
        // Later, one busy user empties its bucket, and a crowd of new users arrives.
        let busy = -1;
        buckets.acquire(&gcra, busy, 5_000);
        buckets.acquire(&gcra, busy, 5_000);
        for id in 1_000_000..1_000_000 + (SHARDS * SHARD_SOFT_CAP * 4) as i64 {
            buckets.acquire(&gcra, id, 5_000);
        }
        assert!(matches!(
            buckets.acquire(&gcra, busy, 5_000),
            Verdict::Deny { .. }
        ));
    }
}
