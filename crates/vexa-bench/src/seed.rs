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
    let now: i64 = 1_760_000_000_000;
    // Users first; their ids are read back so the keys reference real rows.
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
                    .push_bind(now);
            });
            qb.build().execute(&mut *tx).await.context("insert users")?;
        }
        tx.commit().await.context("commit users")?;
    });
    let ids: Vec<i64> = vexa_store::with_pool!(db, pool => {
        sqlx::query_scalar("SELECT id FROM users WHERE email_lower LIKE 'bench-%@vexa.local' ORDER BY id")
            .fetch_all(pool)
            .await
            .context("read user ids")?
    });
    anyhow::ensure!(
        ids.len() >= users,
        "expected {users} users, found {}",
        ids.len()
    );

    let mut rng = StdRng::seed_from_u64(seed);
    let stride = keys.checked_div(keep).map_or(usize::MAX, |s| s.max(1));
    let mut kept = Vec::with_capacity(keep);
    let mut produced = 0usize;
    while produced < keys {
        vexa_store::with_pool!(db, pool => {
            let mut tx = pool.begin().await.context("begin")?;
            for _ in 0..INSERTS_PER_TX {
                if produced >= keys {
                    break;
                }
                let n = ROWS_PER_INSERT.min(keys - produced);
                let mut rows = Vec::with_capacity(n);
                for i in produced..produced + n {
                    let minted = MintedKey::generate_with(Scope::Browser, &mut rng);
                    if i % stride == 0 && kept.len() < keep {
                        kept.push(minted.expose_secret().to_owned());
                    }
                    rows.push((ids[i / keys_per_user], minted.digest.to_hex(), minted.display_prefix.clone()));
                }
                produced += n;
                let mut qb = sqlx::QueryBuilder::new(
                    "INSERT INTO api_keys (user_id, digest, prefix, scopes, created_at) ",
                );
                qb.push_values(rows, |mut b, (user, digest, prefix)| {
                    b.push_bind(user)
                        .push_bind(digest)
                        .push_bind(prefix)
                        .push_bind("browser")
                        .push_bind(now);
                });
                qb.build().execute(&mut *tx).await.context("insert keys")?;
            }
            tx.commit().await.context("commit keys")?;
        });
    }
    // Fresh statistics, as a long-running database would have.
    vexa_store::with_pool!(db, pool => {
        sqlx::query("ANALYZE").execute(pool).await.context("analyze")?;
    });
    Ok(kept)
}
