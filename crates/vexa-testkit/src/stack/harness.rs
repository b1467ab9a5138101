//! [`Stack`]: one running stack (`vexa up`, or its three roles as separate processes) with a
//! client that speaks through the gateway, for the bot end-to-end suites.
//!
//! Bot processes are found through `/proc/<pid>/environ`: a bot inherits the server's
//! environment, so `DATA_DIR=<this stack's temp dir>` next to `VEXA_BOT_CONFIG=` marks exactly
//! the bots of one stack. Dropping a `Stack` (a test failed half way) kills its servers, then any
//! bot of it; [`Stack::shutdown`] is the clean, asserted way out.

use std::path::Path;
use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

use super::logs::tail;
use super::{
    bot_logs, database_url, mint, server_logs, sigterm, start_up, StackEnv, UpProcess, WAIT,
};
use crate::procs::{bot_pids_with, kill_all};
use crate::{Backend, Reply, ADMIN_TOKEN};

/// A WebSocket client connection.
pub type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// One stack with its own data dir and database.
pub struct Stack {
    pub env: StackEnv,
    /// `vexa up`, when the stack runs as one process.
    pub up: Option<UpProcess>,
    /// Split-role processes (`vexa admin-api`, `vexa meetings`, `vexa gateway`), by role.
    pub roles: Vec<(&'static str, UpProcess)>,
    pub http: reqwest::Client,
    /// Every key minted for this stack, and any other secret a test adds: none may appear in a
    /// log.
    pub secrets: Vec<String>,
    _dir: tempfile::TempDir,
}

impl Stack {
    /// `vexa up` of `bin` on a fresh database of `backend`.
    pub async fn start(bin: impl AsRef<Path>, backend: Backend) -> Stack {
        Stack::start_with(bin, backend, &[]).await
    }

    /// `vexa up` with extra settings.
    pub async fn start_with(
        bin: impl AsRef<Path>,
        backend: Backend,
        vars: &[(&str, &str)],
    ) -> Stack {
        let dir = tempfile::tempdir().expect("tmp");
        let url = database_url(backend, dir.path()).await;
        let mut env = StackEnv::new(bin, dir.path(), &url);
        for (k, v) in vars {
            env.set(k, v);
        }
        let up = start_up(&env).await;
        Stack::new(env, Some(up), Vec::new(), dir)
    }

    /// The three roles as three processes on one database. The admin API starts first and
    /// creates the schema; the other two then start together. (Three processes migrating a
    /// fresh SQLite file at the same instant can fail with "database is locked": the
    /// migration transaction reads before it writes.)
    pub async fn start_split(bin: impl AsRef<Path>, backend: Backend) -> Stack {
        let dir = tempfile::tempdir().expect("tmp");
        let url = database_url(backend, dir.path()).await;
        let env = StackEnv::new(bin, dir.path(), &url);
        let admin = UpProcess {
            child: env.spawn("admin-api", "admin-api"),
        };
        let mut s = Stack::new(env, None, vec![("admin-api", admin)], dir);
        s.wait_healthy(&s.env.admin()).await;
        for role in ["meetings", "gateway"] {
            let p = UpProcess {
                child: s.env.spawn(role, role),
            };
            s.roles.push((role, p));
        }
        for base in [s.env.meetings(), s.env.gateway()] {
            s.wait_healthy(&base).await;
        }
        s
    }

