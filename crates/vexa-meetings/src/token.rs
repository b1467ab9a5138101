//! Per-meeting bot tokens: `v1.<meeting_id>.<expiry ms>.<hex HMAC-SHA256>` over the prefix,
//! keyed with a per-process secret. A token names one meeting and stops working at expiry.

use hmac::{Hmac, Mac};
use sha2::Sha256;
use vexa_core::meeting::MeetingId;
use vexa_core::Timestamp;

type HmacSha256 = Hmac<Sha256>;

#[derive(Clone)]
pub struct TokenKey([u8; 32]);

impl std::fmt::Debug for TokenKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TokenKey(..)")
    }
}

impl TokenKey {
    pub fn new(key: [u8; 32]) -> Self {
        TokenKey(key)
    }

    /// HMAC takes keys of any length, so this is always `Some`.
    fn mac(&self) -> Option<HmacSha256> {
        HmacSha256::new_from_slice(&self.0).ok()
    }

    pub fn mint(&self, meeting: MeetingId, expires: Timestamp) -> String {
        let body = format!("v1.{}.{}", meeting.0, expires.0);
        let sig = self.mac().map(|mut mac| {
            mac.update(body.as_bytes());
            hex::encode(mac.finalize().into_bytes())
        });
        format!("{body}.{}", sig.unwrap_or_default())
    }

    /// The meeting a valid, unexpired token names.
    pub fn verify(&self, token: &str, now: Timestamp) -> Option<MeetingId> {
        let (body, sig) = token.rsplit_once('.')?;
        let mut parts = body.split('.');
        if parts.next()? != "v1" {
            return None;
        }
        let id = parts.next()?.parse::<i64>().ok()?;
        let exp = parts.next()?.parse::<i64>().ok()?;
        if parts.next().is_some() {
            return None;
        }
        let sig = hex::decode(sig).ok()?;
        let mut mac = self.mac()?;
        mac.update(body.as_bytes());
        mac.verify_slice(&sig).ok()?;
        (now.0 < exp).then_some(MeetingId(id))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_names_its_meeting_until_it_expires() {
        let k = TokenKey::new([7; 32]);
        let t = k.mint(MeetingId(42), Timestamp(1000));
        assert_eq!(k.verify(&t, Timestamp(999)), Some(MeetingId(42)));
        assert_eq!(k.verify(&t, Timestamp(1000)), None);
    }

    #[test]
    fn forged_or_foreign_tokens_are_refused() {
        let k = TokenKey::new([7; 32]);
        let t = k.mint(MeetingId(42), Timestamp(1000));
        assert_eq!(TokenKey::new([8; 32]).verify(&t, Timestamp(0)), None);
        assert_eq!(k.verify(&t.replace("v1.42.", "v1.43."), Timestamp(0)), None);
        assert_eq!(k.verify("garbage", Timestamp(0)), None);
    }
}
