//! How figures and cells look in `REPORT.md`: durations, counts, JSON cells and table rows.
//! Every missing or non-finite figure prints as `–`.

use serde_json::Value;

/// A criterion figure in nanoseconds, in the unit that keeps it readable.
pub fn fmt_ns(ns: f64) -> String {
    if ns < 1000.0 {
        format!("{ns:.1} ns")
    } else if ns < 1e6 {
        format!("{:.2} µs", ns / 1e3)
    } else {
        format!("{:.2} ms", ns / 1e6)
    }
}

/// A latency in microseconds (whole µs, or ms with two decimals).
pub fn fmt_us(us: f64) -> String {
    if !us.is_finite() {
        "–".into()
    } else if us < 1000.0 {
        format!("{us:.0} µs")
    } else {
        format!("{:.2} ms", us / 1e3)
    }
}

/// A whole number, e.g. requests per second.
pub fn num(v: f64) -> String {
    if v.is_finite() {
        format!("{v:.0}")
    } else {
        "–".into()
    }
}

/// The member `key` of `v` as a table cell: strings bare, anything else as JSON.
pub fn cell(v: &Value, key: &str) -> String {
    v.get(key)
        .map(|x| {
            x.as_str()
                .map(str::to_owned)
                .unwrap_or_else(|| x.to_string())
        })
        .unwrap_or_else(|| "–".into())
}

/// The string at `key` of `v`, or empty.
pub fn text<'a>(v: &'a Value, key: &str) -> &'a str {
    v[key].as_str().unwrap_or("")
}

/// `p50 / p99` of a latency summary (`{"p50_us": …, "p99_us": …}`) under `key` of `row`.
pub fn p50_p99(row: &Value, key: &str) -> String {
    let at = |p: &str| super::inputs::number_at(row, &[key, p]).unwrap_or(f64::NAN);
    format!("{} / {}", fmt_us(at("p50_us")), fmt_us(at("p99_us")))
}

/// The strings of the array at `key` of `v` (non-strings print as empty lines).
pub fn lines<'a>(v: &'a Value, key: &str) -> impl Iterator<Item = &'a str> {
    v.get(key)
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .map(|line| line.as_str().unwrap_or(""))
}
