//! `GET /ws` in front of the ORIGINAL Vexa meeting-api (`MEETINGS_API_KIND=vexa`): the gateway
//! terminates the socket and speaks the original gateway's protocol itself (reference §3.8).
//!
//! 1. Accept the upgrade, then authenticate through the gateway's key path (the same cache and
//!    identity source as every route): no key → `missing_api_key` + close 4401; a refused key →
//!    `invalid_api_key` + 4401; the identity source unreachable → `auth_unavailable` + 4503.
//! 2. Fan in the user channel `u:{user_id}:meetings` at once.
//! 3. Answer client frames: `ping`, `subscribe` (authorized per meeting by the meeting-api's
//!    `POST /ws/authorize-subscribe`, then its `tc:`/`bm:`/`va:` channels fanned in),
//!    `unsubscribe`, and the original's error frames for everything else.
//!
//! As in the original, the per-IP edge guard applies before the upgrade and the per-user
//! limiter does not apply to `/ws`; client frames are bounded at 64 KiB (the protocol's control
//! frames are tiny). Redis payloads are forwarded unchanged. Unlike the original, a key that stops resolving
//! closes the socket (4401): at once on a revocation in our store (the [`Registry`]), at its
//! `expires_at`, and — for keys of the original's identity service, which tells nobody — at the
//! next re-check (every half `IDENTITY_CACHE_TTL_S`, so within 1.5 × the TTL) or `subscribe`.
//!
//! Without `REDIS_URL` (or while Redis is unreachable) the socket is still accepted and
//! authenticated — so a bad key learns 4401 as before — and then closed with 4503 after a
//! `{"type":"error","error":"live_updates_unavailable"}` frame: the HTTP rows keep working
//! without Redis, so the gateway does not refuse to start, and 4503 is the retryable close the
//! original's clients already handle for a dependency that is down.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use http::header::{CONTENT_TYPE, HOST};
use http::request::Parts;
use http::uri::PathAndQuery;
use http::{HeaderValue, Method, Request, Response};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::{CloseFrame, Role};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::WebSocketStream;
use zeroize::Zeroizing;

use super::fanout::{Fanout, Subscriber};
use super::{accept_key, query_key, switching_protocols, CloseReason};
use crate::body::GwBody;
use crate::cache::{Lookup, ResolvedIdentity};
use crate::error::{GatewayError, Rejection};
use crate::headers::{self, X_API_KEY, X_REQUEST_ID, X_TRACE_ID, X_VEXA_IDENTITY};
use crate::pipeline::State;
use crate::routes::{Route, RouteIndex};

const AUTHORIZE_PATH: &str = "/ws/authorize-subscribe";
/// Largest `/ws/authorize-subscribe` answer read.
const MAX_ANSWER_BYTES: usize = 1024 * 1024;
/// Largest client frame accepted (the original's control frames are tiny).
const MAX_CLIENT_FRAME: usize = 64 * 1024;
/// Shortest interval between re-checks of the socket's key.
const MIN_RECHECK: Duration = Duration::from_millis(250);

type AuthzClient = Client<HttpConnector, Full<Bytes>>;

/// What every terminated socket shares: the Redis fan-out (none without `REDIS_URL`) and the
/// client of the authorize hop (its own pool, apart from forwarding, as the original's).
pub struct Terminator {
    fanout: Option<Arc<Fanout>>,
    client: AuthzClient,
}

impl Terminator {
    /// Starts the fan-out when `redis_url` is set.
    pub fn new(redis_url: Option<&str>) -> Result<Terminator, GatewayError> {
        let fanout = redis_url.map(Fanout::start).transpose()?;
        if fanout.is_none() {
            tracing::warn!(
                "MEETINGS_API_KIND=vexa without REDIS_URL: /ws closes with 4503 after authentication (no live updates)"
            );
        }
        let mut connector = HttpConnector::new();
        connector.set_nodelay(true);
        let client = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(Duration::from_secs(60))
            .pool_timer(TokioTimer::new())
            .timer(TokioTimer::new())
            .build(connector);
        Ok(Terminator { fanout, client })
    }
}

