//! The accept loop: HTTP/1.1 with keep-alive and upgrades, `TCP_NODELAY`, graceful shutdown,
//! the periodic `last_used_at` flush and the imported-keys probe.

use std::convert::Infallible;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::last_used::FLUSH_EVERY;
use crate::pipeline::State;
use crate::ws::CloseReason;

const DRAIN_FOR: Duration = Duration::from_secs(10);
/// Longest a client may take to send a request head (slow-loris bound; also how long an idle
/// keep-alive connection is kept). hyper's default is 30 s.
const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);

pub async fn serve(
    state: Arc<State>,
    listener: tokio::net::TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let draining = CancellationToken::new();
    let tracker = TaskTracker::new();
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .keep_alive(true)
        .header_read_timeout(HEADER_READ_TIMEOUT);
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
    tokio::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            () = &mut shutdown => break,
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
        let service = service_fn(move |req| {
            let state = state.clone();
            async move { Ok::<_, Infallible>(state.handle(req, peer).await) }
        });
        let conn = builder
            .serve_connection(TokioIo::new(stream), service)
            .with_upgrades();
        let draining = draining.clone();
        tracker.spawn(async move {
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
    drop(listener);
    state.sockets.close_all(CloseReason::Shutdown);
    draining.cancel();
    tracker.close();
    if tokio::time::timeout(DRAIN_FOR, tracker.wait())
        .await
        .is_err()
    {
        tracing::warn!("gateway connections did not drain within {DRAIN_FOR:?}");
    }
    flusher.abort();
    if let Some(p) = prober {
        p.abort();
    }
    state.last_used.flush().await;
    Ok(())
}
