//! A user's webhook settings, kept where Vexa 0.12 keeps them: in the user's `data`
//! (`webhook_url`, `webhook_secret`, `webhook_events`; reference `vexa-gateway-identity.md`
//! §1.3, §1.6). This module owns every rule about them: which `data` keys they are, which keys
//! of `data` are reserved (written only through their own route, refused by
//! `PATCH /admin/users/{id}`) or secret (never shown back), how a `PUT /user/webhook` body is
//! checked and merged, and how the stored settings are read back for delivery. No HTTP, no SQL.

use serde_json::{Map, Value};

use crate::error::ValidationError;

/// `data` key of the URL events are posted to.
pub const WEBHOOK_URL: &str = "webhook_url";
/// `data` key of the signing secret (kept in clear: it keys the HMAC of every delivery).
pub const WEBHOOK_SECRET: &str = "webhook_secret";
/// `data` key of the `{event_type: bool}` map.
pub const WEBHOOK_EVENTS: &str = "webhook_events";

/// The webhook's keys in `data`.
pub const WEBHOOK_KEYS: [&str; 3] = [WEBHOOK_URL, WEBHOOK_SECRET, WEBHOOK_EVENTS];

/// `data` keys with a meaning of their own that `PATCH /admin/users/{id}` refuses, as the
/// original does (its `PlatformBillingDataPatch` forbids them): the webhook settings (set through
/// `PUT /user/webhook`), the admin flag and the workspace memberships (set through the original's
/// internal routes).
pub const RESERVED_DATA_KEYS: [&str; 5] = [
    WEBHOOK_URL,
    WEBHOOK_SECRET,
    WEBHOOK_EVENTS,
    "is_admin",
    "memberships",
];

/// `data` keys that are secrets: never shown back in a user record.
pub const SECRET_DATA_KEYS: [&str; 1] = [WEBHOOK_SECRET];

/// Event types of webhook.v1 (reference `vexa-meetings.md` §8.2), then the admin API's key
/// events (on unless switched off, see `vexa_admin::key_events`).
pub const EVENT_TYPES: [&str; 9] = [
    "meeting.status_change",
    "meeting.started",
    "meeting.completed",
    "bot.failed",
    "recording.ready",
    "transcription.ready",
    "key.rotated",
    "key.revoked",
    "key.expiring",
];

/// Longest webhook URL accepted.
pub const MAX_URL_LEN: usize = 2048;
/// Longest webhook secret accepted.
pub const MAX_SECRET_LEN: usize = 256;

/// The first reserved key of a `data` patch, if any.
pub fn reserved_key_in(data: &Map<String, Value>) -> Option<&'static str> {
    RESERVED_DATA_KEYS
        .into_iter()
        .find(|k| data.contains_key(*k))
}

/// `data` as shown in a user record: the secret keys removed.
pub fn without_secret_keys(data: &mut Map<String, Value>) {
    for k in SECRET_DATA_KEYS {
        data.remove(k);
    }
}

/// A user's webhook target as delivery uses it.
#[derive(Clone, PartialEq)]
pub struct Webhook {
    pub url: String,
    pub secret: Option<String>,
    /// `{event_type: bool}`; `None` = never set (only `meeting.completed` is delivered).
    pub events: Option<Map<String, Value>>,
}

impl std::fmt::Debug for Webhook {
    // By hand: the secret must never reach a log line or a debug print.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Webhook")
            .field("url", &self.url)
            .field("secret", &self.secret.as_ref().map(|_| "<redacted>"))
            .field("events", &self.events)
            .finish()
    }
}

impl Webhook {
    /// The settings stored in a user's `data`; `None` unless `webhook_url` is a non-empty
    /// string. An empty secret counts as none; events that are not an object count as unset.
    pub fn from_user_data(data: &Map<String, Value>) -> Option<Webhook> {
        let url = data.get(WEBHOOK_URL)?.as_str().filter(|u| !u.is_empty())?;
        let secret = data
            .get(WEBHOOK_SECRET)
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .map(str::to_owned);
        let events = data.get(WEBHOOK_EVENTS).and_then(Value::as_object).cloned();
        Some(Webhook {
            url: url.to_owned(),
            secret,
            events,
        })
    }

