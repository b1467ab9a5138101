//! The admin API over a real socket: `serve` answers, and stops cleanly on shutdown.
#![allow(clippy::unwrap_used)]

use std::time::Duration;

use tokio::net::TcpListener;

use crate::support::app_on;
use vexa_testkit::raw_http::refuse_then_reuse;
use vexa_testkit::{TestDb, ADMIN_TOKEN};

#[tokio::test]
async fn serve_answers_on_a_real_socket_and_shuts_down_gracefully() {
    let app = app_on(TestDb::sqlite().await);
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
        .header("X-Admin-API-Key", ADMIN_TOKEN)
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
        .header("X-Admin-API-Key", ADMIN_TOKEN)
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

#[tokio::test]
async fn a_refused_request_with_a_body_leaves_the_connection_usable() {
    let app = app_on(TestDb::sqlite().await);
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
            format!("POST /admin/nope HTTP/1.1\r\nHost: x\r\nX-Admin-API-Key: {}\r\nContent-Type: application/json\r\nContent-Length: {len}\r\n\r\n", ADMIN_TOKEN),
            "404",
        ),
    ] {
        let (status, reused) = refuse_then_reuse(addr, &head, body).await;
        assert!(status.contains(want), "{status}");
        assert!(reused, "the connection must survive a {want} whose body came late");
    }
    server.abort();
}
