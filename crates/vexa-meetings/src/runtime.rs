//! Bot runtimes. The `process` backend runs `BOT_COMMAND` once per bot, each in its own
//! process group, with its config in `VEXA_BOT_CONFIG`, output in `<data_dir>/bots/<id>.log`,
//! and commands as JSON lines on its stdin (EOF = leave). A task awaits each child, so an exit
//! is noticed at once; stop is leave → grace → SIGTERM → SIGKILL to the whole group.

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use serde_json::Value;
use tokio::io::AsyncWriteExt;
use tokio::process::{ChildStdin, Command};
use tokio::sync::{mpsc, watch};
use vexa_core::meeting::MeetingId;

/// What the runtime tells the service.
#[derive(Debug, Clone)]
pub enum RuntimeEvent {
    /// The bot process (group leader) exited; `code` is `None` when killed by a signal.
    Exited {
        meeting: MeetingId,
        code: Option<i32>,
    },
}

#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    #[error("BOT_COMMAND is not a valid command line")]
    BadCommand,
    #[error("could not start the bot: {0}")]
    Spawn(String),
    #[error("no running bot for this meeting")]
    NotRunning,
}

/// Starts, commands and stops bots.
#[async_trait]
pub trait BotRuntime: Send + Sync + 'static {
    /// Starts a bot; returns its process id (for logs and tests).
    async fn spawn(
        &self,
        meeting: MeetingId,
        workload_id: &str,
        config: &Value,
    ) -> Result<u32, RuntimeError>;
    /// Delivers one command to a running bot.
    async fn send(&self, meeting: MeetingId, command: &Value) -> Result<(), RuntimeError>;
    /// Asks the bot to leave, then forces it down after `grace`. Returns once it is gone.
    async fn stop(&self, meeting: MeetingId, grace: Duration);
    /// Stops every bot (server shutdown); returns once all are gone.
    async fn shutdown(&self);
}

/// What callers need of a running bot: its group, its stdin, and an exit signal.
type Handle = (
    i32,
    Arc<tokio::sync::Mutex<Option<ChildStdin>>>,
    watch::Receiver<bool>,
);

struct Proc {
    pgid: i32,
    stdin: Arc<tokio::sync::Mutex<Option<ChildStdin>>>,
    exited: watch::Receiver<bool>,
}

/// The `process` backend.
pub struct ProcessRuntime {
    argv: Vec<String>,
    log_dir: PathBuf,
    procs: Arc<Mutex<HashMap<MeetingId, Proc>>>,
    events: mpsc::UnboundedSender<RuntimeEvent>,
}

impl ProcessRuntime {
    pub fn new(
        command: &str,
        log_dir: PathBuf,
        events: mpsc::UnboundedSender<RuntimeEvent>,
    ) -> Result<Self, RuntimeError> {
        let argv = shlex::split(command)
            .filter(|a| !a.is_empty())
            .ok_or(RuntimeError::BadCommand)?;
        Ok(ProcessRuntime {
            argv,
            log_dir,
            procs: Arc::default(),
            events,
        })
    }

    fn handle(&self, meeting: MeetingId) -> Option<Handle> {
        let procs = self.procs.lock().ok()?;
        procs
            .get(&meeting)
            .map(|p| (p.pgid, p.stdin.clone(), p.exited.clone()))
    }
}

/// Sends `sig` to every process of the group `pgid`.
#[allow(unsafe_code)]
fn kill_group(pgid: i32, sig: libc::c_int) {
    if pgid <= 1 {
        return; // never signal "every process" or init's group
    }
    // SAFETY: killpg has no memory-safety preconditions; it only takes integers. A stale group
    // id yields ESRCH, which we ignore.
    unsafe {
        libc::killpg(pgid, sig);
    }
}

async fn wait_exit(mut rx: watch::Receiver<bool>, within: Duration) -> bool {
    tokio::time::timeout(within, rx.wait_for(|done| *done))
        .await
        .is_ok_and(|r| r.is_ok())
}

