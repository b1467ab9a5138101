//! Heap allocations per forwarded request: the gateway's whole pipeline (route match, edge
//! guard, key parse and digest, cache hit, scope, per-user limiter, identity headers, request
//! id, metrics, access-log line, the upstream hop) counted by a counting global allocator.
//!
//! Everything runs on one current-thread runtime in this process: a client, the gateway and a
//! minimal upstream. The same client is measured once straight against the upstream; the
//! difference is what the gateway allocates per request. A second gateway on the same store with
//! the usage counters off (`KEY_USAGE=off`) shows what counting usage per key allocates (it
//! should not: pre-sized shard maps keyed by integers). Counts, not time: the figure is the
//! same on a busy machine. `BENCH_RAW=<dir>` also writes `<dir>/allocs.json` for the report.
//!
//! The same run drives a second key of the same user that has a rate limit of its own (budgets no
//! run exhausts), so the cost of a key bucket is measured beside the plain key's, which must not
//! change: a key without limits never touches a key bucket.

use std::alloc::System;
use std::convert::Infallible;
use std::sync::Arc;

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::{BodyExt, Full};
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use stats_alloc::{StatsAlloc, INSTRUMENTED_SYSTEM};
use vexa_core::{Clock, Email, IdentityStore, MintedKey, NewKey, NewUser, Scope, SystemClock};
use vexa_gateway::limit::{EdgeConfig, UserLimitConfig};
use vexa_gateway::{Gateway, GatewayConfig};

// stats_alloc wraps the system allocator and counts, so this bench needs no unsafe code.
#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

const WARM: u64 = 2_000;
const MEASURED: u64 = 20_000;

/// Allocations (including reallocations) and bytes allocated so far by the whole process.
fn counts() -> (u64, u64) {
    let s = GLOBAL.stats();
    (
        (s.allocations + s.reallocations) as u64,
        (s.bytes_allocated + s.bytes_reallocated.max(0) as usize) as u64,
    )
}