/// Answers the upgrade (101) and runs the session on the upgraded connection. Nothing is
/// checked before the upgrade but the upgrade itself: the key is the session's first step.
pub fn accept(
    state: Arc<State>,
    mut req: Request<Incoming>,
    route: &'static Route,
    index: RouteIndex,
    request_id: HeaderValue,
) -> Result<Response<GwBody>, Rejection> {
    let accept = accept_key(req.headers())?;
    let on_upgrade = hyper::upgrade::on(&mut req);
    let (parts, _) = req.into_parts();
    tokio::spawn(async move {
        match on_upgrade.await {
            Ok(upgraded) => {
                let ws = WebSocketStream::from_raw_socket(
                    TokioIo::new(upgraded),
                    Role::Server,
                    Some(
                        tokio_tungstenite::tungstenite::protocol::WebSocketConfig::default()
                            .max_message_size(Some(MAX_CLIENT_FRAME))
                            .max_frame_size(Some(MAX_CLIENT_FRAME)),
                    ),
                )
                .await;
                session(state, ws, parts, route, index, request_id).await;
            }
            Err(e) => tracing::debug!(error = %e, "client websocket upgrade failed"),
        }
    });
    Ok(switching_protocols(&accept))
}

/// Why a session ends on the gateway's initiative.
enum Stop {
    /// Close with this frame, after an error frame when one is given.
    Close(Option<&'static str>, CloseFrame),
    /// The client went away or the socket broke.
    Gone,
}

fn close(code: u16, reason: &'static str) -> CloseFrame {
    CloseFrame {
        code: CloseCode::from(code),
        reason: reason.into(),
    }
}

fn error_frame(code: &str) -> Message {
    Message::text(json!({"type": "error", "error": code}).to_string())
}

fn live_updates_unavailable() -> Stop {
    Stop::Close(
        Some("live_updates_unavailable"),
        close(4503, "live updates unavailable"),
    )
}

async fn session<S>(
    state: Arc<State>,
    mut ws: WebSocketStream<S>,
    parts: Parts,
    route: &'static Route,
    index: RouteIndex,
    request_id: HeaderValue,
) where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    let stop = match state.authenticate(&parts, route, index).await {
        Ok(who) => {
            let raw = headers::key_carrier(&parts.headers, false)
                .ok()
                .flatten()
                .or_else(|| query_key(parts.uri.query()))
                .map(|k| Zeroizing::new(k.to_owned()));
            match raw {
                Some(key) => serve(state.clone(), &mut ws, who, key, request_id).await,
                None => Stop::Close(Some("invalid_api_key"), close(4401, "invalid API key")),
            }
        }
        Err(Rejection::MissingKey) => {
            Stop::Close(Some("missing_api_key"), close(4401, "missing API key"))
        }
        Err(Rejection::AuthUnavailable) => Stop::Close(
            Some("auth_unavailable"),
            close(4503, "authentication unavailable"),
        ),
        Err(_) => Stop::Close(Some("invalid_api_key"), close(4401, "invalid API key")),
    };
    if let Stop::Gone = stop {
        // Answer a client's close (tungstenite queued the reply) or give up on a broken socket.
        let _ = tokio::time::timeout(Duration::from_secs(1), ws.close(None)).await;
    }
    if let Stop::Close(error, frame) = stop {
        if let Some(code) = error {
            let _ = ws.send(error_frame(code)).await;
        }
        let _ = ws.close(Some(frame)).await;
        // Give the client a moment to answer the close handshake.
        let _ = tokio::time::timeout(Duration::from_secs(1), async {
            while ws.next().await.is_some() {}
        })
        .await;
    }
}

/// One meeting the socket receives, as the meeting-api authorized it.
struct Watched {
    platform: String,
    native_id: String,
    user_id: String,
    meeting_id: String,
}

impl Watched {
    fn channels(&self) -> Vec<String> {
        let id = &self.meeting_id;
        vec![
            format!("tc:meeting:{id}:mutable"),
            format!("bm:meeting:{id}:status"),
            format!("va:meeting:{id}:chat"),
        ]
    }
}

/// An authenticated socket.
struct Session {
    state: Arc<State>,
    who: Arc<ResolvedIdentity>,
    /// Sent on as `X-API-Key` to the authorize hop, as the original; zeroed on drop.
    key: Zeroizing<String>,
    request_id: HeaderValue,
    sub: Subscriber,
    /// In subscription order; one per (platform, native_id, user_id).
    watched: Vec<Watched>,
    /// How many watched meetings use each channel (a channel is left when none does).
    refs: HashMap<String, usize>,
}

