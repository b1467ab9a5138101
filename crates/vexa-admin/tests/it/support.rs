//! The admin API's test harness: its router over a real store (a fresh SQLite file or
//! PostgreSQL database), a manual clock, a change hook that records what it is told, and a
//! small request builder around `oneshot` whose answers are testkit [`Reply`]s.

use std::sync::{Arc, Mutex, PoisonError};

use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use axum::Router;
use serde_json::Value;
use tower::ServiceExt;
use vexa_admin::{AdminState, InternalApi};
use vexa_core::last_used::LastUsed;
use vexa_core::store::IdentityChange;
use vexa_core::{
    AdminToken, AuditedStore, IdentityListener, IdentityStore, ManualClock, Timestamp,
};
use vexa_store::identity::SqlIdentityStore;
use vexa_testkit::{metrics, Reply, TestDb, ADMIN_TOKEN, INTERNAL_SECRET};

/// 2026-11-28T18:00:00Z.
pub const START: Timestamp = Timestamp(1_795_888_800_000);

/// The admin API on one database, as a test drives it.
pub struct TestApp {
    pub router: Router,
    /// The path of every route the router serves (console aside), as the router lists them.
    pub paths: Vec<String>,
    pub store: Arc<dyn IdentityStore>,
    /// The same store, with the audit log's reads.
    pub audited: Arc<dyn AuditedStore>,
    pub clock: ManualClock,
    pub changes: Arc<Mutex<Vec<IdentityChange>>>,
    /// The internal tier's `last_used_at` batcher; tests flush it by hand.
    pub last_used: Arc<LastUsed>,
    pub db: TestDb,
    /// `"sqlite"` or `"postgres"`, for failure messages.
    pub backend: &'static str,
}

/// The app on `db`, its clock at [`START`], `/internal/*` behind the testkit's
/// `INTERNAL_SECRET`.
pub fn app_on(db: TestDb) -> TestApp {
    app_with_internal_secret(db, INTERNAL_SECRET)
}

/// [`app_on`] with this `INTERNAL_API_SECRET` (empty: not configured).
pub fn app_with_internal_secret(db: TestDb, internal_secret: &str) -> TestApp {
    let backend = match db.db.backend() {
        vexa_store::Backend::Sqlite => "sqlite",
        vexa_store::Backend::Postgres => "postgres",
    };
    let audited: Arc<dyn AuditedStore> = Arc::new(SqlIdentityStore::new(db.db.clone()));
    let store: Arc<dyn IdentityStore> = audited.clone();
    let clock = ManualClock::new(START);
    let changes = Arc::new(Mutex::new(Vec::new()));
    let on_change: Arc<dyn IdentityListener> = Arc::new(Recorder(changes.clone()));
    let last_used = Arc::new(LastUsed::new(store.clone()));
    let state = AdminState {
        store: audited.clone(),
        clock: Arc::new(clock.clone()),
        max_body_bytes: vexa_http::DEFAULT_MAX_BODY_BYTES,
        admin_token: AdminToken::new(ADMIN_TOKEN),
        metrics: metrics(),
        on_change,
        internal: InternalApi {
            secret: internal_secret.into(),
            last_used: last_used.clone(),
        },
        // Real deliveries (to the tests' own receivers), retried after 10 ms, 20 ms, …
        key_events: vexa_admin::key_events::KeyEvents::start(
            store.clone(),
            Arc::new(clock.clone()),
            std::time::Duration::from_secs(5),
            std::time::Duration::from_millis(10),
        ),
    };
    let (router, paths) = vexa_admin::router_and_paths(state);
    TestApp {
        router,
        paths,
        store,
        audited,
        last_used,
        clock,
        changes,
        db,
        backend,
    }
}

/// Builder-ish request helper: `app.admin(Method::POST, "/admin/users").json(..).send().await`.
pub struct Call<'a> {
    app: &'a TestApp,
    req: axum::http::request::Builder,
    body: Body,
}

impl TestApp {
    /// A request carrying the right admin token.
    pub fn admin(&self, method: Method, uri: &str) -> Call<'_> {
        self.anon(method, uri)
            .header("x-admin-api-key", ADMIN_TOKEN)
    }

    /// A request without the admin token.
    pub fn anon(&self, method: Method, uri: &str) -> Call<'_> {
        Call {
            app: self,
            req: Request::builder().method(method).uri(uri),
            body: Body::empty(),
        }
    }

    /// Every change the admin API announced so far.
    pub fn changes(&self) -> Vec<IdentityChange> {
        self.changes
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Creates a user and returns its id.
    pub async fn user(&self, email: &str) -> i64 {
        let res = self
            .admin(Method::POST, "/admin/users")
            .json(&serde_json::json!({ "email": email }))
            .send()
            .await;
        assert!(res.status.is_success(), "{}: {}", res.status, res.text());
        res.json()["id"].as_i64().expect("user id")
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

impl Call<'_> {
    pub fn header(mut self, k: &str, v: impl AsRef<[u8]>) -> Self {
        self.req = self.req.header(k, v.as_ref());
        self
    }

    /// As if the request came from `peer` over a socket (what `vexa_admin::serve` provides).
    pub fn with_peer(mut self, peer: std::net::SocketAddr) -> Self {
        self.req = self.req.extension(axum::extract::ConnectInfo(peer));
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

    pub async fn send(self) -> Reply {
        let req = self.req.body(self.body).expect("a valid request");
        let res = self
            .app
            .router
            .clone()
            .oneshot(req)
            .await
            .expect("the router is infallible");
        Reply::read(res).await
    }
}

/// Records every change the admin API reports.
struct Recorder(Arc<Mutex<Vec<IdentityChange>>>);

impl IdentityListener for Recorder {
    fn on_change(&self, change: &IdentityChange) {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(change.clone());
    }
}
