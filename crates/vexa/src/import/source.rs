//! The original Vexa's PostgreSQL, read-only: one connection, one `READ ONLY` repeatable-read
//! transaction (a consistent snapshot; the source refuses any write), rows streamed by id.
//!
//! Times are read as epoch milliseconds in SQL: the original stores naive UTC `TIMESTAMP`s, and
//! `EXTRACT(EPOCH FROM …)` of a naive timestamp reads it as UTC.

use anyhow::Context;
use futures_util::stream::BoxStream;
use futures_util::StreamExt;
use sqlx::postgres::{PgConnectOptions, PgConnection};
use sqlx::{Connection, Postgres, Transaction};
use vexa_core::import::{SourceKey, SourceToken, SourceUser};
use vexa_core::Timestamp;

/// An open read-only snapshot of the source.
pub struct Source {
    conn: PgConnection,
}

#[derive(sqlx::FromRow)]
struct UserRow {
    id: i64,
    email: String,
    name: Option<String>,
    image_url: Option<String>,
    max_concurrent_bots: i64,
    data: String,
    created_at: Option<i64>,
}

#[derive(sqlx::FromRow)]
struct KeyRow {
    id: i64,
    token: String,
    user_id: i64,
    scopes: Option<Vec<String>>,
    name: Option<String>,
    created_at: Option<i64>,
    last_used_at: Option<i64>,
    expires_at: Option<i64>,
}

const USERS_SQL: &str = "SELECT id::bigint AS id, email, name, image_url, \
     max_concurrent_bots::bigint AS max_concurrent_bots, COALESCE(data::text, '{}') AS data, \
     (EXTRACT(EPOCH FROM created_at) * 1000)::bigint AS created_at FROM users ORDER BY id";

const KEYS_SQL: &str = "SELECT id::bigint AS id, token, user_id::bigint AS user_id, \
     scopes::text[] AS scopes, name, \
     (EXTRACT(EPOCH FROM created_at) * 1000)::bigint AS created_at, \
     (EXTRACT(EPOCH FROM last_used_at) * 1000)::bigint AS last_used_at, \
     (EXTRACT(EPOCH FROM expires_at) * 1000)::bigint AS expires_at \
     FROM api_tokens ORDER BY id";

impl Source {
    pub async fn open(url: &str) -> anyhow::Result<Source> {
        let opts: PgConnectOptions = url.parse().context("--from is not a PostgreSQL URL")?;
        let conn = PgConnection::connect_with(&opts)
            .await
            .context("cannot connect to the source database")?;
        Ok(Source { conn })
    }

    /// Starts the read-only snapshot every read of this run goes through.
    pub async fn snapshot(&mut self) -> anyhow::Result<Transaction<'_, Postgres>> {
        let tx = self
            .conn
            .begin_with("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
            .await
            .context("cannot open a read-only transaction on the source")?;
        Ok(tx)
    }
}

pub async fn count_keys(tx: &mut Transaction<'_, Postgres>) -> anyhow::Result<u64> {
    let (n,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM api_tokens")
        .fetch_one(&mut **tx)
        .await
        .context("cannot count the source's api_tokens")?;
    Ok(u64::try_from(n).unwrap_or(0))
}

pub fn users<'t>(
    tx: &'t mut Transaction<'_, Postgres>,
) -> BoxStream<'t, anyhow::Result<SourceUser>> {
    sqlx::query_as(USERS_SQL)
        .fetch(&mut **tx)
        .map(|r: Result<UserRow, sqlx::Error>| {
            let r = r.context("reading the source's users")?;
            Ok(SourceUser {
                id: r.id,
                email: r.email,
                name: r.name,
                image_url: r.image_url,
                max_concurrent_bots: r.max_concurrent_bots,
                data: r.data,
                created_at: r.created_at.map(Timestamp),
            })
        })
        .boxed()
}

pub fn keys<'t>(tx: &'t mut Transaction<'_, Postgres>) -> BoxStream<'t, anyhow::Result<SourceKey>> {
    sqlx::query_as(KEYS_SQL)
        .fetch(&mut **tx)
        // The error text of a row never carries its values: sqlx reports column and type only.
        .map(|r: Result<KeyRow, sqlx::Error>| {
            let r = r.context("reading the source's api_tokens")?;
            Ok(SourceKey {
                id: r.id,
                token: SourceToken::new(r.token),
                user_id: r.user_id,
                scopes: r.scopes,
                name: r.name,
                created_at: r.created_at.map(Timestamp),
                last_used_at: r.last_used_at.map(Timestamp),
                expires_at: r.expires_at.map(Timestamp),
            })
        })
        .boxed()
}
