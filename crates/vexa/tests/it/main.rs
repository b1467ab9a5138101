//! The `vexa` binary's integration tests, as one test binary: black-box over loopback, the real
//! binary as child processes (`vexa up`, split roles, replicas), each stack with its own data
//! directory and database. The harness is the testkit's `stack` module.
//!
//! - `access_log`: one JSON access-log line per request, batched but never lost (both);
//! - `audit_chain`: two admin APIs on one database append one valid chain; `vexa audit verify`
//!   names an edited or deleted entry (both);
//! - `body_limits`: one body limit across gateway and meetings service, JSON 413s (both backends);
//! - `bots`: bots end to end through the gateway, one module per behaviour (both backends);
//! - `console_browser`: the admin console in headless Chromium (chromedriver), both backends;
//! - `crash_storm`: `kill -9` in the middle of mints and revocations loses no answered one (both);
//! - `dependency_faults`: PostgreSQL, Redis and the meetings upstream failing under load;
//! - `durability`: an answered mint survives `kill -9` the next instant (both);
//! - `key_limits`: per-key limits: the key's bucket inside its user's, a `PATCH` on every replica
//!   within a second, the bucket shared through Redis, a key's bot cap inside its user's;
//! - `key_usage`: usage per key, status and last client through real processes (both);
//! - `key_expiring`: one `key.expiring` notice across two admin API processes (both);
//! - `openapi`: `/openapi.json` and `/docs` of `vexa up`, on the gateway and the admin API (both);
//! - `offline_mint`: `vexa token mint` refuses and accepts exactly what the admin API does;
//! - `python_client`: wire compatibility with the official Python client;
//! - `replicas`: a revocation reaches every gateway replica within one second;
//! - `rotation`: a rotated key's grace period on two replicas, chains, the CLI (both);
//! - `secrets_at_rest`: no key, admin token or internal secret in any file the stack writes;
//! - `two_commands`: `vexa start` / `provision-token` / `stop` as `make all` runs them;
//! - `support`: the path of the binary under test.
//!
//! Each test kills only the processes it started (by handle or by its stack's data directory),
//! so the tests of this one process stay independent when they run in parallel.

mod access_log;
mod audit_chain;
mod body_limits;
mod bots;
mod console_browser;
mod crash_storm;
mod dependency_faults;
mod durability;
mod import_vexa;
mod key_expiring;
mod key_limits;
mod key_usage;
mod offline_mint;
mod openapi;
mod python_client;
mod replicas;
mod rotation;
mod secrets_at_rest;
mod support;
mod two_commands;
