//! Micro-benchmarks of the gateway's per-request work, each in isolation:
//! key parse + checksum (+ digest), scope check, mint (incl. digest), the two limiter decisions,
//! route lookup, and key-cache hits (with 1 and with 1M keys cached).
//!
//! Run with `cargo bench -p vexa-bench --bench micro` (scripts/bench.sh does, with a short
//! measurement time). Never part of `cargo test`.

use std::hint::black_box;
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, BatchSize, Criterion};
use futures_util::FutureExt;
use http::Method;
use rand::rngs::StdRng;
use rand::SeedableRng;
use vexa_bench::MemStore;
use vexa_core::{ApiKey, KeyDigest, MintedKey, Scope, ScopeSet, Timestamp};
use vexa_gateway::limit::{EdgeConfig, EdgeGuard, UserLimitConfig, UserLimiter};
use vexa_gateway::{CacheConfig, KeyCache, Lookup};

const NOW_MS: i64 = 1_760_000_000_000;

fn key_parse(c: &mut Criterion) {
    let mut rng = StdRng::seed_from_u64(7);
    let key = MintedKey::generate_with(Scope::Browser, &mut rng);
    let raw = key.expose_secret().to_owned();
    // Same length and alphabet, last checksum character changed: fails at the checksum.
    let mut bad = raw.clone();
    let last = if bad.ends_with('0') { "1" } else { "0" };
    bad.replace_range(bad.len() - 1.., last);
    let mut g = c.benchmark_group("key");
    g.bench_function(
        "parse_valid (shape + crc32 checksum + sha256 digest)",
        |b| b.iter(|| ApiKey::parse(black_box(&raw))),
    );
    g.bench_function("parse_bad_checksum (rejected before digest)", |b| {
        b.iter(|| ApiKey::parse(black_box(&bad)))
    });
    g.bench_function("parse_bad_prefix", |b| {
        b.iter(|| ApiKey::parse(black_box("sk_live_0123456789abcdef0123456789abcdef0123")))
    });
    g.bench_function("sha256_digest_only", |b| {
        b.iter(|| KeyDigest::of(black_box(&raw)))
    });
    g.bench_function("mint (os csprng + checksum + digest)", |b| {
        b.iter(|| MintedKey::generate(black_box(Scope::Bot)))
    });
    g.finish();
}

fn scope_check(c: &mut Criterion) {
    let held: ScopeSet = [Scope::Tx, Scope::Browser].into_iter().collect();
    let accepted_hit: &[Scope] = &[Scope::Bot, Scope::Tx];
    let accepted_miss: &[Scope] = &[Scope::Bot];
    let mut g = c.benchmark_group("scope");
    g.bench_function("intersects_hit", |b| {
        b.iter(|| black_box(&held).intersects(black_box(accepted_hit)))
    });
    g.bench_function("intersects_miss", |b| {
        b.iter(|| black_box(&held).intersects(black_box(accepted_miss)))
    });
    g.bench_function("contains", |b| {
        b.iter(|| black_box(&held).contains(black_box(Scope::Browser)))
    });
    g.finish();
}

fn route_lookup(c: &mut Criterion) {
    let mut g = c.benchmark_group("route");
    g.bench_function("find /browser/x", |b| {
        b.iter(|| {
            vexa_gateway::routes::find(&Method::GET, black_box("/browser/x"), false).is_some()
        })
    });
    g.bench_function("find /transcripts/{p}/{n}", |b| {
        b.iter(|| {
            vexa_gateway::routes::find(
                &Method::GET,
                black_box("/transcripts/google_meet/abc-defg-hij"),
                false,
            )
            .is_some()
        })
    });
    g.bench_function("find unknown (404)", |b| {
        b.iter(|| {
            vexa_gateway::routes::find(&Method::GET, black_box("/nope/nothing"), false).is_some()
        })
    });
    g.finish();
}

