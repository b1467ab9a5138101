//! `GET /ws`: the gateway terminates the client's WebSocket, opens its own to the meetings
//! service with the injected identity, and relays frames both ways. Relaying frames (rather than
//! splicing bytes) lets it close the client with 4401 the moment the key is revoked, its user is
//! deleted, or `expires_at` passes.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use http::header::{CONNECTION, SEC_WEBSOCKET_ACCEPT, SEC_WEBSOCKET_KEY, UPGRADE};
use http::{HeaderValue, Request, Response, StatusCode};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use tokio::sync::oneshot;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::{CloseFrame, Role};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::WebSocketStream;
use vexa_core::{KeyDigest, Timestamp, UserId};

use crate::body::GwBody;
use crate::cache::ResolvedIdentity;
use crate::error::Rejection;
use crate::headers::{inject_identity, X_REQUEST_ID};

/// Why the gateway closes a relayed socket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CloseReason {
    Revoked,
    Expired,
    Shutdown,
}

impl CloseReason {
    fn frame(self) -> CloseFrame {
        match self {
            CloseReason::Revoked => CloseFrame {
                code: CloseCode::from(4401),
                reason: "API key revoked".into(),
            },
            CloseReason::Expired => CloseFrame {
                code: CloseCode::from(4401),
                reason: "API key expired".into(),
            },
            CloseReason::Shutdown => CloseFrame {
                code: CloseCode::Away,
                reason: "gateway shutting down".into(),
            },
        }
    }
}

struct Conn {
    user: UserId,
    digest: KeyDigest,
    close: oneshot::Sender<CloseReason>,
}

/// Open relayed sockets, so identity changes can close them.
#[derive(Default)]
pub struct Registry {
    next: AtomicU64,
    conns: Mutex<HashMap<u64, Conn>>,
}

impl Registry {
    fn register(&self, user: UserId, digest: KeyDigest) -> (u64, oneshot::Receiver<CloseReason>) {
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = oneshot::channel();
        self.lock().insert(
            id,
            Conn {
                user,
                digest,
                close: tx,
            },
        );
        (id, rx)
    }

