//! `key.expiring` is sent once per key even with several admin API replicas: two real
//! `vexa admin-api` processes on one database (PostgreSQL, and one SQLite file) sweep every
//! 100 ms; a real receiver on port 0 counts what arrives, signed like meeting webhooks.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use axum::http::HeaderMap;
use serde_json::{json, Value};
use vexa_testkit::stack::{database_url, free_port, wait_ok, StackEnv};
use vexa_testkit::{Backend, Reply, ADMIN_TOKEN};

use crate::support::VEXA;

const SECRET: &str = "whsec_expiring_once";

type Got = Arc<Mutex<Vec<(HeaderMap, Vec<u8>)>>>;

async fn receiver() -> (String, Got) {
    let got: Got = Arc::default();
    let sink = got.clone();
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |headers: HeaderMap, body: axum::body::Bytes| {
            let sink = sink.clone();
            async move {
                sink.lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .push((headers, body.to_vec()));
                "ok"
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("http://{}/hook", listener.local_addr().expect("addr"));
    tokio::spawn(async move { axum::serve(listener, app).await });
    (url, got)
}

async fn post(base: &str, path: &str, body: Value) -> Value {
    let r = reqwest::Client::new()
        .post(format!("{base}{path}"))
        .header("X-Admin-API-Key", ADMIN_TOKEN)
        .json(&body)
        .send()
        .await
        .expect("admin api answers");
    let reply = Reply::from_reqwest(r).await;
    assert!(reply.status.is_success(), "{path}: {}", reply.text());
    reply.json()
}

async fn key_expiring_is_sent_once_across_two_admin_api_processes(backend: Backend) {
    let (hook, got) = receiver().await;
    let dir = tempfile::tempdir().expect("tmp");
    let url = database_url(backend, dir.path()).await;
    let mut env = StackEnv::new(VEXA, dir.path(), &url);
    env.set("KEY_EXPIRY_CHECK_S", "0.1");
    let mut second = env.clone();
    second.set("ADMIN_API_PORT", &free_port().to_string());
    let mut first_api = env.spawn("admin-api", "admin1");
    wait_ok(&format!("{}/health", env.admin()), Duration::from_secs(30)).await;
    let mut second_api = second.spawn("admin-api", "admin2");
    wait_ok(
        &format!("{}/health", second.admin()),
        Duration::from_secs(30),
    )
    .await;

    let user = post(
        &env.admin(),
        "/admin/users",
        json!({"email": "exp@acme.com"}),
    )
    .await;
    let uid = user["id"].as_i64().expect("id");
    let lasting = post(
        &env.admin(),
        &format!("/admin/users/{uid}/tokens"),
        json!({}),
    )
    .await;
    let set = reqwest::Client::new()
        .put(format!("{}/user/webhook", env.admin()))
        .header("X-API-Key", lasting["token"].as_str().expect("token"))
        .json(&json!({"webhook_url": hook, "webhook_secret": SECRET}))
        .send()
        .await
        .expect("put webhook");
    assert_eq!(set.status().as_u16(), 200);
    let expiring = post(
        &second.admin(),
        &format!("/admin/users/{uid}/tokens"),
        json!({"name": "short", "expires_in": 3600}),
    )
    .await;

    let t0 = Instant::now();
    while got
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .is_empty()
    {
        assert!(
            t0.elapsed() < Duration::from_secs(10),
            "no key.expiring arrived"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // Ten more sweeps of each process: still one notice.
    tokio::time::sleep(Duration::from_millis(1000)).await;
    let got = got.lock().unwrap_or_else(PoisonError::into_inner).clone();
    assert_eq!(got.len(), 1, "exactly one notice");
    let (headers, body) = &got[0];
    let ev: Value = serde_json::from_slice(body).expect("json");
    assert_eq!(ev["event"], "key.expiring");
    assert_eq!(ev["user_id"], uid);
    assert_eq!(ev["key"]["id"], expiring["id"]);
    assert_eq!(ev["key"]["name"], "short");
    assert_eq!(ev["key"]["expires_at"], expiring["expires_at"]);
    let text = String::from_utf8_lossy(body);
    assert!(!text.contains(expiring["token"].as_str().expect("token")));
    let ts: i64 = headers["x-webhook-timestamp"]
        .to_str()
        .expect("ts")
        .parse()
        .expect("ts");
    assert_eq!(
        headers["x-webhook-signature"].to_str().expect("sig"),
        vexa_webhook::sign(SECRET, ts, body)
    );
    for child in [&mut first_api, &mut second_api] {
        let _ = child.kill();
        let _ = child.wait();
    }
}

vexa_testkit::on_both_backends!(key_expiring_is_sent_once_across_two_admin_api_processes);
