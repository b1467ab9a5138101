//! The rows of the route table: every (method, template) pair of the original Vexa 0.12 gateway
//! (reference `vexa-gateway-identity.md` §3.4–3.5) plus this product's own (`/metrics`,
//! `/browser/*`), each naming its domain, its accepted scopes, its upstream path when the
//! original rewrites it, its streaming leg and whether our own services implement it.
//!
//! Where the contract decides otherwise than the original, the contract wins: bot keys read
//! meetings and transcripts (`GET /meetings`, `/meetings/{id}`, `/transcripts/…`).

use vexa_core::Scope;

use super::{Access, Domain, Leg, Methods, Ours, Route, Target};

const BOT: &[Scope] = &[Scope::Bot];
const TX: &[Scope] = &[Scope::Tx];
const BOT_OR_TX: &[Scope] = &[Scope::Bot, Scope::Tx];
const BROWSER: &[Scope] = &[Scope::Browser];

const M: Target = Target::Forward(Domain::Meetings);
const A: Target = Target::Forward(Domain::Admin);
const AGENT: Target = Target::Forward(Domain::Agent);
const MCP: Target = Target::Forward(Domain::Mcp);

/// A row forwarded as is, streamed both ways, that our own service implements.
const fn r(methods: Methods, template: &'static str, access: Access, target: Target) -> Route {
    Route {
        methods,
        template,
        access,
        target,
        upstream: None,
        leg: Leg::Plain,
        ours: Ours::Same,
    }
}

const fn one(m: &'static str) -> Methods {
    Methods::One(m)
}

const fn set(ms: &'static [&'static str]) -> Methods {
    Methods::Set(ms)
}

const fn s(scopes: &'static [Scope]) -> Access {
    Access::Scopes(scopes)
}

impl Route {
    /// The original sends this row to `path` on its domain.
    const fn to(mut self, path: &'static str) -> Route {
        self.upstream = Some(path);
        self
    }

    /// Our own meetings service (and admin API) do not implement this row: with
    /// `MEETINGS_API_KIND=ours` it answers 404 instead of being forwarded to a 404 or a 502.
    const fn not_ours(mut self) -> Route {
        self.ours = Ours::Missing;
        self
    }

    const fn leg(mut self, leg: Leg) -> Route {
        self.leg = leg;
        self
    }
}

