//! Request extractors that turn raw path, query and body into typed values, failing only with
//! [`AdminError`] so every rejection has the contract's `{"detail": ...}` shape (axum's own
//! extractors answer with plain-text bodies).

use axum::body::Body;
use axum::extract::{FromRequest, FromRequestParts, Path, Query, Request};
use axum::http::header::CONTENT_LENGTH;
use axum::http::request::Parts;
use bytes::Bytes;
use serde::de::DeserializeOwned;
use vexa_core::{KeyId, UserId};

use crate::error::AdminError;
use crate::mint::MintQuery;
use crate::service::{DEFAULT_PAGE, MAX_PAGE};

/// Largest request body accepted.
pub const MAX_BODY_BYTES: usize = 1024 * 1024;

/// Reads the whole body, refusing anything over [`MAX_BODY_BYTES`] (early, by `Content-Length`,
/// when the client declares it).
async fn read_body(body: Body, declared: Option<u64>) -> Result<Bytes, AdminError> {
    if declared.is_some_and(|n| n > MAX_BODY_BYTES as u64) {
        return Err(AdminError::BodyTooLarge);
    }
    axum::body::to_bytes(body, MAX_BODY_BYTES)
        .await
        .map_err(|e| {
            if is_length_limit(&e) {
                AdminError::BodyTooLarge
            } else {
                AdminError::BodyUnreadable
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

fn declared_length(req: &Request) -> Option<u64> {
    req.headers()
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse().ok())
}

/// How long a refused request's unread body may take to arrive before the connection is closed.
const DRAIN_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(2);

/// Reads and discards the body of a request that was answered without needing it (403 from the
/// admin gate, unknown route). hyper closes a keep-alive connection whose request body was left
/// unread, without telling the client; a client that reuses the connection (python-requests'
/// `Session` does) then fails its next call with "connection closed". When the body cannot be
/// drained (over [`MAX_BODY_BYTES`], too slow, broken) the answer says `Connection: close`.
pub async fn answer_after_body(
    req: Request,
    mut response: axum::response::Response,
) -> axum::response::Response {
    let drained = declared_length(&req).is_none_or(|n| n <= MAX_BODY_BYTES as u64)
        && tokio::time::timeout(
            DRAIN_TIMEOUT,
            axum::body::to_bytes(req.into_body(), MAX_BODY_BYTES),
        )
        .await
        .is_ok_and(|r| r.is_ok());
    if !drained {
        response.headers_mut().insert(
            axum::http::header::CONNECTION,
            axum::http::HeaderValue::from_static("close"),
        );
    }
    response
}

/// Parses a JSON object into `T`, explaining what is wrong on failure.
fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, AdminError> {
    // serde would otherwise accept a JSON array as a struct, field by position.
    if bytes.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
        return Err(AdminError::invalid("Request body must be a JSON object"));
    }
    serde_json::from_slice(bytes).map_err(|e| {
        if e.is_syntax() || e.is_eof() {
            AdminError::invalid(format!("Request body is not valid JSON: {e}"))
        } else {
            AdminError::invalid(format!("Invalid request body: {e}"))
        }
    })
}

/// Bodies of only whitespace count as no body, whatever `Content-Type` says.
fn is_blank(bytes: &[u8]) -> bool {
    bytes.iter().all(u8::is_ascii_whitespace)
}

/// A required JSON body.
pub struct JsonBody<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for JsonBody<T> {
    type Rejection = AdminError;

    async fn from_request(req: Request, _state: &S) -> Result<Self, AdminError> {
        let declared = declared_length(&req);
        let bytes = read_body(req.into_body(), declared).await?;
        if is_blank(&bytes) {
            return Err(AdminError::invalid(
                "Request body is required (a JSON object)",
            ));
        }
        parse_json(&bytes).map(JsonBody)
    }
}

/// An optional JSON body: `None` when the body is empty.
pub struct OptionalJsonBody<T>(pub Option<T>);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for OptionalJsonBody<T> {
    type Rejection = AdminError;

    async fn from_request(req: Request, _state: &S) -> Result<Self, AdminError> {
        let declared = declared_length(&req);
        let bytes = read_body(req.into_body(), declared).await?;
        if is_blank(&bytes) {
            return Ok(OptionalJsonBody(None));
        }
        parse_json(&bytes).map(|v| OptionalJsonBody(Some(v)))
    }
}

/// Parses the single path parameter as a positive-or-any `i64` id.
async fn id_param(parts: &mut Parts, what: &str) -> Result<i64, AdminError> {
    let Path(raw) = Path::<String>::from_request_parts(parts, &())
        .await
        .map_err(|_| AdminError::invalid(format!("{what} must be an integer")))?;
    raw.parse::<i64>()
        .map_err(|_| AdminError::invalid(format!("{what} must be an integer")))
}

/// `{user_id}` in the path.
pub struct UserIdParam(pub UserId);

impl<S: Send + Sync> FromRequestParts<S> for UserIdParam {
    type Rejection = AdminError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, AdminError> {
        id_param(parts, "user_id")
            .await
            .map(|id| UserIdParam(UserId(id)))
    }
}

/// `{token_id}` in the path.
pub struct KeyIdParam(pub KeyId);

impl<S: Send + Sync> FromRequestParts<S> for KeyIdParam {
    type Rejection = AdminError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, AdminError> {
        id_param(parts, "token_id")
            .await
            .map(|id| KeyIdParam(KeyId(id)))
    }
}

/// `{email}` in the path, percent-decoded.
pub struct EmailParam(pub String);

impl<S: Send + Sync> FromRequestParts<S> for EmailParam {
    type Rejection = AdminError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, AdminError> {
        let Path(raw) = Path::<String>::from_request_parts(parts, &())
            .await
            .map_err(|_| AdminError::invalid("value is not a valid email address"))?;
        Ok(EmailParam(raw))
    }
}

fn query_pairs(parts: &Parts) -> Result<Vec<(String, String)>, AdminError> {
    Query::<Vec<(String, String)>>::try_from_uri(&parts.uri)
        .map(|Query(pairs)| pairs)
        .map_err(|_| AdminError::invalid("Query string could not be parsed"))
}

/// `skip` and `limit` of the user list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Paging {
    pub skip: i64,
    pub limit: i64,
}

impl<S: Send + Sync> FromRequestParts<S> for Paging {
    type Rejection = AdminError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, AdminError> {
        let mut paging = Paging {
            skip: 0,
            limit: DEFAULT_PAGE,
        };
        for (k, v) in query_pairs(parts)? {
            match k.as_str() {
                "skip" => paging.skip = parse_bounded("skip", &v, i64::MAX)?,
                "limit" => paging.limit = parse_bounded("limit", &v, MAX_PAGE)?,
                _ => {}
            }
        }
        Ok(paging)
    }
}

fn parse_bounded(field: &str, raw: &str, max: i64) -> Result<i64, AdminError> {
    let rule = || AdminError::invalid(format!("{field} must be an integer between 0 and {max}"));
    let n: i64 = raw.trim().parse().map_err(|_| rule())?;
    if !(0..=max).contains(&n) {
        return Err(rule());
    }
    Ok(n)
}

impl<S: Send + Sync> FromRequestParts<S> for MintQuery {
    type Rejection = AdminError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, AdminError> {
        query_pairs(parts).map(MintQuery::from_pairs)
    }
}
