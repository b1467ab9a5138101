//! Specification of client address resolution: `X-Forwarded-For` only through trusted proxies,
//! walked from the right, anything malformed falls back to the TCP peer.

use std::net::{IpAddr, SocketAddr};

use http::{HeaderMap, HeaderValue};
use proptest::prelude::*;
use vexa_gateway::limit::{client_ip, client_ip_from_headers, LimitError, TrustedProxies};

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap_or_else(|e| panic!("{s}: {e}"))
}

fn peer(s: &str) -> SocketAddr {
    SocketAddr::new(ip(s), 40_000)
}

fn trusted(csv: &str) -> TrustedProxies {
    TrustedProxies::parse(csv).unwrap_or_else(|e| panic!("{csv}: {e}"))
}

fn xff(s: &str) -> HeaderValue {
    HeaderValue::from_str(s).unwrap_or_else(|e| panic!("{s}: {e}"))
}

#[test]
fn forwarded_for_from_an_untrusted_peer_is_ignored() {
    let t = trusted("10.0.0.0/8");
    let got = client_ip(peer("203.0.113.9"), Some(&xff("1.2.3.4")), &t);
    assert_eq!(got, ip("203.0.113.9"));
    let nobody = TrustedProxies::none();
    assert_eq!(
        client_ip(peer("10.0.0.1"), Some(&xff("1.2.3.4")), &nobody),
        ip("10.0.0.1")
    );
}

#[test]
fn a_trusted_peer_vouches_for_the_rightmost_address() {
    let t = trusted("10.0.0.0/8");
    let got = client_ip(peer("10.0.0.1"), Some(&xff("1.2.3.4")), &t);
    assert_eq!(got, ip("1.2.3.4"));
}

#[test]
fn trusted_hops_are_skipped_and_spoofed_left_entries_ignored() {
    let t = trusted("10.0.0.0/8, 192.168.0.7");
    let header = xff("6.6.6.6, 198.51.100.2 ,192.168.0.7, 10.9.9.9");
    assert_eq!(
        client_ip(peer("10.0.0.1"), Some(&header), &t),
        ip("198.51.100.2")
    );
}

#[test]
fn when_every_hop_is_trusted_the_farthest_one_is_the_client() {
    let t = trusted("10.0.0.0/8");
    let got = client_ip(peer("10.0.0.1"), Some(&xff("10.1.1.1, 10.2.2.2")), &t);
    assert_eq!(got, ip("10.1.1.1"));
}

#[test]
fn a_missing_empty_or_malformed_header_falls_back_to_the_peer() {
    let t = trusted("10.0.0.0/8");
    let p = peer("10.0.0.1");
    for bad in [
        "",
        " ",
        "garbage",
        "1.2.3.4, ",
        "1.2.3.4,,",
        "1.2.3.4:8080",
        "unknown",
        "1.2.3.4, 10.0.0.300",
    ] {
        assert_eq!(client_ip(p, Some(&xff(bad)), &t), ip("10.0.0.1"), "{bad:?}");
    }
    assert_eq!(client_ip(p, None, &t), ip("10.0.0.1"));
}

#[test]
fn a_non_utf8_header_falls_back_to_the_peer() {
    let t = trusted("10.0.0.0/8");
    let header = HeaderValue::from_bytes(b"1.2.3.4\xff").unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        client_ip(peer("10.0.0.1"), Some(&header), &t),
        ip("10.0.0.1")
    );
}

#[test]
fn ipv6_proxies_and_clients_work_and_mapped_ipv4_is_reported_as_ipv4() {
    let t = trusted("fd00::/8, 10.0.0.0/8");
    let got = client_ip(peer("fd12::1"), Some(&xff("2001:db8::5")), &t);
    assert_eq!(got, ip("2001:db8::5"));
    // A dual-stack listener sees IPv4 peers as ::ffff:a.b.c.d.
    let got = client_ip(peer("::ffff:10.0.0.1"), Some(&xff("::ffff:1.2.3.4")), &t);
    assert_eq!(got, ip("1.2.3.4"));
    assert_eq!(client_ip(peer("::ffff:8.8.8.8"), None, &t), ip("8.8.8.8"));
}

#[test]
fn every_forwarded_for_line_is_read_last_line_nearest() {
    let t = trusted("10.0.0.0/8");
    let mut headers = HeaderMap::new();
    headers.append("x-forwarded-for", xff("6.6.6.6, 1.2.3.4"));
    headers.append("x-forwarded-for", xff("10.3.3.3"));
    assert_eq!(
        client_ip_from_headers(peer("10.0.0.1"), &headers, &t),
        ip("1.2.3.4")
    );
    assert_eq!(
        client_ip_from_headers(peer("10.0.0.1"), &HeaderMap::new(), &t),
        ip("10.0.0.1")
    );
    assert_eq!(
        client_ip_from_headers(peer("8.8.8.8"), &headers, &t),
        ip("8.8.8.8")
    );
}

#[test]
fn trusted_proxies_parse_cidrs_and_single_addresses_of_both_families() {
    let t = trusted(" 10.0.0.0/8 ,172.16.5.4, 2001:db8::/32 ,::1,");
    assert!(t.contains(ip("10.255.1.1")));
    assert!(!t.contains(ip("11.0.0.1")));
    assert!(t.contains(ip("172.16.5.4")));
    assert!(!t.contains(ip("172.16.5.5")));
    assert!(t.contains(ip("2001:db8:ffff::1")));
    assert!(!t.contains(ip("2001:db9::1")));
    assert!(t.contains(ip("::1")));
    assert!(t.contains(ip("::ffff:10.1.2.3")));
    assert!(trusted("").is_empty());
}

#[test]
fn an_invalid_trusted_proxy_entry_is_named_in_the_error() {
    for bad in [
        "10.0.0.0/33",
        "fe80::/129",
        "nope",
        "10.0.0.0/",
        "1.2.3.4/8/8",
        "10.0.0.0/ab",
    ] {
        match TrustedProxies::parse(&format!("10.0.0.0/8,{bad}")) {
            Err(LimitError::InvalidTrustedProxy { entry }) => assert_eq!(entry, bad),
            other => panic!("{bad:?} gave {other:?}"),
        }
    }
}

proptest! {
    /// Whatever the header holds, resolution never panics, ignores it for untrusted peers, and
    /// otherwise returns the peer or an address written in the header.
    #[test]
    fn any_header_bytes_resolve_to_the_peer_or_an_address_in_the_header(
        bytes in proptest::collection::vec(any::<u8>(), 0..80),
        entries in proptest::collection::vec("(10\\.0\\.0\\.[0-9]{1,3}|[0-9]{1,3}\\.[0-9]{1,3}\\.[0-9]{1,3}\\.[0-9]{1,3}|fd00::[0-9a-f]{1,4}|x)", 0..6),
        trusted_peer in any::<bool>(),
    ) {
        let t = trusted("10.0.0.0/8, fd00::/8");
        let p = if trusted_peer { peer("10.0.0.1") } else { peer("203.0.113.1") };
        if let Ok(value) = HeaderValue::from_bytes(&bytes) {
            let got = client_ip(p, Some(&value), &t);
            if !trusted_peer {
                prop_assert_eq!(got, p.ip());
            }
        }
        let joined = entries.join(", ");
        if let Ok(value) = HeaderValue::from_str(&joined) {
            let got = client_ip(p, Some(&value), &t);
            let listed = entries.iter().any(|e| e.parse::<IpAddr>().ok() == Some(got));
            prop_assert!(got == p.ip() || (trusted_peer && listed));
        }
    }
}
