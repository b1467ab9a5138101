//! Per-key limits end to end (CONTRACT §10), the real binary as child processes: a key's bucket
//! inside its user's (the stricter refuses, with its own `Retry-After`), a `PATCH` reaching every
//! gateway replica within the revocation bound, the key bucket shared through Redis, and a key's
//! bot cap inside its user's. Both backends, except the Redis case (PostgreSQL, as replicas run).

use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::{json, Value};
use vexa_testkit::stack::{database_url, free_port, mint, wait_ok, StackEnv};
use vexa_testkit::{on_both_backends, Backend, Reply, Stack, ADMIN_TOKEN};

use crate::support::VEXA;

/// Mints a key of `user` through the admin API with `body`: `(key_id, key)`.
async fn mint_with(s: &mut Stack, user: i64, body: Value) -> (i64, String) {
    let (code, key) = s
        .admin(
            Method::POST,
            &format!("/admin/users/{user}/tokens"),
            Some(body),
        )
        .await
        .parts();
    assert_eq!(code, 201, "{key}");
    let token = key["token"].as_str().expect("token").to_owned();
    s.secrets.push(token.clone());
    (key["id"].as_i64().expect("id"), token)
}

async fn me(s: &Stack, key: &str) -> Reply {
    s.call(Method::GET, "/auth/me", key, None).await
}

fn retry_after(r: &Reply) -> u64 {
    r.header("retry-after")
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("429 without a whole-seconds Retry-After: {:?}", r.text()))
}

/// A 429 with the contract's body, from the bucket of capacity `limit`; its `Retry-After`.
fn refused_by(r: &Reply, limit: &str) -> u64 {
    assert_eq!(r.status.as_u16(), 429, "{}", r.text());
    assert_eq!(r.json(), json!({"detail": "Rate limit exceeded"}));
    assert_eq!(
        r.header("ratelimit-limit"),
        Some(limit),
        "which bucket refused"
    );
    retry_after(r)
}

/// User bucket: 6 requests, one more every 10 s. One key of the user at 2 requests (refill 5 s),
/// one far looser than the user, one without limits; the slow refills keep the test exact.
async fn the_stricter_of_key_and_user_bucket_refuses_with_its_retry_after(backend: Backend) {
    let mut s = Stack::start_with(
        VEXA,
        backend,
        &[
            ("GATEWAY_RATE_LIMIT_DISABLED", "false"),
            ("GATEWAY_RATE_LIMIT_RPS", "0.1"),
            ("GATEWAY_RATE_LIMIT_BURST", "6"),
        ],
    )
    .await;
    let (user, _, free) = s.key("buckets@acme.example", "bot").await;
    let (_, strict) = mint_with(
        &mut s,
        user,
        json!({"rate_limit_rps": 0.2, "rate_limit_burst": 2}),
    )
    .await;
    let (_, loose) = mint_with(
        &mut s,
        user,
        json!({"rate_limit_rps": 100, "rate_limit_burst": 50}),
    )
    .await;

    for _ in 0..2 {
        assert_eq!(me(&s, &strict).await.status.as_u16(), 200);
    }
    let wait = refused_by(&me(&s, &strict).await, "2");
    assert!((1..=5).contains(&wait), "the key's refill is 5 s: {wait}");

    // The key's refusals spent nothing of the user's: 4 left for the other keys.
    for key in [&free, &free, &loose, &loose] {
        assert_eq!(me(&s, key).await.status.as_u16(), 200);
    }
    let wait = refused_by(&me(&s, &loose).await, "6");
    assert!(
        (1..=10).contains(&wait),
        "the user's refill is 10 s: {wait}"
    );
    let wait = refused_by(&me(&s, &free).await, "6");
    assert!((1..=10).contains(&wait), "{wait}");
    s.shutdown().await;
}

