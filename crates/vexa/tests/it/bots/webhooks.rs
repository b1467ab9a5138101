//! Signed webhook deliveries checked by a receiver in the test (HMAC over `"<ts>.<body>"`),
//! with a retried delivery.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use hmac::{Hmac, Mac};
use reqwest::Method;
use serde_json::{json, Value};
use sha2::Sha256;
use tokio::sync::mpsc;
use vexa_testkit::stack::WAIT;
use vexa_testkit::{on_both_backends, Backend, Stack};

use super::MEET;
use crate::support::VEXA;

/// One webhook delivery as received.
struct Delivery {
    headers: http::HeaderMap,
    body: Vec<u8>,
}

#[derive(Clone)]
struct Receiver {
    tx: mpsc::UnboundedSender<Delivery>,
    /// The first `meeting.completed` is answered 503, to see it redelivered.
    refused_once: Arc<AtomicBool>,
}

async fn receive(
    axum::extract::State(r): axum::extract::State<Receiver>,
    headers: http::HeaderMap,
    body: axum::body::Bytes,
) -> http::StatusCode {
    let completed = serde_json::from_slice::<Value>(&body)
        .ok()
        .is_some_and(|v| v["event_type"] == "meeting.completed");
    let _ = r.tx.send(Delivery {
        headers,
        body: body.to_vec(),
    });
    if completed && !r.refused_once.swap(true, Ordering::SeqCst) {
        return http::StatusCode::SERVICE_UNAVAILABLE;
    }
    http::StatusCode::OK
}

/// A webhook receiver on a free loopback port: its URL and what it receives.
async fn webhook_receiver() -> (String, mpsc::UnboundedReceiver<Delivery>) {
    let (tx, rx) = mpsc::unbounded_channel();
    let state = Receiver {
        tx,
        refused_once: Arc::new(AtomicBool::new(false)),
    };
    let app = axum::Router::new()
        .route("/hook", axum::routing::post(receive))
        .with_state(state);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind receiver");
    let addr = listener.local_addr().expect("receiver addr");
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (format!("http://{addr}/hook"), rx)
}

/// Checks a delivery the way a receiver must: `X-Webhook-Signature` is
/// `sha256=<hex HMAC-SHA256(secret, "<X-Webhook-Timestamp>.<raw body>")>` and the timestamp is
/// fresh. Returns the parsed envelope.
fn verify(secret: &str, d: &Delivery) -> Value {
    let header = |name: &str| {
        d.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_else(|| panic!("delivery without {name}: {:?}", d.headers))
            .to_owned()
    };
    let ts = header("x-webhook-timestamp");
    let ts_secs: i64 = ts.parse().expect("timestamp is unix seconds");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs() as i64;
    assert!(
        (now - ts_secs).abs() < 300,
        "stale timestamp {ts} (now {now})"
    );
    let sig = header("x-webhook-signature");
    let hex_sig = sig.strip_prefix("sha256=").expect("sha256= prefix");
    let raw = hex::decode(hex_sig).expect("hex signature");
    let mac_over = |key: &str, ts: &str| {
        let mut mac = Hmac::<Sha256>::new_from_slice(key.as_bytes()).expect("hmac key");
        mac.update(ts.as_bytes());
        mac.update(b".");
        mac.update(&d.body);
        mac
    };
    assert!(
        mac_over(secret, &ts).verify_slice(&raw).is_ok(),
        "bad signature {sig} for body {}",
        String::from_utf8_lossy(&d.body)
    );
    assert!(mac_over("some-other-secret", &ts)
        .verify_slice(&raw)
        .is_err());
    assert!(
        mac_over(secret, &(ts_secs + 1).to_string())
            .verify_slice(&raw)
            .is_err(),
        "the timestamp is signed"
    );
    assert_eq!(header("authorization"), format!("Bearer {secret}"));
    assert!(header("content-type").starts_with("application/json"));
    serde_json::from_slice(&d.body).expect("envelope is JSON")
}

