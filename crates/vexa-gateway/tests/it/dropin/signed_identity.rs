//! `X-Vexa-Identity` as a newer Vexa service sees it: the token the gateway forwarded is checked
//! by an independent implementation (`tests/python/verify_identity.py`, Python `cryptography`,
//! in a throwaway virtualenv `target/py-venv-identity`, set up like the client suite's) with the
//! public key only; the same verifier refuses the token tampered with, and an expired one.
//!
//! Needs `python3` with `venv` (and PyPI when `cryptography` is not installed system-wide); the
//! test fails, never skips, without them.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Mutex;

use vexa_core::Scope;
use vexa_gateway::{IdentitySigner, MeetingsApiKind};

use super::{dropin, signing_key_files, Originals};
use crate::support::{key, on_both_backends, send, Backend, TestStore};

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn venv_dir() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .map(|t| {
            if t.is_absolute() {
                t
            } else {
                workspace_root().join(t)
            }
        })
        .unwrap_or_else(|| workspace_root().join("target"));
    target.join("py-venv-identity")
}

static VENV: Mutex<()> = Mutex::new(());

/// A python that imports `cryptography`: the venv sees system packages, and installs it from
/// PyPI only when the system has none.
fn python_with_cryptography() -> PathBuf {
    let _guard = VENV.lock().unwrap_or_else(|p| p.into_inner());
    let venv = venv_dir();
    let python = venv.join("bin").join("python");
    let has = || {
        Command::new(&python)
            .args([
                "-c",
                "import cryptography.hazmat.primitives.asymmetric.ed25519",
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    };
    if has() {
        return python;
    }
    let host = std::env::var("PYTHON").unwrap_or_else(|_| "python3".to_owned());
    let ok = Command::new(&host)
        .args(["-m", "venv", "--clear", "--system-site-packages"])
        .arg(&venv)
        .status()
        .is_ok_and(|s| s.success());
    assert!(ok, "could not create {}", venv.display());
    if !has() {
        let out = Command::new(&python)
            .args([
                "-m",
                "pip",
                "install",
                "--disable-pip-version-check",
                "--no-input",
            ])
            .args(["--quiet", "cryptography"])
            .stdin(Stdio::null())
            .output()
            .expect("run pip");
        assert!(
            out.status.success(),
            "pip install cryptography: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    assert!(
        has(),
        "cryptography is not importable in {}",
        venv.display()
    );
    python
}

/// The verifier's verdict on each token, in order.
fn verdicts(public_pem: &Path, tokens: &[String]) -> Vec<String> {
    let script = workspace_root().join("tests/python/verify_identity.py");
    let mut child = Command::new(python_with_cryptography())
        .arg(&script)
        .arg(public_pem)
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run the verifier");
    {
        let mut stdin = child.stdin.take().expect("stdin");
        for t in tokens {
            writeln!(stdin, "{t}").expect("write a token");
        }
    }
    let out = child.wait_with_output().expect("verifier output");
    assert!(
        out.status.success(),
        "verifier failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_owned)
        .collect()
}

/// Flips one character of the claims part (still valid base64url).
fn tampered(token: &str) -> String {
    let mut parts: Vec<String> = token.split('.').map(str::to_owned).collect();
    let claims = &mut parts[1];
    let i = claims.len() / 2;
    let c = claims.as_bytes()[i];
    let flipped = if c == b'A' { 'B' } else { 'A' };
    claims.replace_range(i..=i, &flipped.to_string());
    parts.join(".")
}

async fn the_forwarded_identity_verifies_in_an_independent_implementation(backend: Backend) {
    let o = Originals::start().await;
    let store = TestStore::new(backend).await;
    let keys = signing_key_files();
    let gw = dropin(&o, MeetingsApiKind::Vexa, Some(&keys), store.clone()).await;
    let k = key(&store, &[Scope::Bot, Scope::Tx]).await;
    let r = send(
        &gw.base,
        http::Method::POST,
        "/bots",
        &[
            ("x-api-key", k.as_str()),
            ("x-vexa-identity", "v1.forged.sig"),
        ],
        "{}",
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text());
    let got = o.meetings.take();
    let token = got[0].headers["x-vexa-identity"]
        .to_str()
        .expect("ascii")
        .to_owned();
    let user_id = got[0].headers["x-user-id"]
        .to_str()
        .expect("ascii")
        .to_owned();

    // An expired token, signed with the very same key (so only its times are wrong).
    let signer = IdentitySigner::from_pem_file(&keys.private, false).expect("signer");
    let long_ago = 1_700_000_000;
    let expired = signer.token(&format!(
        r#"{{"exp":{},"iat":{long_ago},"limits":3,"scopes":["bot"],"sub":"{user_id}","typ":"vexa-identity"}}"#,
        long_ago + 60
    ));
    let v = verdicts(
        &keys.public,
        &[
            token.clone(),
            tampered(&token),
            expired,
            "v1.forged.sig".into(),
        ],
    );
    assert_eq!(v.len(), 4, "{v:?}");
    assert!(v[0].starts_with("ok "), "the gateway's token: {}", v[0]);
    let claims: serde_json::Value = serde_json::from_str(&v[0][3..]).expect("claims");
    assert_eq!(claims["sub"], user_id);
    assert_eq!(claims["scopes"], serde_json::json!(["bot", "tx"]));
    assert_eq!(claims["limits"], 3);
    let lifetime = claims["exp"].as_i64().expect("exp") - claims["iat"].as_i64().expect("iat");
    assert_eq!(lifetime, 60);
    assert_eq!(v[1], "refused signature", "tampered");
    assert_eq!(v[2], "refused expired", "expired");
    assert!(v[3].starts_with("refused"), "forged: {}", v[3]);
    gw.shutdown().await;
}

/// A gateway configured with the RFC 8032 TEST 1 key (the one the reference vector uses) does
/// not start, unless the test-only flag allows it.
async fn the_published_test_key_is_refused_at_start(backend: Backend) {
    use ed25519_dalek::pkcs8::EncodePrivateKey;
    let seed: [u8; 32] =
        hex_seed("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60");
    let pem = ed25519_dalek::SigningKey::from_bytes(&seed)
        .to_pkcs8_pem(Default::default())
        .expect("pem");
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("rfc8032-test1.pem");
    std::fs::write(&file, pem.as_bytes()).expect("write");
    let o = Originals::start().await;
    let store = TestStore::new(backend).await;
    let mut cfg = super::dropin_config(&o, MeetingsApiKind::Vexa, None);
    cfg.identity_signing_key_file = Some(file);
    let clock: std::sync::Arc<dyn vexa_core::Clock> = std::sync::Arc::new(vexa_core::SystemClock);
    let refused = vexa_gateway::Gateway::new(
        cfg.clone(),
        store.clone(),
        clock.clone(),
        vexa_testkit::metrics(),
    )
    .await
    .expect_err("the published key is refused");
    assert!(refused.to_string().contains("RFC 8032"), "{refused}");
    cfg.allow_test_signing_key = true;
    assert!(
        vexa_gateway::Gateway::new(cfg, store, clock, vexa_testkit::metrics())
            .await
            .is_ok(),
        "the test flag lets it start"
    );
}

fn hex_seed(hex: &str) -> [u8; 32] {
    let mut out = [0u8; 32];
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).expect("hex");
    }
    out
}

on_both_backends!(
    the_forwarded_identity_verifies_in_an_independent_implementation,
    the_published_test_key_is_refused_at_start,
);
