//! The gateway's access log through the real binary (`LOG_FORMAT=json`, the default): one JSON
//! line per request in the JSON subscriber's shape, written in batches by the serving threads
//! yet none dropped and none held back past the flush interval, and no key in any of them
//! (both backends).

use std::collections::HashSet;
use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::Value;
use vexa_testkit::stack::server_logs;
use vexa_testkit::{on_both_backends, Backend, Stack};

use crate::support::VEXA;

/// More lines than fit in one batch (32 KiB, about 200 bytes a line), so both the size trigger
/// and the ticker write some.
const REQUESTS: usize = 300;

/// The gateway's access-log lines for `/auth/me` (the harness's health checks have theirs too):
/// they carry `latency_us` and no message.
fn access_lines(log: &str) -> Vec<Value> {
    log.lines()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .filter(|v| v.get("latency_us").is_some() && v.get("message").is_none())
        .filter(|v| v["route"] == "/auth/me")
        .collect()
}

async fn every_request_gets_one_line_within_the_flush_interval(backend: Backend) {
    let mut stack = Stack::start(VEXA, backend).await;
    let (user_id, _, key) = stack.key("access-log@vexa.local", "bot").await;
    for _ in 0..REQUESTS {
        let r = stack.call(Method::GET, "/auth/me", &key, None).await;
        assert_eq!(r.status, 200);
    }
    let refused = stack.call(Method::GET, "/auth/me", "vxa_bogus", None).await;
    assert_eq!(refused.status, 401);

    // The serving threads write their batch out at least every 100 ms.
    let deadline = Instant::now() + Duration::from_secs(5);
    let lines = loop {
        let lines = access_lines(&server_logs(&stack.env));
        if lines.len() > REQUESTS || Instant::now() > deadline {
            break lines;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(
        lines.len(),
        REQUESTS + 1,
        "one line per request, none lost\n{}",
        stack.diagnostics()
    );

    let admitted: Vec<&Value> = lines.iter().filter(|l| l["status"] == 200).collect();
    assert_eq!(admitted.len(), REQUESTS);
    for line in &admitted {
        assert_eq!(line["user_id"], user_id);
        assert_eq!(line["route"], "/auth/me");
        assert_eq!(line["level"], "INFO");
        assert!(line["latency_us"].as_u64().is_some(), "{line}");
        // RFC 3339 UTC with microseconds, as tracing's timer writes it.
        let ts = line["timestamp"].as_str().unwrap_or_default();
        assert!(
            ts.len() == 27 && ts.ends_with('Z') && ts.as_bytes()[10] == b'T',
            "{ts}"
        );
    }
    let ids: HashSet<&str> = lines
        .iter()
        .filter_map(|l| l["request_id"].as_str())
        .collect();
    assert_eq!(
        ids.len(),
        lines.len(),
        "every line names its own request id"
    );

    let refused = lines
        .iter()
        .find(|l| l["status"] == 401)
        .expect("the refused request has its line");
    assert!(
        refused.get("user_id").is_none(),
        "no user before a key resolved"
    );
    // Also asserts that no key and no admin token reached any log.
    stack.shutdown().await;
}

on_both_backends!(every_request_gets_one_line_within_the_flush_interval);
