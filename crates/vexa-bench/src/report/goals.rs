//! The goals table: each goal of the product, its target, what this run measured and whether it
//! was met. One function per goal, in the order the table lists them.

use serde_json::Value;

use super::format::{fmt_ns, fmt_us, num};
use super::inputs::{number_at, Run, KEY_CHECKING_PEERS, PLAIN_PEERS};

/// One row of the goals table.
pub struct Goal {
    pub name: &'static str,
    pub target: &'static str,
    pub measured: String,
    /// `None` when this run did not measure it.
    pub met: Option<bool>,
}

impl Goal {
    /// The status cell.
    pub fn verdict(&self) -> &'static str {
        match self.met {
            Some(true) => "**met**",
            Some(false) => "**not met**",
            None => "not measured in this run",
        }
    }
}

/// Every goal, in table order.
pub fn goals(run: &Run) -> Vec<Goal> {
    let resolution = run.resolution();
    vec![
        throughput_vs_key_checking_peers(run, "l", 1.0),
        throughput_vs_key_checking_peers(run, "c", 0.9),
        throughput_vs_plain_peers(run),
        p99_vs_peers(run),
        throughput_vs_nginx(run),
        usage_counters(run),
        added_latency(run),
        cache_hit(run),
        invalid_key(run),
        revocation(run),
        warm_resolution(&resolution),
        cold_resolution(&resolution),
    ]
}

