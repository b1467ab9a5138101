//! Per-key limits (CONTRACT §10): a key may be held to less than its user's budget, never to
//! more — the gateway checks the key's bucket inside the user's, the meetings service counts the
//! key's bots inside the user's cap, and the stricter of each pair decides.
//!
//! One value type, [`KeyLimits`], travels with a key everywhere it is described (`NewKey`,
//! `KeyRecord`, `Principal`), so code that copies a key (rotation) copies its limits by copying
//! one field. [`KeyLimitsPatch`] is a change to them (`PATCH /admin/tokens/{id}`). The rules on
//! the values live here, so the admin API and the CLI refuse the same input with the same words.

use serde::Serialize;

use crate::error::ValidationError;
use crate::user::check_max_concurrent_bots;

/// Highest accepted `rate_limit_rps`; far above anything a single key can use, low enough that
/// the bucket arithmetic stays exact.
pub const MAX_RATE_LIMIT_RPS: f64 = 1_000_000.0;
/// Highest accepted `rate_limit_burst`.
pub const MAX_RATE_LIMIT_BURST: i64 = 1_000_000;

/// A key's own limits; `None` leaves that dimension to the user's limit alone.
///
/// `rate_limit_burst` without `rate_limit_rps` refills at the gateway's per-user rate
/// (`GATEWAY_RATE_LIMIT_RPS`); `rate_limit_rps` without a burst holds one second's worth of
/// requests (`ceil(rps)`, at least 1). See [`KeyLimits::rate`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, utoipa::ToSchema)]
pub struct KeyLimits {
    /// Requests per second the key's bucket refills with.
    pub rate_limit_rps: Option<f64>,
    /// Capacity of the key's bucket (requests it may send at once).
    pub rate_limit_burst: Option<i64>,
    /// Bots started with this key that may run at once.
    pub max_concurrent_bots: Option<i64>,
}

impl KeyLimits {
    /// No limit of the key's own.
    pub const NONE: KeyLimits = KeyLimits {
        rate_limit_rps: None,
        rate_limit_burst: None,
        max_concurrent_bots: None,
    };

    /// Whether the key has a rate limit of its own (the gateway's hot path skips the key bucket
    /// entirely when it has not).
    pub fn has_rate_limit(&self) -> bool {
        self.rate_limit_rps.is_some() || self.rate_limit_burst.is_some()
    }

    /// The key's bucket as (refill per second, capacity), with the defaults of the type doc
    /// applied; `None` without a rate limit. `user_rps` is the per-user rate.
    pub fn rate(&self, user_rps: f64) -> Option<(f64, u32)> {
        let clamp = |b: i64| u32::try_from(b.clamp(1, MAX_RATE_LIMIT_BURST)).unwrap_or(1);
        match (self.rate_limit_rps, self.rate_limit_burst) {
            (None, None) => None,
            (Some(rps), burst) => Some((rps, burst.map_or_else(|| default_burst(rps), clamp))),
            (None, Some(burst)) => Some((user_rps, clamp(burst))),
        }
    }

    /// Applies every rule to every value that is set.
    pub fn validate(self) -> Result<KeyLimits, ValidationError> {
        if let Some(rps) = self.rate_limit_rps {
            check_rps(rps)?;
        }
        if let Some(burst) = self.rate_limit_burst {
            check_burst(burst)?;
        }
        // The user's bounds: a key cap above its user's is allowed but never binds.
        if let Some(n) = self.max_concurrent_bots {
            check_max_concurrent_bots(n)?;
        }
        Ok(self)
    }
}

/// The burst of a key given only a rate: one second's worth, at least one request.
fn default_burst(rps: f64) -> u32 {
    // `as` saturates for floats; the rate was validated finite and positive.
    (rps.ceil() as u32).clamp(1, MAX_RATE_LIMIT_BURST as u32)
}

/// A change to a key's limits. Per field: `None` keeps it, `Some(None)` clears it (JSON `null`),
/// `Some(Some(v))` sets it.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct KeyLimitsPatch {
    pub rate_limit_rps: Option<Option<f64>>,
    pub rate_limit_burst: Option<Option<i64>>,
    pub max_concurrent_bots: Option<Option<i64>>,
}

impl KeyLimitsPatch {
    /// Whether the patch changes nothing (no field given).
    pub fn is_empty(&self) -> bool {
        self.rate_limit_rps.is_none()
            && self.rate_limit_burst.is_none()
            && self.max_concurrent_bots.is_none()
    }

