//! Test harness: a real gateway on 127.0.0.1:0, an `EchoUpstream` (the outside boundary) that
//! answers with what it received, and an identity store with switchable outage.
#![allow(dead_code)]

pub mod echo;
pub mod store;

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, Method, Request, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use tokio::sync::oneshot;
use vexa_core::{Clock, MintedKey, Scope, SystemClock};
use vexa_gateway::limit::{EdgeConfig, UserLimitConfig};
use vexa_gateway::{Gateway, GatewayConfig, Invalidator};

pub use echo::EchoUpstream;
pub use store::{Backend, TestStore};

pub fn metrics() -> PrometheusHandle {
    static H: OnceLock<PrometheusHandle> = OnceLock::new();
    H.get_or_init(|| {
        PrometheusBuilder::new()
            .install_recorder()
            .expect("one recorder per test binary")
    })
    .clone()
}

pub struct Running {
    pub base: String,
    pub addr: std::net::SocketAddr,
    pub invalidator: Invalidator,
    pub store: Arc<TestStore>,
    stop: Option<oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
}

impl Running {
    pub async fn shutdown(mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(t) = self.task.take() {
            let _ = tokio::time::timeout(Duration::from_secs(15), t).await;
        }
    }
}

/// Defaults for tests: limiters off (their own suites cover them), short timeout.
pub fn config(upstream: &str) -> GatewayConfig {
    GatewayConfig {
        meetings_url: upstream.parse().expect("uri"),
        browser_url: Some(upstream.parse().expect("uri")),
        internal_secret: "test-internal-secret".into(),
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

pub async fn start(cfg: GatewayConfig, store: Arc<TestStore>) -> Running {
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let gw = Gateway::new(cfg, store.clone(), clock, metrics())
        .await
        .expect("gateway");
    let invalidator = gw.invalidator();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let (tx, rx) = oneshot::channel::<()>();
    let task = tokio::spawn(gw.serve(listener, async move {
        let _ = rx.await;
    }));
    Running {
        base: format!("http://{addr}"),
        addr,
        invalidator,
        store,
        stop: Some(tx),
        task: Some(task),
    }
}

pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Reply {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or(serde_json::Value::Null)
    }

    pub fn detail(&self) -> String {
        self.json()["detail"].as_str().unwrap_or("").to_owned()
    }
}

pub fn client() -> Client<HttpConnector, Full<Bytes>> {
    Client::builder(TokioExecutor::new()).build(HttpConnector::new())
}

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
    let resp = client().request(req).await.expect("gateway answers");
    let (parts, body) = resp.into_parts();
    let body = body.collect().await.expect("body").to_bytes();
    Reply {
        status: parts.status,
        headers: parts.headers,
        body,
    }
}

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

pub async fn key_expiring(
    store: &TestStore,
    scopes: &[Scope],
    expires_at: Option<vexa_core::Timestamp>,
) -> String {
    let minted = MintedKey::generate(scopes[0]);
    store
        .add(&minted, scopes.iter().copied().collect(), expires_at)
        .await;
    minted.expose_secret().to_owned()
}

/// Runs an `async fn name(backend: Backend)` test once per storage backend, as `name::sqlite`
/// and `name::postgres`.
#[macro_export]
macro_rules! on_both_backends {
    ($($name:ident),+ $(,)?) => {$(
        mod $name {
            #[tokio::test]
            async fn sqlite() {
                super::$name($crate::common::Backend::Sqlite).await
            }
            #[tokio::test]
            async fn postgres() {
                super::$name($crate::common::Backend::Postgres).await
            }
        }
    )+};
}
