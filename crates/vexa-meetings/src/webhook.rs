//! Webhook delivery, off the request path: signed envelopes, retries with backoff. The target
//! is the user's current one, read from the user's `data` through the store
//! ([`MeetingStore::webhook`]); the admin API's `PUT /user/webhook` sets it.
//!
//! Signature: `X-Webhook-Signature: sha256=<hex HMAC-SHA256(secret, "<ts>.<body>")>` with
//! `X-Webhook-Timestamp: <unix seconds>`, plus `Authorization: Bearer <secret>` as the original
//! sends (`docs/reference/vexa-meetings.md` §8.3; receivers written for it check that).
//! 2xx = delivered; 5xx, 429 and transport errors are retried (5 attempts, doubling from
//! `base_backoff`); other codes are final.

use std::sync::Arc;
use std::time::Duration;

use hmac::{Hmac, Mac};
use serde::Serialize;
use sha2::{Digest, Sha256};
use vexa_core::meeting::{MeetingStore, Webhook};
use vexa_core::{Clock, UserId};

use crate::wire::live::MeetingEvent;

/// The version of the envelope's shape, as receivers written for the original check it.
const API_VERSION: &str = "2026-03-01";

/// What is posted to the user's webhook.
#[derive(Debug, Serialize)]
struct Envelope<'a> {
    /// Stable across redeliveries of the same change (receivers deduplicate by it).
    event_id: String,
    event_type: &'a str,
    api_version: &'static str,
    created_at: String,
    data: &'a MeetingEvent,
}

#[derive(Clone)]
pub struct Webhooks {
    client: reqwest::Client,
    store: Arc<dyn MeetingStore>,
    clock: Arc<dyn Clock>,
    base_backoff: Duration,
}

pub const MAX_ATTEMPTS: u32 = 5;

/// `sha256=<hex>` over `"<ts>.<body>"`.
pub fn sign(secret: &str, ts: i64, body: &[u8]) -> String {
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(secret.as_bytes()) else {
        return String::new();
    };
    mac.update(ts.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

impl Webhooks {
    pub fn new(
        store: Arc<dyn MeetingStore>,
        clock: Arc<dyn Clock>,
        timeout: Duration,
        base_backoff: Duration,
    ) -> Self {
        let client = reqwest::Client::builder()
            .timeout(timeout)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap_or_default();
        Webhooks {
            client,
            store,
            clock,
            base_backoff,
        }
    }

    /// Queues one event for the user's webhook (if any and if the event is wanted).
    /// `dedupe_key` makes `event_id` stable across redeliveries of the same change.
    pub fn emit(
        &self,
        user: UserId,
        event_type: &'static str,
        dedupe_key: String,
        data: MeetingEvent,
    ) {
        let this = self.clone();
        tokio::spawn(async move { this.deliver(user, event_type, dedupe_key, data).await });
    }

    async fn deliver(
        &self,
        user: UserId,
        event_type: &str,
        dedupe_key: String,
        data: MeetingEvent,
    ) {
        let hook = match self.store.webhook(user).await {
            Ok(Some(h)) if h.wants(event_type) => h,
            _ => return,
        };
        let digest = Sha256::digest(format!("{dedupe_key}|{event_type}").as_bytes());
        let envelope = Envelope {
            event_id: format!("evt_{}", &hex::encode(digest)[..32]),
            event_type,
            api_version: API_VERSION,
            created_at: self.clock.now().to_rfc3339(),
            data: &data,
        };
        let Ok(body) = serde_json::to_vec(&envelope) else {
            tracing::warn!(
                user = user.0,
                event_type,
                "webhook envelope could not be encoded"
            );
            return;
        };
        self.post_with_retries(&hook, user, event_type, &body).await;
    }

    /// Posts `body` until it is delivered, refused for good, or [`MAX_ATTEMPTS`] are spent.
    async fn post_with_retries(&self, hook: &Webhook, user: UserId, event_type: &str, body: &[u8]) {
        let mut delay = self.base_backoff;
        for attempt in 1..=MAX_ATTEMPTS {
            let ts = self.clock.now().as_secs();
            let mut req = self
                .client
                .post(&hook.url)
                .header("content-type", "application/json")
                .body(body.to_vec());
            if let Some(secret) = hook.secret.as_deref().filter(|s| !s.is_empty()) {
                req = req
                    .bearer_auth(secret)
                    .header("x-webhook-timestamp", ts.to_string())
                    .header("x-webhook-signature", sign(secret, ts, body));
            }
            let retry = match req.send().await {
                Ok(r) if r.status().is_success() => {
                    metrics::counter!("vexa_meetings_webhook_deliveries_total", "outcome" => "delivered").increment(1);
                    return;
                }
                Ok(r) => r.status().is_server_error() || r.status().as_u16() == 429,
                Err(_) => true,
            };
            if !retry || attempt == MAX_ATTEMPTS {
                break;
            }
            tracing::info!(
                user = user.0,
                event_type,
                attempt,
                "webhook delivery failed; retrying"
            );
            tokio::time::sleep(delay).await;
            delay = delay.saturating_mul(2);
        }
        metrics::counter!("vexa_meetings_webhook_deliveries_total", "outcome" => "failed")
            .increment(1);
        tracing::warn!(user = user.0, event_type, "webhook delivery gave up");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn without_an_event_map_only_completion_is_delivered() {
        let h = Webhook {
            url: "x".into(),
            secret: None,
            events: None,
        };
        assert!(h.wants("meeting.completed"));
        assert!(!h.wants("meeting.status_change"));
    }

    #[test]
    fn signature_covers_timestamp_and_body() {
        assert_ne!(sign("s", 1, b"{}"), sign("s", 2, b"{}"));
        assert!(sign("s", 1, b"{}").starts_with("sha256="));
    }
}
