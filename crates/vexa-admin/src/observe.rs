//! Per-request observability: `X-Request-Id` (kept from the client or minted, by the product's
//! one rule in `vexa_http::request_id`), one log line per request and the request counter. Logs
//! the matched route, never headers or bodies, so neither the admin token nor a minted key can
//! reach a log.

use std::time::Instant;

use axum::extract::{MatchedPath, Request};
use axum::middleware::Next;
use axum::response::Response;
use vexa_http::headers::X_REQUEST_ID;

/// Wraps every request: request id in and out, one log line, metrics.
pub async fn observe(mut req: Request, next: Next) -> Response {
    let started = Instant::now();
    let request_id = vexa_http::request_id::accept_or_mint(req.headers());
    req.headers_mut().insert(X_REQUEST_ID, request_id.clone());
    let method = req.method().as_str().to_owned();
    // Unmatched paths share one label so scanners cannot blow up metric cardinality.
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |p| p.as_str().to_owned());

    let mut res = next.run(req).await;

    res.headers_mut().insert(X_REQUEST_ID, request_id.clone());
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
        // Accepted or minted ids are plain ASCII, so the text form always exists.
        request_id = %request_id.to_str().unwrap_or_default(),
        "admin request"
    );
    res
}
