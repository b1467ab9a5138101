//! `/ws` (ws.v1): the caller's own meetings only. Auto-subscribed to the user channel (flat
//! `meeting.status` frames of every own meeting); `subscribe`/`unsubscribe` by
//! `{platform, native_id}` add per-meeting `transcript` and nested `meeting.status` frames;
//! `ping` → `pong`. Bad frames get an error frame and never close the socket. The gateway has
//! already authenticated the key; this route trusts only its injected identity.

use std::collections::HashSet;

use axum::extract::ws::rejection::WebSocketUpgradeRejection;
use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use serde_json::Value;
use tokio::sync::broadcast::error::RecvError;
use vexa_core::meeting::Platform;
use vexa_core::UserId;

use crate::caller::Caller;
use crate::error::MeetingsError;
use crate::state::AppState;
use crate::wire::live::{WsErrorDetails, WsMeetingKey, WsReply};

/// Largest client frame.
const MAX_MESSAGE_BYTES: usize = 64 * 1024;

/// `GET /ws`: a refused handshake is a `{"detail": …}` like every other refusal.
pub async fn upgrade(
    State(state): State<AppState>,
    caller: Caller,
    ws: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Response {
    match ws {
        Ok(ws) => ws
            .max_message_size(MAX_MESSAGE_BYTES)
            .on_upgrade(move |socket| session(state, caller.user_id, socket)),
        Err(refused) => MeetingsError::from(refused).into_response(),
    }
}

type Key = (String, String);

async fn session(state: AppState, user: UserId, mut socket: WebSocket) {
    let mut rx = state.hub.subscribe();
    let mut subs: HashSet<Key> = HashSet::new();
    loop {
        tokio::select! {
            () = state.shutdown.cancelled() => {
                let bye = CloseFrame { code: 1001, reason: "server shutting down".into() };
                let _ = socket.send(Message::Close(Some(bye))).await;
                return;
            }
            msg = socket.recv() => {
                let text = match msg {
                    Some(Ok(Message::Text(t))) => t.to_string(),
                    Some(Ok(Message::Close(_))) | None | Some(Err(_)) => return,
                    // Not JSON text: answered as invalid JSON, like any other unparsable frame.
                    Some(Ok(Message::Binary(_))) => String::from("\u{0}"),
                    Some(Ok(_)) => continue,
                };
                let reply = handle(&state, user, &mut subs, &text).await;
                let Ok(reply) = serde_json::to_string(&reply) else { return };
                if socket.send(Message::Text(reply.into())).await.is_err() {
                    return;
                }
            }
            frame = rx.recv() => match frame {
                Ok(f) if f.user == user && (f.user_wide || f.key.as_ref().is_some_and(|k| subs.contains(k))) => {
                    if socket.send(Message::Text(f.text.to_string().into())).await.is_err() {
                        return;
                    }
                }
                Ok(_) | Err(RecvError::Lagged(_)) => {}
                Err(RecvError::Closed) => return,
            },
        }
    }
}

fn error(kind: &'static str, details: Option<WsErrorDetails>) -> WsReply {
    WsReply::Error {
        error: kind,
        details,
    }
}

/// The `(platform, native id)` of each entry of a client's `meetings` list; `None` for an
/// entry without both (`native_meeting_id` is accepted for `native_id`).
fn entries(meetings: &Value) -> Vec<Option<Key>> {
    let entry = |m: &Value| {
        let platform = m.get("platform")?.as_str()?;
        let native = m
            .get("native_id")
            .or_else(|| m.get("native_meeting_id"))?
            .as_str()?;
        Some((platform.to_owned(), native.to_owned()))
    };
    meetings
        .as_array()
        .map(|list| list.iter().map(entry).collect())
        .unwrap_or_default()
}

fn keys_view(keys: Vec<Key>) -> Vec<WsMeetingKey> {
    keys.into_iter()
        .map(|(platform, native_id)| WsMeetingKey {
            platform,
            native_id,
        })
        .collect()
}

async fn handle(state: &AppState, user: UserId, subs: &mut HashSet<Key>, text: &str) -> WsReply {
    let Ok(Value::Object(msg)) = serde_json::from_str::<Value>(text) else {
        return error("invalid_json", None);
    };
    let meetings = msg.get("meetings").cloned().unwrap_or(Value::Null);
    match msg.get("action").and_then(Value::as_str) {
        Some("ping") => WsReply::Pong,
        Some("subscribe") => subscribe(state, user, subs, &meetings).await,
        Some("unsubscribe") => unsubscribe(subs, &meetings),
        _ => error("unknown_action", None),
    }
}

async fn subscribe(
    state: &AppState,
    user: UserId,
    subs: &mut HashSet<Key>,
    meetings: &Value,
) -> WsReply {
    let bad = |d| error("invalid_subscribe_payload", Some(WsErrorDetails::One(d)));
    let Some(list) = meetings.as_array() else {
        return bad("'meetings' must be a non-empty list");
    };
    if list.is_empty() {
        return bad("'meetings' list cannot be empty");
    }
    let valid: Vec<Key> = entries(meetings).into_iter().flatten().collect();
    if valid.is_empty() {
        return bad("no valid meeting objects");
    }
    let mut granted = Vec::new();
    for (platform, native) in valid {
        // Only the caller's own meetings; others are silently left out, as in the original.
        let owned = match Platform::parse(&platform) {
            Some(p) => matches!(
                state.store.latest_for_key(user, p, &native).await,
                Ok(Some(_))
            ),
            None => false,
        };
        if owned {
            subs.insert((platform.clone(), native.clone()));
            granted.push((platform, native));
        }
    }
    WsReply::Subscribed {
        meetings: keys_view(granted),
    }
}

fn unsubscribe(subs: &mut HashSet<Key>, meetings: &Value) -> WsReply {
    let Some(list) = meetings.as_array() else {
        let details = WsErrorDetails::One("'meetings' must be a list");
        return error("invalid_unsubscribe_payload", Some(details));
    };
    let mut done = Vec::new();
    let mut errors = Vec::new();
    for (i, entry) in entries(meetings).into_iter().enumerate() {
        match entry {
            Some(k) if subs.remove(&k) => done.push(k),
            Some(_) => errors.push(format!("meetings[{i}] not currently subscribed")),
            None => errors.push(format!("meetings[{i}] missing 'platform' or 'native_id'")),
        }
    }
    if done.is_empty() && !errors.is_empty() && !list.is_empty() {
        return error(
            "invalid_unsubscribe_payload",
            Some(WsErrorDetails::Each(errors)),
        );
    }
    WsReply::Unsubscribed {
        meetings: keys_view(done),
    }
}
