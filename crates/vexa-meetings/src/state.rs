//! Shared state of the service's handlers, and the two ways a bot process is ended: one bot
//! in the background ([`AppState::stop_bot_process`]) or all of them at shutdown.

use std::sync::Arc;

use vexa_core::meeting::{MeetingId, MeetingStore};
use vexa_core::Clock;

use crate::hub::Hub;
use crate::runtime::BotRuntime;
use crate::token::TokenKey;
use crate::webhook::Webhooks;
use crate::MeetingsConfig;

#[derive(Clone)]
pub struct AppState {
    pub cfg: Arc<MeetingsConfig>,
    pub store: Arc<dyn MeetingStore>,
    pub clock: Arc<dyn Clock>,
    /// `None` when no `BOT_COMMAND` is configured.
    pub runtime: Option<Arc<dyn BotRuntime>>,
    pub tokens: TokenKey,
    pub hub: Hub,
    pub webhooks: Webhooks,
    /// Cancelled at server shutdown (ends WebSocket sessions).
    pub shutdown: tokio_util::sync::CancellationToken,
}

impl AppState {
    /// Makes the bot of `meeting` go, in the background: `leave` on its stdin, then SIGTERM
    /// after the grace period, then SIGKILL, to its whole process group. The one place a bot is
    /// stopped from: a user's stop, a stop that arrived while the bot was starting, and a bot
    /// that reported its own end (its process must not outlive the meeting).
    pub fn stop_bot_process(&self, meeting: MeetingId) {
        if let Some(runtime) = self.runtime.clone() {
            let grace = self.cfg.stop_grace;
            tokio::spawn(async move { runtime.stop(meeting, grace).await });
        }
    }

    /// Stops every bot and returns once all are gone (server shutdown: no orphans).
    pub async fn stop_all_bots(&self) {
        if let Some(runtime) = &self.runtime {
            runtime.shutdown().await;
        }
    }
}
