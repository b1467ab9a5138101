//! Sending, stopping and reconfiguring bots: `POST /bots` (here), `DELETE /bots/{p}/{n}`
//! (`stop`), `PUT /bots/{p}/{n}/config` (`reconfigure`); a request body becomes a validated
//! [`BotOrder`] in `order`. The rules that must hold under concurrency (one live bot per
//! meeting, the concurrency cap) are decided by the store in one transaction.

mod order;
pub mod reconfigure;
pub mod stop;

use std::sync::Arc;

use rand::RngCore;
use serde_json::Value;
use vexa_core::meeting::{
    CreateBotError, LifecycleEvent, Meeting, MeetingStatus, NewMeeting, TransitionSource,
};
use vexa_core::webhook::{WEBHOOK_EVENTS, WEBHOOK_URL};
use vexa_core::Timestamp;

pub use order::BotOrder;

use crate::caller::Caller;
use crate::error::{MeetingsError, Result};
use crate::lifecycle;
use crate::runtime::BotRuntime;
use crate::state::AppState;
use crate::wire::bot_config::{BotConfig, Callbacks, Commands};

/// Bot tokens outlive any sane meeting (the original's 5 h default).
const TOKEN_TTL_SECS: i64 = 5 * 3600;

fn count_request(outcome: &'static str) {
    metrics::counter!("vexa_meetings_bot_requests_total", "outcome" => outcome).increment(1);
}

/// `POST /bots`: record atomically (409/429), start the bot. Returns the meeting as accepted
/// and its bot sessions.
pub async fn request_bot(
    state: &AppState,
    caller: &Caller,
    order: BotOrder,
) -> Result<(Meeting, Vec<String>)> {
    let runtime = state.runtime.clone().ok_or(MeetingsError::NoBotCommand)?;
    let now = state.clock.now();
    let meeting = record(state, caller, &order, now).await?;
    let session_uid = random_hex(16);
    let workload_id = format!("mtg-{}-{}", meeting.id.0, &session_uid[..8]);
    let config = bot_config(state, &order, &meeting, &session_uid, now);
    start(state, runtime, &meeting, &workload_id, &config).await?;
    state
        .store
        .set_bot_container(meeting.id, &workload_id, &session_uid, state.clock.now())
        .await?;
    count_request("created");
    accepted(state, meeting).await
}

/// Records the request: a new `requested` row, or a plan of the same meeting claimed in place.
async fn record(
    state: &AppState,
    caller: &Caller,
    order: &BotOrder,
    now: Timestamp,
) -> Result<Meeting> {
    let mut data = order.meeting_data();
    // The user's webhook as set when the bot was requested, as 0.12 records it on the meeting
    // (`data.webhook_url`, `data.webhook_events`; reference `vexa-meetings.md` §3.3, §8.1). The
    // secret is not copied: delivery reads it from the user's `data`, its one place at rest.
    if let Some(hook) = state.store.webhook(caller.user_id).await? {
        data.insert(WEBHOOK_URL.into(), Value::from(hook.url));
        if let Some(events) = hook.events {
            data.insert(WEBHOOK_EVENTS.into(), Value::Object(events));
        }
    }
    let new = NewMeeting {
        user_id: caller.user_id,
        platform: order.target.platform,
        native_meeting_id: Some(order.target.native_id.clone()),
        status: MeetingStatus::Requested,
        data,
    };
    match state
        .store
        .create_bot_meeting(&new, &caller.bot_caps(), now)
        .await
    {
        Ok(m) => Ok(m),
        Err(CreateBotError::AlreadyActive) => {
            count_request("conflict");
            Err(MeetingsError::BotAlreadyActive {
                platform: order.target.platform,
                native: order.target.native_id.clone(),
            })
        }
        Err(CreateBotError::LimitReached(cap)) => {
            count_request("limited");
            Err(MeetingsError::LimitReached(cap))
        }
        Err(CreateBotError::Store(e)) => Err(e.into()),
    }
}

/// What the bot is started with (`VEXA_BOT_CONFIG`).
fn bot_config(
    state: &AppState,
    order: &BotOrder,
    meeting: &Meeting,
    session_uid: &str,
    now: Timestamp,
) -> BotConfig {
    let base = state.cfg.callback_base_url.trim_end_matches('/');
    let lifecycle = format!("{base}/internal/bot/lifecycle");
    BotConfig {
        platform: order.target.platform,
        meeting_url: order.target.url(),
        native_meeting_id: order.target.native_id.clone(),
        bot_name: order.bot_name.clone(),
        passcode: order.passcode.clone(),
        meeting_id: meeting.id,
        connection_id: session_uid.to_owned(),
        token: state.tokens.mint(meeting.id, now.plus_secs(TOKEN_TTL_SECS)),
        language: order.language.clone(),
        task: order.task.clone(),
        transcribe_enabled: order.transcribe_enabled,
        recording_enabled: order.recording_enabled,
        automatic_leave: order.automatic_leave.clone(),
        meeting_api_callback_url: lifecycle.clone(),
        callbacks: Callbacks {
            lifecycle,
            segments: format!("{base}/internal/bot/segments"),
        },
        commands: Commands::stdin_jsonl(),
    }
}

/// Starts the bot process; a failure to start fails the meeting (and answers 502).
async fn start(
    state: &AppState,
    runtime: Arc<dyn BotRuntime>,
    meeting: &Meeting,
    workload_id: &str,
    config: &BotConfig,
) -> Result<()> {
    let Err(e) = runtime.spawn(meeting.id, workload_id, config).await else {
        return Ok(());
    };
    let failed = LifecycleEvent {
        status: MeetingStatus::Failed,
        completion_reason: Some("start_failed".into()),
    };
    let reason = Some(e.to_string());
    let _ = lifecycle::apply(state, meeting.id, &failed, reason, TransitionSource::Spawn).await;
    count_request("start_failed");
    Err(MeetingsError::BotStartFailed(e))
}

/// The answer describes the request as accepted (`requested`), like the original, even when a
/// fast bot has already reported `joining` by now; later states are for the status routes.
async fn accepted(state: &AppState, recorded: Meeting) -> Result<(Meeting, Vec<String>)> {
    let mut shown = state
        .store
        .meeting(recorded.id)
        .await?
        .unwrap_or_else(|| recorded.clone());
    if shown.stop_requested() {
        // A stop arrived while the bot was starting: it must not outlive the request.
        state.stop_bot_process(shown.id);
    } else {
        shown.status = recorded.status;
    }
    let sessions = state.store.sessions(shown.id).await?;
    Ok((shown, sessions))
}

fn random_hex(bytes: usize) -> String {
    let mut raw = vec![0u8; bytes];
    rand::thread_rng().fill_bytes(&mut raw);
    hex::encode(raw)
}
