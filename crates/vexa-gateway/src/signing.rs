//! `X-Vexa-Identity` (gateway-identity v1, reference `vexa-identity-signing.md`): the forwarded
//! identity signed with the gateway's Ed25519 key, for newer Vexa services that no longer believe
//! plain `x-user-*` headers. Owns loading the key (refusing the published RFC 8032 test keys),
//! the canonical claims and the token. Knows nothing of HTTP beyond rendering a header value.

use std::path::Path;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use ed25519_dalek::pkcs8::DecodePrivateKey;
use ed25519_dalek::{Signer as _, SigningKey};
use http::HeaderValue;
use serde_json::Value;
use vexa_core::Principal;

use crate::error::GatewayError;

/// Lifetime of a token, as the original signs them (verifiers accept at most 300 s).
pub const LIFETIME_SECS: i64 = 60;

/// The RFC 8032 §7.1 TEST 1 and TEST 2 secret keys: published, so a deployment signing with them
/// signs nothing at all. The original's services refuse to boot on them; so does the gateway.
const RFC8032_TEST_SEEDS: [&str; 2] = [
    "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60",
    "4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb",
];

/// The gateway's signing key. Its `Debug` never prints the key.
pub struct IdentitySigner {
    key: SigningKey,
}

impl std::fmt::Debug for IdentitySigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IdentitySigner").finish_non_exhaustive()
    }
}

impl IdentitySigner {
    /// Reads a PKCS#8 PEM Ed25519 private key (`openssl genpkey -algorithm ed25519`).
    pub fn from_pem_file(path: &Path, allow_test_keys: bool) -> Result<Self, GatewayError> {
        let pem = std::fs::read_to_string(path).map_err(|_| {
            GatewayError::Config("VEXA_GATEWAY_IDENTITY_SIGNING_KEY_FILE cannot be read")
        })?;
        Self::from_pem(&pem, allow_test_keys)
    }

    /// Parses a PKCS#8 PEM Ed25519 private key; refuses the RFC 8032 test keys unless
    /// `allow_test_keys` (tests only).
    pub fn from_pem(pem: &str, allow_test_keys: bool) -> Result<Self, GatewayError> {
        let key = SigningKey::from_pkcs8_pem(pem).map_err(|_| {
            GatewayError::Config(
                "VEXA_GATEWAY_IDENTITY_SIGNING_KEY_FILE is not an Ed25519 PKCS#8 PEM private key",
            )
        })?;
        Self::from_key(key, allow_test_keys)
    }

    pub fn from_key(key: SigningKey, allow_test_keys: bool) -> Result<Self, GatewayError> {
        let seed = hex::encode(key.to_bytes());
        if !allow_test_keys && RFC8032_TEST_SEEDS.contains(&seed.as_str()) {
            return Err(GatewayError::Config(
                "VEXA_GATEWAY_IDENTITY_SIGNING_KEY_FILE holds a published RFC 8032 test key; generate one with `openssl genpkey -algorithm ed25519`",
            ));
        }
        Ok(IdentitySigner { key })
    }

    /// `v1.<b64url(claims)>.<b64url(signature over "v1." + b64url(claims))>`.
    pub fn token(&self, claims: &str) -> String {
        let mut token = String::with_capacity(3 + claims.len() * 4 / 3 + 90);
        token.push_str("v1.");
        URL_SAFE_NO_PAD.encode_string(claims.as_bytes(), &mut token);
        let signature = self.key.sign(token.as_bytes());
        token.push('.');
        URL_SAFE_NO_PAD.encode_string(signature.to_bytes(), &mut token);
        token
    }

    /// The header value for `who` at `now_secs` (Unix seconds).
    pub fn header(&self, who: &Principal, now_secs: i64) -> Option<HeaderValue> {
        HeaderValue::from_str(&self.token(&claims(who, now_secs))).ok()
    }
}

/// The canonical claims of `who`: keys sorted, no whitespace, non-ASCII escaped; claims that do
/// not apply left out.
pub fn claims(who: &Principal, now_secs: i64) -> String {
    let mut m = serde_json::Map::new();
    m.insert("typ".into(), "vexa-identity".into());
    m.insert("iat".into(), now_secs.into());
    m.insert("exp".into(), (now_secs + LIFETIME_SECS).into());
    m.insert("sub".into(), who.user_id.0.to_string().into());
    if !who.email.is_empty() {
        m.insert("email".into(), (*who.email).into());
    }
    let scopes: Vec<Value> = who.scopes.iter().map(|s| s.as_str().into()).collect();
    m.insert("scopes".into(), scopes.into());
    m.insert("limits".into(), who.max_concurrent_bots.into());
    let p = &who.profile;
    if !p.workspaces.is_empty() {
        m.insert("workspaces".into(), p.workspaces.clone().into());
    }
    if let Some(hook) = &p.webhook {
        m.insert("webhook_url".into(), hook.url.clone().into());
        if let Some(secret) = &hook.secret {
            m.insert("webhook_secret".into(), secret.clone().into());
        }
        if let Some(events) = &hook.events {
            m.insert("webhook_events".into(), events.clone());
        }
    }
    canonical(&Value::Object(m))
}

