//! HTTP/1.1 over a bare TCP stream, for what a well-behaved client library never does.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpStream, ToSocketAddrs};

/// Sends `head`, then after a pause `body` (python-requests writes the two separately, with
/// TCP_NODELAY, so under load the body can arrive after the answer is decided); returns the
/// first answer's status line and whether a second request on the same connection is answered
/// `200` (`GET /health`).
pub async fn refuse_then_reuse(addr: impl ToSocketAddrs, head: &str, body: &str) -> (String, bool) {
    let mut conn = TcpStream::connect(addr).await.expect("connect");
    conn.write_all(head.as_bytes())
        .await
        .expect("send the head");
    tokio::time::sleep(Duration::from_millis(30)).await;
    conn.write_all(body.as_bytes())
        .await
        .expect("send the body");
    let mut buf = vec![0u8; 4096];
    let n = conn.read(&mut buf).await.expect("a first answer");
    let status = String::from_utf8_lossy(&buf[..n])
        .lines()
        .next()
        .unwrap_or_default()
        .to_owned();
    tokio::time::sleep(Duration::from_millis(30)).await;
    let sent = conn
        .write_all(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .is_ok();
    let n = tokio::time::timeout(Duration::from_secs(2), conn.read(&mut buf))
        .await
        .ok()
        .and_then(Result::ok)
        .unwrap_or(0);
    (status, sent && buf[..n].starts_with(b"HTTP/1.1 200"))
}
