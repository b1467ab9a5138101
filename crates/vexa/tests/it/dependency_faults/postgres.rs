//! PostgreSQL "restarted" during load: cached keys keep working, uncached keys get 503 with
//! `Retry-After: 1`, nothing answers 500, and everything recovers without a restart.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use vexa_testkit::stack::{database_url, mint, start_up, StackEnv};
use vexa_testkit::Backend;

use super::{auth_me, mint_status, Proxy};
use crate::support::VEXA;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_restart_during_load_cached_keys_work_uncached_get_503_and_all_recovers() {
    let dir = tempfile::tempdir().expect("tmp");
    let direct = database_url(Backend::Postgres, dir.path()).await;
    let pg: SocketAddr = "127.0.0.1:5432".parse().expect("addr");
    let proxy = Proxy::start(pg).await;
    let via_proxy = direct.replacen("127.0.0.1:5432", &format!("127.0.0.1:{}", proxy.port), 1);
    assert_ne!(via_proxy, direct, "unexpected test database URL {direct}");
    let env = StackEnv::new(VEXA, dir.path(), &via_proxy);
    let _up = start_up(&env).await;
    let gw = env.gateway();
    let client = reqwest::Client::new();
    let (user, _, cached) = mint(&env, "pg-fault@acme.com", "bot,tx").await;
    let (_, _, uncached) = mint(&env, "pg-fault2@acme.com", "bot,tx").await;
    assert_eq!(auth_me(&client, &gw, &cached).await.0, 200);

    // Load on the cached key all along.
    let stop = Arc::new(AtomicBool::new(false));
    let load = {
        let (client, gw, key, stop) = (client.clone(), gw.clone(), cached.clone(), stop.clone());
        tokio::spawn(async move {
            let mut statuses = std::collections::BTreeMap::<u16, u32>::new();
            while !stop.load(Ordering::SeqCst) {
                let s = auth_me(&client, &gw, &key).await.0;
                *statuses.entry(s).or_default() += 1;
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            statuses
        })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;

    proxy.cut();
    let outage_started = Instant::now();
    let mut admin_statuses = std::collections::BTreeSet::new();
    while outage_started.elapsed() < Duration::from_secs(3) {
        let (s, body, retry) = auth_me(&client, &gw, &uncached).await;
        assert_eq!(s, 503, "uncached key during the outage: {s} {body}");
        assert_eq!(
            body["detail"],
            "Authentication temporarily unavailable, retry"
        );
        assert_eq!(retry.as_deref(), Some("1"));
        assert_eq!(
            auth_me(&client, &gw, &cached).await.0,
            200,
            "cached key during the outage"
        );
        admin_statuses.insert(mint_status(&client, &env, user).await);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        admin_statuses.iter().all(|s| *s == 503),
        "the admin API during the outage answered {admin_statuses:?} (503 expected, never 500)"
    );

    proxy.restore();
    let restored = Instant::now();
    loop {
        let s = auth_me(&client, &gw, &uncached).await.0;
        if s == 200 {
            break;
        }
        assert_eq!(s, 503);
        assert!(
            restored.elapsed() < Duration::from_secs(15),
            "no recovery 15 s after PostgreSQL came back"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let recovered_after = restored.elapsed();
    // Writes work again, and a revocation is applied at once.
    while mint_status(&client, &env, user).await != 201 {
        assert!(
            restored.elapsed() < Duration::from_secs(15),
            "admin API did not recover"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    stop.store(true, Ordering::SeqCst);
    let statuses = load.await.expect("load");
    assert_eq!(
        statuses.keys().copied().collect::<Vec<_>>(),
        vec![200],
        "cached-key load saw {statuses:?}"
    );
    eprintln!(
        "postgres outage 3 s: cached-key load {statuses:?}, uncached 503 + Retry-After: 1, admin {admin_statuses:?}; recovered {recovered_after:?} after restore, mints 201 again"
    );
}
