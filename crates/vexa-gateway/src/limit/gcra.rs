//! The generic cell rate algorithm (GCRA) shared by both limiters: a token bucket stored as one
//! number, the theoretical arrival time (TAT) of the next request, in microseconds. Its answer is
//! a [`Verdict`] in TAT terms; each limiter turns that into its [`super::Decision`].
//!
//! Owns only arithmetic; it holds no state, knows no keys and reads no clock. All arithmetic
//! saturates so that no input time can overflow or panic.

/// Upper bound on the tolerance (burst window) so every value stays exact in the f64 numbers
/// Redis' Lua uses (2^53) even after adding `now` in microseconds (~2^51 today).
const MAX_TOLERANCE_US: i64 = 1 << 50;
/// Slowest refill we represent: one token per ~11.6 days, i.e. "practically never".
const MAX_INTERVAL_US: i64 = 1_000_000_000_000;

/// A token bucket of `burst` tokens refilled one token per `interval_us`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Gcra {
    interval_us: i64,
    burst: u32,
    tolerance_us: i64,
}

/// What the bucket says about one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// Admitted; store this new TAT.
    Allow { new_tat_us: i64 },
    /// Refused; a token is available in `wait_us`. `tat_us` is the stored TAT, which must not
    /// change, so refused requests never push a client's budget further away.
    Deny { tat_us: i64, wait_us: i64 },
}

impl Gcra {
    /// A bucket refilled at `rate_per_sec`, holding at most `burst` tokens. The interval is
    /// rounded up so rounding can only admit fewer requests, never more.
    pub(crate) fn per_second(rate_per_sec: f64, burst: u32) -> Self {
        let interval = if rate_per_sec.is_finite() && rate_per_sec > 0.0 {
            (1_000_000.0 / rate_per_sec).ceil()
        } else {
            f64::INFINITY
        };
        // `as` saturates for floats (inf -> i64::MAX); the clamp then bounds it.
        Self::with_interval(interval as i64, burst)
    }

    /// A bucket of `burst` tokens refilled one per `interval_us` microseconds.
    pub(crate) fn with_interval(interval_us: i64, burst: u32) -> Self {
        let interval_us = interval_us.clamp(1, MAX_INTERVAL_US);
        let burst = burst.max(1);
        let tolerance_us = interval_us
            .saturating_mul(i64::from(burst) - 1)
            .min(MAX_TOLERANCE_US);
        Gcra {
            interval_us,
            burst,
            tolerance_us,
        }
    }

    pub(crate) fn interval_us(&self) -> i64 {
        self.interval_us
    }

    pub(crate) fn tolerance_us(&self) -> i64 {
        self.tolerance_us
    }

    pub(crate) fn burst(&self) -> u32 {
        self.burst
    }

    /// Decides one request given the stored TAT (use `i64::MIN` for an unknown client).
    pub(crate) fn decide(&self, tat_us: i64, now_us: i64) -> Verdict {
        let base = tat_us.max(now_us);
        let ahead = base.saturating_sub(now_us);
        if ahead > self.tolerance_us {
            // `ahead > 0` here, so `base` is the stored TAT itself.
            Verdict::Deny {
                tat_us,
                wait_us: ahead - self.tolerance_us,
            }
        } else {
            Verdict::Allow {
                new_tat_us: base.saturating_add(self.interval_us),
            }
        }
    }

    /// Whole tokens left in a bucket with this TAT (rounded down).
    pub(crate) fn remaining(&self, tat_us: i64, now_us: i64) -> u32 {
        let ahead = tat_us.saturating_sub(now_us).max(0);
        let spent = ceil_div(ahead, self.interval_us);
        let spent = u32::try_from(spent).unwrap_or(u32::MAX);
        self.burst.saturating_sub(spent)
    }
}

/// Whole seconds until `us` microseconds have passed, rounded up.
pub(crate) fn secs_ceil_us(us: i64) -> u64 {
    u64::try_from(ceil_div(us.max(0), 1_000_000)).unwrap_or(0)
}

/// Ceiling division for a non-negative numerator and a positive divisor.
fn ceil_div(n: i64, d: i64) -> i64 {
    let q = n / d;
    if n % d == 0 {
        q
    } else {
        q + 1
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fresh_bucket_admits_exactly_burst_at_one_instant() {
        let g = Gcra::with_interval(100, 3);
        let mut tat = i64::MIN;
        let mut admitted = 0;
        for _ in 0..10 {
            if let Verdict::Allow { new_tat_us } = g.decide(tat, 1_000) {
                tat = new_tat_us;
                admitted += 1;
            }
        }
        assert_eq!(admitted, 3);
        assert_eq!(g.remaining(tat, 1_000), 0);
        assert_eq!(
            g.decide(tat, 1_000),
            Verdict::Deny {
                tat_us: tat,
                wait_us: 100
            }
        );
    }

    #[test]
    fn interval_is_rounded_up_and_nonsense_rates_never_refill_fast() {
        assert_eq!(Gcra::per_second(40.0, 120).interval_us(), 25_000);
        assert_eq!(Gcra::per_second(3.0, 1).interval_us(), 333_334);
        assert_eq!(Gcra::per_second(0.0, 1).interval_us(), MAX_INTERVAL_US);
        assert_eq!(Gcra::per_second(f64::NAN, 1).interval_us(), MAX_INTERVAL_US);
        assert_eq!(Gcra::per_second(-5.0, 0).burst(), 1);
    }

    #[test]
    fn extreme_times_saturate_instead_of_overflowing() {
        let g = Gcra::with_interval(MAX_INTERVAL_US, u32::MAX);
        let _ = g.decide(i64::MAX, i64::MIN);
        let _ = g.decide(i64::MIN, i64::MAX);
        let _ = g.remaining(i64::MAX, i64::MIN);
        assert_eq!(secs_ceil_us(1), 1);
        assert_eq!(secs_ceil_us(-5), 0);
        assert_eq!(secs_ceil_us(2_000_000), 2);
    }
}
