//! Which address a request comes from, for the edge guard: the TCP peer, unless the peer is a
//! trusted proxy (`GUARD_TRUSTED_PROXIES`), in which case `X-Forwarded-For` is walked from the
//! right past trusted hops to the first address nobody we trust vouches against.
//!
//! Anything malformed falls back to the peer: a client can always make itself *less* anonymous,
//! never pick someone else's address. IPv4-mapped IPv6 addresses are reported as IPv4.

use std::net::{IpAddr, SocketAddr};

use http::header::HeaderMap;
#[cfg(any(test, feature = "testing"))]
use http::header::HeaderValue;

use super::LimitError;

/// A set of proxy networks (CIDRs or single addresses, IPv4 and IPv6).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrustedProxies {
    nets: Vec<Net>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Net {
    V4 { addr: u32, mask: u32 },
    V6 { addr: u128, mask: u128 },
}

impl TrustedProxies {
    /// Trusts nobody: `X-Forwarded-For` is ignored.
    pub fn none() -> Self {
        Self::default()
    }

    /// Parses a comma-separated list such as `10.0.0.0/8, 192.168.1.7, fd00::/8`. Blank entries
    /// are skipped; host bits below the prefix are ignored.
    pub fn parse(csv: &str) -> Result<Self, LimitError> {
        let nets = csv
            .split(',')
            .map(str::trim)
            .filter(|entry| !entry.is_empty())
            .map(|entry| {
                parse_net(entry).ok_or_else(|| LimitError::InvalidTrustedProxy {
                    entry: entry.chars().take(64).collect(),
                })
            })
            .collect::<Result<_, _>>()?;
        Ok(TrustedProxies { nets })
    }

    pub fn is_empty(&self) -> bool {
        self.nets.is_empty()
    }

    pub fn contains(&self, ip: IpAddr) -> bool {
        match canonical(ip) {
            IpAddr::V4(v4) => {
                let ip = u32::from(v4);
                self.nets
                    .iter()
                    .any(|net| matches!(*net, Net::V4 { addr, mask } if ip & mask == addr))
            }
            IpAddr::V6(v6) => {
                let ip = u128::from(v6);
                self.nets
                    .iter()
                    .any(|net| matches!(*net, Net::V6 { addr, mask } if ip & mask == addr))
            }
        }
    }
}

fn parse_net(entry: &str) -> Option<Net> {
    let (addr, prefix) = match entry.split_once('/') {
        Some((addr, prefix)) => (addr.trim(), Some(prefix.trim().parse::<u8>().ok()?)),
        None => (entry, None),
    };
    match canonical(addr.parse::<IpAddr>().ok()?) {
        IpAddr::V4(v4) => {
            let bits = prefix.unwrap_or(32);
            let mask = u32::MAX
                .checked_shl(32 - u32::from(bits.min(32)))
                .unwrap_or(0);
            (bits <= 32).then_some(Net::V4 {
                addr: u32::from(v4) & mask,
                mask,
            })
        }
        IpAddr::V6(v6) => {
            let bits = prefix.unwrap_or(128);
            let mask = u128::MAX
                .checked_shl(128 - u32::from(bits.min(128)))
                .unwrap_or(0);
            (bits <= 128).then_some(Net::V6 {
                addr: u128::from(v6) & mask,
                mask,
            })
        }
    }
}

fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        IpAddr::V4(_) => ip,
    }
}

/// The client address of a request from `peer` with these headers: the peer itself, unless it
/// is a trusted proxy; then every `X-Forwarded-For` line is read (a proxy may add its own line
/// rather than append to the last one; lines are read in order, entries right to left).
pub fn client_ip_from_headers(
    peer: SocketAddr,
    headers: &HeaderMap,
    trusted: &TrustedProxies,
) -> IpAddr {
    let peer_ip = canonical(peer.ip());
    if !trusted.contains(peer_ip) {
        return peer_ip;
    }
    let mut lines = Vec::new();
    for value in headers.get_all("x-forwarded-for") {
        match value.to_str() {
            Ok(line) => lines.push(line),
            Err(_) => return peer_ip,
        }
    }
    if lines.is_empty() {
        return peer_ip;
    }
    let entries = lines
        .into_iter()
        .rev()
        .flat_map(|line| line.split(',').rev());
    from_forwarded_list(entries, trusted).unwrap_or(peer_ip)
}

/// [`client_ip_from_headers`] for a request carrying at most one `X-Forwarded-For` value.
#[cfg(any(test, feature = "testing"))]
pub fn client_ip(
    peer: SocketAddr,
    x_forwarded_for: Option<&HeaderValue>,
    trusted: &TrustedProxies,
) -> IpAddr {
    let mut headers = HeaderMap::new();
    if let Some(value) = x_forwarded_for {
        headers.insert("x-forwarded-for", value.clone());
    }
    client_ip_from_headers(peer, &headers, trusted)
}

/// Walks entries nearest-first; `None` means malformed or empty (use the peer).
fn from_forwarded_list<'a>(
    entries: impl Iterator<Item = &'a str>,
    trusted: &TrustedProxies,
) -> Option<IpAddr> {
    let mut farthest = None;
    for entry in entries {
        let ip = canonical(entry.trim().parse::<IpAddr>().ok()?);
        if !trusted.contains(ip) {
            return Some(ip);
        }
        farthest = Some(ip);
    }
    // Every hop is trusted: the request started inside the trusted network, at the farthest hop.
    farthest
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes_are_masked_and_bounded() {
        let t = TrustedProxies::parse("10.1.2.3/8, ::1, fd00::/8, 0.0.0.0/0").unwrap_or_default();
        assert_eq!(t.nets.len(), 4);
        assert!(t.contains("10.200.0.1".parse().unwrap_or(IpAddr::from([0, 0, 0, 0]))));
        assert!(TrustedProxies::parse("10.0.0.0/33").is_err());
        assert!(TrustedProxies::parse("::/129").is_err());
        assert!(TrustedProxies::parse("10.0.0.0/").is_err());
        assert!(TrustedProxies::parse("10.0.0.0/-1").is_err());
        assert!(TrustedProxies::parse("").is_ok_and(|t| t.is_empty()));
    }
}
