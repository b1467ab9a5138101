//! `vexa import vexa`: a scratch PostgreSQL database with the original Vexa's schema
//! (reference §5), filled as the original fills it, imported into both backends by the real
//! binary. Checks ids, digests, scopes (scope-less legacy rows = full scope), skips, expiry
//! carried over, sequences continuing after imported ids, a converging second run, `--dry-run`,
//! and that no plaintext token lands on disk or in the command's output; then, through the live
//! stack (`vexa up`), imported keys at the gateway and our `/internal/validate` compared with
//! what the original answers for the same rows.

use sqlx::postgres::PgPoolOptions;
use sqlx::{Executor, PgPool};
use vexa_core::{Email, IdentityStore, KeyDigest, NewUser, Timestamp};
use vexa_store::identity::SqlIdentityStore;
use vexa_store::{ConnectOptions, Db};
use vexa_testkit::stack::{database_url, StackEnv};
use vexa_testkit::{on_both_backends, Backend};

use crate::support::VEXA;

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

/// A scratch database on the test server, dropped by [`Scratch::drop_db`].
struct Scratch {
    admin: PgPool,
    name: String,
    url: String,
    pool: PgPool,
}

fn pg_base() -> String {
    std::env::var("VEXA_TEST_PG_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into())
}

async fn scratch() -> Scratch {
    let base = pg_base();
    let admin = PgPoolOptions::new()
        .max_connections(1)
        .connect(&base)
        .await
        .expect("pg");
    let name = format!("vexa_import_src_{:016x}", rand::random::<u64>());
    admin
        .execute(format!("CREATE DATABASE {name}").as_str())
        .await
        .expect("create db");
    let url = match base.rfind('/') {
        Some(i) => format!("{}/{name}", &base[..i]),
        None => panic!("bad VEXA_TEST_PG_URL"),
    };
    let pool = PgPoolOptions::new()
        .max_connections(2)
        .connect(&url)
        .await
        .expect("src");
    pool.execute(ORIGINAL_SCHEMA).await.expect("schema");
    Scratch {
        admin,
        name,
        url,
        pool,
    }
}

impl Scratch {
    async fn drop_db(self) {
        self.pool.close().await;
        let _ = self
            .admin
            .execute(format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name).as_str())
            .await;
    }
}

/// A token as the original's admin API makes one: `vxa_<scope>_` + 32 base62 characters.
fn original_token(scope: &str) -> String {
    use rand::distributions::{Alphanumeric, DistString};
    format!(
        "vxa_{scope}_{}",
        Alphanumeric.sample_string(&mut rand::thread_rng(), 32)
    )
}

struct Fixture {
    /// (token, key id, user id, scopes csv here)
    live: Vec<(String, i64, i64, &'static str)>,
    expired: String,
    skipped_unknown_scope: String,
    colliding_user_token: String,
}

async fn fill(src: &PgPool) -> Fixture {
    src.execute(
        "INSERT INTO users (id, email, name, max_concurrent_bots, data) VALUES
         (1, 'jane@acme.com', 'Jane', 5, '{\"webhook_url\":\"https://hooks.acme.com/v\",\"webhook_secret\":\"whsec_1\",\"webhook_events\":{\"meeting.completed\":true}}'),
         (2, 'Bob@Acme.com', 'Bob', 3, '{}'),
         (7, 'bob@acme.com', 'Bob again', 3, '{}');
         SELECT setval('users_id_seq', 7);",
    )
    .await
    .expect("users");
    let mut live = Vec::new();
    let bot_tx = original_token("bot");
    let tx = original_token("tx");
    let legacy = format!("legacy-{}", original_token("x"));
    let expired = original_token("bot");
    let unknown = original_token("bot");
    let colliding = original_token("bot");
    let rows: [(i64, &str, i64, &str, &str); 6] = [
        (10, &bot_tx, 1, "{bot,tx}", "NULL"),
        (11, &tx, 2, "{tx}", "NULL"),
        (12, &legacy, 2, "{}", "NULL"),
        (13, &expired, 1, "{bot}", "now() - interval '1 hour'"),
        (14, &unknown, 1, "{bot,superadmin}", "NULL"),
        (15, &colliding, 7, "{bot}", "NULL"),
    ];
    for (id, token, user, scopes, exp) in rows {
        sqlx::query(&format!(
            "INSERT INTO api_tokens (id, token, user_id, scopes, name, expires_at) \
             VALUES ($1, $2, $3, '{scopes}', 'ci', {exp})"
        ))
        .bind(id as i32)
        .bind(token)
        .bind(user as i32)
        .execute(src)
        .await
        .expect("token");
    }
    live.push((bot_tx, 10, 1, "bot,tx"));
    live.push((tx, 11, 2, "tx"));
    live.push((legacy, 12, 2, "bot,tx,browser"));
    Fixture {
        live,
        expired,
        skipped_unknown_scope: unknown,
        colliding_user_token: colliding,
    }
}

async fn our_store(url: &str) -> SqlIdentityStore {
    let db = Db::connect(url, &ConnectOptions::default())
        .await
        .expect("our db");
    SqlIdentityStore::new(db)
}

fn import(env: &StackEnv, from: &str, extra: &[&str]) -> String {
    let mut args = vec!["import", "vexa", "--from", from];
    args.extend_from_slice(extra);
    let out = env.run(&args);
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "import failed: {stdout}\n{stderr}");
    format!("{stdout}{stderr}")
}

