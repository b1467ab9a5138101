//! `bench/results.json`: the machine-readable twin of `REPORT.md` (same run, same figures).

use serde_json::{json, Value};

use super::goals::Goal;
use super::inputs::{Run, VariantFigures};
use vexa_bench::stats::median;

impl VariantFigures {
    /// This variant's entry under `load`: medians over rounds, plus the rounds themselves where
    /// a reader may want the spread.
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

/// The whole `results.json` document.
pub fn results(run: &Run, goals: &[Goal]) -> Value {
    json!({
        "generated_at": run.meta_field("finished_at"),
        "machine": run.meta_field("machine"),
        "tools": run.meta_field("tools"),
        "load_parameters": run.meta_field("load"),
        "variants": run.meta_field("variants"),
        "status_checked": run.status,
        "load": run.load.iter().map(|(k, v)| ((*k).to_owned(), v.summary())).collect::<serde_json::Map<_, _>>(),
        "ratios": ratios(run),
        "added_latency_at_fixed_rate_us": {
            "p50_vs_direct": run.rate_p50("c") - run.rate_p50("a"),
            "p99_vs_direct": run.rate_p99("c") - run.rate_p99("a"),
            "p99_vs_nginx": run.rate_p99("c") - run.rate_p99("b"),
        },
        "micro_ns": run.micro.iter().map(|(k, (m, mean))| (k.clone(), json!({"median": m, "mean": mean}))).collect::<serde_json::Map<_, _>>(),
        "allocs_per_request": run.allocs,
        "scale": run.scale.clone().unwrap_or(Value::Null),
        "goals": goals.iter().map(|g| json!({"goal": g.name, "target": g.target, "measured": g.measured, "met": g.met})).collect::<Vec<_>>(),
    })
}

pub(super) fn ratios(run: &Run) -> Value {
    json!({
        "method": "median over rounds of the per-round throughput ratio",
        "gateway_valid_over_nginx": run.round_ratio("c", "b"),
        "gateway_valid_over_direct": run.round_ratio("c", "a"),
        "nginx_over_direct": run.round_ratio("b", "a"),
        "gateway_invalid_over_nginx": run.round_ratio("d", "b"),
        "auth_me_over_nginx": run.round_ratio("e", "b"),
        "bare_hyper_proxy_over_nginx": run.round_ratio("f", "b"),
        "gateway_valid_over_bare_hyper_proxy": run.round_ratio("c", "f"),
        "pinned_bare_proxy_over_nginx": run.round_ratio("g", "b"),
        "pinned_bare_proxy_over_pooled_bare_proxy": run.round_ratio("g", "f"),
        "gateway_no_log_over_as_shipped": run.round_ratio("l", "c"),
        // (l) counts usage per key (the default), (n) is (l) with KEY_USAGE=off.
        "gateway_usage_on_over_off": run.round_ratio("l", "n"),
        "gateway_no_log_over_pinned_bare_proxy": run.round_ratio("l", "g"),
        // (o) is the diagnostic one-task relay.
        "relay_over_haproxy_plain": run.round_ratio("o", "h"),
        "relay_over_pinned_bare_proxy": run.round_ratio("o", "g"),
    })
}
