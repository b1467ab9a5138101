//! Abuse of the public front door, black-box over loopback against a real `Gateway::serve` and
//! the `EchoUpstream` (which reports every header and the exact path it received):
//!
//! - header fuzzing with raw bytes (random, non-UTF-8, oversized values) on every route;
//! - spoofed identity headers (`X-User-*`, `X-Key-*`, `X-Internal-*`, any case, any suffix,
//!   repeated) on every route, never reaching the upstream, the true identity injected instead;
//! - path tricks (`..`, `%2e%2e`, encoded slashes and backslashes, control characters) on the
//!   proxied routes never reaching the upstream;
//! - a flood of garbage keys from one address: edge ban for it, another client unaffected, and
//!   not one store lookup for a malformed key (counted);
//! - slow-loris (headers sent byte by byte) cut off by the header timeout, others served meanwhile;
//! - oversized headers and bodies refused without being buffered.
//!
//! Requests go over raw TCP so that bytes no HTTP library would send can be sent. Proptest case
//! counts are small by default (`make test`); `scripts/fuzz.sh` raises them via `PROPTEST_CASES`.
//!
//! One module per bullet; this one holds what they share (the raw client is in `raw_http`).

mod flood;
mod header_bytes;
mod identity;
mod oversized;
mod paths;
pub(crate) mod raw_http;
mod slow_loris;

use std::sync::Arc;

use proptest::prelude::*;
use vexa_core::Scope;
use vexa_gateway::routes::{Methods, Target, ROUTES};

use crate::support::{concrete, config, key, start, Backend, EchoUpstream, Running, TestStore};

/// Every scope: a key that may use every route.
const ALL: &[Scope] = &[Scope::Bot, Scope::Tx, Scope::Browser];

/// Every declared row as (method, concrete path, target); `Any` rows get GET and POST.
fn concrete_routes() -> Vec<(&'static str, String, Target)> {
    let mut out = Vec::new();
    for r in ROUTES {
        let path = concrete(r.template);
        match r.methods {
            Methods::One(m) => out.push((m, path, r.target)),
            Methods::Set(ms) => {
                for m in ms {
                    out.push((*m, path.clone(), r.target));
                }
            }
            Methods::Any => {
                for m in ["GET", "POST", "DELETE"] {
                    out.push((m, path.clone(), r.target));
                }
            }
        }
    }
    out
}

/// A gateway over a fresh SQLite store on a runtime of its own, its echo, and a key with every
/// scope: the set-up of the proptest suites, which drive their requests with `block_on`.
fn gateway_on_runtime() -> (tokio::runtime::Runtime, Running, EchoUpstream, String) {
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let (gw, echo, k) = rt.block_on(async {
        let store = TestStore::new(Backend::Sqlite).await;
        let (gw, echo) = gateway(store.clone()).await;
        let k = key(&store, ALL).await;
        (gw, echo, k)
    });
    (rt, gw, echo, k)
}

/// A gateway whose every proxied upstream (meetings, browser, admin) is the echo.
async fn gateway(store: Arc<TestStore>) -> (Running, EchoUpstream) {
    let echo = EchoUpstream::start().await;
    let mut cfg = config(&echo.url);
    cfg.admin_url = Some(echo.url.parse().expect("uri"));
    cfg.admin_proxy = true;
    (start(cfg, store).await, echo)
}

/// Bytes valid in a header value: HTAB, visible ASCII, space, obs-text (non-UTF-8 included).
fn field_value(max: usize) -> impl Strategy<Value = Vec<u8>> {
    proptest::collection::vec(
        prop_oneof![
            4 => 0x21u8..=0x7e,
            1 => Just(b' '),
            1 => Just(b'\t'),
            2 => 0x80u8..=0xff,
        ],
        0..max,
    )
    .prop_map(|mut v| {
        // Leading/trailing whitespace is not part of a field value.
        while v.first().is_some_and(|b| *b == b' ' || *b == b'\t') {
            v.remove(0);
        }
        while v.last().is_some_and(|b| *b == b' ' || *b == b'\t') {
            v.pop();
        }
        v
    })
}