/// A split stack with two gateway replicas on one database (no Redis: each replica keeps its
/// own buckets). Returns the processes to kill and each gateway's base URL.
struct Replicas {
    env: StackEnv,
    gateways: Vec<String>,
    children: Vec<std::process::Child>,
    _dir: tempfile::TempDir,
}

impl Replicas {
    async fn start(backend: Backend, vars: &[(&str, &str)]) -> Replicas {
        let dir = tempfile::tempdir().expect("tmp");
        let url = database_url(backend, dir.path()).await;
        let mut env = StackEnv::new(VEXA, dir.path(), &url);
        env.set("GATEWAY_RATE_LIMIT_DISABLED", "false")
            .set("GATEWAY_RATE_LIMIT_RPS", "1000")
            .set("GATEWAY_RATE_LIMIT_BURST", "1000");
        for (k, v) in vars {
            env.set(k, v);
        }
        let mut replica = env.clone();
        replica.set("API_GATEWAY_HOST_PORT", &free_port().to_string());
        // The admin API creates the schema before the gateways start.
        let mut children = vec![env.spawn("admin-api", "admin")];
        wait_ok(&format!("{}/health", env.admin()), Duration::from_secs(30)).await;
        children.push(env.spawn("gateway", "gateway1"));
        children.push(replica.spawn("gateway", "gateway2"));
        let gateways = vec![env.gateway(), replica.gateway()];
        for g in &gateways {
            wait_ok(&format!("{g}/health"), Duration::from_secs(30)).await;
        }
        Replicas {
            env,
            gateways,
            children,
            _dir: dir,
        }
    }

    async fn patch(&self, key_id: i64, body: Value) {
        let res = reqwest::Client::new()
            .patch(format!("{}/admin/tokens/{key_id}", self.env.admin()))
            .header("X-Admin-API-Key", ADMIN_TOKEN)
            .json(&body)
            .send()
            .await
            .expect("patch");
        assert_eq!(res.status().as_u16(), 200);
    }
}

