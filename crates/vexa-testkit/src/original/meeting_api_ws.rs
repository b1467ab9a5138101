//! placeholder
pub struct OriginalMeetingApiWsDouble;
