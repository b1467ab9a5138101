//! Test doubles of the ORIGINAL Vexa 0.12 services a drop-in gateway forwards to. Each is a real
//! HTTP server on 127.0.0.1:0 that records every request it receives (method, path, query,
//! headers, body) and answers the way the original service's leg does: JSON by default, SSE on
//! the agent's streaming legs, a long-lived stream on the MCP GET relay, `206` with
//! `Content-Range` on a recording download asked with `Range`.

pub mod recording;

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
