//! Metrics with handles resolved once at startup (one `Counter` per route × outcome), so the hot
//! path does an atomic add, not a registry lookup.
//!
//! `outcome` values: `valid`, `missing`, `invalid`, `expired`, `revoked`, `forbidden`,
//! `rate_limited`, `unavailable`. A key revoked through this gateway (or announced by the event
//! follower) is reported as `revoked` for an hour after its revocation; after that, or on a
//! replica that restarted since, it is reported as `invalid`.

use metrics::{Counter, Histogram};

use crate::routes;

/// How authentication and the checks around it ended for one request: the `outcome` label of
/// `vexa_gateway_requests_total` (not to be confused with a limiter's `Decision`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthOutcome {
    Valid,
    Missing,
    Invalid,
    Expired,
    Revoked,
    Forbidden,
    RateLimited,
    Unavailable,
}

const OUTCOMES: [AuthOutcome; 8] = [
    AuthOutcome::Valid,
    AuthOutcome::Missing,
    AuthOutcome::Invalid,
    AuthOutcome::Expired,
    AuthOutcome::Revoked,
    AuthOutcome::Forbidden,
    AuthOutcome::RateLimited,
    AuthOutcome::Unavailable,
];

impl AuthOutcome {
    pub const fn as_str(self) -> &'static str {
        match self {
            AuthOutcome::Valid => "valid",
            AuthOutcome::Missing => "missing",
            AuthOutcome::Invalid => "invalid",
            AuthOutcome::Expired => "expired",
            AuthOutcome::Revoked => "revoked",
            AuthOutcome::Forbidden => "forbidden",
            AuthOutcome::RateLimited => "rate_limited",
            AuthOutcome::Unavailable => "unavailable",
        }
    }

    const fn index(self) -> usize {
        self as usize
    }
}

pub struct Metrics {
    requests: Vec<[Counter; OUTCOMES.len()]>,
    duration: Vec<Histogram>,
}

impl Metrics {
    pub fn new() -> Self {
        let requests = (0..routes::INDEX_COUNT)
            .map(|i| {
                let route = routes::template(i);
                OUTCOMES.map(|o| metrics::counter!("vexa_gateway_requests_total", "route" => route, "outcome" => o.as_str()))
            })
            .collect();
        let duration = (0..routes::INDEX_COUNT)
            .map(|i| metrics::histogram!("vexa_gateway_request_duration_seconds", "route" => routes::template(i)))
            .collect();
        Metrics { requests, duration }
    }

    pub fn count(&self, route: routes::RouteIndex, outcome: AuthOutcome) {
        if let Some(row) = self.requests.get(route) {
            row[outcome.index()].increment(1);
        }
    }

    pub fn observe(&self, route: routes::RouteIndex, secs: f64) {
        if let Some(h) = self.duration.get(route) {
            h.record(secs);
        }
    }
}
