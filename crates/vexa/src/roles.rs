//! Wiring: builds each role from the settings, binds every listener before serving (so a port
//! clash fails the start, not a later request), and shuts everything down on SIGINT/SIGTERM.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use rand::RngCore;
use tokio::net::TcpListener;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use vexa_core::store::IdentityChange;
use vexa_core::{AdminToken, Clock, IdentityStore, SystemClock};
use vexa_gateway::limit::{EdgeConfig, TrustedProxies, UserLimitConfig};
use vexa_gateway::{Gateway, GatewayConfig};
use vexa_meetings::{MeetingsConfig, MeetingsService};
use vexa_store::identity::SqlIdentityStore;
use vexa_store::meetings::SqlMeetingStore;
use vexa_store::{ConnectOptions, Db};

use crate::config::Settings;

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

/// How often other processes' revocations are polled for, as the backstop under LISTEN/NOTIFY.
const EVENT_POLL: Duration = Duration::from_millis(250);

pub async fn run(settings: Settings, roles: Roles) -> anyhow::Result<()> {
    settings.check_admin_token_safety()?;
    let internal_secret = internal_secret(&settings, roles)?;
    let metrics = metrics_exporter_prometheus::PrometheusBuilder::new()
        .install_recorder()
        .context("installing the metrics recorder")?;
    let db = Db::connect(&settings.database_url, &ConnectOptions::default())
        .await
        .with_context(|| {
            format!(
                "opening the database named by DATABASE_URL ({})",
                redact_url(&settings.database_url)
            )
        })?;
    let identity: Arc<dyn IdentityStore> = Arc::new(SqlIdentityStore::new(db.clone()));
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let cancel = CancellationToken::new();
    let mut tasks: JoinSet<anyhow::Result<()>> = JoinSet::new();

    let host = settings.bind_host;
    let gateway_listener = bind_if(
        roles.gateway,
        SocketAddr::new(host, settings.gateway_port),
        "API_GATEWAY_HOST_PORT",
    )
    .await?;
    let admin_listener = bind_if(
        roles.admin,
        SocketAddr::new(host, settings.admin_port),
        "ADMIN_API_PORT",
    )
    .await?;
    let meetings_listener = bind_if(
        roles.meetings,
        SocketAddr::new(host, settings.meetings_port),
        "MEETINGS_API_PORT",
    )
    .await?;

    let mut on_change: vexa_admin::ChangeHook = Arc::new(|_: &IdentityChange| {});
    if let Some(listener) = gateway_listener {
        let gateway = Gateway::new(
            gateway_config(&settings, &internal_secret)?,
            identity.clone(),
            clock.clone(),
            metrics.clone(),
        )
        .await
        .context("starting the gateway")?;
        let invalidator = gateway.invalidator();
        let sink = invalidator.clone();
        vexa_store::watch::spawn_event_follower(
            db.clone(),
            identity.clone(),
            Arc::new(move |event: &vexa_core::IdentityEvent| sink.apply(&event.change)),
            EVENT_POLL,
            cancel.clone(),
        );
        on_change = Arc::new(move |change: &IdentityChange| invalidator.apply(change));
        tracing::info!(addr = %listener.local_addr()?, "gateway listening");
        let shutdown = cancel.clone().cancelled_owned();
        tasks.spawn(async move { gateway.serve(listener, shutdown).await.context("gateway") });
    }
    if let Some(listener) = admin_listener {
        let state = vexa_admin::AdminState {
            store: identity.clone(),
            clock: clock.clone(),
            admin_token: AdminToken::new(settings.admin_token.expose()),
            metrics: metrics.clone(),
            on_change,
        };
        tracing::info!(addr = %listener.local_addr()?, "admin API listening");
        let shutdown = cancel.clone().cancelled_owned();
        tasks.spawn(async move {
            vexa_admin::serve(listener, vexa_admin::router(state), shutdown)
                .await
                .context("admin API")
        });
    }
    if let Some(listener) = meetings_listener {
        let store = Arc::new(SqlMeetingStore::new(db.clone()));
        let service = MeetingsService::new(
            meetings_config(&settings, &internal_secret),
            store,
            clock.clone(),
        )
        .await
        .context("starting the meetings service")?;
        tracing::info!(addr = %listener.local_addr()?, "meetings service listening");
        let shutdown = cancel.clone().cancelled_owned();
        tasks.spawn(async move {
            service
                .serve(listener, shutdown)
                .await
                .context("meetings service")
        });
    }

    let outcome = tokio::select! {
        () = shutdown_signal() => { tracing::info!("shutdown requested"); Ok(()) }
        Some(done) = tasks.join_next() => match done {
            Ok(Ok(())) => Err(anyhow::anyhow!("a role stopped unexpectedly")),
            Ok(Err(e)) => Err(e),
            Err(e) => Err(anyhow::anyhow!("a role panicked: {e}")),
        },
    };
    cancel.cancel();
    let drain = async { while tasks.join_next().await.is_some() {} };
    if tokio::time::timeout(Duration::from_secs(20), drain)
        .await
        .is_err()
    {
        tracing::warn!("roles did not stop within 20 s");
    }
    db.close().await;
    outcome
}

