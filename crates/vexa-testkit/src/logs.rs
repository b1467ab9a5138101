//! Capturing what a service logs, per test, in a binary whose tests run in parallel.
//!
//! A thread-local subscriber (`tracing::subscriber::set_default`) is not enough there: tracing
//! caches each call site's interest process-wide, and while a single scoped subscriber exists a
//! call site first reached on another thread is cached as "never" (that thread has no
//! subscriber), which silences it for the capturing test too. So the first [`capture_logs`]
//! installs one global subscriber, once per process, whose only layer formats an event if and
//! only if the thread emitting it is capturing (asked per event, never cached per call site),
//! into that thread's buffer. Tests that capture
//! nothing pay one thread-local read per event and see no output.

use std::cell::RefCell;
use std::io::Write;
use std::sync::{Arc, Mutex, Once, PoisonError};

use tracing_subscriber::filter::dynamic_filter_fn;
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::Layer;

type Buffer = Arc<Mutex<Vec<u8>>>;

thread_local! {
    /// The buffer of the capture active on this thread, if any.
    static SINK: RefCell<Option<Buffer>> = const { RefCell::new(None) };
}

/// Everything logged on this thread (at any level, formatted as `tracing_subscriber::fmt` does,
/// without colours) from its creation until it is dropped.
///
/// A `#[tokio::test]` runs its runtime, and so the service under test, on the test's thread: the
/// capture holds exactly that test's events. Dropping it ends the capture.
#[must_use = "the capture ends when this is dropped"]
pub struct LogCapture {
    buffer: Buffer,
}

/// Starts capturing this thread's events (installing the process's subscriber on first use).
pub fn capture_logs() -> LogCapture {
    install_once();
    let buffer = Buffer::default();
    SINK.with(|sink| *sink.borrow_mut() = Some(buffer.clone()));
    LogCapture { buffer }
}

impl LogCapture {
    /// What was captured so far; panics (failing the test) if a log line is not UTF-8.
    pub fn text(&self) -> String {
        let bytes = self.buffer.lock().unwrap_or_else(PoisonError::into_inner);
        String::from_utf8(bytes.clone()).expect("logs are UTF-8")
    }
}

impl Drop for LogCapture {
    fn drop(&mut self) {
        SINK.with(|sink| sink.borrow_mut().take());
    }
}

fn capturing() -> bool {
    SINK.with(|sink| sink.borrow().is_some())
}

fn install_once() {
    static INSTALL: Once = Once::new();
    INSTALL.call_once(|| {
        let layer = tracing_subscriber::fmt::layer()
            .with_ansi(false)
            .with_writer(ThreadSink)
            // Dynamic, so "is this thread capturing?" is asked at every event: a `filter_fn` is
            // asked once per call site and its first answer cached for every thread.
            .with_filter(dynamic_filter_fn(|_, _| capturing()));
        let subscriber = tracing_subscriber::registry().with(layer);
        tracing::subscriber::set_global_default(subscriber)
            .expect("no other global subscriber in a test binary that captures logs");
    });
}

/// Writes to the buffer of the capture active on the writing thread (nowhere without one).
struct ThreadSink;

impl<'a> MakeWriter<'a> for ThreadSink {
    type Writer = ThreadSink;

    fn make_writer(&'a self) -> Self::Writer {
        ThreadSink
    }
}

impl Write for ThreadSink {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        SINK.with(|sink| {
            if let Some(buffer) = sink.borrow().as_ref() {
                buffer
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .extend_from_slice(buf);
            }
        });
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}
