//! Abuse of the public front door, black-box over loopback against a real `Gateway::serve` and
//! the `EchoUpstream` (which reports every header and the exact path it received):
//!
//! - header fuzzing with raw bytes (random, non-UTF-8, oversized values) on every route;
//! - spoofed identity headers (`X-User-*`, `X-Key-*`, `X-Internal-*`, any case, any suffix,
//!   repeated) on every route, never reaching the upstream, the true identity injected instead;
//! - path tricks (`..`, `%2e%2e`, encoded slashes and backslashes, control characters) on the
//!   proxied routes never reaching the upstream;
//! - a flood of garbage keys from one address: edge ban for it, another client unaffected, and
//!   not one store lookup for a malformed key (counted);
//! - slow-loris (headers sent byte by byte) cut off by the header timeout, others served meanwhile;
//! - oversized headers and bodies refused without being buffered.
//!
//! Requests go over raw TCP so that bytes no HTTP library would send can be sent. Proptest case
//! counts are small by default (`make test`); `scripts/fuzz.sh` raises them via `PROPTEST_CASES`.

mod common;

use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::*;
use futures_util::StreamExt;
use proptest::prelude::*;
use proptest::test_runner::{Config as PtConfig, TestCaseError, TestRunner};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;
use vexa_core::Scope;
use vexa_gateway::limit::{EdgeConfig, TrustedProxies};
use vexa_gateway::routes::{Methods, Target, ROUTES};

const ALL: &[Scope] = &[Scope::Bot, Scope::Tx, Scope::Browser];
const SECRET: &str = "test-internal-secret";
const IDENTITY_PREFIXES: [&str; 3] = ["x-user-", "x-key-", "x-internal-"];

// ---------------------------------------------------------------------------------------------
// A raw HTTP/1.1 client.

#[derive(Debug)]
struct RawReply {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl RawReply {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or(serde_json::Value::Null)
    }

    /// Whether the echo upstream produced this answer (the request got through).
    fn is_from_upstream(&self) -> bool {
        self.header("x-upstream") == Some("echo")
    }
}

fn dechunk(mut b: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let Some(eol) = b.windows(2).position(|w| w == b"\r\n") else {
            return out;
        };
        let size = std::str::from_utf8(&b[..eol])
            .ok()
            .and_then(|s| usize::from_str_radix(s.split(';').next().unwrap_or("").trim(), 16).ok());
        let Some(size) = size else { return out };
        b = &b[eol + 2..];
        if size == 0 || b.len() < size {
            out.extend_from_slice(&b[..size.min(b.len())]);
            return out;
        }
        out.extend_from_slice(&b[..size]);
        b = b.get(size + 2..).unwrap_or(&[]);
    }
}

fn parse_reply(buf: &[u8]) -> Option<RawReply> {
    let end = buf.windows(4).position(|w| w == b"\r\n\r\n")?;
    let head = String::from_utf8_lossy(&buf[..end]);
    let mut lines = head.split("\r\n");
    let status = lines.next()?.split(' ').nth(1)?.parse().ok()?;
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    let raw_body = &buf[end + 4..];
    let chunked = headers
        .iter()
        .any(|(n, v)| n == "transfer-encoding" && v.contains("chunked"));
    let body = if chunked {
        dechunk(raw_body)
    } else {
        raw_body.to_vec()
    };
    Some(RawReply {
        status,
        headers,
        body,
    })
}

/// Sends raw bytes on a fresh connection and reads until the server closes (the requests carry
/// `Connection: close`). `None` when the server closed without an HTTP answer.
async fn raw(addr: SocketAddr, request: &[u8]) -> Option<RawReply> {
    let s = TcpStream::connect(addr).await.expect("connect");
    let (mut rd, mut wr) = s.into_split();
    // The server may answer and close before the whole request is written (refused bodies,
    // oversized headers): the writer runs beside the reader, a failed write is not a failure of
    // the test, the answer is.
    let request = request.to_vec();
    let writer = tokio::spawn(async move {
        let _ = wr.write_all(&request).await;
        wr
    });
    let mut buf = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(10), rd.read_to_end(&mut buf)).await;
    writer.abort();
    parse_reply(&buf)
}

