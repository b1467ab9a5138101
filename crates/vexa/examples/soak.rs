//! Soak driver for `make soak` (scripts/soak.sh): open-loop mixed traffic at a fixed rate
//! against a running stack for a fixed time, RSS of the server sampled every 10 s, and a
//! Markdown report.
//!
//! `cargo run --release --example soak -- GATEWAY_URL ADMIN_URL ADMIN_TOKEN SERVER_PID
//! [RATE_PER_S] [SECONDS] [REPORT_PATH] [MINTS (1|0)]`
//!
//! The mix (per 100 requests): 40 `GET /auth/me`, 20 `GET /meetings`, 10 `GET /bots/status`,
//! 5 `GET /transcripts/by-id/…` (404 from the meetings service is the expected answer), 8 with a
//! malformed key (401), 5 with no key (401), 5 with a tx-only key on a bot route (403), 5 with a
//! revoked key (401), 2 admin mints (201). Every 30 s one key is revoked and a fresh one minted in
//! its place (the revoked key joins the "revoked" pool). A response is an *error* when its status
//! differs from the one expected for its kind, or when the request fails.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Kind {
    AuthMe,
    Meetings,
    BotsStatus,
    Transcript,
    Malformed,
    Missing,
    Forbidden,
    Revoked,
    Mint,
}

impl Kind {
    fn expected(self) -> u16 {
        match self {
            Kind::AuthMe | Kind::Meetings | Kind::BotsStatus => 200,
            Kind::Transcript => 404,
            Kind::Malformed | Kind::Missing | Kind::Revoked => 401,
            Kind::Forbidden => 403,
            Kind::Mint => 201,
        }
    }

    fn pick(n: u64) -> Kind {
        match n % 100 {
            0..=39 => Kind::AuthMe,
            40..=59 => Kind::Meetings,
            60..=69 => Kind::BotsStatus,
            70..=74 => Kind::Transcript,
            75..=82 => Kind::Malformed,
            83..=87 => Kind::Missing,
            88..=92 => Kind::Forbidden,
            93..=97 => Kind::Revoked,
            _ => Kind::Mint,
        }
    }
}

struct Pools {
    live: Vec<(i64, String)>,
    /// Keys taken out of `live` to be revoked: a request that picked one just before may
    /// legitimately get 401.
    retired: std::collections::HashSet<String>,
    tx_only: Vec<String>,
    revoked: Vec<String>,
    users: Vec<i64>,
}

#[derive(Default)]
struct Window {
    latencies_us: Vec<u64>,
    errors: u64,
}

#[derive(Default)]
struct Stats {
    by_kind_status: BTreeMap<(String, String), u64>,
    errors: BTreeMap<String, u64>,
    windows: BTreeMap<u64, Window>,
    total: u64,
}

struct Ctx {
    client: reqwest::Client,
    gateway: String,
    admin: String,
    token: String,
    pools: Mutex<Pools>,
    stats: Mutex<Stats>,
    started: Instant,
    /// Whether 2 % of the traffic mints keys (the database grows all along) or reads instead.
    mints: bool,
}

fn rss_kb(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
}

async fn mint(ctx: &Ctx, user: i64, scopes: &str) -> anyhow::Result<(i64, String)> {
    let resp = ctx
        .client
        .post(format!(
            "{}/admin/users/{user}/tokens?scopes={scopes}",
            ctx.admin
        ))
        .header("X-Admin-API-Key", &ctx.token)
        .send()
        .await?;
    if resp.status().as_u16() != 201 {
        bail!("mint answered {}", resp.status());
    }
    let v: serde_json::Value = resp.json().await?;
    Ok((
        v["id"].as_i64().context("id")?,
        v["token"].as_str().context("token")?.to_owned(),
    ))
}

async fn setup(ctx: &Ctx, users: usize) -> anyhow::Result<()> {
    for u in 0..users {
        let user: serde_json::Value = ctx
            .client
            .post(format!("{}/admin/users", ctx.admin))
            .header("X-Admin-API-Key", &ctx.token)
            .json(&serde_json::json!({"email": format!("soak-{u}@soak.local")}))
            .send()
            .await?
            .error_for_status()?
            .json()
            .await?;
        let id = user["id"].as_i64().context("user id")?;
        let live = mint(ctx, id, "bot,tx").await?;
        let tx = mint(ctx, id, "tx").await?;
        let revoke = mint(ctx, id, "bot").await?;
        revoke_key(ctx, revoke.0).await?;
        let mut p = ctx.pools.lock().map_err(|_| anyhow::anyhow!("lock"))?;
        p.users.push(id);
        p.live.push(live);
        p.tx_only.push(tx.1);
        p.revoked.push(revoke.1);
    }
    Ok(())
}

