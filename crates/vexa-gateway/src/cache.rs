//! The in-process key cache: digest → resolved principal (or "unknown"/"revoked"), bounded,
//! sharded (readers share a shard lock that is never held across `.await`), with single-flight
//! misses so a burst of requests for one uncached key makes one store lookup.
//!
//! Freshness: a positive entry is trusted for `positive_ttl`, then refreshed on the next use;
//! while the store is unreachable a stale positive entry keeps working for `max_stale` more.
//! `expires_at` is checked on every hit. Revocations evict immediately via [`KeyCache::apply`]
//! and leave a tombstone so the next use reports "revoked" without a store round trip.
//!
//! Where a miss is looked up is the [`KeySource`]'s business (our store, or the original's
//! identity service); entries are keyed by digest only, so no plaintext key is ever held here
//! beyond the one lookup in flight that needs it.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::Duration;

use futures_util::future::{BoxFuture, FutureExt, Shared};
use http::HeaderValue;
use tokio::sync::Semaphore;
use tokio::time::Instant;
use vexa_core::store::IdentityChange;
use vexa_core::{IdentityStore, KeyDigest, KeyId, Principal, Timestamp, UserId};

use crate::config::CacheConfig;
use crate::identity::{KeySource, PresentedKey, StoreKeySource};

const SHARDS: usize = 64;
/// At most this many store lookups run at once; further misses wait (bounded load on the store).
const MAX_CONCURRENT_MISSES: usize = 64;
/// A revoked digest is remembered this long so its next use is reported as "revoked".
const TOMBSTONE_TTL: Duration = Duration::from_secs(3600);

/// The identity a key resolved to — its principal — with the identity headers the gateway injects
/// pre-rendered (no per-request formatting). Shared by every request with that key while cached.
#[derive(Debug)]
pub struct ResolvedIdentity {
    pub principal: Principal,
    pub digest: KeyDigest,
    pub h_user_id: HeaderValue,
    pub h_email: HeaderValue,
    pub h_scopes: HeaderValue,
    pub h_limits: HeaderValue,
    pub h_key_id: HeaderValue,
    /// The key's own bot cap, when it has one (our meetings service only).
    pub h_key_bots: Option<HeaderValue>,
    /// Epoch ms of the last use handed to the last-used recorder (throttles it to 1/s per key).
    pub last_recorded_ms: AtomicI64,
}

impl ResolvedIdentity {
    fn new(principal: Principal, digest: KeyDigest) -> ResolvedIdentity {
        let email = HeaderValue::from_str(&principal.email)
            .unwrap_or_else(|_| HeaderValue::from_static(""));
        ResolvedIdentity {
            h_user_id: HeaderValue::from(principal.user_id.0),
            h_email: email,
            h_scopes: HeaderValue::from_str(&principal.scopes.to_csv())
                .unwrap_or_else(|_| HeaderValue::from_static("")),
            h_limits: HeaderValue::from(principal.max_concurrent_bots),
            h_key_id: HeaderValue::from(principal.key_id.0),
            h_key_bots: principal.limits.max_concurrent_bots.map(HeaderValue::from),
            last_recorded_ms: AtomicI64::new(i64::MIN),
            principal,
            digest,
        }
    }
}

/// The cache's answer for one key.
#[derive(Debug, Clone)]
pub enum Lookup {
    Valid(Arc<ResolvedIdentity>),
    Unknown,
    Revoked,
    /// The key exists but has expired (its id, for the usage counters).
    Expired(KeyId),
    Unavailable,
}

#[derive(Debug, Clone)]
enum Entry {
    Known {
        cached: Arc<ResolvedIdentity>,
        fresh_until: Instant,
    },
    Unknown {
        until: Instant,
    },
    Revoked {
        until: Instant,
    },
}

/// SHA-256 digests are already uniform: hash by folding their bytes, no SipHash.
#[derive(Default)]
struct DigestHasher(u64);

impl Hasher for DigestHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        let mut word = [0u8; 8];
        let n = bytes.len().min(8);
        word[..n].copy_from_slice(&bytes[..n]);
        self.0 = self.0.rotate_left(17) ^ u64::from_le_bytes(word);
    }
}

type Map<V> = HashMap<KeyDigest, V, BuildHasherDefault<DigestHasher>>;
type FlightResult = Result<Option<Arc<ResolvedIdentity>>, ()>;
type Flight = Shared<BoxFuture<'static, FlightResult>>;
type FlightMap = Map<(u64, Flight)>;

