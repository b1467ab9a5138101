//! vexa-admin's integration tests, as one test binary. Suites marked "both" run on SQLite and
//! on PostgreSQL (`on_both_backends!`).
//!
//! - `audit`: one audit entry per mutation, no secret in it, the listing's filters and paging,
//!   entries outliving their user (both);
//! - `console`: the admin console over HTTP: sign-in, cookie, CSRF gate, expiry, screens (both);
//! - `edge`: the admin-token gate, body limits, contract-shaped 404/405, health, metrics,
//!   request ids, a database outage (both);
//! - `fuzz_bodies`: property tests of every body and query the API reads;
//! - `internal_validate`: the original's `POST /internal/validate` (both);
//! - `key_limits`: per-key limits at mint and by `PATCH /admin/tokens/{id}` (both);
//! - `key_events`: `key.rotated` / `key.revoked` / `key.expiring` on a real receiver: signature,
//!   body, retries, opt-out, one expiry notice across sweepers (both);
//! - `keys`: minting, listing, revoking (both);
//! - `logging`: one log line per request, never a secret;
//! - `openapi`: the document covers exactly the routes the router serves, validates as OpenAPI
//!   3.1, and `/openapi.json` and `/docs` answer over a socket without a credential (both);
//! - `rotate`: key rotation with a grace period: inheritance, grace end, 404/409, chains,
//!   bad bodies, imported keys (both);
//! - `serve`: the API over a real socket, graceful shutdown, keep-alive after a refusal;
//! - `user_webhook`: `PUT`/`GET /user/webhook` by the user's key, the settings in `data`, the
//!   reserved `data` keys PATCH refuses (both);
//! - `users`: find-or-create, lookup, paging, patch and delete (both);
//! - `support`: the harness (the router over a real store, a request builder).

mod audit;
mod console;
mod edge;
mod fuzz_bodies;
mod internal_validate;
mod key_events;
mod key_limits;
mod keys;
mod logging;
mod openapi;
mod rotate;
mod serve;
mod support;
mod user_webhook;
mod users;