    fn new(
        env: StackEnv,
        up: Option<UpProcess>,
        roles: Vec<(&'static str, UpProcess)>,
        dir: tempfile::TempDir,
    ) -> Stack {
        let http = reqwest::Client::builder()
            .no_proxy()
            .timeout(Duration::from_secs(20))
            .build()
            .expect("http client");
        Stack {
            env,
            up,
            roles,
            http,
            secrets: Vec::new(),
            _dir: dir,
        }
    }

    /// Waits until `<base>/health` answers 200.
    pub async fn wait_healthy(&self, base: &str) {
        let deadline = Instant::now() + WAIT;
        loop {
            let ok = self
                .http
                .get(format!("{base}/health"))
                .timeout(Duration::from_secs(1))
                .send()
                .await
                .is_ok_and(|r| r.status().is_success());
            if ok {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "{base} did not become healthy\n{}",
                self.diagnostics()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// SIGTERM to one split role; it must exit cleanly.
    pub async fn stop_role(&mut self, role: &str) {
        let i = self
            .roles
            .iter()
            .position(|(r, _)| *r == role)
            .expect("role is running");
        let (_, mut p) = self.roles.remove(i);
        sigterm(&mut p, role, &self.diagnostics()).await;
    }

    /// A user (created or found) and a fresh key with `scopes`: `(user_id, key_id, key)`.
    pub async fn key(&mut self, email: &str, scopes: &str) -> (i64, i64, String) {
        let minted = mint(&self.env, email, scopes).await;
        self.secrets.push(minted.2.clone());
        minted
    }

    /// One request through the gateway with `X-API-Key: key`.
    pub async fn call(&self, method: Method, path: &str, key: &str, body: Option<Value>) -> Reply {
        let mut req = self
            .http
            .request(method.clone(), format!("{}{path}", self.env.gateway()))
            .header("X-API-Key", key);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req
            .send()
            .await
            .unwrap_or_else(|e| panic!("{method} {path}: {e}"));
        Reply::from_reqwest(resp).await
    }

    /// One request to the admin API with the admin token.
    pub async fn admin(&self, method: Method, path: &str, body: Option<Value>) -> Reply {
        let mut req = self
            .http
            .request(method, format!("{}{path}", self.env.admin()))
            .header("X-Admin-API-Key", ADMIN_TOKEN);
        if let Some(b) = body {
            req = req.json(&b);
        }
        Reply::from_reqwest(req.send().await.expect("admin request")).await
    }

    /// `POST /bots` for a Google Meet meeting with the mock bot's `scenario` (`happy`, `crash`, …).
    pub async fn post_bot(&self, key: &str, native: &str, scenario: &str) -> Reply {
        let body = json!({
            "platform": "google_meet",
            "native_meeting_id": native,
            "bot_name": format!("mock:{scenario}"),
        });
        self.call(Method::POST, "/bots", key, Some(body)).await
    }

    /// Polls `GET /meetings/{id}` until its status is `want`; the meeting row.
    pub async fn wait_status(&self, key: &str, id: i64, want: &str) -> Value {
        let deadline = Instant::now() + WAIT;
        loop {
            let (code, m) = self
                .call(Method::GET, &format!("/meetings/{id}"), key, None)
                .await
                .parts();
            assert_eq!(code, 200, "GET /meetings/{id}: {m}");
            if m["status"] == want {
                return m;
            }
            assert!(
                Instant::now() < deadline,
                "meeting {id} never became {want}: {m}\n{}",
                self.diagnostics()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Live bot processes of this stack (zombies count as gone).
    pub fn bot_pids(&self) -> Vec<i32> {
        bot_pids_with(&format!("DATA_DIR={}\0", self.env.data_dir.display()))
    }

    /// Waits until exactly `n` bot processes of this stack are alive; their pids.
    pub async fn wait_bot_count(&self, n: usize) -> Vec<i32> {
        let deadline = Instant::now() + WAIT;
        loop {
            let pids = self.bot_pids();
            if pids.len() == n {
                return pids;
            }
            assert!(
                Instant::now() < deadline,
                "expected {n} bot processes, found {pids:?}\n{}",
                self.diagnostics()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// A WebSocket on the gateway's `/ws`, the key in the header or in `?api_key=`.
    pub async fn ws(&self, key: &str, in_query: bool) -> Ws {
        let port = self.env.port("API_GATEWAY_HOST_PORT");
        let url = if in_query {
            format!("ws://127.0.0.1:{port}/ws?api_key={key}")
        } else {
            format!("ws://127.0.0.1:{port}/ws")
        };
        let mut req = url.into_client_request().expect("ws request");
        if !in_query {
            req.headers_mut()
                .insert("x-api-key", key.parse().expect("header value"));
        }
        tokio_tungstenite::connect_async(req)
            .await
            .expect("ws through the gateway")
            .0
    }

    /// Server log tail and bot logs, for failure messages.
    pub fn diagnostics(&self) -> String {
        format!(
            "--- server log (tail)\n{}\n--- bot logs\n{}",
            tail(&server_logs(&self.env), 30),
            bot_logs(&self.env)
        )
    }

    /// SIGTERM to every server; each must exit cleanly, leave no bot process, and have logged
    /// no secret.
    pub async fn shutdown(mut self) {
        let before = self.bot_pids();
        if let Some(mut up) = self.up.take() {
            sigterm(&mut up, "up", &self.diagnostics()).await;
        }
        // The meetings role first: it owns the bots.
        for role in ["meetings", "gateway", "admin-api"] {
            if self.roles.iter().any(|(r, _)| *r == role) {
                self.stop_role(role).await;
            }
        }
        let left = self.bot_pids();
        assert!(
            left.is_empty(),
            "bot processes outlived `vexa up` (had {before:?}, left {left:?})\n{}",
            self.diagnostics()
        );
        let log = server_logs(&self.env);
        for s in &self.secrets {
            assert!(!log.contains(s.as_str()), "a secret was logged");
        }
        assert!(!log.contains(ADMIN_TOKEN), "the admin token was logged");
    }
}

impl Drop for Stack {
    /// Safety net when a test fails half way: the servers, then any bot of this stack.
    fn drop(&mut self) {
        drop(self.up.take());
        self.roles.clear();
        kill_all(&self.bot_pids());
    }
}
