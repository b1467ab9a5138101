//! `EchoUpstream`: a tiny hyper server standing in for the meetings service. It answers every
//! request with JSON `{method, path, query, headers, body}`; `/slow` waits 5 s before answering,
//! `/sse` streams three events 300 ms apart, and `/ws` is a WebSocket that first sends the
//! headers it received, then echoes every message.

use std::convert::Infallible;
use std::time::Duration;

use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use http::{Request, Response};
use http_body_util::{BodyExt, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;
use tokio_tungstenite::tungstenite::protocol::Role;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::WebSocketStream;

type Body = http_body_util::combinators::BoxBody<Bytes, Infallible>;

/// A running echo server.
pub struct EchoUpstream {
    pub url: String,
}

impl EchoUpstream {
    pub async fn start() -> EchoUpstream {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                tokio::spawn(async move {
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service_fn(handle))
                        .with_upgrades()
                        .await;
                });
            }
        });
        EchoUpstream {
            url: format!("http://{addr}"),
        }
    }
}

fn headers_json(h: &http::HeaderMap) -> serde_json::Value {
    let mut m = serde_json::Map::new();
    for (k, v) in h {
        m.insert(
            k.as_str().to_owned(),
            serde_json::Value::String(v.to_str().unwrap_or("").to_owned()),
        );
    }
    serde_json::Value::Object(m)
}

fn full(b: impl Into<Bytes>) -> Body {
    http_body_util::Full::new(b.into())
        .map_err(|e| match e {})
        .boxed()
}

async fn handle(mut req: Request<Incoming>) -> Result<Response<Body>, Infallible> {
    let path = req.uri().path().to_owned();
    if path == "/ws" && req.headers().contains_key("sec-websocket-key") {
        let accept = derive_accept_key(req.headers()["sec-websocket-key"].as_bytes());
        let hello =
            serde_json::json!({"headers": headers_json(req.headers()), "query": req.uri().query()})
                .to_string();
        let on = hyper::upgrade::on(&mut req);
        tokio::spawn(async move {
            if let Ok(up) = on.await {
                let mut ws =
                    WebSocketStream::from_raw_socket(TokioIo::new(up), Role::Server, None).await;
                let _ = ws.send(Message::text(hello)).await;
                while let Some(Ok(m)) = ws.next().await {
                    if m.is_text() || m.is_binary() {
                        let _ = ws.send(m).await;
                    }
                }
            }
        });
        let resp = Response::builder()
            .status(101)
            .header("upgrade", "websocket")
            .header("connection", "Upgrade")
            .header("sec-websocket-accept", accept)
            .body(full(""))
            .expect("response");
        return Ok(resp);
    }
    if path.ends_with("/slow") {
        tokio::time::sleep(Duration::from_secs(5)).await;
    }
    if path.ends_with("/sse") {
        let stream = futures_util::stream::unfold(0u32, |i| async move {
            if i >= 3 {
                return None;
            }
            if i > 0 {
                tokio::time::sleep(Duration::from_millis(300)).await;
            }
            Some((
                Ok::<_, Infallible>(Frame::data(Bytes::from(format!("data: {i}\n\n")))),
                i + 1,
            ))
        });
        let resp = Response::builder()
            .header("content-type", "text/event-stream")
            .body(BodyExt::boxed(StreamBody::new(stream)))
            .expect("response");
        return Ok(resp);
    }
    let (parts, body) = req.into_parts();
    let body = body
        .collect()
        .await
        .map(|c| c.to_bytes())
        .unwrap_or_default();
    let out = serde_json::json!({
        "method": parts.method.as_str(),
        "path": parts.uri.path(),
        "query": parts.uri.query(),
        "headers": headers_json(&parts.headers),
        "body": String::from_utf8_lossy(&body),
    });
    let resp = Response::builder()
        .header("content-type", "application/json")
        .header("x-upstream", "echo")
        .body(full(out.to_string()))
        .expect("response");
    Ok(resp)
}
