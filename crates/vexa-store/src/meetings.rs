//! SQLite and PostgreSQL implementation of [`MeetingStore`], one code path for both.
//!
//! Rules that must hold under concurrency are decided inside one transaction whose first
//! statement is a write to a per-user (or per-row) lock: on PostgreSQL that takes a row lock,
//! on SQLite the database write lock, so check-then-insert cannot interleave.

use async_trait::async_trait;
use serde_json::{Map, Value};
use vexa_core::meeting::{
    CreateBotError, Meeting, MeetingFilter, MeetingId, MeetingStatus, MeetingStore, NewMeeting,
    Platform, Segment, StatusUpdate, Webhook, CAP_STATUSES_SQL,
};
use vexa_core::{StoreError, Timestamp, UserId};

use crate::{map_err, with_pool, Db};

/// The meetings store over a [`Db`].
#[derive(Debug, Clone)]
pub struct SqlMeetingStore {
    db: Db,
}

impl SqlMeetingStore {
    pub fn new(db: Db) -> Self {
        SqlMeetingStore { db }
    }
}

const COLS: &str =
    "id, user_id, platform, native_meeting_id, status, bot_container_id, start_time, end_time, \
                    completion_reason, failure_stage, data, created_at, updated_at";

type Row = (
    i64,
    i64,
    String,
    Option<String>,
    String,
    Option<String>,
    Option<i64>,
    Option<i64>,
    Option<String>,
    Option<String>,
    String,
    i64,
    i64,
);

type SegRow = (
    String,
    Option<String>,
    Option<String>,
    String,
    f64,
    f64,
    Option<String>,
    i64,
    i64,
    i64,
);

fn to_meeting(r: Row) -> Result<Meeting, StoreError> {
    let platform =
        Platform::parse(&r.2).ok_or_else(|| StoreError::Other(format!("bad platform {}", r.2)))?;
    let status = MeetingStatus::parse(&r.4)
        .ok_or_else(|| StoreError::Other(format!("bad status {}", r.4)))?;
    let data = match serde_json::from_str::<Value>(&r.10) {
        Ok(Value::Object(m)) => m,
        _ => Map::new(),
    };
    Ok(Meeting {
        id: MeetingId(r.0),
        user_id: UserId(r.1),
        platform,
        native_meeting_id: r.3,
        status,
        bot_container_id: r.5,
        start_time: r.6.map(Timestamp),
        end_time: r.7.map(Timestamp),
        completion_reason: r.8,
        failure_stage: r.9,
        data,
        created_at: Timestamp(r.11),
        updated_at: Timestamp(r.12),
    })
}

fn to_segment(r: SegRow) -> Segment {
    Segment {
        segment_id: r.0,
        session_uid: r.1,
        speaker: r.2,
        text: r.3,
        start: r.4,
        end: r.5,
        language: r.6,
        completed: r.7 != 0,
        created_at: Timestamp(r.8),
        updated_at: Timestamp(r.9),
    }
}

fn json(m: &Map<String, Value>) -> String {
    Value::Object(m.clone()).to_string()
}

fn merge(into: &mut Map<String, Value>, patch: &Map<String, Value>) {
    for (k, v) in patch {
        if v.is_null() {
            into.remove(k);
        } else {
            into.insert(k.clone(), v.clone());
        }
    }
}

/// Writes every mutable column of `m` (the row was locked and read in the same transaction).
const WRITE_ROW: &str = "UPDATE meetings SET platform = $1, native_meeting_id = $2, status = $3, bot_container_id = $4, \
     start_time = $5, end_time = $6, completion_reason = $7, failure_stage = $8, data = $9, updated_at = $10 WHERE id = $11";
const LOCK_ROW: &str = "UPDATE meetings SET updated_at = updated_at WHERE id = $1";

macro_rules! select_row {
    ($tx:expr, $id:expr) => {
        sqlx::query_as::<_, Row>(&format!("SELECT {COLS} FROM meetings WHERE id = $1"))
            .bind($id)
            .fetch_optional(&mut *$tx)
            .await
            .map_err(map_err)?
            .map(to_meeting)
            .transpose()?
    };
}

