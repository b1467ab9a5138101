//! Usage per key (CONTRACT §10): what a request with a key came to ([`Outcome`]), the per-hour
//! buckets every replica adds its counts to, the window the admin API shows, and the key's
//! [`KeyStatus`] as the key list reports it. Pure domain: no I/O, no clock (callers pass `now`).

use std::net::IpAddr;

use serde::Serialize;

use crate::error::ValidationError;
use crate::store::{KeyId, KeyRecord};
use crate::time::Timestamp;

/// One hour in milliseconds: the width of a usage bucket.
pub const HOUR_MS: i64 = 3_600_000;
/// The default and the largest window of `GET /admin/tokens/{id}/usage`, in hours.
pub const DEFAULT_WINDOW_HOURS: u32 = 24;
pub const MAX_WINDOW_HOURS: u32 = 720;
/// A key expiring within this long is `expiring`.
pub const EXPIRING_WITHIN_MS: i64 = 24 * HOUR_MS;

/// What one authenticated request came to, as counted per key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Outcome {
    /// Admitted (forwarded, or answered by the validate oracle).
    Allowed,
    /// Refused for scope (403).
    Scope,
    /// Refused by the per-user bucket (429).
    RateLimited,
    /// The key had expired (401).
    Expired,
}

impl Outcome {
    pub const ALL: [Outcome; 4] = [
        Outcome::Allowed,
        Outcome::Scope,
        Outcome::RateLimited,
        Outcome::Expired,
    ];

    /// The stored (and rendered) name.
    pub const fn as_str(self) -> &'static str {
        match self {
            Outcome::Allowed => "allowed",
            Outcome::Scope => "scope",
            Outcome::RateLimited => "rate_limited",
            Outcome::Expired => "expired",
        }
    }

    pub fn parse(s: &str) -> Option<Outcome> {
        Outcome::ALL.into_iter().find(|o| o.as_str() == s)
    }
}

/// The start of the hour `t` falls in.
pub fn hour_start(t: Timestamp) -> Timestamp {
    Timestamp(t.0 - t.0.rem_euclid(HOUR_MS))
}

/// `n` requests of one key with one outcome in the hour starting at `hour`: a row every replica
/// adds to (`count = count + n`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UsageCount {
    pub key_id: KeyId,
    pub hour: Timestamp,
    pub outcome: Outcome,
    pub count: i64,
}

/// A key's newest admitted use, with the client address the gateway saw (if any; the validate
/// oracle sees only the calling service, so it leaves the address alone).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeyUse {
    pub key_id: KeyId,
    pub at: Timestamp,
    pub client: Option<IpAddr>,
}

/// One hour of a key's usage, every outcome present.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct HourBucket {
    pub hour: Timestamp,
    pub allowed: i64,
    pub scope: i64,
    pub rate_limited: i64,
    pub expired: i64,
}

impl HourBucket {
    fn empty(hour: Timestamp) -> HourBucket {
        HourBucket {
            hour,
            allowed: 0,
            scope: 0,
            rate_limited: 0,
            expired: 0,
        }
    }

    fn add(&mut self, outcome: Outcome, n: i64) {
        let slot = match outcome {
            Outcome::Allowed => &mut self.allowed,
            Outcome::Scope => &mut self.scope,
            Outcome::RateLimited => &mut self.rate_limited,
            Outcome::Expired => &mut self.expired,
        };
        *slot = slot.saturating_add(n);
    }
}

/// How many hours of usage to show, ending with the current one: 1..=720.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UsageWindow {
    hours: u32,
}

impl Default for UsageWindow {
    fn default() -> Self {
        UsageWindow {
            hours: DEFAULT_WINDOW_HOURS,
        }
    }
}

impl UsageWindow {
    /// Parses the `hours` query value.
    pub fn parse(raw: &str) -> Result<UsageWindow, ValidationError> {
        let rule = || {
            ValidationError::new(
                "hours",
                format!("hours must be an integer between 1 and {MAX_WINDOW_HOURS}"),
            )
        };
        let hours: u32 = raw.trim().parse().map_err(|_| rule())?;
        if !(1..=MAX_WINDOW_HOURS).contains(&hours) {
            return Err(rule());
        }
        Ok(UsageWindow { hours })
    }

    pub fn hours(self) -> u32 {
        self.hours
    }

    /// The first hour of the window ending with the hour of `now`.
    pub fn first_hour(self, now: Timestamp) -> Timestamp {
        Timestamp(hour_start(now).0 - (i64::from(self.hours) - 1) * HOUR_MS)
    }

    /// Every hour of the window, oldest first, with the counts of `rows` that fall in it
    /// summed (rows of other keys' or outside hours are ignored): a chart needs no gap logic.
    pub fn buckets(self, now: Timestamp, rows: &[UsageCount]) -> Vec<HourBucket> {
        let first = self.first_hour(now);
        let mut out: Vec<HourBucket> = (0..i64::from(self.hours))
            .map(|i| HourBucket::empty(Timestamp(first.0 + i * HOUR_MS)))
            .collect();
        for row in rows {
            let offset = (row.hour.0 - first.0).div_euclid(HOUR_MS);
            if let Some(bucket) = usize::try_from(offset).ok().and_then(|i| out.get_mut(i)) {
                bucket.add(row.outcome, row.count);
            }
        }
        out
    }
}

