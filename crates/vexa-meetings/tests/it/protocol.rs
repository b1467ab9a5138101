//! The bot protocol driven by hand (a bot that ignores everything: `sh -c "sleep 30; true"`),
//! so the FSM rules, segment upserts and the hard-stop path are visible from outside.
#![allow(clippy::unwrap_used)]

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use futures_util::{SinkExt, StreamExt};
use hmac::{Hmac, Mac};
use reqwest::Method;
use serde_json::{json, Value};
use sha2::Sha256;
use tokio_tungstenite::tungstenite::Message;
use vexa_testkit::{on_both_backends, Backend, Reply, TestDb};

use crate::support::*;

/// Mints a bot token the way the service does (the harness uses key `[9; 32]`).
fn token(meeting: i64) -> String {
    let exp = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
        + 60_000;
    let body = format!("v1.{meeting}.{exp}");
    let mut mac = Hmac::<Sha256>::new_from_slice(&[9u8; 32]).unwrap();
    mac.update(body.as_bytes());
    format!("{body}.{}", hex::encode(mac.finalize().into_bytes()))
}

async fn report(app: &App, meeting: i64, body: Value) -> Reply {
    let r = app
        .client
        .post(format!("{}/internal/bot/lifecycle", app.base))
        .bearer_auth(token(meeting))
        .json(&body)
        .send()
        .await
        .unwrap();
    Reply::from_reqwest(r).await
}