struct Inner {
    shards: Box<[RwLock<Map<Entry>>]>,
    flights: Box<[Mutex<FlightMap>]>,
    per_shard_cap: usize,
    cfg: CacheConfig,
    source: Arc<dyn KeySource>,
    misses: Semaphore,
    /// Bumped by every invalidation; a lookup that started before one does not fill the cache.
    epoch: AtomicU64,
    flight_ids: AtomicU64,
}

/// Shared handle to the cache.
#[derive(Clone)]
pub struct KeyCache(Arc<Inner>);

impl std::fmt::Debug for KeyCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyCache")
            .field("cfg", &self.0.cfg)
            .finish_non_exhaustive()
    }
}

fn shard_of(d: &KeyDigest) -> usize {
    usize::from(d.0[31]) % SHARDS
}

fn lock_read<T>(l: &RwLock<T>) -> std::sync::RwLockReadGuard<'_, T> {
    l.read().unwrap_or_else(PoisonError::into_inner)
}

fn lock_write<T>(l: &RwLock<T>) -> std::sync::RwLockWriteGuard<'_, T> {
    l.write().unwrap_or_else(PoisonError::into_inner)
}

fn lock<T>(l: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    l.lock().unwrap_or_else(PoisonError::into_inner)
}

impl KeyCache {
    /// A cache over our own store (`IDENTITY_SOURCE=store`).
    pub fn new(cfg: CacheConfig, store: Arc<dyn IdentityStore>) -> KeyCache {
        KeyCache::with_source(cfg, Arc::new(StoreKeySource::new(store)))
    }

    /// A cache over any [`KeySource`].
    pub fn with_source(cfg: CacheConfig, source: Arc<dyn KeySource>) -> KeyCache {
        let per_shard_cap = (cfg.capacity / SHARDS).max(1);
        KeyCache(Arc::new(Inner {
            shards: (0..SHARDS).map(|_| RwLock::new(Map::default())).collect(),
            flights: (0..SHARDS).map(|_| Mutex::new(Map::default())).collect(),
            per_shard_cap,
            cfg,
            source,
            misses: Semaphore::new(MAX_CONCURRENT_MISSES),
            epoch: AtomicU64::new(0),
            flight_ids: AtomicU64::new(0),
        }))
    }

    /// The source's format check ([`KeySource::admit`]): `None` is an invalid key, decided
    /// without touching the cache or the source.
    pub fn admit(&self, raw: &str) -> Option<PresentedKey> {
        self.0.source.admit(raw)
    }

    /// How long a resolved key is trusted before its source is asked again.
    pub fn positive_ttl(&self) -> Duration {
        self.0.cfg.positive_ttl
    }

