//! The gateway as a drop-in for the original Vexa 0.12 api-gateway (CONTRACT §8), black-box over
//! loopback: recording doubles of the original meeting-api, identity service (`/user/*`),
//! agent-api and MCP stand behind it (`vexa_testkit::original`).
//!
//! - `route_walk`: every row of the table against every scope set and no key, in both
//!   `MEETINGS_API_KIND`s (both backends);
//! - `streaming`: SSE and the MCP relay are never buffered, Range requests pass;
//! - `signed_identity`: `X-Vexa-Identity` checked by an independent verifier (Python
//!   `cryptography`);
//! - `ws_original`: `/ws` terminated as the original gateway does, over the real Redis.

mod route_walk;
mod signed_identity;
mod streaming;
mod ws_original;

use std::path::PathBuf;
use std::sync::Arc;

use ed25519_dalek::pkcs8::{EncodePrivateKey, EncodePublicKey};
use ed25519_dalek::SigningKey;
use vexa_gateway::{GatewayConfig, MeetingsApiKind};
use vexa_testkit::original::{
    original_admin_api_double, original_agent_api_double, original_mcp_double,
    original_meeting_api_double, RecordingDouble,
};

use crate::support::{config, start, Running, TestStore};

/// The four doubles, one per domain.
pub struct Originals {
    pub meetings: RecordingDouble,
    pub admin: RecordingDouble,
    pub agent: RecordingDouble,
    pub mcp: RecordingDouble,
}

impl Originals {
    pub async fn start() -> Originals {
        Originals {
            meetings: original_meeting_api_double().await,
            admin: original_admin_api_double().await,
            agent: original_agent_api_double().await,
            mcp: original_mcp_double().await,
        }
    }

    pub fn all(&self) -> [&RecordingDouble; 4] {
        [&self.meetings, &self.admin, &self.agent, &self.mcp]
    }

    /// Clears every double's log.
    pub fn clear(&self) {
        for d in self.all() {
            d.take();
        }
    }
}

/// A fresh Ed25519 key written to a PKCS#8 PEM file, with its public key as SPKI PEM.
pub struct KeyFiles {
    /// Keeps the files until the test ends.
    _dir: tempfile::TempDir,
    pub private: PathBuf,
    pub public: PathBuf,
    pub key: SigningKey,
}

pub fn signing_key_files() -> KeyFiles {
    let mut seed = [0u8; 32];
    rand::RngCore::fill_bytes(&mut rand::thread_rng(), &mut seed);
    let key = SigningKey::from_bytes(&seed);
    let dir = tempfile::tempdir().expect("tempdir");
    let private = dir.path().join("identity-signing.pem");
    let public = dir.path().join("identity-public.pem");
    let pem = key.to_pkcs8_pem(Default::default()).expect("pkcs8 pem");
    std::fs::write(&private, pem.as_bytes()).expect("write private key");
    let pubpem = key
        .verifying_key()
        .to_public_key_pem(Default::default())
        .expect("spki pem");
    std::fs::write(&public, pubpem).expect("write public key");
    KeyFiles {
        _dir: dir,
        private,
        public,
        key,
    }
}

/// A gateway in front of the doubles, as an operator configures it in front of a Vexa
/// deployment (`kind`), signing with `keys` when given.
pub fn dropin_config(
    o: &Originals,
    kind: MeetingsApiKind,
    keys: Option<&KeyFiles>,
) -> GatewayConfig {
    let mut cfg = config(&o.meetings.url);
    cfg.meetings_api_kind = kind;
    cfg.admin_url = Some(o.admin.url.parse().expect("uri"));
    cfg.agent_url = Some(o.agent.url.parse().expect("uri"));
    cfg.mcp_url = Some(o.mcp.url.parse().expect("uri"));
    cfg.browser_url = None;
    cfg.identity_signing_key_file = keys.map(|k| k.private.clone());
    cfg
}

pub async fn dropin(
    o: &Originals,
    kind: MeetingsApiKind,
    keys: Option<&KeyFiles>,
    store: Arc<TestStore>,
) -> Running {
    start(dropin_config(o, kind, keys), store).await
}
