//! Meeting platforms, native meeting id rules and meeting URL parsing (the original's rules:
//! `docs/reference/vexa-meetings.md` §2.2).

use serde::{Deserialize, Serialize};

use crate::error::ValidationError;

/// Where a meeting happens. Serialized as the stored and wire name (`google_meet`, …).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Platform {
    GoogleMeet,
    Teams,
    Zoom,
    Jitsi,
    /// A planned meeting without a link.
    Unknown,
}

pub const MAX_NATIVE_ID_LEN: usize = 255;

impl Platform {
    pub fn as_str(self) -> &'static str {
        match self {
            Platform::GoogleMeet => "google_meet",
            Platform::Teams => "teams",
            Platform::Zoom => "zoom",
            Platform::Jitsi => "jitsi",
            Platform::Unknown => "unknown",
        }
    }

    /// Any stored platform value.
    pub fn parse(s: &str) -> Option<Platform> {
        [
            Platform::GoogleMeet,
            Platform::Teams,
            Platform::Zoom,
            Platform::Jitsi,
            Platform::Unknown,
        ]
        .into_iter()
        .find(|p| p.as_str() == s)
    }

    /// A platform a bot can be sent to.
    pub fn parse_spawnable(s: &str) -> Result<Platform, ValidationError> {
        match Platform::parse(s) {
            Some(p) if p != Platform::Unknown => Ok(p),
            _ => Err(ValidationError::new(
                "platform",
                format!("platform '{s}' cannot be spawned as a meeting bot — supported: google_meet, jitsi, teams, zoom"),
            )),
        }
    }

    /// The URL a bot opens when only the native id is known; zoom and jitsi need `meeting_url`.
    pub fn construct_url(self, native: &str) -> Option<String> {
        match self {
            Platform::GoogleMeet => Some(format!("https://meet.google.com/{native}")),
            Platform::Teams => Some(format!(
                "https://teams.microsoft.com/l/meetup-join/{native}"
            )),
            Platform::Zoom | Platform::Jitsi | Platform::Unknown => None,
        }
    }
}

/// Checks a bare native meeting id.
pub fn validate_native_id(id: &str) -> Result<(), ValidationError> {
    let n = id.chars().count();
    if n > MAX_NATIVE_ID_LEN {
        return Err(ValidationError::new(
            "native_meeting_id",
            format!("'native_meeting_id' is {n} characters; the maximum is {MAX_NATIVE_ID_LEN}"),
        ));
    }
    if id.is_empty() {
        return Err(ValidationError::new(
            "native_meeting_id",
            "'platform' and 'native_meeting_id' (or 'meeting_url') are required",
        ));
    }
    if id.chars().any(|c| (c as u32) < 0x20 || c as u32 == 0x7f) {
        return Err(ValidationError::new(
            "native_meeting_id",
            "'native_meeting_id' contains control characters",
        ));
    }
    if id
        .chars()
        .any(|c| matches!(c, '?' | '#' | '&' | '=' | '/') || c.is_whitespace())
    {
        return Err(ValidationError::new(
            "native_meeting_id",
            "'native_meeting_id' must be the bare meeting id and cannot contain URL characters ('?', '#', '&', '=', '/') or spaces — pass any passcode in 'passcode' or supply the full 'meeting_url' instead",
        ));
    }
    Ok(())
}

/// A meeting link taken apart.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParsedUrl {
    pub platform: Option<Platform>,
    pub native_id: Option<String>,
    pub passcode: Option<String>,
}

/// Parses and vets a `meeting_url`: https only, a real hostname, no localhost, no IP literal.
/// The platform and native id are derived where the link is recognized.
pub fn parse_meeting_url(url: &str) -> Result<ParsedUrl, ValidationError> {
    let rest = url.strip_prefix("https://").ok_or_else(|| {
        url_error("meeting_url must use https:// — the bot only joins TLS deployments")
    })?;
    let (authority, path_query) = match rest.find(['/', '?', '#']) {
        Some(i) => rest.split_at(i),
        None => (rest, ""),
    };
    let host = vetted_host(authority)?;
    let (path, query) = match path_query.split_once('?') {
        Some((p, q)) => (p, q.split('#').next().unwrap_or("")),
        None => (path_query.split('#').next().unwrap_or(""), ""),
    };
    let segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    let mut out = recognize(&host, &segments, query);
    if out
        .native_id
        .as_deref()
        .is_some_and(|id| validate_native_id(id).is_err())
    {
        out.native_id = None;
    }
    Ok(out)
}

fn url_error(detail: &str) -> ValidationError {
    ValidationError::new("meeting_url", detail)
}

