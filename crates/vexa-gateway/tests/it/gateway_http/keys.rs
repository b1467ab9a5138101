//! Authentication: the contract's 401s, expiry and revocation of cached keys, a store outage,
//! single-flight misses, and the write-behind of `last_used_at`.

use std::sync::atomic::Ordering;
use std::time::Duration;

use http::StatusCode;
use vexa_core::{IdentityListener, Scope, Timestamp};

use crate::support::*;

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
    gw.invalidator.on_change(&store.revoke(&k).await);
    let r = get(&gw.base, "/bots", Some(&k)).await;
    assert_eq!(
        (r.status, r.detail().as_str()),
        (StatusCode::UNAUTHORIZED, "Invalid API key")
    );

    let k2 = key(&store, &[Scope::Bot]).await;
    assert_eq!(get(&gw.base, "/bots", Some(&k2)).await.status, 200);
    gw.invalidator.on_change(&store.delete_user_of(&k2).await);
    assert_eq!(get(&gw.base, "/bots", Some(&k2)).await.status, 401);
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

on_both_backends!(
    bad_keys_are_401_with_the_contract_details,
    a_cached_key_stops_working_once_its_expiry_passes,
    revocation_through_the_invalidator_takes_effect_on_the_next_request,
    store_down_keeps_cached_keys_working_and_answers_503_for_others,
    concurrent_misses_for_one_key_make_one_store_lookup,
    last_used_is_flushed_in_one_batch_on_shutdown,
);
