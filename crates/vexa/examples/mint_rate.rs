//! Measures the admin API's mint rate: `cargo run --release --example mint_rate -- ADMIN_URL
//! ADMIN_TOKEN [TOTAL] [CONCURRENCY]`. Creates one user, mints TOTAL keys with CONCURRENCY
//! requests in flight, and prints one JSON line (rate, latency percentiles). Every mint must
//! answer 201; anything else is counted and reported.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (Some(admin), Some(token)) = (args.first(), args.get(1)) else {
        bail!("usage: mint_rate ADMIN_URL ADMIN_TOKEN [TOTAL] [CONCURRENCY]");
    };
    let total: usize = args.get(2).map(|s| s.parse()).transpose()?.unwrap_or(2000);
    let concurrency: usize = args.get(3).map(|s| s.parse()).transpose()?.unwrap_or(16);
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(concurrency)
        .build()?;
    let user: serde_json::Value = client
        .post(format!("{admin}/admin/users"))
        .header("X-Admin-API-Key", token)
        .json(
            &serde_json::json!({"email": format!("mint-rate-{}@bench.local", std::process::id())}),
        )
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    let id = user["id"].as_i64().context("user id")?;
    let url = Arc::new(format!("{admin}/admin/users/{id}/tokens?scopes=bot,tx"));
    let token = Arc::new(token.clone());

    let started = Instant::now();
    let mut workers = Vec::new();
    for w in 0..concurrency {
        let (client, url, token) = (client.clone(), url.clone(), token.clone());
        let share = total / concurrency + usize::from(w < total % concurrency);
        workers.push(tokio::spawn(async move {
            let mut lat = Vec::with_capacity(share);
            let mut failures = 0usize;
            for _ in 0..share {
                let t = Instant::now();
                let ok = match client
                    .post(url.as_str())
                    .header("X-Admin-API-Key", token.as_str())
                    .send()
                    .await
                {
                    Ok(r) => r.status().as_u16() == 201,
                    Err(_) => false,
                };
                lat.push(t.elapsed());
                failures += usize::from(!ok);
            }
            (lat, failures)
        }));
    }
    let mut lat: Vec<Duration> = Vec::with_capacity(total);
    let mut failures = 0;
    for w in workers {
        let (l, f) = w.await?;
        lat.extend(l);
        failures += f;
    }
    let elapsed = started.elapsed();
    lat.sort();
    let pct = |p: f64| {
        lat.get(((lat.len() as f64 - 1.0) * p).round() as usize)
            .map_or(0.0, |d| d.as_secs_f64() * 1e3)
    };
    println!(
        "{}",
        serde_json::json!({
            "mints": total, "concurrency": concurrency, "failures": failures,
            "seconds": elapsed.as_secs_f64(),
            "mints_per_sec": total as f64 / elapsed.as_secs_f64(),
            "p50_ms": pct(0.50), "p99_ms": pct(0.99),
        })
    );
    if failures > 0 {
        bail!("{failures} mints did not answer 201");
    }
    Ok(())
}
