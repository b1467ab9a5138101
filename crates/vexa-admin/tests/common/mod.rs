//! Shared test harness: the admin router over a real store (SQLite and PostgreSQL), a recording
//! identity listener, and a small request helper around `oneshot`.
#![allow(dead_code, clippy::unwrap_used)]

use std::sync::{Arc, Mutex, OnceLock};

use axum::body::Body;
use axum::http::{HeaderMap, Method, Request, StatusCode};
use axum::Router;
use http_body_util::BodyExt;
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use serde_json::Value;
use tower::ServiceExt;
use vexa_admin::AdminState;
use vexa_core::store::IdentityChange;
use vexa_core::{AdminToken, IdentityListener, IdentityStore, ManualClock, Timestamp};
use vexa_store::identity::SqlIdentityStore;
use vexa_store::testing::TestDb;

pub const TOKEN: &str = "test-admin-token-0123456789";
/// 2026-11-28T18:00:00Z.
pub const START: Timestamp = Timestamp(1_795_888_800_000);

/// One process-wide recorder per test binary (installing twice fails).
pub fn metrics() -> PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            PrometheusBuilder::new()
                .install_recorder()
                .expect("install recorder")
        })
        .clone()
}

pub struct TestApp {
    pub router: Router,
    pub store: Arc<dyn IdentityStore>,
    pub clock: ManualClock,
    pub changes: Arc<Mutex<Vec<IdentityChange>>>,
    pub db: TestDb,
    pub backend: &'static str,
}

/// The app on every backend, SQLite first.
pub async fn apps() -> Vec<TestApp> {
    let mut out = Vec::new();
    for db in TestDb::each().await {
        out.push(app_on(db));
    }
    out
}

pub fn app_on(db: TestDb) -> TestApp {
    let backend = match db.db.backend() {
        vexa_store::Backend::Sqlite => "sqlite",
        vexa_store::Backend::Postgres => "postgres",
    };
    let store: Arc<dyn IdentityStore> = Arc::new(SqlIdentityStore::new(db.db.clone()));
    let clock = ManualClock::new(START);
    let changes = Arc::new(Mutex::new(Vec::new()));
    let on_change: Arc<dyn IdentityListener> = Arc::new(Recorder(changes.clone()));
    let state = AdminState {
        store: store.clone(),
        clock: Arc::new(clock.clone()),
        max_body_bytes: vexa_http::DEFAULT_MAX_BODY_BYTES,
        admin_token: AdminToken::new(TOKEN),
        metrics: metrics(),
        on_change,
    };
    TestApp {
        router: vexa_admin::router(state),
        store,
        clock,
        changes,
        db,
        backend,
    }
}

/// Records every change the admin API reports.
struct Recorder(Arc<Mutex<Vec<IdentityChange>>>);

impl IdentityListener for Recorder {
    fn on_change(&self, change: &IdentityChange) {
        self.0.lock().unwrap().push(change.clone());
    }
}

/// A response, read fully.
#[derive(Debug)]
pub struct Res {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
}

impl Res {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&self.body)))
    }

    pub fn detail(&self) -> String {
        match self.json().get("detail") {
            Some(Value::String(s)) => s.clone(),
            other => panic!(
                "no string detail: {other:?} in {}",
                String::from_utf8_lossy(&self.body)
            ),
        }
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

/// Builder-ish request helper: `app.call(Method::POST, "/admin/users").json(..).send().await`.
pub struct Call<'a> {
    app: &'a TestApp,
    req: axum::http::request::Builder,
    body: Body,
}

impl TestApp {
    /// A request carrying the right admin token.
    pub fn admin(&self, method: Method, uri: &str) -> Call<'_> {
        self.anon(method, uri).header("x-admin-api-key", TOKEN)
    }

    /// A request without the admin token.
    pub fn anon(&self, method: Method, uri: &str) -> Call<'_> {
        Call {
            app: self,
            req: Request::builder().method(method).uri(uri),
            body: Body::empty(),
        }
    }

    pub fn changes(&self) -> Vec<IdentityChange> {
        self.changes.lock().unwrap().clone()
    }

    /// Creates a user and returns its id.
    pub async fn user(&self, email: &str) -> i64 {
        let res = self
            .admin(Method::POST, "/admin/users")
            .json(&serde_json::json!({ "email": email }))
            .send()
            .await;
        assert!(res.status.is_success(), "{}: {}", res.status, res.text());
        res.json()["id"].as_i64().unwrap()
    }

    /// Mints a key via query and returns the response JSON.
    pub async fn mint(&self, user: i64, query: &str) -> Value {
        let res = self
            .admin(Method::POST, &format!("/admin/users/{user}/tokens{query}"))
            .send()
            .await;
        assert_eq!(res.status, StatusCode::CREATED, "{}", res.text());
        res.json()
    }
}

impl<'a> Call<'a> {
    pub fn header(mut self, k: &str, v: impl AsRef<[u8]>) -> Self {
        self.req = self.req.header(k, v.as_ref());
        self
    }

    pub fn json(self, v: &Value) -> Self {
        self.raw_json(v.to_string())
    }

    /// A body with `Content-Type: application/json`, whatever the bytes are.
    pub fn raw_json(mut self, body: impl Into<Vec<u8>>) -> Self {
        self.req = self.req.header("content-type", "application/json");
        self.body = Body::from(body.into());
        self
    }

    pub async fn send(self) -> Res {
        let req = self.req.body(self.body).unwrap();
        let res = self.app.router.clone().oneshot(req).await.unwrap();
        let status = res.status();
        let headers = res.headers().clone();
        let body = res.into_body().collect().await.unwrap().to_bytes().to_vec();
        Res {
            status,
            headers,
            body,
        }
    }
}
