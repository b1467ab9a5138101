//! Header work of the proxy: hop-by-hop removal (RFC 9110 §7.6.1), spoof stripping, identity
//! injection and the `RateLimit-*` headers of a limiter [`Decision`]. The names of the
//! gateway→service contract come from `vexa_http::headers`, the one place both sides read them,
//! and the request-id rule from `vexa_http::request_id`; values come pre-rendered from the cache
//! entry, so injecting identity does no formatting.

use http::header::{
    Entry, HeaderMap, HeaderName, HeaderValue, CONNECTION, RETRY_AFTER, TE, TRAILER,
    TRANSFER_ENCODING, UPGRADE,
};
pub use vexa_http::headers::{X_API_KEY, X_REQUEST_ID, X_TRACE_ID, X_VEXA_IDENTITY};
use vexa_http::headers::{
    X_INTERNAL_SECRET, X_KEY_ID, X_KEY_MAX_CONCURRENT_BOTS, X_USER_EMAIL, X_USER_ID, X_USER_LIMITS,
    X_USER_SCOPES, X_USER_WEBHOOK_EVENTS, X_USER_WEBHOOK_SECRET, X_USER_WEBHOOK_URL,
    X_USER_WORKSPACES,
};

use crate::cache::ResolvedIdentity;
use crate::limit::Decision;

pub const X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");
pub const X_FORWARDED_PROTO: HeaderName = HeaderName::from_static("x-forwarded-proto");
const KEEP_ALIVE: HeaderName = HeaderName::from_static("keep-alive");
pub const HTTP: HeaderValue = HeaderValue::from_static("http");
const RATELIMIT_LIMIT: HeaderName = HeaderName::from_static("ratelimit-limit");
const RATELIMIT_REMAINING: HeaderName = HeaderName::from_static("ratelimit-remaining");
const RATELIMIT_RESET: HeaderName = HeaderName::from_static("ratelimit-reset");

/// Removes hop-by-hop headers (RFC 9110 §7.6.1): those named by `Connection`, and the fixed
/// list.
pub fn strip_hop_by_hop(headers: &mut HeaderMap) {
    strip(headers, is_hop_by_hop);
}

/// What a request loses before it goes upstream, in one pass over its header names: the key
/// itself, the hop-by-hop headers and every client-supplied authority header.
/// `keep_admin_token` only on the `/admin/*` passthrough, where the admin API checks
/// `X-Admin-API-Key` itself.
pub fn strip_for_upstream(headers: &mut HeaderMap, keep_admin_token: bool) {
    // Nearly every request carries the key: removed by name, the scan below usually finds
    // nothing and so allocates nothing.
    headers.remove(X_API_KEY);
    strip(headers, |n| {
        is_hop_by_hop(n) || is_authority_header(n.as_str(), keep_admin_token)
    });
}

/// `Proxy-*` covers `Proxy-Authorization`, `Proxy-Authenticate` and `Proxy-Connection`.
fn is_hop_by_hop(name: &HeaderName) -> bool {
    [
        CONNECTION,
        KEEP_ALIVE,
        TE,
        TRAILER,
        TRANSFER_ENCODING,
        UPGRADE,
    ]
    .contains(name)
        || name.as_str().starts_with("proxy-")
}

/// Removes the headers `doomed` picks and those the `Connection` header lists. The names are
/// scanned once, where one `remove` per candidate name would hash each of them.
fn strip(headers: &mut HeaderMap, doomed: impl Fn(&HeaderName) -> bool) {
    let listed: Vec<HeaderName> = match headers.get(CONNECTION) {
        None => Vec::new(),
        Some(_) => headers
            .get_all(CONNECTION)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .filter_map(|name| HeaderName::from_bytes(name.trim().as_bytes()).ok())
            .collect(),
    };
    // Collecting nothing does not allocate, which is the common case.
    let names: Vec<HeaderName> = headers.keys().filter(|n| doomed(n)).cloned().collect();
    for name in listed.into_iter().chain(names) {
        headers.remove(name);
    }
}

/// Whether a client may not send this header to any service behind the gateway: the authority
/// families (contract §8) whose values the services believe. Header names are lower-case in
/// `http`, so every case variant of the client's spelling is caught.
pub fn is_authority_header(name: &str, keep_admin_token: bool) -> bool {
    name.starts_with("x-user-")
        || name.starts_with("x-key-")
        || name.starts_with("x-internal-")
        || name.starts_with("x-vexa-internal-")
        || name == "x-vexa-identity"
        || name == "x-gateway-verified"
        || (name == "x-admin-api-key" && !keep_admin_token)
}