macro_rules! write_row {
    ($tx:expr, $m:expr) => {
        sqlx::query(WRITE_ROW)
            .bind($m.platform.as_str())
            .bind($m.native_meeting_id.clone())
            .bind($m.status.as_str())
            .bind($m.bot_container_id.clone())
            .bind($m.start_time.map(|t| t.0))
            .bind($m.end_time.map(|t| t.0))
            .bind($m.completion_reason.clone())
            .bind($m.failure_stage.clone())
            .bind(json(&$m.data))
            .bind($m.updated_at.0)
            .bind($m.id.0)
            .execute(&mut *$tx)
            .await
            .map_err(map_err)?
    };
}

/// Locks, reads, lets `f` edit, writes back. `f` returning `false` leaves the row unchanged.
macro_rules! edit_row {
    ($self:expr, $id:expr, |$m:ident| $f:block) => {
        with_pool!(&$self.db, p => {
            let mut tx = p.begin().await.map_err(map_err)?;
            sqlx::query(LOCK_ROW).bind($id.0).execute(&mut *tx).await.map_err(map_err)?;
            let row: Option<Meeting> = select_row!(tx, $id.0);
            let out = match row {
                None => None,
                Some(mut $m) => {
                    let keep: Result<bool, StoreError> = $f;
                    if keep? {
                        write_row!(tx, $m);
                        Some($m)
                    } else {
                        None
                    }
                }
            };
            tx.commit().await.map_err(map_err)?;
            Ok(out)
        })
    };
}

#[async_trait]
impl MeetingStore for SqlMeetingStore {
    async fn create_bot_meeting(
        &self,
        new: &NewMeeting,
        cap: Option<i64>,
        now: Timestamp,
    ) -> Result<Meeting, CreateBotError> {
        let result: Result<Meeting, CreateBotError> = with_pool!(&self.db, p => {
            let mut tx = p.begin().await.map_err(map_err)?;
            sqlx::query(
                "INSERT INTO meeting_user_locks (user_id, n) VALUES ($1, 1) \
                 ON CONFLICT (user_id) DO UPDATE SET n = meeting_user_locks.n + 1",
            )
            .bind(new.user_id.0)
            .execute(&mut *tx)
            .await
            .map_err(map_err)?;
            let existing = sqlx::query_as::<_, Row>(&format!(
                "SELECT {COLS} FROM meetings WHERE user_id = $1 AND platform = $2 AND native_meeting_id = $3 \
                 AND status NOT IN ('completed', 'failed') ORDER BY id DESC LIMIT 1"
            ))
            .bind(new.user_id.0)
            .bind(new.platform.as_str())
            .bind(new.native_meeting_id.clone())
            .fetch_optional(&mut *tx)
            .await
            .map_err(map_err)?
            .map(to_meeting)
            .transpose()?;
            if existing.as_ref().is_some_and(|m| !m.status.is_planned()) {
                return Err(CreateBotError::AlreadyActive);
            }
            if let Some(cap) = cap {
                if cap <= 0 {
                    return Err(CreateBotError::LimitReached(cap));
                }
                let (live,): (i64,) = sqlx::query_as(&format!(
                    "SELECT COUNT(*) FROM meetings WHERE user_id = $1 AND status IN {CAP_STATUSES_SQL}"
                ))
                .bind(new.user_id.0)
                .fetch_one(&mut *tx)
                .await
                .map_err(map_err)?;
                if live >= cap {
                    return Err(CreateBotError::LimitReached(cap));
                }
            }
            let meeting = match existing {
                Some(mut planned) => {
                    // Claim the plan in place: keep its metadata, lay the spawn data over it.
                    merge(&mut planned.data, &new.data);
                    planned.data.remove("stop_requested");
                    planned.status = MeetingStatus::Requested;
                    planned.updated_at = now;
                    write_row!(tx, planned);
                    planned
                }
                None => {
                    let row = sqlx::query_as::<_, Row>(&format!(
                        "INSERT INTO meetings (user_id, platform, native_meeting_id, status, data, created_at, updated_at) \
                         VALUES ($1, $2, $3, $4, $5, $6, $6) RETURNING {COLS}"
                    ))
                    .bind(new.user_id.0)
                    .bind(new.platform.as_str())
                    .bind(new.native_meeting_id.clone())
                    .bind(new.status.as_str())
                    .bind(json(&new.data))
                    .bind(now.0)
                    .fetch_one(&mut *tx)
                    .await
                    .map_err(map_err);
                    match row {
                        Ok(r) => to_meeting(r)?,
                        Err(StoreError::Conflict(_)) => return Err(CreateBotError::AlreadyActive),
                        Err(e) => return Err(e.into()),
                    }
                }
            };
            tx.commit().await.map_err(map_err)?;
            Ok(meeting)
        });
        result
    }

