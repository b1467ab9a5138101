//! Reads one run's raw results (the files `scripts/bench.sh` and `vexa-bench scale` leave under
//! `--raw`, and criterion's estimates) into a [`Run`], and derives the figures every report
//! section shares: medians over rounds and per-round throughput ratios.
//!
//! Owns no formatting: what the figures look like on the page is `format.rs`' job.

use std::collections::BTreeMap;
use std::path::Path;

use serde_json::Value;
use vexa_bench::stats::median;

/// The load variants, in the order every table lists them.
pub const VARIANTS: [&str; 14] = [
    "a", "b", "c", "d", "e", "f", "g", "h", "i", "j", "k", "l", "n", "o",
];

/// The peers that check the key as the gateway does (HAProxy map file, nginx + Lua), no access log.
pub const KEY_CHECKING_PEERS: [&str; 2] = ["i", "k"];
/// The peers as plain reverse proxies, no access log (HAProxy, nginx).
pub const PLAIN_PEERS: [&str; 2] = ["h", "j"];

/// Everything one report is made from. Missing inputs read as `Null`, `None` or empty, so a
/// partial run still gets a report.
pub struct Run {
    /// `meta.json`: machine, tool versions, load parameters, variants, method and commands.
    pub meta: Value,
    /// `status.json`: the status each variant answered before it was loaded.
    pub status: Value,
    /// `scale.json`, when the scale runs ran.
    pub scale: Option<Value>,
    /// Per-variant load figures, one entry for every variant.
    pub load: BTreeMap<&'static str, VariantFigures>,
    /// Criterion's estimates: full id → (median ns, mean ns).
    pub micro: BTreeMap<String, (f64, f64)>,
    /// `allocs.json` and `allocs-log.json` (benches/allocs.rs): heap allocations per forwarded
    /// request, without and with the access log.
    pub allocs: Vec<Value>,
}

impl Run {
    pub fn read(raw: &Path, criterion: &Path) -> Run {
        Run {
            meta: read_json(&raw.join("meta.json")).unwrap_or(Value::Null),
            status: read_json(&raw.join("status.json")).unwrap_or(Value::Null),
            scale: read_json(&raw.join("scale.json")),
            load: load_figures(raw),
            micro: criterion_figures(criterion),
            allocs: ["allocs.json", "allocs-log.json"]
                .iter()
                .filter_map(|f| read_json(&raw.join(f)))
                .collect(),
        }
    }

    /// Whether any wrk run was found (the load sections and goals depend on it).
    pub fn have_load(&self) -> bool {
        self.load.values().any(|v| !v.rps.is_empty())
    }

    /// The `key` member of `meta.json` (`Null` when absent).
    pub fn meta_field(&self, key: &str) -> Value {
        self.meta.get(key).cloned().unwrap_or(Value::Null)
    }

    fn median_of(&self, variant: &str, pick: fn(&VariantFigures) -> &Vec<f64>) -> f64 {
        self.load.get(variant).map_or(f64::NAN, |x| median(pick(x)))
    }

    /// Median throughput (req/s) of a variant over rounds.
    pub fn rps(&self, variant: &str) -> f64 {
        self.median_of(variant, |x| &x.rps)
    }

    /// Median p99 (µs) at the fixed rate.
    pub fn rate_p99(&self, variant: &str) -> f64 {
        self.median_of(variant, |x| &x.rate_p99_us)
    }

    /// Median p50 (µs) at the fixed rate.
    pub fn rate_p50(&self, variant: &str) -> f64 {
        self.median_of(variant, |x| &x.rate_p50_us)
    }

    /// Ratio of two variants' throughput: the median of per-round ratios (each pair ran seconds
    /// apart, so machine noise that hits a whole round cancels out).
    pub fn round_ratio(&self, x: &str, y: &str) -> f64 {
        match (self.load.get(x), self.load.get(y)) {
            (Some(a), Some(b)) => median(
                &a.rps
                    .iter()
                    .zip(&b.rps)
                    .map(|(p, q)| p / q)
                    .collect::<Vec<_>>(),
            ),
            _ => f64::NAN,
        }
    }

    /// Per round, `x`'s throughput over the best of `peers` in that same round; `None` for a
    /// round in which `x` or every peer is missing.
    fn ratios_to_best(&self, x: &str, peers: &[&str]) -> Vec<f64> {
        let Some(ours) = self.load.get(x) else {
            return Vec::new();
        };
        ours.rps
            .iter()
            .enumerate()
            .filter_map(|(round, mine)| {
                let best = peers
                    .iter()
                    .filter_map(|p| self.load.get(p)?.rps.get(round).copied())
                    .filter(|r| r.is_finite())
                    .fold(f64::NAN, f64::max);
                (mine.is_finite() && best.is_finite()).then(|| mine / best)
            })
            .collect()
    }

