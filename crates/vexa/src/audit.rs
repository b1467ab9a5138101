//! `vexa audit verify`: walks the audit log's hash chain on the database named by
//! `DATABASE_URL`, a page at a time, and says whether every entry is as it was written.
//! Read-only: nothing here changes the log.

use anyhow::bail;
use clap::Subcommand;
use vexa_core::audit::ChainVerifier;
use vexa_core::AuditedStore;

use crate::config::Settings;

/// Entries read per query: bounds memory whatever the log's length.
const PAGE: i64 = 1000;

#[derive(Subcommand)]
pub enum AuditCommand {
    /// Check the hash chain: `audit chain ok: N entries`, or the first entry that does not match.
    Verify,
}

pub async fn run(settings: &Settings, cmd: AuditCommand) -> anyhow::Result<()> {
    crate::telemetry::init_cli();
    let store = crate::offline::open(settings).await?;
    match cmd {
        AuditCommand::Verify => {
            // The head first: entries appended while we walk are past it and not judged.
            let head = store.audit_head().await?;
            let mut verifier = ChainVerifier::default();
            let mut after = 0;
            'pages: loop {
                let page = store.audit_entries_from(after, PAGE).await?;
                let Some(last) = page.last() else { break };
                after = last.seq;
                for entry in &page {
                    if entry.seq > head.seq {
                        break 'pages;
                    }
                    if let Err(broken) = verifier.check(entry) {
                        bail!("{broken}");
                    }
                }
            }
            match verifier.finish(&head) {
                Ok(n) => println!("audit chain ok: {n} entries"),
                Err(broken) => bail!("{broken}"),
            }
        }
    }
    Ok(())
}