async fn revoke_key(ctx: &Ctx, id: i64) -> anyhow::Result<()> {
    let resp = ctx
        .client
        .delete(format!("{}/admin/tokens/{id}", ctx.admin))
        .header("X-Admin-API-Key", &ctx.token)
        .send()
        .await?;
    if resp.status().as_u16() != 204 {
        bail!("revoke answered {}", resp.status());
    }
    Ok(())
}

fn record(ctx: &Ctx, kind: Kind, status: Result<u16, String>, sent: Instant) {
    let latency = sent.elapsed();
    let Ok(mut s) = ctx.stats.lock() else { return };
    let window = sent.saturating_duration_since(ctx.started).as_secs() / 10;
    let (label, error) = match &status {
        Ok(code) => (code.to_string(), *code != kind.expected()),
        Err(e) => (format!("transport: {e}"), true),
    };
    s.total += 1;
    *s.by_kind_status
        .entry((format!("{kind:?}"), label.clone()))
        .or_default() += 1;
    let w = s.windows.entry(window).or_default();
    w.latencies_us
        .push(u64::try_from(latency.as_micros()).unwrap_or(u64::MAX));
    if error {
        w.errors += 1;
        *s.errors
            .entry(format!("{kind:?} → {label} (expected {})", kind.expected()))
            .or_default() += 1;
    }
}

async fn one(ctx: Arc<Ctx>, n: u64) {
    let mut kind = Kind::pick(n.wrapping_mul(2_654_435_761) >> 7);
    if kind == Kind::Mint && !ctx.mints {
        kind = Kind::AuthMe;
    }
    let (key, user) = {
        let Ok(p) = ctx.pools.lock() else { return };
        let i = (n as usize) % p.live.len().max(1);
        let key = match kind {
            Kind::Forbidden => p.tx_only.get(i % p.tx_only.len().max(1)).cloned(),
            Kind::Revoked => p
                .revoked
                .get((n as usize) % p.revoked.len().max(1))
                .cloned(),
            Kind::Malformed => Some(format!("vxa_bot_{:036}", n)),
            Kind::Missing | Kind::Mint => None,
            _ => p.live.get(i).map(|(_, k)| k.clone()),
        };
        (key, p.users.get(i).copied().unwrap_or(1))
    };
    let t = Instant::now();
    let result = if kind == Kind::Mint {
        match mint(&ctx, user, "bot").await {
            Ok(_) => Ok(201),
            Err(e) => Err(e.to_string()),
        }
    } else {
        let path = match kind {
            Kind::Meetings => "/meetings".to_owned(),
            Kind::BotsStatus | Kind::Forbidden => "/bots/status".to_owned(),
            Kind::Transcript => format!("/transcripts/by-id/{}", 1_000_000 + n % 1000),
            _ => "/auth/me".to_owned(),
        };
        let mut req = ctx
            .client
            .get(format!("{}{path}", ctx.gateway))
            .timeout(Duration::from_secs(10));
        if let Some(k) = &key {
            req = req.header("X-API-Key", k);
        }
        match req.send().await {
            Ok(resp) => {
                let status = resp.status().as_u16();
                // Read the body so the connection returns to the pool.
                let _ = resp.bytes().await;
                Ok(status)
            }
            Err(e) => Err(e.to_string()),
        }
    };
    // A key retired by the churn while this request was in flight: its 401 is the revocation
    // working, counted as such.
    if matches!(result, Ok(401)) && matches!(kind, Kind::AuthMe | Kind::Meetings | Kind::BotsStatus)
    {
        let retired = key
            .as_ref()
            .is_some_and(|k| ctx.pools.lock().is_ok_and(|p| p.retired.contains(k)));
        if retired {
            kind = Kind::Revoked;
        }
    }
    record(&ctx, kind, result, t);
}

