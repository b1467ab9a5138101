//! Per-IP edge guard: a GCRA budget of `requests_per_minute` per client, and an auto-ban once a
//! client collects `auto_ban_threshold` refusals within one minute.
//!
//! State lives in a fixed-size count-min sketch allocated once: each client maps to one cell in
//! each of `DEPTH` rows, every update raises those cells to at least the client's new value, and
//! a read takes the minimum over the client's cells. A cell is shared by colliding clients and
//! only ever holds the maximum of their states, so a collision can make a client look busier than
//! it is (over-count) but never fresher; nothing is ever evicted, so a limited client cannot buy
//! a new allowance by flooding the table with other addresses (envoyproxy/gateway#9973).
//!
//! Addresses are hashed with a per-process random key so clients cannot aim collisions at a
//! victim. IPv6 clients are keyed by their /64 (one subscriber's allocation), IPv4-mapped IPv6 by
//! the IPv4 address. Refused requests do not spend budget (so a client that backs off recovers),
//! and a ban is not extended by requests made while banned.

use std::collections::hash_map::RandomState;
use std::hash::BuildHasher;
use std::net::IpAddr;
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use vexa_core::env::{Env, EnvError};

use super::gcra::{secs_ceil_us, Gcra, Verdict};
use super::Decision;

/// Rows of the sketch: a client is misjudged only if all of its cells collide with busy clients.
const DEPTH: usize = 4;
/// Most lock shards; each shard holds all rows for the clients that hash to it.
const MAX_SHARDS: usize = 64;
/// Violations leak away at `auto_ban_threshold` per this window: the ban is for clients that
/// keep hammering, not for one that overshoots once in a while.
const VIOLATION_WINDOW_US: i64 = 60_000_000;
const RATE_WINDOW_US: i64 = 60_000_000;

/// `GUARD_ENABLED`: fills [`EdgeConfig::enabled`].
pub const ENV_GUARD_ENABLED: &str = "GUARD_ENABLED";
/// `GUARD_RATE_LIMIT_RPM`: fills [`EdgeConfig::requests_per_minute`].
pub const ENV_GUARD_RATE_LIMIT_RPM: &str = "GUARD_RATE_LIMIT_RPM";
/// `GUARD_AUTO_BAN_THRESHOLD`: fills [`EdgeConfig::auto_ban_threshold`].
pub const ENV_GUARD_AUTO_BAN_THRESHOLD: &str = "GUARD_AUTO_BAN_THRESHOLD";
/// `GUARD_AUTO_BAN_DURATION` (seconds): fills [`EdgeConfig::auto_ban_duration`].
pub const ENV_GUARD_AUTO_BAN_DURATION: &str = "GUARD_AUTO_BAN_DURATION";

/// Settings of the edge guard (`GUARD_*` environment variables).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EdgeConfig {
    /// `GUARD_ENABLED`; `false` admits everything.
    pub enabled: bool,
    /// `GUARD_RATE_LIMIT_RPM`: budget per IP per minute, also the burst. 0 disables the budget.
    pub requests_per_minute: u32,
    /// `GUARD_AUTO_BAN_THRESHOLD`: refusals within a minute that start a ban. 0 disables bans.
    pub auto_ban_threshold: u32,
    /// `GUARD_AUTO_BAN_DURATION`: how long a ban lasts. Zero disables bans.
    pub auto_ban_duration: Duration,
    /// Sizing of the sketch: the number of concurrently active addresses it tells apart well.
    /// Memory is about `96 bytes × max_tracked_ips` (rounded up to a power of two), fixed.
    pub max_tracked_ips: usize,
}

impl Default for EdgeConfig {
    fn default() -> Self {
        EdgeConfig {
            enabled: true,
            requests_per_minute: 600,
            auto_ban_threshold: 10,
            auto_ban_duration: Duration::from_secs(3600),
            max_tracked_ips: 100_000,
        }
    }
}

impl EdgeConfig {
    /// The defaults, overridden by whichever `GUARD_*` variables `env` sets. A budget of 0
    /// requests per minute is refused here: from the environment the guard is switched off with
    /// `GUARD_ENABLED=false`.
    pub fn from_env(env: &Env) -> Result<EdgeConfig, EnvError> {
        let d = EdgeConfig::default();
        let ban_secs = env.parse(ENV_GUARD_AUTO_BAN_DURATION, d.auto_ban_duration.as_secs())?;
        Ok(EdgeConfig {
            enabled: env.flag(ENV_GUARD_ENABLED, d.enabled)?,
            requests_per_minute: env
                .at_least_one(ENV_GUARD_RATE_LIMIT_RPM, d.requests_per_minute)?,
            auto_ban_threshold: env.parse(ENV_GUARD_AUTO_BAN_THRESHOLD, d.auto_ban_threshold)?,
            auto_ban_duration: Duration::from_secs(ban_secs),
            ..d
        })
    }
}

