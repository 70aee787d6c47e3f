//! The address policy for connections wagate makes on a user's behalf: media `url`s of
//! `send-media` (and every redirect hop they take) and webhook deliveries.
//!
//! The policy holds on the address that is actually connected to. Host names go through
//! [`PolicyResolver`], which resolves once, refuses the name when any of its addresses is
//! forbidden, and hands the connector exactly the addresses it checked: there is no second lookup a
//! rebinding DNS server could answer differently. IP-literal hosts never reach a resolver, so
//! [`Policy::check_url`] checks them on the first URL and the redirect policy on every hop
//! (at most [`MAX_REDIRECTS`]). Environment proxies (`HTTP_PROXY`, …) are not used by these
//! clients: through a proxy the gateway could not see the address it ends up talking to.

use std::error::Error as StdError;
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use ipnet::{IpNet, Ipv4Net, Ipv6Net};
use serde::{Deserialize, Deserializer};

use crate::config::{MediaSettings, WebhookSettings};

/// Redirect hops a media download may take; the next one is refused.
pub const MAX_REDIRECTS: usize = 5;
/// How long [`Policy::check_resolved`] waits for a name to resolve before accepting it unchecked.
const CHECK_LOOKUP_TIMEOUT: Duration = Duration::from_secs(5);

const fn v4(a: u8, b: u8, c: u8, d: u8, len: u8) -> Ipv4Net {
    Ipv4Net::new_assert(Ipv4Addr::new(a, b, c, d), len)
}

const fn v6(segments: [u16; 8], len: u8) -> Ipv6Net {
    let [a, b, c, d, e, f, g, h] = segments;
    Ipv6Net::new_assert(Ipv6Addr::new(a, b, c, d, e, f, g, h), len)
}

/// IPv4 ranges that are not public unicast destinations (IANA special-purpose registry, RFC 6890).
const RESERVED_V4: &[(Ipv4Net, &str)] = &[
    (v4(0, 0, 0, 0, 8), "\"this network\" (RFC 1122)"),
    (v4(10, 0, 0, 0, 8), "private (RFC 1918)"),
    (v4(100, 64, 0, 0, 10), "carrier-grade NAT (RFC 6598)"),
    (v4(127, 0, 0, 0, 8), "loopback (RFC 1122)"),
    (v4(169, 254, 0, 0, 16), "link-local (RFC 3927)"),
    (v4(172, 16, 0, 0, 12), "private (RFC 1918)"),
    (v4(192, 0, 0, 0, 24), "IETF protocol assignments (RFC 6890)"),
    (v4(192, 0, 2, 0, 24), "documentation (RFC 5737)"),
    (v4(192, 88, 99, 0, 24), "6to4 relay anycast (RFC 7526)"),
    (v4(192, 168, 0, 0, 16), "private (RFC 1918)"),
    (v4(198, 18, 0, 0, 15), "benchmarking (RFC 2544)"),
    (v4(198, 51, 100, 0, 24), "documentation (RFC 5737)"),
    (v4(203, 0, 113, 0, 24), "documentation (RFC 5737)"),
    (v4(224, 0, 0, 0, 4), "multicast (RFC 5771)"),
    (v4(240, 0, 0, 0, 4), "reserved or broadcast (RFC 1112, RFC 919)"),
];

/// IPv6 ranges that are not public unicast destinations. Forms that embed an IPv4 address are
/// handled by [`embedded_v4`] instead.
const RESERVED_V6: &[(Ipv6Net, &str)] = &[
    (v6([0, 0, 0, 0, 0, 0, 0, 0], 128), "unspecified (RFC 4291)"),
    (v6([0, 0, 0, 0, 0, 0, 0, 1], 128), "loopback (RFC 4291)"),
    (v6([0x64, 0xff9b, 1, 0, 0, 0, 0, 0], 48), "local-use NAT64 (RFC 8215)"),
    (v6([0x100, 0, 0, 0, 0, 0, 0, 0], 64), "discard-only (RFC 6666)"),
    (v6([0x2001, 0xdb8, 0, 0, 0, 0, 0, 0], 32), "documentation (RFC 3849)"),
    (v6([0xfc00, 0, 0, 0, 0, 0, 0, 0], 7), "unique-local (RFC 4193)"),
    (v6([0xfe80, 0, 0, 0, 0, 0, 0, 0], 10), "link-local (RFC 4291)"),
    (v6([0xfec0, 0, 0, 0, 0, 0, 0, 0], 10), "site-local (RFC 3879)"),
    (v6([0xff00, 0, 0, 0, 0, 0, 0, 0], 8), "multicast (RFC 4291)"),
];

