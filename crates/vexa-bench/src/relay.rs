//! Diagnostic only, not a product: the proxy core the gateway does not have yet. One task per
//! client connection drives both sockets (client and its pinned upstream connection) with
//! `httparse` heads and raw byte relay, thread-per-core (a current-thread runtime and a
//! `SO_REUSEPORT` listener per thread). It handles what the load runs send and answer:
//! requests and responses framed by `Content-Length` (or bodiless); anything else ends the
//! connection. It shows what a relay without hyper's two codecs and two tasks per hop costs, next
//! to the bare hyper proxies (`--proxy-mode pool|pinned`) and HAProxy (bench/NOTES.md).

use std::net::SocketAddr;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const MAX_HEADERS: usize = 64;
/// A head or body larger than this ends the connection (the load runs stay far below).
const MAX_MESSAGE: usize = 1 << 20;

/// Serves `listen` on `threads` threads, relaying to `upstream`, until the process ends.
pub fn run(listen: SocketAddr, upstream: SocketAddr, threads: usize) -> std::io::Result<()> {
    let runtimes = (0..threads.max(1))
        .map(|_| {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
        })
        .collect::<std::io::Result<Vec<_>>>()?;
    // The gateway's own listeners (same port-sharing rule); tokio's socket builder needs a
    // runtime's reactor.
    let listeners = match runtimes.first() {
        Some(first) => {
            let _entered = first.enter();
            vexa_gateway::reuseport_listeners(listen, runtimes.len())?
        }
        None => Vec::new(),
    };
    let mut handles = Vec::with_capacity(runtimes.len());
    for (runtime, listener) in runtimes.into_iter().zip(listeners) {
        listener.set_nonblocking(true)?;
        handles.push(std::thread::spawn(move || {
            runtime.block_on(async move {
                let Ok(listener) = tokio::net::TcpListener::from_std(listener) else {
                    return;
                };
                loop {
                    let Ok((client, _)) = listener.accept().await else {
                        continue;
                    };
                    let _ = client.set_nodelay(true);
                    tokio::spawn(relay(client, upstream));
                }
            });
        }));
    }
    for h in handles {
        let _ = h.join();
    }
    Ok(())
}

/// One connection's buffer: bytes read but not yet relayed sit in `buf[..filled]`.
struct Inbound {
    buf: Vec<u8>,
    filled: usize,
}

impl Inbound {
    fn new() -> Inbound {
        Inbound {
            buf: vec![0; 8192],
            filled: 0,
        }
    }

    /// Reads until one whole message is buffered; its length, or `None` when the peer closed or
    /// sent something this relay does not handle.
    async fn message(&mut self, from: &mut TcpStream, request: bool) -> Option<usize> {
        loop {
            if let Some((head, body)) = parse(&self.buf[..self.filled], request)? {
                let total = head.checked_add(body).filter(|&t| t <= MAX_MESSAGE)?;
                if self.buf.len() < total {
                    self.buf.resize(total, 0);
                }
                while self.filled < total {
                    self.read_more(from).await?;
                }
                return Some(total);
            }
            if self.filled == self.buf.len() {
                if self.buf.len() >= MAX_MESSAGE {
                    return None;
                }
                self.buf.resize(self.buf.len() * 2, 0);
            }
            self.read_more(from).await?;
        }
    }

    async fn read_more(&mut self, from: &mut TcpStream) -> Option<()> {
        let n = from.read(&mut self.buf[self.filled..]).await.ok()?;
        if n == 0 {
            return None;
        }
        self.filled += n;
        Some(())
    }

    /// Drops the first `n` bytes (a relayed message), keeping what followed it.
    fn consume(&mut self, n: usize) {
        self.buf.copy_within(n..self.filled, 0);
        self.filled -= n;
    }
}

/// `Some(Some((head length, body length)))` for a complete head, `Some(None)` for a partial one,
/// `None` for one this relay refuses (malformed, chunked).
fn parse(bytes: &[u8], request: bool) -> Option<Option<(usize, usize)>> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let (status, headers) = if request {
        let mut req = httparse::Request::new(&mut headers);
        let status = req.parse(bytes).ok()?;
        (status, req.headers)
    } else {
        let mut resp = httparse::Response::new(&mut headers);
        let status = resp.parse(bytes).ok()?;
        (status, resp.headers)
    };
    let httparse::Status::Complete(head) = status else {
        return Some(None);
    };
    let mut body = 0;
    for h in headers.iter() {
        if h.name.eq_ignore_ascii_case("transfer-encoding") {
            return None;
        }
        if h.name.eq_ignore_ascii_case("content-length") {
            body = std::str::from_utf8(h.value).ok()?.trim().parse().ok()?;
        }
    }
    Some(Some((head, body)))
}

async fn relay(mut client: TcpStream, upstream: SocketAddr) -> Option<()> {
    let mut up = TcpStream::connect(upstream).await.ok()?;
    up.set_nodelay(true).ok()?;
    let (mut from_client, mut from_up) = (Inbound::new(), Inbound::new());
    loop {
        let n = from_client.message(&mut client, true).await?;
        up.write_all(&from_client.buf[..n]).await.ok()?;
        from_client.consume(n);
        let m = from_up.message(&mut up, false).await?;
        client.write_all(&from_up.buf[..m]).await.ok()?;
        from_up.consume(m);
    }
}

#[cfg(test)]
mod tests {
    use super::parse;

    #[test]
    fn heads_and_their_bodies_are_measured() {
        let req = b"GET /x HTTP/1.1\r\nHost: a\r\n\r\n";
        assert_eq!(parse(req, true), Some(Some((req.len(), 0))));
        let resp = b"HTTP/1.1 200 OK\r\nContent-Length: 11\r\n\r\n{\"ok\":true}";
        assert_eq!(parse(resp, false), Some(Some((resp.len() - 11, 11))));
        assert_eq!(parse(b"GET /x HTTP/1.1\r\nHo", true), Some(None));
        assert_eq!(parse(b"\x00\x01 nonsense\r\n\r\n", true), None);
        let chunked = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n";
        assert_eq!(parse(chunked, false), None);
        assert_eq!(
            parse(b"HTTP/1.1 200 OK\r\nContent-Length: x\r\n\r\n", false),
            None
        );
    }
}
