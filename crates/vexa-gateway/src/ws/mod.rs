//! `GET /ws`, in one of two ways decided by `MEETINGS_API_KIND`:
//!
//! - `ours` ([`relay`]): the gateway terminates the client's socket, opens its own to our
//!   meetings service with the injected identity, and relays frames both ways;
//! - `vexa` ([`original`]): the gateway speaks the original Vexa gateway's protocol itself
//!   (reference §3.8) — accept, authenticate, subscribe through the meeting-api's
//!   `/ws/authorize-subscribe`, and fan Redis pub/sub channels in ([`fanout`]).
//!
//! Either way each socket is held in the one [`Registry`], so a revoked, deleted or expired key
//! closes it with 4401 within the second.

pub mod fanout;
pub mod original;
pub mod relay;

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};

use http::header::{CONNECTION, SEC_WEBSOCKET_ACCEPT, SEC_WEBSOCKET_KEY, UPGRADE};
use http::{HeaderMap, HeaderValue, Response, StatusCode};
use tokio::sync::oneshot;
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use vexa_core::{KeyDigest, UserId};

use crate::body::GwBody;
use crate::error::Rejection;

/// Why the gateway closes a socket of its own accord.
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

/// Open sockets (relayed or terminated), so identity changes can close them.
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

    /// Whether a socket opened with this key is open.
    pub fn has_key(&self, digest: &KeyDigest) -> bool {
        self.lock().values().any(|c| c.digest == *digest)
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

/// `Sec-WebSocket-Accept` for an upgrade request, or [`Rejection::NotWebSocket`] when the
/// request is not one.
fn accept_key(headers: &HeaderMap) -> Result<String, Rejection> {
    let has_token = |name, token: &str| {
        headers
            .get_all(name)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .any(|t| t.trim().eq_ignore_ascii_case(token))
    };
    if !(has_token(UPGRADE, "websocket") && has_token(CONNECTION, "upgrade")) {
        return Err(Rejection::NotWebSocket);
    }
    headers
        .get(SEC_WEBSOCKET_KEY)
        .map(|k| derive_accept_key(k.as_bytes()))
        .ok_or(Rejection::NotWebSocket)
}

/// The `101 Switching Protocols` answer.
fn switching_protocols(accept: &str) -> Response<GwBody> {
    let mut resp = Response::new(GwBody::empty());
    *resp.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
    let h = resp.headers_mut();
    h.insert(UPGRADE, HeaderValue::from_static("websocket"));
    h.insert(CONNECTION, HeaderValue::from_static("Upgrade"));
    if let Ok(v) = HeaderValue::from_str(accept) {
        h.insert(SEC_WEBSOCKET_ACCEPT, v);
    }
    resp
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
