//! The scale runs: key resolution with 1M keys stored (SQLite and PostgreSQL, cold and warm
//! cache), revocation propagation between two gateway replicas on PostgreSQL, and gateway RSS
//! with 100k distinct keys cached, and `vexa import vexa` of 100k keys (`import_run.rs`). Each runs
//! the real `vexa` binary against a real database.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context};
use serde::Serialize;
use serde_json::json;
use vexa_bench::seed::seed_keys;
use vexa_bench::stats::{median, summarize, Summary};
use vexa_core::{ApiKey, IdentityStore};
use vexa_store::identity::SqlIdentityStore;
use vexa_store::{ConnectOptions, Db};

use crate::stack::{self, StackEnv};

pub struct ScaleArgs {
    pub vexa: PathBuf,
    pub work: PathBuf,
    pub out: PathBuf,
    pub keys: usize,
    pub samples: usize,
    pub rss_keys: usize,
    pub revocations: usize,
    /// Keys in the original Vexa database of the import run.
    pub import_keys: usize,
    pub pg_url: String,
    pub only: Vec<String>,
}

const KEYS_PER_USER: usize = 1000;
const RESOLVE_SQL: &str =
    "SELECT k.id, k.user_id, k.scopes, k.expires_at, u.email, u.max_concurrent_bots \
     FROM api_keys k JOIN users u ON u.id = k.user_id \
     WHERE k.digest = $1 AND k.revoked_at IS NULL";

#[derive(Serialize)]
struct Resolution {
    backend: &'static str,
    keys_stored: usize,
    seed_seconds: f64,
    /// `SqlIdentityStore::resolve_key` called in-process (one indexed lookup per call).
    store_lookup: Summary,
    /// First `GET /auth/me` with each sample key on a freshly started gateway: a cache miss.
    cold_http: Summary,
    /// The same keys again: cache hits.
    warm_http: Summary,
    query_plan: String,
}

pub async fn run(mut args: ScaleArgs) -> anyhow::Result<()> {
    std::fs::create_dir_all(&args.work)?;
    // Children run in their own data dirs: every path they get must be absolute.
    args.vexa = std::fs::canonicalize(&args.vexa)
        .with_context(|| format!("{} not found", args.vexa.display()))?;
    args.work = std::fs::canonicalize(&args.work)?;
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(64)
        .build()?;
    let wants = |what: &str| args.only.is_empty() || args.only.iter().any(|o| o == what);
    let mut out = serde_json::Map::new();
    out.insert("keys".into(), json!(args.keys));
    out.insert("samples".into(), json!(args.samples));

    let mut resolution = Vec::new();
    for backend in ["sqlite", "postgres"] {
        if !wants(backend) {
            continue;
        }
        // A small store (the baseline) and the big one, measured side by side.
        eprintln!(
            "[scale] resolution: {backend}, {} and {} keys stored, side by side",
            args.samples, args.keys
        );
        for r in resolution_pair(&args, &client, backend).await? {
            eprintln!(
                "[scale]   store p50 {:.0}µs · cold p50 {:.0}µs p99 {:.0}µs · warm p50 {:.0}µs p99 {:.0}µs",
                r.store_lookup.p50_us, r.cold_http.p50_us, r.cold_http.p99_us, r.warm_http.p50_us, r.warm_http.p99_us
            );
            resolution.push(r);
        }
    }
    out.insert("resolution".into(), serde_json::to_value(&resolution)?);

    if wants("revocation") {
        eprintln!(
            "[scale] revocation propagation: 2 replicas on PostgreSQL, {} revocations",
            args.revocations
        );
        out.insert("revocation".into(), revocation_run(&args, &client).await?);
    }
    if wants("rss") {
        let mut rss = Vec::new();
        for backend in ["postgres", "sqlite"] {
            eprintln!(
                "[scale] gateway RSS with {} distinct keys cached ({backend})",
                args.rss_keys
            );
            let r = rss_run(&args, &client, backend).await?;
            eprintln!(
                "[scale]   {:.0} bytes per cached key, RSS {} KiB",
                r["bytes_per_cached_key"].as_f64().unwrap_or(f64::NAN),
                r["rss_after_fill_kib"]
            );
            rss.push(r);
        }
        out.insert("rss".into(), json!(rss));
    }
    if wants("import") {
        eprintln!(
            "[scale] vexa import vexa: {} keys from an original's database",
            args.import_keys
        );
        out.insert("import".into(), crate::import_run::run(&args).await?);
    }
    if let Some(parent) = args.out.parent() {
        std::fs::create_dir_all(parent)?;
    }
    std::fs::write(&args.out, serde_json::to_string_pretty(&out)?)?;
    eprintln!("[scale] wrote {}", args.out.display());
    Ok(())
}

