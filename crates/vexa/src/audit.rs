//! `vexa audit verify`: walks the audit log's hash chain on the database named by
//! `DATABASE_URL`, a page at a time, and says whether every entry is as it was written.
//! Read-only: nothing here changes the log.

use anyhow::bail;
use clap::Subcommand;
use vexa_core::audit::verify_stored_chain;

use crate::config::Settings;

#[derive(Subcommand)]
pub enum AuditCommand {
    /// Check the hash chain: `audit chain ok: N entries`, or the first entry that does not match.
    Verify,
}

pub async fn run(settings: &Settings, cmd: AuditCommand) -> anyhow::Result<()> {
    crate::telemetry::init_cli();
    let store = crate::offline::open(settings).await?;
    match cmd {
        AuditCommand::Verify => match verify_stored_chain(&store).await? {
            Ok(n) => println!("audit chain ok: {n} entries"),
            Err(broken) => bail!("{broken}"),
        },
    }
    Ok(())
}
