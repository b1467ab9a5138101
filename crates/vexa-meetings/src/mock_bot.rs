//! `vexa mock-bot`: a development bot that joins nothing. It reads `VEXA_BOT_CONFIG`, picks a
//! scenario from `botName` = `mock:<scenario>` (default `happy`) and plays it through exactly
//! the protocol a real bot uses: lifecycle and segment POSTs with its bearer token, commands as
//! JSON lines on stdin (`leave`, `reconfigure`), stdin EOF or SIGTERM = leave.
//!
//! Scenarios: `happy` (admitted, two speakers talk, stays until told to leave), `reject` (the
//! host denies admission), `crash` (exits 2 while joining, reporting nothing), `slow` (waits
//! 3 s in the lobby, then behaves like `happy`).

use std::time::Duration;

use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::sync::mpsc;

struct Bot {
    client: reqwest::Client,
    lifecycle_url: String,
    segments_url: String,
    token: String,
    connection_id: String,
    language: String,
}

enum Cmd {
    Leave,
    Reconfigure(Value),
}

impl Bot {
    async fn post(&self, url: &str, body: &Value) -> bool {
        for attempt in 0..5u32 {
            let sent = self
                .client
                .post(url)
                .bearer_auth(&self.token)
                .json(body)
                .send()
                .await;
            match sent {
                Ok(r) if r.status().is_success() => return true,
                Ok(r) if r.status().is_client_error() => {
                    println!("[MOCK] callback refused: {}", r.status());
                    return false;
                }
                _ => tokio::time::sleep(Duration::from_millis(200 * u64::from(attempt + 1))).await,
            }
        }
        println!("[MOCK] control plane unreachable");
        false
    }

    async fn status(&self, status: &str, extra: Value) {
        let mut body = json!({"connection_id": self.connection_id, "status": status});
        if let (Some(b), Some(e)) = (body.as_object_mut(), extra.as_object()) {
            b.extend(e.clone());
        }
        println!("[JOIN-STATE] {status}");
        self.post(&self.lifecycle_url, &body).await;
    }

    async fn speak(&self, n: usize) {
        let speakers = ["Alice", "Bob"];
        let lines = [
            "Hello everyone.",
            "Hi Alice, can you hear me?",
            "Yes, loud and clear.",
            "Let's start with the roadmap.",
        ];
        let speaker = speakers[n % 2];
        let text = lines[n % lines.len()];
        let start = n as f64 * 2.0;
        let id = format!(
            "{}:{}:{}",
            self.connection_id,
            speaker,
            (start * 1000.0) as i64
        );
        let seg = |text: &str, completed: bool| {
            json!({"segment_id": id, "speaker": speaker, "text": text, "start": start, "end": start + 1.5,
                   "language": self.language, "completed": completed, "session_uid": self.connection_id})
        };
        let draft: String = text.chars().take(text.len() / 2).collect();
        self.post(
            &self.segments_url,
            &json!({"segments": [seg(&draft, false)]}),
        )
        .await;
        self.post(&self.segments_url, &json!({"segments": [seg(text, true)]}))
            .await;
    }
}

fn config() -> Result<Value, String> {
    let raw =
        std::env::var("VEXA_BOT_CONFIG").map_err(|_| "VEXA_BOT_CONFIG is not set".to_owned())?;
    serde_json::from_str(&raw).map_err(|e| format!("VEXA_BOT_CONFIG is not JSON: {e}"))
}

fn commands() -> mpsc::UnboundedReceiver<Cmd> {
    let (tx, rx) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        let mut lines = BufReader::new(tokio::io::stdin()).lines();
        while let Ok(Some(line)) = lines.next_line().await {
            let Ok(v) = serde_json::from_str::<Value>(&line) else {
                continue;
            };
            let cmd = match v.get("action").and_then(Value::as_str) {
                Some("leave") => Cmd::Leave,
                Some("reconfigure") => Cmd::Reconfigure(v),
                _ => continue,
            };
            if tx.send(cmd).is_err() {
                return;
            }
        }
        // stdin closed: the service is gone, so leave rather than linger as an orphan.
        let _ = tx.send(Cmd::Leave);
    });
    rx
}

