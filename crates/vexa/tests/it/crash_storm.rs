//! `kill -9` of the real `vexa up` in the middle of a storm of concurrent mints and revocations,
//! several times over, on both backends. After each restart: every mint that was answered 201
//! authenticates through the gateway, and every revocation that was answered 204 stays revoked.
//! Requests whose answer was lost to the kill may have gone either way; they are not judged.
//! Rotations (no grace) storm alongside: an answered rotation's old key stays refused and its new
//! key works. The audit log too: at the end its chain verifies (`vexa audit verify`) and holds an
//! entry for every mint, revocation and rotation the client saw acknowledged.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use vexa_testkit::stack::{auth_me_status, database_url, mint, start_up, StackEnv};
use vexa_testkit::{on_both_backends, Backend, ADMIN_TOKEN};

use crate::support::VEXA;

const ROUNDS: usize = 3;
const WORKERS: usize = 12;
const VICTIMS_PER_ROUND: usize = 60;

#[derive(Default)]
struct Ledger {
    /// Keys whose mint was answered 201: (id, key).
    minted: Vec<(i64, String)>,
    /// Keys whose revocation was answered 204: (id, key).
    revoked: Vec<(i64, String)>,
    /// Rotations (no grace) answered 201: (old id, old key, new key). The old key must stay
    /// refused and the new one must work.
    rotated: Vec<(i64, String, String)>,
    /// Requests that got no answer (cut by the kill).
    lost: usize,
}

