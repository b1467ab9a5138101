//! Request bodies at the edge: one limit for every service (the gateway's `MAX_BODY_BYTES`),
//! JSON extractors that answer `{"detail": …}` on every failure, and [`answer_after_body`] for
//! refusals that did not need the body.
//!
//! The limit travels as a request extension ([`BodyLimit`]) set by [`with_body_limit`], so the
//! extractors need no state type; axum's own `DefaultBodyLimit` is set to the same value so a
//! stray built-in extractor cannot use another one.

use std::time::Duration;

use axum::body::Body;
use axum::extract::{DefaultBodyLimit, FromRequest, Request};
use axum::http::header::{CONNECTION, CONTENT_LENGTH};
use axum::http::HeaderValue;
use axum::response::Response;
use axum::{Extension, Router};
use bytes::Bytes;
use serde::de::DeserializeOwned;

use crate::rejection::EdgeRejection;

/// The contract's default `MAX_BODY_BYTES`: 10 MiB.
pub const DEFAULT_MAX_BODY_BYTES: u64 = 10 * 1024 * 1024;

/// How long a refused request's unread body may take to arrive before the connection is closed.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(2);

/// The largest request body a service reads, as a request extension.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BodyLimit(pub u64);

impl Default for BodyLimit {
    fn default() -> Self {
        BodyLimit(DEFAULT_MAX_BODY_BYTES)
    }
}

impl BodyLimit {
    fn of(req: &Request) -> u64 {
        req.extensions()
            .get::<BodyLimit>()
            .copied()
            .unwrap_or_default()
            .0
    }

    fn as_usize(self) -> usize {
        usize::try_from(self.0).unwrap_or(usize::MAX)
    }
}

/// Applies one body limit to every route of `router` (outermost layer, so fallbacks see it too).
pub fn with_body_limit<S: Clone + Send + Sync + 'static>(router: Router<S>, max: u64) -> Router<S> {
    let limit = BodyLimit(max);
    router
        .layer(DefaultBodyLimit::max(limit.as_usize()))
        .layer(Extension(limit))
}

fn declared_length(req: &Request) -> Option<u64> {
    req.headers()
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse().ok())
}

/// Reads the whole body, refusing anything over the limit: early by `Content-Length` when the
/// client declares it, else while counting the bytes of a chunked body.
pub async fn read_body(req: Request) -> Result<Bytes, EdgeRejection> {
    let max = BodyLimit::of(&req);
    if declared_length(&req).is_some_and(|n| n > max) {
        return Err(EdgeRejection::BodyTooLarge);
    }
    axum::body::to_bytes(req.into_body(), BodyLimit(max).as_usize())
        .await
        .map_err(|e| {
            if is_length_limit(&e) {
                EdgeRejection::BodyTooLarge
            } else {
                EdgeRejection::BodyUnreadable
            }
        })
}

fn is_length_limit(e: &(dyn std::error::Error + 'static)) -> bool {
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = cur {
        if err.is::<http_body_util::LengthLimitError>() {
            return true;
        }
        cur = err.source();
    }
    false
}

/// Reads and discards the body of a request answered without needing it (a refused token, an
/// unknown route). hyper closes a keep-alive connection whose request body was left unread,
/// without telling the client; a client that reuses the connection (python-requests' `Session`
/// does) then fails its next call with "connection closed". When the body cannot be drained
/// (over the limit, too slow, broken) the answer says `Connection: close` instead.
pub async fn answer_after_body(req: Request, mut response: Response) -> Response {
    let max = BodyLimit::of(&req);
    let drained = declared_length(&req).is_none_or(|n| n <= max)
        && tokio::time::timeout(
            DRAIN_TIMEOUT,
            axum::body::to_bytes(req.into_body(), BodyLimit(max).as_usize()),
        )
        .await
        .is_ok_and(|r| r.is_ok());
    if !drained {
        response
            .headers_mut()
            .insert(CONNECTION, HeaderValue::from_static("close"));
    }
    response
}

/// Parses a JSON object into `T`, explaining what is wrong on failure.
pub fn parse_json_object<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, EdgeRejection> {
    // serde would otherwise accept a JSON array as a struct, field by position.
    if bytes.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
        return Err(EdgeRejection::invalid("Request body must be a JSON object"));
    }
    serde_json::from_slice(bytes).map_err(|e| {
        if e.is_syntax() || e.is_eof() {
            EdgeRejection::invalid(format!("Request body is not valid JSON: {e}"))
        } else {
            EdgeRejection::invalid(format!("Invalid request body: {e}"))
        }
    })
}