fn request(method: &str, path: &[u8], headers: &[(Vec<u8>, Vec<u8>)], body: &[u8]) -> Vec<u8> {
    let mut r = Vec::with_capacity(256 + body.len());
    r.extend_from_slice(method.as_bytes());
    r.push(b' ');
    r.extend_from_slice(path);
    r.extend_from_slice(b" HTTP/1.1\r\nHost: gateway\r\nConnection: close\r\n");
    for (n, v) in headers {
        r.extend_from_slice(n);
        r.extend_from_slice(b": ");
        r.extend_from_slice(v);
        r.extend_from_slice(b"\r\n");
    }
    if !body.is_empty() {
        r.extend_from_slice(format!("Content-Length: {}\r\n", body.len()).as_bytes());
    }
    r.extend_from_slice(b"\r\n");
    r.extend_from_slice(body);
    r
}

fn h(n: &str, v: &str) -> (Vec<u8>, Vec<u8>) {
    (n.as_bytes().to_vec(), v.as_bytes().to_vec())
}

// ---------------------------------------------------------------------------------------------
// Routes.

/// Every declared row as (method, concrete path, target); `Any` rows get GET and POST.
fn concrete_routes() -> Vec<(&'static str, String, Target)> {
    let mut out = Vec::new();
    for r in ROUTES {
        let path = concrete(r.template);
        match r.methods {
            Methods::One(m) => out.push((m, path, r.target)),
            Methods::Any => {
                for m in ["GET", "POST", "DELETE"] {
                    out.push((m, path.clone(), r.target));
                }
            }
        }
    }
    out
}

/// A gateway whose every proxied upstream (meetings, browser, admin) is the echo.
async fn gateway(store: Arc<TestStore>) -> (Running, EchoUpstream) {
    let echo = EchoUpstream::start().await;
    let mut cfg = config(&echo.url);
    cfg.admin_url = Some(echo.url.parse().expect("uri"));
    (start(cfg, store).await, echo)
}

fn runner(default_cases: u32) -> TestRunner {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default_cases);
    TestRunner::new(PtConfig {
        cases,
        failure_persistence: None,
        ..PtConfig::default()
    })
}

/// The identity headers the echo received, by name.
fn identity_headers(echoed: &serde_json::Value) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = echoed["headers"]
        .as_object()
        .map(|m| {
            m.iter()
                .filter(|(n, _)| {
                    n.as_str() == "x-api-key" || IDENTITY_PREFIXES.iter().any(|p| n.starts_with(p))
                })
                .map(|(n, v)| (n.clone(), v.as_str().unwrap_or("").to_owned()))
                .collect()
        })
        .unwrap_or_default();
    out.sort();
    out
}

fn expected_identity(user_id: i64, key_id: i64, email: &str) -> Vec<(String, String)> {
    expected_identity_scoped(user_id, key_id, email, "bot,tx,browser")
}

fn expected_identity_scoped(
    user_id: i64,
    key_id: i64,
    email: &str,
    scopes: &str,
) -> Vec<(String, String)> {
    let mut v = vec![
        ("x-internal-secret".to_owned(), SECRET.to_owned()),
        ("x-key-id".to_owned(), key_id.to_string()),
        ("x-user-email".to_owned(), email.to_owned()),
        ("x-user-id".to_owned(), user_id.to_string()),
        ("x-user-limits".to_owned(), "3".to_owned()),
        ("x-user-scopes".to_owned(), scopes.to_owned()),
    ];
    v.sort();
    v
}

/// Who a key really is, from `/auth/me`.
async fn whoami(gw: &Running, key: &str) -> (i64, i64, String) {
    let me = get(&gw.base, "/auth/me", Some(key)).await;
    assert_eq!(me.status, 200);
    let j = me.json();
    (
        j["user_id"].as_i64().expect("user_id"),
        j["key_id"].as_i64().expect("key_id"),
        j["email"].as_str().expect("email").to_owned(),
    )
}

fn spoof_set() -> Vec<(Vec<u8>, Vec<u8>)> {
    [
        ("X-User-Id", "999999"),
        ("x-user-id", "0"),
        ("X-USER-EMAIL", "root@evil.example"),
        ("x-user-scopes", "bot,tx,browser,admin"),
        ("x-user-limits", "100000"),
        ("X-Key-Id", "1"),
        ("x-key-digest", "00"),
        ("x-internal-secret", "forged"),
        ("X-Internal-Secret", "forged-again"),
        ("x-internal-anything", "1"),
        ("x-user-admin", "true"),
        ("x-user-", "empty-suffix"),
    ]
    .iter()
    .map(|(n, v)| h(n, v))
    .collect()
}

