//! The internal tier (`/internal/*`), as the original's admin-api has it: every route behind
//! `X-Internal-Secret`, the same `INTERNAL_API_SECRET` the gateway sends. Fail-closed: with no
//! secret configured every call is 503 (the original's `DEV_MODE` opening is not copied). The
//! gate runs before any extractor, so a wrong secret is 403 whatever the body is.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use serde_json::{Map, Value};
use subtle::ConstantTimeEq;
use vexa_core::env::Secret;
use vexa_core::last_used::LastUsed;
use vexa_http::headers::X_INTERNAL_SECRET;
use vexa_http::openapi::Detail;
use vexa_http::{answer_after_body, JsonBody};

use crate::error::AdminError;
use crate::route_list::Routes;
use crate::validate::{ValidationView, Validator};

/// What the internal tier needs from the process: the shared secret, and the write-behind
/// batcher of `last_used_at` (the process flushes it on a timer and at shutdown).
#[derive(Clone)]
pub struct InternalApi {
    /// `INTERNAL_API_SECRET` as configured; empty answers 503 to every internal call.
    pub secret: Secret,
    pub last_used: Arc<LastUsed>,
}

impl std::fmt::Debug for InternalApi {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InternalApi")
            .field("secret", &self.secret)
            .finish_non_exhaustive()
    }
}

/// The `/internal` routes (nested there by the caller), and their full paths.
pub fn router<S: Clone + Send + Sync + 'static>(
    internal: InternalApi,
    validator: Arc<Validator>,
) -> (Router<S>, Vec<String>) {
    let (routes, paths) = Routes::under("/internal")
        .route("/validate", post(validate_token))
        .finish();
    let router = routes
        .with_state(validator)
        .layer(middleware::from_fn_with_state(
            Arc::new(internal.secret),
            require_internal_secret,
        ));
    (router, paths)
}

async fn require_internal_secret(
    State(secret): State<Arc<Secret>>,
    req: Request,
    next: Next,
) -> Response {
    match check_secret(
        &secret,
        req.headers().get(X_INTERNAL_SECRET).map(|v| v.as_bytes()),
    ) {
        Ok(()) => next.run(req).await,
        Err(e) => answer_after_body(req, e.into_response()).await,
    }
}

/// Compared in constant time, as bytes (a non-ASCII header is simply wrong).
fn check_secret(secret: &Secret, given: Option<&[u8]>) -> Result<(), AdminError> {
    if secret.is_empty() {
        return Err(AdminError::InternalSecretNotConfigured);
    }
    let given = given.unwrap_or_default();
    if bool::from(given.ct_eq(secret.expose().as_bytes())) {
        Ok(())
    } else {
        Err(AdminError::InvalidInternalSecret)
    }
}

#[utoipa::path(post, path = "/internal/validate", tag = "internal",
    request_body(content = Object, description = "`{\"token\": \"<key>\"}`",
        example = json!({"token": "vxa_bot_…"})),
    responses(
        (status = 200, description = "The key's owner, in the original identity service's shape", body = ValidationView),
        (status = 401, description = "Missing token · Invalid token · Token expired", body = Detail)))]
async fn validate_token(
    State(validator): State<Arc<Validator>>,
    JsonBody(body): JsonBody<Map<String, Value>>,
) -> Result<Response, AdminError> {
    Ok(Json(validator.validate(body.get("token")).await?).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_gate_is_fail_closed() {
        let none = Secret::default();
        assert!(matches!(
            check_secret(&none, Some(b"")),
            Err(AdminError::InternalSecretNotConfigured)
        ));
        let s = Secret::from("s3cret");
        assert!(check_secret(&s, Some(b"s3cret")).is_ok());
        assert!(matches!(
            check_secret(&s, None),
            Err(AdminError::InvalidInternalSecret)
        ));
        assert!(matches!(
            check_secret(&s, Some(b"s3cre")),
            Err(AdminError::InvalidInternalSecret)
        ));
    }
}