async fn serve<S>(
    state: Arc<State>,
    ws: &mut WebSocketStream<S>,
    who: Arc<ResolvedIdentity>,
    key: Zeroizing<String>,
    request_id: HeaderValue,
) -> Stop
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    let Some(fanout) = state.terminator.as_ref().and_then(|t| t.fanout.clone()) else {
        return live_updates_unavailable();
    };
    let (conn_id, mut close_rx) = state.sockets.register(who.principal.user_id, who.digest);
    let registry = state.sockets.clone();
    let _deregister = scopeguard(move || registry.deregister(conn_id));
    let (sub, mut frames) = fanout.subscriber();
    let user_channel = format!("u:{}:meetings", who.principal.user_id.0);
    if sub.subscribe(vec![user_channel]).await.is_err() {
        return live_updates_unavailable();
    }
    let now = state.clock.now();
    // A rotated key's grace end closes the socket like an expiry would.
    let expires_in = who
        .principal
        .valid_until()
        .map(|exp| Duration::from_millis(u64::try_from(exp.0.saturating_sub(now.0)).unwrap_or(0)));
    let expiry = async {
        match expires_in {
            Some(d) => tokio::time::sleep(d).await,
            None => std::future::pending().await,
        }
    };
    tokio::pin!(expiry);
    // Half the TTL: a cached answer is at most one TTL old, so a key revoked at the source is
    // seen within 1.5 × TTL (for our store the registry closes it at once anyway).
    let every = (state.cache.positive_ttl() / 2).max(MIN_RECHECK);
    let mut recheck = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
    recheck.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut s = Session {
        state,
        who,
        key,
        request_id,
        sub,
        watched: Vec::new(),
        refs: HashMap::new(),
    };
    loop {
        tokio::select! {
            biased;
            r = &mut close_rx => {
                let reason = r.unwrap_or(CloseReason::Shutdown);
                return Stop::Close(None, reason.frame());
            }
            () = &mut expiry => return Stop::Close(None, CloseReason::Expired.frame()),
            _ = recheck.tick() => {
                if let Err(stop) = s.recheck().await {
                    return stop;
                }
            }
            frame = frames.recv() => match frame {
                Some(m) => {
                    if ws.send(m).await.is_err() {
                        return Stop::Gone;
                    }
                }
                // The fan-out dropped this socket: it could not keep up.
                None => return Stop::Close(None, close(1013, "too slow for live updates")),
            },
            msg = ws.next() => {
                let text = match msg {
                    Some(Ok(Message::Text(t))) => Some(t.as_str().to_owned()),
                    Some(Ok(Message::Binary(b))) => Some(String::from_utf8(b.to_vec()).unwrap_or_default()),
                    Some(Ok(Message::Close(_))) | Some(Err(_)) | None => return Stop::Gone,
                    Some(Ok(_)) => None,
                };
                if let Some(text) = text {
                    match s.on_text(&text).await {
                        Ok(reply) => {
                            if ws.send(Message::text(reply.to_string())).await.is_err() {
                                return Stop::Gone;
                            }
                        }
                        Err(stop) => return stop,
                    }
                }
            }
        }
    }
}

/// Runs `f` when dropped (every exit path of a session deregisters it).
fn scopeguard(f: impl FnOnce()) -> impl Drop {
    struct Guard<F: FnOnce()>(Option<F>);
    impl<F: FnOnce()> Drop for Guard<F> {
        fn drop(&mut self) {
            if let Some(f) = self.0.take() {
                f();
            }
        }
    }
    Guard(Some(f))
}

impl Session {
    /// The key again, through the cache: a key that no longer resolves closes the socket; an
    /// identity source that is down does not (the key was valid, nothing says otherwise).
    async fn resolve(&mut self) -> Result<Option<Arc<ResolvedIdentity>>, Stop> {
        let Some(key) = self.state.cache.admit(&self.key) else {
            return Err(Stop::Close(None, CloseReason::Revoked.frame()));
        };
        match self.state.cache.resolve(key, self.state.clock.now()).await {
            Lookup::Valid(who) => {
                self.who = who.clone();
                Ok(Some(who))
            }
            Lookup::Unavailable => Ok(None),
            Lookup::Expired(_) => Err(Stop::Close(None, CloseReason::Expired.frame())),
            Lookup::Unknown | Lookup::Revoked => {
                Err(Stop::Close(None, CloseReason::Revoked.frame()))
            }
        }
    }

    async fn recheck(&mut self) -> Result<(), Stop> {
        self.resolve().await.map(|_| ())
    }

