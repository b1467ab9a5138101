//! The two-command bring-up as a user sees it: `vexa start` (what `make all` runs) brings the
//! stack up in the background, `vexa provision-token` prints a working key, a second start starts
//! nothing new, `vexa stop` brings it down.

use std::time::Duration;

use vexa_testkit::stack::{auth_me_status, StackEnv};
use vexa_testkit::ADMIN_TOKEN;

use crate::support::VEXA;

#[tokio::test]
async fn start_prints_a_working_key_and_a_second_start_starts_nothing() {
    let dir = tempfile::tempdir().expect("tmp");
    let env = StackEnv::new(
        VEXA,
        dir.path(),
        &format!("sqlite://{}", dir.path().join("vexa.db").display()),
    );

    let first = env.run(&["start"]);
    assert!(
        first.status.success(),
        "start failed: {}",
        String::from_utf8_lossy(&first.stderr)
    );
    let pid = std::fs::read_to_string(dir.path().join("vexa.pid")).expect("pid file");

    let out = env.run(&["provision-token"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8(out.stdout).expect("utf8");
    let key = stdout.trim();
    assert_eq!(
        stdout.lines().count(),
        1,
        "only the key on stdout: {stdout:?}"
    );
    assert!(key.starts_with("vxa_bot_"), "{key}");
    assert_eq!(auth_me_status(&env.gateway(), key).await, 200);

    let me: serde_json::Value = reqwest::Client::new()
        .get(format!("{}/auth/me", env.gateway()))
        .header("X-API-Key", key)
        .send()
        .await
        .expect("me")
        .json()
        .await
        .expect("json");
    assert_eq!(me["email"], "self-host@vexa.local");
    assert_eq!(me["scopes"], serde_json::json!(["bot", "tx"]));

    let second = env.run(&["start"]);
    assert!(second.status.success());
    assert!(String::from_utf8_lossy(&second.stdout).contains("already running"));
    assert_eq!(
        std::fs::read_to_string(dir.path().join("vexa.pid")).expect("pid"),
        pid
    );
    let banner = env.run(&["provision-token", "--banner"]);
    let banner = String::from_utf8_lossy(&banner.stdout).to_string();
    assert!(banner.contains("API key : vxa_"), "{banner}");
    assert!(banner.contains(&env.gateway()) && banner.contains(&env.admin()));

    let mut wrong = env.clone();
    wrong.set("ADMIN_TOKEN", "not-the-admin-token-at-all");
    let denied = wrong.run(&["provision-token"]);
    assert!(!denied.status.success());
    assert!(denied.stdout.is_empty());
    let reason = String::from_utf8_lossy(&denied.stderr).to_string();
    assert_eq!(
        reason.trim().lines().count(),
        1,
        "one-line reason: {reason}"
    );
    assert!(reason.contains("admin token"), "{reason}");

    let stop = env.run(&["stop"]);
    assert!(stop.status.success());
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(
        auth_me_status(&env.gateway(), key).await,
        0,
        "gateway is down"
    );
    let down = env.run(&["provision-token"]);
    assert!(!down.status.success());
    assert!(String::from_utf8_lossy(&down.stderr).contains("not reachable"));

    let log = std::fs::read_to_string(dir.path().join("vexa.log")).expect("log");
    assert!(!log.contains(key), "the key must never be logged");
    assert!(
        !log.contains(ADMIN_TOKEN),
        "the admin token must never be logged"
    );
}

#[tokio::test]
async fn refuses_to_start_off_loopback_with_the_default_admin_token() {
    let dir = tempfile::tempdir().expect("tmp");
    let mut env = StackEnv::new(
        VEXA,
        dir.path(),
        &format!("sqlite://{}", dir.path().join("vexa.db").display()),
    );
    env.set("BIND_HOST", "0.0.0.0")
        .set("ADMIN_TOKEN", "dev-admin-token");
    let out = env.run(&["up"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("ADMIN_TOKEN") && err.contains("refusing to start"),
        "{err}"
    );
}