/// The key a request carries: `X-API-Key`, and on MCP rows (whose clients speak OAuth-style)
/// also `Authorization: Bearer <key>` or a bare `Authorization: <key>`, in that order, as the
/// original. `Err` when the carrier is present but not visible ASCII (malformed, not missing).
pub fn key_carrier(headers: &HeaderMap, mcp: bool) -> Result<Option<&str>, ()> {
    let present = |v: &HeaderValue| !v.is_empty();
    if let Some(v) = headers.get(X_API_KEY).filter(|v| present(v)) {
        return v.to_str().map(Some).map_err(|_| ());
    }
    if !mcp {
        return Ok(None);
    }
    let Some(v) = headers
        .get(http::header::AUTHORIZATION)
        .filter(|v| present(v))
    else {
        return Ok(None);
    };
    let v = v.to_str().map_err(|_| ())?.trim();
    let key = match v.split_once(' ') {
        Some((scheme, rest)) if scheme.eq_ignore_ascii_case("bearer") => rest.trim(),
        Some(_) => return Ok(None),
        None => v,
    };
    Ok((!key.is_empty()).then_some(key))
}

/// Sets the identity the upstream trusts, as the original's services read it: the user, email,
/// scopes, limits and key id, and when the identity source knows them the workspaces and the
/// webhook settings (the original meeting-api copies those onto each meeting at `POST /bots`).
pub fn inject_identity(headers: &mut HeaderMap, who: &ResolvedIdentity, secret: &HeaderValue) {
    headers.insert(X_USER_ID, who.h_user_id.clone());
    if !who.h_email.is_empty() {
        headers.insert(X_USER_EMAIL, who.h_email.clone());
    }
    headers.insert(X_USER_SCOPES, who.h_scopes.clone());
    headers.insert(X_USER_LIMITS, who.h_limits.clone());
    headers.insert(X_KEY_ID, who.h_key_id.clone());
    headers.insert(X_INTERNAL_SECRET, secret.clone());
    let profile = &who.principal.profile;
    if !profile.workspaces.is_empty() {
        insert_text(headers, X_USER_WORKSPACES, &profile.workspaces.join(","));
    }
    if let Some(hook) = &profile.webhook {
        insert_text(headers, X_USER_WEBHOOK_URL, &hook.url);
        if let Some(secret) = &hook.secret {
            insert_text(headers, X_USER_WEBHOOK_SECRET, secret);
        }
        if let Some(events) = &hook.events {
            insert_text(headers, X_USER_WEBHOOK_EVENTS, &events.to_string());
        }
    }
}

/// Sets what only our own meetings service reads (nothing new goes to the original Vexa): the
/// key's own bot cap, when it has one.
pub fn inject_key_limits(headers: &mut HeaderMap, who: &ResolvedIdentity) {
    if let Some(cap) = &who.h_key_bots {
        headers.insert(X_KEY_MAX_CONCURRENT_BOTS, cap.clone());
    }
}

/// A value that is not a valid header (a control character in a stored setting) is left out
/// rather than sent mangled.
fn insert_text(headers: &mut HeaderMap, name: HeaderName, value: &str) {
    if let Ok(v) = HeaderValue::from_str(value) {
        headers.insert(name, v);
    }
}

/// `peer` as an `X-Forwarded-For` entry (an IP address is always a valid header value).
pub fn peer_entry(peer: std::net::IpAddr) -> HeaderValue {
    HeaderValue::from_str(&peer.to_string()).unwrap_or_else(|_| HeaderValue::from_static(""))
}

/// Appends the peer (its [`peer_entry`]) to `X-Forwarded-For` and sets `X-Forwarded-Proto`.
pub fn add_forwarded(headers: &mut HeaderMap, peer: &HeaderValue) {
    // One lookup for the read and the write.
    match headers.entry(X_FORWARDED_FOR) {
        Entry::Vacant(e) => {
            e.insert(peer.clone());
        }
        Entry::Occupied(mut e) => {
            // A previous value that is not visible ASCII is replaced, not extended.
            let appended = match e.get().to_str().map(str::as_bytes) {
                Ok(prev) if !prev.is_empty() => {
                    let mut joined = Vec::with_capacity(prev.len() + 2 + peer.len());
                    joined.extend_from_slice(prev);
                    joined.extend_from_slice(b", ");
                    joined.extend_from_slice(peer.as_bytes());
                    HeaderValue::from_bytes(&joined).ok()
                }
                _ => Some(peer.clone()),
            };
            // `insert` replaces every earlier value, as `remove` drops them all.
            match appended {
                Some(v) => {
                    e.insert(v);
                }
                None => {
                    e.remove();
                }
            }
        }
    }
    headers.insert(X_FORWARDED_PROTO, HTTP);
}

