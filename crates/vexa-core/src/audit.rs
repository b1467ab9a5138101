//! The audit log's domain (CONTRACT §10): who did which admin mutation, what it changed (never a
//! secret), and the hash chain that makes a later edit, deletion or truncation of the log
//! detectable. Pure: no SQL, no HTTP. The stores seal entries with [`seal`] inside the
//! mutation's own transaction; `vexa audit verify` walks them with [`ChainVerifier`].

use std::fmt;
use std::str::FromStr;

use serde_json::{json, Map, Value};
use sha2::{Digest, Sha256};

use crate::key_limits::KeyLimitsPatch;
use crate::store::{KeyId, KeyRecord, NewKey};
use crate::time::Timestamp;
use crate::user::{NewUser, UserId, UserPatch};
use crate::webhook::WEBHOOK_SECRET;

/// Tag of the canonical serialization hashed into each entry. A new layout gets a new tag; the
/// verifier then has to know both.
pub const CHAIN_VERSION: &str = "vexa-audit-v1";

/// `prev_hash` of the first entry: 64 zero hex digits.
pub const GENESIS_HASH: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// Which surface made the change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuditActor {
    AdminApi,
    Cli,
    Import,
    Console,
}

impl AuditActor {
    pub fn as_str(self) -> &'static str {
        match self {
            AuditActor::AdminApi => "admin_api",
            AuditActor::Cli => "cli",
            AuditActor::Import => "import",
            AuditActor::Console => "console",
        }
    }
}

/// What kind of change an entry records. Every admin mutation has exactly one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuditAction {
    UserCreate,
    UserUpdate,
    UserDelete,
    KeyMint,
    KeyRevoke,
    KeyRotate,
    KeyUpdate,
    UserWebhook,
    Import,
}

impl AuditAction {
    pub const ALL: [AuditAction; 9] = [
        AuditAction::UserCreate,
        AuditAction::UserUpdate,
        AuditAction::UserDelete,
        AuditAction::KeyMint,
        AuditAction::KeyRevoke,
        AuditAction::KeyRotate,
        AuditAction::KeyUpdate,
        AuditAction::UserWebhook,
        AuditAction::Import,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            AuditAction::UserCreate => "user.create",
            AuditAction::UserUpdate => "user.update",
            AuditAction::UserDelete => "user.delete",
            AuditAction::KeyMint => "key.mint",
            AuditAction::KeyRevoke => "key.revoke",
            AuditAction::KeyRotate => "key.rotate",
            AuditAction::KeyUpdate => "key.update",
            AuditAction::UserWebhook => "user.webhook",
            AuditAction::Import => "import",
        }
    }
}

impl FromStr for AuditAction {
    type Err = ();

    fn from_str(s: &str) -> Result<Self, ()> {
        AuditAction::ALL
            .into_iter()
            .find(|a| a.as_str() == s)
            .ok_or(())
    }
}

/// Who asks for a mutation, as the surface that received it knows them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditContext {
    pub actor: AuditActor,
    /// The admin API's `x-request-id` (already sanitized by `vexa_http::request_id`).
    pub request_id: Option<String>,
    /// The peer address the admin API saw.
    pub client_addr: Option<String>,
}

impl AuditContext {
    /// A surface with no request or peer (the offline CLI, the import).
    pub fn local(actor: AuditActor) -> Self {
        AuditContext {
            actor,
            request_id: None,
            client_addr: None,
        }
    }
}

/// What a mutation records about itself; the store adds the time, the context and the chain.
#[derive(Debug, Clone, PartialEq)]
pub struct AuditDraft {
    pub action: AuditAction,
    pub user_id: Option<UserId>,
    pub key_id: Option<KeyId>,
    /// What changed, built by the functions below so that no secret can get in.
    pub changes: Value,
}

/// One entry as stored. `actor`, `action` and `changes` are kept as the text that was hashed:
/// the verifier must judge exactly what is in the database, even a value no version wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditEntry {
    pub seq: i64,
    pub time: Timestamp,
    pub actor: String,
    pub action: String,
    pub user_id: Option<UserId>,
    pub key_id: Option<KeyId>,
    pub request_id: Option<String>,
    pub client_addr: Option<String>,
    /// JSON text.
    pub changes: String,
    pub prev_hash: String,
    pub hash: String,
}

