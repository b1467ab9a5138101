//! Header work of the proxy: hop-by-hop removal (RFC 9110 §7.6.1), spoof stripping, identity
//! injection and the `RateLimit-*` headers of a limiter [`Decision`]. The names of the
//! gateway→service contract come from `vexa_http::headers`, the one place both sides read them,
//! and the request-id rule from `vexa_http::request_id`; values come pre-rendered from the cache
//! entry, so injecting identity does no formatting.

use http::header::{
    HeaderMap, HeaderName, HeaderValue, CONNECTION, RETRY_AFTER, TE, TRAILER, TRANSFER_ENCODING,
    UPGRADE,
};
pub use vexa_http::headers::{X_API_KEY, X_REQUEST_ID};
use vexa_http::headers::{
    X_INTERNAL_SECRET, X_KEY_ID, X_USER_EMAIL, X_USER_ID, X_USER_LIMITS, X_USER_SCOPES,
};

use crate::cache::ResolvedIdentity;
use crate::limit::Decision;

pub const X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");
pub const X_FORWARDED_PROTO: HeaderName = HeaderName::from_static("x-forwarded-proto");
const KEEP_ALIVE: HeaderName = HeaderName::from_static("keep-alive");
const PROXY_CONNECTION: HeaderName = HeaderName::from_static("proxy-connection");
pub const HTTP: HeaderValue = HeaderValue::from_static("http");
const RATELIMIT_LIMIT: HeaderName = HeaderName::from_static("ratelimit-limit");
const RATELIMIT_REMAINING: HeaderName = HeaderName::from_static("ratelimit-remaining");
const RATELIMIT_RESET: HeaderName = HeaderName::from_static("ratelimit-reset");

/// Removes hop-by-hop headers: those named by `Connection`, and the fixed list. `Proxy-*` covers
/// `Proxy-Authorization`, `Proxy-Authenticate` and `Proxy-Connection`.
pub fn strip_hop_by_hop(headers: &mut HeaderMap) {
    if headers.contains_key(CONNECTION) {
        let listed: Vec<HeaderName> = headers
            .get_all(CONNECTION)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .filter_map(|name| HeaderName::from_bytes(name.trim().as_bytes()).ok())
            .collect();
        for name in listed {
            headers.remove(name);
        }
        headers.remove(CONNECTION);
    }
    for name in [
        KEEP_ALIVE,
        TE,
        TRAILER,
        TRANSFER_ENCODING,
        UPGRADE,
        PROXY_CONNECTION,
    ] {
        headers.remove(name);
    }
    strip_prefixed(headers, |n| n.starts_with("proxy-"));
}

/// Removes every client-supplied identity header and the key itself.
pub fn strip_identity(headers: &mut HeaderMap) {
    headers.remove(X_API_KEY);
    strip_prefixed(headers, |n| {
        n.starts_with("x-user-") || n.starts_with("x-key-") || n.starts_with("x-internal-")
    });
}

fn strip_prefixed(headers: &mut HeaderMap, doomed: impl Fn(&str) -> bool) {
    // Collecting nothing does not allocate, which is the common case.
    let names: Vec<HeaderName> = headers
        .keys()
        .filter(|n| doomed(n.as_str()))
        .cloned()
        .collect();
    for name in names {
        headers.remove(name);
    }
}

/// Sets the identity the upstream trusts.
pub fn inject_identity(headers: &mut HeaderMap, who: &ResolvedIdentity, secret: &HeaderValue) {
    headers.insert(X_USER_ID, who.h_user_id.clone());
    headers.insert(X_USER_EMAIL, who.h_email.clone());
    headers.insert(X_USER_SCOPES, who.h_scopes.clone());
    headers.insert(X_USER_LIMITS, who.h_limits.clone());
    headers.insert(X_KEY_ID, who.h_key_id.clone());
    headers.insert(X_INTERNAL_SECRET, secret.clone());
}

/// Appends the peer to `X-Forwarded-For` and sets `X-Forwarded-Proto`.
pub fn add_forwarded(headers: &mut HeaderMap, peer: std::net::IpAddr) {
    let peer = peer.to_string();
    let value = match headers.get(X_FORWARDED_FOR).and_then(|v| v.to_str().ok()) {
        Some(prev) if !prev.is_empty() => HeaderValue::from_str(&format!("{prev}, {peer}")),
        _ => HeaderValue::from_str(&peer),
    };
    headers.remove(X_FORWARDED_FOR);
    if let Ok(v) = value {
        headers.insert(X_FORWARDED_FOR, v);
    }
    headers.insert(X_FORWARDED_PROTO, HTTP);
}

impl Decision {
    /// `RateLimit-Limit`, `RateLimit-Remaining`, `RateLimit-Reset`, plus `Retry-After` when
    /// refused; nothing when there is no budget to report.
    pub fn headers(&self) -> impl Iterator<Item = (HeaderName, HeaderValue)> {
        let rows = if self.reports_budget {
            [
                Some((RATELIMIT_LIMIT, HeaderValue::from(self.limit))),
                Some((RATELIMIT_REMAINING, HeaderValue::from(self.remaining))),
                Some((RATELIMIT_RESET, HeaderValue::from(self.reset_secs))),
                (!self.allowed).then(|| (RETRY_AFTER, HeaderValue::from(self.retry_after_secs))),
            ]
        } else {
            [None, None, None, None]
        };
        rows.into_iter().flatten()
    }

    /// Writes [`Decision::headers`] into a response's headers.
    pub fn apply(&self, headers: &mut HeaderMap) {
        for (name, value) in self.headers() {
            headers.insert(name, value);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hop_by_hop_and_connection_listed_headers_are_removed() {
        let mut h = HeaderMap::new();
        h.insert(CONNECTION, HeaderValue::from_static("keep-alive, X-Foo"));
        h.insert("x-foo", HeaderValue::from_static("1"));
        h.insert("keep-alive", HeaderValue::from_static("timeout=5"));
        h.insert("proxy-authorization", HeaderValue::from_static("x"));
        h.insert("x-keep", HeaderValue::from_static("1"));
        strip_hop_by_hop(&mut h);
        assert_eq!(h.len(), 1);
        assert!(h.contains_key("x-keep"));
    }

    #[test]
    fn identity_headers_of_any_suffix_are_stripped() {
        let mut h = HeaderMap::new();
        for n in [
            "x-user-id",
            "x-user-anything",
            "x-key-id",
            "x-internal-secret",
            "x-api-key",
            "x-other",
        ] {
            h.insert(HeaderName::from_static(n), HeaderValue::from_static("v"));
        }
        strip_identity(&mut h);
        assert_eq!(h.len(), 1);
    }
}
