//! The "Scale runs" section of `REPORT.md`: key resolution with a small and a large store,
//! revocation between two replicas, gateway memory with many keys cached, and the import rate of
//! `vexa import vexa`.

use std::fmt::Write as _;

use serde_json::Value;

use super::format::{num, p50_p99, text};
use super::inputs::{number_at, Run};

/// The section; each part appears only when `scale.json` has it.
pub fn scale(md: &mut String, run: &Run, scale: &Value) {
    let _ = writeln!(md, "## Scale runs\n");
    let resolution = run.resolution();
    if !resolution.is_empty() {
        resolution_table(md, scale, &resolution);
        query_plans(md, &resolution);
    }
    if let Some(r) = run.revocation() {
        revocation(md, r);
    }
    let rss_rows = run.rss_rows();
    if !rss_rows.is_empty() {
        memory(md, &rss_rows);
    }
    let import_rows = run.import_rows();
    if !import_rows.is_empty() {
        import(md, &import_rows);
    }
}

fn import(md: &mut String, rows: &[Value]) {
    let _ = writeln!(
        md,
        "`vexa import vexa`: an original Vexa database (its schema, {} users, tokens in the original's `vxa_bot_…` shape) \
         imported into an empty store by the real binary, timed from process start to exit (digesting, batched writes, \
         sequences).\n",
        rows[0]["users"]
    );
    let _ = writeln!(md, "| backend | keys | time | keys/s |\n|---|---|---|---|");
    for r in rows {
        let _ = writeln!(
            md,
            "| {} | {} | {:.2} s | {} |",
            text(r, "backend"),
            r["keys"],
            number_at(r, &["seconds"]).unwrap_or(f64::NAN),
            num(number_at(r, &["keys_per_second"]).unwrap_or(f64::NAN))
        );
    }
    let _ = writeln!(md);
}

fn resolution_table(md: &mut String, scale: &Value, rows: &[Value]) {
    let _ = writeln!(
        md,
        "Key resolution through the real gateway (`GET /auth/me`, one client, one request at a time over a kept-alive \
         connection, so each figure includes loopback HTTP). *store* is `SqlIdentityStore::resolve_key` called in-process; \
         *cold* is the first request with each of {} sample keys on a freshly started gateway (a cache miss: one store lookup); \
         *warm* is the same keys again (cache hits).\n",
        scale["samples"]
    );
    let _ = writeln!(md, "| backend | keys stored | seed time | store p50 / p99 | cold p50 / p99 | warm p50 / p99 |\n|---|---|---|---|---|---|");
    for r in rows {
        let _ = writeln!(
            md,
            "| {} | {} | {:.1} s | {} | {} | {} |",
            text(r, "backend"),
            r["keys_stored"],
            number_at(r, &["seed_seconds"]).unwrap_or(f64::NAN),
            p50_p99(r, "store_lookup"),
            p50_p99(r, "cold_http"),
            p50_p99(r, "warm_http")
        );
    }
}

fn query_plans(md: &mut String, rows: &[Value]) {
    let _ = writeln!(
        md,
        "\nQuery plans of the resolution query (`EXPLAIN QUERY PLAN` / `EXPLAIN` with one sample digest, after `ANALYZE`):\n"
    );
    for r in rows {
        let _ = writeln!(
            md,
            "- {} ({} keys): `{}`",
            text(r, "backend"),
            r["keys_stored"],
            text(r, "query_plan")
        );
    }
    let _ = writeln!(md);
}

fn revocation(md: &mut String, r: &Value) {
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
            number_at(r, &[k, "median"]).unwrap_or(f64::NAN),
            number_at(r, &[k, "max"]).unwrap_or(f64::NAN)
        );
    }
    let _ = writeln!(
        md,
        "\nThe revoking replica answered 401 on the first request after the 204 in {} of {} cases.\n",
        r["revoking_replica_401_on_first_request"], r["n"]
    );
}

/// One column per RSS run (backend), one row per figure.
fn memory(md: &mut String, rows: &[Value]) {
    let _ = writeln!(
        md,
        "Gateway memory: one `vexa gateway` process, {} distinct keys each used once (16 concurrent clients), so all are cached. \
         \"Per cached key\" is (RSS with all cached − RSS after a warm-up of 5000 requests with one key) / keys. On SQLite the \
         figure also holds SQLite's own page cache inside the gateway process (the database is embedded); PostgreSQL's is not.\n",
        rows[0]["keys_cached"]
    );
    let _ = writeln!(
        md,
        "| | {} |\n|---|{}",
        rows.iter()
            .map(|r| text(r, "backend").to_owned())
            .collect::<Vec<_>>()
            .join(" | "),
        "---|".repeat(rows.len())
    );
    type Figure<'a> = (&'a str, &'a dyn Fn(&Value) -> String);
    let mib = |k: &'static str| {
        move |r: &Value| {
            number_at(r, &[k]).map_or("–".into(), |v| format!("{:.1} MiB", v / 1024.0))
        }
    };
    let figures: [Figure; 7] = [
        ("RSS idle after start", &mib("rss_idle_kib")),
        (
            "RSS after warm-up with one key",
            &mib("rss_before_fill_kib"),
        ),
        ("RSS with all keys cached", &mib("rss_after_fill_kib")),
        ("peak RSS (VmHWM)", &mib("hwm_final_kib")),
        ("per cached key", &|r: &Value| {
            let bytes = number_at(r, &["bytes_per_cached_key"]).unwrap_or(f64::NAN);
            format!("{bytes:.0} bytes")
        }),
        (
            "fill rate (first use of each key: miss + store lookup)",
            &|r: &Value| {
                let rate = number_at(r, &["fill_requests_per_second"]).unwrap_or(f64::NAN);
                format!("{} req/s", num(rate))
            },
        ),
        ("warm `/auth/me` p50 / p99, all cached", &|r: &Value| {
            p50_p99(r, "warm_http")
        }),
    ];
    for (label, value) in figures {
        let cells: Vec<String> = rows.iter().map(value).collect();
        let _ = writeln!(md, "| {label} | {} |", cells.join(" | "));
    }
    let _ = writeln!(md);
}
