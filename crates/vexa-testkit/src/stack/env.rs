//! [`StackEnv`]: the environment of one stack, and the `vexa` commands run with it.

use std::collections::HashMap;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};

use crate::{ADMIN_TOKEN, INTERNAL_SECRET};

/// Ports handed out for child processes to listen on: below Linux's default ephemeral range
/// (32768–60999), so no outgoing connection and no in-process server bound to port 0 can take one
/// between the hand-out and the child's bind (a port 0 pick can: CI saw `vexa up` fail with
/// "Address already in use" on a port an earlier `bind(0)` had just returned).
const CHILD_PORTS: std::ops::Range<u16> = 20_000..32_000;

/// A loopback port nothing listens on right now, never handed out twice by this process. The
/// walk starts at an offset taken from the process id, so test processes running at the same
/// time mostly stay apart too; a port something else holds is skipped.
pub fn free_port() -> u16 {
    use std::sync::atomic::{AtomicU32, Ordering};
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let span = u32::from(CHILD_PORTS.end - CHILD_PORTS.start);
    let offset = std::process::id().wrapping_mul(7919) % span;
    for _ in 0..span {
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let port = CHILD_PORTS.start + ((offset + n) % span) as u16;
        if TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
    panic!("no free loopback port in {CHILD_PORTS:?}")
}

/// Environment for one stack: ports, data dir, database, secrets; the development bot as
/// `BOT_COMMAND`, limiters off (their own suites cover them), JSON logs.
#[derive(Clone)]
pub struct StackEnv {
    /// The `vexa` binary under test.
    pub bin: PathBuf,
    pub vars: HashMap<String, String>,
    pub data_dir: PathBuf,
}

impl StackEnv {
    pub fn new(bin: impl AsRef<Path>, data_dir: &Path, database_url: &str) -> StackEnv {
        let bin = bin.as_ref().to_path_buf();
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
            ("BOT_COMMAND", format!("{} mock-bot", bin.display())),
            ("BOT_STOP_GRACE_S", "3".to_owned()),
            ("GATEWAY_RATE_LIMIT_DISABLED", "true".to_owned()),
            ("GUARD_ENABLED", "false".to_owned()),
            ("LOG_FORMAT", "json".to_owned()),
        ] {
            vars.insert(k.to_owned(), v);
        }
        StackEnv {
            bin,
            vars,
            data_dir: data_dir.to_owned(),
        }
    }

    pub fn set(&mut self, k: &str, v: &str) -> &mut Self {
        self.vars.insert(k.to_owned(), v.to_owned());
        self
    }

    /// The port a `*_PORT` variable names.
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

    /// A `vexa` command with this environment, run in the data dir (so no stray `.env` applies)
    /// and with nothing else inherited but `PATH`, `HOME` and `RUST_BACKTRACE`.
    pub fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(&self.bin);
        cmd.args(args).current_dir(&self.data_dir).env_clear();
        for key in ["PATH", "HOME", "RUST_BACKTRACE"] {
            if let Ok(v) = std::env::var(key) {
                cmd.env(key, v);
            }
        }
        cmd.envs(&self.vars);
        cmd
    }

    /// Runs `vexa <args>` to completion.
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