// ---------------------------------------------------------------------------------------------
// Identity spoofing.

#[tokio::test]
async fn spoofed_identity_headers_never_reach_the_upstream_on_any_route() {
    let store = TestStore::new(Backend::Sqlite).await;
    let (gw, _echo) = gateway(store.clone()).await;
    let k = key(&store, ALL).await;
    let bot_only = key(&store, &[Scope::Bot]).await;
    let (uid, kid, email) = whoami(&gw, &k).await;
    let expected = expected_identity(uid, kid, &email);
    let (b_uid, b_kid, b_email) = whoami(&gw, &bot_only).await;
    let expected_bot = expected_identity_scoped(b_uid, b_kid, &b_email, "bot");
    let mut forwarded = 0;
    let mut routes = concrete_routes();
    routes.push(("GET", "/admin/users".into(), Target::Admin));
    routes.push(("POST", "/admin/users/1/tokens".into(), Target::Admin));
    for (method, path, target) in &routes {
        for credential in [
            None,
            Some("garbage"),
            Some(bot_only.as_str()),
            Some(k.as_str()),
        ] {
            let mut headers = spoof_set();
            if let Some(c) = credential {
                headers.push(h("x-api-key", c));
            }
            let r = raw(gw.addr, &request(method, path.as_bytes(), &headers, b"{}"))
                .await
                .unwrap_or_else(|| panic!("{method} {path}: no answer"));
            assert!(r.status < 500, "{method} {path}: {}", r.status);
            assert!(r.header("x-request-id").is_some(), "{method} {path}");
            if !r.is_from_upstream() {
                continue;
            }
            forwarded += 1;
            let got = identity_headers(&r.json());
            match target {
                // The admin API checks its own token: nothing identity-like is forwarded at all.
                Target::Admin => assert_eq!(got, vec![], "{method} {path}"),
                _ if credential == Some(k.as_str()) => {
                    assert_eq!(got, expected, "{method} {path}")
                }
                _ if credential == Some(bot_only.as_str()) => {
                    assert_eq!(got, expected_bot, "{method} {path}")
                }
                _ => panic!("{method} {path} got through with {credential:?}"),
            }
        }
        // `/auth/me` answers with the true identity whatever the request claims.
        if *target == Target::AuthMe {
            let mut headers = spoof_set();
            headers.push(h("x-api-key", &k));
            let r = raw(gw.addr, &request("GET", b"/auth/me", &headers, b""))
                .await
                .expect("answer");
            assert_eq!(r.status, 200);
            assert_eq!(r.json()["user_id"], uid);
            assert_eq!(r.json()["email"], email.as_str());
        }
    }
    // Every proxied row with the full key, plus the admin rows with every credential.
    assert!(
        forwarded >= 20,
        "only {forwarded} requests reached the echo"
    );

    // The WebSocket relay: the upstream's first frame reports the headers it received.
    let mut req = format!("ws://{}/ws", gw.addr)
        .into_client_request()
        .expect("request");
    for (n, v) in spoof_set() {
        req.headers_mut().append(
            http::HeaderName::from_bytes(&n).expect("name"),
            http::HeaderValue::from_bytes(&v).expect("value"),
        );
    }
    req.headers_mut()
        .insert("x-api-key", k.parse().expect("header"));
    let (mut ws, _) = tokio_tungstenite::connect_async(req)
        .await
        .expect("upgrade");
    let first = tokio::time::timeout(Duration::from_secs(3), ws.next())
        .await
        .expect("first frame in time");
    let Some(Ok(Message::Text(t))) = first else {
        panic!("expected the echo's hello, got {first:?}");
    };
    let hello: serde_json::Value = serde_json::from_str(t.as_str()).expect("json");
    let mut got = identity_headers(&hello);
    // The WebSocket relay carries the same identity; limits and scopes as for HTTP.
    got.retain(|(n, _)| n != "x-api-key");
    assert_eq!(got, expected, "ws upstream headers");
    assert!(hello["headers"].get("x-api-key").is_none());
    drop(ws);
    gw.shutdown().await;
}

