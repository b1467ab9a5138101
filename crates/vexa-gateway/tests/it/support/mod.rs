//! The gateway's test harness: a real gateway on 127.0.0.1:0, an [`EchoUpstream`] (the outside
//! boundary) that answers with what it received, and an identity store with a switchable outage
//! ([`TestStore`]). Responses are testkit [`Reply`]s; the recorder is the testkit's one per
//! process.

pub mod echo;
pub mod store;

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{Method, Request};
use http_body_util::Full;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use tokio::sync::oneshot;
use vexa_core::{Clock, Scope, SystemClock};
use vexa_gateway::limit::{EdgeConfig, UserLimitConfig};
use vexa_gateway::{Gateway, GatewayConfig, Invalidator};
use vexa_testkit::{metrics, Reply, INTERNAL_SECRET};

pub use echo::EchoUpstream;
pub use store::TestStore;
pub use vexa_testkit::{on_both_backends, Backend};

/// A gateway serving on loopback, stopped by [`Running::shutdown`].
pub struct Running {
    pub base: String,
    pub addr: std::net::SocketAddr,
    pub invalidator: Invalidator,
    stop: Option<oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
}

impl Running {
    /// Resolves the shutdown future and waits (bounded) for the server to drain.
    pub async fn shutdown(mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(t) = self.task.take() {
            let _ = tokio::time::timeout(Duration::from_secs(15), t).await;
        }
    }
}

/// Defaults for tests: limiters off (their own suites cover them), short timeout, 1 KiB bodies.
pub fn config(upstream: &str) -> GatewayConfig {
    GatewayConfig {
        meetings_url: upstream.parse().expect("uri"),
        browser_url: Some(upstream.parse().expect("uri")),
        internal_secret: INTERNAL_SECRET.into(),
        upstream_timeout: Duration::from_secs(2),
        max_body_bytes: 1024,
        edge: EdgeConfig {
            enabled: false,
            ..EdgeConfig::default()
        },
        user_limit: UserLimitConfig {
            disabled: true,
            ..UserLimitConfig::default()
        },
        ..GatewayConfig::default()
    }
}

/// A gateway with `cfg` over `store`, serving on a fresh loopback port as shipped:
/// thread-per-core, here with one serving thread.
pub async fn start(cfg: GatewayConfig, store: Arc<TestStore>) -> Running {
    start_per_core(cfg, store, 1).await
}

/// [`start`] with `workers` serving threads, each with its own runtime and `SO_REUSEPORT`
/// listener on one loopback port.
pub async fn start_per_core(cfg: GatewayConfig, store: Arc<TestStore>, workers: usize) -> Running {
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let gw = Gateway::new(cfg, store, clock, metrics())
        .await
        .expect("gateway");
    let invalidator = gw.invalidator();
    let listeners =
        vexa_gateway::reuseport_listeners("127.0.0.1:0".parse().expect("addr"), workers)
            .expect("bind");
    let addr = listeners[0].local_addr().expect("addr");
    let (tx, rx) = oneshot::channel::<()>();
    let task = tokio::spawn(gw.serve(listeners, async move {
        let _ = rx.await;
    }));
    Running {
        base: format!("http://{addr}"),
        addr,
        invalidator,
        stop: Some(tx),
        task: Some(task),
    }
}

pub fn client() -> Client<HttpConnector, Full<Bytes>> {
    Client::builder(TokioExecutor::new()).build(HttpConnector::new())
}

/// One request to the gateway at `base`.
pub async fn send(
    base: &str,
    method: Method,
    path: &str,
    headers: &[(&str, &str)],
    body: &'static str,
) -> Reply {
    let mut req = Request::builder()
        .method(method)
        .uri(format!("{base}{path}"));
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let req = req
        .body(Full::new(Bytes::from_static(body.as_bytes())))
        .expect("request");
    Reply::read(client().request(req).await.expect("gateway answers")).await
}

/// `GET path`, with `X-API-Key: key` when given.
pub async fn get(base: &str, path: &str, key: Option<&str>) -> Reply {
    match key {
        Some(k) => send(base, Method::GET, path, &[("x-api-key", k)], "").await,
        None => send(base, Method::GET, path, &[], "").await,
    }
}

/// A concrete path for a route template: `{param}` becomes `x1`, a `*` tail `tab/1`.
pub fn concrete(template: &str) -> String {
    template
        .split('/')
        .map(|s| {
            if s.starts_with('{') {
                "x1"
            } else if s == "*" {
                "tab/1"
            } else {
                s
            }
        })
        .collect::<Vec<_>>()
        .join("/")
}

/// A fresh user with one key of these scopes; returns the plaintext key.
pub async fn key(store: &TestStore, scopes: &[Scope]) -> String {
    key_expiring(store, scopes, None).await
}

/// [`key`], expiring at `expires_at`.
pub async fn key_expiring(
    store: &TestStore,
    scopes: &[Scope],
    expires_at: Option<vexa_core::Timestamp>,
) -> String {
    store.add(scopes, expires_at).await
}
