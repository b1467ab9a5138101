//! Meetings domain: platforms and native ids, the bot status state machine, transcript
//! segments and the [`MeetingStore`] port. Pure code; the service and the store build on it.

pub mod fsm;
pub mod platform;
pub mod store;

pub use fsm::{advance, Advance, IllegalTransition, LifecycleEvent};
pub use platform::{parse_meeting_url, validate_native_id, Platform};
pub use store::{
    CreateBotError, Meeting, MeetingFilter, MeetingId, MeetingStore, NewMeeting, Segment,
    StatusUpdate, Webhook,
};

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
        matches!(self, MeetingStatus::Completed | MeetingStatus::Failed)
    }

    pub fn is_planned(self) -> bool {
        matches!(self, MeetingStatus::Idle | MeetingStatus::Scheduled)
    }

    /// A bot exists (or is being started) for this meeting.
    pub fn is_live(self) -> bool {
        !self.is_terminal() && !self.is_planned()
    }

    /// Counted against `max_concurrent_bots` (the original's set, `docs/reference/vexa-meetings.md`
    /// §3.6: stopping bots no longer count).
    pub fn counts_against_cap(self) -> bool {
        matches!(
            self,
            MeetingStatus::Requested
                | MeetingStatus::Joining
                | MeetingStatus::AwaitingAdmission
                | MeetingStatus::Active
        )
    }
}

/// Statuses counted against the concurrency cap, as SQL literals (shared by both backends).
pub const CAP_STATUSES_SQL: &str = "('requested','joining','awaiting_admission','active')";
