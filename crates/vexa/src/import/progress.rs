//! Progress of a long import: a bar on a terminal, one plain line per batch otherwise (logs and
//! CI capture stay readable). Writes to stderr; stdout carries only the report.

use std::io::IsTerminal;

use indicatif::{ProgressBar, ProgressStyle};

pub enum Progress {
    Bar(ProgressBar),
    Lines { what: &'static str, total: u64 },
}

impl Progress {
    pub fn new(what: &'static str, total: u64) -> Progress {
        if std::io::stderr().is_terminal() {
            let bar = ProgressBar::new(total);
            if let Ok(style) = ProgressStyle::with_template(
                "{msg:>5} [{bar:40}] {pos}/{len} ({per_sec}, eta {eta})",
            ) {
                bar.set_style(style.progress_chars("=> "));
            }
            bar.set_message(what);
            Progress::Bar(bar)
        } else {
            Progress::Lines { what, total }
        }
    }

    pub fn at(&self, done: u64) {
        match self {
            Progress::Bar(b) => b.set_position(done),
            Progress::Lines { what, total } => eprintln!("vexa import: {what} {done}/{total}"),
        }
    }

    pub fn finish(&self) {
        if let Progress::Bar(b) = self {
            b.finish();
        }
    }
}
