//! What the gateway answers itself or refuses before looking at a key: health and metrics,
//! undeclared routes, the scope of every declared route, `/auth/me`, the admin pass-through.

use std::sync::atomic::Ordering;

use http::Method;
use vexa_core::Scope;
use vexa_gateway::routes::{Access, Domain, Methods, ROUTES};

use crate::support::*;

async fn health_and_metrics_need_no_key(backend: Backend) {
    let echo = EchoUpstream::start().await;
    let gw = start(config(&echo.url), TestStore::new(backend).await).await;
    let r = get(&gw.base, "/health", None).await;
    assert_eq!(r.status, 200);
    assert_eq!(
        r.json(),
        serde_json::json!({"status":"ok","service":"gateway"})
    );
    assert!(r.headers.contains_key("x-request-id"));
    let m = get(&gw.base, "/metrics", None).await;
    assert_eq!(m.status, 200);
    gw.shutdown().await;
}

async fn undeclared_routes_are_404_before_any_key_check(backend: Backend) {
    let echo = EchoUpstream::start().await;
    let store = TestStore::new(backend).await;
    let gw = start(config(&echo.url), store.clone()).await;
    for (m, p) in [
        (Method::GET, "/nope"),
        (Method::POST, "/bots/status"),
        (Method::GET, "/admin/users"),
        (Method::GET, "/bots/"),
    ] {
        let r = send(&gw.base, m, p, &[], "").await;
        assert_eq!(r.status, 404, "{p}");
        assert_eq!(r.detail(), "Not Found");
        assert_eq!(r.headers["content-type"], "application/json");
    }
    assert_eq!(store.resolves.load(Ordering::SeqCst), 0);
    gw.shutdown().await;
}

async fn a_single_scope_key_is_forwarded_or_forbidden_on_every_declared_route(backend: Backend) {
    let echo = EchoUpstream::start().await;
    let store = TestStore::new(backend).await;
    let gw = start(config(&echo.url), store.clone()).await;
    for scope in [Scope::Bot, Scope::Tx, Scope::Browser] {
        let k = key(&store, &[scope]).await;
        for route in ROUTES {
            let Access::Scopes(accepted) = route.access else {
                continue;
            };
            // This gateway fronts our own services only (meetings and browser on the echo):
            // the rows they serve; the others are the `dropin` walk's.
            if !matches!(route.domain(true), Some(Domain::Meetings | Domain::Browser)) {
                continue;
            }
            let method = match route.methods {
                Methods::One(m) => Method::from_bytes(m.as_bytes()).expect("method"),
                Methods::Set(ms) => Method::from_bytes(ms[0].as_bytes()).expect("method"),
                Methods::Any => Method::POST,
            };
            let path = concrete(route.template);
            let r = send(&gw.base, method.clone(), &path, &[("x-api-key", &k)], "").await;
            if accepted.contains(&scope) {
                assert_eq!(r.status, 200, "{scope} {method} {path}");
                assert_eq!(r.json()["path"], path.as_str());
                assert_eq!(r.json()["method"], method.as_str());
            } else {
                assert_eq!(r.status, 403, "{scope} {method} {path}");
                assert_eq!(r.detail(), "Token scope not authorized");
            }
        }
    }
    gw.shutdown().await;
}

async fn auth_me_answers_locally_with_the_principal(backend: Backend) {
    let echo = EchoUpstream::start().await;
    let store = TestStore::new(backend).await;
    let gw = start(config(&echo.url), store.clone()).await;
    let k = key(&store, &[Scope::Tx, Scope::Bot]).await;
    let r = get(&gw.base, "/auth/me", Some(&k)).await;
    assert_eq!(r.status, 200);
    assert_eq!(
        r.json(),
        serde_json::json!({"user_id":1,"email":"user1@acme.com","scopes":["tx","bot"],"max_concurrent_bots":3,"max_concurrent":3,"key_id":1,"expires_at":null})
    );
    gw.shutdown().await;
}

async fn metrics_count_outcomes_per_route(backend: Backend) {
    let echo = EchoUpstream::start().await;
    let store = TestStore::new(backend).await;
    let gw = start(config(&echo.url), store.clone()).await;
    let k = key(&store, &[Scope::Browser]).await;
    get(&gw.base, "/user/webhook", Some(&k)).await;
    get(&gw.base, "/user/webhook", None).await;
    let text =
        String::from_utf8(get(&gw.base, "/metrics", None).await.body.to_vec()).expect("utf8");
    assert!(
        text.contains(r#"vexa_gateway_requests_total{route="/user/webhook",outcome="forbidden"}"#),
        "{text}"
    );
    assert!(
        text.contains(r#"vexa_gateway_requests_total{route="/user/webhook",outcome="missing"}"#)
    );
    assert!(text.contains("vexa_gateway_request_duration_seconds"));
    assert!(!text.contains(&k));
    gw.shutdown().await;
}

async fn admin_routes_are_proxied_untouched_only_when_enabled(backend: Backend) {
    let echo = EchoUpstream::start().await;
    let store = TestStore::new(backend).await;
    let mut cfg = config(&echo.url);
    cfg.admin_url = Some(echo.url.parse().expect("uri"));
    cfg.admin_proxy = true;
    let gw = start(cfg, store.clone()).await;
    let r = send(
        &gw.base,
        Method::POST,
        "/admin/users",
        &[("x-admin-api-key", "t")],
        "{}",
    )
    .await;
    assert_eq!(r.status, 200, "no gateway key needed");
    assert_eq!(r.json()["headers"]["x-admin-api-key"], "t");
    assert_eq!(r.json()["body"], "{}");
    gw.shutdown().await;
}

on_both_backends!(
    health_and_metrics_need_no_key,
    undeclared_routes_are_404_before_any_key_check,
    a_single_scope_key_is_forwarded_or_forbidden_on_every_declared_route,
    auth_me_answers_locally_with_the_principal,
    metrics_count_outcomes_per_route,
    admin_routes_are_proxied_untouched_only_when_enabled,
);
