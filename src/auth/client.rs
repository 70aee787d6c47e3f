//! The client address of a request, for rate limits and the admin cookie's `Secure` flag.
//!
//! The peer address is the client unless the peer is one of `server.trusted_proxies`. Then the
//! forwarding header the proxies write (`server.proxy_header`: `X-Forwarded-For` or RFC 7239
//! `Forwarded`) is read from the right: each proxy appends the address it received from, so the
//! right-most entry that is not itself a trusted proxy is the client. Entries to the left of it
//! were written by the client and are never believed.

use std::net::{IpAddr, SocketAddr};

use actix_web::http::header::HeaderMap;
use ipnet::IpNet;
use serde::Deserialize;

/// Which header the trusted proxies write the client address into.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ProxyHeader {
    /// `X-Forwarded-For: client, proxy1` with `X-Forwarded-Proto` (nginx, Caddy, Traefik, HAProxy).
    XForwardedFor,
    /// RFC 7239 `Forwarded: for=client;proto=https, for=proxy1`.
    Forwarded,
}

/// Parses `server.trusted_proxies`: each entry an IP address (`10.0.0.7`, `::1`) or a network in
/// CIDR notation (`10.0.0.0/8`, `fd00::/8`); IPv4 peers are matched as IPv4 even when they
/// arrive IPv4-mapped. The error names the entry that is neither.
pub fn parse_trusted(entries: &[String]) -> Result<Vec<IpNet>, String> {
    entries
        .iter()
        .map(|e| {
            let e = e.trim();
            e.parse::<IpNet>()
                .or_else(|_| e.parse::<IpAddr>().map(IpNet::from))
                .map_err(|_| format!("`{e}` is neither an IP address nor a CIDR network"))
        })
        .collect()
}

/// The trusted proxies and the header they write.
#[derive(Debug, Clone)]
pub struct Proxies {
    trusted: Vec<IpNet>,
    header: ProxyHeader,
}

impl Proxies {
    pub fn new(trusted: Vec<IpNet>, header: ProxyHeader) -> Self {
        Proxies { trusted, header }
    }

    fn trusts(&self, ip: IpAddr) -> bool {
        self.trusted.iter().any(|n| n.contains(&ip))
    }

    /// The client address: `peer` itself unless it is a trusted proxy; then the right-most
    /// forwarded address that is not a trusted proxy. An entry that cannot be read stops the walk
    /// at the last trusted hop (a client cannot pick a fresh address by sending garbage); when
    /// every entry is trusted, the left-most one. None only without a peer address.
    pub fn client_ip(&self, peer: Option<IpAddr>, headers: &HeaderMap) -> Option<IpAddr> {
        let peer = peer?.to_canonical();
        if !self.trusts(peer) {
            return Some(peer);
        }
        let mut client = peer;
        for hop in self.hops(headers).into_iter().rev() {
            match hop {
                Some(ip) => {
                    client = ip;
                    if !self.trusts(ip) {
                        break;
                    }
                }
                None => break,
            }
        }
        Some(client)
    }

    /// True when a trusted proxy says the client spoke HTTPS to it (any hop saying `https` is
    /// enough: marking a cookie Secure when in doubt is the safe direction). Headers from
    /// anyone else are ignored.
    pub fn forwarded_https(&self, peer: Option<IpAddr>, headers: &HeaderMap) -> bool {
        if !peer.is_some_and(|p| self.trusts(p.to_canonical())) {
            return false;
        }
        let is_https = |v: &str| v.trim().trim_matches('"').eq_ignore_ascii_case("https");
        match self.header {
            ProxyHeader::XForwardedFor => values(headers, "x-forwarded-proto").any(|v| is_https(&v)),
            ProxyHeader::Forwarded => values(headers, "forwarded")
                .filter_map(|element| param(&element, "proto"))
                .any(|v| is_https(&v)),
        }
    }

