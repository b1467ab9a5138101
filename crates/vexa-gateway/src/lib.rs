//! The public front door: routes declared in a scope table, per-IP edge guard, API-key
//! authentication through an in-process cache, scope checks, per-user rate limits, identity
//! injection and a streaming reverse proxy (HTTP, SSE and WebSocket) to the meetings service.
//! Built on hyper directly so the hot path stays lean.

mod access_log;
mod body;
mod cache;
mod config;
mod error;
mod header_timer;
mod headers;
pub mod identity;
mod last_used;
pub mod limit;
mod observe;
pub mod openapi;
mod pipeline;
mod proxy;
pub mod routes;
mod server;
mod signing;
mod ws;

use std::future::Future;
use std::sync::Arc;

use bytes::Bytes;
use http::HeaderValue;
use metrics_exporter_prometheus::PrometheusHandle;
use vexa_core::store::IdentityChange;
use vexa_core::{Clock, IdentityListener, IdentityStore};

pub use crate::body::GwBody;
pub use crate::config::{AccessLog, CacheConfig, GatewayConfig, LocalUpstreams, MeetingsApiKind};
pub use crate::error::{GatewayError, Rejection};
pub use crate::server::reuseport_listeners;
pub use crate::signing::IdentitySigner;

use crate::access_log::AccessLogSink;
pub use crate::cache::{KeyCache, Lookup};
use crate::limit::{EdgeGuard, UserLimiter};
use crate::pipeline::State;
use crate::proxy::Upstream;
use crate::ws::{CloseReason, Registry};

/// A configured gateway, ready to [`Gateway::serve`].
pub struct Gateway {
    state: Arc<State>,
    store: Arc<dyn IdentityStore>,
}

impl std::fmt::Debug for Gateway {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Gateway").finish_non_exhaustive()
    }
}

