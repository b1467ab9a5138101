//! Usage per key (CONTRACT §10) through the real binary: the gateway counts each outcome per key
//! and hour in memory and flushes in batches; `GET /admin/tokens/{id}/usage` shows every hour of
//! the window summed over replicas; the key list shows `status` and `last_client`; and
//! `KEY_USAGE=off` counts nothing. Both backends (the replica sum on PostgreSQL, which replicas
//! share).

use std::process::Child;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::Value;
use vexa_testkit::stack::{database_url, free_port, mint, wait_ok, StackEnv, WAIT};
use vexa_testkit::{on_both_backends, Backend, ADMIN_TOKEN};

use crate::support::VEXA;

const HOUR_MS: i64 = 3_600_000;

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

async fn admin_get(env: &StackEnv, path: &str) -> (u16, Value) {
    let resp = reqwest::Client::new()
        .get(format!("{}{path}", env.admin()))
        .header("X-Admin-API-Key", ADMIN_TOKEN)
        .send()
        .await
        .expect("admin request");
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or(Value::Null))
}

/// Mints one more key for `user` through the admin API: `(key_id, key)`.
async fn mint_for(env: &StackEnv, user: i64, query: &str) -> (i64, String) {
    let v: Value = reqwest::Client::new()
        .post(format!("{}/admin/users/{user}/tokens?{query}", env.admin()))
        .header("X-Admin-API-Key", ADMIN_TOKEN)
        .send()
        .await
        .expect("mint")
        .json()
        .await
        .expect("mint json");
    (
        v["id"].as_i64().expect("id"),
        v["token"].as_str().expect("token").to_owned(),
    )
}

/// `GET <gateway><path>` with `key`: the status code.
async fn call(gateway: &str, path: &str, key: &str) -> u16 {
    reqwest::Client::new()
        .get(format!("{gateway}{path}"))
        .header("X-API-Key", key)
        .send()
        .await
        .map(|r| r.status().as_u16())
        .unwrap_or(0)
}

/// A key's usage summed over the window, by outcome, and the window's buckets.
async fn usage(env: &StackEnv, key_id: i64, hours: u32) -> ([i64; 4], Vec<Value>) {
    let (status, body) =
        admin_get(env, &format!("/admin/tokens/{key_id}/usage?hours={hours}")).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["token_id"], key_id);
    assert_eq!(body["hours"], hours);
    let buckets = body["buckets"].as_array().cloned().unwrap_or_default();
    let mut sums = [0i64; 4];
    for b in &buckets {
        for (i, outcome) in ["allowed", "scope", "rate_limited", "expired"]
            .iter()
            .enumerate()
        {
            sums[i] += b[outcome].as_i64().expect("every outcome present");
        }
    }
    (sums, buckets)
}

