//! Per-user buckets shared by every gateway replica through Redis: one atomic Lua script per
//! decision (EVALSHA, loading the script on NOSCRIPT), one key per user holding its TAT, expiring
//! exactly when the bucket is full again (a missing key is a full bucket). A key with a rate limit
//! of its own has a second bucket (`<prefix>key:<key_id>`), decided with its user's in one script
//! so that a request spends a token from both or from neither.
//!
//! Owns the connection and its health, nothing else: when Redis is down, slow (> 50 ms) or
//! returns an error, [`RedisBuckets::acquire`] answers `None` and the caller decides locally.
//! Reconnection happens in a background task at most once per second, so no request waits for a
//! connect. Time comes from the caller; replicas are assumed NTP-synchronised, and a replica whose
//! clock lags only sees an emptier bucket (a stored TAT is never moved backwards).

use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use redis::aio::MultiplexedConnection;
use redis::{AsyncConnectionConfig, Client, RedisError, Script};

use super::gcra::{Gcra, Verdict};
use super::LimitError;

/// Longest a request waits for Redis before deciding locally.
const CALL_TIMEOUT: Duration = Duration::from_millis(50);
/// Longest a (background or startup) connect may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(1);
/// Pause between reconnect attempts, in the caller's milliseconds.
const RETRY_INTERVAL_MS: i64 = 1_000;
/// At most one warning per this interval while Redis is failing.
const WARN_INTERVAL_MS: i64 = 60_000;

/// ARGV: now, interval, tolerance (µs, integers below 2^53 so exact in Lua numbers).
/// Returns {1, new_tat, 0} when admitted, {0, tat, wait} when refused.
const BUCKET_LUA: &str = r"
local now = tonumber(ARGV[1])
local interval = tonumber(ARGV[2])
local tolerance = tonumber(ARGV[3])
local tat = now
local stored = tonumber(redis.call('GET', KEYS[1]) or '')
if stored and stored > now then tat = stored end
local ahead = tat - now
if ahead > tolerance then
  return {0, tat, ahead - tolerance}
end
local new_tat = tat + interval
local ttl_ms = math.ceil((new_tat - now) / 1000)
redis.call('SET', KEYS[1], string.format('%.0f', new_tat), 'PX', string.format('%.0f', ttl_ms))
return {1, new_tat, 0}
";

/// The user's and the key's bucket at once. KEYS: user, key. ARGV: now, then interval and
/// tolerance of the user's bucket, then of the key's. Both are written only when both admit.
/// Returns {user_ok, user_tat, user_wait, key_ok, key_tat, key_wait}; a bucket that admits
/// reports the TAT it would store (and stored, when the other admitted too).
const PAIR_LUA: &str = r"
local now = tonumber(ARGV[1])
local function decide(key, interval, tolerance)
  local tat = now
  local stored = tonumber(redis.call('GET', key) or '')
  if stored and stored > now then tat = stored end
  local ahead = tat - now
  if ahead > tolerance then
    return 0, tat, ahead - tolerance
  end
  return 1, tat + interval, 0
end
local uok, utat, uwait = decide(KEYS[1], tonumber(ARGV[2]), tonumber(ARGV[3]))
local kok, ktat, kwait = decide(KEYS[2], tonumber(ARGV[4]), tonumber(ARGV[5]))
if uok == 1 and kok == 1 then
  redis.call('SET', KEYS[1], string.format('%.0f', utat), 'PX', string.format('%.0f', math.ceil((utat - now) / 1000)))
  redis.call('SET', KEYS[2], string.format('%.0f', ktat), 'PX', string.format('%.0f', math.ceil((ktat - now) / 1000)))
end
return {uok, utat, uwait, kok, ktat, kwait}
";

/// Shared buckets plus the state of the one multiplexed connection to Redis.
pub(crate) struct RedisBuckets {
    client: Client,
    prefix: String,
    script: Script,
    pair_script: Script,
    /// `None` while disconnected. Cloned out (cheap) so the lock is never held across `.await`.
    conn: Mutex<Option<MultiplexedConnection>>,
    reconnecting: AtomicBool,
    next_retry_ms: AtomicI64,
    last_warn_ms: AtomicI64,
    fallbacks: AtomicU64,
}