impl Gateway {
    /// Builds the gateway. Connects to Redis when `redis_url` is set (for shared per-user limits,
    /// and with `MEETINGS_API_KIND=vexa` for the `/ws` pub/sub fan-out).
    pub async fn new(
        cfg: GatewayConfig,
        store: Arc<dyn IdentityStore>,
        clock: Arc<dyn Clock>,
        metrics: PrometheusHandle,
    ) -> Result<Gateway, GatewayError> {
        let meetings =
            Upstream::from_uri(&cfg.meetings_url, "MEETINGS_API_URL must be an http:// URL")?;
        let browser = cfg
            .browser_url
            .as_ref()
            .map(|u| Upstream::from_uri(u, "BROWSER_API_URL must be an http:// URL"))
            .transpose()?;
        let admin = cfg
            .admin_url
            .as_ref()
            .map(|u| Upstream::from_uri(u, "ADMIN_API_URL must be an http:// URL"))
            .transpose()?;
        let optional = |u: &Option<http::Uri>, what: &'static str| {
            u.as_ref().map(|u| Upstream::from_uri(u, what)).transpose()
        };
        let agent = optional(&cfg.agent_url, "AGENT_API_URL must be an http:// URL")?;
        let mcp = optional(&cfg.mcp_url, "MCP_URL must be an http:// URL")?;
        let signer = cfg
            .identity_signing_key_file
            .as_deref()
            .map(|path| IdentitySigner::from_pem_file(path, cfg.allow_test_signing_key))
            .transpose()?;
        let secret = HeaderValue::from_str(cfg.internal_secret.expose())
            .map_err(|_| GatewayError::Config("INTERNAL_API_SECRET must be printable ASCII"))?;
        let user_limit = match (&cfg.redis_url, cfg.user_limit.disabled) {
            (Some(url), false) => UserLimiter::with_redis(cfg.user_limit, url).await?,
            _ => UserLimiter::local(cfg.user_limit),
        };
        let (cache, imported) = identity_cache(&cfg, store.clone())?;
        if let Some(flag) = &imported {
            flag.refresh().await;
        }
        let mut state = State {
            cache,
            imported,
            last_used: last_used::LastUsed::new(store.clone(), cfg.key_usage),
            clock,
            edge: EdgeGuard::new(cfg.edge.clone()),
            user_limit,
            trusted: cfg.trusted_proxies.clone(),
            meetings,
            browser,
            admin,
            admin_proxy: cfg.admin_proxy,
            agent,
            mcp,
            ours: cfg.meetings_api_kind == MeetingsApiKind::Ours,
            signer,
            secret,
            upstream_timeout: cfg.upstream_timeout,
            max_body_bytes: cfg.max_body_bytes,
            metrics: observe::Metrics::new(),
            access_log: AccessLogSink::for_config(cfg.access_log),
            prometheus: metrics,
            openapi: Bytes::new(),
            sockets: Arc::new(Registry::default()),
            terminator: (cfg.meetings_api_kind == MeetingsApiKind::Vexa)
                .then(|| ws::original::Terminator::new(cfg.redis_url.as_deref()))
                .transpose()?,
        };
        // The document lists what this gateway serves as configured, so it needs the state.
        state.openapi = Bytes::from(openapi::document_json(|route| state.serves(route)));
        Ok(Gateway {
            state: Arc::new(state),
            store,
        })
    }

    /// A handle to this gateway's key cache (its size goes into the replica heartbeat).
    pub fn key_cache(&self) -> KeyCache {
        self.state.cache.clone()
    }

    /// This gateway's [`IdentityListener`]: what revocations and user changes are told to.
    pub fn invalidator(&self) -> Invalidator {
        Invalidator {
            cache: self.state.cache.clone(),
            sockets: self.state.sockets.clone(),
            store: self.store.clone(),
            imported: self.state.imported.clone(),
            clock: self.state.clock.clone(),
        }
    }

    /// Serves until `shutdown` completes, thread-per-core: one thread and current-thread runtime
    /// per listener (from [`reuseport_listeners`]). Then stops accepting, drains open requests
    /// (up to 10 s), closes relayed WebSockets with 1001 and flushes pending `last_used_at`
    /// writes.
    pub async fn serve(
        self,
        listeners: Vec<std::net::TcpListener>,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        server::serve(self.state, listeners, shutdown).await
    }
}

/// The gateway's [`IdentityListener`]: applies identity changes to a running gateway's key cache
/// and relayed WebSockets. Cheap to clone.
#[derive(Clone)]
pub struct Invalidator {
    cache: KeyCache,
    sockets: Arc<Registry>,
    store: Arc<dyn IdentityStore>,
    imported: Option<Arc<identity::ImportedKeys>>,
    clock: Arc<dyn Clock>,
}

impl std::fmt::Debug for Invalidator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Invalidator").finish_non_exhaustive()
    }
}

impl IdentityListener for Invalidator {
    /// `KeyRevoked(d)`: evicts `d` and closes its WebSockets (4401 "API key revoked").
    /// `KeyChanged(d)` (a rotation, or new limits): evicts `d`; its open WebSockets stay up, and
    /// when the key was rotated they are closed (4401) at its grace end.
    /// `UserChanged(u)`: evicts every cached key of `u`; that user's open WebSockets are
    /// re-checked against the store (on a spawned task) and closed the same way if their key no
    /// longer resolves (a deleted user), but kept for a mere profile change.
    fn on_change(&self, change: &IdentityChange) {
        self.cache.apply(change);
        // A revocation or deletion may have removed the last imported key: re-probe now rather
        // than at the next tick.
        if let (Some(flag), Ok(rt)) = (&self.imported, tokio::runtime::Handle::try_current()) {
            let flag = flag.clone();
            rt.spawn(async move { flag.refresh().await });
        }
        match change {
            IdentityChange::KeyRevoked(digest) => {
                self.sockets.close_key(digest, CloseReason::Revoked)
            }
            IdentityChange::KeyChanged(digest) => self.close_sockets_at_grace_end(*digest),
            IdentityChange::UserChanged(user) => {
                let digests = self.sockets.user_digests(*user);
                if digests.is_empty() {
                    return;
                }
                let (store, sockets) = (self.store.clone(), self.sockets.clone());
                let recheck = async move {
                    for d in digests {
                        if let Ok(None) = store.resolve_key(&d).await {
                            sockets.close_key(&d, CloseReason::Revoked);
                        }
                    }
                };
                match tokio::runtime::Handle::try_current() {
                    Ok(rt) => {
                        rt.spawn(recheck);
                    }
                    Err(_) => {
                        // No runtime to ask the store from: err on the side of closing.
                        for d in self.sockets.user_digests(*user) {
                            self.sockets.close_key(&d, CloseReason::Revoked);
                        }
                    }
                }
            }
        }
    }
}

