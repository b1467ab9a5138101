//! vexa-admin's integration tests, as one test binary. Suites marked "both" run on SQLite and
//! on PostgreSQL (`on_both_backends!`).
//!
//! - `console`: the admin console over HTTP: sign-in, cookie, CSRF gate, expiry, screens (both);
//! - `edge`: the admin-token gate, body limits, contract-shaped 404/405, health, metrics,
//!   request ids, a database outage (both);
//! - `fuzz_bodies`: property tests of every body and query the API reads;
//! - `internal_validate`: the original's `POST /internal/validate` (both);
//! - `keys`: minting, listing, revoking (both);
//! - `logging`: one log line per request, never a secret;
//! - `openapi`: the document covers exactly the routes the router serves, validates as OpenAPI
//!   3.1, and `/openapi.json` and `/docs` answer over a socket without a credential (both);
//! - `serve`: the API over a real socket, graceful shutdown, keep-alive after a refusal;
//! - `user_webhook`: `PUT`/`GET /user/webhook` by the user's key, the settings in `data`, the
//!   reserved `data` keys PATCH refuses (both);
//! - `users`: find-or-create, lookup, paging, patch and delete (both);
//! - `support`: the harness (the router over a real store, a request builder).

mod console;
mod edge;
mod fuzz_bodies;
mod internal_validate;
mod keys;
mod logging;
mod openapi;
mod serve;
mod support;
mod user_webhook;
mod users;
