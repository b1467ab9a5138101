//! Dependency faults against the real `vexa up`:
//!
//! - PostgreSQL "restarted" during load (a TCP proxy between vexa and PostgreSQL cuts every
//!   connection and refuses new ones, then comes back): cached keys keep working, uncached keys
//!   get 503 with `Retry-After: 1`, nothing answers 500, and everything recovers without a restart.
//! - Redis configured but down (from the start, and cut mid-run): the per-user limits degrade to
//!   per-process buckets — still enforced (429), never a 5xx.
//! - The meetings upstream refusing, resetting, closing, answering garbage, stalling before or in
//!   its headers: 502 `upstream unreachable` or 504 `upstream timeout`, promptly, and the gateway
//!   serves normally again the moment the upstream is healthy.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use vexa_testkit::stack::{database_url, free_port, mint, start_up, StackEnv};
use vexa_testkit::{Backend, ADMIN_TOKEN};

use crate::support::VEXA;

// ---------------------------------------------------------------------------------------------
// A TCP proxy that can fail like a restarting server.

struct Proxy {
    port: u16,
    up: Arc<AtomicBool>,
    conns: Arc<Mutex<Vec<tokio::task::AbortHandle>>>,
}

impl Proxy {
    async fn start(target: SocketAddr) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let up = Arc::new(AtomicBool::new(true));
        let conns: Arc<Mutex<Vec<tokio::task::AbortHandle>>> = Arc::default();
        let (up2, conns2) = (up.clone(), conns.clone());
        tokio::spawn(async move {
            while let Ok((mut client, _)) = listener.accept().await {
                if !up2.load(Ordering::SeqCst) {
                    drop(client);
                    continue;
                }
                let task = tokio::spawn(async move {
                    if let Ok(mut server) = TcpStream::connect(target).await {
                        let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                    }
                });
                conns2.lock().expect("lock").push(task.abort_handle());
            }
        });
        Proxy { port, up, conns }
    }

    /// Every open connection dies, new ones are closed at once.
    fn cut(&self) {
        self.up.store(false, Ordering::SeqCst);
        for c in self.conns.lock().expect("lock").drain(..) {
            c.abort();
        }
    }

    fn restore(&self) {
        self.up.store(true, Ordering::SeqCst);
    }
}

async fn status_of(req: reqwest::RequestBuilder) -> (u16, serde_json::Value, Option<String>) {
    match req.timeout(Duration::from_secs(10)).send().await {
        Ok(r) => {
            let s = r.status().as_u16();
            let retry = r
                .headers()
                .get("retry-after")
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned);
            let body = r.json().await.unwrap_or(serde_json::Value::Null);
            (s, body, retry)
        }
        Err(e) => panic!("no answer: {e}"),
    }
}

async fn auth_me(
    client: &reqwest::Client,
    gw: &str,
    key: &str,
) -> (u16, serde_json::Value, Option<String>) {
    status_of(client.get(format!("{gw}/auth/me")).header("X-API-Key", key)).await
}

async fn mint_status(client: &reqwest::Client, env: &StackEnv, user: i64) -> u16 {
    status_of(
        client
            .post(format!(
                "{}/admin/users/{user}/tokens?scopes=bot",
                env.admin()
            ))
            .header("X-Admin-API-Key", ADMIN_TOKEN),
    )
    .await
    .0
}

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

// ---------------------------------------------------------------------------------------------
// Redis.

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

// ---------------------------------------------------------------------------------------------
// The meetings upstream.

const HEALTHY: u8 = 0;
const RESET: u8 = 1;
const EOF: u8 = 2;
const GARBAGE: u8 = 3;
const STALL: u8 = 4;
const HALF_HEAD: u8 = 5;
const BODY_RESET: u8 = 6;

async fn read_head(s: &mut TcpStream) -> bool {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        match s.read(&mut chunk).await {
            Ok(0) | Err(_) => return false,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
        if buf.windows(4).any(|w| w == b"\r\n\r\n") {
            return true;
        }
    }
}

