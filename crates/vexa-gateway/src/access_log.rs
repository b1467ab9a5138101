//! The access log: one JSON line per request on stdout, in the shape the server's tracing
//! subscriber writes (`{"timestamp":"…","level":"INFO","request_id":"…","user_id":1,
//! "route":"/browser/{path}","status":200,"latency_us":87}`; `user_id` absent before a key
//! resolved), so log pipelines see no difference.
//!
//! Why not a `tracing` event: through the subscriber every line was a field visit, a JSON
//! serializer, a fresh `Vec` and a hand-off to the writer thread — 15 % of the throughput of a
//! forwarded request (bench/REPORT.md, (l) / (c)). Here a serving thread formats its line into
//! its own buffer (thread-per-core: no lock, no allocation once the buffer has grown) and
//! writes the buffer to stdout once it holds [`FLUSH_AT`] bytes, or when its thread's ticker
//! ([`FLUSH_EVERY`]) or its end comes. As nginx's `access_log … buffer= flush=`: a line can wait
//! up to [`FLUSH_EVERY`], and none is ever dropped — a full stdout pipe blocks the thread that
//! writes, as it should (back-pressure, not loss).
//!
//! On a thread that does not serve (no ticker to flush it), a line is written at once.

use std::cell::RefCell;
use std::io::Write;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// A serving thread writes its buffer out once it holds this much.
pub const FLUSH_AT: usize = 32 * 1024;
/// …and at least this often, so a quiet gateway's lines are not held back.
pub const FLUSH_EVERY: Duration = Duration::from_millis(100);

use crate::config::AccessLog;

/// The `tracing` target of the access log: `RUST_LOG=warn` (or `vexa_gateway::access=off`)
/// turns it off either way.
const TARGET: &str = "vexa_gateway::access";

/// Where a request's access-log line goes, decided once at startup.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AccessLogSink {
    Off,
    /// This module's batched JSON lines.
    Lines,
    /// A `tracing` event (the subscriber filters and formats it).
    Tracing,
}

impl AccessLogSink {
    pub fn for_config(format: AccessLog) -> AccessLogSink {
        match format {
            AccessLog::TracingEvents => AccessLogSink::Tracing,
            AccessLog::JsonLines if tracing::enabled!(target: TARGET, tracing::Level::INFO) => {
                AccessLogSink::Lines
            }
            AccessLog::JsonLines => AccessLogSink::Off,
        }
    }

    pub fn record(self, line: &Line<'_>) {
        match self {
            AccessLogSink::Off => {}
            AccessLogSink::Lines => write(line),
            AccessLogSink::Tracing => tracing::info!(
                target: TARGET,
                request_id = line.request_id,
                user_id = line.user_id,
                route = line.route,
                status = line.status,
                latency_us = line.latency_us,
            ),
        }
    }
}

/// What one access-log line says.
pub struct Line<'a> {
    pub request_id: &'a str,
    pub user_id: Option<i64>,
    pub route: &'static str,
    pub status: u16,
    pub latency_us: u64,
}

/// Appends `line` to this thread's buffer (written out as the module says).
fn write(line: &Line<'_>) {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    BUFFER.with_borrow_mut(|b| {
        b.push(line, now);
        if !b.batched || b.bytes.len() >= FLUSH_AT {
            b.flush();
        }
    });
}

/// Marks this thread as a serving thread that calls [`flush`] every [`FLUSH_EVERY`] and at its
/// end: from now on its lines are batched.
pub fn batch_on_this_thread() {
    BUFFER.with_borrow_mut(|b| b.batched = true);
}

/// Writes out what this thread's buffer holds.
pub fn flush() {
    BUFFER.with_borrow_mut(LineBuffer::flush);
}

thread_local! {
    static BUFFER: RefCell<LineBuffer> = const { RefCell::new(LineBuffer::new()) };
}

struct LineBuffer {
    bytes: Vec<u8>,
    batched: bool,
    /// The second `stamp` was formatted for, and `"YYYY-MM-DDTHH:MM:SS."` for it.
    stamp_secs: u64,
    stamp: [u8; 20],
}

impl LineBuffer {
    const fn new() -> LineBuffer {
        LineBuffer {
            bytes: Vec::new(),
            batched: false,
            stamp_secs: u64::MAX,
            stamp: [0; 20],
        }
    }

