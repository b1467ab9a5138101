//! Keys imported from an original Vexa (`vexa import vexa`) on the store path: they are not in
//! our checksum format, yet authenticate unchanged while the store holds imported keys; without
//! imports a non-format key is refused before any store lookup; and a garbage-key flood against a
//! store WITH imports costs at most one lookup per distinct key (negative cache) and is still
//! stopped by the edge guard. Lookups are counted by [`TestStore`]'s `resolves`, the counting
//! wrapper around the real store (both backends).

use std::sync::atomic::Ordering;
use std::time::Duration;

use http::StatusCode;
use vexa_core::Scope;
use vexa_gateway::limit::{EdgeConfig, TrustedProxies};

use crate::abuse::raw_http::{h, raw, request};
use crate::support::*;

/// A 0.10-era token (no `vxa_` prefix) and a 0.12 token of the original (`vxa_bot_` + 32
/// alphanumerics, no checksum of ours).
const LEGACY: &str = "0b1c-legacy-token-from-vexa-0.10-Q7";
const ORIGINAL_012: &str = "vxa_bot_Zq3RkT9mWb2XcV7nLp4HsJ8dFg6Ya1Ue";

async fn an_imported_key_authenticates_as_its_user_with_its_scopes(backend: Backend) {
    let echo = EchoUpstream::start().await;
    let store = TestStore::new(backend).await;
    store
        .import_legacy(41, LEGACY, &[Scope::Bot, Scope::Tx, Scope::Browser])
        .await;
    store.import_legacy(42, ORIGINAL_012, &[Scope::Tx]).await;
    let gw = start(config(&echo.url), store.clone()).await;

    let me = get(&gw.base, "/auth/me", Some(LEGACY)).await;
    assert_eq!(me.status, StatusCode::OK, "{}", me.text());
    let j = me.json();
    assert_eq!(j["user_id"], 41);
    assert_eq!(j["email"], "legacy41@acme.com");
    assert_eq!(j["scopes"], serde_json::json!(["bot", "tx", "browser"]));
    assert_eq!(j["max_concurrent_bots"], 2);

    let r = get(&gw.base, "/meetings", Some(ORIGINAL_012)).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert_eq!(r.json()["headers"]["x-user-id"], "42");
    // Its scopes, not more: a tx-only imported key is refused a bot route.
    let r = get(&gw.base, "/bots/status", Some(ORIGINAL_012)).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);

    // A key of our own format still works next to them, and garbage is still refused.
    let ours = key(&store, &[Scope::Tx]).await;
    assert_eq!(get(&gw.base, "/meetings", Some(&ours)).await.status, 200);
    let r = get(&gw.base, "/meetings", Some("not-an-imported-key")).await;
    assert_eq!(
        (r.status, r.detail().as_str()),
        (StatusCode::UNAUTHORIZED, "Invalid API key")
    );
    gw.shutdown().await;
}

async fn without_imported_keys_a_non_format_key_is_refused_with_no_store_lookup(backend: Backend) {
    let echo = EchoUpstream::start().await;
    let store = TestStore::new(backend).await;
    let gw = start(config(&echo.url), store.clone()).await;
    for k in [LEGACY, ORIGINAL_012, "garbage"] {
        let r = get(&gw.base, "/meetings", Some(k)).await;
        assert_eq!(
            (r.status, r.detail().as_str()),
            (StatusCode::UNAUTHORIZED, "Invalid API key")
        );
    }
    assert_eq!(
        store.resolves.load(Ordering::SeqCst),
        0,
        "no imported keys: the fast rejection, no lookup"
    );
    gw.shutdown().await;
}

