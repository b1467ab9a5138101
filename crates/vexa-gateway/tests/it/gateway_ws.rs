//! Specification of the `/ws` relay: frames flow both ways with the injected identity, and the
//! gateway closes the client with 4401 when the key is revoked, expires, or a rotation's grace ends.

use std::time::Duration;

use crate::support::*;
use futures_util::{SinkExt, StreamExt};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::Message;
use vexa_core::{Clock, IdentityListener, Scope, SystemClock, Timestamp};
use vexa_testkit::INTERNAL_SECRET;

async fn connect(
    addr: std::net::SocketAddr,
    path: &str,
    key: Option<&str>,
) -> tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>> {
    let mut req = format!("ws://{addr}{path}")
        .into_client_request()
        .expect("request");
    if let Some(k) = key {
        req.headers_mut()
            .insert("x-api-key", k.parse().expect("header"));
    }
    tokio_tungstenite::connect_async(req)
        .await
        .expect("upgrade")
        .0
}

async fn next_text(
    ws: &mut (impl StreamExt<Item = Result<Message, tokio_tungstenite::tungstenite::Error>> + Unpin),
) -> String {
    match tokio::time::timeout(Duration::from_secs(2), ws.next()).await {
        Ok(Some(Ok(Message::Text(t)))) => t.to_string(),
        other => panic!("expected text, got {other:?}"),
    }
}

async fn expect_close(
    ws: &mut (impl StreamExt<Item = Result<Message, tokio_tungstenite::tungstenite::Error>> + Unpin),
    reason: &str,
) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(1);
    loop {
        match tokio::time::timeout_at(deadline, ws.next()).await {
            Ok(Some(Ok(Message::Close(Some(frame))))) => {
                assert_eq!(frame.code, CloseCode::from(4401));
                assert_eq!(frame.reason.as_str(), reason);
                return;
            }
            Ok(Some(Ok(_))) => continue,
            other => panic!("expected a 4401 close within 1 s, got {other:?}"),
        }
    }
}

async fn frames_are_relayed_both_ways_with_the_injected_identity(backend: Backend) {
    let echo = EchoUpstream::start().await;
    let store = TestStore::new(backend).await;
    let gw = start(config(&echo.url), store.clone()).await;
    let k = key(&store, &[Scope::Tx]).await;
    let mut ws = connect(gw.addr, "/ws?x=1", Some(&k)).await;
    let hello: serde_json::Value = serde_json::from_str(&next_text(&mut ws).await).expect("json");
    assert_eq!(hello["headers"]["x-user-id"], "1");
    assert_eq!(hello["headers"]["x-internal-secret"], INTERNAL_SECRET);
    assert!(hello["headers"].get("x-api-key").is_none());
    assert_eq!(hello["query"], "x=1");
    ws.send(Message::text("ping-1")).await.expect("send");
    assert_eq!(next_text(&mut ws).await, "ping-1");
    gw.shutdown().await;
}

async fn the_key_may_come_in_the_query_and_is_not_forwarded(backend: Backend) {
    let echo = EchoUpstream::start().await;
    let store = TestStore::new(backend).await;
    let gw = start(config(&echo.url), store.clone()).await;
    let k = key(&store, &[Scope::Bot]).await;
    let mut ws = connect(gw.addr, &format!("/ws?api_key={k}&y=2"), None).await;
    let hello: serde_json::Value = serde_json::from_str(&next_text(&mut ws).await).expect("json");
    assert_eq!(hello["query"], "y=2");
    gw.shutdown().await;
}

async fn an_upgrade_without_a_valid_key_is_refused(backend: Backend) {
    let echo = EchoUpstream::start().await;
    let store = TestStore::new(backend).await;
    let gw = start(config(&echo.url), store.clone()).await;
    let req = format!("ws://{}/ws", gw.addr)
        .into_client_request()
        .expect("request");
    match tokio_tungstenite::connect_async(req).await {
        Err(tokio_tungstenite::tungstenite::Error::Http(resp)) => assert_eq!(resp.status(), 401),
        other => panic!("expected 401, got {:?}", other.map(|_| ())),
    }
    gw.shutdown().await;
}