pub async fn database(args: &ScaleArgs, backend: &str, name: &str) -> anyhow::Result<String> {
    match backend {
        "sqlite" => {
            let dir = args.work.join(name);
            let _ = std::fs::remove_dir_all(&dir);
            std::fs::create_dir_all(&dir)?;
            Ok(format!(
                "sqlite://{}",
                absolute(&dir)?.join("vexa.db").display()
            ))
        }
        _ => stack::fresh_pg_database(&args.pg_url, name).await,
    }
}

fn absolute(p: &Path) -> anyhow::Result<PathBuf> {
    Ok(if p.is_absolute() {
        p.to_owned()
    } else {
        std::env::current_dir()?.join(p)
    })
}

async fn connect(url: &str) -> anyhow::Result<Db> {
    Db::connect(url, &ConnectOptions::default())
        .await
        .map_err(|e| {
            anyhow::anyhow!(
                "connect {}: {e}",
                if url.starts_with("sqlite") {
                    url
                } else {
                    "PostgreSQL"
                }
            )
        })
}

async fn query_plan(db: &Db, digest_hex: &str) -> anyhow::Result<String> {
    Ok(match db {
        Db::Sqlite(p) => {
            let rows: Vec<(i64, i64, i64, String)> =
                sqlx::query_as(&format!("EXPLAIN QUERY PLAN {RESOLVE_SQL}"))
                    .bind(digest_hex)
                    .fetch_all(p)
                    .await?;
            rows.into_iter().map(|r| r.3).collect::<Vec<_>>().join("; ")
        }
        Db::Postgres(p) => {
            let rows: Vec<(String,)> = sqlx::query_as(&format!("EXPLAIN {RESOLVE_SQL}"))
                .bind(digest_hex)
                .fetch_all(p)
                .await?;
            rows.into_iter()
                .map(|r| r.0.trim().to_owned())
                .collect::<Vec<_>>()
                .join("; ")
        }
    })
}

async fn timed_get(client: &reqwest::Client, url: &str, key: &str) -> anyhow::Result<(u16, f64)> {
    let t = Instant::now();
    let resp = client.get(url).header("X-API-Key", key).send().await?;
    let status = resp.status().as_u16();
    let _ = resp.bytes().await?;
    Ok((status, t.elapsed().as_secs_f64() * 1e6))
}

/// One seeded store with a gateway in front of it.
struct Prepared {
    name: String,
    url: String,
    keys: usize,
    seed_seconds: f64,
    sample: Vec<String>,
    digests: Vec<vexa_core::KeyDigest>,
    db: Db,
    plan: String,
}

async fn prepare(args: &ScaleArgs, backend: &'static str, keys: usize) -> anyhow::Result<Prepared> {
    let name = format!("vexa_bench_{}k", keys / 1000);
    let url = database(args, backend, &name).await?;
    let db = connect(&url).await?;
    let t = Instant::now();
    let sample = seed_keys(&db, keys, KEYS_PER_USER, args.samples.min(keys), 42).await?;
    let seed_seconds = t.elapsed().as_secs_f64();
    ensure!(!sample.is_empty(), "no sample keys");
    let digests: Vec<_> = sample
        .iter()
        .map(|k| ApiKey::parse(k).map(|a| a.digest))
        .collect::<Result<_, _>>()
        .map_err(|e| anyhow::anyhow!("seeded key does not parse: {e}"))?;
    let plan = query_plan(&db, &digests[0].to_hex()).await?;
    Ok(Prepared {
        name,
        url,
        keys,
        seed_seconds,
        sample,
        digests,
        db,
        plan,
    })
}

/// Resolution with a small and a large store, measured side by side: every sample is looked up
/// in the small one and then in the large one, so machine noise hits both alike.
async fn resolution_pair(
    args: &ScaleArgs,
    client: &reqwest::Client,
    backend: &'static str,
) -> anyhow::Result<Vec<Resolution>> {
    let small = prepare(args, backend, args.samples).await?;
    let large = prepare(args, backend, args.keys).await?;
    let n = small.sample.len().min(large.sample.len());
    let both = [&small, &large];
    let lookups = store_lookups(both, n).await?;
    // Fresh gateways: empty caches.
    let mut gateways = Vec::new();
    let mut urls = Vec::new();
    for p in both {
        let (gateway, me) = fresh_gateway(args, client, p, backend).await?;
        gateways.push(gateway);
        urls.push(me);
    }
    let (cold, warm) = http_passes(client, both, &urls, n).await?;
    drop(gateways);
    let mut out = Vec::new();
    for (j, p) in both.into_iter().enumerate() {
        p.db.close().await;
        if backend == "postgres" {
            stack::drop_pg_database(&args.pg_url, &p.name).await;
        }
        out.push(Resolution {
            backend,
            keys_stored: p.keys,
            seed_seconds: p.seed_seconds,
            store_lookup: summarize(&lookups[j]),
            cold_http: summarize(&cold[j]),
            warm_http: summarize(&warm[j]),
            query_plan: p.plan.clone(),
        });
    }
    Ok(out)
}

