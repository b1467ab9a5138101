//! Turns one run's raw results into `bench/REPORT.md` and `bench/results.json`.
//!
//! Inputs (all under `--raw`, written by scripts/bench.sh and `vexa-bench scale`):
//! - `meta.json`: machine, tool versions, load parameters, exact commands, variants.
//! - `load/<v>-r<round>.wrk.json`: one wrk run (fixed concurrency), from bench/wrk-report.lua.
//! - `load/<v>-r<round>.oha.json`: one oha run at a fixed request rate (`oha --output-format json`).
//! - `status.json`: the status each variant answers (checked before loading it).
//! - `scale.json`: the scale runs, when they ran.
//!
//! and criterion's own estimates under `--criterion` (target/criterion).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use anyhow::Context;
use serde_json::{json, Value};
use vexa_bench::stats::median;

const VARIANTS: [&str; 7] = ["a", "b", "c", "d", "e", "f", "g"];

fn read_json(path: &Path) -> Option<Value> {
    let text = std::fs::read_to_string(path).ok()?;
    serde_json::from_str(&text).ok()
}

fn f(v: &Value, path: &[&str]) -> Option<f64> {
    let mut cur = v;
    for p in path {
        cur = cur.get(*p)?;
    }
    cur.as_f64()
}

/// Per-variant figures, each the median over rounds.
#[derive(Default, Debug)]
struct VariantFigures {
    rounds: usize,
    rps: Vec<f64>,
    p50_us: Vec<f64>,
    p99_us: Vec<f64>,
    non2xx: Vec<f64>,
    socket_errors: Vec<f64>,
    rate_rps: Vec<f64>,
    rate_p50_us: Vec<f64>,
    rate_p99_us: Vec<f64>,
    rate_max_us: Vec<f64>,
    rate_codes: BTreeMap<String, f64>,
}

impl VariantFigures {
    fn summary(&self) -> Value {
        json!({
            "rounds": self.rounds,
            "throughput_rps": {"median": median(&self.rps), "rounds": self.rps},
            "latency_at_concurrency_us": {"p50": median(&self.p50_us), "p99": median(&self.p99_us)},
            "non_2xx_per_round": median(&self.non2xx),
            "socket_errors_per_round": median(&self.socket_errors),
            "fixed_rate": {
                "achieved_rps": median(&self.rate_rps),
                "p50_us": median(&self.rate_p50_us),
                "p99_us": median(&self.rate_p99_us),
                "max_us": median(&self.rate_max_us),
                "p99_us_rounds": self.rate_p99_us,
                "status_codes_total": self.rate_codes,
            },
        })
    }
}

fn load_figures(raw: &Path) -> BTreeMap<&'static str, VariantFigures> {
    let mut out = BTreeMap::new();
    for v in VARIANTS {
        let mut fig = VariantFigures::default();
        for round in 1..=100 {
            let wrk = read_json(&raw.join(format!("load/{v}-r{round}.wrk.json")));
            let oha = read_json(&raw.join(format!("load/{v}-r{round}.oha.json")));
            if wrk.is_none() && oha.is_none() {
                break;
            }
            fig.rounds = round;
            // Kept aligned by round (NaN when missing) so per-round ratios pair the right runs.
            let round_rps = wrk.as_ref().and_then(|w| {
                let (n, d) = (f(w, &["requests"])?, f(w, &["duration_us"])?);
                (d > 0.0).then(|| n / (d / 1e6))
            });
            fig.rps.push(round_rps.unwrap_or(f64::NAN));
            if let Some(w) = wrk {
                fig.p50_us.extend(f(&w, &["latency_us", "p50"]));
                fig.p99_us.extend(f(&w, &["latency_us", "p99"]));
                fig.non2xx.extend(f(&w, &["errors", "status"]));
                let sock: f64 = ["connect", "read", "write", "timeout"]
                    .iter()
                    .filter_map(|k| f(&w, &["errors", k]))
                    .sum();
                fig.socket_errors.push(sock);
            }
            if let Some(o) = oha {
                fig.rate_rps.extend(f(&o, &["summary", "requestsPerSec"]));
                fig.rate_p50_us
                    .extend(f(&o, &["latencyPercentiles", "p50"]).map(|s| s * 1e6));
                fig.rate_p99_us
                    .extend(f(&o, &["latencyPercentiles", "p99"]).map(|s| s * 1e6));
                fig.rate_max_us
                    .extend(f(&o, &["summary", "slowest"]).map(|s| s * 1e6));
                if let Some(codes) = o.get("statusCodeDistribution").and_then(Value::as_object) {
                    for (code, n) in codes {
                        *fig.rate_codes.entry(code.clone()).or_default() +=
                            n.as_f64().unwrap_or(0.0);
                    }
                }
            }
        }
        out.insert(v, fig);
    }
    out
}

