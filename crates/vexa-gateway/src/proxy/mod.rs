//! Forwarding one HTTP request to an upstream, streaming both bodies, on the upstream
//! connection the client connection holds (`conns`).

use std::time::Duration;

use http::uri::{Authority, Scheme};
use http::{HeaderValue, Request, Response, Uri};
use http_body::Body as _;
use hyper::body::Incoming;

use crate::body::{GwBody, LimitedBody};
use crate::error::{GatewayError, Rejection};
use crate::headers::strip_hop_by_hop;

mod conns;
mod deadline;

pub use conns::{PinnedConns, UpstreamConns};

/// Where one upstream lives: its authority and the Host header to send, parsed once. Only
/// `http://` upstreams (the services sit next to the gateway).
#[derive(Debug, Clone)]
pub struct Upstream {
    pub authority: Authority,
    pub host: HeaderValue,
}

impl Upstream {
    pub fn from_uri(uri: &Uri, what: &'static str) -> Result<Upstream, GatewayError> {
        if uri.scheme().is_some_and(|s| *s != Scheme::HTTP) {
            return Err(GatewayError::Config(what));
        }
        let authority = uri.authority().cloned().ok_or(GatewayError::Config(what))?;
        let host =
            HeaderValue::from_str(authority.as_str()).map_err(|_| GatewayError::Config(what))?;
        Ok(Upstream { authority, host })
    }

    /// The absolute URI of `pq` on this upstream, for clients that dial by URI.
    pub fn uri(&self, pq: http::uri::PathAndQuery) -> Result<Uri, http::Error> {
        Uri::builder()
            .scheme(Scheme::HTTP)
            .authority(self.authority.clone())
            .path_and_query(pq)
            .build()
    }
}

/// Sends `req` (headers already prepared, its URI the origin-form path and query) to `upstream`
/// on the client connection's upstream connection, and maps transport failures to rejections.
pub async fn forward(
    conns: &PinnedConns,
    upstream: &Upstream,
    req: Request<LimitedBody>,
    timeout: Duration,
) -> Result<Response<GwBody>, Rejection> {
    let resp = match conns.send_within(timeout, &upstream.authority, req).await {
        Err(_) => return Err(Rejection::UpstreamTimeout),
        Ok(Err(conns::SendError::BodyTooLarge)) => return Err(Rejection::BodyTooLarge),
        Ok(Err(conns::SendError::Unreachable)) => return Err(Rejection::UpstreamUnreachable),
        Ok(Ok(resp)) => resp,
    };
    let (mut parts, body) = resp.into_parts();
    strip_hop_by_hop(&mut parts.headers);
    Ok(Response::from_parts(parts, GwBody::Stream(body)))
}

/// The request body to forward, refusing an announced length over the limit up front. hyper
/// knows the declared length (`Content-Length`) as the body's exact size hint, so nothing is
/// parsed here.
pub fn limited_body(body: Incoming, max: u64) -> Result<LimitedBody, Rejection> {
    if body.size_hint().exact().is_some_and(|n| n > max) {
        return Err(Rejection::BodyTooLarge);
    }
    Ok(LimitedBody::new(body, max))
}
