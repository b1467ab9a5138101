//! `IDENTITY_SOURCE=vexa`: keys resolved by the original Vexa identity service, as the original
//! gateway does — `POST {ADMIN_API_URL}/internal/validate` with `{"token": key}` and
//! `X-Internal-Secret` — on a connection pool of its own, so that slow forwards can never starve
//! key validation (the original's #483/#495).
//!
//! The verdict is three-way, as the original's: a 200 with an identity is valid; any 4xx means
//! "not a key" (→ 401); everything else — 3xx, 5xx, an unreadable 200, a refused or reset
//! connection, no answer within the timeout — is [`SourceUnavailable`] (→ 503, never 401).

use std::time::Duration;

use bytes::Bytes;
use futures_util::future::{BoxFuture, FutureExt};
use http::header::{CONTENT_LENGTH, CONTENT_TYPE};
use http::{HeaderValue, Method, Request, StatusCode, Uri};
use http_body_util::{BodyExt, Full, Limited};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioTimer};
use serde::Deserialize;
use vexa_core::{KeyId, Principal, Scope, ScopeSet, UserId, UserProfile, WebhookSettings};
use vexa_http::headers::X_INTERNAL_SECRET;

use super::{KeySource, PresentedKey, SourceResult, SourceUnavailable};

/// Longest answer read from `/internal/validate` (an identity is a few hundred bytes).
const MAX_ANSWER_BYTES: usize = 64 * 1024;
/// Longest presented string sent on: the original stores tokens in a `VARCHAR(255)`, so nothing
/// longer can be valid there and is refused without a call.
const MAX_KEY_LEN: usize = 255;
/// Idle connections kept to the identity service (the original keeps 20 alive).
const MAX_IDLE: usize = 32;

type ValidateClient = Client<HttpConnector, Full<Bytes>>;

/// The original identity service's `/internal/validate`.
pub struct VexaKeySource {
    client: ValidateClient,
    validate_uri: Uri,
    secret: Option<HeaderValue>,
    timeout: Duration,
}

impl VexaKeySource {
    /// `admin_api_url` is the identity service's base URL (`ADMIN_API_URL`); `secret` the
    /// `INTERNAL_API_SECRET` (not sent when empty, as the original).
    pub fn new(
        admin_api_url: &Uri,
        secret: &str,
        timeout: Duration,
    ) -> Result<VexaKeySource, &'static str> {
        const WHAT: &str = "ADMIN_API_URL must be an http:// URL for IDENTITY_SOURCE=vexa";
        if admin_api_url.scheme_str().is_some_and(|s| s != "http") {
            return Err(WHAT);
        }
        let authority = admin_api_url.authority().ok_or(WHAT)?;
        let base = admin_api_url.path().trim_end_matches('/');
        let validate_uri = Uri::builder()
            .scheme("http")
            .authority(authority.clone())
            .path_and_query(format!("{base}/internal/validate"))
            .build()
            .map_err(|_| WHAT)?;
        let secret = if secret.is_empty() {
            None
        } else {
            Some(
                HeaderValue::from_str(secret)
                    .map_err(|_| "INTERNAL_API_SECRET must be printable ASCII")?,
            )
        };
        Ok(VexaKeySource {
            client: validate_client(),
            validate_uri,
            secret,
            timeout,
        })
    }
}

/// A pool used for nothing but `/internal/validate`.
fn validate_client() -> ValidateClient {
    let mut connector = HttpConnector::new();
    connector.set_nodelay(true);
    connector.set_connect_timeout(Some(Duration::from_secs(2)));
    Client::builder(TokioExecutor::new())
        .pool_idle_timeout(Duration::from_secs(60))
        .pool_max_idle_per_host(MAX_IDLE)
        .pool_timer(TokioTimer::new())
        .timer(TokioTimer::new())
        .build(connector)
}

