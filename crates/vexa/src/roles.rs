//! Wiring: builds each role from the settings, binds every listener before serving (so a port
//! clash fails the start, not a later request), and shuts everything down on SIGINT/SIGTERM.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use metrics_exporter_prometheus::PrometheusHandle;
use rand::RngCore;
use tokio::net::TcpListener;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use vexa_core::env::{redact_url, Secret, ENV_INTERNAL_API_SECRET};
use vexa_core::{AdminToken, AuditedStore, Clock, IdentityListener, IgnoreChanges, SystemClock};
use vexa_gateway::Gateway;
use vexa_meetings::MeetingsService;
use vexa_store::identity::SqlIdentityStore;
use vexa_store::meetings::SqlMeetingStore;
use vexa_store::{ConnectOptions, Db};

use crate::config::{
    Listen, Settings, ENV_ADMIN_API_PORT, ENV_API_GATEWAY_HOST_PORT, ENV_DATABASE_URL,
    ENV_MEETINGS_API_PORT,
};

/// Which roles this process runs.
#[derive(Debug, Clone, Copy)]
pub struct Roles {
    pub gateway: bool,
    pub admin: bool,
    pub meetings: bool,
}

impl Roles {
    pub const ALL: Roles = Roles {
        gateway: true,
        admin: true,
        meetings: true,
    };
    pub const GATEWAY: Roles = Roles {
        gateway: true,
        admin: false,
        meetings: false,
    };
    pub const ADMIN: Roles = Roles {
        gateway: false,
        admin: true,
        meetings: false,
    };
    pub const MEETINGS: Roles = Roles {
        gateway: false,
        admin: false,
        meetings: true,
    };

    fn is_all(self) -> bool {
        self.gateway && self.admin && self.meetings
    }
}

pub async fn run(mut settings: Settings, roles: Roles) -> anyhow::Result<()> {
    settings.check_admin_token_safety()?;
    // The admin API's `/internal/*` answers only to a secret the operator configured: a random
    // one picked below for an all-in-one process would never be known to any caller.
    let configured_internal_secret = settings.gateway.internal_secret.clone();
    share_internal_secret(&mut settings, roles)?;
    let shared = Shared::open(&settings).await?;
    let listeners =
        Listeners::bind(&settings.listen, roles, settings.gateway.worker_threads()).await?;
    let mut tasks = JoinSet::new();
    let mut on_change: Arc<dyn IdentityListener> = Arc::new(IgnoreChanges);
    if let Some(listener) = listeners.gateway {
        on_change = start_gateway(&shared, &settings, listener, &mut tasks).await?;
    }
    if let Some(listener) = listeners.admin {
        let internal = internal_api(&shared, configured_internal_secret, &mut tasks);
        start_admin(
            &shared, &settings, on_change, internal, listener, &mut tasks,
        )?;
    }
    if let Some(listener) = listeners.meetings {
        start_meetings(&shared, &settings, listener, &mut tasks).await?;
    }
    let outcome = until_stopped(&mut tasks).await;
    shared.cancel.cancel();
    let drain = async { while tasks.join_next().await.is_some() {} };
    if tokio::time::timeout(Duration::from_secs(20), drain)
        .await
        .is_err()
    {
        tracing::warn!("roles did not stop within 20 s");
    }
    shared.db.close().await;
    outcome
}

/// The roles' tasks; each ends when its server stops.
type Tasks = JoinSet<anyhow::Result<()>>;

/// What every role of this process shares.
struct Shared {
    db: Db,
    /// The identity store; the admin API's mutations use its audited methods.
    identity: Arc<dyn AuditedStore>,
    clock: Arc<dyn Clock>,
    metrics: PrometheusHandle,
    /// Cancelled on shutdown: stops every server and background task.
    cancel: CancellationToken,
}