impl std::fmt::Debug for RedisBuckets {
    // The client holds the URL, which may carry a password: never print it.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisBuckets")
            .field("prefix", &self.prefix)
            .field("connected", &self.is_connected())
            .finish_non_exhaustive()
    }
}

impl RedisBuckets {
    /// Parses the URL and tries one connect; an unreachable server is not an error.
    pub(crate) async fn connect(url: &str, prefix: &str) -> Result<Arc<Self>, LimitError> {
        let client = Client::open(url).map_err(|_| LimitError::InvalidRedisUrl)?;
        let buckets = Arc::new(RedisBuckets {
            client,
            prefix: prefix.to_owned(),
            script: Script::new(BUCKET_LUA),
            pair_script: Script::new(PAIR_LUA),
            conn: Mutex::new(None),
            reconnecting: AtomicBool::new(false),
            next_retry_ms: AtomicI64::new(i64::MIN),
            last_warn_ms: AtomicI64::new(i64::MIN),
            fallbacks: AtomicU64::new(0),
        });
        match open(&buckets.client).await {
            Ok(conn) => buckets.set_conn(Some(conn)),
            Err(err) => tracing::warn!(
                error_kind = ?err.kind(),
                "redis unreachable at startup; per-user limits are per replica until it answers"
            ),
        }
        Ok(buckets)
    }

    pub(crate) fn is_connected(&self) -> bool {
        self.conn
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .is_some()
    }

    /// One shared decision, or `None` when Redis could not give one in time.
    pub(crate) async fn acquire(
        self: &Arc<Self>,
        gcra: &Gcra,
        user_id: i64,
        now_ms: i64,
    ) -> Option<Verdict> {
        let mut call = self.script.prepare_invoke();
        call.key(format!("{}{}", self.prefix, user_id))
            .arg(now_ms.saturating_mul(1000))
            .arg(gcra.interval_us())
            .arg(gcra.tolerance_us());
        let values = self.invoke(call, now_ms).await?;
        self.parsed(parse_reply(&values), now_ms)
    }

    /// One shared decision on a user's bucket and one of its keys' (see [`PAIR_LUA`]), or
    /// `None` when Redis could not give one in time.
    pub(crate) async fn acquire_pair(
        self: &Arc<Self>,
        (user, user_id): (&Gcra, i64),
        (key, key_id): (&Gcra, i64),
        now_ms: i64,
    ) -> Option<(Verdict, Verdict)> {
        let mut call = self.pair_script.prepare_invoke();
        call.key(format!("{}{}", self.prefix, user_id))
            .key(format!("{}key:{}", self.prefix, key_id))
            .arg(now_ms.saturating_mul(1000))
            .arg(user.interval_us())
            .arg(user.tolerance_us())
            .arg(key.interval_us())
            .arg(key.tolerance_us());
        let values = self.invoke(call, now_ms).await?;
        let pair = if values.len() == 6 {
            parse_reply(&values[..3]).zip(parse_reply(&values[3..]))
        } else {
            None
        };
        self.parsed(pair, now_ms)
    }

    /// Runs a prepared script on the shared connection; `None` (counted as a fallback) when
    /// there is no connection or the call fails or times out.
    async fn invoke(
        self: &Arc<Self>,
        call: redis::ScriptInvocation<'_>,
        now_ms: i64,
    ) -> Option<Vec<i64>> {
        let conn = self
            .conn
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        let Some(mut conn) = conn else {
            self.count_fallback();
            self.schedule_reconnect(now_ms);
            return None;
        };
        let reply =
            tokio::time::timeout(CALL_TIMEOUT, call.invoke_async::<Vec<i64>>(&mut conn)).await;
        let failure = match reply {
            Ok(Ok(values)) => return Some(values),
            Ok(Err(err)) => Failure::Redis(err),
            Err(_elapsed) => Failure::Timeout,
        };
        self.record_failure(failure, now_ms);
        None
    }

    /// A reply that did not parse counts as a failed call.
    fn parsed<T>(&self, value: Option<T>, now_ms: i64) -> Option<T> {
        if value.is_none() {
            self.record_failure(Failure::BadReply, now_ms);
        }
        value
    }