/// Criterion's estimates: full id → (median ns, mean ns).
fn criterion_figures(dir: &Path) -> BTreeMap<String, (f64, f64)> {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_owned()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                if p.file_name().is_some_and(|n| n == "new") {
                    let bench = read_json(&p.join("benchmark.json"));
                    let est = read_json(&p.join("estimates.json"));
                    if let (Some(b), Some(est)) = (bench, est) {
                        if let (Some(id), Some(med), Some(mean)) = (
                            b.get("full_id").and_then(Value::as_str),
                            f(&est, &["median", "point_estimate"]),
                            f(&est, &["mean", "point_estimate"]),
                        ) {
                            out.insert(id.to_owned(), (med, mean));
                        }
                    }
                } else if p.file_name().is_some_and(|n| n != "report") {
                    stack.push(p);
                }
            }
        }
    }
    out
}

fn fmt_ns(ns: f64) -> String {
    if ns < 1000.0 {
        format!("{ns:.1} ns")
    } else if ns < 1e6 {
        format!("{:.2} µs", ns / 1e3)
    } else {
        format!("{:.2} ms", ns / 1e6)
    }
}

fn fmt_us(us: f64) -> String {
    if !us.is_finite() {
        "–".into()
    } else if us < 1000.0 {
        format!("{us:.0} µs")
    } else {
        format!("{:.2} ms", us / 1e3)
    }
}

fn num(v: f64) -> String {
    if v.is_finite() {
        format!("{v:.0}")
    } else {
        "–".into()
    }
}

struct Goal {
    name: &'static str,
    target: &'static str,
    measured: String,
    met: Option<bool>,
}

fn verdict(g: &Goal) -> &'static str {
    match g.met {
        Some(true) => "**met**",
        Some(false) => "**not met**",
        None => "not measured in this run",
    }
}

