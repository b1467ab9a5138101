//! Shared state of the service's handlers.

use std::sync::Arc;

use vexa_core::meeting::MeetingStore;
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