/// The best of `peers` by median throughput, for naming it in a cell.
fn best_named(run: &Run, peers: &[&'static str]) -> &'static str {
    peers
        .iter()
        .copied()
        .filter(|p| run.rps(p).is_finite())
        .max_by(|a, b| run.rps(a).total_cmp(&run.rps(b)))
        .unwrap_or("–")
}

/// `ours` ((c) as shipped, (l) without its access log) against the best key-checking peer.
fn throughput_vs_key_checking_peers(run: &Run, ours: &'static str, target: f64) -> Goal {
    let ratio = run.ratio_to_best(ours, &KEY_CHECKING_PEERS);
    let measured = ratio.is_finite();
    Goal {
        name: if ours == "l" {
            "Throughput vs the best key-checking peer, no access log"
        } else {
            "Throughput vs the best key-checking peer, access log on as shipped"
        },
        target: if ours == "l" {
            "(l) ≥ 1.0 × max((i) HAProxy map, (k) nginx + Lua), per round"
        } else {
            "(c) ≥ 0.9 × max((i) HAProxy map, (k) nginx + Lua), per round"
        },
        measured: if measured {
            format!(
                "{ratio:.2} × (per round: {}; median req/s {} vs ({}) {})",
                run.per_round_to_best(ours, &KEY_CHECKING_PEERS),
                num(run.rps(ours)),
                best_named(run, &KEY_CHECKING_PEERS),
                num(run.rps(best_named(run, &KEY_CHECKING_PEERS)))
            )
        } else {
            "–".into()
        },
        met: measured.then_some(ratio >= target),
    }
}

fn throughput_vs_plain_peers(run: &Run) -> Goal {
    let ratio = run.ratio_to_best("l", &PLAIN_PEERS);
    let shipped = run.ratio_to_best("c", &PLAIN_PEERS);
    let measured = ratio.is_finite();
    Goal {
        name: "Throughput vs the best plain proxy",
        target: "(l) ≥ 0.9 × max((h) HAProxy, (j) nginx), no log on either side, per round",
        measured: if measured {
            format!(
                "{ratio:.2} × (per round: {}); as shipped (c): {shipped:.2} ×",
                run.per_round_to_best("l", &PLAIN_PEERS)
            )
        } else {
            "–".into()
        },
        met: measured.then_some(ratio >= 0.9),
    }
}

/// p99 of ours (as shipped) against the lowest p99 of the key-checking peers, at saturation
/// (wrk) and at the fixed moderate rate (oha).
fn p99_vs_peers(run: &Run) -> Goal {
    let best = |pick: fn(&Run, &str) -> f64| {
        KEY_CHECKING_PEERS
            .iter()
            .map(|p| pick(run, p))
            .filter(|x| x.is_finite())
            .fold(f64::NAN, f64::min)
    };
    let (sat_best, rate_best) = (best(Run::saturated_p99), best(Run::rate_p99));
    let (sat, rate) = (run.saturated_p99("c"), run.rate_p99("c"));
    let measured = [sat_best, rate_best, sat, rate]
        .iter()
        .all(|x| x.is_finite());
    Goal {
        name: "p99 vs the best key-checking peer",
        target: "(c) p99 ≤ the lowest peer p99, at saturation and at the fixed rate",
        measured: if measured {
            format!(
                "saturation: {} vs {}; fixed rate: {} vs {}; without access log (l): {} / {}",
                fmt_us(sat),
                fmt_us(sat_best),
                fmt_us(rate),
                fmt_us(rate_best),
                fmt_us(run.saturated_p99("l")),
                fmt_us(run.rate_p99("l"))
            )
        } else {
            "–".into()
        },
        met: measured.then_some(sat <= sat_best && rate <= rate_best),
    }
}

fn throughput_vs_nginx(run: &Run) -> Goal {
    let have_load = run.have_load();
    let ratio = run.round_ratio("c", "b");
    Goal {
        name: "Authenticated forwarding throughput vs nginx",
        target: "(c) ≥ 0.9 × (b), same run",
        measured: if have_load {
            format!(
                "{:.2} × nginx (median of per-round ratios: {}; median req/s {} vs {})",
                ratio,
                run.per_round("c", "b"),
                num(run.rps("c")),
                num(run.rps("b"))
            )
        } else {
            "–".into()
        },
        met: have_load.then_some(ratio >= 0.9),
    }
}

fn added_latency(run: &Run) -> Goal {
    let have_load = run.have_load();
    let added_p99 = run.rate_p99("c") - run.rate_p99("a");
    Goal {
        name: "p99 added latency at a moderate fixed rate",
        target: "< 1 ms (gateway (c) p99 − direct (a) p99)",
        measured: if have_load {
            format!(
                "{} added at p99 ({} vs {}); {} added at p50; vs nginx: {} at p99",
                fmt_us(added_p99),
                fmt_us(run.rate_p99("c")),
                fmt_us(run.rate_p99("a")),
                fmt_us(run.rate_p50("c") - run.rate_p50("a")),
                fmt_us(run.rate_p99("c") - run.rate_p99("b"))
            )
        } else {
            "–".into()
        },
        // A run without the fixed-rate leg (BENCH_SKIP_RATE=1) has no p99 to judge.
        met: (have_load && added_p99.is_finite()).then_some(added_p99 < 1000.0),
    }
}

fn cache_hit(run: &Run) -> Goal {
    let hit_1m = run.micro_median("key_cache/hit (1000000 keys cached)");
    let hit_1 = run.micro_median("key_cache/hit (1 keys cached)");
    Goal {
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
    }
}

fn invalid_key(run: &Run) -> Goal {
    let bad_checksum = run.micro_median("key/parse_bad_checksum (rejected before digest)");
    Goal {
        name: "Invalid-key rejection never touches the store",
        target: "malformed / bad-checksum keys rejected before cache and store",
        measured: format!(
            "parse rejects a bad checksum in {}; (d) runs at {} req/s ({:.2} × nginx) all 401; \
             asserted by vexa-gateway test gateway_http.rs (\"malformed keys never reach the store\")",
            bad_checksum.map_or("–".into(), fmt_ns),
            num(run.rps("d")),
            run.round_ratio("d", "b")
        ),
        met: bad_checksum.map(|_| true),
    }
}

fn revocation(run: &Run) -> Goal {
    let revocation = run.revocation();
    let from_request =
        |stat: &str| revocation.and_then(|r| number_at(r, &["from_revoke_request_ms", stat]));
    let (median, max) = (from_request("median"), from_request("max"));
    Goal {
        name: "Revocation on another replica (PostgreSQL)",
        target: "≤ 1 s worst case, 100 ms median",
        measured: match (median, max) {
            (Some(m), Some(x)) => format!(
                "median {m:.1} ms, max {x:.1} ms over {} revocations (from the DELETE request to the first 401 on the other replica)",
                revocation.and_then(|r| r.get("n")).and_then(Value::as_u64).unwrap_or(0)
            ),
            _ => "–".into(),
        },
        met: median.zip(max).map(|(m, x)| m <= 100.0 && x <= 1000.0),
    }
}

/// The smallest and the largest store measured on `backend` (first smallest, last largest).
fn small_and_big<'a>(resolution: &'a [Value], backend: &str) -> Option<(&'a Value, &'a Value)> {
    let rows: Vec<&Value> = resolution
        .iter()
        .filter(|r| r["backend"] == backend)
        .collect();
    let keys = |r: &&&Value| r["keys_stored"].as_u64().unwrap_or(0);
    let small = rows.iter().min_by_key(keys)?;
    let big = rows.iter().max_by_key(keys)?;
    Some((*small, *big))
}

const BACKENDS: [&str; 2] = ["sqlite", "postgres"];

fn warm_resolution(resolution: &[Value]) -> Goal {
    let mut notes = Vec::new();
    let mut ok = None;
    for backend in BACKENDS {
        let Some((s, b)) = small_and_big(resolution, backend) else {
            continue;
        };
        let warm_p50 = |r: &Value| number_at(r, &["warm_http", "p50_us"]).unwrap_or(f64::NAN);
        let (ws, wb) = (warm_p50(s), warm_p50(b));
        let ratio = wb / ws;
        notes.push(format!(
            "{backend}: warm p50 {} with {} keys vs {} with {} keys ({ratio:.2}×)",
            fmt_us(wb),
            b["keys_stored"],
            fmt_us(ws),
            s["keys_stored"]
        ));
        // "Unchanged": within 20 % or 20 µs (loopback HTTP noise on a shared 2-core box).
        let unchanged = ratio <= 1.2 || (wb - ws) < 20.0;
        ok = Some(ok.unwrap_or(true) && unchanged);
    }
    Goal {
        name: "1M keys: warm resolution unchanged",
        target: "warm p50 with 1M keys ≈ with a small store",
        measured: joined_or_dash(&notes),
        met: ok,
    }
}

/// The usage counters (on by default) against the same gateway with `KEY_USAGE=off`, same run:
/// the issue asks for the hot path unchanged by them.
fn usage_counters(run: &Run) -> Goal {
    let ratio = run.round_ratio("l", "n");
    let measured = ratio.is_finite();
    Goal {
        name: "Hot path unchanged by the usage counters",
        target: "(l) counters on ≥ 0.95 × (n) KEY_USAGE=off, same run (gateway_usage_on_over_off)",
        measured: if measured {
            format!(
                "{ratio:.2} × (per round: {}; median req/s {} vs {}; p99 at the fixed rate {} vs {})",
                run.per_round("l", "n"),
                num(run.rps("l")),
                num(run.rps("n")),
                fmt_us(run.rate_p99("l")),
                fmt_us(run.rate_p99("n"))
            )
        } else {
            "–".into()
        },
        met: measured.then_some(ratio >= 0.95),
    }
}

fn cold_resolution(resolution: &[Value]) -> Goal {
    let mut notes = Vec::new();
    let mut ok = None;
    for backend in BACKENDS {
        let Some((_, b)) = small_and_big(resolution, backend) else {
            continue;
        };
        let plan = b["query_plan"].as_str().unwrap_or("");
        let indexed = plan.contains("USING INDEX")
            || plan.contains("USING COVERING INDEX")
            || plan.contains("Index Scan")
            || plan.contains("Index Only Scan");
        let no_scan = !plan.contains("Seq Scan on api_keys") && !plan.contains("SCAN k");
        notes.push(format!(
            "{backend}: cold p50 {} (store lookup alone p50 {}), plan: `{plan}`",
            fmt_us(number_at(b, &["cold_http", "p50_us"]).unwrap_or(f64::NAN)),
            fmt_us(number_at(b, &["store_lookup", "p50_us"]).unwrap_or(f64::NAN)),
        ));
        ok = Some(ok.unwrap_or(true) && indexed && no_scan);
    }
    Goal {
        name: "1M keys: cold resolution is one indexed lookup",
        target: "one index search on api_keys.digest, no scan",
        measured: joined_or_dash(&notes),
        met: ok,
    }
}

fn joined_or_dash(notes: &[String]) -> String {
    if notes.is_empty() {
        "–".into()
    } else {
        notes.join("; ")
    }
}
