//! The JSON shapes of the meetings service, and nothing else: request bodies and queries
//! (`*Request`, `*Query`, read with [`field`]'s lenient types and turned into validated values
//! by the services), response views (`*View`, `*Receipt`), the bot protocol (`bot_config`:
//! what a bot is started with and told on stdin; `bot_callbacks`: what it reports back) and the
//! live frames of `/ws` and webhooks (`live`).
//!
//! - `bots` — `POST /bots`, `PUT /bots/{p}/{n}/config` and their answers;
//! - `meetings` — listing queries, plans, metadata, meeting views and list shapes;
//! - `transcripts` — transcript and segment views.

pub mod bot_callbacks;
pub mod bot_config;
pub mod bots;
pub mod field;
pub mod live;
pub mod meetings;
pub mod transcripts;

use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;

use crate::error::InvalidInput;

/// A validated value read from a request body of shape [`FromWire::Wire`]: what a service
/// takes when none of its rules needs stored state to run first.
pub trait FromWire: Sized {
    type Wire: DeserializeOwned;
    /// Checks every field, in the original's order and words.
    fn from_wire(wire: Self::Wire) -> Result<Self, InvalidInput>;
}

/// Every error answer: `{"detail": "…"}`.
#[derive(Debug, Serialize)]
pub struct DetailView {
    pub detail: String,
}

/// `GET /health`.
#[derive(Debug, Serialize)]
pub struct HealthView {
    pub status: &'static str,
    pub service: &'static str,
}

impl HealthView {
    pub const OK: HealthView = HealthView {
        status: "ok",
        service: "meetings",
    };
}

/// Parses a request body into `T` in the original's words: an empty (or blank) body is `{}`,
/// anything else must be a JSON object. `T`'s fields are [`field`] types, so once the body is
/// an object, deserializing it cannot fail on a field.
pub fn parse_object<T: DeserializeOwned>(body: &[u8]) -> Result<T, InvalidInput> {
    let object = if body.iter().all(u8::is_ascii_whitespace) {
        Value::Object(serde_json::Map::new())
    } else {
        match serde_json::from_slice::<Value>(body) {
            Ok(v @ Value::Object(_)) => v,
            Ok(_) => return Err(InvalidInput::NotAnObject),
            Err(_) => return Err(InvalidInput::NotJson),
        }
    };
    serde_json::from_value(object).map_err(|_| InvalidInput::NotAnObject)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::bots::BotRequest;

    #[test]
    fn bodies_must_be_json_objects_and_blank_is_empty() {
        let parse = |b: &str| parse_object::<BotRequest>(b.as_bytes()).map(|_| ());
        assert_eq!(parse("[1]"), Err(InvalidInput::NotAnObject));
        assert_eq!(parse("{"), Err(InvalidInput::NotJson));
        assert_eq!(parse("  \n"), Ok(()));
        assert_eq!(parse(r#"{"platform": 5, "unknown": [1]}"#), Ok(()));
    }
}
