//! `vexa`: the one binary. Runs the whole stack (`up`), one role, the development bot, or an
//! admin convenience that works on the database directly.

mod audit;
mod config;
mod daemon;
mod import;
mod offline;
mod provision;
mod roles;
mod telemetry;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::config::Settings;
use crate::roles::Roles;

/// mimalloc rather than glibc's malloc: a forwarded request allocates a few dozen small blocks
/// (hyper's buffers and header maps, the futures of the pipeline) and frees them on the same
/// serving thread, mimalloc's fast path (thread-local free lists, no locks). `make bench`
/// measured the two side by side (bench/NOTES.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(
    name = "vexa",
    version,
    about = "Self-hosted API access plane for meeting bots and transcripts"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run every role (gateway, admin API, meetings service) in this process.
    Up,
    /// Run only the public gateway.
    Gateway,
    /// Run only the admin API.
    AdminApi,
    /// Run only the meetings service.
    Meetings,
    /// Start `vexa up` in the background (pid and log under DATA_DIR) and wait until healthy.
    Start,
    /// Stop the background stack started by `vexa start`.
    Stop,
    /// Tell whether the background stack is running and healthy.
    Status,
    /// Mint a key through the running admin API and print it (what `make provision-token` runs).
    ProvisionToken(provision::ProvisionArgs),
    /// The development bot: joins nothing, plays the scenario named by `bot_name` (`mock:<scenario>`).
    MockBot,
    /// Users, offline on the database.
    #[command(subcommand)]
    User(offline::UserCommand),
    /// API keys, offline on the database.
    #[command(subcommand)]
    Token(offline::TokenCommand),
    /// Copy users and keys from another deployment (ids kept, keys hashed on the way).
    #[command(subcommand)]
    Import(import::ImportCommand),
    /// The audit log, offline on the database.
    #[command(subcommand)]
    Audit(audit::AuditCommand),
    /// Print the effective configuration (secrets masked).
    Config,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let settings = match Settings::from_env(&config::load_env()) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("vexa: configuration error: {e}");
            return ExitCode::from(2);
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("vexa: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result: anyhow::Result<ExitCode> = runtime.block_on(async move {
        match cli.command {
            Command::Up => serve(settings, Roles::ALL).await,
            Command::Gateway => serve(settings, Roles::GATEWAY).await,
            Command::AdminApi => serve(settings, Roles::ADMIN).await,
            Command::Meetings => serve(settings, Roles::MEETINGS).await,
            Command::Start => daemon::start(&settings).await,
            Command::Stop => daemon::stop(&settings).await,
            Command::Status => daemon::status(&settings).await,
            Command::ProvisionToken(args) => provision::run(&settings, args).await,
            Command::MockBot => {
                telemetry::init_cli();
                let code = vexa_meetings::mock_bot::run().await;
                // Exit here: the bot's stdin reader is a blocking read that dropping the
                // runtime would wait for, so a bot that finished (crash, reject, leave) would
                // linger until the service closed its stdin.
                use std::io::Write;
                let _ = std::io::stdout().flush();
                std::process::exit(code);
            }
            Command::User(cmd) => offline::user(&settings, cmd).await,
            Command::Token(cmd) => offline::token(&settings, cmd).await,
            Command::Import(cmd) => import::run(&settings, cmd).await,
            Command::Audit(cmd) => audit::run(&settings, cmd).await,
            Command::Config => {
                println!("{settings:#?}");
                Ok(())
            }
        }
        .map(|()| ExitCode::SUCCESS)
    });
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("vexa: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn serve(settings: Settings, roles: Roles) -> anyhow::Result<()> {
    let _log_writer = telemetry::init_server(settings.log);
    roles::run(settings, roles).await
}
