//! Test harness: runs the real `vexa` binary as child processes on free loopback ports, each
//! stack with its own data directory and database.
#![allow(dead_code)]

use std::collections::HashMap;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

pub const ADMIN_TOKEN: &str = "test-admin-token-0123456789";
pub const INTERNAL_SECRET: &str = "test-internal-secret-0123456789";

pub fn vexa_bin() -> &'static str {
    env!("CARGO_BIN_EXE_vexa")
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

/// Environment for one stack: ports, data dir, database, secrets.
#[derive(Clone)]
pub struct StackEnv {
    pub vars: HashMap<String, String>,
    pub data_dir: PathBuf,
}

impl StackEnv {
    pub fn new(data_dir: &Path, database_url: &str) -> StackEnv {
        let mut vars = HashMap::new();
        for (k, v) in [
            ("BIND_HOST", "127.0.0.1".to_owned()),
            ("API_GATEWAY_HOST_PORT", free_port().to_string()),
            ("ADMIN_API_PORT", free_port().to_string()),
            ("MEETINGS_API_PORT", free_port().to_string()),
            ("DATABASE_URL", database_url.to_owned()),
            ("DATA_DIR", data_dir.display().to_string()),
            ("ADMIN_TOKEN", ADMIN_TOKEN.to_owned()),
            ("INTERNAL_API_SECRET", INTERNAL_SECRET.to_owned()),
            ("BOT_COMMAND", format!("{} mock-bot", vexa_bin())),
            ("BOT_STOP_GRACE_S", "3".to_owned()),
            ("GATEWAY_RATE_LIMIT_DISABLED", "true".to_owned()),
            ("GUARD_ENABLED", "false".to_owned()),
            ("LOG_FORMAT", "json".to_owned()),
        ] {
            vars.insert(k.to_owned(), v);
        }
        StackEnv {
            vars,
            data_dir: data_dir.to_owned(),
        }
    }

    pub fn set(&mut self, k: &str, v: &str) -> &mut Self {
        self.vars.insert(k.to_owned(), v.to_owned());
        self
    }

    pub fn port(&self, var: &str) -> u16 {
        self.vars
            .get(var)
            .and_then(|p| p.parse().ok())
            .expect("port var")
    }

    pub fn gateway(&self) -> String {
        format!("http://127.0.0.1:{}", self.port("API_GATEWAY_HOST_PORT"))
    }

    pub fn admin(&self) -> String {
        format!("http://127.0.0.1:{}", self.port("ADMIN_API_PORT"))
    }

    pub fn meetings(&self) -> String {
        format!("http://127.0.0.1:{}", self.port("MEETINGS_API_PORT"))
    }

    /// A `vexa` command with this environment, run in the data dir (so no stray `.env` applies).
    pub fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(vexa_bin());
        cmd.args(args).current_dir(&self.data_dir).env_clear();
        for key in ["PATH", "HOME", "RUST_BACKTRACE"] {
            if let Ok(v) = std::env::var(key) {
                cmd.env(key, v);
            }
        }
        cmd.envs(&self.vars);
        cmd
    }

    pub fn run(&self, args: &[&str]) -> Output {
        self.command(args)
            .stdin(Stdio::null())
            .output()
            .expect("run vexa")
    }

    /// Starts `vexa <role>` as a child whose output goes to `<data_dir>/<log_name>.log`.
    pub fn spawn(&self, role: &str, log_name: &str) -> Child {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.data_dir.join(format!("{log_name}.log")))
            .expect("log file");
        self.command(&[role])
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log"))
            .stderr(log)
            .spawn()
            .expect("spawn vexa")
    }
}

/// Waits until `url` answers 200.
pub async fn wait_ok(url: &str, within: Duration) {
    let client = reqwest::Client::new();
    let deadline = Instant::now() + within;
    loop {
        if let Ok(r) = client.get(url).timeout(Duration::from_secs(1)).send().await {
            if r.status().is_success() {
                return;
            }
        }
        assert!(
            Instant::now() < deadline,
            "{url} did not become healthy within {within:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A running `vexa up`, killed when dropped.
pub struct UpProcess {
    pub child: Child,
}

impl Drop for UpProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub async fn start_up(env: &StackEnv) -> UpProcess {
    let child = env.spawn("up", "up");
    let up = UpProcess { child };
    for base in [env.gateway(), env.admin(), env.meetings()] {
        wait_ok(&format!("{base}/health"), Duration::from_secs(30)).await;
    }
    up
}

/// Creates (or finds) a user and mints a key with `scopes` through the admin API.
pub async fn mint(env: &StackEnv, email: &str, scopes: &str) -> (i64, i64, String) {
    let client = reqwest::Client::new();
    let user: serde_json::Value = client
        .post(format!("{}/admin/users", env.admin()))
        .header("X-Admin-API-Key", ADMIN_TOKEN)
        .json(&serde_json::json!({ "email": email }))
        .send()
        .await
        .expect("create user")
        .json()
        .await
        .expect("user json");
    let user_id = user["id"].as_i64().expect("user id");
    let key: serde_json::Value = client
        .post(format!(
            "{}/admin/users/{user_id}/tokens?scopes={scopes}",
            env.admin()
        ))
        .header("X-Admin-API-Key", ADMIN_TOKEN)
        .send()
        .await
        .expect("mint")
        .json()
        .await
        .expect("mint json");
    (
        user_id,
        key["id"].as_i64().expect("key id"),
        key["token"].as_str().expect("token").to_owned(),
    )
}

/// GET `/auth/me` through the gateway; the status code.
pub async fn auth_me_status(gateway: &str, key: &str) -> u16 {
    reqwest::Client::new()
        .get(format!("{gateway}/auth/me"))
        .header("X-API-Key", key)
        .timeout(Duration::from_secs(5))
        .send()
        .await
        .map(|r| r.status().as_u16())
        .unwrap_or(0)
}

/// A fresh database URL for `backend` ("sqlite" in `dir`, or a new PostgreSQL database).
pub async fn database_url(backend: &str, dir: &Path) -> String {
    match backend {
        "sqlite" => format!("sqlite://{}", dir.join("vexa.db").display()),
        _ => vexa_store::testing::TestDb::postgres().await.url,
    }
}
