//! Test doubles of the ORIGINAL Vexa 0.12 services a drop-in gateway forwards to. Each is a real
//! HTTP server on 127.0.0.1:0 that records what it receives and answers the way the original
//! service does (per `reference/vexa-gateway-identity.md`):
//! - [`RecordingDouble`]s of the meeting-api, the identity service's user tier, the agent-api and
//!   MCP record every request (method, path, query, headers, body) and answer JSON by default, SSE
//!   on the agent's streaming legs, a long-lived stream on the MCP GET relay, `206` with
//!   `Content-Range` on a recording download asked with `Range`, and the meeting-api's
//!   `/ws/authorize-subscribe` as the original (the meetings a fixture table says the caller owns);
//! - [`OriginalIdentityDouble`] answers the identity service's `/internal/validate` (valid, 401,
//!   403, 500 or stalling) and counts the calls, so tests can assert the load put on the original.

pub mod identity;
pub mod recording;

pub use identity::{IdentityMode, OriginalIdentityDouble};
pub use recording::{Received, RecordingDouble};

/// The original meeting-api (`MEETING_API_URL`).
pub async fn original_meeting_api_double() -> RecordingDouble {
    RecordingDouble::start("meeting-api").await
}

/// The original identity service's user tier (admin-api `/user/*`, `ADMIN_API_URL`).
pub async fn original_admin_api_double() -> RecordingDouble {
    RecordingDouble::start("admin-api").await
}

/// The original agent-api (`AGENT_API_URL`).
pub async fn original_agent_api_double() -> RecordingDouble {
    RecordingDouble::start("agent-api").await
}

/// The original MCP service (`MCP_URL`).
pub async fn original_mcp_double() -> RecordingDouble {
    RecordingDouble::start("mcp").await
}

/// Serves `router` on a fresh loopback port; returns its base URL.
async fn serve(router: axum::Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind a loopback port");
    let addr = listener.local_addr().expect("local addr");
    tokio::spawn(async move {
        let _ = axum::serve(listener, router).await;
    });
    format!("http://{addr}")
}
