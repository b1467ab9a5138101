//! Specification of the Redis-shared per-user bucket, against the real Redis at 127.0.0.1:6379:
//! replicas share one budget, the shared arithmetic equals the local one, keys expire when idle,
//! and a broken Redis degrades to local decisions quickly and without errors.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU32, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use proptest::prelude::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use vexa_gateway::limit::{Decision, LimitError, UserLimitConfig, UserLimiter};

const REDIS_URL: &str = "redis://127.0.0.1:6379/";
const UNREACHABLE_URL: &str = "redis://127.0.0.1:1/";
const T0: i64 = 1_780_000_000_000;

/// A key prefix no other test (or test run) uses.
fn unique_prefix(test: &str) -> String {
    static SEQ: AtomicU32 = AtomicU32::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    let seq = SEQ.fetch_add(1, Ordering::Relaxed);
    format!("vexa-test:{test}:{}:{nanos}:{seq}:", std::process::id())
}

fn cfg(rate_per_sec: f64, burst: u32) -> UserLimitConfig {
    UserLimitConfig {
        disabled: false,
        rate_per_sec,
        burst,
    }
}

async fn shared(cfg: UserLimitConfig, prefix: &str) -> UserLimiter {
    match UserLimiter::with_redis_prefix(cfg, REDIS_URL, prefix).await {
        Ok(limiter) => limiter,
        Err(err) => panic!("redis limiter: {err}"),
    }
}

async fn raw_connection() -> redis::aio::MultiplexedConnection {
    let client = redis::Client::open(REDIS_URL).unwrap_or_else(|e| panic!("client: {e}"));
    client
        .get_multiplexed_async_connection()
        .await
        .unwrap_or_else(|e| panic!("connect: {e}"))
}

#[tokio::test]
async fn two_gateways_share_one_budget_per_user() {
    let prefix = unique_prefix("share");
    let a = shared(cfg(0.01, 5), &prefix).await;
    let b = shared(cfg(0.01, 5), &prefix).await;
    assert!(a.is_shared() && b.is_shared());
    let mut admitted = 0;
    for i in 0..10 {
        let gateway = if i % 2 == 0 { &a } else { &b };
        if gateway.check(7, T0).await.allowed {
            admitted += 1;
        }
    }
    assert_eq!(admitted, 5, "the burst is shared, not per replica");
    let refused = b.check(7, T0).await;
    assert!(!refused.allowed);
    assert_eq!(refused.retry_after_secs, 100);
    assert!(
        a.check(8, T0).await.allowed,
        "another user has its own bucket"
    );
    assert!(
        b.check(7, T0 + 100_000).await.allowed,
        "refills on the shared clock"
    );
    assert_eq!(a.redis_fallbacks() + b.redis_fallbacks(), 0);
}

#[tokio::test]
async fn the_shared_key_expires_exactly_when_the_bucket_is_full_again() {
    let prefix = unique_prefix("ttl");
    let limiter = shared(cfg(1.0, 10), &prefix).await;
    for _ in 0..3 {
        assert!(limiter.check(1, T0).await.allowed);
    }
    let mut conn = raw_connection().await;
    let ttl_ms: i64 = redis::cmd("PTTL")
        .arg(format!("{prefix}1"))
        .query_async(&mut conn)
        .await
        .unwrap_or(-3);
    assert!((2_900..=3_000).contains(&ttl_ms), "ttl {ttl_ms} ms");
}

#[tokio::test]
async fn a_redis_error_on_one_key_is_decided_locally_without_dropping_the_connection() {
    let prefix = unique_prefix("wrongtype");
    let limiter = shared(cfg(0.01, 2), &prefix).await;
    let mut conn = raw_connection().await;
    let _: () = redis::cmd("HSET")
        .arg(format!("{prefix}5"))
        .arg("not")
        .arg("a bucket")
        .query_async(&mut conn)
        .await
        .unwrap_or_else(|e| panic!("hset: {e}"));
    let decisions: Vec<bool> = {
        let mut v = Vec::new();
        for _ in 0..3 {
            v.push(limiter.check(5, T0).await.allowed);
        }
        v
    };
    assert_eq!(decisions, [true, true, false], "the local bucket took over");
    assert!(limiter.is_shared());
    assert_eq!(limiter.redis_fallbacks(), 3);
    assert!(limiter.check(6, T0).await.allowed);
    assert_eq!(
        limiter.redis_fallbacks(),
        3,
        "other users are still decided by redis"
    );
}

