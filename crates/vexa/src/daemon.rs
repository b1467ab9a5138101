//! The background stack behind `make all` / `make down`: `vexa up` as a detached process group
//! with its pid and log under `DATA_DIR`. Starting twice starts nothing new.

use std::fs::OpenOptions;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::Context;

use crate::config::Settings;

const STOP_WAIT: Duration = Duration::from_secs(25);

fn pid_file(settings: &Settings) -> PathBuf {
    settings.stack.data_dir.join("vexa.pid")
}

fn log_file(settings: &Settings) -> PathBuf {
    settings.stack.data_dir.join("vexa.log")
}

/// The recorded pid, if that process is still alive and is a vexa process.
fn running_pid(settings: &Settings) -> Option<u32> {
    let pid: u32 = std::fs::read_to_string(pid_file(settings))
        .ok()?
        .trim()
        .parse()
        .ok()?;
    let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
    let is_vexa = cmdline
        .split(|b| *b == 0)
        .next()
        .is_some_and(|exe| exe.ends_with(b"vexa"));
    is_vexa.then_some(pid)
}

pub async fn start(settings: &Settings) -> anyhow::Result<()> {
    settings.check_admin_token_safety()?;
    if let Some(pid) = running_pid(settings) {
        wait_healthy(settings, Some(pid)).await?;
        println!("vexa is already running (pid {pid})");
        return Ok(());
    }
    let data_dir = &settings.stack.data_dir;
    std::fs::create_dir_all(data_dir)
        .with_context(|| format!("creating {}", data_dir.display()))?;
    let log = OpenOptions::new()
        .create(true)
        .append(true)
        .open(log_file(settings))
        .with_context(|| format!("opening {}", log_file(settings).display()))?;
    let exe = std::env::current_exe().context("locating the vexa binary")?;
    let mut cmd = Command::new(exe);
    cmd.arg("up")
        .stdin(Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log);
    #[cfg(unix)]
    {
        use std::os::unix::process::CommandExt;
        // Its own process group: the terminal's Ctrl-C does not reach the background stack.
        cmd.process_group(0);
    }
    let child = cmd
        .spawn()
        .context("starting `vexa up` in the background")?;
    let pid = child.id();
    std::fs::write(pid_file(settings), format!("{pid}\n"))?;
    wait_healthy(settings, Some(pid)).await?;
    println!(
        "vexa started (pid {pid}); log: {}",
        log_file(settings).display()
    );
    Ok(())
}

pub async fn stop(settings: &Settings) -> anyhow::Result<()> {
    let Some(pid) = running_pid(settings) else {
        let _ = std::fs::remove_file(pid_file(settings));
        println!("vexa is not running");
        return Ok(());
    };
    signal(pid, Signal::Term);
    let deadline = Instant::now() + STOP_WAIT;
    while Instant::now() < deadline && alive(pid) {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    if alive(pid) {
        eprintln!(
            "vexa (pid {pid}) did not stop in {} s; killing it",
            STOP_WAIT.as_secs()
        );
        signal(pid, Signal::Kill);
    }
    let _ = std::fs::remove_file(pid_file(settings));
    println!("vexa stopped");
    Ok(())
}

pub async fn status(settings: &Settings) -> anyhow::Result<()> {
    match running_pid(settings) {
        Some(pid) => {
            let unhealthy = unhealthy_roles(settings).await;
            if unhealthy.is_empty() {
                println!("vexa is running (pid {pid}) and healthy");
                Ok(())
            } else {
                anyhow::bail!(
                    "vexa is running (pid {pid}) but not healthy: {}",
                    unhealthy.join(", ")
                )
            }
        }
        None => anyhow::bail!("vexa is not running"),
    }
}

fn alive(pid: u32) -> bool {
    std::path::Path::new(&format!("/proc/{pid}")).exists() && !is_zombie(pid)
}

fn is_zombie(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| s.rsplit_once(") ").map(|(_, rest)| rest.starts_with('Z')))
        .unwrap_or(false)
}

enum Signal {
    Term,
    Kill,
}

#[allow(unsafe_code)]
fn signal(pid: u32, sig: Signal) {
    let Ok(pid) = libc::pid_t::try_from(pid) else {
        return;
    };
    let sig = match sig {
        Signal::Term => libc::SIGTERM,
        Signal::Kill => libc::SIGKILL,
    };
    // SAFETY: kill(2) takes plain integers and has no memory-safety preconditions.
    unsafe {
        libc::kill(pid, sig);
    }
}

async fn wait_healthy(settings: &Settings, pid: Option<u32>) -> anyhow::Result<()> {
    let wait = settings.stack.health_wait;
    // A wait too long to represent is no deadline at all.
    let deadline = Instant::now().checked_add(wait);
    loop {
        let unhealthy = unhealthy_roles(settings).await;
        if unhealthy.is_empty() {
            return Ok(());
        }
        if let Some(pid) = pid {
            if !alive(pid) {
                anyhow::bail!(
                    "vexa exited during start-up; last log lines:\n{}",
                    log_tail(settings, 20)
                );
            }
        }
        if deadline.is_some_and(|d| Instant::now() > d) {
            anyhow::bail!(
                "vexa did not become healthy within {} s ({} not answering); see {}",
                wait.as_secs_f64(),
                unhealthy.join(", "),
                log_file(settings).display()
            );
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Roles whose `/health` does not answer 200.
async fn unhealthy_roles(settings: &Settings) -> Vec<&'static str> {
    let client = match reqwest::Client::builder()
        .timeout(Duration::from_secs(2))
        .build()
    {
        Ok(c) => c,
        Err(_) => return vec!["gateway", "admin API", "meetings service"],
    };
    let checks = [
        ("gateway", settings.listen.gateway_url()),
        ("admin API", settings.listen.admin_url()),
        ("meetings service", settings.listen.meetings_url()),
    ];
    let mut down = Vec::new();
    for (name, base) in checks {
        let ok = client
            .get(format!("{base}/health"))
            .send()
            .await
            .map(|r| r.status().is_success())
            .unwrap_or(false);
        if !ok {
            down.push(name);
        }
    }
    down
}

fn log_tail(settings: &Settings, lines: usize) -> String {
    let text = std::fs::read_to_string(log_file(settings)).unwrap_or_default();
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}
