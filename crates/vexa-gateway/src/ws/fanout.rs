//! The Redis subscription registry behind the original's `/ws` (`MEETINGS_API_KIND=vexa`): ONE
//! pub/sub connection per gateway process, and a table channel → subscribers that fans each
//! message out to the sockets that asked for it.
//!
//! Why one connection and not one per socket (as the original gateway opens): a Redis server
//! holds a client, its buffers and a file descriptor per connection, and every gateway socket
//! would multiply them — 10 000 browser tabs would be 10 000 Redis clients, and a reconnect storm
//! after a Redis restart would be 10 000 simultaneous connects. With one connection, Redis sees
//! one subscriber per channel per gateway, each published message crosses the network once per
//! gateway whatever the number of sockets watching it, and a restart costs one reconnect that
//! re-subscribes every live channel at once.
//!
//! One task owns the connection and the table; sockets talk to it through a command channel, so
//! the table needs no lock and a SUBSCRIBE/UNSUBSCRIBE is sent exactly when a channel's first
//! subscriber arrives or its last one leaves. Each socket gets a bounded queue: a socket that
//! cannot keep up is dropped from every channel (its queue then ends and the socket is closed
//! with 1013 "try again later") instead of slowing down, or silently losing frames for, others.
//! While Redis is unreachable, subscribes fail at once (the socket is told, see `original`);
//! existing subscriptions are kept and re-subscribed on reconnect (messages published in
//! between are lost, as with the original).

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures_util::StreamExt;
use redis::aio::{PubSubSink, PubSubStream};
use tokio::sync::{mpsc, oneshot};
use tokio_tungstenite::tungstenite::Message;

use crate::error::GatewayError;

/// Frames a socket may have queued before it counts as too slow.
pub const QUEUE: usize = 1024;
/// Longest a connect to Redis may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(1);
/// Longest a SUBSCRIBE may take to be confirmed.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(2);
/// Pause between reconnect attempts.
const RETRY_EVERY: Duration = Duration::from_secs(1);

/// Redis could not confirm a subscription (down, slow, or refused it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("live updates unavailable (Redis pub/sub)")]
pub struct Unavailable;

enum Command {
    Register {
        id: u64,
        tx: mpsc::Sender<Message>,
    },
    Subscribe {
        id: u64,
        channels: Vec<String>,
        done: oneshot::Sender<Result<(), Unavailable>>,
    },
    Unsubscribe {
        id: u64,
        channels: Vec<String>,
        done: oneshot::Sender<()>,
    },
    Forget {
        id: u64,
    },
}

/// Handle to the fan-out task. Cheap to share.
pub struct Fanout {
    commands: mpsc::UnboundedSender<Command>,
    next: AtomicU64,
}

impl std::fmt::Debug for Fanout {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Fanout").finish_non_exhaustive()
    }
}

impl Fanout {
    /// Parses `url` and starts the task that connects (and reconnects) to it. An unreachable
    /// Redis is not an error here: subscribes fail until it answers.
    pub fn start(url: &str) -> Result<Arc<Fanout>, GatewayError> {
        let client = redis::Client::open(url)
            .map_err(|_| GatewayError::Config("REDIS_URL is not a valid Redis URL"))?;
        let (commands, rx) = mpsc::unbounded_channel();
        tokio::spawn(run(client, rx));
        Ok(Arc::new(Fanout {
            commands,
            next: AtomicU64::new(0),
        }))
    }

    /// A new subscriber: its handle, and the queue its frames arrive on (which ends when the
    /// subscriber is dropped for being too slow).
    pub fn subscriber(self: &Arc<Self>) -> (Subscriber, mpsc::Receiver<Message>) {
        let (tx, rx) = mpsc::channel(QUEUE);
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        // The task holds the only sender: when it drops this subscriber, the queue ends.
        let _ = self.commands.send(Command::Register { id, tx });
        let sub = Subscriber {
            fanout: self.clone(),
            id,
        };
        (sub, rx)
    }
}

/// One socket's membership in the registry; dropping it leaves every channel.
pub struct Subscriber {
    fanout: Arc<Fanout>,
    id: u64,
}

impl Subscriber {
    /// Adds these channels; returns once Redis confirmed any channel new to the process.
    pub async fn subscribe(&self, channels: Vec<String>) -> Result<(), Unavailable> {
        let (done, rx) = oneshot::channel();
        let cmd = Command::Subscribe {
            id: self.id,
            channels,
            done,
        };
        self.fanout.commands.send(cmd).map_err(|_| Unavailable)?;
        rx.await.unwrap_or(Err(Unavailable))
    }

    /// Removes these channels; once it returns, no further message of them is queued.
    pub async fn unsubscribe(&self, channels: Vec<String>) {
        let (done, rx) = oneshot::channel();
        let cmd = Command::Unsubscribe {
            id: self.id,
            channels,
            done,
        };
        if self.fanout.commands.send(cmd).is_ok() {
            let _ = rx.await;
        }
    }
}

impl Drop for Subscriber {
    fn drop(&mut self) {
        let _ = self.fanout.commands.send(Command::Forget { id: self.id });
    }
}

/// The registry and, while connected, the connection's command half.
struct Registry {
    /// Each subscriber's queue (the only sender of it).
    queues: HashMap<u64, mpsc::Sender<Message>>,
    /// Channel → the subscribers watching it.
    channels: HashMap<String, HashSet<u64>>,
    sink: Option<PubSubSink>,
}