/// A key's state as the key list shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum KeyStatus {
    Active,
    /// Expires within 24 hours.
    Expiring,
    Expired,
    Revoked,
    /// Refused by the rate limiter in the last hour.
    RateLimited,
}

/// Where the "last hour" of [`key_status`] starts: the previous hour's bucket, so a refusal a
/// minute before the hour turned still counts (buckets are hour-wide).
pub fn recent_since(now: Timestamp) -> Timestamp {
    hour_start(Timestamp(now.0 - HOUR_MS))
}

/// The one rule for a key's status: revoked, then expired (both final), then rate-limited
/// (`rate_limited_recently` = 429s counted since [`recent_since`]), then expiring, else active.
pub fn key_status(key: &KeyRecord, now: Timestamp, rate_limited_recently: i64) -> KeyStatus {
    // A rotated key past its grace end is refused like a revoked one, so it reads as one.
    if key.revoked_at.is_some() || key.is_retired_at(now) {
        return KeyStatus::Revoked;
    }
    match key.expires_at {
        Some(exp) if exp <= now => KeyStatus::Expired,
        _ if rate_limited_recently > 0 => KeyStatus::RateLimited,
        Some(exp) if exp.0 - now.0 <= EXPIRING_WITHIN_MS => KeyStatus::Expiring,
        _ => KeyStatus::Active,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{ScopeSet, UserId};

    const NOW: Timestamp = Timestamp(1_800_000_000_000 + 1_234);

    fn key(expires_at: Option<Timestamp>, revoked_at: Option<Timestamp>) -> KeyRecord {
        KeyRecord {
            id: KeyId(1),
            user_id: UserId(1),
            scopes: ScopeSet::default(),
            name: None,
            prefix: "vxa_bot_abcd".into(),
            created_at: Timestamp(0),
            last_used_at: None,
            expires_at,
            limits: crate::KeyLimits::NONE,
            revoked_at,
            last_client: None,
            retires_at: None,
        }
    }

    #[test]
    fn status_follows_the_rule_in_order() {
        let soon = Some(Timestamp(NOW.0 + HOUR_MS));
        let later = Some(Timestamp(NOW.0 + 48 * HOUR_MS));
        let past = Some(Timestamp(NOW.0 - 1));
        assert_eq!(key_status(&key(None, None), NOW, 0), KeyStatus::Active);
        assert_eq!(key_status(&key(later, None), NOW, 0), KeyStatus::Active);
        assert_eq!(key_status(&key(soon, None), NOW, 0), KeyStatus::Expiring);
        assert_eq!(key_status(&key(past, None), NOW, 0), KeyStatus::Expired);
        assert_eq!(key_status(&key(soon, None), NOW, 3), KeyStatus::RateLimited);
        assert_eq!(key_status(&key(past, None), NOW, 3), KeyStatus::Expired);
        assert_eq!(
            key_status(&key(None, Some(NOW)), NOW, 3),
            KeyStatus::Revoked
        );
        let rotated = |retires_at| KeyRecord {
            retires_at: Some(retires_at),
            ..key(later, None)
        };
        assert_eq!(
            key_status(&rotated(Timestamp(NOW.0 + 1)), NOW, 0),
            KeyStatus::Active,
            "in its grace period"
        );
        assert_eq!(
            key_status(&rotated(NOW), NOW, 0),
            KeyStatus::Revoked,
            "past its grace end"
        );
    }

    #[test]
    fn the_window_has_every_hour_and_sums_rows() {
        let w = UsageWindow::parse("3").expect("valid");
        let this_hour = hour_start(NOW);
        let row = |hour: Timestamp, outcome, count| UsageCount {
            key_id: KeyId(1),
            hour,
            outcome,
            count,
        };
        let rows = [
            row(this_hour, Outcome::Allowed, 2),
            row(this_hour, Outcome::Allowed, 3),
            row(Timestamp(this_hour.0 - 2 * HOUR_MS), Outcome::Scope, 1),
            row(Timestamp(this_hour.0 - 3 * HOUR_MS), Outcome::Expired, 9),
        ];
        let b = w.buckets(NOW, &rows);
        assert_eq!(b.len(), 3);
        assert_eq!(b[0].hour, Timestamp(this_hour.0 - 2 * HOUR_MS));
        assert_eq!(
            (b[0].scope, b[1], b[2].allowed),
            (1, HourBucket::empty(Timestamp(this_hour.0 - HOUR_MS)), 5)
        );
        assert_eq!(b[2].expired, 0, "rows before the window are left out");
    }

    #[test]
    fn hours_outside_one_to_720_are_refused() {
        for bad in ["0", "721", "-1", "x", ""] {
            assert!(UsageWindow::parse(bad).is_err(), "{bad}");
        }
        assert_eq!(UsageWindow::parse("720").map(UsageWindow::hours), Ok(720));
        assert_eq!(UsageWindow::default().hours(), 24);
    }

    #[test]
    fn outcomes_round_trip_their_names() {
        for o in Outcome::ALL {
            assert_eq!(Outcome::parse(o.as_str()), Some(o));
        }
        assert_eq!(hour_start(Timestamp(HOUR_MS + 5)), Timestamp(HOUR_MS));
    }
}
