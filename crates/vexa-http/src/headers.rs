//! Header names of the contract between the gateway and the services behind it (CONTRACT §4,
//! §8). The gateway sets them, the services read them: both sides use these constants, so a
//! rename is one edit and a typo is a compile error.

use http::HeaderName;

/// The caller's API key (client → gateway; gateway → admin domain only).
pub const X_API_KEY: HeaderName = HeaderName::from_static("x-api-key");
/// The admin token (client → admin API).
pub const X_ADMIN_API_KEY: HeaderName = HeaderName::from_static("x-admin-api-key");
/// Correlation id, kept from the client when sane (see [`crate::request_id`]), echoed on every
/// response.
pub const X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");
/// The original's trace id header, sent beside `X-Request-Id` with the same value.
pub const X_TRACE_ID: HeaderName = HeaderName::from_static("x-trace-id");
/// Shared secret proving a request comes from the gateway (or another trusted service).
pub const X_INTERNAL_SECRET: HeaderName = HeaderName::from_static("x-internal-secret");

/// The resolved user's id.
pub const X_USER_ID: HeaderName = HeaderName::from_static("x-user-id");
/// The resolved user's email.
pub const X_USER_EMAIL: HeaderName = HeaderName::from_static("x-user-email");
/// The key's scopes, comma-separated (`bot,tx`).
pub const X_USER_SCOPES: HeaderName = HeaderName::from_static("x-user-scopes");
/// The user's `max_concurrent_bots` (a bare integer, or JSON from newer gateways).
pub const X_USER_LIMITS: HeaderName = HeaderName::from_static("x-user-limits");
/// Workspaces of the user, comma-separated (original deployments with memberships).
pub const X_USER_WORKSPACES: HeaderName = HeaderName::from_static("x-user-workspaces");
/// The user's webhook settings, as the original meeting-api copies them onto a meeting.
pub const X_USER_WEBHOOK_URL: HeaderName = HeaderName::from_static("x-user-webhook-url");
pub const X_USER_WEBHOOK_SECRET: HeaderName = HeaderName::from_static("x-user-webhook-secret");
pub const X_USER_WEBHOOK_EVENTS: HeaderName = HeaderName::from_static("x-user-webhook-events");
/// The id of the key that authenticated the request.
pub const X_KEY_ID: HeaderName = HeaderName::from_static("x-key-id");
/// The key's own `max_concurrent_bots` (a bare integer), when it has one: bots started with the
/// key count against it, inside the user's cap. Sent to our own meetings service only.
pub const X_KEY_MAX_CONCURRENT_BOTS: HeaderName =
    HeaderName::from_static("x-key-max-concurrent-bots");
/// The signed identity token newer Vexa services verify.
pub const X_VEXA_IDENTITY: HeaderName = HeaderName::from_static("x-vexa-identity");
