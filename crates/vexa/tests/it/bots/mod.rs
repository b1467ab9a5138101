//! Bots end to end through the gateway (issue 4, "Done when"): the real `vexa up` binary, real
//! bot child processes (`BOT_COMMAND = <this vexa> mock-bot`), every request on the gateway port
//! with `X-API-Key`, on both backends (SQLite file and PostgreSQL; PostgreSQL tests fail when it
//! is down). One module per behaviour:
//!
//! - `happy`: a happy bot: 201 → active → two speakers in the transcript and on `/ws` → stop →
//!   completed (`stopped`), its process gone;
//! - `failures`: `mock:crash` and `mock:reject` end `failed`;
//! - `concurrency`: concurrent `POST /bots`: one 201 per meeting and 409 for the rest; with
//!   `max_concurrent_bots=1` one 201 and 429 with the contract's text for the rest;
//! - `isolation`: another user's key sees nothing (404, empty lists, no frames);
//! - `access`: scopes (403) and revocation (401) before anything is spawned;
//! - `webhooks`: signed webhook deliveries checked by a receiver in the test (HMAC over
//!   `"<ts>.<body>"`), with a retried delivery;
//! - `orphans`, `stops`: no orphan: every test ends with SIGTERM to `vexa up` and finds no bot
//!   process of its stack; a `kill -9` of the server, split roles, stops racing the start and
//!   bots that ignore every stop leave no bot behind either.
//!
//! The harness is the testkit's `Stack`; this module holds the WebSocket helpers the suites
//! share. Bot processes are found through `/proc/<pid>/environ`: a bot inherits the server's
//! environment, so `DATA_DIR=<this test's temp dir>` next to `VEXA_BOT_CONFIG=` marks exactly the
//! bots of one stack.

mod access;
mod concurrency;
mod failures;
mod happy;
mod isolation;
mod orphans;
mod stops;
mod webhooks;

use std::time::Instant;

use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message;
use vexa_testkit::stack::{Ws, WAIT};
use vexa_testkit::Reply;

const MEET: &str = "abc-defg-hij";

/// Sends one JSON frame and returns the first reply of type `reply_type`.
async fn ws_request(ws: &mut Ws, msg: Value, reply_type: &str) -> Value {
    ws.send(Message::text(msg.to_string()))
        .await
        .expect("ws send");
    let deadline = Instant::now() + WAIT;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, ws.next()).await {
            Ok(Some(Ok(Message::Text(t)))) => {
                let v: Value = serde_json::from_str(&t).expect("ws frame is JSON");
                if v["type"] == reply_type {
                    return v;
                }
            }
            Ok(Some(Ok(_))) => {}
            other => panic!("no {reply_type} reply on the WebSocket: {other:?}"),
        }
    }
}

fn subscribe_msg(native: &str) -> Value {
    json!({"action": "subscribe", "meetings": [{"platform": "google_meet", "native_id": native}]})
}

/// Moves every text frame of `ws` into a channel, parsed.
fn collect_frames(ws: Ws) -> mpsc::UnboundedReceiver<Value> {
    let (tx, rx) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        let (_sink, mut stream) = ws.split();
        while let Some(Ok(msg)) = stream.next().await {
            if let Message::Text(t) = msg {
                let v = serde_json::from_str(&t).unwrap_or(Value::String(t.to_string()));
                if tx.send(v).is_err() {
                    return;
                }
            }
        }
    });
    rx
}

/// Reads frames until one satisfies `pred`; everything read is appended to `seen`.
async fn frame_where(
    rx: &mut mpsc::UnboundedReceiver<Value>,
    seen: &mut Vec<Value>,
    what: &str,
    pred: impl Fn(&Value) -> bool,
) -> Value {
    if let Some(v) = seen.iter().find(|v| pred(v)) {
        return v.clone();
    }
    let deadline = Instant::now() + WAIT;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, rx.recv()).await {
            Ok(Some(v)) => {
                seen.push(v.clone());
                if pred(&v) {
                    return v;
                }
            }
            _ => panic!("no {what} frame; frames seen: {seen:#?}"),
        }
    }
}

/// `meeting.status` frames come nested (`payload.status`, per subscription) or flat (`status`,
/// user channel).
fn status_frame(v: &Value, id: i64, status: &str) -> bool {
    v["type"] == "meeting.status"
        && (v["meeting"]["id"] == id || v["meeting_id"] == id)
        && (v["payload"]["status"] == status || v["status"] == status)
}

/// Runs `f` concurrently `n` times (all requests are in flight together); each status and body.
async fn concurrently<F, Fut>(n: usize, f: F) -> Vec<(u16, Value)>
where
    F: Fn(usize) -> Fut,
    Fut: std::future::Future<Output = Reply>,
{
    let replies = futures_util::future::join_all((0..n).map(f)).await;
    replies.iter().map(Reply::parts).collect()
}
