//! Meetings domain: platforms and native ids, where a bot goes ([`BotTarget`]), the bot status
//! state machine, the state kept in `Meeting.data` ([`data`]), transcript segments and the
//! [`MeetingStore`] port. Pure code; the service and the store build on it. Sets of statuses
//! are owned here as const slices ([`MeetingStatus::LIVE`], [`MeetingStatus::CAP`], …); the
//! store renders its SQL from them, so no SQL lives in this crate.

pub mod data;
pub mod fsm;
pub mod platform;
pub mod store;
pub mod target;

pub use data::{ArtifactDeletion, DataPatch, StatusTransition, TransitionSource};
pub use fsm::{advance, Advance, IllegalTransition, LifecycleEvent};
pub use platform::{parse_meeting_url, validate_native_id, Platform};
pub use store::{
    BotCaps, CreateBotError, Meeting, MeetingFilter, MeetingId, MeetingStore, NewMeeting, Segment,
    StatusUpdate, Webhook,
};
pub use target::{BotTarget, TargetError};

use serde::Serialize;

/// Persisted meeting status. `idle`/`scheduled` are plans; `completed`/`failed` are terminal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum MeetingStatus {
    Idle,
    Scheduled,
    Requested,
    Joining,
    AwaitingAdmission,
    NeedsHelp,
    Active,
    Stopping,
    Completed,
    Failed,
}

impl MeetingStatus {
    pub const ALL: [MeetingStatus; 10] = [
        MeetingStatus::Idle,
        MeetingStatus::Scheduled,
        MeetingStatus::Requested,
        MeetingStatus::Joining,
        MeetingStatus::AwaitingAdmission,
        MeetingStatus::NeedsHelp,
        MeetingStatus::Active,
        MeetingStatus::Stopping,
        MeetingStatus::Completed,
        MeetingStatus::Failed,
    ];

    /// Plans: no bot has been asked for yet.
    pub const PLANNED: [MeetingStatus; 2] = [MeetingStatus::Idle, MeetingStatus::Scheduled];

    /// Final: the bot is gone and the row never changes status again.
    pub const TERMINAL: [MeetingStatus; 2] = [MeetingStatus::Completed, MeetingStatus::Failed];

    /// A bot exists (or is being started): everything that is neither a plan nor final.
    pub const LIVE: [MeetingStatus; 6] = [
        MeetingStatus::Requested,
        MeetingStatus::Joining,
        MeetingStatus::AwaitingAdmission,
        MeetingStatus::NeedsHelp,
        MeetingStatus::Active,
        MeetingStatus::Stopping,
    ];

    /// Counted against `max_concurrent_bots` (the original's set: a bot that needs help or is
    /// already stopping no longer counts).
    pub const CAP: [MeetingStatus; 4] = [
        MeetingStatus::Requested,
        MeetingStatus::Joining,
        MeetingStatus::AwaitingAdmission,
        MeetingStatus::Active,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            MeetingStatus::Idle => "idle",
            MeetingStatus::Scheduled => "scheduled",
            MeetingStatus::Requested => "requested",
            MeetingStatus::Joining => "joining",
            MeetingStatus::AwaitingAdmission => "awaiting_admission",
            MeetingStatus::NeedsHelp => "needs_help",
            MeetingStatus::Active => "active",
            MeetingStatus::Stopping => "stopping",
            MeetingStatus::Completed => "completed",
            MeetingStatus::Failed => "failed",
        }
    }

    pub fn parse(s: &str) -> Option<MeetingStatus> {
        MeetingStatus::ALL.into_iter().find(|m| m.as_str() == s)
    }

    pub fn is_terminal(self) -> bool {
        MeetingStatus::TERMINAL.contains(&self)
    }

    pub fn is_planned(self) -> bool {
        MeetingStatus::PLANNED.contains(&self)
    }

    /// A bot exists (or is being started) for this meeting.
    pub fn is_live(self) -> bool {
        MeetingStatus::LIVE.contains(&self)
    }

    /// Counted against `max_concurrent_bots` (the original's set, `docs/reference/vexa-meetings.md`
    /// §3.6: stopping bots no longer count).
    pub fn counts_against_cap(self) -> bool {
        MeetingStatus::CAP.contains(&self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_status_is_exactly_one_of_planned_live_or_terminal() {
        for s in MeetingStatus::ALL {
            let kinds = [s.is_planned(), s.is_live(), s.is_terminal()];
            assert_eq!(kinds.iter().filter(|k| **k).count(), 1, "{s:?}");
        }
    }

    #[test]
    fn the_cap_counts_only_live_bots_that_are_not_leaving_or_stuck() {
        assert!(MeetingStatus::CAP.iter().all(|s| s.is_live()));
        assert!(!MeetingStatus::Stopping.counts_against_cap());
        assert!(!MeetingStatus::NeedsHelp.counts_against_cap());
    }

    #[test]
    fn statuses_round_trip_through_their_names() {
        for s in MeetingStatus::ALL {
            assert_eq!(MeetingStatus::parse(s.as_str()), Some(s));
        }
    }
}
