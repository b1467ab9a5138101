//! Every way the gateway itself answers a request with an error, and the ONE mapping from those
//! to status, `{"detail": …}` body and extra headers. Split by who failed: the client (4xx), an
//! upstream (502/504) or a dependency of ours (503).

use bytes::Bytes;
use http::header::{HeaderValue, CONTENT_TYPE, RETRY_AFTER};
use http::{Response, StatusCode};

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
    Forbidden,
    UserRateLimited(Decision),
    EdgeRateLimited { retry_after_secs: u64 },
    BodyTooLarge,
    NotWebSocket,
    // A dependency of ours.
    AuthUnavailable,
    BrowserNotConfigured,
    // The upstream's fault.
    UpstreamUnreachable,
    UpstreamTimeout,
}

pub(crate) const JSON: HeaderValue = HeaderValue::from_static("application/json");

impl Rejection {
    pub fn status(&self) -> StatusCode {
        match self {
            Rejection::NotFound => StatusCode::NOT_FOUND,
            Rejection::MissingKey | Rejection::InvalidKey => StatusCode::UNAUTHORIZED,
            Rejection::Forbidden => StatusCode::FORBIDDEN,
            Rejection::UserRateLimited(_) | Rejection::EdgeRateLimited { .. } => {
                StatusCode::TOO_MANY_REQUESTS
            }
            Rejection::BodyTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Rejection::NotWebSocket => StatusCode::BAD_REQUEST,
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
            Rejection::Forbidden => br#"{"detail":"Token scope not authorized"}"#,
            Rejection::UserRateLimited(_) => br#"{"detail":"Rate limit exceeded"}"#,
            Rejection::EdgeRateLimited { .. } => br#"{"detail":"Too many requests"}"#,
            Rejection::BodyTooLarge => br#"{"detail":"Request body too large"}"#,
            Rejection::NotWebSocket => br#"{"detail":"WebSocket upgrade required"}"#,
            Rejection::AuthUnavailable => {
                br#"{"detail":"Authentication temporarily unavailable, retry"}"#
            }
            Rejection::BrowserNotConfigured => br#"{"detail":"browser service not configured"}"#,
            Rejection::UpstreamUnreachable => br#"{"detail":"upstream unreachable"}"#,
            Rejection::UpstreamTimeout => br#"{"detail":"upstream timeout"}"#,
        }
    }

    pub fn into_response(self) -> Response<GwBody> {
        let mut resp = Response::new(GwBody::full(Bytes::from_static(self.body())));
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
            Rejection::NotFound
            | Rejection::MissingKey
            | Rejection::InvalidKey
            | Rejection::Forbidden
            | Rejection::BodyTooLarge
            | Rejection::NotWebSocket
            | Rejection::BrowserNotConfigured
            | Rejection::UpstreamUnreachable
            | Rejection::UpstreamTimeout => {}
        }
        resp
    }
}
