//! The client's address behind reverse proxies (`server.trusted_proxies`).
//!
//! Each proxy appends the address it received the request from to `X-Forwarded-For`, so the
//! header's left end is whatever the client wrote and only its right end is vouched for. The
//! client is the first address, reading from the right, that is not one of our own proxies;
//! the socket peer counts only when it is a trusted proxy itself, otherwise the header is a
//! stranger's and ignored.

use std::net::IpAddr;

use axum::http::HeaderMap;

/// An address or a CIDR block (`10.0.0.0/8`, `::1`, `fd00::/8`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    net: IpAddr,
    bits: u8,
}

impl Cidr {
    pub fn parse(s: &str) -> Result<Cidr, String> {
        let s = s.trim();
        let (addr, bits) = match s.split_once('/') {
            Some((a, b)) => (a, Some(b)),
            None => (s, None),
        };
        let net: IpAddr = addr
            .parse()
            .map_err(|_| format!("{s:?} is not an IP address or CIDR block"))?;
        let max = if net.is_ipv4() { 32 } else { 128 };
        let bits = match bits {
            None => max,
            Some(b) => b
                .parse::<u8>()
                .ok()
                .filter(|b| *b <= max)
                .ok_or_else(|| format!("{s:?}: the prefix length must be 0 to {max}"))?,
        };
        Ok(Cidr { net, bits })
    }

    pub fn contains(&self, ip: IpAddr) -> bool {
        // An IPv4 client reaching an IPv6 socket shows as ::ffff:a.b.c.d.
        let ip = canonical(ip);
        match (self.net, ip) {
            (IpAddr::V4(n), IpAddr::V4(a)) => {
                let mask = u32::MAX.checked_shl(32 - u32::from(self.bits)).unwrap_or(0);
                u32::from(n) & mask == u32::from(a) & mask
            }
            (IpAddr::V6(n), IpAddr::V6(a)) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.bits))
                    .unwrap_or(0);
                u128::from(n) & mask == u128::from(a) & mask
            }
            _ => false,
        }
    }
}

fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

/// The proxies whose `X-Forwarded-For` entries we believe.
#[derive(Debug, Clone, Default)]
pub struct TrustedProxies(Vec<Cidr>);

impl TrustedProxies {
    pub fn parse<S: AsRef<str>>(list: &[S]) -> Result<TrustedProxies, String> {
        list.iter()
            .map(|s| Cidr::parse(s.as_ref()))
            .collect::<Result<_, _>>()
            .map(TrustedProxies)
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn trusts(&self, ip: IpAddr) -> bool {
        self.0.iter().any(|c| c.contains(ip))
    }

    /// The client: `peer` unless it is a trusted proxy; then the rightmost address of the
    /// `X-Forwarded-For` headers (all of them, in order) that is not a trusted proxy. An
    /// entry that is not an address stops the walk there: nothing left of it can be believed,
    /// so the last proxy that wrote a good one is taken as the client.
    pub fn client(&self, headers: &HeaderMap, peer: IpAddr) -> IpAddr {
        let peer = canonical(peer);
        if !self.trusts(peer) {
            return peer;
        }
        let hops: Vec<&str> = headers
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .map(str::trim)
            .filter(|h| !h.is_empty())
            .collect();
        let mut client = peer;
        for hop in hops.iter().rev() {
            let Some(ip) = parse_hop(hop) else {
                break;
            };
            client = canonical(ip);
            if !self.trusts(client) {
                break;
            }
        }
        client
    }
}

/// An X-Forwarded-For entry: an address, possibly with a port (`1.2.3.4:5678`,
/// `[2001:db8::1]:443`).
fn parse_hop(hop: &str) -> Option<IpAddr> {
    if let Ok(ip) = hop.parse() {
        return Some(ip);
    }
    if let Ok(sa) = hop.parse::<std::net::SocketAddr>() {
        return Some(sa.ip());
    }
    hop.strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .and_then(|h| h.parse().ok())
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn xff(values: &[&str]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for v in values {
            h.append("x-forwarded-for", HeaderValue::from_str(v).unwrap());
        }
        h
    }

    #[test]
    fn cidr_blocks_match_their_addresses() {
        let c = Cidr::parse("10.0.0.0/8").unwrap();
        assert!(c.contains(ip("10.200.3.4")));
        assert!(!c.contains(ip("11.0.0.1")));
        assert!(c.contains(ip("::ffff:10.1.1.1")), "v4-mapped");
        let one = Cidr::parse("192.0.2.7").unwrap();
        assert!(one.contains(ip("192.0.2.7")) && !one.contains(ip("192.0.2.8")));
        let v6 = Cidr::parse("fd00::/8").unwrap();
        assert!(v6.contains(ip("fd12::1")) && !v6.contains(ip("fe80::1")));
        assert!(Cidr::parse("0.0.0.0/0").unwrap().contains(ip("8.8.8.8")));
        assert!(Cidr::parse("10.0.0.0/33").is_err());
        assert!(Cidr::parse("proxy.internal").is_err());
    }

    #[test]
    fn without_trusted_proxies_the_header_is_ignored() {
        let none = TrustedProxies::default();
        let h = xff(&["203.0.113.9"]);
        assert_eq!(none.client(&h, ip("198.51.100.1")), ip("198.51.100.1"));
    }

    #[test]
    fn a_stranger_cannot_forward_for_anyone() {
        let t = TrustedProxies::parse(&["10.0.0.0/8"]).unwrap();
        let h = xff(&["1.1.1.1"]);
        assert_eq!(t.client(&h, ip("198.51.100.1")), ip("198.51.100.1"));
    }

    #[test]
    fn the_rightmost_untrusted_hop_is_the_client() {
        let t = TrustedProxies::parse(&["10.0.0.0/8", "192.0.2.1"]).unwrap();
        // The client wrote a fake first hop; the edge proxy appended the real address, then an
        // inner proxy appended the edge's.
        let h = xff(&["6.6.6.6, 203.0.113.9, 10.0.0.2"]);
        assert_eq!(t.client(&h, ip("10.0.0.3")), ip("203.0.113.9"));
        // The same chain over several header lines.
        let h = xff(&["6.6.6.6", "203.0.113.9", "10.0.0.2"]);
        assert_eq!(t.client(&h, ip("10.0.0.3")), ip("203.0.113.9"));
        // A random fake per request changes nothing.
        let h = xff(&["99.1.2.3, 203.0.113.9"]);
        assert_eq!(t.client(&h, ip("192.0.2.1")), ip("203.0.113.9"));
        // Ports and brackets as some proxies write them.
        let h = xff(&["[2001:db8::5]:443, 10.9.9.9:80"]);
        assert_eq!(t.client(&h, ip("10.0.0.3")), ip("2001:db8::5"));
    }

    #[test]
    fn only_proxies_in_the_chain_gives_the_leftmost_proxy_and_garbage_stops_the_walk() {
        let t = TrustedProxies::parse(&["10.0.0.0/8"]).unwrap();
        assert_eq!(
            t.client(&xff(&["10.0.0.1, 10.0.0.2"]), ip("10.0.0.3")),
            ip("10.0.0.1")
        );
        assert_eq!(t.client(&HeaderMap::new(), ip("10.0.0.3")), ip("10.0.0.3"));
        assert_eq!(
            t.client(&xff(&["1.2.3.4, unknown, 10.0.0.2"]), ip("10.0.0.3")),
            ip("10.0.0.2")
        );
    }
}
