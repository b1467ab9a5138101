//! Versioned schema migrations, embedded in the binary (one list per backend).
//!
//! Each migration runs once, in its own transaction, and is recorded in `vexa_migrations`.
//! On PostgreSQL an advisory lock serializes replicas that start at the same time.

use crate::{now_millis, Db};

/// (version, SQL) pairs, ascending. Append only; never edit a released migration.
const SQLITE: &[(i64, &str)] = &[
    (1, include_str!("../migrations/sqlite/0001_identity.sql")),
    (2, include_str!("../migrations/sqlite/0002_meetings.sql")),
    (
        3,
        include_str!("../migrations/sqlite/0003_import_origin.sql"),
    ),
    (
        4,
        include_str!("../migrations/sqlite/0004_webhook_in_user_data.sql"),
    ),
    (5, include_str!("../migrations/sqlite/0005_audit_log.sql")),
    (
        6,
        include_str!("../migrations/sqlite/0006_key_rotation.sql"),
    ),
    (7, include_str!("../migrations/sqlite/0007_key_usage.sql")),
    (8, include_str!("../migrations/sqlite/0008_key_limits.sql")),
    (
        9,
        include_str!("../migrations/sqlite/0009_gateway_replicas.sql"),
    ),
];
const POSTGRES: &[(i64, &str)] = &[
    (1, include_str!("../migrations/postgres/0001_identity.sql")),
    (2, include_str!("../migrations/postgres/0002_meetings.sql")),
    (
        3,
        include_str!("../migrations/postgres/0003_import_origin.sql"),
    ),
    (
        4,
        include_str!("../migrations/postgres/0004_webhook_in_user_data.sql"),
    ),
    (5, include_str!("../migrations/postgres/0005_audit_log.sql")),
    (
        6,
        include_str!("../migrations/postgres/0006_key_rotation.sql"),
    ),
    (7, include_str!("../migrations/postgres/0007_key_usage.sql")),
    (
        8,
        include_str!("../migrations/postgres/0008_key_limits.sql"),
    ),
    (
        9,
        include_str!("../migrations/postgres/0009_gateway_replicas.sql"),
    ),
];

const CREATE_TABLE: &str =
    "CREATE TABLE IF NOT EXISTS vexa_migrations (version BIGINT PRIMARY KEY, applied_at BIGINT NOT NULL)";
const PG_LOCK_ID: i64 = 0x7665_7861; // "vexa"

pub(crate) async fn run(db: &Db) -> Result<(), sqlx::Error> {
    match db {
        Db::Sqlite(pool) => {
            sqlx::query(CREATE_TABLE).execute(pool).await?;
            for (version, sql) in SQLITE {
                // IMMEDIATE takes the write lock up front: a deferred transaction that reads and
                // then writes fails at once with SQLITE_BUSY (no busy wait) when another process
                // migrates the same fresh file at the same moment.
                let mut tx = pool.begin_with("BEGIN IMMEDIATE").await?;
                if !applied(&mut *tx, *version).await? {
                    sqlx::raw_sql(sql).execute(&mut *tx).await?;
                    record(&mut *tx, *version).await?;
                }
                tx.commit().await?;
            }
        }
        Db::Postgres(pool) => {
            let mut conn = pool.acquire().await?;
            sqlx::query("SELECT pg_advisory_lock($1)")
                .bind(PG_LOCK_ID)
                .execute(&mut *conn)
                .await?;
            let result = async {
                sqlx::query(CREATE_TABLE).execute(&mut *conn).await?;
                for (version, sql) in POSTGRES {
                    let mut tx = sqlx::Connection::begin(&mut *conn).await?;
                    if !applied(&mut *tx, *version).await? {
                        sqlx::raw_sql(sql).execute(&mut *tx).await?;
                        record(&mut *tx, *version).await?;
                    }
                    tx.commit().await?;
                }
                Ok::<(), sqlx::Error>(())
            }
            .await;
            sqlx::query("SELECT pg_advisory_unlock($1)")
                .bind(PG_LOCK_ID)
                .execute(&mut *conn)
                .await?;
            result?;
        }
    }
    Ok(())
}

/// Whether `version` is recorded as applied.
async fn applied<'c, C>(conn: C, version: i64) -> Result<bool, sqlx::Error>
where
    C: sqlx::Executor<'c>,
    for<'q> <C::Database as sqlx::Database>::Arguments<'q>: sqlx::IntoArguments<'q, C::Database>,
    for<'q> i64: sqlx::Encode<'q, C::Database> + sqlx::Type<C::Database>,
    for<'r> (i64,): sqlx::FromRow<'r, <C::Database as sqlx::Database>::Row>,
{
    let row: Option<(i64,)> =
        sqlx::query_as("SELECT version FROM vexa_migrations WHERE version = $1")
            .bind(version)
            .fetch_optional(conn)
            .await?;
    Ok(row.is_some())
}

/// Records `version` as applied, now.
async fn record<'c, C>(conn: C, version: i64) -> Result<(), sqlx::Error>
where
    C: sqlx::Executor<'c>,
    for<'q> <C::Database as sqlx::Database>::Arguments<'q>: sqlx::IntoArguments<'q, C::Database>,
    for<'q> i64: sqlx::Encode<'q, C::Database> + sqlx::Type<C::Database>,
{
    sqlx::query("INSERT INTO vexa_migrations (version, applied_at) VALUES ($1, $2)")
        .bind(version)
        .bind(now_millis())
        .execute(conn)
        .await?;
    Ok(())
}
