//! `/ws` in front of the ORIGINAL meeting-api (`MEETINGS_API_KIND=vexa`, reference §3.8): the
//! gateway accepts, authenticates on the socket, answers the original's frames, authorizes
//! subscribes through the meeting-api double's `/ws/authorize-subscribe`, and forwards what is
//! published on the real Redis at 127.0.0.1:6379 unchanged. Keys come from the original identity
//! service's double (unique user ids: Redis is shared by parallel tests), except for the
//! revocation suite, which uses our store (both backends).

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use redis::AsyncCommands;
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::Message;
use vexa_core::{Clock, IdentityListener, Scope, SystemClock, Timestamp};
use vexa_gateway::identity::{IdentityConfig, IdentitySource};
use vexa_gateway::{GatewayConfig, MeetingsApiKind};
use vexa_testkit::original::{IdentityMode, OriginalIdentityDouble};
use vexa_testkit::INTERNAL_SECRET;

use super::{dropin_config, Originals};
use crate::support::*;

const REDIS_URL: &str = "redis://127.0.0.1:6379/";
const PLATFORM: &str = "google_meet";

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// An id no other test (or run) uses, so channel names never collide on the shared Redis.
fn unique_id() -> i64 {
    1_000_000 + i64::from(rand::random::<u32>())
}

fn original_key(user: i64) -> String {
    format!("vxa_user_original{user}Key")
}

/// The gateway in front of the doubles, keys from `idp` (TTL `ttl`), Redis when `redis`.
fn ws_config(
    o: &Originals,
    idp: &OriginalIdentityDouble,
    ttl: Duration,
    redis: bool,
) -> GatewayConfig {
    let mut cfg = dropin_config(o, MeetingsApiKind::Vexa, None);
    cfg.redis_url = redis.then(|| REDIS_URL.to_owned());
    cfg.identity = IdentityConfig {
        source: IdentitySource::Vexa,
        validate_base: Some(idp.url.parse().expect("uri")),
        cache_ttl: ttl,
        negative_ttl: Duration::from_millis(200),
        validate_timeout: Duration::from_millis(500),
    };
    cfg
}

struct Stack {
    o: Originals,
    idp: OriginalIdentityDouble,
    gw: Running,
    user: i64,
    key: String,
}

async fn stack_with(ttl: Duration, redis: bool) -> Stack {
    let o = Originals::start().await;
    let idp = OriginalIdentityDouble::start(INTERNAL_SECRET).await;
    let user = unique_id();
    let key = original_key(user);
    idp.add_token(&key, user, &["bot", "tx"], 4);
    let store = TestStore::new(Backend::Sqlite).await;
    let gw = start(ws_config(&o, &idp, ttl, redis), store).await;
    Stack {
        o,
        idp,
        gw,
        user,
        key,
    }
}

async fn stack() -> Stack {
    stack_with(Duration::from_secs(5), true).await
}

async fn connect(addr: std::net::SocketAddr, path: &str, key: Option<&str>) -> Ws {
    let mut req = format!("ws://{addr}{path}")
        .into_client_request()
        .expect("request");
    if let Some(k) = key {
        req.headers_mut()
            .insert("x-api-key", k.parse().expect("header"));
    }
    tokio_tungstenite::connect_async(req)
        .await
        .expect("the upgrade is accepted before any key check")
        .0
}

async fn next_text(ws: &mut Ws) -> String {
    match tokio::time::timeout(Duration::from_secs(3), ws.next()).await {
        Ok(Some(Ok(Message::Text(t)))) => t.to_string(),
        other => panic!("expected a text frame, got {other:?}"),
    }
}

async fn next_json(ws: &mut Ws) -> Value {
    let text = next_text(ws).await;
    serde_json::from_str(&text).unwrap_or_else(|_| panic!("not JSON: {text}"))
}

async fn send(ws: &mut Ws, frame: Value) {
    ws.send(Message::text(frame.to_string()))
        .await
        .expect("send");
}

/// Sends a frame and returns the answer.
async fn ask(ws: &mut Ws, frame: Value) -> Value {
    send(ws, frame).await;
    next_json(ws).await
}

/// A ping answered: the session runs (and its user channel is subscribed), and nothing else
/// was queued before the pong.
async fn ping(ws: &mut Ws) {
    assert_eq!(
        ask(ws, json!({"action": "ping"})).await,
        json!({"type": "pong"})
    );
}

