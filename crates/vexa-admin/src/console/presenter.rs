//! What the pages show that is derived, not stored: a key's status badge, the notice after a
//! redirect, and which field a service refusal is about. Display decisions only; every rule
//! (what is valid, what a mint or revoke does) stays in the admin service.

use vexa_core::usage::{HourBucket, KeyStatus};
use vexa_core::{KeyRecord, Timestamp};

use super::view::FormError;

/// A key's badge: the status the admin service reports (`list_key_views`, one rule for the API
/// and the console), or "retiring" while a rotated key's grace runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Badge {
    Status(KeyStatus),
    /// Rotated; refused from this time on.
    Retiring(Timestamp),
}

impl Badge {
    pub fn of(key: &KeyRecord, status: KeyStatus) -> Badge {
        match (status, key.retires_at) {
            // Revoked and expired are final and say more than the grace end.
            (KeyStatus::Revoked | KeyStatus::Expired, _) | (_, None) => Badge::Status(status),
            (_, Some(end)) => Badge::Retiring(end),
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Badge::Status(KeyStatus::Active) => "active",
            Badge::Status(KeyStatus::Expiring) => "expiring within 24 h",
            Badge::Status(KeyStatus::Expired) => "expired",
            Badge::Status(KeyStatus::Revoked) => "revoked",
            Badge::Status(KeyStatus::RateLimited) => "rate limited in the last hour",
            Badge::Retiring(_) => "retiring",
        }
    }

    pub fn css(self) -> &'static str {
        match self {
            Badge::Status(KeyStatus::Active) => "active",
            Badge::Status(KeyStatus::Expiring) => "expiring",
            Badge::Status(KeyStatus::Expired) => "expired",
            Badge::Status(KeyStatus::Revoked) => "revoked",
            Badge::Status(KeyStatus::RateLimited) => "limited",
            Badge::Retiring(_) => "retiring",
        }
    }

    /// Whether a rotation may be offered (a rotated, revoked or expired key cannot be rotated).
    pub fn rotatable(self) -> bool {
        matches!(
            self,
            Badge::Status(KeyStatus::Active | KeyStatus::Expiring | KeyStatus::RateLimited)
        )
    }
}

/// Requests of every outcome in one hour.
pub fn total(b: &HourBucket) -> i64 {
    b.allowed
        .saturating_add(b.scope)
        .saturating_add(b.rate_limited)
        .saturating_add(b.expired)
}

/// The usage windows the usage page offers, in hours; the first one the keys table's sparkline
/// shows is [`SPARK_HOURS`].
pub const WINDOWS: [u32; 4] = [24, 36, 72, 168];
pub const SPARK_HOURS: u32 = 36;

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
        ("grace_seconds", "grace_seconds"),
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

    fn key(retires_at: Option<Timestamp>) -> KeyRecord {
        KeyRecord {
            id: KeyId(1),
            user_id: UserId(1),
            scopes: ScopeSet::from_csv_lenient("bot"),
            name: None,
            prefix: "vxa_bot_abcd".into(),
            created_at: Timestamp(0),
            last_used_at: None,
            expires_at: None,
            limits: vexa_core::KeyLimits::NONE,
            revoked_at: None,
            last_client: None,
            retires_at,
        }
    }

    #[test]
    fn badges_follow_the_status_and_the_grace() {
        let end = Timestamp(20_000_000_000);
        assert_eq!(
            Badge::of(&key(None), KeyStatus::Active),
            Badge::Status(KeyStatus::Active)
        );
        assert_eq!(
            Badge::of(&key(Some(end)), KeyStatus::RateLimited),
            Badge::Retiring(end)
        );
        assert_eq!(
            Badge::of(&key(Some(end)), KeyStatus::Revoked),
            Badge::Status(KeyStatus::Revoked)
        );
        assert!(!Badge::Retiring(end).rotatable());
        assert!(Badge::Status(KeyStatus::Expiring).rotatable());
        assert!(!Badge::Status(KeyStatus::Expired).rotatable());
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
