//! The upstream deadline of one client connection's requests, on one timer it keeps.
//!
//! `tokio::time::timeout` per request registers a timer entry and removes it again (the time
//! driver's lock, a wheel insert and a wheel remove) for a deadline that almost never fires: a
//! response comes in micro- or milliseconds, the deadline is seconds away. The client connection
//! keeps one timer instead. A request whose deadline is later than the one the timer is armed
//! for leaves it alone; when the timer fires early, the request's own deadline is checked and
//! the timer moves there. So a timeout fires exactly when it did with `tokio::time::timeout`, and
//! the timer is moved about once per timeout period per connection instead of twice per request.

use std::future::{poll_fn, Future};
use std::pin::{pin, Pin};
use std::sync::{Mutex, PoisonError};
use std::task::Poll;
use std::time::Duration;

use tokio::time::{Instant, Sleep};

/// The deadline passed before the future finished.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimedOut;

/// One client connection's timer. Its requests run one after another; a request that finds the
/// timer taken (only possible if two ran at once) brings its own.
#[derive(Default)]
pub struct DeadlineTimer {
    idle: Mutex<Option<Pin<Box<Sleep>>>>,
}

impl DeadlineTimer {
    /// Runs `fut` until it finishes or `timeout` from now passes, whichever comes first.
    pub async fn run<F: Future>(&self, timeout: Duration, fut: F) -> Result<F::Output, TimedOut> {
        let deadline = Instant::now() + timeout;
        let mut sleep = self.take(deadline);
        let mut fut = pin!(fut);
        let out = poll_fn(|cx| {
            if let Poll::Ready(out) = fut.as_mut().poll(cx) {
                return Poll::Ready(Ok(out));
            }
            loop {
                if sleep.as_mut().poll(cx).is_pending() {
                    return Poll::Pending;
                }
                if sleep.deadline() >= deadline {
                    return Poll::Ready(Err(TimedOut));
                }
                // Armed for an earlier request's deadline: move on to this one's.
                sleep.as_mut().reset(deadline);
            }
        })
        .await;
        // A request cancelled before this point drops its timer; the next one makes a new one.
        *self.idle.lock().unwrap_or_else(PoisonError::into_inner) = Some(sleep);
        out
    }

    /// The idle timer if it is armed no later than `deadline` (else moved back to it), or a new one.
    fn take(&self, deadline: Instant) -> Pin<Box<Sleep>> {
        let idle = self
            .idle
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        match idle {
            Some(sleep) if sleep.deadline() <= deadline => sleep,
            Some(mut sleep) => {
                sleep.as_mut().reset(deadline);
                sleep
            }
            None => Box::pin(tokio::time::sleep_until(deadline)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn a_future_that_finishes_in_time_gives_its_output() {
        let timer = DeadlineTimer::default();
        let out = timer.run(Duration::from_secs(5), async { 7 }).await;
        assert_eq!(out, Ok(7));
        let slow = timer.run(Duration::from_secs(5), async {
            tokio::time::sleep(Duration::from_secs(4)).await;
            8
        });
        assert_eq!(slow.await, Ok(8));
    }

    #[tokio::test(start_paused = true)]
    async fn the_deadline_counts_from_each_request_not_from_the_first() {
        let timer = DeadlineTimer::default();
        let start = Instant::now();
        // The first request arms the timer for start + 5 s.
        assert_eq!(timer.run(Duration::from_secs(5), async {}).await, Ok(()));
        tokio::time::sleep(Duration::from_secs(3)).await;
        // The second starts at 3 s: it must get its full 5 s (until 8 s), not be cut at 5 s.
        let out = timer
            .run(Duration::from_secs(5), async {
                tokio::time::sleep(Duration::from_millis(4900)).await;
                "done"
            })
            .await;
        assert_eq!(out, Ok("done"));
        assert!(start.elapsed() >= Duration::from_millis(7900));
        // The third starts at 7.9 s and never finishes: cut exactly 5 s later.
        let third_start = Instant::now();
        let out = timer
            .run(Duration::from_secs(5), std::future::pending::<()>())
            .await;
        assert_eq!(out, Err(TimedOut));
        let waited = third_start.elapsed();
        assert!(
            waited >= Duration::from_secs(5) && waited < Duration::from_millis(5010),
            "cut after {waited:?}"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_shorter_timeout_than_the_armed_one_still_fires_on_time() {
        let timer = DeadlineTimer::default();
        assert_eq!(timer.run(Duration::from_secs(60), async {}).await, Ok(()));
        let start = Instant::now();
        let out = timer
            .run(Duration::from_secs(1), std::future::pending::<()>())
            .await;
        assert_eq!(out, Err(TimedOut));
        assert!(start.elapsed() < Duration::from_millis(1010));
    }

    #[tokio::test(start_paused = true)]
    async fn a_request_after_a_cancelled_one_still_times_out() {
        let timer = DeadlineTimer::default();
        let cancelled = tokio::time::timeout(
            Duration::from_secs(1),
            timer.run(Duration::from_secs(5), std::future::pending::<()>()),
        )
        .await;
        assert!(cancelled.is_err());
        let start = Instant::now();
        let out = timer
            .run(Duration::from_secs(2), std::future::pending::<()>())
            .await;
        assert_eq!(out, Err(TimedOut));
        assert!(start.elapsed() >= Duration::from_secs(2));
    }
}