/// JSON as Python's `json.dumps(v, sort_keys=True, separators=(",", ":"))` writes it (the
/// verifier's canonical form): sorted keys at every depth, `\uXXXX` for non-ASCII.
pub fn canonical(v: &Value) -> String {
    let mut out = String::new();
    write_value(v, &mut out);
    out
}

fn write_value(v: &Value, out: &mut String) {
    match v {
        Value::Object(m) => {
            let mut keys: Vec<&String> = m.keys().collect();
            keys.sort_unstable();
            out.push('{');
            for (i, k) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_str(k, out);
                out.push(':');
                if let Some(v) = m.get(k) {
                    write_value(v, out);
                }
            }
            out.push('}');
        }
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_value(item, out);
            }
            out.push(']');
        }
        Value::String(s) => write_str(s, out),
        other => out.push_str(&other.to_string()),
    }
}

fn write_str(s: &str, out: &mut String) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{08}' => out.push_str("\\b"),
            '\u{0c}' => out.push_str("\\f"),
            c if (c as u32) < 0x20 || (c as u32) > 0x7e => {
                let mut buf = [0u16; 2];
                for unit in c.encode_utf16(&mut buf) {
                    out.push_str(&format!("\\u{unit:04x}"));
                }
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use vexa_core::{KeyId, Scope, UserId, UserProfile, WebhookSettings};

    use super::*;

    const VECTOR_CLAIMS: &str = r#"{"email":"ada@example.com","exp":1760000060,"iat":1760000000,"limits":3,"scopes":["bot","tx"],"sub":"42","typ":"vexa-identity","webhook_events":{"meeting.completed":true},"webhook_secret":"whsec-example","webhook_url":"https://hooks.example.com/vexa","workspaces":["ws_7f3a"]}"#;
    const VECTOR_TOKEN: &str = "v1.eyJlbWFpbCI6ImFkYUBleGFtcGxlLmNvbSIsImV4cCI6MTc2MDAwMDA2MCwiaWF0IjoxNzYwMDAwMDAwLCJsaW1pdHMiOjMsInNjb3BlcyI6WyJib3QiLCJ0eCJdLCJzdWIiOiI0MiIsInR5cCI6InZleGEtaWRlbnRpdHkiLCJ3ZWJob29rX2V2ZW50cyI6eyJtZWV0aW5nLmNvbXBsZXRlZCI6dHJ1ZX0sIndlYmhvb2tfc2VjcmV0Ijoid2hzZWMtZXhhbXBsZSIsIndlYmhvb2tfdXJsIjoiaHR0cHM6Ly9ob29rcy5leGFtcGxlLmNvbS92ZXhhIiwid29ya3NwYWNlcyI6WyJ3c183ZjNhIl19.fHRY24nyS_LXhw0MihBwXANHE94V2UqBczRHNRDeG-Gjl1Xtvck7IgATWdEsLpTvwAAY0C3MOpJ-9v2jxYViCw";

    fn ada() -> Principal {
        Principal {
            user_id: UserId(42),
            email: Arc::from("ada@example.com"),
            scopes: [Scope::Bot, Scope::Tx].into_iter().collect(),
            max_concurrent_bots: 3,
            key_id: KeyId(1),
            expires_at: None,
            limits: vexa_core::KeyLimits::NONE,
            retires_at: None,
            profile: UserProfile {
                workspaces: vec!["ws_7f3a".into()],
                webhook: Some(WebhookSettings {
                    url: "https://hooks.example.com/vexa".into(),
                    secret: Some("whsec-example".into()),
                    events: Some(serde_json::json!({"meeting.completed": true})),
                }),
            },
        }
    }

    fn test1_key() -> SigningKey {
        let seed: [u8; 32] = hex::decode(RFC8032_TEST_SEEDS[0])
            .expect("hex")
            .try_into()
            .expect("32 bytes");
        SigningKey::from_bytes(&seed)
    }

    #[test]
    fn the_reference_vector_is_reproduced_byte_for_byte() {
        assert_eq!(claims(&ada(), 1_760_000_000), VECTOR_CLAIMS);
        let signer = IdentitySigner::from_key(test1_key(), true).expect("test flag set");
        assert_eq!(signer.token(VECTOR_CLAIMS), VECTOR_TOKEN);
    }

    #[test]
    fn the_rfc8032_test_keys_are_refused_without_the_test_flag() {
        use ed25519_dalek::pkcs8::EncodePrivateKey;
        let pem = test1_key().to_pkcs8_pem(Default::default()).expect("pem");
        let err = IdentitySigner::from_pem(&pem, false).expect_err("refused");
        assert!(err.to_string().contains("RFC 8032"), "{err}");
        assert!(IdentitySigner::from_pem(&pem, true).is_ok());
        assert!(IdentitySigner::from_pem("not a pem", true).is_err());
    }

    #[test]
    fn claims_leave_out_what_does_not_apply_and_escape_non_ascii() {
        let mut who = ada();
        who.profile = UserProfile::default();
        who.email = Arc::from("zoë@example.com");
        assert_eq!(
            claims(&who, 10),
            r#"{"email":"zo\u00eb@example.com","exp":70,"iat":10,"limits":3,"scopes":["bot","tx"],"sub":"42","typ":"vexa-identity"}"#
        );
    }
}