    async fn on_text(&mut self, text: &str) -> Result<Value, Stop> {
        Ok(match parse(text) {
            Action::Reply(v) => v,
            Action::Ping => json!({"type": "pong"}),
            Action::Subscribe(refs) => self.subscribe(&refs).await?,
            Action::Unsubscribe(entries) => self.unsubscribe(entries).await,
        })
    }

    async fn subscribe(&mut self, refs: &[MeetingRef]) -> Result<Value, Stop> {
        let answer = self.authorize(refs).await?;
        let list = |name: &str| {
            answer
                .get(name)
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default()
        };
        let (authorized, errors) = (list("authorized"), list("errors"));
        if authorized.is_empty() && !errors.is_empty() {
            let first = py_str(&errors[0]);
            let code = if first.starts_with("authorization_call_failed") {
                "authorization_call_failed"
            } else {
                "authorization_service_error"
            };
            return Ok(json!({"type": "error", "error": code, "details": first}));
        }
        let mut acked = Vec::new();
        for item in &authorized {
            let field = |name: &str| item.get(name).map(py_str).filter(|v| !v.is_empty());
            let (Some(platform), Some(native_id), Some(user_id), Some(meeting_id)) = (
                field("platform"),
                field("native_id"),
                field("user_id"),
                field("meeting_id"),
            ) else {
                continue;
            };
            acked.push(json!({"platform": platform, "native_id": native_id}));
            let w = Watched {
                platform,
                native_id,
                user_id,
                meeting_id,
            };
            self.watch(w).await?;
        }
        Ok(json!({"type": "subscribed", "meetings": acked}))
    }

    /// Fans a meeting's channels in, unless it is already (a duplicate subscribe is a no-op).
    async fn watch(&mut self, w: Watched) -> Result<(), Stop> {
        let same = |o: &Watched| {
            o.platform == w.platform && o.native_id == w.native_id && o.user_id == w.user_id
        };
        if self.watched.iter().any(same) {
            return Ok(());
        }
        let fresh: Vec<String> = w
            .channels()
            .into_iter()
            .filter(|c| !self.refs.contains_key(c))
            .collect();
        if self.sub.subscribe(fresh).await.is_err() {
            return Err(live_updates_unavailable());
        }
        for c in w.channels() {
            *self.refs.entry(c).or_insert(0) += 1;
        }
        self.watched.push(w);
        Ok(())
    }

    async fn unsubscribe(&mut self, entries: Vec<Result<MeetingRef, String>>) -> Value {
        let mut done = Vec::new();
        let mut errors = Vec::new();
        for (idx, entry) in entries.into_iter().enumerate() {
            let r = match entry {
                Ok(r) => r,
                Err(e) => {
                    errors.push(Value::String(e));
                    continue;
                }
            };
            let found = self
                .watched
                .iter()
                .position(|w| w.platform == r.platform && w.native_id == r.native_id);
            let Some(pos) = found else {
                errors.push(Value::String(format!(
                    "meetings[{idx}] not currently subscribed"
                )));
                continue;
            };
            let w = self.watched.remove(pos);
            let mut left = Vec::new();
            for c in w.channels() {
                if let Some(n) = self.refs.get_mut(&c) {
                    *n -= 1;
                    if *n == 0 {
                        self.refs.remove(&c);
                        left.push(c);
                    }
                }
            }
            self.sub.unsubscribe(left).await;
            done.push(json!({"platform": r.platform, "native_id": r.native_id}));
        }
        if done.is_empty() && !errors.is_empty() {
            return json!({
                "type": "error",
                "error": "invalid_unsubscribe_payload",
                "details": errors,
            });
        }
        json!({"type": "unsubscribed", "meetings": done})
    }

