//! Stops that race the start, and the hard stop of bots that ignore `leave` and SIGTERM: no
//! process survives.

use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::{json, Value};
use vexa_testkit::procs::alive;
use vexa_testkit::stack::{server_logs, WAIT};
use vexa_testkit::{on_both_backends, Backend, Stack};

use crate::support::VEXA;

/// Polls `GET /meetings/{id}` until the meeting is terminal; the row.
async fn wait_terminal(s: &Stack, key: &str, id: i64) -> Value {
    let deadline = Instant::now() + WAIT;
    loop {
        let (code, m) = s
            .call(Method::GET, &format!("/meetings/{id}"), key, None)
            .await
            .parts();
        assert_eq!(code, 200, "{m}");
        if m["status"] == "completed" || m["status"] == "failed" {
            return m;
        }
        assert!(
            Instant::now() < deadline,
            "meeting {id} never ended: {m}\n{}",
            s.diagnostics()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A stop sent the instant the bot was requested, one sent while it waits in the lobby, and a
/// stop racing the request itself: each ends the meeting as `stopped`, and no process remains.
async fn stops_that_race_the_start(backend: Backend) {
    let mut s = Stack::start(VEXA, backend).await;
    let (_, _, key) = s.key("racer@acme.example", "bot").await;

    // Right after the 201: the bot is still starting.
    let (code, m) = s.post_bot(&key, "race-now", "happy").await.parts();
    assert_eq!(code, 201, "{m}");
    let id = m["id"].as_i64().expect("id");
    let (code, r) = s
        .call(Method::DELETE, "/bots/google_meet/race-now", &key, None)
        .await
        .parts();
    assert_eq!((code, r["status"].as_str()), (200, Some("stopping")), "{r}");
    let end = wait_terminal(&s, &key, id).await;
    assert_eq!(end["completion_reason"], "stopped", "{end}");

    // In the lobby (the slow scenario waits there for 3 s).
    let (code, m) = s.post_bot(&key, "race-lobby", "slow").await.parts();
    assert_eq!(code, 201, "{m}");
    let id = m["id"].as_i64().expect("id");
    s.wait_status(&key, id, "awaiting_admission").await;
    let (code, _) = s
        .call(Method::DELETE, "/bots/google_meet/race-lobby", &key, None)
        .await
        .parts();
    assert_eq!(code, 200);
    let end = s.wait_status(&key, id, "failed").await;
    assert_eq!(end["completion_reason"], "stopped", "{end}");

    // The request and the stop in flight together: whichever wins, nothing is left running.
    let body = json!({"platform": "google_meet", "native_meeting_id": "race-both", "bot_name": "mock:happy"});
    let (post, del) = tokio::join!(
        s.call(Method::POST, "/bots", &key, Some(body)),
        s.call(Method::DELETE, "/bots/google_meet/race-both", &key, None),
    );
    let (post, del) = (post.parts(), del.parts());
    assert_eq!(post.0, 201, "{post:?}");
    assert!(del.0 == 200 || del.0 == 404, "{del:?}");
    let id = post.1["id"].as_i64().expect("id");
    if del.0 == 404 {
        // The stop came first and found nothing; stop the bot now.
        s.wait_status(&key, id, "active").await;
        let (code, _) = s
            .call(Method::DELETE, "/bots/google_meet/race-both", &key, None)
            .await
            .parts();
        assert_eq!(code, 200);
    }
    let end = wait_terminal(&s, &key, id).await;
    assert_eq!(end["completion_reason"], "stopped", "{end}");
    s.wait_bot_count(0).await;
    let (_, st) = s
        .call(Method::GET, "/bots/status", &key, None)
        .await
        .parts();
    assert_eq!(st["count"], 0, "{st}");
    s.shutdown().await;
}

/// A bot command that is not the mock bot: a shell that ignores SIGTERM and leaves a child
/// in its process group (`trap "" TERM` is inherited by `sleep`). With `leaky` in its config
/// the shell exits at once (code 3), leaving that child behind in its group.
const SHELL_BOT: &str =
    r#"sh -c 'trap "" TERM; sleep 1000 & case "$VEXA_BOT_CONFIG" in *leaky*) exit 3;; esac; wait'"#;

/// The hard stop: a bot that never reports and ignores both `leave` and SIGTERM is SIGKILLed
/// with its whole process group after the grace period; a bot whose leader exits takes the
/// rest of its group with it. No process survives, including at server shutdown.
async fn stubborn_and_leaky_bots(backend: Backend) {
    let mut s = Stack::start_with(VEXA, backend, &[("BOT_COMMAND", SHELL_BOT)]).await;
    let (_, _, key) = s.key("stubborn@acme.example", "bot").await;

    let (code, m) = s.post_bot(&key, "leaky-room", "leaky").await.parts();
    assert_eq!(code, 201, "{m}");
    let end = s
        .wait_status(&key, m["id"].as_i64().expect("id"), "failed")
        .await;
    assert_eq!(end["completion_reason"], "join_failure", "{end}");
    s.wait_bot_count(0).await;

    let (code, m) = s.post_bot(&key, "stubborn-room", "stubborn").await.parts();
    assert_eq!(code, 201, "{m}");
    let id = m["id"].as_i64().expect("id");
    let pids = s.wait_bot_count(2).await; // the shell and its sleep
    let t0 = Instant::now();
    let (code, r) = s
        .call(
            Method::DELETE,
            "/bots/google_meet/stubborn-room",
            &key,
            None,
        )
        .await
        .parts();
    assert_eq!((code, r["status"].as_str()), (200, Some("stopping")), "{r}");
    let end = s.wait_status(&key, id, "failed").await;
    assert_eq!(end["completion_reason"], "stopped", "{end}");
    s.wait_bot_count(0).await;
    let took = t0.elapsed();
    // BOT_STOP_GRACE_S=3, then 3 s after SIGTERM before SIGKILL.
    assert!(
        took >= Duration::from_secs(3) && took < Duration::from_secs(20),
        "forced stop took {took:?}"
    );
    for pid in pids {
        assert!(!alive(pid), "{pid} survived the group kill");
    }
    assert!(
        server_logs(&s.env).contains("did not leave within the grace period"),
        "{}",
        s.diagnostics()
    );

    // One more stubborn bot, left running: the server's SIGTERM must still leave nothing.
    let (code, _) = s.post_bot(&key, "stubborn-2", "stubborn").await.parts();
    assert_eq!(code, 201);
    s.wait_bot_count(2).await;
    s.shutdown().await;
}

on_both_backends!(
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    stops_that_race_the_start,
    stubborn_and_leaky_bots,
);