impl Shared {
    async fn open(settings: &Settings) -> anyhow::Result<Shared> {
        let metrics = metrics_exporter_prometheus::PrometheusBuilder::new()
            .install_recorder()
            .context("installing the metrics recorder")?;
        let url = &settings.store.database_url;
        let db = Db::connect(url, &ConnectOptions::default())
            .await
            .with_context(|| {
                format!(
                    "opening the database named by {ENV_DATABASE_URL} ({})",
                    redact_url(url)
                )
            })?;
        Ok(Shared {
            identity: Arc::new(SqlIdentityStore::new(db.clone())),
            db,
            clock: Arc::new(SystemClock),
            metrics,
            cancel: CancellationToken::new(),
        })
    }
}

/// Every listener this process serves, bound before anything is served.
struct Listeners {
    gateway: Option<Vec<std::net::TcpListener>>,
    admin: Option<TcpListener>,
    meetings: Option<TcpListener>,
}

impl Listeners {
    async fn bind(listen: &Listen, roles: Roles, workers: usize) -> anyhow::Result<Listeners> {
        Ok(Listeners {
            gateway: bind_gateway(roles.gateway, listen.addr(listen.gateway_port), workers).await?,
            admin: bind_if(
                roles.admin,
                listen.addr(listen.admin_port),
                ENV_ADMIN_API_PORT,
            )
            .await?,
            meetings: bind_if(
                roles.meetings,
                listen.addr(listen.meetings_port),
                ENV_MEETINGS_API_PORT,
            )
            .await?,
        })
    }
}

/// Starts the gateway and the follower of other processes' identity changes; returns the
/// gateway's [`IdentityListener`], which the in-process admin API tells about its own changes.
async fn start_gateway(
    shared: &Shared,
    settings: &Settings,
    listeners: Vec<std::net::TcpListener>,
    tasks: &mut Tasks,
) -> anyhow::Result<Arc<dyn IdentityListener>> {
    let gateway = Gateway::new(
        settings.gateway.clone(),
        shared.identity.clone(),
        shared.clock.clone(),
        shared.metrics.clone(),
    )
    .await
    .context("starting the gateway")?;
    let invalidator: Arc<dyn IdentityListener> = Arc::new(gateway.invalidator());
    let progress = Arc::new(vexa_store::watch::FollowerProgress::default());
    vexa_store::watch::spawn_event_follower_with_progress(
        shared.db.clone(),
        invalidator.clone(),
        settings.store.identity_event_poll,
        shared.cancel.clone(),
        progress.clone(),
    );
    let Some(addr) = listeners
        .first()
        .map(std::net::TcpListener::local_addr)
        .transpose()?
    else {
        anyhow::bail!("the gateway has no listener");
    };
    let beat = Heartbeat {
        id: random_hex(8),
        host: hostname(),
        addr: addr.to_string(),
        started_at: shared.clock.now(),
        every: settings.gateway.replica_heartbeat,
    };
    beat.spawn(shared, gateway.key_cache(), progress, tasks);
    let shutdown = shared.cancel.clone().cancelled_owned();
    tracing::info!(addr = %addr, workers = listeners.len(), "gateway listening, thread-per-core");
    tasks.spawn(async move { gateway.serve(listeners, shutdown).await.context("gateway") });
    Ok(invalidator)
}

/// This gateway's entry in the replica registry (`GET /admin/replicas`): written every `every`
/// from what the process already counts (cache size, the event follower's position), never from
/// a request, and deleted at graceful shutdown so only killed replicas are left to go stale.
struct Heartbeat {
    id: String,
    host: String,
    addr: String,
    started_at: vexa_core::Timestamp,
    every: Duration,
}

