//! Forwarding one HTTP request to an upstream over a keep-alive pool, streaming both bodies.

use std::error::Error as _;
use std::time::Duration;

use http::uri::{Authority, PathAndQuery, Scheme};
use http::{HeaderValue, Request, Response, Uri};
use http_body::Body as _;
use hyper::body::Incoming;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioTimer};

use crate::body::{GwBody, LimitedBody, ReqBodyError};
use crate::error::{GatewayError, Rejection};
use crate::headers::strip_hop_by_hop;

pub type HttpClient = Client<HttpConnector, LimitedBody>;

pub fn client() -> HttpClient {
    let mut connector = HttpConnector::new();
    connector.set_nodelay(true);
    connector.set_keepalive(Some(Duration::from_secs(60)));
    Client::builder(TokioExecutor::new())
        .pool_idle_timeout(Duration::from_secs(60))
        .pool_max_idle_per_host(1024)
        .pool_timer(TokioTimer::new())
        .timer(TokioTimer::new())
        .build(connector)
}

/// Where one upstream lives: scheme, authority and the Host header to send, parsed once.
#[derive(Debug, Clone)]
pub struct Upstream {
    pub scheme: Scheme,
    pub authority: Authority,
    pub host: HeaderValue,
}

impl Upstream {
    pub fn from_uri(uri: &Uri, what: &'static str) -> Result<Upstream, GatewayError> {
        let scheme = uri.scheme().cloned().unwrap_or(Scheme::HTTP);
        if scheme != Scheme::HTTP {
            return Err(GatewayError::Config(what));
        }
        let authority = uri.authority().cloned().ok_or(GatewayError::Config(what))?;
        let host =
            HeaderValue::from_str(authority.as_str()).map_err(|_| GatewayError::Config(what))?;
        Ok(Upstream {
            scheme,
            authority,
            host,
        })
    }

    pub fn uri(&self, pq: PathAndQuery) -> Result<Uri, http::Error> {
        Uri::builder()
            .scheme(self.scheme.clone())
            .authority(self.authority.clone())
            .path_and_query(pq)
            .build()
    }
}

/// Sends `req` (headers already prepared) and maps transport failures to rejections.
pub async fn forward(
    client: &HttpClient,
    req: Request<LimitedBody>,
    timeout: Duration,
) -> Result<Response<GwBody>, Rejection> {
    let resp = match tokio::time::timeout(timeout, client.request(req)).await {
        Err(_) => return Err(Rejection::UpstreamTimeout),
        Ok(Err(e)) => {
            if caused_by_body_limit(&e) {
                return Err(Rejection::BodyTooLarge);
            }
            tracing::debug!(error = %e, "upstream request failed");
            return Err(Rejection::UpstreamUnreachable);
        }
        Ok(Ok(resp)) => resp,
    };
    let (mut parts, body) = resp.into_parts();
    strip_hop_by_hop(&mut parts.headers);
    Ok(Response::from_parts(parts, GwBody::Stream(body)))
}

/// Whether the request failed because [`LimitedBody`] cut the client's body off.
fn caused_by_body_limit(e: &hyper_util::client::legacy::Error) -> bool {
    let mut source = e.source();
    while let Some(err) = source {
        if let Some(ReqBodyError::TooLarge) = err.downcast_ref::<ReqBodyError>() {
            return true;
        }
        source = err.source();
    }
    false
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
