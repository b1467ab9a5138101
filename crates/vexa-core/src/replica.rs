//! The registry of gateway replicas: each gateway process announces itself in the store every
//! few seconds (its heartbeat), so the admin API can list the fleet with its cache sizes and how
//! far each replica lags behind the identity event log. One small write per replica per
//! heartbeat; nothing on the request path.

use serde::Serialize;

use crate::time::Timestamp;

/// A replica that missed this many heartbeats in a row is shown as stale (probably down).
pub const STALE_AFTER_BEATS: i64 = 3;
/// Rows not refreshed for this long are deleted by the next heartbeat of any replica.
pub const PRUNE_AFTER_SECS: i64 = 3600;

/// One heartbeat of a gateway process, as it writes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplicaBeat {
    /// Random per process start, so a restarted process is a new replica.
    pub id: String,
    pub host: String,
    pub pid: i64,
    /// The address the gateway listens on.
    pub addr: String,
    pub started_at: Timestamp,
    pub last_seen: Timestamp,
    /// How often this replica beats: the admin API judges staleness by the replica's own rate.
    pub heartbeat_ms: i64,
    /// Entries in its key cache.
    pub cache_entries: i64,
    /// Every identity event up to this sequence number has been applied to its cache.
    pub applied_seq: i64,
    /// When it applied `applied_seq` (`None` before its event follower started).
    pub applied_at: Option<Timestamp>,
}

/// A registered replica as the admin API reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplicaRecord {
    pub beat: ReplicaBeat,
    /// When the oldest identity event it has not applied yet was recorded (`None`: up to date).
    pub oldest_unapplied_at: Option<Timestamp>,
}

/// Whether a replica still beats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ReplicaHealth {
    Healthy,
    /// It missed [`STALE_AFTER_BEATS`] heartbeats: killed, hung, or cut off from the store.
    Stale,
}

impl ReplicaRecord {
    pub fn health_at(&self, now: Timestamp) -> ReplicaHealth {
        let silent_ms = now.as_millis() - self.beat.last_seen.as_millis();
        if silent_ms > STALE_AFTER_BEATS * self.beat.heartbeat_ms.max(1) {
            ReplicaHealth::Stale
        } else {
            ReplicaHealth::Healthy
        }
    }

    /// Events recorded that it has not applied, given the store's newest sequence number.
    pub fn lag_events(&self, latest_seq: i64) -> i64 {
        (latest_seq - self.beat.applied_seq).max(0)
    }

    /// How long the oldest event it has not applied has been waiting, in milliseconds
    /// (`None`: up to date).
    pub fn lag_ms_at(&self, now: Timestamp) -> Option<i64> {
        self.oldest_unapplied_at
            .map(|at| (now.as_millis() - at.as_millis()).max(0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(last_seen: i64, applied_seq: i64, oldest: Option<i64>) -> ReplicaRecord {
        ReplicaRecord {
            beat: ReplicaBeat {
                id: "r1".into(),
                host: "h".into(),
                pid: 1,
                addr: "127.0.0.1:1".into(),
                started_at: Timestamp::from_millis(0),
                last_seen: Timestamp::from_millis(last_seen),
                heartbeat_ms: 1000,
                cache_entries: 0,
                applied_seq,
                applied_at: None,
            },
            oldest_unapplied_at: oldest.map(Timestamp::from_millis),
        }
    }

    #[test]
    fn stale_after_three_missed_beats() {
        let r = record(10_000, 0, None);
        assert_eq!(
            r.health_at(Timestamp::from_millis(13_000)),
            ReplicaHealth::Healthy
        );
        assert_eq!(
            r.health_at(Timestamp::from_millis(13_001)),
            ReplicaHealth::Stale
        );
    }

    #[test]
    fn lag_in_events_and_time() {
        let r = record(0, 7, Some(4_000));
        assert_eq!(r.lag_events(10), 3);
        assert_eq!(
            r.lag_events(5),
            0,
            "a store that lost events is no negative lag"
        );
        assert_eq!(r.lag_ms_at(Timestamp::from_millis(5_500)), Some(1_500));
        assert_eq!(
            record(0, 7, None).lag_ms_at(Timestamp::from_millis(1)),
            None
        );
    }
}