/// The vexa path's format check: any non-empty visible-ASCII string the original could have
/// stored (its keys are not in our checksummed format, and legacy ones have no shape at all).
pub fn admit_vexa_key(raw: &str) -> Option<PresentedKey> {
    let plausible =
        !raw.is_empty() && raw.len() <= MAX_KEY_LEN && raw.bytes().all(|b| b.is_ascii_graphic());
    plausible.then(|| PresentedKey::with_plaintext(raw))
}

/// The identity fields of the original's 200 answer that the gateway uses.
#[derive(Deserialize)]
struct ValidateAnswer {
    user_id: i64,
    #[serde(default)]
    scopes: Vec<String>,
    #[serde(default)]
    email: Option<String>,
    #[serde(default)]
    max_concurrent: Option<i64>,
    /// Present only when the user has a webhook set (then `webhook_secret`/`_events` when set).
    #[serde(default)]
    webhook_url: Option<String>,
    #[serde(default)]
    webhook_secret: Option<String>,
    #[serde(default)]
    webhook_events: Option<serde_json::Value>,
    /// Present only when the user's `data.memberships` is a list.
    #[serde(default)]
    workspaces: Vec<String>,
}

impl ValidateAnswer {
    fn into_principal(self) -> Principal {
        // Scope names we do not route on (the original's "legacy") grant nothing here.
        let scopes: ScopeSet = self.scopes.iter().filter_map(|s| Scope::parse(s)).collect();
        Principal {
            user_id: UserId(self.user_id),
            email: self.email.unwrap_or_default().into(),
            scopes,
            // Absent means unknown: grant no concurrent bots rather than guess a number.
            max_concurrent_bots: self.max_concurrent.unwrap_or(0),
            // The original does not tell which token row matched; 0 means "not ours to name".
            key_id: KeyId(0),
            // The original checks expiry itself on every validate.
            expires_at: None,
            // The original has no per-key limits.
            limits: vexa_core::KeyLimits::NONE,
            retires_at: None,
            // Forwarded as `x-user-workspaces` / `x-user-webhook-*`: the original meeting-api
            // copies the webhook onto each meeting at `POST /bots` from these headers.
            profile: UserProfile {
                workspaces: self.workspaces,
                webhook: self
                    .webhook_url
                    .filter(|u| !u.is_empty())
                    .map(|url| WebhookSettings {
                        url,
                        secret: self.webhook_secret.filter(|s| !s.is_empty()),
                        events: self.webhook_events,
                    }),
            },
        }
    }
}

impl KeySource for VexaKeySource {
    fn admit(&self, raw: &str) -> Option<PresentedKey> {
        admit_vexa_key(raw)
    }

    fn lookup(&self, key: PresentedKey) -> BoxFuture<'static, SourceResult> {
        let call = Validate {
            client: self.client.clone(),
            uri: self.validate_uri.clone(),
            secret: self.secret.clone(),
        };
        let timeout = self.timeout;
        async move {
            match tokio::time::timeout(timeout, call.run(&key)).await {
                Ok(verdict) => verdict,
                Err(_) => {
                    tracing::warn!("identity service did not answer /internal/validate in time");
                    Err(SourceUnavailable)
                }
            }
        }
        .boxed()
    }

    fn is_own_store(&self) -> bool {
        false
    }
}

/// One `/internal/validate` call.
struct Validate {
    client: ValidateClient,
    uri: Uri,
    secret: Option<HeaderValue>,
}

