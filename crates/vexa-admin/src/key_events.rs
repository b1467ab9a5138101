//! Key events on the user's webhook: `key.rotated`, `key.revoked`, `key.expiring` (24 h before a
//! key's `expires_at`, once per key across every admin API replica). Signed and retried exactly
//! like meeting webhooks (`vexa_webhook`), to the URL and secret `PUT /user/webhook` stored in
//! the user's `data`.
//!
//! Delivery never blocks or fails an admin response: [`KeyEvents::emit`] only puts the event on
//! a bounded queue (full → the event is dropped and counted), a worker posts it on a spawned task.
//! The body names the key by id and display prefix, never by its secret. A user who set
//! `webhook_events` can switch an event off with `"key.rotated": false`; key events are on by
//! default (unlike meeting events) because they are security notices.

use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;
use sha2::{Digest, Sha256};
use tokio::sync::{mpsc, Semaphore};
use vexa_core::webhook::Webhook;
use vexa_core::{Clock, IdentityStore, KeyId, KeyRecord, ScopeSet, Timestamp, UserId};
use vexa_webhook::{Delivery, Poster};

/// How far ahead of `expires_at` the `key.expiring` notice goes out.
pub const EXPIRING_NOTICE: Duration = Duration::from_secs(24 * 3600);
/// Events waiting for delivery, at most; past that new ones are dropped (and counted).
pub const QUEUE_CAPACITY: usize = 1024;
/// Deliveries in flight at once.
const CONCURRENT_DELIVERIES: usize = 16;
/// Keys claimed per sweep query.
const SWEEP_BATCH: i64 = 100;

/// What happened to a key.
#[derive(Debug, Clone)]
pub enum KeyEventKind {
    /// Replaced by `replacement`; the old key works until `retires_at`.
    Rotated {
        replacement: KeyRecord,
        retires_at: Timestamp,
    },
    Revoked,
    /// Expires within [`EXPIRING_NOTICE`].
    Expiring,
}

impl KeyEventKind {
    pub fn event_type(&self) -> &'static str {
        match self {
            KeyEventKind::Rotated { .. } => "key.rotated",
            KeyEventKind::Revoked => "key.revoked",
            KeyEventKind::Expiring => "key.expiring",
        }
    }
}

/// One event to deliver.
#[derive(Debug, Clone)]
pub struct KeyEvent {
    pub kind: KeyEventKind,
    pub key: KeyRecord,
    pub at: Timestamp,
    /// The webhook as read before the event (a deleted user's keys: the user is gone by
    /// delivery time); `None` reads the user's current one at delivery.
    pub hook: Option<Webhook>,
}

/// The key as the body shows it: metadata only.
#[derive(Debug, Serialize)]
struct KeyView<'a> {
    id: KeyId,
    prefix: &'a str,
    name: Option<&'a str>,
    scopes: &'a ScopeSet,
    expires_at: Option<Timestamp>,
}

impl<'a> From<&'a KeyRecord> for KeyView<'a> {
    fn from(k: &'a KeyRecord) -> Self {
        KeyView {
            id: k.id,
            prefix: &k.prefix,
            name: k.name.as_deref(),
            scopes: &k.scopes,
            expires_at: k.expires_at,
        }
    }
}

#[derive(Debug, Serialize)]
struct Body<'a> {
    event: &'static str,
    /// Stable for one key and event (receivers deduplicate redeliveries by it).
    event_id: String,
    key: KeyView<'a>,
    user_id: UserId,
    at: Timestamp,
    #[serde(skip_serializing_if = "Option::is_none")]
    replacement: Option<KeyView<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    retires_at: Option<Timestamp>,
}

/// The JSON posted for `ev`.
pub fn body_of(ev: &KeyEvent) -> Vec<u8> {
    let event = ev.kind.event_type();
    let (replacement, retires_at) = match &ev.kind {
        KeyEventKind::Rotated {
            replacement,
            retires_at,
        } => (Some(KeyView::from(replacement)), Some(*retires_at)),
        KeyEventKind::Revoked | KeyEventKind::Expiring => (None, None),
    };
    let digest = Sha256::digest(format!("{}|{event}", ev.key.id.0).as_bytes());
    let body = Body {
        event,
        event_id: format!("evt_{}", &hex::encode(digest)[..32]),
        key: KeyView::from(&ev.key),
        user_id: ev.key.user_id,
        at: ev.at,
        replacement,
        retires_at,
    };
    serde_json::to_vec(&body).unwrap_or_default()
}

/// Whether the user wants this key event: on unless `webhook_events` switches it off.
fn wants(hook: &Webhook, event_type: &str) -> bool {
    hook.events
        .as_ref()
        .and_then(|e| e.get(event_type))
        .and_then(serde_json::Value::as_bool)
        .unwrap_or(true)
}

/// The queue of key events of this process. Cheap to clone.
#[derive(Clone)]
pub struct KeyEvents {
    tx: Option<mpsc::Sender<KeyEvent>>,
}

impl std::fmt::Debug for KeyEvents {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyEvents")
            .field("enabled", &self.tx.is_some())
            .finish()
    }
}

