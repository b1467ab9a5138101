//! Path and query extractors whose rejections are `{"detail": …}` (422), like every other
//! refusal at the edge. axum's own `Path` and `Query` answer in plain text.

use axum::extract::{FromRequestParts, Path, Query};
use axum::http::request::Parts;
use serde::de::DeserializeOwned;

use crate::rejection::EdgeRejection;

/// Path parameters, deserialized as `T`.
#[derive(Debug)]
pub struct DetailPath<T>(pub T);

impl<T, S> FromRequestParts<S> for DetailPath<T>
where
    T: DeserializeOwned + Send,
    S: Send + Sync,
{
    type Rejection = EdgeRejection;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, EdgeRejection> {
        Path::<T>::from_request_parts(parts, state)
            .await
            .map(|Path(v)| DetailPath(v))
            .map_err(|e| {
                EdgeRejection::invalid(format!("Invalid path parameter: {}", e.body_text()))
            })
    }
}

/// The query string, deserialized as `T`.
#[derive(Debug)]
pub struct DetailQuery<T>(pub T);

impl<T, S> FromRequestParts<S> for DetailQuery<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = EdgeRejection;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, EdgeRejection> {
        Query::<T>::try_from_uri(&parts.uri)
            .map(|Query(v)| DetailQuery(v))
            .map_err(|e| EdgeRejection::invalid(format!("Invalid query string: {}", e.body_text())))
    }
}

#[cfg(test)]
mod tests {
    use axum::body::Body;
    use axum::http::Request;
    use axum::routing::get;
    use axum::Router;
    use std::collections::HashMap;
    use tower::ServiceExt;

    use super::*;

    #[tokio::test]
    async fn bad_path_and_query_are_json_422s() {
        let app = Router::new().route(
            "/n/{id}",
            get(
                |DetailPath(id): DetailPath<i64>,
                 DetailQuery(_q): DetailQuery<HashMap<String, i64>>| async move {
                    id.to_string()
                },
            ),
        );
        for uri in ["/n/abc", "/n/1?x=notanumber"] {
            let resp = app
                .clone()
                .oneshot(Request::get(uri).body(Body::empty()).expect("request"))
                .await
                .expect("infallible");
            assert_eq!(resp.status(), 422, "{uri}");
            let bytes = axum::body::to_bytes(resp.into_body(), 1 << 16)
                .await
                .expect("body");
            let v: serde_json::Value = serde_json::from_slice(&bytes).expect("json");
            assert!(v["detail"].is_string(), "{uri}: {v}");
        }
    }
}