fn limiters(c: &mut Criterion) {
    let user = UserLimiter::local(UserLimitConfig {
        disabled: false,
        rate_per_sec: 1e9,
        burst: u32::MAX,
    });
    let edge = EdgeGuard::new(EdgeConfig {
        requests_per_minute: u32::MAX,
        ..EdgeConfig::default()
    });
    let ip: IpAddr = IpAddr::from([127, 0, 0, 1]);
    let tick = AtomicU64::new(0);
    let mut g = c.benchmark_group("limiter");
    // The in-process user bucket never awaits: poll it once.
    g.bench_function("user_bucket_allow (local GCRA)", |b| {
        b.iter(|| {
            let t = tick.fetch_add(1, Ordering::Relaxed) as i64 / 1000;
            let d = user.check(black_box(42), NOW_MS + t).now_or_never();
            d.is_some_and(|d| d.allowed)
        })
    });
    g.bench_function("user_bucket_many_users", |b| {
        b.iter(|| {
            let n = tick.fetch_add(1, Ordering::Relaxed) as i64;
            let d = user
                .check(black_box(n % 10_000), NOW_MS + n / 1000)
                .now_or_never();
            d.is_some_and(|d| d.allowed)
        })
    });
    g.bench_function("edge_guard_allow (per-IP sketch)", |b| {
        b.iter(|| {
            let t = tick.fetch_add(1, Ordering::Relaxed) as i64 / 1000;
            edge.check(black_box(ip), NOW_MS + t).allowed
        })
    });
    g.finish();
}

/// Fills a cache with `n` keys (through real misses against the in-memory store) and returns
/// the cache and the digests.
fn primed_cache(n: usize) -> (KeyCache, Vec<KeyDigest>, Arc<MemStore>) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let store = Arc::new(MemStore::with_keys(n, 11));
    let cache = KeyCache::new(
        CacheConfig {
            capacity: (n * 2).max(1024),
            positive_ttl: Duration::from_secs(3600),
            ..CacheConfig::default()
        },
        store.clone(),
    );
    let digests = store.digests();
    rt.block_on(async {
        for d in &digests {
            match cache.resolve(*d, Timestamp(NOW_MS)).await {
                Lookup::Valid(_) => {}
                other => panic!("priming failed: {other:?}"),
            }
        }
    });
    (cache, digests, store)
}

fn cache_hit(c: &mut Criterion) {
    let mut g = c.benchmark_group("key_cache");
    for n in [1usize, 1_000_000] {
        let (cache, digests, store) = primed_cache(n);
        let lookups_before = store.lookups();
        let mut i = 0usize;
        // A hit never awaits, so one poll completes it: no executor in the measurement.
        g.bench_function(format!("hit ({n} keys cached)"), |b| {
            b.iter(|| {
                i = (i + 7919) % digests.len();
                let r = cache
                    .resolve(black_box(digests[i]), Timestamp(NOW_MS))
                    .now_or_never();
                matches!(r, Some(Lookup::Valid(_)))
            })
        });
        assert_eq!(
            store.lookups(),
            lookups_before,
            "a cache hit must not touch the store"
        );
        // Parse + digest + hit: the whole authentication step for a valid key.
        let raw = store.sample_plaintext();
        g.bench_function(format!("parse + hit ({n} keys cached)"), |b| {
            b.iter(|| {
                let key = ApiKey::parse(black_box(&raw)).expect("valid");
                let r = cache.resolve(key.digest, Timestamp(NOW_MS)).now_or_never();
                matches!(r, Some(Lookup::Valid(_)))
            })
        });
        drop(cache);
    }
    // A miss that the store answers at once: the cost of the single-flight machinery itself.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let store = Arc::new(MemStore::with_keys(1, 3));
    let cache = KeyCache::new(CacheConfig::default(), store.clone());
    let digest = store.digests()[0];
    g.bench_function("miss (in-memory store, then evicted)", |b| {
        b.iter_batched(
            || {
                cache.apply(&vexa_core::IdentityChange::UserChanged(vexa_core::UserId(
                    1,
                )))
            },
            |()| rt.block_on(cache.resolve(black_box(digest), Timestamp(NOW_MS))),
            BatchSize::SmallInput,
        )
    });
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .sample_size(30);
    targets = key_parse, scope_check, route_lookup, limiters, cache_hit
}
criterion_main!(benches);
