//! The limiters as the client sees them: the per-user bucket and the edge guard answer 429
//! with `Retry-After`.

use http::StatusCode;
use vexa_core::Scope;

use crate::support::*;

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
    the_per_user_limiter_answers_429_with_retry_after,
    the_edge_guard_answers_429_before_the_key_is_looked_at,
);