/// Microseconds per sample, one series per store of a [`resolution_pair`].
type PairTimes = [Vec<f64>; 2];

/// In-process `resolve_key` of the first `n` samples, alternating between the two stores.
async fn store_lookups(both: [&Prepared; 2], n: usize) -> anyhow::Result<PairTimes> {
    let stores: Vec<SqlIdentityStore> = both
        .iter()
        .map(|p| SqlIdentityStore::new(p.db.clone()))
        .collect();
    for (store, p) in stores.iter().zip(both) {
        for d in p.digests.iter().take(50) {
            store.resolve_key(d).await?; // warm the connection pool
        }
    }
    let mut lookups = [Vec::with_capacity(n), Vec::with_capacity(n)];
    for i in (0..n).rev() {
        for (j, (store, p)) in stores.iter().zip(both).enumerate() {
            let t = Instant::now();
            let found = store.resolve_key(&p.digests[i]).await?;
            lookups[j].push(t.elapsed().as_secs_f64() * 1e6);
            ensure!(found.is_some(), "a seeded key did not resolve");
        }
    }
    Ok(lookups)
}

/// A `vexa gateway` (empty cache) on `p`'s store, and its `/auth/me` URL, warmed up with an
/// invalid key.
async fn fresh_gateway(
    args: &ScaleArgs,
    client: &reqwest::Client,
    p: &Prepared,
    backend: &str,
) -> anyhow::Result<(stack::Proc, String)> {
    let dir = format!("{}-{backend}-gw", p.name);
    let (gateway, me) = spawn_gateway(args, client, &dir, &p.url).await?;
    // Warm the HTTP connection (and the gateway's code paths) with an invalid key.
    for _ in 0..200 {
        timed_get(client, &me, "vxa_bot_not-a-key").await?;
    }
    Ok((gateway, me))
}

/// A `vexa gateway` on the database at `url`, working in `<work>/<dir>`, once it answers
/// `/health`; with its `/auth/me` URL.
async fn spawn_gateway(
    args: &ScaleArgs,
    client: &reqwest::Client,
    dir: &str,
    url: &str,
) -> anyhow::Result<(stack::Proc, String)> {
    let env = StackEnv::new(
        &args.work.join(dir),
        url,
        &stack::random_hex(24),
        &stack::random_hex(24),
    )?;
    let gateway = env.spawn(&args.vexa, "gateway")?;
    wait_healthy(client, &[env.gateway()]).await?;
    Ok((gateway, format!("{}/auth/me", env.gateway())))
}

/// `GET /auth/me` with every sample, alternating between the two gateways: a cold pass (cache
/// misses), then a warm one (hits).
async fn http_passes(
    client: &reqwest::Client,
    both: [&Prepared; 2],
    urls: &[String],
    n: usize,
) -> anyhow::Result<(PairTimes, PairTimes)> {
    let mut cold = [Vec::with_capacity(n), Vec::with_capacity(n)];
    let mut warm = [Vec::with_capacity(n), Vec::with_capacity(n)];
    for (pass, out) in [("cold", &mut cold), ("warm", &mut warm)] {
        for i in 0..n {
            for (j, p) in both.iter().enumerate() {
                let (status, us) = timed_get(client, &urls[j], &p.sample[i]).await?;
                ensure!(status == 200, "{pass} /auth/me answered {status}");
                out[j].push(us);
            }
        }
    }
    Ok((cold, warm))
}

#[derive(serde::Deserialize)]
struct Minted {
    id: i64,
    token: String,
}