/// The close frame within `within`, skipping nothing: returns (code, reason).
async fn closed(ws: &mut Ws, within: Duration) -> (u16, String) {
    let deadline = tokio::time::Instant::now() + within;
    loop {
        match tokio::time::timeout_at(deadline, ws.next()).await {
            Ok(Some(Ok(Message::Close(Some(frame))))) => {
                return (u16::from(frame.code), frame.reason.to_string())
            }
            Ok(Some(Ok(Message::Ping(_) | Message::Pong(_)))) => continue,
            other => panic!("expected a close within {within:?}, got {other:?}"),
        }
    }
}

/// An error frame, then a close with `code`.
async fn refused(ws: &mut Ws, error: &str, code: u16) {
    assert_eq!(
        next_json(ws).await,
        json!({"type": "error", "error": error})
    );
    assert_eq!(closed(ws, Duration::from_secs(3)).await.0, code);
}

async fn redis() -> redis::aio::MultiplexedConnection {
    redis::Client::open(REDIS_URL)
        .expect("redis url")
        .get_multiplexed_async_connection()
        .await
        .expect("Redis at 127.0.0.1:6379")
}

/// PUBLISH; returns how many Redis subscribers got it.
async fn publish(r: &mut redis::aio::MultiplexedConnection, channel: &str, payload: &str) -> i64 {
    r.publish(channel, payload).await.expect("publish")
}

async fn numsub(r: &mut redis::aio::MultiplexedConnection, channel: &str) -> i64 {
    let v: Vec<(String, i64)> = redis::cmd("PUBSUB")
        .arg("NUMSUB")
        .arg(channel)
        .query_async(r)
        .await
        .expect("pubsub numsub");
    v.first().map_or(0, |(_, n)| *n)
}

/// Waits (bounded) until no Redis client subscribes `channel` any more.
async fn unsubscribed_soon(r: &mut redis::aio::MultiplexedConnection, channel: &str) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(3);
    while numsub(r, channel).await != 0 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "{channel} still subscribed"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn meeting(native: &str) -> Value {
    json!({"platform": PLATFORM, "native_id": native})
}

fn channels(meeting_id: i64) -> [String; 3] {
    [
        format!("tc:meeting:{meeting_id}:mutable"),
        format!("bm:meeting:{meeting_id}:status"),
        format!("va:meeting:{meeting_id}:chat"),
    ]
}

#[tokio::test]
async fn a_missing_or_invalid_key_gets_its_error_frame_and_4401() {
    let s = stack().await;
    let mut ws = connect(s.gw.addr, "/ws", None).await;
    refused(&mut ws, "missing_api_key", 4401).await;
    let mut ws = connect(s.gw.addr, "/ws?api_key=", None).await;
    refused(&mut ws, "missing_api_key", 4401).await;
    let mut ws = connect(s.gw.addr, "/ws", Some("vxa_user_nobodyKnowsThisKey")).await;
    refused(&mut ws, "invalid_api_key", 4401).await;
    let mut ws = connect(s.gw.addr, "/ws?api_key=vxa_user_norThisOne", None).await;
    refused(&mut ws, "invalid_api_key", 4401).await;
    s.gw.shutdown().await;
}

#[tokio::test]
async fn an_identity_service_that_is_down_gets_auth_unavailable_and_4503() {
    let s = stack().await;
    s.idp.set_mode(IdentityMode::Fail);
    let mut ws = connect(s.gw.addr, "/ws", Some(&s.key)).await;
    refused(&mut ws, "auth_unavailable", 4503).await;
    s.idp.set_mode(IdentityMode::Stall);
    let mut ws = connect(s.gw.addr, "/ws", Some(&s.key)).await;
    refused(&mut ws, "auth_unavailable", 4503).await;
    s.gw.shutdown().await;
}

