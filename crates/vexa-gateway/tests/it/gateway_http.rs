//! Specification of the gateway's HTTP behaviour, black-box over loopback: a real
//! `Gateway::serve`, an `EchoUpstream`, a real HTTP client.

use std::sync::atomic::Ordering;
use std::time::Duration;

use crate::support::*;
use http::{Method, StatusCode};
use vexa_core::{Scope, Timestamp};
use vexa_gateway::routes::{Access, Methods, Target, ROUTES};
use vexa_testkit::INTERNAL_SECRET;

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
            assert!(route.target == Target::Meetings || route.target == Target::Browser);
            let method = match route.methods {
                Methods::One(m) => Method::from_bytes(m.as_bytes()).expect("method"),
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

async fn bad_keys_are_401_with_the_contract_details(backend: Backend) {
    let echo = EchoUpstream::start().await;
    let store = TestStore::new(backend).await;
    let gw = start(config(&echo.url), store.clone()).await;
    let good = key(&store, &[Scope::Tx]).await;

    assert_eq!(
        get(&gw.base, "/meetings", None).await.detail(),
        "Missing API key"
    );
    let empty = get(&gw.base, "/meetings", Some("")).await;
    assert_eq!(
        (empty.status, empty.detail().as_str()),
        (StatusCode::UNAUTHORIZED, "Missing API key")
    );

    let mut bad_sum = good.clone().into_bytes();
    let i = 12;
    bad_sum[i] = if bad_sum[i] == b'a' { b'b' } else { b'a' };
    let bad_sum = String::from_utf8(bad_sum).expect("ascii");
    for k in ["garbage", "vxa_foo_abc", bad_sum.as_str()] {
        let r = get(&gw.base, "/meetings", Some(k)).await;
        assert_eq!(
            (r.status, r.detail().as_str()),
            (StatusCode::UNAUTHORIZED, "Invalid API key")
        );
    }
    assert_eq!(
        store.resolves.load(Ordering::SeqCst),
        0,
        "malformed keys never reach the store"
    );

    let unknown = vexa_core::MintedKey::generate(Scope::Tx);
    let r = get(&gw.base, "/meetings", Some(unknown.expose_secret())).await;
    assert_eq!(
        (r.status, r.detail().as_str()),
        (StatusCode::UNAUTHORIZED, "Invalid API key")
    );

    let past = Timestamp(vexa_core::SystemClock.now_ms() - 1000);
    let expired = key_expiring(&store, &[Scope::Tx], Some(past)).await;
    assert_eq!(
        get(&gw.base, "/meetings", Some(&expired)).await.detail(),
        "Invalid API key"
    );
    gw.shutdown().await;
}

trait NowMs {
    fn now_ms(&self) -> i64;
}
impl NowMs for vexa_core::SystemClock {
    fn now_ms(&self) -> i64 {
        vexa_core::Clock::now(self).0
    }
}

async fn a_cached_key_stops_working_once_its_expiry_passes(backend: Backend) {
    let echo = EchoUpstream::start().await;
    let store = TestStore::new(backend).await;
    let gw = start(config(&echo.url), store.clone()).await;
    let soon = Timestamp(vexa_core::SystemClock.now_ms() + 700);
    let k = key_expiring(&store, &[Scope::Tx], Some(soon)).await;
    assert_eq!(get(&gw.base, "/meetings", Some(&k)).await.status, 200);
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert_eq!(get(&gw.base, "/meetings", Some(&k)).await.status, 401);
    gw.shutdown().await;
}

async fn revocation_through_the_invalidator_takes_effect_on_the_next_request(backend: Backend) {
    let echo = EchoUpstream::start().await;
    let store = TestStore::new(backend).await;
    let gw = start(config(&echo.url), store.clone()).await;
    let k = key(&store, &[Scope::Bot]).await;
    assert_eq!(get(&gw.base, "/bots", Some(&k)).await.status, 200);
    gw.invalidator.apply(&store.revoke(&k).await);
    let r = get(&gw.base, "/bots", Some(&k)).await;
    assert_eq!(
        (r.status, r.detail().as_str()),
        (StatusCode::UNAUTHORIZED, "Invalid API key")
    );

    let k2 = key(&store, &[Scope::Bot]).await;
    assert_eq!(get(&gw.base, "/bots", Some(&k2)).await.status, 200);
    gw.invalidator.apply(&store.delete_user_of(&k2).await);
    assert_eq!(get(&gw.base, "/bots", Some(&k2)).await.status, 401);
    gw.shutdown().await;
}

async fn spoofed_identity_headers_never_reach_the_upstream_and_identity_is_injected(
    backend: Backend,
) {
    let echo = EchoUpstream::start().await;
    let store = TestStore::new(backend).await;
    let gw = start(config(&echo.url), store.clone()).await;
    let k = key(&store, &[Scope::Bot, Scope::Tx]).await;
    let r = send(
        &gw.base,
        Method::GET,
        "/meetings?x=1&y=2",
        &[
            ("x-api-key", &k),
            ("x-user-id", "999"),
            ("x-user-webhook-url", "http://evil"),
            ("x-key-whatever", "1"),
            ("x-internal-secret", "forged"),
            ("connection", "x-drop-me"),
            ("x-drop-me", "1"),
            ("x-keep", "1"),
        ],
        "",
    )
    .await;
    assert_eq!(r.status, 200);
    let echoed = r.json();
    let h = &echoed["headers"];
    assert_eq!(echoed["query"], "x=1&y=2");
    assert_eq!(h["x-user-id"], "1");
    assert_eq!(h["x-user-email"], "user1@acme.com");
    assert_eq!(h["x-user-scopes"], "bot,tx");
    assert_eq!(h["x-user-limits"], "3");
    assert_eq!(h["x-key-id"], "1");
    assert_eq!(h["x-internal-secret"], INTERNAL_SECRET);
    assert!(h.get("x-api-key").is_none());
    assert!(h.get("x-user-webhook-url").is_none());
    assert!(h.get("x-key-whatever").is_none());
    assert!(h.get("x-drop-me").is_none());
    assert_eq!(h["x-keep"], "1");
    assert_eq!(h["x-forwarded-for"], "127.0.0.1");
    assert_eq!(
        r.headers["x-upstream"], "echo",
        "end-to-end response headers come back"
    );
    gw.shutdown().await;
}

async fn request_ids_are_kept_minted_and_echoed_on_every_response(backend: Backend) {
    let echo = EchoUpstream::start().await;
    let store = TestStore::new(backend).await;
    let gw = start(config(&echo.url), store.clone()).await;
    let k = key(&store, &[Scope::Tx]).await;
    let r = send(
        &gw.base,
        Method::GET,
        "/meetings",
        &[("x-api-key", &k), ("x-request-id", "req-42")],
        "",
    )
    .await;
    assert_eq!(r.headers["x-request-id"], "req-42");
    assert_eq!(r.json()["headers"]["x-request-id"], "req-42");
    let r = send(
        &gw.base,
        Method::GET,
        "/meetings",
        &[("x-request-id", "bad id!")],
        "",
    )
    .await;
    assert_eq!(r.status, 401);
    let minted = r.headers["x-request-id"].to_str().expect("ascii");
    assert_eq!(minted.len(), 32);
    assert_ne!(minted, "bad id!");
    assert!(get(&gw.base, "/nope", None)
        .await
        .headers
        .contains_key("x-request-id"));
    gw.shutdown().await;
}

async fn bodies_over_the_limit_are_413_by_length_and_by_streaming(backend: Backend) {
    let echo = EchoUpstream::start().await;
    let store = TestStore::new(backend).await;
    let gw = start(config(&echo.url), store.clone()).await;
    let k = key(&store, &[Scope::Tx]).await;
    let big: &'static str = Box::leak("x".repeat(2048).into_boxed_str());
    let r = send(
        &gw.base,
        Method::POST,
        "/meetings",
        &[("x-api-key", &k)],
        big,
    )
    .await;
    assert_eq!(
        (r.status, r.detail().as_str()),
        (StatusCode::PAYLOAD_TOO_LARGE, "Request body too large")
    );

    // Chunked: no Content-Length, so only counting catches it.
    let chunks = futures_util::stream::iter((0..8).map(|_| {
        Ok::<_, std::convert::Infallible>(hyper::body::Frame::data(bytes::Bytes::from(vec![
            b'y';
            512
        ])))
    }));
    let req = http::Request::post(format!("{}/meetings", gw.base))
        .header("x-api-key", &k)
        .body(http_body_util::StreamBody::new(chunks))
        .expect("request");
    let c = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .build(hyper_util::client::legacy::connect::HttpConnector::new());
    let resp = c.request(req).await.expect("answered");
    assert_eq!(resp.status(), 413);

    let ok = send(
        &gw.base,
        Method::POST,
        "/meetings",
        &[("x-api-key", &k)],
        "small",
    )
    .await;
    assert_eq!(ok.json()["body"], "small");
    gw.shutdown().await;
}

async fn upstream_down_is_502_and_slow_is_504(backend: Backend) {
    let store = TestStore::new(backend).await;
    let dead = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        l.local_addr().expect("addr")
    };
    let gw = start(config(&format!("http://{dead}")), store.clone()).await;
    let k = key(&store, &[Scope::Tx]).await;
    let r = get(&gw.base, "/meetings", Some(&k)).await;
    assert_eq!(
        (r.status, r.detail().as_str()),
        (StatusCode::BAD_GATEWAY, "upstream unreachable")
    );
    gw.shutdown().await;

    let echo = EchoUpstream::start().await;
    let mut cfg = config(&echo.url);
    cfg.upstream_timeout = Duration::from_millis(300);
    cfg.browser_url = None;
    let gw = start(cfg, store.clone()).await;
    // `/browser/*` with no browser service configured.
    let kb = key(&store, &[Scope::Browser]).await;
    let r = get(&gw.base, "/browser/x", Some(&kb)).await;
    assert_eq!(
        (r.status, r.detail().as_str()),
        (
            StatusCode::SERVICE_UNAVAILABLE,
            "browser service not configured"
        )
    );
    gw.shutdown().await;
}

