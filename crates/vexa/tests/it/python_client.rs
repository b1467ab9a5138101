//! Wire compatibility with the official Python client (CONTRACT §7): `vexa-client==0.5.4` is
//! installed, unchanged, into a throwaway virtualenv (`target/py-venv`, reused when it already
//! holds that version) and `tests/python/drive_client.py` drives every call it relies on against
//! a real stack (`vexa up`, mock bot) — once with two client objects (admin URL + gateway URL)
//! and once with one object on the gateway with `GATEWAY_ADMIN_PROXY=true`.
//!
//! Needs `python3` with `venv` and pip access to PyPI; the test fails (never skips) without them.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::Mutex;

use vexa_testkit::raw_http::refuse_then_reuse;
use vexa_testkit::stack::{bot_logs, database_url, mint, start_up, StackEnv};
use vexa_testkit::{Backend, ADMIN_TOKEN};

use crate::support::VEXA;

const CLIENT: &str = "vexa-client==0.5.4";
const CLIENT_VERSION: &str = "0.5.4";

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn venv_dir() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join("target"));
    let target = if target.is_absolute() {
        target
    } else {
        workspace_root().join(target)
    };
    target.join("py-venv")
}

fn show(out: &Output) -> String {
    format!(
        "exit {:?}\n--- stdout\n{}\n--- stderr\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn run(cmd: &mut Command, what: &str) -> Output {
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("{what}: could not run {cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{what} failed: {cmd:?}\n{}",
        show(&out)
    );
    out
}

/// Serialises the venv setup between the tests of this file (they run in parallel threads).
static VENV: Mutex<()> = Mutex::new(());

/// The venv's python with `vexa-client` 0.5.4 installed; panics with pip's output on failure.
fn python_with_client() -> PathBuf {
    let _guard = VENV.lock().unwrap_or_else(|p| p.into_inner());
    let venv = venv_dir();
    let python = venv.join("bin").join("python");
    let has_client = || {
        Command::new(&python)
            .args(["-c", &format!("import vexa_client, sys; sys.exit(vexa_client.__version__ != '{CLIENT_VERSION}')")])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    };
    if has_client() {
        return python;
    }
    let host_python = std::env::var("PYTHON").unwrap_or_else(|_| "python3".to_owned());
    run(
        Command::new(&host_python)
            .args(["-m", "venv", "--clear"])
            .arg(&venv),
        "creating the test virtualenv",
    );
    run(
        Command::new(&python).args([
            "-m",
            "pip",
            "install",
            "--disable-pip-version-check",
            "--no-input",
            "--quiet",
            CLIENT,
        ]),
        &format!("pip install {CLIENT}"),
    );
    assert!(
        has_client(),
        "{CLIENT} is not importable after pip install in {}",
        venv.display()
    );
    python
}

/// Runs the driver against `env`'s stack in `mode`; panics with its output unless it passes.
fn drive(python: &Path, env: &StackEnv, mode: &str) -> String {
    let script = workspace_root().join("tests/python/drive_client.py");
    let mut cmd = Command::new(python);
    cmd.arg(&script)
        .args(["--mode", mode, "--gateway", &env.gateway()]);
    if mode == "two" {
        cmd.args(["--admin", &env.admin()]);
    }
    cmd.env("VEXA_ADMIN_TOKEN", ADMIN_TOKEN)
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .env("NO_PROXY", "127.0.0.1,localhost")
        .env_remove("HTTP_PROXY")
        .env_remove("http_proxy");
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("could not run {}: {e}", script.display()));
    let log = std::fs::read_to_string(env.data_dir.join("up.log")).unwrap_or_default();
    assert!(
        out.status.success(),
        "the Python client failed against the stack ({mode})\n{}\n--- server log (tail)\n{}",
        show(&out),
        log.lines()
            .rev()
            .take(40)
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect::<Vec<_>>()
            .join("\n")
    );
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        stdout.contains(&format!("all vexa-client calls passed ({mode})")),
        "{stdout}"
    );
    stdout
}