impl KeyEvents {
    /// Starts the delivery worker (on the current tokio runtime); it ends when every
    /// [`KeyEvents`] clone is dropped.
    pub fn start(
        store: Arc<dyn IdentityStore>,
        clock: Arc<dyn Clock>,
        timeout: Duration,
        base_backoff: Duration,
    ) -> KeyEvents {
        let (tx, mut rx) = mpsc::channel::<KeyEvent>(QUEUE_CAPACITY);
        let poster = Poster::new(clock, timeout, base_backoff);
        let slots = Arc::new(Semaphore::new(CONCURRENT_DELIVERIES));
        tokio::spawn(async move {
            while let Some(ev) = rx.recv().await {
                let Ok(permit) = slots.clone().acquire_owned().await else {
                    break;
                };
                let (store, poster) = (store.clone(), poster.clone());
                tokio::spawn(async move {
                    deliver(store.as_ref(), &poster, &ev).await;
                    drop(permit);
                });
            }
        });
        KeyEvents { tx: Some(tx) }
    }

    /// No delivery at all (a process with no webhook duty, tests of other things).
    pub fn disabled() -> KeyEvents {
        KeyEvents { tx: None }
    }

    /// Queues `ev`; never waits. A full queue drops it, with a warning and a count.
    pub fn emit(&self, ev: KeyEvent) {
        let Some(tx) = &self.tx else { return };
        let (event_type, key_id) = (ev.kind.event_type(), ev.key.id.0);
        if tx.try_send(ev).is_err() {
            metrics::counter!("vexa_admin_key_events_total", "outcome" => "dropped").increment(1);
            tracing::warn!(event_type, key_id, "key event queue full; event dropped");
        }
    }

    /// Claims the keys expiring within [`EXPIRING_NOTICE`] of `now` that nobody announced yet,
    /// and queues one `key.expiring` for each; how many were claimed.
    pub async fn sweep_expiring(
        &self,
        store: &dyn IdentityStore,
        now: Timestamp,
    ) -> Result<usize, vexa_core::StoreError> {
        let before = now.plus_secs(i64::try_from(EXPIRING_NOTICE.as_secs()).unwrap_or(i64::MAX));
        let mut claimed = 0;
        loop {
            let keys = store.claim_expiring_keys(now, before, SWEEP_BATCH).await?;
            let n = keys.len();
            for key in keys {
                self.emit(KeyEvent {
                    kind: KeyEventKind::Expiring,
                    key,
                    at: now,
                    hook: None,
                });
            }
            claimed += n;
            if i64::try_from(n).unwrap_or(i64::MAX) < SWEEP_BATCH {
                return Ok(claimed);
            }
        }
    }
}

/// Posts `ev` to its user's webhook, if they have one and want it; logs the outcome (ids only).
async fn deliver(store: &dyn IdentityStore, poster: &Poster, ev: &KeyEvent) {
    let (user, event_type) = (ev.key.user_id, ev.kind.event_type());
    let current = match &ev.hook {
        Some(h) => Ok(Some(h.clone())),
        None => store
            .user(user)
            .await
            .map(|u| u.and_then(|u| Webhook::from_user_data(&u.data))),
    };
    let hook = match current {
        Ok(Some(h)) if wants(&h, event_type) => h,
        Ok(_) => return,
        Err(e) => {
            tracing::warn!(user = user.0, event_type, error = %e, "key event: user not readable; dropped");
            return;
        }
    };
    let outcome = poster
        .post_with_retries(&hook, user, event_type, &body_of(ev))
        .await;
    metrics::counter!("vexa_admin_key_events_total", "outcome" => outcome.as_str()).increment(1);
    match outcome {
        Delivery::Delivered => {
            tracing::info!(
                user = user.0,
                event_type,
                key_id = ev.key.id.0,
                "key event delivered"
            )
        }
        Delivery::Failed => {
            tracing::warn!(
                user = user.0,
                event_type,
                key_id = ev.key.id.0,
                "key event delivery gave up"
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(id: i64) -> KeyRecord {
        KeyRecord {
            id: KeyId(id),
            user_id: UserId(3),
            scopes: ScopeSet::from_csv_lenient("bot,tx"),
            name: Some("ci".into()),
            prefix: "vxa_bot_AbCd".into(),
            created_at: Timestamp(0),
            last_used_at: None,
            expires_at: Some(Timestamp(86_400_000)),
            limits: vexa_core::KeyLimits::NONE,
            revoked_at: None,
            last_client: None,
            retires_at: None,
        }
    }

    #[test]
    fn a_rotation_body_names_both_keys_by_id_and_prefix_only() {
        let ev = KeyEvent {
            kind: KeyEventKind::Rotated {
                replacement: key(8),
                retires_at: Timestamp(60_000),
            },
            key: key(7),
            at: Timestamp(0),
            hook: None,
        };
        let v: serde_json::Value = serde_json::from_slice(&body_of(&ev)).expect("json");
        assert_eq!(v["event"], "key.rotated");
        assert_eq!(
            v["key"],
            serde_json::json!({"id": 7, "prefix": "vxa_bot_AbCd", "name": "ci",
                               "scopes": ["bot", "tx"], "expires_at": "1970-01-02T00:00:00Z"})
        );
        assert_eq!(v["replacement"]["id"], 8);
        assert_eq!(v["user_id"], 3);
        assert_eq!(v["retires_at"], "1970-01-01T00:01:00Z");
        assert!(v["event_id"]
            .as_str()
            .is_some_and(|s| s.starts_with("evt_")));
    }

    #[test]
    fn key_events_are_on_unless_switched_off() {
        let mut hook = Webhook {
            url: "http://x".into(),
            secret: None,
            events: None,
        };
        assert!(wants(&hook, "key.revoked"));
        hook.events = serde_json::json!({"key.revoked": false})
            .as_object()
            .cloned();
        assert!(!wants(&hook, "key.revoked"));
        assert!(wants(&hook, "key.rotated"));
    }
}