    fn push(&mut self, line: &Line<'_>, now: Duration) {
        let secs = now.as_secs();
        if secs != self.stamp_secs {
            self.stamp = stamp(secs);
            self.stamp_secs = secs;
        }
        let mut n = itoa::Buffer::new();
        let out = &mut self.bytes;
        out.extend_from_slice(b"{\"timestamp\":\"");
        out.extend_from_slice(&self.stamp);
        let micros = n.format(now.subsec_micros());
        out.extend(std::iter::repeat_n(b'0', 6 - micros.len()));
        out.extend_from_slice(micros.as_bytes());
        out.extend_from_slice(b"Z\",\"level\":\"INFO\",\"request_id\":");
        json_string(out, line.request_id);
        if let Some(user_id) = line.user_id {
            out.extend_from_slice(b",\"user_id\":");
            out.extend_from_slice(n.format(user_id).as_bytes());
        }
        out.extend_from_slice(b",\"route\":");
        json_string(out, line.route);
        out.extend_from_slice(b",\"status\":");
        out.extend_from_slice(n.format(line.status).as_bytes());
        out.extend_from_slice(b",\"latency_us\":");
        out.extend_from_slice(n.format(line.latency_us).as_bytes());
        out.extend_from_slice(b"}\n");
    }

    fn flush(&mut self) {
        if self.bytes.is_empty() {
            return;
        }
        // One write of whole lines under stdout's lock: lines never interleave with the tracing
        // writer's. A failed write (stdout closed) has nowhere to be reported.
        let _ = std::io::stdout().lock().write_all(&self.bytes);
        self.bytes.clear();
    }
}

/// `"…"` with JSON escapes. The request id is the client's (only visible ASCII is accepted),
/// the route a template; escaping still belongs to the serializer.
fn json_string(out: &mut Vec<u8>, s: &str) {
    if serde_json::to_writer(&mut *out, s).is_err() {
        out.extend_from_slice(b"\"\"");
    }
}

/// `YYYY-MM-DDTHH:MM:SS.` (UTC) for a Unix second, as tracing's timer formats it. Once a
/// second per thread, so `time`'s formatter is cheap enough.
fn stamp(secs: u64) -> [u8; 20] {
    const PREFIX: &[time::format_description::BorrowedFormatItem<'_>] =
        time::macros::format_description!("[year]-[month]-[day]T[hour]:[minute]:[second].");
    let mut out = [b'0'; 20];
    let formatted = i64::try_from(secs)
        .ok()
        .and_then(|s| time::OffsetDateTime::from_unix_timestamp(s).ok())
        .and_then(|t| t.format(PREFIX).ok());
    if let Some(text) = formatted.filter(|t| t.len() == out.len()) {
        out.copy_from_slice(text.as_bytes());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(user_id: Option<i64>, request_id: &str) -> String {
        let mut b = LineBuffer::new();
        let l = Line {
            request_id,
            user_id,
            route: "/browser/{path}",
            status: 200,
            latency_us: 87,
        };
        // 2026-12-03T13:14:47.000042Z
        b.push(&l, Duration::new(1_796_303_687, 42_000));
        String::from_utf8(b.bytes).expect("utf-8")
    }

    #[test]
    fn a_line_is_one_json_object_in_the_subscribers_shape() {
        let text = line(Some(7), "abc");
        assert!(text.ends_with('\n') && text.matches('\n').count() == 1);
        assert_eq!(
            text,
            "{\"timestamp\":\"2026-12-03T13:14:47.000042Z\",\"level\":\"INFO\",\"request_id\":\"abc\",\
             \"user_id\":7,\"route\":\"/browser/{path}\",\"status\":200,\"latency_us\":87}\n"
        );
        let v: serde_json::Value = serde_json::from_str(&text).expect("json");
        assert_eq!(v["user_id"], 7);
    }

    #[test]
    fn no_user_no_field_and_odd_ids_stay_valid_json() {
        let text = line(None, "a\"b\\c");
        let v: serde_json::Value = serde_json::from_str(&text).expect("json");
        assert!(v.get("user_id").is_none());
        assert_eq!(v["request_id"], "a\"b\\c");
    }

    #[test]
    fn the_stamp_matches_a_calendar() {
        assert_eq!(&stamp(0), b"1970-01-01T00:00:00.");
        // 2024-02-29 (a leap day), 23:59:59.
        assert_eq!(&stamp(1_709_251_199), b"2024-02-29T23:59:59.");
    }
}
