//! The minimal upstream the load runs measure against: answers every request on every path with
//! `200` and a small JSON body, HTTP/1.1 keep-alive, nothing else. It reads and discards request
//! bodies so proxies can forward POSTs too.
//!
//! Usage: `vexa-bench-upstream --port N [--host 127.0.0.1] [--threads T] [--proxy-to http://H:P
//! [--proxy-mode pool|pinned|relay]]`
//!
//! With `--proxy-to`, it is instead a bare reverse proxy built from the same parts as the gateway
//! (hyper server, hyper-util pooled client, streamed response body) with no authentication, no
//! limiter and no logging: the floor the gateway's forwarding can reach on this stack, measured
//! side by side with nginx and the gateway. `--proxy-mode pinned` gives each downstream
//! connection its own upstream connection instead of the shared pool (the request's Host header
//! is passed through unchanged in both modes). `--proxy-mode relay` is `vexa_bench::relay`: one
//! task per client connection driving both sockets, thread-per-core (a diagnostic).

use std::convert::Infallible;
use std::net::{IpAddr, SocketAddr};
use std::process::ExitCode;

use bytes::Bytes;
use http::header::{HeaderValue, CONTENT_TYPE};
use http::{Request, Response};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioIo};
use std::time::Duration;

const BODY: &[u8] = br#"{"ok":true,"service":"bench-upstream"}"#;

struct Args {
    host: IpAddr,
    port: u16,
    threads: usize,
    proxy_to: Option<http::Uri>,
    pinned: bool,
    relay: bool,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        host: IpAddr::from([127, 0, 0, 1]),
        port: 0,
        threads: 2,
        proxy_to: None,
        pinned: false,
        relay: false,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let value = it.next().ok_or_else(|| format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--port" => args.port = value.parse().map_err(|e| format!("--port: {e}"))?,
            "--host" => args.host = value.parse().map_err(|e| format!("--host: {e}"))?,
            "--threads" => {
                args.threads = value.parse().map_err(|e| format!("--threads: {e}"))?;
                if args.threads == 0 {
                    return Err("--threads must be at least 1".into());
                }
            }
            "--proxy-to" => {
                let uri: http::Uri = value.parse().map_err(|e| format!("--proxy-to: {e}"))?;
                if uri.scheme_str() != Some("http") || uri.authority().is_none() {
                    return Err("--proxy-to must be an http://host:port URL".into());
                }
                args.proxy_to = Some(uri);
            }
            "--proxy-mode" => match value.as_str() {
                "pool" => args.pinned = false,
                "pinned" => args.pinned = true,
                "relay" => args.relay = true,
                _ => return Err("--proxy-mode is pool, pinned or relay".into()),
            },
            other => return Err(format!("unknown argument {other}")),
        }
    }
    if args.port == 0 {
        return Err("usage: vexa-bench-upstream --port N [--host H] [--threads T]".into());
    }
    Ok(args)
}

async fn answer(req: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    // Drain the request body (if any) so the connection stays reusable.
    let _ = req.into_body().collect().await;
    let mut resp = Response::new(Full::new(Bytes::from_static(BODY)));
    resp.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    Ok(resp)
}

type ProxyClient = Client<HttpConnector, Incoming>;

fn proxy_client() -> ProxyClient {
    let mut connector = HttpConnector::new();
    connector.set_nodelay(true);
    Client::builder(TokioExecutor::new())
        .pool_idle_timeout(Duration::from_secs(60))
        .pool_max_idle_per_host(1024)
        .build(connector)
}

async fn forward(
    client: ProxyClient,
    authority: http::uri::Authority,
    req: Request<Incoming>,
) -> Result<Response<Incoming>, hyper_util::client::legacy::Error> {
    let (mut parts, body) = req.into_parts();
    let pq = parts
        .uri
        .path_and_query()
        .cloned()
        .unwrap_or_else(|| http::uri::PathAndQuery::from_static("/"));
    parts.uri = http::Uri::builder()
        .scheme("http")
        .authority(authority)
        .path_and_query(pq)
        .build()
        .unwrap_or_default();
    client.request(Request::from_parts(parts, body)).await
}

