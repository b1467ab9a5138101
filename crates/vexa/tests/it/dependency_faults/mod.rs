//! Dependency faults against the real `vexa up`:
//!
//! - PostgreSQL "restarted" during load (a TCP proxy between vexa and PostgreSQL cuts every
//!   connection and refuses new ones, then comes back): cached keys keep working, uncached keys
//!   get 503 with `Retry-After: 1`, nothing answers 500, and everything recovers without a restart.
//! - Redis configured but down (from the start, and cut mid-run): the per-user limits degrade to
//!   per-process buckets — still enforced (429), never a 5xx.
//! - The meetings upstream refusing, resetting, closing, answering garbage, stalling before or in
//!   its headers: 502 `upstream unreachable` or 504 `upstream timeout`, promptly, and the gateway
//!   serves normally again the moment the upstream is healthy.
//!
//! One module per dependency; this one holds the fault injector they share (a TCP proxy) and
//! the client helpers.

mod postgres;
mod redis;
mod upstream;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};
use vexa_testkit::stack::StackEnv;
use vexa_testkit::ADMIN_TOKEN;

/// A TCP proxy that can fail like a restarting server.
struct Proxy {
    port: u16,
    up: Arc<AtomicBool>,
    conns: Arc<Mutex<Vec<tokio::task::AbortHandle>>>,
}

impl Proxy {
    async fn start(target: SocketAddr) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let up = Arc::new(AtomicBool::new(true));
        let conns: Arc<Mutex<Vec<tokio::task::AbortHandle>>> = Arc::default();
        let (up2, conns2) = (up.clone(), conns.clone());
        tokio::spawn(async move {
            while let Ok((mut client, _)) = listener.accept().await {
                if !up2.load(Ordering::SeqCst) {
                    drop(client);
                    continue;
                }
                let task = tokio::spawn(async move {
                    if let Ok(mut server) = TcpStream::connect(target).await {
                        let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                    }
                });
                conns2.lock().expect("lock").push(task.abort_handle());
            }
        });
        Proxy { port, up, conns }
    }

    /// Every open connection dies, new ones are closed at once.
    fn cut(&self) {
        self.up.store(false, Ordering::SeqCst);
        for c in self.conns.lock().expect("lock").drain(..) {
            c.abort();
        }
    }

    fn restore(&self) {
        self.up.store(true, Ordering::SeqCst);
    }
}

async fn status_of(req: reqwest::RequestBuilder) -> (u16, serde_json::Value, Option<String>) {
    match req.timeout(Duration::from_secs(10)).send().await {
        Ok(r) => {
            let s = r.status().as_u16();
            let retry = r
                .headers()
                .get("retry-after")
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned);
            let body = r.json().await.unwrap_or(serde_json::Value::Null);
            (s, body, retry)
        }
        Err(e) => panic!("no answer: {e}"),
    }
}

async fn auth_me(
    client: &reqwest::Client,
    gw: &str,
    key: &str,
) -> (u16, serde_json::Value, Option<String>) {
    status_of(client.get(format!("{gw}/auth/me")).header("X-API-Key", key)).await
}

async fn mint_status(client: &reqwest::Client, env: &StackEnv, user: i64) -> u16 {
    status_of(
        client
            .post(format!(
                "{}/admin/users/{user}/tokens?scopes=bot",
                env.admin()
            ))
            .header("X-Admin-API-Key", ADMIN_TOKEN),
    )
    .await
    .0
}
