//! Specification of `IDENTITY_SOURCE=vexa`: keys resolved by the original Vexa identity service's
//! `/internal/validate` (its test double, `original_identity_double`), cached by digest, one
//! lookup in flight per digest, 4xx → 401, everything else → 503 (never 401), garbage floods
//! held at the edge, and a revocation at the original seen within `IDENTITY_CACHE_TTL_S`.
//! Our store is not involved in this mode (it only backs the gateway's constructor), so these
//! run on SQLite only — except the drop-in case at the end, where OUR admin API is the identity
//! service (both backends).

use std::time::{Duration, Instant};

use http::StatusCode;
use vexa_gateway::identity::{IdentityConfig, IdentitySource};
use vexa_gateway::limit::EdgeConfig;
use vexa_gateway::GatewayConfig;
use vexa_testkit::original::{IdentityMode, OriginalIdentityDouble};
use vexa_testkit::INTERNAL_SECRET;

use crate::support::*;

/// A key in the original's format (no checksum): our format check would refuse it.
const ORIGINAL_KEY: &str = "vxa_bot_AbCdEfGhIjKlMnOpQrStUvWxYz012345";

fn vexa_config(upstream: &str, identity_url: &str, ttl: Duration) -> GatewayConfig {
    GatewayConfig {
        identity: IdentityConfig {
            source: IdentitySource::Vexa,
            validate_base: Some(identity_url.parse().expect("uri")),
            cache_ttl: ttl,
            negative_ttl: Duration::from_millis(500).min(ttl),
            validate_timeout: Duration::from_millis(500),
        },
        ..config(upstream)
    }
}

async fn stack(ttl: Duration) -> (EchoUpstream, OriginalIdentityDouble, Running) {
    let echo = EchoUpstream::start().await;
    let idp = OriginalIdentityDouble::start(INTERNAL_SECRET).await;
    let store = TestStore::new(Backend::Sqlite).await;
    let gw = start(vexa_config(&echo.url, &idp.url, ttl), store).await;
    (echo, idp, gw)
}

#[tokio::test]
async fn a_key_of_the_original_in_any_format_is_forwarded_with_its_identity() {
    let (_echo, idp, gw) = stack(Duration::from_secs(5)).await;
    idp.add_token(ORIGINAL_KEY, 42, &["bot", "tx"], 4);
    idp.add_token("legacy-0.10-token", 43, &["tx"], 1);
    let r = get(&gw.base, "/meetings", Some(ORIGINAL_KEY)).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let seen = r.json();
    assert_eq!(seen["headers"]["x-user-id"], "42");
    assert_eq!(seen["headers"]["x-user-scopes"], "bot,tx");
    assert_eq!(seen["headers"]["x-user-limits"], "4");
    assert!(seen["headers"].get("x-api-key").is_none());
    let legacy = get(&gw.base, "/meetings", Some("legacy-0.10-token")).await;
    assert_eq!(legacy.status, StatusCode::OK);
    assert_eq!(legacy.json()["headers"]["x-user-id"], "43");
    // Cached: two more uses of each key ask the identity service nothing more.
    for _ in 0..2 {
        get(&gw.base, "/meetings", Some(ORIGINAL_KEY)).await;
        get(&gw.base, "/meetings", Some("legacy-0.10-token")).await;
    }
    assert_eq!(idp.calls(), 2);
    gw.shutdown().await;
}

#[tokio::test]
async fn refusals_of_the_identity_service_are_401_and_its_failures_503() {
    for (mode, status) in [
        (IdentityMode::Answer, StatusCode::UNAUTHORIZED), // unknown token → its 401
        (IdentityMode::Forbidden, StatusCode::UNAUTHORIZED),
        (IdentityMode::Fail, StatusCode::SERVICE_UNAVAILABLE),
        (IdentityMode::Stall, StatusCode::SERVICE_UNAVAILABLE),
    ] {
        let (_echo, idp, gw) = stack(Duration::from_secs(5)).await;
        idp.set_mode(mode);
        let started = Instant::now();
        let r = get(&gw.base, "/meetings", Some("some-unknown-token")).await;
        assert_eq!(r.status, status, "{mode:?}: {}", r.text());
        if status == StatusCode::UNAUTHORIZED {
            assert_eq!(r.detail(), "Invalid API key");
        } else {
            assert_eq!(r.detail(), "Authentication temporarily unavailable, retry");
            assert_eq!(r.headers["retry-after"], "1");
            assert!(
                started.elapsed() < Duration::from_secs(2),
                "{mode:?} waited too long"
            );
        }
        gw.shutdown().await;
    }
}