    /// The original's authorize hop: the key re-resolved, then `POST /ws/authorize-subscribe`
    /// to the meeting-api with the key and the identity headers (injected as on every forwarded
    /// request, with the internal secret and `X-Vexa-Identity` when signing). Always an answer
    /// of the meeting-api's shape: failures become its `errors` list, as the original's.
    async fn authorize(&mut self, refs: &[MeetingRef]) -> Result<Value, Stop> {
        let failed = |e: String| json!({"authorized": [], "errors": [e]});
        let Some(who) = self.resolve().await? else {
            return Ok(failed(
                "authorization_unavailable:identity service unavailable".to_owned(),
            ));
        };
        let Some(t) = self.state.terminator.as_ref() else {
            return Ok(failed(
                "authorization_call_failed:not configured".to_owned(),
            ));
        };
        let meetings: Vec<Value> = refs
            .iter()
            .map(|r| json!({"platform": r.platform, "native_meeting_id": r.native_id}))
            .collect();
        let body = json!({ "meetings": meetings }).to_string();
        let Ok(uri) = self
            .state
            .meetings
            .uri(PathAndQuery::from_static(AUTHORIZE_PATH))
        else {
            return Ok(failed("authorization_call_failed:invalid URL".to_owned()));
        };
        let mut req = Request::new(Full::new(Bytes::from(body)));
        *req.method_mut() = Method::POST;
        *req.uri_mut() = uri;
        let h = req.headers_mut();
        headers::inject_identity(h, &who, &self.state.secret);
        if let Some(signer) = &self.state.signer {
            if let Some(token) = signer.header(&who.principal, self.state.clock.now().as_secs()) {
                h.insert(X_VEXA_IDENTITY, token);
            }
        }
        if let Ok(k) = HeaderValue::from_str(&self.key) {
            h.insert(X_API_KEY, k);
        }
        h.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        h.insert(X_REQUEST_ID, self.request_id.clone());
        h.insert(X_TRACE_ID, self.request_id.clone());
        h.insert(HOST, self.state.meetings.host.clone());
        let call = async {
            let resp = t.client.request(req).await.map_err(|e| {
                tracing::debug!(error = %e, "authorize-subscribe failed");
                "upstream unreachable".to_owned()
            })?;
            let status = resp.status();
            if status != http::StatusCode::OK {
                return Ok(failed(format!(
                    "authorization_service_error:{}",
                    status.as_u16()
                )));
            }
            let limited = http_body_util::Limited::new(resp.into_body(), MAX_ANSWER_BYTES);
            let bytes = limited
                .collect()
                .await
                .map_err(|_| "answer unreadable".to_owned())?
                .to_bytes();
            match serde_json::from_slice::<Value>(&bytes) {
                Ok(v @ Value::Object(_)) => Ok(v),
                _ => Err("answer is not a JSON object".to_owned()),
            }
        };
        Ok(
            match tokio::time::timeout(self.state.upstream_timeout, call).await {
                Ok(Ok(answer)) => answer,
                Ok(Err(e)) => failed(format!("authorization_call_failed:{e}")),
                Err(_) => failed("authorization_call_failed:upstream timeout".to_owned()),
            },
        )
    }
}

/// A meeting named by a client frame.
#[derive(Debug, Clone, PartialEq, Eq)]
struct MeetingRef {
    platform: String,
    native_id: String,
}

/// What a client frame asks for, validated as the original does.
#[derive(Debug, PartialEq)]
enum Action {
    /// Answer this frame and do nothing else (the protocol's errors).
    Reply(Value),
    Ping,
    /// At least one well-formed meeting.
    Subscribe(Vec<MeetingRef>),
    /// Each entry, or the error it gets.
    Unsubscribe(Vec<Result<MeetingRef, String>>),
}

fn payload_error(code: &str, details: &str) -> Action {
    Action::Reply(json!({"type": "error", "error": code, "details": details}))
}

/// A JSON value as Python's `str()` renders it (the original reads fields with
/// `str(m.get(...)).strip()`).
fn py_str(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => "None".to_owned(),
        Value::Bool(true) => "True".to_owned(),
        Value::Bool(false) => "False".to_owned(),
        other => other.to_string(),
    }
}

/// `platform` and `native_id` of one entry, trimmed; `None` when not an object.
fn meeting_fields(m: &Value) -> Option<(String, String)> {
    let obj = m.as_object()?;
    let field = |name: &str| {
        obj.get(name)
            .map(py_str)
            .map(|s| s.trim().to_owned())
            .unwrap_or_default()
    };
    Some((field("platform"), field("native_id")))
}

