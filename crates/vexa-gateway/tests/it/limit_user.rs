//! Specification of the in-process per-user token bucket and the headers it reports.

use futures_util::FutureExt;
use http::HeaderMap;
use proptest::prelude::*;
use vexa_gateway::limit::{Decision, UserLimitConfig, UserLimiter};

const T0: i64 = 1_780_000_000_000;

fn limiter(rate_per_sec: f64, burst: u32) -> UserLimiter {
    UserLimiter::local(UserLimitConfig {
        disabled: false,
        rate_per_sec,
        burst,
    })
}

/// The local limiter never awaits, so its future completes on first poll.
fn check(l: &UserLimiter, user: i64, now_ms: i64) -> Decision {
    match l.check(user, now_ms).now_or_never() {
        Some(decision) => decision,
        None => panic!("the local limiter awaited"),
    }
}

fn admitted(l: &UserLimiter, user: i64, n: usize, now_ms: i64) -> usize {
    (0..n).filter(|_| check(l, user, now_ms).allowed).count()
}

fn header_map(d: &Decision) -> HeaderMap {
    let mut map = HeaderMap::new();
    d.apply(&mut map);
    map
}

fn header<'a>(map: &'a HeaderMap, name: &str) -> Option<&'a str> {
    map.get(name).and_then(|v| v.to_str().ok())
}

#[test]
fn defaults_are_the_contracts() {
    let cfg = UserLimitConfig::default();
    assert!(!cfg.disabled);
    assert_eq!(cfg.rate_per_sec, 40.0);
    assert_eq!(cfg.burst, 120);
}

#[test]
fn a_user_gets_the_burst_at_once_then_429_with_retry_after_one_second() {
    let l = UserLimiter::local(UserLimitConfig::default());
    assert_eq!(admitted(&l, 1, 120, T0), 120);
    let refused = check(&l, 1, T0);
    assert!(!refused.allowed);
    assert_eq!(refused.retry_after_secs, 1);
    assert_eq!(refused.remaining, 0);
    assert!(check(&l, 2, T0).allowed, "another user has its own bucket");
}

#[test]
fn the_bucket_refills_continuously_at_the_rate() {
    let l = UserLimiter::local(UserLimitConfig::default());
    admitted(&l, 1, 120, T0);
    assert_eq!(admitted(&l, 1, 10, T0 + 24), 0);
    assert_eq!(
        admitted(&l, 1, 10, T0 + 25),
        1,
        "40/s is one token per 25 ms"
    );
    assert_eq!(admitted(&l, 1, 100, T0 + 1_025), 40);
    assert_eq!(
        admitted(&l, 1, 500, T0 + 60_000),
        120,
        "never more than the burst"
    );
}

#[test]
fn retry_after_is_whole_seconds_until_the_next_token_and_at_least_one() {
    let slow = limiter(0.1, 1);
    assert!(check(&slow, 1, T0).allowed);
    assert_eq!(check(&slow, 1, T0).retry_after_secs, 10);
    assert_eq!(check(&slow, 1, T0 + 9_999).retry_after_secs, 1);
    assert!(check(&slow, 1, T0 + 10_000).allowed);
    let fast = limiter(1_000.0, 1);
    assert!(check(&fast, 1, T0).allowed);
    assert_eq!(
        check(&fast, 1, T0).retry_after_secs,
        1,
        "sub-second waits round up to 1"
    );
}

#[test]
fn admitted_responses_carry_limit_remaining_and_reset_without_retry_after() {
    let l = limiter(2.0, 10);
    let first = check(&l, 1, T0);
    let map = header_map(&first);
    assert_eq!(map.len(), 3);
    assert_eq!(header(&map, "ratelimit-limit"), Some("10"));
    assert_eq!(header(&map, "ratelimit-remaining"), Some("9"));
    assert_eq!(
        header(&map, "ratelimit-reset"),
        Some("1"),
        "one token back in 0.5 s"
    );
    assert_eq!(header(&map, "retry-after"), None);
    admitted(&l, 1, 4, T0);
    let sixth = check(&l, 1, T0);
    assert_eq!(sixth.remaining, 4);
    assert_eq!(sixth.reset_secs, 3);
}

#[test]
fn refused_responses_add_retry_after() {
    let l = limiter(0.5, 2);
    admitted(&l, 1, 2, T0);
    let refused = check(&l, 1, T0);
    let map = header_map(&refused);
    assert_eq!(map.len(), 4);
    assert_eq!(header(&map, "ratelimit-limit"), Some("2"));
    assert_eq!(header(&map, "ratelimit-remaining"), Some("0"));
    assert_eq!(header(&map, "ratelimit-reset"), Some("4"));
    assert_eq!(header(&map, "retry-after"), Some("2"));
}