#[tokio::test]
async fn an_unreachable_identity_service_is_503_never_401() {
    let echo = EchoUpstream::start().await;
    // A port nobody listens on: bind, note it, close.
    let closed = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind")
        .local_addr()
        .expect("addr");
    let store = TestStore::new(Backend::Sqlite).await;
    let cfg = vexa_config(
        &echo.url,
        &format!("http://{closed}"),
        Duration::from_secs(5),
    );
    let gw = start(cfg, store).await;
    let r = get(&gw.base, "/meetings", Some(ORIGINAL_KEY)).await;
    assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE, "{}", r.text());
    assert_eq!(r.headers["retry-after"], "1");
    gw.shutdown().await;
}

#[tokio::test]
async fn concurrent_requests_with_one_uncached_key_make_one_validate_call() {
    let (_echo, idp, gw) = stack(Duration::from_secs(5)).await;
    idp.add_token(ORIGINAL_KEY, 7, &["bot"], 1);
    idp.set_delay(Duration::from_millis(300));
    let requests = (0..40).map(|_| get(&gw.base, "/bots/status", Some(ORIGINAL_KEY)));
    let replies = futures_util::future::join_all(requests).await;
    assert!(replies.iter().all(|r| r.status == StatusCode::OK));
    assert_eq!(idp.calls(), 1);
    // Refusals are remembered too (for the shorter negative TTL).
    for _ in 0..20 {
        let r = get(&gw.base, "/bots/status", Some("not-a-key-of-anyone")).await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    }
    assert_eq!(idp.calls(), 2);
    gw.shutdown().await;
}

#[tokio::test]
async fn a_flood_of_distinct_garbage_keys_is_stopped_at_the_edge_not_at_the_identity_service() {
    let echo = EchoUpstream::start().await;
    let idp = OriginalIdentityDouble::start(INTERNAL_SECRET).await;
    let store = TestStore::new(Backend::Sqlite).await;
    let mut cfg = vexa_config(&echo.url, &idp.url, Duration::from_secs(5));
    cfg.edge = EdgeConfig {
        requests_per_minute: 60,
        ..EdgeConfig::default()
    };
    let gw = start(cfg, store).await;
    let flood = 600u64;
    let (mut invalid, mut limited) = (0u64, 0u64);
    for i in 0..flood {
        let r = get(&gw.base, "/meetings", Some(&format!("garbage-key-{i:06}"))).await;
        match r.status {
            StatusCode::UNAUTHORIZED => invalid += 1,
            StatusCode::TOO_MANY_REQUESTS => limited += 1,
            other => panic!("unexpected {other}"),
        }
    }
    let calls = idp.calls();
    println!("garbage flood: {flood} requests → {invalid} × 401, {limited} × 429, {calls} validate calls");
    // Only the client's edge budget (60/min) ever reaches the identity service.
    assert!(calls <= 60, "{calls} validate calls");
    assert_eq!(calls, invalid);
    assert!(limited >= flood - 60);
    gw.shutdown().await;
}