impl Registry {
    async fn redis(&mut self, subscribe: bool, channels: Vec<String>) -> Result<(), Unavailable> {
        if channels.is_empty() {
            return Ok(());
        }
        let Some(sink) = self.sink.as_mut() else {
            return Err(Unavailable);
        };
        let call = async {
            if subscribe {
                sink.subscribe(&channels).await
            } else {
                sink.unsubscribe(&channels).await
            }
        };
        match tokio::time::timeout(COMMAND_TIMEOUT, call).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => {
                tracing::warn!(error = %e, "redis pub/sub command failed");
                Err(Unavailable)
            }
            Err(_) => {
                tracing::warn!("redis pub/sub command timed out");
                Err(Unavailable)
            }
        }
    }

    async fn apply(&mut self, cmd: Command) {
        match cmd {
            Command::Register { id, tx } => {
                self.queues.insert(id, tx);
            }
            Command::Subscribe { id, channels, done } => {
                if self.sink.is_none() || !self.queues.contains_key(&id) {
                    let _ = done.send(Err(Unavailable));
                    return;
                }
                let mut fresh = Vec::new();
                for ch in channels {
                    let subs = self.channels.entry(ch.clone()).or_default();
                    if subs.is_empty() {
                        fresh.push(ch);
                    }
                    subs.insert(id);
                }
                let result = self.redis(true, fresh.clone()).await;
                if result.is_err() {
                    // Not confirmed: forget what this call added, so a retry subscribes again.
                    for ch in fresh {
                        self.channels.remove(&ch);
                    }
                }
                let _ = done.send(result);
            }
            Command::Unsubscribe { id, channels, done } => {
                let emptied = self.remove(id, channels);
                let _ = done.send(());
                let _ = self.redis(false, emptied).await;
            }
            Command::Forget { id } => {
                self.queues.remove(&id);
                let all: Vec<String> = self
                    .channels
                    .iter()
                    .filter(|(_, s)| s.contains(&id))
                    .map(|(c, _)| c.clone())
                    .collect();
                let emptied = self.remove(id, all);
                let _ = self.redis(false, emptied).await;
            }
        }
    }

    /// Removes `id` from `channels`; returns the channels nobody watches any more.
    fn remove(&mut self, id: u64, channels: Vec<String>) -> Vec<String> {
        let mut emptied = Vec::new();
        for ch in channels {
            if let Some(subs) = self.channels.get_mut(&ch) {
                subs.remove(&id);
                if subs.is_empty() {
                    self.channels.remove(&ch);
                    emptied.push(ch);
                }
            }
        }
        emptied
    }

    /// Queues one message for every subscriber of its channel, text when it is UTF-8 (as the
    /// meeting-api publishes JSON), bytes unchanged otherwise.
    fn dispatch(&mut self, channel: &str, payload: &[u8]) -> Vec<u64> {
        let Some(subs) = self.channels.get(channel) else {
            return Vec::new();
        };
        let bytes = Bytes::copy_from_slice(payload);
        let frame = match tokio_tungstenite::tungstenite::Utf8Bytes::try_from(bytes.clone()) {
            Ok(text) => Message::Text(text),
            Err(_) => Message::Binary(bytes),
        };
        let mut slow = Vec::new();
        for id in subs {
            let Some(tx) = self.queues.get(id) else {
                continue;
            };
            if let Err(mpsc::error::TrySendError::Full(_)) = tx.try_send(frame.clone()) {
                slow.push(*id);
            }
        }
        slow
    }
}

async fn connect(client: &redis::Client) -> Option<(PubSubSink, PubSubStream)> {
    match tokio::time::timeout(CONNECT_TIMEOUT, client.get_async_pubsub()).await {
        Ok(Ok(pubsub)) => Some(pubsub.split()),
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "redis pub/sub connect failed");
            None
        }
        Err(_) => {
            tracing::warn!("redis pub/sub connect timed out");
            None
        }
    }
}

/// The task: connect, re-subscribe every live channel, then serve commands and messages until
/// the connection ends; while disconnected, keep serving commands and retry every second.
/// Ends when every [`Fanout`] handle is gone.
async fn run(client: redis::Client, mut commands: mpsc::UnboundedReceiver<Command>) {
    let mut reg = Registry {
        queues: HashMap::new(),
        channels: HashMap::new(),
        sink: None,
    };
    loop {
        let mut stream = None;
        if let Some((sink, s)) = connect(&client).await {
            reg.sink = Some(sink);
            let live: Vec<String> = reg.channels.keys().cloned().collect();
            if reg.redis(true, live).await.is_ok() {
                stream = Some(s);
            }
        }
        if let Some(mut stream) = stream {
            loop {
                tokio::select! {
                    // Commands first: an unsubscribe acknowledged to a socket is applied before
                    // any message that arrives after it.
                    biased;
                    cmd = commands.recv() => match cmd {
                        Some(cmd) => reg.apply(cmd).await,
                        None => return,
                    },
                    msg = stream.next() => match msg {
                        Some(msg) => {
                            for id in reg.dispatch(msg.get_channel_name(), msg.get_payload_bytes()) {
                                tracing::warn!("a /ws client is too slow for its live updates; closing it");
                                reg.apply(Command::Forget { id }).await;
                            }
                        }
                        None => break,
                    },
                }
            }
            tracing::warn!("redis pub/sub connection lost; reconnecting");
        }
        reg.sink = None;
        let retry = tokio::time::sleep(RETRY_EVERY);
        tokio::pin!(retry);
        loop {
            tokio::select! {
                () = &mut retry => break,
                cmd = commands.recv() => match cmd {
                    Some(cmd) => reg.apply(cmd).await,
                    None => return,
                },
            }
        }
    }
}
