//! Secrets at rest and in logs: a full run of the real binary (SQLite, debug logging) mints keys
//! several ways, uses them every way a client can (header, WebSocket query parameter, wrong
//! scope, undeclared route, typo'd key), revokes some, provisions one through the CLI, then is
//! stopped. Every file under the data directory — the SQLite file, its `-wal` and `-shm`, every
//! log — is searched byte for byte for every minted key, for the secret part of every key alone,
//! and for the admin token. None may be found.

use std::path::{Path, PathBuf};
use std::time::Duration;

use vexa_testkit::stack::{database_url, mint, start_up, StackEnv};
use vexa_testkit::{Backend, ADMIN_TOKEN, INTERNAL_SECRET};

use crate::support::VEXA;
use futures_util::StreamExt;

fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty() && haystack.windows(needle.len()).any(|w| w == needle)
}

async fn run_and_collect_secrets(env: &StackEnv) -> Vec<String> {
    let mut up = start_up(env).await;
    let client = reqwest::Client::new();
    let gw = env.gateway();
    let mut keys = Vec::new();
    let mut ids = Vec::new();
    for (i, scopes) in ["bot", "tx", "bot,tx", "browser", "bot,tx,browser", "tx"]
        .iter()
        .enumerate()
    {
        let (_, id, key) = mint(env, &format!("secret{}@acme.com", i % 3), scopes).await;
        keys.push(key);
        ids.push(id);
    }
    // A mint with a JSON body, a name and an expiry.
    let user: serde_json::Value = client
        .post(format!("{}/admin/users", env.admin()))
        .header("X-Admin-API-Key", ADMIN_TOKEN)
        .json(&serde_json::json!({"email": "body-mint@acme.com", "name": "Body Mint"}))
        .send()
        .await
        .expect("user")
        .json()
        .await
        .expect("json");
    let v: serde_json::Value = client
        .post(format!("{}/admin/users/{}/tokens", env.admin(), user["id"]))
        .header("X-Admin-API-Key", ADMIN_TOKEN)
        .json(&serde_json::json!({"scopes": ["bot", "tx"], "name": "ci", "expires_in": 3600}))
        .send()
        .await
        .expect("mint")
        .json()
        .await
        .expect("json");
    keys.push(v["token"].as_str().expect("token").to_owned());
    ids.push(v["id"].as_i64().expect("id"));

    // The CLI's provisioning path (talks to the admin API, prints the key on stdout only).
    let out = env.run(&["provision-token"]);
    assert!(
        out.status.success(),
        "provision-token: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let provisioned = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    assert!(provisioned.starts_with("vxa_"), "{provisioned}");
    keys.push(provisioned);

    for k in &keys {
        for path in [
            "/auth/me",
            "/meetings",
            "/bots/status",
            "/transcripts/by-id/1",
            "/nope",
            "/browser/x",
        ] {
            let r = client
                .get(format!("{gw}{path}"))
                .header("X-API-Key", k)
                .send()
                .await
                .expect("gateway");
            // `/browser/*` is 503 while BROWSER_API_URL is unset.
            let s = r.status().as_u16();
            assert!(s < 500 || (path == "/browser/x" && s == 503), "{path}: {s}");
        }
        // A typo'd key (one character changed) and the key in a query string.
        let mut typo = k.clone().into_bytes();
        let last = typo.len() - 1;
        typo[last] = if typo[last] == b'a' { b'b' } else { b'a' };
        let typo = String::from_utf8(typo).expect("ascii");
        let r = client
            .get(format!("{gw}/auth/me"))
            .header("X-API-Key", &typo)
            .send()
            .await
            .expect("gateway");
        assert_eq!(r.status().as_u16(), 401);
        let _ = client
            .get(format!("{gw}/meetings?api_key={k}"))
            .send()
            .await
            .expect("gateway");
        // The WebSocket relay with the key in the query, as browsers must send it.
        if let Ok((mut ws, _)) =
            tokio_tungstenite::connect_async(format!("{}/ws?api_key={k}", gw.replace("http", "ws")))
                .await
        {
            let _ = tokio::time::timeout(Duration::from_millis(300), ws.next()).await;
        }
    }
    // Wrong admin tokens and the right one through every admin verb.
    for t in ["wrong", ADMIN_TOKEN] {
        let _ = client
            .get(format!("{}/admin/users", env.admin()))
            .header("X-Admin-API-Key", t)
            .send()
            .await;
    }
    for id in ids.iter().step_by(2) {
        let r = client
            .delete(format!("{}/admin/tokens/{id}", env.admin()))
            .header("X-Admin-API-Key", ADMIN_TOKEN)
            .send()
            .await
            .expect("revoke");
        assert_eq!(r.status().as_u16(), 204);
    }
    for k in &keys {
        let _ = client
            .get(format!("{gw}/auth/me"))
            .header("X-API-Key", k)
            .send()
            .await;
    }
    // Stop without a checkpoint so the WAL still holds the latest pages.
    up.child.kill().expect("SIGKILL");
    let _ = up.child.wait();
    keys
}

#[tokio::test]
async fn no_key_and_no_admin_token_at_rest_or_in_logs_sqlite() {
    let dir = tempfile::tempdir().expect("tmp");
    let mut env = StackEnv::new(
        VEXA,
        dir.path(),
        &database_url(Backend::Sqlite, dir.path()).await,
    );
    // As chatty as the logs get.
    env.set("RUST_LOG", "debug");
    let keys = run_and_collect_secrets(&env).await;
    // A second start replays what is stored (and writes its own logs), then a clean stop.
    let mut up = start_up(&env).await;
    up.child.kill().expect("SIGKILL");
    let _ = up.child.wait();

    let files = files_under(dir.path());
    let names: Vec<String> = files
        .iter()
        .filter_map(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
        .collect();
    assert!(names.iter().any(|n| n == "vexa.db"), "{names:?}");
    assert!(
        names.iter().any(|n| n == "vexa.db-wal"),
        "the WAL is part of the search: {names:?}"
    );
    assert!(names.iter().any(|n| n.ends_with(".log")), "{names:?}");
    let mut scanned = 0usize;
    let mut log_bytes = 0usize;
    for f in &files {
        let bytes = std::fs::read(f).expect("read");
        scanned += bytes.len();
        if f.extension().is_some_and(|e| e == "log") {
            log_bytes += bytes.len();
        }
        for k in &keys {
            assert!(
                !contains(&bytes, k.as_bytes()),
                "{} holds a minted key",
                f.display()
            );
            // The secret part alone (after `vxa_<scope>_`), in case a key is stored split.
            let secret = &k[k.rfind('_').expect("shape") + 1..];
            assert!(
                !contains(&bytes, secret.as_bytes()),
                "{} holds a key's secret part",
                f.display()
            );
        }
        assert!(
            !contains(&bytes, ADMIN_TOKEN.as_bytes()),
            "{} holds the admin token",
            f.display()
        );
        assert!(
            !contains(&bytes, INTERNAL_SECRET.as_bytes()),
            "{} holds the internal secret",
            f.display()
        );
    }
    assert!(
        log_bytes > 10_000,
        "the logs are too small to prove anything ({log_bytes} bytes)"
    );
    eprintln!(
        "secrets at rest: {} keys + admin token + internal secret searched in {} files ({} bytes, {} of logs): none found",
        keys.len(),
        files.len(),
        scanned,
        log_bytes
    );
}