fn spoof_name() -> impl Strategy<Value = Vec<u8>> {
    (
        prop::sample::select(vec![
            "x-user-",
            "X-User-",
            "X-USER-",
            "x-key-",
            "X-KEY-",
            "x-internal-",
            "X-Internal-",
            "x-api-key",
            "X-Api-Key",
        ]),
        "[a-zA-Z0-9_-]{0,12}",
    )
        .prop_map(|(p, s)| {
            if p.eq_ignore_ascii_case("x-api-key") {
                p.as_bytes().to_vec()
            } else {
                format!("{p}{s}").into_bytes()
            }
        })
}

/// Bytes valid in a header value: HTAB, visible ASCII, space, obs-text (non-UTF-8 included).
fn field_value(max: usize) -> impl Strategy<Value = Vec<u8>> {
    proptest::collection::vec(
        prop_oneof![
            4 => 0x21u8..=0x7e,
            1 => Just(b' '),
            1 => Just(b'\t'),
            2 => 0x80u8..=0xff,
        ],
        0..max,
    )
    .prop_map(|mut v| {
        // Leading/trailing whitespace is not part of a field value.
        while v.first().is_some_and(|b| *b == b' ' || *b == b'\t') {
            v.remove(0);
        }
        while v.last().is_some_and(|b| *b == b' ' || *b == b'\t') {
            v.pop();
        }
        v
    })
}

#[test]
fn fuzzed_identity_headers_never_reach_the_upstream() {
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let (gw, _echo, k, expected) = rt.block_on(async {
        let store = TestStore::new(Backend::Sqlite).await;
        let (gw, echo) = gateway(store.clone()).await;
        let k = key(&store, ALL).await;
        let (uid, kid, email) = whoami(&gw, &k).await;
        (gw, echo, k, expected_identity(uid, kid, &email))
    });
    let routes = concrete_routes();
    let strategy = (
        0..routes.len(),
        proptest::collection::vec((spoof_name(), field_value(40)), 1..12),
        any::<bool>(),
    );
    let forwarded = std::cell::Cell::new(0u32);
    let tried = std::cell::Cell::new(0u32);
    runner(48)
        .run(&strategy, |(i, spoofs, key_first)| {
            let (method, path, _) = &routes[i];
            let mut headers = Vec::new();
            if key_first {
                headers.push(h("x-api-key", &k));
            }
            // Spoofed `X-API-Key` values must not override the real key: it is sent first, so a
            // second value would be a different request; keep the real one the only key.
            headers.extend(
                spoofs
                    .into_iter()
                    .filter(|(n, _)| !n.eq_ignore_ascii_case(b"x-api-key") || !key_first),
            );
            let r = rt
                .block_on(raw(
                    gw.addr,
                    &request(method, path.as_bytes(), &headers, b""),
                ))
                .ok_or_else(|| TestCaseError::fail(format!("{method} {path}: no answer")))?;
            tried.set(tried.get() + 1);
            prop_assert!(r.status < 500, "{} {}: {}", method, path, r.status);
            if r.is_from_upstream() {
                forwarded.set(forwarded.get() + 1);
                prop_assert!(
                    key_first,
                    "{} {} forwarded without the real key",
                    method,
                    path
                );
                prop_assert_eq!(identity_headers(&r.json()), expected.clone());
            }
            Ok(())
        })
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(tried.get() > 0);
    eprintln!(
        "identity fuzz: {} requests, {} forwarded",
        tried.get(),
        forwarded.get()
    );
    rt.block_on(gw.shutdown());
}

// ---------------------------------------------------------------------------------------------
// Header bytes.

fn header_name() -> impl Strategy<Value = Vec<u8>> {
    "[a-zA-Z0-9!#$%&'*+.^_`|~-]{1,24}".prop_map(String::into_bytes)
}