    async fn create_planned(
        &self,
        new: &NewMeeting,
        now: Timestamp,
    ) -> Result<Meeting, StoreError> {
        with_pool!(&self.db, p => {
            let row = sqlx::query_as::<_, Row>(&format!(
                "INSERT INTO meetings (user_id, platform, native_meeting_id, status, data, created_at, updated_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $6) RETURNING {COLS}"
            ))
            .bind(new.user_id.0)
            .bind(new.platform.as_str())
            .bind(new.native_meeting_id.clone())
            .bind(new.status.as_str())
            .bind(json(&new.data))
            .bind(now.0)
            .fetch_one(p)
            .await
            .map_err(map_err)
            ?;
            to_meeting(row)
        })
    }

    async fn meeting(&self, id: MeetingId) -> Result<Option<Meeting>, StoreError> {
        with_pool!(&self.db, p => {
            sqlx::query_as::<_, Row>(&format!("SELECT {COLS} FROM meetings WHERE id = $1"))
                .bind(id.0)
                .fetch_optional(p)
                .await
                .map_err(map_err)?
                .map(to_meeting)
                .transpose()
        })
    }

    async fn latest_for_key(
        &self,
        user: UserId,
        platform: Platform,
        native: &str,
    ) -> Result<Option<Meeting>, StoreError> {
        with_pool!(&self.db, p => {
            sqlx::query_as::<_, Row>(&format!(
                "SELECT {COLS} FROM meetings WHERE user_id = $1 AND platform = $2 AND native_meeting_id = $3 \
                 ORDER BY created_at DESC, id DESC LIMIT 1"
            ))
            .bind(user.0)
            .bind(platform.as_str())
            .bind(native)
            .fetch_optional(p)
            .await
            .map_err(map_err)?
            .map(to_meeting)
            .transpose()
        })
    }

    async fn live_meetings(&self) -> Result<Vec<Meeting>, StoreError> {
        with_pool!(&self.db, p => {
            sqlx::query_as::<_, Row>(&format!(
                "SELECT {COLS} FROM meetings WHERE status NOT IN ('completed', 'failed', 'idle', 'scheduled') ORDER BY id"
            ))
            .fetch_all(p)
            .await
            .map_err(map_err)?
            .into_iter()
            .map(to_meeting)
            .collect()
        })
    }

    async fn list(&self, user: UserId, filter: &MeetingFilter) -> Result<Vec<Meeting>, StoreError> {
        // Statuses come from the closed enum, so inlining them as literals is safe.
        let mut sql = format!("SELECT {COLS} FROM meetings WHERE user_id = $1");
        if !filter.statuses.is_empty() {
            let list: Vec<String> = filter
                .statuses
                .iter()
                .map(|s| format!("'{}'", s.as_str()))
                .collect();
            sql.push_str(&format!(" AND status IN ({})", list.join(",")));
        }
        if let Some(p) = filter.platform {
            sql.push_str(&format!(" AND platform = '{}'", p.as_str()));
        }
        sql.push_str(" ORDER BY created_at DESC, id DESC LIMIT $2 OFFSET $3");
        with_pool!(&self.db, p => {
            sqlx::query_as::<_, Row>(&sql)
                .bind(user.0)
                .bind(filter.limit)
                .bind(filter.offset)
                .fetch_all(p)
                .await
                .map_err(map_err)?
                .into_iter()
                .map(to_meeting)
                .collect()
        })
    }