    /// Whether `event_type` is delivered: an explicit flag wins; without one, only
    /// `meeting.completed` is (reference `vexa-meetings.md` §8.3).
    pub fn wants(&self, event_type: &str) -> bool {
        self.events
            .as_ref()
            .and_then(|e| e.get(event_type))
            .and_then(Value::as_bool)
            .unwrap_or(event_type == "meeting.completed")
    }
}

/// The secret as `GET /user/webhook` shows it: eight stars and, for secrets longer than eight
/// characters, the last four.
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

/// A checked `PUT /user/webhook` body. Merged over what is stored as the original does: the URL
/// always, the secret only when non-empty, the event map only when given and not `null`.
#[derive(Clone, PartialEq)]
pub struct WebhookUpdate {
    pub url: String,
    pub secret: Option<String>,
    pub events: Option<Map<String, Value>>,
}

impl std::fmt::Debug for WebhookUpdate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebhookUpdate")
            .field("url", &self.url)
            .field("secret", &self.secret.as_ref().map(|_| "<redacted>"))
            .field("events", &self.events)
            .finish()
    }
}

impl WebhookUpdate {
    /// Checks a request body (a JSON value as sent). Unknown fields are ignored, as the
    /// original's model does.
    pub fn parse(body: &Value) -> Result<WebhookUpdate, ValidationError> {
        let Value::Object(body) = body else {
            return Err(ValidationError::new("body", "body must be a JSON object"));
        };
        let url = match body.get(WEBHOOK_URL) {
            None | Some(Value::Null) => {
                return Err(ValidationError::new(
                    WEBHOOK_URL,
                    "'webhook_url' is required",
                ))
            }
            Some(Value::String(u)) => u.trim().to_owned(),
            Some(_) => return Err(bad_url()),
        };
        check_url(&url)?;
        let secret = match body.get(WEBHOOK_SECRET) {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) if s.chars().count() <= MAX_SECRET_LEN => {
                Some(s.clone()).filter(|s| !s.is_empty())
            }
            Some(_) => {
                return Err(ValidationError::new(
                    WEBHOOK_SECRET,
                    format!(
                        "'webhook_secret' must be a string of at most {MAX_SECRET_LEN} characters"
                    ),
                ))
            }
        };
        let events = match body.get(WEBHOOK_EVENTS) {
            None | Some(Value::Null) => None,
            Some(Value::Object(m)) => Some(check_events(m)?),
            Some(_) => return Err(bad_events()),
        };
        Ok(WebhookUpdate {
            url,
            secret,
            events,
        })
    }

    /// The `data` keys this update writes (shallow-merged over the stored `data`).
    pub fn data_patch(&self) -> Map<String, Value> {
        let mut patch = Map::new();
        patch.insert(WEBHOOK_URL.into(), Value::from(self.url.clone()));
        if let Some(secret) = &self.secret {
            patch.insert(WEBHOOK_SECRET.into(), Value::from(secret.clone()));
        }
        if let Some(events) = &self.events {
            patch.insert(WEBHOOK_EVENTS.into(), Value::Object(events.clone()));
        }
        patch
    }
}

fn bad_url() -> ValidationError {
    ValidationError::new(WEBHOOK_URL, "'webhook_url' must be an http(s) URL")
}

fn bad_events() -> ValidationError {
    ValidationError::new(
        WEBHOOK_EVENTS,
        "'webhook_events' must be an object of booleans",
    )
}

/// An absolute `http(s)` URL with a host, of sane length.
fn check_url(raw: &str) -> Result<(), ValidationError> {
    if raw.len() > MAX_URL_LEN {
        return Err(bad_url());
    }
    let parsed = url::Url::parse(raw).map_err(|_| bad_url())?;
    if !matches!(parsed.scheme(), "http" | "https") || parsed.host_str().is_none_or(str::is_empty) {
        return Err(bad_url());
    }
    Ok(())
}