/// Polls the usage of `key_id` until it reads `want` (the flush runs every 3 s).
async fn wait_usage(env: &StackEnv, key_id: i64, want: [i64; 4]) -> Vec<Value> {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let (sums, buckets) = usage(env, key_id, 36).await;
        if sums == want {
            return buckets;
        }
        assert!(
            Instant::now() < deadline,
            "usage of key {key_id}: {sums:?}, want {want:?} [allowed, scope, rate_limited, expired]"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// SIGTERM and wait: a graceful stop (which flushes what is pending).
fn stop(child: &mut Child) {
    let sent = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill -TERM");
    assert!(sent.success());
    let status = child.wait().expect("wait");
    assert!(status.success(), "exit after SIGTERM: {status}");
}

fn kill(children: &mut [&mut Child]) {
    for child in children {
        let _ = child.kill();
        let _ = child.wait();
    }
}

/// The key's row in its user's key list (`?include_revoked=true` when `revoked`).
async fn listed(env: &StackEnv, user: i64, key_id: i64, revoked: bool) -> Option<Value> {
    let query = if revoked { "?include_revoked=true" } else { "" };
    let (status, list) = admin_get(env, &format!("/admin/users/{user}/tokens{query}")).await;
    assert_eq!(status, 200, "{list}");
    list.as_array()?.iter().find(|k| k["id"] == key_id).cloned()
}

async fn start(env: &StackEnv) -> (Child, Child) {
    let admin = env.spawn("admin-api", "admin");
    let gateway = env.spawn("gateway", "gateway");
    wait_ok(&format!("{}/health", env.admin()), WAIT).await;
    wait_ok(&format!("{}/health", env.gateway()), WAIT).await;
    (admin, gateway)
}

async fn mixed_outcomes_show_as_exact_counts_in_the_current_hour(backend: Backend) {
    let dir = tempfile::tempdir().expect("tmp");
    let url = database_url(backend, dir.path()).await;
    let mut env = StackEnv::new(VEXA, dir.path(), &url);
    // Five requests of budget, refilled too slowly to matter during the test.
    env.set("GATEWAY_RATE_LIMIT_DISABLED", "false")
        .set("GATEWAY_RATE_LIMIT_BURST", "5")
        .set("GATEWAY_RATE_LIMIT_RPS", "0.0001");
    let (mut admin, mut gateway) = start(&env).await;
    let gw = env.gateway();

    let (user, key_id, key) = mint(&env, "usage@acme.com", "tx").await;
    let (expiring_id, expiring) = mint_for(&env, user, "scopes=tx&expires_in=1").await;
    let (soon_id, _) = mint_for(&env, user, "scopes=tx&expires_in=3600").await;
    let (idle_id, _) = mint_for(&env, user, "scopes=tx").await;
    let (revoked_id, _) = mint_for(&env, user, "scopes=tx").await;

    for _ in 0..2 {
        assert_eq!(
            call(&gw, "/bots", &key).await,
            403,
            "a tx key on a bot route"
        );
    }
    for _ in 0..5 {
        assert_eq!(call(&gw, "/auth/me", &key).await, 200);
    }
    for _ in 0..3 {
        assert_eq!(call(&gw, "/auth/me", &key).await, 429);
    }
    tokio::time::sleep(Duration::from_millis(1500)).await;
    for _ in 0..2 {
        assert_eq!(call(&gw, "/auth/me", &expiring).await, 401, "expired");
    }

    let buckets = wait_usage(&env, key_id, [5, 2, 3, 0]).await;
    wait_usage(&env, expiring_id, [0, 0, 0, 2]).await;
    wait_usage(&env, idle_id, [0, 0, 0, 0]).await;
    assert_eq!(
        buckets.len(),
        36,
        "every hour of the window, zeros included"
    );
    let hours: Vec<&str> = buckets.iter().filter_map(|b| b["hour"].as_str()).collect();
    assert_eq!(hours.len(), 36, "hours are RFC 3339, as every admin time");
    let last = &buckets[35];
    let this_hour = now_ms() - now_ms().rem_euclid(HOUR_MS);
    let last_hour =
        vexa_core::Timestamp::parse_rfc3339(last["hour"].as_str().unwrap_or("")).map(|t| t.0);
    assert!(
        last_hour == Some(this_hour) || last_hour == Some(this_hour - HOUR_MS),
        "the window ends with the current hour: {last}"
    );
    if last_hour == Some(this_hour) && last["allowed"] == 5 {
        assert_eq!(
            (&last["scope"], &last["rate_limited"], &last["expired"]),
            (&Value::from(2), &Value::from(3), &Value::from(0))
        );
    }

    // Status and last client, each case.
    let revoked = reqwest::Client::new()
        .delete(format!("{}/admin/tokens/{revoked_id}", env.admin()))
        .header("X-Admin-API-Key", ADMIN_TOKEN)
        .send()
        .await
        .expect("revoke");
    assert_eq!(revoked.status().as_u16(), 204);
    let row = listed(&env, user, key_id, false).await.expect("listed");
    assert_eq!(row["status"], "rate_limited", "{row}");
    assert_eq!(row["last_client"], "127.0.0.1", "{row}");
    assert!(row["last_used_at"].is_string(), "{row}");
    for (id, want) in [
        (expiring_id, Some("expired")),
        (soon_id, Some("expiring")),
        (idle_id, Some("active")),
        // The default list is live keys only.
        (revoked_id, None),
    ] {
        let row = listed(&env, user, id, false).await;
        assert_eq!(
            row.as_ref().and_then(|r| r["status"].as_str()),
            want,
            "key {id}: {row:?}"
        );
    }
    let row = listed(&env, user, revoked_id, true)
        .await
        .expect("included");
    assert_eq!(row["status"], "revoked", "{row}");
    assert!(row["revoked_at"].is_string(), "{row}");
    let (_, live) = admin_get(&env, &format!("/admin/users/{user}/tokens")).await;
    assert_eq!(live.as_array().map(Vec::len), Some(4));
    // A revoked key keeps its usage.
    assert_eq!(usage(&env, revoked_id, 1).await.0, [0, 0, 0, 0]);

    // The window and the key are checked.
    for bad in ["0", "721", "x", "-3"] {
        let (status, body) =
            admin_get(&env, &format!("/admin/tokens/{key_id}/usage?hours={bad}")).await;
        assert_eq!(status, 422, "hours={bad}: {body}");
        assert!(body["detail"].is_string(), "{body}");
    }
    let (status, body) = admin_get(&env, &format!("/admin/tokens/{key_id}/usage")).await;
    assert_eq!(
        (status, body["buckets"].as_array().map(Vec::len)),
        (200, Some(24))
    );
    let (status, body) = admin_get(&env, "/admin/tokens/987654/usage").await;
    assert_eq!(
        (status, &body["detail"]),
        (404, &Value::from("Token not found"))
    );
    let (status, _) = admin_get(
        &env,
        &format!("/admin/users/{user}/tokens?include_revoked=maybe"),
    )
    .await;
    assert_eq!(status, 422);

    stop(&mut gateway);
    kill(&mut [&mut admin]);
}

async fn with_usage_off_nothing_is_counted_but_last_use_is_recorded(backend: Backend) {
    let dir = tempfile::tempdir().expect("tmp");
    let url = database_url(backend, dir.path()).await;
    let mut env = StackEnv::new(VEXA, dir.path(), &url);
    env.set("KEY_USAGE", "off");
    let (mut admin, mut gateway) = start(&env).await;
    let (user, key_id, key) = mint(&env, "quiet@acme.com", "tx").await;
    for _ in 0..4 {
        assert_eq!(call(&env.gateway(), "/auth/me", &key).await, 200);
    }
    assert_eq!(call(&env.gateway(), "/bots", &key).await, 403);
    // A graceful stop flushes whatever is pending: nothing to wait for.
    stop(&mut gateway);
    assert_eq!(usage(&env, key_id, 24).await.0, [0, 0, 0, 0], "no rows");
    let row = listed(&env, user, key_id, false).await.expect("listed");
    assert_eq!(row["last_client"], "127.0.0.1", "{row}");
    assert!(row["last_used_at"].is_string(), "{row}");
    assert_eq!(row["status"], "active");
    kill(&mut [&mut admin]);
}

/// Two replicas on one PostgreSQL database add to the same hour's rows; each flushes what it
/// holds when stopped gracefully.
#[tokio::test]
async fn two_gateway_replicas_add_their_counts_to_the_same_rows() {
    let dir = tempfile::tempdir().expect("tmp");
    let url = database_url(Backend::Postgres, dir.path()).await;
    let env = StackEnv::new(VEXA, dir.path(), &url);
    let mut replica = env.clone();
    replica.set("API_GATEWAY_HOST_PORT", &free_port().to_string());
    let (mut admin, mut g1) = start(&env).await;
    let mut g2 = replica.spawn("gateway", "gateway2");
    wait_ok(&format!("{}/health", replica.gateway()), WAIT).await;

    let (_, key_id, key) = mint(&env, "replicas-usage@acme.com", "tx").await;
    for _ in 0..3 {
        assert_eq!(call(&env.gateway(), "/auth/me", &key).await, 200);
    }
    for _ in 0..4 {
        assert_eq!(call(&replica.gateway(), "/auth/me", &key).await, 200);
    }
    assert_eq!(call(&replica.gateway(), "/bots", &key).await, 403);
    stop(&mut g1);
    stop(&mut g2);
    assert_eq!(usage(&env, key_id, 2).await.0, [7, 1, 0, 0]);
    kill(&mut [&mut admin]);
}

on_both_backends!(
    mixed_outcomes_show_as_exact_counts_in_the_current_hour,
    with_usage_off_nothing_is_counted_but_last_use_is_recorded,
);
