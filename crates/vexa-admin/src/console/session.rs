//! Console sign-in sessions: in memory, bounded, keyed by the SHA-256 of the session id so the
//! map never holds a value that would open a session if it leaked (a heap dump, a debug print).
//!
//! A restart signs everyone out; that is the price of keeping no session state on disk, and an
//! operator signs in again with the admin token. Each session carries its own CSRF token (the
//! synchronizer token every console form sends back).

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};

use rand::rngs::OsRng;
use rand::RngCore;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use vexa_core::Timestamp;

/// How long a session lasts from sign-in, whatever it does (absolute, not idle).
pub const SESSION_TTL_SECS: i64 = 8 * 3600;
/// At most this many sessions are alive; signing in past it ends the one closest to expiry.
pub const MAX_SESSIONS: usize = 256;

/// A live session, as the handlers see it.
#[derive(Clone)]
pub struct Session {
    csrf: String,
    pub expires_at: Timestamp,
}

impl Session {
    /// The synchronizer token the session's forms carry.
    pub fn csrf(&self) -> &str {
        &self.csrf
    }

    /// True when `presented` is this session's CSRF token (constant time).
    pub fn csrf_matches(&self, presented: &str) -> bool {
        bool::from(self.csrf.as_bytes().ct_eq(presented.as_bytes()))
    }
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("expires_at", &self.expires_at)
            .finish_non_exhaustive()
    }
}

/// A fresh session's id (goes into the cookie, once) and the session itself.
pub struct Issued {
    pub id: String,
    pub session: Session,
}

/// Every live session of this process.
pub struct Sessions {
    by_digest: Mutex<HashMap<[u8; 32], Session>>,
    capacity: usize,
}

impl Default for Sessions {
    fn default() -> Self {
        Sessions::with_capacity(MAX_SESSIONS)
    }
}

impl Sessions {
    pub fn with_capacity(capacity: usize) -> Sessions {
        Sessions {
            by_digest: Mutex::new(HashMap::new()),
            capacity: capacity.max(1),
        }
    }

    /// Starts a session that ends [`SESSION_TTL_SECS`] after `now`.
    pub fn start(&self, now: Timestamp) -> Issued {
        let id = random_token();
        let session = Session {
            csrf: random_token(),
            expires_at: now.plus_secs(SESSION_TTL_SECS),
        };
        let mut map = self.lock();
        map.retain(|_, s| s.expires_at > now);
        while map.len() >= self.capacity {
            let Some(oldest) = map
                .iter()
                .min_by_key(|(_, s)| s.expires_at)
                .map(|(k, _)| *k)
            else {
                break;
            };
            map.remove(&oldest);
        }
        map.insert(digest(&id), session.clone());
        Issued { id, session }
    }

    /// The live session with this id; an expired one is dropped and not returned.
    pub fn find(&self, id: &str, now: Timestamp) -> Option<Session> {
        let key = digest(id);
        let mut map = self.lock();
        match map.get(&key) {
            Some(s) if s.expires_at > now => Some(s.clone()),
            Some(_) => {
                map.remove(&key);
                None
            }
            None => None,
        }
    }

    /// Ends the session with this id, if any.
    pub fn end(&self, id: &str) {
        self.lock().remove(&digest(id));
    }

    /// How many sessions are held (expired ones not yet swept included).
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<[u8; 32], Session>> {
        self.by_digest
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

/// 256 bits from the OS CSPRNG, hex.
fn random_token() -> String {
    let mut bytes = [0u8; 32];
    OsRng.fill_bytes(&mut bytes);
    hex::encode(bytes)
}

fn digest(id: &str) -> [u8; 32] {
    Sha256::digest(id.as_bytes()).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    const T0: Timestamp = Timestamp(1_795_888_800_000);

    #[test]
    fn a_session_is_found_until_it_expires() {
        let sessions = Sessions::default();
        let issued = sessions.start(T0);
        assert!(sessions.find(&issued.id, T0.plus_secs(60)).is_some());
        assert!(sessions
            .find(&issued.id, T0.plus_secs(SESSION_TTL_SECS))
            .is_none());
        assert!(sessions.is_empty(), "the expired session was dropped");
    }

    #[test]
    fn ids_and_csrf_tokens_are_random_and_distinct() {
        let sessions = Sessions::default();
        let a = sessions.start(T0);
        let b = sessions.start(T0);
        assert_ne!(a.id, b.id);
        assert_ne!(a.session.csrf(), b.session.csrf());
        assert_ne!(a.id, a.session.csrf());
        assert_eq!(a.id.len(), 64);
    }

    #[test]
    fn the_count_is_bounded_and_the_oldest_goes_first() {
        let sessions = Sessions::with_capacity(2);
        let first = sessions.start(T0);
        let second = sessions.start(T0.plus_secs(1));
        let third = sessions.start(T0.plus_secs(2));
        assert_eq!(sessions.len(), 2);
        assert!(sessions.find(&first.id, T0.plus_secs(3)).is_none());
        assert!(sessions.find(&second.id, T0.plus_secs(3)).is_some());
        assert!(sessions.find(&third.id, T0.plus_secs(3)).is_some());
    }

    #[test]
    fn an_ended_session_is_gone_and_csrf_is_checked_exactly() {
        let sessions = Sessions::default();
        let issued = sessions.start(T0);
        let csrf = issued.session.csrf().to_owned();
        assert!(issued.session.csrf_matches(&csrf));
        assert!(!issued.session.csrf_matches(&csrf[..63]));
        assert!(!issued.session.csrf_matches(""));
        sessions.end(&issued.id);
        assert!(sessions.find(&issued.id, T0).is_none());
    }
}
