//! `GET /ws` in front of our own meetings service: the gateway terminates the client's WebSocket,
//! opens its own to the meetings service with the injected identity, and relays frames both ways. Relaying frames (rather than
//! splicing bytes) lets it close the client with 4401 the moment the key is revoked, its user is
//! deleted, or `expires_at` passes.

use std::sync::Arc;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use http::{HeaderValue, Request, Response};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use tokio::sync::oneshot;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::Role;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::WebSocketStream;
use vexa_core::Timestamp;

use super::{accept_key, strip_api_key, switching_protocols, CloseReason, Registry};
use crate::body::GwBody;
use crate::cache::ResolvedIdentity;
use crate::error::Rejection;
use crate::headers::{inject_identity, X_REQUEST_ID};

/// What the relay needs from the gateway.
pub struct WsContext {
    pub registry: Arc<Registry>,
    pub upstream_authority: http::uri::Authority,
    pub secret: HeaderValue,
    pub timeout: Duration,
    pub now: Timestamp,
}

/// Opens the upstream socket, answers 101 and spawns the relay.
pub async fn upgrade(
    ctx: WsContext,
    mut req: Request<Incoming>,
    who: Arc<ResolvedIdentity>,
    request_id: HeaderValue,
) -> Result<Response<GwBody>, Rejection> {
    let accept = accept_key(req.headers())?;
    let query = req.uri().query().map(strip_api_key).unwrap_or_default();
    let target = if query.is_empty() {
        format!("ws://{}/ws", ctx.upstream_authority)
    } else {
        format!("ws://{}/ws?{query}", ctx.upstream_authority)
    };
    let mut upstream_req = target
        .into_client_request()
        .map_err(|_| Rejection::UpstreamUnreachable)?;
    inject_identity(upstream_req.headers_mut(), &who, &ctx.secret);
    upstream_req.headers_mut().insert(X_REQUEST_ID, request_id);
    let upstream =
        match tokio::time::timeout(ctx.timeout, tokio_tungstenite::connect_async(upstream_req))
            .await
        {
            Err(_) => return Err(Rejection::UpstreamTimeout),
            Ok(Err(e)) => {
                tracing::debug!(error = %e, "upstream websocket failed");
                return Err(Rejection::UpstreamUnreachable);
            }
            Ok(Ok((stream, _))) => stream,
        };

    let on_upgrade = hyper::upgrade::on(&mut req);
    let (conn_id, close_rx) = ctx.registry.register(who.principal.user_id, who.digest);
    // A rotated key's grace end closes the socket like an expiry would.
    let expires_in = who.principal.valid_until().map(|exp| {
        Duration::from_millis(u64::try_from(exp.0.saturating_sub(ctx.now.0)).unwrap_or(0))
    });
    let registry = ctx.registry.clone();
    tokio::spawn(async move {
        match on_upgrade.await {
            Ok(upgraded) => {
                let client =
                    WebSocketStream::from_raw_socket(TokioIo::new(upgraded), Role::Server, None)
                        .await;
                relay(client, upstream, close_rx, expires_in).await;
            }
            Err(e) => tracing::debug!(error = %e, "client websocket upgrade failed"),
        }
        registry.deregister(conn_id);
    });

    Ok(switching_protocols(&accept))
}

async fn relay<C, U>(
    mut client: WebSocketStream<C>,
    mut upstream: WebSocketStream<U>,
    mut close_rx: oneshot::Receiver<CloseReason>,
    expires_in: Option<Duration>,
) where
    C: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
    U: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    let expiry = async {
        match expires_in {
            Some(d) => tokio::time::sleep(d).await,
            None => std::future::pending().await,
        }
    };
    tokio::pin!(expiry);
    let reason = loop {
        tokio::select! {
            msg = client.next() => match msg {
                Some(Ok(m @ (Message::Text(_) | Message::Binary(_)))) => {
                    if upstream.send(m).await.is_err() { break None; }
                }
                Some(Ok(Message::Close(frame))) => {
                    let _ = upstream.close(frame).await;
                    break None;
                }
                Some(Ok(_)) => {}
                Some(Err(_)) | None => { let _ = upstream.close(None).await; break None; }
            },
            msg = upstream.next() => match msg {
                Some(Ok(m @ (Message::Text(_) | Message::Binary(_)))) => {
                    if client.send(m).await.is_err() { break None; }
                }
                Some(Ok(Message::Close(frame))) => {
                    let _ = client.close(frame).await;
                    break None;
                }
                Some(Ok(_)) => {}
                Some(Err(_)) | None => { let _ = client.close(None).await; break None; }
            },
            r = &mut close_rx => match r {
                Ok(reason) => break Some(reason),
                // The registry dropped us without a reason: keep relaying is impossible to
                // observe again, so treat it as shutdown.
                Err(_) => break Some(CloseReason::Shutdown),
            },
            () = &mut expiry => break Some(CloseReason::Expired),
        }
    };
    if let Some(reason) = reason {
        let _ = client.close(Some(reason.frame())).await;
        let _ = upstream.close(None).await;
        // Give the client a moment to answer the close handshake.
        let _ = tokio::time::timeout(Duration::from_secs(1), async {
            while client.next().await.is_some() {}
        })
        .await;
    }
}
