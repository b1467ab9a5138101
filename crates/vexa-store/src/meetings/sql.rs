//! The SQL texts of the meetings store and the macros that run them on either backend's
//! connection (a pool or a transaction). Macros, not functions: each expands once per backend
//! inside [`crate::with_pool!`], where the executor has a concrete type.

/// The columns of a meeting row, in [`MeetingRow`]'s order.
macro_rules! meeting_cols {
    () => {
        "id, user_id, platform, native_meeting_id, status, bot_container_id, start_time, end_time, \
         completion_reason, failure_stage, data, created_at, updated_at"
    };
}

pub(super) const SELECT_BY_ID: &str =
    concat!("SELECT ", meeting_cols!(), " FROM meetings WHERE id = $1");
pub(super) const INSERT_MEETING: &str = concat!(
    "INSERT INTO meetings (user_id, platform, native_meeting_id, status, data, created_at, updated_at) \
     VALUES ($1, $2, $3, $4, $5, $6, $6) RETURNING ",
    meeting_cols!()
);

/// Writes every mutable column of `m` (the row was locked and read in the same transaction).
pub(super) const WRITE_ROW: &str = "UPDATE meetings SET platform = $1, native_meeting_id = $2, status = $3, bot_container_id = $4, \
     start_time = $5, end_time = $6, completion_reason = $7, failure_stage = $8, data = $9, updated_at = $10 WHERE id = $11";
pub(super) const LOCK_ROW: &str = "UPDATE meetings SET updated_at = updated_at WHERE id = $1";
/// The first write of a bot request: serialises every request of the user (see the module doc).
pub(super) const LOCK_USER: &str = "INSERT INTO meeting_user_locks (user_id, n) VALUES ($1, 1) \
     ON CONFLICT (user_id) DO UPDATE SET n = meeting_user_locks.n + 1";

/// Runs a query for meeting rows; `$fetch` is `fetch_optional`, `fetch_one` or `fetch_all`.
macro_rules! meeting_rows {
    ($sql:expr, $fetch:ident, $exec:expr $(, $arg:expr)*) => {
        sqlx::query_as::<_, $crate::meetings::rows::MeetingRow>($sql)
            $(.bind($arg))*
            .$fetch($exec)
            .await
            .map_err($crate::map_err)
    };
}

macro_rules! select_row {
    ($tx:expr, $id:expr) => {
        meeting_rows!(
            $crate::meetings::sql::SELECT_BY_ID,
            fetch_optional,
            &mut *$tx,
            $id
        )?
        .map($crate::meetings::rows::MeetingRow::into_meeting)
        .transpose()?
    };
}

/// Inserts `$new` (created at `$now`) and returns the stored row.
macro_rules! insert_meeting {
    ($exec:expr, $new:expr, $now:expr) => {
        meeting_rows!(
            $crate::meetings::sql::INSERT_MEETING,
            fetch_one,
            $exec,
            $new.user_id.0,
            $new.platform.as_str(),
            $new.native_meeting_id.clone(),
            $new.status.as_str(),
            $crate::meetings::rows::json(&$new.data),
            $now.0
        )
    };
}

macro_rules! write_row {
    ($tx:expr, $m:expr) => {
        sqlx::query($crate::meetings::sql::WRITE_ROW)
            .bind($m.platform.as_str())
            .bind($m.native_meeting_id.clone())
            .bind($m.status.as_str())
            .bind($m.bot_container_id.clone())
            .bind($m.start_time.map(|t| t.0))
            .bind($m.end_time.map(|t| t.0))
            .bind($m.completion_reason.clone())
            .bind($m.failure_stage.clone())
            .bind($crate::meetings::rows::json(&$m.data))
            .bind($m.updated_at.0)
            .bind($m.id.0)
            .execute(&mut *$tx)
            .await
            .map_err($crate::map_err)?
    };
}

/// Locks, reads, lets `f` edit, writes back. `f` returning `false` leaves the row unchanged.
macro_rules! edit_row {
    ($self:expr, $id:expr, |$m:ident| $f:block) => {
        $crate::with_pool!(&$self.db, p => {
            let mut tx = p.begin().await.map_err($crate::map_err)?;
            sqlx::query($crate::meetings::sql::LOCK_ROW).bind($id.0).execute(&mut *tx).await.map_err($crate::map_err)?;
            let row: Option<vexa_core::meeting::Meeting> = select_row!(tx, $id.0);
            let out = match row {
                None => None,
                Some(mut $m) => {
                    let keep: Result<bool, vexa_core::StoreError> = $f;
                    if keep? {
                        write_row!(tx, $m);
                        Some($m)
                    } else {
                        None
                    }
                }
            };
            tx.commit().await.map_err($crate::map_err)?;
            Ok(out)
        })
    };
}
