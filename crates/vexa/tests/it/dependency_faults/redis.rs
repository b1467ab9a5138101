//! Redis configured but down (from the start, and cut mid-run): the per-user limits degrade to
//! per-process buckets — still enforced (429), never a 5xx.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use vexa_testkit::stack::{database_url, free_port, mint, start_up, StackEnv};
use vexa_testkit::Backend;

use super::{auth_me, Proxy};
use crate::support::VEXA;

async fn burst_statuses(
    client: &reqwest::Client,
    gw: &str,
    key: &str,
    n: usize,
) -> std::collections::BTreeMap<u16, u32> {
    let mut out = std::collections::BTreeMap::new();
    for _ in 0..n {
        *out.entry(auth_me(client, gw, key).await.0).or_default() += 1;
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn redis_down_degrades_limits_to_per_process_never_5xx() {
    // Down from the start: nothing listens on this port.
    let dir = tempfile::tempdir().expect("tmp");
    let mut env = StackEnv::new(
        VEXA,
        dir.path(),
        &database_url(Backend::Sqlite, dir.path()).await,
    );
    env.set("REDIS_URL", &format!("redis://127.0.0.1:{}", free_port()))
        .set("GATEWAY_RATE_LIMIT_DISABLED", "false")
        .set("GATEWAY_RATE_LIMIT_RPS", "1")
        .set("GATEWAY_RATE_LIMIT_BURST", "10");
    let up = start_up(&env).await;
    let client = reqwest::Client::new();
    let (_, _, key) = mint(&env, "redis-down@acme.com", "bot").await;
    let s = burst_statuses(&client, &env.gateway(), &key, 40).await;
    assert!(s.keys().all(|c| *c == 200 || *c == 429), "{s:?}");
    assert!(
        (10..=12).contains(&s[&200]),
        "local buckets enforce the burst: {s:?}"
    );
    drop(up);

    // Up, then cut mid-run, then back.
    let redis: SocketAddr = "127.0.0.1:6379".parse().expect("addr");
    let proxy = Proxy::start(redis).await;
    let dir = tempfile::tempdir().expect("tmp");
    let mut env = StackEnv::new(
        VEXA,
        dir.path(),
        &database_url(Backend::Sqlite, dir.path()).await,
    );
    env.set("REDIS_URL", &format!("redis://127.0.0.1:{}", proxy.port))
        .set("GATEWAY_RATE_LIMIT_DISABLED", "false")
        .set("GATEWAY_RATE_LIMIT_RPS", "1")
        .set("GATEWAY_RATE_LIMIT_BURST", "10");
    let _up = start_up(&env).await;
    let (_, _, k1) = mint(&env, "redis-cut1@acme.com", "bot").await;
    let (_, _, k2) = mint(&env, "redis-cut2@acme.com", "bot").await;
    let before = burst_statuses(&client, &env.gateway(), &k1, 20).await;
    assert!(before.keys().all(|c| *c == 200 || *c == 429), "{before:?}");
    proxy.cut();
    let t = Instant::now();
    let during = burst_statuses(&client, &env.gateway(), &k2, 40).await;
    let took = t.elapsed();
    assert!(
        during.keys().all(|c| *c == 200 || *c == 429),
        "Redis cut: {during:?}"
    );
    assert!(
        during.get(&429).copied().unwrap_or(0) >= 20,
        "limits still enforced per process: {during:?}"
    );
    assert!(
        took < Duration::from_secs(10),
        "40 requests took {took:?} with Redis cut"
    );
    proxy.restore();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let after = burst_statuses(&client, &env.gateway(), &k1, 10).await;
    assert!(after.keys().all(|c| *c == 200 || *c == 429), "{after:?}");
    eprintln!("redis down from start: {s:?}; before cut {before:?}, during cut {during:?} in {took:?}, after {after:?}");
}
