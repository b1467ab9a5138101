//! Bot runtimes. The `process` backend runs `BOT_COMMAND` once per bot, each in its own
//! process group, with its config in `VEXA_BOT_CONFIG`, output in `<data_dir>/bots/<id>.log`,
//! and commands as JSON lines on its stdin (EOF = leave). A task awaits each child, so an exit
//! is noticed at once; stop is leave → grace → SIGTERM → SIGKILL to the whole group.

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use async_trait::async_trait;
use serde::Serialize;
use tokio::io::AsyncWriteExt;
use tokio::process::{Child, ChildStdin, Command};
use tokio::sync::{mpsc, watch};
use vexa_core::meeting::MeetingId;

use crate::wire::bot_config::{BotCommand, BotConfig};

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
    #[error("could not encode the bot's {0}")]
    Encode(&'static str),
}

/// Starts, commands and stops bots.
#[async_trait]
pub trait BotRuntime: Send + Sync + 'static {
    /// Starts a bot; returns its process id (for logs and tests).
    async fn spawn(
        &self,
        meeting: MeetingId,
        workload_id: &str,
        config: &BotConfig,
    ) -> Result<u32, RuntimeError>;
    /// Delivers one command to a running bot.
    async fn send(&self, meeting: MeetingId, command: &BotCommand) -> Result<(), RuntimeError>;
    /// Asks the bot to leave, then forces it down after `grace`. Returns once it is gone.
    async fn stop(&self, meeting: MeetingId, grace: Duration);
    /// Stops every bot (server shutdown); returns once all are gone.
    async fn shutdown(&self);
}

/// A running bot: its process group, its stdin, and a signal that turns `true` when it exited.
/// Cheap to clone, so callers take a copy out of the registry and never hold its lock.
#[derive(Clone)]
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

    /// The registry of running bots. A panic elsewhere while it was held leaves the map
    /// itself intact, so a poisoned lock is used as is (never skipping a registration).
    fn registry(&self) -> std::sync::MutexGuard<'_, HashMap<MeetingId, Proc>> {
        self.procs.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn running(&self, meeting: MeetingId) -> Option<Proc> {
        self.registry().get(&meeting).cloned()
    }

    /// `<log_dir>/<workload_id>.log`, opened for appending.
    fn open_log(&self, workload_id: &str) -> Result<(PathBuf, std::fs::File), RuntimeError> {
        let spawn_err = |e: std::io::Error| RuntimeError::Spawn(e.to_string());
        std::fs::create_dir_all(&self.log_dir).map_err(spawn_err)?;
        let path = self.log_dir.join(format!("{workload_id}.log"));
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .map_err(spawn_err)?;
        Ok((path, file))
    }

    /// Awaits the bot's exit: its group goes with it, it leaves the registry, and the service
    /// hears of it at once.
    fn watch_exit(
        &self,
        meeting: MeetingId,
        pgid: i32,
        mut child: Child,
        done: watch::Sender<bool>,
    ) {
        let procs = self.procs.clone();
        let events = self.events.clone();
        tokio::spawn(async move {
            let code = child.wait().await.ok().and_then(|s| s.code());
            // The leader is gone; anything it left behind in its group goes with it.
            kill_group(pgid, libc::SIGKILL);
            procs
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .remove(&meeting);
            let _ = done.send(true);
            let _ = events.send(RuntimeEvent::Exited { meeting, code });
        });
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

/// How long a bot's group gets to exit after SIGTERM, then after SIGKILL.
const TERM_WAIT: Duration = Duration::from_secs(3);
const KILL_WAIT: Duration = Duration::from_secs(5);

/// SIGTERM to the group, then SIGKILL if it is still there.
async fn terminate(bot: &Proc) {
    kill_group(bot.pgid, libc::SIGTERM);
    if !wait_exit(bot.exited.clone(), TERM_WAIT).await {
        kill_group(bot.pgid, libc::SIGKILL);
        wait_exit(bot.exited.clone(), KILL_WAIT).await;
    }
}

async fn wait_exit(mut rx: watch::Receiver<bool>, within: Duration) -> bool {
    tokio::time::timeout(within, rx.wait_for(|done| *done))
        .await
        .is_ok_and(|r| r.is_ok())
}

async fn write_line(
    stdin: &tokio::sync::Mutex<Option<ChildStdin>>,
    command: &BotCommand,
) -> Result<(), RuntimeError> {
    let mut line = encode(command, "command")?;
    line.push('\n');
    let mut guard = stdin.lock().await;
    let pipe = guard.as_mut().ok_or(RuntimeError::NotRunning)?;
    let sent = async {
        pipe.write_all(line.as_bytes()).await?;
        pipe.flush().await
    };
    match tokio::time::timeout(Duration::from_secs(2), sent).await {
        Ok(Ok(())) => Ok(()),
        _ => Err(RuntimeError::NotRunning),
    }
}

fn encode<T: Serialize>(value: &T, what: &'static str) -> Result<String, RuntimeError> {
    serde_json::to_string(value).map_err(|_| RuntimeError::Encode(what))
}

#[async_trait]
impl BotRuntime for ProcessRuntime {
    async fn spawn(
        &self,
        meeting: MeetingId,
        workload_id: &str,
        config: &BotConfig,
    ) -> Result<u32, RuntimeError> {
        let config = encode(config, "config")?;
        let spawn_err = |e: std::io::Error| RuntimeError::Spawn(e.to_string());
        let (log_path, log) = self.open_log(workload_id)?;
        let log_err = log.try_clone().map_err(spawn_err)?;
        let (program, args) = self.argv.split_first().ok_or(RuntimeError::BadCommand)?;
        let mut child = Command::new(program)
            .args(args)
            .env("VEXA_BOT_CONFIG", config)
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
        self.registry().insert(
            meeting,
            Proc {
                pgid,
                stdin,
                exited: done_rx,
            },
        );
        self.watch_exit(meeting, pgid, child, done_tx);
        tracing::info!(meeting = meeting.0, pid, log = %log_path.display(), "bot process started");
        Ok(pid)
    }

    async fn send(&self, meeting: MeetingId, command: &BotCommand) -> Result<(), RuntimeError> {
        let bot = self.running(meeting).ok_or(RuntimeError::NotRunning)?;
        write_line(&bot.stdin, command).await
    }

    async fn stop(&self, meeting: MeetingId, grace: Duration) {
        let Some(bot) = self.running(meeting) else {
            return;
        };
        let _ = write_line(&bot.stdin, &BotCommand::Leave).await;
        if wait_exit(bot.exited.clone(), grace).await {
            return;
        }
        tracing::warn!(
            meeting = meeting.0,
            "bot did not leave within the grace period; terminating"
        );
        terminate(&bot).await;
    }

    async fn shutdown(&self) {
        let all: Vec<Proc> = self.registry().values().cloned().collect();
        for bot in &all {
            kill_group(bot.pgid, libc::SIGTERM);
        }
        for bot in &all {
            if !wait_exit(bot.exited.clone(), TERM_WAIT).await {
                kill_group(bot.pgid, libc::SIGKILL);
                wait_exit(bot.exited.clone(), KILL_WAIT).await;
            }
        }
    }
}
