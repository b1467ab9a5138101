//! The edges of the admin API: the admin-token gate, body limits, contract-shaped 404/405,
//! health, metrics, request ids and a database outage.
#![allow(clippy::unwrap_used)]

use axum::http::{Method, StatusCode};
use serde_json::json;

use crate::support::app_on;
use vexa_testkit::{on_both_backends, Backend, TestDb, ADMIN_TOKEN};

const FORBIDDEN: &str = "Invalid or missing admin token.";
/// The admin API's body limit in these tests: the gateway's default `MAX_BODY_BYTES`.
const LIMIT: usize = vexa_http::DEFAULT_MAX_BODY_BYTES as usize;

async fn every_admin_route_needs_the_admin_token(backend: Backend) {
    let app = app_on(TestDb::new(backend).await);
    let id = app.user("gate@acme.com").await;
    let routes = [
        (Method::POST, "/admin/users".to_owned()),
        (Method::GET, "/admin/users".to_owned()),
        (Method::GET, format!("/admin/users/{id}")),
        (Method::GET, "/admin/users/email/gate@acme.com".to_owned()),
        (Method::PATCH, format!("/admin/users/{id}")),
        (Method::DELETE, format!("/admin/users/{id}")),
        (Method::POST, format!("/admin/users/{id}/tokens")),
        (Method::GET, format!("/admin/users/{id}/tokens")),
        (Method::DELETE, "/admin/tokens/1".to_owned()),
        (Method::GET, "/admin/no-such-route".to_owned()),
        (Method::GET, "/admin".to_owned()),
    ];
    // The right token one byte short, and in the wrong case, are as wrong as any other.
    let one_short = &ADMIN_TOKEN.as_bytes()[..ADMIN_TOKEN.len() - 1];
    let upper = ADMIN_TOKEN.to_ascii_uppercase();
    let bad_tokens: [&[u8]; 5] = [b"wrong", b"", one_short, b"\xff\xfe\x80", upper.as_bytes()];
    for (method, uri) in &routes {
        let res = app.anon(method.clone(), uri).send().await;
        assert_eq!(
            res.status,
            StatusCode::FORBIDDEN,
            "{method} {uri} without token"
        );
        assert_eq!(res.detail(), FORBIDDEN);
        for bad in bad_tokens {
            let res = app
                .anon(method.clone(), uri)
                .header("x-admin-api-key", bad)
                .send()
                .await;
            assert_eq!(
                res.status,
                StatusCode::FORBIDDEN,
                "{method} {uri} with {bad:?}"
            );
            assert_eq!(res.detail(), FORBIDDEN);
        }
    }
    let res = app
        .admin(Method::GET, &format!("/admin/users/{id}"))
        .send()
        .await;
    assert_eq!(
        res.status,
        StatusCode::OK,
        "the user survived every refused call"
    );
    assert!(app.changes().is_empty());
}

async fn the_token_is_checked_before_the_body_path_or_query(backend: Backend) {
    let app = app_on(TestDb::new(backend).await);
    let cases = [
        (Method::POST, "/admin/users", "{not json"),
        (Method::PATCH, "/admin/users/abc", "{}"),
        (Method::PATCH, "/admin/users/1", "{}"),
        (
            Method::POST,
            "/admin/users/1/tokens?scopes=foo&expires_in=-1",
            "[[[",
        ),
        (Method::GET, "/admin/users?limit=-5", ""),
    ];
    for (method, uri, body) in cases {
        let res = app
            .anon(method.clone(), uri)
            .header("x-admin-api-key", "nope")
            .raw_json(body)
            .send()
            .await;
        assert_eq!(res.status, StatusCode::FORBIDDEN, "{method} {uri}");
        assert_eq!(res.detail(), FORBIDDEN);
    }
    let big = vec![b'x'; LIMIT + 1024 * 1024];
    let res = app
        .anon(Method::POST, "/admin/users")
        .raw_json(big)
        .send()
        .await;
    assert_eq!(res.status, StatusCode::FORBIDDEN, "even an oversized body");
}

async fn bodies_over_the_body_limit_get_413(backend: Backend) {
    let app = app_on(TestDb::new(backend).await);
    let id = app.user("big@acme.com").await;
    let padding = "x".repeat(LIMIT + 1024 * 1024);
    let body = json!({"email": "huge@acme.com", "name": padding}).to_string();
    for uri in [
        "/admin/users".to_owned(),
        format!("/admin/users/{id}/tokens"),
    ] {
        let res = app
            .admin(Method::POST, &uri)
            .raw_json(body.clone())
            .send()
            .await;
        assert_eq!(res.status, StatusCode::PAYLOAD_TOO_LARGE, "{uri}");
        assert_eq!(res.detail(), "Request body too large");
    }
    let res = app
        .admin(Method::PATCH, &format!("/admin/users/{id}"))
        .raw_json(body)
        .send()
        .await;
    assert_eq!(res.status, StatusCode::PAYLOAD_TOO_LARGE);
    // Just under the limit is parsed (and refused for its content, not its size).
    let near = json!({"name": "n".repeat(LIMIT - 100)}).to_string();
    let res = app
        .admin(Method::PATCH, &format!("/admin/users/{id}"))
        .raw_json(near)
        .send()
        .await;
    assert_eq!(res.status, StatusCode::UNPROCESSABLE_ENTITY);
}

