//! Seeds users and keys straight into the real schema (the migrations of vexa-store), in large
//! multi-row inserts, for the scale runs. Only digests are stored, as the product does; the
//! plaintexts of a spread-out sample are returned so requests can be made with them.

use anyhow::Context;
use rand::rngs::StdRng;
use rand::SeedableRng;
use vexa_core::{MintedKey, Scope};
use vexa_store::Db;

const ROWS_PER_INSERT: usize = 1000;
const INSERTS_PER_TX: usize = 50;

/// Inserts `keys` keys (scope `browser`) spread over users of `keys_per_user` keys each, and
/// returns the plaintexts of `keep` of them, evenly spread over the whole range.
pub async fn seed_keys(
    db: &Db,
    keys: usize,
    keys_per_user: usize,
    keep: usize,
    seed: u64,
) -> anyhow::Result<Vec<String>> {
    let keys_per_user = keys_per_user.max(1);
    let users = keys.div_ceil(keys_per_user).max(1);
    // Users first; their ids are read back so the keys reference real rows.
    insert_users(db, users).await?;
    let user_ids = read_user_ids(db).await?;
    anyhow::ensure!(
        user_ids.len() >= users,
        "expected {users} users, found {}",
        user_ids.len()
    );
    let mut minter = KeyMinter {
        user_ids,
        keys_per_user,
        rng: StdRng::seed_from_u64(seed),
        stride: keys.checked_div(keep).map_or(usize::MAX, |s| s.max(1)),
        keep,
        kept: Vec::with_capacity(keep),
    };
    let mut produced = 0usize;
    while produced < keys {
        produced = insert_keys(db, &mut minter, produced, keys).await?;
    }
    // Fresh statistics, as a long-running database would have.
    vexa_store::with_pool!(db, pool => {
        sqlx::query("ANALYZE").execute(pool).await.context("analyze")?;
    });
    Ok(minter.kept)
}

/// Epoch ms stamped on every seeded row.
const SEEDED_AT: i64 = 1_760_000_000_000;

/// `users` users `bench-<i>@vexa.local`, in one transaction.
async fn insert_users(db: &Db, users: usize) -> anyhow::Result<()> {
    let emails: Vec<String> = (0..users)
        .map(|i| format!("bench-{i}@vexa.local"))
        .collect();
    vexa_store::with_pool!(db, pool => {
        let mut tx = pool.begin().await.context("begin")?;
        for chunk in emails.chunks(ROWS_PER_INSERT) {
            let mut qb = sqlx::QueryBuilder::new(
                "INSERT INTO users (email, email_lower, max_concurrent_bots, data, created_at) ",
            );
            qb.push_values(chunk, |mut b, email| {
                b.push_bind(email.clone())
                    .push_bind(email.clone())
                    .push_bind(3i64)
                    .push_bind("{}")
                    .push_bind(SEEDED_AT);
            });
            qb.build().execute(&mut *tx).await.context("insert users")?;
        }
        tx.commit().await.context("commit users")?;
    });
    Ok(())
}

/// The ids of the seeded users, ascending.
async fn read_user_ids(db: &Db) -> anyhow::Result<Vec<i64>> {
    Ok(vexa_store::with_pool!(db, pool => {
        sqlx::query_scalar("SELECT id FROM users WHERE email_lower LIKE 'bench-%@vexa.local' ORDER BY id")
            .fetch_all(pool)
            .await
            .context("read user ids")?
    }))
}

/// Mints the keys, in order: key `i` belongs to user `i / keys_per_user`, and every
/// `stride`-th plaintext is kept (up to `keep`).
struct KeyMinter {
    user_ids: Vec<i64>,
    keys_per_user: usize,
    rng: StdRng,
    stride: usize,
    keep: usize,
    kept: Vec<String>,
}

impl KeyMinter {
    /// (user id, digest hex, display prefix) of keys `range`.
    fn rows(&mut self, range: std::ops::Range<usize>) -> Vec<(i64, String, String)> {
        let mut rows = Vec::with_capacity(range.len());
        for i in range {
            let minted = MintedKey::generate_with(Scope::Browser, &mut self.rng);
            if i % self.stride == 0 && self.kept.len() < self.keep {
                self.kept.push(minted.expose_secret().to_owned());
            }
            rows.push((
                self.user_ids[i / self.keys_per_user],
                minted.digest.to_hex(),
                minted.display_prefix.clone(),
            ));
        }
        rows
    }
}

/// One transaction of up to `INSERTS_PER_TX` multi-row inserts, continuing after key
/// `produced`; returns how many keys exist afterwards.
async fn insert_keys(
    db: &Db,
    minter: &mut KeyMinter,
    mut produced: usize,
    keys: usize,
) -> anyhow::Result<usize> {
    vexa_store::with_pool!(db, pool => {
        let mut tx = pool.begin().await.context("begin")?;
        for _ in 0..INSERTS_PER_TX {
            if produced >= keys {
                break;
            }
            let n = ROWS_PER_INSERT.min(keys - produced);
            let rows = minter.rows(produced..produced + n);
            produced += n;
            let mut qb = sqlx::QueryBuilder::new(
                "INSERT INTO api_keys (user_id, digest, prefix, scopes, created_at) ",
            );
            qb.push_values(rows, |mut b, (user, digest, prefix)| {
                b.push_bind(user)
                    .push_bind(digest)
                    .push_bind(prefix)
                    .push_bind("browser")
                    .push_bind(SEEDED_AT);
            });
            qb.build().execute(&mut *tx).await.context("insert keys")?;
        }
        tx.commit().await.context("commit keys")?;
    });
    Ok(produced)
}
