//! Concurrent `POST /bots`: one 201 per meeting and 409 for the rest; with
//! `max_concurrent_bots=1` one 201 and 429 with the contract's text for the rest.

use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::{json, Value};
use vexa_testkit::{on_both_backends, Backend, Stack};

use super::{concurrently, MEET};
use crate::support::VEXA;

/// Concurrent `POST /bots` for one meeting: exactly one 201, the rest 409. A user capped at one
/// bot sending concurrently for distinct meetings: one 201, the rest 429 with the contract's
/// text. Ends with live bots, so the shutdown check covers a stop of running bots.
async fn conflict_and_cap_under_concurrency(backend: Backend) {
    const N: usize = 8;
    let mut s = Stack::start(VEXA, backend).await;
    let (_, _, key) = s.key("dup@acme.example", "bot").await;
    let results = concurrently(N, |_| s.post_bot(&key, MEET, "happy")).await;
    let created: Vec<&Value> = results
        .iter()
        .filter(|(c, _)| *c == 201)
        .map(|(_, v)| v)
        .collect();
    let conflicts = results.iter().filter(|(c, _)| *c == 409).count();
    assert_eq!((created.len(), conflicts), (1, N - 1), "{results:?}");
    for (_, v) in results.iter().filter(|(c, _)| *c == 409) {
        assert_eq!(
            v["detail"],
            format!("An active meeting already exists for google_meet/{MEET}"),
            "{v}"
        );
    }
    let dup_id = created[0]["id"].as_i64().expect("id");
    s.wait_status(&key, dup_id, "active").await;
    s.wait_bot_count(1).await;
    let (_, list) = s.call(Method::GET, "/meetings", &key, None).await.parts();
    assert_eq!(
        list["meetings"].as_array().map(Vec::len),
        Some(1),
        "one row: {list}"
    );

    // The cap, set through the admin API after the key was already in use (and cached).
    let (cap_user, _, cap_key) = s.key("cap@acme.example", "bot").await;
    let (code, me) = s
        .call(Method::GET, "/auth/me", &cap_key, None)
        .await
        .parts();
    assert_eq!(
        (code, me["max_concurrent_bots"].as_i64()),
        (200, Some(3)),
        "{me}"
    );
    let (code, user) = s
        .admin(
            Method::PATCH,
            &format!("/admin/users/{cap_user}"),
            Some(json!({"max_concurrent_bots": 1})),
        )
        .await
        .parts();
    assert_eq!(
        (code, user["max_concurrent_bots"].as_i64()),
        (200, Some(1)),
        "{user}"
    );
    let t0 = Instant::now();
    loop {
        let (_, me) = s
            .call(Method::GET, "/auth/me", &cap_key, None)
            .await
            .parts();
        if me["max_concurrent_bots"] == 1 {
            break;
        }
        assert!(
            t0.elapsed() < Duration::from_secs(1),
            "the gateway still sends the old cap: {me}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let rooms: Vec<String> = (0..N).map(|i| format!("cap-room-{i}")).collect();
    let results = concurrently(N, |i| s.post_bot(&cap_key, &rooms[i], "happy")).await;
    let created: Vec<&Value> = results
        .iter()
        .filter(|(c, _)| *c == 201)
        .map(|(_, v)| v)
        .collect();
    let limited: Vec<&Value> = results
        .iter()
        .filter(|(c, _)| *c == 429)
        .map(|(_, v)| v)
        .collect();
    assert_eq!((created.len(), limited.len()), (1, N - 1), "{results:?}");
    for v in limited {
        assert_eq!(
            *v,
            json!({"detail": "User has reached the maximum concurrent bot limit (1)."})
        );
    }
    let first = created[0].clone();
    let first_id = first["id"].as_i64().expect("id");
    let first_native = first["native_meeting_id"]
        .as_str()
        .expect("native")
        .to_owned();
    s.wait_status(&cap_key, first_id, "active").await;
    s.wait_bot_count(2).await;
    let (_, st) = s
        .call(Method::GET, "/bots/status", &cap_key, None)
        .await
        .parts();
    assert_eq!(st["count"], 1, "{st}");

    // Stopping frees the slot; the next meeting may have a bot.
    let (code, _) = s
        .call(
            Method::DELETE,
            &format!("/bots/google_meet/{first_native}"),
            &cap_key,
            None,
        )
        .await
        .parts();
    assert_eq!(code, 200);
    s.wait_status(&cap_key, first_id, "completed").await;
    let (code, next) = s.post_bot(&cap_key, "cap-room-next", "happy").await.parts();
    assert_eq!(code, 201, "{next}");
    let (code, over) = s.post_bot(&cap_key, "cap-room-over", "happy").await.parts();
    assert_eq!(code, 429, "{over}");
    s.wait_status(&cap_key, next["id"].as_i64().expect("id"), "active")
        .await;
    s.wait_bot_count(2).await;

    // A cap of zero refuses every bot.
    let (code, _) = s
        .admin(
            Method::PATCH,
            &format!("/admin/users/{cap_user}"),
            Some(json!({"max_concurrent_bots": 0})),
        )
        .await
        .parts();
    assert_eq!(code, 200);
    let t0 = Instant::now();
    loop {
        let (_, me) = s
            .call(Method::GET, "/auth/me", &cap_key, None)
            .await
            .parts();
        if me["max_concurrent_bots"] == 0 {
            break;
        }
        assert!(t0.elapsed() < Duration::from_secs(1), "{me}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let (code, body) = s.post_bot(&cap_key, "cap-room-zero", "happy").await.parts();
    assert_eq!(
        (code, body),
        (
            429,
            json!({"detail": "User has reached the maximum concurrent bot limit (0)."})
        )
    );
    s.wait_bot_count(2).await;

    // Two live bots now: SIGTERM must take them down with the server.
    s.shutdown().await;
}

on_both_backends!(
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    conflict_and_cap_under_concurrency,
);
