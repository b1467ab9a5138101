//! Key rotation end to end, real processes: `vexa admin-api` and two `vexa gateway` replicas on
//! one database (PostgreSQL, and one SQLite file). A rotation's new key works on both replicas
//! at once; the old key works through its grace period and is `Invalid API key` on both after
//! it, within the revocation bound; no grace revokes at once; chains, 409/404; and `vexa token
//! rotate` (the offline CLI) does the same straight on the database.
//!
//! The lateness of the first 401 after the grace end is printed (`--nocapture` shows it):
//! the replicas check the grace end against their own clock, so it is the poll period here.

use std::process::Child;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::{json, Value};
use vexa_core::Timestamp;
use vexa_testkit::stack::{auth_me_status, database_url, free_port, wait_ok, StackEnv};
use vexa_testkit::{Backend, Reply, ADMIN_TOKEN};

use crate::support::VEXA;

/// The contract's revocation bound: every replica within one second.
const BOUND: Duration = Duration::from_secs(1);

struct Replicas {
    env: StackEnv,
    gateways: [String; 2],
    children: Vec<Child>,
    _dir: tempfile::TempDir,
}

impl Drop for Replicas {
    fn drop(&mut self) {
        for child in &mut self.children {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

async fn replicas(backend: Backend) -> Replicas {
    let dir = tempfile::tempdir().expect("tmp");
    let url = database_url(backend, dir.path()).await;
    let env = StackEnv::new(VEXA, dir.path(), &url);
    let mut replica = env.clone();
    replica.set("API_GATEWAY_HOST_PORT", &free_port().to_string());
    // The admin API first: it migrates the database the gateways then open.
    let admin = env.spawn("admin-api", "admin");
    wait_ok(&format!("{}/health", env.admin()), Duration::from_secs(30)).await;
    let g1 = env.spawn("gateway", "gateway1");
    let g2 = replica.spawn("gateway", "gateway2");
    let gateways = [env.gateway(), replica.gateway()];
    for g in &gateways {
        wait_ok(&format!("{g}/health"), Duration::from_secs(30)).await;
    }
    Replicas {
        env,
        gateways,
        children: vec![admin, g1, g2],
        _dir: dir,
    }
}

impl Replicas {
    async fn admin(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Reply {
        let mut req = reqwest::Client::new()
            .request(method, format!("{}{path}", self.env.admin()))
            .header("X-Admin-API-Key", ADMIN_TOKEN);
        if let Some(b) = body {
            req = req.json(&b);
        }
        Reply::from_reqwest(req.send().await.expect("admin api answers")).await
    }

    async fn rotate(&self, id: i64, grace: i64) -> Reply {
        self.admin(
            reqwest::Method::POST,
            &format!("/admin/tokens/{id}/rotate"),
            Some(json!({ "grace_seconds": grace })),
        )
        .await
    }

    async fn assert_works_on_both(&self, key: &str, what: &str) {
        for g in &self.gateways {
            assert_eq!(auth_me_status(g, key).await, 200, "{what} on {g}");
        }
    }
}

/// `/auth/me` through `gateway`: status and detail.
async fn auth_me(gateway: &str, key: &str) -> (u16, String) {
    let r = reqwest::Client::new()
        .get(format!("{gateway}/auth/me"))
        .header("X-API-Key", key)
        .timeout(Duration::from_secs(5))
        .send()
        .await
        .expect("gateway answers");
    let reply = Reply::from_reqwest(r).await;
    (
        reply.status.as_u16(),
        reply.lenient_json()["detail"]
            .as_str()
            .unwrap_or("")
            .to_owned(),
    )
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// Polls `gateway` with `key` until it answers 401; returns the wall-clock time (epoch ms) of
/// the first 401. Fails past `deadline_ms`, or on any answer but 200 and 401 `Invalid API key`.
async fn first_401(gateway: String, key: String, deadline_ms: i64) -> i64 {
    loop {
        let (status, detail) = auth_me(&gateway, &key).await;
        let at = now_ms();
        match status {
            401 => {
                assert_eq!(detail, "Invalid API key", "{gateway}");
                return at;
            }
            200 => assert!(at < deadline_ms, "{gateway} still accepts the key at {at}"),
            other => panic!("{gateway} answered {other} {detail}"),
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

async fn rotated_key_works_through_its_grace_and_is_invalid_on_every_replica_after_it(
    backend: Backend,
) {
    let stack = replicas(backend).await;
    let user = stack
        .admin(
            reqwest::Method::POST,
            "/admin/users",
            Some(json!({"email": "rot@acme.com"})),
        )
        .await
        .json();
    let user_id = user["id"].as_i64().expect("user id");
    let old = stack
        .admin(
            reqwest::Method::POST,
            &format!("/admin/users/{user_id}/tokens"),
            Some(json!({"scopes": ["tx", "bot"], "name": "deploy", "expires_in": 86_400})),
        )
        .await
        .json();
    let (old_id, old_key) = (
        old["id"].as_i64().expect("id"),
        old["token"].as_str().expect("token").to_owned(),
    );
    stack
        .assert_works_on_both(&old_key, "the key before rotation")
        .await;

    // Rotate with a grace period of 3 s: long enough to check everything in it on two cores.
    let r = stack.rotate(old_id, 3).await;
    assert_eq!(r.status, 201, "{}", r.text());
    let new = r.json();
    let new_key = new["token"].as_str().expect("token").to_owned();
    assert_eq!(new["user_id"], user_id);
    assert_eq!(new["scopes"], json!(["tx", "bot"]));
    assert_eq!(new["name"], "deploy");
    assert_eq!(new["expires_at"], old["expires_at"]);
    stack.assert_works_on_both(&new_key, "the new key").await;
    stack
        .assert_works_on_both(&old_key, "the old key in grace")
        .await;
    let again = stack.rotate(old_id, 3).await;
    assert_eq!(
        again.parts(),
        (
            409,
            json!({"detail": "Token already rotated; rotate its replacement"})
        )
    );

    // The grace end as stored, from the key list (the old key is listed until then).
    let keys = stack
        .admin(
            reqwest::Method::GET,
            &format!("/admin/users/{user_id}/tokens"),
            None,
        )
        .await
        .json();
    let listed = keys.as_array().expect("list");
    assert_eq!(listed.len(), 2);
    let retires_at = listed
        .iter()
        .find(|k| k["id"] == old_id)
        .and_then(|k| k["retires_at"].as_str())
        .and_then(Timestamp::parse_rfc3339)
        .expect("the old key's grace end is listed")
        .0;
    assert!(
        now_ms() < retires_at,
        "the checks in grace took longer than the grace"
    );

    let deadline = retires_at + i64::try_from(BOUND.as_millis()).unwrap_or(1000);
    let polls: Vec<_> = stack
        .gateways
        .iter()
        .map(|g| tokio::spawn(first_401(g.clone(), old_key.clone(), deadline)))
        .collect();
    for (g, poll) in stack.gateways.iter().zip(polls) {
        let at = poll.await.expect("poll task");
        assert!(
            at >= retires_at,
            "{g} refused the old key {} ms before its grace end",
            retires_at - at
        );
        println!(
            "rotation[{backend:?}]: {g} first 401 {} ms after the grace end",
            at - retires_at
        );
    }
    stack
        .assert_works_on_both(&new_key, "the new key after the old one's grace")
        .await;
    let keys = stack
        .admin(
            reqwest::Method::GET,
            &format!("/admin/users/{user_id}/tokens"),
            None,
        )
        .await
        .json();
    assert_eq!(keys.as_array().map(Vec::len), Some(1), "{keys}");
    assert_eq!(stack.rotate(old_id, 0).await.status, 404);

    // Chain, with no grace: the replacement of the replacement works, its predecessor stops on
    // both replicas within the revocation bound.
    let r = stack.rotate(new["id"].as_i64().expect("id"), 0).await;
    assert_eq!(r.status, 201, "{}", r.text());
    let third = r.json()["token"].as_str().expect("token").to_owned();
    let t0 = Instant::now();
    let rotated_at = now_ms();
    stack.assert_works_on_both(&third, "the chained key").await;
    let polls: Vec<_> = stack
        .gateways
        .iter()
        .map(|g| tokio::spawn(first_401(g.clone(), new_key.clone(), rotated_at + 1000)))
        .collect();
    for (g, poll) in stack.gateways.iter().zip(polls) {
        let at = poll.await.expect("poll task");
        println!(
            "rotation[{backend:?}]: {g} first 401 {} ms after a rotation with no grace",
            at - rotated_at
        );
    }
    assert!(t0.elapsed() < BOUND + Duration::from_millis(500));
    assert_eq!(stack.rotate(987_654, 0).await.status, 404);
}

async fn the_cli_rotates_on_the_database_and_prints_the_new_key_once(backend: Backend) {
    let stack = replicas(backend).await;
    let (_, key_id, old_key) = vexa_testkit::stack::mint(&stack.env, "cli@acme.com", "bot").await;
    let out = stack
        .env
        .run(&["token", "rotate", &key_id.to_string(), "--grace", "3600"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 1, "only the key on stdout: {stdout}");
    let new_key = lines[0];
    assert!(new_key.starts_with("vxa_bot_"), "{new_key}");
    assert!(
        !stderr.contains(new_key) && !stderr.contains(&old_key),
        "{stderr}"
    );
    stack
        .assert_works_on_both(new_key, "the CLI's new key")
        .await;
    stack
        .assert_works_on_both(&old_key, "the old key in its hour of grace")
        .await;

    let kid = key_id.to_string();
    let again = stack.env.run(&["token", "rotate", &kid]);
    assert!(!again.status.success());
    assert!(
        String::from_utf8_lossy(&again.stderr)
            .contains("Token already rotated; rotate its replacement"),
        "{}",
        String::from_utf8_lossy(&again.stderr)
    );
    for (args, detail) in [
        (vec!["token", "rotate", "987654"], "Token not found"),
        (
            vec!["token", "rotate", &kid, "--grace", "-1"],
            "grace_seconds must be a non-negative integer number of seconds",
        ),
        (
            vec!["token", "rotate", &kid, "--grace", "soon"],
            "grace_seconds must be a non-negative integer number of seconds",
        ),
    ] {
        let out = stack.env.run(&args);
        assert!(!out.status.success(), "CLI accepted {args:?}");
        assert!(
            String::from_utf8_lossy(&out.stderr).contains(detail),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

vexa_testkit::on_both_backends!(
    rotated_key_works_through_its_grace_and_is_invalid_on_every_replica_after_it,
    the_cli_rotates_on_the_database_and_prints_the_new_key_once,
);
