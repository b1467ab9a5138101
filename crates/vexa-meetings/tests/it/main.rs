//! vexa-meetings' integration tests, as one test binary: the real service on a loopback port
//! over a fresh database, the mock bot binary as `BOT_COMMAND`. Suites marked "both" run on
//! SQLite and on PostgreSQL (`on_both_backends!`).
//!
//! - `api`: the public API's rules (trust, validation, 409/429 under concurrency, isolation,
//!   plans, metadata, deletion, webhooks) (both);
//! - `bot_lifecycle`: real bots from start to stop, crash, rejection, config updates (both);
//! - `http_edge`: the body limit's JSON 413, `{"detail"}` for malformed input, JSON 404/405,
//!   `X-Request-Id` (both);
//! - `protocol`: the bot protocol driven by hand (FSM rules, segment upserts, hard stop) (both);
//! - `support`: the harness (the service on port 0, a client that speaks as the gateway).
//!
//! Bot processes are found through `/proc` by this server's callback port, so tests running in
//! parallel never see each other's bots.

mod api;
mod bot_lifecycle;
mod http_edge;
mod protocol;
mod support;