impl Drop for Replicas {
    fn drop(&mut self) {
        for child in &mut self.children {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

async fn me_status(gateway: &str, key: &str) -> (u16, Option<String>) {
    let r = reqwest::Client::new()
        .get(format!("{gateway}/auth/me"))
        .header("X-API-Key", key)
        .timeout(Duration::from_secs(5))
        .send()
        .await
        .expect("gateway answers");
    let limit = r
        .headers()
        .get("ratelimit-limit")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    (r.status().as_u16(), limit)
}

/// A key in use (cached on both replicas) is limited to one request by `PATCH`; within the
/// revocation bound (1 s) each replica admits one more and refuses the next.
async fn lowering_a_keys_limit_reaches_every_gateway_within_one_second(backend: Backend) {
    let r = Replicas::start(backend, &[]).await;
    let (_, key_id, key) = mint(&r.env, "patch@acme.example", "bot").await;
    for g in &r.gateways {
        for _ in 0..20 {
            assert_eq!(me_status(g, &key).await.0, 200, "{g}: not limited yet");
        }
    }
    r.patch(
        key_id,
        json!({"rate_limit_rps": 0.01, "rate_limit_burst": 1}),
    )
    .await;
    let t0 = Instant::now();
    for g in &r.gateways {
        loop {
            let second = {
                me_status(g, &key).await;
                me_status(g, &key).await
            };
            if second == (429, Some("1".to_owned())) {
                break;
            }
            assert!(
                t0.elapsed() < Duration::from_secs(1),
                "{g} still admits the key at its old limit after {:?}",
                t0.elapsed()
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
    // Clearing the limit gives the key its user's budget back, on both.
    r.patch(
        key_id,
        json!({"rate_limit_rps": null, "rate_limit_burst": null}),
    )
    .await;
    let t0 = Instant::now();
    for g in &r.gateways {
        while me_status(g, &key).await.0 != 200 {
            assert!(
                t0.elapsed() < Duration::from_secs(1),
                "{g} keeps the cleared limit"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}

/// With `REDIS_URL`, the key's bucket is one bucket for all replicas: requests alternating
/// between two gateways get the key's burst once, not once per replica. (Redis database 11 and
/// a 2 s refill: a bucket left over from an earlier run is full again before this one starts.)
#[tokio::test]
async fn with_redis_two_gateways_share_a_keys_bucket() {
    let r = Replicas::start(
        Backend::Postgres,
        &[("REDIS_URL", "redis://127.0.0.1:6379/11")],
    )
    .await;
    let (user, _, other) = mint(&r.env, "shared@acme.example", "bot").await;
    let res = reqwest::Client::new()
        .post(format!("{}/admin/users/{user}/tokens", r.env.admin()))
        .header("X-Admin-API-Key", ADMIN_TOKEN)
        .json(&json!({"rate_limit_rps": 0.5, "rate_limit_burst": 3}))
        .send()
        .await
        .expect("mint");
    let key: Value = res.json().await.expect("json");
    let key = key["token"].as_str().expect("token").to_owned();
    let mut admitted = 0;
    for i in 0..6 {
        let (code, _) = me_status(&r.gateways[i % 2], &key).await;
        if code == 200 {
            admitted += 1;
        }
    }
    assert_eq!(admitted, 3, "the key's burst is shared, not per replica");
    let (code, limit) = me_status(&r.gateways[1], &key).await;
    assert_eq!((code, limit.as_deref()), (429, Some("3")));
    assert_eq!(
        me_status(&r.gateways[0], &other).await.0,
        200,
        "the user's other key is free"
    );
}

/// A key capped at one bot: its second bot is refused with the user cap's 429 and words, while
/// the user's other key starts bots up to the user's cap (3). Raising the key's cap by `PATCH`
/// cannot lift the user's.
async fn a_keys_bot_cap_binds_inside_its_users_cap(backend: Backend) {
    let mut s = Stack::start(VEXA, backend).await;
    let (user, _, other) = s.key("capped@acme.example", "bot").await;
    let (capped_id, capped) = mint_with(&mut s, user, json!({"max_concurrent_bots": 1})).await;

    let (code, m) = s.post_bot(&capped, "aaa-aaaa-aaa", "happy").await.parts();
    assert_eq!(code, 201, "{m}");
    let (code, refused) = s.post_bot(&capped, "bbb-bbbb-bbb", "happy").await.parts();
    assert_eq!(
        (code, refused),
        (
            429,
            json!({"detail": "User has reached the maximum concurrent bot limit (1)."})
        )
    );
    for native in ["ccc-cccc-ccc", "ddd-dddd-ddd"] {
        let (code, m) = s.post_bot(&other, native, "happy").await.parts();
        assert_eq!(code, 201, "the other key is not capped by this one: {m}");
    }
    let (code, refused) = s.post_bot(&other, "eee-eeee-eee", "happy").await.parts();
    assert_eq!(
        (code, refused),
        (
            429,
            json!({"detail": "User has reached the maximum concurrent bot limit (3)."})
        )
    );
    let (code, _) = s
        .admin(
            Method::PATCH,
            &format!("/admin/tokens/{capped_id}"),
            Some(json!({"max_concurrent_bots": 5})),
        )
        .await
        .parts();
    assert_eq!(code, 200);
    let (code, refused) = s.post_bot(&capped, "fff-ffff-fff", "happy").await.parts();
    assert_eq!(
        (code, refused),
        (
            429,
            json!({"detail": "User has reached the maximum concurrent bot limit (3)."})
        ),
        "the stricter cap decides"
    );
    s.wait_bot_count(3).await;
    s.shutdown().await;
}

on_both_backends!(
    the_stricter_of_key_and_user_bucket_refuses_with_its_retry_after,
    lowering_a_keys_limit_reaches_every_gateway_within_one_second,
    a_keys_bot_cap_binds_inside_its_users_cap,
);
