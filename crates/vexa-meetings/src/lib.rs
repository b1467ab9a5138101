//! The meetings service: what the `bot` and `tx` scopes grant, behind the gateway.
//!
//! # Layout
//!
//! - `routes` — the router and its thin handlers (extract → one service call → a view);
//! - `edge` — this service's side of the shared HTTP edge (`vexa-http`): body limit, JSON
//!   bodies, request id, `{"detail": …}` fallbacks; `caller` — the gateway's secret and the
//!   identity it injected;
//! - `wire` — every JSON shape: requests, views, the bot protocol, live frames;
//! - `bots` — send, stop and reconfigure bots (atomic one-live-bot and concurrency-cap rules);
//! - `meetings` — meeting records: listing, plans and metadata, deletion, transcripts (the
//!   user's webhook settings live in the user's `data`, set through the admin API);
//! - `lifecycle` — bot reports through the FSM, then WebSocket frames and webhooks;
//! - `bot_callbacks` — the receiving end of the bot protocol (per-meeting HMAC token, `token`);
//! - `runtime` — the `process` backend (`BOT_COMMAND`, one process group per bot);
//! - `ws` — live frames for the caller's own meetings (`hub` fans them out); `webhook` —
//!   signed delivery with retries, to the target in the user's `data`;
//! - `error` — the one request error type and its mapping to HTTP, and the startup error;
//! - `mock_bot` — the development bot; `config` — [`MeetingsConfig`] and its variables.
//!
//! # The bot protocol
//!
//! A bot is started with `VEXA_BOT_CONFIG`, a JSON object ([`wire::bot_config::BotConfig`]):
//! `platform`, `meetingUrl`, `nativeMeetingId`, `botName`, `passcode`, `meeting_id`,
//! `connectionId` (the session uid), `token`, `language`, `task`, `transcribeEnabled`,
//! `recordingEnabled`, `automaticLeave`, `meetingApiCallbackUrl` (the lifecycle URL again, for
//! older bots), `callbacks.lifecycle` and `callbacks.segments` (URLs on this service), and
//! `commands: {"transport":"stdin","format":"jsonl","actions":["leave","reconfigure"]}`.
//!
//! - Bot → service: `POST callbacks.lifecycle` with `Authorization: Bearer <token>` and
//!   `{"status": "joining"|"awaiting_admission"|"needs_help"|"active"|"completed"|"failed",
//!   "completion_reason"?, "reason"?, "exit_code"?}`; `POST callbacks.segments` with
//!   `{"segments":[{"segment_id","speaker","text","start","end","language","completed"}]}`
//!   (`completed:false` is a draft, rewritten later under the same id).
//! - Service → bot: one JSON object per line on the bot's stdin
//!   ([`wire::bot_config::BotCommand`]): `{"action":"leave"}`,
//!   `{"action":"reconfigure","language"?,"task"?}`. EOF on stdin means leave too, so a bot
//!   never outlives the service that started it.
//! - The token is `v1.<meeting>.<expiry ms>.<HMAC-SHA256>`: it names one meeting and expires.

#![allow(clippy::result_large_err)]

use std::future::Future;
use std::sync::Arc;

use tokio_util::sync::CancellationToken;
use vexa_core::meeting::MeetingStore;
use vexa_core::Clock;

mod bot_callbacks;
mod bots;
mod caller;
pub mod config;
mod edge;
mod error;
mod hub;
mod lifecycle;
mod meetings;
pub mod mock_bot;
mod routes;
pub mod runtime;
mod state;
mod token;
pub mod webhook;
pub mod wire;
mod ws;

pub use config::MeetingsConfig;
pub use error::{InvalidInput, MeetingsError, StartError};

use crate::runtime::{BotRuntime, ProcessRuntime};
use crate::state::AppState;

/// The service, ready to serve.
pub struct MeetingsService {
    state: AppState,
}

impl MeetingsService {
    pub async fn new(
        cfg: MeetingsConfig,
        store: Arc<dyn MeetingStore>,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, StartError> {
        let (events_tx, events_rx) = tokio::sync::mpsc::unbounded_channel();
        let runtime: Option<Arc<dyn BotRuntime>> = match cfg.bot_command.as_deref().map(str::trim) {
            Some(cmd) if !cmd.is_empty() => {
                let process = ProcessRuntime::new(cmd, cfg.data_dir.join("bots"), events_tx)
                    .map_err(StartError::BotCommand)?;
                Some(Arc::new(process))
            }
            _ => None,
        };
        let webhooks = webhook::Webhooks::new(
            store.clone(),
            clock.clone(),
            cfg.webhook_timeout,
            cfg.webhook_retry_backoff,
        );
        let state = AppState {
            tokens: token::TokenKey::new(cfg.token_key),
            cfg: Arc::new(cfg),
            store,
            clock,
            runtime,
            hub: hub::Hub::default(),
            webhooks,
            shutdown: CancellationToken::new(),
        };
        let reconciled = lifecycle::reconcile_after_restart(&state).await?;
        if reconciled > 0 {
            tracing::info!(
                reconciled,
                "meetings left live by an earlier run were closed"
            );
        }
        tokio::spawn(lifecycle::run_runtime_events(state.clone(), events_rx));
        Ok(MeetingsService { state })
    }

    /// Serves until `shutdown` resolves. Then, while the open connections drain, every bot
    /// process group is stopped (no orphans) — once.
    pub async fn serve(
        self,
        listener: tokio::net::TcpListener,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        let state = self.state.clone();
        let signal = async move {
            shutdown.await;
            // Ends the WebSocket sessions, so graceful shutdown does not wait on them.
            state.shutdown.cancel();
            state.stop_all_bots().await;
        };
        axum::serve(listener, routes::router(self.state))
            .with_graceful_shutdown(signal)
            .await
    }
}