fn files_contain(dir: &std::path::Path, needle: &str) -> Vec<String> {
    let mut hits = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if let Ok(bytes) = std::fs::read(&p) {
                if bytes.windows(needle.len()).any(|w| w == needle.as_bytes()) {
                    hits.push(p.display().to_string());
                }
            }
        }
    }
    hits
}

async fn an_original_database_imports_losslessly_and_converges(backend: Backend) {
    let src = scratch().await;
    let fx = fill(&src.pool).await;
    let dir = tempfile::tempdir().expect("tmp");
    let url = database_url(backend, dir.path()).await;
    let env = StackEnv::new(VEXA, dir.path(), &url);

    let dry = import(&env, &src.url, &["--dry-run"]);
    assert!(dry.contains("dry run"), "{dry}");
    assert!(dry.contains("keys: 4 would be copied"), "{dry}");
    let store = our_store(&url).await;
    assert!(
        !store.holds_imported_keys().await.expect("probe"),
        "dry run wrote"
    );

    let out = import(&env, &src.url, &[]);
    assert!(out.contains("users: 2 copied"), "{out}");
    assert!(out.contains("keys: 4 copied"), "{out}");
    assert!(
        out.contains("skipped user 7: email collides case-insensitively with user 2"),
        "{out}"
    );
    assert!(
        out.contains("skipped key 14: unknown scope(s): [\"superadmin\"]"),
        "{out}"
    );
    assert!(
        out.contains("skipped key 15: key for a missing or skipped user"),
        "{out}"
    );
    assert!(store.holds_imported_keys().await.expect("probe"));

    for (token, id, user, scopes) in &fx.live {
        let p = store
            .resolve_key(&KeyDigest::of(token))
            .await
            .expect("resolve")
            .unwrap_or_else(|| panic!("key {id} not imported"));
        assert_eq!(
            (p.key_id.0, p.user_id.0, p.scopes.to_csv().as_str()),
            (*id, *user, *scopes)
        );
        assert!(!p.is_expired_at(vexa_core::Clock::now(&vexa_core::SystemClock)));
    }
    let exp = store
        .resolve_key(&KeyDigest::of(&fx.expired))
        .await
        .expect("r")
        .expect("expired row kept");
    assert!(
        exp.is_expired_at(vexa_core::Clock::now(&vexa_core::SystemClock)),
        "expiry carried over"
    );
    for t in [&fx.skipped_unknown_scope, &fx.colliding_user_token] {
        assert!(store
            .resolve_key(&KeyDigest::of(t))
            .await
            .expect("r")
            .is_none());
    }
    let jane = store
        .user(vexa_core::UserId(1))
        .await
        .expect("u")
        .expect("jane");
    assert_eq!(jane.data["webhook_url"], "https://hooks.acme.com/v");
    assert_eq!(jane.max_concurrent_bots, 5);

    // Our sequences continue after the imported ids.
    let (fresh, created) = store
        .create_or_find_user(
            &NewUser {
                email: Email::parse("new@acme.com").expect("email"),
                name: None,
                image_url: None,
                max_concurrent_bots: 3,
            },
            Timestamp(0),
        )
        .await
        .expect("create");
    assert!(
        created && fresh.id.0 > 2,
        "new user id {} collides",
        fresh.id.0
    );

    // Changes at the source: one key deleted, one added, a user's limit raised.
    let added = original_token("browser");
    sqlx::query("DELETE FROM api_tokens WHERE id = 11")
        .execute(&src.pool)
        .await
        .expect("del");
    sqlx::query(
        "INSERT INTO api_tokens (id, token, user_id, scopes) VALUES (20, $1, 1, '{browser}')",
    )
    .bind(&added)
    .execute(&src.pool)
    .await
    .expect("add");
    sqlx::query("UPDATE users SET max_concurrent_bots = 9 WHERE id = 2")
        .execute(&src.pool)
        .await
        .expect("upd");
    let again = import(&env, &src.url, &[]);
    assert!(
        again.contains("users: 0 copied, 1 updated, 1 unchanged"),
        "{again}"
    );
    assert!(
        again.contains("keys: 1 copied, 0 updated, 3 unchanged, 1 revoked"),
        "{again}"
    );
    assert!(
        store
            .resolve_key(&KeyDigest::of(&fx.live[1].0))
            .await
            .expect("r")
            .is_none(),
        "deleted key revoked"
    );
    assert!(store
        .resolve_key(&KeyDigest::of(&added))
        .await
        .expect("r")
        .is_some());
    let third = import(&env, &src.url, &[]);
    assert!(
        third.contains("keys: 0 copied, 0 updated, 4 unchanged, 0 revoked"),
        "{third}"
    );

    // No plaintext token anywhere: not in the command output, not on disk (db, WAL, logs).
    let all: Vec<&String> = fx
        .live
        .iter()
        .map(|l| &l.0)
        .chain([&fx.expired, &added])
        .collect();
    store_close(store).await;
    for t in all {
        for out in [&dry, &out, &again, &third] {
            assert!(!out.contains(t.as_str()), "token in the import output");
        }
        assert!(files_contain(dir.path(), t).is_empty(), "token on disk");
    }
    src.drop_db().await;
}

