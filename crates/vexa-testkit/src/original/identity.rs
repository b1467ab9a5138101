//! `original_identity_double`: the original Vexa identity service's (admin-api)
//! `POST /internal/validate`, as the original gateway calls it.
//!
//! It answers as the original: `X-Internal-Secret` wrong or missing → 403; no `token` → 401;
//! unknown token → 401 `Invalid token`; a known one → 200 with the identity. A switchable
//! [`IdentityMode`] makes it fail (500), refuse everything (403), or stall, and an optional delay
//! slows every answer. It counts the calls it got (the load the gateway put on it).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use axum::{Json, Router};
use serde_json::{json, Value};

/// How the double answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IdentityMode {
    /// As the original: 200 for a known token, 401 otherwise.
    Answer,
    /// 403 to everything (the original with a different `INTERNAL_API_SECRET`).
    Forbidden,
    /// 500 to everything.
    Fail,
    /// Never answers (holds the request for an hour).
    Stall,
}

struct Inner {
    secret: String,
    tokens: Mutex<HashMap<String, Value>>,
    mode: Mutex<IdentityMode>,
    delay: Mutex<Duration>,
    calls: AtomicU64,
}

/// A running double of the original identity service.
#[derive(Clone)]
pub struct OriginalIdentityDouble {
    /// Its base URL (`ADMIN_API_URL` for the gateway).
    pub url: String,
    inner: Arc<Inner>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl OriginalIdentityDouble {
    /// Starts the double; it requires `X-Internal-Secret: secret`.
    pub async fn start(secret: &str) -> OriginalIdentityDouble {
        let inner = Arc::new(Inner {
            secret: secret.to_owned(),
            tokens: Mutex::new(HashMap::new()),
            mode: Mutex::new(IdentityMode::Answer),
            delay: Mutex::new(Duration::ZERO),
            calls: AtomicU64::new(0),
        });
        let router = Router::new()
            .route("/internal/validate", post(validate))
            .with_state(inner.clone());
        OriginalIdentityDouble {
            url: super::serve(router).await,
            inner,
        }
    }

    /// Adds a token row (any string: the original's tokens have no checksum) for `user_id`.
    pub fn add_token(&self, token: &str, user_id: i64, scopes: &[&str], max_concurrent: i64) {
        let identity = json!({
            "user_id": user_id,
            "scopes": scopes,
            "max_concurrent": max_concurrent,
            "email": format!("user{user_id}@original.test"),
            "is_admin": false,
        });
        lock(&self.inner.tokens).insert(token.to_owned(), identity);
    }

    /// Deletes the token row, as the original's `DELETE /admin/tokens/{id}` does.
    pub fn revoke(&self, token: &str) {
        lock(&self.inner.tokens).remove(token);
    }

    pub fn set_mode(&self, mode: IdentityMode) {
        *lock(&self.inner.mode) = mode;
    }

    /// Every answer waits this long first.
    pub fn set_delay(&self, delay: Duration) {
        *lock(&self.inner.delay) = delay;
    }

    /// `/internal/validate` calls received so far.
    pub fn calls(&self) -> u64 {
        self.inner.calls.load(Ordering::SeqCst)
    }
}

async fn validate(
    State(inner): State<Arc<Inner>>,
    headers: HeaderMap,
    body: Option<Json<Value>>,
) -> (StatusCode, Json<Value>) {
    inner.calls.fetch_add(1, Ordering::SeqCst);
    let delay = *lock(&inner.delay);
    let mode = *lock(&inner.mode);
    let delay = if mode == IdentityMode::Stall {
        Duration::from_secs(3600)
    } else {
        delay
    };
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    let detail = |status: StatusCode, d: &str| (status, Json(json!({ "detail": d })));
    match mode {
        IdentityMode::Forbidden => return detail(StatusCode::FORBIDDEN, "Forbidden"),
        IdentityMode::Fail => return detail(StatusCode::INTERNAL_SERVER_ERROR, "boom"),
        IdentityMode::Answer | IdentityMode::Stall => {}
    }
    let secret_ok = headers
        .get("x-internal-secret")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v == inner.secret);
    if !secret_ok {
        return detail(StatusCode::FORBIDDEN, "Forbidden");
    }
    let token = body
        .as_ref()
        .and_then(|Json(b)| b.get("token"))
        .and_then(Value::as_str)
        .unwrap_or("");
    if token.is_empty() {
        return detail(StatusCode::UNAUTHORIZED, "Missing token");
    }
    match lock(&inner.tokens).get(token) {
        Some(identity) => (StatusCode::OK, Json(identity.clone())),
        None => detail(StatusCode::UNAUTHORIZED, "Invalid token"),
    }
}
