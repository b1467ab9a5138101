//! SQLite and PostgreSQL implementation of [`MeetingStore`], one code path for both. The
//! webhook target is read from the user's `data` (`users`, owned by the identity store), where
//! the admin API's `PUT /user/webhook` writes it.
//!
//! Rules that must hold under concurrency are decided inside one transaction whose first
//! statement is a write to a per-user (or per-row) lock: on PostgreSQL that takes a row lock,
//! on SQLite the database write lock, so check-then-insert cannot interleave.
//!
//! Rows are read into `FromRow` structs ([`MeetingRow`], [`SegmentRow`]) and
//! parsed into domain values in one place each. Status sets in SQL (`IN (…)`) are rendered from
//! the domain's slices ([`MeetingStatus::LIVE`], [`MeetingStatus::CAP`], …).

use async_trait::async_trait;
use vexa_core::meeting::{
    BotCaps, CreateBotError, DataPatch, Meeting, MeetingFilter, MeetingId, MeetingStatus,
    MeetingStore, NewMeeting, Platform, Segment, StatusUpdate, Webhook,
};
use vexa_core::{StoreError, Timestamp, UserId};

use crate::{map_err, with_pool, Db};

#[macro_use]
mod sql;
mod rows;

use rows::{claim_plan, json_object, status_list, MeetingRow, SegmentRow};
use sql::{LOCK_USER, SELECT_BY_ID};

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

#[async_trait]
impl MeetingStore for SqlMeetingStore {
    async fn create_bot_meeting(
        &self,
        new: &NewMeeting,
        caps: &BotCaps,
        now: Timestamp,
    ) -> Result<Meeting, CreateBotError> {
        let open_for_key = format!(
            "SELECT {} FROM meetings WHERE user_id = $1 AND platform = $2 AND native_meeting_id = $3 \
             AND status NOT IN {} ORDER BY id DESC LIMIT 1",
            meeting_cols!(),
            status_list(&MeetingStatus::TERMINAL)
        );
        let count_capped = format!(
            "SELECT COUNT(*) FROM meetings WHERE user_id = $1 AND status IN {}",
            status_list(&MeetingStatus::CAP)
        );
        let count_key_capped = format!(
            "SELECT COUNT(*) FROM meetings WHERE user_id = $1 AND started_by_key_id = $2 AND status IN {}",
            status_list(&MeetingStatus::CAP)
        );
        // The key's cap counts only the bots it started; without a known key it cannot bind.
        let key_cap = caps.key_id.zip(caps.key);
        with_pool!(&self.db, p => {
            let mut tx = p.begin().await.map_err(map_err)?;
            sqlx::query(LOCK_USER).bind(new.user_id.0).execute(&mut *tx).await.map_err(map_err)?;
            let open = meeting_rows!(&open_for_key, fetch_optional, &mut *tx,
                new.user_id.0, new.platform.as_str(), new.native_meeting_id.clone())?
                .map(MeetingRow::into_meeting)
                .transpose()?;
            if open.as_ref().is_some_and(|m| !m.status.is_planned()) {
                return Err(CreateBotError::AlreadyActive);
            }
            // The user's cap first (it is the one the original knows), then the key's: both
            // counted under the user's lock, so neither can be overrun by concurrent requests.
            if let Some(cap) = caps.user {
                // A cap of 0 (or less) refuses without counting.
                let full = cap <= 0 || {
                    let (live,): (i64,) = sqlx::query_as(&count_capped)
                        .bind(new.user_id.0)
                        .fetch_one(&mut *tx)
                        .await
                        .map_err(map_err)?;
                    live >= cap
                };
                if full {
                    return Err(CreateBotError::LimitReached(cap));
                }
            }
            if let Some((key, cap)) = key_cap {
                let full = cap <= 0 || {
                    let (live,): (i64,) = sqlx::query_as(&count_key_capped)
                        .bind(new.user_id.0)
                        .bind(key.0)
                        .fetch_one(&mut *tx)
                        .await
                        .map_err(map_err)?;
                    live >= cap
                };
                if full {
                    return Err(CreateBotError::LimitReached(cap));
                }
            }
            let meeting = match open {
                Some(plan) => {
                    let claimed = claim_plan(plan, new, now);
                    write_row!(tx, claimed);
                    claimed
                }
                None => match insert_meeting!(&mut *tx, new, now) {
                    Ok(row) => row.into_meeting()?,
                    // The unique index on live rows saw a concurrent request first.
                    Err(StoreError::Conflict(_)) => return Err(CreateBotError::AlreadyActive),
                    Err(e) => return Err(e.into()),
                },
            };
            if let Some(key) = caps.key_id {
                sqlx::query("UPDATE meetings SET started_by_key_id = $1 WHERE id = $2")
                    .bind(key.0)
                    .bind(meeting.id.0)
                    .execute(&mut *tx)
                    .await
                    .map_err(map_err)?;
            }
            tx.commit().await.map_err(map_err)?;
            Ok(meeting)
        })
    }

