//! No orphan: a `kill -9` of the server leaves no bot behind, and the roles run as separate
//! processes take their bots down with `vexa meetings`.

use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::json;
use vexa_testkit::stack::{start_up, WAIT};
use vexa_testkit::{on_both_backends, Backend, Stack, UpProcess};

use super::MEET;
use crate::support::VEXA;

/// `kill -9` of the server: its bots see their stdin close and leave on their own; after a
/// restart no meeting claims a live bot and the meeting can have a new one.
async fn a_killed_server_leaves_no_bot_behind(backend: Backend) {
    let mut s = Stack::start(VEXA, backend).await;
    let (_, _, key) = s.key("killed@acme.example", "bot").await;
    let (code, m) = s.post_bot(&key, MEET, "happy").await.parts();
    assert_eq!(code, 201, "{m}");
    let id = m["id"].as_i64().expect("id");
    s.wait_status(&key, id, "active").await;
    let pids = s.wait_bot_count(1).await;

    let mut up = s.up.take().expect("up");
    up.child.kill().expect("SIGKILL");
    let _ = up.child.wait();
    drop(up);
    let deadline = Instant::now() + WAIT;
    while !s.bot_pids().is_empty() {
        assert!(
            Instant::now() < deadline,
            "bot {pids:?} outlived a killed server\n{}",
            s.diagnostics()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    s.up = Some(start_up(&s.env).await);
    no_stale_bot_and_a_new_one_runs(&s, &key, id).await;
    s.shutdown().await;
}

/// The roles as separate processes (`vexa admin-api`, `vexa meetings`, `vexa gateway`) sharing
/// the database and `INTERNAL_API_SECRET`: the meetings service trusts only the gateway, a bot
/// runs end to end through the gateway, and SIGTERM to `vexa meetings` takes its bots down.
async fn split_roles(backend: Backend) {
    let mut s = Stack::start_split(VEXA, backend).await;
    let (user, _, key) = s.key("split@acme.example", "bot,tx").await;

    // Straight to the meetings service: no internal secret, no trust (identity headers or not).
    for secret in [None, Some("not-the-internal-secret")] {
        let mut req = s
            .http
            .get(format!("{}/bots/status", s.env.meetings()))
            .header("X-User-Id", user.to_string())
            .header("X-User-Scopes", "bot,tx");
        if let Some(v) = secret {
            req = req.header("X-Internal-Secret", v);
        }
        let resp = req.send().await.expect("direct call");
        assert_eq!(
            resp.status().as_u16(),
            401,
            "direct call with secret {secret:?}"
        );
    }

    let (code, m) = s.post_bot(&key, MEET, "happy").await.parts();
    assert_eq!(code, 201, "{m}");
    let id = m["id"].as_i64().expect("id");
    s.wait_status(&key, id, "active").await;
    let deadline = Instant::now() + WAIT;
    loop {
        let (_, tr) = s
            .call(
                Method::GET,
                &format!("/transcripts/google_meet/{MEET}"),
                &key,
                None,
            )
            .await
            .parts();
        if tr["segments"].as_array().is_some_and(|a| !a.is_empty()) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no segments: {tr}\n{}",
            s.diagnostics()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let pids = s.wait_bot_count(1).await;

    s.stop_role("meetings").await;
    let left = s.bot_pids();
    assert!(
        left.is_empty(),
        "bot {pids:?} outlived `vexa meetings`: {left:?}\n{}",
        s.diagnostics()
    );
    let (code, body) = s
        .call(Method::GET, "/bots/status", &key, None)
        .await
        .parts();
    assert_eq!(
        (code, body),
        (502, json!({"detail": "upstream unreachable"}))
    );

    // Back up: the meeting no longer claims a bot, and a new one can be sent.
    s.roles.push((
        "meetings",
        UpProcess {
            child: s.env.spawn("meetings", "meetings"),
        },
    ));
    s.wait_healthy(&s.env.meetings()).await;
    no_stale_bot_and_a_new_one_runs(&s, &key, id).await;
    s.shutdown().await;
}

/// After the server that ran meeting `id`'s bot came back: no meeting claims a live bot, the
/// meeting ended, and the same meeting can have a new bot (one process).
async fn no_stale_bot_and_a_new_one_runs(s: &Stack, key: &str, id: i64) {
    let (code, st) = s.call(Method::GET, "/bots/status", key, None).await.parts();
    assert_eq!((code, st["count"].as_i64()), (200, Some(0)), "{st}");
    let (_, row) = s
        .call(Method::GET, &format!("/meetings/{id}"), key, None)
        .await
        .parts();
    assert!(
        row["status"] == "failed" || row["status"] == "completed",
        "{row}"
    );
    let (code, again) = s.post_bot(key, MEET, "happy").await.parts();
    assert_eq!(code, 201, "{again}");
    s.wait_status(key, again["id"].as_i64().expect("id"), "active")
        .await;
    s.wait_bot_count(1).await;
}

on_both_backends!(
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    a_killed_server_leaves_no_bot_behind,
    split_roles,
);