#[tokio::test]
async fn a_streamed_body_without_content_length_is_also_limited() {
    let app = app_on(TestDb::sqlite().await);
    let id = app.user("stream@acme.com").await;
    let chunks: Vec<Result<bytes::Bytes, std::io::Error>> = (0..LIMIT / (64 * 1024) + 8)
        .map(|_| Ok(bytes::Bytes::from(vec![b' '; 64 * 1024])))
        .collect();
    let body = axum::body::Body::from_stream(futures_util::stream::iter(chunks));
    let req = axum::http::Request::post(format!("/admin/users/{id}/tokens"))
        .header("x-admin-api-key", ADMIN_TOKEN)
        .body(body)
        .unwrap();
    let res = tower::ServiceExt::oneshot(app.router.clone(), req)
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::PAYLOAD_TOO_LARGE);
}

#[tokio::test]
async fn unknown_routes_and_wrong_methods_get_contract_json() {
    let app = app_on(TestDb::sqlite().await);
    for uri in ["/nope", "/admin/users/1/tokens/2/x", "/admin/nope"] {
        let res = app.admin(Method::GET, uri).send().await;
        assert_eq!(res.status, StatusCode::NOT_FOUND, "{uri}");
        assert_eq!(res.json(), json!({"detail": "Not Found"}));
    }
    for (method, uri) in [
        (Method::PUT, "/admin/users"),
        (Method::POST, "/admin/tokens/1"),
        (Method::DELETE, "/health"),
        (Method::PUT, "/admin/users/1/tokens"),
    ] {
        let res = app.admin(method.clone(), uri).send().await;
        assert_eq!(res.status, StatusCode::METHOD_NOT_ALLOWED, "{method} {uri}");
        assert_eq!(res.json(), json!({"detail": "Method Not Allowed"}));
    }
}

#[tokio::test]
async fn health_needs_no_token() {
    let app = app_on(TestDb::sqlite().await);
    let res = app.anon(Method::GET, "/health").send().await;
    assert_eq!(res.status, StatusCode::OK);
    assert_eq!(res.json(), json!({"status": "ok", "service": "admin-api"}));
}

#[tokio::test]
async fn metrics_count_admin_requests_by_route_and_status() {
    let app = app_on(TestDb::sqlite().await);
    app.user("m@acme.com").await;
    app.anon(Method::GET, "/admin/users").send().await;
    let res = app.anon(Method::GET, "/metrics").send().await;
    assert_eq!(res.status, StatusCode::OK);
    assert!(res
        .header("content-type")
        .unwrap()
        .starts_with("text/plain"));
    let text = res.text();
    let has = |route: &str, status: &str| {
        text.lines().any(|l| {
            l.starts_with("vexa_admin_requests_total{")
                && l.contains(&format!("route=\"{route}\""))
                && l.contains(&format!("status=\"{status}\""))
        })
    };
    assert!(has("/admin/users", "201"), "{text}");
    assert!(has("/admin/users", "403"), "{text}");
    assert!(!text.contains(ADMIN_TOKEN));
}

#[tokio::test]
async fn request_ids_are_echoed_or_minted() {
    let app = app_on(TestDb::sqlite().await);
    let res = app
        .anon(Method::GET, "/health")
        .header("x-request-id", "abc-123")
        .send()
        .await;
    assert_eq!(res.header("x-request-id"), Some("abc-123"));
    let res = app.anon(Method::GET, "/admin/users").send().await;
    let minted = res.header("x-request-id").unwrap().to_owned();
    assert_eq!(minted.len(), 32);
    let other = app.anon(Method::GET, "/health").send().await;
    assert_ne!(other.header("x-request-id").unwrap(), minted);
    let res = app
        .anon(Method::GET, "/health")
        .header("x-request-id", "bad id\twith spaces")
        .send()
        .await;
    assert_ne!(res.header("x-request-id"), Some("bad id\twith spaces"));
}

async fn a_database_outage_is_a_503_without_internal_text(backend: Backend) {
    let app = app_on(TestDb::new(backend).await);
    let id = app.user("down@acme.com").await;
    app.db.db.close().await;
    let calls = [
        (Method::GET, format!("/admin/users/{id}")),
        (Method::GET, "/admin/users".to_owned()),
        (Method::POST, format!("/admin/users/{id}/tokens")),
        (Method::DELETE, "/admin/tokens/1".to_owned()),
    ];
    for (method, uri) in calls {
        let res = app.admin(method.clone(), &uri).send().await;
        assert_eq!(
            res.status,
            StatusCode::SERVICE_UNAVAILABLE,
            "{} {method} {uri}: {}",
            app.backend,
            res.text()
        );
        assert_eq!(
            res.json(),
            json!({"detail": "Database temporarily unavailable, retry"})
        );
    }
}

on_both_backends!(
    every_admin_route_needs_the_admin_token,
    the_token_is_checked_before_the_body_path_or_query,
    bodies_over_the_body_limit_get_413,
    a_database_outage_is_a_503_without_internal_text,
);
