//! A coarse timer for hyper's header-read timeout (the slow-loris bound of `server`).
//!
//! hyper arms that timeout for every request head it waits for and drops it once the head is
//! in. With `hyper_util`'s `TokioTimer` each of those is a boxed tokio `Sleep`: the time driver's
//! lock, a wheel insert and a wheel remove, about 1.1k of the gateway's 46k instructions per
//! request (bench/NOTES.md). A bound of seconds needs no millisecond precision, so here a sleep
//! is an entry in a table (one uncontended lock, a slab insert, a slab remove) and one sweeper
//! thread wakes the expired ones every [`TICK`]. A timeout fires between its deadline and about
//! one tick later, never before.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard, OnceLock, PoisonError};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use hyper::rt::{Sleep, Timer};
use slab::Slab;

/// How often expired sleeps are woken: the timer's precision.
pub const TICK: Duration = Duration::from_millis(100);
/// Serving threads pick shards round-robin, so each usually has its lock to itself.
const SHARDS: usize = 16;

/// The timer to give hyper's connection builder. Cheap to clone; all share one table.
#[derive(Clone, Copy)]
pub struct HeaderTimer {
    table: &'static Table,
}

impl HeaderTimer {
    /// The process's timer, its sweeper thread started on first use.
    pub fn get() -> std::io::Result<HeaderTimer> {
        // `None` when the sweeper could not start: callers fall back to tokio's timer.
        static TABLE: OnceLock<Option<&'static Table>> = OnceLock::new();
        let table = TABLE.get_or_init(|| {
            let table: &'static Table = Box::leak(Box::new(Table::new()));
            std::thread::Builder::new()
                .name("vexa-header-timer".into())
                .spawn(move || table.sweep_forever())
                .ok()
                .map(|_| table)
        });
        table
            .map(|table| HeaderTimer { table })
            .ok_or_else(|| std::io::Error::other("the header timer's sweeper thread did not start"))
    }
}

impl Timer for HeaderTimer {
    fn sleep(&self, duration: Duration) -> Pin<Box<dyn Sleep>> {
        self.sleep_until(Instant::now() + duration)
    }

    fn sleep_until(&self, deadline: Instant) -> Pin<Box<dyn Sleep>> {
        Box::pin(CoarseSleep {
            table: self.table,
            deadline,
            entry: None,
        })
    }

    fn reset(&self, sleep: &mut Pin<Box<dyn Sleep>>, new_deadline: Instant) {
        match sleep.as_mut().downcast_mut_pin::<CoarseSleep>() {
            Some(mine) => mine.get_mut().reset(new_deadline),
            None => *sleep = self.sleep_until(new_deadline),
        }
    }
}

struct Entry {
    /// Unique per registration within its shard: a slab slot is reused once freed.
    id: u64,
    deadline: Instant,
    waker: Waker,
}

/// One shard's sleeps. Registration ids are counted here, under the lock already held, so no
/// counter is shared between serving threads.
#[derive(Default)]
struct Shard {
    entries: Slab<Entry>,
    next_id: u64,
}

impl Shard {
    fn insert(&mut self, deadline: Instant, waker: Waker) -> (usize, u64) {
        let id = self.next_id;
        self.next_id = self.next_id.wrapping_add(1);
        let key = self.entries.insert(Entry {
            id,
            deadline,
            waker,
        });
        (key, id)
    }

    /// The entry registered as `at`, unless it was swept (its slot may hold another by now).
    fn get_mut(&mut self, at: At) -> Option<&mut Entry> {
        self.entries.get_mut(at.key).filter(|e| e.id == at.id)
    }

    fn remove(&mut self, at: At) {
        if self.get_mut(at).is_some() {
            self.entries.remove(at.key);
        }
    }
}

struct Table {
    shards: [Mutex<Shard>; SHARDS],
}

impl Table {
    fn new() -> Table {
        Table {
            shards: std::array::from_fn(|_| Mutex::new(Shard::default())),
        }
    }

    fn shard(&self, index: usize) -> MutexGuard<'_, Shard> {
        self.shards[index]
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    fn sweep_forever(&self) {
        let mut due = Vec::new();
        loop {
            std::thread::sleep(TICK);
            self.wake_expired(Instant::now(), &mut due);
        }
    }

    /// Removes the entries due at `now` and wakes them (outside the lock).
    fn wake_expired(&self, now: Instant, due: &mut Vec<Waker>) {
        for index in 0..SHARDS {
            self.shard(index).entries.retain(|_, e| {
                if e.deadline <= now {
                    due.push(e.waker.clone());
                    false
                } else {
                    true
                }
            });
            due.drain(..).for_each(Waker::wake);
        }
    }

    #[cfg(test)]
    fn entries(&self) -> usize {
        (0..SHARDS).map(|i| self.shard(i).entries.len()).sum()
    }
}

/// This thread's shard.
fn my_shard() -> usize {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    thread_local! {
        static SHARD: usize = NEXT.fetch_add(1, Ordering::Relaxed) % SHARDS;
    }
    SHARD.with(|s| *s)
}

/// Where a sleep's entry is: its shard, slab key and registration id.
#[derive(Clone, Copy)]
struct At {
    shard: usize,
    key: usize,
    id: u64,
}

struct CoarseSleep {
    table: &'static Table,
    deadline: Instant,
    /// Registered on the first pending poll; removed when it fires, is dropped or is done.
    entry: Option<At>,
}