async fn a_slow_upstream_is_504(backend: Backend) {
    let echo = EchoUpstream::start().await;
    let store = TestStore::new(backend).await;
    let mut cfg = config(&echo.url);
    cfg.upstream_timeout = Duration::from_millis(300);
    let gw = start(cfg, store.clone()).await;
    let k = key(&store, &[Scope::Browser]).await;
    let started = std::time::Instant::now();
    let r = get(&gw.base, "/browser/slow", Some(&k)).await;
    assert_eq!(
        (r.status, r.detail().as_str()),
        (StatusCode::GATEWAY_TIMEOUT, "upstream timeout")
    );
    assert!(started.elapsed() < Duration::from_secs(2));
    gw.shutdown().await;
}

async fn store_down_keeps_cached_keys_working_and_answers_503_for_others(backend: Backend) {
    let echo = EchoUpstream::start().await;
    let store = TestStore::new(backend).await;
    let mut cfg = config(&echo.url);
    cfg.cache.positive_ttl = Duration::from_millis(100);
    let gw = start(cfg, store.clone()).await;
    let cached = key(&store, &[Scope::Tx]).await;
    let uncached = key(&store, &[Scope::Tx]).await;
    assert_eq!(get(&gw.base, "/meetings", Some(&cached)).await.status, 200);
    store.down.store(true, Ordering::SeqCst);
    tokio::time::sleep(Duration::from_millis(200)).await; // past the fresh TTL: stale but served
    assert_eq!(get(&gw.base, "/meetings", Some(&cached)).await.status, 200);
    let r = get(&gw.base, "/meetings", Some(&uncached)).await;
    assert_eq!(r.status, 503);
    assert_eq!(r.detail(), "Authentication temporarily unavailable, retry");
    assert_eq!(r.headers["retry-after"], "1");
    store.down.store(false, Ordering::SeqCst);
    assert_eq!(
        get(&gw.base, "/meetings", Some(&uncached)).await.status,
        200
    );
    gw.shutdown().await;
}

