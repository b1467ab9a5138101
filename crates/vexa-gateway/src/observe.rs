//! Metrics with handles resolved once at startup (one `Counter` per route × outcome), so the hot
//! path does an atomic add, not a registry lookup.
//!
//! `outcome` values: `valid`, `missing`, `invalid`, `expired`, `revoked`, `forbidden`,
//! `rate_limited`, `unavailable`. A key revoked through this gateway (or announced by the event
//! follower) is reported as `revoked` for an hour after its revocation; after that, or on a
//! replica that restarted since, it is reported as `invalid`.

use metrics::{Counter, Histogram};

use crate::routes;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Valid,
    Missing,
    Invalid,
    Expired,
    Revoked,
    Forbidden,
    RateLimited,
    Unavailable,
}

const OUTCOMES: [Outcome; 8] = [
    Outcome::Valid,
    Outcome::Missing,
    Outcome::Invalid,
    Outcome::Expired,
    Outcome::Revoked,
    Outcome::Forbidden,
    Outcome::RateLimited,
    Outcome::Unavailable,
];

impl Outcome {
    pub const fn as_str(self) -> &'static str {
        match self {
            Outcome::Valid => "valid",
            Outcome::Missing => "missing",
            Outcome::Invalid => "invalid",
            Outcome::Expired => "expired",
            Outcome::Revoked => "revoked",
            Outcome::Forbidden => "forbidden",
            Outcome::RateLimited => "rate_limited",
            Outcome::Unavailable => "unavailable",
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

    pub fn count(&self, route: routes::RouteIndex, outcome: Outcome) {
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
