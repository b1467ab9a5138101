//! The API key format (CONTRACT §2): `vxa_<primary scope>_<secret><checksum>`.
//!
//! The secret is 30 base62 characters from the OS CSPRNG (≈178 bits); the checksum is CRC32 of
//! everything before it, as 6 base62 characters. A key is checked for shape and checksum before
//! anything else happens, so typos and garbage never reach a cache or a database. At rest only
//! the SHA-256 digest and a 12-character display prefix exist.

use std::fmt;

use rand::rngs::OsRng;
use rand::RngCore;
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use crate::scope::Scope;

pub const KEY_PREFIX: &str = "vxa_";
const SECRET_LEN: usize = 30;
const CHECKSUM_LEN: usize = 6;
/// Length of the non-secret display prefix kept at rest.
pub const DISPLAY_PREFIX_LEN: usize = 12;
const BASE62: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// Why a presented key was rejected before any lookup. Every variant maps to `Invalid API key`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum KeyFormatError {
    #[error("key does not start with vxa_")]
    Prefix,
    #[error("key scope part is not a known scope")]
    Scope,
    #[error("key has the wrong length or characters")]
    Shape,
    #[error("key checksum does not match")]
    Checksum,
}

/// SHA-256 of the full key: the only form in which a key is stored or cached.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct KeyDigest(pub [u8; 32]);

impl KeyDigest {
    pub fn of(key: &str) -> KeyDigest {
        KeyDigest(Sha256::digest(key.as_bytes()).into())
    }

    /// 64 lowercase hex digits: how the digest is stored in both databases.
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }

    /// Reads 64 hex digits (either case); anything else is `None`.
    pub fn from_hex(s: &str) -> Option<KeyDigest> {
        let mut out = [0u8; 32];
        hex::decode_to_slice(s, &mut out).ok()?;
        Some(KeyDigest(out))
    }
}

impl fmt::Debug for KeyDigest {
    // A digest is not a secret, but a short form keeps logs readable.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "KeyDigest({:02x}{:02x}{:02x}{:02x}…)",
            self.0[0], self.0[1], self.0[2], self.0[3]
        )
    }
}

/// A presented key that passed the format and checksum checks.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct ApiKey {
    pub primary_scope: Scope,
    pub digest: KeyDigest,
}

impl fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ApiKey")
            .field("primary_scope", &self.primary_scope)
            .field("digest", &self.digest)
            .finish()
    }
}

impl ApiKey {
    /// Checks shape and checksum, then digests. Never allocates.
    pub fn parse(raw: &str) -> Result<ApiKey, KeyFormatError> {
        let rest = raw.strip_prefix(KEY_PREFIX).ok_or(KeyFormatError::Prefix)?;
        let sep = rest.find('_').ok_or(KeyFormatError::Scope)?;
        let primary_scope = Scope::parse(&rest[..sep]).ok_or(KeyFormatError::Scope)?;
        let tail = &rest[sep + 1..];
        if tail.len() != SECRET_LEN + CHECKSUM_LEN || !tail.bytes().all(is_base62) {
            return Err(KeyFormatError::Shape);
        }
        let body_len = raw.len() - CHECKSUM_LEN;
        let expected = checksum(&raw.as_bytes()[..body_len]);
        if raw.as_bytes()[body_len..] != expected {
            return Err(KeyFormatError::Checksum);
        }
        Ok(ApiKey {
            primary_scope,
            digest: KeyDigest::of(raw),
        })
    }
}

fn is_base62(b: u8) -> bool {
    b.is_ascii_alphanumeric()
}

fn checksum(body: &[u8]) -> [u8; CHECKSUM_LEN] {
    let mut n = u64::from(crc32fast::hash(body));
    let mut out = [b'0'; CHECKSUM_LEN];
    for slot in out.iter_mut().rev() {
        *slot = BASE62[(n % 62) as usize];
        n /= 62;
    }
    out
}

/// A freshly minted key: the plaintext (shown once, zeroed on drop) and what is stored.
pub struct MintedKey {
    plaintext: Zeroizing<String>,
    pub digest: KeyDigest,
    pub display_prefix: String,
}

impl fmt::Debug for MintedKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MintedKey")
            .field("plaintext", &"<redacted>")
            .field("display_prefix", &self.display_prefix)
            .finish()
    }
}

impl MintedKey {
    /// Generates a key for `primary` from the OS CSPRNG.
    pub fn generate(primary: Scope) -> MintedKey {
        Self::generate_with(primary, &mut OsRng)
    }