/// Revocation propagation between two replicas on one PostgreSQL database.
async fn revocation_run(
    args: &ScaleArgs,
    client: &reqwest::Client,
) -> anyhow::Result<serde_json::Value> {
    let name = "vexa_bench_revoke";
    let url = stack::fresh_pg_database(&args.pg_url, name).await?;
    let token = stack::random_hex(24);
    let secret = stack::random_hex(24);
    // Replica A: every role in one process (the admin API that revokes lives here).
    let a = StackEnv::new(&args.work.join("revoke-a"), &url, &token, &secret)?;
    let _pa = a.spawn(&args.vexa, "up")?;
    wait_healthy(client, &[a.admin(), a.gateway()]).await?;
    // Replica B: a second gateway process on the same database.
    let b = StackEnv::new(&args.work.join("revoke-b"), &url, &token, &secret)?;
    let _pb = b.spawn(&args.vexa, "gateway")?;
    wait_healthy(client, &[b.gateway()]).await?;

    let revoker = Revoker {
        client,
        admin: a.admin(),
        token: &token,
        a_me: format!("{}/auth/me", a.gateway()),
        b_me: format!("{}/auth/me", b.gateway()),
    };
    let user_id = revoker.create_user().await?;
    let mut samples = Vec::new();
    for i in 0..args.revocations {
        samples.push(revoker.revoke_one(user_id, i).await?);
    }
    stack::drop_pg_database(&args.pg_url, name).await;
    Ok(revocation_json(&samples))
}

/// Waits for `/health` of each base URL in turn.
async fn wait_healthy(client: &reqwest::Client, bases: &[String]) -> anyhow::Result<()> {
    for base in bases {
        stack::wait_ok(client, &format!("{base}/health"), Duration::from_secs(30)).await?;
    }
    Ok(())
}

/// Revokes keys through replica A's admin API and watches both replicas' `/auth/me`.
struct Revoker<'a> {
    client: &'a reqwest::Client,
    admin: String,
    token: &'a str,
    a_me: String,
    b_me: String,
}

/// What one revocation measured.
struct RevocationSample {
    /// From sending the `DELETE` to replica B's first 401.
    from_request_ms: f64,
    /// From the `DELETE`'s 204 to replica B's first 401.
    from_response_ms: f64,
    /// Whether replica A answered 401 to the first request after the 204.
    revoking_replica_401: bool,
    /// How many times replica B was asked.
    polls: usize,
}

