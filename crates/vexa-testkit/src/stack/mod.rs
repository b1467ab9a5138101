//! The real `vexa` binary as child processes on free loopback ports, each stack with its own
//! data directory and database: the black-box harness of the binary's integration tests.
//!
//! - [`StackEnv`]: the environment of one stack (ports, data dir, database, secrets) and the
//!   `vexa` commands run with it;
//! - [`UpProcess`], [`start_up`], [`wait_ok`], [`sigterm`]: server processes and their health;
//! - [`mint`], [`auth_me_status`]: the admin API and the gateway as a client sees them;
//! - [`Stack`]: one running stack with a client, for the bot end-to-end suites;
//! - [`server_logs`], [`bot_logs`]: what the processes wrote, for assertions and diagnostics.
//!
//! The binary's path comes from the calling test (`env!("CARGO_BIN_EXE_vexa")` exists only when
//! an integration test of the `vexa` crate is compiled).

mod api;
mod env;
mod harness;
mod logs;
mod process;

use std::path::Path;
use std::time::Duration;

pub use api::{auth_me_status, mint};
pub use env::{free_port, StackEnv};
pub use harness::{Stack, Ws};
pub use logs::{bot_logs, server_logs};
pub use process::{sigterm, start_up, wait_ok, UpProcess};

use crate::{Backend, TestDb};

/// How long a stack may take to reach a state: generous, two cores are shared by several
/// builds and test runs.
pub const WAIT: Duration = Duration::from_secs(30);

/// A fresh database URL on `backend`: a SQLite file in `dir`, or a new PostgreSQL database.
pub async fn database_url(backend: Backend, dir: &Path) -> String {
    match backend {
        Backend::Sqlite => format!("sqlite://{}", dir.join("vexa.db").display()),
        Backend::Postgres => TestDb::postgres().await.url,
    }
}