/// `PUT /user/webhook` through the gateway (served by the admin API, stored in the user's
/// `data`); the meeting records `data.webhook_url`; a happy bot runs and stops; the receiver gets signed
/// deliveries (started, status changes, completed — the refused one redelivered with the same
/// event id). Another user's bot sends nothing to it.
async fn signed_webhooks(backend: Backend) {
    const SECRET: &str = "whsec-e2e-0123456789abcdef";
    let mut s = Stack::start(VEXA, backend).await;
    let (_, _, key) = s.key("hooks@acme.example", "bot,tx").await;
    let (_, _, other) = s.key("nohooks@acme.example", "bot").await;
    s.secrets.push(SECRET.to_owned());
    let (url, mut deliveries) = webhook_receiver().await;

    let events = json!({"meeting.started": true, "meeting.completed": true, "meeting.status_change": true, "bot.failed": true});
    let (code, hook) = s
        .call(
            Method::PUT,
            "/user/webhook",
            &key,
            Some(json!({"webhook_url": url, "webhook_secret": SECRET, "webhook_events": events})),
        )
        .await
        .parts();
    assert_eq!(code, 200, "{hook}");
    // The answer is the user record (the admin API's), the settings in `data`, no secret.
    assert_eq!(hook["email"], "hooks@acme.example");
    assert_eq!(hook["data"]["webhook_url"], url.as_str());
    assert_eq!(hook["data"]["webhook_events"], events);
    assert!(!hook.to_string().contains(SECRET), "{hook}");
    let (code, read) = s
        .call(Method::GET, "/user/webhook", &key, None)
        .await
        .parts();
    assert_eq!(code, 200);
    assert_eq!(read["webhook_url"], url.as_str());
    assert_eq!(read["webhook_secret_set"], true);
    assert!(
        !read.to_string().contains(SECRET),
        "the secret is masked on read: {read}"
    );
    assert_eq!(read["webhook_events"], events);

    let (code, m) = s.post_bot(&key, MEET, "happy").await.parts();
    assert_eq!(code, 201, "{m}");
    // A meeting created after the webhook is set carries it, as 0.12's do (never the secret).
    assert_eq!(m["data"]["webhook_url"], url.as_str(), "{m}");
    assert!(!m.to_string().contains(SECRET), "{m}");
    let id = m["id"].as_i64().expect("id");
    s.wait_status(&key, id, "active").await;
    let (code, o) = s.post_bot(&other, "other-room", "crash").await.parts();
    assert_eq!(code, 201, "{o}");
    let other_id = o["id"].as_i64().expect("id");
    s.wait_status(&other, other_id, "failed").await;
    let (code, _) = s
        .call(
            Method::DELETE,
            &format!("/bots/google_meet/{MEET}"),
            &key,
            None,
        )
        .await
        .parts();
    assert_eq!(code, 200);
    s.wait_status(&key, id, "completed").await;

    // Wait for: started, status changes to active and completed, completed twice (503, retry).
    let mut got: Vec<Value> = Vec::new();
    let done = |got: &[Value]| {
        let count = |t: &str| got.iter().filter(|e| e["event_type"] == t).count();
        let change_to = |st: &str| {
            got.iter().any(|e| {
                e["event_type"] == "meeting.status_change" && e["data"]["status_change"]["to"] == st
            })
        };
        count("meeting.started") >= 1
            && count("meeting.completed") >= 2
            && change_to("active")
            && change_to("completed")
    };
    let deadline = Instant::now() + WAIT;
    while !done(&got) {
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, deliveries.recv()).await {
            Ok(Some(d)) => got.push(verify(SECRET, &d)),
            _ => panic!(
                "deliveries incomplete: {:#?}\n{}",
                got.iter()
                    .map(|e| (
                        e["event_type"].clone(),
                        e["data"]["status_change"]["to"].clone()
                    ))
                    .collect::<Vec<_>>(),
                s.diagnostics()
            ),
        }
    }
    for e in &got {
        assert!(
            e["event_id"]
                .as_str()
                .is_some_and(|x| x.starts_with("evt_")),
            "{e}"
        );
        assert!(e["created_at"].is_string(), "{e}");
        assert_eq!(
            e["data"]["meeting"]["id"], id,
            "only this user's meeting: {e}"
        );
        assert_eq!(e["data"]["meeting"]["user_id"], m["user_id"], "{e}");
        assert!(
            !e.to_string().contains(SECRET),
            "the secret is never in a payload"
        );
    }
    let completed: Vec<&Value> = got
        .iter()
        .filter(|e| e["event_type"] == "meeting.completed")
        .collect();
    assert_eq!(
        completed[0]["event_id"], completed[1]["event_id"],
        "a redelivery keeps its event id"
    );
    assert_eq!(completed[1]["data"]["meeting"]["status"], "completed");
    assert_eq!(
        completed[1]["data"]["meeting"]["completion_reason"],
        "stopped"
    );
    let started = got
        .iter()
        .find(|e| e["event_type"] == "meeting.started")
        .expect("started");
    assert_eq!(started["data"]["meeting"]["native_meeting_id"], MEET);

    // Nothing else arrives, in particular nothing about the other user's failed bot.
    tokio::time::sleep(Duration::from_millis(500)).await;
    while let Ok(d) = deliveries.try_recv() {
        let e = verify(SECRET, &d);
        assert_eq!(
            e["data"]["meeting"]["id"], id,
            "a delivery about someone else: {e}"
        );
    }
    s.wait_bot_count(0).await;
    s.shutdown().await;
}

on_both_backends!(
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    signed_webhooks,
);
