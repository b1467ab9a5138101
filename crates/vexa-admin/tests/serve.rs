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