/// The table, first match wins (literal rows come before parameter rows they overlap).
pub const ROUTES: &[Route] = &[
    // Answered by the gateway itself.
    r(one("GET"), "/health", Access::Public, Target::Health),
    r(one("GET"), "/metrics", Access::Public, Target::Metrics),
    // The API reference, open as the original's FastAPI serves it.
    r(one("GET"), "/openapi.json", Access::Public, Target::OpenApi),
    r(one("GET"), "/docs", Access::Public, Target::Docs),
    r(one("GET"), "/docs/{file}", Access::Public, Target::Docs),
    r(one("GET"), "/auth/me", Access::AnyKey, Target::AuthMe),
    r(one("GET"), "/ws", Access::AnyKey, Target::WebSocket),
    // Bots.
    r(one("POST"), "/bots", s(BOT), M),
    r(one("GET"), "/bots", s(BOT), M),
    r(one("GET"), "/bots/status", s(BOT), M),
    r(
        one("DELETE"),
        "/bots/{platform}/{native_meeting_id}",
        s(BOT),
        M,
    ),
    r(
        one("PUT"),
        "/bots/{platform}/{native_meeting_id}/config",
        s(BOT),
        M,
    ),
    r(
        one("POST"),
        "/bots/{platform}/{native_meeting_id}/speak",
        s(BOT),
        M,
    )
    .not_ours(),
    r(
        one("GET"),
        "/bots/{platform}/{native_meeting_id}/chat",
        s(BOT),
        M,
    )
    .not_ours(),
    // Meetings (the contract: bot keys read them).
    r(one("GET"), "/meetings", s(BOT_OR_TX), M),
    r(one("POST"), "/meetings", s(TX), M),
    r(one("GET"), "/meetings/{id}", s(BOT_OR_TX), M),
    r(one("PATCH"), "/meetings/{id}", s(TX), M),
    r(one("DELETE"), "/meetings/{id}", s(TX), M),
    r(
        one("PATCH"),
        "/meetings/{platform}/{native_meeting_id}",
        s(TX),
        M,
    ),
    r(
        one("DELETE"),
        "/meetings/{platform}/{native_meeting_id}",
        s(TX),
        M,
    ),
    r(
        one("PUT"),
        "/meetings/{platform}/{native_meeting_id}/intent",
        s(TX),
        M,
    )
    .not_ours(),
    r(
        one("POST"),
        "/meetings/{platform}/{native_meeting_id}/share",
        s(TX),
        M,
    )
    .not_ours(),
    r(
        one("POST"),
        "/meetings/{platform}/{native_meeting_id}/workspace",
        s(TX),
        M,
    )
    .not_ours(),
    // Transcripts (the contract: bot keys read them).
    r(one("GET"), "/transcripts/by-id/{id}", s(BOT_OR_TX), M),
    r(one("POST"), "/transcripts/share/accept", s(TX), M).not_ours(),
    r(
        one("GET"),
        "/transcripts/{platform}/{native_meeting_id}",
        s(BOT_OR_TX),
        M,
    ),
    r(
        one("POST"),
        "/transcripts/{platform}/{native_meeting_id}/share",
        s(TX),
        M,
    )
    .to("/meetings/{platform}/{native_meeting_id}/share")
    .not_ours(),
    // Recordings; `download` is the original's alias of `raw`. Range requests pass through.
    r(one("GET"), "/recordings", s(BOT_OR_TX), M).not_ours(),
    r(one("GET"), "/recordings/{recording_id}", s(BOT_OR_TX), M).not_ours(),
    r(one("DELETE"), "/recordings/{recording_id}", s(BOT), M).not_ours(),
    r(
        one("GET"),
        "/recordings/{recording_id}/master",
        s(BOT_OR_TX),
        M,
    )
    .not_ours(),
    r(
        one("GET"),
        "/recordings/{recording_id}/media/{media_file_id}/raw",
        s(BOT_OR_TX),
        M,
    )
    .not_ours(),
    r(
        one("GET"),
        "/recordings/{recording_id}/media/{media_file_id}/download",
        s(BOT_OR_TX),
        M,
    )
    .to("/recordings/{recording_id}/media/{media_file_id}/raw")
    .not_ours(),
    // Calendars: settings live in the identity service (admin domain), syncing in meeting-api.
    // `{calendar_id}` is re-encoded on the way (see `upstream_path`).
    r(set(&["GET", "PUT"]), "/user/calendar", s(BOT), A).not_ours(),
    r(set(&["GET", "POST"]), "/user/calendar/sync", s(BOT), M).not_ours(),
    r(set(&["GET", "POST"]), "/user/calendars", s(BOT), A).not_ours(),
    r(
        set(&["PATCH", "DELETE"]),
        "/user/calendars/{calendar_id}",
        s(BOT),
        A,
    )
    .not_ours(),
    r(
        set(&["GET", "POST"]),
        "/user/calendars/{calendar_id}/sync",
        s(BOT),
        M,
    )
    .not_ours(),
    // User settings. The identity service serves `/user/webhook` (the settings live in the
    // user's `data`), the original's and ours alike.
    r(set(&["GET", "PUT"]), "/user/webhook", s(BOT_OR_TX), A),
    r(one("GET"), "/user/webhook/deliveries", s(BOT_OR_TX), M)
        .to("/webhooks/deliveries")
        .not_ours(),
    r(set(&["GET", "PUT"]), "/user/models", s(BOT_OR_TX), A).not_ours(),
    r(set(&["GET", "PUT"]), "/user/transcription", s(BOT_OR_TX), A).not_ours(),
    // The agent API: `/agent/{path}` is its `/api/{path}`; two legs are SSE.
    r(one("POST"), "/agent/chat", s(BOT_OR_TX), AGENT)
        .to("/api/chat")
        .leg(Leg::Sse),
    r(one("GET"), "/agent/meeting/stream", s(BOT_OR_TX), AGENT)
        .to("/api/meeting/stream")
        .leg(Leg::Sse),
    r(
        set(&["GET", "POST", "PUT", "PATCH", "DELETE"]),
        "/agent/*",
        s(BOT_OR_TX),
        AGENT,
    )
    .to("/api/*"),
    // MCP: keys also in `Authorization`; the GET leg is a long-lived streamed relay.
    r(one("GET"), "/mcp/*", s(BOT_OR_TX), MCP).leg(Leg::Relay),
    r(
        set(&["POST", "PUT", "PATCH", "DELETE", "OPTIONS"]),
        "/mcp/*",
        s(BOT_OR_TX),
        MCP,
    ),
    // This product's browser sessions.
    r(
        Methods::Any,
        "/browser/*",
        s(BROWSER),
        Target::Forward(Domain::Browser),
    ),
];

/// Only present when the gateway proxies the admin API (`GATEWAY_ADMIN_PROXY=true`).
pub const ADMIN_ROUTE: Route = r(
    Methods::Any,
    "/admin/*",
    Access::Passthrough,
    Target::Passthrough,
);