#[test]
fn a_disabled_limiter_admits_everything_and_reports_no_headers() {
    let l = UserLimiter::local(UserLimitConfig {
        disabled: true,
        rate_per_sec: 0.0,
        burst: 0,
    });
    assert_eq!(admitted(&l, 1, 10_000, T0), 10_000);
    let d = check(&l, 1, T0);
    assert!(!d.reports_budget);
    assert_eq!(d.headers().count(), 0);
}

#[test]
fn nonsense_settings_never_admit_more_than_one_request() {
    let l = limiter(f64::NAN, 0);
    assert_eq!(admitted(&l, 1, 100, T0), 1);
    assert_eq!(admitted(&l, 1, 100, T0 + 86_400_000), 0);
    let negative = limiter(-3.0, 1);
    assert_eq!(admitted(&negative, 1, 100, T0), 1);
}

#[test]
fn many_idle_users_do_not_reset_a_busy_users_bucket() {
    let l = limiter(1.0, 5);
    assert_eq!(admitted(&l, 42, 5, T0), 5);
    for user in 1_000..201_000 {
        check(&l, user, T0 + 10 + (user % 100));
    }
    assert!(!check(&l, 42, T0 + 200).allowed);
}

#[test]
fn concurrent_requests_of_one_user_never_exceed_the_burst() {
    let l = std::sync::Arc::new(limiter(1.0, 500));
    let threads: Vec<_> = (0..4)
        .map(|_| {
            let l = std::sync::Arc::clone(&l);
            std::thread::spawn(move || admitted(&l, 9, 500, T0))
        })
        .collect();
    let total: usize = threads
        .into_iter()
        .map(|t| t.join().unwrap_or(usize::MAX))
        .sum();
    assert_eq!(total, 500);
}

#[test]
fn extreme_times_and_ids_never_panic() {
    let l = UserLimiter::local(UserLimitConfig::default());
    for now in [i64::MIN, -1, 0, i64::MAX] {
        for user in [i64::MIN, -1, 0, i64::MAX] {
            let d = check(&l, user, now);
            assert!(d.allowed || d.retry_after_secs >= 1);
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(96))]

    /// Over any window of any request sequence, a user gets at most burst + rate × elapsed.
    #[test]
    fn no_timing_ever_admits_more_than_burst_plus_rate_times_elapsed(
        rate in 0.05f64..200.0,
        burst in 1u32..50,
        steps in proptest::collection::vec((0i64..3, 0i64..400), 1..300),
    ) {
        let l = limiter(rate, burst);
        let mut now = T0;
        let mut log: Vec<Vec<i64>> = vec![Vec::new(); 3];
        for (user, dt) in steps {
            now += dt;
            let d = check(&l, user, now);
            prop_assert!(d.remaining <= d.limit);
            if d.allowed {
                prop_assert_eq!(d.retry_after_secs, 0);
                log[user as usize].push(now);
            } else {
                prop_assert!(d.retry_after_secs >= 1);
                prop_assert_eq!(d.remaining, 0);
            }
        }
        for times in &log {
            for (i, start) in times.iter().enumerate() {
                for (j, end) in times.iter().enumerate().skip(i) {
                    let count = (j - i + 1) as f64;
                    let bound = f64::from(burst) + rate * (end - start) as f64 / 1_000.0;
                    prop_assert!(count <= bound + 1e-9, "{count} admitted in {} ms", end - start);
                }
            }
        }
    }

    /// `RateLimit-Remaining` is honest: exactly that many more requests pass right now, and
    /// after `Retry-After` seconds the next one passes.
    #[test]
    fn remaining_and_retry_after_are_exact(
        rate in 0.05f64..200.0,
        burst in 1u32..50,
        spent in 0usize..60,
        gap_ms in 0i64..5_000,
    ) {
        let l = limiter(rate, burst);
        admitted(&l, 1, spent, T0);
        let d = check(&l, 1, T0 + gap_ms);
        if d.allowed {
            prop_assert_eq!(admitted(&l, 1, 100, T0 + gap_ms), d.remaining as usize);
        } else {
            let retry_ms = i64::try_from(d.retry_after_secs).unwrap_or(i64::MAX) * 1_000;
            prop_assert!(check(&l, 1, T0 + gap_ms + retry_ms).allowed);
        }
    }
}
