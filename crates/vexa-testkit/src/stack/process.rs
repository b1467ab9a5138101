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

/// `vexa up`, once its three services answer `/health`.
pub async fn start_up(env: &StackEnv) -> UpProcess {
    let child = env.spawn("up", "up");
    let up = UpProcess { child };
    for base in [env.gateway(), env.admin(), env.meetings()] {
        wait_ok(&format!("{base}/health"), Duration::from_secs(30)).await;
    }
    up
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