impl AuditEntry {
    /// The hash this entry's fields and `prev_hash` call for.
    pub fn expected_hash(&self) -> String {
        let canonical = Value::Array(vec![
            Value::from(CHAIN_VERSION),
            Value::from(self.seq),
            Value::from(self.time.0),
            Value::from(self.actor.as_str()),
            Value::from(self.action.as_str()),
            self.user_id.map_or(Value::Null, |u| Value::from(u.0)),
            self.key_id.map_or(Value::Null, |k| Value::from(k.0)),
            self.request_id.as_deref().map_or(Value::Null, Value::from),
            self.client_addr.as_deref().map_or(Value::Null, Value::from),
            Value::from(self.changes.as_str()),
            Value::from(self.prev_hash.as_str()),
        ]);
        // A JSON array of scalars has exactly one serialization: the canonical form.
        hex::encode(Sha256::digest(canonical.to_string().as_bytes()))
    }
}

/// The newest entry's seq and hash (0 and [`GENESIS_HASH`] for an empty log), kept by the store
/// in a row of its own so truncating the log's tail is detected too.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainHead {
    pub seq: i64,
    pub hash: String,
}

impl ChainHead {
    pub fn genesis() -> Self {
        ChainHead {
            seq: 0,
            hash: GENESIS_HASH.to_owned(),
        }
    }
}

/// Seals `draft` as the entry after `head`.
pub fn seal(
    draft: &AuditDraft,
    ctx: &AuditContext,
    time: Timestamp,
    head: &ChainHead,
) -> AuditEntry {
    let mut entry = AuditEntry {
        seq: head.seq + 1,
        time,
        actor: ctx.actor.as_str().to_owned(),
        action: draft.action.as_str().to_owned(),
        user_id: draft.user_id,
        key_id: draft.key_id,
        request_id: ctx.request_id.clone(),
        client_addr: ctx.client_addr.clone(),
        changes: draft.changes.to_string(),
        prev_hash: head.hash.clone(),
        hash: String::new(),
    };
    entry.hash = entry.expected_hash();
    entry
}

/// The first entry that does not fit the chain, and how.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BrokenLink {
    pub seq: i64,
    pub reason: Broken,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Broken {
    /// No entry with this seq: it was deleted (the next one present is `next`, if any).
    Missing { next: Option<i64> },
    /// The stored hash is not the hash of the stored fields: the entry was edited.
    HashMismatch,
    /// `prev_hash` is not the previous entry's hash.
    PrevHashMismatch,
}

impl fmt::Display for BrokenLink {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "audit chain broken at entry seq {}: ", self.seq)?;
        match self.reason {
            Broken::Missing { next: Some(n) } => {
                write!(f, "entry is missing (the next entry present is seq {n})")
            }
            Broken::Missing { next: None } => {
                write!(
                    f,
                    "entry is missing (the chain head records it, the log ends before it)"
                )
            }
            Broken::HashMismatch => write!(f, "stored hash does not match the entry's contents"),
            Broken::PrevHashMismatch => {
                write!(f, "prev_hash does not match the previous entry's hash")
            }
        }
    }
}

/// Walks the chain one entry at a time, in seq order, so a caller can feed it page by page.
#[derive(Debug, Clone)]
pub struct ChainVerifier {
    last: ChainHead,
}

impl Default for ChainVerifier {
    fn default() -> Self {
        ChainVerifier {
            last: ChainHead::genesis(),
        }
    }
}

impl ChainVerifier {
    /// Checks the next entry.
    pub fn check(&mut self, e: &AuditEntry) -> Result<(), BrokenLink> {
        let expected = self.last.seq + 1;
        if e.seq != expected {
            return Err(BrokenLink {
                seq: expected,
                reason: Broken::Missing { next: Some(e.seq) },
            });
        }
        if e.expected_hash() != e.hash {
            return Err(BrokenLink {
                seq: e.seq,
                reason: Broken::HashMismatch,
            });
        }
        if e.prev_hash != self.last.hash {
            return Err(BrokenLink {
                seq: e.seq,
                reason: Broken::PrevHashMismatch,
            });
        }
        self.last = ChainHead {
            seq: e.seq,
            hash: e.hash.clone(),
        };
        Ok(())
    }

    /// After the last entry: the log must end where the store's head says, so a truncated tail
    /// is caught. Returns the number of entries checked.
    pub fn finish(&self, head: &ChainHead) -> Result<i64, BrokenLink> {
        if head.seq > self.last.seq {
            return Err(BrokenLink {
                seq: self.last.seq + 1,
                reason: Broken::Missing { next: None },
            });
        }
        if head.seq < self.last.seq || head.hash != self.last.hash {
            // Entries past the head, or a head that names another hash: the last entry was
            // rewritten (or appended) outside an audited transaction.
            return Err(BrokenLink {
                seq: self.last.seq,
                reason: Broken::HashMismatch,
            });
        }
        Ok(self.last.seq)
    }
}

/// Entries read per query when walking a stored chain: bounds memory whatever the log's length.
const CHAIN_PAGE: i64 = 1000;