async fn audit_entries(store: &SqlIdentityStore) -> Vec<vexa_core::audit::AuditEntry> {
    vexa_core::AuditedStore::audit_entries_from(store, 0, 10_000)
        .await
        .expect("audit entries")
}

async fn store_close(store: SqlIdentityStore) {
    drop(store);
}

/// What the original's `POST /internal/validate` answers for `token` over the SOURCE rows
/// (reference §1.4 and §2.3, as its admin-api code does it): no row → 401 "Invalid token";
/// `expires_at < now` → 401 "Token expired"; else the user's id, scopes (a scope-less row as the
/// `{bot,tx,browser}` MIGRATION-0004 backfills on every boot), max_concurrent, email,
/// `is_admin`, and the webhook fields when `webhook_url` is set.
async fn original_answer(src: &PgPool, token: &str) -> (u16, serde_json::Value) {
    use serde_json::{json, Value};
    let row: Option<(i32, Vec<String>, bool, i32, String, Value)> = sqlx::query_as(
        "SELECT u.id, t.scopes, COALESCE(t.expires_at < (now() AT TIME ZONE 'utc'), false), \
         u.max_concurrent_bots, u.email, u.data \
         FROM api_tokens t JOIN users u ON u.id = t.user_id WHERE t.token = $1",
    )
    .bind(token)
    .fetch_optional(src)
    .await
    .expect("source lookup");
    let Some((id, scopes, expired, max, email, data)) = row else {
        return (401, json!({"detail": "Invalid token"}));
    };
    if expired {
        return (401, json!({"detail": "Token expired"}));
    }
    let scopes = if scopes.is_empty() {
        vec!["bot".to_owned(), "tx".to_owned(), "browser".to_owned()]
    } else {
        scopes
    };
    let mut answer = json!({"user_id": id, "scopes": scopes, "max_concurrent": max,
                            "email": email, "is_admin": data["is_admin"] == Value::Bool(true)});
    if let Some(url) = data.get("webhook_url").filter(|v| !v.is_null()) {
        answer["webhook_url"] = url.clone();
        for k in ["webhook_secret", "webhook_events"] {
            if let Some(v) = data.get(k).filter(|v| !v.is_null()) {
                answer[k] = v.clone();
            }
        }
    }
    (200, answer)
}

