//! Upstream connections, pinned to the client connection that uses them.
//!
//! Each client connection holds the HTTP/1 connection it last used for each upstream, so the
//! next request on a keep-alive client connection goes out on it directly: no shared-pool
//! checkout and return, no hand-off between tasks, no lock held across an await. When the
//! client connection ends, what it held goes back to its thread's idle list, so a reconnecting (or
//! new) client reuses a warm upstream connection instead of paying a TCP handshake.
//!
//! Why not hyper-util's pooled client: in `make bench` the same bare proxy ran 1.15× faster
//! pinned than pooled (variants (f) and (g)), the pool's checkout/return being the difference.

use std::error::Error as _;
use std::sync::{Arc, Mutex, PoisonError};

use http::uri::Authority;
use http::{Request, Response};
use hyper::body::Incoming;
use hyper::client::conn::http1::{self, SendRequest};
use hyper_util::rt::TokioIo;

use super::deadline::{DeadlineTimer, TimedOut};
use crate::body::{LimitedBody, ReqBodyError};

type Sender = SendRequest<LimitedBody>;

/// Most idle upstream connections kept per upstream once their clients went away (the same
/// bound the pooled client had).
const MAX_IDLE_PER_UPSTREAM: usize = 1024;

/// Why a forwarded request got no response.
#[derive(Debug)]
pub enum SendError {
    /// The client's body grew past the limit while streaming.
    BodyTooLarge,
    /// Connecting failed, or the connection broke before the response head arrived.
    Unreachable,
}

/// Idle upstream connections, shared by the client connections of one serving thread.
#[derive(Default)]
pub struct UpstreamConns {
    idle: Mutex<Vec<(Authority, Vec<Sender>)>>,
}

impl UpstreamConns {
    fn take_idle(&self, to: &Authority) -> Option<Sender> {
        let mut idle = self.idle.lock().unwrap_or_else(PoisonError::into_inner);
        let list = idle.iter_mut().find(|(a, _)| a == to).map(|(_, l)| l)?;
        // Connections the upstream closed meanwhile are dropped on the way.
        while let Some(sender) = list.pop() {
            if sender.is_ready() {
                return Some(sender);
            }
        }
        None
    }

    fn give_back(&self, to: Authority, sender: Sender) {
        if sender.is_closed() {
            return;
        }
        let mut idle = self.idle.lock().unwrap_or_else(PoisonError::into_inner);
        match idle.iter_mut().find(|(a, _)| *a == to) {
            Some((_, list)) if list.len() < MAX_IDLE_PER_UPSTREAM => list.push(sender),
            Some(_) => {}
            None => idle.push((to, vec![sender])),
        }
    }
}

/// The upstream connections one client connection holds, at most one per upstream. Requests of
/// one HTTP/1 client connection run one after another, so the lock is never contended; it is
/// held only to take a sender out or put it back, never across an await.
pub struct PinnedConns {
    shared: Arc<UpstreamConns>,
    held: Mutex<Vec<(Authority, Sender)>>,
    /// The deadline of this connection's upstream waits (one timer, not one per request).
    deadline: DeadlineTimer,
}

impl PinnedConns {
    pub fn new(shared: Arc<UpstreamConns>) -> PinnedConns {
        PinnedConns {
            shared,
            held: Mutex::new(Vec::new()),
            deadline: DeadlineTimer::default(),
        }
    }

    fn take(&self, to: &Authority) -> Option<Sender> {
        let mut held = self.held.lock().unwrap_or_else(PoisonError::into_inner);
        let at = held.iter().position(|(a, _)| a == to)?;
        Some(held.swap_remove(at).1)
    }

    fn keep(&self, to: &Authority, sender: Sender) {
        let mut held = self.held.lock().unwrap_or_else(PoisonError::into_inner);
        held.push((to.clone(), sender));
    }

    /// [`PinnedConns::send`], given up (`Err(TimedOut)`) when no response head came within
    /// `timeout`.
    pub async fn send_within(
        &self,
        timeout: std::time::Duration,
        to: &Authority,
        req: Request<LimitedBody>,
    ) -> Result<Result<Response<Incoming>, SendError>, TimedOut> {
        self.deadline.run(timeout, self.send(to, req)).await
    }

    /// Sends `req` to `to` on this client connection's upstream connection (or an idle one, or
    /// a new one) and returns the response head; its body streams on. A request the connection
    /// refused before writing any of it (the upstream closed an idle connection) is sent once
    /// more on a fresh connection.
    async fn send(
        &self,
        to: &Authority,
        mut req: Request<LimitedBody>,
    ) -> Result<Response<Incoming>, SendError> {
        let mut reused = match self.take(to) {
            Some(sender) => Some(sender),
            None => self.shared.take_idle(to),
        };
        loop {
            let fresh = reused.is_none();
            let mut sender = match reused.take() {
                Some(mut sender) => match sender.ready().await {
                    Ok(()) => sender,
                    Err(_) => connect(to).await?,
                },
                None => connect(to).await?,
            };
            match sender.try_send_request(req).await {
                Ok(resp) => {
                    // The response body still streams on this connection; `ready()` before the
                    // next request waits for it to finish.
                    self.keep(to, sender);
                    return Ok(resp);
                }
                Err(mut e) => match e.take_message() {
                    Some(unsent) if !fresh => req = unsent,
                    _ => {
                        let e = e.into_error();
                        if caused_by_body_limit(&e) {
                            return Err(SendError::BodyTooLarge);
                        }
                        tracing::debug!(error = %e, "upstream request failed");
                        return Err(SendError::Unreachable);
                    }
                },
            }
        }
    }
}

impl Drop for PinnedConns {
    fn drop(&mut self) {
        let held = std::mem::take(self.held.get_mut().unwrap_or_else(PoisonError::into_inner));
        for (to, sender) in held {
            self.shared.give_back(to, sender);
        }
    }
}

/// A new HTTP/1 connection to `to`, its driver spawned.
async fn connect(to: &Authority) -> Result<Sender, SendError> {
    let tcp = tokio::net::TcpStream::connect(to.as_str())
        .await
        .map_err(|e| {
            tracing::debug!(error = %e, upstream = %to, "upstream connect failed");
            SendError::Unreachable
        })?;
    let _ = tcp.set_nodelay(true);
    let (sender, conn) = http1::handshake(TokioIo::new(tcp)).await.map_err(|e| {
        tracing::debug!(error = %e, upstream = %to, "upstream handshake failed");
        SendError::Unreachable
    })?;
    tokio::spawn(async move {
        if let Err(e) = conn.await {
            tracing::debug!(error = %e, "upstream connection ended with an error");
        }
    });
    Ok(sender)
}

/// Whether the request failed because [`LimitedBody`] cut the client's body off.
fn caused_by_body_limit(e: &hyper::Error) -> bool {
    let mut source = e.source();
    while let Some(err) = source {
        if let Some(ReqBodyError::TooLarge) = err.downcast_ref::<ReqBodyError>() {
            return true;
        }
        source = err.source();
    }
    false
}