/// Walks the chain `store` holds, a page at a time, up to the head read first (entries
/// appended meanwhile are past it and not judged): the number of entries that verify, or the
/// first broken link. The one walk `vexa audit verify` and the console's chain line share.
pub async fn verify_stored_chain(
    store: &dyn crate::store::AuditedStore,
) -> Result<Result<i64, BrokenLink>, crate::error::StoreError> {
    let head = store.audit_head().await?;
    let mut verifier = ChainVerifier::default();
    let mut after = 0;
    'pages: loop {
        let page = store.audit_entries_from(after, CHAIN_PAGE).await?;
        let Some(last) = page.last() else { break };
        after = last.seq;
        for entry in &page {
            if entry.seq > head.seq {
                break 'pages;
            }
            if let Err(broken) = verifier.check(entry) {
                return Ok(Err(broken));
            }
        }
    }
    Ok(verifier.finish(&head))
}

/// Verifies a whole chain held in memory, in seq order: the number of entries, or the first
/// entry that does not fit.
pub fn verify_chain(entries: &[AuditEntry], head: &ChainHead) -> Result<i64, BrokenLink> {
    let mut v = ChainVerifier::default();
    for e in entries {
        v.check(e)?;
    }
    v.finish(head)
}

/// Filters of the audit listing; all optional, combined with AND.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuditFilter {
    pub user_id: Option<UserId>,
    pub key_id: Option<KeyId>,
    pub action: Option<AuditAction>,
    /// Inclusive.
    pub since: Option<Timestamp>,
    /// Inclusive.
    pub until: Option<Timestamp>,
}

/// A page of the listing, newest first: entries with `seq < before_seq` (all when `None`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AuditPage {
    pub before_seq: Option<i64>,
    pub limit: i64,
}

// What changed, per mutation. Keys appear by id and display prefix only; a webhook secret only
// as "<set>" or "<cleared>".

pub fn user_created(id: UserId, new: &NewUser) -> AuditDraft {
    AuditDraft {
        action: AuditAction::UserCreate,
        user_id: Some(id),
        key_id: None,
        changes: json!({
            "email": new.email.as_str(),
            "name": new.name,
            "image_url": new.image_url,
            "max_concurrent_bots": new.max_concurrent_bots,
        }),
    }
}

/// A user patch (`PATCH /admin/users/{id}` or `PUT /user/webhook`); only the fields it sets.
pub fn user_patched(action: AuditAction, id: UserId, patch: &UserPatch) -> AuditDraft {
    let mut changes = Map::new();
    if let Some(name) = &patch.name {
        changes.insert("name".into(), json!(name));
    }
    if let Some(url) = &patch.image_url {
        changes.insert("image_url".into(), json!(url));
    }
    if let Some(n) = patch.max_concurrent_bots {
        changes.insert("max_concurrent_bots".into(), json!(n));
    }
    if let Some(data) = &patch.data {
        let mut shown = data.clone();
        if let Some(secret) = shown.get_mut(WEBHOOK_SECRET) {
            let set = matches!(secret, Value::String(s) if !s.is_empty());
            *secret = Value::from(if set { "<set>" } else { "<cleared>" });
        }
        changes.insert("data".into(), Value::Object(shown));
    }
    AuditDraft {
        action,
        user_id: Some(id),
        key_id: None,
        changes: Value::Object(changes),
    }
}

pub fn user_deleted(id: UserId, email: &str, live_keys: i64) -> AuditDraft {
    AuditDraft {
        action: AuditAction::UserDelete,
        user_id: Some(id),
        key_id: None,
        changes: json!({ "email": email, "keys_revoked": live_keys }),
    }
}

pub fn key_minted(id: KeyId, key: &NewKey) -> AuditDraft {
    AuditDraft {
        action: AuditAction::KeyMint,
        user_id: Some(key.user_id),
        key_id: Some(id),
        changes: json!({
            "prefix": key.display_prefix,
            "scopes": key.scopes.to_csv().split(',').collect::<Vec<_>>(),
            "name": key.name,
            "expires_at": key.expires_at.map(|t| t.0),
        }),
    }
}

pub fn key_revoked(id: KeyId, user: UserId, prefix: &str) -> AuditDraft {
    AuditDraft {
        action: AuditAction::KeyRevoke,
        user_id: Some(user),
        key_id: Some(id),
        changes: json!({ "prefix": prefix }),
    }
}

/// A rotation: the old key by id, the replacement by id and display prefix, and when the old
/// one stops (`revoked` when there was no grace).
pub fn key_rotated(
    old: KeyId,
    new: &KeyRecord,
    retires_at: Timestamp,
    revoked: bool,
) -> AuditDraft {
    AuditDraft {
        action: AuditAction::KeyRotate,
        user_id: Some(new.user_id),
        key_id: Some(old),
        changes: json!({
            "replaced_by": new.id.0,
            "replacement_prefix": new.prefix,
            "retires_at": retires_at.0,
            "revoked_at_once": revoked,
        }),
    }
}