    /// Generates with a caller-supplied RNG (tests and benchmarks).
    pub fn generate_with<R: RngCore>(primary: Scope, rng: &mut R) -> MintedKey {
        let mut key = Zeroizing::new(String::with_capacity(48));
        key.push_str(KEY_PREFIX);
        key.push_str(primary.as_str());
        key.push('_');
        let mut produced = 0;
        while produced < SECRET_LEN {
            let mut buf = [0u8; 32];
            rng.fill_bytes(&mut buf);
            // Rejection sampling keeps every character uniform: 248 = 4 × 62.
            for b in buf {
                if b < 248 && produced < SECRET_LEN {
                    key.push(char::from(BASE62[usize::from(b % 62)]));
                    produced += 1;
                }
            }
        }
        let sum = checksum(key.as_bytes());
        for c in sum {
            key.push(char::from(c));
        }
        let digest = KeyDigest::of(&key);
        let display_prefix = key[..DISPLAY_PREFIX_LEN].to_owned();
        MintedKey {
            plaintext: key,
            digest,
            display_prefix,
        }
    }

    /// The full key. Only the mint response may carry it.
    pub fn expose_secret(&self) -> &str {
        &self.plaintext
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn minted_keys_parse_and_fit_the_contract_shape() {
        for scope in [Scope::Bot, Scope::Tx, Scope::Browser] {
            let k = MintedKey::generate(scope);
            let s = k.expose_secret();
            assert!((40..=48).contains(&s.len()), "{} chars", s.len());
            assert!(s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_'));
            assert!(s.starts_with(&format!("vxa_{}_", scope.as_str())));
            let parsed = ApiKey::parse(s).expect("own key parses");
            assert_eq!(parsed.primary_scope, scope);
            assert_eq!(parsed.digest, k.digest);
            assert_eq!(k.display_prefix.len(), 12);
        }
    }

    #[test]
    fn rejects_bad_prefix_scope_and_checksum() {
        let k = MintedKey::generate(Scope::Bot);
        let s = k.expose_secret().to_owned();
        assert_eq!(
            ApiKey::parse(&s.replacen("vxa_", "vxb_", 1)),
            Err(KeyFormatError::Prefix)
        );
        assert_eq!(
            ApiKey::parse(&s.replacen("_bot_", "_bat_", 1)),
            Err(KeyFormatError::Scope)
        );
        let mut flipped = s.clone().into_bytes();
        let i = 10;
        flipped[i] = if flipped[i] == b'a' { b'b' } else { b'a' };
        let flipped = String::from_utf8(flipped).expect("ascii");
        assert_eq!(ApiKey::parse(&flipped), Err(KeyFormatError::Checksum));
        assert_eq!(ApiKey::parse(&s[..s.len() - 1]), Err(KeyFormatError::Shape));
        assert_eq!(ApiKey::parse(""), Err(KeyFormatError::Prefix));
    }

    #[test]
    fn digest_hex_round_trips() {
        let d = KeyDigest::of("anything");
        assert_eq!(KeyDigest::from_hex(&d.to_hex()), Some(d));
        assert_eq!(KeyDigest::from_hex("zz"), None);
        assert_eq!(KeyDigest::from_hex(&d.to_hex()[..62]), None);
        assert_eq!(KeyDigest::from_hex(&d.to_hex().to_uppercase()), Some(d));
        let mut raw = [0u8; 32];
        raw[0] = 0x0a;
        raw[31] = 0xff;
        assert_eq!(KeyDigest(raw).to_hex(), format!("0a{}ff", "0".repeat(60)));
    }

    #[test]
    fn debug_never_shows_the_secret() {
        let k = MintedKey::generate(Scope::Tx);
        let dbg = format!("{k:?}");
        assert!(!dbg.contains(k.expose_secret()));
    }

    proptest! {
        #[test]
        fn parse_never_panics(s in "\\PC{0,80}") {
            let _ = ApiKey::parse(&s);
        }

        #[test]
        fn single_character_typos_are_caught(pos in 8usize..44, c in "[A-Za-z0-9]") {
            let k = MintedKey::generate(Scope::Bot);
            let s = k.expose_secret();
            let mut b = s.as_bytes().to_vec();
            let nc = c.as_bytes()[0];
            prop_assume!(b[pos] != nc);
            b[pos] = nc;
            let typo = String::from_utf8(b).expect("ascii");
            prop_assert!(ApiKey::parse(&typo).is_err());
        }
    }
}
