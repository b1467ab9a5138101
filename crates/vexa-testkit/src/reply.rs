//! [`Reply`]: one response read in full, the same for an in-process `oneshot`, a hyper client
//! and reqwest, so every suite reads statuses, headers and bodies the same way.

use bytes::Bytes;
use http::{HeaderMap, StatusCode};
use http_body_util::BodyExt;
use serde_json::Value;

/// A response whose body has been read to the end.
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Reply {
    /// Reads an `http::Response` (axum's `oneshot`, a hyper client) to the end.
    pub async fn read<B>(response: http::Response<B>) -> Reply
    where
        B: http_body::Body,
        B::Error: std::fmt::Debug,
    {
        let (parts, body) = response.into_parts();
        let body = body
            .collect()
            .await
            .expect("the response body is readable to the end")
            .to_bytes();
        Reply {
            status: parts.status,
            headers: parts.headers,
            body,
        }
    }

    /// Reads a reqwest response to the end.
    pub async fn from_reqwest(response: reqwest::Response) -> Reply {
        let status = response.status();
        let headers = response.headers().clone();
        let body = response
            .bytes()
            .await
            .expect("the response body is readable to the end");
        Reply {
            status,
            headers,
            body,
        }
    }

    /// The body as JSON; panics (failing the test) when it is not JSON, so a field read from a
    /// body that is not JSON never passes for an absent one.
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("{} body is not JSON ({e}): {}", self.status, self.text()))
    }

    /// The body as JSON where any body is acceptable: `Null` when empty, the text as a JSON string
    /// when it is not JSON (so a comparison with the expected JSON fails and shows what came).
    pub fn lenient_json(&self) -> Value {
        if self.body.is_empty() {
            return Value::Null;
        }
        serde_json::from_slice(&self.body).unwrap_or_else(|_| Value::String(self.text()))
    }

    /// The contract's error text, `{"detail": "<this>"}`; panics (failing the test) when the body
    /// carries no string `detail`.
    pub fn detail(&self) -> String {
        match self.lenient_json().get("detail") {
            Some(Value::String(s)) => s.clone(),
            other => panic!("no string detail ({other:?}) in {}", self.text()),
        }
    }

    /// The body as text, invalid UTF-8 replaced.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// One header's value, when present and visible ASCII.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The status code and the body ([`Reply::lenient_json`]) as a pair, for tests that check
    /// both at once: `assert_eq!(reply.parts(), (401, json!({"detail": "Invalid API key"})))`.
    pub fn parts(&self) -> (u16, Value) {
        (self.status.as_u16(), self.lenient_json())
    }
}