    fn deregister(&self, id: u64) {
        self.lock().remove(&id);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<u64, Conn>> {
        self.conns.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Closes every socket opened with this key.
    pub fn close_key(&self, digest: &KeyDigest, reason: CloseReason) {
        self.close_where(|c| c.digest == *digest, reason);
    }

    /// The digests of this user's open sockets (to re-check them after a user change).
    pub fn user_digests(&self, user: UserId) -> Vec<KeyDigest> {
        let mut out: Vec<KeyDigest> = self
            .lock()
            .values()
            .filter(|c| c.user == user)
            .map(|c| c.digest)
            .collect();
        out.sort_unstable();
        out.dedup();
        out
    }

    pub fn close_all(&self, reason: CloseReason) {
        self.close_where(|_| true, reason);
    }

    fn close_where(&self, pred: impl Fn(&Conn) -> bool, reason: CloseReason) {
        let mut conns = self.lock();
        let ids: Vec<u64> = conns
            .iter()
            .filter(|(_, c)| pred(c))
            .map(|(id, _)| *id)
            .collect();
        for id in ids {
            if let Some(conn) = conns.remove(&id) {
                let _ = conn.close.send(reason);
            }
        }
    }
}

/// What the relay needs from the gateway.
pub struct WsContext {
    pub registry: Arc<Registry>,
    pub upstream_authority: http::uri::Authority,
    pub secret: HeaderValue,
    pub timeout: Duration,
    pub now: Timestamp,
}

fn is_websocket_upgrade(req: &Request<Incoming>) -> bool {
    let has_token = |name, token: &str| {
        req.headers()
            .get_all(name)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .any(|t| t.trim().eq_ignore_ascii_case(token))
    };
    has_token(UPGRADE, "websocket") && has_token(CONNECTION, "upgrade")
}

/// The query string without any `api_key` parameter.
pub fn strip_api_key(query: &str) -> String {
    query
        .split('&')
        .filter(|kv| !kv.is_empty() && kv.split('=').next() != Some("api_key"))
        .collect::<Vec<_>>()
        .join("&")
}

/// The `api_key` query parameter, if any (keys are `[A-Za-z0-9_]`, so no decoding is needed).
pub fn query_key(query: Option<&str>) -> Option<&str> {
    query?
        .split('&')
        .find_map(|kv| kv.strip_prefix("api_key="))
        .filter(|v| !v.is_empty())
}

/// Opens the upstream socket, answers 101 and spawns the relay.
pub async fn upgrade(
    ctx: WsContext,
    mut req: Request<Incoming>,
    who: Arc<ResolvedIdentity>,
    request_id: HeaderValue,
) -> Result<Response<GwBody>, Rejection> {
    if !is_websocket_upgrade(&req) {
        return Err(Rejection::NotWebSocket);
    }
    let Some(accept) = req
        .headers()
        .get(SEC_WEBSOCKET_KEY)
        .map(|k| derive_accept_key(k.as_bytes()))
    else {
        return Err(Rejection::NotWebSocket);
    };
    let query = req.uri().query().map(strip_api_key).unwrap_or_default();
    let target = if query.is_empty() {
        format!("ws://{}/ws", ctx.upstream_authority)
    } else {
        format!("ws://{}/ws?{query}", ctx.upstream_authority)
    };
    let mut upstream_req = target
        .into_client_request()
        .map_err(|_| Rejection::UpstreamUnreachable)?;
    inject_identity(upstream_req.headers_mut(), &who, &ctx.secret);
    upstream_req.headers_mut().insert(X_REQUEST_ID, request_id);
    let upstream =
        match tokio::time::timeout(ctx.timeout, tokio_tungstenite::connect_async(upstream_req))
            .await
        {
            Err(_) => return Err(Rejection::UpstreamTimeout),
            Ok(Err(e)) => {
                tracing::debug!(error = %e, "upstream websocket failed");
                return Err(Rejection::UpstreamUnreachable);
            }
            Ok(Ok((stream, _))) => stream,
        };

    let on_upgrade = hyper::upgrade::on(&mut req);
    let (conn_id, close_rx) = ctx.registry.register(who.principal.user_id, who.digest);
    let expires_in = who.principal.expires_at.map(|exp| {
        Duration::from_millis(u64::try_from(exp.0.saturating_sub(ctx.now.0)).unwrap_or(0))
    });
    let registry = ctx.registry.clone();
    tokio::spawn(async move {
        match on_upgrade.await {
            Ok(upgraded) => {
                let client =
                    WebSocketStream::from_raw_socket(TokioIo::new(upgraded), Role::Server, None)
                        .await;
                relay(client, upstream, close_rx, expires_in).await;
            }
            Err(e) => tracing::debug!(error = %e, "client websocket upgrade failed"),
        }
        registry.deregister(conn_id);
    });

    let mut resp = Response::new(GwBody::empty());
    *resp.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
    let h = resp.headers_mut();
    h.insert(UPGRADE, HeaderValue::from_static("websocket"));
    h.insert(CONNECTION, HeaderValue::from_static("Upgrade"));
    if let Ok(v) = HeaderValue::from_str(&accept) {
        h.insert(SEC_WEBSOCKET_ACCEPT, v);
    }
    Ok(resp)
}

async fn relay<C, U>(
    mut client: WebSocketStream<C>,
    mut upstream: WebSocketStream<U>,
    mut close_rx: oneshot::Receiver<CloseReason>,
    expires_in: Option<Duration>,
) where
    C: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
    U: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    let expiry = async {
        match expires_in {
            Some(d) => tokio::time::sleep(d).await,
            None => std::future::pending().await,
        }
    };
    tokio::pin!(expiry);
    let reason = loop {
        tokio::select! {
            msg = client.next() => match msg {
                Some(Ok(m @ (Message::Text(_) | Message::Binary(_)))) => {
                    if upstream.send(m).await.is_err() { break None; }
                }
                Some(Ok(Message::Close(frame))) => {
                    let _ = upstream.close(frame).await;
                    break None;
                }
                Some(Ok(_)) => {}
                Some(Err(_)) | None => { let _ = upstream.close(None).await; break None; }
            },
            msg = upstream.next() => match msg {
                Some(Ok(m @ (Message::Text(_) | Message::Binary(_)))) => {
                    if client.send(m).await.is_err() { break None; }
                }
                Some(Ok(Message::Close(frame))) => {
                    let _ = client.close(frame).await;
                    break None;
                }
                Some(Ok(_)) => {}
                Some(Err(_)) | None => { let _ = client.close(None).await; break None; }
            },
            r = &mut close_rx => match r {
                Ok(reason) => break Some(reason),
                // The registry dropped us without a reason: keep relaying is impossible to
                // observe again, so treat it as shutdown.
                Err(_) => break Some(CloseReason::Shutdown),
            },
            () = &mut expiry => break Some(CloseReason::Expired),
        }
    };
    if let Some(reason) = reason {
        let _ = client.close(Some(reason.frame())).await;
        let _ = upstream.close(None).await;
        // Give the client a moment to answer the close handshake.
        let _ = tokio::time::timeout(Duration::from_secs(1), async {
            while client.next().await.is_some() {}
        })
        .await;
    }
}
