//! Every way the gateway itself answers a request with an error, and the ONE mapping from those
//! to status, `{"detail": …}` body and extra headers. Split by who failed: the client (4xx), an
//! upstream (502/504) or a dependency of ours (503).

use bytes::Bytes;
use http::header::{HeaderValue, CONTENT_TYPE, RETRY_AFTER, WWW_AUTHENTICATE};
use http::{Response, StatusCode};
use vexa_core::{Scope, ScopeSet};

use crate::body::GwBody;
use crate::limit::{Decision, LimitError};

/// Startup failures of [`crate::Gateway::new`] and [`crate::Gateway::serve`].
#[derive(Debug, thiserror::Error)]
pub enum GatewayError {
    #[error(transparent)]
    Limit(#[from] LimitError),
    /// A configured value cannot be used (which one is named; secrets never are echoed).
    #[error("invalid gateway configuration: {0}")]
    Config(&'static str),
}

/// Why the gateway answered a request itself instead of forwarding it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rejection {
    // The client's fault.
    NotFound,
    MissingKey,
    InvalidKey,
    /// The key holds none of the scopes the route accepts.
    Forbidden(ScopeDenial),
    UserRateLimited(Decision),
    EdgeRateLimited {
        retry_after_secs: u64,
    },
    BodyTooLarge,
    NotWebSocket,
    /// A path id the original types as an integer is not one (its FastAPI 422, before any key).
    NotAnInteger,
    /// A calendar id with a control character (the original's 400 `invalid path parameter`).
    InvalidPathParameter,
    // A dependency of ours.
    AuthUnavailable,
    BrowserNotConfigured,
    // The upstream's fault.
    UpstreamUnreachable,
    UpstreamTimeout,
}

/// What a scope 403 tells the caller: the scopes the route accepts and those the key holds, so
/// an agent can tell which key it needs. Copy-sized (a static slice and a bitmask).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ScopeDenial {
    pub required: &'static [Scope],
    granted: [bool; 3],
}

impl ScopeDenial {
    pub fn new(required: &'static [Scope], granted: &ScopeSet) -> ScopeDenial {
        ScopeDenial {
            required,
            granted: Scope::ALL_SORTED.map(|s| granted.contains(s)),
        }
    }

    /// `{"detail":"Token scope not authorized","required":[…],"granted":[…]}`, each list in
    /// alphabetical order.
    fn body(&self) -> Bytes {
        let mut required: Vec<&str> = self.required.iter().map(|s| s.as_str()).collect();
        required.sort_unstable();
        let granted: Vec<&str> = Scope::ALL_SORTED
            .iter()
            .zip(self.granted)
            .filter(|(_, held)| *held)
            .map(|(s, _)| s.as_str())
            .collect();
        let body = serde_json::json!({
            "detail": "Token scope not authorized",
            "required": required,
            "granted": granted,
        });
        Bytes::from(body.to_string())
    }
}

pub(crate) const JSON: HeaderValue = HeaderValue::from_static("application/json");

impl Rejection {
    pub fn status(&self) -> StatusCode {
        match self {
            Rejection::NotFound => StatusCode::NOT_FOUND,
            Rejection::MissingKey | Rejection::InvalidKey => StatusCode::UNAUTHORIZED,
            Rejection::Forbidden(_) => StatusCode::FORBIDDEN,
            Rejection::UserRateLimited(_) | Rejection::EdgeRateLimited { .. } => {
                StatusCode::TOO_MANY_REQUESTS
            }
            Rejection::BodyTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Rejection::NotWebSocket => StatusCode::BAD_REQUEST,
            Rejection::NotAnInteger => StatusCode::UNPROCESSABLE_ENTITY,
            Rejection::InvalidPathParameter => StatusCode::BAD_REQUEST,
            Rejection::AuthUnavailable | Rejection::BrowserNotConfigured => {
                StatusCode::SERVICE_UNAVAILABLE
            }
            Rejection::UpstreamUnreachable => StatusCode::BAD_GATEWAY,
            Rejection::UpstreamTimeout => StatusCode::GATEWAY_TIMEOUT,
        }
    }

