//! Forwarding: identity injected and spoofed headers stripped, request ids, body limits,
//! upstream failures and timeouts, streamed responses.

use std::time::Duration;

use http::{Method, StatusCode};
use vexa_core::Scope;
use vexa_testkit::INTERNAL_SECRET;

use crate::support::*;

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

/// A key's own bot cap goes to our meetings service as `X-Key-Max-Concurrent-Bots`, only when
/// the key has one (a client's forged value never passes), and never to the original Vexa.
async fn a_keys_bot_cap_reaches_our_meetings_service_only(backend: Backend) {
    let echo = EchoUpstream::start().await;
    let store = TestStore::new(backend).await;
    let capped = vexa_core::KeyLimits {
        max_concurrent_bots: Some(2),
        ..vexa_core::KeyLimits::NONE
    };
    let k_capped = store.add_with_limits(&[Scope::Bot], None, capped).await;
    let k_plain = key(&store, &[Scope::Bot]).await;
    let forged = ("x-key-max-concurrent-bots", "1000");
    let forwarded = |base: String, k: String| async move {
        let r = send(
            &base,
            Method::GET,
            "/meetings",
            &[("x-api-key", &k), forged],
            "",
        )
        .await;
        assert_eq!(r.status, 200);
        r.json()["headers"]["x-key-max-concurrent-bots"].clone()
    };
    let ours = start(config(&echo.url), store.clone()).await;
    assert_eq!(forwarded(ours.base.clone(), k_capped.clone()).await, "2");
    assert!(forwarded(ours.base.clone(), k_plain.clone())
        .await
        .is_null());
    ours.shutdown().await;
    let mut cfg = config(&echo.url);
    cfg.meetings_api_kind = vexa_gateway::MeetingsApiKind::Vexa;
    let original = start(cfg, store.clone()).await;
    assert!(forwarded(original.base.clone(), k_capped).await.is_null());
    original.shutdown().await;
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

on_both_backends!(
    spoofed_identity_headers_never_reach_the_upstream_and_identity_is_injected,
    a_keys_bot_cap_reaches_our_meetings_service_only,
    request_ids_are_kept_minted_and_echoed_on_every_response,
    bodies_over_the_limit_are_413_by_length_and_by_streaming,
    upstream_down_is_502_and_slow_is_504,
    a_slow_upstream_is_504,
    sse_arrives_incrementally,
);
