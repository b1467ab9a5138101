//! Domain of the vexa access plane: identities, scoped API keys, the key format, time, and the
//! storage ports. No I/O lives here: this crate knows nothing of HTTP, SQL or Redis, so every
//! other crate can depend on it and it can be tested without a server.

pub mod admin_token;
pub mod audit;
pub mod clock;
pub mod env;
pub mod error;
pub mod import;
pub mod key;
pub mod key_limits;
pub mod last_used;
pub mod meeting;
pub mod mint;
pub mod principal;
pub mod replica;
pub mod rotate;
pub mod scope;
pub mod store;
pub mod time;
pub mod usage;
pub mod user;
pub mod webhook;

pub use admin_token::AdminToken;
pub use audit::{AuditAction, AuditActor, AuditContext};
pub use clock::{Clock, ManualClock, SystemClock};
pub use error::{StoreError, ValidationError};
pub use key::{ApiKey, KeyDigest, KeyFormatError, MintedKey};
pub use key_limits::{KeyLimits, KeyLimitsPatch};
pub use mint::{KeySpec, Lifetime, ValidKeySpec};
pub use principal::{Principal, UserProfile, WebhookSettings};
pub use scope::{Scope, ScopeSet};
pub use store::{
    AuditedStore, IdentityChange, IdentityEvent, IdentityListener, IdentityStore, IgnoreChanges,
    KeyId, KeyRecord, NewKey, StoredKey,
};
pub use time::Timestamp;
pub use user::{Email, NewUser, User, UserId, UserPatch};