impl Heartbeat {
    fn spawn(
        self,
        shared: &Shared,
        cache: vexa_gateway::KeyCache,
        progress: Arc<vexa_store::watch::FollowerProgress>,
        tasks: &mut Tasks,
    ) {
        use vexa_core::replica::{ReplicaBeat, PRUNE_AFTER_SECS};
        let (store, clock, cancel) = (
            shared.identity.clone(),
            shared.clock.clone(),
            shared.cancel.clone(),
        );
        tracing::info!(replica = %self.id, "gateway replica registered");
        tasks.spawn(async move {
            let mut tick = tokio::time::interval(self.every);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    () = cancel.cancelled() => break,
                    _ = tick.tick() => {}
                }
                let now = clock.now();
                let (applied_seq, applied_at) = match progress.get() {
                    Some((seq, at)) => (seq, Some(vexa_core::Timestamp::from_millis(at))),
                    None => (0, None),
                };
                let beat = ReplicaBeat {
                    id: self.id.clone(),
                    host: self.host.clone(),
                    pid: i64::from(std::process::id()),
                    addr: self.addr.clone(),
                    started_at: self.started_at,
                    last_seen: now,
                    heartbeat_ms: i64::try_from(self.every.as_millis()).unwrap_or(i64::MAX),
                    cache_entries: i64::try_from(cache.len()).unwrap_or(i64::MAX),
                    applied_seq,
                    applied_at,
                };
                let prune_before = now.plus_secs(-PRUNE_AFTER_SECS);
                if let Err(e) = store.record_replica(&beat, prune_before).await {
                    tracing::warn!(error = %e, "could not record the replica heartbeat; will retry");
                }
            }
            if let Err(e) = store.remove_replica(&self.id).await {
                tracing::warn!(error = %e, "could not remove this replica from the registry");
            }
            Ok(())
        });
    }
}

/// The machine's name for the registry; the kernel's, else `$HOSTNAME`.
fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_else(|| "unknown".to_owned())
}

/// The admin API's internal tier, with its `last_used_at` batcher flushed every few seconds and
/// once more at shutdown, before the database closes (it ends only when cancelled).
fn internal_api(shared: &Shared, secret: Secret, tasks: &mut Tasks) -> vexa_admin::InternalApi {
    use vexa_core::last_used::{LastUsed, FLUSH_EVERY};
    let last_used = Arc::new(LastUsed::new(shared.identity.clone()));
    let (batcher, cancel) = (last_used.clone(), shared.cancel.clone());
    tasks.spawn(async move {
        let mut tick = tokio::time::interval(FLUSH_EVERY);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                () = cancel.cancelled() => break,
                _ = tick.tick() => {}
            }
            if let Err(e) = batcher.flush().await {
                tracing::warn!(error = %e, "could not record key use; will retry");
            }
        }
        if let Err(e) = batcher.flush().await {
            tracing::warn!(error = %e, "could not record key use at shutdown");
        }
        Ok(())
    });
    vexa_admin::InternalApi { secret, last_used }
}

/// The admin API's key events (signed and retried like meeting webhooks, with their timeout
/// and backoff), and the sweep that claims `key.expiring` notices every `KEY_EXPIRY_CHECK_S`
/// until cancelled.
fn key_events(
    shared: &Shared,
    settings: &Settings,
    tasks: &mut Tasks,
) -> vexa_admin::key_events::KeyEvents {
    let events = vexa_admin::key_events::KeyEvents::start(
        shared.identity.clone(),
        shared.clock.clone(),
        settings.meetings.webhook_timeout,
        settings.meetings.webhook_retry_backoff,
    );
    let (sweeper, store, clock, cancel) = (
        events.clone(),
        shared.identity.clone(),
        shared.clock.clone(),
        shared.cancel.clone(),
    );
    let every = settings.admin.key_expiry_check;
    tasks.spawn(async move {
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                () = cancel.cancelled() => break,
                _ = tick.tick() => {}
            }
            if let Err(e) = sweeper.sweep_expiring(store.as_ref(), clock.now()).await {
                tracing::warn!(error = %e, "could not look for expiring keys; will retry");
            }
        }
        Ok(())
    });
    events
}

