//! The meetings upstream refusing, resetting, closing, answering garbage, stalling before or in
//! its headers: 502 `upstream unreachable` or 504 `upstream timeout`, promptly, and the gateway
//! serves normally again the moment the upstream is healthy.

use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use vexa_testkit::stack::{database_url, free_port, mint, start_up, StackEnv};
use vexa_testkit::Backend;

use super::status_of;
use crate::support::VEXA;

const HEALTHY: u8 = 0;
const RESET: u8 = 1;
const EOF: u8 = 2;
const GARBAGE: u8 = 3;
const STALL: u8 = 4;
const HALF_HEAD: u8 = 5;
const BODY_RESET: u8 = 6;

async fn read_head(s: &mut TcpStream) -> bool {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        match s.read(&mut chunk).await {
            Ok(0) | Err(_) => return false,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
        if buf.windows(4).any(|w| w == b"\r\n\r\n") {
            return true;
        }
    }
}

// `SO_LINGER` 0 is how a reset is made: the close sends RST at once, nothing blocks.
#[allow(deprecated)]
async fn fake_upstream(listener: TcpListener, mode: Arc<AtomicU8>) {
    while let Ok((mut s, _)) = listener.accept().await {
        let mode = mode.clone();
        tokio::spawn(async move {
            while read_head(&mut s).await {
                match mode.load(Ordering::SeqCst) {
                    HEALTHY => {
                        let body = br#"{"meetings":[]}"#;
                        let head = format!(
                            "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n",
                            body.len()
                        );
                        if s.write_all(head.as_bytes()).await.is_err()
                            || s.write_all(body).await.is_err()
                        {
                            return;
                        }
                    }
                    RESET => {
                        let _ = s.set_linger(Some(Duration::ZERO));
                        return;
                    }
                    EOF => return,
                    GARBAGE => {
                        let _ = s.write_all(b"SSH-2.0-OpenSSH_9.6\r\n\r\n").await;
                        return;
                    }
                    STALL => {
                        tokio::time::sleep(Duration::from_secs(5)).await;
                        return;
                    }
                    HALF_HEAD => {
                        let _ = s.write_all(b"HTTP/1.1 200 OK\r\nContent-Ty").await;
                        tokio::time::sleep(Duration::from_secs(5)).await;
                        return;
                    }
                    _ => {
                        let _ = s
                            .write_all(
                                b"HTTP/1.1 200 OK\r\ncontent-length: 100000\r\n\r\n{\"partial",
                            )
                            .await;
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        let _ = s.set_linger(Some(Duration::ZERO));
                        return;
                    }
                }
            }
        });
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn upstream_refused_reset_garbage_and_slow_give_502_and_504_then_recover() {
    let dir = tempfile::tempdir().expect("tmp");
    let upstream_port = free_port();
    let mut env = StackEnv::new(
        VEXA,
        dir.path(),
        &database_url(Backend::Sqlite, dir.path()).await,
    );
    env.set(
        "MEETINGS_API_URL",
        &format!("http://127.0.0.1:{upstream_port}"),
    )
    .set("UPSTREAM_TIMEOUT_S", "1");
    let _up = start_up(&env).await;
    let gw = env.gateway();
    let client = reqwest::Client::new();
    let (_, _, key) = mint(&env, "upstream@acme.com", "bot,tx").await;
    let meetings = || {
        client
            .get(format!("{gw}/meetings"))
            .header("X-API-Key", &key)
    };

    let mut faults = 0;
    // Nothing listening: connection refused.
    let t = Instant::now();
    let (s, body, _) = status_of(meetings()).await;
    assert_eq!(
        (s, body["detail"].as_str()),
        (502, Some("upstream unreachable"))
    );
    assert!(t.elapsed() < Duration::from_secs(2));
    faults += 1;

    let listener = TcpListener::bind(("127.0.0.1", upstream_port))
        .await
        .expect("rebind upstream port");
    let mode = Arc::new(AtomicU8::new(HEALTHY));
    tokio::spawn(fake_upstream(listener, mode.clone()));
    assert_eq!(status_of(meetings()).await.0, 200, "healthy upstream");

    for (m, expected, detail, name) in [
        (RESET, 502, "upstream unreachable", "reset"),
        (EOF, 502, "upstream unreachable", "closed without answer"),
        (GARBAGE, 502, "upstream unreachable", "non-HTTP answer"),
        (STALL, 504, "upstream timeout", "no answer"),
        (HALF_HEAD, 504, "upstream timeout", "stalled in its headers"),
    ] {
        for round in 0..3 {
            mode.store(m, Ordering::SeqCst);
            let t = Instant::now();
            let (s, body, _) = status_of(meetings()).await;
            let took = t.elapsed();
            assert_eq!(
                (s, body["detail"].as_str()),
                (expected, Some(detail)),
                "{name} #{round}"
            );
            assert!(took < Duration::from_secs(3), "{name} took {took:?}");
            faults += 1;
            // Back to healthy: served at once, no restart.
            mode.store(HEALTHY, Ordering::SeqCst);
            let (s, body, _) = status_of(meetings()).await;
            assert_eq!(s, 200, "after {name}: {body}");
        }
    }
    // A response cut mid-body: the client sees a broken body (the status was already sent),
    // and the gateway is unharmed.
    mode.store(BODY_RESET, Ordering::SeqCst);
    let r = meetings().timeout(Duration::from_secs(5)).send().await;
    if let Ok(r) = r {
        assert!(
            r.bytes().await.is_err(),
            "a truncated body must not look complete"
        );
    }
    faults += 1;
    mode.store(HEALTHY, Ordering::SeqCst);
    assert_eq!(status_of(meetings()).await.0, 200);
    assert_eq!(status_of(client.get(format!("{gw}/health"))).await.0, 200);
    eprintln!("upstream faults survived: {faults}");
}
