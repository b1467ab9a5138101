//! [`RecordingDouble`]: the server behind every double of `original`.

use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, Request, Response};
use http_body_util::{BodyExt, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;

type Body = http_body_util::combinators::BoxBody<Bytes, Infallible>;

/// How long the streaming legs pause between events: long enough that a buffering gateway
/// would visibly hold the first event back.
pub const EVENT_PAUSE: Duration = Duration::from_millis(400);
/// Events a streaming leg sends before it ends.
pub const EVENTS: u32 = 3;
/// The bytes a recording download serves (Range requests slice them).
pub const MEDIA: &[u8] = b"0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";

/// One request as the double received it.
#[derive(Debug, Clone)]
pub struct Received {
    pub method: String,
    pub path: String,
    pub query: Option<String>,
    pub headers: HeaderMap,
    pub body: Bytes,
}

/// A running double: its base URL and what it received so far.
#[derive(Clone)]
pub struct RecordingDouble {
    pub name: &'static str,
    pub url: String,
    received: Arc<Mutex<Vec<Received>>>,
}

impl RecordingDouble {
    /// Starts the double named `name` (it says so in every JSON answer, `"double"`).
    pub async fn start(name: &'static str) -> RecordingDouble {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind a loopback port");
        let addr = listener.local_addr().expect("local addr");
        let received = Arc::new(Mutex::new(Vec::new()));
        let log = received.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let log = log.clone();
                tokio::spawn(async move {
                    let service = service_fn(move |req| handle(name, log.clone(), req));
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        RecordingDouble {
            name,
            url: format!("http://{addr}"),
            received,
        }
    }

    /// Everything received so far, oldest first.
    pub fn received(&self) -> Vec<Received> {
        self.received.lock().expect("log lock").clone()
    }

    /// Takes (and clears) what was received so far.
    pub fn take(&self) -> Vec<Received> {
        std::mem::take(&mut *self.received.lock().expect("log lock"))
    }
}

fn full(b: impl Into<Bytes>) -> Body {
    http_body_util::Full::new(b.into())
        .map_err(|e| match e {})
        .boxed()
}

async fn handle(
    name: &'static str,
    log: Arc<Mutex<Vec<Received>>>,
    req: Request<Incoming>,
) -> Result<Response<Body>, Infallible> {
    let (parts, body) = req.into_parts();
    let streams = is_stream_leg(name, parts.method.as_str(), parts.uri.path());
    // A streaming leg answers before the request body ends (the MCP GET has none anyway).
    let body = if streams {
        Bytes::new()
    } else {
        body.collect()
            .await
            .map(|c| c.to_bytes())
            .unwrap_or_default()
    };
    let got = Received {
        method: parts.method.to_string(),
        path: parts.uri.path().to_owned(),
        query: parts.uri.query().map(str::to_owned),
        headers: parts.headers.clone(),
        body,
    };
    log.lock().expect("log lock").push(got.clone());
    if streams {
        return Ok(events(name));
    }
    if let Some(resp) = ranged(name, &got) {
        return Ok(resp);
    }
    let out = serde_json::json!({
        "double": name,
        "method": got.method,
        "path": got.path,
        "query": got.query,
        "body": String::from_utf8_lossy(&got.body),
    });
    Ok(Response::builder()
        .header("content-type", "application/json")
        .body(full(out.to_string()))
        .expect("response"))
}

/// The agent-api's SSE legs and the MCP GET relay.
fn is_stream_leg(name: &str, method: &str, path: &str) -> bool {
    match name {
        "agent-api" => path == "/api/chat" || path == "/api/meeting/stream",
        "mcp" => method == "GET",
        _ => false,
    }
}

/// [`EVENTS`] events, [`EVENT_PAUSE`] apart, as `text/event-stream`.
fn events(name: &'static str) -> Response<Body> {
    let stream = futures_util::stream::unfold(0u32, move |i| async move {
        if i >= EVENTS {
            return None;
        }
        if i > 0 {
            tokio::time::sleep(EVENT_PAUSE).await;
        }
        let event = format!("event: message\ndata: {{\"double\":\"{name}\",\"n\":{i}}}\n\n");
        Some((Ok::<_, Infallible>(Frame::data(Bytes::from(event))), i + 1))
    });
    Response::builder()
        .header("content-type", "text/event-stream")
        .header("mcp-session-id", "double-session-1")
        .body(BodyExt::boxed(StreamBody::new(stream)))
        .expect("response")
}

/// meeting-api's recording download with `Range: bytes=a-b` → `206` and `Content-Range`.
fn ranged(name: &str, got: &Received) -> Option<Response<Body>> {
    if name != "meeting-api" || !got.path.ends_with("/raw") {
        return None;
    }
    let total = MEDIA.len();
    let range = got
        .headers
        .get("range")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("bytes="))
        .and_then(|v| v.split_once('-'))
        .and_then(|(a, b)| Some((a.parse::<usize>().ok()?, b.parse::<usize>().ok()?)))
        .filter(|(a, b)| a <= b && *b < total);
    let resp = match range {
        Some((a, b)) => Response::builder()
            .status(206)
            .header("content-range", format!("bytes {a}-{b}/{total}"))
            .header("accept-ranges", "bytes")
            .header("content-type", "audio/wav")
            .body(full(Bytes::from_static(&MEDIA[a..=b]))),
        None => Response::builder()
            .header("accept-ranges", "bytes")
            .header("content-type", "audio/wav")
            .body(full(Bytes::from_static(MEDIA))),
    };
    resp.ok()
}
