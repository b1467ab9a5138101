//! Logging setup: one JSON object per line for servers, terse text on stderr for CLI commands.

use tracing_appender::non_blocking::WorkerGuard;
use tracing_subscriber::EnvFilter;

use crate::config::{LogFormat, ENV_RUST_LOG};

/// Installs the server's subscriber. Lines are handed to a writer thread (one access-log line per
/// request must not cost the request a blocking write, nor a system call of its own); the queue applies back-pressure rather
/// than dropping lines. Keep the guard alive until exit: dropping it flushes what is queued.
#[must_use = "dropping the guard stops the log writer"]
pub fn init_server(format: LogFormat) -> WorkerGuard {
    let (writer, guard) = tracing_appender::non_blocking::NonBlockingBuilder::default()
        .lossy(false)
        // The writer thread drains every queued line, then flushes: under load many lines share
        // one write(2).
        .finish(std::io::BufWriter::with_capacity(
            64 * 1024,
            std::io::stdout(),
        ));
    let filter = EnvFilter::try_from_env(ENV_RUST_LOG)
        .unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn,hyper=warn"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false)
        .with_writer(writer);
    let _ = match format {
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .try_init(),
        LogFormat::Pretty => builder.try_init(),
    };
    guard
}

pub fn init_cli() {
    let filter = EnvFilter::try_from_env(ENV_RUST_LOG).unwrap_or_else(|_| EnvFilter::new("warn"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .try_init();
}