#[tokio::test]
async fn a_revocation_at_the_original_is_seen_within_the_cache_ttl() {
    let ttl = Duration::from_secs(2);
    let (_echo, idp, gw) = stack(ttl).await;
    idp.add_token(ORIGINAL_KEY, 9, &["bot"], 1);
    assert_eq!(
        get(&gw.base, "/bots/status", Some(ORIGINAL_KEY))
            .await
            .status,
        StatusCode::OK
    );
    idp.revoke(ORIGINAL_KEY);
    let revoked_at = Instant::now();
    // What the bound is about: no request SENT more than one TTL after the revocation is served.
    // A request's own round trip (a fresh validate call once the cached answer expired) is not
    // part of how long the revoked key stayed valid, so send times are what is compared; the
    // reported delay is the send time of the first refused request (within one 10 ms poll of it).
    let mut last_served = Duration::ZERO;
    let delay = loop {
        let sent = revoked_at.elapsed();
        let r = get(&gw.base, "/bots/status", Some(ORIGINAL_KEY)).await;
        if r.status == StatusCode::UNAUTHORIZED {
            break sent;
        }
        assert_eq!(r.status, StatusCode::OK);
        last_served = sent;
        assert!(revoked_at.elapsed() < ttl * 2, "still valid after {ttl:?}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    };
    println!(
        "revocation delay: {} ms (IDENTITY_CACHE_TTL_S={}; last request served was sent {} ms after the revocation)",
        delay.as_millis(),
        ttl.as_secs(),
        last_served.as_millis()
    );
    assert!(
        last_served <= ttl,
        "a request sent {last_served:?} after the revocation was served (TTL {ttl:?})"
    );
    gw.shutdown().await;
}

/// Drop-in: the gateway in `IDENTITY_SOURCE=vexa` mode, pointed at OUR admin API's
/// `/internal/validate` (real router on a real socket, real store) instead of the original's:
/// a key minted there authenticates with its identity, and a revoked one stops within the TTL.
async fn our_admin_api_serves_a_vexa_mode_gateway_as_its_identity_service(backend: Backend) {
    use std::sync::Arc;
    use vexa_core::{AdminToken, AuditedStore, IdentityStore, IgnoreChanges, SystemClock};
    let db = vexa_testkit::TestDb::new(backend).await;
    let audited: Arc<dyn AuditedStore> =
        Arc::new(vexa_store::identity::SqlIdentityStore::new(db.db.clone()));
    let store: Arc<dyn IdentityStore> = audited.clone();
    let admin = vexa_admin::router(vexa_admin::AdminState {
        store: audited,
        clock: Arc::new(SystemClock),
        max_body_bytes: vexa_http::DEFAULT_MAX_BODY_BYTES,
        admin_token: AdminToken::new(vexa_testkit::ADMIN_TOKEN),
        metrics: vexa_testkit::metrics(),
        on_change: Arc::new(IgnoreChanges),
        internal: vexa_admin::InternalApi {
            secret: INTERNAL_SECRET.into(),
            last_used: Arc::new(vexa_core::last_used::LastUsed::new(store.clone())),
        },
        key_events: vexa_admin::key_events::KeyEvents::disabled(),
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let admin_url = format!("http://{}", listener.local_addr().expect("addr"));
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let served = tokio::spawn(vexa_admin::serve(listener, admin, async move {
        let _ = stopped.await;
    }));

    let admin_key = [
        ("x-admin-api-key", vexa_testkit::ADMIN_TOKEN),
        ("content-type", "application/json"),
    ];
    let user = send(
        &admin_url,
        http::Method::POST,
        "/admin/users",
        &admin_key,
        r#"{"email": "dropin@acme.com", "max_concurrent_bots": 6}"#,
    )
    .await
    .json();
    let id = user["id"].as_i64().expect("id");
    let minted = send(
        &admin_url,
        http::Method::POST,
        &format!("/admin/users/{id}/tokens?scopes=tx,bot"),
        &admin_key[..1],
        "",
    )
    .await
    .json();
    let token = minted["token"].as_str().expect("token").to_owned();

    let echo = EchoUpstream::start().await;
    let ttl = Duration::from_millis(300);
    let gw = start(
        vexa_config(&echo.url, &admin_url, ttl),
        TestStore::new(Backend::Sqlite).await,
    )
    .await;
    let r = get(&gw.base, "/meetings", Some(&token)).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let seen = r.json();
    assert_eq!(seen["headers"]["x-user-id"], id.to_string());
    assert_eq!(seen["headers"]["x-user-scopes"], "tx,bot");
    assert_eq!(seen["headers"]["x-user-limits"], "6");
    assert_eq!(seen["headers"]["x-user-email"], "dropin@acme.com");
    let bad = get(&gw.base, "/meetings", Some("vxa_tx_not-a-real-token")).await;
    assert_eq!(bad.status, StatusCode::UNAUTHORIZED);

    let revoked = send(
        &admin_url,
        http::Method::DELETE,
        &format!("/admin/tokens/{}", minted["id"]),
        &admin_key[..1],
        "",
    )
    .await;
    assert_eq!(revoked.status, StatusCode::NO_CONTENT);
    tokio::time::sleep(ttl + Duration::from_millis(200)).await;
    let r = get(&gw.base, "/meetings", Some(&token)).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED, "revoked, past the TTL");

    gw.shutdown().await;
    let _ = stop.send(());
    let _ = served.await;
}

vexa_testkit::on_both_backends!(our_admin_api_serves_a_vexa_mode_gateway_as_its_identity_service);
