//! `vexa mock-bot`: a development bot that joins nothing. It reads `VEXA_BOT_CONFIG` (the same
//! [`BotConfig`] type the service writes), picks a scenario from `botName` = `mock:<scenario>`
//! (default `happy`) and plays it through exactly the protocol a real bot uses: lifecycle and
//! segment POSTs with its bearer token, commands as [`BotCommand`] JSON lines on stdin
//! (`leave`, `reconfigure`), stdin EOF or SIGTERM = leave.
//!
//! Scenarios: `happy` (admitted, two speakers talk, stays until told to leave), `reject` (the
//! host denies admission), `crash` (exits 2 while joining, reporting nothing), `slow` (waits
//! 3 s in the lobby, then behaves like `happy`).

use std::time::Duration;

use serde::Serialize;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::signal::unix::{signal, Signal, SignalKind};
use tokio::sync::mpsc;

use crate::wire::bot_config::{BotCommand, BotConfig};

/// The pause between two steps of a scenario.
const STEP: Duration = Duration::from_millis(150);
/// How long the `slow` scenario waits in the lobby.
const SLOW_LOBBY: Duration = Duration::from_secs(3);
/// Lines the bot speaks before it goes quiet (it stays until told to leave).
const LINES_SPOKEN: usize = 6;

/// A lifecycle report as the mock posts it.
#[derive(Debug, Default, Serialize)]
struct StatusReport<'a> {
    connection_id: &'a str,
    status: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    completion_reason: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    reason: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    exit_code: Option<i32>,
}

/// One transcript segment as the mock posts it.
#[derive(Debug, Serialize)]
struct SegmentPost<'a> {
    segment_id: &'a str,
    speaker: &'a str,
    text: &'a str,
    start: f64,
    end: f64,
    language: &'a str,
    completed: bool,
    session_uid: &'a str,
}

#[derive(Debug, Serialize)]
struct SegmentBatchPost<'a> {
    segments: [SegmentPost<'a>; 1],
}

/// How the bot's stay ends: the final report and the exit code.
struct Ending {
    status: &'static str,
    completion_reason: &'static str,
    reason: Option<&'static str>,
    exit_code: i32,
}

impl Ending {
    /// Told to leave before being admitted.
    const STOPPED_OUTSIDE: Ending = Ending {
        status: "failed",
        completion_reason: "stopped",
        reason: None,
        exit_code: 0,
    };
    /// The host said no.
    const REJECTED: Ending = Ending {
        status: "failed",
        completion_reason: "awaiting_admission_rejected",
        reason: Some("host denied admission"),
        exit_code: 1,
    };
    /// Told to leave while in the meeting.
    const LEFT: Ending = Ending {
        status: "completed",
        completion_reason: "stopped",
        reason: None,
        exit_code: 0,
    };
}

struct Bot {
    client: reqwest::Client,
    lifecycle_url: String,
    segments_url: String,
    token: String,
    connection_id: String,
    language: String,
}

impl Bot {
    fn new(cfg: &BotConfig) -> Bot {
        Bot {
            client: reqwest::Client::builder()
                .timeout(Duration::from_secs(5))
                .build()
                .unwrap_or_default(),
            lifecycle_url: cfg.callbacks.lifecycle.clone(),
            segments_url: cfg.callbacks.segments.clone(),
            token: cfg.token.clone(),
            connection_id: cfg.connection_id.clone(),
            language: cfg.language.clone().unwrap_or_else(|| "en".to_owned()),
        }
    }

    /// Posts with a few retries while the service is unreachable; a 4xx is final.
    async fn post<T: Serialize>(&self, url: &str, body: &T) -> bool {
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

    async fn report(&self, report: StatusReport<'_>) {
        println!("[JOIN-STATE] {}", report.status);
        self.post(&self.lifecycle_url, &report).await;
    }

    async fn status(&self, status: &str) {
        let report = StatusReport {
            connection_id: &self.connection_id,
            status,
            ..StatusReport::default()
        };
        self.report(report).await;
    }

    /// Reports the end of the stay; returns the exit code.
    async fn end(&self, ending: &Ending) -> i32 {
        let report = StatusReport {
            connection_id: &self.connection_id,
            status: ending.status,
            completion_reason: Some(ending.completion_reason),
            reason: ending.reason,
            exit_code: Some(ending.exit_code),
        };
        self.report(report).await;
        ending.exit_code
    }

    /// Line `line` of the script: a half-spoken draft, then the confirmed text, same segment id.
    async fn speak(&self, line: usize) {
        let speakers = ["Alice", "Bob"];
        let lines = [
            "Hello everyone.",
            "Hi Alice, can you hear me?",
            "Yes, loud and clear.",
            "Let's start with the roadmap.",
        ];
        let speaker = speakers[line % speakers.len()];
        let text = lines[line % lines.len()];
        let start = line as f64 * 2.0;
        let id = format!(
            "{}:{speaker}:{}",
            self.connection_id,
            (start * 1000.0) as i64
        );
        let draft: String = text.chars().take(text.len() / 2).collect();
        for (text, completed) in [(draft.as_str(), false), (text, true)] {
            let segment = SegmentPost {
                segment_id: &id,
                speaker,
                text,
                start,
                end: start + 1.5,
                language: &self.language,
                completed,
                session_uid: &self.connection_id,
            };
            let batch = SegmentBatchPost {
                segments: [segment],
            };
            self.post(&self.segments_url, &batch).await;
        }
    }

    /// Applies a `reconfigure` command: new language for the next segments, acknowledged in
    /// the log.
    fn reconfigure(&mut self, language: Option<Option<String>>, task: Option<Option<String>>) {
        if let Some(Some(language)) = language {
            self.language = language;
        }
        let task = serde_json::to_string(&task.flatten()).unwrap_or_else(|_| "null".into());
        println!("[ACT] reconfigure language={} task={task}", self.language);
    }
}

/// What reaches the bot from outside: commands on stdin and SIGTERM.
struct Inbox {
    commands: mpsc::UnboundedReceiver<BotCommand>,
    term: Option<Signal>,
}

impl Inbox {
    fn open() -> Inbox {
        Inbox {
            commands: read_commands(),
            term: signal(SignalKind::terminate()).ok(),
        }
    }