#[tokio::test]
async fn the_user_channel_is_fanned_in_at_once_and_payloads_pass_unchanged() {
    let s = stack().await;
    let mut r = redis().await;
    let channel = format!("u:{}:meetings", s.user);
    // The key in the header, and in the query.
    let mut a = connect(s.gw.addr, "/ws", Some(&s.key)).await;
    let mut b = connect(s.gw.addr, &format!("/ws?api_key={}", s.key), None).await;
    ping(&mut a).await;
    ping(&mut b).await;
    // One Redis subscription for the process, however many sockets watch the channel.
    assert_eq!(numsub(&mut r, &channel).await, 1);
    let payloads = [
        r#"{"type":"meeting.status","meeting":{"id":7,"platform":"google_meet","native_id":"x"},"payload":{"status":"active"}}"#,
        "not json at all — forwarded as is",
        r#"{ "spaced" :  true }"#,
    ];
    for p in payloads {
        assert_eq!(publish(&mut r, &channel, p).await, 1);
        assert_eq!(next_text(&mut a).await, p);
        assert_eq!(next_text(&mut b).await, p);
    }
    drop(a);
    drop(b);
    // The last socket gone, the process leaves the channel.
    unsubscribed_soon(&mut r, &channel).await;
    s.gw.shutdown().await;
}

