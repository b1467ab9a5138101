//! The import run of `make bench`: `vexa import vexa` of an original Vexa database with N keys
//! (default 100k) into a fresh SQLite and a fresh PostgreSQL store, by the real binary, timed end
//! to end (process start to exit). The source is a scratch PostgreSQL database with the
//! original's schema (reference §5), its tokens in the original's `vxa_<scope>_…` shape.

use std::path::Path;
use std::process::Command;
use std::time::Instant;

use anyhow::{ensure, Context};
use serde_json::{json, Value};
use sqlx::Executor;

use crate::scale::ScaleArgs;
use crate::stack;

const ORIGINAL_SCHEMA: &str = "
CREATE TABLE users (
  id SERIAL PRIMARY KEY, email VARCHAR(255) NOT NULL UNIQUE, name VARCHAR(100),
  image_url TEXT, created_at TIMESTAMP DEFAULT now(),
  max_concurrent_bots INTEGER NOT NULL DEFAULT 3, data JSONB NOT NULL DEFAULT '{}'::jsonb);
CREATE TABLE api_tokens (
  id SERIAL PRIMARY KEY, token VARCHAR(255) NOT NULL UNIQUE,
  user_id INTEGER NOT NULL REFERENCES users(id), scopes TEXT[] NOT NULL DEFAULT '{}'::text[],
  name VARCHAR(255), created_at TIMESTAMP DEFAULT now(), last_used_at TIMESTAMP,
  expires_at TIMESTAMP);";

const SOURCE_DB: &str = "vexa_bench_import_src";

/// Fills the source, imports it into each backend once, and returns the rows for `scale.json`.
pub async fn run(args: &ScaleArgs) -> anyhow::Result<Value> {
    let keys = args.import_keys;
    let users = (keys / 100).max(1);
    let src_url = stack::fresh_pg_database(&args.pg_url, SOURCE_DB).await?;
    let src = sqlx::postgres::PgPoolOptions::new()
        .max_connections(1)
        .connect(&src_url)
        .await
        .context("connect to the import source")?;
    src.execute(ORIGINAL_SCHEMA)
        .await
        .context("original schema")?;
    src.execute(
        format!(
            "INSERT INTO users (id, email) SELECT g, 'u' || g || '@acme.com' FROM generate_series(1, {users}) g;
             INSERT INTO api_tokens (id, token, user_id, scopes)
               SELECT g, 'vxa_bot_' || md5(g::text), 1 + g % {users}, '{{bot,tx}}' FROM generate_series(1, {keys}) g;"
        )
        .as_str(),
    )
    .await
    .context("fill the import source")?;
    src.close().await;

    let mut rows = Vec::new();
    for backend in ["sqlite", "postgres"] {
        let target = crate::scale::database(args, backend, &format!("import_{backend}")).await?;
        let dir = args.work.join(format!("import_{backend}_data"));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir)?;
        let started = Instant::now();
        let out = import(&args.vexa, &dir, &target, &src_url)?;
        let seconds = started.elapsed().as_secs_f64();
        ensure!(
            out.contains(&format!("keys: {keys} copied")),
            "import into {backend} did not copy {keys} keys:\n{out}"
        );
        eprintln!(
            "[scale]   import into {backend}: {keys} keys in {seconds:.2} s ({:.0} keys/s)",
            keys as f64 / seconds
        );
        rows.push(json!({
            "backend": backend,
            "users": users,
            "keys": keys,
            "seconds": seconds,
            "keys_per_second": keys as f64 / seconds,
        }));
        if backend == "postgres" {
            stack::drop_pg_database(&args.pg_url, &format!("import_{backend}")).await;
        }
    }
    stack::drop_pg_database(&args.pg_url, SOURCE_DB).await;
    Ok(json!(rows))
}

/// `vexa import vexa --from SRC` with `DATABASE_URL=target`, in `dir`; its stdout + stderr.
fn import(vexa: &Path, dir: &Path, target: &str, src: &str) -> anyhow::Result<String> {
    let mut cmd = Command::new(vexa);
    cmd.args(["import", "vexa", "--from", src])
        .current_dir(dir)
        .env_clear();
    for key in ["PATH", "HOME"] {
        if let Ok(v) = std::env::var(key) {
            cmd.env(key, v);
        }
    }
    let out = cmd
        .env("DATABASE_URL", target)
        .env("DATA_DIR", dir)
        .output()
        .with_context(|| format!("run {} import vexa", vexa.display()))?;
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    ensure!(out.status.success(), "vexa import vexa failed:\n{text}");
    Ok(text)
}