/// Bodies of only whitespace count as no body, whatever `Content-Type` says (clients send
/// `Content-Type: application/json` with no body).
pub fn is_blank(bytes: &[u8]) -> bool {
    bytes.iter().all(u8::is_ascii_whitespace)
}

/// A required JSON object body.
#[derive(Debug)]
pub struct JsonBody<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for JsonBody<T> {
    type Rejection = EdgeRejection;

    async fn from_request(req: Request<Body>, _state: &S) -> Result<Self, EdgeRejection> {
        let bytes = read_body(req).await?;
        if is_blank(&bytes) {
            return Err(EdgeRejection::invalid(
                "Request body is required (a JSON object)",
            ));
        }
        parse_json_object(&bytes).map(JsonBody)
    }
}

/// An optional JSON object body: `None` when the body is empty or blank.
#[derive(Debug)]
pub struct OptionalJsonBody<T>(pub Option<T>);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for OptionalJsonBody<T> {
    type Rejection = EdgeRejection;

    async fn from_request(req: Request<Body>, _state: &S) -> Result<Self, EdgeRejection> {
        let bytes = read_body(req).await?;
        if is_blank(&bytes) {
            return Ok(OptionalJsonBody(None));
        }
        parse_json_object(&bytes).map(|v| OptionalJsonBody(Some(v)))
    }
}

#[cfg(test)]
mod tests {
    use axum::http::StatusCode;
    use axum::response::IntoResponse;
    use axum::routing::post;
    use tower::ServiceExt;

    use super::*;

    #[derive(serde::Deserialize)]
    struct Thing {
        #[allow(dead_code)]
        a: i64,
    }

    fn app(max: u64) -> Router {
        let r = Router::new().route(
            "/",
            post(|JsonBody(_t): JsonBody<Thing>| async { StatusCode::OK.into_response() }),
        );
        with_body_limit(r, max)
    }

    async fn status_of(router: Router, body: Body, len: Option<usize>) -> (u16, String) {
        let mut req = Request::post("/");
        if let Some(n) = len {
            req = req.header(CONTENT_LENGTH, n);
        }
        let resp = router
            .oneshot(req.body(body).expect("request"))
            .await
            .expect("infallible");
        let status = resp.status().as_u16();
        let bytes = axum::body::to_bytes(resp.into_body(), 1 << 20)
            .await
            .expect("body");
        (status, String::from_utf8_lossy(&bytes).into_owned())
    }

    #[tokio::test]
    async fn over_the_limit_is_a_json_413_declared_or_streamed() {
        let big = vec![b' '; 2048];
        let (s, b) = status_of(app(1024), Body::from(big.clone()), Some(big.len())).await;
        assert_eq!(
            (s, b.as_str()),
            (413, r#"{"detail":"Request body too large"}"#)
        );
        let chunks = futures_stream(big);
        let (s, b) = status_of(app(1024), Body::from_stream(chunks), None).await;
        assert_eq!(
            (s, b.as_str()),
            (413, r#"{"detail":"Request body too large"}"#)
        );
    }

    fn futures_stream(
        bytes: Vec<u8>,
    ) -> impl futures_util::Stream<Item = Result<Bytes, std::io::Error>> + Send + 'static {
        let chunks: Vec<Result<Bytes, std::io::Error>> = bytes
            .chunks(100)
            .map(|c| Ok(Bytes::copy_from_slice(c)))
            .collect();
        futures_util::stream::iter(chunks)
    }
}
