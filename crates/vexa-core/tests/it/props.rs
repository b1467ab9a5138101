//! Property tests of everything in vexa-core that reads outside input: the key parser, the key
//! minting round trip, the checksum, email and scope parsing. No input may panic; every
//! single-character change to a valid key must be rejected before any lookup.
//!
//! Case counts are small by default (the bounded run of `make test`); `scripts/fuzz.sh` raises
//! them through `PROPTEST_CASES`.

use proptest::prelude::*;
use rand::rngs::StdRng;
use rand::SeedableRng;
use vexa_core::{AdminToken, ApiKey, Email, KeyDigest, KeyFormatError, MintedKey, Scope, ScopeSet};

fn cases(default: u32) -> ProptestConfig {
    let n = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse::<u32>().ok())
        .unwrap_or(default);
    ProptestConfig {
        cases: n,
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

fn scope() -> impl Strategy<Value = Scope> {
    prop_oneof![Just(Scope::Bot), Just(Scope::Tx), Just(Scope::Browser)]
}

/// Strings that look like keys: the right prefix and scope part, then an arbitrary tail, so the
/// later checks (shape, checksum) see plenty of traffic too.
fn keyish() -> impl Strategy<Value = String> {
    (
        prop::sample::select(vec!["vxa_", "vxa", "", "VXA_"]),
        prop_oneof![
            prop::sample::select(vec!["bot_", "tx_", "browser_", "_", "bot"])
                .prop_map(String::from),
            "\\PC{0,8}_",
        ],
        "[A-Za-z0-9_\\-.~é€😀\\x00-\\x1f]{0,50}",
    )
        .prop_map(|(a, b, c)| format!("{a}{b}{c}"))
}

/// Any character a single-character mutation may bring in: ASCII (including control and `_`),
/// two-, three- and four-byte UTF-8.
fn any_char() -> impl Strategy<Value = char> {
    prop_oneof![
        (0u8..=127).prop_map(char::from),
        Just('é'),
        Just('€'),
        Just('😀'),
        any::<char>(),
    ]
}

proptest! {
    #![proptest_config(cases(512))]

    #[test]
    fn parse_never_panics_on_any_string(s in any::<String>()) {
        let _ = ApiKey::parse(&s);
    }

    #[test]
    fn parse_never_panics_on_keyish_strings(s in keyish()) {
        if let Ok(k) = ApiKey::parse(&s) {
            // Anything accepted has the contract shape and its own digest.
            let expected_prefix = format!("vxa_{}_", k.primary_scope.as_str());
            prop_assert!(s.starts_with(&expected_prefix));
            prop_assert_eq!(k.digest, KeyDigest::of(&s));
        }
    }

    #[test]
    fn parse_never_panics_on_arbitrary_bytes(b in proptest::collection::vec(any::<u8>(), 0..128)) {
        // Header values arrive as bytes; the lossy form is what a caller could hand over.
        let s = String::from_utf8_lossy(&b);
        let _ = ApiKey::parse(&s);
        if let Ok(s) = std::str::from_utf8(&b) {
            let _ = ApiKey::parse(s);
        }
    }

    #[test]
    fn minted_keys_round_trip(sc in scope(), seed in any::<u64>()) {
        let mut rng = StdRng::seed_from_u64(seed);
        let k = MintedKey::generate_with(sc, &mut rng);
        let s = k.expose_secret();
        let parsed = ApiKey::parse(s);
        prop_assert!(parsed.is_ok(), "own key rejected: {:?}", parsed);
        let parsed = parsed.expect("checked");
        prop_assert_eq!(parsed.primary_scope, sc);
        prop_assert_eq!(parsed.digest, k.digest);
        prop_assert_eq!(k.digest, KeyDigest::of(s));
        prop_assert_eq!(KeyDigest::from_hex(&k.digest.to_hex()), Some(k.digest));
        prop_assert_eq!(&k.display_prefix[..], &s[..12]);
        prop_assert!(s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_'));
        // The Debug form never carries the secret.
        let shown = format!("{k:?} {parsed:?}");
        prop_assert!(!shown.contains(s));
    }

    #[test]
    fn every_single_character_substitution_is_rejected(
        sc in scope(), seed in any::<u64>(), pos in any::<prop::sample::Index>(), c in any_char()
    ) {
        let mut rng = StdRng::seed_from_u64(seed);
        let k = MintedKey::generate_with(sc, &mut rng);
        let s = k.expose_secret();
        let chars: Vec<char> = s.chars().collect();
        let i = pos.index(chars.len());
        prop_assume!(chars[i] != c);
        let mut m = chars.clone();
        m[i] = c;
        let mutated: String = m.into_iter().collect();
        prop_assert!(ApiKey::parse(&mutated).is_err(), "accepted {mutated:?}");
    }

    #[test]
    fn every_single_character_insertion_or_deletion_is_rejected(
        sc in scope(), seed in any::<u64>(), pos in any::<prop::sample::Index>(), c in any_char(),
        delete in any::<bool>()
    ) {
        let mut rng = StdRng::seed_from_u64(seed);
        let k = MintedKey::generate_with(sc, &mut rng);
        let mut chars: Vec<char> = k.expose_secret().chars().collect();
        if delete {
            let i = pos.index(chars.len());
            chars.remove(i);
        } else {
            let i = pos.index(chars.len() + 1);
            chars.insert(i, c);
        }
        let mutated: String = chars.into_iter().collect();
        prop_assert!(ApiKey::parse(&mutated).is_err(), "accepted {mutated:?}");
    }

    #[test]
    fn email_parse_never_panics(s in any::<String>()) {
        if let Ok(e) = Email::parse(&s) {
            prop_assert!(e.as_str().len() <= 254);
            prop_assert_eq!(e.as_str().matches('@').count(), 1);
            prop_assert!(!e.as_str().chars().any(|c| c.is_whitespace() || c.is_control()));
            let _ = e.normalized();
        }
    }

    #[test]
    fn email_parse_never_panics_on_emailish(
        local in "\\PC{0,70}", domain in "[a-zA-Z0-9.\\-@é\\x00 ]{0,80}"
    ) {
        let _ = Email::parse(&format!("{local}@{domain}"));
    }

    #[test]
    fn scope_parsing_never_panics_and_never_widens(
        names in proptest::collection::vec("\\PC{0,10}|bot|tx|browser|BOT| tx", 0..8),
        csv in any::<String>()
    ) {
        match ScopeSet::parse_names(names.iter().map(String::as_str)) {
            Ok(set) => {
                for s in set.iter() {
                    prop_assert!(names.iter().any(|n| n == s.as_str()));
                }
                // Round trip through the storage encoding.
                prop_assert_eq!(ScopeSet::from_csv_lenient(&set.to_csv()), set);
            }
            Err(unknown) => {
                prop_assert!(!unknown.is_empty());
                for u in &unknown {
                    prop_assert!(Scope::parse(u).is_none());
                }
                let _ = vexa_core::scope::invalid_scopes_message(&unknown);
            }
        }
        let lenient = ScopeSet::from_csv_lenient(&csv);
        prop_assert!(lenient.as_slice().len() <= 3);
        for s in lenient.iter() {
            prop_assert!(csv.contains(s.as_str()));
        }
    }

    #[test]
    fn admin_token_accepts_only_itself(token in "\\PC{1,40}", other in any::<Vec<u8>>()) {
        let t = AdminToken::new(&token);
        prop_assert!(t.verify(token.as_bytes()));
        prop_assert_eq!(t.verify(&other), other == token.as_bytes());
    }
}

/// Exhaustive, not sampled: for keys of every scope, every position × every ASCII byte and a
/// few multi-byte characters. CRC32 catches every single-symbol error and the base62 encoding of
/// the checksum is injective (62^6 > 2^32), so none may pass.
#[test]
fn checksum_rejects_every_single_char_mutation_exhaustively() {
    let mut rng = StdRng::seed_from_u64(0x5eed);
    let mut tried = 0usize;
    for sc in [Scope::Bot, Scope::Tx, Scope::Browser] {
        for _ in 0..4 {
            let k = MintedKey::generate_with(sc, &mut rng);
            let s = k.expose_secret();
            let chars: Vec<char> = s.chars().collect();
            let replacements = (0u8..=127)
                .map(char::from)
                .chain(['é', '€', '😀', '\u{feff}', '\u{200b}']);
            for c in replacements {
                for i in 0..chars.len() {
                    if chars[i] == c {
                        continue;
                    }
                    let mut m = chars.clone();
                    m[i] = c;
                    let mutated: String = m.into_iter().collect();
                    let r = ApiKey::parse(&mutated);
                    assert!(r.is_err(), "mutation accepted: {mutated:?}");
                    tried += 1;
                }
            }
            // Case flips are the most likely typo: each must be a checksum (or scope) failure.
            for i in 0..chars.len() {
                let c = chars[i];
                let flipped = if c.is_ascii_lowercase() {
                    c.to_ascii_uppercase()
                } else if c.is_ascii_uppercase() {
                    c.to_ascii_lowercase()
                } else {
                    continue;
                };
                let mut m = chars.clone();
                m[i] = flipped;
                let mutated: String = m.into_iter().collect();
                let r = ApiKey::parse(&mutated);
                assert!(
                    matches!(
                        r,
                        Err(KeyFormatError::Checksum
                            | KeyFormatError::Scope
                            | KeyFormatError::Prefix)
                    ),
                    "{mutated:?} gave {r:?}"
                );
            }
        }
    }
    assert!(tried > 50_000, "only {tried} mutations tried");
}
