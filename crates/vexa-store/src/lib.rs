//! Storage for vexa on SQLite (embedded default) and PostgreSQL (shared, for replicas).
//!
//! Both backends run the same SQL text through [`with_pool!`], which expands one block once per
//! backend with a concretely typed pool. SQL is written in the subset both accept: `$N`
//! placeholders in ascending order, `RETURNING`, `ON CONFLICT`, integer epoch-millisecond times,
//! JSON as text. Schema differences live only in the per-backend migrations.

use std::str::FromStr;
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use vexa_core::StoreError;

mod audited;
mod chain;
pub mod identity;
pub mod import;
pub mod meetings;
mod migrate;
mod replicas;
#[cfg(feature = "testing")]
pub mod testing;
pub mod watch;

/// Which database a URL names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    pub fn of_url(url: &str) -> Option<Backend> {
        if url.starts_with("sqlite:") {
            Some(Backend::Sqlite)
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Some(Backend::Postgres)
        } else {
            None
        }
    }
}

/// A connection pool to either backend. Cheap to clone.
#[derive(Debug, Clone)]
pub enum Db {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

/// Runs `$body` with `$pool` bound to the concrete pool of whichever backend `$db` is.
#[macro_export]
macro_rules! with_pool {
    ($db:expr, $pool:ident => $body:expr) => {
        match $db {
            $crate::Db::Sqlite($pool) => $body,
            $crate::Db::Postgres($pool) => $body,
        }
    };
}

/// Options for opening a store.
#[derive(Debug, Clone)]
pub struct ConnectOptions {
    pub max_connections: u32,
    pub acquire_timeout: Duration,
}

impl Default for ConnectOptions {
    fn default() -> Self {
        ConnectOptions {
            max_connections: 16,
            acquire_timeout: Duration::from_secs(3),
        }
    }
}

impl Db {
    /// Opens the database named by `url` and applies pending migrations.
    ///
    /// SQLite runs in WAL mode with `synchronous=FULL`, so a write that returned is on disk and
    /// survives `kill -9` and power loss alike; the parent directory is created if missing.
    pub async fn connect(url: &str, opts: &ConnectOptions) -> Result<Db, StoreError> {
        let db = match Backend::of_url(url) {
            Some(Backend::Sqlite) => {
                ensure_parent_dir(url);
                let co = SqliteConnectOptions::from_str(url)
                    .map_err(|e| StoreError::Other(format!("bad DATABASE_URL: {e}")))?
                    .create_if_missing(true)
                    .journal_mode(SqliteJournalMode::Wal)
                    .synchronous(SqliteSynchronous::Full)
                    .busy_timeout(Duration::from_secs(10))
                    .foreign_keys(true);
                // Switching a fresh file to WAL needs an exclusive lock and SQLite answers BUSY
                // at once (no busy wait) when another process is doing the same: retry briefly.
                let mut attempt = 0;
                let pool = loop {
                    match SqlitePoolOptions::new()
                        .max_connections(opts.max_connections)
                        .acquire_timeout(opts.acquire_timeout)
                        .connect_with(co.clone())
                        .await
                    {
                        Ok(pool) => break pool,
                        Err(e) if is_locked(&e) && attempt < 50 => {
                            attempt += 1;
                            tokio::time::sleep(Duration::from_millis(20 + 10 * attempt)).await;
                        }
                        Err(e) => return Err(unavailable(e)),
                    }
                };
                Db::Sqlite(pool)
            }
            Some(Backend::Postgres) => {
                let co = PgConnectOptions::from_str(url)
                    .map_err(|e| StoreError::Other(format!("bad DATABASE_URL: {e}")))?;
                let pool = PgPoolOptions::new()
                    .max_connections(opts.max_connections)
                    .acquire_timeout(opts.acquire_timeout)
                    .connect_with(co)
                    .await
                    .map_err(unavailable)?;
                Db::Postgres(pool)
            }
            None => {
                return Err(StoreError::Other(
                    "DATABASE_URL must start with sqlite: or postgres://".into(),
                ))
            }
        };
        db.migrate().await?;
        Ok(db)
    }

    pub fn backend(&self) -> Backend {
        match self {
            Db::Sqlite(_) => Backend::Sqlite,
            Db::Postgres(_) => Backend::Postgres,
        }
    }

    async fn migrate(&self) -> Result<(), StoreError> {
        migrate::run(self)
            .await
            .map_err(|e| StoreError::Other(format!("migration failed: {e}")))
    }

    /// Closes every connection (on shutdown).
    pub async fn close(&self) {
        with_pool!(self, p => p.close().await)
    }
}

fn ensure_parent_dir(url: &str) {
    let path = url
        .trim_start_matches("sqlite://")
        .trim_start_matches("sqlite:")
        .split('?')
        .next()
        .unwrap_or("");
    if path.is_empty() || path == ":memory:" {
        return;
    }
    if let Some(parent) = std::path::Path::new(path).parent() {
        if !parent.as_os_str().is_empty() {
            let _ = std::fs::create_dir_all(parent);
        }
    }
}

/// Maps a sqlx error to the port's error: connection trouble is `Unavailable` (retryable).
pub fn map_err(e: sqlx::Error) -> StoreError {
    match e {
        sqlx::Error::Io(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed
        | sqlx::Error::Tls(_) => unavailable(e),
        sqlx::Error::RowNotFound => StoreError::NotFound,
        sqlx::Error::Database(d) if d.is_unique_violation() => {
            StoreError::Conflict(d.message().to_owned())
        }
        sqlx::Error::Database(d) if d.is_foreign_key_violation() => StoreError::NotFound,
        other => StoreError::Other(other.to_string()),
    }
}

/// SQLITE_BUSY (5) or SQLITE_LOCKED (6).
fn is_locked(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::Database(d) => matches!(d.code().as_deref(), Some("5") | Some("6")),
        _ => false,
    }
}

fn unavailable(e: sqlx::Error) -> StoreError {
    StoreError::Unavailable(e.to_string())
}

/// Wall-clock epoch milliseconds, for bookkeeping columns (migration and event times) that are
/// informational; ordering never depends on them.
pub(crate) fn now_millis() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}
