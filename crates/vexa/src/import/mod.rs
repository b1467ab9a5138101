//! `vexa import vexa --from postgres://… [--dry-run]`: copies an original Vexa deployment's
//! users and keys into our store, keeping ids, hashing each token on the way.
//!
//! A run diffs the source (one read-only snapshot) against a snapshot of our store and applies
//! only the difference, in batches: new rows are copied, changed imported rows updated, keys
//! gone from the source revoked. So it can run again and again while the original keeps serving
//! (dual-run), and converges. The mapping rules are `vexa_core::import`; the writes are
//! `vexa_store::import`.

mod progress;
mod report;
mod source;

use std::collections::{HashMap, HashSet};
use std::time::Instant;

use anyhow::Context;
use clap::{Args, Subcommand};
use futures_util::StreamExt;
use vexa_core::import::{map_key, SkipReason, UserRules};
use vexa_core::{AuditActor, AuditContext, Clock, KeyId, SystemClock, Timestamp};
use vexa_store::identity::SqlIdentityStore;
use vexa_store::import::{ImportBatch, Snapshot};

use crate::config::Settings;
use progress::Progress;
use report::Report;

#[derive(Subcommand)]
pub enum ImportCommand {
    /// From an original Vexa (0.10–0.12) PostgreSQL database; read-only on it.
    Vexa(VexaArgs),
}

#[derive(Args)]
pub struct VexaArgs {
    /// The original's database, e.g. postgres://postgres:postgres@host:5432/vexa
    #[arg(long)]
    from: String,
    /// Print what would change; write nothing.
    #[arg(long)]
    dry_run: bool,
    /// Rows per write transaction.
    #[arg(long, default_value_t = 5000)]
    batch_size: usize,
}

pub async fn run(settings: &Settings, cmd: ImportCommand) -> anyhow::Result<()> {
    let ImportCommand::Vexa(args) = cmd;
    let store = crate::offline::open(settings).await?;
    let report = import_vexa(&store, &args).await?;
    print!("{report}");
    Ok(())
}

/// One import run: users first (keys refer to them), then keys, then revocations.
async fn import_vexa(store: &SqlIdentityStore, args: &VexaArgs) -> anyhow::Result<Report> {
    let started = Instant::now();
    let now = SystemClock.now();
    let mut report = Report {
        dry_run: args.dry_run,
        ..Report::default()
    };
    let here = store.import_snapshot().await.context("reading our store")?;
    let mut source = source::Source::open(&args.from).await?;
    let mut tx = source.snapshot().await?;

    let users_ok = import_users(store, args, &here, &mut tx, now, &mut report).await?;
    let total = source::count_keys(&mut tx).await?;
    let seen = import_keys(
        store,
        args,
        &here,
        &users_ok,
        &mut tx,
        total,
        now,
        &mut report,
    )
    .await?;

    // Keys we imported earlier that the source no longer has were deleted there: revoke here.
    let mut batch = ImportBatch::default();
    for (id, k) in &here.keys {
        if k.imported && !k.revoked && !seen.contains(id) {
            batch.revoked_keys.push(KeyId(*id));
        }
    }
    report.keys.revoked = batch.revoked_keys.len() as u64;
    apply(store, args, &batch, now).await?;
    // Ends the read-only snapshot; it wrote nothing.
    tx.rollback().await.ok();
    if !args.dry_run {
        store
            .continue_id_sequences()
            .await
            .context("moving id sequences")?;
    }
    report.elapsed = started.elapsed();
    Ok(report)
}

async fn apply(
    store: &SqlIdentityStore,
    args: &VexaArgs,
    batch: &ImportBatch,
    now: Timestamp,
) -> anyhow::Result<()> {
    if args.dry_run {
        return Ok(());
    }
    store
        .apply_import(batch, now, &AuditContext::local(AuditActor::Import))
        .await
        .context("writing an import batch")
}