    async fn update_status(
        &self,
        id: MeetingId,
        u: &StatusUpdate,
    ) -> Result<Option<Meeting>, StoreError> {
        edit_row!(self, id, |m| {
            if m.status != u.from {
                Ok(false)
            } else {
                m.status = u.to;
                if u.completion_reason.is_some() {
                    m.completion_reason = u.completion_reason.clone();
                }
                if u.failure_stage.is_some() {
                    m.failure_stage = u.failure_stage.clone();
                }
                if u.to == MeetingStatus::Active && m.start_time.is_none() {
                    m.start_time = Some(u.now);
                }
                if u.to.is_terminal() && m.end_time.is_none() {
                    m.end_time = Some(u.now);
                }
                merge(&mut m.data, &u.data);
                m.updated_at = u.now;
                Ok(true)
            }
        })
    }

    async fn merge_data(
        &self,
        id: MeetingId,
        patch: &Map<String, Value>,
        now: Timestamp,
    ) -> Result<Option<Meeting>, StoreError> {
        edit_row!(self, id, |m| {
            merge(&mut m.data, patch);
            m.updated_at = now;
            Ok(true)
        })
    }

    async fn replan(
        &self,
        id: MeetingId,
        new: &NewMeeting,
        now: Timestamp,
    ) -> Result<Option<Meeting>, StoreError> {
        edit_row!(self, id, |m| {
            if !m.status.is_planned() {
                Ok(false)
            } else {
                m.platform = new.platform;
                m.native_meeting_id = new.native_meeting_id.clone();
                m.status = new.status;
                m.data = new.data.clone();
                m.updated_at = now;
                Ok(true)
            }
        })
    }

    async fn set_bot_container(
        &self,
        id: MeetingId,
        container: &str,
        session_uid: &str,
        now: Timestamp,
    ) -> Result<(), StoreError> {
        with_pool!(&self.db, p => {
            let mut tx = p.begin().await.map_err(map_err)?;
            sqlx::query("UPDATE meetings SET bot_container_id = $1, updated_at = $2 WHERE id = $3")
                .bind(container)
                .bind(now.0)
                .bind(id.0)
                .execute(&mut *tx)
                .await
                .map_err(map_err)?;
            sqlx::query("INSERT INTO bot_sessions (meeting_id, session_uid, created_at) VALUES ($1, $2, $3)")
                .bind(id.0)
                .bind(session_uid)
                .bind(now.0)
                .execute(&mut *tx)
                .await
                .map_err(map_err)?;
            tx.commit().await.map_err(map_err)
        })
    }

    async fn sessions(&self, id: MeetingId) -> Result<Vec<String>, StoreError> {
        with_pool!(&self.db, p => {
            let rows: Vec<(String,)> = sqlx::query_as("SELECT session_uid FROM bot_sessions WHERE meeting_id = $1 ORDER BY id")
                .bind(id.0)
                .fetch_all(p)
                .await
                .map_err(map_err)?;
            Ok(rows.into_iter().map(|r| r.0).collect())
        })
    }

    async fn delete_meeting(&self, id: MeetingId) -> Result<bool, StoreError> {
        with_pool!(&self.db, p => {
            let mut tx = p.begin().await.map_err(map_err)?;
            for sql in ["DELETE FROM transcript_segments WHERE meeting_id = $1", "DELETE FROM bot_sessions WHERE meeting_id = $1"] {
                sqlx::query(sql).bind(id.0).execute(&mut *tx).await.map_err(map_err)?;
            }
            let done = sqlx::query("DELETE FROM meetings WHERE id = $1").bind(id.0).execute(&mut *tx).await.map_err(map_err)?;
            tx.commit().await.map_err(map_err)?;
            Ok(done.rows_affected() > 0)
        })
    }

