//! vexa-store's integration tests, as one test binary: every suite runs on SQLite and on
//! PostgreSQL (`on_both_backends!`; the PostgreSQL half fails, never skips, when the server at
//! `VEXA_TEST_PG_URL` is down).
//!
//! - `identity`: the identity store's contract;
//! - `meetings`: the meetings store's rules under concurrency;
//! - `rotation`: rotation's one transaction, concurrent rotations, the events it records;
//! - `smoke`: both backends open and migrate, also many pools at once;
//! - `watch`: the identity-event follower sees other processes' changes promptly.

mod identity;
mod meetings;
mod rotation;
mod smoke;
mod watch;
