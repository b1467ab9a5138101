//! `mock:crash` and `mock:reject` end `failed`; the meeting can be tried again.

use std::time::{Duration, Instant};

use vexa_testkit::{on_both_backends, Backend, Stack};

use super::MEET;
use crate::support::VEXA;

/// A bot that crashes while joining ends `failed`; one the host rejects ends `failed` at
/// admission. No process remains, and the meeting can be tried again.
async fn crash_and_reject(backend: Backend) {
    let mut s = Stack::start(VEXA, backend).await;
    let (_, _, key) = s.key("crash@acme.example", "bot").await;

    let t0 = Instant::now();
    let (code, m) = s.post_bot(&key, MEET, "crash").await.parts();
    assert_eq!(code, 201, "{m}");
    let id = m["id"].as_i64().expect("id");
    let failed = s.wait_status(&key, id, "failed").await;
    // The bot exits ~150 ms after joining; the exit is noticed, not found by a slow poll.
    assert!(
        t0.elapsed() < Duration::from_secs(10),
        "crash noticed after {:?}",
        t0.elapsed()
    );
    assert_eq!(failed["failure_stage"], "joining", "{failed}");
    assert_eq!(failed["completion_reason"], "join_failure", "{failed}");
    assert!(
        failed["data"]["failure_reason"]
            .as_str()
            .is_some_and(|r| r.contains("code 2")),
        "the exit code is recorded: {failed}"
    );

    let (code, m) = s.post_bot(&key, "rej-room", "reject").await.parts();
    assert_eq!(code, 201, "{m}");
    let rejected = s
        .wait_status(&key, m["id"].as_i64().expect("id"), "failed")
        .await;
    assert_eq!(
        rejected["failure_stage"], "awaiting_admission",
        "{rejected}"
    );
    assert_eq!(
        rejected["completion_reason"], "awaiting_admission_rejected",
        "{rejected}"
    );
    s.wait_bot_count(0).await;

    // A failed meeting holds nothing: the same meeting can get a new bot.
    let (code, m) = s.post_bot(&key, MEET, "crash").await.parts();
    assert_eq!(code, 201, "{m}");
    assert_ne!(m["id"].as_i64(), Some(id), "a new meeting row");
    s.wait_status(&key, m["id"].as_i64().expect("id"), "failed")
        .await;
    s.wait_bot_count(0).await;
    s.shutdown().await;
}

on_both_backends!(
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    crash_and_reject,
);
