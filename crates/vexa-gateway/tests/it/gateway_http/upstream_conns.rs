//! Upstream connections as the upstream sees them: a keep-alive client connection keeps one
//! upstream connection, a closed client connection hands its upstream connection to the next
//! client, and an upstream closing idle connections costs no failed request.

use std::convert::Infallible;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::Response;
use http_body_util::Full;
use hyper::service::service_fn;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use vexa_core::Scope;

use crate::support::*;

/// An upstream that counts the TCP connections it accepted and closes a connection idle for
/// longer than `idle_close`, as servers do with keep-alive timeouts.
struct CountingUpstream {
    url: String,
    accepted: Arc<AtomicUsize>,
}

impl CountingUpstream {
    async fn start(idle_close: Duration) -> CountingUpstream {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let accepted = Arc::new(AtomicUsize::new(0));
        let counter = accepted.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                counter.fetch_add(1, Ordering::SeqCst);
                tokio::spawn(async move {
                    let service = service_fn(|_req| async {
                        Ok::<_, Infallible>(Response::new(Full::new(Bytes::from_static(
                            br#"{"ok":true}"#,
                        ))))
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .timer(TokioTimer::new())
                        .header_read_timeout(idle_close)
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        CountingUpstream {
            url: format!("http://{addr}"),
            accepted,
        }
    }

    fn accepted(&self) -> usize {
        self.accepted.load(Ordering::SeqCst)
    }
}

type OneConnClient = Client<HttpConnector, Full<Bytes>>;

/// A client that keeps at most one connection to the gateway open; dropping it closes it.
fn one_connection_client() -> OneConnClient {
    Client::builder(TokioExecutor::new())
        .pool_max_idle_per_host(1)
        .build(HttpConnector::new())
}

async fn status(client: &OneConnClient, base: &str, key: &str) -> u16 {
    let req = http::Request::get(format!("{base}/meetings"))
        .header("x-api-key", key)
        .body(Full::new(Bytes::new()))
        .expect("request");
    let resp = client.request(req).await.expect("gateway answers");
    let status = resp.status().as_u16();
    // Read the body to its end, so the client connection is free for the next request.
    let _ = http_body_util::BodyExt::collect(resp.into_body()).await;
    status
}

async fn a_keep_alive_client_connection_keeps_one_upstream_connection(backend: Backend) {
    let up = CountingUpstream::start(Duration::from_secs(30)).await;
    let store = TestStore::new(backend).await;
    let gw = start(config(&up.url), store.clone()).await;
    let k = key(&store, &[Scope::Bot]).await;
    let client = one_connection_client();
    for _ in 0..20 {
        assert_eq!(status(&client, &gw.base, &k).await, 200);
    }
    assert_eq!(up.accepted(), 1, "20 requests on one client connection");
    gw.shutdown().await;
}

async fn a_closed_client_connection_hands_its_upstream_connection_on(backend: Backend) {
    let up = CountingUpstream::start(Duration::from_secs(30)).await;
    let store = TestStore::new(backend).await;
    let gw = start(config(&up.url), store.clone()).await;
    let k = key(&store, &[Scope::Bot]).await;
    for _ in 0..5 {
        // A new client each time: a new connection to the gateway, closed when dropped.
        let client = one_connection_client();
        assert_eq!(status(&client, &gw.base, &k).await, 200);
        drop(client);
        // The gateway notices the closed connection and gives its upstream connection back.
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(up.accepted(), 1, "5 client connections one after another");
    gw.shutdown().await;
}

async fn an_upstream_closing_idle_connections_costs_no_failed_request(backend: Backend) {
    let up = CountingUpstream::start(Duration::from_millis(150)).await;
    let store = TestStore::new(backend).await;
    let gw = start(config(&up.url), store.clone()).await;
    let k = key(&store, &[Scope::Bot]).await;
    let client = one_connection_client();
    for round in 0..3 {
        assert_eq!(status(&client, &gw.base, &k).await, 200, "round {round}");
        // Past the upstream's idle timeout: it closes the connection the gateway holds.
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    assert_eq!(
        up.accepted(),
        3,
        "each round needed a new upstream connection"
    );
    gw.shutdown().await;
}

async fn concurrent_client_connections_each_get_their_own_upstream_connection(backend: Backend) {
    let up = CountingUpstream::start(Duration::from_secs(30)).await;
    let store = TestStore::new(backend).await;
    let gw = start(config(&up.url), store.clone()).await;
    let k = key(&store, &[Scope::Bot]).await;
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let (base, k) = (gw.base.clone(), k.clone());
        tasks.push(tokio::spawn(async move {
            let client = one_connection_client();
            let mut ok = 0;
            for _ in 0..25 {
                if status(&client, &base, &k).await == 200 {
                    ok += 1;
                }
            }
            ok
        }));
    }
    for t in tasks {
        assert_eq!(t.await.expect("client task"), 25);
    }
    let accepted = up.accepted();
    assert!(
        (1..=8).contains(&accepted),
        "8 keep-alive clients used {accepted} upstream connections"
    );
    gw.shutdown().await;
}

on_both_backends!(
    a_keep_alive_client_connection_keeps_one_upstream_connection,
    a_closed_client_connection_hands_its_upstream_connection_on,
    an_upstream_closing_idle_connections_costs_no_failed_request,
    concurrent_client_connections_each_get_their_own_upstream_connection,
);