#[tokio::test]
async fn subscribe_authorizes_through_the_meeting_api_and_fans_the_meeting_channels_in() {
    let s = stack().await;
    let mut r = redis().await;
    let meeting_id = unique_id();
    s.o.meetings
        .own(s.user, PLATFORM, "abc-defg-hij", meeting_id);
    let mut ws = connect(s.gw.addr, "/ws", Some(&s.key)).await;
    ping(&mut ws).await;
    let ack = ask(
        &mut ws,
        json!({"action": "subscribe", "meetings": [{"platform": " google_meet ", "native_id": "abc-defg-hij"}]}),
    )
    .await;
    assert_eq!(
        ack,
        json!({"type": "subscribed", "meetings": [meeting("abc-defg-hij")]})
    );

    // What the meeting-api got: the original's body and headers, plus our identity injection.
    let calls = s.o.meetings.received_on("/ws/authorize-subscribe");
    assert_eq!(calls.len(), 1);
    let call = &calls[0];
    assert_eq!(call.method, "POST");
    let body: Value = serde_json::from_slice(&call.body).expect("json body");
    assert_eq!(
        body,
        json!({"meetings": [{"platform": PLATFORM, "native_meeting_id": "abc-defg-hij"}]})
    );
    let header = |n: &str| {
        call.headers
            .get(n)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    assert_eq!(header("x-api-key"), Some(s.key.clone()));
    assert_eq!(header("x-user-id"), Some(s.user.to_string()));
    assert_eq!(header("x-user-scopes").as_deref(), Some("bot,tx"));
    assert_eq!(header("x-user-limits").as_deref(), Some("4"));
    assert_eq!(
        header("x-internal-secret").as_deref(),
        Some(INTERNAL_SECRET)
    );
    assert!(header("x-trace-id").is_some_and(|t| !t.is_empty()));

    for ch in channels(meeting_id) {
        let payload = format!(r#"{{"type":"transcript","on":"{ch}","confirmed":[],"pending":[]}}"#);
        assert_eq!(publish(&mut r, &ch, &payload).await, 1, "{ch}");
        assert_eq!(next_text(&mut ws).await, payload);
    }

    // A duplicate subscribe is acknowledged again and fans in nothing twice.
    let again = ask(
        &mut ws,
        json!({"action": "subscribe", "meetings": [meeting("abc-defg-hij")]}),
    )
    .await;
    assert_eq!(again, ack);
    let [tc, _, _] = channels(meeting_id);
    assert_eq!(publish(&mut r, &tc, "once").await, 1);
    assert_eq!(next_text(&mut ws).await, "once");
    ping(&mut ws).await;

    // Unsubscribed: acknowledged, and nothing more arrives from that meeting.
    let gone = ask(
        &mut ws,
        json!({"action": "unsubscribe", "meetings": [meeting("abc-defg-hij")]}),
    )
    .await;
    assert_eq!(
        gone,
        json!({"type": "unsubscribed", "meetings": [meeting("abc-defg-hij")]})
    );
    for ch in channels(meeting_id) {
        publish(&mut r, &ch, "after unsubscribe").await;
    }
    ping(&mut ws).await;
    for ch in channels(meeting_id) {
        unsubscribed_soon(&mut r, &ch).await;
    }
    // The user channel is still there.
    let user_channel = format!("u:{}:meetings", s.user);
    assert_eq!(publish(&mut r, &user_channel, "still here").await, 1);
    assert_eq!(next_text(&mut ws).await, "still here");
    s.gw.shutdown().await;
}

#[tokio::test]
async fn every_client_frame_error_is_answered_as_the_original_and_the_socket_stays_open() {
    let s = stack().await;
    let mut ws = connect(s.gw.addr, "/ws", Some(&s.key)).await;
    ping(&mut ws).await;
    let invalid_json = json!({"type": "error", "error": "invalid_json"});
    for text in ["{not json", "[1,2,3]", "42", "null"] {
        ws.send(Message::text(text)).await.expect("send");
        assert_eq!(next_json(&mut ws).await, invalid_json, "{text}");
    }
    for frame in [json!({}), json!({"action": "dance"})] {
        assert_eq!(
            ask(&mut ws, frame).await,
            json!({"type": "error", "error": "unknown_action"})
        );
    }
    let sub_err = |details: &str| json!({"type": "error", "error": "invalid_subscribe_payload", "details": details});
    for (meetings, details) in [
        (json!(null), "'meetings' must be a non-empty list"),
        (json!("x"), "'meetings' must be a non-empty list"),
        (json!([]), "'meetings' list cannot be empty"),
        (
            json!([{"platform": PLATFORM}, 3]),
            "no valid meeting objects",
        ),
    ] {
        let got = ask(
            &mut ws,
            json!({"action": "subscribe", "meetings": meetings}),
        )
        .await;
        assert_eq!(got, sub_err(details));
    }
    // A meeting the user does not own: the meeting-api's first error, as details.
    let got = ask(
        &mut ws,
        json!({"action": "subscribe", "meetings": [meeting("not-mine")]}),
    )
    .await;
    assert_eq!(
        got,
        json!({"type": "error", "error": "authorization_service_error",
               "details": "meetings[0] not authorized or not found for user"})
    );
    // The meeting-api failing.
    s.o.meetings.set_authorize_status(500);
    let got = ask(
        &mut ws,
        json!({"action": "subscribe", "meetings": [meeting("not-mine")]}),
    )
    .await;
    assert_eq!(
        got,
        json!({"type": "error", "error": "authorization_service_error",
               "details": "authorization_service_error:500"})
    );
    let unsub_err = |details: Value| json!({"type": "error", "error": "invalid_unsubscribe_payload", "details": details});
    let got = ask(&mut ws, json!({"action": "unsubscribe", "meetings": {}})).await;
    assert_eq!(got, unsub_err(json!("'meetings' must be a list")));
    let got = ask(
        &mut ws,
        json!({"action": "unsubscribe", "meetings": [1, {"platform": PLATFORM}, meeting("never")]}),
    )
    .await;
    assert_eq!(
        got,
        unsub_err(json!([
            "meetings[0] must be an object",
            "meetings[1] missing 'platform' or 'native_id'",
            "meetings[2] not currently subscribed",
        ]))
    );
    // An empty list unsubscribes nothing and has no error: an empty ack.
    let got = ask(&mut ws, json!({"action": "unsubscribe", "meetings": []})).await;
    assert_eq!(got, json!({"type": "unsubscribed", "meetings": []}));
    ping(&mut ws).await;
    s.gw.shutdown().await;
}

#[tokio::test]
async fn a_meeting_api_that_cannot_be_reached_is_authorization_call_failed() {
    let o = Originals::start().await;
    let idp = OriginalIdentityDouble::start(INTERNAL_SECRET).await;
    let user = unique_id();
    let key = original_key(user);
    idp.add_token(&key, user, &["tx"], 1);
    let mut cfg = ws_config(&o, &idp, Duration::from_secs(5), true);
    let dead = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    cfg.meetings_url = format!("http://{}", dead.local_addr().expect("addr"))
        .parse()
        .expect("uri");
    drop(dead);
    let gw = start(cfg, TestStore::new(Backend::Sqlite).await).await;
    let mut ws = connect(gw.addr, "/ws", Some(&key)).await;
    ping(&mut ws).await;
    let got = ask(
        &mut ws,
        json!({"action": "subscribe", "meetings": [meeting("m")]}),
    )
    .await;
    assert_eq!(got["type"], "error");
    assert_eq!(got["error"], "authorization_call_failed");
    let details = got["details"].as_str().expect("details");
    assert!(
        details.starts_with("authorization_call_failed:"),
        "{details}"
    );
    assert!(!details.contains(&key), "the key leaked into details");
    ping(&mut ws).await;
    gw.shutdown().await;
}

#[tokio::test]
async fn without_redis_a_valid_key_is_told_live_updates_are_unavailable_and_closed_4503() {
    let s = stack_with(Duration::from_secs(5), false).await;
    let mut ws = connect(s.gw.addr, "/ws", Some(&s.key)).await;
    refused(&mut ws, "live_updates_unavailable", 4503).await;
    // The key is still checked first.
    let mut ws = connect(s.gw.addr, "/ws", Some("vxa_user_unknownKey")).await;
    refused(&mut ws, "invalid_api_key", 4401).await;
    let mut ws = connect(s.gw.addr, "/ws", None).await;
    refused(&mut ws, "missing_api_key", 4401).await;
    s.gw.shutdown().await;
}

#[tokio::test]
async fn a_key_revoked_at_the_original_closes_the_socket_within_the_cache_ttl() {
    let ttl = Duration::from_secs(1);
    let s = stack_with(ttl, true).await;
    let mut ws = connect(s.gw.addr, "/ws", Some(&s.key)).await;
    ping(&mut ws).await;
    let revoked = std::time::Instant::now();
    s.idp.revoke(&s.key);
    // A re-check every half TTL over answers at most a TTL old: within 1.5 × TTL (plus the
    // validate round trip).
    let (code, reason) = closed(&mut ws, ttl * 3 / 2 + Duration::from_millis(500)).await;
    assert_eq!((code, reason.as_str()), (4401, "API key revoked"));
    eprintln!(
        "ws close after a revocation at the original (IDENTITY_CACHE_TTL_S=1): {} ms",
        revoked.elapsed().as_millis()
    );
    s.gw.shutdown().await;
}

/// Our store as the identity source, in front of the original meeting-api: a revocation or a
/// deleted user closes the socket with 4401 within 1 s, and so does `expires_at`.
async fn revocation_in_our_store_closes_the_terminated_socket_within_1s(backend: Backend) {
    let o = Originals::start().await;
    let store = TestStore::new(backend).await;
    let mut cfg = dropin_config(&o, MeetingsApiKind::Vexa, None);
    cfg.redis_url = Some(REDIS_URL.to_owned());
    let gw = start(cfg, store.clone()).await;

    let k = key(&store, &[Scope::Tx]).await;
    let mut ws = connect(gw.addr, "/ws", Some(&k)).await;
    ping(&mut ws).await;
    let revoked = std::time::Instant::now();
    gw.invalidator.on_change(&store.revoke(&k).await);
    let (code, reason) = closed(&mut ws, Duration::from_secs(1)).await;
    assert_eq!((code, reason.as_str()), (4401, "API key revoked"));
    eprintln!(
        "ws close after a revocation in our store ({backend:?}): {} ms",
        revoked.elapsed().as_millis()
    );

    let k2 = key(&store, &[Scope::Bot]).await;
    let mut ws2 = connect(gw.addr, "/ws", Some(&k2)).await;
    ping(&mut ws2).await;
    gw.invalidator.on_change(&store.delete_user_of(&k2).await);
    let (code, reason) = closed(&mut ws2, Duration::from_secs(1)).await;
    assert_eq!((code, reason.as_str()), (4401, "API key revoked"));

    let k3 = key_expiring(
        &store,
        &[Scope::Tx],
        Some(Timestamp(SystemClock.now().0 + 500)),
    )
    .await;
    let mut ws3 = connect(gw.addr, "/ws", Some(&k3)).await;
    ping(&mut ws3).await;
    let (code, reason) = closed(&mut ws3, Duration::from_secs(1)).await;
    assert_eq!((code, reason.as_str()), (4401, "API key expired"));
    assert_eq!(CloseCode::from(code), CloseCode::from(4401));
    gw.shutdown().await;
}

on_both_backends!(revocation_in_our_store_closes_the_terminated_socket_within_1s);

/// A socket that stops reading is dropped from the fan-out (close 1013) once its queue is full;
/// another socket on the same channel gets every message regardless.
#[tokio::test]
async fn a_socket_that_cannot_keep_up_is_closed_without_holding_back_the_others() {
    let s = stack().await;
    let mut r = redis().await;
    let channel = format!("u:{}:meetings", s.user);
    let mut slow = connect(s.gw.addr, "/ws", Some(&s.key)).await;
    let mut fast = connect(s.gw.addr, "/ws", Some(&s.key)).await;
    ping(&mut slow).await;
    ping(&mut fast).await;
    let payload = "x".repeat(16 * 1024);
    const MESSAGES: usize = 3000;
    let reader = tokio::spawn(async move {
        for i in 0..MESSAGES {
            assert_eq!(next_text(&mut fast).await.len(), 16 * 1024, "message {i}");
        }
    });
    for _ in 0..MESSAGES {
        publish(&mut r, &channel, &payload).await;
    }
    reader.await.expect("the fast socket got every message");
    // The slow socket, read at last: what fitted in its queue and the network, then 1013.
    let mut got = 0usize;
    let code = loop {
        match tokio::time::timeout(Duration::from_secs(5), slow.next()).await {
            Ok(Some(Ok(Message::Text(_)))) => got += 1,
            Ok(Some(Ok(Message::Close(Some(frame))))) => break u16::from(frame.code),
            other => panic!("expected frames then a close, got {other:?} after {got}"),
        }
    };
    assert_eq!(code, 1013);
    assert!(got < MESSAGES, "the slow socket was never dropped");
    s.gw.shutdown().await;
}

/// A TCP proxy to the real Redis whose connections can be cut (Redis "restarting").
struct CuttableProxy {
    url: String,
    conns: std::sync::Arc<std::sync::Mutex<Vec<tokio::task::JoinHandle<()>>>>,
}

impl CuttableProxy {
    async fn start() -> CuttableProxy {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let url = format!("redis://{}/", listener.local_addr().expect("addr"));
        let conns = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let held = conns.clone();
        tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                let task = tokio::spawn(async move {
                    if let Ok(mut outbound) = tokio::net::TcpStream::connect("127.0.0.1:6379").await
                    {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                    }
                });
                held.lock().expect("lock").push(task);
            }
        });
        CuttableProxy { url, conns }
    }

    /// Drops every open connection (new ones are accepted again).
    fn cut(&self) {
        for task in self.conns.lock().expect("lock").drain(..) {
            task.abort();
        }
    }
}

