//! The meetings service's HTTP edge on a real socket: one body limit whose refusal is the
//! contract's JSON 413 (declared or streamed), `{"detail": …}` for every malformed path, query
//! and body, JSON 404/405 fallbacks, and `X-Request-Id` on every response — on both backends
//! where the store is involved.
#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::oneshot;
use vexa_core::SystemClock;
use vexa_meetings::{MeetingsConfig, MeetingsService};
use vexa_store::meetings::SqlMeetingStore;
use vexa_testkit::{on_both_backends, Backend, TestDb};

const SECRET: &str = "edge-test-internal-secret";
/// Small, so "over the limit" is cheap to send.
const LIMIT: u64 = 64 * 1024;
const TOO_LARGE: &str = r#"{"detail":"Request body too large"}"#;

/// The service on 127.0.0.1:0 with a 64 KiB body limit and no bot runtime.
struct Edge {
    addr: std::net::SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    _data_dir: tempfile::TempDir,
    _db: TestDb,
}

impl Drop for Edge {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

async fn edge(db: TestDb) -> Edge {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let data_dir = tempfile::tempdir().unwrap();
    let cfg = MeetingsConfig {
        internal_secret: SECRET.into(),
        bot_command: None,
        callback_base_url: format!("http://{addr}"),
        data_dir: data_dir.path().to_path_buf(),
        stop_grace: Duration::from_secs(1),
        token_key: [3; 32],
        webhook_timeout: Duration::from_secs(1),
        max_body_bytes: LIMIT,
        ..MeetingsConfig::default()
    };
    let store = Arc::new(SqlMeetingStore::new(db.db.clone()));
    let service = MeetingsService::new(cfg, store, Arc::new(SystemClock))
        .await
        .unwrap();
    let (stop, stopped) = oneshot::channel::<()>();
    tokio::spawn(service.serve(listener, async move {
        let _ = stopped.await;
    }));
    Edge {
        addr,
        stop: Some(stop),
        _data_dir: data_dir,
        _db: db,
    }
}

/// One raw HTTP/1.1 exchange: `head` (request line and headers, no blank line), then `body`
/// as given. Returns the status, the headers (lowercased names) and the body.
async fn exchange(addr: std::net::SocketAddr, head: &str, body: &[u8]) -> (u16, String, String) {
    let mut s = TcpStream::connect(addr).await.unwrap();
    let head = format!(
        "{head}\r\nHost: meetings\r\nX-Internal-Secret: {SECRET}\r\nX-User-Id: 1\r\nConnection: close\r\n\r\n"
    );
    s.write_all(head.as_bytes()).await.unwrap();
    // The server may answer (and close) before it has read all of an oversized body.
    let _ = s.write_all(body).await;
    let mut raw = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(10), s.read_to_end(&mut raw)).await;
    let text = String::from_utf8_lossy(&raw).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    (status, head.to_ascii_lowercase(), dechunk(head, body))
}

/// The body of a response sent with `Transfer-Encoding: chunked`, else as is.
fn dechunk(head: &str, body: &str) -> String {
    if !head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        return body.to_owned();
    }
    let mut out = String::new();
    let mut rest = body;
    while let Some((size, tail)) = rest.split_once("\r\n") {
        let n = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
        if n == 0 || tail.len() < n {
            break;
        }
        out.push_str(&tail[..n]);
        rest = tail[n..].trim_start_matches("\r\n");
    }
    out
}

fn detail_of(body: &str) -> Value {
    serde_json::from_str::<Value>(body).unwrap_or(Value::Null)["detail"].clone()
}

#[tokio::test]
async fn a_body_over_the_limit_with_content_length_is_the_contracts_json_413() {
    let app = edge(TestDb::sqlite().await).await;
    let big = vec![b' '; (LIMIT + 1) as usize];
    for route in [
        "POST /bots",
        "POST /meetings",
        "PATCH /meetings/1",
        "POST /internal/bot/segments",
    ] {
        let (method, path) = route.split_once(' ').unwrap();
        let head = format!(
            "{method} {path} HTTP/1.1\r\nContent-Type: application/json\r\nContent-Length: {}",
            big.len()
        );
        let (status, headers, body) = exchange(app.addr, &head, &big).await;
        if path.starts_with("/internal") {
            // No bot token: refused before the body is looked at, still in JSON.
            assert_eq!(status, 401, "{route}: {body}");
            assert!(detail_of(&body).is_string(), "{route}: {body}");
            continue;
        }
        assert_eq!((status, body.as_str()), (413, TOO_LARGE), "{route}");
        assert!(
            headers.contains("content-type: application/json"),
            "{headers}"
        );
    }
}

#[tokio::test]
async fn a_chunked_body_over_the_limit_is_the_contracts_json_413() {
    let app = edge(TestDb::sqlite().await).await;
    let mut chunked = Vec::new();
    let chunk = vec![b' '; 8 * 1024];
    for _ in 0..(2 * LIMIT as usize / chunk.len()) {
        chunked.extend_from_slice(format!("{:x}\r\n", chunk.len()).as_bytes());
        chunked.extend_from_slice(&chunk);
        chunked.extend_from_slice(b"\r\n");
    }
    chunked.extend_from_slice(b"0\r\n\r\n");
    let head =
        "POST /bots HTTP/1.1\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked";
    let (status, _, body) = exchange(app.addr, head, &chunked).await;
    assert_eq!((status, body.as_str()), (413, TOO_LARGE));
}