    /// Waits up to `within` for a command (SIGTERM counts as `leave`). `None` = time passed.
    async fn next(&mut self, within: Duration) -> Option<BotCommand> {
        let Inbox { commands, term } = self;
        let term = async {
            match term.as_mut() {
                Some(s) => {
                    s.recv().await;
                }
                None => std::future::pending::<()>().await,
            }
        };
        tokio::select! {
            c = commands.recv() => Some(c.unwrap_or(BotCommand::Leave)),
            () = term => Some(BotCommand::Leave),
            () = tokio::time::sleep(within) => None,
        }
    }
}

/// Commands from stdin, one JSON line each; lines that are not a command are skipped.
fn read_commands() -> mpsc::UnboundedReceiver<BotCommand> {
    let (tx, rx) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        let mut lines = BufReader::new(tokio::io::stdin()).lines();
        while let Ok(Some(line)) = lines.next_line().await {
            let Ok(command) = serde_json::from_str::<BotCommand>(&line) else {
                continue;
            };
            if tx.send(command).is_err() {
                return;
            }
        }
        // stdin closed: the service is gone, so leave rather than linger as an orphan.
        let _ = tx.send(BotCommand::Leave);
    });
    rx
}

fn config() -> Result<BotConfig, String> {
    let raw =
        std::env::var("VEXA_BOT_CONFIG").map_err(|_| "VEXA_BOT_CONFIG is not set".to_owned())?;
    serde_json::from_str(&raw).map_err(|e| format!("VEXA_BOT_CONFIG is not a bot config: {e}"))
}

/// Waits `wait` before the bot is in the meeting, applying any `reconfigure` that arrives
/// meanwhile (so it is not lost). `true` = told to leave.
async fn wait_outside(bot: &mut Bot, inbox: &mut Inbox, wait: Duration) -> bool {
    let until = tokio::time::Instant::now() + wait;
    loop {
        let left = until.saturating_duration_since(tokio::time::Instant::now());
        match inbox.next(left).await {
            Some(BotCommand::Leave) => return true,
            Some(BotCommand::Reconfigure { language, task }) => bot.reconfigure(language, task),
            None => return false,
        }
    }
}

/// In the meeting: speaks its lines, then stays until told to leave.
async fn stay(bot: &mut Bot, inbox: &mut Inbox) -> i32 {
    let mut spoken = 0;
    loop {
        match inbox.next(Duration::from_millis(250)).await {
            Some(BotCommand::Leave) => {
                println!("[ACT] leave received");
                return bot.end(&Ending::LEFT).await;
            }
            Some(BotCommand::Reconfigure { language, task }) => {
                bot.reconfigure(language, task);
                // Speak right away so the new settings show up in the transcript.
                bot.speak(spoken).await;
                spoken += 1;
            }
            None if spoken < LINES_SPOKEN => {
                bot.speak(spoken).await;
                spoken += 1;
            }
            None => {}
        }
    }
}

/// Plays `scenario`; returns the exit code.
async fn play(bot: &mut Bot, inbox: &mut Inbox, scenario: &str) -> i32 {
    bot.status("joining").await;
    if scenario == "crash" {
        tokio::time::sleep(STEP).await;
        println!("[MOCK] crashing while joining");
        return 2;
    }
    if wait_outside(bot, inbox, STEP).await {
        return bot.end(&Ending::STOPPED_OUTSIDE).await;
    }
    bot.status("awaiting_admission").await;
    let lobby = if scenario == "slow" { SLOW_LOBBY } else { STEP };
    if wait_outside(bot, inbox, lobby).await {
        return bot.end(&Ending::STOPPED_OUTSIDE).await;
    }
    if scenario == "reject" {
        return bot.end(&Ending::REJECTED).await;
    }
    bot.status("active").await;
    stay(bot, inbox).await
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
    let scenario = cfg
        .bot_name
        .strip_prefix("mock:")
        .unwrap_or("happy")
        .to_owned();
    println!("[MOCK] scenario {scenario}, meeting {}", cfg.meeting_id.0);
    let mut bot = Bot::new(&cfg);
    let mut inbox = Inbox::open();
    play(&mut bot, &mut inbox, &scenario).await
}
