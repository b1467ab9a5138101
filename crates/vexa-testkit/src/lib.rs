//! The harnesses vexa's integration tests share, so that no crate copies another's helpers.
//!
//! Each crate has one integration binary (`tests/it/main.rs`, one module per area) and takes what
//! it needs from here:
//!
//! - [`backends`]: [`TestDb`] (a fresh SQLite file or PostgreSQL database), [`Backend`] and the
//!   one [`on_both_backends!`] that runs a test once per backend;
//! - [`metrics()`]: the process's one Prometheus recorder, installed on first use;
//! - [`logs::capture_logs`]: what one test's thread logs, through the process's one subscriber;
//! - [`Reply`]: a response read in full, whichever client sent the request;
//! - [`keys::NewKeyBuilder`]: the stored half of a freshly minted key;
//! - [`procs`]: which bot processes are alive, through `/proc`;
//! - [`raw_http`]: bytes no HTTP library would send, and the keep-alive check after a refusal;
//! - [`original`]: test doubles of the ORIGINAL Vexa's services, named as such: recording doubles
//!   of the meeting-api, agent-api, MCP and the identity service's user tier, and the identity
//!   service's `/internal/validate`, for the drop-in gateway suites;
//! - [`openapi`]: a served OpenAPI document checked against the official 3.1 JSON Schema, and
//!   the "no external asset" check of a `/docs` page;
//! - [`stack`]: the real `vexa` binary as child processes (`StackEnv`, `UpProcess`, [`Stack`]);
//! - the shared secrets ([`ADMIN_TOKEN`], [`INTERNAL_SECRET`]).
//!
//! Nothing here is built into a release artefact (`publish = false`, dev-dependency only). It
//! never sets environment variables or installs process-wide state other than the recorder and
//! the log subscriber (each installed once, each per-test by construction), so
//! the tests of one binary stay independent of each other.
//!
//! `TestDb` itself lives in `vexa-store` behind its `testing` feature and is re-exported here:
//! vexa-store's own tests need it, and a copy of it here would be a second `vexa_store` crate
//! whose `Db` is not the one the tests hold.

pub mod backends;
pub mod keys;
pub mod logs;
mod metrics;
pub mod openapi;
pub mod original;
pub mod procs;
pub mod raw_http;
mod reply;
pub mod stack;

pub use backends::{Backend, TestDb};
pub use metrics::metrics;
pub use reply::Reply;
pub use stack::{Stack, StackEnv, UpProcess};

/// The admin token every test stack and in-process admin API is configured with.
pub const ADMIN_TOKEN: &str = "test-admin-token-0123456789";

/// The gateway → meetings shared secret of every test configuration.
pub const INTERNAL_SECRET: &str = "test-internal-secret-0123456789";

/// A proptest runner with `default_cases` cases, raised by `PROPTEST_CASES` (as
/// `scripts/fuzz.sh` does), and no failure persistence (the tests run from any directory).
pub fn proptest_runner(default_cases: u32) -> proptest::test_runner::TestRunner {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default_cases);
    proptest::test_runner::TestRunner::new(proptest::test_runner::Config {
        cases,
        failure_persistence: None,
        ..proptest::test_runner::Config::default()
    })
}
