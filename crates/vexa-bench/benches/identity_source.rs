//! The authentication step of a request with a cached key, per identity source: the source's
//! format check (`admit`) + digest + cache hit. `store` is our own format (parse + checksum);
//! `vexa` is `IDENTITY_SOURCE=vexa` (any plausible string, digested, its plaintext held only for
//! the request). Misses are primed once through each source's lookup and never repeated, so
//! neither the store nor the original's identity service is in the measurement.

use std::hint::black_box;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion};
use futures_util::future::{BoxFuture, FutureExt};
use vexa_core::{KeyId, MintedKey, Principal, Scope, ScopeSet, Timestamp, UserId};
use vexa_gateway::identity::{
    admit_store_key, admit_store_or_imported_key, admit_vexa_key, KeySource, PresentedKey,
    SourceResult,
};
use vexa_gateway::{CacheConfig, KeyCache, Lookup};

const NOW_MS: i64 = 1_760_000_000_000;

/// A source that admits as `admit` does and answers every lookup with one principal, counting
/// lookups (to show the measured loop never misses).
struct Primed {
    admit: fn(&str) -> Option<PresentedKey>,
    lookups: Arc<AtomicU64>,
    /// `false`: every lookup answers "no such key" (a garbage key's first sight).
    found: bool,
}

impl KeySource for Primed {
    fn admit(&self, raw: &str) -> Option<PresentedKey> {
        (self.admit)(raw)
    }

    fn lookup(&self, _key: PresentedKey) -> BoxFuture<'static, SourceResult> {
        self.lookups.fetch_add(1, Ordering::Relaxed);
        if !self.found {
            return async { Ok(None) }.boxed();
        }
        let principal = Principal {
            user_id: UserId(1),
            email: "bench@vexa.local".into(),
            scopes: [Scope::Bot, Scope::Tx].into_iter().collect::<ScopeSet>(),
            max_concurrent_bots: 3,
            key_id: KeyId(1),
            expires_at: None,
            limits: vexa_core::KeyLimits::NONE,
            retires_at: None,
            profile: Default::default(),
        };
        async move { Ok(Some(principal)) }.boxed()
    }

    fn is_own_store(&self) -> bool {
        false
    }
}

fn admit_and_hit(c: &mut Criterion) {
    let ours = MintedKey::generate(Scope::Bot);
    let ours = ours.expose_secret().to_owned();
    let original = "vxa_bot_AbCdEfGhIjKlMnOpQrStUvWxYz012345".to_owned();
    let mut g = c.benchmark_group("identity_source");
    for (name, admit, raw) in [
        (
            "store: admit + hit",
            admit_store_key as fn(&str) -> _,
            &ours,
        ),
        (
            "vexa: admit + hit",
            admit_vexa_key as fn(&str) -> _,
            &original,
        ),
    ] {
        let lookups = Arc::new(AtomicU64::new(0));
        let source = Arc::new(Primed {
            admit,
            lookups: lookups.clone(),
            found: true,
        });
        let cache = KeyCache::with_source(
            CacheConfig {
                positive_ttl: Duration::from_secs(3600),
                ..CacheConfig::default()
            },
            source,
        );
        let primed = cache
            .admit(raw)
            .map(|k| cache.resolve(k, Timestamp(NOW_MS)).now_or_never());
        assert!(
            matches!(primed, Some(Some(Lookup::Valid(_)))),
            "{name}: priming failed"
        );
        g.bench_function(name, |b| {
            b.iter(|| {
                let Some(key) = cache.admit(black_box(raw)) else {
                    return false;
                };
                let r = cache.resolve(key, Timestamp(NOW_MS)).now_or_never();
                matches!(r, Some(Lookup::Valid(_)))
            })
        });
        assert_eq!(
            lookups.load(Ordering::Relaxed),
            1,
            "{name}: a hit looked up"
        );
    }
    g.finish();
}

/// A flood of distinct garbage keys against a store WITH imported keys (so non-format keys are
/// admitted by digest): after each key's first sight (one lookup, primed here) every request is
/// a negative-cache hit, never a lookup. Per request: admit (format check fails, SHA-256 of the
/// raw key) + the cached miss. The edge guard in front is measured by the load runs, not here.
fn garbage_flood_with_imports(c: &mut Criterion) {
    const DISTINCT: usize = 10_000;
    let lookups = Arc::new(AtomicU64::new(0));
    let source = Arc::new(Primed {
        admit: |raw| admit_store_or_imported_key(raw, true),
        lookups: lookups.clone(),
        found: false,
    });
    let cache = KeyCache::with_source(
        CacheConfig {
            negative_ttl: Duration::from_secs(3600),
            ..CacheConfig::default()
        },
        source,
    );
    let garbage: Vec<String> = (0..DISTINCT)
        .map(|i| format!("garbage-key-{i:08}"))
        .collect();
    for g in &garbage {
        let k = cache.admit(g).expect("admitted while imports exist");
        let r = cache.resolve(k, Timestamp(NOW_MS)).now_or_never();
        assert!(matches!(r, Some(Lookup::Unknown)), "priming {g}");
    }
    let mut i = 0usize;
    c.bench_function(
        "identity_source/store with imports: garbage-key flood (negative hit)",
        |b| {
            b.iter(|| {
                i = (i + 1) % DISTINCT;
                let Some(key) = cache.admit(black_box(&garbage[i])) else {
                    return false;
                };
                let r = cache.resolve(key, Timestamp(NOW_MS)).now_or_never();
                matches!(r, Some(Lookup::Unknown))
            })
        },
    );
    assert_eq!(
        lookups.load(Ordering::Relaxed),
        DISTINCT as u64,
        "one lookup per distinct garbage key, none in the measured loop"
    );
}

criterion_group!(benches, admit_and_hit, garbage_flood_with_imports);
criterion_main!(benches);
