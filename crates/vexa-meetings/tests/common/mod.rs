//! Test harness: the real service on 127.0.0.1:0 over a fresh database, the mock bot binary as
//! `BOT_COMMAND`, an HTTP client that speaks as the gateway, and process inspection via /proc.
#![allow(dead_code, clippy::unwrap_used)]

use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use tokio::sync::oneshot;
use vexa_core::SystemClock;
use vexa_meetings::{MeetingsConfig, MeetingsService};
use vexa_store::meetings::SqlMeetingStore;
use vexa_store::testing::TestDb;

pub const SECRET: &str = "test-internal-secret";

pub fn mock_bot() -> String {
    env!("CARGO_BIN_EXE_vexa-mock-bot").to_owned()
}

pub struct App {
    pub base: String,
    pub port: u16,
    pub db_url: String,
    pub client: reqwest::Client,
    pub data_dir: tempfile::TempDir,
    stop: Option<oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
    db: Option<TestDb>,
}

pub async fn spawn_app(db: TestDb, bot_command: Option<String>) -> App {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let data_dir = tempfile::tempdir().unwrap();
    let cfg = MeetingsConfig {
        internal_secret: SECRET.into(),
        bot_command,
        callback_base_url: format!("http://127.0.0.1:{port}"),
        data_dir: data_dir.path().to_path_buf(),
        stop_grace: Duration::from_secs(2),
        token_key: [9; 32],
        webhook_timeout: Duration::from_secs(2),
        max_body_bytes: vexa_http::DEFAULT_MAX_BODY_BYTES,
    };
    let store = Arc::new(SqlMeetingStore::new(db.db.clone()));
    let svc = MeetingsService::new(cfg, store, Arc::new(SystemClock))
        .await
        .unwrap();
    let (tx, rx) = oneshot::channel::<()>();
    let task = tokio::spawn(svc.serve(listener, async move {
        let _ = rx.await;
    }));
    App {
        base: format!("http://127.0.0.1:{port}"),
        port,
        db_url: db.url.clone(),
        client: reqwest::Client::new(),
        data_dir,
        stop: Some(tx),
        task: Some(task),
        db: Some(db),
    }
}

impl App {
    pub fn req(&self, method: reqwest::Method, path: &str, user: i64) -> reqwest::RequestBuilder {
        self.client
            .request(method, format!("{}{path}", self.base))
            .header("x-internal-secret", SECRET)
            .header("x-user-id", user.to_string())
            .header("x-user-email", format!("u{user}@example.com"))
            .header("x-user-scopes", "bot,tx")
    }

    pub async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        user: i64,
        body: Option<Value>,
    ) -> (u16, Value) {
        let mut r = self.req(method, path, user);
        if let Some(b) = body {
            r = r.json(&b);
        }
        let resp = r.send().await.unwrap();
        let status = resp.status().as_u16();
        let text = resp.text().await.unwrap();
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    pub async fn post_bot(&self, user: i64, body: Value) -> (u16, Value) {
        self.call(reqwest::Method::POST, "/bots", user, Some(body))
            .await
    }

    pub async fn meeting(&self, user: i64, id: i64) -> Value {
        self.call(reqwest::Method::GET, &format!("/meetings/{id}"), user, None)
            .await
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

    /// Pids of live bot processes started by this server (found by their callback URL).
    pub fn bot_pids(&self) -> Vec<i32> {
        bot_pids_for(self.port)
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
        let db = self.db.take().unwrap();
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
        for pid in self.bot_pids() {
            let _ = std::process::Command::new("kill")
                .arg("-9")
                .arg(pid.to_string())
                .status();
        }
    }
}

pub fn bot_pids_for(port: u16) -> Vec<i32> {
    let needle = format!("127.0.0.1:{port}/internal");
    let mut out = Vec::new();
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return out;
    };
    for e in dir.flatten() {
        let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<i32>().ok()) else {
            continue;
        };
        let Ok(env) = std::fs::read(e.path().join("environ")) else {
            continue;
        };
        let env = String::from_utf8_lossy(&env);
        if env.contains("VEXA_BOT_CONFIG=") && env.contains(&needle) && alive(pid) {
            out.push(pid);
        }
    }
    out
}

/// `kill(pid, 0)` semantics through /proc: a zombie counts as dead.
pub fn alive(pid: i32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(s) => !s
            .rsplit(')')
            .next()
            .is_some_and(|rest| rest.trim_start().starts_with('Z')),
        Err(_) => false,
    }
}

pub fn happy(native: &str) -> Value {
    serde_json::json!({"platform": "google_meet", "native_meeting_id": native, "bot_name": "mock:happy"})
}

pub fn scenario(native: &str, s: &str) -> Value {
    serde_json::json!({"platform": "google_meet", "native_meeting_id": native, "bot_name": format!("mock:{s}")})
}
