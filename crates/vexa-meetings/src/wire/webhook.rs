//! `GET`/`PUT /user/webhook`: the user's webhook target as sent and as shown (secret masked).

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use vexa_core::meeting::Webhook;

use super::field::{present, Text};
use crate::webhook_target::masked_secret;

/// `PUT /user/webhook`.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct WebhookRequest {
    pub webhook_url: Text,
    /// Empty or absent keeps the stored secret.
    pub webhook_secret: Text,
    /// `{event_type: bool}`; `null` clears the map, absent keeps the stored one.
    #[serde(deserialize_with = "present")]
    pub webhook_events: Option<Value>,
}

/// The user's webhook target as shown: never the secret, only whether one is set and its tail.
#[derive(Debug, Serialize)]
pub struct WebhookView {
    pub webhook_url: Option<String>,
    pub webhook_secret_set: bool,
    pub webhook_secret: Option<String>,
    pub webhook_events: Option<Map<String, Value>>,
}

impl WebhookView {
    pub fn new(hook: Option<&Webhook>) -> WebhookView {
        WebhookView {
            webhook_url: hook.map(|h| h.url.clone()),
            webhook_secret_set: hook.is_some_and(|h| h.secret.is_some()),
            webhook_secret: hook.and_then(|h| masked_secret(h.secret.as_deref())),
            webhook_events: hook.and_then(|h| h.events.clone()),
        }
    }
}
