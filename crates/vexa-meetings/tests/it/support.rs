//! The meetings service's test harness: the real service on 127.0.0.1:0 over a fresh database,
//! the mock bot binary as `BOT_COMMAND`, an HTTP client that speaks as the gateway, and the bot
//! processes of this one server found through `/proc`.

use std::sync::Arc;
use std::time::Duration;

use axum::http::HeaderValue;
use serde_json::Value;
use tokio::sync::oneshot;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use vexa_core::SystemClock;
use vexa_meetings::{MeetingsConfig, MeetingsService};
use vexa_store::meetings::SqlMeetingStore;
use vexa_testkit::procs::{bot_pids_with, kill_all};
use vexa_testkit::stack::Ws;
use vexa_testkit::{Reply, TestDb, INTERNAL_SECRET};

pub use vexa_testkit::procs::alive;

/// The development bot, built with this crate.
pub fn mock_bot() -> String {
    env!("CARGO_BIN_EXE_vexa-mock-bot").to_owned()
}

/// One running service and what a test needs to talk to it.
pub struct App {
    pub base: String,
    pub port: u16,
    pub client: reqwest::Client,
    pub data_dir: tempfile::TempDir,
    stop: Option<oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
    db: Option<TestDb>,
}

/// The service over `db`, starting bots with `bot_command` (none: `POST /bots` is 503).
pub async fn spawn_app(db: TestDb, bot_command: Option<String>) -> App {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let data_dir = tempfile::tempdir().expect("data dir");
    let cfg = MeetingsConfig {
        internal_secret: INTERNAL_SECRET.into(),
        bot_command,
        callback_base_url: format!("http://127.0.0.1:{port}"),
        data_dir: data_dir.path().to_path_buf(),
        stop_grace: Duration::from_secs(2),
        token_key: [9; 32],
        webhook_timeout: Duration::from_secs(2),
        ..MeetingsConfig::default()
    };
    let store = Arc::new(SqlMeetingStore::new(db.db.clone()));
    let svc = MeetingsService::new(cfg, store, Arc::new(SystemClock))
        .await
        .expect("the service starts");
    let (tx, rx) = oneshot::channel::<()>();
    let task = tokio::spawn(svc.serve(listener, async move {
        let _ = rx.await;
    }));
    App {
        base: format!("http://127.0.0.1:{port}"),
        port,
        client: reqwest::Client::new(),
        data_dir,
        stop: Some(tx),
        task: Some(task),
        db: Some(db),
    }
}

impl App {
    /// A request as the gateway sends it for `user` (secret, identity, `bot,tx` scopes).
    pub fn req(&self, method: reqwest::Method, path: &str, user: i64) -> reqwest::RequestBuilder {
        self.client
            .request(method, format!("{}{path}", self.base))
            .header("x-internal-secret", INTERNAL_SECRET)
            .header("x-user-id", user.to_string())
            .header("x-user-email", format!("u{user}@example.com"))
            .header("x-user-scopes", "bot,tx")
    }

    /// One request as the gateway would send it, with an optional JSON body.
    pub async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        user: i64,
        body: Option<Value>,
    ) -> Reply {
        let mut r = self.req(method, path, user);
        if let Some(b) = body {
            r = r.json(&b);
        }
        Reply::from_reqwest(r.send().await.expect("the service answers")).await
    }

    pub async fn post_bot(&self, user: i64, body: Value) -> Reply {
        self.call(reqwest::Method::POST, "/bots", user, Some(body))
            .await
    }

    /// `GET /meetings/{id}` as `user`: the body.
    pub async fn meeting(&self, user: i64, id: i64) -> Value {
        self.call(reqwest::Method::GET, &format!("/meetings/{id}"), user, None)
            .await
            .parts()
            .1
    }

    /// Polls until the meeting reaches `status` (or fails the test after `secs`).
    pub async fn wait_status(&self, user: i64, id: i64, status: &str, secs: u64) -> Value {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
        loop {
            let m = self.meeting(user, id).await;
            if m["status"] == status {
                return m;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "meeting {id} never reached {status}: {m}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// A WebSocket on `/ws` as the gateway opens it for `user`.
    pub async fn ws(&self, user: i64) -> Ws {
        let mut req = format!("ws://127.0.0.1:{}/ws", self.port)
            .into_client_request()
            .expect("ws request");
        req.headers_mut().insert(
            "x-internal-secret",
            HeaderValue::from_static(INTERNAL_SECRET),
        );
        req.headers_mut()
            .insert("x-user-id", HeaderValue::from(user));
        tokio_tungstenite::connect_async(req)
            .await
            .expect("ws upgrade")
            .0
    }

    /// Pids of live bot processes started by this server (found by their callback URL).
    pub fn bot_pids(&self) -> Vec<i32> {
        bot_pids_with(&format!("127.0.0.1:{}/internal", self.port))
    }

    pub async fn wait_no_bots(&self, secs: u64) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
        while !self.bot_pids().is_empty() {
            assert!(
                tokio::time::Instant::now() < deadline,
                "bot processes survived: {:?}",
                self.bot_pids()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Shuts this server down and starts a new one on the same database.
    pub async fn restart(mut self) -> App {
        self.shutdown().await;
        let db = self.db.take().expect("the database outlives the server");
        spawn_app(db, Some(mock_bot())).await
    }

    /// Stops the server the way the binary does (shutdown future resolves) and waits for it.
    pub async fn shutdown(&mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        if let Some(t) = self.task.take() {
            let _ = tokio::time::timeout(Duration::from_secs(15), t).await;
        }
    }
}

impl Drop for App {
    /// Safety net for failing tests only: a passing test has already seen every bot exit.
    fn drop(&mut self) {
        kill_all(&self.bot_pids());
    }
}

/// `POST /bots` body for a Google Meet meeting with the mock bot's happy scenario.
pub fn happy(native: &str) -> Value {
    serde_json::json!({"platform": "google_meet", "native_meeting_id": native, "bot_name": "mock:happy"})
}

/// `POST /bots` body with the mock bot's `s` scenario (`crash`, `reject`, `slow`, …).
pub fn scenario(native: &str, s: &str) -> Value {
    serde_json::json!({"platform": "google_meet", "native_meeting_id": native, "bot_name": format!("mock:{s}")})
}
