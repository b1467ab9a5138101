//! Real bots (the mock bot binary as BOT_COMMAND) against a real server, on both backends.
#![allow(clippy::unwrap_used)]

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use reqwest::Method;
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::Message;
use vexa_testkit::{on_both_backends, Backend, TestDb};

use crate::support::*;

async fn a_bot_goes_active_streams_segments_and_completes_as_stopped_when_told_to_leave(
    backend: Backend,
) {
    let db = TestDb::new(backend).await;
    let app = spawn_app(db, Some(mock_bot())).await;
    let (code, m) = app.post_bot(1, happy("abc-defg-hij")).await.parts();
    assert_eq!(code, 201, "{m}");
    assert_eq!(m["status"], "requested");
    assert_eq!(
        m["constructed_meeting_url"],
        "https://meet.google.com/abc-defg-hij"
    );
    assert_eq!(m["data"]["sessions"].as_array().map(Vec::len), Some(1));
    let id = m["id"].as_i64().unwrap();
    assert!(
        !m.to_string().contains("v1."),
        "the bot token must not be echoed"
    );

    let mut ws = app.ws(1).await;
    ws.send(Message::text(json!({"action":"subscribe","meetings":[{"platform":"google_meet","native_id":"abc-defg-hij"}]}).to_string())).await.unwrap();
    ws.send(Message::text(r#"{"action":"ping"}"#))
        .await
        .unwrap();

    app.wait_status(1, id, "active", 10).await;
    let (mut saw_transcript, mut saw_status, mut saw_pong, mut saw_ack) =
        (false, false, false, false);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while !(saw_transcript && saw_status && saw_pong && saw_ack)
        && tokio::time::Instant::now() < deadline
    {
        let Ok(Some(Ok(Message::Text(t)))) =
            tokio::time::timeout(Duration::from_secs(5), ws.next()).await
        else {
            break;
        };
        let v: Value = serde_json::from_str(&t).unwrap();
        match v["type"].as_str() {
            Some("transcript") => {
                saw_transcript = true;
                assert_eq!(v["meeting"]["id"], id);
            }
            Some("meeting.status") => saw_status = true,
            Some("pong") => saw_pong = true,
            Some("subscribed") => {
                saw_ack = true;
                assert_eq!(v["meetings"][0]["native_id"], "abc-defg-hij");
            }
            _ => {}
        }
    }
    assert!(
        saw_transcript && saw_status && saw_pong && saw_ack,
        "ws frames: t={saw_transcript} s={saw_status} p={saw_pong} a={saw_ack}"
    );

    // Segments from two speakers land in the transcript.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let (code, t) = app
            .call(
                Method::GET,
                "/transcripts/google_meet/abc-defg-hij",
                1,
                None,
            )
            .await
            .parts();
        assert_eq!(code, 200, "{t}");
        let segs = t["segments"].as_array().cloned().unwrap_or_default();
        let speakers: std::collections::HashSet<String> = segs
            .iter()
            .filter(|s| s["completed"] == true)
            .filter_map(|s| s["speaker"].as_str().map(str::to_owned))
            .collect();
        if speakers.len() >= 2 && segs.len() >= 3 {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "transcript too short: {t}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let (code, by_id) = app
        .call(Method::GET, &format!("/transcripts/by-id/{id}"), 1, None)
        .await
        .parts();
    assert_eq!((code, by_id["id"].as_i64()), (200, Some(id)));

    let (code, running) = app.call(Method::GET, "/bots/status", 1, None).await.parts();
    assert_eq!(code, 200);
    assert_eq!(running["count"], 1);
    assert_eq!(running["running"], running["running_bots"]);

    let pids = app.bot_pids();
    assert_eq!(pids.len(), 1, "one bot process");
    let (code, receipt) = app
        .call(Method::DELETE, "/bots/google_meet/abc-defg-hij", 1, None)
        .await
        .parts();
    assert_eq!(
        (code, receipt["status"].as_str()),
        (200, Some("stopping")),
        "{receipt}"
    );
    let done = app.wait_status(1, id, "completed", 10).await;
    assert_eq!(done["completion_reason"], "stopped");
    assert!(done["end_time"].is_string() && done["start_time"].is_string());
    app.wait_no_bots(5).await;
    assert!(!alive(pids[0]));
    let (code, _) = app
        .call(Method::DELETE, "/bots/google_meet/abc-defg-hij", 1, None)
        .await
        .parts();
    assert_eq!(code, 404, "a repeated stop finds no live bot");
    let log = std::fs::read_dir(app.data_dir.path().join("bots"))
        .unwrap()
        .count();
    assert_eq!(log, 1, "one log file per bot under <data_dir>/bots");
}

async fn a_bot_that_crashes_while_joining_fails_and_leaves_no_process(backend: Backend) {
    let db = TestDb::new(backend).await;
    let app = spawn_app(db, Some(mock_bot())).await;
    let (code, m) = app
        .post_bot(1, scenario("crash-room", "crash"))
        .await
        .parts();
    assert_eq!(code, 201, "{m}");
    let m = app
        .wait_status(1, m["id"].as_i64().unwrap(), "failed", 10)
        .await;
    assert_eq!(m["failure_stage"], "joining");
    assert_eq!(m["completion_reason"], "join_failure");
    app.wait_no_bots(5).await;
    // The key is free again: a new bot may be sent.
    let (code, _) = app
        .post_bot(1, scenario("crash-room", "crash"))
        .await
        .parts();
    assert_eq!(code, 201);
}

async fn a_rejected_bot_fails_at_admission(backend: Backend) {
    let db = TestDb::new(backend).await;
    let app = spawn_app(db, Some(mock_bot())).await;
    let (_, m) = app
        .post_bot(1, scenario("reject-room", "reject"))
        .await
        .parts();
    let m = app
        .wait_status(1, m["id"].as_i64().unwrap(), "failed", 10)
        .await;
    assert_eq!(m["failure_stage"], "awaiting_admission");
    assert_eq!(m["completion_reason"], "awaiting_admission_rejected");
    app.wait_no_bots(5).await;
}

async fn stopping_a_slow_bot_in_the_lobby_fails_it_as_stopped(backend: Backend) {
    let db = TestDb::new(backend).await;
    let app = spawn_app(db, Some(mock_bot())).await;
    let (_, m) = app.post_bot(1, scenario("slow-room", "slow")).await.parts();
    let id = m["id"].as_i64().unwrap();
    app.wait_status(1, id, "awaiting_admission", 10).await;
    let (code, _) = app
        .call(Method::DELETE, "/bots/google_meet/slow-room", 1, None)
        .await
        .parts();
    assert_eq!(code, 200);
    let m = app.wait_status(1, id, "failed", 10).await;
    assert_eq!(m["completion_reason"], "stopped");
    app.wait_no_bots(5).await;
}

async fn a_config_update_reaches_the_live_bot(backend: Backend) {
    let db = TestDb::new(backend).await;
    let app = spawn_app(db, Some(mock_bot())).await;
    let (code, m) = app
        .call(
            Method::PUT,
            "/bots/google_meet/cfg-room/config",
            1,
            Some(json!({"language": "fr"})),
        )
        .await
        .parts();
    assert_eq!(code, 404, "no live bot: {m}");
    let (_, m) = app.post_bot(1, happy("cfg-room")).await.parts();
    let id = m["id"].as_i64().unwrap();
    app.wait_status(1, id, "active", 10).await;
    let (code, body) = app
        .call(
            Method::PUT,
            "/bots/google_meet/cfg-room/config",
            1,
            Some(json!({"language": "fr", "task": "translate"})),
        )
        .await
        .parts();
    assert_eq!(code, 202, "{body}");
    assert!(body["message"].is_string());
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let (_, t) = app
            .call(Method::GET, "/transcripts/google_meet/cfg-room", 1, None)
            .await
            .parts();
        if t["segments"]
            .as_array()
            .is_some_and(|s| s.iter().any(|s| s["language"] == "fr"))
        {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no segment in the new language: {t}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let logs = std::fs::read_dir(app.data_dir.path().join("bots"))
        .unwrap()
        .flatten()
        .next()
        .unwrap()
        .path();
    assert!(std::fs::read_to_string(logs)
        .unwrap()
        .contains("reconfigure language=fr"));
    app.call(Method::DELETE, "/bots/google_meet/cfg-room", 1, None)
        .await;
    app.wait_status(1, id, "completed", 10).await;
    app.wait_no_bots(5).await;
}

async fn a_config_update_sent_in_the_lobby_is_not_lost(backend: Backend) {
    let db = TestDb::new(backend).await;
    let app = spawn_app(db, Some(mock_bot())).await;
    let (_, m) = app.post_bot(1, scenario("lobby-cfg", "slow")).await.parts();
    let id = m["id"].as_i64().unwrap();
    app.wait_status(1, id, "awaiting_admission", 10).await;
    let (code, body) = app
        .call(
            Method::PUT,
            "/bots/google_meet/lobby-cfg/config",
            1,
            Some(json!({"language": "de"})),
        )
        .await
        .parts();
    assert_eq!(code, 202, "{body}");
    app.wait_status(1, id, "active", 10).await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    let segments = loop {
        let (_, t) = app
            .call(Method::GET, "/transcripts/google_meet/lobby-cfg", 1, None)
            .await
            .parts();
        let segs = t["segments"].as_array().cloned().unwrap_or_default();
        if !segs.is_empty() {
            break segs;
        }
        assert!(tokio::time::Instant::now() < deadline, "no segments: {t}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(
        segments.iter().all(|s| s["language"] == "de"),
        "every segment after the update is in the new language: {segments:?}"
    );
    app.call(Method::DELETE, "/bots/google_meet/lobby-cfg", 1, None)
        .await;
    app.wait_status(1, id, "completed", 10).await;
    app.wait_no_bots(5).await;
}

async fn server_shutdown_leaves_no_bot_process_behind(backend: Backend) {
    let db = TestDb::new(backend).await;
    let mut app = spawn_app(db, Some(mock_bot())).await;
    for n in ["sd-1", "sd-2"] {
        let (code, _) = app.post_bot(1, happy(n)).await.parts();
        assert_eq!(code, 201);
    }
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while app.bot_pids().len() < 2 {
        assert!(tokio::time::Instant::now() < deadline);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let pids = app.bot_pids();
    app.shutdown().await;
    for pid in pids {
        assert!(!alive(pid), "bot {pid} outlived the server");
    }
    // After a restart no meeting claims a bot that no longer exists.
    let app = app.restart().await;
    let (_, status) = app.call(Method::GET, "/bots/status", 1, None).await.parts();
    assert_eq!(status["count"], 0, "{status}");
    let (_, list) = app.call(Method::GET, "/meetings", 1, None).await.parts();
    for m in list["meetings"].as_array().unwrap() {
        assert!(m["status"] == "completed" || m["status"] == "failed", "{m}");
    }
}

on_both_backends!(
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    a_bot_goes_active_streams_segments_and_completes_as_stopped_when_told_to_leave,
    a_bot_that_crashes_while_joining_fails_and_leaves_no_process,
    a_rejected_bot_fails_at_admission,
    stopping_a_slow_bot_in_the_lobby_fails_it_as_stopped,
    a_config_update_reaches_the_live_bot,
    a_config_update_sent_in_the_lobby_is_not_lost,
    server_shutdown_leaves_no_bot_process_behind,
);
