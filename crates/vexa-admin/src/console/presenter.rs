//! What the pages show that is derived, not stored: a key's status badge, the notice after a
//! redirect, and which field a service refusal is about. Display decisions only; every rule
//! (what is valid, what a mint or revoke does) stays in the admin service.

use vexa_core::{KeyRecord, Timestamp};

use super::view::FormError;

/// A key within this long of its expiry is shown as expiring.
const EXPIRING_WITHIN_MS: i64 = 24 * 3600 * 1000;

/// The badge of a listed (live) key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyStatus {
    Active,
    Expiring,
    Expired,
}

impl KeyStatus {
    pub fn of(key: &KeyRecord, now: Timestamp) -> KeyStatus {
        match key.expires_at {
            Some(t) if t <= now => KeyStatus::Expired,
            Some(t) if t.as_millis() - now.as_millis() <= EXPIRING_WITHIN_MS => KeyStatus::Expiring,
            _ => KeyStatus::Active,
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            KeyStatus::Active => "active",
            KeyStatus::Expiring => "expiring within 24 h",
            KeyStatus::Expired => "expired",
        }
    }

    pub fn css(self) -> &'static str {
        match self {
            KeyStatus::Active => "active",
            KeyStatus::Expiring => "expiring",
            KeyStatus::Expired => "expired",
        }
    }
}

/// The notice a redirect asks for, by a fixed code (never text from the URL).
pub fn notice(code: Option<&str>) -> Option<&'static str> {
    match code? {
        "created" => Some("User created."),
        "saved" => Some("Changes saved."),
        "deleted" => Some("User deleted; their keys no longer work."),
        "revoked" => Some("Key revoked; every gateway refuses it within a second."),
        _ => None,
    }
}

/// Places a service refusal next to the field it names, or on the form as a whole.
pub fn form_error(detail: String, fields: &[&'static str]) -> FormError {
    // The service's wording names the field (`max_concurrent_bots must be …`, `Invalid scope(s)`,
    // `value is not a valid email address`); the longest names are tried first so `name` does
    // not claim `max_concurrent_bots`.
    const MARKERS: &[(&str, &str)] = &[
        ("max_concurrent_bots", "max_concurrent_bots"),
        ("expires_in", "expires_in"),
        ("scopes", "scope"),
        ("email", "email"),
        ("name", "name"),
    ];
    let field = MARKERS
        .iter()
        .find(|(f, marker)| fields.contains(f) && detail.contains(marker))
        .and_then(|(f, _)| fields.iter().copied().find(|x| x == f));
    FormError {
        field,
        message: detail,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use vexa_core::{KeyId, ScopeSet, UserId};

    fn key(expires_at: Option<Timestamp>) -> KeyRecord {
        KeyRecord {
            id: KeyId(1),
            user_id: UserId(1),
            scopes: ScopeSet::from_csv_lenient("bot"),
            name: None,
            prefix: "vxa_bot_abcd".into(),
            created_at: Timestamp(0),
            last_used_at: None,
            expires_at,
            limits: vexa_core::KeyLimits::NONE,
            revoked_at: None,
            last_client: None,
            retires_at: None,
        }
    }

    #[test]
    fn badges_follow_the_expiry() {
        let now = Timestamp(10_000_000_000);
        assert_eq!(KeyStatus::of(&key(None), now), KeyStatus::Active);
        assert_eq!(
            KeyStatus::of(&key(Some(now.plus_secs(90_000))), now),
            KeyStatus::Active
        );
        assert_eq!(
            KeyStatus::of(&key(Some(now.plus_secs(3600))), now),
            KeyStatus::Expiring
        );
        assert_eq!(KeyStatus::of(&key(Some(now)), now), KeyStatus::Expired);
    }

    #[test]
    fn refusals_land_on_the_field_they_name() {
        let f = &["email", "name", "max_concurrent_bots"];
        assert_eq!(
            form_error("max_concurrent_bots must be between 0 and 1000".into(), f).field,
            Some("max_concurrent_bots")
        );
        assert_eq!(
            form_error("value is not a valid email address".into(), f).field,
            Some("email")
        );
        let m = &["scopes", "name", "expires_in"];
        assert_eq!(
            form_error(
                "Invalid scope(s): ['x']. Valid: ['bot', 'browser', 'tx']".into(),
                m
            )
            .field,
            Some("scopes")
        );
        assert_eq!(form_error("something else".into(), m).field, None);
    }

    #[test]
    fn unknown_notice_codes_show_nothing() {
        assert_eq!(notice(Some("<script>")), None);
        assert_eq!(notice(Some("saved")), Some("Changes saved."));
    }
}