    /// Decisions this process took locally because Redis could not answer.
    #[cfg(any(test, feature = "testing"))]
    pub(crate) fn fallbacks(&self) -> u64 {
        self.fallbacks.load(Ordering::Relaxed)
    }

    fn count_fallback(&self) {
        self.fallbacks.fetch_add(1, Ordering::Relaxed);
        metrics::counter!("vexa_gateway_user_limit_redis_fallback_total").increment(1);
    }

    fn record_failure(&self, failure: Failure, now_ms: i64) {
        self.count_fallback();
        if failure.breaks_connection() {
            self.set_conn(None);
            self.next_retry_ms
                .store(now_ms.saturating_add(RETRY_INTERVAL_MS), Ordering::Relaxed);
        }
        let last = self.last_warn_ms.load(Ordering::Relaxed);
        let due = now_ms.saturating_sub(last) >= WARN_INTERVAL_MS || now_ms < last;
        if due
            && self
                .last_warn_ms
                .compare_exchange(last, now_ms, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
        {
            tracing::warn!(
                failure = failure.describe(),
                "redis rate-limit call failed; deciding per replica (next warning in 60 s at most)"
            );
        }
    }

    /// Starts one background connect if none is running and the back-off has passed.
    fn schedule_reconnect(self: &Arc<Self>, now_ms: i64) {
        if now_ms < self.next_retry_ms.load(Ordering::Relaxed)
            || self.reconnecting.swap(true, Ordering::AcqRel)
        {
            return;
        }
        self.next_retry_ms
            .store(now_ms.saturating_add(RETRY_INTERVAL_MS), Ordering::Relaxed);
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            self.reconnecting.store(false, Ordering::Release);
            return;
        };
        let client = self.client.clone();
        // The task owns only what it needs; the result is handed back through a weak link so a
        // dropped limiter is not kept alive by a pending connect.
        let target = Arc::downgrade(self);
        runtime.spawn(async move {
            let result = open(&client).await;
            if let Some(buckets) = target.upgrade() {
                if let Ok(conn) = result {
                    tracing::info!("redis reachable again; per-user limits are shared");
                    buckets.set_conn(Some(conn));
                }
                buckets.reconnecting.store(false, Ordering::Release);
            }
        });
    }

    fn set_conn(&self, conn: Option<MultiplexedConnection>) {
        *self.conn.lock().unwrap_or_else(PoisonError::into_inner) = conn;
    }
}

/// Connects with a bounded wait; the response timeout backs up the per-call timeout.
async fn open(client: &Client) -> Result<MultiplexedConnection, RedisError> {
    let config = AsyncConnectionConfig::new()
        .set_connection_timeout(CONNECT_TIMEOUT)
        .set_response_timeout(CALL_TIMEOUT);
    let attempt = client.get_multiplexed_async_connection_with_config(&config);
    match tokio::time::timeout(CONNECT_TIMEOUT, attempt).await {
        Ok(result) => result,
        Err(_) => Err(RedisError::from(std::io::Error::from(
            std::io::ErrorKind::TimedOut,
        ))),
    }
}

fn parse_reply(values: &[i64]) -> Option<Verdict> {
    match *values {
        [1, new_tat_us, _] => Some(Verdict::Allow { new_tat_us }),
        [0, tat_us, wait_us] => Some(Verdict::Deny { tat_us, wait_us }),
        _ => None,
    }
}

enum Failure {
    Timeout,
    BadReply,
    Redis(RedisError),
}

impl Failure {
    fn breaks_connection(&self) -> bool {
        match self {
            Failure::Timeout => true,
            Failure::BadReply => false,
            Failure::Redis(err) => err.is_io_error() || err.is_unrecoverable_error(),
        }
    }

    /// A fixed description: server error texts are not logged, they could echo arguments.
    fn describe(&self) -> &'static str {
        match self {
            Failure::Timeout => "timeout",
            Failure::BadReply => "unexpected reply",
            Failure::Redis(err) if err.is_io_error() => "io error",
            Failure::Redis(_) => "server error",
        }
    }
}
