//! Per-request observability: `X-Request-Id` (kept from the client or minted), one log line
//! per request and the request counter. Logs the matched route, never headers or bodies, so
//! neither the admin token nor a minted key can reach a log.

use std::time::Instant;

use axum::extract::{MatchedPath, Request};
use axum::http::HeaderValue;
use axum::middleware::Next;
use axum::response::Response;

pub const REQUEST_ID: &str = "x-request-id";
const MAX_REQUEST_ID_LEN: usize = 128;

/// Wraps every request: request id in and out, one log line, metrics.
pub async fn observe(mut req: Request, next: Next) -> Response {
    let started = Instant::now();
    let request_id = client_request_id(&req).unwrap_or_else(mint_request_id);
    if let Ok(v) = HeaderValue::from_str(&request_id) {
        req.headers_mut().insert(REQUEST_ID, v);
    }
    let method = req.method().as_str().to_owned();
    // Unmatched paths share one label so scanners cannot blow up metric cardinality.
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |p| p.as_str().to_owned());

    let mut res = next.run(req).await;

    if let Ok(v) = HeaderValue::from_str(&request_id) {
        res.headers_mut().insert(REQUEST_ID, v);
    }
    let status = res.status().as_u16();
    let elapsed = started.elapsed();
    metrics::counter!(
        "vexa_admin_requests_total",
        "method" => method.clone(),
        "route" => route.clone(),
        "status" => status.to_string()
    )
    .increment(1);
    metrics::histogram!("vexa_admin_request_duration_seconds", "route" => route.clone())
        .record(elapsed.as_secs_f64());
    tracing::info!(
        method = %method,
        route = %route,
        status,
        latency_ms = elapsed.as_secs_f64() * 1000.0,
        request_id = %request_id,
        "admin request"
    );
    res
}

/// The client's id when it is short, visible ASCII (anything else could forge log lines).
fn client_request_id(req: &Request) -> Option<String> {
    let v = req.headers().get(REQUEST_ID)?.to_str().ok()?;
    let ok =
        !v.is_empty() && v.len() <= MAX_REQUEST_ID_LEN && v.bytes().all(|b| b.is_ascii_graphic());
    ok.then(|| v.to_owned())
}

fn mint_request_id() -> String {
    format!("{:032x}", rand::random::<u128>())
}
