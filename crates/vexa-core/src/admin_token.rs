//! The admin token and its constant-time check.

use std::fmt;

use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// The configured admin token. Compared through fixed-size digests so neither the content nor
/// the length of the configured token leaks through timing.
#[derive(Clone)]
pub struct AdminToken {
    digest: [u8; 32],
    configured: bool,
}

impl AdminToken {
    pub fn new(token: &str) -> AdminToken {
        AdminToken {
            digest: Sha256::digest(token.as_bytes()).into(),
            configured: !token.is_empty(),
        }
    }

    /// True when `presented` equals the configured token. An empty configuration matches nothing.
    pub fn verify(&self, presented: &[u8]) -> bool {
        let d: [u8; 32] = Sha256::digest(presented).into();
        bool::from(d.ct_eq(&self.digest)) & self.configured
    }
}

impl fmt::Debug for AdminToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("AdminToken(<redacted>)")
    }
}

/// Why an admin token is unsafe to use off loopback (CONTRACT §1).
pub fn insecure_admin_token_reason(token: &str) -> Option<&'static str> {
    if token.is_empty() {
        Some("ADMIN_TOKEN is empty")
    } else if token == "dev-admin-token" {
        Some("ADMIN_TOKEN is the published default")
    } else if token.chars().count() < 16 {
        Some("ADMIN_TOKEN is shorter than 16 characters")
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verifies_only_the_exact_token() {
        let t = AdminToken::new("s3cret-admin-token");
        assert!(t.verify(b"s3cret-admin-token"));
        assert!(!t.verify(b"s3cret-admin-toke"));
        assert!(!t.verify(b""));
        assert!(!AdminToken::new("").verify(b""));
    }

    #[test]
    fn debug_is_redacted() {
        assert_eq!(
            format!("{:?}", AdminToken::new("abc")),
            "AdminToken(<redacted>)"
        );
    }
}
