//! Usage charts as inline SVG, drawn on the server from the admin service's hourly buckets: no
//! script, no library, nothing loaded from elsewhere. Every `<svg>` carries its `width` and
//! `height`, so the browser reserves its box before it draws (no layout shift), and a text
//! equivalent (`<title>`, `aria-label`, a visually hidden table) for screen readers.

use std::fmt::Write;

use vexa_core::usage::HourBucket;
use vexa_core::Timestamp;

use super::presenter::total;

const SPARK_W: i64 = 120;
const SPARK_H: i64 = 28;

/// A polyline of the total requests per hour, linked to the key's usage page.
pub fn sparkline(buckets: &[HourBucket], hours: u32, href: &str, prefix: &str) -> String {
    let sum: i64 = buckets.iter().map(total).sum();
    let words = format!(
        "{sum} request{} in the last {hours} h for key {prefix}…",
        if sum == 1 { "" } else { "s" }
    );
    let max = buckets.iter().map(total).max().unwrap_or(0).max(1);
    let n = i64::try_from(buckets.len()).unwrap_or(1).max(2) - 1;
    let mut points = String::new();
    for (i, b) in buckets.iter().enumerate() {
        let i = i64::try_from(i).unwrap_or(0);
        let x = 1 + i * (SPARK_W - 2) / n;
        // One pixel of margin, so a flat zero line and the peak both stay visible.
        let y = SPARK_H - 2 - total(b) * (SPARK_H - 4) / max;
        let _ = write!(points, "{x},{y} ");
    }
    format!(
        r#"<a class="spark" href="{href}" aria-label="{words} — open the usage chart"><svg width="{SPARK_W}" height="{SPARK_H}" viewBox="0 0 {SPARK_W} {SPARK_H}" role="img" aria-label="{words}"><title>{words}</title><polyline fill="none" stroke="currentColor" stroke-width="1.5" points="{points}"/></svg><span class="spark-total">{sum}</span></a>"#,
        href = href,
        words = super::html::esc(&words),
        points = points.trim_end(),
    )
}

/// The outcomes stacked in the usage chart, bottom first: (field, label, css class).
const SERIES: [(&str, &str, &str); 4] = [
    ("allowed", "allowed", "o-allowed"),
    ("scope", "refused for scope", "o-scope"),
    ("rate_limited", "rate limited", "o-limited"),
    ("expired", "expired key", "o-expired"),
];

fn count(b: &HourBucket, field: &str) -> i64 {
    match field {
        "allowed" => b.allowed,
        "scope" => b.scope,
        "rate_limited" => b.rate_limited,
        _ => b.expired,
    }
}

const W: i64 = 720;
const H: i64 = 260;
const LEFT: i64 = 60;
const RIGHT: i64 = 8;
const TOP: i64 = 10;
const BOTTOM: i64 = 44;

