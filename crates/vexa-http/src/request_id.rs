//! The one request-id rule: a client's `X-Request-Id` is kept when it is 1–128 characters of
//! `[A-Za-z0-9._:-]` (nothing that could split a log line or a header), otherwise a fresh one
//! is minted: 128 random bits as 32 lowercase hex digits.

use http::{HeaderMap, HeaderValue};
use rand::RngCore;

use crate::headers::X_REQUEST_ID;

/// Longest client-supplied id that is kept.
pub const MAX_LEN: usize = 128;

/// True when `id` may be echoed and logged as given.
pub fn is_acceptable(id: &[u8]) -> bool {
    !id.is_empty()
        && id.len() <= MAX_LEN
        && id
            .iter()
            .all(|c| c.is_ascii_alphanumeric() || b"._:-".contains(c))
}

/// The client's id when acceptable, else a freshly minted one.
pub fn accept_or_mint(headers: &HeaderMap) -> HeaderValue {
    match headers.get(X_REQUEST_ID) {
        Some(v) if is_acceptable(v.as_bytes()) => v.clone(),
        _ => mint(),
    }
}

/// 128 random bits as 32 lowercase hex digits.
pub fn mint() -> HeaderValue {
    let mut raw = [0u8; 16];
    rand::thread_rng().fill_bytes(&mut raw);
    // On the stack, so minting allocates only the header value itself.
    let mut out = [0u8; 32];
    // 16 bytes always fit 32 hex digits, and hex digits are always a valid header value.
    if hex::encode_to_slice(raw, &mut out).is_err() {
        return HeaderValue::from_static("0");
    }
    HeaderValue::from_bytes(&out).unwrap_or_else(|_| HeaderValue::from_static("0"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sane_ids_are_kept_and_others_replaced() {
        let mut h = HeaderMap::new();
        h.insert(X_REQUEST_ID, HeaderValue::from_static("abc-123.x:y_z"));
        assert_eq!(accept_or_mint(&h), "abc-123.x:y_z");
        for bad in ["bad id", "a\tb", "x!y", ""] {
            h.insert(X_REQUEST_ID, HeaderValue::from_str(bad).expect("header"));
            let minted = accept_or_mint(&h);
            assert_eq!(minted.len(), 32, "{bad:?}");
            assert_ne!(minted, bad);
        }
        h.insert(
            X_REQUEST_ID,
            HeaderValue::from_str(&"a".repeat(129)).expect("header"),
        );
        assert_eq!(accept_or_mint(&h).len(), 32);
    }

    #[test]
    fn minted_ids_differ() {
        assert_ne!(mint(), mint());
    }

    #[test]
    fn minted_ids_are_lowercase_hex() {
        let id = mint();
        assert_eq!(id.len(), 32);
        assert!(id
            .as_bytes()
            .iter()
            .all(|c| c.is_ascii_digit() || (b'a'..=b'f').contains(c)));
    }

    // Moved from the gateway's `headers.rs`, whose own copy of the rule this replaced.
    #[test]
    fn request_ids_are_kept_when_sane_else_minted() {
        let mut h = HeaderMap::new();
        h.insert(X_REQUEST_ID, HeaderValue::from_static("abc-123"));
        assert_eq!(accept_or_mint(&h), "abc-123");
        h.insert(
            X_REQUEST_ID,
            HeaderValue::from_static("bad value with spaces"),
        );
        let minted = accept_or_mint(&h);
        assert_eq!(minted.len(), 32);
    }
}
