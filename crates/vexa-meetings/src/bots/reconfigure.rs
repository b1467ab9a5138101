//! `PUT /bots/{platform}/{native}/config`: forwards `language`/`task` to the live bot (one
//! `reconfigure` line on its stdin) and records them on the meeting.

use serde_json::Value;
use vexa_core::meeting::DataPatch;

use super::stop::bot_platform;
use crate::caller::Caller;
use crate::error::{InvalidInput, MeetingsError, Result};
use crate::state::AppState;
use crate::wire::bot_config::BotCommand;
use crate::wire::bots::BotConfigUpdate;

pub async fn reconfigure(
    state: &AppState,
    caller: &Caller,
    platform: &str,
    native: &str,
    update: BotConfigUpdate,
) -> Result<()> {
    let platform = bot_platform(platform)?;
    let (language_given, task_given) = (update.language.is_present(), update.task.is_present());
    let language = update.language.read_bounded("language", 16)?;
    let task = update.task.read_bounded("task", 32)?;
    if !language_given && !task_given {
        return Err(InvalidInput::NothingToReconfigure.into());
    }
    let m = state
        .store
        .latest_for_key(caller.user_id, platform, native)
        .await?
        .ok_or(MeetingsError::NoActiveBot)?;
    let runtime = state.runtime.as_ref().ok_or(MeetingsError::NoActiveBot)?;
    if !m.status.is_live() || m.stop_requested() {
        return Err(MeetingsError::NoActiveBot);
    }
    let mut recorded = DataPatch::new();
    if language_given {
        recorded = recorded.set("language", Value::from(language.clone()));
    }
    if task_given {
        recorded = recorded.set("task", Value::from(task.clone()));
    }
    let command = BotCommand::Reconfigure {
        language: language_given.then_some(language),
        task: task_given.then_some(task),
    };
    runtime
        .send(m.id, &command)
        .await
        .map_err(|_| MeetingsError::NoActiveBot)?;
    state
        .store
        .merge_data(m.id, &recorded, state.clock.now())
        .await?;
    Ok(())
}