fn start_admin(
    shared: &Shared,
    settings: &Settings,
    on_change: Arc<dyn IdentityListener>,
    internal: vexa_admin::InternalApi,
    listener: TcpListener,
    tasks: &mut Tasks,
) -> anyhow::Result<()> {
    let state = vexa_admin::AdminState {
        store: shared.identity.clone(),
        clock: shared.clock.clone(),
        max_body_bytes: settings.admin.max_body_bytes,
        admin_token: AdminToken::new(settings.admin.token.expose()),
        metrics: shared.metrics.clone(),
        on_change,
        internal,
        key_events: key_events(shared, settings, tasks),
    };
    tracing::info!(addr = %listener.local_addr()?, "admin API listening");
    let shutdown = shared.cancel.clone().cancelled_owned();
    tasks.spawn(async move {
        vexa_admin::serve(listener, vexa_admin::router(state), shutdown)
            .await
            .context("admin API")
    });
    Ok(())
}

async fn start_meetings(
    shared: &Shared,
    settings: &Settings,
    listener: TcpListener,
    tasks: &mut Tasks,
) -> anyhow::Result<()> {
    let store = Arc::new(SqlMeetingStore::new(shared.db.clone()));
    let service = MeetingsService::new(settings.meetings.clone(), store, shared.clock.clone())
        .await
        .context("starting the meetings service")?;
    tracing::info!(addr = %listener.local_addr()?, "meetings service listening");
    let shutdown = shared.cancel.clone().cancelled_owned();
    tasks.spawn(async move {
        service
            .serve(listener, shutdown)
            .await
            .context("meetings service")
    });
    Ok(())
}

/// Waits for SIGINT/SIGTERM (a clean stop) or for a role to end on its own (a failure).
async fn until_stopped(tasks: &mut Tasks) -> anyhow::Result<()> {
    tokio::select! {
        () = shutdown_signal() => { tracing::info!("shutdown requested"); Ok(()) }
        Some(done) = tasks.join_next() => match done {
            Ok(Ok(())) => Err(anyhow::anyhow!("a role stopped unexpectedly")),
            Ok(Err(e)) => Err(e),
            Err(e) => Err(anyhow::anyhow!("a role panicked: {e}")),
        },
    }
}

/// The gateway and the meetings service must share `INTERNAL_API_SECRET` (both sections read
/// it). Unset, a process that runs them together picks a random one: it never leaves the process.
fn share_internal_secret(settings: &mut Settings, roles: Roles) -> anyhow::Result<()> {
    if !settings.gateway.internal_secret.is_empty() {
        return Ok(());
    }
    if roles.is_all() || roles.admin && !roles.gateway && !roles.meetings {
        let secret = random_hex(32);
        settings.gateway.internal_secret = Secret::from(secret.as_str());
        settings.meetings.internal_secret = secret;
        return Ok(());
    }
    anyhow::bail!("{ENV_INTERNAL_API_SECRET} must be set (the same value for the gateway and the meetings service) when roles run as separate processes")
}

/// The gateway's port: one `SO_REUSEPORT` listener per serving thread (`GATEWAY_WORKERS`).
async fn bind_gateway(
    wanted: bool,
    addr: SocketAddr,
    workers: usize,
) -> anyhow::Result<Option<Vec<std::net::TcpListener>>> {
    if !wanted {
        return Ok(None);
    }
    vexa_gateway::reuseport_listeners(addr, workers)
        .map(Some)
        .with_context(|| format!("cannot listen on {addr} (set {ENV_API_GATEWAY_HOST_PORT} or BIND_HOST to change it; is another stack running?)"))
}

async fn bind_if(wanted: bool, addr: SocketAddr, var: &str) -> anyhow::Result<Option<TcpListener>> {
    if !wanted {
        return Ok(None);
    }
    TcpListener::bind(addr)
        .await
        .map(Some)
        .with_context(|| format!("cannot listen on {addr} (set {var} or BIND_HOST to change it; is another stack running?)"))
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = ctrl_c => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = ctrl_c.await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = ctrl_c.await;
    }
}

fn random_hex(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    rand::rngs::OsRng.fill_bytes(&mut buf);
    buf.iter().map(|b| format!("{b:02x}")).collect()
}