    /// Applies the rules of [`KeyLimits::validate`] to every value the patch sets. Each field
    /// stands alone (see the defaults on [`KeyLimits`]), so any valid patch of a valid key
    /// yields a valid key.
    pub fn validate(self) -> Result<KeyLimitsPatch, ValidationError> {
        KeyLimits {
            rate_limit_rps: self.rate_limit_rps.flatten(),
            rate_limit_burst: self.rate_limit_burst.flatten(),
            max_concurrent_bots: self.max_concurrent_bots.flatten(),
        }
        .validate()?;
        Ok(self)
    }

    /// The limits after this patch.
    pub fn apply_to(&self, current: KeyLimits) -> KeyLimits {
        KeyLimits {
            rate_limit_rps: self.rate_limit_rps.unwrap_or(current.rate_limit_rps),
            rate_limit_burst: self.rate_limit_burst.unwrap_or(current.rate_limit_burst),
            max_concurrent_bots: self
                .max_concurrent_bots
                .unwrap_or(current.max_concurrent_bots),
        }
    }
}

fn check_rps(rps: f64) -> Result<(), ValidationError> {
    if !(rps.is_finite() && rps > 0.0 && rps <= MAX_RATE_LIMIT_RPS) {
        return Err(ValidationError::new(
            "rate_limit_rps",
            format!("rate_limit_rps must be a number above 0 and at most {MAX_RATE_LIMIT_RPS}"),
        ));
    }
    Ok(())
}

fn check_burst(burst: i64) -> Result<(), ValidationError> {
    if !(1..=MAX_RATE_LIMIT_BURST).contains(&burst) {
        return Err(ValidationError::new(
            "rate_limit_burst",
            format!("rate_limit_burst must be an integer between 1 and {MAX_RATE_LIMIT_BURST}"),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::user::MAX_CONCURRENT_BOTS_LIMIT;

    fn limits(rps: Option<f64>, burst: Option<i64>, bots: Option<i64>) -> KeyLimits {
        KeyLimits {
            rate_limit_rps: rps,
            rate_limit_burst: burst,
            max_concurrent_bots: bots,
        }
    }

    #[test]
    fn out_of_range_values_are_refused_by_field() {
        for rps in [0.0, -1.0, f64::NAN, f64::INFINITY, MAX_RATE_LIMIT_RPS * 2.0] {
            let e = limits(Some(rps), None, None).validate().expect_err("rps");
            assert_eq!(e.field, "rate_limit_rps", "{rps}");
        }
        for burst in [0, -3, MAX_RATE_LIMIT_BURST + 1] {
            let e = limits(None, Some(burst), None)
                .validate()
                .expect_err("burst");
            assert_eq!(e.field, "rate_limit_burst", "{burst}");
        }
        for bots in [-1, MAX_CONCURRENT_BOTS_LIMIT + 1] {
            let e = limits(None, None, Some(bots)).validate().expect_err("bots");
            assert_eq!(e.field, "max_concurrent_bots", "{bots}");
        }
        assert!(limits(Some(0.5), Some(1), Some(0)).validate().is_ok());
    }

    #[test]
    fn the_bucket_defaults_to_one_second_of_burst_or_the_user_rate() {
        assert_eq!(KeyLimits::NONE.rate(40.0), None);
        assert_eq!(limits(Some(2.5), None, None).rate(40.0), Some((2.5, 3)));
        assert_eq!(limits(Some(0.1), None, None).rate(40.0), Some((0.1, 1)));
        assert_eq!(limits(None, Some(5), None).rate(40.0), Some((40.0, 5)));
        assert_eq!(limits(Some(1.0), Some(7), None).rate(40.0), Some((1.0, 7)));
        assert!(!limits(None, None, Some(1)).has_rate_limit());
    }

    #[test]
    fn a_patch_keeps_absent_fields_clears_nulls_and_sets_values() {
        let current = limits(Some(5.0), Some(10), Some(2));
        let patch = KeyLimitsPatch {
            rate_limit_rps: Some(Some(1.0)),
            rate_limit_burst: Some(None),
            max_concurrent_bots: None,
        };
        assert_eq!(patch.apply_to(current), limits(Some(1.0), None, Some(2)));
        assert!(KeyLimitsPatch::default().is_empty());
        let bad = KeyLimitsPatch {
            rate_limit_burst: Some(Some(0)),
            ..KeyLimitsPatch::default()
        };
        assert!(bad.validate().is_err());
    }
}
