//! Signed webhook delivery with retries, shared by the meetings service (meeting events) and
//! the admin API (key events), so a receiver checks both the same way.
//!
//! Signature: `X-Webhook-Signature: sha256=<hex HMAC-SHA256(secret, "<ts>.<body>")>` with
//! `X-Webhook-Timestamp: <unix seconds>`, plus `Authorization: Bearer <secret>` as the original
//! sends (`docs/reference/vexa-meetings.md` §8.3; receivers written for it check that).
//! 2xx = delivered; 5xx, 429 and transport errors are retried ([`MAX_ATTEMPTS`] attempts,
//! doubling from the base backoff); other codes are final. What is posted, and which events a
//! user wants, is the caller's business; this crate never logs a body, a secret or a URL's query.

use std::sync::Arc;
use std::time::Duration;

use hmac::{Hmac, Mac};
use sha2::Sha256;
use vexa_core::webhook::Webhook;
use vexa_core::{Clock, UserId};

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

/// How one delivery ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Delivery {
    Delivered,
    /// Refused for good (a 4xx other than 429, or a redirect), or every attempt spent.
    Failed,
}

impl Delivery {
    /// The metric/log label.
    pub fn as_str(self) -> &'static str {
        match self {
            Delivery::Delivered => "delivered",
            Delivery::Failed => "failed",
        }
    }
}

/// Posts signed bodies to webhooks. Cheap to clone.
#[derive(Clone)]
pub struct Poster {
    client: reqwest::Client,
    clock: Arc<dyn Clock>,
    base_backoff: Duration,
}

impl Poster {
    /// A poster that waits `timeout` for each answer and `base_backoff` (doubling) between tries.
    pub fn new(clock: Arc<dyn Clock>, timeout: Duration, base_backoff: Duration) -> Poster {
        let client = reqwest::Client::builder()
            .timeout(timeout)
            // A receiver must not bounce us elsewhere (SSRF); a redirect is a final refusal.
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap_or_default();
        Poster {
            client,
            clock,
            base_backoff,
        }
    }

    /// Posts `body` until it is delivered, refused for good, or [`MAX_ATTEMPTS`] are spent.
    /// `user` and `event_type` only label the log lines.
    pub async fn post_with_retries(
        &self,
        hook: &Webhook,
        user: UserId,
        event_type: &str,
        body: &[u8],
    ) -> Delivery {
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
                Ok(r) if r.status().is_success() => return Delivery::Delivered,
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
        Delivery::Failed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signature_covers_timestamp_and_body() {
        assert_ne!(sign("s", 1, b"{}"), sign("s", 2, b"{}"));
        assert_ne!(sign("s", 1, b"{}"), sign("s", 1, b"[]"));
        assert!(sign("s", 1, b"{}").starts_with("sha256="));
        assert_eq!(sign("s", 1, b"{}").len(), "sha256=".len() + 64);
    }
}
