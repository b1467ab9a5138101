//! Body types of the hot path: one response body that is either a small in-memory buffer or an
//! upstream's streaming body (no boxing), and a request body wrapper that counts bytes so an
//! oversized streamed upload fails instead of being forwarded.

use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use hyper::body::Incoming;

/// A response body produced by the gateway.
#[derive(Debug)]
pub enum GwBody {
    Full(Option<Bytes>),
    Stream(Incoming),
}

impl GwBody {
    pub fn full(bytes: Bytes) -> GwBody {
        GwBody::Full(Some(bytes))
    }

    pub fn empty() -> GwBody {
        GwBody::Full(None)
    }
}

impl Body for GwBody {
    type Data = Bytes;
    type Error = hyper::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, hyper::Error>>> {
        match self.get_mut() {
            GwBody::Full(data) => Poll::Ready(data.take().map(|b| Ok(Frame::data(b)))),
            GwBody::Stream(inner) => Pin::new(inner).poll_frame(cx),
        }
    }

    fn is_end_stream(&self) -> bool {
        match self {
            GwBody::Full(data) => data.is_none(),
            GwBody::Stream(inner) => inner.is_end_stream(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            GwBody::Full(Some(b)) => SizeHint::with_exact(b.len() as u64),
            GwBody::Full(None) => SizeHint::with_exact(0),
            GwBody::Stream(inner) => inner.size_hint(),
        }
    }
}

/// Error of a forwarded request body: the client's stream failed, or it grew too large.
#[derive(Debug, thiserror::Error)]
pub enum ReqBodyError {
    /// The body exceeded `max_body_bytes` while streaming.
    #[error("request body too large")]
    TooLarge,
    #[error(transparent)]
    Client(#[from] hyper::Error),
}

/// A client's request body on its way upstream, cut off past `remaining` bytes.
#[derive(Debug)]
pub struct LimitedBody {
    inner: Incoming,
    remaining: u64,
}

impl LimitedBody {
    pub fn new(inner: Incoming, limit: u64) -> Self {
        LimitedBody {
            inner,
            remaining: limit,
        }
    }
}

impl Body for LimitedBody {
    type Data = Bytes;
    type Error = ReqBodyError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, ReqBodyError>>> {
        let this = self.get_mut();
        match Pin::new(&mut this.inner).poll_frame(cx) {
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(data) = frame.data_ref() {
                    let len = data.len() as u64;
                    if len > this.remaining {
                        this.remaining = 0;
                        return Poll::Ready(Some(Err(ReqBodyError::TooLarge)));
                    }
                    this.remaining -= len;
                }
                Poll::Ready(Some(Ok(frame)))
            }
            Poll::Ready(Some(Err(e))) => Poll::Ready(Some(Err(ReqBodyError::Client(e)))),
            Poll::Ready(None) => Poll::Ready(None),
            Poll::Pending => Poll::Pending,
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