/// The IPv4 address inside an IPv6 form that carries one, and the form's name: IPv4-mapped
/// `::ffff:a.b.c.d` and IPv4-compatible `::a.b.c.d` (RFC 4291), NAT64 `64:ff9b::a.b.c.d`
/// (RFC 6052), 6to4 `2002:aabb:ccdd::/48` (RFC 3056) and Teredo `2001::/32`, whose client
/// address is the last 32 bits inverted (RFC 4380).
fn embedded_v4(ip: Ipv6Addr) -> Option<(Ipv4Addr, &'static str)> {
    let s = ip.segments();
    let low = Ipv4Addr::new((s[6] >> 8) as u8, s[6] as u8, (s[7] >> 8) as u8, s[7] as u8);
    match s {
        [0, 0, 0, 0, 0, 0xffff, _, _] => Some((low, "IPv4-mapped (RFC 4291)")),
        [0, 0, 0, 0, 0, 0, _, _] => Some((low, "IPv4-compatible (RFC 4291)")),
        [0x64, 0xff9b, 0, 0, 0, 0, _, _] => Some((low, "NAT64 (RFC 6052)")),
        [0x2002, hi, lo, ..] => Some((
            Ipv4Addr::new((hi >> 8) as u8, hi as u8, (lo >> 8) as u8, lo as u8),
            "6to4 (RFC 3056)",
        )),
        [0x2001, 0, ..] => Some((!low, "Teredo (RFC 4380)")),
        _ => None,
    }
}

/// Why an address is not a public unicast destination.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Reserved {
    /// The range, with the RFC that reserves it, e.g. `loopback (RFC 1122)`.
    pub range: &'static str,
    /// The IPv6 form the IPv4 address was found in, e.g. `IPv4-mapped (RFC 4291)`.
    pub embedded_in: Option<&'static str>,
}

impl fmt::Display for Reserved {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.embedded_in {
            Some(form) => write!(f, "{} inside an {form} address", self.range),
            None => f.write_str(self.range),
        }
    }
}

/// The reserved range `ip` is in, or `None` for a public unicast address. IPv6 forms that embed
/// an IPv4 address are judged by that IPv4 address.
pub fn reserved(ip: IpAddr) -> Option<Reserved> {
    let of_v4 = |v: Ipv4Addr| RESERVED_V4.iter().find(|(n, _)| n.contains(&v)).map(|(_, r)| *r);
    match ip {
        IpAddr::V4(v) => of_v4(v).map(|range| Reserved {
            range,
            embedded_in: None,
        }),
        IpAddr::V6(v) => {
            if let Some((_, range)) = RESERVED_V6.iter().find(|(n, _)| n.contains(&v)) {
                return Some(Reserved {
                    range,
                    embedded_in: None,
                });
            }
            let (inner, form) = embedded_v4(v)?;
            of_v4(inner).map(|range| Reserved {
                range,
                embedded_in: Some(form),
            })
        }
    }
}

/// Whether `ip` is internal: loopback, private, link-local (cloud metadata services live there),
/// or any other reserved range of [`reserved`].
pub fn is_internal(ip: IpAddr) -> bool {
    reserved(ip).is_some()
}

