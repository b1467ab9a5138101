//! `bench/REPORT.md`, one function per section in page order: title, machine, goals, the side by
//! side load runs, micro-benchmarks, scale runs (`scale_sections.rs`), method and commands.
//! A section whose inputs are missing from the run is left out.

use std::fmt::Write as _;

use serde_json::Value;
use vexa_bench::stats::median;

use super::format::{cell, fmt_ns, fmt_us, lines, num};
use super::goals::Goal;
use super::inputs::{Run, VARIANTS};
use super::scale_sections;

/// The whole page.
pub fn report(run: &Run, goals: &[Goal]) -> String {
    let mut md = String::new();
    title(&mut md, run);
    machine(&mut md, run);
    goals_table(&mut md, goals);
    if run.have_load() {
        load_table(&mut md, run);
        forwarding_gap(&mut md, run);
        throughput_rounds(&mut md, run);
    }
    micro(&mut md, run);
    allocs(&mut md, run);
    if let Some(scale) = &run.scale {
        scale_sections::scale(&mut md, run, scale);
    }
    method(&mut md, run);
    md
}

fn title(md: &mut String, run: &Run) {
    let _ = writeln!(md, "# vexa benchmarks\n");
    let _ = writeln!(
        md,
        "Produced by `make bench` (scripts/bench.sh) on {}. Machine-readable figures: `bench/results.json`.\n\
         Every figure below comes from this one run; ratios compare runs made side by side, alternating, on the same machine.\n",
        cell(&run.meta, "finished_at")
    );
}

fn machine(md: &mut String, run: &Run) {
    let m = run.meta_field("machine");
    let _ = writeln!(md, "## Machine\n");
    let _ = writeln!(md, "| | |\n|---|---|");
    for (k, label) in [
        ("cpu", "CPU"),
        ("nproc", "cores (nproc)"),
        ("memory", "memory"),
        ("kernel", "kernel"),
        ("os", "OS"),
    ] {
        let _ = writeln!(md, "| {label} | {} |", cell(&m, k));
    }
    if let Some(tools) = run.meta.get("tools").and_then(Value::as_object) {
        for (k, v) in tools {
            let _ = writeln!(md, "| {k} | {} |", v.as_str().unwrap_or(""));
        }
    }
    let _ = writeln!(md);
}

fn goals_table(md: &mut String, goals: &[Goal]) {
    let _ = writeln!(md, "## Goals\n");
    let _ = writeln!(
        md,
        "| goal | target | measured | status |\n|---|---|---|---|"
    );
    for g in goals {
        let _ = writeln!(
            md,
            "| {} | {} | {} | {} |",
            g.name,
            g.target,
            g.measured,
            g.verdict()
        );
    }
    let _ = writeln!(md);
}

/// The side by side table: one row per variant, medians over rounds.
fn load_table(md: &mut String, run: &Run) {
    let lp = run.meta_field("load");
    let _ = writeln!(md, "## Side by side (load over loopback)\n");
    let _ = writeln!(
        md,
        "{} rounds; in each round every variant runs once, in the order a–n (throughput), then again at the fixed rate. \
         Figures are the median over rounds. Machine load average (1/5/15 min) before the load runs: {}; after: {} \
         (other work on the machine shows up here: the runs alternate so it spreads over all variants).\n",
        cell(&lp, "rounds"),
        cell(&lp, "loadavg_before"),
        cell(&lp, "loadavg_after")
    );
    let _ = writeln!(
        md,
        "| variant | status | throughput (req/s) | ratio to nginx (median of per-round ratios) | p50 @ {c} conns | p99 @ {c} conns | p50 @ {q} req/s | p99 @ {q} req/s | max @ {q} req/s |\n|---|---|---|---|---|---|---|---|---|",
        c = cell(&lp, "connections"),
        q = cell(&lp, "rate_qps")
    );
    let labels = run.meta_field("variants");
    for v in VARIANTS {
        let Some(x) = run.load.get(v) else { continue };
        let _ = writeln!(
            md,
            "| ({v}) {} | {} | {} | {:.2} | {} | {} | {} | {} | {} |",
            labels
                .get(v)
                .and_then(|l| l.get("label"))
                .and_then(Value::as_str)
                .unwrap_or(""),
            cell(&run.status, v),
            num(median(&x.rps)),
            run.round_ratio(v, "b"),
            fmt_us(median(&x.p50_us)),
            fmt_us(median(&x.p99_us)),
            fmt_us(median(&x.rate_p50_us)),
            fmt_us(median(&x.rate_p99_us)),
            fmt_us(median(&x.rate_max_us)),
        );
    }
}