fn internal_secret(settings: &Settings, roles: Roles) -> anyhow::Result<String> {
    if !settings.internal_secret.is_empty() {
        return Ok(settings.internal_secret.expose().to_owned());
    }
    if roles.is_all() || roles.admin && !roles.gateway && !roles.meetings {
        // One process: the secret never leaves it, so a fresh random one is the safest default.
        return Ok(random_hex(32));
    }
    anyhow::bail!("INTERNAL_API_SECRET must be set (the same value for the gateway and the meetings service) when roles run as separate processes")
}

fn gateway_config(settings: &Settings, internal_secret: &str) -> anyhow::Result<GatewayConfig> {
    let parse_uri = |var: &str, value: &str| -> anyhow::Result<http::Uri> {
        value
            .parse::<http::Uri>()
            .with_context(|| format!("{var} is not a valid URL: {value}"))
    };
    let defaults = GatewayConfig::default();
    Ok(GatewayConfig {
        meetings_url: parse_uri("MEETINGS_API_URL", &settings.meetings_url)?,
        browser_url: settings
            .browser_url
            .as_deref()
            .map(|u| parse_uri("BROWSER_API_URL", u))
            .transpose()?,
        admin_url: if settings.gateway_admin_proxy {
            Some(parse_uri("ADMIN_API_URL", &settings.admin_url)?)
        } else {
            None
        },
        internal_secret: internal_secret.to_owned(),
        upstream_timeout: settings.upstream_timeout,
        max_body_bytes: settings.max_body_bytes,
        edge: EdgeConfig {
            enabled: settings.guard_enabled,
            requests_per_minute: settings.guard_rpm,
            auto_ban_threshold: settings.guard_ban_threshold,
            auto_ban_duration: settings.guard_ban_duration,
            ..defaults.edge
        },
        user_limit: UserLimitConfig {
            disabled: settings.rate_limit_disabled,
            rate_per_sec: settings.rate_limit_rps,
            burst: settings.rate_limit_burst,
        },
        redis_url: settings.redis_url.clone(),
        trusted_proxies: TrustedProxies::parse(&settings.guard_trusted_proxies)
            .map_err(|e| anyhow::anyhow!("GUARD_TRUSTED_PROXIES: {e}"))?,
        cache: vexa_gateway::CacheConfig {
            capacity: settings.key_cache_capacity,
            ..defaults.cache
        },
    })
}

fn meetings_config(settings: &Settings, internal_secret: &str) -> MeetingsConfig {
    let mut token_key = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut token_key);
    MeetingsConfig {
        internal_secret: internal_secret.to_owned(),
        bot_command: settings.bot_command.clone(),
        callback_base_url: settings.meetings_base_url(),
        data_dir: settings.data_dir.clone(),
        stop_grace: settings.bot_stop_grace,
        token_key,
        webhook_timeout: Duration::from_secs(10),
        max_body_bytes: settings.max_body_bytes,
    }
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

/// A database URL with any password removed, for error messages.
pub fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let creds = &url[scheme + 3..at];
            match creds.split_once(':') {
                Some((user, _)) => format!("{}{}:***{}", &url[..scheme + 3], user, &url[at..]),
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    }
}
