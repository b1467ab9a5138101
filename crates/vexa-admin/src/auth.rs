//! The admin-token gate in front of every `/admin/*` route. Runs before any extractor, so a
//! wrong token is a 403 whatever the body, path or query look like.

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use vexa_core::AdminToken;
use vexa_http::answer_after_body;
use vexa_http::headers::X_ADMIN_API_KEY;

use crate::error::AdminError;

/// Lets the request through only with the right `X-Admin-API-Key` (compared in constant time,
/// as raw bytes so non-UTF-8 values are simply wrong, never an error).
pub async fn require_admin(State(token): State<AdminToken>, req: Request, next: Next) -> Response {
    let presented = req
        .headers()
        .get(X_ADMIN_API_KEY)
        .map(|v| v.as_bytes())
        .unwrap_or_default();
    if token.verify(presented) {
        next.run(req).await
    } else {
        count_refused("api");
        answer_after_body(req, AdminError::Forbidden.into_response()).await
    }
}

/// Counts one refused admin token, whichever door it was tried at (`api`: the
/// `X-Admin-API-Key` header, `console`: the console's sign-in form), so guessing through the
/// console shows up exactly where guessing through the API does.
pub fn count_refused(surface: &'static str) {
    metrics::counter!("vexa_admin_auth_refusals_total", "surface" => surface).increment(1);
}
