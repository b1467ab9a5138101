//! Who is calling: trusted only when the gateway's shared secret is present (compared in
//! constant time), then identified by the headers the gateway injected. The check runs as
//! middleware in front of every public route, before any extractor reads the body; a refused
//! request's body is drained so the client's keep-alive connection survives.

use axum::extract::{FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderName};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use subtle::ConstantTimeEq;
use vexa_core::meeting::BotCaps;
use vexa_core::{KeyId, UserId};
use vexa_http::answer_after_body;
use vexa_http::headers::{
    X_INTERNAL_SECRET, X_KEY_ID, X_KEY_MAX_CONCURRENT_BOTS, X_USER_ID, X_USER_LIMITS,
};

use crate::error::MeetingsError;
use crate::state::AppState;

/// The identity the gateway injected.
#[derive(Debug, Clone)]
pub struct Caller {
    pub user_id: UserId,
    /// `max_concurrent_bots`; `None` = no cap given.
    pub max_concurrent: Option<i64>,
    /// The key the request came with (`X-Key-Id`); `None` when not given or not a key of ours
    /// (the original's identity service names none: id 0).
    pub key_id: Option<KeyId>,
    /// The key's own bot cap (`X-Key-Max-Concurrent-Bots`), inside the user's.
    pub key_max_concurrent: Option<i64>,
}

/// Lets a request through only from the gateway, with the caller's identity attached.
pub async fn require_gateway(
    State(state): State<AppState>,
    mut req: Request,
    next: Next,
) -> Response {
    let verdict = identify(req.headers(), &state.cfg.internal_secret);
    match verdict {
        Ok(caller) => {
            req.extensions_mut().insert(caller);
            next.run(req).await
        }
        Err(refusal) => answer_after_body(req, refusal.into_response()).await,
    }
}

fn identify(headers: &HeaderMap, secret: &str) -> Result<Caller, MeetingsError> {
    check_secret(headers, secret)?;
    let raw = header(headers, &X_USER_ID).ok_or(MeetingsError::MissingIdentity)?;
    let id = raw
        .parse::<i64>()
        .map_err(|_| MeetingsError::InvalidIdentity)?;
    Ok(Caller {
        user_id: UserId(id),
        max_concurrent: parse_limits(header(headers, &X_USER_LIMITS)),
        key_id: header(headers, &X_KEY_ID)
            .and_then(|v| v.parse::<i64>().ok())
            .filter(|id| *id > 0)
            .map(KeyId),
        key_max_concurrent: header(headers, &X_KEY_MAX_CONCURRENT_BOTS)
            .and_then(|v| v.parse::<i64>().ok()),
    })
}

impl Caller {
    /// The caps a bot this caller starts must stay under, and the key it is recorded against.
    pub fn bot_caps(&self) -> BotCaps {
        BotCaps {
            user: self.max_concurrent,
            key_id: self.key_id,
            key: self.key_max_concurrent,
        }
    }
}

fn header<'a>(headers: &'a HeaderMap, name: &HeaderName) -> Option<&'a str> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
}

fn check_secret(headers: &HeaderMap, secret: &str) -> Result<(), MeetingsError> {
    let given = headers
        .get(X_INTERNAL_SECRET)
        .map(|v| v.as_bytes())
        .unwrap_or_default();
    if secret.is_empty() || !bool::from(given.ct_eq(secret.as_bytes())) {
        return Err(MeetingsError::Unauthorized);
    }
    Ok(())
}

/// `X-User-Limits`: a bare integer, or JSON `{"max_concurrent_bots"|"max_concurrent": n}`.
fn parse_limits(raw: Option<&str>) -> Option<i64> {
    let raw = raw?;
    if let Ok(n) = raw.parse::<i64>() {
        return Some(n);
    }
    let v: serde_json::Value = serde_json::from_str(raw).ok()?;
    v.get("max_concurrent_bots")
        .or_else(|| v.get("max_concurrent"))
        .and_then(serde_json::Value::as_i64)
}

impl<S: Send + Sync> FromRequestParts<S> for Caller {
    type Rejection = MeetingsError;

    /// Set by [`require_gateway`]; absent only on a route wired without it.
    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        parts
            .extensions
            .get::<Caller>()
            .cloned()
            .ok_or(MeetingsError::MissingIdentity)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    #[test]
    fn limits_accept_an_integer_or_json() {
        assert_eq!(parse_limits(Some("2")), Some(2));
        assert_eq!(parse_limits(Some(r#"{"max_concurrent_bots":4}"#)), Some(4));
        assert_eq!(parse_limits(Some("x")), None);
        assert_eq!(parse_limits(None), None);
    }

    #[test]
    fn identity_is_trusted_only_with_the_secret() {
        let mut h = HeaderMap::new();
        h.insert(X_USER_ID, HeaderValue::from_static("7"));
        assert!(matches!(
            identify(&h, "s3cret"),
            Err(MeetingsError::Unauthorized)
        ));
        h.insert(X_INTERNAL_SECRET, HeaderValue::from_static("s3cret"));
        assert_eq!(
            identify(&h, "s3cret").ok().map(|c| c.user_id),
            Some(UserId(7))
        );
        assert!(matches!(identify(&h, ""), Err(MeetingsError::Unauthorized)));
        h.insert(X_USER_ID, HeaderValue::from_static("seven"));
        assert!(matches!(
            identify(&h, "s3cret"),
            Err(MeetingsError::InvalidIdentity)
        ));
    }
}