/// Waits up to `d` for a command. `None` = time passed.
async fn next(
    rx: &mut mpsc::UnboundedReceiver<Cmd>,
    term: &mut Option<tokio::signal::unix::Signal>,
    d: Duration,
) -> Option<Cmd> {
    let sig = async {
        match term.as_mut() {
            Some(s) => {
                s.recv().await;
            }
            None => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        c = rx.recv() => Some(c.unwrap_or(Cmd::Leave)),
        () = sig => Some(Cmd::Leave),
        () = tokio::time::sleep(d) => None,
    }
}

impl Bot {
    /// Applies a `reconfigure` command: new language for the next segments, acknowledged in
    /// the log.
    fn reconfigure(&mut self, v: &Value) {
        if let Some(l) = v.get("language").and_then(Value::as_str) {
            self.language = l.to_owned();
        }
        println!(
            "[ACT] reconfigure language={} task={}",
            self.language,
            v.get("task").cloned().unwrap_or(Value::Null)
        );
    }
}

/// Waits `d` before the bot is in the meeting, applying any `reconfigure` that arrives
/// meanwhile (so it is not lost). `true` = told to leave.
async fn wait_outside(
    bot: &mut Bot,
    rx: &mut mpsc::UnboundedReceiver<Cmd>,
    term: &mut Option<tokio::signal::unix::Signal>,
    d: Duration,
) -> bool {
    let until = tokio::time::Instant::now() + d;
    loop {
        let left = until.saturating_duration_since(tokio::time::Instant::now());
        match next(rx, term, left).await {
            Some(Cmd::Leave) => return true,
            Some(Cmd::Reconfigure(v)) => bot.reconfigure(&v),
            None => return false,
        }
    }
}

/// Runs the mock bot; returns the process exit code.
pub async fn run() -> i32 {
    let cfg = match config() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("[MOCK] {e}");
            return 1;
        }
    };
    let s = |k: &str| {
        cfg.get(k)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned()
    };
    let callbacks = cfg.get("callbacks").cloned().unwrap_or(Value::Null);
    let cb = |k: &str| {
        callbacks
            .get(k)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned()
    };
    let mut bot = Bot {
        client: reqwest::Client::builder()
            .timeout(Duration::from_secs(5))
            .build()
            .unwrap_or_default(),
        lifecycle_url: cb("lifecycle"),
        segments_url: cb("segments"),
        token: s("token"),
        connection_id: s("connectionId"),
        language: cfg
            .get("language")
            .and_then(Value::as_str)
            .unwrap_or("en")
            .to_owned(),
    };
    let scenario = s("botName")
        .strip_prefix("mock:")
        .unwrap_or("happy")
        .to_owned();
    println!(
        "[MOCK] scenario {scenario}, meeting {}",
        cfg.get("meeting_id").cloned().unwrap_or(Value::Null)
    );
    let mut rx = commands();
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
    let step = Duration::from_millis(150);

    bot.status("joining", json!({})).await;
    if scenario == "crash" {
        tokio::time::sleep(step).await;
        println!("[MOCK] crashing while joining");
        return 2;
    }
    if wait_outside(&mut bot, &mut rx, &mut term, step).await {
        bot.status(
            "failed",
            json!({"completion_reason": "stopped", "exit_code": 0}),
        )
        .await;
        return 0;
    }
    bot.status("awaiting_admission", json!({})).await;
    let lobby = if scenario == "slow" {
        Duration::from_secs(3)
    } else {
        step
    };
    if wait_outside(&mut bot, &mut rx, &mut term, lobby).await {
        bot.status(
            "failed",
            json!({"completion_reason": "stopped", "exit_code": 0}),
        )
        .await;
        return 0;
    }
    if scenario == "reject" {
        bot.status(
            "failed",
            json!({"completion_reason": "awaiting_admission_rejected", "reason": "host denied admission", "exit_code": 1}),
        )
        .await;
        return 1;
    }
    bot.status("active", json!({})).await;
    let mut spoken = 0;
    loop {
        match next(&mut rx, &mut term, Duration::from_millis(250)).await {
            Some(Cmd::Leave) => {
                println!("[ACT] leave received");
                bot.status(
                    "completed",
                    json!({"completion_reason": "stopped", "exit_code": 0}),
                )
                .await;
                return 0;
            }
            Some(Cmd::Reconfigure(v)) => {
                bot.reconfigure(&v);
                // Speak right away so the new settings show up in the transcript.
                bot.speak(spoken).await;
                spoken += 1;
            }
            None if spoken < 6 => {
                bot.speak(spoken).await;
                spoken += 1;
            }
            None => {}
        }
    }
}