    /// The median over rounds of `x` / (the best of `peers` in the same round): the ratio the
    /// goals are judged on, so a peer that wins one round and loses the next is not cherry-picked.
    pub fn ratio_to_best(&self, x: &str, peers: &[&str]) -> f64 {
        median(&self.ratios_to_best(x, peers))
    }

    /// The per-round ratios behind [`Run::ratio_to_best`], as `0.61, 0.73, …`.
    pub fn per_round_to_best(&self, x: &str, peers: &[&str]) -> String {
        self.ratios_to_best(x, peers)
            .iter()
            .map(|r| format!("{r:.2}"))
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// Median p99 (µs) at saturation (wrk, fixed concurrency).
    pub fn saturated_p99(&self, variant: &str) -> f64 {
        self.median_of(variant, |x| &x.p99_us)
    }

    /// The per-round ratios behind [`Run::round_ratio`], as `0.61, 0.73, …`.
    pub fn per_round(&self, x: &str, y: &str) -> String {
        match (self.load.get(x), self.load.get(y)) {
            (Some(a), Some(b)) => a
                .rps
                .iter()
                .zip(&b.rps)
                .map(|(p, q)| format!("{:.2}", p / q))
                .collect::<Vec<_>>()
                .join(", "),
            _ => String::new(),
        }
    }

    /// Criterion's median (ns) of one benchmark.
    pub fn micro_median(&self, id: &str) -> Option<f64> {
        self.micro.get(id).map(|x| x.0)
    }

    /// The revocation run of `scale.json`.
    pub fn revocation(&self) -> Option<&Value> {
        self.scale.as_ref().and_then(|s| s.get("revocation"))
    }

    /// The resolution rows of `scale.json` (small and large store per backend).
    pub fn resolution(&self) -> Vec<Value> {
        self.scale
            .as_ref()
            .and_then(|s| s.get("resolution"))
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default()
    }

    /// The `vexa import vexa` rows of `scale.json` (one per backend).
    pub fn import_rows(&self) -> Vec<Value> {
        self.scale
            .as_ref()
            .and_then(|s| s.get("import"))
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default()
    }

    /// The RSS rows of `scale.json`: an array, or one object from older runs.
    pub fn rss_rows(&self) -> Vec<Value> {
        match self.scale.as_ref().and_then(|s| s.get("rss")) {
            Some(Value::Array(rows)) => rows.clone(),
            Some(one @ Value::Object(_)) => vec![one.clone()],
            _ => Vec::new(),
        }
    }
}

/// Per-variant figures, one entry per round (medians are taken when reported).
#[derive(Default, Debug)]
pub struct VariantFigures {
    pub rounds: usize,
    pub rps: Vec<f64>,
    pub p50_us: Vec<f64>,
    pub p99_us: Vec<f64>,
    pub non2xx: Vec<f64>,
    pub socket_errors: Vec<f64>,
    pub rate_rps: Vec<f64>,
    pub rate_p50_us: Vec<f64>,
    pub rate_p99_us: Vec<f64>,
    pub rate_max_us: Vec<f64>,
    pub rate_codes: BTreeMap<String, f64>,
}

impl VariantFigures {
    /// One wrk run (fixed concurrency). Throughput stays aligned by round (NaN when missing) so
    /// per-round ratios pair the right runs.
    fn add_wrk(&mut self, wrk: Option<Value>) {
        let round_rps = wrk.as_ref().and_then(|w| {
            let (n, d) = (
                number_at(w, &["requests"])?,
                number_at(w, &["duration_us"])?,
            );
            (d > 0.0).then(|| n / (d / 1e6))
        });
        self.rps.push(round_rps.unwrap_or(f64::NAN));
        let Some(w) = wrk else { return };
        self.p50_us.extend(number_at(&w, &["latency_us", "p50"]));
        self.p99_us.extend(number_at(&w, &["latency_us", "p99"]));
        self.non2xx.extend(number_at(&w, &["errors", "status"]));
        let sock: f64 = ["connect", "read", "write", "timeout"]
            .iter()
            .filter_map(|k| number_at(&w, &["errors", k]))
            .sum();
        self.socket_errors.push(sock);
    }