    async fn delete_segments(&self, id: MeetingId) -> Result<u64, StoreError> {
        with_pool!(&self.db, p => {
            let done = sqlx::query("DELETE FROM transcript_segments WHERE meeting_id = $1")
                .bind(id.0)
                .execute(p)
                .await
                .map_err(map_err)?;
            Ok(done.rows_affected())
        })
    }

    async fn upsert_segments(&self, id: MeetingId, segments: &[Segment]) -> Result<(), StoreError> {
        const UPSERT: &str = "INSERT INTO transcript_segments \
            (meeting_id, segment_id, session_uid, speaker, text, start_s, end_s, language, completed, created_at, updated_at) \
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) \
            ON CONFLICT (meeting_id, segment_id) DO UPDATE SET session_uid = excluded.session_uid, \
            speaker = excluded.speaker, text = excluded.text, start_s = excluded.start_s, end_s = excluded.end_s, \
            language = excluded.language, completed = excluded.completed, updated_at = excluded.updated_at \
            WHERE transcript_segments.completed = 0 OR excluded.completed = 1";
        with_pool!(&self.db, p => {
            let mut tx = p.begin().await.map_err(map_err)?;
            for s in segments {
                sqlx::query(UPSERT)
                    .bind(id.0)
                    .bind(&s.segment_id)
                    .bind(s.session_uid.clone())
                    .bind(s.speaker.clone())
                    .bind(&s.text)
                    .bind(s.start)
                    .bind(s.end)
                    .bind(s.language.clone())
                    .bind(i64::from(s.completed))
                    .bind(s.created_at.0)
                    .bind(s.updated_at.0)
                    .execute(&mut *tx)
                    .await
                    .map_err(map_err)?;
            }
            tx.commit().await.map_err(map_err)
        })
    }

    async fn segments(&self, id: MeetingId) -> Result<Vec<Segment>, StoreError> {
        with_pool!(&self.db, p => {
            let rows: Vec<SegRow> = sqlx::query_as(
                "SELECT segment_id, session_uid, speaker, text, start_s, end_s, language, completed, created_at, updated_at \
                 FROM transcript_segments WHERE meeting_id = $1 ORDER BY start_s, segment_id",
            )
            .bind(id.0)
            .fetch_all(p)
            .await
            .map_err(map_err)?;
            Ok(rows.into_iter().map(to_segment).collect())
        })
    }

    async fn webhook(&self, user: UserId) -> Result<Option<Webhook>, StoreError> {
        with_pool!(&self.db, p => {
            let row: Option<(String, Option<String>, Option<String>)> =
                sqlx::query_as("SELECT url, secret, events FROM user_webhooks WHERE user_id = $1")
                    .bind(user.0)
                    .fetch_optional(p)
                    .await
                    .map_err(map_err)?;
            Ok(row.map(|(url, secret, events)| Webhook {
                url,
                secret,
                events: events.and_then(|e| match serde_json::from_str::<Value>(&e) {
                    Ok(Value::Object(m)) => Some(m),
                    _ => None,
                }),
            }))
        })
    }

    async fn set_webhook(
        &self,
        user: UserId,
        hook: &Webhook,
        now: Timestamp,
    ) -> Result<(), StoreError> {
        let events = hook.events.as_ref().map(json);
        with_pool!(&self.db, p => {
            sqlx::query(
                "INSERT INTO user_webhooks (user_id, url, secret, events, updated_at) VALUES ($1, $2, $3, $4, $5) \
                 ON CONFLICT (user_id) DO UPDATE SET url = excluded.url, secret = excluded.secret, \
                 events = excluded.events, updated_at = excluded.updated_at",
            )
            .bind(user.0)
            .bind(&hook.url)
            .bind(hook.secret.clone())
            .bind(events.clone())
            .bind(now.0)
            .execute(p)
            .await
            .map_err(map_err)?;
            Ok(())
        })
    }
}
