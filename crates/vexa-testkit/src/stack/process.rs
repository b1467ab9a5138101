//! Server processes of a stack: started, waited for until healthy, stopped.

use std::process::Child;
use std::time::{Duration, Instant};

use super::StackEnv;

/// A running `vexa` server process, SIGKILLed and reaped when dropped.
pub struct UpProcess {
    pub child: Child,
}

impl Drop for UpProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
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

/// How long `vexa up` may take to answer `/health` on all three services. Generous: on a
/// 2-core CI machine the whole suite runs beside it (the 100k-key import among it).
const UP_WITHIN: Duration = Duration::from_secs(60);

/// `vexa up`, once its three services answer `/health`. When the process exits first or the
/// services stay unhealthy, the panic carries the tail of its log, so a failure says why.
pub async fn start_up(env: &StackEnv) -> UpProcess {
    let child = env.spawn("up", "up");
    let mut up = UpProcess { child };
    let client = reqwest::Client::new();
    let deadline = Instant::now() + UP_WITHIN;
    for base in [env.gateway(), env.admin(), env.meetings()] {
        let url = format!("{base}/health");
        loop {
            if let Ok(r) = client
                .get(&url)
                .timeout(Duration::from_secs(1))
                .send()
                .await
            {
                if r.status().is_success() {
                    break;
                }
            }
            if let Ok(Some(status)) = up.child.try_wait() {
                panic!(
                    "vexa up exited with {status} before {url} was healthy\n{}",
                    log_tail(env, "up")
                );
            }
            assert!(
                Instant::now() < deadline,
                "{url} did not become healthy within {UP_WITHIN:?}\n{}",
                log_tail(env, "up")
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    up
}

/// The last lines of `<data_dir>/<log_name>.log`, for a failure message.
fn log_tail(env: &StackEnv, log_name: &str) -> String {
    let path = env.data_dir.join(format!("{log_name}.log"));
    match std::fs::read_to_string(&path) {
        Ok(text) => {
            let lines: Vec<&str> = text.lines().collect();
            let from = lines.len().saturating_sub(40);
            format!(
                "--- last lines of {} ---\n{}",
                path.display(),
                lines[from..].join("\n")
            )
        }
        Err(e) => format!("(no log at {}: {e})", path.display()),
    }
}

/// SIGTERM to a server process; it must exit with success within 40 s.
pub async fn sigterm(p: &mut UpProcess, what: &str, diagnostics: &str) {
    let pid = p.child.id().to_string();
    let sent = std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .expect("kill -TERM");
    assert!(sent.success());
    let deadline = Instant::now() + Duration::from_secs(40);
    let status = loop {
        if let Some(s) = p.child.try_wait().expect("wait for the server") {
            break s;
        }
        assert!(
            Instant::now() < deadline,
            "vexa {what} did not exit after SIGTERM\n{diagnostics}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(
        status.success(),
        "vexa {what} exited with {status} after SIGTERM\n{diagnostics}"
    );
}