fn assert_side_effects(env: &StackEnv) {
    let bots = bot_logs(env);
    assert!(
        bots.contains("[ACT] reconfigure language=fr task=\"translate\""),
        "the live bot did not acknowledge the config update:\n{bots}"
    );
    let log = std::fs::read_to_string(env.data_dir.join("up.log")).expect("server log");
    assert!(
        !log.contains(ADMIN_TOKEN),
        "the admin token must never be logged"
    );
    assert!(
        !log.contains("vxa_bot_") && !log.contains("vxa_tx_"),
        "no API key may be logged"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_python_client_works_with_an_admin_object_and_a_gateway_object() {
    let python = tokio::task::spawn_blocking(python_with_client)
        .await
        .expect("venv setup");
    let dir = tempfile::tempdir().expect("tmp");
    let env = StackEnv::new(
        VEXA,
        dir.path(),
        &database_url(Backend::Sqlite, dir.path()).await,
    );
    let _up = start_up(&env).await;
    let stdout = tokio::task::spawn_blocking({
        let env = env.clone();
        move || drive(&python, &env, "two")
    })
    .await
    .expect("driver");
    assert!(
        stdout.contains("gateway without GATEWAY_ADMIN_PROXY answers 404"),
        "{stdout}"
    );
    assert_side_effects(&env);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_python_client_works_with_one_object_on_the_gateway_with_the_admin_proxy() {
    let python = tokio::task::spawn_blocking(python_with_client)
        .await
        .expect("venv setup");
    let dir = tempfile::tempdir().expect("tmp");
    let mut env = StackEnv::new(
        VEXA,
        dir.path(),
        &database_url(Backend::Postgres, dir.path()).await,
    );
    env.set("GATEWAY_ADMIN_PROXY", "true");
    let _up = start_up(&env).await;
    tokio::task::spawn_blocking({
        let env = env.clone();
        move || drive(&python, &env, "proxy")
    })
    .await
    .expect("driver");
    assert_side_effects(&env);
}

/// The failure mode behind "RemoteDisconnected" in the client: a refused request whose body was
/// not read yet must not leave a keep-alive connection that the server then silently drops.
#[tokio::test]
async fn refused_requests_with_a_late_body_leave_the_connection_usable() {
    let dir = tempfile::tempdir().expect("tmp");
    let mut env = StackEnv::new(
        VEXA,
        dir.path(),
        &database_url(Backend::Sqlite, dir.path()).await,
    );
    env.set("GATEWAY_ADMIN_PROXY", "true");
    let _up = start_up(&env).await;
    let (_, _, bot_key) = mint(&env, "late-body@acme.example", "bot").await;
    let body = r#"{"data":{"name":"x"}}"#;
    let len = body.len();
    let gateway = format!("127.0.0.1:{}", env.port("API_GATEWAY_HOST_PORT"));
    let admin = format!("127.0.0.1:{}", env.port("ADMIN_API_PORT"));
    let cases = [
        (&gateway, format!("PATCH /meetings/google_meet/abc-defg-hij HTTP/1.1\r\nHost: x\r\nX-API-Key: {bot_key}\r\nContent-Type: application/json\r\nContent-Length: {len}\r\n\r\n"), "403"),
        (&gateway, format!("PATCH /meetings/google_meet/abc-defg-hij HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {len}\r\n\r\n"), "401"),
        (&gateway, format!("POST /nowhere HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {len}\r\n\r\n"), "404"),
        (&gateway, format!("POST /admin/users HTTP/1.1\r\nHost: x\r\nX-Admin-API-Key: wrong\r\nContent-Type: application/json\r\nContent-Length: {len}\r\n\r\n"), "403"),
        (&admin, format!("POST /admin/users HTTP/1.1\r\nHost: x\r\nX-Admin-API-Key: wrong\r\nContent-Type: application/json\r\nContent-Length: {len}\r\n\r\n"), "403"),
    ];
    let mut broken = Vec::new();
    for (addr, head, want) in cases {
        let (status, reused) = refuse_then_reuse(addr.as_str(), &head, body).await;
        assert!(
            status.contains(want),
            "{}: {status}",
            head.lines().next().unwrap_or_default()
        );
        if !reused {
            broken.push(format!(
                "{addr} {} -> {want}",
                head.lines().next().unwrap_or_default()
            ));
        }
    }
    assert!(
        broken.is_empty(),
        "connection dropped after a refusal whose body came late: {broken:#?}"
    );
}