/// `POST /internal/validate` on our admin API: (status, body).
async fn our_answer(env: &StackEnv, token: &str) -> (u16, serde_json::Value) {
    let r = reqwest::Client::new()
        .post(format!("{}/internal/validate", env.admin()))
        .header("X-Internal-Secret", vexa_testkit::INTERNAL_SECRET)
        .json(&serde_json::json!({ "token": token }))
        .send()
        .await
        .expect("validate");
    (r.status().as_u16(), r.json().await.expect("json"))
}

/// `GET /auth/me` through the live gateway: (status, body).
async fn auth_me(env: &StackEnv, key: &str) -> (u16, serde_json::Value) {
    let r = reqwest::Client::new()
        .get(format!("{}/auth/me", env.gateway()))
        .header("X-API-Key", key)
        .send()
        .await
        .expect("auth/me");
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or_default())
}

/// Through the real stack (`vexa up`) after `vexa import vexa`: every live imported key
/// authenticates at the gateway as the same user with the same scopes; expired, skipped and
/// deleted-at-source keys do not; a re-import while the stack runs converges (a deleted key
/// stops, a new one works); our `/internal/validate` answers what the original would for the
/// same rows; and no plaintext is left in the data dir (database, WAL, logs) or our tables.
async fn imported_keys_work_through_the_live_gateway_and_validate_as_the_original(
    backend: Backend,
) {
    use vexa_testkit::stack::{sigterm, start_up};
    let src = scratch().await;
    let fx = fill(&src.pool).await;
    let dir = tempfile::tempdir().expect("tmp");
    let url = database_url(backend, dir.path()).await;
    let env = StackEnv::new(VEXA, dir.path(), &url);
    let first = import(&env, &src.url, &[]);
    let mut up = start_up(&env).await;

    for (token, key_id, user, scopes) in &fx.live {
        let (status, me) = auth_me(&env, token).await;
        assert_eq!(status, 200, "key {key_id}: {me}");
        assert_eq!(
            (me["user_id"].as_i64(), me["key_id"].as_i64()),
            (Some(*user), Some(*key_id))
        );
        let got: Vec<&str> = me["scopes"]
            .as_array()
            .expect("scopes")
            .iter()
            .filter_map(|s| s.as_str())
            .collect();
        assert_eq!(got.join(","), *scopes, "key {key_id}");
    }
    for t in [
        &fx.expired,
        &fx.skipped_unknown_scope,
        &fx.colliding_user_token,
    ] {
        assert_eq!(auth_me(&env, t).await.0, 401);
    }
    // Our /internal/validate against the original's rules over the same source rows.
    let mut compared: Vec<&String> = fx.live.iter().map(|l| &l.0).collect();
    compared.push(&fx.expired);
    for t in &compared {
        assert_eq!(
            our_answer(&env, t).await,
            original_answer(&src.pool, t).await
        );
    }

    // Changes at the source while the stack serves: key 11 deleted, key 20 added; re-import.
    let added = original_token("tx");
    sqlx::query("DELETE FROM api_tokens WHERE id = 11")
        .execute(&src.pool)
        .await
        .expect("del");
    sqlx::query("INSERT INTO api_tokens (id, token, user_id, scopes) VALUES (20, $1, 1, '{tx}')")
        .bind(&added)
        .execute(&src.pool)
        .await
        .expect("add");
    let second = import(&env, &src.url, &[]);
    assert!(
        second.contains("1 copied") && second.contains("1 revoked"),
        "{second}"
    );
    let deleted = &fx.live[1].0;
    let mut stopped = false;
    for _ in 0..100 {
        if auth_me(&env, deleted).await.0 == 401 {
            stopped = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(stopped, "a key deleted at the source still authenticates");
    let (status, me) = auth_me(&env, &added).await;
    assert_eq!((status, me["key_id"].as_i64()), (200, Some(20)), "{me}");
    for t in [deleted, &added] {
        assert_eq!(
            our_answer(&env, t).await,
            original_answer(&src.pool, t).await
        );
    }

    sigterm(&mut up, "up", "").await;
    let mut plaintexts: Vec<&String> = fx.live.iter().map(|l| &l.0).collect();
    plaintexts.extend([
        &fx.expired,
        &fx.skipped_unknown_scope,
        &fx.colliding_user_token,
        &added,
    ]);
    let store = our_store(&url).await;
    let dump = store_dump(&url).await;
    store_close(store).await;
    for t in plaintexts {
        assert!(
            !first.contains(t.as_str()) && !second.contains(t.as_str()),
            "token in output"
        );
        assert!(files_contain(dir.path(), t).is_empty(), "token on disk");
        assert!(!dump.contains(t.as_str()), "token in our tables");
    }
    src.drop_db().await;
}

/// Every row of our identity tables as text (for PostgreSQL, whose files are not ours to read).
async fn store_dump(url: &str) -> String {
    let db = Db::connect(url, &ConnectOptions::default())
        .await
        .expect("db");
    let mut out = String::new();
    for table in ["users", "api_keys", "identity_events"] {
        let q = format!("SELECT * FROM {table}");
        match &db {
            Db::Sqlite(p) => {
                use sqlx::Row;
                for row in sqlx::query(&q).fetch_all(p).await.expect("dump") {
                    for i in 0..row.columns().len() {
                        let v: Option<String> = row.try_get::<Option<String>, _>(i).ok().flatten();
                        out.push_str(&v.unwrap_or_default());
                        out.push('\n');
                    }
                }
            }
            Db::Postgres(p) => {
                let rows: Vec<(String,)> =
                    sqlx::query_as(&format!("SELECT t::text FROM {table} t"))
                        .fetch_all(p)
                        .await
                        .expect("dump");
                for (r,) in rows {
                    out.push_str(&r);
                    out.push('\n');
                }
            }
        }
    }
    out
}

/// A source larger than one batch: 2,500 keys with `--batch-size 500` cross five write batches,
/// with one progress line per batch (stderr is not a terminal here), and a re-run changes
/// nothing. The 100k-key rate is measured by `make bench` (`vexa-bench scale --only import`).
async fn a_source_of_several_batches_imports_fully_with_progress_lines(backend: Backend) {
    let src = scratch().await;
    src.pool
        .execute(
            "INSERT INTO users (id, email) SELECT g, 'u' || g || '@acme.com' FROM generate_series(1, 50) g;
             INSERT INTO api_tokens (id, token, user_id, scopes)
               SELECT g, 'vxa_bot_' || md5(g::text), 1 + g % 50, '{bot,tx}' FROM generate_series(1, 2500) g;",
        )
        .await
        .expect("fill");
    let dir = tempfile::tempdir().expect("tmp");
    let url = database_url(backend, dir.path()).await;
    let env = StackEnv::new(VEXA, dir.path(), &url);
    let out = import(&env, &src.url, &["--batch-size", "500"]);
    assert!(out.contains("users: 50 copied"), "{out}");
    assert!(out.contains("keys: 2500 copied"), "{out}");
    for done in [500, 1000, 1500, 2000, 2500] {
        assert!(
            out.contains(&format!("vexa import: keys {done}/2500")),
            "no progress line at {done}: {out}"
        );
    }
    let store = our_store(&url).await;
    let p = store
        .resolve_key(&KeyDigest::of("vxa_bot_c4ca4238a0b923820dcc509a6f75849b")) // md5('1')
        .await
        .expect("resolve")
        .expect("key 1 imported");
    assert_eq!((p.key_id.0, p.user_id.0), (1, 2));
    // One audit entry per committed batch, counts only, summing to what was copied.
    let entries = audit_entries(&store).await;
    assert!(!entries.is_empty());
    let (mut users, mut keys) = (0, 0);
    for e in &entries {
        assert_eq!((e.actor.as_str(), e.action.as_str()), ("import", "import"));
        let c: serde_json::Value = serde_json::from_str(&e.changes).expect("changes json");
        users += c["users_created"].as_i64().expect("users_created");
        keys += c["keys_created"].as_i64().expect("keys_created");
    }
    assert_eq!((users, keys), (50, 2500), "{backend:?}");
    let again = import(&env, &src.url, &["--batch-size", "500"]);
    assert!(
        again.contains("keys: 0 copied, 0 updated, 2500 unchanged, 0 revoked"),
        "{again}"
    );
    // A re-run that changes nothing records nothing, and the chain verifies.
    assert_eq!(audit_entries(&store).await.len(), entries.len());
    let verified = env.run(&["audit", "verify"]);
    assert_eq!(
        String::from_utf8_lossy(&verified.stdout).trim(),
        format!("audit chain ok: {} entries", entries.len())
    );
    src.drop_db().await;
}

on_both_backends!(
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    an_original_database_imports_losslessly_and_converges,
    a_source_of_several_batches_imports_fully_with_progress_lines,
    imported_keys_work_through_the_live_gateway_and_validate_as_the_original,
);
