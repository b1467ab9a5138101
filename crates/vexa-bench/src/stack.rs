//! Running the real `vexa` binary as child processes on free loopback ports, for the scale runs.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use rand::RngCore;

/// A child process, killed (and reaped) when dropped.
pub struct Proc {
    pub child: Child,
}

impl Proc {
    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn free_port() -> anyhow::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// A random hex secret of `bytes` bytes.
pub fn random_hex(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    rand::rngs::OsRng.fill_bytes(&mut buf);
    buf.iter().map(|b| format!("{b:02x}")).collect()
}

/// The environment of one `vexa` process: its own ports and data dir, a shared database.
#[derive(Clone, Debug)]
pub struct StackEnv {
    pub vars: Vec<(String, String)>,
    pub dir: PathBuf,
    pub gateway_port: u16,
    pub admin_port: u16,
}

impl StackEnv {
    pub fn new(
        dir: &Path,
        database_url: &str,
        admin_token: &str,
        internal_secret: &str,
    ) -> anyhow::Result<StackEnv> {
        std::fs::create_dir_all(dir).with_context(|| format!("create {}", dir.display()))?;
        let gateway_port = free_port()?;
        let admin_port = free_port()?;
        let meetings_port = free_port()?;
        let vars = [
            ("BIND_HOST", "127.0.0.1".to_owned()),
            ("API_GATEWAY_HOST_PORT", gateway_port.to_string()),
            ("ADMIN_API_PORT", admin_port.to_string()),
            ("MEETINGS_API_PORT", meetings_port.to_string()),
            ("DATABASE_URL", database_url.to_owned()),
            ("DATA_DIR", dir.display().to_string()),
            ("ADMIN_TOKEN", admin_token.to_owned()),
            ("INTERNAL_API_SECRET", internal_secret.to_owned()),
            // The scale runs measure resolution and propagation, not the limiters.
            ("GATEWAY_RATE_LIMIT_DISABLED", "true".to_owned()),
            ("GUARD_ENABLED", "false".to_owned()),
            ("LOG_FORMAT", "json".to_owned()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect();
        Ok(StackEnv {
            vars,
            dir: dir.to_owned(),
            gateway_port,
            admin_port,
        })
    }

    pub fn gateway(&self) -> String {
        format!("http://127.0.0.1:{}", self.gateway_port)
    }

    pub fn admin(&self) -> String {
        format!("http://127.0.0.1:{}", self.admin_port)
    }

    /// Starts `vexa <role>` in the data dir (so no stray `.env` applies), output to `<role>.log`.
    pub fn spawn(&self, vexa: &Path, role: &str) -> anyhow::Result<Proc> {
        let log_path = self.dir.join(format!("{role}.log"));
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log_path)
            .with_context(|| format!("open {}", log_path.display()))?;
        let mut cmd = Command::new(vexa);
        cmd.arg(role).current_dir(&self.dir).env_clear();
        for key in ["PATH", "HOME"] {
            if let Ok(v) = std::env::var(key) {
                cmd.env(key, v);
            }
        }
        cmd.envs(self.vars.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        let child = cmd
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .with_context(|| format!("spawn {} {role}", vexa.display()))?;
        Ok(Proc { child })
    }
}

/// Waits until `url` answers 200, or fails after `within`.
pub async fn wait_ok(client: &reqwest::Client, url: &str, within: Duration) -> anyhow::Result<()> {
    let deadline = Instant::now() + within;
    loop {
        if let Ok(r) = client.get(url).timeout(Duration::from_secs(1)).send().await {
            if r.status().is_success() {
                return Ok(());
            }
        }
        if Instant::now() > deadline {
            bail!("{url} did not answer 200 within {within:?}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// (VmRSS, VmHWM) of a process, in KiB.
pub fn rss_kib(pid: u32) -> anyhow::Result<(u64, u64)> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let field = |name: &str| -> anyhow::Result<u64> {
        let line = status
            .lines()
            .find(|l| l.starts_with(name))
            .with_context(|| format!("{name} missing from /proc/{pid}/status"))?;
        let kib = line
            .split_whitespace()
            .nth(1)
            .with_context(|| format!("malformed {name}"))?;
        Ok(kib.parse()?)
    };
    Ok((field("VmRSS:")?, field("VmHWM:")?))
}

/// Creates (or empties) the PostgreSQL database `name` next to the one `base_url` names and
/// returns its URL.
pub async fn fresh_pg_database(base_url: &str, name: &str) -> anyhow::Result<String> {
    use sqlx::Connection;
    let mut conn = sqlx::PgConnection::connect(base_url)
        .await
        .context("connect to PostgreSQL (is it running on 127.0.0.1:5432?)")?;
    sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        .execute(&mut conn)
        .await
        .context("drop database")?;
    sqlx::query(&format!("CREATE DATABASE {name}"))
        .execute(&mut conn)
        .await
        .context("create database")?;
    conn.close().await.ok();
    let (head, tail) = base_url.split_at(base_url.rfind('/').context("database URL has no /")?);
    let query = tail.find('?').map(|i| &tail[i..]).unwrap_or("");
    Ok(format!("{head}/{name}{query}"))
}

pub async fn drop_pg_database(base_url: &str, name: &str) {
    use sqlx::Connection;
    if let Ok(mut conn) = sqlx::PgConnection::connect(base_url).await {
        let _ = sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
            .execute(&mut conn)
            .await;
        conn.close().await.ok();
    }
}
