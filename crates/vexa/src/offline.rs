//! Admin conveniences that work on the database directly, with no server running:
//! `vexa user create`, `vexa token mint|list|revoke|rotate`. A running gateway notices revocations
//! made here through the store's event log within its poll interval. Minting goes through the
//! same rules as `POST /admin/users/{id}/tokens` (`vexa_core::mint`), so the CLI refuses what
//! the API refuses, in the same words; rotation goes through `vexa_core::rotate`, as
//! `POST /admin/tokens/{id}/rotate` does. Every change is written with its audit entry (actor
//! `cli`) through the store's audited methods, like the admin API's.

use anyhow::{bail, Context};
use clap::Subcommand;
use vexa_core::rotate::{self, Grace};
use vexa_core::user::{check_max_concurrent_bots, DEFAULT_MAX_CONCURRENT_BOTS};
use vexa_core::{
    AuditActor, AuditContext, AuditedStore, Clock, Email, IdentityStore, KeyId, KeySpec, Lifetime,
    NewUser, SystemClock, UserId,
};
use vexa_store::identity::SqlIdentityStore;
use vexa_store::{ConnectOptions, Db};

use crate::config::Settings;

#[derive(Subcommand)]
pub enum UserCommand {
    /// Create a user (or show the existing one with that email).
    Create {
        #[arg(long)]
        email: String,
        #[arg(long)]
        name: Option<String>,
        #[arg(long, default_value_t = DEFAULT_MAX_CONCURRENT_BOTS)]
        max_concurrent_bots: i64,
    },
}

#[derive(Subcommand)]
pub enum TokenCommand {
    /// Mint a key for a user (by email; the user is created if missing) and print it once.
    Mint {
        #[arg(long)]
        email: String,
        /// Comma-separated scopes (`bot`, `tx`, `browser`); the first is the key's primary scope.
        #[arg(long, default_value = "bot")]
        scopes: String,
        #[arg(long)]
        name: Option<String>,
        /// Lifetime in seconds (a positive integer, at most 100 years).
        #[arg(long, allow_hyphen_values = true)]
        expires_in: Option<String>,
    },
    /// List a user's live keys (metadata only).
    List {
        #[arg(long)]
        email: String,
    },
    /// Revoke a key by id.
    Revoke { id: i64 },
    /// Replace a key by a new one (same user, scopes, name, expiry) and print the new key once;
    /// the old key keeps working for `--grace` seconds (0: revoked at once).
    Rotate {
        id: i64,
        /// Grace period of the old key, in seconds (an integer ≥ 0).
        #[arg(long, allow_hyphen_values = true)]
        grace: Option<String>,
    },
}

/// The identity store named by `DATABASE_URL`, with the small pool a one-shot command needs
/// (also used by `vexa import`).
pub(crate) async fn open(settings: &Settings) -> anyhow::Result<SqlIdentityStore> {
    let db = Db::connect(
        &settings.store.database_url,
        &ConnectOptions {
            max_connections: 2,
            ..ConnectOptions::default()
        },
    )
    .await
    .context("opening the database named by DATABASE_URL")?;
    Ok(SqlIdentityStore::new(db))
}

pub async fn user(settings: &Settings, cmd: UserCommand) -> anyhow::Result<()> {
    crate::telemetry::init_cli();
    let store = open(settings).await?;
    match cmd {
        UserCommand::Create {
            email,
            name,
            max_concurrent_bots,
        } => {
            check_max_concurrent_bots(max_concurrent_bots)?;
            let new = NewUser {
                email: Email::parse(&email)?,
                name,
                image_url: None,
                max_concurrent_bots,
            };
            let (user, created) = store
                .create_or_find_user_audited(&new, SystemClock.now(), &cli())
                .await?;
            let verb = if created { "created" } else { "exists" };
            println!("{verb}: {}", serde_json::to_string(&user)?);
        }
    }
    Ok(())
}

pub async fn token(settings: &Settings, cmd: TokenCommand) -> anyhow::Result<()> {
    crate::telemetry::init_cli();
    let store = open(settings).await?;
    let now = SystemClock.now();
    match cmd {
        TokenCommand::Mint {
            email,
            scopes,
            name,
            expires_in,
        } => {
            let spec = KeySpec {
                scopes: scopes.split(',').map(str::to_owned).collect(),
                name,
                expires_in: expires_in.map(Lifetime::Text),
                limits: vexa_core::KeyLimits::NONE,
            }
            .validate()?;
            let new_user = NewUser {
                email: Email::parse(&email)?,
                name: None,
                image_url: None,
                max_concurrent_bots: DEFAULT_MAX_CONCURRENT_BOTS,
            };
            let (user, _) = store
                .create_or_find_user_audited(&new_user, now, &cli())
                .await?;
            let (minted, new_key) = spec.mint(user.id, now);
            let record = store.insert_key_audited(&new_key, &cli()).await?;
            eprintln!(
                "key {} for user {} ({}); shown once:",
                record.id.0, user.id.0, user.email
            );
            println!("{}", minted.expose_secret());
        }
        TokenCommand::List { email } => {
            let email = Email::parse(&email)?;
            let Some(user) = store.user_by_email(&email).await? else {
                bail!("User not found")
            };
            let mut keys = store
                .list_keys(UserId(user.id.0))
                .await?
                .unwrap_or_default();
            rotate::drop_retired(&mut keys, now);
            println!("{}", serde_json::to_string_pretty(&keys)?);
        }
        TokenCommand::Revoke { id } => {
            match store.revoke_key_audited(KeyId(id), now, &cli()).await? {
                Some(_) => println!("revoked key {id}"),
                None => bail!("Token not found"),
            }
        }
        TokenCommand::Rotate { id, grace } => {
            let grace = Grace::parse(grace.map(Lifetime::Text))?;
            let rotated = rotate::rotate_key(&store, KeyId(id), grace, now, &cli()).await?;
            eprintln!(
                "key {} replaces key {id} (user {}); key {id} works until {}; shown once:",
                rotated.record.id.0,
                rotated.record.user_id.0,
                rotated.old_retires_at.to_rfc3339()
            );
            println!("{}", rotated.key.expose_secret());
        }
    }
    Ok(())
}

/// The audit context of a command run here: no request, no peer.
fn cli() -> AuditContext {
    AuditContext::local(AuditActor::Cli)
}
