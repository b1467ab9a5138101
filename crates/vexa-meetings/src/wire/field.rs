//! Field types for request bodies that keep what the client sent and check it when the service
//! reads the field. Two reasons: the 422 `detail` names the field in the original's words
//! (`'platform' must be a string`, `transcribe_enabled must be a boolean`), and the rules run in
//! the original's order — e.g. a `PATCH` of plan fields on a meeting that is no longer planned is
//! a 409 before any plan field is looked at. Deserializing a body into these never fails.
//!
//! Lenient where the official Python client (or the original) is: booleans may be bool-ish
//! strings (`"true"`, `"1"`, `"yes"`, `"on"`, `"false"`, `"0"`, `"no"`, `"off"`, `""`); `null`
//! always counts as "not given".

use serde::{Deserialize, Deserializer};
use serde_json::Value;

use crate::error::InvalidInput;

/// A string field as sent.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Text {
    /// Not in the body.
    #[default]
    Absent,
    /// `null`.
    Null,
    Given(String),
    /// Any other JSON type (refused when read).
    NotAString,
}

impl<'de> Deserialize<'de> for Text {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(match Value::deserialize(d)? {
            Value::Null => Text::Null,
            Value::String(s) => Text::Given(s),
            _ => Text::NotAString,
        })
    }
}

impl Text {
    /// The key is in the body (even as `null`).
    pub fn is_present(&self) -> bool {
        !matches!(self, Text::Absent)
    }

    /// The string, `None` when absent or `null`.
    pub fn read(self, field: &'static str) -> Result<Option<String>, InvalidInput> {
        match self {
            Text::Absent | Text::Null => Ok(None),
            Text::Given(s) => Ok(Some(s)),
            Text::NotAString => Err(InvalidInput::NotAString(field)),
        }
    }

    /// [`Text::read`], then [`bounded`].
    pub fn read_bounded(
        self,
        field: &'static str,
        max: usize,
    ) -> Result<Option<String>, InvalidInput> {
        bounded(field, self.read(field)?, max)
    }
}

/// Short free-text fields (language codes, task names, bot names) stay bounded and printable.
pub fn bounded(
    field: &'static str,
    value: Option<String>,
    max: usize,
) -> Result<Option<String>, InvalidInput> {
    match value {
        Some(s) if s.chars().count() > max => Err(InvalidInput::TooLong { field, max }),
        Some(s) if s.chars().any(char::is_control) => Err(InvalidInput::ControlCharacters(field)),
        other => Ok(other),
    }
}

/// A boolean field as sent: a JSON bool or a bool-ish string.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Flag {
    #[default]
    Absent,
    Null,
    Given(bool),
    /// Neither a bool nor a bool-ish string (refused when read).
    NotABoolean,
}

impl<'de> Deserialize<'de> for Flag {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(match Value::deserialize(d)? {
            Value::Null => Flag::Null,
            Value::Bool(b) => Flag::Given(b),
            Value::String(s) => bool_ish(&s).map_or(Flag::NotABoolean, Flag::Given),
            _ => Flag::NotABoolean,
        })
    }
}

impl Flag {
    pub fn is_present(&self) -> bool {
        !matches!(self, Flag::Absent)
    }

    /// The flag, `None` when absent or `null`. `field` is the field as the 422 names it.
    pub fn read(self, field: &'static str) -> Result<Option<bool>, InvalidInput> {
        match self {
            Flag::Absent | Flag::Null => Ok(None),
            Flag::Given(b) => Ok(Some(b)),
            Flag::NotABoolean => Err(InvalidInput::NotABoolean(field)),
        }
    }
}

/// What python clients and shell scripts send for booleans.
fn bool_ish(s: &str) -> Option<bool> {
    match s.trim().to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" | "on" => Some(true),
        "false" | "0" | "no" | "off" | "" => Some(false),
        _ => None,
    }
}

/// `deserialize_with` for a field whose `null` means something else than its absence:
/// absent stays `None` (via `#[serde(default)]`), `null` becomes `Some(Value::Null)`.
pub fn present<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Value>, D::Error> {
    Value::deserialize(d).map(Some)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Default, Deserialize)]
    struct Probe {
        #[serde(default)]
        text: Text,
        #[serde(default)]
        flag: Flag,
        #[serde(default, deserialize_with = "present")]
        raw: Option<Value>,
    }

    fn probe(json: &str) -> Probe {
        serde_json::from_str(json).unwrap_or_default()
    }

    #[test]
    fn bool_ish_strings_are_booleans_and_others_are_refused_with_the_fields_name() {
        for (sent, want) in [
            ("true", Some(true)),
            ("\"yes\"", Some(true)),
            ("\"ON\"", Some(true)),
            ("\"1\"", Some(true)),
            ("\"0\"", Some(false)),
            ("\"off\"", Some(false)),
            ("\"\"", Some(false)),
            ("false", Some(false)),
            ("null", None),
        ] {
            let p = probe(&format!(r#"{{"flag": {sent}}}"#));
            assert_eq!(p.flag.read("flag"), Ok(want), "{sent}");
        }
        for sent in ["\"maybe\"", "1", "[]"] {
            let p = probe(&format!(r#"{{"flag": {sent}}}"#));
            assert_eq!(
                p.flag.read("transcribe_enabled").map_err(|e| e.to_string()),
                Err("transcribe_enabled must be a boolean".to_owned())
            );
        }
    }

    #[test]
    fn text_fields_tell_absent_from_null_and_refuse_other_types() {
        assert!(!probe("{}").text.is_present());
        assert!(probe(r#"{"text": null}"#).text.is_present());
        assert_eq!(probe(r#"{"text": null}"#).text.read("text"), Ok(None));
        assert_eq!(
            probe(r#"{"text": 5}"#)
                .text
                .read("platform")
                .map_err(|e| e.to_string()),
            Err("'platform' must be a string".to_owned())
        );
    }

    #[test]
    fn bounds_count_characters_and_refuse_control_characters() {
        let read = |s: &str| Text::Given(s.into()).read_bounded("language", 2);
        assert_eq!(read("éé"), Ok(Some("éé".into())));
        assert_eq!(
            read("abc").map_err(|e| e.to_string()),
            Err("'language' is longer than 2 characters".to_owned())
        );
        assert_eq!(
            read("a\n").map_err(|e| e.to_string()),
            Err("'language' contains control characters".to_owned())
        );
    }

    #[test]
    fn present_keeps_an_explicit_null() {
        assert_eq!(probe("{}").raw, None);
        assert_eq!(probe(r#"{"raw": null}"#).raw, Some(Value::Null));
    }
}