/// Stacked bars per hour and outcome, with axes, a legend and the numbers as a hidden table.
pub fn usage_chart(buckets: &[HourBucket], hours: u32) -> String {
    let sum: i64 = buckets.iter().map(total).sum();
    let max = buckets.iter().map(total).max().unwrap_or(0).max(1);
    let plot_w = W - LEFT - RIGHT;
    let plot_h = H - TOP - BOTTOM;
    let n = i64::try_from(buckets.len()).unwrap_or(1).max(1);
    let slot = plot_w as f64 / n as f64;
    let bar = (slot * 0.8).max(1.0);
    let mut bars = String::new();
    for (i, b) in buckets.iter().enumerate() {
        let x = LEFT as f64 + slot * i as f64 + (slot - bar) / 2.0;
        let mut base = TOP + plot_h;
        for (field, label, class) in SERIES {
            let c = count(b, field);
            if c == 0 {
                continue;
            }
            let h = (c * plot_h / max).max(1);
            base -= h;
            let _ = write!(
                bars,
                r#"<rect class="bar {class}" data-count="{c}" x="{x:.1}" y="{base}" width="{bar:.1}" height="{h}"><title>{hour}: {c} {label}</title></rect>"#,
                hour = hour_label(b.hour, true),
            );
        }
    }
    // The x axis names the first, middle and last hour; the y axis its top and zero.
    let mut ticks = String::new();
    let last = buckets.len().saturating_sub(1);
    for i in [0, last / 2, last] {
        if let Some(b) = buckets.get(i) {
            let x = LEFT as f64 + slot * i as f64 + slot / 2.0;
            let anchor = if i == 0 {
                "start"
            } else if i == last {
                "end"
            } else {
                "middle"
            };
            let _ = write!(
                ticks,
                r#"<text x="{x:.1}" y="{y}" text-anchor="{anchor}">{}</text>"#,
                hour_label(b.hour, hours > 24),
                y = TOP + plot_h + 16,
            );
        }
    }
    let words = format!("{sum} requests in the last {hours} hours, at most {max} in one hour");
    let svg = format!(
        r#"<svg class="chart" width="{W}" height="{H}" viewBox="0 0 {W} {H}" role="img" aria-labelledby="chart-title"><title id="chart-title">{words}</title>
<line class="axis" x1="{LEFT}" y1="{TOP}" x2="{LEFT}" y2="{base}"/><line class="axis" x1="{LEFT}" y1="{base}" x2="{right}" y2="{base}"/>
<text x="{ylab}" y="{top_t}" text-anchor="end">{max}</text><text x="{ylab}" y="{base}" text-anchor="end">0</text>
<text x="14" y="{mid}" text-anchor="middle" transform="rotate(-90 14 {mid})">Requests per hour</text>
{ticks}<text x="{xmid}" y="{xt}" text-anchor="middle">Hour (UTC)</text>
{bars}</svg>"#,
        base = TOP + plot_h,
        right = W - RIGHT,
        ylab = LEFT - 6,
        top_t = TOP + 10,
        mid = TOP + plot_h / 2,
        xmid = LEFT + plot_w / 2,
        xt = H - 6,
        words = super::html::esc(&words),
    );
    let mut legend = String::from(r#"<ul class="legend" aria-label="Legend">"#);
    for (field, label, class) in SERIES {
        let n: i64 = buckets.iter().map(|b| count(b, field)).sum();
        let _ = write!(
            legend,
            r#"<li><span class="swatch {class}" aria-hidden="true"></span>{label}: {n}</li>"#
        );
    }
    legend.push_str("</ul>");
    format!(
        r#"<figure class="card chartbox"><div class="chartwrap">{svg}</div>{legend}<figcaption class="hint">{words}. Counts arrive from each gateway every few seconds.</figcaption>{table}</figure>"#,
        words = super::html::esc(&words),
        table = hidden_table(buckets),
    )
}

/// The chart's numbers for screen readers.
fn hidden_table(buckets: &[HourBucket]) -> String {
    let mut rows = String::new();
    for b in buckets {
        let _ = write!(
            rows,
            r#"<tr><th scope="row">{}</th><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>"#,
            hour_label(b.hour, true),
            b.allowed,
            b.scope,
            b.rate_limited,
            b.expired
        );
    }
    format!(
        r#"<div class="scroll"><table class="sr"><caption>Requests per hour and outcome</caption><thead><tr><th scope="col">Hour (UTC)</th><th scope="col">Allowed</th><th scope="col">Refused for scope</th><th scope="col">Rate limited</th><th scope="col">Expired key</th></tr></thead><tbody>{rows}</tbody></table></div>"#
    )
}

/// `18:00`, or `11-28 18:00` with the day.
fn hour_label(t: Timestamp, with_day: bool) -> String {
    let full = t.to_rfc3339();
    let (date, time) = full.split_once('T').unwrap_or((&full, ""));
    let hm: String = time.chars().take(5).collect();
    if with_day {
        format!("{} {hm}", date.get(5..).unwrap_or(date))
    } else {
        hm
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hour(i: i64, allowed: i64, expired: i64) -> HourBucket {
        HourBucket {
            hour: Timestamp(1_795_888_800_000 + i * 3_600_000),
            allowed,
            scope: 0,
            rate_limited: 0,
            expired,
        }
    }

    #[test]
    fn a_sparkline_states_its_total_and_reserves_its_box() {
        let b = [hour(0, 2, 1), hour(1, 0, 0), hour(2, 4, 0)];
        let svg = sparkline(&b, 36, "/console/keys/1/usage", "vxa_bot_ab");
        assert!(svg.contains(r#"width="120" height="28""#));
        assert!(svg.contains("<title>7 requests in the last 36 h for key vxa_bot_ab…</title>"));
        assert!(svg.contains(r#"points="1,8 60,26 119,2""#), "{svg}");
    }

    #[test]
    fn bars_stack_per_outcome_and_empty_hours_draw_nothing() {
        let b = [hour(0, 3, 1), hour(1, 0, 0)];
        let svg = usage_chart(&b, 24);
        assert_eq!(svg.matches("<rect").count(), 2);
        assert!(svg.contains(r#"class="bar o-allowed" data-count="3""#));
        assert!(svg.contains(r#"class="bar o-expired" data-count="1""#));
        assert!(svg.contains("4 requests in the last 24 hours"));
        assert!(svg.contains("<td>3</td><td>0</td><td>0</td><td>1</td>"));
    }
}
