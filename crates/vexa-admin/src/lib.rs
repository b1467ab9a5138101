//! The admin API (CONTRACT §3): users and API keys behind `X-Admin-API-Key`, and the original's
//! `POST /internal/validate` behind `X-Internal-Secret` (CONTRACT §9).
//!
//! `router` builds the axum app from an [`AdminState`]; `serve` runs it on a bound listener until
//! the shutdown future resolves. Storage is reached only through the `AuditedStore` port; the
//! in-process gateway cache is told about revocations through [`AdminState::on_change`], an
//! [`IdentityListener`].
//!
//! `GET /openapi.json` is the OpenAPI 3.1 document generated from the handlers'
//! `#[utoipa::path]` annotations and the wire types ([`openapi::ApiDoc`]); `GET /docs` shows it.

use std::future::Future;
use std::sync::Arc;

use std::net::SocketAddr;

use vexa_core::{AdminToken, AuditedStore, Clock, IdentityListener};

mod auth;
pub mod console;
pub mod error;
mod extract;
pub mod fleet;
pub mod internal;
pub mod key_events;
pub mod mint;
mod observe;
pub mod openapi;
mod route_list;
mod routes;
pub mod service;
pub mod validate;
pub mod wire;

pub use error::AdminError;
pub use internal::InternalApi;
pub use routes::{router, router_and_paths};

/// Everything the admin API needs from the process that runs it.
#[derive(Clone)]
pub struct AdminState {
    /// Every admin mutation goes through its audited method (CONTRACT §10).
    pub store: Arc<dyn AuditedStore>,
    pub clock: Arc<dyn Clock>,
    /// Largest request body read: the gateway's `MAX_BODY_BYTES` (default
    /// [`vexa_http::DEFAULT_MAX_BODY_BYTES`]), so a body the gateway forwards is never refused here.
    pub max_body_bytes: u64,
    pub admin_token: AdminToken,
    pub metrics: metrics_exporter_prometheus::PrometheusHandle,
    /// Told synchronously after a revoke, user delete or user patch, before the response is
    /// sent, so an in-process key cache evicts at once (`vexa_core::IgnoreChanges` when this
    /// process runs no gateway).
    pub on_change: Arc<dyn IdentityListener>,
    /// `/internal/*` (the original's `POST /internal/validate`): its secret and the last-used
    /// batcher the running process flushes.
    pub internal: InternalApi,
    /// Where `key.rotated` / `key.revoked` go (the user's webhook); never awaited by a handler.
    pub key_events: key_events::KeyEvents,
}

/// Serves `router` on `listener` until `shutdown` resolves, then lets in-flight requests finish.
/// Handlers see the peer's address (the audit log records it).
pub async fn serve(
    listener: tokio::net::TcpListener,
    router: axum::Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(
        listener,
        router.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown)
    .await
}
