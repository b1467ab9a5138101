//! `/ws` (ws.v1): the caller's own meetings only. Auto-subscribed to the user channel (flat
//! `meeting.status` frames of every own meeting); `subscribe`/`unsubscribe` by
//! `{platform, native_id}` add per-meeting `transcript` and nested `meeting.status` frames;
//! `ping` → `pong`. Bad frames get an error frame and never close the socket. The gateway has
//! already authenticated the key; this route trusts only its injected identity.

use std::collections::HashSet;

use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::extract::State;
use axum::response::Response;
use serde_json::{json, Value};
use tokio::sync::broadcast::error::RecvError;
use vexa_core::meeting::Platform;
use vexa_core::UserId;

use crate::caller::Caller;
use crate::state::AppState;

pub async fn upgrade(State(st): State<AppState>, caller: Caller, ws: WebSocketUpgrade) -> Response {
    ws.max_message_size(64 * 1024)
        .on_upgrade(move |socket| session(st, caller.user_id, socket))
}

type Key = (String, String);

async fn session(st: AppState, user: UserId, mut socket: WebSocket) {
    let mut rx = st.hub.subscribe();
    let mut subs: HashSet<Key> = HashSet::new();
    loop {
        tokio::select! {
            () = st.shutdown.cancelled() => {
                let bye = CloseFrame { code: 1001, reason: "server shutting down".into() };
                let _ = socket.send(Message::Close(Some(bye))).await;
                return;
            }
            msg = socket.recv() => {
                let text = match msg {
                    Some(Ok(Message::Text(t))) => t.to_string(),
                    Some(Ok(Message::Close(_))) | None | Some(Err(_)) => return,
                    Some(Ok(Message::Binary(_))) => String::from("\u{0}"),
                    Some(Ok(_)) => continue,
                };
                let reply = handle(&st, user, &mut subs, &text).await;
                if socket.send(Message::Text(reply.to_string().into())).await.is_err() {
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

fn error(kind: &str, details: Option<Value>) -> Value {
    match details {
        Some(d) => json!({"type": "error", "error": kind, "details": d}),
        None => json!({"type": "error", "error": kind}),
    }
}

fn entries(v: &Value) -> Vec<Option<Key>> {
    v.as_array()
        .map(|a| {
            a.iter()
                .map(|m| {
                    let p = m.get("platform")?.as_str()?;
                    let n = m
                        .get("native_id")
                        .or_else(|| m.get("native_meeting_id"))?
                        .as_str()?;
                    Some((p.to_owned(), n.to_owned()))
                })
                .collect()
        })
        .unwrap_or_default()
}

fn keys_json(keys: &[Key]) -> Value {
    Value::Array(
        keys.iter()
            .map(|(p, n)| json!({"platform": p, "native_id": n}))
            .collect(),
    )
}

async fn handle(st: &AppState, user: UserId, subs: &mut HashSet<Key>, text: &str) -> Value {
    let Ok(Value::Object(msg)) = serde_json::from_str::<Value>(text) else {
        return error("invalid_json", None);
    };
    let meetings = msg.get("meetings").cloned().unwrap_or(Value::Null);
    match msg.get("action").and_then(Value::as_str) {
        Some("ping") => json!({"type": "pong"}),
        Some("subscribe") => {
            let bad = |d: &str| error("invalid_subscribe_payload", Some(json!(d)));
            let Some(list) = meetings.as_array() else {
                return bad("'meetings' must be a non-empty list");
            };
            if list.is_empty() {
                return bad("'meetings' list cannot be empty");
            }
            let valid: Vec<Key> = entries(&meetings).into_iter().flatten().collect();
            if valid.is_empty() {
                return bad("no valid meeting objects");
            }
            let mut granted = Vec::new();
            for (p, n) in valid {
                // Only the caller's own meetings; others are silently left out, as in the original
                // (`docs/reference/vexa-meetings.md` §7).
                let owned = match Platform::parse(&p) {
                    Some(pl) => matches!(st.store.latest_for_key(user, pl, &n).await, Ok(Some(_))),
                    None => false,
                };
                if owned {
                    subs.insert((p.clone(), n.clone()));
                    granted.push((p, n));
                }
            }
            json!({"type": "subscribed", "meetings": keys_json(&granted)})
        }
        Some("unsubscribe") => {
            let Some(list) = meetings.as_array() else {
                return error(
                    "invalid_unsubscribe_payload",
                    Some(json!("'meetings' must be a list")),
                );
            };
            let mut done = Vec::new();
            let mut errors = Vec::new();
            for (i, e) in entries(&meetings).into_iter().enumerate() {
                match e {
                    Some(k) if subs.remove(&k) => done.push(k),
                    Some(_) => errors.push(format!("meetings[{i}] not currently subscribed")),
                    None => errors.push(format!("meetings[{i}] missing 'platform' or 'native_id'")),
                }
            }
            if done.is_empty() && !errors.is_empty() && !list.is_empty() {
                return error("invalid_unsubscribe_payload", Some(json!(errors)));
            }
            json!({"type": "unsubscribed", "meetings": keys_json(&done)})
        }
        _ => error("unknown_action", None),
    }
}