pub fn write(raw: &Path, criterion: &Path, out_dir: &Path) -> anyhow::Result<()> {
    let meta = read_json(&raw.join("meta.json")).unwrap_or(Value::Null);
    let status = read_json(&raw.join("status.json")).unwrap_or(Value::Null);
    let scale = read_json(&raw.join("scale.json"));
    let load = load_figures(raw);
    let micro = criterion_figures(criterion);
    let have_load = load.values().any(|v| !v.rps.is_empty());

    let med = |v: &str, pick: fn(&VariantFigures) -> &Vec<f64>| {
        load.get(v).map_or(f64::NAN, |x| median(pick(x)))
    };
    let rps = |v: &str| med(v, |x| &x.rps);
    let rate_p99 = |v: &str| med(v, |x| &x.rate_p99_us);
    let rate_p50 = |v: &str| med(v, |x| &x.rate_p50_us);
    // Ratio of two variants: the median of per-round ratios (each pair ran seconds apart, so
    // machine noise that hits a whole round cancels out).
    let round_ratio = |x: &str, y: &str| -> f64 {
        match (load.get(x), load.get(y)) {
            (Some(a), Some(b)) => median(
                &a.rps
                    .iter()
                    .zip(&b.rps)
                    .map(|(p, q)| p / q)
                    .collect::<Vec<_>>(),
            ),
            _ => f64::NAN,
        }
    };
    let per_round = |x: &str, y: &str| -> String {
        match (load.get(x), load.get(y)) {
            (Some(a), Some(b)) => a
                .rps
                .iter()
                .zip(&b.rps)
                .map(|(p, q)| format!("{:.2}", p / q))
                .collect::<Vec<_>>()
                .join(", "),
            _ => String::new(),
        }
    };
    let ratio_c_b = round_ratio("c", "b");
    let ratio_c_a = round_ratio("c", "a");
    let added_p99_vs_direct = rate_p99("c") - rate_p99("a");
    let added_p99_vs_nginx = rate_p99("c") - rate_p99("b");
    let added_p50_vs_direct = rate_p50("c") - rate_p50("a");

    let hit_1m = micro
        .get("key_cache/hit (1000000 keys cached)")
        .map(|x| x.0);
    let hit_1 = micro.get("key_cache/hit (1 keys cached)").map(|x| x.0);
    let bad_checksum = micro
        .get("key/parse_bad_checksum (rejected before digest)")
        .map(|x| x.0);

    let mut goals = Vec::new();
    goals.push(Goal {
        name: "Authenticated forwarding throughput vs nginx",
        target: "(c) ≥ 0.9 × (b), same run",
        measured: if have_load {
            format!(
                "{:.2} × nginx (median of per-round ratios: {}; median req/s {} vs {})",
                ratio_c_b,
                per_round("c", "b"),
                num(rps("c")),
                num(rps("b"))
            )
        } else {
            "–".into()
        },
        met: have_load.then_some(ratio_c_b >= 0.9),
    });
    goals.push(Goal {
        name: "p99 added latency at a moderate fixed rate",
        target: "< 1 ms (gateway (c) p99 − direct (a) p99)",
        measured: if have_load {
            format!(
                "{} added at p99 ({} vs {}); {} added at p50; vs nginx: {} at p99",
                fmt_us(added_p99_vs_direct),
                fmt_us(rate_p99("c")),
                fmt_us(rate_p99("a")),
                fmt_us(added_p50_vs_direct),
                fmt_us(added_p99_vs_nginx)
            )
        } else {
            "–".into()
        },
        met: have_load.then_some(added_p99_vs_direct < 1000.0),
    });
    goals.push(Goal {
        name: "Cache-hit resolution",
        target: "< 1 µs",
        measured: match (hit_1, hit_1m) {
            (Some(a), Some(b)) => format!(
                "{} (1 key cached), {} (1M keys cached), criterion median",
                fmt_ns(a),
                fmt_ns(b)
            ),
            _ => "–".into(),
        },
        met: hit_1m.map(|ns| ns < 1000.0 && hit_1.is_some_and(|a| a < 1000.0)),
    });
    goals.push(Goal {
        name: "Invalid-key rejection never touches the store",
        target: "malformed / bad-checksum keys rejected before cache and store",
        measured: format!(
            "parse rejects a bad checksum in {}; (d) runs at {} req/s ({:.2} × nginx) all 401; \
             asserted by vexa-gateway test gateway_http.rs (\"malformed keys never reach the store\")",
            bad_checksum.map_or("–".into(), fmt_ns),
            num(rps("d")),
            round_ratio("d", "b")
        ),
        met: bad_checksum.map(|_| true),
    });
    let revocation = scale.as_ref().and_then(|s| s.get("revocation")).cloned();
    let rev_med = revocation
        .as_ref()
        .and_then(|r| f(r, &["from_revoke_request_ms", "median"]));
    let rev_max = revocation
        .as_ref()
        .and_then(|r| f(r, &["from_revoke_request_ms", "max"]));
    goals.push(Goal {
        name: "Revocation on another replica (PostgreSQL)",
        target: "≤ 1 s worst case, 100 ms median",
        measured: match (rev_med, rev_max) {
            (Some(m), Some(x)) => format!(
                "median {m:.1} ms, max {x:.1} ms over {} revocations (from the DELETE request to the first 401 on the other replica)",
                revocation.as_ref().and_then(|r| r.get("n")).and_then(Value::as_u64).unwrap_or(0)
            ),
            _ => "–".into(),
        },
        met: rev_med.zip(rev_max).map(|(m, x)| m <= 100.0 && x <= 1000.0),
    });
    let resolution: Vec<Value> = scale
        .as_ref()
        .and_then(|s| s.get("resolution"))
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let mut warm_notes = Vec::new();
    let mut warm_ok = None;
    let mut plan_notes = Vec::new();
    let mut plan_ok = None;
    for backend in ["sqlite", "postgres"] {
        let rows: Vec<&Value> = resolution
            .iter()
            .filter(|r| r["backend"] == backend)
            .collect();
        let small = rows
            .iter()
            .min_by_key(|r| r["keys_stored"].as_u64().unwrap_or(0));
        let big = rows
            .iter()
            .max_by_key(|r| r["keys_stored"].as_u64().unwrap_or(0));
        if let (Some(s), Some(b)) = (small, big) {
            let (ws, wb) = (
                f(s, &["warm_http", "p50_us"]).unwrap_or(f64::NAN),
                f(b, &["warm_http", "p50_us"]).unwrap_or(f64::NAN),
            );
            let ratio = wb / ws;
            warm_notes.push(format!(
                "{backend}: warm p50 {} with {} keys vs {} with {} keys ({ratio:.2}×)",
                fmt_us(wb),
                b["keys_stored"],
                fmt_us(ws),
                s["keys_stored"]
            ));
            // "Unchanged": within 20 % or 20 µs (loopback HTTP noise on a shared 2-core box).
            let ok = ratio <= 1.2 || (wb - ws) < 20.0;
            warm_ok = Some(warm_ok.unwrap_or(true) && ok);
            let plan = b["query_plan"].as_str().unwrap_or("");
            let indexed = plan.contains("USING INDEX")
                || plan.contains("USING COVERING INDEX")
                || plan.contains("Index Scan")
                || plan.contains("Index Only Scan");
            let no_scan = !plan.contains("Seq Scan on api_keys") && !plan.contains("SCAN k");
            plan_notes.push(format!(
                "{backend}: cold p50 {} (store lookup alone p50 {}), plan: `{plan}`",
                fmt_us(f(b, &["cold_http", "p50_us"]).unwrap_or(f64::NAN)),
                fmt_us(f(b, &["store_lookup", "p50_us"]).unwrap_or(f64::NAN)),
            ));
            plan_ok = Some(plan_ok.unwrap_or(true) && indexed && no_scan);
        }
    }
    goals.push(Goal {
        name: "1M keys: warm resolution unchanged",
        target: "warm p50 with 1M keys ≈ with a small store",
        measured: if warm_notes.is_empty() {
            "–".into()
        } else {
            warm_notes.join("; ")
        },
        met: warm_ok,
    });
    goals.push(Goal {
        name: "1M keys: cold resolution is one indexed lookup",
        target: "one index search on api_keys.digest, no scan",
        measured: if plan_notes.is_empty() {
            "–".into()
        } else {
            plan_notes.join("; ")
        },
        met: plan_ok,
    });
    let rss = scale.as_ref().and_then(|s| s.get("rss")).cloned();

    // ---------------------------------------------------------------- results.json
    let results = json!({
        "generated_at": meta.get("finished_at").cloned().unwrap_or(Value::Null),
        "machine": meta.get("machine").cloned().unwrap_or(Value::Null),
        "tools": meta.get("tools").cloned().unwrap_or(Value::Null),
        "load_parameters": meta.get("load").cloned().unwrap_or(Value::Null),
        "variants": meta.get("variants").cloned().unwrap_or(Value::Null),
        "status_checked": status,
        "load": load.iter().map(|(k, v)| ((*k).to_owned(), v.summary())).collect::<serde_json::Map<_, _>>(),
        "ratios": {
            "method": "median over rounds of the per-round throughput ratio",
            "gateway_valid_over_nginx": ratio_c_b,
            "gateway_valid_over_direct": ratio_c_a,
            "nginx_over_direct": round_ratio("b", "a"),
            "gateway_invalid_over_nginx": round_ratio("d", "b"),
            "auth_me_over_nginx": round_ratio("e", "b"),
            "bare_hyper_proxy_over_nginx": round_ratio("f", "b"),
            "gateway_valid_over_bare_hyper_proxy": round_ratio("c", "f"),
            "pinned_bare_proxy_over_nginx": round_ratio("g", "b"),
            "pinned_bare_proxy_over_pooled_bare_proxy": round_ratio("g", "f"),
        },
        "added_latency_at_fixed_rate_us": {
            "p50_vs_direct": added_p50_vs_direct,
            "p99_vs_direct": added_p99_vs_direct,
            "p99_vs_nginx": added_p99_vs_nginx,
        },
        "micro_ns": micro.iter().map(|(k, (m, mean))| (k.clone(), json!({"median": m, "mean": mean}))).collect::<serde_json::Map<_, _>>(),
        "scale": scale.clone().unwrap_or(Value::Null),
        "goals": goals.iter().map(|g| json!({"goal": g.name, "target": g.target, "measured": g.measured, "met": g.met})).collect::<Vec<_>>(),
    });
    std::fs::create_dir_all(out_dir)?;
    std::fs::write(
        out_dir.join("results.json"),
        serde_json::to_string_pretty(&results)? + "\n",
    )?;

    // ---------------------------------------------------------------- REPORT.md
    let mut md = String::new();
    let m = meta.get("machine").cloned().unwrap_or(Value::Null);
    let s = |v: &Value, k: &str| {
        v.get(k)
            .map(|x| {
                x.as_str()
                    .map(str::to_owned)
                    .unwrap_or_else(|| x.to_string())
            })
            .unwrap_or_else(|| "–".into())
    };
    let _ = writeln!(md, "# vexa benchmarks\n");
    let _ = writeln!(
        md,
        "Produced by `make bench` (scripts/bench.sh) on {}. Machine-readable figures: `bench/results.json`.\n\
         Every figure below comes from this one run; ratios compare runs made side by side, alternating, on the same machine.\n",
        s(&meta, "finished_at")
    );
    let _ = writeln!(md, "## Machine\n");
    let _ = writeln!(md, "| | |\n|---|---|");
    for (k, label) in [
        ("cpu", "CPU"),
        ("nproc", "cores (nproc)"),
        ("memory", "memory"),
        ("kernel", "kernel"),
        ("os", "OS"),
    ] {
        let _ = writeln!(md, "| {label} | {} |", s(&m, k));
    }
    if let Some(tools) = meta.get("tools").and_then(Value::as_object) {
        for (k, v) in tools {
            let _ = writeln!(md, "| {k} | {} |", v.as_str().unwrap_or(""));
        }
    }
    let _ = writeln!(md);

    let _ = writeln!(md, "## Goals\n");
    let _ = writeln!(
        md,
        "| goal | target | measured | status |\n|---|---|---|---|"
    );
    for g in &goals {
        let _ = writeln!(
            md,
            "| {} | {} | {} | {} |",
            g.name,
            g.target,
            g.measured,
            verdict(g)
        );
    }
    let _ = writeln!(md);

    if have_load {
        let lp = meta.get("load").cloned().unwrap_or(Value::Null);
        let _ = writeln!(md, "## Side by side (load over loopback)\n");
        let _ = writeln!(
            md,
            "{} rounds; in each round every variant runs once, in the order a–g (throughput), then again at the fixed rate. \
             Figures are the median over rounds. Machine load average (1/5/15 min) before the load runs: {}; after: {} \
             (other work on the machine shows up here: the runs alternate so it spreads over all variants).\n",
            s(&lp, "rounds"),
            s(&lp, "loadavg_before"),
            s(&lp, "loadavg_after")
        );
        let _ = writeln!(
            md,
            "| variant | status | throughput (req/s) | ratio to nginx (median of per-round ratios) | p50 @ {c} conns | p99 @ {c} conns | p50 @ {q} req/s | p99 @ {q} req/s | max @ {q} req/s |\n|---|---|---|---|---|---|---|---|---|",
            c = s(&lp, "connections"),
            q = s(&lp, "rate_qps")
        );
        let labels = meta.get("variants").cloned().unwrap_or(Value::Null);
        for v in VARIANTS {
            let Some(x) = load.get(v) else { continue };
            let _ = writeln!(
                md,
                "| ({v}) {} | {} | {} | {:.2} | {} | {} | {} | {} | {} |",
                labels
                    .get(v)
                    .and_then(|l| l.get("label"))
                    .and_then(Value::as_str)
                    .unwrap_or(""),
                s(&status, v),
                num(median(&x.rps)),
                round_ratio(v, "b"),
                fmt_us(median(&x.p50_us)),
                fmt_us(median(&x.p99_us)),
                fmt_us(median(&x.rate_p50_us)),
                fmt_us(median(&x.rate_p99_us)),
                fmt_us(median(&x.rate_max_us)),
            );
        }
        if !rps("f").is_nan() || !rps("g").is_nan() {
            let _ = writeln!(
                md,
                "\n### Where the forwarding gap to nginx comes from (same run)\n"
            );
            let _ = writeln!(
                md,
                "- The proxy stack alone, pooled client — (f) bare hyper proxy with the gateway's client setup: {:.2} × nginx.",
                round_ratio("f", "b")
            );
            let _ = writeln!(
                md,
                "- The proxy stack alone, one upstream connection per client connection — (g): {:.2} × nginx, {:.2} × (f): \
                 the shared pool's checkout/return and hand-off between tasks cost the difference.",
                round_ratio("g", "b"),
                round_ratio("g", "f")
            );
            let _ = writeln!(
                md,
                "- The gateway's own work on top of the pooled stack — (c) / (f): {:.2}. Per request that is route match, edge guard, \
                 key parse + SHA-256, cache hit, scope, limiter, header strip/inject, request id, metrics, the upstream timeout timer \
                 and the JSON access-log line; the micro-benchmarks above put the checks themselves under 1 µs in total, so most of it is \
                 the logging and header/timer work (see bench/NOTES.md for the experiments).",
                round_ratio("c", "f")
            );
            let _ = writeln!(
                md,
                "- Without an upstream hop the gateway outruns nginx's proxying: (d) invalid key {:.2} ×, (e) /auth/me {:.2} ×.",
                round_ratio("d", "b"),
                round_ratio("e", "b")
            );
        }
        let _ = writeln!(md, "\nThroughput per round (req/s):\n");
        let _ = writeln!(md, "| variant | rounds |\n|---|---|");
        for v in VARIANTS {
            if let Some(x) = load.get(v) {
                let _ = writeln!(
                    md,
                    "| ({v}) | {} |",
                    x.rps.iter().map(|r| num(*r)).collect::<Vec<_>>().join(", ")
                );
            }
        }
        let _ = writeln!(md);
    }

    if !micro.is_empty() {
        let _ = writeln!(md, "## Micro-benchmarks (criterion, median per call)\n");
        let _ = writeln!(
            md,
            "`key_cache/hit (N keys cached)` looks up a different random key each call (with 1M cached, mostly CPU-cache misses); \
             `parse + hit` repeats one key, so it shows the parse + SHA-256 + hit cost with that entry in CPU cache.\n"
        );
        let _ = writeln!(md, "| benchmark | median | mean |\n|---|---|---|");
        for (k, (m, mean)) in &micro {
            let _ = writeln!(md, "| {k} | {} | {} |", fmt_ns(*m), fmt_ns(*mean));
        }
        let _ = writeln!(md);
    }

    if let Some(sc) = &scale {
        let _ = writeln!(md, "## Scale runs\n");
        if !resolution.is_empty() {
            let _ = writeln!(
                md,
                "Key resolution through the real gateway (`GET /auth/me`, one client, one request at a time over a kept-alive \
                 connection, so each figure includes loopback HTTP). *store* is `SqlIdentityStore::resolve_key` called in-process; \
                 *cold* is the first request with each of {} sample keys on a freshly started gateway (a cache miss: one store lookup); \
                 *warm* is the same keys again (cache hits).\n",
                sc["samples"]
            );
            let _ = writeln!(md, "| backend | keys stored | seed time | store p50 / p99 | cold p50 / p99 | warm p50 / p99 |\n|---|---|---|---|---|---|");
            for r in &resolution {
                let pair = |k: &str| {
                    format!(
                        "{} / {}",
                        fmt_us(f(r, &[k, "p50_us"]).unwrap_or(f64::NAN)),
                        fmt_us(f(r, &[k, "p99_us"]).unwrap_or(f64::NAN))
                    )
                };
                let _ = writeln!(
                    md,
                    "| {} | {} | {:.1} s | {} | {} | {} |",
                    r["backend"].as_str().unwrap_or(""),
                    r["keys_stored"],
                    f(r, &["seed_seconds"]).unwrap_or(f64::NAN),
                    pair("store_lookup"),
                    pair("cold_http"),
                    pair("warm_http")
                );
            }
            let _ = writeln!(
                md,
                "\nQuery plans of the resolution query (`EXPLAIN QUERY PLAN` / `EXPLAIN` with one sample digest, after `ANALYZE`):\n"
            );
            for r in &resolution {
                let _ = writeln!(
                    md,
                    "- {} ({} keys): `{}`",
                    r["backend"].as_str().unwrap_or(""),
                    r["keys_stored"],
                    r["query_plan"].as_str().unwrap_or("")
                );
            }
            let _ = writeln!(md);
        }
        if let Some(r) = &revocation {
            let _ = writeln!(
                md,
                "Revocation propagation: replica A (`vexa up`) and replica B (`vexa gateway`) on one PostgreSQL database. For each of {} keys, \
                 both replicas answer 200 (key cached), then `DELETE /admin/tokens/{{id}}` goes to A's admin API and B is polled (`GET /auth/me`, every 1 ms) until it answers 401.\n",
                r["n"]
            );
            let _ = writeln!(md, "| measured from | median | max |\n|---|---|---|");
            for (k, label) in [
                ("from_revoke_request_ms", "DELETE sent"),
                ("from_revoke_response_ms", "DELETE answered 204"),
            ] {
                let _ = writeln!(
                    md,
                    "| {label} | {:.1} ms | {:.1} ms |",
                    f(r, &[k, "median"]).unwrap_or(f64::NAN),
                    f(r, &[k, "max"]).unwrap_or(f64::NAN)
                );
            }
            let _ = writeln!(
                md,
                "\nThe revoking replica answered 401 on the first request after the 204 in {} of {} cases.\n",
                r["revoking_replica_401_on_first_request"], r["n"]
            );
        }
        let rss_rows: Vec<Value> = match &rss {
            Some(Value::Array(rows)) => rows.clone(),
            Some(one @ Value::Object(_)) => vec![one.clone()],
            _ => Vec::new(),
        };
        if !rss_rows.is_empty() {
            let _ = writeln!(
                md,
                "Gateway memory: one `vexa gateway` process, {} distinct keys each used once (16 concurrent clients), so all are cached. \
                 \"Per cached key\" is (RSS with all cached − RSS after a warm-up of 5000 requests with one key) / keys. On SQLite the \
                 figure also holds SQLite's own page cache inside the gateway process (the database is embedded); PostgreSQL's is not.\n",
                rss_rows[0]["keys_cached"]
            );
            let _ = writeln!(
                md,
                "| | {} |\n|---|{}",
                rss_rows
                    .iter()
                    .map(|r| r["backend"].as_str().unwrap_or("").to_owned())
                    .collect::<Vec<_>>()
                    .join(" | "),
                "---|".repeat(rss_rows.len())
            );
            let row = |label: &str, cell: &dyn Fn(&Value) -> String| {
                format!(
                    "| {label} | {} |",
                    rss_rows.iter().map(cell).collect::<Vec<_>>().join(" | ")
                )
            };
            let kib = |k: &'static str| {
                move |r: &Value| {
                    f(r, &[k]).map_or("–".into(), |v| format!("{:.1} MiB", v / 1024.0))
                }
            };
            let _ = writeln!(md, "{}", row("RSS idle after start", &kib("rss_idle_kib")));
            let _ = writeln!(
                md,
                "{}",
                row(
                    "RSS after warm-up with one key",
                    &kib("rss_before_fill_kib")
                )
            );
            let _ = writeln!(
                md,
                "{}",
                row("RSS with all keys cached", &kib("rss_after_fill_kib"))
            );
            let _ = writeln!(md, "{}", row("peak RSS (VmHWM)", &kib("hwm_final_kib")));
            let _ = writeln!(
                md,
                "{}",
                row("per cached key", &|r: &Value| format!(
                    "{:.0} bytes",
                    f(r, &["bytes_per_cached_key"]).unwrap_or(f64::NAN)
                ))
            );
            let _ = writeln!(
                md,
                "{}",
                row(
                    "fill rate (first use of each key: miss + store lookup)",
                    &|r: &Value| format!(
                        "{} req/s",
                        num(f(r, &["fill_requests_per_second"]).unwrap_or(f64::NAN))
                    )
                )
            );
            let _ = writeln!(
                md,
                "{}\n",
                row(
                    "warm `/auth/me` p50 / p99, all cached",
                    &|r: &Value| format!(
                        "{} / {}",
                        fmt_us(f(r, &["warm_http", "p50_us"]).unwrap_or(f64::NAN)),
                        fmt_us(f(r, &["warm_http", "p99_us"]).unwrap_or(f64::NAN))
                    )
                )
            );
        }
    }

    let _ = writeln!(md, "## Method\n");
    if let Some(method) = meta.get("method").and_then(Value::as_array) {
        for line in method {
            let _ = writeln!(md, "- {}", line.as_str().unwrap_or(""));
        }
    }
    let _ = writeln!(md, "\n## Exact commands\n\n```sh");
    if let Some(cmds) = meta.get("commands").and_then(Value::as_array) {
        for c in cmds {
            let _ = writeln!(md, "{}", c.as_str().unwrap_or(""));
        }
    }
    let _ = writeln!(md, "```");
    if let Some(notes) = meta.get("notes").and_then(Value::as_array) {
        let _ = writeln!(md, "\n## Notes\n");
        for n in notes {
            let _ = writeln!(md, "- {}", n.as_str().unwrap_or(""));
        }
    }
    std::fs::write(out_dir.join("REPORT.md"), md).context("write REPORT.md")?;
    eprintln!(
        "wrote {} and {}",
        out_dir.join("REPORT.md").display(),
        out_dir.join("results.json").display()
    );
    let _: PathBuf = out_dir.to_owned();
    Ok(())
}