/// One sketch cell: the maximum state of every client mapped to it.
#[derive(Debug, Clone, Copy)]
struct Cell {
    tat_us: i64,
    violation_tat_us: i64,
    banned_until_ms: i64,
}

const EMPTY: Cell = Cell {
    tat_us: i64::MIN,
    violation_tat_us: i64::MIN,
    banned_until_ms: i64::MIN,
};

/// Cache-line aligned so that two cores on neighbouring shards do not share a line.
#[repr(align(64))]
struct Shard(Mutex<Box<[Cell]>>);

/// The per-IP guard. Shared by reference across all connections (`Arc<EdgeGuard>`).
pub struct EdgeGuard {
    enabled: bool,
    rate: Option<Gcra>,
    ban: Option<Ban>,
    shards: Box<[Shard]>,
    /// Cells per row within one shard (a power of two).
    width: usize,
    hash_a: RandomState,
    hash_b: RandomState,
}

#[derive(Debug, Clone, Copy)]
struct Ban {
    violation_interval_us: i64,
    threshold_us: i64,
    duration_ms: i64,
}

impl std::fmt::Debug for EdgeGuard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EdgeGuard")
            .field("enabled", &self.enabled)
            .field("rate", &self.rate)
            .field("ban", &self.ban)
            .field("shards", &self.shards.len())
            .field("width", &self.width)
            .finish_non_exhaustive()
    }
}

impl EdgeGuard {
    pub fn new(cfg: EdgeConfig) -> Self {
        let rate = (cfg.requests_per_minute > 0).then(|| {
            let rpm = i64::from(cfg.requests_per_minute);
            let interval = (RATE_WINDOW_US + rpm - 1) / rpm;
            Gcra::with_interval(interval, cfg.requests_per_minute)
        });
        let duration_ms = i64::try_from(cfg.auto_ban_duration.as_millis()).unwrap_or(i64::MAX);
        let ban = (cfg.auto_ban_threshold > 0 && duration_ms > 0).then(|| {
            let threshold = i64::from(cfg.auto_ban_threshold);
            let violation_interval_us = (VIOLATION_WINDOW_US / threshold).max(1);
            Ban {
                violation_interval_us,
                threshold_us: violation_interval_us * threshold,
                duration_ms,
            }
        });
        // A disabled guard never touches the table, so it does not pay for one.
        let tracked = if cfg.enabled { cfg.max_tracked_ips } else { 1 };
        let total = tracked.clamp(1, 1 << 30).next_power_of_two();
        let shard_count = total.min(MAX_SHARDS);
        let width = total / shard_count;
        let shards = (0..shard_count)
            .map(|_| Shard(Mutex::new(vec![EMPTY; width * DEPTH].into_boxed_slice())))
            .collect();
        EdgeGuard {
            enabled: cfg.enabled,
            rate,
            ban,
            shards,
            width,
            hash_a: RandomState::new(),
            hash_b: RandomState::new(),
        }
    }

    /// Bytes held by the sketch (fixed at construction).
    #[cfg(any(test, feature = "testing"))]
    pub fn memory_bytes(&self) -> usize {
        self.shards.len() * self.width * DEPTH * std::mem::size_of::<Cell>()
    }

    /// Decides one request from `ip` at `now_ms` (epoch milliseconds).
    pub fn check(&self, ip: IpAddr, now_ms: i64) -> Decision {
        if !self.enabled || self.rate.is_none() {
            return Decision::allow();
        }
        let key = client_key(ip);
        let (shard_index, rows) = self.locate(key);
        let (decision, banned_now) = {
            let mut cells = self.shards[shard_index]
                .0
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            self.decide(&mut cells, &rows, now_ms)
        };
        if banned_now {
            metrics::counter!("vexa_gateway_edge_bans_total").increment(1);
        }
        decision
    }