/// `PATCH /admin/tokens/{id}`: the fields the patch sets (a `null` clears one), by key id and
/// display prefix.
pub fn key_limits_changed(key: &KeyRecord, patch: &KeyLimitsPatch) -> AuditDraft {
    let mut limits = Map::new();
    if let Some(v) = patch.rate_limit_rps {
        limits.insert("rate_limit_rps".into(), json!(v));
    }
    if let Some(v) = patch.rate_limit_burst {
        limits.insert("rate_limit_burst".into(), json!(v));
    }
    if let Some(v) = patch.max_concurrent_bots {
        limits.insert("max_concurrent_bots".into(), json!(v));
    }
    AuditDraft {
        action: AuditAction::KeyUpdate,
        user_id: Some(key.user_id),
        key_id: Some(key.id),
        changes: json!({ "prefix": key.prefix, "limits": Value::Object(limits) }),
    }
}

/// One import transaction: counts only (a run writes one entry per batch it commits).
pub fn imported(counts: Map<String, Value>) -> AuditDraft {
    AuditDraft {
        action: AuditAction::Import,
        user_id: None,
        key_id: None,
        changes: Value::Object(counts),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chain(n: i64) -> (Vec<AuditEntry>, ChainHead) {
        let ctx = AuditContext {
            actor: AuditActor::AdminApi,
            request_id: Some("req-1".into()),
            client_addr: Some("127.0.0.1".into()),
        };
        let mut head = ChainHead::genesis();
        let mut out = Vec::new();
        for i in 0..n {
            let draft = key_revoked(KeyId(i), UserId(7), "vxa_bot_abcd");
            let e = seal(&draft, &ctx, Timestamp(1000 + i), &head);
            head = ChainHead {
                seq: e.seq,
                hash: e.hash.clone(),
            };
            out.push(e);
        }
        (out, head)
    }

    #[test]
    fn a_sealed_chain_verifies_and_counts() {
        let (entries, head) = chain(5);
        assert_eq!(entries[0].prev_hash, GENESIS_HASH);
        assert_eq!(verify_chain(&entries, &head), Ok(5));
        assert_eq!(verify_chain(&[], &ChainHead::genesis()), Ok(0));
    }

    #[test]
    fn an_edited_entry_is_named() {
        let (mut entries, head) = chain(5);
        entries[2].changes = r#"{"prefix":"other"}"#.into();
        let e = verify_chain(&entries, &head).expect_err("edited");
        assert_eq!((e.seq, e.reason), (3, Broken::HashMismatch));
        assert!(e
            .to_string()
            .starts_with("audit chain broken at entry seq 3: "));
    }

    #[test]
    fn a_deleted_or_rehashed_entry_is_named() {
        let (mut entries, head) = chain(5);
        entries.remove(1);
        let e = verify_chain(&entries, &head).expect_err("deleted");
        assert_eq!(e.seq, 2);
        // Rewriting an entry with a fresh self-consistent hash breaks the next link instead.
        let (mut entries, head) = chain(5);
        entries[1].actor = "cli".into();
        entries[1].hash = entries[1].expected_hash();
        let e = verify_chain(&entries, &head).expect_err("rehashed");
        assert_eq!((e.seq, e.reason), (3, Broken::PrevHashMismatch));
    }

    #[test]
    fn a_truncated_tail_is_caught_by_the_head() {
        let (mut entries, head) = chain(5);
        entries.pop();
        let e = verify_chain(&entries, &head).expect_err("truncated");
        assert_eq!(e.seq, 5);
    }

    #[test]
    fn a_webhook_secret_is_never_recorded() {
        let mut data = Map::new();
        data.insert(WEBHOOK_SECRET.into(), Value::from("s3cret-value"));
        data.insert("webhook_url".into(), Value::from("https://h.example/x"));
        let patch = UserPatch {
            data: Some(data),
            ..UserPatch::default()
        };
        let d = user_patched(AuditAction::UserWebhook, UserId(1), &patch);
        let text = d.changes.to_string();
        assert!(!text.contains("s3cret-value"), "{text}");
        assert_eq!(d.changes["data"][WEBHOOK_SECRET], "<set>");
    }

    #[test]
    fn actions_round_trip_through_their_names() {
        for a in AuditAction::ALL {
            assert_eq!(a.as_str().parse::<AuditAction>(), Ok(a));
        }
        assert!("key.frobnicate".parse::<AuditAction>().is_err());
    }
}
