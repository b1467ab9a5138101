//! Path tricks (`..`, `%2e%2e`, encoded slashes and backslashes, control characters) on the
//! proxied routes never reach the upstream.

use proptest::prelude::*;
use proptest::test_runner::TestCaseError;
use vexa_gateway::routes::Target;
use vexa_testkit::proptest_runner;

use super::raw_http::{h, raw, request};
use super::{concrete_routes, gateway, gateway_on_runtime, ALL};
use crate::support::{key, Backend, TestStore};

/// True when a path, as the upstream would see it, could mean something other than its
/// segments: dot segments (raw or percent-encoded), encoded slashes or backslashes, raw
/// backslashes, raw or encoded control characters.
fn tricky(path: &str) -> bool {
    let lower = path.to_ascii_lowercase();
    if lower.contains("%2f") || lower.contains("%5c") || path.contains('\\') {
        return true;
    }
    if path.bytes().any(|b| b < 0x20 || b == 0x7f) {
        return true;
    }
    let b = lower.as_bytes();
    for i in 0..b.len() {
        if b[i] == b'%' && i + 3 <= b.len() {
            if let Ok(v) = u8::from_str_radix(&lower[i + 1..i + 3], 16) {
                if v < 0x20 || v == 0x7f {
                    return true;
                }
            }
        }
    }
    lower
        .split('/')
        .map(|seg| seg.replace("%2e", "."))
        .any(|seg| !seg.is_empty() && seg.bytes().all(|c| c == b'.'))
}

const TRICKS: &[&str] = &[
    "..",
    ".",
    "%2e%2e",
    "%2E%2E",
    ".%2e",
    "%2e.",
    "%2e",
    "..%2f..%2fadmin",
    "..%2F..%2Fadmin%2Fusers",
    "a%2fb",
    "a%5cb",
    "..%5c..%5cadmin",
    "%00",
    "x%00y",
    "%0d%0aX-User-Id:%201",
    "%09",
    "%7f",
    "...",
];

#[tokio::test]
async fn path_tricks_never_reach_the_upstream() {
    let store = TestStore::new(Backend::Sqlite).await;
    let (gw, _echo) = gateway(store.clone()).await;
    let k = key(&store, ALL).await;
    let mut paths: Vec<(String, String)> = Vec::new();
    for (method, path, target) in concrete_routes() {
        if !matches!(target, Target::Forward(_)) {
            continue;
        }
        let segs: Vec<&str> = path.split('/').collect();
        for t in TRICKS {
            // Every segment position (after the first, which picks the route), replaced or
            // with the trick appended as a further segment.
            for i in 1..segs.len() {
                let mut s = segs.clone();
                s[i] = t;
                paths.push((method.to_owned(), s.join("/")));
            }
            paths.push((method.to_owned(), format!("{path}/{t}")));
            paths.push((method.to_owned(), format!("{path}/{t}/admin/users")));
        }
    }
    for (m, p) in [
        ("GET", "/browser/../admin/users"),
        ("GET", "/browser/../../etc/passwd"),
        ("GET", "/browser/%2e%2e/%2e%2e/admin/users"),
        ("GET", "/transcripts/../../admin/users"),
        ("DELETE", "/meetings/../admin/users/1"),
        ("GET", "/meetings/..;/admin"),
        ("GET", "/browser/.%2e/admin"),
        ("GET", "/browser//..//admin"),
    ] {
        paths.push((m.to_owned(), p.to_owned()));
    }
    let mut reached = 0;
    let mut refused = 0;
    for (m, p) in &paths {
        let Some(r) = raw(
            gw.addr,
            &request(m, p.as_bytes(), &[h("x-api-key", &k)], b""),
        )
        .await
        else {
            panic!("{m} {p}: no answer");
        };
        assert!(r.status < 500, "{m} {p}: {}", r.status);
        if r.is_from_upstream() {
            reached += 1;
            let seen = r.json()["path"].as_str().unwrap_or("").to_owned();
            assert!(!tricky(&seen), "{m} {p} reached the upstream as {seen:?}");
            assert!(!tricky(p), "{m} {p} reached the upstream");
        } else {
            refused += 1;
            assert!(
                r.status == 404 || r.status == 400,
                "{m} {p}: refused with {}",
                r.status
            );
        }
    }
    // Raw control characters and spaces in the request line are malformed requests.
    for p in [
        &b"/meetings/\x01"[..],
        b"/meetings/1\x7f",
        b"/browser/a\tb",
        b"/browser/a\x00b",
        b"/browser/a\\..\\admin",
    ] {
        if let Some(r) = raw(gw.addr, &request("GET", p, &[h("x-api-key", &k)], b"")).await {
            assert!(
                !r.is_from_upstream(),
                "{:?} reached the upstream",
                String::from_utf8_lossy(p)
            );
            assert!(r.status < 500);
        }
    }
    eprintln!(
        "path tricks: {} tried, {refused} refused, {reached} clean ones forwarded",
        paths.len()
    );
    assert!(refused > 0);
    gw.shutdown().await;
}

#[test]
fn fuzzed_paths_never_reach_the_upstream_dirty() {
    let (rt, gw, _echo, k) = gateway_on_runtime();
    let segment = prop_oneof![
        3 => "[a-zA-Z0-9_~-]{1,6}",
        2 => prop::sample::select(TRICKS.to_vec()).prop_map(String::from),
        1 => "(%[0-9a-fA-F]{2}|\\.|[a-z]){1,4}",
    ];
    let strategy = (
        prop::sample::select(vec![
            ("GET", "/browser"),
            ("POST", "/browser"),
            ("GET", "/meetings"),
            ("GET", "/transcripts"),
            ("DELETE", "/bots"),
            ("PUT", "/bots"),
            ("GET", "/user"),
        ]),
        proptest::collection::vec(segment, 1..5),
    );
    let sent = std::cell::Cell::new(0u32);
    proptest_runner(96)
        .run(&strategy, |((method, root), segs)| {
            let path = format!("{root}/{}", segs.join("/"));
            let r = rt
                .block_on(raw(
                    gw.addr,
                    &request(method, path.as_bytes(), &[h("x-api-key", &k)], b""),
                ))
                .ok_or_else(|| TestCaseError::fail(format!("{method} {path}: no answer")))?;
            sent.set(sent.get() + 1);
            prop_assert!(r.status < 500, "{} {}: {}", method, path, r.status);
            if r.is_from_upstream() {
                let seen = r.json()["path"].as_str().unwrap_or("").to_owned();
                prop_assert!(
                    !tricky(&seen),
                    "{} {} reached the upstream as {:?}",
                    method,
                    path,
                    seen
                );
                prop_assert_eq!(seen, path);
            }
            Ok(())
        })
        .unwrap_or_else(|e| panic!("{e}"));
    eprintln!("path fuzz: {} requests", sent.get());
    rt.block_on(gw.shutdown());
}