    /// The whole JSON body, as static bytes (no formatting per request).
    fn body(&self) -> &'static [u8] {
        match self {
            Rejection::NotFound => br#"{"detail":"Not Found"}"#,
            Rejection::MissingKey => br#"{"detail":"Missing API key"}"#,
            Rejection::InvalidKey => br#"{"detail":"Invalid API key"}"#,
            Rejection::Forbidden(_) => br#"{"detail":"Token scope not authorized"}"#,
            Rejection::UserRateLimited(_) => br#"{"detail":"Rate limit exceeded"}"#,
            Rejection::EdgeRateLimited { .. } => br#"{"detail":"Too many requests"}"#,
            Rejection::BodyTooLarge => br#"{"detail":"Request body too large"}"#,
            Rejection::NotWebSocket => br#"{"detail":"WebSocket upgrade required"}"#,
            Rejection::InvalidPathParameter => br#"{"detail":"invalid path parameter"}"#,
            Rejection::NotAnInteger => {
                br#"{"detail":[{"type":"int_parsing","loc":["path"],"msg":"Input should be a valid integer"}]}"#
            }
            Rejection::AuthUnavailable => {
                br#"{"detail":"Authentication temporarily unavailable, retry"}"#
            }
            Rejection::BrowserNotConfigured => br#"{"detail":"browser service not configured"}"#,
            Rejection::UpstreamUnreachable => br#"{"detail":"upstream unreachable"}"#,
            Rejection::UpstreamTimeout => br#"{"detail":"upstream timeout"}"#,
        }
    }

    /// The `detail` string of the body (the OpenAPI document's examples are these).
    pub(crate) fn detail(&self) -> String {
        serde_json::from_slice::<serde_json::Value>(self.body())
            .ok()
            .and_then(|v| v["detail"].as_str().map(str::to_owned))
            .unwrap_or_default()
    }

    pub fn into_response(self) -> Response<GwBody> {
        let body = match self {
            Rejection::Forbidden(denial) => denial.body(),
            _ => Bytes::from_static(self.body()),
        };
        let mut resp = Response::new(GwBody::full(body));
        *resp.status_mut() = self.status();
        let headers = resp.headers_mut();
        headers.insert(CONTENT_TYPE, JSON);
        match self {
            Rejection::UserRateLimited(decision) => {
                decision.apply(headers);
                if !headers.contains_key(RETRY_AFTER) {
                    headers.insert(
                        RETRY_AFTER,
                        HeaderValue::from(decision.retry_after_secs.max(1)),
                    );
                }
            }
            Rejection::EdgeRateLimited { retry_after_secs } => {
                headers.insert(RETRY_AFTER, HeaderValue::from(retry_after_secs.max(1)));
            }
            Rejection::AuthUnavailable => {
                headers.insert(RETRY_AFTER, HeaderValue::from_static("1"));
            }
            // RFC 9110 §11.6.1: every 401 names the scheme to use (the original since #1341).
            Rejection::MissingKey | Rejection::InvalidKey => {
                headers.insert(WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            }
            Rejection::NotFound
            | Rejection::Forbidden(_)
            | Rejection::BodyTooLarge
            | Rejection::NotWebSocket
            | Rejection::NotAnInteger
            | Rejection::InvalidPathParameter
            | Rejection::BrowserNotConfigured
            | Rejection::UpstreamUnreachable
            | Rejection::UpstreamTimeout => {}
        }
        resp
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::BodyExt;

    #[tokio::test]
    async fn a_scope_403_says_what_was_required_and_granted() {
        let granted: ScopeSet = [Scope::Tx, Scope::Browser].into_iter().collect();
        let resp = Rejection::Forbidden(ScopeDenial::new(&[Scope::Tx, Scope::Bot], &granted))
            .into_response();
        assert_eq!(resp.status(), StatusCode::FORBIDDEN);
        let body = resp.into_body().collect().await.expect("body").to_bytes();
        assert_eq!(
            &body[..],
            br#"{"detail":"Token scope not authorized","granted":["browser","tx"],"required":["bot","tx"]}"#
        );
    }

    #[test]
    fn every_401_names_bearer() {
        for r in [Rejection::MissingKey, Rejection::InvalidKey] {
            let resp = r.into_response();
            assert_eq!(resp.headers()[WWW_AUTHENTICATE], "Bearer");
        }
        assert!(!Rejection::NotFound
            .into_response()
            .headers()
            .contains_key(WWW_AUTHENTICATE));
    }
}
