//! The user's webhook target (`GET`/`PUT /user/webhook`): where meeting events are delivered,
//! the secret that signs them, and which events are wanted. The secret is write-only: it is
//! shown back masked ([`masked_secret`]).

use serde_json::{Map, Value};
use vexa_core::meeting::Webhook;

use crate::caller::Caller;
use crate::error::{InvalidInput, Result};
use crate::state::AppState;
use crate::wire::webhook::WebhookRequest;
use crate::wire::FromWire;

/// Longest webhook URL accepted.
const MAX_URL_LEN: usize = 2048;

/// The secret as shown: eight stars and, for secrets longer than eight characters, the last
/// four.
pub fn masked_secret(secret: Option<&str>) -> Option<String> {
    let secret = secret?;
    if secret.chars().count() <= 8 {
        return Some("********".to_owned());
    }
    let tail: Vec<char> = secret.chars().rev().take(4).collect();
    Some(format!(
        "********{}",
        tail.into_iter().rev().collect::<String>()
    ))
}

/// The caller's target, if set.
pub async fn get(state: &AppState, caller: &Caller) -> Result<Option<Webhook>> {
    Ok(state.store.webhook(caller.user_id).await?)
}

/// A new target, checked. `None` keeps what is stored.
#[derive(Debug, Clone, PartialEq)]
pub struct WebhookUpdate {
    pub url: String,
    /// A new secret; an empty or missing one keeps the stored one (the original's rule).
    pub secret: Option<String>,
    /// A new event map (`Some(None)` clears it).
    pub events: Option<Option<Map<String, Value>>>,
}

impl FromWire for WebhookUpdate {
    type Wire = WebhookRequest;

    fn from_wire(req: WebhookRequest) -> Result<WebhookUpdate, InvalidInput> {
        let url = req
            .webhook_url
            .read("webhook_url")?
            .ok_or(InvalidInput::WebhookUrlRequired)?;
        check_url(&url)?;
        let secret = req
            .webhook_secret
            .read_bounded("webhook_secret", 256)?
            .filter(|s| !s.is_empty());
        let events = req.webhook_events.map(event_map).transpose()?;
        Ok(WebhookUpdate {
            url,
            secret,
            events,
        })
    }
}

/// Sets the caller's target over what is stored.
pub async fn put(state: &AppState, caller: &Caller, update: WebhookUpdate) -> Result<Webhook> {
    let existing = state.store.webhook(caller.user_id).await?;
    let secret = update
        .secret
        .or_else(|| existing.as_ref().and_then(|h| h.secret.clone()));
    let events = match update.events {
        Some(events) => events,
        None => existing.and_then(|h| h.events),
    };
    let hook = Webhook {
        url: update.url,
        secret,
        events,
    };
    state
        .store
        .set_webhook(caller.user_id, &hook, state.clock.now())
        .await?;
    Ok(hook)
}

/// An absolute `http(s)` URL with a host, of sane length.
fn check_url(url: &str) -> Result<(), InvalidInput> {
    let parsed = reqwest::Url::parse(url).map_err(|_| InvalidInput::WebhookUrl)?;
    if !matches!(parsed.scheme(), "http" | "https")
        || parsed.host_str().is_none()
        || url.len() > MAX_URL_LEN
    {
        return Err(InvalidInput::WebhookUrl);
    }
    Ok(())
}

/// `{event_type: bool}` or `null` (cleared).
fn event_map(value: Value) -> Result<Option<Map<String, Value>>, InvalidInput> {
    match value {
        Value::Null => Ok(None),
        Value::Object(m) if m.values().all(Value::is_boolean) => Ok(Some(m)),
        _ => Err(InvalidInput::WebhookEvents),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_shown_masked_with_at_most_their_last_four_characters() {
        assert_eq!(
            masked_secret(Some("whsec_test_secret")).as_deref(),
            Some("********cret")
        );
        assert_eq!(masked_secret(Some("short")).as_deref(), Some("********"));
        assert_eq!(
            masked_secret(Some("ééééééééé")).as_deref(),
            Some("********éééé")
        );
        assert_eq!(masked_secret(None), None);
    }

    #[test]
    fn only_http_urls_with_a_host_are_targets() {
        assert!(check_url("https://hooks.example/x").is_ok());
        assert!(check_url("ftp://x").is_err());
        assert!(check_url("not a url").is_err());
        assert!(check_url(&format!("https://h.example/{}", "a".repeat(2048))).is_err());
    }
}
