//! Webhook delivery, off the request path: signed envelopes, retries with backoff. The target
//! is the user's current one, read from the user's `data` through the store
//! ([`MeetingStore::webhook`]); the admin API's `PUT /user/webhook` sets it.
//!
//! Signing and retries are `vexa_webhook`'s, shared with the admin API's key events.

use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;
use sha2::{Digest, Sha256};
use vexa_core::meeting::{MeetingStore, Webhook};
use vexa_core::{Clock, UserId};
pub use vexa_webhook::{sign, MAX_ATTEMPTS};
use vexa_webhook::{Delivery, Poster};

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
    poster: Poster,
    store: Arc<dyn MeetingStore>,
    clock: Arc<dyn Clock>,
}

impl Webhooks {
    pub fn new(
        store: Arc<dyn MeetingStore>,
        clock: Arc<dyn Clock>,
        timeout: Duration,
        base_backoff: Duration,
    ) -> Self {
        Webhooks {
            poster: Poster::new(clock.clone(), timeout, base_backoff),
            store,
            clock,
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

    async fn post_with_retries(&self, hook: &Webhook, user: UserId, event_type: &str, body: &[u8]) {
        let outcome = self
            .poster
            .post_with_retries(hook, user, event_type, body)
            .await;
        metrics::counter!("vexa_meetings_webhook_deliveries_total", "outcome" => outcome.as_str())
            .increment(1);
        if outcome == Delivery::Failed {
            tracing::warn!(user = user.0, event_type, "webhook delivery gave up");
        }
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
}