#[test]
fn random_header_bytes_never_crash_the_gateway_or_get_a_5xx() {
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let (gw, _echo, k) = rt.block_on(async {
        let store = TestStore::new(Backend::Sqlite).await;
        let (gw, echo) = gateway(store.clone()).await;
        let k = key(&store, ALL).await;
        (gw, echo, k)
    });
    let routes = concrete_routes();
    let invalid_byte = prop::sample::select(vec![0u8, 1, 0x0b, 0x7f, b'\r', b'\n', 0x1b]);
    let strategy = (
        0..routes.len(),
        proptest::collection::vec((header_name(), field_value(300)), 0..20),
        any::<bool>(),
        proptest::option::weighted(0.3, (any::<prop::sample::Index>(), invalid_byte)),
        // Sometimes a value far past what a header should be.
        proptest::option::weighted(0.1, 1_000usize..120_000),
    );
    let answered = std::cell::Cell::new(0u32);
    let statuses = std::cell::RefCell::new(std::collections::BTreeMap::<u16, u32>::new());
    runner(64)
        .run(&strategy, |(i, mut extra, with_key, poison, huge)| {
            let (method, path, _) = &routes[i];
            let valid = poison.is_none();
            if let Some((at, byte)) = poison {
                if extra.is_empty() {
                    extra.push((b"x-poison".to_vec(), b"a".to_vec()));
                }
                let slot = at.index(extra.len());
                extra[slot].1.push(byte);
                extra[slot].1.push(b'z');
            }
            if let Some(n) = huge {
                extra.push((b"x-huge".to_vec(), vec![b'a'; n]));
            }
            if with_key {
                extra.push(h("x-api-key", &k));
            }
            let reply = rt.block_on(raw(gw.addr, &request(method, path.as_bytes(), &extra, b"")));
            match reply {
                Some(r) => {
                    answered.set(answered.get() + 1);
                    *statuses.borrow_mut().entry(r.status).or_default() += 1;
                    prop_assert!(r.status < 500, "{} {}: {}", method, path, r.status);
                    if !r.is_from_upstream()
                        && r.status >= 400
                        && r.status != 431
                        && r.status != 400
                    {
                        // The gateway's own refusals are JSON with a detail.
                        prop_assert!(r.json()["detail"].is_string(), "{:?}", r);
                    }
                }
                // Malformed requests may be dropped; well-formed ones of normal size never.
                None => prop_assert!(!valid || huge.is_some(), "{} {}: no answer", method, path),
            }
            Ok(())
        })
        .unwrap_or_else(|e| panic!("{e}"));
    eprintln!(
        "header fuzz: {} answered, statuses {:?}",
        answered.get(),
        statuses.borrow()
    );
    rt.block_on(async {
        assert_eq!(get(&gw.base, "/health", None).await.status, 200);
        gw.shutdown().await;
    });
}

#[tokio::test]
async fn non_utf8_and_garbage_api_keys_are_invalid_and_never_looked_up() {
    let store = TestStore::new(Backend::Sqlite).await;
    let (gw, _echo) = gateway(store.clone()).await;
    let garbage: Vec<Vec<u8>> = vec![
        vec![0xff, 0xfe, 0xfd],
        b"vxa_bot_\xc3\x28AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA".to_vec(),
        "vxa_bot_éééééééééééééééééé".as_bytes().to_vec(),
        b"vxa_bot_".to_vec(),
        b"vxa_root_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA".to_vec(),
        vec![b'v'; 8000],
        b"Bearer vxa_bot_x".to_vec(),
        b"\"vxa_bot_x\"".to_vec(),
    ];
    for g in &garbage {
        let r = raw(
            gw.addr,
            &request(
                "GET",
                b"/meetings",
                &[(b"x-api-key".to_vec(), g.clone())],
                b"",
            ),
        )
        .await
        .expect("answer");
        assert_eq!(r.status, 401, "{:?}", String::from_utf8_lossy(g));
        assert_eq!(
            r.json()["detail"],
            "Invalid API key",
            "a present but malformed key is invalid, not missing: {:?}",
            String::from_utf8_lossy(g)
        );
    }
    assert_eq!(store.resolves.load(Ordering::SeqCst), 0);
    gw.shutdown().await;
}

