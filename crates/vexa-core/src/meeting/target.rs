//! Where a bot goes: the rules that turn a request's `platform`, `native_meeting_id` and
//! `meeting_url` (any of them may be missing) into one platform, one bare id and a link the bot
//! can open, with the original's 422 wording.

use super::platform::{parse_meeting_url, validate_native_id, ParsedUrl, Platform};
use crate::error::ValidationError;

/// A bot's destination, decided.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BotTarget {
    pub platform: Platform,
    /// The bare native meeting id (validated).
    pub native_id: String,
    /// The link as the caller gave it, when they did.
    pub meeting_url: Option<String>,
    /// A passcode carried in the link (zoom `pwd=`, teams `p=`).
    pub link_passcode: Option<String>,
}

/// Why a destination cannot be decided. `Display` is the detail shown to the caller.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TargetError {
    /// A rule of the platform, the link or the id (their own wording).
    #[error(transparent)]
    Rule(#[from] ValidationError),
    #[error("platform '{}' disagrees with meeting_url (which is a '{}' link) — drop one or make them agree", .given.as_str(), .link.as_str())]
    PlatformMismatch { given: Platform, link: Platform },
    #[error("'native_meeting_id' is required: it could not be derived from meeting_url '{0}' (unrecognized meeting link)")]
    Underivable(String),
    #[error("'platform' and 'native_meeting_id' (or 'meeting_url') are required")]
    Missing,
    #[error("unsupported platform '{}' without a meeting_url — use google_meet/teams, or provide meeting_url (required for zoom/jitsi)", .0.as_str())]
    NeedsMeetingUrl(Platform),
}

impl BotTarget {
    /// Decides the destination. Empty strings count as absent; a link, when given, must be
    /// safe ([`parse_meeting_url`]) and agree with an explicit platform.
    pub fn resolve(
        platform: Option<&str>,
        native_id: Option<String>,
        meeting_url: Option<String>,
    ) -> Result<BotTarget, TargetError> {
        let native_id = native_id.filter(|s| !s.is_empty());
        let meeting_url = meeting_url.filter(|s| !s.is_empty());
        let link = meeting_url.as_deref().map(parse_meeting_url).transpose()?;
        // What to say when neither the request nor the link names the meeting.
        let missing = || match &meeting_url {
            Some(url) => TargetError::Underivable(url.clone()),
            None => TargetError::Missing,
        };
        let link_platform = link.as_ref().and_then(|l| l.platform);
        let platform = match (platform, link_platform) {
            (Some(given), link_platform) => {
                let given = Platform::parse_spawnable(given)?;
                match link_platform {
                    Some(link) if link != given => {
                        return Err(TargetError::PlatformMismatch { given, link })
                    }
                    _ => given,
                }
            }
            (None, Some(link)) => link,
            (None, None) if native_id.is_some() => return Err(TargetError::Missing),
            (None, None) => return Err(missing()),
        };
        let ParsedUrl {
            native_id: link_id,
            passcode: link_passcode,
            ..
        } = link.unwrap_or(ParsedUrl {
            platform: None,
            native_id: None,
            passcode: None,
        });
        let native_id = native_id.or(link_id).ok_or_else(missing)?;
        validate_native_id(&native_id)?;
        if meeting_url.is_none() && platform.construct_url(&native_id).is_none() {
            return Err(TargetError::NeedsMeetingUrl(platform));
        }
        Ok(BotTarget {
            platform,
            native_id,
            meeting_url,
            link_passcode,
        })
    }

    /// The link the bot opens: the caller's, else the platform's link for the id.
    pub fn url(&self) -> Option<String> {
        self.meeting_url
            .clone()
            .or_else(|| self.platform.construct_url(&self.native_id))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn detail(platform: Option<&str>, native: Option<&str>, url: Option<&str>) -> String {
        match BotTarget::resolve(platform, native.map(Into::into), url.map(Into::into)) {
            Ok(t) => format!("ok {t:?}"),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn a_link_alone_names_platform_id_and_passcode() {
        let t = BotTarget::resolve(None, None, Some("https://zoom.us/j/123?pwd=pw".into()));
        let t = t.ok();
        assert_eq!(t.as_ref().map(|t| t.platform), Some(Platform::Zoom));
        assert_eq!(t.as_ref().map(|t| t.native_id.as_str()), Some("123"));
        assert_eq!(t.and_then(|t| t.link_passcode).as_deref(), Some("pw"));
    }

    #[test]
    fn refusals_use_the_originals_words() {
        assert!(detail(Some("skype"), Some("x"), None).contains("cannot be spawned"));
        assert!(detail(Some("zoom"), Some("123"), None).contains("required for zoom/jitsi"));
        assert!(detail(Some("google_meet"), Some("a/b"), None).contains("bare meeting id"));
        assert!(
            detail(Some("teams"), None, Some("https://meet.google.com/abc")).contains("disagrees")
        );
        assert!(detail(None, None, Some("https://example.com/x")).contains("could not be derived"));
        assert!(detail(Some("zoom"), None, Some("https://example.com/x"))
            .contains("could not be derived"));
        assert_eq!(
            detail(None, Some("x"), None),
            "'platform' and 'native_meeting_id' (or 'meeting_url') are required"
        );
        assert_eq!(
            detail(None, Some(""), Some("")),
            "'platform' and 'native_meeting_id' (or 'meeting_url') are required"
        );
    }

    #[test]
    fn an_explicit_id_wins_over_the_links() {
        let t = BotTarget::resolve(
            Some("google_meet"),
            Some("own-id".into()),
            Some("https://meet.google.com/abc-defg-hij".into()),
        );
        assert_eq!(t.map(|t| t.native_id).ok().as_deref(), Some("own-id"));
    }
}