fn parse(text: &str) -> Action {
    let Ok(Value::Object(msg)) = serde_json::from_str::<Value>(text) else {
        return Action::Reply(json!({"type": "error", "error": "invalid_json"}));
    };
    match msg.get("action").and_then(Value::as_str) {
        Some("subscribe") => {
            let Some(meetings) = msg.get("meetings").and_then(Value::as_array) else {
                return payload_error(
                    "invalid_subscribe_payload",
                    "'meetings' must be a non-empty list",
                );
            };
            if meetings.is_empty() {
                return payload_error(
                    "invalid_subscribe_payload",
                    "'meetings' list cannot be empty",
                );
            }
            let refs: Vec<MeetingRef> = meetings
                .iter()
                .filter_map(meeting_fields)
                .filter(|(p, n)| !p.is_empty() && !n.is_empty())
                .map(|(platform, native_id)| MeetingRef {
                    platform,
                    native_id,
                })
                .collect();
            if refs.is_empty() {
                return payload_error("invalid_subscribe_payload", "no valid meeting objects");
            }
            Action::Subscribe(refs)
        }
        Some("unsubscribe") => {
            let Some(meetings) = msg.get("meetings").and_then(Value::as_array) else {
                return payload_error("invalid_unsubscribe_payload", "'meetings' must be a list");
            };
            let entries = meetings
                .iter()
                .enumerate()
                .map(|(idx, m)| match meeting_fields(m) {
                    None => Err(format!("meetings[{idx}] must be an object")),
                    Some((p, n)) if p.is_empty() || n.is_empty() => {
                        Err(format!("meetings[{idx}] missing 'platform' or 'native_id'"))
                    }
                    Some((platform, native_id)) => Ok(MeetingRef {
                        platform,
                        native_id,
                    }),
                })
                .collect();
            Action::Unsubscribe(entries)
        }
        Some("ping") => Action::Ping,
        _ => Action::Reply(json!({"type": "error", "error": "unknown_action"})),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn details(a: Action) -> Value {
        match a {
            Action::Reply(v) => v,
            other => panic!("expected an error frame, got {other:?}"),
        }
    }

    #[test]
    fn frames_that_are_not_json_objects_are_invalid_json() {
        for text in ["", "not json", "[1,2]", "42", "\"x\"", "null"] {
            assert_eq!(
                details(parse(text)),
                json!({"type": "error", "error": "invalid_json"}),
                "{text}"
            );
        }
    }

    #[test]
    fn subscribe_payloads_are_checked_as_the_original() {
        let cases = [
            (
                r#"{"action":"subscribe"}"#,
                "'meetings' must be a non-empty list",
            ),
            (
                r#"{"action":"subscribe","meetings":{}}"#,
                "'meetings' must be a non-empty list",
            ),
            (
                r#"{"action":"subscribe","meetings":[]}"#,
                "'meetings' list cannot be empty",
            ),
            (
                r#"{"action":"subscribe","meetings":[1,{"platform":" "},{"platform":"g","native_id":""}]}"#,
                "no valid meeting objects",
            ),
        ];
        for (text, want) in cases {
            let v = details(parse(text));
            assert_eq!(v["error"], "invalid_subscribe_payload", "{text}");
            assert_eq!(v["details"], want, "{text}");
        }
        let ok = parse(
            r#"{"action":"subscribe","meetings":[7,{"platform":" google_meet ","native_id":"abc"}]}"#,
        );
        assert_eq!(
            ok,
            Action::Subscribe(vec![MeetingRef {
                platform: "google_meet".into(),
                native_id: "abc".into()
            }])
        );
    }

    #[test]
    fn unsubscribe_entries_get_their_own_errors() {
        let v = details(parse(r#"{"action":"unsubscribe","meetings":"x"}"#));
        assert_eq!(v["error"], "invalid_unsubscribe_payload");
        assert_eq!(v["details"], "'meetings' must be a list");
        let Action::Unsubscribe(entries) = parse(
            r#"{"action":"unsubscribe","meetings":[3,{"platform":"g"},{"platform":"g","native_id":9}]}"#,
        ) else {
            panic!("not an unsubscribe");
        };
        assert_eq!(
            entries,
            vec![
                Err("meetings[0] must be an object".into()),
                Err("meetings[1] missing 'platform' or 'native_id'".into()),
                Ok(MeetingRef {
                    platform: "g".into(),
                    native_id: "9".into()
                }),
            ]
        );
    }

    #[test]
    fn ping_and_unknown_actions() {
        assert_eq!(parse(r#"{"action":"ping"}"#), Action::Ping);
        for text in [r#"{}"#, r#"{"action":"dance"}"#, r#"{"action":1}"#] {
            assert_eq!(
                details(parse(text)),
                json!({"type": "error", "error": "unknown_action"})
            );
        }
    }
}