    /// One oha run at the fixed rate (seconds in its JSON, microseconds here).
    fn add_oha(&mut self, o: &Value) {
        let us = |path: &[&str]| number_at(o, path).map(|s| s * 1e6);
        self.rate_rps
            .extend(number_at(o, &["summary", "requestsPerSec"]));
        self.rate_p50_us.extend(us(&["latencyPercentiles", "p50"]));
        self.rate_p99_us.extend(us(&["latencyPercentiles", "p99"]));
        self.rate_max_us.extend(us(&["summary", "slowest"]));
        if let Some(codes) = o.get("statusCodeDistribution").and_then(Value::as_object) {
            for (code, n) in codes {
                *self.rate_codes.entry(code.clone()).or_default() += n.as_f64().unwrap_or(0.0);
            }
        }
    }
}

pub fn read_json(path: &Path) -> Option<Value> {
    let text = std::fs::read_to_string(path).ok()?;
    serde_json::from_str(&text).ok()
}

/// The number at `path` inside `v`.
pub fn number_at(v: &Value, path: &[&str]) -> Option<f64> {
    let mut cur = v;
    for p in path {
        cur = cur.get(*p)?;
    }
    cur.as_f64()
}

/// `load/<v>-r<round>.{wrk,oha}.json` for every variant; rounds are read until one has neither.
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
            fig.add_wrk(wrk);
            if let Some(o) = oha {
                fig.add_oha(&o);
            }
        }
        out.insert(v, fig);
    }
    out
}

/// Criterion's estimates under `dir`: full id → (median ns, mean ns), from every `new/`
/// directory outside criterion's own `report/`.
fn criterion_figures(dir: &Path) -> BTreeMap<String, (f64, f64)> {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_owned()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for p in entries.flatten().map(|e| e.path()).filter(|p| p.is_dir()) {
            if p.file_name().is_some_and(|n| n == "new") {
                if let Some((id, estimates)) = criterion_estimate(&p) {
                    out.insert(id, estimates);
                }
            } else if p.file_name().is_some_and(|n| n != "report") {
                stack.push(p);
            }
        }
    }
    out
}

/// One benchmark's id and (median, mean) from a criterion `new/` directory.
fn criterion_estimate(new_dir: &Path) -> Option<(String, (f64, f64))> {
    let bench = read_json(&new_dir.join("benchmark.json"))?;
    let est = read_json(&new_dir.join("estimates.json"))?;
    let id = bench.get("full_id").and_then(Value::as_str)?;
    let median = number_at(&est, &["median", "point_estimate"])?;
    let mean = number_at(&est, &["mean", "point_estimate"])?;
    Some((id.to_owned(), (median, mean)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run_with(rps: &[(&'static str, Vec<f64>)]) -> Run {
        let load = rps
            .iter()
            .map(|(v, r)| {
                let fig = VariantFigures {
                    rounds: r.len(),
                    rps: r.clone(),
                    ..VariantFigures::default()
                };
                (*v, fig)
            })
            .collect();
        Run {
            meta: Value::Null,
            status: Value::Null,
            scale: None,
            load,
            micro: BTreeMap::new(),
            allocs: Vec::new(),
        }
    }

    #[test]
    fn ratio_to_best_divides_by_the_best_peer_of_each_round() {
        // Round 1: best peer k (40); round 2: best peer i (50); round 3: i missing, k 20.
        let run = run_with(&[
            ("l", vec![20.0, 25.0, 30.0]),
            ("i", vec![30.0, 50.0, f64::NAN]),
            ("k", vec![40.0, 10.0, 20.0]),
        ]);
        assert_eq!(
            run.per_round_to_best("l", &KEY_CHECKING_PEERS),
            "0.50, 0.50, 1.50"
        );
        assert!((run.ratio_to_best("l", &KEY_CHECKING_PEERS) - 0.5).abs() < 1e-9);
    }

    #[test]
    fn ratio_to_best_is_nan_without_peers() {
        let run = run_with(&[("l", vec![20.0])]);
        assert!(run.ratio_to_best("l", &KEY_CHECKING_PEERS).is_nan());
        assert!(run.ratio_to_best("c", &KEY_CHECKING_PEERS).is_nan());
    }

    #[test]
    fn the_usage_counters_goal_and_ratio_compare_l_with_n_per_round() {
        assert!(VARIANTS.contains(&"n"), "(n) is loaded and reported");
        let run = run_with(&[
            ("l", vec![96.0, 100.0, 90.0]),
            ("n", vec![100.0, 100.0, 100.0]),
        ]);
        assert!((run.round_ratio("l", "n") - 0.96).abs() < 1e-9);
        let goal = super::super::goals::goals(&run)
            .into_iter()
            .find(|g| g.name == "Hot path unchanged by the usage counters")
            .expect("the goal is listed");
        assert_eq!(goal.met, Some(true), "{}", goal.measured);
        let results = super::super::results::ratios(&run);
        assert_eq!(
            results["gateway_usage_on_over_off"],
            run.round_ratio("l", "n")
        );
        let unmeasured = run_with(&[("l", vec![96.0])]);
        let goal = super::super::goals::goals(&unmeasured)
            .into_iter()
            .find(|g| g.name == "Hot path unchanged by the usage counters")
            .expect("listed");
        assert_eq!(goal.met, None, "without (n) the goal is not measured");
    }
}
