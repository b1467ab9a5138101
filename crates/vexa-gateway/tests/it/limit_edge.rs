//! Specification of the per-IP edge guard: budget, refill, auto-ban, bounded memory that never
//! forgets a limited client.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::Arc;
use std::time::Duration;

use proptest::prelude::*;
use vexa_gateway::limit::{Decision, EdgeConfig, EdgeGuard};

const T0: i64 = 1_780_000_000_000;

fn ip(n: u32) -> IpAddr {
    IpAddr::V4(Ipv4Addr::from(0x0A00_0000 | n))
}

fn guard(rpm: u32, threshold: u32, ban_secs: u64, tracked: usize) -> EdgeGuard {
    EdgeGuard::new(EdgeConfig {
        enabled: true,
        requests_per_minute: rpm,
        auto_ban_threshold: threshold,
        auto_ban_duration: Duration::from_secs(ban_secs),
        max_tracked_ips: tracked,
    })
}

fn admitted(g: &EdgeGuard, addr: IpAddr, n: usize, now_ms: i64) -> usize {
    (0..n).filter(|_| g.check(addr, now_ms).is_allow()).count()
}

#[test]
fn defaults_are_the_contracts() {
    let cfg = EdgeConfig::default();
    assert!(cfg.enabled);
    assert_eq!(cfg.requests_per_minute, 600);
    assert_eq!(cfg.auto_ban_threshold, 10);
    assert_eq!(cfg.auto_ban_duration, Duration::from_secs(3600));
}

#[test]
fn disabled_guard_admits_everything() {
    let g = EdgeGuard::new(EdgeConfig {
        enabled: false,
        requests_per_minute: 1,
        ..EdgeConfig::default()
    });
    assert_eq!(admitted(&g, ip(1), 10_000, T0), 10_000);
}

#[test]
fn zero_requests_per_minute_disables_the_budget() {
    let g = guard(0, 1, 3600, 1024);
    assert_eq!(admitted(&g, ip(1), 5_000, T0), 5_000);
}

#[test]
fn an_ip_gets_its_minute_budget_at_once_then_429_with_retry_after_one_second() {
    let g = guard(600, 0, 3600, 1024);
    assert_eq!(admitted(&g, ip(1), 600, T0), 600);
    assert_eq!(g.check(ip(1), T0), Decision::deny(1));
    assert!(
        g.check(ip(2), T0).is_allow(),
        "another address has its own budget"
    );
}

#[test]
fn the_budget_refills_at_requests_per_minute() {
    let g = guard(600, 0, 3600, 1024);
    assert_eq!(admitted(&g, ip(1), 700, T0), 600);
    // One request every 100 ms refills.
    assert_eq!(admitted(&g, ip(1), 5, T0 + 99), 0);
    assert_eq!(admitted(&g, ip(1), 5, T0 + 100), 1);
    assert_eq!(admitted(&g, ip(1), 50, T0 + 1_100), 10);
    assert_eq!(
        admitted(&g, ip(1), 1_000, T0 + 120_000),
        600,
        "full after a quiet minute"
    );
}

#[test]
fn retry_after_counts_whole_seconds_until_the_next_token() {
    let g = guard(2, 0, 3600, 1024);
    assert_eq!(admitted(&g, ip(1), 2, T0), 2);
    assert_eq!(g.check(ip(1), T0), Decision::deny(30));
    assert_eq!(g.check(ip(1), T0 + 29_001), Decision::deny(1));
    assert!(g.check(ip(1), T0 + 30_000).is_allow());
}

#[test]
fn refused_requests_do_not_push_the_budget_further_away() {
    let g = guard(60, 0, 3600, 1024);
    assert_eq!(admitted(&g, ip(1), 60, T0), 60);
    assert_eq!(admitted(&g, ip(1), 10_000, T0 + 500), 0);
    assert!(g.check(ip(1), T0 + 1_000).is_allow());
}

#[test]
fn the_threshold_th_violation_bans_the_ip_for_the_ban_duration() {
    let g = guard(5, 3, 100, 1024);
    assert_eq!(admitted(&g, ip(1), 5, T0), 5);
    assert_eq!(g.check(ip(1), T0), Decision::deny(12));
    assert_eq!(g.check(ip(1), T0), Decision::deny(12));
    assert_eq!(g.check(ip(1), T0), Decision::deny(100));
    // Banned although the budget has refilled meanwhile; Retry-After is the ban's remainder.
    assert_eq!(g.check(ip(1), T0 + 60_000), Decision::deny(40));
    assert_eq!(g.check(ip(1), T0 + 99_500), Decision::deny(1));
    assert!(g.check(ip(2), T0 + 1).is_allow(), "others are not banned");
}

#[test]
fn a_ban_expires_after_its_duration_and_is_not_extended_by_requests_while_banned() {
    let g = guard(5, 3, 100, 1024);
    admitted(&g, ip(1), 8, T0);
    for s in 1..100 {
        assert!(!g.check(ip(1), T0 + s * 1_000).is_allow());
    }
    assert_eq!(
        admitted(&g, ip(1), 10, T0 + 100_000),
        5,
        "free and refilled after the ban"
    );
}