async fn concurrent_misses_for_one_key_make_one_store_lookup(backend: Backend) {
    let echo = EchoUpstream::start().await;
    let store = TestStore::new(backend).await;
    let gw = start(config(&echo.url), store.clone()).await;
    let k = key(&store, &[Scope::Tx]).await;
    let mut tasks = Vec::new();
    for _ in 0..20 {
        let (base, k) = (gw.base.clone(), k.clone());
        tasks.push(tokio::spawn(async move {
            get(&base, "/meetings", Some(&k)).await.status
        }));
    }
    for t in tasks {
        assert_eq!(t.await.expect("task"), 200);
    }
    assert!(
        store.resolves.load(Ordering::SeqCst) <= 2,
        "lookups: {}",
        store.resolves.load(Ordering::SeqCst)
    );
    gw.shutdown().await;
}

async fn sse_arrives_incrementally(backend: Backend) {
    use http_body_util::BodyExt;
    let echo = EchoUpstream::start().await;
    let store = TestStore::new(backend).await;
    let gw = start(config(&echo.url), store.clone()).await;
    let k = key(&store, &[Scope::Browser]).await;
    let req = http::Request::get(format!("{}/browser/sse", gw.base))
        .header("x-api-key", &k)
        .body(http_body_util::Full::new(bytes::Bytes::new()))
        .expect("req");
    let started = std::time::Instant::now();
    let resp = client().request(req).await.expect("answered");
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["content-type"], "text/event-stream");
    let mut body = resp.into_body();
    let first = body
        .frame()
        .await
        .expect("a frame")
        .expect("ok")
        .into_data()
        .expect("data");
    assert_eq!(&first[..], b"data: 0\n\n");
    assert!(
        started.elapsed() < Duration::from_millis(250),
        "first event must not wait for the rest"
    );
    let rest = body.collect().await.expect("rest").to_bytes();
    assert_eq!(&rest[..], b"data: 1\n\ndata: 2\n\n");
    assert!(started.elapsed() >= Duration::from_millis(550));
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
        serde_json::json!({"user_id":1,"email":"user1@acme.com","scopes":["tx","bot"],"max_concurrent_bots":3,"key_id":1,"expires_at":null})
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