impl Invalidator {
    /// Sockets opened before a rotation learnt no grace end (those opened after it read it
    /// from the principal): read it now and close them when it passes, on a spawned task.
    fn close_sockets_at_grace_end(&self, digest: vexa_core::KeyDigest) {
        if !self.sockets.has_key(&digest) {
            return;
        }
        let Ok(rt) = tokio::runtime::Handle::try_current() else {
            // No runtime to wait on: err on the side of closing.
            self.sockets.close_key(&digest, CloseReason::Revoked);
            return;
        };
        let (store, sockets, clock) =
            (self.store.clone(), self.sockets.clone(), self.clock.clone());
        rt.spawn(async move {
            let ends_at = match store.resolve_key(&digest).await {
                Ok(Some(p)) => match p.retires_at {
                    Some(end) => end,
                    None => return,
                },
                Ok(None) => {
                    sockets.close_key(&digest, CloseReason::Revoked);
                    return;
                }
                // The store is down: they stay open (a later revocation still closes them).
                Err(_) => return,
            };
            let wait = u64::try_from(ends_at.0.saturating_sub(clock.now().0)).unwrap_or(0);
            tokio::time::sleep(std::time::Duration::from_millis(wait)).await;
            sockets.close_key(&digest, CloseReason::Revoked);
        });
    }
}

/// The key cache over the configured [`identity::KeySource`]. With the original's identity
/// service nobody tells us of revocations, so its answers are trusted for `IDENTITY_CACHE_TTL_S`
/// only, and never past it while that service is down (a revocation is seen within the TTL).
/// With our store, also the flag that says whether it holds imported keys (not yet probed).
fn identity_cache(
    cfg: &GatewayConfig,
    store: Arc<dyn IdentityStore>,
) -> Result<(KeyCache, Option<Arc<identity::ImportedKeys>>), GatewayError> {
    use identity::{IdentitySource, ImportedKeys, StoreKeySource, VexaKeySource};
    let id = &cfg.identity;
    Ok(match id.source {
        IdentitySource::Store => {
            let imported = ImportedKeys::new(store.clone());
            let source = StoreKeySource::with_imported(store, imported.clone());
            (
                KeyCache::with_source(cfg.cache.clone(), Arc::new(source)),
                Some(imported),
            )
        }
        IdentitySource::Vexa => {
            let base = id.validate_base.as_ref().ok_or(GatewayError::Config(
                "ADMIN_API_URL must be set when IDENTITY_SOURCE=vexa",
            ))?;
            let source =
                VexaKeySource::new(base, cfg.internal_secret.expose(), id.validate_timeout)
                    .map_err(GatewayError::Config)?;
            let cache = CacheConfig {
                capacity: cfg.cache.capacity,
                positive_ttl: id.cache_ttl,
                negative_ttl: id.negative_ttl,
                max_stale: std::time::Duration::ZERO,
            };
            (KeyCache::with_source(cache, Arc::new(source)), None)
        }
    })
}
