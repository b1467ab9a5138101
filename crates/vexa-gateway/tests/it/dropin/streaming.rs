//! Bodies stream both ways and SSE is never buffered: the client sees the first event of an
//! agent SSE leg (and of the MCP GET relay) while the upstream is still pausing before the next;
//! a recording download with `Range` comes back `206` with the upstream's `Content-Range`.

use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{Method, Request};
use http_body_util::{BodyExt, Full};
use vexa_core::Scope;
use vexa_gateway::MeetingsApiKind;
use vexa_testkit::original::recording::{EVENTS, EVENT_PAUSE, MEDIA};

use super::{dropin, Originals};
use crate::support::{client, key, on_both_backends, send, Backend, TestStore};

/// Opens `method path` and returns (time to the first body chunk, that chunk, time to the end).
async fn first_chunk_then_end(
    base: &str,
    method: Method,
    path: &str,
    key: &str,
) -> (Duration, String, Duration, http::HeaderMap) {
    let req = Request::builder()
        .method(method)
        .uri(format!("{base}{path}"))
        .header("x-api-key", key)
        .body(Full::new(Bytes::from_static(b"{\"message\":\"hi\"}")))
        .expect("request");
    let started = Instant::now();
    let resp = client().request(req).await.expect("gateway answers");
    assert_eq!(resp.status(), 200);
    let headers = resp.headers().clone();
    let mut body = resp.into_body();
    let first = loop {
        let frame = body.frame().await.expect("a frame").expect("readable");
        if let Ok(data) = frame.into_data() {
            if !data.is_empty() {
                break data;
            }
        }
    };
    let to_first = started.elapsed();
    while body.frame().await.is_some() {}
    (
        to_first,
        String::from_utf8_lossy(&first).into_owned(),
        started.elapsed(),
        headers,
    )
}

async fn sse_events_reach_the_client_before_the_upstream_finishes(backend: Backend) {
    let o = Originals::start().await;
    let store = TestStore::new(backend).await;
    let gw = dropin(&o, MeetingsApiKind::Vexa, None, store.clone()).await;
    let k = key(&store, &[Scope::Tx]).await;
    let whole = EVENT_PAUSE * (EVENTS - 1);
    for (method, path) in [
        (Method::POST, "/agent/chat"),
        (Method::GET, "/agent/meeting/stream"),
        (Method::GET, "/mcp"),
    ] {
        let (first, chunk, end, headers) =
            first_chunk_then_end(&gw.base, method.clone(), path, &k).await;
        assert!(chunk.contains("\"n\":0"), "{path}: {chunk}");
        eprintln!("{path}: first event after {first:?}, stream ended after {end:?}");
        assert!(
            first < EVENT_PAUSE,
            "{path}: first event after {first:?}, the upstream pauses {EVENT_PAUSE:?}"
        );
        assert!(end >= whole, "{path}: the stream lasted {end:?}");
        assert_eq!(headers["content-type"], "text/event-stream", "{path}");
        if path.starts_with("/agent") {
            assert_eq!(headers["cache-control"], "no-cache", "{path}");
            assert_eq!(headers["x-accel-buffering"], "no", "{path}");
        } else {
            assert_eq!(headers["mcp-session-id"], "double-session-1");
        }
    }
    gw.shutdown().await;
}

async fn range_requests_pass_through_as_206(backend: Backend) {
    let o = Originals::start().await;
    let store = TestStore::new(backend).await;
    let gw = dropin(&o, MeetingsApiKind::Vexa, None, store.clone()).await;
    let k = key(&store, &[Scope::Bot]).await;
    for path in [
        "/recordings/3/media/4/raw",
        "/recordings/3/media/4/download",
    ] {
        let r = send(
            &gw.base,
            Method::GET,
            path,
            &[("x-api-key", k.as_str()), ("range", "bytes=2-9")],
            "",
        )
        .await;
        assert_eq!(r.status, 206, "{path}");
        assert_eq!(
            r.header("content-range"),
            Some(&*format!("bytes 2-9/{}", MEDIA.len()))
        );
        assert_eq!(&r.body[..], &MEDIA[2..=9]);
        let got = o.meetings.take();
        assert_eq!(got[0].path, "/recordings/3/media/4/raw");
        assert_eq!(got[0].headers["range"], "bytes=2-9");
    }
    gw.shutdown().await;
}

on_both_backends!(
    sse_events_reach_the_client_before_the_upstream_finishes,
    range_requests_pass_through_as_206,
);
