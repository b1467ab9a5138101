//! Fresh databases for tests, on both backends. Not a mock: a real SQLite file in a temp dir,
//! or a real database created on the PostgreSQL server at `VEXA_TEST_PG_URL`
//! (default `postgres://postgres@127.0.0.1:5432/test`). A test of the PostgreSQL backend fails —
//! never skips — when that server is unreachable. Suites run on both through
//! `vexa_testkit::on_both_backends!`, which calls [`TestDb::new`] once per [`Backend`].

use std::sync::atomic::{AtomicU64, Ordering};

use sqlx::Connection;

use crate::{Backend, ConnectOptions, Db};

/// Base URL of the PostgreSQL server used by tests.
pub fn pg_admin_url() -> String {
    std::env::var("VEXA_TEST_PG_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into())
}

/// A database that exists for one test. SQLite files are removed when dropped; PostgreSQL
/// databases are left behind with a unique name (dropping needs an async context) and are
/// cleaned up by [`TestDb::postgres`] on later runs when older than an hour.
pub struct TestDb {
    /// The URL the database was opened with (for a second pool or a child process).
    pub url: String,
    pub db: Db,
    _dir: Option<tempfile::TempDir>,
}

static COUNTER: AtomicU64 = AtomicU64::new(0);

impl TestDb {
    /// A fresh database on `backend`.
    pub async fn new(backend: Backend) -> TestDb {
        match backend {
            Backend::Sqlite => TestDb::sqlite().await,
            Backend::Postgres => TestDb::postgres().await,
        }
    }

    /// A fresh SQLite file in its own temp dir.
    pub async fn sqlite() -> TestDb {
        let dir = tempfile::tempdir().expect("temp dir");
        let url = format!("sqlite://{}", dir.path().join("vexa.db").display());
        let db = Db::connect(&url, &ConnectOptions::default())
            .await
            .expect("open sqlite");
        TestDb {
            url,
            db,
            _dir: Some(dir),
        }
    }

    /// A fresh database on the PostgreSQL server at [`pg_admin_url`]; panics when it is down.
    pub async fn postgres() -> TestDb {
        let admin = pg_admin_url();
        let mut conn = sqlx::PgConnection::connect(&admin)
            .await
            .unwrap_or_else(|e| panic!("PostgreSQL at {admin} is required for this test: {e}"));
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        drop_stale(&mut conn, now).await;
        let name = format!(
            "vexa_t_{}_{}_{}",
            now,
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        );
        sqlx::query(&format!("CREATE DATABASE {name}"))
            .execute(&mut conn)
            .await
            .expect("create test database");
        let url = replace_db_name(&admin, &name);
        let db = Db::connect(&url, &ConnectOptions::default())
            .await
            .expect("open postgres");
        TestDb {
            url,
            db,
            _dir: None,
        }
    }
}

fn replace_db_name(url: &str, name: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (url, None),
    };
    let base = match base.rfind('/') {
        Some(i) if i > "postgres://".len() => &base[..i],
        _ => base,
    };
    match query {
        Some(q) => format!("{base}/{name}?{q}"),
        None => format!("{base}/{name}"),
    }
}

async fn drop_stale(conn: &mut sqlx::PgConnection, now: u64) {
    let names: Vec<(String,)> =
        sqlx::query_as("SELECT datname FROM pg_database WHERE datname LIKE 'vexa_t_%'")
            .fetch_all(&mut *conn)
            .await
            .unwrap_or_default();
    for (name,) in names {
        let created = name
            .split('_')
            .nth(2)
            .and_then(|s| s.parse::<u64>().ok())
            .unwrap_or(now);
        if now.saturating_sub(created) > 3600 {
            let _ = sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                .execute(&mut *conn)
                .await;
        }
    }
}

/// What an attacker with write access to the database might do to the audit log, for the
/// tests that show `vexa audit verify` catches it. Outside tests nothing changes or deletes an
/// entry.
pub mod tamper {
    use crate::{map_err, with_pool, Db};
    use vexa_core::StoreError;

    /// Rewrites one entry's `changes` in place.
    pub async fn edit_changes(db: &Db, seq: i64, changes: &str) -> Result<u64, StoreError> {
        with_pool!(db, p => {
            let r = sqlx::query("UPDATE audit_log SET changes = $1 WHERE seq = $2")
                .bind(changes)
                .bind(seq)
                .execute(p)
                .await
                .map_err(map_err)?;
            Ok(r.rows_affected())
        })
    }

    /// Deletes one entry.
    pub async fn delete_entry(db: &Db, seq: i64) -> Result<u64, StoreError> {
        with_pool!(db, p => {
            let r = sqlx::query("DELETE FROM audit_log WHERE seq = $1")
                .bind(seq)
                .execute(p)
                .await
                .map_err(map_err)?;
            Ok(r.rows_affected())
        })
    }
}