/// The bench upstream's answer, as `vexa-bench-upstream` gives it.
async fn upstream(listener: tokio::net::TcpListener) {
    while let Ok((stream, _)) = listener.accept().await {
        tokio::spawn(async move {
            let service = service_fn(|_req| async {
                Ok::<_, Infallible>(Response::new(Full::new(Bytes::from_static(
                    br#"{"ok":true}"#,
                ))))
            });
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

/// `n` requests on one keep-alive connection to `addr`; (allocations, bytes) they cost.
async fn drive(addr: std::net::SocketAddr, key: &str, n: u64) -> anyhow::Result<(u64, u64)> {
    let tcp = tokio::net::TcpStream::connect(addr).await?;
    tcp.set_nodelay(true)?;
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tcp)).await?;
    tokio::spawn(conn);
    let request = || {
        Request::get("/browser/x")
            .header("host", "bench")
            .header("x-api-key", key)
            .body(Full::new(Bytes::new()))
    };
    for _ in 0..WARM {
        sender.ready().await?;
        let resp = sender.send_request(request()?).await?;
        anyhow::ensure!(resp.status() == 200, "warm-up answered {}", resp.status());
        resp.into_body().collect().await?;
    }
    let (a0, b0) = counts();
    for _ in 0..n {
        sender.ready().await?;
        let resp = sender.send_request(request()?).await?;
        anyhow::ensure!(resp.status() == 200, "answered {}", resp.status());
        resp.into_body().collect().await?;
    }
    let (a1, b1) = counts();
    Ok((a1 - a0, b1 - b0))
}

async fn gateway(
    upstream: std::net::SocketAddr,
    store: Arc<dyn IdentityStore>,
    metrics: metrics_exporter_prometheus::PrometheusHandle,
    key_usage: bool,
) -> anyhow::Result<std::net::SocketAddr> {
    let cfg = GatewayConfig {
        meetings_url: format!("http://{upstream}").parse()?,
        browser_url: Some(format!("http://{upstream}").parse()?),
        internal_secret: "bench-internal-secret".into(),
        // As the server writes it (LOG_FORMAT=json): on only when a subscriber enables it.
        access_log: vexa_gateway::AccessLog::JsonLines,
        // Limiters on, with budgets no run exhausts: their decisions are part of the request.
        edge: EdgeConfig {
            requests_per_minute: 4_000_000_000,
            ..EdgeConfig::default()
        },
        user_limit: UserLimitConfig {
            rate_per_sec: 1_000_000_000.0,
            burst: 4_000_000_000,
            ..UserLimitConfig::default()
        },
        key_usage,
        ..GatewayConfig::default()
    };
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let gw = Gateway::new(cfg, store, clock, metrics).await?;
    // One serving thread: the allocation count per request does not depend on how many.
    let listeners = vexa_gateway::reuseport_listeners("127.0.0.1:0".parse()?, 1)?;
    let addr = listeners[0].local_addr()?;
    tokio::spawn(gw.serve(listeners, std::future::pending()));
    Ok(addr)
}

/// The store with one user and two keys: `(store, plain key, key with its own rate limit)`.
async fn store_with_key(
    dir: &std::path::Path,
) -> anyhow::Result<(Arc<dyn IdentityStore>, String, String)> {
    let url = format!("sqlite://{}/allocs.db", dir.display());
    let db = vexa_store::Db::connect(&url, &vexa_store::ConnectOptions::default()).await?;
    let store = vexa_store::identity::SqlIdentityStore::new(db);
    let now = SystemClock.now();
    let (user, _) = store
        .create_or_find_user(
            &NewUser {
                email: Email::parse("bench@vexa.local")?,
                name: None,
                image_url: None,
                max_concurrent_bots: 3,
            },
            now,
        )
        .await?;
    let mut keys = Vec::new();
    let limited = vexa_core::KeyLimits {
        rate_limit_rps: Some(1_000_000.0),
        rate_limit_burst: Some(1_000_000),
        max_concurrent_bots: None,
    };
    for limits in [vexa_core::KeyLimits::NONE, limited] {
        let minted = MintedKey::generate(Scope::Browser);
        store
            .insert_key(&NewKey {
                user_id: user.id,
                digest: minted.digest,
                display_prefix: minted.display_prefix.clone(),
                scopes: [Scope::Browser].into_iter().collect(),
                name: None,
                created_at: now,
                expires_at: None,
                limits,
            })
            .await?;
        keys.push(minted.expose_secret().to_owned());
    }
    let limited = keys.pop().unwrap_or_default();
    let plain = keys.pop().unwrap_or_default();
    Ok((Arc::new(store), plain, limited))
}

async fn run(with_log: bool) -> anyhow::Result<serde_json::Value> {
    let dir = std::env::temp_dir().join(format!("vexa-allocs-{}-{with_log}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let (store, key, limited_key) = store_with_key(&dir).await?;
    let up = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let up_addr = up.local_addr()?;
    tokio::spawn(upstream(up));
    let metrics = metrics_exporter_prometheus::PrometheusBuilder::new().install_recorder()?;
    let gw_addr = gateway(up_addr, store.clone(), metrics.clone(), true).await?;
    let off_addr = gateway(up_addr, store, metrics, false).await?;
    let (direct_allocs, direct_bytes) = drive(up_addr, &key, MEASURED).await?;
    let (gw_allocs, gw_bytes) = drive(gw_addr, &key, MEASURED).await?;
    let (limited_allocs, limited_bytes) = drive(gw_addr, &limited_key, MEASURED).await?;
    let (off_allocs, off_bytes) = drive(off_addr, &key, MEASURED).await?;
    let _ = std::fs::remove_dir_all(&dir);
    let per = |x: u64| x as f64 / MEASURED as f64;
    Ok(serde_json::json!({
        "requests": MEASURED,
        "access_log": with_log,
        "direct_allocs_per_request": per(direct_allocs),
        "direct_bytes_per_request": per(direct_bytes),
        "gateway_allocs_per_request": per(gw_allocs.saturating_sub(direct_allocs)),
        "gateway_bytes_per_request": per(gw_bytes.saturating_sub(direct_bytes)),
        "limited_key_allocs_per_request": per(limited_allocs.saturating_sub(direct_allocs)),
        "limited_key_bytes_per_request": per(limited_bytes.saturating_sub(direct_bytes)),
        "gateway_usage_off_allocs_per_request": per(off_allocs.saturating_sub(direct_allocs)),
        "gateway_usage_off_bytes_per_request": per(off_bytes.saturating_sub(direct_bytes)),
    }))
}

fn main() -> anyhow::Result<()> {
    let with_log = std::env::args().any(|a| a == "--access-log")
        || std::env::var("BENCH_ALLOCS_LOG").is_ok_and(|v| v == "1");
    if with_log {
        // The server's subscriber (its own lines to nowhere). It enables the access log, which
        // the gateway then writes itself as batched JSON lines on stdout, as the server does.
        tracing_subscriber::fmt()
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .with_target(false)
            .with_writer(std::io::sink)
            .init();
    }
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let figures = runtime.block_on(run(with_log))?;
    println!("allocs: {figures}");
    if let Ok(raw) = std::env::var("BENCH_RAW") {
        let name = if with_log {
            "allocs-log.json"
        } else {
            "allocs.json"
        };
        std::fs::write(std::path::Path::new(&raw).join(name), figures.to_string())?;
    }
    Ok(())
}
