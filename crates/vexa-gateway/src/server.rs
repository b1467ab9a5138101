//! The accept loops: HTTP/1.1 with keep-alive and upgrades, `TCP_NODELAY`, graceful shutdown,
//! the periodic `last_used_at` flush and the imported-keys probe. Thread-per-core: one thread,
//! current-thread runtime and `SO_REUSEPORT` listener per worker (bench/REPORT.md measured it
//! against one shared work-stealing runtime: faster, and a lower tail).

use std::convert::Infallible;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::access_log;
use crate::header_timer::HeaderTimer;
use crate::last_used::FLUSH_EVERY;
use crate::pipeline::{ClientConn, State};
use crate::proxy::UpstreamConns;
use crate::ws::CloseReason;

const DRAIN_FOR: Duration = Duration::from_secs(10);
/// Longest a client may take to send a request head (slow-loris bound; also how long an idle
/// keep-alive connection is kept; `header_timer` enforces it to within about 100 ms). hyper's
/// default is 30 s.
const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);

/// What every accept loop of one gateway shares: when to stop accepting, when to drain, and
/// the connections still open.
#[derive(Clone)]
struct Lifecycle {
    stop_accepting: CancellationToken,
    draining: CancellationToken,
    connections: TaskTracker,
}

impl Lifecycle {
    fn new() -> Lifecycle {
        Lifecycle {
            stop_accepting: CancellationToken::new(),
            draining: CancellationToken::new(),
            connections: TaskTracker::new(),
        }
    }
}

/// Thread-per-core serving: one OS thread per listener, each with its own current-thread
/// runtime and accept loop, so a request is accepted, served and forwarded on one thread with
/// no work stealing and no cross-thread wake-ups. The listeners share the port through
/// `SO_REUSEPORT` (see [`reuseport_listeners`]): the kernel spreads connections over them.
pub async fn serve(
    state: Arc<State>,
    listeners: Vec<std::net::TcpListener>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let life = Lifecycle::new();
    let drained = CancellationToken::new();
    let mut threads = Vec::with_capacity(listeners.len());
    for (i, listener) in listeners.into_iter().enumerate() {
        listener.set_nonblocking(true)?;
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let (state, life, drained) = (state.clone(), life.clone(), drained.clone());
        let thread = std::thread::Builder::new()
            .name(format!("vexa-gateway-{i}"))
            .spawn(move || {
                runtime.block_on(async move {
                    // This thread's access-log lines are batched (crate::access_log); its
                    // ticker writes them out at least every FLUSH_EVERY.
                    access_log::batch_on_this_thread();
                    let ticker = tokio::spawn(async {
                        let mut tick = tokio::time::interval(access_log::FLUSH_EVERY);
                        loop {
                            tick.tick().await;
                            access_log::flush();
                        }
                    });
                    match tokio::net::TcpListener::from_std(listener) {
                        Ok(listener) => accept_loop(state, listener, life).await,
                        Err(e) => tracing::error!(error = %e, "gateway listener unusable"),
                    }
                    // Keep this runtime (and the connections it drives) until all drained.
                    drained.cancelled().await;
                    ticker.abort();
                    access_log::flush();
                });
            })?;
        threads.push(thread);
    }
    run_until_shutdown(&state, &life, shutdown).await;
    finish(&state, &life).await;
    drained.cancel();
    for thread in threads {
        let _ = tokio::task::spawn_blocking(move || thread.join()).await;
    }
    Ok(())
}

/// `n` listeners on `addr` sharing it through `SO_REUSEPORT`, for [`serve`]. With port 0 the
/// first picks the port and the others join it.
///
/// `SO_REUSEPORT` would also let a second process of the same user join a port this one serves
/// and silently take half its connections. So the port is first bound once *without* it: that
/// fails with `AddrInUse` while anything listens there, reuse-port group or not. The probe is
/// closed before the group binds, leaving a window of one system call.
pub fn reuseport_listeners(
    addr: std::net::SocketAddr,
    n: usize,
) -> std::io::Result<Vec<std::net::TcpListener>> {
    let addr = std::net::TcpListener::bind(addr)?.local_addr()?;
    let first = reuseport_listener(addr)?;
    let mut all = vec![first];
    for _ in 1..n.max(1) {
        all.push(reuseport_listener(addr)?);
    }
    Ok(all)
}

