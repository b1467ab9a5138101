//! The audit log's hash chain end to end, on both backends, with the real binary: two admin API
//! processes on one database minting and revoking in parallel still append ONE chain that
//! `vexa audit verify` accepts with the exact count; editing an entry in the database or
//! deleting one from the middle makes `vexa audit verify` fail naming that entry; the offline
//! CLI's changes are recorded as `cli`.

use std::process::Output;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Mutex;
use vexa_core::AuditedStore;
use vexa_store::identity::SqlIdentityStore;
use vexa_store::testing::tamper;
use vexa_store::{ConnectOptions, Db};
use vexa_testkit::stack::{database_url, free_port, mint, wait_ok, StackEnv, UpProcess};
use vexa_testkit::{on_both_backends, Backend, ADMIN_TOKEN};

use crate::support::VEXA;

const WORKERS: usize = 16;
const OPS_PER_WORKER: usize = 20;

fn verify(env: &StackEnv) -> Output {
    env.run(&["audit", "verify"])
}

fn ok_count(out: &Output) -> Option<i64> {
    let stdout = String::from_utf8_lossy(&out.stdout);
    let n = stdout.trim().strip_prefix("audit chain ok: ")?;
    n.strip_suffix(" entries")?.parse().ok()
}

async fn admin_api(env: &StackEnv, name: &str) -> UpProcess {
    let p = UpProcess {
        child: env.spawn("admin-api", name),
    };
    wait_ok(&format!("{}/health", env.admin()), Duration::from_secs(60)).await;
    p
}

async fn two_admin_apis_on_one_database_append_one_valid_chain(backend: Backend) {
    let dir = tempfile::tempdir().expect("tmp");
    let url = database_url(backend, dir.path()).await;
    let one = StackEnv::new(VEXA, dir.path(), &url);
    let mut two = one.clone();
    two.set("ADMIN_API_PORT", &free_port().to_string());
    let _a = admin_api(&one, "admin-1").await;
    let _b = admin_api(&two, "admin-2").await;
    let (user, _, _) = mint(&one, "chain@acme.com", "bot").await;

    let client = reqwest::Client::new();
    let minted = Arc::new(Mutex::new(Vec::<i64>::new()));
    let mut tasks = Vec::new();
    for w in 0..WORKERS {
        let base = if w % 2 == 0 { one.admin() } else { two.admin() };
        let (client, minted) = (client.clone(), minted.clone());
        tasks.push(tokio::spawn(async move {
            let mut acknowledged = 0;
            for i in 0..OPS_PER_WORKER {
                let victim = if i % 3 == 2 {
                    minted.lock().await.pop()
                } else {
                    None
                };
                if let Some(id) = victim {
                    let r = client
                        .delete(format!("{base}/admin/tokens/{id}"))
                        .header("X-Admin-API-Key", ADMIN_TOKEN)
                        .send()
                        .await
                        .expect("revoke");
                    assert_eq!(r.status().as_u16(), 204);
                } else {
                    let r = client
                        .post(format!("{base}/admin/users/{user}/tokens"))
                        .header("X-Admin-API-Key", ADMIN_TOKEN)
                        .send()
                        .await
                        .expect("mint");
                    assert_eq!(r.status().as_u16(), 201);
                    let v: serde_json::Value = r.json().await.expect("mint json");
                    minted.lock().await.push(v["id"].as_i64().expect("id"));
                }
                acknowledged += 1;
            }
            acknowledged
        }));
    }
    let mut mutations = 0;
    for t in tasks {
        mutations += t.await.expect("worker");
    }
    // The user, its first key, and every acknowledged mint and revocation.
    let expected = 2 + mutations;
    let out = verify(&one);
    assert!(
        out.status.success(),
        "{backend:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(ok_count(&out), Some(expected as i64), "{backend:?}");
    eprintln!("{backend:?}: {mutations} parallel mutations through 2 admin APIs, chain of {expected} verifies");
}

async fn verify_names_an_edited_entry_and_a_deleted_one(backend: Backend) {
    let dir = tempfile::tempdir().expect("tmp");
    let url = database_url(backend, dir.path()).await;
    let env = StackEnv::new(VEXA, dir.path(), &url);
    let api = admin_api(&env, "admin").await;
    for i in 0..3 {
        mint(&env, &format!("t{i}@acme.com"), "bot").await;
    }
    drop(api);
    // 3 user creates and 3 mints through the API, then the CLI's own: a mint for a new user
    // (two entries) and the revocation of key 1.
    let out = env.run(&["token", "mint", "--email", "cli@acme.com", "--scopes", "tx"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let cli_key = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    assert!(cli_key.starts_with("vxa_tx_"), "{cli_key}");
    let out = env.run(&["token", "revoke", "1"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = verify(&env);
    assert_eq!(
        ok_count(&out),
        Some(9),
        "{backend:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );

    let db = Db::connect(&url, &ConnectOptions::default())
        .await
        .expect("db");
    let store = SqlIdentityStore::new(db.clone());
    let all = store.audit_entries_from(0, 100).await.expect("entries");
    let cli: Vec<(&str, &str)> = all[6..]
        .iter()
        .map(|e| (e.actor.as_str(), e.action.as_str()))
        .collect();
    assert_eq!(
        cli,
        [
            ("cli", "user.create"),
            ("cli", "key.mint"),
            ("cli", "key.revoke")
        ],
        "{backend:?}"
    );
    assert!(
        !format!("{all:?}").contains(&cli_key),
        "the CLI's key is in the audit log"
    );

    // An edit of one entry's contents is named by its seq.
    let original = all[3].changes.clone();
    assert_eq!(
        tamper::edit_changes(&db, 4, r#"{"prefix":"vxa_bot_forg"}"#)
            .await
            .expect("edit"),
        1
    );
    let out = verify(&env);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("audit chain broken at entry seq 4: "),
        "{backend:?}: {stderr}"
    );
    // Put back exactly as it was, the chain is whole again.
    tamper::edit_changes(&db, 4, &original)
        .await
        .expect("restore");
    assert_eq!(ok_count(&verify(&env)), Some(9));

    // A deleted last entry is caught by the chain head, which still records it.
    assert_eq!(tamper::delete_entry(&db, 9).await.expect("delete last"), 1);
    let out = verify(&env);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("audit chain broken at entry seq 9: entry is missing"),
        "{backend:?}: {stderr}"
    );
    // A deleted middle entry is named too.
    assert_eq!(tamper::delete_entry(&db, 3).await.expect("delete"), 1);
    let out = verify(&env);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("audit chain broken at entry seq 3: entry is missing"),
        "{backend:?}: {stderr}"
    );
    db.close().await;
}

on_both_backends!(
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    two_admin_apis_on_one_database_append_one_valid_chain,
    verify_names_an_edited_entry_and_a_deleted_one,
);
