//! Turns one run's raw results into `bench/REPORT.md` and `bench/results.json`.
//!
//! Inputs (all under `--raw`, written by scripts/bench.sh and `vexa-bench scale`):
//! - `meta.json`: machine, tool versions, load parameters, exact commands, variants.
//! - `load/<v>-r<round>.wrk.json`: one wrk run (fixed concurrency), from bench/wrk-report.lua.
//! - `load/<v>-r<round>.oha.json`: one oha run at a fixed request rate (`oha --output-format json`).
//! - `status.json`: the status each variant answers (checked before loading it).
//! - `scale.json`: the scale runs, when they ran.
//!
//! and criterion's own estimates under `--criterion` (target/criterion).
//!
//! Layout: `inputs.rs` reads them into a [`inputs::Run`] and derives the shared figures,
//! `goals.rs` judges the goals, `results.rs` writes the JSON, `markdown.rs` and
//! `scale_sections.rs` write the page (one function per section), `format.rs` holds the cell
//! formats.

use std::path::Path;

use anyhow::Context;

mod format;
mod goals;
mod inputs;
mod markdown;
mod results;
mod scale_sections;

/// Reads the run under `raw` (and criterion's estimates under `criterion`) and writes
/// `results.json` and `REPORT.md` into `out_dir`.
pub fn write(raw: &Path, criterion: &Path, out_dir: &Path) -> anyhow::Result<()> {
    let run = inputs::Run::read(raw, criterion);
    let goals = goals::goals(&run);
    std::fs::create_dir_all(out_dir)?;
    std::fs::write(
        out_dir.join("results.json"),
        serde_json::to_string_pretty(&results::results(&run, &goals))? + "\n",
    )?;
    std::fs::write(out_dir.join("REPORT.md"), markdown::report(&run, &goals))
        .context("write REPORT.md")?;
    eprintln!(
        "wrote {} and {}",
        out_dir.join("REPORT.md").display(),
        out_dir.join("results.json").display()
    );
    Ok(())
}