    async fn create_planned(
        &self,
        new: &NewMeeting,
        now: Timestamp,
    ) -> Result<Meeting, StoreError> {
        with_pool!(&self.db, p => insert_meeting!(p, new, now)?.into_meeting())
    }

    async fn meeting(&self, id: MeetingId) -> Result<Option<Meeting>, StoreError> {
        with_pool!(&self.db, p => {
            meeting_rows!(SELECT_BY_ID, fetch_optional, p, id.0)?
                .map(MeetingRow::into_meeting)
                .transpose()
        })
    }

    async fn latest_for_key(
        &self,
        user: UserId,
        platform: Platform,
        native: &str,
    ) -> Result<Option<Meeting>, StoreError> {
        const LATEST: &str = concat!(
            "SELECT ",
            meeting_cols!(),
            " FROM meetings WHERE user_id = $1 AND platform = $2 AND native_meeting_id = $3 \
             ORDER BY created_at DESC, id DESC LIMIT 1"
        );
        with_pool!(&self.db, p => {
            meeting_rows!(LATEST, fetch_optional, p, user.0, platform.as_str(), native)?
                .map(MeetingRow::into_meeting)
                .transpose()
        })
    }

    async fn live_meetings(&self) -> Result<Vec<Meeting>, StoreError> {
        let sql = format!(
            "SELECT {} FROM meetings WHERE status IN {} ORDER BY id",
            meeting_cols!(),
            status_list(&MeetingStatus::LIVE)
        );
        with_pool!(&self.db, p => {
            meeting_rows!(&sql, fetch_all, p)?
                .into_iter()
                .map(MeetingRow::into_meeting)
                .collect()
        })
    }

    async fn list(&self, user: UserId, filter: &MeetingFilter) -> Result<Vec<Meeting>, StoreError> {
        let mut sql = format!(
            "SELECT {} FROM meetings WHERE user_id = $1",
            meeting_cols!()
        );
        if !filter.statuses.is_empty() {
            sql.push_str(&format!(" AND status IN {}", status_list(&filter.statuses)));
        }
        if let Some(p) = filter.platform {
            // From the closed enum, like the statuses.
            sql.push_str(&format!(" AND platform = '{}'", p.as_str()));
        }
        sql.push_str(" ORDER BY created_at DESC, id DESC LIMIT $2 OFFSET $3");
        with_pool!(&self.db, p => {
            meeting_rows!(&sql, fetch_all, p, user.0, filter.limit, filter.offset)?
                .into_iter()
                .map(MeetingRow::into_meeting)
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
                u.data.apply_to(&mut m.data);
                m.updated_at = u.now;
                Ok(true)
            }
        })
    }

    async fn merge_data(
        &self,
        id: MeetingId,
        patch: &DataPatch,
        now: Timestamp,
    ) -> Result<Option<Meeting>, StoreError> {
        edit_row!(self, id, |m| {
            patch.apply_to(&mut m.data);
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
        const SEGMENTS: &str = "SELECT segment_id, session_uid, speaker, text, start_s, end_s, language, completed, \
             created_at, updated_at FROM transcript_segments WHERE meeting_id = $1 ORDER BY start_s, segment_id";
        with_pool!(&self.db, p => {
            let rows: Vec<SegmentRow> = sqlx::query_as(SEGMENTS)
                .bind(id.0)
                .fetch_all(p)
                .await
                .map_err(map_err)?;
            Ok(rows.into_iter().map(Segment::from).collect())
        })
    }

    async fn webhook(&self, user: UserId) -> Result<Option<Webhook>, StoreError> {
        with_pool!(&self.db, p => {
            let row: Option<(String,)> = sqlx::query_as("SELECT data FROM users WHERE id = $1")
                .bind(user.0)
                .fetch_optional(p)
                .await
                .map_err(map_err)?;
            Ok(row
                .and_then(|(data,)| json_object(&data))
                .and_then(|data| Webhook::from_user_data(&data)))
        })
    }
}
