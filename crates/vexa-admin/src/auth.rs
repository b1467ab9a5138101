//! The gates: the admin token in front of every `/admin/*` route, and the user's own key
//! (`X-API-Key`, which the gateway forwards to the admin domain) in front of `/user/*`. Both run
//! before any extractor, so a refused caller is refused whatever the body, path or query look
//! like.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use vexa_core::AdminToken;
use vexa_http::answer_after_body;
use vexa_http::headers::{X_ADMIN_API_KEY, X_API_KEY};

use crate::error::AdminError;
use crate::service::AdminService;

/// Lets a `/user/*` request through only with a live key of an existing user holding a scope
/// the route accepts; the key's [`vexa_core::Principal`] goes into the request's extensions.
/// One indexed lookup by digest, no write (the user tier does not record last use, as in the
/// original).
pub async fn require_user_key(
    State(service): State<Arc<AdminService>>,
    mut req: Request,
    next: Next,
) -> Response {
    let verdict = match req.headers().get(X_API_KEY) {
        None => Err(AdminError::MissingApiKey),
        // A value that is not text is no key of ours.
        Some(v) => match v.to_str() {
            Ok(raw) if !raw.is_empty() => service.authenticate_user(raw).await,
            Ok(_) => Err(AdminError::MissingApiKey),
            Err(_) => Err(AdminError::InvalidApiKey),
        },
    };
    match verdict {
        Ok(principal) => {
            req.extensions_mut().insert(principal);
            next.run(req).await
        }
        Err(refusal) => answer_after_body(req, refusal.into_response()).await,
    }
}

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
