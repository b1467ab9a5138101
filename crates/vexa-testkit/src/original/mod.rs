//! Test doubles of the ORIGINAL Vexa 0.12 services that vexa's gateway can front. Each is a real
//! HTTP server on 127.0.0.1:0 that answers as the original does (per
//! `reference/vexa-gateway-identity.md`) and records what it received, so tests can assert both
//! the gateway's answers and the load it put on the original.

pub mod identity;

pub use identity::{IdentityMode, OriginalIdentityDouble};

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