    /// Entries held (resolved keys, unknown-key and revocation tombstones), for the replica
    /// registry's heartbeat: one read lock per shard, each held only to read its length.
    pub fn len(&self) -> usize {
        self.0.shards.iter().map(|s| lock_read(s).len()).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether keys come from our own store (then their uses are recorded there).
    pub fn is_own_store(&self) -> bool {
        self.0.source.is_own_store()
    }

    /// Resolves an admitted key. `now` is the clock used for `expires_at`.
    pub async fn resolve(&self, key: impl Into<PresentedKey>, now: Timestamp) -> Lookup {
        let key = key.into();
        let key = &key;
        let inner = &self.0;
        let digest = key.digest;
        let shard = shard_of(&digest);
        let instant = Instant::now();
        let stale = {
            let map = lock_read(&inner.shards[shard]);
            match map.get(&digest) {
                Some(Entry::Known {
                    cached,
                    fresh_until,
                }) => {
                    if cached.principal.is_retired_at(now) {
                        return Lookup::Revoked;
                    }
                    if cached.principal.is_expired_at(now) {
                        return Lookup::Expired(cached.principal.key_id);
                    }
                    if instant < *fresh_until {
                        return Lookup::Valid(cached.clone());
                    }
                    Some((cached.clone(), *fresh_until))
                }
                Some(Entry::Unknown { until }) if instant < *until => return Lookup::Unknown,
                Some(Entry::Revoked { until }) if instant < *until => return Lookup::Revoked,
                _ => None,
            }
        };
        match self.single_flight_lookup(key).await {
            // A rotated key past its grace end is as good as revoked (never "expired").
            Ok(Some(cached)) if cached.principal.is_retired_at(now) => Lookup::Revoked,
            Ok(Some(cached)) => {
                if cached.principal.is_expired_at(now) {
                    Lookup::Expired(cached.principal.key_id)
                } else {
                    Lookup::Valid(cached)
                }
            }
            Ok(None) => Lookup::Unknown,
            Err(()) => match stale {
                Some((cached, fresh_until))
                    if Instant::now() < fresh_until + inner.cfg.max_stale =>
                {
                    Lookup::Valid(cached)
                }
                _ => Lookup::Unavailable,
            },
        }
    }

    /// Joins the source lookup in flight for the key's digest, or starts one: concurrent misses
    /// for one key share a single lookup.
    async fn single_flight_lookup(&self, key: &PresentedKey) -> FlightResult {
        let digest = key.digest;
        let shard = shard_of(&digest);
        let (id, flight) = {
            let mut flights = lock(&self.0.flights[shard]);
            match flights.get(&digest) {
                Some((id, f)) => (*id, f.clone()),
                None => {
                    let id = self.0.flight_ids.fetch_add(1, Ordering::Relaxed);
                    let f = self.clone().lookup(key.clone()).boxed().shared();
                    flights.insert(digest, (id, f.clone()));
                    (id, f)
                }
            }
        };
        let out = flight.await;
        let mut flights = lock(&self.0.flights[shard]);
        if flights.get(&digest).is_some_and(|(fid, _)| *fid == id) {
            flights.remove(&digest);
        }
        out
    }

    async fn lookup(self, key: PresentedKey) -> FlightResult {
        let inner = &self.0;
        let digest = key.digest;
        let epoch = inner.epoch.load(Ordering::Acquire);
        let _permit = inner.misses.acquire().await.map_err(|_| ())?;
        let found = inner.source.lookup(key).await.map_err(|_| ())?;
        let now = Instant::now();
        let (entry, out) = match found {
            Some(principal) => {
                let cached = Arc::new(ResolvedIdentity::new(principal, digest));
                (
                    Entry::Known {
                        cached: cached.clone(),
                        fresh_until: now + inner.cfg.positive_ttl,
                    },
                    Some(cached),
                )
            }
            None => (
                Entry::Unknown {
                    until: now + inner.cfg.negative_ttl,
                },
                None,
            ),
        };
        let mut map = lock_write(&inner.shards[shard_of(&digest)]);
        // A revocation that arrived while we asked the store wins over what we read.
        if inner.epoch.load(Ordering::Acquire) == epoch {
            self.insert_locked(&mut map, digest, entry, now);
        }
        Ok(out)
    }

    fn insert_locked(&self, map: &mut Map<Entry>, digest: KeyDigest, entry: Entry, now: Instant) {
        if map.len() >= self.0.per_shard_cap && !map.contains_key(&digest) {
            let max_stale = self.0.cfg.max_stale;
            map.retain(|_, e| match e {
                Entry::Known { fresh_until, .. } => now < *fresh_until + max_stale,
                Entry::Unknown { until } | Entry::Revoked { until } => now < *until,
            });
            if map.len() >= self.0.per_shard_cap {
                // Still full: drop an arbitrary entry (HashMap order is effectively random).
                if let Some(victim) = map.keys().next().copied() {
                    map.remove(&victim);
                }
            }
        }
        map.insert(digest, entry);
    }

    /// Applies an identity change synchronously: afterwards no request sees the old state.
    pub fn apply(&self, change: &IdentityChange) {
        let inner = &self.0;
        inner.epoch.fetch_add(1, Ordering::AcqRel);
        match change {
            IdentityChange::KeyRevoked(digest) => {
                let mut map = lock_write(&inner.shards[shard_of(digest)]);
                let now = Instant::now();
                self.insert_locked(
                    &mut map,
                    *digest,
                    Entry::Revoked {
                        until: now + TOMBSTONE_TTL,
                    },
                    now,
                );
            }
            // Still valid, but the cached copy lacks the new state (a grace end, new limits):
            // drop it so the next request reads the key again. No tombstone: the key keeps
            // working.
            IdentityChange::KeyChanged(digest) => {
                lock_write(&inner.shards[shard_of(digest)]).remove(digest);
            }
            IdentityChange::UserChanged(user) => self.evict_user(*user),
        }
    }

    fn evict_user(&self, user: UserId) {
        for shard in self.0.shards.iter() {
            let mut map = lock_write(shard);
            map.retain(|_, e| !matches!(e, Entry::Known { cached, .. } if cached.principal.user_id == user));
        }
    }
}
