//! Bots end to end through the gateway (issue 4, "Done when"): the real `vexa up` binary, real
//! bot child processes (`BOT_COMMAND = <this vexa> mock-bot`), every request on the gateway port
//! with `X-API-Key`, on both backends (SQLite file and PostgreSQL; PostgreSQL tests fail when it
//! is down).
//!
//! - a happy bot: 201 → active → two speakers in the transcript and on `/ws` → stop → completed
//!   (`stopped`), its process gone;
//! - `mock:crash` and `mock:reject` end `failed`;
//! - concurrent `POST /bots`: one 201 per meeting and 409 for the rest; with
//!   `max_concurrent_bots=1` one 201 and 429 with the contract's text for the rest;
//! - another user's key sees nothing (404, empty lists, no frames);
//! - scopes (403) and revocation (401) before anything is spawned;
//! - signed webhook deliveries checked by a receiver in the test (HMAC over `"<ts>.<body>"`),
//!   with a retried delivery;
//! - no orphan: every test ends with SIGTERM to `vexa up` and finds no bot process of its stack;
//!   a `kill -9` of the server leaves no bot behind either.
//!
//! Bot processes are found through `/proc/<pid>/environ`: a bot inherits the server's
//! environment, so `DATA_DIR=<this test's temp dir>` next to `VEXA_BOT_CONFIG=` marks exactly the
//! bots of one stack.

mod common;

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{database_url, mint, start_up, StackEnv, UpProcess, ADMIN_TOKEN};
use futures_util::{SinkExt, StreamExt};
use hmac::{Hmac, Mac};
use reqwest::Method;
use serde_json::{json, Value};
use sha2::Sha256;
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;

const MEET: &str = "abc-defg-hij";
/// Generous: two cores are shared by several builds and test runs.
const WAIT: Duration = Duration::from_secs(30);

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// One `vexa up` with its own data dir and database.
struct Stack {
    env: StackEnv,
    up: Option<UpProcess>,
    /// Split-role processes (`vexa admin-api`, `vexa meetings`, `vexa gateway`), by role.
    roles: Vec<(&'static str, UpProcess)>,
    http: reqwest::Client,
    /// Every key minted for this stack: none may appear in a log.
    secrets: Vec<String>,
    _dir: tempfile::TempDir,
}

impl Stack {
    async fn start(backend: &str) -> Stack {
        Stack::start_with(backend, &[]).await
    }

    /// `vexa up` with extra settings.
    async fn start_with(backend: &str, vars: &[(&str, &str)]) -> Stack {
        let dir = tempfile::tempdir().expect("tmp");
        let mut env = StackEnv::new(dir.path(), &database_url(backend, dir.path()).await);
        for (k, v) in vars {
            env.set(k, v);
        }
        let up = start_up(&env).await;
        Stack::new(env, Some(up), Vec::new(), dir)
    }

    /// The three roles as three processes on one database. The admin API starts first and
    /// creates the schema; the other two then start together. (Three processes migrating a
    /// fresh SQLite file at the same instant can fail with "database is locked": the
    /// migration transaction reads before it writes — see the report.)
    async fn start_split(backend: &str) -> Stack {
        let dir = tempfile::tempdir().expect("tmp");
        let env = StackEnv::new(dir.path(), &database_url(backend, dir.path()).await);
        let admin = UpProcess {
            child: env.spawn("admin-api", "admin-api"),
        };
        let mut s = Stack::new(env, None, vec![("admin-api", admin)], dir);
        s.wait_healthy(&s.env.admin()).await;
        for role in ["meetings", "gateway"] {
            let p = UpProcess {
                child: s.env.spawn(role, role),
            };
            s.roles.push((role, p));
        }
        for base in [s.env.meetings(), s.env.gateway()] {
            s.wait_healthy(&base).await;
        }
        s
    }

    fn new(
        env: StackEnv,
        up: Option<UpProcess>,
        roles: Vec<(&'static str, UpProcess)>,
        dir: tempfile::TempDir,
    ) -> Stack {
        let http = reqwest::Client::builder()
            .no_proxy()
            .timeout(Duration::from_secs(20))
            .build()
            .expect("http client");
        Stack {
            env,
            up,
            roles,
            http,
            secrets: Vec::new(),
            _dir: dir,
        }
    }

    async fn wait_healthy(&self, base: &str) {
        let deadline = Instant::now() + WAIT;
        loop {
            let ok = self
                .http
                .get(format!("{base}/health"))
                .timeout(Duration::from_secs(1))
                .send()
                .await
                .is_ok_and(|r| r.status().is_success());
            if ok {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "{base} did not become healthy\n{}",
                self.diagnostics()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// SIGTERM to one split role; it must exit cleanly.
    async fn stop_role(&mut self, role: &str) {
        let i = self
            .roles
            .iter()
            .position(|(r, _)| *r == role)
            .expect("role is running");
        let (_, mut p) = self.roles.remove(i);
        sigterm(&mut p, role, &self.diagnostics()).await;
    }

    /// A user (created or found) and a fresh key with `scopes`: `(user_id, key_id, key)`.
    async fn key(&mut self, email: &str, scopes: &str) -> (i64, i64, String) {
        let minted = mint(&self.env, email, scopes).await;
        self.secrets.push(minted.2.clone());
        minted
    }

    /// One request through the gateway; `(status, JSON body or Null)`.
    async fn call(
        &self,
        method: Method,
        path: &str,
        key: &str,
        body: Option<Value>,
    ) -> (u16, Value) {
        let mut req = self
            .http
            .request(method.clone(), format!("{}{path}", self.env.gateway()))
            .header("X-API-Key", key);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req
            .send()
            .await
            .unwrap_or_else(|e| panic!("{method} {path}: {e}"));
        let code = resp.status().as_u16();
        let bytes = resp.bytes().await.unwrap_or_default();
        let v = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes)
                .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()))
        };
        (code, v)
    }

    async fn admin(&self, method: Method, path: &str, body: Option<Value>) -> (u16, Value) {
        let mut req = self
            .http
            .request(method, format!("{}{path}", self.env.admin()))
            .header("X-Admin-API-Key", ADMIN_TOKEN);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.expect("admin request");
        let code = resp.status().as_u16();
        (code, resp.json().await.unwrap_or(Value::Null))
    }

    async fn post_bot(&self, key: &str, native: &str, scenario: &str) -> (u16, Value) {
        self.call(
            Method::POST,
            "/bots",
            key,
            Some(json!({"platform": "google_meet", "native_meeting_id": native, "bot_name": format!("mock:{scenario}")})),
        )
        .await
    }

