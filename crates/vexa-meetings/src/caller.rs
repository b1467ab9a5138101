//! Who is calling: trusted only when the gateway's shared secret is present (constant time).

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::HeaderMap;
use subtle::ConstantTimeEq;
use vexa_core::UserId;

use crate::error::MeetingsError;
use crate::state::AppState;

/// The identity the gateway injected.
#[derive(Debug, Clone)]
pub struct Caller {
    pub user_id: UserId,
    /// `max_concurrent_bots`; `None` = no cap given.
    pub max_concurrent: Option<i64>,
}

fn header<'a>(h: &'a HeaderMap, name: &str) -> Option<&'a str> {
    h.get(name).and_then(|v| v.to_str().ok()).map(str::trim)
}

pub fn check_secret(h: &HeaderMap, secret: &str) -> Result<(), MeetingsError> {
    let given = h
        .get("x-internal-secret")
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

impl FromRequestParts<AppState> for Caller {
    type Rejection = MeetingsError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        check_secret(&parts.headers, &state.cfg.internal_secret)?;
        let raw = header(&parts.headers, "x-user-id").ok_or(MeetingsError::MissingIdentity)?;
        let id = raw
            .parse::<i64>()
            .map_err(|_| MeetingsError::InvalidIdentity)?;
        Ok(Caller {
            user_id: UserId(id),
            max_concurrent: parse_limits(header(&parts.headers, "x-user-limits")),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_accept_an_integer_or_json() {
        assert_eq!(parse_limits(Some("2")), Some(2));
        assert_eq!(parse_limits(Some(r#"{"max_concurrent_bots":4}"#)), Some(4));
        assert_eq!(parse_limits(Some("x")), None);
        assert_eq!(parse_limits(None), None);
    }
}
