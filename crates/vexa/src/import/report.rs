//! The end-of-run report: counts per outcome and every skipped row with its reason. Rows are
//! named by table and id only — never by token.

use std::fmt;
use std::time::Duration;

use vexa_core::import::SkipReason;

#[derive(Debug, Default)]
pub struct Tally {
    pub copied: u64,
    pub updated: u64,
    pub unchanged: u64,
    pub revoked: u64,
}

#[derive(Debug, Default)]
pub struct Report {
    pub dry_run: bool,
    pub users: Tally,
    pub keys: Tally,
    pub skipped: Vec<(&'static str, i64, SkipReason)>,
    pub elapsed: Duration,
}

/// Skipped rows listed one by one up to this many; the rest are counted.
const LISTED_SKIPS: usize = 200;

impl Report {
    pub fn skip(&mut self, table: &'static str, id: i64, why: SkipReason) {
        self.skipped.push((table, id, why));
    }

    fn keys_per_second(&self) -> f64 {
        let n = (self.keys.copied + self.keys.updated + self.keys.unchanged) as f64;
        n / self.elapsed.as_secs_f64().max(1e-6)
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let verb = if self.dry_run { "would be " } else { "" };
        writeln!(
            f,
            "{}import from Vexa: {:.2}s ({:.0} keys/s)",
            if self.dry_run {
                "dry run, nothing written — "
            } else {
                ""
            },
            self.elapsed.as_secs_f64(),
            self.keys_per_second()
        )?;
        for (what, t) in [("users", &self.users), ("keys", &self.keys)] {
            writeln!(
                f,
                "{what}: {} {verb}copied, {} {verb}updated, {} unchanged, {} {verb}revoked",
                t.copied, t.updated, t.unchanged, t.revoked
            )?;
        }
        writeln!(f, "skipped: {}", self.skipped.len())?;
        for (table, id, why) in self.skipped.iter().take(LISTED_SKIPS) {
            writeln!(f, "  skipped {table} {id}: {why}")?;
        }
        if self.skipped.len() > LISTED_SKIPS {
            writeln!(f, "  … and {} more", self.skipped.len() - LISTED_SKIPS)?;
        }
        Ok(())
    }
}
