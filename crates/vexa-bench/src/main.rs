//! `vexa-bench`: the Rust half of `make bench` (scripts/bench.sh is the other half).
//!
//! - `vexa-bench free-ports N` — prints N free loopback TCP ports, one per line.
//! - `vexa-bench scale --vexa target/release/vexa --work DIR --out FILE [--keys N] [--samples N]
//!   [--rss-keys N] [--revocations N] [--import-keys N] [--pg URL]
//!   [--only sqlite,postgres,revocation,rss,import]` — the scale runs (see `scale.rs`).
//! - `vexa-bench report --raw DIR --criterion DIR --out DIR` — turns the raw results of a run
//!   into `REPORT.md` and `results.json`.

use std::path::PathBuf;
use std::process::ExitCode;

mod import_run;
mod report;
mod scale;
mod stack;

fn usage() -> &'static str {
    "usage: vexa-bench free-ports N | scale --vexa PATH --work DIR --out FILE [options] | report --raw DIR --criterion DIR --out DIR"
}

/// `--flag value` pairs after the subcommand.
fn flags(args: &[String]) -> Result<Vec<(String, String)>, String> {
    let mut out = Vec::new();
    let mut it = args.iter();
    while let Some(flag) = it.next() {
        let Some(name) = flag.strip_prefix("--") else {
            return Err(format!("unexpected argument {flag:?}"));
        };
        let value = it.next().ok_or_else(|| format!("{flag} needs a value"))?;
        out.push((name.to_owned(), value.clone()));
    }
    Ok(out)
}

fn get<'a>(flags: &'a [(String, String)], name: &str) -> Option<&'a str> {
    flags
        .iter()
        .rev()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

fn need(flags: &[(String, String)], name: &str) -> Result<String, String> {
    get(flags, name)
        .map(str::to_owned)
        .ok_or_else(|| format!("--{name} is required"))
}

fn number(flags: &[(String, String)], name: &str, default: usize) -> Result<usize, String> {
    match get(flags, name) {
        None => Ok(default),
        Some(v) => v
            .replace('_', "")
            .parse()
            .map_err(|e| format!("--{name}: {e}")),
    }
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some(cmd) = args.first() else {
        eprintln!("{}", usage());
        return ExitCode::from(2);
    };
    let result: Result<(), String> = (|| match cmd.as_str() {
        "free-ports" => {
            let n: usize = args
                .get(1)
                .map_or(Ok(1), |s| s.parse())
                .map_err(|e| format!("N: {e}"))?;
            // Hold all listeners until every port is chosen, so they are distinct.
            let mut held = Vec::new();
            for _ in 0..n {
                let l = std::net::TcpListener::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
                println!("{}", l.local_addr().map_err(|e| e.to_string())?.port());
                held.push(l);
            }
            Ok(())
        }
        "scale" => {
            let f = flags(&args[1..])?;
            let scale_args = scale::ScaleArgs {
                vexa: PathBuf::from(need(&f, "vexa")?),
                work: PathBuf::from(need(&f, "work")?),
                out: PathBuf::from(need(&f, "out")?),
                keys: number(&f, "keys", 1_000_000)?,
                samples: number(&f, "samples", 2000)?,
                rss_keys: number(&f, "rss-keys", 100_000)?,
                revocations: number(&f, "revocations", 20)?,
                import_keys: number(&f, "import-keys", 100_000)?,
                pg_url: get(&f, "pg")
                    .unwrap_or("postgres://postgres@127.0.0.1:5432/test")
                    .to_owned(),
                only: get(&f, "only")
                    .map(|s| {
                        s.split(',')
                            .map(|x| x.trim().to_owned())
                            .filter(|x| !x.is_empty())
                            .collect()
                    })
                    .unwrap_or_default(),
            };
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .map_err(|e| e.to_string())?;
            rt.block_on(scale::run(scale_args))
                .map_err(|e| format!("{e:#}"))
        }
        "report" => {
            let f = flags(&args[1..])?;
            report::write(
                &PathBuf::from(need(&f, "raw")?),
                &PathBuf::from(need(&f, "criterion")?),
                &PathBuf::from(need(&f, "out")?),
            )
            .map_err(|e| format!("{e:#}"))
        }
        _ => Err(usage().to_owned()),
    })();
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("vexa-bench {cmd}: {e}");
            ExitCode::FAILURE
        }
    }
}
