//! Reading request bodies and fields with the original's 422 wording
//! (`docs/reference/vexa-meetings.md` §2.2, §2.6); never panics.

use serde_json::{Map, Value};

use crate::error::{MeetingsError, Result};

/// An empty body is `{}`; anything else must be a JSON object.
pub fn object(body: &[u8]) -> Result<Map<String, Value>> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(Map::new());
    }
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(m)) => Ok(m),
        Ok(_) => Err(MeetingsError::Validation("body must be an object".into())),
        Err(_) => Err(MeetingsError::Validation("invalid JSON body".into())),
    }
}

/// An optional string field (`null` = absent).
pub fn opt_str(m: &Map<String, Value>, key: &str) -> Result<Option<String>> {
    match m.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(MeetingsError::Validation(format!(
            "'{key}' must be a string"
        ))),
    }
}

/// A boolean given as JSON bool or as a bool-ish string.
pub fn opt_bool(m: &Map<String, Value>, key: &str) -> Result<Option<bool>> {
    let bad = || MeetingsError::Validation(format!("{key} must be a boolean"));
    match m.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Bool(b)) => Ok(Some(*b)),
        Some(Value::String(s)) => match s.trim().to_ascii_lowercase().as_str() {
            "true" | "1" | "yes" | "on" => Ok(Some(true)),
            "false" | "0" | "no" | "off" | "" => Ok(Some(false)),
            _ => Err(bad()),
        },
        Some(_) => Err(bad()),
    }
}

/// Short free-text fields (language codes, task names, bot names) stay bounded.
pub fn bounded(key: &str, v: Option<String>, max: usize) -> Result<Option<String>> {
    match v {
        Some(s) if s.chars().count() > max => Err(MeetingsError::Validation(format!(
            "'{key}' is longer than {max} characters"
        ))),
        Some(s) if s.chars().any(char::is_control) => Err(MeetingsError::Validation(format!(
            "'{key}' contains control characters"
        ))),
        other => Ok(other),
    }
}

/// Paging and filters from a query string.
pub fn int_param(
    q: &std::collections::HashMap<String, String>,
    key: &str,
    default: i64,
    min: i64,
    max: i64,
) -> Result<i64> {
    match q.get(key) {
        None => Ok(default),
        Some(v) => match v.trim().parse::<i64>() {
            Ok(n) if (min..=max).contains(&n) => Ok(n),
            _ => Err(MeetingsError::Validation(format!(
                "'{key}' must be an integer between {min} and {max}"
            ))),
        },
    }
}