async fn storm(
    env: &StackEnv,
    users: &[i64],
    victims: Vec<(i64, String)>,
    ledger: Arc<Mutex<Ledger>>,
) {
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
        .expect("client");
    let victims = Arc::new(Mutex::new(victims));
    let mut tasks = Vec::new();
    for w in 0..WORKERS {
        let (client, admin, victims, ledger) =
            (client.clone(), env.admin(), victims.clone(), ledger.clone());
        let user = users[w % users.len()];
        tasks.push(tokio::spawn(async move {
            let mut failures = 0;
            for i in 0.. {
                // Half the workers mostly mint, half mostly revoke.
                let revoke = (w + i) % 2 == 0;
                let victim = if revoke {
                    victims.lock().expect("lock").pop()
                } else {
                    None
                };
                let answered = if let Some((id, token)) = victim.clone().filter(|_| i % 4 == 0) {
                    // Every other victim is rotated (grace 0: the old key is revoked at once).
                    match client
                        .post(format!("{admin}/admin/tokens/{id}/rotate"))
                        .header("X-Admin-API-Key", ADMIN_TOKEN)
                        .send()
                        .await
                    {
                        Ok(r) => {
                            let s = r.status().as_u16();
                            match r.json::<serde_json::Value>().await {
                                // Acknowledged only once its body (the new key) arrived.
                                Ok(v) => {
                                    assert_eq!(s, 201, "rotation answered {s}: {v}");
                                    let new = v["token"].as_str().expect("token").to_owned();
                                    ledger.lock().expect("lock").rotated.push((id, token, new));
                                    true
                                }
                                Err(_) => false,
                            }
                        }
                        Err(_) => false,
                    }
                } else if let Some((id, token)) = victim {
                    match client
                        .delete(format!("{admin}/admin/tokens/{id}"))
                        .header("X-Admin-API-Key", ADMIN_TOKEN)
                        .send()
                        .await
                    {
                        Ok(r) => {
                            let s = r.status().as_u16();
                            assert!(s == 204, "revocation answered {s}");
                            ledger.lock().expect("lock").revoked.push((id, token));
                            true
                        }
                        Err(_) => false,
                    }
                } else {
                    let resp = client
                        .post(format!("{admin}/admin/users/{user}/tokens?scopes=bot"))
                        .header("X-Admin-API-Key", ADMIN_TOKEN)
                        .send()
                        .await;
                    match resp {
                        Ok(r) => {
                            let s = r.status().as_u16();
                            match r.json::<serde_json::Value>().await {
                                // The answer is only "201" once its body (the key) arrived.
                                Ok(v) => {
                                    assert_eq!(s, 201, "mint answered {s}: {v}");
                                    let t = v["token"].as_str().expect("token").to_owned();
                                    let id = v["id"].as_i64().expect("id");
                                    ledger.lock().expect("lock").minted.push((id, t));
                                    true
                                }
                                Err(_) => false,
                            }
                        }
                        Err(_) => false,
                    }
                };
                if !answered {
                    ledger.lock().expect("lock").lost += 1;
                    failures += 1;
                    if failures >= 3 {
                        return;
                    }
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
            }
        }));
    }
    for t in tasks {
        t.await.expect("storm worker");
    }
}

async fn answered_mints_and_revocations_survive_kill_9_mid_storm(backend: Backend) {
    let dir = tempfile::tempdir().expect("tmp");
    let env = StackEnv::new(VEXA, dir.path(), &database_url(backend, dir.path()).await);
    let ledger = Arc::new(Mutex::new(Ledger::default()));
    let mut users = Vec::new();
    let mut kills = 0;
    for round in 0..ROUNDS {
        let mut up = start_up(&env).await;
        // Everything answered so far holds after the previous kill and restart.
        verify(&env, &ledger, backend, round).await;
        let mut victims = Vec::new();
        for v in 0..VICTIMS_PER_ROUND {
            let (user, id, key) = mint(&env, &format!("storm{}@acme.com", v % 4), "bot,tx").await;
            if round == 0 && v < 4 {
                users.push(user);
            }
            victims.push((id, key));
        }
        let storming = {
            let (env, users, ledger) = (env.clone(), users.clone(), ledger.clone());
            tokio::spawn(async move { storm(&env, &users, victims, ledger).await })
        };
        // Let the storm get going, then pull the plug at a point that varies per round.
        tokio::time::sleep(Duration::from_millis(300 + 250 * round as u64)).await;
        up.child.kill().expect("SIGKILL");
        let _ = up.child.wait();
        kills += 1;
        storming.await.expect("storm");
        drop(up);
    }
    let _up = start_up(&env).await;
    verify(&env, &ledger, backend, ROUNDS).await;
    let audited = verify_audit(&env, &ledger, backend).await;
    let l = ledger.lock().expect("lock");
    eprintln!(
        "{backend:?}: {kills} × kill -9 mid-storm; {} mints answered 201 all authenticate, {} revocations answered 204 all refused, {} rotations answered 201 (old refused, new works), {} requests cut by the kills; audit chain of {audited} entries verifies",
        l.minted.len(),
        l.revoked.len(),
        l.rotated.len(),
        l.lost
    );
    assert!(
        l.minted.len() > 20 && l.revoked.len() > 20 && l.rotated.len() > 5,
        "the storm was too small"
    );
}

async fn verify(env: &StackEnv, ledger: &Arc<Mutex<Ledger>>, backend: Backend, round: usize) {
    let (minted, revoked, rotated) = {
        let l = ledger.lock().expect("lock");
        (l.minted.clone(), l.revoked.clone(), l.rotated.clone())
    };
    let gw = env.gateway();
    for (_, k) in &minted {
        assert_eq!(
            auth_me_status(&gw, k).await,
            200,
            "{backend:?} round {round}: a 201 mint was lost"
        );
    }
    for (_, k) in &revoked {
        assert_eq!(
            auth_me_status(&gw, k).await,
            401,
            "{backend:?} round {round}: a 204 revocation was undone"
        );
    }
    for (_, old, new) in &rotated {
        assert_eq!(
            auth_me_status(&gw, old).await,
            401,
            "{backend:?} round {round}: a rotated-out key works again"
        );
        assert_eq!(
            auth_me_status(&gw, new).await,
            200,
            "{backend:?} round {round}: an acknowledged replacement key was lost"
        );
    }
}

/// `vexa audit verify` accepts the chain, and every acknowledged mint and revocation has its
/// entry (read back through `GET /admin/audit`, page by page). Returns the chain's length.
async fn verify_audit(env: &StackEnv, ledger: &Arc<Mutex<Ledger>>, backend: Backend) -> i64 {
    let out = env.run(&["audit", "verify"]);
    let stdout = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    assert!(
        out.status.success(),
        "{backend:?}: {stdout} {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let count: i64 = stdout
        .strip_prefix("audit chain ok: ")
        .and_then(|s| s.strip_suffix(" entries"))
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("{backend:?}: {stdout}"));
    let client = reqwest::Client::new();
    let mut recorded = HashSet::new();
    let mut cursor = String::new();
    loop {
        let page: serde_json::Value = client
            .get(format!("{}/admin/audit?limit=500{cursor}", env.admin()))
            .header("X-Admin-API-Key", ADMIN_TOKEN)
            .send()
            .await
            .expect("audit page")
            .json()
            .await
            .expect("audit json");
        let page = page.as_array().expect("array");
        let Some(last) = page.last() else { break };
        cursor = format!("&before_seq={}", last["seq"]);
        for e in page {
            if let (Some(a), Some(k)) = (e["action"].as_str(), e["key_id"].as_i64()) {
                recorded.insert((a.to_owned(), k));
            }
        }
    }
    let l = ledger.lock().expect("lock");
    for (id, _) in &l.minted {
        assert!(
            recorded.contains(&("key.mint".to_owned(), *id)),
            "{backend:?}: acknowledged mint of key {id} has no audit entry"
        );
    }
    for (id, _) in &l.revoked {
        assert!(
            recorded.contains(&("key.revoke".to_owned(), *id)),
            "{backend:?}: acknowledged revocation of key {id} has no audit entry"
        );
    }
    for (id, _, _) in &l.rotated {
        assert!(
            recorded.contains(&("key.rotate".to_owned(), *id)),
            "{backend:?}: acknowledged rotation of key {id} has no audit entry"
        );
    }
    count
}

on_both_backends!(
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    answered_mints_and_revocations_survive_kill_9_mid_storm,
);
