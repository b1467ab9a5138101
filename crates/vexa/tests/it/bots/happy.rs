//! A happy bot: 201 → active → two speakers in the transcript and on `/ws` → stop →
//! completed (`stopped`), its process gone.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::json;
use vexa_testkit::procs::alive;
use vexa_testkit::stack::{bot_logs, server_logs, WAIT};
use vexa_testkit::{on_both_backends, Backend, Stack};

use super::{collect_frames, frame_where, status_frame, subscribe_msg, ws_request, MEET};
use crate::support::VEXA;

/// Spawn → active → segments (transcript and WebSocket) → stop → completed (stopped), no
/// process left.
async fn happy_path(backend: Backend) {
    let mut s = Stack::start(VEXA, backend).await;
    let (_, _, key) = s.key("happy@acme.example", "bot,tx").await;

    let (code, m) = s.post_bot(&key, MEET, "happy").await.parts();
    assert_eq!(code, 201, "{m}");
    assert_eq!(m["status"], "requested", "{m}");
    assert_eq!(m["platform"], "google_meet");
    assert_eq!(m["native_meeting_id"], MEET);
    assert_eq!(
        m["constructed_meeting_url"],
        format!("https://meet.google.com/{MEET}")
    );
    assert!(
        !m.to_string().contains("v1."),
        "the bot token is never echoed: {m}"
    );
    let id = m["id"].as_i64().expect("meeting id");

    let mut ws = s.ws(&key, false).await;
    let ack = ws_request(&mut ws, subscribe_msg(MEET), "subscribed").await;
    assert_eq!(
        ack["meetings"],
        json!([{"platform": "google_meet", "native_id": MEET}]),
        "{ack}"
    );
    let pong = ws_request(&mut ws, json!({"action": "ping"}), "pong").await;
    assert_eq!(pong["type"], "pong");
    let mut frames = collect_frames(ws);
    let mut seen = Vec::new();

    // Active, as GET /bots/status reports it.
    let deadline = Instant::now() + WAIT;
    loop {
        let (code, st) = s
            .call(Method::GET, "/bots/status", &key, None)
            .await
            .parts();
        assert_eq!(code, 200, "{st}");
        assert_eq!(st["running"], st["running_bots"], "{st}");
        if st["count"] == 1 && st["running_bots"][0]["status"] == "active" {
            assert_eq!(st["running_bots"][0]["id"], id, "{st}");
            break;
        }
        assert!(
            Instant::now() < deadline,
            "bot never active: {st}\n{}",
            s.diagnostics()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let pids = s.wait_bot_count(1).await;

    // Live frames for the subscribed meeting.
    let t = frame_where(&mut frames, &mut seen, "transcript", |v| {
        v["type"] == "transcript" && v["meeting"]["id"] == id
    })
    .await;
    assert_eq!(t["meeting"]["native_id"], MEET, "{t}");
    frame_where(&mut frames, &mut seen, "meeting.status active", |v| {
        status_frame(v, id, "active")
    })
    .await;
    let mut ws_speakers = HashSet::new();
    for v in &seen {
        for seg in v["confirmed"].as_array().into_iter().flatten() {
            if let Some(sp) = seg["speaker"].as_str() {
                ws_speakers.insert(sp.to_owned());
            }
        }
    }

    // The transcript: six confirmed segments from two speakers, drafts rewritten in place.
    let deadline = Instant::now() + WAIT;
    let segments = loop {
        let (code, tr) = s
            .call(
                Method::GET,
                &format!("/transcripts/google_meet/{MEET}"),
                &key,
                None,
            )
            .await
            .parts();
        assert_eq!(code, 200, "{tr}");
        assert_eq!(tr["id"], id);
        let segs = tr["segments"].as_array().cloned().unwrap_or_default();
        assert!(
            segs.len() <= 6,
            "a draft was stored next to its final text: {tr}"
        );
        if segs.len() == 6 && segs.iter().all(|x| x["completed"] == true) {
            break segs;
        }
        assert!(
            Instant::now() < deadline,
            "transcript incomplete: {tr}\n{}",
            s.diagnostics()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let speakers: HashSet<&str> = segments
        .iter()
        .filter_map(|x| x["speaker"].as_str())
        .collect();
    assert_eq!(speakers, HashSet::from(["Alice", "Bob"]), "{segments:?}");
    assert!(segments
        .iter()
        .all(|x| x["text"].as_str().is_some_and(|t| !t.is_empty())));
    let (code, by_id) = s
        .call(Method::GET, &format!("/transcripts/by-id/{id}"), &key, None)
        .await
        .parts();
    assert_eq!(code, 200, "{by_id}");
    assert_eq!(by_id["segments"].as_array().map(Vec::len), Some(6));
    // More segments may still be on their way over the socket; by now two speakers have talked.
    while ws_speakers.len() < 2 {
        let v = frame_where(&mut frames, &mut Vec::new(), "transcript", |v| {
            v["type"] == "transcript"
        })
        .await;
        seen.push(v.clone());
        for seg in v["confirmed"].as_array().into_iter().flatten() {
            if let Some(sp) = seg["speaker"].as_str() {
                ws_speakers.insert(sp.to_owned());
            }
        }
    }

    // Stop: the bot leaves, the meeting completes as stopped, the process is gone.
    let (code, receipt) = s
        .call(
            Method::DELETE,
            &format!("/bots/google_meet/{MEET}"),
            &key,
            None,
        )
        .await
        .parts();
    assert_eq!(code, 200, "{receipt}");
    assert_eq!(receipt["status"], "stopping", "{receipt}");
    let done = s.wait_status(&key, id, "completed").await;
    assert_eq!(done["completion_reason"], "stopped", "{done}");
    assert!(
        done["start_time"].is_string() && done["end_time"].is_string(),
        "{done}"
    );
    frame_where(&mut frames, &mut seen, "meeting.status completed", |v| {
        status_frame(v, id, "completed")
    })
    .await;
    s.wait_bot_count(0).await;
    assert!(
        !alive(pids[0]),
        "the bot process {} is still alive",
        pids[0]
    );
    let (code, st) = s
        .call(Method::GET, "/bots/status", &key, None)
        .await
        .parts();
    assert_eq!((code, st["count"].as_i64()), (200, Some(0)), "{st}");
    let (code, again) = s
        .call(
            Method::DELETE,
            &format!("/bots/google_meet/{MEET}"),
            &key,
            None,
        )
        .await
        .parts();
    assert_eq!(code, 404, "a second stop finds no live bot: {again}");
    let (code, list) = s.call(Method::GET, "/meetings", &key, None).await.parts();
    assert_eq!(code, 200);
    assert_eq!(list["meetings"].as_array().map(Vec::len), Some(1), "{list}");
    let log = server_logs(&s.env);
    assert!(
        !log.contains("did not leave within the grace period"),
        "the bot had to be forced down: {}",
        s.diagnostics()
    );
    assert!(
        bot_logs(&s.env).contains("[ACT] leave received"),
        "the bot was told to leave (not killed): {}",
        bot_logs(&s.env)
    );
    s.shutdown().await;
}

on_both_backends!(
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    happy_path,
);