/// `n` as a header value: `HeaderValue::from(u64)` goes through `fmt`, several times the cost
/// of `itoa` on a path taken by every admitted request.
fn int_value(n: u64) -> HeaderValue {
    let mut digits = itoa::Buffer::new();
    // Decimal digits are always a valid header value.
    HeaderValue::from_str(digits.format(n)).unwrap_or_else(|_| HeaderValue::from_static("0"))
}

impl Decision {
    /// `RateLimit-Limit`, `RateLimit-Remaining`, `RateLimit-Reset`, plus `Retry-After` when
    /// refused; nothing when there is no budget to report.
    pub fn headers(&self) -> impl Iterator<Item = (HeaderName, HeaderValue)> {
        let rows = if self.reports_budget {
            [
                Some((RATELIMIT_LIMIT, int_value(self.limit.into()))),
                Some((RATELIMIT_REMAINING, int_value(self.remaining.into()))),
                Some((RATELIMIT_RESET, int_value(self.reset_secs))),
                (!self.allowed).then(|| (RETRY_AFTER, int_value(self.retry_after_secs))),
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
    fn the_peer_extends_forwarded_for_or_replaces_a_broken_one() {
        let peer = peer_entry("10.0.0.9".parse().expect("ip"));
        let forwarded = |before: &[&[u8]]| {
            let mut h = HeaderMap::new();
            for v in before {
                h.append(X_FORWARDED_FOR, HeaderValue::from_bytes(v).expect("value"));
            }
            add_forwarded(&mut h, &peer);
            assert_eq!(h[X_FORWARDED_PROTO], "http");
            let all: Vec<_> = h.get_all(X_FORWARDED_FOR).iter().cloned().collect();
            all
        };
        assert_eq!(forwarded(&[]), ["10.0.0.9"]);
        assert_eq!(forwarded(&[b"1.2.3.4"]), ["1.2.3.4, 10.0.0.9"]);
        assert_eq!(forwarded(&[b"1.2.3.4", b"5.6.7.8"]), ["1.2.3.4, 10.0.0.9"]);
        assert_eq!(forwarded(&[b""]), ["10.0.0.9"]);
        assert_eq!(forwarded(&[b"caf\xc3\xa9"]), ["10.0.0.9"]);
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
        strip_for_upstream(&mut h, false);
        assert_eq!(h.len(), 1);
    }

    #[test]
    fn every_authority_family_is_stripped_and_the_admin_token_only_off_the_passthrough() {
        let names = [
            "x-user-webhook-secret",
            "x-key-scope",
            "x-internal-anything",
            "x-vexa-internal-token",
            "x-vexa-identity",
            "x-gateway-verified",
            "x-admin-api-key",
        ];
        for keep in [false, true] {
            let mut h = HeaderMap::new();
            for n in names {
                h.insert(HeaderName::from_static(n), HeaderValue::from_static("v"));
            }
            h.insert("x-vexa-other", HeaderValue::from_static("kept"));
            strip_for_upstream(&mut h, keep);
            assert!(h.contains_key("x-vexa-other"));
            assert_eq!(h.contains_key("x-admin-api-key"), keep);
            assert_eq!(h.len(), 1 + usize::from(keep));
        }
    }

    #[test]
    fn mcp_rows_find_the_key_in_every_carrier_in_order() {
        let with = |pairs: &[(&'static str, &'static str)]| {
            let mut h = HeaderMap::new();
            for (k, v) in pairs {
                h.insert(HeaderName::from_static(k), HeaderValue::from_static(v));
            }
            h
        };
        let h = with(&[("x-api-key", "k1"), ("authorization", "Bearer k2")]);
        assert_eq!(key_carrier(&h, true), Ok(Some("k1")));
        let h = with(&[("authorization", "bearer k2")]);
        assert_eq!(key_carrier(&h, true), Ok(Some("k2")));
        assert_eq!(key_carrier(&h, false), Ok(None));
        let h = with(&[("authorization", "k3")]);
        assert_eq!(key_carrier(&h, true), Ok(Some("k3")));
        let h = with(&[("authorization", "Basic abc")]);
        assert_eq!(key_carrier(&h, true), Ok(None));
        assert_eq!(key_carrier(&HeaderMap::new(), true), Ok(None));
    }
}
