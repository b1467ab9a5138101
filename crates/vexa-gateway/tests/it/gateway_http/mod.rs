//! Specification of the gateway's HTTP behaviour, black-box over loopback: a real
//! `Gateway::serve`, an `EchoUpstream`, a real HTTP client; every test on both backends.
//!
//! - `routing`: what is answered locally or refused before any key is looked at;
//! - `keys`: authentication, expiry, revocation, store outages, last-used write-behind;
//! - `proxying`: identity injection, request ids, body limits, upstream faults, streaming;
//! - `limits`: the per-user limiter and the edge guard as a client sees them;
//! - `upstream_conns`: upstream connections pinned per client connection, reused, replaced.

mod keys;
mod limits;
mod per_core;
mod proxying;
mod routing;
mod upstream_conns;
