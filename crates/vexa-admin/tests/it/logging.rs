//! Request logging: one line per request with method, route, status and latency; never the
//! admin token or a minted key.
//!
//! The capturing subscriber is the thread's default (`set_default`), not the process's: the
//! test's current-thread runtime runs the router on this thread, so what it captures is this
//! test's requests only, whatever the other tests of the binary log meanwhile.
#![allow(clippy::unwrap_used)]

use std::io::Write;
use std::sync::{Arc, Mutex};

use axum::http::Method;

use crate::support::app_on;
use vexa_testkit::{TestDb, ADMIN_TOKEN};

#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn each_request_logs_one_line_without_secrets() {
    let captured = Captured::default();
    let sink = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_ansi(false)
        .with_writer(move || sink.clone())
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let app = app_on(TestDb::sqlite().await);
    let id = app.user("log@acme.com").await;
    let key = app.mint(id, "?scopes=bot,tx").await;
    let token = key["token"].as_str().unwrap().to_owned();
    app.anon(Method::GET, "/admin/users")
        .header("x-admin-api-key", "wrong-but-logged?")
        .send()
        .await;

    let text = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
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