/// Why the policy refused a connection. Its text says which address was refused and which
/// setting would allow it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refused {
    #[error("{}", describe_internal(.host, *.ip, .reserved, .section, .redirect.as_deref()))]
    Internal {
        /// The name or IP literal of the URL.
        host: String,
        /// The address it resolved to (or the literal).
        ip: IpAddr,
        reserved: Reserved,
        /// The settings section whose switches allow it (`media` or `webhooks`).
        section: &'static str,
        /// The redirect target, when a redirect led there.
        redirect: Option<String>,
    },
    #[error("more than {max} redirects (the limit of the gateway)")]
    TooManyRedirects { max: usize },
    #[error("the redirect to {url} was refused: only http:// and https:// are fetched")]
    Scheme { url: String },
}

fn describe_internal(host: &str, ip: IpAddr, reserved: &Reserved, section: &str, redirect: Option<&str>) -> String {
    let via = redirect
        .map(|u| format!("the redirect to {u} was refused: "))
        .unwrap_or_default();
    let what = if host.trim_matches(['[', ']']) == ip.to_string() {
        format!("{ip} is a {reserved} address")
    } else {
        format!("{host} resolves to {ip}, a {reserved} address")
    };
    format!(
        "{via}{what}; internal addresses are refused unless {section}.allow_private_urls is true or the \
         address is in {section}.allowed_private_networks"
    )
}