#[tokio::test]
async fn an_unreachable_redis_degrades_to_local_decisions_quickly() {
    let limiter = match UserLimiter::with_redis(cfg(0.01, 3), UNREACHABLE_URL).await {
        Ok(limiter) => limiter,
        Err(err) => panic!("an unreachable redis is not a startup error: {err}"),
    };
    assert!(!limiter.is_shared());
    let mut decisions = Vec::new();
    for i in 0..50 {
        let started = Instant::now();
        let d = limiter.check(1, T0 + i * 1_500).await;
        assert!(
            started.elapsed() < Duration::from_millis(100),
            "check {i} blocked"
        );
        decisions.push(d.allowed);
    }
    assert_eq!(
        decisions.iter().filter(|a| **a).count(),
        3,
        "the local bucket still limits"
    );
    assert!(!limiter.is_shared());
    assert_eq!(limiter.redis_fallbacks(), 50);
}

/// A fake Redis that completes the connection handshake, then never answers a script call.
async fn silent_redis() -> (String, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap_or_else(|e| panic!("bind: {e}"));
    let port = listener.local_addr().map(|a| a.port()).unwrap_or(0);
    let accepted = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&accepted);
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            counter.fetch_add(1, Ordering::SeqCst);
            tokio::spawn(async move {
                let mut buf = vec![0u8; 4096];
                let mut silent = false;
                while let Ok(n) = socket.read(&mut buf).await {
                    if n == 0 {
                        break;
                    }
                    let text = String::from_utf8_lossy(&buf[..n]);
                    silent |= text.contains("EVAL") || text.contains("SCRIPT");
                    if !silent {
                        let commands = text.lines().filter(|l| l.starts_with('*')).count();
                        let _ = socket
                            .write_all("+OK\r\n".repeat(commands).as_bytes())
                            .await;
                    }
                }
            });
        }
    });
    (format!("redis://127.0.0.1:{port}/"), accepted)
}

#[tokio::test]
async fn a_redis_that_stops_answering_costs_a_request_at_most_50_ms_and_is_retried_later() {
    let (url, accepted) = silent_redis().await;
    let limiter = UserLimiter::with_redis(cfg(0.01, 3), &url)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(limiter.is_shared(), "the handshake succeeded");
    let mut allowed = 0;
    for (i, at) in [0, 10, 20, 1_500, 1_510].into_iter().enumerate() {
        let started = Instant::now();
        if limiter.check(1, T0 + at).await.allowed {
            allowed += 1;
        }
        assert!(
            started.elapsed() < Duration::from_millis(100),
            "check {i} blocked"
        );
    }
    assert_eq!(allowed, 3, "decided by the local bucket meanwhile");
    assert_eq!(limiter.redis_fallbacks(), 5);
    // The check at +1.5 s started a background reconnect.
    let deadline = Instant::now() + Duration::from_secs(3);
    while !limiter.is_shared() && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(limiter.is_shared(), "reconnected after the back-off");
    assert_eq!(accepted.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn a_malformed_redis_url_is_a_startup_error() {
    let result = UserLimiter::with_redis(cfg(1.0, 1), "http://user:secret@nowhere").await;
    match result {
        Err(err @ LimitError::InvalidRedisUrl) => {
            assert!(!err.to_string().contains("secret"));
        }
        other => panic!("expected InvalidRedisUrl, got {other:?}"),
    }
}

#[tokio::test]
async fn a_disabled_limiter_needs_no_redis() {
    let limiter = UserLimiter::with_redis(
        UserLimitConfig {
            disabled: true,
            ..UserLimitConfig::default()
        },
        UNREACHABLE_URL,
    )
    .await;
    let limiter = limiter.unwrap_or_else(|e| panic!("{e}"));
    assert!(limiter.check(1, T0).await.allowed);
}

#[test]
fn debug_output_never_shows_the_redis_url() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap_or_else(|e| panic!("{e}"));
    let limiter = rt
        .block_on(UserLimiter::with_redis(
            cfg(1.0, 1),
            "redis://:hunter2@127.0.0.1:1/",
        ))
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(!format!("{limiter:?}").contains("hunter2"));
}

/// Runs `steps` (user, simulated ms since the previous step) on a shared and a local limiter:
/// each pair of decisions, or `None` when the run cannot compare them: when a remote decision
/// was taken locally because Redis answered too late, or when Redis may have expired a key.
///
/// Redis expires a bucket's key on its own clock, the real one, when the bucket would be full
/// again; this property runs on a simulated clock. If more real time passes between an
/// admitted shared decision and the user's next one than the key had left to live (a loaded
/// machine can pause a thread that long), Redis may forget a bucket the simulated clock says is
/// not full yet, and the run compares nothing. After each admitted decision the key's remaining
/// life is read back, and a run whose next decision for that user came after the earliest moment
/// the key could expire is reported as `None`, to be run again.
async fn both_limiters(
    rate: f64,
    burst: u32,
    steps: &[(i64, i64)],
) -> Option<Vec<(Decision, Decision)>> {
    let prefix = unique_prefix("equal");
    let remote = shared(cfg(rate, burst), &prefix).await;
    let local = UserLimiter::local(cfg(rate, burst));
    let mut conn = raw_connection().await;
    let mut may_expire_at: HashMap<i64, Instant> = HashMap::new();
    let mut now = T0;
    let mut out = Vec::new();
    for &(user, dt) in steps {
        now += dt;
        let remote_decision = remote.check(user, now).await;
        if may_expire_at
            .get(&user)
            .is_some_and(|at| Instant::now() >= *at)
        {
            return None;
        }
        if remote_decision.allowed {
            let asked = Instant::now();
            let ttl_ms: i64 = redis::cmd("PTTL")
                .arg(format!("{prefix}{user}"))
                .query_async(&mut conn)
                .await
                .unwrap_or(-2);
            let Ok(ttl_ms) = u64::try_from(ttl_ms) else {
                return None; // already gone before it could be read
            };
            may_expire_at.insert(user, asked + Duration::from_millis(ttl_ms));
        }
        out.push((remote_decision, local.check(user, now).await));
    }
    // Every remote decision must have come from Redis for the run to compare anything; one
    // answered later than the limiter waits (a stalled thread) was decided locally instead.
    (remote.redis_fallbacks() == 0).then_some(out)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(12))]

    /// The Lua script and the in-process bucket are the same algorithm: identical decisions and
    /// headers for any sequence, so degrading to local changes scope, never semantics.
    #[test]
    fn redis_decisions_equal_local_decisions(
        rate in 0.05f64..200.0,
        burst in 1u32..30,
        steps in proptest::collection::vec((0i64..2, 0i64..300), 1..80),
    ) {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap_or_else(|e| panic!("{e}"));
        let outcomes: Vec<(Decision, Decision)> = rt.block_on(async {
            for _ in 0..20 {
                if let Some(outcomes) = both_limiters(rate, burst, &steps).await {
                    return outcomes;
                }
            }
            panic!("20 runs in a row were paused longer than Redis is waited for or than a key lives: the machine is too loaded to compare");
        });
        for (remote, local) in outcomes {
            prop_assert_eq!(remote, local);
        }
    }
}