async fn segments(app: &App, meeting: i64, segs: Value) -> u16 {
    app.client
        .post(format!("{}/internal/bot/segments", app.base))
        .bearer_auth(token(meeting))
        .json(&json!({ "segments": segs }))
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

fn silent_bot() -> Option<String> {
    Some("sh -c 'sleep 30; true'".into())
}

async fn lifecycle_reports_follow_the_state_machine(backend: Backend) {
    let db = TestDb::new(backend).await;
    let app = spawn_app(db, silent_bot()).await;
    let (_, m) = app.post_bot(1, happy("fsm-room")).await.parts();
    let id = m["id"].as_i64().unwrap();
    let (code, body) = report(&app, id, json!({"status": "active"})).await.parts();
    assert_eq!(code, 409, "requested → active skips joining: {body}");
    assert!(body["detail"]
        .as_str()
        .unwrap()
        .starts_with("Invalid transition: requested → active"));
    assert_eq!(
        report(&app, id, json!({"status": "joining"})).await.status,
        200
    );
    let (code, body) = report(&app, id, json!({"status": "joining"})).await.parts();
    assert_eq!(
        (code, body["changed"].as_bool()),
        (200, Some(false)),
        "same status is a no-op"
    );
    assert_eq!(
        report(&app, id, json!({"status": "active"})).await.status,
        200
    );
    assert_eq!(
        report(&app, id, json!({"status": "bogus"})).await.status,
        422
    );

    let seg = |text: &str, completed: bool| json!([{"segment_id": "s1", "speaker": "Alice", "text": text, "start": 1.0, "end": 2.0, "language": "en", "completed": completed}]);
    assert_eq!(segments(&app, id, seg("Hel", false)).await, 200);
    assert_eq!(segments(&app, id, seg("Hello", true)).await, 200);
    assert_eq!(segments(&app, id, json!([{"text": "no id"}])).await, 422);
    let (_, t) = app
        .call(Method::GET, "/transcripts/google_meet/fsm-room", 1, None)
        .await
        .parts();
    assert_eq!(
        t["segments"].as_array().map(Vec::len),
        Some(1),
        "upsert by segment id: {t}"
    );
    assert_eq!(t["segments"][0]["text"], "Hello");

    let (code, body) = report(
        &app,
        id,
        json!({"status": "completed", "completion_reason": "left_alone"}),
    )
    .await
    .parts();
    assert_eq!(
        (code, body["completion_reason"].as_str()),
        (200, Some("left_alone"))
    );
    assert_eq!(
        report(&app, id, json!({"status": "failed"})).await.status,
        409,
        "terminal is final"
    );
    // Reports for one meeting cannot be made with another meeting's token.
    let r = app
        .client
        .post(format!("{}/internal/bot/lifecycle", app.base))
        .bearer_auth(token(id).replacen(&format!("v1.{id}."), &format!("v1.{}.", id + 1), 1))
        .json(&json!({"status": "joining"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 401);
    app.wait_no_bots(8).await; // a bot that reported its end is made to exit
}

async fn a_bot_that_ignores_leave_is_terminated_with_its_whole_group_after_the_grace_period(
    backend: Backend,
) {
    let db = TestDb::new(backend).await;
    let app = spawn_app(db, silent_bot()).await;
    let (_, m) = app.post_bot(1, happy("deaf-room")).await.parts();
    let id = m["id"].as_i64().unwrap();
    report(&app, id, json!({"status": "joining"})).await;
    report(&app, id, json!({"status": "active"})).await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while app.bot_pids().len() < 2 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "sh and sleep should both run"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let pids = app.bot_pids();
    let (code, _) = app
        .call(Method::DELETE, "/bots/google_meet/deaf-room", 1, None)
        .await
        .parts();
    assert_eq!(code, 200);
    let m = app.meeting(1, id).await;
    assert_eq!(m["status"], "stopping");
    tokio::time::sleep(Duration::from_millis(1000)).await;
    assert!(
        pids.iter().all(|p| alive(*p)),
        "still inside the grace period"
    );
    let m = app.wait_status(1, id, "completed", 10).await;
    assert_eq!(m["completion_reason"], "stopped", "stop dominates");
    app.wait_no_bots(5).await;
    assert!(
        pids.iter().all(|p| !alive(*p)),
        "the whole process group is gone"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn websocket_frames_are_only_the_callers_own() {
    let app = spawn_app(TestDb::sqlite().await, silent_bot()).await;
    let (_, m) = app.post_bot(1, happy("ws-room")).await.parts();
    let id = m["id"].as_i64().unwrap();
    let mut mine = app.ws(1).await;
    let mut theirs = app.ws(2).await;
    let sub = json!({"action": "subscribe", "meetings": [{"platform": "google_meet", "native_id": "ws-room"}]}).to_string();
    theirs.send(Message::text(sub.clone())).await.unwrap();
    let ack: Value =
        serde_json::from_str(theirs.next().await.unwrap().unwrap().to_text().unwrap()).unwrap();
    assert_eq!(
        ack,
        json!({"type": "subscribed", "meetings": []}),
        "not theirs to watch"
    );
    mine.send(Message::text(sub)).await.unwrap();
    let ack: Value =
        serde_json::from_str(mine.next().await.unwrap().unwrap().to_text().unwrap()).unwrap();
    assert_eq!(ack["meetings"][0]["native_id"], "ws-room");
    for (frame, want) in [
        ("nope", "invalid_json"),
        (r#"{"action":"dance"}"#, "unknown_action"),
        (
            r#"{"action":"subscribe","meetings":[]}"#,
            "invalid_subscribe_payload",
        ),
    ] {
        mine.send(Message::text(frame)).await.unwrap();
        let v: Value =
            serde_json::from_str(mine.next().await.unwrap().unwrap().to_text().unwrap()).unwrap();
        assert_eq!(
            (v["type"].as_str(), v["error"].as_str()),
            (Some("error"), Some(want))
        );
    }
    report(&app, id, json!({"status": "joining"})).await;
    let v: Value =
        serde_json::from_str(mine.next().await.unwrap().unwrap().to_text().unwrap()).unwrap();
    assert_eq!(v["type"], "meeting.status");
    let silent = tokio::time::timeout(Duration::from_millis(500), theirs.next()).await;
    assert!(
        silent.is_err(),
        "another user's socket receives nothing: {silent:?}"
    );
    app.call(Method::DELETE, "/bots/google_meet/ws-room", 1, None)
        .await;
}

on_both_backends!(
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    lifecycle_reports_follow_the_state_machine,
    a_bot_that_ignores_leave_is_terminated_with_its_whole_group_after_the_grace_period,
);