/// The [`Refused`] somewhere in an error's chain of sources (reqwest wraps resolver and redirect
/// errors), if the policy caused it.
pub fn refusal<'a>(e: &'a (dyn StdError + 'static)) -> Option<&'a Refused> {
    let mut cur = Some(e);
    while let Some(err) = cur {
        if let Some(r) = err.downcast_ref::<Refused>() {
            return Some(r);
        }
        cur = err.source();
    }
    None
}

/// Which addresses one kind of outbound connection may reach.
#[derive(Debug, Clone)]
pub struct Policy {
    section: &'static str,
    allow_private: bool,
    allowed: Vec<IpNet>,
}

impl Policy {
    /// `section` names the settings in refusals; `allowed` are networks permitted even when
    /// `allow_private` is false.
    pub fn new(section: &'static str, allow_private: bool, allowed: Vec<IpNet>) -> Self {
        Policy {
            section,
            allow_private,
            allowed,
        }
    }

    /// `media.allow_private_urls` and `media.allowed_private_networks`.
    pub fn media(s: &MediaSettings) -> Self {
        Self::new("media", s.allow_private_urls, s.allowed_private_networks.clone())
    }

    /// `webhooks.allow_private_urls` and `webhooks.allowed_private_networks`.
    pub fn webhooks(s: &WebhookSettings) -> Self {
        Self::new("webhooks", s.allow_private_urls, s.allowed_private_networks.clone())
    }

    /// Whether every address is allowed (no check needed).
    pub fn allows_all(&self) -> bool {
        self.allow_private
    }

    /// Ok when `ip` (which `host` named) may be connected to.
    pub fn check_ip(&self, host: &str, ip: IpAddr) -> Result<(), Refused> {
        if self.allow_private
            || self
                .allowed
                .iter()
                .any(|n| n.contains(&ip) || n.contains(&ip.to_canonical()))
        {
            return Ok(());
        }
        match reserved(ip) {
            None => Ok(()),
            Some(reserved) => Err(Refused::Internal {
                host: host.to_string(),
                ip,
                reserved,
                section: self.section,
                redirect: None,
            }),
        }
    }

    /// The checks a URL gets before any connection: http or https, and an IP-literal host (which
    /// no resolver sees) allowed. Host names are checked when they are resolved.
    pub fn check_url(&self, url: &url::Url) -> Result<(), Refused> {
        if !matches!(url.scheme(), "http" | "https") {
            return Err(Refused::Scheme { url: url.to_string() });
        }
        let ip = match url.host() {
            Some(url::Host::Ipv4(v)) => IpAddr::V4(v),
            Some(url::Host::Ipv6(v)) => IpAddr::V6(v),
            _ => return Ok(()),
        };
        self.check_ip(url.host_str().unwrap_or_default(), ip)
    }

    /// [`Self::check_url`], then the host name resolved now and every address checked: early
    /// feedback when a URL is configured. A name that does not resolve (yet) within 5 s passes;
    /// each connection is checked again anyway.
    pub async fn check_resolved(&self, url: &url::Url) -> Result<(), Refused> {
        self.check_url(url)?;
        if self.allow_private {
            return Ok(());
        }
        let Some(url::Host::Domain(host)) = url.host() else {
            return Ok(());
        };
        let lookup = tokio::net::lookup_host((host, 0));
        if let Ok(Ok(addrs)) = tokio::time::timeout(CHECK_LOOKUP_TIMEOUT, lookup).await {
            for a in addrs {
                self.check_ip(host, a.ip())?;
            }
        }
        Ok(())
    }

    /// A client builder whose every connection obeys this policy: names resolved by
    /// [`PolicyResolver`], no environment proxies, and redirects followed up to `max_redirects`
    /// hops, each checked (0: never followed, the 3xx is the answer).
    pub fn client_builder(&self, max_redirects: usize) -> reqwest::ClientBuilder {
        let redirects = if max_redirects == 0 {
            reqwest::redirect::Policy::none()
        } else {
            let policy = self.clone();
            reqwest::redirect::Policy::custom(move |attempt| {
                // `previous` holds the first URL and every hop so far.
                if attempt.previous().len() > max_redirects {
                    return attempt.error(Refused::TooManyRedirects { max: max_redirects });
                }
                match policy.check_url(attempt.url()) {
                    Ok(()) => attempt.follow(),
                    Err(Refused::Internal {
                        host,
                        ip,
                        reserved,
                        section,
                        ..
                    }) => {
                        let redirect = Some(attempt.url().to_string());
                        attempt.error(Refused::Internal {
                            host,
                            ip,
                            reserved,
                            section,
                            redirect,
                        })
                    }
                    Err(other) => attempt.error(other),
                }
            })
        };
        reqwest::Client::builder()
            .no_proxy()
            .redirect(redirects)
            .dns_resolver(PolicyResolver(Arc::new(self.clone())))
    }
}

/// Resolves names with the system resolver and refuses a name when any of its addresses is
/// forbidden by the policy; the connector gets exactly the checked addresses.
pub struct PolicyResolver(Arc<Policy>);

impl reqwest::dns::Resolve for PolicyResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let policy = self.0.clone();
        let host = name.as_str().to_string();
        Box::pin(async move {
            let addrs: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            for a in &addrs {
                policy.check_ip(&host, a.ip())?;
            }
            Ok(Box::new(addrs.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

/// Deserializes a list of networks: CIDR (`10.0.0.0/8`, `fd00::/8`) or a single address
/// (`192.168.1.5`, taken as /32 or /128).
pub fn networks<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<IpNet>, D::Error> {
    Vec::<String>::deserialize(d)?
        .iter()
        .map(|s| parse_network(s).map_err(serde::de::Error::custom))
        .collect()
}

fn parse_network(s: &str) -> Result<IpNet, String> {
    let s = s.trim();
    s.parse::<IpNet>()
        .or_else(|_| s.parse::<IpAddr>().map(IpNet::from))
        .map_err(|_| format!("{s:?} is neither a network (10.0.0.0/8) nor an address"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn reserved_ranges_are_internal() {
        for s in [
            "0.0.0.0",
            "0.1.2.3",
            "10.1.2.3",
            "100.64.0.1",
            "100.127.255.255",
            "127.0.0.1",
            "127.255.255.254",
            "169.254.169.254",
            "172.16.5.5",
            "172.31.255.255",
            "192.0.0.8",
            "192.0.2.1",
            "192.88.99.1",
            "192.168.0.1",
            "198.18.0.1",
            "198.19.255.255",
            "198.51.100.7",
            "203.0.113.9",
            "224.0.0.1",
            "239.255.255.250",
            "240.0.0.1",
            "255.255.255.255",
            "::",
            "::1",
            "fc00::1",
            "fd12:3456::1",
            "fe80::1",
            "febf::1",
            "fec0::1",
            "ff02::1",
            "2001:db8::1",
            "100::1",
            "64:ff9b:1::1",
            // IPv4 inside IPv6.
            "::ffff:127.0.0.1",
            "::ffff:169.254.169.254",
            "::ffff:10.0.0.1",
            "::127.0.0.1",
            "::10.0.0.1",
            "64:ff9b::127.0.0.1",
            "64:ff9b::a9fe:a9fe",
            "2002:7f00:1::",
            "2002:a9fe:a9fe::1",
            "2001:0:4136:e378:8000:63bf:80ff:fffe", // Teredo client 127.0.0.1
        ] {
            assert!(is_internal(ip(s)), "{s} is internal");
        }
    }

    #[test]
    fn public_addresses_are_not_internal() {
        for s in [
            "8.8.8.8",
            "1.1.1.1",
            "100.63.255.255",
            "100.128.0.0",
            "151.101.1.1",
            "172.32.0.1",
            "192.0.1.1",
            "198.20.0.1",
            "223.255.255.255",
            "2a00:1450::1",
            "2606:4700::1111",
            "::ffff:8.8.8.8",
            "64:ff9b::808:808",
            "2002:808:808::1",
        ] {
            assert!(!is_internal(ip(s)), "{s} is public");
        }
    }

    #[test]
    fn the_range_is_named_with_its_source() {
        assert_eq!(
            reserved(ip("169.254.169.254")).unwrap().to_string(),
            "link-local (RFC 3927)"
        );
        assert_eq!(
            reserved(ip("::ffff:127.0.0.1")).unwrap().to_string(),
            "loopback (RFC 1122) inside an IPv4-mapped (RFC 4291) address"
        );
        assert_eq!(
            reserved(ip("100.64.0.1")).unwrap().range,
            "carrier-grade NAT (RFC 6598)"
        );
    }

    #[test]
    fn the_policy_allows_listed_networks_and_names_its_settings() {
        let closed = Policy::new("media", false, vec![parse_network("127.0.0.2").unwrap()]);
        assert!(closed.check_ip("x", ip("127.0.0.2")).is_ok());
        assert!(
            closed.check_ip("x", ip("::ffff:127.0.0.2")).is_ok(),
            "mapped form of a listed address"
        );
        assert!(closed.check_ip("x", ip("8.8.8.8")).is_ok());
        let err = closed.check_ip("localhost", ip("127.0.0.1")).unwrap_err().to_string();
        assert!(err.contains("localhost resolves to 127.0.0.1"), "{err}");
        assert!(err.contains("loopback"), "{err}");
        assert!(err.contains("media.allow_private_urls"), "{err}");
        assert!(err.contains("media.allowed_private_networks"), "{err}");
        assert!(
            Policy::new("webhooks", true, vec![])
                .check_ip("x", ip("127.0.0.1"))
                .is_ok()
        );

        let url = |s: &str| url::Url::parse(s).unwrap();
        // The URL parser normalises odd IPv4 spellings first.
        for u in [
            "http://127.0.0.1/",
            "http://2130706433/",
            "http://0x7f.1/",
            "http://0/",
            "http://[::ffff:7f00:1]/",
            "https://[fd00::1]:8443/x",
        ] {
            assert!(
                matches!(closed.check_url(&url(u)), Err(Refused::Internal { .. })),
                "{u}"
            );
        }
        assert!(
            closed.check_url(&url("http://example.com/")).is_ok(),
            "names wait for the resolver"
        );
        assert!(matches!(
            closed.check_url(&url("file:///etc/passwd")),
            Err(Refused::Scheme { .. })
        ));
    }

    #[test]
    fn networks_parse_as_cidr_or_address() {
        assert_eq!(parse_network("10.0.0.0/8").unwrap().to_string(), "10.0.0.0/8");
        assert_eq!(parse_network(" 192.168.1.5 ").unwrap().to_string(), "192.168.1.5/32");
        assert_eq!(parse_network("fd00::/8").unwrap().to_string(), "fd00::/8");
        assert!(parse_network("10.0.0.0/33").is_err());
        assert!(parse_network("intranet").is_err());
    }
}