/// Every 30 s: revoke one live key, mint its replacement, and check the revoked key is refused
/// at once through the gateway.
async fn churn(ctx: Arc<Ctx>, until: Instant) {
    let mut round = 0usize;
    let mut tick = tokio::time::interval(Duration::from_secs(30));
    tick.tick().await;
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            () = tokio::time::sleep_until(until.into()) => return,
        }
        let victim = {
            let Ok(p) = ctx.pools.lock() else { return };
            if p.live.is_empty() {
                return;
            }
            let i = round % p.live.len();
            (i, p.live[i].clone(), p.users[i])
        };
        round += 1;
        let (i, (id, key), user) = victim;
        // The replacement goes live before the old key is revoked.
        let Ok(fresh) = mint(&ctx, user, "bot,tx").await else {
            record(
                &ctx,
                Kind::Mint,
                Err("churn mint failed".into()),
                Instant::now(),
            );
            continue;
        };
        if let Ok(mut p) = ctx.pools.lock() {
            p.live[i] = fresh;
            p.retired.insert(key.clone());
        }
        let t = Instant::now();
        let revoked = revoke_key(&ctx, id)
            .await
            .map(|_| 204)
            .map_err(|e| e.to_string());
        record(&ctx, Kind::Mint, revoked.clone().map(|_| 201), t);
        if revoked.is_ok() {
            if let Ok(mut p) = ctx.pools.lock() {
                p.revoked.push(key);
            }
        }
    }
}

