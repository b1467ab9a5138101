//! The meetings service: what the `bot` and `tx` scopes grant, behind the gateway.
//!
//! - `bots` — send, stop and reconfigure bots (atomic one-live-bot and concurrency-cap rules);
//! - `meetings` — meeting records, plans, metadata, transcripts, the user's webhook;
//! - `lifecycle` — bot reports through the FSM, then WebSocket frames and webhooks;
//! - `runtime` — the `process` backend (`BOT_COMMAND`, one process group per bot);
//! - `internal` — the bot protocol (HTTP callbacks with a per-meeting HMAC token);
//! - `ws` — live frames for the caller's own meetings; `webhook` — signed delivery with retries;
//! - `mock_bot` — the development bot; `config` — [`MeetingsConfig`] and its variables.
//!
//! # The bot protocol
//!
//! A bot is started with `VEXA_BOT_CONFIG`, a JSON object: `platform`, `meetingUrl`,
//! `nativeMeetingId`, `botName`, `passcode`, `meeting_id`, `connectionId` (the session uid),
//! `token`, `language`, `task`, `transcribeEnabled`, `recordingEnabled`, `automaticLeave`,
//! `callbacks.lifecycle` and `callbacks.segments` (URLs on this service), and
//! `commands: {"transport":"stdin","format":"jsonl"}`.
//!
//! - Bot → service: `POST callbacks.lifecycle` with `Authorization: Bearer <token>` and
//!   `{"status": "joining"|"awaiting_admission"|"needs_help"|"active"|"completed"|"failed",
//!   "completion_reason"?, "reason"?, "exit_code"?}`; `POST callbacks.segments` with
//!   `{"segments":[{"segment_id","speaker","text","start","end","language","completed"}]}`
//!   (`completed:false` is a draft, rewritten later under the same id).
//! - Service → bot: one JSON object per line on the bot's stdin: `{"action":"leave"}`,
//!   `{"action":"reconfigure","language"?,"task"?}`. EOF on stdin means leave too, so a bot
//!   never outlives the service that started it.
//! - The token is `v1.<meeting>.<expiry ms>.<HMAC-SHA256>`: it names one meeting and expires.

#![allow(clippy::result_large_err)]

use std::future::Future;
use std::sync::Arc;

use tokio_util::sync::CancellationToken;
use vexa_core::meeting::MeetingStore;
use vexa_core::Clock;

mod bots;
mod caller;
pub mod config;
mod error;
mod hub;
mod input;
mod internal;
mod lifecycle;
mod meetings;
pub mod mock_bot;
mod routes;
pub mod runtime;
mod state;
mod token;
mod view;
pub mod webhook;
mod ws;

pub use config::MeetingsConfig;
pub use error::MeetingsError;

use crate::runtime::{BotRuntime, ProcessRuntime};
use crate::state::AppState;

/// The service, ready to serve.
pub struct MeetingsService {
    state: AppState,
    shutdown: CancellationToken,
}

impl MeetingsService {
    pub async fn new(
        cfg: MeetingsConfig,
        store: Arc<dyn MeetingStore>,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, MeetingsError> {
        let (events_tx, events_rx) = tokio::sync::mpsc::unbounded_channel();
        let runtime: Option<Arc<dyn BotRuntime>> = match cfg.bot_command.as_deref().map(str::trim) {
            Some(cmd) if !cmd.is_empty() => {
                let rt = ProcessRuntime::new(cmd, cfg.data_dir.join("bots"), events_tx)
                    .map_err(|e| MeetingsError::Setup(format!("BOT_COMMAND: {e}")))?;
                Some(Arc::new(rt))
            }
            _ => None,
        };
        let webhooks = webhook::Webhooks::new(
            store.clone(),
            clock.clone(),
            cfg.webhook_timeout,
            cfg.webhook_retry_backoff,
        );
        let shutdown = CancellationToken::new();
        let state = AppState {
            tokens: token::TokenKey::new(cfg.token_key),
            cfg: Arc::new(cfg),
            store,
            clock,
            runtime,
            hub: hub::Hub::default(),
            webhooks,
            shutdown: shutdown.clone(),
        };
        let reconciled = lifecycle::reconcile_after_restart(&state).await?;
        if reconciled > 0 {
            tracing::info!(
                reconciled,
                "meetings left live by an earlier run were closed"
            );
        }
        tokio::spawn(lifecycle::run_runtime_events(state.clone(), events_rx));
        Ok(MeetingsService { state, shutdown })
    }

    /// Serves until `shutdown` resolves, then stops every bot process group (no orphans).
    pub async fn serve(
        self,
        listener: tokio::net::TcpListener,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        let runtime = self.state.runtime.clone();
        let cancel = self.shutdown.clone();
        let rt = runtime.clone();
        let signal = async move {
            shutdown.await;
            cancel.cancel();
            if let Some(rt) = rt {
                rt.shutdown().await;
            }
        };
        let app = routes::router(self.state);
        let served = axum::serve(listener, app)
            .with_graceful_shutdown(signal)
            .await;
        self.shutdown.cancel();
        if let Some(rt) = runtime {
            rt.shutdown().await;
        }
        served
    }
}