async fn last_used_is_flushed_in_one_batch_on_shutdown(backend: Backend) {
    let echo = EchoUpstream::start().await;
    let store = TestStore::new(backend).await;
    let gw = start(config(&echo.url), store.clone()).await;
    let a = key(&store, &[Scope::Tx]).await;
    let b = key(&store, &[Scope::Tx]).await;
    for _ in 0..5 {
        get(&gw.base, "/meetings", Some(&a)).await;
        get(&gw.base, "/meetings", Some(&b)).await;
    }
    gw.shutdown().await;
    let uses = store.uses.lock().expect("lock").clone();
    let total: usize = uses.iter().map(Vec::len).sum();
    assert_eq!(total, 2, "one entry per key, not per request: {uses:?}");
    for k in [&a, &b] {
        assert!(
            store.last_used_at(k).await.is_some(),
            "last_used_at reached the database"
        );
    }
}

async fn admin_routes_are_proxied_untouched_only_when_enabled(backend: Backend) {
    let echo = EchoUpstream::start().await;
    let store = TestStore::new(backend).await;
    let mut cfg = config(&echo.url);
    cfg.admin_url = Some(echo.url.parse().expect("uri"));
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

async fn the_per_user_limiter_answers_429_with_retry_after(backend: Backend) {
    let echo = EchoUpstream::start().await;
    let store = TestStore::new(backend).await;
    let mut cfg = config(&echo.url);
    cfg.user_limit = vexa_gateway::limit::UserLimitConfig {
        disabled: false,
        rate_per_sec: 0.1,
        burst: 2,
    };
    let gw = start(cfg, store.clone()).await;
    let k = key(&store, &[Scope::Tx]).await;
    assert_eq!(get(&gw.base, "/meetings", Some(&k)).await.status, 200);
    assert_eq!(get(&gw.base, "/meetings", Some(&k)).await.status, 200);
    let r = get(&gw.base, "/meetings", Some(&k)).await;
    assert_eq!(
        (r.status, r.detail().as_str()),
        (StatusCode::TOO_MANY_REQUESTS, "Rate limit exceeded")
    );
    assert!(
        r.headers["retry-after"]
            .to_str()
            .expect("ascii")
            .parse::<u64>()
            .expect("int")
            >= 1
    );
    gw.shutdown().await;
}

async fn the_edge_guard_answers_429_before_the_key_is_looked_at(backend: Backend) {
    let echo = EchoUpstream::start().await;
    let store = TestStore::new(backend).await;
    let mut cfg = config(&echo.url);
    cfg.edge = vexa_gateway::limit::EdgeConfig {
        enabled: true,
        requests_per_minute: 2,
        ..Default::default()
    };
    let gw = start(cfg, store.clone()).await;
    get(&gw.base, "/meetings", None).await;
    get(&gw.base, "/meetings", None).await;
    let r = get(&gw.base, "/meetings", None).await;
    assert_eq!(
        (r.status, r.detail().as_str()),
        (StatusCode::TOO_MANY_REQUESTS, "Too many requests")
    );
    assert!(r.headers.contains_key("retry-after"));
    assert_eq!(
        get(&gw.base, "/health", None).await.status,
        200,
        "health is never limited"
    );
    gw.shutdown().await;
}

on_both_backends!(
    health_and_metrics_need_no_key,
    undeclared_routes_are_404_before_any_key_check,
    a_single_scope_key_is_forwarded_or_forbidden_on_every_declared_route,
    bad_keys_are_401_with_the_contract_details,
    a_cached_key_stops_working_once_its_expiry_passes,
    revocation_through_the_invalidator_takes_effect_on_the_next_request,
    spoofed_identity_headers_never_reach_the_upstream_and_identity_is_injected,
    request_ids_are_kept_minted_and_echoed_on_every_response,
    bodies_over_the_limit_are_413_by_length_and_by_streaming,
    upstream_down_is_502_and_slow_is_504,
    a_slow_upstream_is_504,
    store_down_keeps_cached_keys_working_and_answers_503_for_others,
    concurrent_misses_for_one_key_make_one_store_lookup,
    sse_arrives_incrementally,
    auth_me_answers_locally_with_the_principal,
    metrics_count_outcomes_per_route,
    last_used_is_flushed_in_one_batch_on_shutdown,
    admin_routes_are_proxied_untouched_only_when_enabled,
    the_per_user_limiter_answers_429_with_retry_after,
    the_edge_guard_answers_429_before_the_key_is_looked_at,
);