    /// The forwarded addresses, left (farthest) to right (nearest); None for an unreadable entry.
    fn hops(&self, headers: &HeaderMap) -> Vec<Option<IpAddr>> {
        match self.header {
            ProxyHeader::XForwardedFor => values(headers, "x-forwarded-for").map(|v| parse_hop(&v)).collect(),
            ProxyHeader::Forwarded => values(headers, "forwarded")
                .map(|element| param(&element, "for").and_then(|v| parse_hop(&v)))
                .collect(),
        }
    }
}

/// Every comma-separated entry of every `name` header, in order (repeated headers are one list).
fn values<'a>(headers: &'a HeaderMap, name: &'static str) -> impl Iterator<Item = String> + 'a {
    headers.get_all(name).flat_map(|v| {
        String::from_utf8_lossy(v.as_bytes())
            .split(',')
            .map(str::to_string)
            .collect::<Vec<_>>()
    })
}

/// The value of `name=` in one `Forwarded` element (`for=1.2.3.4;proto=https`).
fn param(element: &str, name: &str) -> Option<String> {
    element.split(';').find_map(|pair| {
        let (k, v) = pair.split_once('=')?;
        k.trim().eq_ignore_ascii_case(name).then(|| v.trim().to_string())
    })
}

/// `1.2.3.4`, `1.2.3.4:5678`, `2001:db8::1`, `[2001:db8::1]:443`, `"[2001:db8::1]"`.
fn parse_hop(raw: &str) -> Option<IpAddr> {
    let s = raw.trim().trim_matches('"');
    let ip = s
        .parse::<IpAddr>()
        .ok()
        .or_else(|| s.parse::<SocketAddr>().ok().map(|a| a.ip()))
        .or_else(|| s.strip_prefix('[')?.strip_suffix(']')?.parse().ok())?;
    Some(ip.to_canonical())
}