/// `{event_type: bool}` over the known event types.
fn check_events(m: &Map<String, Value>) -> Result<Map<String, Value>, ValidationError> {
    if !m.values().all(Value::is_boolean) {
        return Err(bad_events());
    }
    if let Some(unknown) = m.keys().find(|k| !EVENT_TYPES.contains(&k.as_str())) {
        let name: String = unknown.chars().take(64).collect();
        return Err(ValidationError::new(
            WEBHOOK_EVENTS,
            format!(
                "unknown webhook event '{name}'; known: {}",
                EVENT_TYPES.join(", ")
            ),
        ));
    }
    Ok(m.clone())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn parse(v: Value) -> Result<WebhookUpdate, String> {
        WebhookUpdate::parse(&v).map_err(|e| e.detail)
    }

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
        assert!(check_url("http://").is_err());
        assert!(check_url(&format!("https://h.example/{}", "a".repeat(2048))).is_err());
    }

    #[test]
    fn bodies_are_checked_with_the_contract_wording() {
        assert_eq!(
            parse(json!({})).expect_err("refused"),
            "'webhook_url' is required"
        );
        assert_eq!(
            parse(json!({"webhook_url": 3})).expect_err("refused"),
            "'webhook_url' must be an http(s) URL"
        );
        assert_eq!(
            parse(json!({"webhook_url": "https://h.example", "webhook_events": {"meeting.completed": "yes"}}))
                .expect_err("refused"),
            "'webhook_events' must be an object of booleans"
        );
        assert!(parse(
            json!({"webhook_url": "https://h.example", "webhook_events": {"nope": true}})
        )
        .expect_err("refused")
        .starts_with("unknown webhook event 'nope'"));
        assert!(parse(json!([1])).is_err());
    }

    #[test]
    fn an_empty_secret_and_null_events_keep_what_is_stored() {
        let u = parse(json!({"webhook_url": "https://h.example", "webhook_secret": "", "webhook_events": null}))
            .expect("valid");
        assert_eq!(
            Value::Object(u.data_patch()),
            json!({"webhook_url": "https://h.example"})
        );
        let u = parse(json!({"webhook_url": "https://h.example", "webhook_secret": "s", "webhook_events": {"bot.failed": true}}))
            .expect("valid");
        assert_eq!(
            Value::Object(u.data_patch()),
            json!({"webhook_url": "https://h.example", "webhook_secret": "s", "webhook_events": {"bot.failed": true}})
        );
    }

    #[test]
    fn stored_settings_read_back_and_decide_what_is_delivered() {
        let data = json!({"webhook_url": "https://h.example", "webhook_secret": "", "webhook_events": {"bot.failed": true}, "other": 1});
        let hook = Webhook::from_user_data(data.as_object().expect("object")).expect("set");
        assert_eq!(hook.secret, None);
        assert!(hook.wants("bot.failed") && hook.wants("meeting.completed"));
        assert!(!hook.wants("meeting.started"));
        assert!(Webhook::from_user_data(&Map::new()).is_none());
        let blank = json!({"webhook_url": ""});
        assert!(Webhook::from_user_data(blank.as_object().expect("object")).is_none());
        assert!(!format!(
            "{:?}",
            Webhook {
                secret: Some("s3cr3t".into()),
                ..hook
            }
        )
        .contains("s3cr3t"));
    }

    #[test]
    fn reserved_and_secret_keys() {
        let patch = json!({"subscription_tier": "pro", "memberships": []});
        assert_eq!(
            reserved_key_in(patch.as_object().expect("object")),
            Some("memberships")
        );
        let mut data = json!({"webhook_url": "u", "webhook_secret": "s"})
            .as_object()
            .cloned()
            .expect("object");
        without_secret_keys(&mut data);
        assert_eq!(Value::Object(data), json!({"webhook_url": "u"}));
    }
}