#[tokio::test]
async fn a_body_under_the_limit_is_read_as_before() {
    let app = edge(TestDb::sqlite().await).await;
    let body = format!(r#"{{"title": "{}"}}"#, "x".repeat(100));
    let head = format!(
        "POST /meetings HTTP/1.1\r\nContent-Type: application/json\r\nContent-Length: {}",
        body.len()
    );
    let (status, _, answer) = exchange(app.addr, &head, body.as_bytes()).await;
    assert_eq!(status, 201, "{answer}");
}

async fn malformed_paths_queries_and_bodies_get_a_json_detail(backend: Backend) {
    let app = edge(TestDb::new(backend).await).await;
    for (head, body, want) in [
        ("GET /meetings/%FF HTTP/1.1", "", 422),
        ("GET /meetings?limit=%FF HTTP/1.1", "", 422),
        ("GET /meetings?limit=abc HTTP/1.1", "", 422),
        ("GET /transcripts/google_meet/%C3%28 HTTP/1.1", "", 422),
        ("POST /meetings HTTP/1.1\r\nContent-Length: 5", "{nope", 422),
        ("POST /meetings HTTP/1.1\r\nContent-Length: 5", "[1,2]", 422),
        ("POST /bots HTTP/1.1\r\nContent-Length: 2", "{}", 422),
        ("GET /ws HTTP/1.1", "", 400),
    ] {
        let (status, headers, answer) = exchange(app.addr, head, body.as_bytes()).await;
        assert_eq!(status, want, "{head}: {answer}");
        assert!(detail_of(&answer).is_string(), "{head}: {answer}");
        assert!(
            headers.contains("content-type: application/json"),
            "{head}: {headers}"
        );
    }
    let (_, _, answer) = exchange(
        app.addr,
        "POST /meetings HTTP/1.1\r\nContent-Length: 5",
        b"{nope",
    )
    .await;
    assert_eq!(
        detail_of(&answer),
        "invalid JSON body",
        "the original's words"
    );
}

#[tokio::test]
async fn unknown_routes_and_methods_get_json_fallbacks() {
    let app = edge(TestDb::sqlite().await).await;
    for (head, want) in [
        (
            "GET /nowhere HTTP/1.1",
            (404, json!({"detail": "Not Found"})),
        ),
        (
            "GET /internal/bot/nowhere HTTP/1.1",
            (404, json!({"detail": "Not Found"})),
        ),
        (
            "PUT /meetings HTTP/1.1",
            (405, json!({"detail": "Method Not Allowed"})),
        ),
        (
            "DELETE /bots/status HTTP/1.1",
            (405, json!({"detail": "Method Not Allowed"})),
        ),
    ] {
        let (status, _, body) = exchange(app.addr, head, b"").await;
        let body: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
        assert_eq!((status, body), want, "{head}");
    }
}

async fn the_request_id_is_echoed_on_every_answer(backend: Backend) {
    let app = edge(TestDb::new(backend).await).await;
    for head in [
        "GET /meetings HTTP/1.1",
        "GET /health HTTP/1.1",
        "GET /nowhere HTTP/1.1",
        "POST /internal/bot/lifecycle HTTP/1.1",
    ] {
        let with_id = format!("{head}\r\nX-Request-Id: req-42.a:b");
        let (_, headers, _) = exchange(app.addr, &with_id, b"").await;
        assert!(
            headers.contains("x-request-id: req-42.a:b"),
            "{head}: {headers}"
        );
        let (_, headers, _) = exchange(app.addr, head, b"").await;
        let minted = headers
            .lines()
            .find_map(|l| l.strip_prefix("x-request-id: "))
            .unwrap_or_default();
        assert_eq!(minted.len(), 32, "{head}: a fresh id is minted: {headers}");
    }
    let bad = "GET /meetings HTTP/1.1\r\nX-Request-Id: not ok!";
    let (_, headers, _) = exchange(app.addr, bad, b"").await;
    assert!(
        !headers.contains("not ok!"),
        "unsafe ids are replaced: {headers}"
    );
}

#[tokio::test]
async fn a_call_without_the_internal_secret_is_a_json_401_even_with_a_body() {
    let app = edge(TestDb::sqlite().await).await;
    let mut s = TcpStream::connect(app.addr).await.unwrap();
    let body = r#"{"platform":"google_meet","native_meeting_id":"x"}"#;
    let req = format!(
        "POST /bots HTTP/1.1\r\nHost: m\r\nX-Internal-Secret: wrong\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    s.write_all(req.as_bytes()).await.unwrap();
    let mut raw = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(5), s.read_to_end(&mut raw)).await;
    let text = String::from_utf8_lossy(&raw);
    assert!(text.starts_with("HTTP/1.1 401"), "{text}");
    assert!(text.ends_with(r#"{"detail":"Unauthorized"}"#), "{text}");
}

on_both_backends!(
    malformed_paths_queries_and_bodies_get_a_json_detail,
    the_request_id_is_echoed_on_every_answer,
);
