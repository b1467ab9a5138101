//! Thread-per-core serving (`GATEWAY_WORKERS`, one thread per core by default): the same gateway
//! behind several threads, each with its own runtime and `SO_REUSEPORT` listener on one port.

use std::time::{Duration, Instant};

use http::Method;
use http_body_util::BodyExt;
use vexa_core::Scope;

use crate::support::*;

async fn every_worker_serves_the_full_pipeline(backend: Backend) {
    let echo = EchoUpstream::start().await;
    let store = TestStore::new(backend).await;
    let gw = start_per_core(config(&echo.url), store.clone(), 2).await;
    let k = key(&store, &[Scope::Bot]).await;
    let mut tasks = Vec::new();
    // Separate connections, so the kernel spreads them over both listeners.
    for _ in 0..16 {
        let (base, k) = (gw.base.clone(), k.clone());
        tasks.push(tokio::spawn(async move {
            let mut answers = Vec::new();
            for _ in 0..5 {
                let r = send(
                    &base,
                    Method::GET,
                    "/meetings",
                    &[("x-api-key", &k), ("x-user-id", "999")],
                    "",
                )
                .await;
                answers.push((r.status, r.json()["headers"]["x-user-id"].clone()));
            }
            answers
        }));
    }
    for t in tasks {
        for (status, user) in t.await.expect("client") {
            assert_eq!(status, 200);
            assert_eq!(user, "1", "identity injected, the forged one dropped");
        }
    }
    assert_eq!(get(&gw.base, "/meetings", None).await.status, 401);
    assert_eq!(
        get(&gw.base, "/meetings", Some("vxa_bogus")).await.status,
        401
    );
    gw.shutdown().await;
}

async fn shutdown_lets_a_stream_in_flight_finish(backend: Backend) {
    let echo = EchoUpstream::start().await;
    let store = TestStore::new(backend).await;
    let gw = start_per_core(config(&echo.url), store.clone(), 2).await;
    let k = key(&store, &[Scope::Browser]).await;
    let req = http::Request::get(format!("{}/browser/sse", gw.base))
        .header("x-api-key", &k)
        .body(http_body_util::Full::new(bytes::Bytes::new()))
        .expect("request");
    let resp = client().request(req).await.expect("stream starts");
    assert_eq!(resp.status(), 200);
    let started = Instant::now();
    let stopping = tokio::spawn(gw.shutdown());
    let body = tokio::time::timeout(Duration::from_secs(10), resp.into_body().collect())
        .await
        .expect("stream ends")
        .expect("stream body")
        .to_bytes();
    assert_eq!(&body[..], b"data: 0\n\ndata: 1\n\ndata: 2\n\n");
    assert!(started.elapsed() >= Duration::from_millis(500));
    stopping.await.expect("shutdown");
}

on_both_backends!(
    every_worker_serves_the_full_pipeline,
    shutdown_lets_a_stream_in_flight_finish,
);

/// `SO_REUSEPORT` must not let a second gateway (same user, same port) quietly take half of the
/// first one's connections: binding a port that is being served fails as it would without it.
#[tokio::test]
async fn a_second_gateway_cannot_join_a_served_port() {
    let first = vexa_gateway::reuseport_listeners("127.0.0.1:0".parse().expect("addr"), 2)
        .expect("first gateway binds");
    let addr = first[0].local_addr().expect("addr");
    assert!(first.iter().all(|l| l.local_addr().ok() == Some(addr)));
    let err = vexa_gateway::reuseport_listeners(addr, 2).expect_err("the port is served");
    assert_eq!(err.kind(), std::io::ErrorKind::AddrInUse);
    drop(first);
    let again = vexa_gateway::reuseport_listeners(addr, 1).expect("free again once closed");
    assert_eq!(again[0].local_addr().expect("addr"), addr);
}