/// The lowercased hostname of a link's authority (`user@host:port`), refused when it is not a
/// public DNS name.
fn vetted_host(authority: &str) -> Result<String, ValidationError> {
    const IP_LITERAL: &str = "meeting_url cannot be an IP literal — use the deployment's hostname";
    let host_port = authority.rsplit('@').next().unwrap_or(authority);
    if host_port.starts_with('[') {
        return Err(url_error(IP_LITERAL));
    }
    let host = host_port
        .split(':')
        .next()
        .unwrap_or("")
        .to_ascii_lowercase();
    let host = host.trim_end_matches('.');
    if host.is_empty()
        || !host
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.')
        || host.split('.').any(str::is_empty)
    {
        return Err(url_error("meeting_url must have a valid hostname"));
    }
    if host == "localhost" || host.ends_with(".localhost") {
        return Err(url_error("meeting_url cannot target localhost"));
    }
    if host.parse::<std::net::Ipv4Addr>().is_ok()
        || host.chars().all(|c| c.is_ascii_digit() || c == '.')
    {
        return Err(url_error(IP_LITERAL));
    }
    Ok(host.to_owned())
}

/// The platform, native id and passcode a link carries, by each platform's link shapes.
fn recognize(host: &str, segments: &[&str], query: &str) -> ParsedUrl {
    let query_param = |name: &str| {
        query
            .split('&')
            .filter_map(|kv| kv.split_once('='))
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.to_owned())
            .filter(|v| !v.is_empty())
    };
    let first = || segments.first().map(|s| (*s).to_owned());
    let parsed = |platform, native_id, passcode| ParsedUrl {
        platform: Some(platform),
        native_id,
        passcode,
    };
    if host == "meet.google.com" {
        parsed(Platform::GoogleMeet, first(), None)
    } else if host == "zoom.us" || host.ends_with(".zoom.us") {
        let id = match segments {
            ["j" | "s" | "w", id, ..] => Some((*id).to_owned()),
            ["wc", "join", id, ..] | ["wc", id, "join", ..] => Some((*id).to_owned()),
            _ => None,
        };
        parsed(Platform::Zoom, id, query_param("pwd"))
    } else if host == "teams.microsoft.com"
        || host == "teams.live.com"
        || host.ends_with(".teams.microsoft.com")
    {
        let id = match segments {
            ["l", "meetup-join", id, ..] => Some((*id).to_owned()),
            ["meet", id, ..] => Some((*id).to_owned()),
            _ => None,
        };
        parsed(Platform::Teams, id, query_param("p"))
    } else if host == "meet.jit.si" || host.starts_with("jitsi.") || host.contains(".jitsi.") {
        parsed(Platform::Jitsi, first(), None)
    } else {
        ParsedUrl {
            platform: None,
            native_id: None,
            passcode: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn google_meet_link_yields_platform_and_id() {
        let p = parse_meeting_url("https://meet.google.com/abc-defg-hij?authuser=0").ok();
        assert_eq!(
            p.as_ref().and_then(|p| p.platform),
            Some(Platform::GoogleMeet)
        );
        assert_eq!(p.and_then(|p| p.native_id).as_deref(), Some("abc-defg-hij"));
    }

    #[test]
    fn zoom_link_carries_passcode() {
        let p = parse_meeting_url("https://us05web.zoom.us/j/123456789?pwd=secret").ok();
        assert_eq!(
            p.as_ref().and_then(|p| p.native_id.clone()).as_deref(),
            Some("123456789")
        );
        assert_eq!(p.and_then(|p| p.passcode).as_deref(), Some("secret"));
    }

    #[test]
    fn unsafe_links_are_rejected_with_the_originals_words() {
        for (url, want) in [
            ("http://meet.google.com/x", "https://"),
            ("https://localhost/x", "localhost"),
            ("https://127.0.0.1/x", "IP literal"),
            ("https://[::1]/x", "IP literal"),
            ("https:///x", "valid hostname"),
        ] {
            let e = parse_meeting_url(url)
                .err()
                .map(|e| e.detail)
                .unwrap_or_default();
            assert!(e.contains(want), "{url}: {e}");
        }
    }

    #[test]
    fn native_ids_reject_url_characters_and_control_characters() {
        assert!(validate_native_id("abc-defg-hij").is_ok());
        assert!(validate_native_id("a/b").is_err());
        assert!(validate_native_id("a b").is_err());
        assert!(validate_native_id("a\u{1}").is_err());
        assert!(validate_native_id(&"x".repeat(256)).is_err());
    }
}