fn reuseport_listener(addr: std::net::SocketAddr) -> std::io::Result<std::net::TcpListener> {
    let socket = if addr.is_ipv4() {
        tokio::net::TcpSocket::new_v4()?
    } else {
        tokio::net::TcpSocket::new_v6()?
    };
    socket.set_reuseaddr(true)?;
    socket.set_reuseport(true)?;
    socket.bind(addr)?;
    socket.listen(1024)?.into_std()
}

/// Starts the `last_used_at` flusher, waits for `shutdown`, then stops every accept loop.
async fn run_until_shutdown(
    state: &Arc<State>,
    life: &Lifecycle,
    shutdown: impl Future<Output = ()> + Send + 'static,
) {
    let flusher = {
        let state = state.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(FLUSH_EVERY);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                state.last_used.flush().await;
            }
        })
    };
    let prober = state.imported.clone().map(|flag| {
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(crate::identity::IMPORTED_PROBE_EVERY);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                flag.refresh().await;
            }
        })
    });
    shutdown.await;
    life.stop_accepting.cancel();
    flusher.abort();
    if let Some(p) = prober {
        p.abort();
    }
}

/// After the accept loops stopped: close relayed WebSockets, drain open requests (bounded),
/// flush what is left of `last_used_at`.
async fn finish(state: &Arc<State>, life: &Lifecycle) {
    state.sockets.close_all(CloseReason::Shutdown);
    life.draining.cancel();
    life.connections.close();
    if tokio::time::timeout(DRAIN_FOR, life.connections.wait())
        .await
        .is_err()
    {
        tracing::warn!("gateway connections did not drain within {DRAIN_FOR:?}");
    }
    state.last_used.flush().await;
}

/// Accepts connections until told to stop; each is served on a task of the current runtime.
async fn accept_loop(state: Arc<State>, listener: tokio::net::TcpListener, life: Lifecycle) {
    let mut builder = http1::Builder::new();
    builder
        .keep_alive(true)
        .header_read_timeout(HEADER_READ_TIMEOUT);
    match HeaderTimer::get() {
        Ok(timer) => builder.timer(timer),
        Err(e) => {
            tracing::warn!(error = %e, "coarse header timer unavailable, using tokio's");
            builder.timer(TokioTimer::new())
        }
    };

    // Idle upstream connections given back by this thread's client connections that ended. Per
    // thread: a connection is driven by the runtime that opened it, so reusing it elsewhere
    // would put a cross-thread wake-up on every request.
    let idle_upstream = Arc::new(UpstreamConns::default());
    loop {
        let (stream, peer) = tokio::select! {
            () = life.stop_accepting.cancelled() => break,
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    // Out of file descriptors and the like: back off instead of spinning.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let _ = stream.set_nodelay(true);
        let state = state.clone();
        let client = Arc::new(ClientConn::new(peer, idle_upstream.clone()));
        let service = service_fn(move |req| {
            let (state, client) = (state.clone(), client.clone());
            async move { Ok::<_, Infallible>(state.handle(req, &client).await) }
        });
        let conn = builder
            .serve_connection(TokioIo::new(stream), service)
            .with_upgrades();
        let draining = life.draining.clone();
        life.connections.spawn(async move {
            tokio::pin!(conn);
            let result = tokio::select! {
                r = conn.as_mut() => r,
                () = draining.cancelled() => {
                    // Finish the request in progress, then close instead of keeping alive.
                    conn.as_mut().graceful_shutdown();
                    conn.await
                }
            };
            if let Err(e) = result {
                tracing::debug!(error = %e, "connection ended with an error");
            }
        });
    }
}