// ---------------------------------------------------------------------------------------------
// Path tricks.

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
        if !matches!(target, Target::Meetings | Target::Browser) {
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
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let (gw, _echo, k) = rt.block_on(async {
        let store = TestStore::new(Backend::Sqlite).await;
        let (gw, echo) = gateway(store.clone()).await;
        let k = key(&store, ALL).await;
        (gw, echo, k)
    });
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
    runner(96)
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

// ---------------------------------------------------------------------------------------------
// Floods.

#[tokio::test]
async fn garbage_key_flood_bans_the_ip_while_another_client_is_served_and_the_store_is_never_asked()
{
    let store = TestStore::new(Backend::Sqlite).await;
    let echo = EchoUpstream::start().await;
    let mut cfg = config(&echo.url);
    cfg.edge = EdgeConfig {
        enabled: true,
        requests_per_minute: 60,
        auto_ban_threshold: 5,
        auto_ban_duration: Duration::from_secs(3600),
        ..EdgeConfig::default()
    };
    // The test's connections come through a "proxy" on loopback that names the client.
    cfg.trusted_proxies = TrustedProxies::parse("127.0.0.1").expect("cidr");
    let gw = start(cfg, store.clone()).await;
    let good = key(&store, &[Scope::Bot, Scope::Tx]).await;
    let attacker = "203.0.113.66";
    let bystander = "198.51.100.7";

    let garbage = |i: usize| -> Vec<u8> {
        match i % 5 {
            0 => format!("vxa_bot_{:036}", i).into_bytes(),
            1 => format!("garbage-{i}").into_bytes(),
            2 => vec![0xff, 0x80, (i % 200) as u8 + 0x20],
            3 => format!("vxa_tx_{}", "A".repeat(i % 50)).into_bytes(),
            _ => format!("vxa_browser_{:>36}", i)
                .replace(' ', "z")
                .into_bytes(),
        }
    };
    let (mut unauthorized, mut limited, mut last_retry_after) = (0, 0, 0u64);
    let flood = 400;
    let flood_started = Instant::now();
    for i in 0..flood {
        let r = raw(
            gw.addr,
            &request(
                "GET",
                b"/meetings",
                &[
                    h("x-forwarded-for", attacker),
                    (b"x-api-key".to_vec(), garbage(i)),
                ],
                b"",
            ),
        )
        .await
        .expect("answer");
        match r.status {
            401 => unauthorized += 1,
            429 => {
                limited += 1;
                assert_eq!(r.json()["detail"], "Too many requests");
                last_retry_after = r
                    .header("retry-after")
                    .and_then(|v| v.parse().ok())
                    .expect("Retry-After");
            }
            s => panic!("flood request {i}: {s}"),
        }
        // Meanwhile another client is served normally.
        if i % 50 == 0 {
            let r = raw(
                gw.addr,
                &request(
                    "GET",
                    b"/meetings",
                    &[h("x-forwarded-for", bystander), h("x-api-key", &good)],
                    b"",
                ),
            )
            .await
            .expect("answer");
            assert_eq!(r.status, 200, "bystander at flood request {i}");
        }
    }
    // The minute's budget at once, plus what refills (one a second) while the flood runs; the
    // ban then stops even that.
    let budget = 61 + flood_started.elapsed().as_secs() as usize;
    assert!(
        unauthorized <= budget,
        "{unauthorized} garbage keys got past the edge budget of {budget}"
    );
    assert!(
        limited >= flood - budget,
        "only {limited} of {flood} refused at the edge"
    );
    assert!(
        last_retry_after > 600,
        "banned, not merely limited: Retry-After {last_retry_after}"
    );
    // The attacker is banned even with a valid key now; the bystander is not.
    let r = raw(
        gw.addr,
        &request(
            "GET",
            b"/meetings",
            &[h("x-forwarded-for", attacker), h("x-api-key", &good)],
            b"",
        ),
    )
    .await
    .expect("answer");
    assert_eq!(r.status, 429);
    // Only the bystander's key was ever resolved (once; then cached): malformed keys never
    // reached the store.
    assert_eq!(store.resolves.load(Ordering::SeqCst), 1);
    eprintln!(
        "flood: {flood} garbage requests, {unauthorized} × 401, {limited} × 429, 0 store lookups"
    );
    gw.shutdown().await;
}

// ---------------------------------------------------------------------------------------------
// Slow clients and big inputs.

#[tokio::test]
async fn slow_loris_clients_are_cut_off_and_others_are_served_meanwhile() {
    let store = TestStore::new(Backend::Sqlite).await;
    let (gw, _echo) = gateway(store.clone()).await;
    let k = key(&store, ALL).await;
    let started = Instant::now();
    let mut lorises = Vec::new();
    for n in 0..40 {
        let addr = gw.addr;
        lorises.push(tokio::spawn(async move {
            let s = TcpStream::connect(addr).await.expect("connect");
            let (mut rd, mut wr) = s.into_split();
            let writer = tokio::spawn(async move {
                let head = format!("GET /meetings HTTP/1.1\r\nHost: g\r\nX-Slow-{n}: ");
                for b in head.bytes().chain(std::iter::repeat(b'a')) {
                    if wr.write_all(&[b]).await.is_err() {
                        return;
                    }
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
            });
            let mut buf = Vec::new();
            let cut = tokio::time::timeout(Duration::from_secs(25), rd.read_to_end(&mut buf)).await;
            writer.abort();
            (cut.is_ok(), started.elapsed(), buf)
        }));
    }
    // While they dribble, normal requests are served promptly.
    for _ in 0..10 {
        tokio::time::sleep(Duration::from_millis(300)).await;
        let t = Instant::now();
        let r = get(&gw.base, "/meetings", Some(&k)).await;
        assert_eq!(r.status, 200);
        assert!(
            t.elapsed() < Duration::from_secs(1),
            "served in {:?}",
            t.elapsed()
        );
    }
    let mut longest = Duration::ZERO;
    for l in lorises {
        let (cut, after, buf) = l.await.expect("task");
        assert!(cut, "a slow-loris connection was still open after 25 s");
        // Cut off by the header timeout: no request was ever served on it.
        let reply = parse_reply(&buf);
        assert!(
            !matches!(reply.as_ref().map(|r| r.status), Some(s) if s != 408 && s != 400),
            "{reply:?}"
        );
        longest = longest.max(after);
    }
    assert!(
        longest < Duration::from_secs(15),
        "slowest cut-off after {longest:?}"
    );
    eprintln!("slow-loris: 40 connections cut off, the last after {longest:?}");
    gw.shutdown().await;
}

#[tokio::test]
async fn oversized_headers_and_bodies_are_refused_without_buffering() {
    let store = TestStore::new(Backend::Sqlite).await;
    let (gw, _echo) = gateway(store.clone()).await;
    let k = key(&store, ALL).await;

    // One enormous header value, many headers, an enormous request line.
    let cases: Vec<(&str, Vec<u8>)> = vec![
        (
            "1 MiB header value",
            request(
                "GET",
                b"/meetings",
                &[h("x-api-key", &k), (b"x-big".to_vec(), vec![b'a'; 1 << 20])],
                b"",
            ),
        ),
        (
            "5000 headers",
            request(
                "GET",
                b"/meetings",
                &(0..5000)
                    .map(|i| h(&format!("x-h{i}"), "v"))
                    .collect::<Vec<_>>(),
                b"",
            ),
        ),
        (
            "1 MiB path",
            request(
                "GET",
                format!("/browser/{}", "a".repeat(1 << 20)).as_bytes(),
                &[h("x-api-key", &k)],
                b"",
            ),
        ),
    ];
    for (what, req) in &cases {
        let t = Instant::now();
        if let Some(r) = raw(gw.addr, req).await {
            assert!(
                matches!(r.status, 400 | 413 | 414 | 431),
                "{what}: {}",
                r.status
            );
        }
        assert!(
            t.elapsed() < Duration::from_secs(5),
            "{what} took {:?}",
            t.elapsed()
        );
    }

    // A body announced far over the limit is refused before any of it is read.
    let announced = b"POST /bots HTTP/1.1\r\nHost: g\r\nConnection: close\r\nContent-Length: 10000000000\r\nx-api-key: "
        .iter()
        .copied()
        .chain(k.bytes())
        .chain(*b"\r\n\r\n{")
        .collect::<Vec<u8>>();
    let r = raw(gw.addr, &announced).await.expect("answer");
    assert_eq!(r.status, 413);
    assert_eq!(r.json()["detail"], "Request body too large");

    // A chunked body that never ends: refused once past the limit, long before the client is
    // done (it would send 64 MiB).
    let mut s = TcpStream::connect(gw.addr).await.expect("connect");
    let head = format!(
        "POST /bots HTTP/1.1\r\nHost: g\r\nConnection: close\r\nTransfer-Encoding: chunked\r\nx-api-key: {k}\r\n\r\n"
    );
    s.write_all(head.as_bytes()).await.expect("head");
    let (mut rd, mut wr) = s.into_split();
    let writer = tokio::spawn(async move {
        let chunk = format!("10000\r\n{}\r\n", "b".repeat(0x10000));
        let mut sent = 0usize;
        for _ in 0..1024 {
            if wr.write_all(chunk.as_bytes()).await.is_err() {
                break;
            }
            sent += 0x10000;
        }
        sent
    });
    let mut buf = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(10), rd.read_to_end(&mut buf)).await;
    let sent = tokio::time::timeout(Duration::from_secs(10), writer)
        .await
        .expect("writer stops once the gateway hangs up")
        .expect("writer");
    let r = parse_reply(&buf).expect("an answer");
    assert_eq!(r.status, 413);
    assert!(sent < 64 << 20, "the gateway read the whole 64 MiB stream");

    // Unauthenticated bodies are not read at all.
    let t = Instant::now();
    let r = raw(
        gw.addr,
        &request(
            "POST",
            b"/bots",
            &[h("x-api-key", "nope")],
            &vec![b'x'; 4 << 20],
        ),
    )
    .await
    .expect("answer");
    assert_eq!(r.status, 401);
    assert!(t.elapsed() < Duration::from_secs(5));

    // Still healthy.
    assert_eq!(get(&gw.base, "/health", None).await.status, 200);
    assert_eq!(get(&gw.base, "/meetings", Some(&k)).await.status, 200);
    eprintln!(
        "oversized: header/line/body bombs refused, chunked stream cut after {sent} bytes sent"
    );
    gw.shutdown().await;
}

/// A refused request whose body arrives late is drained (bounded), so the keep-alive connection
/// stays usable; one too big to drain is answered with `Connection: close`.
#[tokio::test]
async fn refused_bodies_are_drained_within_bounds_or_the_connection_is_closed() {
    let store = TestStore::new(Backend::Sqlite).await;
    let (gw, _echo) = gateway(store.clone()).await;
    let tx_only = key(&store, &[Scope::Tx]).await;
    let body = r#"{"platform":"google_meet"}"#;
    for (head, want) in [
        (format!("POST /bots HTTP/1.1\r\nHost: g\r\nContent-Length: {}\r\n\r\n", body.len()), "401"),
        (format!("POST /bots HTTP/1.1\r\nHost: g\r\nx-api-key: {tx_only}\r\nContent-Length: {}\r\n\r\n", body.len()), "403"),
        (format!("POST /nowhere HTTP/1.1\r\nHost: g\r\nContent-Length: {}\r\n\r\n", body.len()), "404"),
        ("POST /bots HTTP/1.1\r\nHost: g\r\nTransfer-Encoding: chunked\r\n\r\n".to_owned(), "401"),
    ] {
        let mut s = TcpStream::connect(gw.addr).await.expect("connect");
        s.write_all(head.as_bytes()).await.expect("head");
        tokio::time::sleep(Duration::from_millis(50)).await;
        if head.contains("chunked") {
            s.write_all(format!("{:x}\r\n{body}\r\n0\r\n\r\n", body.len()).as_bytes()).await.expect("body");
        } else {
            s.write_all(body.as_bytes()).await.expect("body");
        }
        let mut buf = vec![0u8; 4096];
        let n = s.read(&mut buf).await.expect("answer");
        let first = String::from_utf8_lossy(&buf[..n]).into_owned();
        assert!(first.starts_with(&format!("HTTP/1.1 {want}")), "{first}");
        assert!(!first.to_ascii_lowercase().contains("connection: close"), "{first}");
        s.write_all(b"GET /health HTTP/1.1\r\nHost: g\r\n\r\n").await.expect("second request");
        let n = tokio::time::timeout(Duration::from_secs(3), s.read(&mut buf))
            .await
            .expect("second answer in time")
            .expect("second answer");
        assert!(buf[..n].starts_with(b"HTTP/1.1 200"), "{head}: connection not reusable");
    }
    // Too big to drain (max_body_bytes is 1024 in these tests): refused and closed, unread.
    let r = raw(
        gw.addr,
        b"POST /bots HTTP/1.1\r\nHost: g\r\nContent-Length: 100000\r\n\r\n{",
    )
    .await
    .expect("answer");
    assert_eq!(r.status, 401);
    assert_eq!(r.header("connection"), Some("close"));
    gw.shutdown().await;
}
