//! Slow-loris clients (headers sent byte by byte) are cut off by the header timeout, and others
//! are served meanwhile.

use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::gateway;
use super::raw_http::parse_reply;
use super::ALL;
use crate::support::{get, key, Backend, TestStore};

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