// `SO_LINGER` 0 is how a reset is made: the close sends RST at once, nothing blocks.
#[allow(deprecated)]
async fn fake_upstream(listener: TcpListener, mode: Arc<AtomicU8>) {
    while let Ok((mut s, _)) = listener.accept().await {
        let mode = mode.clone();
        tokio::spawn(async move {
            while read_head(&mut s).await {
                match mode.load(Ordering::SeqCst) {
                    HEALTHY => {
                        let body = br#"{"meetings":[]}"#;
                        let head = format!(
                            "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n",
                            body.len()
                        );
                        if s.write_all(head.as_bytes()).await.is_err()
                            || s.write_all(body).await.is_err()
                        {
                            return;
                        }
                    }
                    RESET => {
                        let _ = s.set_linger(Some(Duration::ZERO));
                        return;
                    }
                    EOF => return,
                    GARBAGE => {
                        let _ = s.write_all(b"SSH-2.0-OpenSSH_9.6\r\n\r\n").await;
                        return;
                    }
                    STALL => {
                        tokio::time::sleep(Duration::from_secs(5)).await;
                        return;
                    }
                    HALF_HEAD => {
                        let _ = s.write_all(b"HTTP/1.1 200 OK\r\nContent-Ty").await;
                        tokio::time::sleep(Duration::from_secs(5)).await;
                        return;
                    }
                    _ => {
                        let _ = s
                            .write_all(
                                b"HTTP/1.1 200 OK\r\ncontent-length: 100000\r\n\r\n{\"partial",
                            )
                            .await;
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        let _ = s.set_linger(Some(Duration::ZERO));
                        return;
                    }
                }
            }
        });
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn upstream_refused_reset_garbage_and_slow_give_502_and_504_then_recover() {
    let dir = tempfile::tempdir().expect("tmp");
    let upstream_port = free_port();
    let mut env = StackEnv::new(
        VEXA,
        dir.path(),
        &database_url(Backend::Sqlite, dir.path()).await,
    );
    env.set(
        "MEETINGS_API_URL",
        &format!("http://127.0.0.1:{upstream_port}"),
    )
    .set("UPSTREAM_TIMEOUT_S", "1");
    let _up = start_up(&env).await;
    let gw = env.gateway();
    let client = reqwest::Client::new();
    let (_, _, key) = mint(&env, "upstream@acme.com", "bot,tx").await;
    let meetings = || {
        client
            .get(format!("{gw}/meetings"))
            .header("X-API-Key", &key)
    };

    let mut faults = 0;
    // Nothing listening: connection refused.
    let t = Instant::now();
    let (s, body, _) = status_of(meetings()).await;
    assert_eq!(
        (s, body["detail"].as_str()),
        (502, Some("upstream unreachable"))
    );
    assert!(t.elapsed() < Duration::from_secs(2));
    faults += 1;

    let listener = TcpListener::bind(("127.0.0.1", upstream_port))
        .await
        .expect("rebind upstream port");
    let mode = Arc::new(AtomicU8::new(HEALTHY));
    tokio::spawn(fake_upstream(listener, mode.clone()));
    assert_eq!(status_of(meetings()).await.0, 200, "healthy upstream");

    for (m, expected, detail, name) in [
        (RESET, 502, "upstream unreachable", "reset"),
        (EOF, 502, "upstream unreachable", "closed without answer"),
        (GARBAGE, 502, "upstream unreachable", "non-HTTP answer"),
        (STALL, 504, "upstream timeout", "no answer"),
        (HALF_HEAD, 504, "upstream timeout", "stalled in its headers"),
    ] {
        for round in 0..3 {
            mode.store(m, Ordering::SeqCst);
            let t = Instant::now();
            let (s, body, _) = status_of(meetings()).await;
            let took = t.elapsed();
            assert_eq!(
                (s, body["detail"].as_str()),
                (expected, Some(detail)),
                "{name} #{round}"
            );
            assert!(took < Duration::from_secs(3), "{name} took {took:?}");
            faults += 1;
            // Back to healthy: served at once, no restart.
            mode.store(HEALTHY, Ordering::SeqCst);
            let (s, body, _) = status_of(meetings()).await;
            assert_eq!(s, 200, "after {name}: {body}");
        }
    }
    // A response cut mid-body: the client sees a broken body (the status was already sent),
    // and the gateway is unharmed.
    mode.store(BODY_RESET, Ordering::SeqCst);
    let r = meetings().timeout(Duration::from_secs(5)).send().await;
    if let Ok(r) = r {
        assert!(
            r.bytes().await.is_err(),
            "a truncated body must not look complete"
        );
    }
    faults += 1;
    mode.store(HEALTHY, Ordering::SeqCst);
    assert_eq!(status_of(meetings()).await.0, 200);
    assert_eq!(status_of(client.get(format!("{gw}/health"))).await.0, 200);
    eprintln!("upstream faults survived: {faults}");
}
