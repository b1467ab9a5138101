//! The bot lifecycle state machine: `requested → joining → awaiting_admission → active →
//! completed | failed`. Pure: given the stored state and an event it decides the next state,
//! the failure stage and the completion reason, or refuses the edge.

use super::MeetingStatus;

/// What a bot (or the runtime, on exit) reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LifecycleEvent {
    pub status: MeetingStatus,
    pub completion_reason: Option<String>,
}

/// The decided change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Advance {
    /// Same status again: nothing to persist, publish or deliver.
    NoOp,
    To {
        status: MeetingStatus,
        completion_reason: Option<String>,
        failure_stage: Option<MeetingStatus>,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("Invalid transition: {from} → {to}", from = .from.as_str(), to = .to.as_str())]
pub struct IllegalTransition {
    pub from: MeetingStatus,
    pub to: MeetingStatus,
}

/// Edges a bot may take. `requested` means "no bot report yet"; `stopping` behaves like
/// `active` (the bot is still there, leaving).
fn allowed(from: MeetingStatus, to: MeetingStatus) -> bool {
    use MeetingStatus::*;
    match from {
        Requested => matches!(to, Joining | Failed),
        Joining => matches!(to, AwaitingAdmission | Active | Failed),
        AwaitingAdmission => matches!(to, Active | NeedsHelp | Failed),
        NeedsHelp => matches!(to, Active | Failed),
        Active | Stopping => matches!(to, Completed | Failed),
        Idle | Scheduled | Completed | Failed => false,
    }
}

/// The stage a failure is attributed to: derived from where the bot was, never trusted from it.
fn failure_stage(from: MeetingStatus) -> MeetingStatus {
    match from {
        MeetingStatus::AwaitingAdmission | MeetingStatus::NeedsHelp => {
            MeetingStatus::AwaitingAdmission
        }
        MeetingStatus::Stopping => MeetingStatus::Active,
        other => other,
    }
}

/// Decides the effect of `event` on a meeting in `current`. `stop_requested` makes the
/// completion reason `stopped` whatever the bot said (stop dominates).
pub fn advance(
    current: MeetingStatus,
    stop_requested: bool,
    event: &LifecycleEvent,
) -> Result<Advance, IllegalTransition> {
    if event.status == current {
        return Ok(Advance::NoOp);
    }
    if !allowed(current, event.status) {
        return Err(IllegalTransition {
            from: current,
            to: event.status,
        });
    }
    let terminal = event.status.is_terminal();
    let completion_reason = if terminal && stop_requested {
        Some("stopped".to_owned())
    } else if terminal {
        event.completion_reason.clone()
    } else {
        None
    };
    let failure_stage = (event.status == MeetingStatus::Failed).then(|| failure_stage(current));
    Ok(Advance::To {
        status: event.status,
        completion_reason,
        failure_stage,
    })
}

/// The terminal state to record when the bot process exited without reporting one.
pub fn on_exit(
    current: MeetingStatus,
    stop_requested: bool,
    exit_code: Option<i32>,
) -> Option<LifecycleEvent> {
    use MeetingStatus::*;
    let ev = |status, reason: &str| {
        Some(LifecycleEvent {
            status,
            completion_reason: Some(reason.to_owned()),
        })
    };
    match current {
        Completed | Failed | Idle | Scheduled => None,
        _ if stop_requested && matches!(current, Active | Stopping) => ev(Completed, "stopped"),
        _ if stop_requested => ev(Failed, "stopped"),
        Active | Stopping | NeedsHelp if exit_code == Some(0) => ev(Completed, "left_alone"),
        Active | Stopping => ev(Failed, "evicted"),
        _ => ev(Failed, "join_failure"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use MeetingStatus::*;

    fn ev(status: MeetingStatus, reason: Option<&str>) -> LifecycleEvent {
        LifecycleEvent {
            status,
            completion_reason: reason.map(str::to_owned),
        }
    }

    #[test]
    fn the_happy_path_is_legal_edge_by_edge() {
        let path = [Requested, Joining, AwaitingAdmission, Active, Completed];
        for w in path.windows(2) {
            assert!(
                matches!(
                    advance(w[0], false, &ev(w[1], None)),
                    Ok(Advance::To { .. })
                ),
                "{w:?}"
            );
        }
    }

    #[test]
    fn same_status_is_a_no_op() {
        assert_eq!(advance(Active, false, &ev(Active, None)), Ok(Advance::NoOp));
        assert_eq!(
            advance(Completed, false, &ev(Completed, None)),
            Ok(Advance::NoOp)
        );
    }

    #[test]
    fn illegal_edges_are_refused() {
        for (from, to) in [
            (Completed, Failed),
            (Failed, Active),
            (Requested, Active),
            (Active, Joining),
            (Idle, Joining),
        ] {
            assert_eq!(
                advance(from, false, &ev(to, None)),
                Err(IllegalTransition { from, to })
            );
        }
    }

    #[test]
    fn stop_dominates_the_completion_reason() {
        let got = advance(Stopping, true, &ev(Completed, Some("left_alone")));
        assert_eq!(
            got,
            Ok(Advance::To {
                status: Completed,
                completion_reason: Some("stopped".into()),
                failure_stage: None
            })
        );
    }

    #[test]
    fn failure_stage_comes_from_where_the_bot_was() {
        let got = advance(
            AwaitingAdmission,
            false,
            &ev(Failed, Some("awaiting_admission_rejected")),
        );
        assert_eq!(
            got,
            Ok(Advance::To {
                status: Failed,
                completion_reason: Some("awaiting_admission_rejected".into()),
                failure_stage: Some(AwaitingAdmission)
            })
        );
    }

    #[test]
    fn a_silent_exit_becomes_a_terminal_state() {
        assert_eq!(
            on_exit(Joining, false, Some(1)).map(|e| e.status),
            Some(Failed)
        );
        assert_eq!(
            on_exit(Stopping, true, Some(0))
                .and_then(|e| e.completion_reason)
                .as_deref(),
            Some("stopped")
        );
        assert_eq!(on_exit(Completed, false, Some(0)), None);
    }
}
