//! Users: validated newtypes for what arrives from outside, and the stored shape.

use serde::Serialize;
use serde_json::{Map, Value};

use crate::error::ValidationError;
use crate::time::Timestamp;

/// Database id of a user.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, utoipa::ToSchema)]
#[serde(transparent)]
pub struct UserId(pub i64);

/// Largest accepted `max_concurrent_bots`; beyond this is a typo, not an entitlement.
pub const MAX_CONCURRENT_BOTS_LIMIT: i64 = 10_000;
pub const DEFAULT_MAX_CONCURRENT_BOTS: i64 = 3;
pub const MAX_NAME_LEN: usize = 255;
pub const MAX_URL_LEN: usize = 2048;
/// Upper bound of the serialized `data` object.
pub const MAX_DATA_BYTES: usize = 64 * 1024;

/// An email address as given (trimmed), matched case-insensitively through [`Email::normalized`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Email(String);

impl Email {
    /// A deliberately plain check: one `@`, a non-empty local part, a dotted domain, no spaces
    /// or control characters, at most 254 bytes.
    pub fn parse(raw: &str) -> Result<Email, ValidationError> {
        let s = raw.trim();
        let bad = || ValidationError::new("email", "value is not a valid email address");
        if s.is_empty() || s.len() > 254 || s.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(bad());
        }
        let (local, domain) = s.split_once('@').ok_or_else(bad)?;
        if local.is_empty() || domain.contains('@') || local.len() > 64 {
            return Err(bad());
        }
        let labels: Vec<&str> = domain.split('.').collect();
        if labels.len() < 2 || labels.iter().any(|l| l.is_empty() || l.len() > 63) {
            return Err(bad());
        }
        Ok(Email(s.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The lookup form: lower-cased.
    pub fn normalized(&self) -> String {
        self.0.to_lowercase()
    }
}

/// A user as stored and as the admin API shows it.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct User {
    pub id: UserId,
    #[schema(example = "jane@acme.com")]
    pub email: String,
    pub name: Option<String>,
    pub image_url: Option<String>,
    pub max_concurrent_bots: i64,
    #[schema(value_type = Object)]
    pub data: Map<String, Value>,
    pub created_at: Timestamp,
}

/// What creating a user needs; already validated.
#[derive(Debug, Clone)]
pub struct NewUser {
    pub email: Email,
    pub name: Option<String>,
    pub image_url: Option<String>,
    pub max_concurrent_bots: i64,
}

/// A partial update; `Some(None)` clears a nullable field. `data` is shallow-merged.
#[derive(Debug, Clone, Default)]
pub struct UserPatch {
    pub name: Option<Option<String>>,
    pub image_url: Option<Option<String>>,
    pub max_concurrent_bots: Option<i64>,
    pub data: Option<Map<String, Value>>,
}

impl UserPatch {
    pub fn is_empty(&self) -> bool {
        self.name.is_none()
            && self.image_url.is_none()
            && self.max_concurrent_bots.is_none()
            && self.data.is_none()
    }

    /// Applies the patch to a user in memory (the stores use it so both backends merge alike).
    pub fn apply_to(&self, user: &mut User) {
        if let Some(name) = &self.name {
            user.name.clone_from(name);
        }
        if let Some(url) = &self.image_url {
            user.image_url.clone_from(url);
        }
        if let Some(n) = self.max_concurrent_bots {
            user.max_concurrent_bots = n;
        }
        if let Some(data) = &self.data {
            for (k, v) in data {
                user.data.insert(k.clone(), v.clone());
            }
        }
    }
}

/// Validates an optional free-text field's length.
pub fn check_len(field: &'static str, value: &str, max: usize) -> Result<(), ValidationError> {
    if value.chars().count() > max {
        return Err(ValidationError::new(
            field,
            format!("{field} must be at most {max} characters"),
        ));
    }
    Ok(())
}

/// Validates `max_concurrent_bots`.
pub fn check_max_concurrent_bots(n: i64) -> Result<(), ValidationError> {
    if !(0..=MAX_CONCURRENT_BOTS_LIMIT).contains(&n) {
        return Err(ValidationError::new(
            "max_concurrent_bots",
            format!("max_concurrent_bots must be between 0 and {MAX_CONCURRENT_BOTS_LIMIT}"),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_plain_addresses_and_keeps_case() {
        let e = Email::parse(" Jane@Acme.com ").expect("valid");
        assert_eq!(e.as_str(), "Jane@Acme.com");
        assert_eq!(e.normalized(), "jane@acme.com");
    }

    #[test]
    fn rejects_junk() {
        for bad in [
            "",
            "jane",
            "jane@",
            "@acme.com",
            "ja ne@acme.com",
            "a@b@c.com",
            "jane@acme",
            "jane@acme..com",
        ] {
            assert!(Email::parse(bad).is_err(), "{bad}");
        }
    }
}
