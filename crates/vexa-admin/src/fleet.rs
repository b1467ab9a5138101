//! The gateway fleet as the admin API reports it (`GET /admin/replicas`, the console's replicas
//! screen): the store's reachability and every registered replica with its health and lag,
//! judged at one instant so every row of one answer agrees.

use serde::Serialize;
use vexa_core::replica::{ReplicaHealth, ReplicaRecord};
use vexa_core::Timestamp;

use crate::service::StoreStatus;

/// One answer of [`crate::service::AdminService::fleet`].
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Fleet {
    /// When the rows were judged.
    pub now: Timestamp,
    pub store: StoreStatusView,
    pub replicas: Vec<ReplicaView>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct StoreStatusView {
    pub reachable: bool,
    /// `null` when the store did not answer.
    pub latest_event_seq: Option<i64>,
}

impl From<&StoreStatus> for StoreStatusView {
    fn from(s: &StoreStatus) -> Self {
        StoreStatusView {
            reachable: s.reachable,
            latest_event_seq: s.latest_event_seq,
        }
    }
}

/// One gateway replica.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct ReplicaView {
    pub id: String,
    pub host: String,
    pub pid: i64,
    /// The address its gateway listens on.
    pub address: String,
    pub status: ReplicaHealth,
    pub started_at: Timestamp,
    pub last_seen: Timestamp,
    pub uptime_s: i64,
    pub heartbeat_ms: i64,
    pub cache_entries: i64,
    /// Every identity event up to this one has reached its cache.
    pub last_event_seq: i64,
    /// When it got there (`null` before its event follower started).
    pub last_event_applied_at: Option<Timestamp>,
    /// Events recorded that it has not applied (`null` when the store's newest is unknown).
    pub lag_events: Option<i64>,
    /// How long ago the oldest event it has not applied was recorded; `null`: up to date.
    pub lag_ms: Option<i64>,
}

impl ReplicaView {
    pub fn judge(r: &ReplicaRecord, latest_seq: Option<i64>, now: Timestamp) -> ReplicaView {
        let b = &r.beat;
        ReplicaView {
            id: b.id.clone(),
            host: b.host.clone(),
            pid: b.pid,
            address: b.addr.clone(),
            status: r.health_at(now),
            started_at: b.started_at,
            last_seen: b.last_seen,
            uptime_s: ((b.last_seen.as_millis() - b.started_at.as_millis()) / 1000).max(0),
            heartbeat_ms: b.heartbeat_ms,
            cache_entries: b.cache_entries,
            last_event_seq: b.applied_seq,
            last_event_applied_at: b.applied_at,
            lag_events: latest_seq.map(|seq| r.lag_events(seq)),
            lag_ms: r.lag_ms_at(now),
        }
    }
}
