//! Oversized headers and bodies are refused without being buffered; a refused body is drained
//! within bounds so keep-alive survives, or the connection is closed.

use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use vexa_core::Scope;

use super::raw_http::{h, parse_reply, raw, request};
use super::{gateway, ALL};
use crate::support::{get, key, Backend, TestStore};

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