fn percentile(sorted: &[u64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let idx = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[idx.min(sorted.len() - 1)] as f64 / 1000.0
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (Some(gateway), Some(admin), Some(token), Some(pid)) =
        (args.first(), args.get(1), args.get(2), args.get(3))
    else {
        bail!("usage: soak GATEWAY_URL ADMIN_URL ADMIN_TOKEN SERVER_PID [RATE] [SECONDS] [REPORT]");
    };
    let pid: u32 = pid.parse().context("SERVER_PID")?;
    let rate: u64 = args.get(4).map(|s| s.parse()).transpose()?.unwrap_or(200);
    let seconds: u64 = args.get(5).map(|s| s.parse()).transpose()?.unwrap_or(600);
    let report = args
        .get(6)
        .cloned()
        .unwrap_or_else(|| "bench/SOAK.md".into());
    let mints = args.get(7).is_none_or(|m| m != "0");
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(256)
        .build()?;
    let ctx = Arc::new(Ctx {
        client,
        gateway: gateway.clone(),
        admin: admin.clone(),
        token: token.clone(),
        pools: Mutex::new(Pools {
            live: Vec::new(),
            retired: Default::default(),
            tx_only: Vec::new(),
            revoked: Vec::new(),
            users: Vec::new(),
        }),
        stats: Mutex::new(Stats::default()),
        started: Instant::now(),
        mints,
    });
    setup(&ctx, 40).await?;
    let rss_before = rss_kb(pid).context("server RSS (is SERVER_PID right?)")?;
    eprintln!("soak: {rate} req/s for {seconds} s; server RSS {rss_before} kB before load");

    let ctx = Arc::new(Ctx {
        started: Instant::now(),
        client: ctx.client.clone(),
        gateway: ctx.gateway.clone(),
        admin: ctx.admin.clone(),
        token: ctx.token.clone(),
        pools: Mutex::new(std::mem::replace(
            &mut *ctx.pools.lock().map_err(|_| anyhow::anyhow!("lock"))?,
            Pools {
                live: Vec::new(),
                retired: Default::default(),
                tx_only: Vec::new(),
                revoked: Vec::new(),
                users: Vec::new(),
            },
        )),
        stats: Mutex::new(Stats::default()),
        mints,
    });
    let until = Instant::now() + Duration::from_secs(seconds);
    let sampler = {
        let ctx = ctx.clone();
        tokio::spawn(async move {
            let mut samples = Vec::new();
            let mut tick = tokio::time::interval(Duration::from_secs(10));
            tick.tick().await;
            loop {
                tick.tick().await;
                let t = ctx.started.elapsed().as_secs();
                samples.push((t, rss_kb(pid).unwrap_or(0)));
                if Instant::now() >= until {
                    return samples;
                }
            }
        })
    };
    let churner = tokio::spawn(churn(ctx.clone(), until));
    let mut tick = tokio::time::interval(Duration::from_micros(1_000_000 / rate.max(1)));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let mut n = 0u64;
    let mut inflight = tokio::task::JoinSet::new();
    while Instant::now() < until {
        tick.tick().await;
        n += 1;
        inflight.spawn(one(ctx.clone(), n));
        while inflight.try_join_next().is_some() {}
    }
    while inflight.join_next().await.is_some() {}
    let _ = churner.await;
    let samples = sampler.await.unwrap_or_default();
    let elapsed = ctx.started.elapsed();

    let stats = ctx.stats.lock().map_err(|_| anyhow::anyhow!("lock"))?;
    let mut md = String::new();
    use std::fmt::Write as _;
    let errors: u64 = stats.errors.values().sum();
    let rss_first = samples.first().map_or(rss_before, |s| s.1);
    let rss_warm = samples.get(1).map_or(rss_first, |s| s.1);
    let rss_end = samples.last().map_or(0, |s| s.1);
    let rss_max = samples.iter().map(|s| s.1).max().unwrap_or(0);
    let growth = |from: u64| (rss_end as f64 - from as f64) / from.max(1) as f64 * 100.0;
    let mut all: Vec<u64> = stats
        .windows
        .values()
        .flat_map(|w| w.latencies_us.iter().copied())
        .collect();
    all.sort_unstable();
    writeln!(md, "# Soak run")?;
    writeln!(md)?;
    writeln!(
        md,
        "`make soak` (scripts/soak.sh → crates/vexa/examples/soak.rs) against `target/release/vexa up` \
         (SQLite, per-user limiter on, edge guard off since all traffic comes from one address)."
    )?;
    writeln!(md)?;
    writeln!(md, "| figure | value |\n|---|---|")?;
    writeln!(md, "| duration | {:.0} s |", elapsed.as_secs_f64())?;
    writeln!(md, "| target rate | {rate} req/s (open loop) |")?;
    writeln!(
        md,
        "| mix | {} |",
        if mints {
            "with 2 % admin mints (the database grows all along)"
        } else {
            "no mints besides the key churn (the database stays the same size)"
        }
    )?;
    writeln!(
        md,
        "| requests | {} ({:.1} req/s achieved) |",
        stats.total,
        stats.total as f64 / elapsed.as_secs_f64()
    )?;
    writeln!(md, "| unexpected answers (errors) | {errors} |")?;
    writeln!(
        md,
        "| latency p50 / p95 / p99 / max (all) | {:.2} / {:.2} / {:.2} / {:.2} ms |",
        percentile(&all, 0.5),
        percentile(&all, 0.95),
        percentile(&all, 0.99),
        percentile(&all, 1.0)
    )?;
    writeln!(md, "| server RSS before load | {rss_before} kB |")?;
    writeln!(md, "| server RSS at 10 s / 20 s (warm) / end / max | {rss_first} / {rss_warm} / {rss_end} / {rss_max} kB |")?;
    writeln!(
        md,
        "| RSS growth end vs 10 s | {:+.1} % |",
        growth(rss_first)
    )?;
    writeln!(
        md,
        "| RSS growth end vs 20 s (after warm-up) | {:+.1} % |",
        growth(rss_warm)
    )?;
    writeln!(md)?;
    writeln!(
        md,
        "## Answers by kind and status\n\n| kind | status | count |\n|---|---|---|"
    )?;
    for ((kind, status), count) in &stats.by_kind_status {
        writeln!(md, "| {kind} | {status} | {count} |")?;
    }
    writeln!(md)?;
    writeln!(md, "Expected: AuthMe/Meetings/BotsStatus 200, Transcript 404 (no such meeting), Malformed/Missing/Revoked 401, Forbidden 403, Mint 201 (the churn's revocations are counted as Mint rows with 201 for 204).")?;
    writeln!(md)?;
    writeln!(md, "## Errors\n")?;
    if stats.errors.is_empty() {
        writeln!(md, "None.")?;
    } else {
        writeln!(md, "| what | count |\n|---|---|")?;
        for (what, count) in &stats.errors {
            writeln!(md, "| {what} | {count} |")?;
        }
    }
    writeln!(md)?;
    writeln!(md, "## Over time (10 s windows)\n\n| t (s) | requests | errors | p50 ms | p95 ms | p99 ms | max ms | RSS kB |\n|---|---|---|---|---|---|---|---|")?;
    for (w, win) in &stats.windows {
        let mut l = win.latencies_us.clone();
        l.sort_unstable();
        let t = (w + 1) * 10;
        let rss = samples
            .iter()
            .find(|(st, _)| *st + 1 >= t)
            .map_or(String::from("—"), |s| s.1.to_string());
        writeln!(
            md,
            "| {} | {} | {} | {:.2} | {:.2} | {:.2} | {:.2} | {rss} |",
            w * 10,
            l.len(),
            win.errors,
            percentile(&l, 0.5),
            percentile(&l, 0.95),
            percentile(&l, 0.99),
            percentile(&l, 1.0)
        )?;
    }
    std::fs::write(&report, &md).with_context(|| format!("writing {report}"))?;
    println!("{md}");
    eprintln!(
        "soak: {} requests, {errors} errors, RSS {rss_warm} → {rss_end} kB ({:+.1} %); report in {report}",
        stats.total,
        growth(rss_warm)
    );
    if errors > 0 {
        std::process::exit(1);
    }
    Ok(())
}