#[test]
fn sparse_violations_leak_away_and_do_not_ban() {
    let g = guard(5, 3, 3600, 1024);
    admitted(&g, ip(1), 5, T0);
    let mut now = T0;
    // Two violations a minute, for an hour: throttled, never banned.
    for _ in 0..60 {
        assert!(!g.check(ip(1), now).is_allow());
        assert!(!g.check(ip(1), now).is_allow());
        now += 60_000;
        assert_eq!(admitted(&g, ip(1), 5, now), 5);
    }
}

#[test]
fn ipv6_clients_share_one_budget_per_slash_64() {
    let g = guard(4, 0, 3600, 1024);
    let a: Ipv6Addr = "2001:db8:0:1::1".parse().unwrap_or(Ipv6Addr::LOCALHOST);
    let b: Ipv6Addr = "2001:db8:0:1:abcd::2"
        .parse()
        .unwrap_or(Ipv6Addr::LOCALHOST);
    let other: Ipv6Addr = "2001:db8:0:2::1".parse().unwrap_or(Ipv6Addr::LOCALHOST);
    assert_eq!(admitted(&g, a.into(), 2, T0), 2);
    assert_eq!(admitted(&g, b.into(), 5, T0), 2);
    assert_eq!(admitted(&g, other.into(), 5, T0), 4);
}

#[test]
fn flooding_with_more_ips_than_tracked_never_resets_a_limited_ip() {
    let g = guard(10, 0, 3600, 64);
    assert_eq!(admitted(&g, ip(1), 10, T0), 10);
    assert!(!g.check(ip(1), T0).is_allow());
    for n in 1_000..101_000 {
        g.check(ip(n), T0 + 1);
    }
    assert!(
        !g.check(ip(1), T0 + 2).is_allow(),
        "still limited after 100 000 other addresses"
    );
}

#[test]
fn flooding_with_more_ips_than_tracked_never_lifts_a_ban() {
    let g = guard(10, 2, 3600, 64);
    admitted(&g, ip(1), 12, T0);
    assert_eq!(g.check(ip(1), T0), Decision::deny(3600));
    for n in 1_000..101_000 {
        g.check(ip(n), T0 + 1_000);
    }
    // The flood itself got banned too; sharing its cells can only lengthen ip(1)'s ban.
    let after_flood = g.check(ip(1), T0 + 1_000);
    assert!(
        !after_flood.allowed,
        "a flood of other addresses lifted a ban"
    );
    assert!(after_flood.retry_after_secs >= 3599);
}

#[test]
fn light_clients_are_not_harmed_by_a_few_heavy_ones_in_a_well_sized_table() {
    let g = guard(10, 2, 3600, 4096);
    for heavy in 0..50 {
        admitted(&g, ip(heavy), 100, T0);
    }
    let harmed = (10_000..11_000)
        .filter(|&n| !g.check(ip(n), T0).is_allow())
        .count();
    assert_eq!(harmed, 0);
}

#[test]
fn concurrent_requests_from_one_ip_never_exceed_the_burst() {
    let g = Arc::new(guard(1_000, 0, 3600, 1024));
    let threads: Vec<_> = (0..4)
        .map(|_| {
            let g = Arc::clone(&g);
            std::thread::spawn(move || admitted(&g, ip(7), 1_000, T0))
        })
        .collect();
    let total: usize = threads
        .into_iter()
        .map(|t| t.join().unwrap_or(usize::MAX))
        .sum();
    assert_eq!(total, 1_000);
}

#[test]
fn memory_is_fixed_and_proportional_to_max_tracked_ips() {
    let small = guard(600, 10, 3600, 1_000);
    let large = guard(600, 10, 3600, 100_000);
    assert!(small.memory_bytes() <= 1024 * 96);
    assert!(large.memory_bytes() <= 131_072 * 96);
    for n in 0..50_000 {
        small.check(ip(n), T0);
    }
    assert!(small.memory_bytes() <= 1024 * 96);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Over any window of any request sequence, an IP gets at most rpm + rpm × minutes elapsed,
    /// and every refusal says to come back in at least one second.
    #[test]
    fn no_timing_ever_admits_more_than_burst_plus_rate_times_elapsed(
        rpm in 1u32..120,
        threshold in 0u32..5,
        tracked in 1usize..64,
        steps in proptest::collection::vec((0u32..4, 0i64..3_000), 1..300),
    ) {
        let g = guard(rpm, threshold, 30, tracked);
        let mut now = T0;
        let mut log: Vec<Vec<i64>> = vec![Vec::new(); 4];
        for (who, dt) in steps {
            now += dt;
            let decision = g.check(ip(who), now);
            if decision.allowed {
                log[who as usize].push(now);
            } else {
                prop_assert!(decision.retry_after_secs >= 1);
            }
        }
        for times in &log {
            for (i, start) in times.iter().enumerate() {
                for (j, end) in times.iter().enumerate().skip(i) {
                    let count = (j - i + 1) as f64;
                    let bound = f64::from(rpm) + f64::from(rpm) * (end - start) as f64 / 60_000.0;
                    prop_assert!(count <= bound + 1e-9, "{count} admitted in {} ms", end - start);
                }
            }
        }
    }
}
