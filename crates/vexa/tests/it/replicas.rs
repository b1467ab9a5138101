//! Two gateway replicas sharing PostgreSQL: a revocation served by the admin API stops the key on
//! both within one second.

use std::time::{Duration, Instant};

use vexa_testkit::stack::{auth_me_status, database_url, free_port, mint, wait_ok, StackEnv};
use vexa_testkit::{Backend, ADMIN_TOKEN};

use crate::support::VEXA;

#[tokio::test]
async fn revoked_key_is_rejected_on_every_gateway_within_one_second() {
    let dir = tempfile::tempdir().expect("tmp");
    let url = database_url(Backend::Postgres, dir.path()).await;
    let env = StackEnv::new(VEXA, dir.path(), &url);
    let mut replica = env.clone();
    replica.set("API_GATEWAY_HOST_PORT", &free_port().to_string());

    let mut admin = env.spawn("admin-api", "admin");
    let mut g1 = env.spawn("gateway", "gateway1");
    let mut g2 = replica.spawn("gateway", "gateway2");
    wait_ok(&format!("{}/health", env.admin()), Duration::from_secs(30)).await;
    wait_ok(
        &format!("{}/health", env.gateway()),
        Duration::from_secs(30),
    )
    .await;
    wait_ok(
        &format!("{}/health", replica.gateway()),
        Duration::from_secs(30),
    )
    .await;

    let (_, key_id, key) = mint(&env, "replicas@acme.com", "bot").await;
    assert_eq!(auth_me_status(&env.gateway(), &key).await, 200);
    assert_eq!(auth_me_status(&replica.gateway(), &key).await, 200);

    let revoked = reqwest::Client::new()
        .delete(format!("{}/admin/tokens/{key_id}", env.admin()))
        .header("X-Admin-API-Key", ADMIN_TOKEN)
        .send()
        .await
        .expect("revoke");
    assert_eq!(revoked.status().as_u16(), 204);
    let t0 = Instant::now();
    for gateway in [env.gateway(), replica.gateway()] {
        loop {
            if auth_me_status(&gateway, &key).await == 401 {
                break;
            }
            assert!(
                t0.elapsed() < Duration::from_secs(1),
                "{gateway} still accepts the key after {:?}",
                t0.elapsed()
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
    for child in [&mut admin, &mut g1, &mut g2] {
        let _ = child.kill();
        let _ = child.wait();
    }
}

/// The replica registry, on both backends: two gateway processes appear on `GET /admin/replicas`,
/// their cache sizes grow with distinct keys, their last-seen event catches up with a
/// revocation, a SIGTERM'd one leaves the list and a SIGKILL'd one turns stale.
mod registry {
    use std::process::Child;
    use std::time::{Duration, Instant};

    use serde_json::Value;
    use vexa_testkit::stack::{auth_me_status, database_url, free_port, mint, wait_ok, StackEnv};
    use vexa_testkit::{Backend, ADMIN_TOKEN};

    use crate::support::VEXA;

    /// Short, so staleness shows within a second or two.
    const BEAT_MS: &str = "200";

    #[tokio::test]
    async fn gateways_register_report_and_leave_on_sqlite() {
        registry(Backend::Sqlite).await;
    }

    #[tokio::test]
    async fn gateways_register_report_and_leave_on_postgres() {
        registry(Backend::Postgres).await;
    }

    async fn fleet(env: &StackEnv) -> Value {
        let reply = reqwest::Client::new()
            .get(format!("{}/admin/replicas", env.admin()))
            .header("X-Admin-API-Key", ADMIN_TOKEN)
            .send()
            .await
            .expect("GET /admin/replicas");
        assert_eq!(reply.status().as_u16(), 200);
        reply.json().await.expect("json")
    }

    /// The row of the gateway listening on `port`, if registered.
    fn row(fleet: &Value, port: u16) -> Option<Value> {
        let suffix = format!(":{port}");
        fleet["replicas"]
            .as_array()
            .expect("replicas array")
            .iter()
            .find(|r| r["address"].as_str().is_some_and(|a| a.ends_with(&suffix)))
            .cloned()
    }

    /// Polls the fleet until `ok` holds (or fails after 15 s, showing the last answer).
    async fn until(env: &StackEnv, what: &str, ok: impl Fn(&Value) -> bool) -> Value {
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            let f = fleet(env).await;
            if ok(&f) {
                return f;
            }
            assert!(Instant::now() < deadline, "{what}: {f:#}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    fn signal(child: &Child, sig: &str) {
        let sent = std::process::Command::new("kill")
            .args([sig, &child.id().to_string()])
            .status()
            .expect("kill");
        assert!(sent.success());
    }

    async fn registry(backend: Backend) {
        let dir = tempfile::tempdir().expect("tmp");
        let url = database_url(backend, dir.path()).await;
        let mut env = StackEnv::new(VEXA, dir.path(), &url);
        env.set("REPLICA_HEARTBEAT_MS", BEAT_MS);
        let mut other = env.clone();
        other.set("API_GATEWAY_HOST_PORT", &free_port().to_string());
        let (p1, p2) = (
            env.port("API_GATEWAY_HOST_PORT"),
            other.port("API_GATEWAY_HOST_PORT"),
        );

        // The admin API creates the schema first: three processes migrating a fresh SQLite
        // file at once can fail with "database is locked".
        let mut admin = env.spawn("admin-api", "admin");
        wait_ok(&format!("{}/health", env.admin()), Duration::from_secs(30)).await;
        let mut g1 = env.spawn("gateway", "gateway1");
        let mut g2 = other.spawn("gateway", "gateway2");
        for base in [env.gateway(), other.gateway()] {
            wait_ok(&format!("{base}/health"), Duration::from_secs(30)).await;
        }

        let f = until(&env, "both gateways registered", |f| {
            row(f, p1).is_some() && row(f, p2).is_some()
        })
        .await;
        assert_eq!(f["store"]["reachable"], true);
        for port in [p1, p2] {
            let r = row(&f, port).expect("row");
            assert_eq!(r["status"], "healthy", "{r:#}");
            assert_eq!(r["heartbeat_ms"], 200);
            assert!(r["pid"].as_i64().is_some_and(|p| p > 0), "{r:#}");
            assert!(!r["id"].as_str().unwrap_or_default().is_empty(), "{r:#}");
        }
        assert_ne!(
            row(&f, p1).expect("g1")["id"],
            row(&f, p2).expect("g2")["id"]
        );
        let before = row(&f, p1).expect("g1")["cache_entries"]
            .as_i64()
            .unwrap_or(-1);

        // Three distinct keys through gateway 1, one through gateway 2: the caches grow.
        let mut keys = Vec::new();
        for i in 0..3 {
            keys.push(mint(&env, &format!("replica{i}@acme.com"), "bot").await);
        }
        for (_, _, key) in &keys {
            assert_eq!(auth_me_status(&env.gateway(), key).await, 200);
        }
        assert_eq!(auth_me_status(&other.gateway(), &keys[0].2).await, 200);
        until(&env, "cache sizes grew", |f| {
            let entries = |p| {
                row(f, p)
                    .and_then(|r| r["cache_entries"].as_i64())
                    .unwrap_or(0)
            };
            entries(p1) >= before + 3 && entries(p2) >= 1
        })
        .await;

        // A revocation: the store's newest event moves, and both replicas catch up with it.
        let seq_before = fleet(&env).await["store"]["latest_event_seq"]
            .as_i64()
            .expect("seq");
        let revoked = reqwest::Client::new()
            .delete(format!("{}/admin/tokens/{}", env.admin(), keys[0].1))
            .header("X-Admin-API-Key", ADMIN_TOKEN)
            .send()
            .await
            .expect("revoke");
        assert_eq!(revoked.status().as_u16(), 204);
        let f = until(&env, "both replicas applied the revocation", |f| {
            let latest = f["store"]["latest_event_seq"].as_i64().unwrap_or(0);
            latest > seq_before
                && [p1, p2].iter().all(|&p| {
                    row(f, p).is_some_and(|r| {
                        r["last_event_seq"].as_i64() == Some(latest)
                            && r["lag_events"] == 0
                            && r["lag_ms"].is_null()
                    })
                })
        })
        .await;
        let r = row(&f, p1).expect("g1");
        assert!(r["last_event_applied_at"].is_string(), "{r:#}");

        // SIGTERM: a graceful stop removes the row.
        signal(&g1, "-TERM");
        let status = g1.wait().expect("wait");
        assert!(status.success(), "exit after SIGTERM: {status}");
        let f = fleet(&env).await;
        assert!(row(&f, p1).is_none(), "a stopped gateway is gone: {f:#}");
        assert!(row(&f, p2).is_some());

        // SIGKILL: no goodbye, so the row stays and turns stale after three missed beats.
        signal(&g2, "-KILL");
        let _ = g2.wait();
        let killed_at = Instant::now();
        let f = until(&env, "the killed gateway turns stale", |f| {
            row(f, p2).is_some_and(|r| r["status"] == "stale")
        })
        .await;
        assert!(
            killed_at.elapsed() >= Duration::from_millis(400),
            "stale too soon: {f:#}"
        );

        let _ = admin.kill();
        let _ = admin.wait();
    }
}