    /// The decision proper, under the shard lock. Returns whether this request started a ban.
    fn decide(&self, cells: &mut [Cell], rows: &[usize; DEPTH], now_ms: i64) -> (Decision, bool) {
        let now_us = now_ms.saturating_mul(1000);
        let banned_until = min_of(cells, rows, |c| c.banned_until_ms);
        if banned_until > now_ms {
            let wait_us = banned_until.saturating_sub(now_ms).saturating_mul(1000);
            return (refusal(wait_us), false);
        }
        let Some(rate) = self.rate else {
            return (Decision::allow(), false);
        };
        let wait_us = match rate.decide(min_of(cells, rows, |c| c.tat_us), now_us) {
            Verdict::Allow { new_tat_us } => {
                raise(cells, rows, |c| &mut c.tat_us, new_tat_us);
                return (Decision::allow(), false);
            }
            Verdict::Deny { wait_us, .. } => wait_us,
        };
        let Some(ban) = self.ban else {
            return (refusal(wait_us), false);
        };
        let level = min_of(cells, rows, |c| c.violation_tat_us).max(now_us);
        let level = level.saturating_add(ban.violation_interval_us);
        raise(cells, rows, |c| &mut c.violation_tat_us, level);
        if level.saturating_sub(now_us) < ban.threshold_us {
            return (refusal(wait_us), false);
        }
        let until = now_ms.saturating_add(ban.duration_ms);
        raise(cells, rows, |c| &mut c.banned_until_ms, until);
        (refusal(ban.duration_ms.saturating_mul(1000)), true)
    }

    /// The shard and one cell index per row into the shard's flat `[row][width]` array. Rows
    /// take disjoint bits of two independent keyed hashes: derived indexes (double hashing)
    /// would make two clients that collide in one row collide in every row of a narrow table.
    fn locate(&self, key: u128) -> (usize, [usize; DEPTH]) {
        let a = self.hash_a.hash_one(key);
        let b = self.hash_b.hash_one(key);
        // Width per shard is at most 2^24 (see `new`), so 26 bits per row are plenty.
        let parts = [a, a >> 32, b, b >> 32];
        let shard = (b >> 58) as usize & (self.shards.len() - 1);
        let mask = self.width - 1;
        let rows = std::array::from_fn(|row| row * self.width + (parts[row] as usize & mask));
        (shard, rows)
    }
}

/// A refusal for `wait_us`, told to the client in whole seconds (at least one).
fn refusal(wait_us: i64) -> Decision {
    Decision::deny(secs_ceil_us(wait_us).max(1))
}

/// The client's state as the sketch knows it: the least loaded of its cells.
fn min_of(cells: &[Cell], rows: &[usize; DEPTH], field: impl Fn(&Cell) -> i64) -> i64 {
    rows.iter()
        .filter_map(|&i| cells.get(i))
        .map(field)
        .min()
        .unwrap_or(i64::MIN)
}

/// Conservative update: each cell keeps the maximum over every client mapped to it.
fn raise(
    cells: &mut [Cell],
    rows: &[usize; DEPTH],
    field: impl Fn(&mut Cell) -> &mut i64,
    value: i64,
) {
    for &i in rows {
        if let Some(cell) = cells.get_mut(i) {
            let slot = field(cell);
            *slot = (*slot).max(value);
        }
    }
}

/// The identity the guard limits: an IPv4 address, or an IPv6 /64.
fn client_key(ip: IpAddr) -> u128 {
    match ip {
        IpAddr::V4(v4) => u128::from(v4.to_ipv6_mapped()),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => u128::from(v4.to_ipv6_mapped()),
            None => u128::from(v6) & !u128::from(u64::MAX),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{Ipv4Addr, Ipv6Addr};

    #[test]
    fn ipv6_clients_are_keyed_by_their_slash_64_and_mapped_ipv4_by_the_ipv4_address() {
        let a: Ipv6Addr = "2001:db8:1:2::1".parse().unwrap_or(Ipv6Addr::UNSPECIFIED);
        let b: Ipv6Addr = "2001:db8:1:2:ffff::9"
            .parse()
            .unwrap_or(Ipv6Addr::UNSPECIFIED);
        let c: Ipv6Addr = "2001:db8:1:3::1".parse().unwrap_or(Ipv6Addr::UNSPECIFIED);
        assert_eq!(client_key(a.into()), client_key(b.into()));
        assert_ne!(client_key(a.into()), client_key(c.into()));
        let v4 = Ipv4Addr::new(192, 0, 2, 7);
        assert_eq!(
            client_key(v4.into()),
            client_key(v4.to_ipv6_mapped().into())
        );
        assert_ne!(
            client_key(v4.into()),
            client_key(Ipv4Addr::new(192, 0, 2, 8).into())
        );
    }

    #[test]
    fn sketch_size_is_fixed_by_max_tracked_ips() {
        let cfg = EdgeConfig {
            max_tracked_ips: 100_000,
            ..EdgeConfig::default()
        };
        let guard = EdgeGuard::new(cfg);
        assert_eq!(guard.memory_bytes(), 131_072 * DEPTH * 24);
        let tiny = EdgeGuard::new(EdgeConfig {
            max_tracked_ips: 0,
            ..EdgeConfig::default()
        });
        assert_eq!(tiny.shards.len(), 1);
        assert_eq!(tiny.width, 1);
    }
}