/// What the bare proxies (f, g) say about the gap to nginx; only when they ran.
fn forwarding_gap(md: &mut String, run: &Run) {
    if run.rps("f").is_nan() && run.rps("g").is_nan() {
        return;
    }
    let _ = writeln!(
        md,
        "\n### Where the forwarding gap to nginx comes from (same run)\n"
    );
    let _ = writeln!(
        md,
        "- The proxy stack alone, pooled client — (f) bare hyper proxy with the gateway's client setup: {:.2} × nginx.",
        run.round_ratio("f", "b")
    );
    let _ = writeln!(
        md,
        "- The proxy stack alone, one upstream connection per client connection — (g): {:.2} × nginx, {:.2} × (f): \
         the shared pool's checkout/return and hand-off between tasks cost the difference.",
        run.round_ratio("g", "b"),
        run.round_ratio("g", "f")
    );
    let _ = writeln!(
        md,
        "- The gateway (which pins one upstream connection per client connection, as (g) does) against the bare pinned proxy — \
         (l) / (g): {:.2} without its access log, (c) / (g): {:.2} with it. The difference is the gateway's own work per request: \
         route match, edge guard, key parse + SHA-256, cache hit, scope, limiter, header strip/inject, request id, metrics, \
         the upstream timeout timer and (for (c)) the JSON access-log line; the access log alone: (l) / (c) = {:.2}.",
        run.round_ratio("l", "g"),
        run.round_ratio("c", "g"),
        run.round_ratio("l", "c")
    );
    if !run.rps("o").is_nan() {
        let _ = writeln!(
            md,
            "- A proxy core without hyper — (o), the diagnostic relay (one task drives both sockets, Content-Length bodies \
             only, no auth, no log): {:.2} × HAProxy plain (h), {:.2} × the bare pinned hyper proxy (g). The gap between (o) \
             and (g) is what hyper's two codecs and two tasks per hop cost.",
            run.round_ratio("o", "h"),
            run.round_ratio("o", "g")
        );
    }
    if !run.rps("n").is_nan() {
        let _ = writeln!(
            md,
            "- The usage counters per key (on by default) against the same gateway with KEY_USAGE=off (n), both without the \
             access log: (l) / (n) = {:.2} (gateway_usage_on_over_off; one shard lock per request, batched flush).",
            run.round_ratio("l", "n")
        );
    }
    let _ = writeln!(
        md,
        "- Without an upstream hop the gateway outruns nginx's proxying: (d) invalid key {:.2} ×, (e) /auth/me {:.2} ×.",
        run.round_ratio("d", "b"),
        run.round_ratio("e", "b")
    );
}

fn throughput_rounds(md: &mut String, run: &Run) {
    let _ = writeln!(md, "\nThroughput per round (req/s):\n");
    let _ = writeln!(md, "| variant | rounds |\n|---|---|");
    for v in VARIANTS {
        if let Some(x) = run.load.get(v) {
            let _ = writeln!(
                md,
                "| ({v}) | {} |",
                x.rps.iter().map(|r| num(*r)).collect::<Vec<_>>().join(", ")
            );
        }
    }
    let _ = writeln!(md);
}

fn micro(md: &mut String, run: &Run) {
    if run.micro.is_empty() {
        return;
    }
    let _ = writeln!(md, "## Micro-benchmarks (criterion, median per call)\n");
    let _ = writeln!(
        md,
        "`key_cache/hit (N keys cached)` looks up a different random key each call (with 1M cached, mostly CPU-cache misses); \
         `parse + hit` repeats one key, so it shows the parse + SHA-256 + hit cost with that entry in CPU cache.\n"
    );
    let _ = writeln!(md, "| benchmark | median | mean |\n|---|---|---|");
    for (k, (m, mean)) in &run.micro {
        let _ = writeln!(md, "| {k} | {} | {} |", fmt_ns(*m), fmt_ns(*mean));
    }
    let _ = writeln!(md);
}

fn allocs(md: &mut String, run: &Run) {
    if run.allocs.is_empty() {
        return;
    }
    let _ = writeln!(
        md,
        "## Heap allocations per forwarded request (benches/allocs.rs)\n"
    );
    let _ = writeln!(
        md,
        "A counting allocator; client, gateway and upstream on one current-thread runtime; the same client straight \
         to the upstream is subtracted, so the figure is the gateway's own (its server and client HTTP/1 halves \
         included). Counts, not time: the same on a busy machine. The usage counters are on (the default) \
         except in the KEY_USAGE=off column, a second gateway on the same store.\n"
    );
    let _ = writeln!(md, "| access log | allocations / request | bytes / request | with KEY_USAGE=off | client + upstream alone |\n|---|---|---|---|---|");
    for a in &run.allocs {
        let _ = writeln!(
            md,
            "| {} | {:.1} | {:.0} | {:.1} allocations, {:.0} bytes | {:.1} allocations, {:.0} bytes |",
            if a["access_log"].as_bool().unwrap_or(false) {
                "on (JSON lines, as the server writes them)"
            } else {
                "off"
            },
            a["gateway_allocs_per_request"].as_f64().unwrap_or(f64::NAN),
            a["gateway_bytes_per_request"].as_f64().unwrap_or(f64::NAN),
            a["gateway_usage_off_allocs_per_request"]
                .as_f64()
                .unwrap_or(f64::NAN),
            a["gateway_usage_off_bytes_per_request"]
                .as_f64()
                .unwrap_or(f64::NAN),
            a["direct_allocs_per_request"].as_f64().unwrap_or(f64::NAN),
            a["direct_bytes_per_request"].as_f64().unwrap_or(f64::NAN),
        );
    }
    let _ = writeln!(md);
}

/// Method, exact commands and notes, all taken from `meta.json`.
fn method(md: &mut String, run: &Run) {
    let _ = writeln!(md, "## Method\n");
    for line in lines(&run.meta, "method") {
        let _ = writeln!(md, "- {line}");
    }
    let _ = writeln!(md, "\n## Exact commands\n\n```sh");
    for command in lines(&run.meta, "commands") {
        let _ = writeln!(md, "{command}");
    }
    let _ = writeln!(md, "```");
    if run.meta.get("notes").and_then(Value::as_array).is_some() {
        let _ = writeln!(md, "\n## Notes\n");
        for note in lines(&run.meta, "notes") {
            let _ = writeln!(md, "- {note}");
        }
    }
}