/// One upstream connection per downstream connection, opened on first use and reused while it
/// lives: no shared pool, no hand-off between tasks for checkout and return.
async fn serve_pinned(addr: SocketAddr, to: http::Uri) -> std::io::Result<()> {
    use hyper::client::conn::http1::SendRequest;
    let listener = tokio::net::TcpListener::bind(addr).await?;
    let authority = to
        .authority()
        .cloned()
        .ok_or_else(|| std::io::Error::other("no authority"))?;
    eprintln!("vexa-bench-upstream: bare pinned proxy on http://{addr} -> {to}");
    loop {
        let (stream, _) = match listener.accept().await {
            Ok(a) => a,
            Err(e) => {
                eprintln!("accept failed: {e}");
                tokio::time::sleep(Duration::from_millis(20)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let authority = authority.clone();
        tokio::spawn(async move {
            let upstream: std::sync::Arc<tokio::sync::Mutex<Option<SendRequest<Incoming>>>> =
                std::sync::Arc::default();
            let service = service_fn(move |req: Request<Incoming>| {
                let (upstream, authority) = (upstream.clone(), authority.clone());
                async move {
                    let mut slot = upstream.lock().await;
                    let usable = match slot.as_mut() {
                        Some(s) => s.ready().await.is_ok(),
                        None => false,
                    };
                    if !usable {
                        *slot = None;
                        if let Ok(tcp) = tokio::net::TcpStream::connect(authority.as_str()).await {
                            let _ = tcp.set_nodelay(true);
                            if let Ok((sender, conn)) =
                                hyper::client::conn::http1::handshake(TokioIo::new(tcp)).await
                            {
                                tokio::spawn(conn);
                                *slot = Some(sender);
                            }
                        }
                    }
                    let sent = match slot.as_mut() {
                        Some(sender) => sender.send_request(req).await.ok(),
                        None => None,
                    };
                    drop(slot);
                    Ok::<_, Infallible>(match sent {
                        Some(resp) => resp.map(http_body_util::Either::Left),
                        None => {
                            let mut resp = Response::new(http_body_util::Either::Right(Full::new(
                                Bytes::from_static(b"upstream unreachable"),
                            )));
                            *resp.status_mut() = http::StatusCode::BAD_GATEWAY;
                            resp
                        }
                    })
                }
            });
            let _ = http1::Builder::new()
                .keep_alive(true)
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

async fn serve_proxy(addr: SocketAddr, to: http::Uri) -> std::io::Result<()> {
    let listener = tokio::net::TcpListener::bind(addr).await?;
    let authority = to
        .authority()
        .cloned()
        .ok_or_else(|| std::io::Error::other("no authority"))?;
    let client = proxy_client();
    eprintln!("vexa-bench-upstream: bare proxy on http://{addr} -> {to}");
    loop {
        let (stream, _) = match listener.accept().await {
            Ok(a) => a,
            Err(e) => {
                eprintln!("accept failed: {e}");
                tokio::time::sleep(Duration::from_millis(20)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let (client, authority) = (client.clone(), authority.clone());
        tokio::spawn(async move {
            let service = service_fn(move |req| {
                let (client, authority) = (client.clone(), authority.clone());
                async move {
                    match forward(client, authority, req).await {
                        Ok(resp) => Ok::<_, Infallible>(resp.map(http_body_util::Either::Left)),
                        Err(_) => {
                            let mut resp = Response::new(http_body_util::Either::Right(Full::new(
                                Bytes::from_static(b"upstream unreachable"),
                            )));
                            *resp.status_mut() = http::StatusCode::BAD_GATEWAY;
                            Ok(resp)
                        }
                    }
                }
            });
            let _ = http1::Builder::new()
                .keep_alive(true)
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

async fn serve(addr: SocketAddr) -> std::io::Result<()> {
    let listener = tokio::net::TcpListener::bind(addr).await?;
    eprintln!("vexa-bench-upstream listening on http://{addr}");
    loop {
        let (stream, _) = match listener.accept().await {
            Ok(a) => a,
            Err(e) => {
                eprintln!("accept failed: {e}");
                tokio::time::sleep(std::time::Duration::from_millis(20)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        tokio::spawn(async move {
            let _ = http1::Builder::new()
                .keep_alive(true)
                .serve_connection(TokioIo::new(stream), service_fn(answer))
                .await;
        });
    }
}

fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    let addr = SocketAddr::new(args.host, args.port);
    if let (true, Some(to)) = (args.relay, &args.proxy_to) {
        let upstream = to
            .authority()
            .and_then(|a| a.as_str().parse::<SocketAddr>().ok());
        let Some(upstream) = upstream else {
            eprintln!("--proxy-mode relay needs --proxy-to http://IP:PORT");
            return ExitCode::from(2);
        };
        eprintln!("vexa-bench-upstream: diagnostic relay on http://{addr} -> {upstream}");
        return match vexa_bench::relay::run(addr, upstream, args.threads) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("vexa-bench-upstream: {e}");
                ExitCode::FAILURE
            }
        };
    }
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(args.threads)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let served = match args.proxy_to {
        Some(to) if args.pinned => rt.block_on(serve_pinned(addr, to)),
        Some(to) => rt.block_on(serve_proxy(addr, to)),
        None => rt.block_on(serve(addr)),
    };
    match served {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("vexa-bench-upstream: {e}");
            ExitCode::FAILURE
        }
    }
}