async fn revocation_closes_the_socket_with_4401(backend: Backend) {
    let echo = EchoUpstream::start().await;
    let store = TestStore::new(backend).await;
    let gw = start(config(&echo.url), store.clone()).await;
    let k = key(&store, &[Scope::Tx]).await;
    let mut ws = connect(gw.addr, "/ws", Some(&k)).await;
    next_text(&mut ws).await;
    gw.invalidator.on_change(&store.revoke(&k).await);
    expect_close(&mut ws, "API key revoked").await;

    let k2 = key(&store, &[Scope::Tx]).await;
    let mut ws2 = connect(gw.addr, "/ws", Some(&k2)).await;
    next_text(&mut ws2).await;
    gw.invalidator.on_change(&store.delete_user_of(&k2).await);
    expect_close(&mut ws2, "API key revoked").await;
    gw.shutdown().await;
}

async fn expiry_closes_the_socket_with_4401(backend: Backend) {
    let echo = EchoUpstream::start().await;
    let store = TestStore::new(backend).await;
    let gw = start(config(&echo.url), store.clone()).await;
    let k = key_expiring(
        &store,
        &[Scope::Tx],
        Some(Timestamp(SystemClock.now().0 + 500)),
    )
    .await;
    let mut ws = connect(gw.addr, "/ws", Some(&k)).await;
    next_text(&mut ws).await;
    expect_close(&mut ws, "API key expired").await;
    gw.shutdown().await;
}

/// A rotated key keeps its socket and its HTTP access through the grace period (the cache
/// re-reads it on `KeyChanged`); at the grace end the socket closes with 4401 and requests get
/// `Invalid API key`, while the replacement works.
async fn a_rotated_key_keeps_its_socket_through_the_grace_and_loses_it_at_the_end(
    backend: Backend,
) {
    use vexa_core::rotate::{rotate_key, Grace};
    let echo = EchoUpstream::start().await;
    let store = TestStore::new(backend).await;
    let gw = start(config(&echo.url), store.clone()).await;
    let k = key(&store, &[Scope::Tx]).await;
    assert_eq!(
        get(&gw.base, "/auth/me", Some(&k)).await.status,
        200,
        "cached before"
    );
    let mut ws = connect(gw.addr, "/ws", Some(&k)).await;
    next_text(&mut ws).await;
    let id = vexa_core::IdentityStore::resolve_key(store.as_ref(), &vexa_core::KeyDigest::of(&k))
        .await
        .expect("resolve")
        .expect("live")
        .key_id;
    let grace = Grace::parse(Some(vexa_core::Lifetime::Seconds(1))).expect("grace");
    let admin = vexa_core::AuditContext::local(vexa_core::AuditActor::AdminApi);
    let rotated = rotate_key(store.admin_side(), id, grace, SystemClock.now(), &admin)
        .await
        .expect("rotate");
    gw.invalidator.on_change(&rotated.change);
    let new_key = rotated.key.expose_secret().to_owned();
    assert_eq!(get(&gw.base, "/auth/me", Some(&new_key)).await.status, 200);
    assert_eq!(
        get(&gw.base, "/auth/me", Some(&k)).await.status,
        200,
        "in grace"
    );
    assert!(
        tokio::time::timeout(Duration::from_millis(300), ws.next())
            .await
            .is_err(),
        "the socket stays open in grace"
    );
    let deadline = tokio::time::Instant::now() + Duration::from_secs(2);
    loop {
        match tokio::time::timeout_at(deadline, ws.next()).await {
            Ok(Some(Ok(Message::Close(Some(frame))))) => {
                assert_eq!(frame.code, CloseCode::from(4401));
                assert_eq!(frame.reason.as_str(), "API key revoked");
                break;
            }
            Ok(Some(Ok(_))) => continue,
            other => panic!("expected a 4401 close at the grace end, got {other:?}"),
        }
    }
    let r = get(&gw.base, "/auth/me", Some(&k)).await;
    assert_eq!(
        (r.status.as_u16(), r.detail().as_str()),
        (401, "Invalid API key")
    );
    assert_eq!(get(&gw.base, "/auth/me", Some(&new_key)).await.status, 200);
    gw.shutdown().await;
}

on_both_backends!(
    frames_are_relayed_both_ways_with_the_injected_identity,
    the_key_may_come_in_the_query_and_is_not_forwarded,
    an_upgrade_without_a_valid_key_is_refused,
    revocation_closes_the_socket_with_4401,
    expiry_closes_the_socket_with_4401,
    a_rotated_key_keeps_its_socket_through_the_grace_and_loses_it_at_the_end,
);