impl CoarseSleep {
    fn register(&mut self, waker: &Waker) {
        let shard = my_shard();
        let (key, id) = self.table.shard(shard).insert(self.deadline, waker.clone());
        self.entry = Some(At { shard, key, id });
    }

    fn deregister(&mut self) {
        if let Some(at) = self.entry.take() {
            self.table.shard(at.shard).remove(at);
        }
    }

    fn reset(&mut self, deadline: Instant) {
        self.deadline = deadline;
        if let Some(at) = self.entry {
            if let Some(e) = self.table.shard(at.shard).get_mut(at) {
                e.deadline = deadline;
                return;
            }
            // Already swept for the old deadline: the next poll registers the new one.
            self.entry = None;
        }
    }
}

impl Future for CoarseSleep {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.get_mut();
        if Instant::now() >= this.deadline {
            this.deregister();
            return Poll::Ready(());
        }
        if let Some(at) = this.entry {
            if let Some(e) = this.table.shard(at.shard).get_mut(at) {
                if !e.waker.will_wake(cx.waker()) {
                    e.waker = cx.waker().clone();
                }
                return Poll::Pending;
            }
            this.entry = None;
        }
        this.register(cx.waker());
        Poll::Pending
    }
}

impl Sleep for CoarseSleep {}

impl Drop for CoarseSleep {
    fn drop(&mut self) {
        self.deregister();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn timer() -> HeaderTimer {
        HeaderTimer::get().expect("sweeper thread starts")
    }

    #[tokio::test]
    async fn a_sleep_fires_after_its_deadline_and_within_a_few_ticks() {
        let start = Instant::now();
        timer().sleep(Duration::from_millis(250)).await;
        let waited = start.elapsed();
        assert!(
            waited >= Duration::from_millis(250),
            "fired early: {waited:?}"
        );
        assert!(waited < Duration::from_secs(3), "fired late: {waited:?}");
    }

    #[tokio::test]
    async fn a_reset_to_later_is_not_cut_at_the_earlier_deadline() {
        let t = timer();
        let start = Instant::now();
        let mut sleep = t.sleep(Duration::from_millis(100));
        // Registered for 100 ms, then moved to 600 ms before it fires.
        assert!(futures_util::poll!(sleep.as_mut()).is_pending());
        t.reset(&mut sleep, start + Duration::from_millis(600));
        sleep.await;
        assert!(start.elapsed() >= Duration::from_millis(600));
    }

    #[tokio::test]
    async fn a_reset_after_the_entry_was_swept_still_fires() {
        let t = timer();
        let mut sleep = t.sleep(Duration::from_millis(50));
        assert!(futures_util::poll!(sleep.as_mut()).is_pending());
        // Long enough for the sweeper to remove the entry, without this task polling it.
        std::thread::sleep(TICK * 3);
        let start = Instant::now();
        t.reset(&mut sleep, start + Duration::from_millis(200));
        sleep.await;
        assert!(start.elapsed() >= Duration::from_millis(200));
    }

    /// A table of its own, without a sweeper: nothing else touches it.
    fn private_timer() -> HeaderTimer {
        HeaderTimer {
            table: Box::leak(Box::new(Table::new())),
        }
    }

    #[tokio::test]
    async fn dropped_and_finished_sleeps_leave_no_entry() {
        let t = private_timer();
        let mut pending: Vec<_> = (0..100)
            .map(|_| t.sleep(Duration::from_secs(3600)))
            .collect();
        for s in &mut pending {
            assert!(futures_util::poll!(s.as_mut()).is_pending());
        }
        assert_eq!(t.table.entries(), 100);
        drop(pending);
        assert_eq!(t.table.entries(), 0);
        // One that is done (its deadline passed when polled again) leaves nothing either.
        let mut done = t.sleep(Duration::from_millis(20));
        assert!(futures_util::poll!(done.as_mut()).is_pending());
        assert_eq!(t.table.entries(), 1);
        std::thread::sleep(Duration::from_millis(30));
        assert!(futures_util::poll!(done.as_mut()).is_ready());
        assert_eq!(t.table.entries(), 0);
    }

    #[tokio::test]
    async fn the_sweep_wakes_only_the_expired() {
        let t = private_timer();
        let mut soon = t.sleep(Duration::from_millis(1));
        let mut later = t.sleep(Duration::from_secs(3600));
        assert!(futures_util::poll!(soon.as_mut()).is_pending());
        assert!(futures_util::poll!(later.as_mut()).is_pending());
        let mut due = Vec::new();
        t.table
            .wake_expired(Instant::now() + Duration::from_millis(5), &mut due);
        assert_eq!(t.table.entries(), 1, "only the expired entry is removed");
        std::thread::sleep(Duration::from_millis(5));
        assert!(futures_util::poll!(soon.as_mut()).is_ready());
        assert!(futures_util::poll!(later.as_mut()).is_pending());
    }

    #[test]
    fn sleeps_on_many_threads_all_fire() {
        let handles: Vec<_> = (0..8)
            .map(|i| {
                std::thread::spawn(move || {
                    let rt = tokio::runtime::Builder::new_current_thread()
                        .build()
                        .expect("runtime");
                    rt.block_on(async move {
                        let start = Instant::now();
                        let wait = Duration::from_millis(50 + 30 * i);
                        timer().sleep(wait).await;
                        start.elapsed() >= wait
                    })
                })
            })
            .collect();
        for h in handles {
            assert!(h.join().expect("thread"));
        }
    }
}
