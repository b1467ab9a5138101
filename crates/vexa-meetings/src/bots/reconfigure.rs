//! `PUT /bots/{platform}/{native}/config`: forwards `language`/`task` to the live bot (one
//! `reconfigure` line on its stdin) and records them on the meeting.

use serde_json::Value;
use vexa_core::meeting::DataPatch;

use super::stop::bot_meeting;
use crate::caller::Caller;
use crate::error::{InvalidInput, MeetingsError, Result};
use crate::state::AppState;
use crate::wire::bot_config::BotCommand;
use crate::wire::bots::BotConfigUpdate;
use crate::wire::FromWire;

/// New settings for a live bot. For each, `None` = unchanged, `Some(None)` = back to the
/// bot's default.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reconfiguration {
    pub language: Option<Option<String>>,
    pub task: Option<Option<String>>,
}

impl FromWire for Reconfiguration {
    type Wire = BotConfigUpdate;

    fn from_wire(update: BotConfigUpdate) -> Result<Reconfiguration, InvalidInput> {
        let (language_given, task_given) = (update.language.is_present(), update.task.is_present());
        let language = update.language.read_bounded("language", 16)?;
        let task = update.task.read_bounded("task", 32)?;
        if !language_given && !task_given {
            return Err(InvalidInput::NothingToReconfigure);
        }
        Ok(Reconfiguration {
            language: language_given.then_some(language),
            task: task_given.then_some(task),
        })
    }
}

pub async fn reconfigure(
    state: &AppState,
    caller: &Caller,
    platform: &str,
    native: &str,
    change: Reconfiguration,
) -> Result<()> {
    let m = bot_meeting(state, caller, platform, native).await?;
    let runtime = state.runtime.as_ref().ok_or(MeetingsError::NoActiveBot)?;
    if !m.status.is_live() || m.stop_requested() {
        return Err(MeetingsError::NoActiveBot);
    }
    let mut recorded = DataPatch::new();
    if let Some(language) = &change.language {
        recorded = recorded.set("language", Value::from(language.clone()));
    }
    if let Some(task) = &change.task {
        recorded = recorded.set("task", Value::from(task.clone()));
    }
    let command = BotCommand::Reconfigure {
        language: change.language,
        task: change.task,
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::parse_object;

    fn change(body: &str) -> Result<Reconfiguration, String> {
        parse_object::<BotConfigUpdate>(body.as_bytes())
            .and_then(Reconfiguration::from_wire)
            .map_err(|e| e.to_string())
    }

    #[test]
    fn a_config_update_names_what_changes() {
        assert_eq!(
            change(r#"{"language": "fr", "task": "translate"}"#),
            Ok(Reconfiguration {
                language: Some(Some("fr".into())),
                task: Some(Some("translate".into()))
            })
        );
        assert_eq!(
            change(r#"{"task": null}"#),
            Ok(Reconfiguration {
                language: None,
                task: Some(None)
            })
        );
        assert_eq!(change("{}"), Err("'language' or 'task' is required".into()));
        assert_eq!(
            change(r#"{"language": "a-very-long-language"}"#),
            Err("'language' is longer than 16 characters".into())
        );
    }
}