async fn a_garbage_flood_with_imports_costs_one_lookup_per_distinct_key_and_meets_the_edge_guard(
    backend: Backend,
) {
    let echo = EchoUpstream::start().await;
    let store = TestStore::new(backend).await;
    store.import_legacy(7, LEGACY, &[Scope::Tx]).await;

    // First without the edge guard: every request reaches the cache, so the count shows the
    // negative cache alone.
    let gw = start(config(&echo.url), store.clone()).await;
    let (distinct, repeats) = (40, 5);
    for _ in 0..repeats {
        for i in 0..distinct {
            let r = get(&gw.base, "/meetings", Some(&format!("garbage-{i}"))).await;
            assert_eq!(r.status, StatusCode::UNAUTHORIZED);
        }
    }
    let lookups = store.resolves.load(Ordering::SeqCst);
    assert!(
        lookups <= distinct,
        "{lookups} store lookups for {distinct} distinct garbage keys × {repeats}"
    );
    gw.shutdown().await;

    // Then with the edge guard as deployed: the invalid-key flood is answered 429 as today.
    let mut cfg = config(&echo.url);
    cfg.edge = EdgeConfig {
        enabled: true,
        requests_per_minute: 60,
        auto_ban_threshold: 5,
        auto_ban_duration: Duration::from_secs(3600),
        ..EdgeConfig::default()
    };
    cfg.trusted_proxies = TrustedProxies::parse("127.0.0.1").expect("cidr");
    let gw = start(cfg, store.clone()).await;
    let before = store.resolves.load(Ordering::SeqCst);
    let (mut unauthorized, mut limited) = (0, 0);
    let flood = 200;
    for i in 0..flood {
        let garbage = format!("flood-{}", i % distinct);
        let r = raw(
            gw.addr,
            &request(
                "GET",
                b"/meetings",
                &[
                    h("x-forwarded-for", "203.0.113.9"),
                    h("x-api-key", &garbage),
                ],
                b"",
            ),
        )
        .await
        .expect("answer");
        match r.status {
            401 => unauthorized += 1,
            429 => {
                limited += 1;
                assert_eq!(r.json()["detail"], "Too many requests");
            }
            s => panic!("flood request {i}: {s}"),
        }
    }
    assert!(limited > 0, "the edge guard refused none of {flood}");
    assert!(
        unauthorized < flood,
        "{unauthorized} of {flood} reached authentication"
    );
    let flood_lookups = store.resolves.load(Ordering::SeqCst) - before;
    assert!(
        flood_lookups <= distinct,
        "{flood_lookups} lookups for {distinct} distinct keys"
    );
    // The imported key itself still works from another address.
    let r = raw(
        gw.addr,
        &request(
            "GET",
            b"/meetings",
            &[h("x-forwarded-for", "198.51.100.7"), h("x-api-key", LEGACY)],
            b"",
        ),
    )
    .await
    .expect("answer");
    assert_eq!(r.status, 200);
    gw.shutdown().await;
}

async fn revoking_the_last_imported_key_closes_the_digest_path_again(backend: Backend) {
    let echo = EchoUpstream::start().await;
    let store = TestStore::new(backend).await;
    store.import_legacy(9, LEGACY, &[Scope::Tx]).await;
    let gw = start(config(&echo.url), store.clone()).await;
    assert_eq!(get(&gw.base, "/meetings", Some(LEGACY)).await.status, 200);
    let change = store.revoke(LEGACY).await;
    vexa_core::IdentityListener::on_change(&gw.invalidator, &change);
    assert_eq!(get(&gw.base, "/meetings", Some(LEGACY)).await.status, 401);
    // The flag is re-probed after the change (on a spawned task): soon no non-format key is
    // looked up at all.
    let mut closed = false;
    for n in 0..50 {
        let before = store.resolves.load(Ordering::SeqCst);
        get(&gw.base, "/meetings", Some(&format!("fresh-garbage-{n}"))).await;
        if store.resolves.load(Ordering::SeqCst) == before {
            closed = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        closed,
        "the digest path stayed open with no imported key left"
    );
    gw.shutdown().await;
}

on_both_backends!(
    an_imported_key_authenticates_as_its_user_with_its_scopes,
    without_imported_keys_a_non_format_key_is_refused_with_no_store_lookup,
    a_garbage_flood_with_imports_costs_one_lookup_per_distinct_key_and_meets_the_edge_guard,
    revoking_the_last_imported_key_closes_the_digest_path_again,
);