impl Revoker<'_> {
    async fn create_user(&self) -> anyhow::Result<i64> {
        let user: serde_json::Value = self
            .client
            .post(format!("{}/admin/users", self.admin))
            .header("X-Admin-API-Key", self.token)
            .json(&json!({"email": "revocation@vexa.local"}))
            .send()
            .await?
            .error_for_status()?
            .json()
            .await?;
        user["id"].as_i64().context("user id")
    }

    async fn mint(&self, user_id: i64) -> anyhow::Result<Minted> {
        Ok(self
            .client
            .post(format!(
                "{}/admin/users/{user_id}/tokens?scopes=bot",
                self.admin
            ))
            .header("X-Admin-API-Key", self.token)
            .send()
            .await?
            .error_for_status()?
            .json()
            .await?)
    }

    /// Mints key `i`, has both replicas cache it, revokes it and times replica B's first 401.
    async fn revoke_one(&self, user_id: i64, i: usize) -> anyhow::Result<RevocationSample> {
        let minted = self.mint(user_id).await?;
        // Both replicas have it cached.
        for me in [&self.a_me, &self.b_me] {
            for _ in 0..3 {
                let (status, _) = timed_get(self.client, me, &minted.token).await?;
                ensure!(
                    status == 200,
                    "key {i} not valid before revocation: {status}"
                );
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
        let t0 = Instant::now();
        let resp = self
            .client
            .delete(format!("{}/admin/tokens/{}", self.admin, minted.id))
            .header("X-Admin-API-Key", self.token)
            .send()
            .await?;
        ensure!(
            resp.status().as_u16() == 204,
            "revoke answered {}",
            resp.status()
        );
        let t1 = Instant::now();
        let (a_status, _) = timed_get(self.client, &self.a_me, &minted.token).await?;
        let polls = self.poll_until_refused(&minted.token, t0).await?;
        let done = Instant::now();
        Ok(RevocationSample {
            from_request_ms: (done - t0).as_secs_f64() * 1e3,
            from_response_ms: (done - t1).as_secs_f64() * 1e3,
            revoking_replica_401: a_status == 401,
            polls,
        })
    }

    /// Asks replica B every millisecond until it answers 401; how many requests that took.
    async fn poll_until_refused(&self, key: &str, revoked_at: Instant) -> anyhow::Result<usize> {
        let mut n = 0usize;
        loop {
            let (status, _) = timed_get(self.client, &self.b_me, key).await?;
            n += 1;
            if status == 401 {
                return Ok(n);
            }
            ensure!(status == 200, "replica B answered {status} while polling");
            if revoked_at.elapsed() > Duration::from_secs(5) {
                bail!("replica B still accepts a key revoked 5 s ago");
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    }
}

fn revocation_json(samples: &[RevocationSample]) -> serde_json::Value {
    let from_request: Vec<f64> = samples.iter().map(|s| s.from_request_ms).collect();
    let from_response: Vec<f64> = samples.iter().map(|s| s.from_response_ms).collect();
    let a_immediate = samples.iter().filter(|s| s.revoking_replica_401).count();
    let polls: Vec<usize> = samples.iter().map(|s| s.polls).collect();
    let max = |v: &[f64]| v.iter().copied().fold(f64::NAN, f64::max);
    json!({
        "backend": "postgres",
        "replicas": 2,
        "n": from_request.len(),
        "poll_interval_ms": 1,
        "from_revoke_request_ms": {"median": median(&from_request), "max": max(&from_request), "all": from_request},
        "from_revoke_response_ms": {"median": median(&from_response), "max": max(&from_response), "all": from_response},
        "revoking_replica_401_on_first_request": a_immediate,
        "polls": polls,
    })
}

async fn rss_run(
    args: &ScaleArgs,
    client: &reqwest::Client,
    backend: &'static str,
) -> anyhow::Result<serde_json::Value> {
    let url = database(args, backend, "vexa_bench_rss").await?;
    let db = connect(&url).await?;
    let keys = seed_keys(&db, args.rss_keys, KEYS_PER_USER, args.rss_keys, 7).await?;
    db.close().await;
    let (gw, me) = spawn_gateway(args, client, &format!("rss-{backend}-gw"), &url).await?;
    let (idle_kib, _) = stack::rss_kib(gw.pid())?;
    // Warm the runtime, connections and buffers with one key, so the difference is the cache.
    let first = keys.first().context("no keys")?.clone();
    drive(client, &me, &vec![first; 5000], 16).await?;
    let (base_kib, _) = stack::rss_kib(gw.pid())?;
    let t = Instant::now();
    let ok = drive(client, &me, &keys, 16).await?;
    let fill_s = t.elapsed().as_secs_f64();
    ensure!(
        ok == keys.len(),
        "only {ok} of {} keys resolved",
        keys.len()
    );
    tokio::time::sleep(Duration::from_millis(1500)).await; // let the last_used flush run
    let (after_kib, hwm_kib) = stack::rss_kib(gw.pid())?;
    // Timed warm pass over a spread sample: all hits now.
    let mut warm = Vec::new();
    for k in keys.iter().step_by((keys.len() / 2000).max(1)) {
        let (status, us) = timed_get(client, &me, k).await?;
        ensure!(status == 200, "warm /auth/me answered {status}");
        warm.push(us);
    }
    let (final_kib, final_hwm) = stack::rss_kib(gw.pid())?;
    drop(gw);
    if backend == "postgres" {
        stack::drop_pg_database(&args.pg_url, "vexa_bench_rss").await;
    }
    let per_key = (after_kib.saturating_sub(base_kib) as f64 * 1024.0) / keys.len() as f64;
    Ok(json!({
        "backend": backend,
        "keys_cached": keys.len(),
        "rss_idle_kib": idle_kib,
        "rss_before_fill_kib": base_kib,
        "rss_after_fill_kib": after_kib,
        "hwm_after_fill_kib": hwm_kib,
        "rss_final_kib": final_kib,
        "hwm_final_kib": final_hwm,
        "bytes_per_cached_key": per_key,
        "fill_seconds": fill_s,
        "fill_requests_per_second": keys.len() as f64 / fill_s,
        "warm_http": summarize(&warm),
    }))
}

/// Sends one `GET` per key with `concurrency` workers; the number of 200s.
async fn drive(
    client: &reqwest::Client,
    url: &str,
    keys: &[String],
    concurrency: usize,
) -> anyhow::Result<usize> {
    let keys: Arc<Vec<String>> = Arc::new(keys.to_vec());
    let next = Arc::new(AtomicUsize::new(0));
    let ok = Arc::new(AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for _ in 0..concurrency {
        let (keys, next, ok, client, url) = (
            keys.clone(),
            next.clone(),
            ok.clone(),
            client.clone(),
            url.to_owned(),
        );
        tasks.push(tokio::spawn(async move {
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(k) = keys.get(i) else { break };
                if let Ok(r) = client.get(&url).header("X-API-Key", k).send().await {
                    if r.status().as_u16() == 200 {
                        ok.fetch_add(1, Ordering::Relaxed);
                    }
                    let _ = r.bytes().await;
                }
            }
        }));
    }
    for t in tasks {
        t.await?;
    }
    Ok(ok.load(Ordering::Relaxed))
}
