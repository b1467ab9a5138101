//! [`RecordingDouble`]: the server behind every double of `original`.

use std::convert::Infallible;
use std::sync::atomic::{AtomicU16, Ordering};
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

/// A meeting the meeting-api double's `/ws/authorize-subscribe` knows: who owns it.
#[derive(Debug, Clone)]
struct Owned {
    user_id: String,
    platform: String,
    native_id: String,
    meeting_id: String,
}

/// The meeting-api double's `/ws/authorize-subscribe` fixture: which user owns which meeting,
/// and the status it answers with (200 unless a test says otherwise).
struct Authorizer {
    owned: Mutex<Vec<Owned>>,
    status: AtomicU16,
}

/// A running double: its base URL and what it received so far.
#[derive(Clone)]
pub struct RecordingDouble {
    pub name: &'static str,
    pub url: String,
    received: Arc<Mutex<Vec<Received>>>,
    authorizer: Arc<Authorizer>,
}

impl RecordingDouble {
    /// Starts the double named `name` (it says so in every JSON answer, `"double"`).
    pub async fn start(name: &'static str) -> RecordingDouble {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind a loopback port");
        let addr = listener.local_addr().expect("local addr");
        let received = Arc::new(Mutex::new(Vec::new()));
        let authorizer = Arc::new(Authorizer {
            owned: Mutex::new(Vec::new()),
            status: AtomicU16::new(200),
        });
        let log = received.clone();
        let authz = authorizer.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let log = log.clone();
                let authz = authz.clone();
                tokio::spawn(async move {
                    let service =
                        service_fn(move |req| handle(name, log.clone(), authz.clone(), req));
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
            authorizer,
        }
    }

    /// meeting-api: `user_id` owns meeting `meeting_id`, known to clients as
    /// (`platform`, `native_id`); `/ws/authorize-subscribe` authorizes it for that user only.
    pub fn own(&self, user_id: i64, platform: &str, native_id: &str, meeting_id: i64) {
        self.authorizer
            .owned
            .lock()
            .expect("fixture lock")
            .push(Owned {
                user_id: user_id.to_string(),
                platform: platform.to_owned(),
                native_id: native_id.to_owned(),
                meeting_id: meeting_id.to_string(),
            });
    }

    /// meeting-api: the status `/ws/authorize-subscribe` answers with from now on (200 serves
    /// the fixture; anything else answers `{"detail":"double failure"}`).
    pub fn set_authorize_status(&self, status: u16) {
        self.authorizer.status.store(status, Ordering::SeqCst);
    }

    /// What this double received on `path`, oldest first.
    pub fn received_on(&self, path: &str) -> Vec<Received> {
        self.received()
            .into_iter()
            .filter(|r| r.path == path)
            .collect()
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
    authz: Arc<Authorizer>,
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
    if name == "meeting-api" && got.method == "POST" && got.path == "/ws/authorize-subscribe" {
        return Ok(authorize_subscribe(&authz, &got));
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

fn json_response(status: u16, body: &serde_json::Value) -> Response<Body> {
    Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .body(full(body.to_string()))
        .expect("response")
}

/// The original meeting-api's `POST /ws/authorize-subscribe`: the caller is `x-user-id` (401
/// without it); each `{platform, native_meeting_id}` is authorized when that user owns it.
fn authorize_subscribe(authz: &Authorizer, got: &Received) -> Response<Body> {
    use serde_json::{json, Value};
    let status = authz.status.load(Ordering::SeqCst);
    if status != 200 {
        return json_response(status, &json!({"detail": "double failure"}));
    }
    let Some(user) = got
        .headers
        .get("x-user-id")
        .and_then(|v| v.to_str().ok())
        .filter(|v| !v.is_empty())
    else {
        return json_response(401, &json!({"detail": "Missing X-User-Id"}));
    };
    let meetings = serde_json::from_slice::<Value>(&got.body)
        .ok()
        .and_then(|b| b.get("meetings").and_then(Value::as_array).cloned());
    let Some(meetings) = meetings.filter(|m| !m.is_empty()) else {
        return json_response(
            422,
            &json!({"detail": "'meetings' must be a non-empty list"}),
        );
    };
    let owned = authz.owned.lock().expect("fixture lock").clone();
    let (mut authorized, mut errors) = (Vec::new(), Vec::new());
    for (idx, m) in meetings.iter().enumerate() {
        let field = |k: &str| {
            m.get(k)
                .and_then(Value::as_str)
                .unwrap_or("")
                .trim()
                .to_owned()
        };
        let (platform, native) = (field("platform"), field("native_meeting_id"));
        match owned
            .iter()
            .find(|o| o.user_id == user && o.platform == platform && o.native_id == native)
        {
            Some(o) => authorized.push(json!({
                "platform": platform,
                "native_id": native,
                "user_id": o.user_id,
                "meeting_id": o.meeting_id,
            })),
            None => errors.push(format!(
                "meetings[{idx}] not authorized or not found for user"
            )),
        }
    }
    json_response(
        200,
        &json!({"authorized": authorized, "errors": errors, "user_id": user}),
    )
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