impl Validate {
    async fn run(self, key: &PresentedKey) -> SourceResult {
        let token = key.plaintext().ok_or(SourceUnavailable)?;
        // serde_json escapes the token; the body buffer is zeroed after the send.
        let body = zeroize::Zeroizing::new(
            serde_json::to_vec(&serde_json::json!({ "token": token }))
                .map_err(|_| SourceUnavailable)?,
        );
        let mut req = Request::builder()
            .method(Method::POST)
            .uri(self.uri)
            .header(CONTENT_TYPE, "application/json")
            .header(CONTENT_LENGTH, body.len());
        if let Some(secret) = self.secret {
            req = req.header(X_INTERNAL_SECRET, secret);
        }
        let req = req
            .body(Full::new(Bytes::copy_from_slice(&body)))
            .map_err(|_| SourceUnavailable)?;
        let resp = self.client.request(req).await.map_err(|e| {
            tracing::warn!(error = %e, "identity service unreachable");
            SourceUnavailable
        })?;
        let status = resp.status();
        if status.is_client_error() {
            return Ok(None);
        }
        if status != StatusCode::OK {
            tracing::warn!(
                status = status.as_u16(),
                "identity service failed /internal/validate"
            );
            return Err(SourceUnavailable);
        }
        let bytes = Limited::new(resp.into_body(), MAX_ANSWER_BYTES)
            .collect()
            .await
            .map_err(|_| SourceUnavailable)?
            .to_bytes();
        match serde_json::from_slice::<ValidateAnswer>(&bytes) {
            Ok(answer) => Ok(Some(answer.into_principal())),
            Err(_) => {
                tracing::warn!("identity service answered /internal/validate with no identity");
                Err(SourceUnavailable)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn any_plausible_string_is_admitted_and_garbage_is_not() {
        assert!(admit_vexa_key("vxa_bot_abcdefghijklmnopqrstuvwxyz012345").is_some());
        assert!(admit_vexa_key("legacy-token-without-shape").is_some());
        assert!(admit_vexa_key("").is_none());
        assert!(admit_vexa_key("has space").is_none());
        assert!(admit_vexa_key(&"a".repeat(256)).is_none());
    }

    #[test]
    fn unknown_scope_names_grant_nothing() {
        let p: ValidateAnswer = serde_json::from_value(serde_json::json!({
            "user_id": 7, "scopes": ["legacy", "tx"], "max_concurrent": 2
        }))
        .expect("an answer of the original");
        let p = p.into_principal();
        assert_eq!(p.scopes.to_csv(), "tx");
        assert_eq!(p.max_concurrent_bots, 2);
        assert_eq!(p.user_id, UserId(7));
    }

    #[test]
    fn webhook_and_workspaces_of_the_answer_reach_the_profile() {
        let answer: ValidateAnswer = serde_json::from_value(serde_json::json!({
            "user_id": 1, "scopes": ["bot"], "max_concurrent": 3, "email": "jane@acme.com",
            "is_admin": false, "webhook_url": "https://hooks.example/x", "webhook_secret": "s3cret",
            "webhook_events": {"meeting.completed": true}, "workspaces": ["wsA", "wsB"]
        }))
        .expect("the original's full answer");
        let p = answer.into_principal();
        assert_eq!(p.profile.workspaces, vec!["wsA", "wsB"]);
        let hook = p.profile.webhook.expect("a webhook");
        assert_eq!(hook.url, "https://hooks.example/x");
        assert_eq!(hook.secret.as_deref(), Some("s3cret"));
        assert_eq!(
            hook.events,
            Some(serde_json::json!({"meeting.completed": true}))
        );

        let bare: ValidateAnswer =
            serde_json::from_value(serde_json::json!({"user_id": 2, "scopes": []}))
                .expect("a bare answer");
        let p = bare.into_principal();
        assert!(p.profile.webhook.is_none() && p.profile.workspaces.is_empty());
    }

    #[test]
    fn the_plaintext_is_not_in_debug_output() {
        let k = admit_vexa_key("secret-token-123").expect("admitted");
        assert!(!format!("{k:?}").contains("secret-token"));
    }

    #[test]
    fn the_validate_url_keeps_a_base_path() {
        let s = VexaKeySource::new(
            &Uri::from_static("http://idp:8001/base/"),
            "",
            Duration::from_secs(1),
        )
        .map_err(|_| ())
        .expect("valid");
        assert_eq!(s.validate_uri, "http://idp:8001/base/internal/validate");
    }
}
