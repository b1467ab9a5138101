//! Request logging: one line per request with method, route, status and latency; never the
//! admin token or a minted key.
//!
//! The capture is the testkit's: only this test's thread (the test's current-thread runtime
//! runs the router on it) is captured, whatever the other tests of the binary log meanwhile.
#![allow(clippy::unwrap_used)]

use axum::http::Method;
use vexa_testkit::logs::capture_logs;
use vexa_testkit::{TestDb, ADMIN_TOKEN};

use crate::support::app_on;

#[tokio::test]
async fn each_request_logs_one_line_without_secrets() {
    let captured = capture_logs();

    let app = app_on(TestDb::sqlite().await);
    let id = app.user("log@acme.com").await;
    let key = app.mint(id, "?scopes=bot,tx").await;
    let token = key["token"].as_str().unwrap().to_owned();
    app.anon(Method::GET, "/admin/users")
        .header("x-admin-api-key", "wrong-but-logged?")
        .send()
        .await;

    let text = captured.text();
    let lines: Vec<&str> = text
        .lines()
        .filter(|l| l.contains("admin request"))
        .collect();
    assert_eq!(lines.len(), 3, "{text}");
    assert!(lines[1].contains("method=POST"), "{}", lines[1]);
    assert!(
        lines[1].contains("route=/admin/users/{user_id}/tokens"),
        "{}",
        lines[1]
    );
    assert!(lines[1].contains("status=201"), "{}", lines[1]);
    assert!(lines[1].contains("latency_ms="), "{}", lines[1]);
    assert!(lines[2].contains("status=403"));
    assert!(!text.contains(&token));
    assert!(!text.contains(&token[12..]));
    assert!(!text.contains(ADMIN_TOKEN));
    assert!(!text.contains("wrong-but-logged"));
}