#[tokio::test]
async fn after_redis_comes_back_every_live_channel_is_subscribed_again() {
    let o = Originals::start().await;
    let idp = OriginalIdentityDouble::start(INTERNAL_SECRET).await;
    let user = unique_id();
    let key = original_key(user);
    idp.add_token(&key, user, &["tx"], 1);
    let meeting_id = unique_id();
    o.meetings.own(user, PLATFORM, "re-connect", meeting_id);
    let proxy = CuttableProxy::start().await;
    let mut cfg = ws_config(&o, &idp, Duration::from_secs(5), true);
    cfg.redis_url = Some(proxy.url.clone());
    let gw = start(cfg, TestStore::new(Backend::Sqlite).await).await;
    let mut r = redis().await;
    let mut ws = connect(gw.addr, "/ws", Some(&key)).await;
    ping(&mut ws).await;
    let ack = ask(
        &mut ws,
        json!({"action": "subscribe", "meetings": [meeting("re-connect")]}),
    )
    .await;
    assert_eq!(ack["type"], "subscribed");
    proxy.cut();
    let user_channel = format!("u:{user}:meetings");
    unsubscribed_soon(&mut r, &user_channel).await;
    // The socket stays open; within the reconnect interval both channels are back.
    let [tc, _, _] = channels(meeting_id);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    for ch in [&user_channel, &tc] {
        while numsub(&mut r, ch).await != 1 {
            assert!(
                tokio::time::Instant::now() < deadline,
                "{ch} not re-subscribed"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    ping(&mut ws).await;
    assert_eq!(publish(&mut r, &user_channel, "back-1").await, 1);
    assert_eq!(next_text(&mut ws).await, "back-1");
    assert_eq!(publish(&mut r, &tc, "back-2").await, 1);
    assert_eq!(next_text(&mut ws).await, "back-2");
    gw.shutdown().await;
}