    /// Polls `GET /meetings/{id}` until its status is `want`; the meeting row.
    async fn wait_status(&self, key: &str, id: i64, want: &str) -> Value {
        let deadline = Instant::now() + WAIT;
        loop {
            let (code, m) = self
                .call(Method::GET, &format!("/meetings/{id}"), key, None)
                .await;
            assert_eq!(code, 200, "GET /meetings/{id}: {m}");
            if m["status"] == want {
                return m;
            }
            assert!(
                Instant::now() < deadline,
                "meeting {id} never became {want}: {m}\n{}",
                self.diagnostics()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Live bot processes of this stack (zombies count as gone).
    fn bot_pids(&self) -> Vec<i32> {
        bot_pids_with(&format!("DATA_DIR={}\0", self.env.data_dir.display()))
    }

    async fn wait_bot_count(&self, n: usize) -> Vec<i32> {
        let deadline = Instant::now() + WAIT;
        loop {
            let pids = self.bot_pids();
            if pids.len() == n {
                return pids;
            }
            assert!(
                Instant::now() < deadline,
                "expected {n} bot processes, found {pids:?}\n{}",
                self.diagnostics()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// A WebSocket on the gateway's `/ws`, the key in the header or in `?api_key=`.
    async fn ws(&self, key: &str, in_query: bool) -> Ws {
        let port = self.env.port("API_GATEWAY_HOST_PORT");
        let url = if in_query {
            format!("ws://127.0.0.1:{port}/ws?api_key={key}")
        } else {
            format!("ws://127.0.0.1:{port}/ws")
        };
        let mut req = url.into_client_request().expect("ws request");
        if !in_query {
            req.headers_mut()
                .insert("x-api-key", key.parse().expect("header value"));
        }
        tokio_tungstenite::connect_async(req)
            .await
            .expect("ws through the gateway")
            .0
    }

    /// Server log tail and bot logs, for failure messages.
    fn diagnostics(&self) -> String {
        let log = server_logs(&self.env);
        let tail: Vec<&str> = log.lines().rev().take(30).collect();
        let tail: Vec<&str> = tail.into_iter().rev().collect();
        format!(
            "--- server log (tail)\n{}\n--- bot logs\n{}",
            tail.join("\n"),
            bot_logs(&self.env)
        )
    }

    /// SIGTERM to `vexa up`; it must exit cleanly, leave no bot process, and have logged no
    /// secret.
    async fn shutdown(mut self) {
        let before = self.bot_pids();
        if let Some(mut up) = self.up.take() {
            sigterm(&mut up, "up", &self.diagnostics()).await;
        }
        // The meetings role first: it owns the bots.
        for role in ["meetings", "gateway", "admin-api"] {
            if self.roles.iter().any(|(r, _)| *r == role) {
                self.stop_role(role).await;
            }
        }
        let left = self.bot_pids();
        assert!(
            left.is_empty(),
            "bot processes outlived `vexa up` (had {before:?}, left {left:?})\n{}",
            self.diagnostics()
        );
        let log = server_logs(&self.env);
        for s in &self.secrets {
            assert!(!log.contains(s.as_str()), "a secret was logged");
        }
        assert!(!log.contains(ADMIN_TOKEN), "the admin token was logged");
    }
}

impl Drop for Stack {
    /// Safety net when a test fails half way: the server, then any bot of this stack.
    fn drop(&mut self) {
        drop(self.up.take());
        self.roles.clear();
        for pid in self.bot_pids() {
            let _ = std::process::Command::new("kill")
                .args(["-KILL", &pid.to_string()])
                .status();
        }
    }
}

/// SIGTERM to a server process; it must exit with success within 40 s.
async fn sigterm(p: &mut UpProcess, what: &str, diagnostics: &str) {
    let pid = p.child.id().to_string();
    let sent = std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .expect("kill -TERM");
    assert!(sent.success());
    let deadline = Instant::now() + Duration::from_secs(40);
    let status = loop {
        if let Some(s) = p.child.try_wait().expect("wait for the server") {
            break s;
        }
        assert!(
            Instant::now() < deadline,
            "vexa {what} did not exit after SIGTERM\n{diagnostics}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(
        status.success(),
        "vexa {what} exited with {status} after SIGTERM\n{diagnostics}"
    );
}

/// Every server log of the stack (`<data_dir>/*.log`), concatenated.
fn server_logs(env: &StackEnv) -> String {
    let mut out = String::new();
    for e in std::fs::read_dir(&env.data_dir)
        .into_iter()
        .flatten()
        .flatten()
    {
        if e.path().extension().is_some_and(|x| x == "log") {
            out.push_str(&std::fs::read_to_string(e.path()).unwrap_or_default());
        }
    }
    out
}

/// Pids of live processes whose environment has `VEXA_BOT_CONFIG` and `marker`.
fn bot_pids_with(marker: &str) -> Vec<i32> {
    let mut out = Vec::new();
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return out;
    };
    for e in dir.flatten() {
        let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<i32>().ok()) else {
            continue;
        };
        let Ok(env) = std::fs::read(e.path().join("environ")) else {
            continue;
        };
        let env = String::from_utf8_lossy(&env);
        if env.contains("VEXA_BOT_CONFIG=") && env.contains(marker) && alive(pid) {
            out.push(pid);
        }
    }
    out
}

/// Alive and not a zombie.
fn alive(pid: i32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(s) => !s
            .rsplit(')')
            .next()
            .is_some_and(|rest| rest.trim_start().starts_with('Z')),
        Err(_) => false,
    }
}

fn bot_logs(env: &StackEnv) -> String {
    std::fs::read_dir(env.data_dir.join("bots"))
        .map(|rd| {
            rd.flatten()
                .map(|e| {
                    format!(
                        "[{}]\n{}",
                        e.file_name().to_string_lossy(),
                        std::fs::read_to_string(e.path()).unwrap_or_default()
                    )
                })
                .collect::<Vec<_>>()
                .join("\n")
        })
        .unwrap_or_default()
}

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

/// Runs `f` concurrently `n` times: all requests are in flight together.
async fn concurrently<F, Fut>(n: usize, f: F) -> Vec<(u16, Value)>
where
    F: Fn(usize) -> Fut,
    Fut: std::future::Future<Output = (u16, Value)>,
{
    futures_util::future::join_all((0..n).map(f)).await
}

macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {$(
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                super::$name("sqlite").await;
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                super::$name("postgres").await;
            }
        }
    )*};
}

on_both_backends!(
    happy_path,
    crash_and_reject,
    conflict_and_cap_under_concurrency,
    another_user_sees_nothing,
    scope_and_revocation,
    signed_webhooks,
    a_killed_server_leaves_no_bot_behind,
    split_roles,
    stops_that_race_the_start,
    stubborn_and_leaky_bots,
);

/// Spawn → active → segments (transcript and WebSocket) → stop → completed (stopped), no
/// process left.
async fn happy_path(backend: &str) {
    let mut s = Stack::start(backend).await;
    let (_, _, key) = s.key("happy@acme.example", "bot,tx").await;

    let (code, m) = s.post_bot(&key, MEET, "happy").await;
    assert_eq!(code, 201, "{m}");
    assert_eq!(m["status"], "requested", "{m}");
    assert_eq!(m["platform"], "google_meet");
    assert_eq!(m["native_meeting_id"], MEET);
    assert_eq!(
        m["constructed_meeting_url"],
        format!("https://meet.google.com/{MEET}")
    );
    assert!(
        !m.to_string().contains("v1."),
        "the bot token is never echoed: {m}"
    );
    let id = m["id"].as_i64().expect("meeting id");

    let mut ws = s.ws(&key, false).await;
    let ack = ws_request(&mut ws, subscribe_msg(MEET), "subscribed").await;
    assert_eq!(
        ack["meetings"],
        json!([{"platform": "google_meet", "native_id": MEET}]),
        "{ack}"
    );
    let pong = ws_request(&mut ws, json!({"action": "ping"}), "pong").await;
    assert_eq!(pong["type"], "pong");
    let mut frames = collect_frames(ws);
    let mut seen = Vec::new();

    // Active, as GET /bots/status reports it.
    let deadline = Instant::now() + WAIT;
    loop {
        let (code, st) = s.call(Method::GET, "/bots/status", &key, None).await;
        assert_eq!(code, 200, "{st}");
        assert_eq!(st["running"], st["running_bots"], "{st}");
        if st["count"] == 1 && st["running_bots"][0]["status"] == "active" {
            assert_eq!(st["running_bots"][0]["id"], id, "{st}");
            break;
        }
        assert!(
            Instant::now() < deadline,
            "bot never active: {st}\n{}",
            s.diagnostics()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let pids = s.wait_bot_count(1).await;

    // Live frames for the subscribed meeting.
    let t = frame_where(&mut frames, &mut seen, "transcript", |v| {
        v["type"] == "transcript" && v["meeting"]["id"] == id
    })
    .await;
    assert_eq!(t["meeting"]["native_id"], MEET, "{t}");
    frame_where(&mut frames, &mut seen, "meeting.status active", |v| {
        status_frame(v, id, "active")
    })
    .await;
    let mut ws_speakers = HashSet::new();
    for v in &seen {
        for seg in v["confirmed"].as_array().into_iter().flatten() {
            if let Some(sp) = seg["speaker"].as_str() {
                ws_speakers.insert(sp.to_owned());
            }
        }
    }

    // The transcript: six confirmed segments from two speakers, drafts rewritten in place.
    let deadline = Instant::now() + WAIT;
    let segments = loop {
        let (code, tr) = s
            .call(
                Method::GET,
                &format!("/transcripts/google_meet/{MEET}"),
                &key,
                None,
            )
            .await;
        assert_eq!(code, 200, "{tr}");
        assert_eq!(tr["id"], id);
        let segs = tr["segments"].as_array().cloned().unwrap_or_default();
        assert!(
            segs.len() <= 6,
            "a draft was stored next to its final text: {tr}"
        );
        if segs.len() == 6 && segs.iter().all(|x| x["completed"] == true) {
            break segs;
        }
        assert!(
            Instant::now() < deadline,
            "transcript incomplete: {tr}\n{}",
            s.diagnostics()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let speakers: HashSet<&str> = segments
        .iter()
        .filter_map(|x| x["speaker"].as_str())
        .collect();
    assert_eq!(speakers, HashSet::from(["Alice", "Bob"]), "{segments:?}");
    assert!(segments
        .iter()
        .all(|x| x["text"].as_str().is_some_and(|t| !t.is_empty())));
    let (code, by_id) = s
        .call(Method::GET, &format!("/transcripts/by-id/{id}"), &key, None)
        .await;
    assert_eq!(code, 200, "{by_id}");
    assert_eq!(by_id["segments"].as_array().map(Vec::len), Some(6));
    // More segments may still be on their way over the socket; by now two speakers have talked.
    while ws_speakers.len() < 2 {
        let v = frame_where(&mut frames, &mut Vec::new(), "transcript", |v| {
            v["type"] == "transcript"
        })
        .await;
        seen.push(v.clone());
        for seg in v["confirmed"].as_array().into_iter().flatten() {
            if let Some(sp) = seg["speaker"].as_str() {
                ws_speakers.insert(sp.to_owned());
            }
        }
    }

    // Stop: the bot leaves, the meeting completes as stopped, the process is gone.
    let (code, receipt) = s
        .call(
            Method::DELETE,
            &format!("/bots/google_meet/{MEET}"),
            &key,
            None,
        )
        .await;
    assert_eq!(code, 200, "{receipt}");
    assert_eq!(receipt["status"], "stopping", "{receipt}");
    let done = s.wait_status(&key, id, "completed").await;
    assert_eq!(done["completion_reason"], "stopped", "{done}");
    assert!(
        done["start_time"].is_string() && done["end_time"].is_string(),
        "{done}"
    );
    frame_where(&mut frames, &mut seen, "meeting.status completed", |v| {
        status_frame(v, id, "completed")
    })
    .await;
    s.wait_bot_count(0).await;
    assert!(
        !alive(pids[0]),
        "the bot process {} is still alive",
        pids[0]
    );
    let (code, st) = s.call(Method::GET, "/bots/status", &key, None).await;
    assert_eq!((code, st["count"].as_i64()), (200, Some(0)), "{st}");
    let (code, again) = s
        .call(
            Method::DELETE,
            &format!("/bots/google_meet/{MEET}"),
            &key,
            None,
        )
        .await;
    assert_eq!(code, 404, "a second stop finds no live bot: {again}");
    let (code, list) = s.call(Method::GET, "/meetings", &key, None).await;
    assert_eq!(code, 200);
    assert_eq!(list["meetings"].as_array().map(Vec::len), Some(1), "{list}");
    let log = server_logs(&s.env);
    assert!(
        !log.contains("did not leave within the grace period"),
        "the bot had to be forced down: {}",
        s.diagnostics()
    );
    assert!(
        bot_logs(&s.env).contains("[ACT] leave received"),
        "the bot was told to leave (not killed): {}",
        bot_logs(&s.env)
    );
    s.shutdown().await;
}

/// A bot that crashes while joining ends `failed`; one the host rejects ends `failed` at
/// admission. No process remains, and the meeting can be tried again.
async fn crash_and_reject(backend: &str) {
    let mut s = Stack::start(backend).await;
    let (_, _, key) = s.key("crash@acme.example", "bot").await;

    let t0 = Instant::now();
    let (code, m) = s.post_bot(&key, MEET, "crash").await;
    assert_eq!(code, 201, "{m}");
    let id = m["id"].as_i64().expect("id");
    let failed = s.wait_status(&key, id, "failed").await;
    // The bot exits ~150 ms after joining; the exit is noticed, not found by a slow poll.
    assert!(
        t0.elapsed() < Duration::from_secs(10),
        "crash noticed after {:?}",
        t0.elapsed()
    );
    assert_eq!(failed["failure_stage"], "joining", "{failed}");
    assert_eq!(failed["completion_reason"], "join_failure", "{failed}");
    assert!(
        failed["data"]["failure_reason"]
            .as_str()
            .is_some_and(|r| r.contains("code 2")),
        "the exit code is recorded: {failed}"
    );

    let (code, m) = s.post_bot(&key, "rej-room", "reject").await;
    assert_eq!(code, 201, "{m}");
    let rejected = s
        .wait_status(&key, m["id"].as_i64().expect("id"), "failed")
        .await;
    assert_eq!(
        rejected["failure_stage"], "awaiting_admission",
        "{rejected}"
    );
    assert_eq!(
        rejected["completion_reason"], "awaiting_admission_rejected",
        "{rejected}"
    );
    s.wait_bot_count(0).await;

    // A failed meeting holds nothing: the same meeting can get a new bot.
    let (code, m) = s.post_bot(&key, MEET, "crash").await;
    assert_eq!(code, 201, "{m}");
    assert_ne!(m["id"].as_i64(), Some(id), "a new meeting row");
    s.wait_status(&key, m["id"].as_i64().expect("id"), "failed")
        .await;
    s.wait_bot_count(0).await;
    s.shutdown().await;
}

/// Concurrent `POST /bots` for one meeting: exactly one 201, the rest 409. A user capped at one
/// bot sending concurrently for distinct meetings: one 201, the rest 429 with the contract's
/// text. Ends with live bots, so the shutdown check covers a stop of running bots.
async fn conflict_and_cap_under_concurrency(backend: &str) {
    const N: usize = 8;
    let mut s = Stack::start(backend).await;
    let (_, _, key) = s.key("dup@acme.example", "bot").await;
    let results = concurrently(N, |_| s.post_bot(&key, MEET, "happy")).await;
    let created: Vec<&Value> = results
        .iter()
        .filter(|(c, _)| *c == 201)
        .map(|(_, v)| v)
        .collect();
    let conflicts = results.iter().filter(|(c, _)| *c == 409).count();
    assert_eq!((created.len(), conflicts), (1, N - 1), "{results:?}");
    for (_, v) in results.iter().filter(|(c, _)| *c == 409) {
        assert_eq!(
            v["detail"],
            format!("An active meeting already exists for google_meet/{MEET}"),
            "{v}"
        );
    }
    let dup_id = created[0]["id"].as_i64().expect("id");
    s.wait_status(&key, dup_id, "active").await;
    s.wait_bot_count(1).await;
    let (_, list) = s.call(Method::GET, "/meetings", &key, None).await;
    assert_eq!(
        list["meetings"].as_array().map(Vec::len),
        Some(1),
        "one row: {list}"
    );

    // The cap, set through the admin API after the key was already in use (and cached).
    let (cap_user, _, cap_key) = s.key("cap@acme.example", "bot").await;
    let (code, me) = s.call(Method::GET, "/auth/me", &cap_key, None).await;
    assert_eq!(
        (code, me["max_concurrent_bots"].as_i64()),
        (200, Some(3)),
        "{me}"
    );
    let (code, user) = s
        .admin(
            Method::PATCH,
            &format!("/admin/users/{cap_user}"),
            Some(json!({"max_concurrent_bots": 1})),
        )
        .await;
    assert_eq!(
        (code, user["max_concurrent_bots"].as_i64()),
        (200, Some(1)),
        "{user}"
    );
    let t0 = Instant::now();
    loop {
        let (_, me) = s.call(Method::GET, "/auth/me", &cap_key, None).await;
        if me["max_concurrent_bots"] == 1 {
            break;
        }
        assert!(
            t0.elapsed() < Duration::from_secs(1),
            "the gateway still sends the old cap: {me}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let rooms: Vec<String> = (0..N).map(|i| format!("cap-room-{i}")).collect();
    let results = concurrently(N, |i| s.post_bot(&cap_key, &rooms[i], "happy")).await;
    let created: Vec<&Value> = results
        .iter()
        .filter(|(c, _)| *c == 201)
        .map(|(_, v)| v)
        .collect();
    let limited: Vec<&Value> = results
        .iter()
        .filter(|(c, _)| *c == 429)
        .map(|(_, v)| v)
        .collect();
    assert_eq!((created.len(), limited.len()), (1, N - 1), "{results:?}");
    for v in limited {
        assert_eq!(
            *v,
            json!({"detail": "User has reached the maximum concurrent bot limit (1)."})
        );
    }
    let first = created[0].clone();
    let first_id = first["id"].as_i64().expect("id");
    let first_native = first["native_meeting_id"]
        .as_str()
        .expect("native")
        .to_owned();
    s.wait_status(&cap_key, first_id, "active").await;
    s.wait_bot_count(2).await;
    let (_, st) = s.call(Method::GET, "/bots/status", &cap_key, None).await;
    assert_eq!(st["count"], 1, "{st}");

    // Stopping frees the slot; the next meeting may have a bot.
    let (code, _) = s
        .call(
            Method::DELETE,
            &format!("/bots/google_meet/{first_native}"),
            &cap_key,
            None,
        )
        .await;
    assert_eq!(code, 200);
    s.wait_status(&cap_key, first_id, "completed").await;
    let (code, next) = s.post_bot(&cap_key, "cap-room-next", "happy").await;
    assert_eq!(code, 201, "{next}");
    let (code, over) = s.post_bot(&cap_key, "cap-room-over", "happy").await;
    assert_eq!(code, 429, "{over}");
    s.wait_status(&cap_key, next["id"].as_i64().expect("id"), "active")
        .await;
    s.wait_bot_count(2).await;

    // A cap of zero refuses every bot.
    let (code, _) = s
        .admin(
            Method::PATCH,
            &format!("/admin/users/{cap_user}"),
            Some(json!({"max_concurrent_bots": 0})),
        )
        .await;
    assert_eq!(code, 200);
    let t0 = Instant::now();
    loop {
        let (_, me) = s.call(Method::GET, "/auth/me", &cap_key, None).await;
        if me["max_concurrent_bots"] == 0 {
            break;
        }
        assert!(t0.elapsed() < Duration::from_secs(1), "{me}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let (code, body) = s.post_bot(&cap_key, "cap-room-zero", "happy").await;
    assert_eq!(
        (code, body),
        (
            429,
            json!({"detail": "User has reached the maximum concurrent bot limit (0)."})
        )
    );
    s.wait_bot_count(2).await;

    // Two live bots now: SIGTERM must take them down with the server.
    s.shutdown().await;
}

/// Another user's key: 404 on the first user's meeting by key and by id, nothing in its lists,
/// no frames on its WebSocket, and its stop attempt changes nothing.
async fn another_user_sees_nothing(backend: &str) {
    let mut s = Stack::start(backend).await;
    let (alice_id, _, alice) = s.key("alice@acme.example", "bot,tx").await;
    let (_, _, mallory) = s.key("mallory@evil.example", "bot,tx").await;

    let (code, m) = s.post_bot(&alice, MEET, "happy").await;
    assert_eq!(code, 201, "{m}");
    let id = m["id"].as_i64().expect("id");

    // Mallory watches from the start, key in the query string.
    let mut ws = s.ws(&mallory, true).await;
    let ack = ws_request(&mut ws, subscribe_msg(MEET), "subscribed").await;
    assert_eq!(
        ack["meetings"],
        json!([]),
        "someone else's meeting is not subscribable: {ack}"
    );
    let mut mallory_frames = collect_frames(ws);

    // Alice's own socket sees her meeting's frames, so the stream is live meanwhile.
    let mut alice_ws = s.ws(&alice, true).await;
    ws_request(&mut alice_ws, subscribe_msg(MEET), "subscribed").await;
    let mut alice_frames = collect_frames(alice_ws);
    s.wait_status(&alice, id, "active").await;
    frame_where(&mut alice_frames, &mut Vec::new(), "transcript", |v| {
        v["type"] == "transcript"
    })
    .await;

    let p = format!("google_meet/{MEET}");
    for (method, path, body) in [
        (Method::GET, format!("/transcripts/{p}"), None),
        (
            Method::GET,
            format!("/transcripts/{p}?meeting_id={id}"),
            None,
        ),
        (Method::GET, format!("/transcripts/by-id/{id}"), None),
        (Method::GET, format!("/meetings/{id}"), None),
        (Method::DELETE, format!("/bots/{p}"), None),
        (
            Method::PUT,
            format!("/bots/{p}/config"),
            Some(json!({"language": "de"})),
        ),
        (
            Method::PATCH,
            format!("/meetings/{p}"),
            Some(json!({"data": {"name": "mine now"}})),
        ),
        (
            Method::PATCH,
            format!("/meetings/{id}"),
            Some(json!({"data": {"name": "mine now"}})),
        ),
        (Method::DELETE, format!("/meetings/{p}"), None),
        (Method::DELETE, format!("/meetings/{id}"), None),
    ] {
        let (code, body) = s.call(method.clone(), &path, &mallory, body).await;
        assert_eq!(code, 404, "{method} {path} with another user's key: {body}");
        assert!(!body.to_string().contains("Alice"), "{body}");
    }
    for path in ["/meetings", "/bots"] {
        let (code, list) = s.call(Method::GET, path, &mallory, None).await;
        assert_eq!(
            (code, &list["meetings"]),
            (200, &json!([])),
            "{path}: {list}"
        );
    }
    // Identity headers sent by the client are not trusted: the gateway replaces them.
    let spoofed = s
        .http
        .get(format!("{}/meetings", s.env.gateway()))
        .header("X-API-Key", &mallory)
        .header("X-User-Id", alice_id.to_string())
        .header("X-Internal-Secret", common::INTERNAL_SECRET)
        .send()
        .await
        .expect("spoofed request");
    assert_eq!(spoofed.status().as_u16(), 200);
    let list: Value = spoofed.json().await.expect("json");
    assert_eq!(
        list,
        json!({"meetings": []}),
        "spoofed X-User-Id was trusted"
    );
    let (code, st) = s.call(Method::GET, "/bots/status", &mallory, None).await;
    assert_eq!((code, st["count"].as_i64()), (200, Some(0)), "{st}");

    // Nothing Mallory did touched Alice's bot.
    let m = s.wait_status(&alice, id, "active").await;
    assert!(m["data"]["name"].is_null(), "{m}");
    assert!(m["data"]["stop_requested"].is_null(), "{m}");
    let (code, tr) = s
        .call(Method::GET, &format!("/transcripts/{p}"), &alice, None)
        .await;
    assert!(
        code == 200 && tr["segments"].as_array().is_some_and(|a| !a.is_empty()),
        "{tr}"
    );
    let (code, _) = s
        .call(Method::DELETE, &format!("/bots/{p}"), &alice, None)
        .await;
    assert_eq!(code, 200);
    s.wait_status(&alice, id, "completed").await;
    frame_where(
        &mut alice_frames,
        &mut Vec::new(),
        "meeting.status completed",
        |v| status_frame(v, id, "completed"),
    )
    .await;

    // Alice's whole meeting played out; Mallory's socket got none of it.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut leaked = Vec::new();
    while let Ok(v) = mallory_frames.try_recv() {
        leaked.push(v);
    }
    assert!(
        leaked.is_empty(),
        "frames of another user's meeting: {leaked:#?}"
    );
    s.wait_bot_count(0).await;
    s.shutdown().await;
}

/// A `tx`-only key may read but not send bots (403); a revoked key is refused (401) at once.
/// Neither starts a process or records a meeting.
async fn scope_and_revocation(backend: &str) {
    let mut s = Stack::start(backend).await;
    let (user, _, reader) = s.key("scopes@acme.example", "tx").await;
    let (code, body) = s.post_bot(&reader, MEET, "happy").await;
    assert_eq!(
        (code, body),
        (403, json!({"detail": "Token scope not authorized"}))
    );
    let (code, body) = s.call(Method::GET, "/bots/status", &reader, None).await;
    assert_eq!(
        (code, body),
        (403, json!({"detail": "Token scope not authorized"}))
    );
    let (code, list) = s.call(Method::GET, "/meetings", &reader, None).await;
    assert_eq!((code, list), (200, json!({"meetings": []})));

    let (_, key_id, bot_key) = s.key("scopes@acme.example", "bot").await;
    let (code, _) = s.call(Method::GET, "/bots/status", &bot_key, None).await;
    assert_eq!(
        code, 200,
        "the key works (and is cached) before the revocation"
    );
    let (code, _) = s
        .admin(Method::DELETE, &format!("/admin/tokens/{key_id}"), None)
        .await;
    assert_eq!(code, 204);
    let (code, body) = s.post_bot(&bot_key, MEET, "happy").await;
    assert_eq!((code, body), (401, json!({"detail": "Invalid API key"})));
    let (code, body) = s.call(Method::GET, "/bots/status", &bot_key, None).await;
    assert_eq!((code, body), (401, json!({"detail": "Invalid API key"})));
    let port = s.env.port("API_GATEWAY_HOST_PORT");
    let refused =
        tokio_tungstenite::connect_async(format!("ws://127.0.0.1:{port}/ws?api_key={bot_key}"))
            .await;
    assert!(refused.is_err(), "a revoked key opened a WebSocket");
    let (code, body) = s
        .call(
            Method::POST,
            "/bots",
            "",
            Some(json!({"platform": "google_meet", "native_meeting_id": MEET})),
        )
        .await;
    assert_eq!((code, body), (401, json!({"detail": "Missing API key"})));
    // The bot protocol is not part of the public API: the gateway does not route it.
    for path in ["/internal/bot/lifecycle", "/internal/bot/segments"] {
        let (code, body) = s
            .call(
                Method::POST,
                path,
                &reader,
                Some(json!({"status": "active"})),
            )
            .await;
        assert_eq!(
            (code, body),
            (404, json!({"detail": "Not Found"})),
            "{path}"
        );
    }

    let (code, list) = s.call(Method::GET, "/meetings", &reader, None).await;
    assert_eq!(
        (code, list),
        (200, json!({"meetings": []})),
        "user {user}: nothing recorded"
    );
    assert!(s.bot_pids().is_empty(), "no bot was started");
    assert!(!s.env.data_dir.join("bots").exists() || bot_logs(&s.env).is_empty());
    s.shutdown().await;
}

/// One webhook delivery as received.
struct Delivery {
    headers: http::HeaderMap,
    body: Vec<u8>,
}

#[derive(Clone)]
struct Receiver {
    tx: mpsc::UnboundedSender<Delivery>,
    /// The first `meeting.completed` is answered 503, to see it redelivered.
    refused_once: Arc<AtomicBool>,
}

async fn receive(
    axum::extract::State(r): axum::extract::State<Receiver>,
    headers: http::HeaderMap,
    body: axum::body::Bytes,
) -> http::StatusCode {
    let completed = serde_json::from_slice::<Value>(&body)
        .ok()
        .is_some_and(|v| v["event_type"] == "meeting.completed");
    let _ = r.tx.send(Delivery {
        headers,
        body: body.to_vec(),
    });
    if completed && !r.refused_once.swap(true, Ordering::SeqCst) {
        return http::StatusCode::SERVICE_UNAVAILABLE;
    }
    http::StatusCode::OK
}

/// A webhook receiver on a free loopback port: its URL and what it receives.
async fn webhook_receiver() -> (String, mpsc::UnboundedReceiver<Delivery>) {
    let (tx, rx) = mpsc::unbounded_channel();
    let state = Receiver {
        tx,
        refused_once: Arc::new(AtomicBool::new(false)),
    };
    let app = axum::Router::new()
        .route("/hook", axum::routing::post(receive))
        .with_state(state);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind receiver");
    let addr = listener.local_addr().expect("receiver addr");
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (format!("http://{addr}/hook"), rx)
}

/// Checks a delivery the way a receiver must: `X-Webhook-Signature` is
/// `sha256=<hex HMAC-SHA256(secret, "<X-Webhook-Timestamp>.<raw body>")>` and the timestamp is
/// fresh. Returns the parsed envelope.
fn verify(secret: &str, d: &Delivery) -> Value {
    let header = |name: &str| {
        d.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_else(|| panic!("delivery without {name}: {:?}", d.headers))
            .to_owned()
    };
    let ts = header("x-webhook-timestamp");
    let ts_secs: i64 = ts.parse().expect("timestamp is unix seconds");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs() as i64;
    assert!(
        (now - ts_secs).abs() < 300,
        "stale timestamp {ts} (now {now})"
    );
    let sig = header("x-webhook-signature");
    let hex_sig = sig.strip_prefix("sha256=").expect("sha256= prefix");
    let raw = hex::decode(hex_sig).expect("hex signature");
    let mac_over = |key: &str, ts: &str| {
        let mut mac = Hmac::<Sha256>::new_from_slice(key.as_bytes()).expect("hmac key");
        mac.update(ts.as_bytes());
        mac.update(b".");
        mac.update(&d.body);
        mac
    };
    assert!(
        mac_over(secret, &ts).verify_slice(&raw).is_ok(),
        "bad signature {sig} for body {}",
        String::from_utf8_lossy(&d.body)
    );
    assert!(mac_over("some-other-secret", &ts)
        .verify_slice(&raw)
        .is_err());
    assert!(
        mac_over(secret, &(ts_secs + 1).to_string())
            .verify_slice(&raw)
            .is_err(),
        "the timestamp is signed"
    );
    assert_eq!(header("authorization"), format!("Bearer {secret}"));
    assert!(header("content-type").starts_with("application/json"));
    serde_json::from_slice(&d.body).expect("envelope is JSON")
}

/// `PUT /user/webhook` through the gateway; a happy bot runs and stops; the receiver gets signed
/// deliveries (started, status changes, completed — the refused one redelivered with the same
/// event id). Another user's bot sends nothing to it.
async fn signed_webhooks(backend: &str) {
    const SECRET: &str = "whsec-e2e-0123456789abcdef";
    let mut s = Stack::start(backend).await;
    let (_, _, key) = s.key("hooks@acme.example", "bot,tx").await;
    let (_, _, other) = s.key("nohooks@acme.example", "bot").await;
    s.secrets.push(SECRET.to_owned());
    let (url, mut deliveries) = webhook_receiver().await;

    let events = json!({"meeting.started": true, "meeting.completed": true, "meeting.status_change": true, "bot.failed": true});
    let (code, hook) = s
        .call(
            Method::PUT,
            "/user/webhook",
            &key,
            Some(json!({"webhook_url": url, "webhook_secret": SECRET, "webhook_events": events})),
        )
        .await;
    assert_eq!(code, 200, "{hook}");
    assert_eq!(hook["webhook_url"], url.as_str());
    let (code, read) = s.call(Method::GET, "/user/webhook", &key, None).await;
    assert_eq!(code, 200);
    assert_eq!(read["webhook_url"], url.as_str());
    assert_eq!(read["webhook_secret_set"], true);
    assert!(
        !read.to_string().contains(SECRET),
        "the secret is masked on read: {read}"
    );
    assert_eq!(read["webhook_events"], events);

    let (code, m) = s.post_bot(&key, MEET, "happy").await;
    assert_eq!(code, 201, "{m}");
    let id = m["id"].as_i64().expect("id");
    s.wait_status(&key, id, "active").await;
    let (code, o) = s.post_bot(&other, "other-room", "crash").await;
    assert_eq!(code, 201, "{o}");
    let other_id = o["id"].as_i64().expect("id");
    s.wait_status(&other, other_id, "failed").await;
    let (code, _) = s
        .call(
            Method::DELETE,
            &format!("/bots/google_meet/{MEET}"),
            &key,
            None,
        )
        .await;
    assert_eq!(code, 200);
    s.wait_status(&key, id, "completed").await;

    // Wait for: started, status changes to active and completed, completed twice (503, retry).
    let mut got: Vec<Value> = Vec::new();
    let done = |got: &[Value]| {
        let count = |t: &str| got.iter().filter(|e| e["event_type"] == t).count();
        let change_to = |st: &str| {
            got.iter().any(|e| {
                e["event_type"] == "meeting.status_change" && e["data"]["status_change"]["to"] == st
            })
        };
        count("meeting.started") >= 1
            && count("meeting.completed") >= 2
            && change_to("active")
            && change_to("completed")
    };
    let deadline = Instant::now() + WAIT;
    while !done(&got) {
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, deliveries.recv()).await {
            Ok(Some(d)) => got.push(verify(SECRET, &d)),
            _ => panic!(
                "deliveries incomplete: {:#?}\n{}",
                got.iter()
                    .map(|e| (
                        e["event_type"].clone(),
                        e["data"]["status_change"]["to"].clone()
                    ))
                    .collect::<Vec<_>>(),
                s.diagnostics()
            ),
        }
    }
    for e in &got {
        assert!(
            e["event_id"]
                .as_str()
                .is_some_and(|x| x.starts_with("evt_")),
            "{e}"
        );
        assert!(e["created_at"].is_string(), "{e}");
        assert_eq!(
            e["data"]["meeting"]["id"], id,
            "only this user's meeting: {e}"
        );
        assert_eq!(e["data"]["meeting"]["user_id"], m["user_id"], "{e}");
        assert!(
            !e.to_string().contains(SECRET),
            "the secret is never in a payload"
        );
    }
    let completed: Vec<&Value> = got
        .iter()
        .filter(|e| e["event_type"] == "meeting.completed")
        .collect();
    assert_eq!(
        completed[0]["event_id"], completed[1]["event_id"],
        "a redelivery keeps its event id"
    );
    assert_eq!(completed[1]["data"]["meeting"]["status"], "completed");
    assert_eq!(
        completed[1]["data"]["meeting"]["completion_reason"],
        "stopped"
    );
    let started = got
        .iter()
        .find(|e| e["event_type"] == "meeting.started")
        .expect("started");
    assert_eq!(started["data"]["meeting"]["native_meeting_id"], MEET);

    // Nothing else arrives, in particular nothing about the other user's failed bot.
    tokio::time::sleep(Duration::from_millis(500)).await;
    while let Ok(d) = deliveries.try_recv() {
        let e = verify(SECRET, &d);
        assert_eq!(
            e["data"]["meeting"]["id"], id,
            "a delivery about someone else: {e}"
        );
    }
    s.wait_bot_count(0).await;
    s.shutdown().await;
}

/// `kill -9` of the server: its bots see their stdin close and leave on their own; after a
/// restart no meeting claims a live bot and the meeting can have a new one.
async fn a_killed_server_leaves_no_bot_behind(backend: &str) {
    let mut s = Stack::start(backend).await;
    let (_, _, key) = s.key("killed@acme.example", "bot").await;
    let (code, m) = s.post_bot(&key, MEET, "happy").await;
    assert_eq!(code, 201, "{m}");
    let id = m["id"].as_i64().expect("id");
    s.wait_status(&key, id, "active").await;
    let pids = s.wait_bot_count(1).await;

    let mut up = s.up.take().expect("up");
    up.child.kill().expect("SIGKILL");
    let _ = up.child.wait();
    drop(up);
    let deadline = Instant::now() + WAIT;
    while !s.bot_pids().is_empty() {
        assert!(
            Instant::now() < deadline,
            "bot {pids:?} outlived a killed server\n{}",
            s.diagnostics()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    s.up = Some(start_up(&s.env).await);
    let (code, st) = s.call(Method::GET, "/bots/status", &key, None).await;
    assert_eq!((code, st["count"].as_i64()), (200, Some(0)), "{st}");
    let (_, row) = s
        .call(Method::GET, &format!("/meetings/{id}"), &key, None)
        .await;
    assert!(
        row["status"] == "failed" || row["status"] == "completed",
        "{row}"
    );
    let (code, again) = s.post_bot(&key, MEET, "happy").await;
    assert_eq!(code, 201, "{again}");
    s.wait_status(&key, again["id"].as_i64().expect("id"), "active")
        .await;
    s.wait_bot_count(1).await;
    s.shutdown().await;
}

/// The roles as separate processes (`vexa admin-api`, `vexa meetings`, `vexa gateway`) sharing
/// the database and `INTERNAL_API_SECRET`: the meetings service trusts only the gateway, a bot
/// runs end to end through the gateway, and SIGTERM to `vexa meetings` takes its bots down.
async fn split_roles(backend: &str) {
    let mut s = Stack::start_split(backend).await;
    let (user, _, key) = s.key("split@acme.example", "bot,tx").await;

    // Straight to the meetings service: no internal secret, no trust (identity headers or not).
    for secret in [None, Some("not-the-internal-secret")] {
        let mut req = s
            .http
            .get(format!("{}/bots/status", s.env.meetings()))
            .header("X-User-Id", user.to_string())
            .header("X-User-Scopes", "bot,tx");
        if let Some(v) = secret {
            req = req.header("X-Internal-Secret", v);
        }
        let resp = req.send().await.expect("direct call");
        assert_eq!(
            resp.status().as_u16(),
            401,
            "direct call with secret {secret:?}"
        );
    }

    let (code, m) = s.post_bot(&key, MEET, "happy").await;
    assert_eq!(code, 201, "{m}");
    let id = m["id"].as_i64().expect("id");
    s.wait_status(&key, id, "active").await;
    let deadline = Instant::now() + WAIT;
    loop {
        let (_, tr) = s
            .call(
                Method::GET,
                &format!("/transcripts/google_meet/{MEET}"),
                &key,
                None,
            )
            .await;
        if tr["segments"].as_array().is_some_and(|a| !a.is_empty()) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no segments: {tr}\n{}",
            s.diagnostics()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let pids = s.wait_bot_count(1).await;

    s.stop_role("meetings").await;
    let left = s.bot_pids();
    assert!(
        left.is_empty(),
        "bot {pids:?} outlived `vexa meetings`: {left:?}\n{}",
        s.diagnostics()
    );
    let (code, body) = s.call(Method::GET, "/bots/status", &key, None).await;
    assert_eq!(
        (code, body),
        (502, json!({"detail": "upstream unreachable"}))
    );

    // Back up: the meeting no longer claims a bot, and a new one can be sent.
    s.roles.push((
        "meetings",
        UpProcess {
            child: s.env.spawn("meetings", "meetings"),
        },
    ));
    s.wait_healthy(&s.env.meetings()).await;
    let (code, st) = s.call(Method::GET, "/bots/status", &key, None).await;
    assert_eq!((code, st["count"].as_i64()), (200, Some(0)), "{st}");
    let (_, row) = s
        .call(Method::GET, &format!("/meetings/{id}"), &key, None)
        .await;
    assert!(
        row["status"] == "failed" || row["status"] == "completed",
        "{row}"
    );
    let (code, again) = s.post_bot(&key, MEET, "happy").await;
    assert_eq!(code, 201, "{again}");
    s.wait_status(&key, again["id"].as_i64().expect("id"), "active")
        .await;
    s.wait_bot_count(1).await;
    s.shutdown().await;
}

/// Polls `GET /meetings/{id}` until the meeting is terminal; the row.
async fn wait_terminal(s: &Stack, key: &str, id: i64) -> Value {
    let deadline = Instant::now() + WAIT;
    loop {
        let (code, m) = s
            .call(Method::GET, &format!("/meetings/{id}"), key, None)
            .await;
        assert_eq!(code, 200, "{m}");
        if m["status"] == "completed" || m["status"] == "failed" {
            return m;
        }
        assert!(
            Instant::now() < deadline,
            "meeting {id} never ended: {m}\n{}",
            s.diagnostics()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A stop sent the instant the bot was requested, one sent while it waits in the lobby, and a
/// stop racing the request itself: each ends the meeting as `stopped`, and no process remains.
async fn stops_that_race_the_start(backend: &str) {
    let mut s = Stack::start(backend).await;
    let (_, _, key) = s.key("racer@acme.example", "bot").await;

    // Right after the 201: the bot is still starting.
    let (code, m) = s.post_bot(&key, "race-now", "happy").await;
    assert_eq!(code, 201, "{m}");
    let id = m["id"].as_i64().expect("id");
    let (code, r) = s
        .call(Method::DELETE, "/bots/google_meet/race-now", &key, None)
        .await;
    assert_eq!((code, r["status"].as_str()), (200, Some("stopping")), "{r}");
    let end = wait_terminal(&s, &key, id).await;
    assert_eq!(end["completion_reason"], "stopped", "{end}");

    // In the lobby (the slow scenario waits there for 3 s).
    let (code, m) = s.post_bot(&key, "race-lobby", "slow").await;
    assert_eq!(code, 201, "{m}");
    let id = m["id"].as_i64().expect("id");
    s.wait_status(&key, id, "awaiting_admission").await;
    let (code, _) = s
        .call(Method::DELETE, "/bots/google_meet/race-lobby", &key, None)
        .await;
    assert_eq!(code, 200);
    let end = s.wait_status(&key, id, "failed").await;
    assert_eq!(end["completion_reason"], "stopped", "{end}");

    // The request and the stop in flight together: whichever wins, nothing is left running.
    let body = json!({"platform": "google_meet", "native_meeting_id": "race-both", "bot_name": "mock:happy"});
    let (post, del) = tokio::join!(
        s.call(Method::POST, "/bots", &key, Some(body)),
        s.call(Method::DELETE, "/bots/google_meet/race-both", &key, None),
    );
    assert_eq!(post.0, 201, "{post:?}");
    assert!(del.0 == 200 || del.0 == 404, "{del:?}");
    let id = post.1["id"].as_i64().expect("id");
    if del.0 == 404 {
        // The stop came first and found nothing; stop the bot now.
        s.wait_status(&key, id, "active").await;
        let (code, _) = s
            .call(Method::DELETE, "/bots/google_meet/race-both", &key, None)
            .await;
        assert_eq!(code, 200);
    }
    let end = wait_terminal(&s, &key, id).await;
    assert_eq!(end["completion_reason"], "stopped", "{end}");
    s.wait_bot_count(0).await;
    let (_, st) = s.call(Method::GET, "/bots/status", &key, None).await;
    assert_eq!(st["count"], 0, "{st}");
    s.shutdown().await;
}

/// A bot command that is not the mock bot: a shell that ignores SIGTERM and leaves a child
/// in its process group (`trap "" TERM` is inherited by `sleep`). With `leaky` in its config
/// the shell exits at once (code 3), leaving that child behind in its group.
const SHELL_BOT: &str =
    r#"sh -c 'trap "" TERM; sleep 1000 & case "$VEXA_BOT_CONFIG" in *leaky*) exit 3;; esac; wait'"#;

/// The hard stop: a bot that never reports and ignores both `leave` and SIGTERM is SIGKILLed
/// with its whole process group after the grace period; a bot whose leader exits takes the
/// rest of its group with it. No process survives, including at server shutdown.
async fn stubborn_and_leaky_bots(backend: &str) {
    let mut s = Stack::start_with(backend, &[("BOT_COMMAND", SHELL_BOT)]).await;
    let (_, _, key) = s.key("stubborn@acme.example", "bot").await;

    let (code, m) = s.post_bot(&key, "leaky-room", "leaky").await;
    assert_eq!(code, 201, "{m}");
    let end = s
        .wait_status(&key, m["id"].as_i64().expect("id"), "failed")
        .await;
    assert_eq!(end["completion_reason"], "join_failure", "{end}");
    s.wait_bot_count(0).await;

    let (code, m) = s.post_bot(&key, "stubborn-room", "stubborn").await;
    assert_eq!(code, 201, "{m}");
    let id = m["id"].as_i64().expect("id");
    let pids = s.wait_bot_count(2).await; // the shell and its sleep
    let t0 = Instant::now();
    let (code, r) = s
        .call(
            Method::DELETE,
            "/bots/google_meet/stubborn-room",
            &key,
            None,
        )
        .await;
    assert_eq!((code, r["status"].as_str()), (200, Some("stopping")), "{r}");
    let end = s.wait_status(&key, id, "failed").await;
    assert_eq!(end["completion_reason"], "stopped", "{end}");
    s.wait_bot_count(0).await;
    let took = t0.elapsed();
    // BOT_STOP_GRACE_S=3, then 3 s after SIGTERM before SIGKILL.
    assert!(
        took >= Duration::from_secs(3) && took < Duration::from_secs(20),
        "forced stop took {took:?}"
    );
    for pid in pids {
        assert!(!alive(pid), "{pid} survived the group kill");
    }
    assert!(
        server_logs(&s.env).contains("did not leave within the grace period"),
        "{}",
        s.diagnostics()
    );

    // One more stubborn bot, left running: the server's SIGTERM must still leave nothing.
    let (code, _) = s.post_bot(&key, "stubborn-2", "stubborn").await;
    assert_eq!(code, 201);
    s.wait_bot_count(2).await;
    s.shutdown().await;
}
