//! The admin API over a real socket: `serve` answers, and stops cleanly on shutdown.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use tokio::net::TcpListener;

#[tokio::test]
async fn serve_answers_on_a_real_socket_and_shuts_down_gracefully() {
    let app = common::app_on(vexa_store::testing::TestDb::sqlite().await);
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(vexa_admin::serve(
        listener,
        app.router.clone(),
        async move {
            let _ = stopped.await;
        },
    ));

    let http = reqwest::Client::new();
    let base = format!("http://{addr}");
    let health: serde_json::Value = http
        .get(format!("{base}/health"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        health,
        serde_json::json!({"status": "ok", "service": "admin-api"})
    );

    let res = http
        .post(format!("{base}/admin/users"))
        .header("X-Admin-API-Key", common::TOKEN)
        .header("Content-Type", "application/json")
        .body(r#"{"email":"sock@acme.com"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    let id = res.json::<serde_json::Value>().await.unwrap()["id"]
        .as_i64()
        .unwrap();
    // The Python client's shape: JSON content type, no body.
    let res = http
        .post(format!("{base}/admin/users/{id}/tokens"))
        .header("X-Admin-API-Key", common::TOKEN)
        .header("Content-Type", "application/json")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    assert!(res.headers().contains_key("x-request-id"));

    stop.send(()).unwrap();
    let result = tokio::time::timeout(Duration::from_secs(5), server)
        .await
        .expect("stops in time");
    result.unwrap().unwrap();
    assert!(
        tokio::net::TcpStream::connect(addr).await.is_err(),
        "no longer listening"
    );
}

/// Sends `head`, then (after a pause, as python-requests does) `body`; returns the first answer's
/// status line and whether a second request on the same connection is answered.
async fn refuse_then_reuse(addr: std::net::SocketAddr, head: &str, body: &str) -> (String, bool) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut conn = tokio::net::TcpStream::connect(addr).await.unwrap();
    conn.write_all(head.as_bytes()).await.unwrap();
    tokio::time::sleep(Duration::from_millis(30)).await;
    conn.write_all(body.as_bytes()).await.unwrap();
    let mut buf = vec![0u8; 4096];
    let n = conn.read(&mut buf).await.unwrap();
    let first = String::from_utf8_lossy(&buf[..n]).to_string();
    let status = first.lines().next().unwrap_or_default().to_owned();
    tokio::time::sleep(Duration::from_millis(30)).await;
    let sent = conn
        .write_all(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .is_ok();
    let n = tokio::time::timeout(Duration::from_secs(2), conn.read(&mut buf))
        .await
        .ok()
        .and_then(Result::ok)
        .unwrap_or(0);
    let second = String::from_utf8_lossy(&buf[..n]).to_string();
    (status, sent && second.starts_with("HTTP/1.1 200"))
}

#[tokio::test]
async fn a_refused_request_with_a_body_leaves_the_connection_usable() {
    let app = common::app_on(vexa_store::testing::TestDb::sqlite().await);
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = tokio::spawn(vexa_admin::serve(
        listener,
        app.router.clone(),
        std::future::pending::<()>(),
    ));
    let body = r#"{"email":"late@acme.com"}"#;
    let len = body.len();
    for (head, want) in [
        (
            format!("POST /admin/users HTTP/1.1\r\nHost: x\r\nX-Admin-API-Key: wrong\r\nContent-Type: application/json\r\nContent-Length: {len}\r\n\r\n"),
            "403",
        ),
        (
            format!("POST /admin/nope HTTP/1.1\r\nHost: x\r\nX-Admin-API-Key: {}\r\nContent-Type: application/json\r\nContent-Length: {len}\r\n\r\n", common::TOKEN),
            "404",
        ),
    ] {
        let (status, reused) = refuse_then_reuse(addr, &head, body).await;
        assert!(status.contains(want), "{status}");
        assert!(reused, "the connection must survive a {want} whose body came late");
    }
    server.abort();
}