/// The key a per-address limit counts under: the IPv4 address, or the /64 network of an IPv6
/// address (one subscriber usually holds a whole /64, so single addresses would be free).
pub fn limit_key(ip: Option<IpAddr>) -> String {
    match ip {
        Some(IpAddr::V4(v4)) => v4.to_string(),
        Some(IpAddr::V6(v6)) => {
            let s = v6.segments();
            format!("{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
        }
        None => "unknown".to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::http::header::{HeaderName, HeaderValue};

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (k, v) in pairs {
            map.append(HeaderName::from_static(k), HeaderValue::from_str(v).unwrap());
        }
        map
    }

    fn proxies(trusted: &[&str], header: ProxyHeader) -> Proxies {
        let entries: Vec<String> = trusted.iter().map(|s| s.to_string()).collect();
        Proxies::new(parse_trusted(&entries).unwrap(), header)
    }

    fn ip(s: &str) -> Option<IpAddr> {
        Some(s.parse().unwrap())
    }

    #[test]
    fn an_untrusted_peer_is_the_client_whatever_it_forwards() {
        let none = proxies(&[], ProxyHeader::XForwardedFor);
        let h = headers(&[("x-forwarded-for", "203.0.113.9"), ("forwarded", "for=203.0.113.9")]);
        assert_eq!(none.client_ip(ip("198.51.100.1"), &h), ip("198.51.100.1"));
        let some = proxies(&["10.0.0.0/8"], ProxyHeader::XForwardedFor);
        assert_eq!(some.client_ip(ip("198.51.100.1"), &h), ip("198.51.100.1"));
        assert_eq!(some.client_ip(None, &h), None);
        assert_eq!(
            some.client_ip(ip("::ffff:198.51.100.1"), &h),
            ip("198.51.100.1"),
            "IPv4-mapped peers are IPv4"
        );
    }

    #[test]
    fn behind_trusted_proxies_the_right_most_untrusted_hop_is_the_client() {
        let p = proxies(&["10.0.0.0/8", "127.0.0.1"], ProxyHeader::XForwardedFor);
        let cases: &[(&[(&'static str, &str)], &str)] = &[
            (&[("x-forwarded-for", "203.0.113.9")], "203.0.113.9"),
            // The client sent a made-up first entry; the proxy appended what it saw.
            (&[("x-forwarded-for", "1.1.1.1, 203.0.113.9")], "203.0.113.9"),
            (&[("x-forwarded-for", "1.1.1.1, 203.0.113.9, 10.1.2.3")], "203.0.113.9"),
            (
                &[("x-forwarded-for", "1.1.1.1"), ("x-forwarded-for", "203.0.113.9:5555")],
                "203.0.113.9",
            ),
            (&[("x-forwarded-for", "[2001:db8::7]:443")], "2001:db8::7"),
            // Garbage where the client should be: the last trusted hop, not anything the client chose.
            (&[("x-forwarded-for", "1.1.1.1, nonsense, 10.1.2.3")], "10.1.2.3"),
            // Only trusted hops: the farthest one.
            (&[("x-forwarded-for", "10.9.9.9, 10.1.2.3")], "10.9.9.9"),
            // No header: the proxy itself.
            (&[], "127.0.0.1"),
            // The other header is not the one configured.
            (&[("forwarded", "for=203.0.113.9")], "127.0.0.1"),
        ];
        for (h, want) in cases {
            assert_eq!(p.client_ip(ip("127.0.0.1"), &headers(h)), ip(want), "{h:?}");
        }
    }

    #[test]
    fn rfc_7239_forwarded_when_configured() {
        let p = proxies(&["10.0.0.0/8"], ProxyHeader::Forwarded);
        let h = headers(&[(
            "forwarded",
            "for=1.1.1.1, For=\"[2001:db8::7]:4711\";proto=https, for=10.0.0.2;proto=http",
        )]);
        assert_eq!(p.client_ip(ip("10.0.0.1"), &h), ip("2001:db8::7"));
        assert!(p.forwarded_https(ip("10.0.0.1"), &h));
        let hidden = headers(&[("forwarded", "for=1.1.1.1, for=_hidden")]);
        assert_eq!(p.client_ip(ip("10.0.0.1"), &hidden), ip("10.0.0.1"));
        assert_eq!(
            p.client_ip(ip("10.0.0.1"), &headers(&[("x-forwarded-for", "203.0.113.9")])),
            ip("10.0.0.1")
        );
    }

    #[test]
    fn https_is_believed_only_from_a_trusted_proxy() {
        let p = proxies(&["127.0.0.1"], ProxyHeader::XForwardedFor);
        let h = headers(&[("x-forwarded-proto", "https")]);
        assert!(p.forwarded_https(ip("127.0.0.1"), &h));
        assert!(!p.forwarded_https(ip("198.51.100.1"), &h));
        assert!(!p.forwarded_https(ip("127.0.0.1"), &headers(&[("x-forwarded-proto", "http")])));
        assert!(!p.forwarded_https(None, &h));
    }

    #[test]
    fn trusted_entries_are_addresses_or_networks() {
        let nets = parse_trusted(&["10.0.0.0/8".into(), " ::1 ".into(), "192.168.1.1".into()]).unwrap();
        assert_eq!(nets.len(), 3);
        assert!(nets[2].contains(&"192.168.1.1".parse::<IpAddr>().unwrap()));
        let err = parse_trusted(&["10.0.0.0/33".into()]).unwrap_err();
        assert!(err.contains("10.0.0.0/33"), "{err}");
        assert!(parse_trusted(&["proxy.local".into()]).is_err());
    }

    #[test]
    fn ipv6_clients_are_limited_per_64() {
        assert_eq!(
            limit_key(ip("2001:db8:1:2:aaaa::1")),
            limit_key(ip("2001:db8:1:2:bbbb::9"))
        );
        assert_ne!(limit_key(ip("2001:db8:1:2::1")), limit_key(ip("2001:db8:1:3::1")));
        assert_eq!(limit_key(ip("203.0.113.9")), "203.0.113.9");
        assert_eq!(limit_key(None), "unknown");
    }
}