async fn write_line(
    stdin: &tokio::sync::Mutex<Option<ChildStdin>>,
    command: &Value,
) -> Result<(), RuntimeError> {
    let mut guard = stdin.lock().await;
    let pipe = guard.as_mut().ok_or(RuntimeError::NotRunning)?;
    let mut line = command.to_string();
    line.push('\n');
    let sent = async {
        pipe.write_all(line.as_bytes()).await?;
        pipe.flush().await
    };
    match tokio::time::timeout(Duration::from_secs(2), sent).await {
        Ok(Ok(())) => Ok(()),
        _ => Err(RuntimeError::NotRunning),
    }
}

#[async_trait]
impl BotRuntime for ProcessRuntime {
    async fn spawn(
        &self,
        meeting: MeetingId,
        workload_id: &str,
        config: &Value,
    ) -> Result<u32, RuntimeError> {
        let spawn_err = |e: std::io::Error| RuntimeError::Spawn(e.to_string());
        std::fs::create_dir_all(&self.log_dir).map_err(spawn_err)?;
        let log_path = self.log_dir.join(format!("{workload_id}.log"));
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log_path)
            .map_err(spawn_err)?;
        let log_err = log.try_clone().map_err(spawn_err)?;
        let (program, args) = self.argv.split_first().ok_or(RuntimeError::BadCommand)?;
        let mut child = Command::new(program)
            .args(args)
            .env("VEXA_BOT_CONFIG", config.to_string())
            .stdin(Stdio::piped())
            .stdout(Stdio::from(log))
            .stderr(Stdio::from(log_err))
            .process_group(0)
            .spawn()
            .map_err(spawn_err)?;
        let pid = child
            .id()
            .ok_or_else(|| RuntimeError::Spawn("exited at once".into()))?;
        let pgid =
            i32::try_from(pid).map_err(|_| RuntimeError::Spawn("pid out of range".into()))?;
        let (done_tx, done_rx) = watch::channel(false);
        let stdin = Arc::new(tokio::sync::Mutex::new(child.stdin.take()));
        if let Ok(mut procs) = self.procs.lock() {
            procs.insert(
                meeting,
                Proc {
                    pgid,
                    stdin,
                    exited: done_rx,
                },
            );
        }
        let procs = self.procs.clone();
        let events = self.events.clone();
        tokio::spawn(async move {
            let code = child.wait().await.ok().and_then(|s| s.code());
            // The leader is gone; anything it left behind in its group goes with it.
            kill_group(pgid, libc::SIGKILL);
            if let Ok(mut procs) = procs.lock() {
                procs.remove(&meeting);
            }
            let _ = done_tx.send(true);
            let _ = events.send(RuntimeEvent::Exited { meeting, code });
        });
        tracing::info!(meeting = meeting.0, pid, log = %log_path.display(), "bot process started");
        Ok(pid)
    }

    async fn send(&self, meeting: MeetingId, command: &Value) -> Result<(), RuntimeError> {
        let (_, stdin, _) = self.handle(meeting).ok_or(RuntimeError::NotRunning)?;
        write_line(&stdin, command).await
    }

    async fn stop(&self, meeting: MeetingId, grace: Duration) {
        let Some((pgid, stdin, exited)) = self.handle(meeting) else {
            return;
        };
        let _ = write_line(&stdin, &serde_json::json!({"action": "leave"})).await;
        if wait_exit(exited.clone(), grace).await {
            return;
        }
        tracing::warn!(
            meeting = meeting.0,
            "bot did not leave within the grace period; terminating"
        );
        kill_group(pgid, libc::SIGTERM);
        if !wait_exit(exited.clone(), Duration::from_secs(3)).await {
            kill_group(pgid, libc::SIGKILL);
            wait_exit(exited, Duration::from_secs(5)).await;
        }
    }

    async fn shutdown(&self) {
        let all: Vec<Handle> = match self.procs.lock() {
            Ok(p) => p
                .values()
                .map(|p| (p.pgid, p.stdin.clone(), p.exited.clone()))
                .collect(),
            Err(_) => Vec::new(),
        };
        for (pgid, _, _) in &all {
            kill_group(*pgid, libc::SIGTERM);
        }
        for (pgid, _, exited) in all {
            if !wait_exit(exited.clone(), Duration::from_secs(3)).await {
                kill_group(pgid, libc::SIGKILL);
                wait_exit(exited, Duration::from_secs(5)).await;
            }
        }
    }
}