/// Copies or updates users; returns the ids whose keys may be imported.
async fn import_users(
    store: &SqlIdentityStore,
    args: &VexaArgs,
    here: &Snapshot,
    tx: &mut sqlx::Transaction<'_, sqlx::Postgres>,
    now: Timestamp,
    report: &mut Report,
) -> anyhow::Result<HashSet<i64>> {
    let mut rules = UserRules::new(
        here.users
            .values()
            .map(|u| (u.user.id.0, u.user.email_lower.clone(), u.imported)),
    );
    let mut ok = HashSet::new();
    let mut batch = ImportBatch::default();
    let mut rows = source::users(tx);
    while let Some(row) = rows.next().await {
        let row = row?;
        match rules.map_user(&row, now) {
            Err(why) => report.skip("user", row.id, why),
            Ok(user) => {
                ok.insert(user.id.0);
                match here.users.get(&user.id.0) {
                    None => {
                        report.users.copied += 1;
                        batch.new_users.push(user);
                    }
                    // Imported users follow the source, except `created_at` (kept as first seen).
                    Some(h) if h.user == same_created(&user, h.user.created_at) => {
                        report.users.unchanged += 1
                    }
                    Some(_) => {
                        report.users.updated += 1;
                        batch.changed_users.push(user);
                    }
                }
            }
        }
        if batch.len() >= args.batch_size {
            apply(store, args, &std::mem::take(&mut batch), now).await?;
        }
    }
    drop(rows);
    apply(store, args, &batch, now).await?;
    Ok(ok)
}

fn same_created(
    u: &vexa_core::import::ImportedUser,
    at: Timestamp,
) -> vexa_core::import::ImportedUser {
    let mut u = u.clone();
    u.created_at = at;
    u
}

/// Copies, updates or skips keys, streamed in batches; returns the source ids seen.
#[allow(clippy::too_many_arguments)]
async fn import_keys(
    store: &SqlIdentityStore,
    args: &VexaArgs,
    here: &Snapshot,
    users_ok: &HashSet<i64>,
    tx: &mut sqlx::Transaction<'_, sqlx::Postgres>,
    total: u64,
    now: Timestamp,
    report: &mut Report,
) -> anyhow::Result<HashSet<i64>> {
    let progress = Progress::new("keys", total);
    // digest → key id, over every key here: a token already stored under another id is skipped
    // rather than failing the batch on the unique index.
    let mut by_digest: HashMap<[u8; 32], i64> = here
        .keys
        .values()
        .map(|k| (k.key.digest.0, k.key.id.0))
        .collect();
    let mut seen = HashSet::new();
    let mut batch = ImportBatch::default();
    let mut done = 0u64;
    let mut rows = source::keys(tx);
    while let Some(row) = rows.next().await {
        let row = row?;
        done += 1;
        let id = row.id;
        seen.insert(id);
        let mapped = map_key(&row, |uid| users_ok.contains(&uid), now);
        drop(row); // the plaintext is zeroed here, before any write
        match mapped {
            Ok(key) => key_outcome(here, &mut by_digest, key, &mut batch, report),
            Err(why) => report.skip("key", id, why),
        }
        if batch.len() >= args.batch_size {
            apply(store, args, &std::mem::take(&mut batch), now).await?;
            progress.at(done);
        }
    }
    drop(rows);
    apply(store, args, &batch, now).await?;
    progress.at(done);
    progress.finish();
    Ok(seen)
}

/// Files one mapped key as new, changed, unchanged or skipped.
fn key_outcome(
    here: &Snapshot,
    by_digest: &mut HashMap<[u8; 32], i64>,
    key: vexa_core::import::ImportedKey,
    batch: &mut ImportBatch,
    report: &mut Report,
) {
    let id = key.id.0;
    if let Some(&other) = by_digest.get(&key.digest.0) {
        if other != id {
            report.skip("key", id, SkipReason::DuplicateToken { other });
            return;
        }
    }
    match here.keys.get(&id) {
        None => {
            by_digest.insert(key.digest.0, id);
            report.keys.copied += 1;
            batch.new_keys.push(key);
        }
        Some(h) if !h.imported => report.skip("key", id, SkipReason::IdTaken),
        // Revoked here (by an operator, or gone once from the source): stays revoked.
        Some(h) if h.revoked => report.keys.unchanged += 1,
        Some(h) if h.key == key => report.keys.unchanged += 1,
        Some(_) => {
            by_digest.insert(key.digest.0, id);
            report.keys.updated += 1;
            batch.changed_keys.push(key);
        }
    }
}