fn key_limits(rps: f64, burst: i64) -> vexa_core::KeyLimits {
    vexa_core::KeyLimits {
        rate_limit_rps: Some(rps),
        rate_limit_burst: Some(burst),
        max_concurrent_bots: None,
    }
}

/// The key's bucket and its user's are decided in one script: a refusal by either spends from
/// neither, on every replica, and the shared answer equals the local one.
#[tokio::test]
async fn a_keys_bucket_inside_its_users_is_shared_and_spends_both_or_neither() {
    let prefix = unique_prefix("pair");
    let a = shared(cfg(0.01, 5), &prefix).await;
    let b = shared(cfg(0.01, 5), &prefix).await;
    let local = UserLimiter::local(cfg(0.01, 5));
    let strict = key_limits(0.01, 2);
    let mut answers = Vec::new();
    for i in 0..4 {
        let gateway = if i % 2 == 0 { &a } else { &b };
        let shared = gateway.check_key(7, 70, &strict, T0).await;
        let alone = local.check_key(7, 70, &strict, T0).await;
        assert_eq!(
            shared, alone,
            "request {i}: shared and local arithmetic agree"
        );
        answers.push((shared.allowed, shared.limit));
    }
    assert_eq!(
        answers,
        [(true, 2), (true, 2), (false, 2), (false, 2)],
        "the key's burst of 2, shared by both replicas"
    );
    // The key's refusals took nothing from the user: 3 of 5 left for another key of the user.
    let mut other = 0;
    for _ in 0..6 {
        if b.check(7, T0).await.allowed {
            other += 1;
        }
    }
    assert_eq!(other, 3);
    // Now the user's bucket is empty: a loose key is refused by the user's, spending nothing.
    let loose = key_limits(1000.0, 100);
    let refused = a.check_key(7, 71, &loose, T0).await;
    assert_eq!((refused.allowed, refused.limit), (false, 5));
    assert_eq!(a.redis_fallbacks() + b.redis_fallbacks(), 0);
}
