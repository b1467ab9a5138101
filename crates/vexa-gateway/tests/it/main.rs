//! vexa-gateway's integration tests, as one test binary: black-box over loopback against a real
//! `Gateway::serve` and an echo upstream, plus the limiter specifications. Suites marked "both"
//! run on SQLite and on PostgreSQL (`on_both_backends!`).
//!
//! - `abuse`: the public front door under attack (fuzzed headers, spoofed identity, path tricks,
//!   floods, slow clients, oversized inputs);
//! - `dropin`: the gateway in front of recording doubles of the original Vexa services (both);
//! - `gateway_http`: the HTTP behaviour of the contract (both);
//! - `gateway_ws`: the `/ws` relay and its 4401 closes (both);
//! - `imported_keys`: keys imported from an original Vexa on the store path (both);
//! - `identity_vexa`: `IDENTITY_SOURCE=vexa` against the original identity service's double;
//! - `limit_client_ip`, `limit_edge`, `limit_redis`, `limit_user`: client address resolution, the
//!   per-IP edge guard, the Redis-shared and the in-process per-user buckets;
//! - `support`: the harness (a gateway on port 0, the echo upstream, an observable store).
//!
//! The gateways of all these tests record into the testkit's one recorder, so metric assertions
//! check that a series exists, never a count.

mod abuse;
mod dropin;
mod gateway_http;
mod gateway_ws;
mod identity_vexa;
mod imported_keys;
mod limit_client_ip;
mod limit_edge;
mod limit_redis;
mod limit_user;
mod openapi;
mod support;
