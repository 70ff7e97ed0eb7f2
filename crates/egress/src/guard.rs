//! The destination guard: which hosts and addresses a request may reach.
//!
//! It owns three checks. [`classify`] says whether an IP address is anything other
//! than a public unicast address (loopback, private, link-local, CGNAT, cloud metadata,
//! multicast, documentation, NAT64/6to4/Teredo/IPv4-mapped forms of any of those…).
//! [`Guard`] applies that to a URL host: IP literals directly, names after DNS, through
//! [`GuardedResolver`], the `reqwest` resolver that checks every address a name
//! resolves to and hands the client only those, so the connection goes to exactly the
//! addresses that were checked. [`host_allowed`] matches a host against a secret's
//! `allowed_hosts` patterns.
//!
//! Numeric host spellings that URL parsers or the C resolver accept (`2130706433`,
//! `0x7f000001`, `0177.0.0.1`, `127.1`, `0`, mixed forms) are parsed with
//! `inet_aton`'s rules by [`parse_inet_aton`] and treated as the address they spell,
//! so they are refused exactly when the canonical form would be.
//!
//! This module never sees secret values and never performs a request itself.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;

/// A refused destination: which host, and why. The host is the URL host (or the
/// name being resolved), never a full URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub host: String,
    pub reason: String,
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "destination host \"{}\" is refused: {}",
            self.host, self.reason
        )
    }
}

impl std::error::Error for Refusal {}

/// IPv4 ranges that are never a public destination, as (network, prefix, reason).
const V4_DENY: &[(u32, u8, &str)] = &[
    (0x0000_0000, 8, "'this network' address (0.0.0.0/8)"),
    (0x0A00_0000, 8, "private address (10.0.0.0/8)"),
    (
        0x6440_0000,
        10,
        "carrier-grade NAT address (100.64.0.0/10, incl. Alibaba metadata)",
    ),
    (0x7F00_0000, 8, "loopback address (127.0.0.0/8)"),
    (
        0xA9FE_0000,
        16,
        "link-local address (169.254.0.0/16, incl. cloud metadata)",
    ),
    (0xAC10_0000, 12, "private address (172.16.0.0/12)"),
    (0xC000_0000, 24, "IETF protocol assignment (192.0.0.0/24)"),
    (0xC000_0200, 24, "documentation address (192.0.2.0/24)"),
    (0xC058_6300, 24, "6to4 relay anycast (192.88.99.0/24)"),
    (0xC0A8_0000, 16, "private address (192.168.0.0/16)"),
    (0xC612_0000, 15, "benchmarking address (198.18.0.0/15)"),
    (0xC633_6400, 24, "documentation address (198.51.100.0/24)"),
    (0xCB00_7100, 24, "documentation address (203.0.113.0/24)"),
    (0xE000_0000, 4, "multicast address (224.0.0.0/4)"),
    (
        0xF000_0000,
        4,
        "reserved or broadcast address (240.0.0.0/4)",
    ),
    (0xA83F_8110, 32, "Azure wire server (168.63.129.16)"),
];

/// IPv6 ranges refused outright (no embedded IPv4 to look at), as (network, prefix, reason).
const V6_DENY: &[(u128, u8, &str)] = &[
    (0, 128, "unspecified address (::)"),
    (1, 128, "loopback address (::1)"),
    (
        0x0064_ff9b_0001_0000_0000_0000_0000_0000,
        48,
        "local-use NAT64 address (64:ff9b:1::/48)",
    ),
    (
        0x0100_0000_0000_0000_0000_0000_0000_0000,
        64,
        "discard-only address (100::/64)",
    ),
    (
        0x2001_0002_0000_0000_0000_0000_0000_0000,
        48,
        "benchmarking address (2001:2::/48)",
    ),
    (
        0x2001_0010_0000_0000_0000_0000_0000_0000,
        28,
        "ORCHID address (2001:10::/28)",
    ),
    (
        0x2001_0020_0000_0000_0000_0000_0000_0000,
        28,
        "ORCHIDv2 address (2001:20::/28)",
    ),
    (
        0x2001_0db8_0000_0000_0000_0000_0000_0000,
        32,
        "documentation address (2001:db8::/32)",
    ),
    (
        0x3fff_0000_0000_0000_0000_0000_0000_0000,
        20,
        "documentation address (3fff::/20)",
    ),
    (
        0xfc00_0000_0000_0000_0000_0000_0000_0000,
        7,
        "unique-local address (fc00::/7, incl. AWS IMDS fd00:ec2::254)",
    ),
    (
        0xfe80_0000_0000_0000_0000_0000_0000_0000,
        10,
        "link-local address (fe80::/10)",
    ),
    (
        0xfec0_0000_0000_0000_0000_0000_0000_0000,
        10,
        "site-local address (fec0::/10)",
    ),
    (
        0xff00_0000_0000_0000_0000_0000_0000_0000,
        8,
        "multicast address (ff00::/8)",
    ),
];

fn in_v4(addr: u32, net: u32, prefix: u8) -> bool {
    let mask = if prefix == 0 {
        0
    } else {
        u32::MAX << (32 - prefix)
    };
    addr & mask == net & mask
}

fn in_v6(addr: u128, net: u128, prefix: u8) -> bool {
    let mask = if prefix == 0 {
        0
    } else {
        u128::MAX << (128 - prefix)
    };
    addr & mask == net & mask
}

fn classify_v4(ip: Ipv4Addr) -> Option<String> {
    let x = u32::from(ip);
    V4_DENY
        .iter()
        .find(|(net, prefix, _)| in_v4(x, *net, *prefix))
        .map(|(_, _, why)| (*why).to_string())
}

fn embedded(kind: &str, v4: Ipv4Addr) -> Option<String> {
    classify_v4(v4).map(|why| format!("{kind} form of {v4}, a {why}"))
}

fn classify_v6(ip: Ipv6Addr) -> Option<String> {
    let x = u128::from(ip);
    if let Some((_, _, why)) = V6_DENY
        .iter()
        .find(|(net, prefix, _)| in_v6(x, *net, *prefix))
    {
        return Some((*why).to_string());
    }
    let low32 = Ipv4Addr::from((x & 0xffff_ffff) as u32);
    let s = ip.segments();
    match x >> 32 {
        // ::ffff:a.b.c.d
        0xffff => return embedded("IPv4-mapped", low32),
        // ::ffff:0:a.b.c.d (RFC 2765 IPv4-translated)
        0xffff_0000 => return embedded("IPv4-translated", low32),
        // ::a.b.c.d (deprecated IPv4-compatible; :: and ::1 are caught above)
        0 => return embedded("IPv4-compatible", low32),
        // 64:ff9b::a.b.c.d (well-known NAT64 prefix)
        0x0064_ff9b_0000_0000_0000_0000 => return embedded("NAT64", low32),
        _ => {}
    }
    if s[0] == 0x2002 {
        // 6to4: 2002:AABB:CCDD::/48 carries AA.BB.CC.DD.
        let v4 = Ipv4Addr::from(((s[1] as u32) << 16) | s[2] as u32);
        return embedded("6to4", v4);
    }
    if s[0] == 0x2001 && s[1] == 0 {
        // Teredo: server IPv4 in bits 32..64, client IPv4 XOR-obfuscated in the last 32.
        let server = Ipv4Addr::from(((s[2] as u32) << 16) | s[3] as u32);
        let client = Ipv4Addr::from(!(((s[6] as u32) << 16) | s[7] as u32));
        return embedded("Teredo server", server).or_else(|| embedded("Teredo client", client));
    }
    None
}

/// Why `ip` is not a public unicast destination, or `None` when it is one.
pub fn classify(ip: IpAddr) -> Option<String> {
    match ip {
        IpAddr::V4(v4) => classify_v4(v4),
        IpAddr::V6(v6) => classify_v6(v6),
    }
}

/// Parses a host string the way `inet_aton(3)` does (and the WHATWG URL parser's
/// IPv4 rules, which follow it): one to four dot-separated parts, each decimal,
/// octal (leading `0`) or hex (`0x`), the last part filling the remaining bytes
/// (`127.1` is 127.0.0.1, `2130706433` is 127.0.0.1). One trailing dot is allowed.
/// Returns `None` for anything that is not such a number.
pub fn parse_inet_aton(host: &str) -> Option<Ipv4Addr> {
    let host = host.strip_suffix('.').unwrap_or(host);
    if host.is_empty() {
        return None;
    }
    let parts: Vec<&str> = host.split('.').collect();
    if parts.len() > 4 {
        return None;
    }
    let mut nums = Vec::with_capacity(parts.len());
    for part in &parts {
        nums.push(parse_inet_part(part)?);
    }
    let (last, init) = nums.split_last()?;
    let mut addr: u64 = 0;
    for (i, n) in init.iter().enumerate() {
        if *n > 0xff {
            return None;
        }
        addr |= n << (24 - 8 * i);
    }
    let rest_bits = 32 - 8 * init.len() as u32;
    if rest_bits < 64 && *last >= (1u64 << rest_bits) {
        return None;
    }
    addr |= last;
    Some(Ipv4Addr::from(addr as u32))
}

fn parse_inet_part(part: &str) -> Option<u64> {
    if part.is_empty() {
        return None;
    }
    let (digits, radix) =
        if let Some(h) = part.strip_prefix("0x").or_else(|| part.strip_prefix("0X")) {
            (h, 16)
        } else if part.len() > 1 && part.starts_with('0') {
            (&part[1..], 8)
        } else {
            (part, 10)
        };
    if digits.is_empty() {
        // `0x` alone is zero for the WHATWG parser.
        return Some(0);
    }
    if !digits.chars().all(|c| c.is_digit(radix)) {
        return None;
    }
    // Anything past 32 bits is not an address part.
    u64::from_str_radix(digits, radix)
        .ok()
        .filter(|n| *n <= u32::MAX as u64)
}

/// Lower-cases a host or pattern, drops one trailing dot and IPv6 brackets.
fn normalize_host(host: &str) -> String {
    let h = host.trim();
    let h = h.strip_suffix('.').unwrap_or(h);
    let h = h
        .strip_prefix('[')
        .and_then(|x| x.strip_suffix(']'))
        .unwrap_or(h);
    h.to_ascii_lowercase()
}

/// Canonical form of a host pattern part (punycode, canonical IP), or `None`.
fn canonical_pattern_host(p: &str) -> Option<String> {
    let p = normalize_host(p);
    if p.is_empty() {
        return None;
    }
    if let Ok(v6) = p.parse::<Ipv6Addr>() {
        return Some(v6.to_string());
    }
    match url::Host::parse(&p).ok()? {
        url::Host::Domain(d) => Some(d.to_string()),
        url::Host::Ipv4(a) => Some(a.to_string()),
        url::Host::Ipv6(a) => Some(a.to_string()),
    }
}

/// Whether `host` (a URL host) matches one `allowed_hosts` pattern: exact, or
/// `*.example.org` for any subdomain of example.org (not the apex). Case-insensitive;
/// a trailing dot on either side is ignored; internationalized names compare in
/// their punycode form.
pub fn host_matches(pattern: &str, host: &str) -> bool {
    let Some(host) = canonical_pattern_host(host) else {
        return false;
    };
    let pattern = pattern.trim();
    if let Some(suffix) = pattern.strip_prefix("*.") {
        let Some(suffix) = canonical_pattern_host(suffix) else {
            return false;
        };
        host.len() > suffix.len() + 1
            && host.ends_with(&suffix)
            && host.as_bytes()[host.len() - suffix.len() - 1] == b'.'
    } else {
        canonical_pattern_host(pattern).is_some_and(|p| p == host)
    }
}

/// Whether `host` satisfies a secret's `allowed_hosts` (empty list = anywhere).
pub fn host_allowed(patterns: &[String], host: &str) -> bool {
    patterns.is_empty() || patterns.iter().any(|p| host_matches(p, host))
}

/// The SSRF policy in force: what [`classify`] refuses, unless private destinations
/// are allowed for the whole deployment or an address is an explicit exception.
#[derive(Debug, Clone)]
pub struct Guard {
    allow_private: bool,
    exceptions: Arc<[IpAddr]>,
}

impl Guard {
    pub fn new(allow_private: bool, exceptions: &[IpAddr]) -> Guard {
        Guard {
            allow_private,
            exceptions: exceptions.iter().map(|ip| canonical_ip(*ip)).collect(),
        }
    }

    /// Checks one address that a connection would go to.
    pub fn check_ip(&self, host: &str, ip: IpAddr) -> Result<(), Refusal> {
        if self.allow_private || self.exceptions.contains(&canonical_ip(ip)) {
            return Ok(());
        }
        match classify(ip) {
            None => Ok(()),
            Some(reason) => Err(Refusal {
                host: host.to_string(),
                reason,
            }),
        }
    }

    /// Checks a URL host before anything is sent: IP literals fully; names for what
    /// can be told without DNS (`localhost`, numeric spellings). Names are checked
    /// again, address by address, when [`GuardedResolver`] resolves them.
    pub fn check_host(&self, host: &url::Host<&str>) -> Result<(), Refusal> {
        match host {
            url::Host::Ipv4(a) => self.check_ip(&a.to_string(), IpAddr::V4(*a)),
            url::Host::Ipv6(a) => self.check_ip(&format!("[{a}]"), IpAddr::V6(*a)),
            url::Host::Domain(name) => self.check_name(name),
        }
    }

    /// Name-level checks, before DNS.
    pub fn check_name(&self, name: &str) -> Result<(), Refusal> {
        if self.allow_private {
            return Ok(());
        }
        let n = normalize_host(name);
        let refuse = |reason: &str| {
            Err(Refusal {
                host: name.to_string(),
                reason: reason.to_string(),
            })
        };
        if n.is_empty() {
            return refuse("empty host name");
        }
        if n == "localhost" || n.ends_with(".localhost") {
            return refuse("localhost names always mean loopback");
        }
        if let Some(v4) = parse_inet_aton(&n) {
            return self.check_ip(name, IpAddr::V4(v4));
        }
        if let Ok(v6) = n.parse::<Ipv6Addr>() {
            return self.check_ip(name, IpAddr::V6(v6));
        }
        Ok(())
    }
}

/// Exceptions compare IPv4-mapped IPv6 addresses as their IPv4 form.
fn canonical_ip(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => ip,
        },
        v4 => v4,
    }
}

/// A `reqwest` DNS resolver that applies the [`Guard`] to every address a name
/// resolves to and returns only checked addresses: if any address is refused, the
/// whole name is (a name with one public and one private address is a classic DNS
/// rebinding set-up). `reqwest` does not call resolvers for IP literals; those are
/// checked by the executor before each hop.
pub struct GuardedResolver {
    guard: Guard,
}

impl GuardedResolver {
    pub fn new(guard: Guard) -> GuardedResolver {
        GuardedResolver { guard }
    }
}

/// DNS produced no usable address for a name (no secret or URL in it).
#[derive(Debug)]
pub struct LookupFailed {
    pub host: String,
}

impl fmt::Display for LookupFailed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "could not resolve host \"{}\"", self.host)
    }
}

impl std::error::Error for LookupFailed {}

impl reqwest::dns::Resolve for GuardedResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let guard = self.guard.clone();
        let host = name.as_str().to_string();
        Box::pin(async move {
            guard.check_name(&host)?;
            let lookup = tokio::net::lookup_host((host.as_str(), 0))
                .await
                .map(|it| it.collect::<Vec<SocketAddr>>());
            let addrs = match lookup {
                Ok(addrs) => addrs,
                Err(_) => return Err(Box::new(LookupFailed { host }) as _),
            };
            if addrs.is_empty() {
                return Err(Box::new(LookupFailed { host }) as _);
            }
            for a in &addrs {
                guard.check_ip(&host, a.ip())?;
            }
            Ok(Box::new(addrs.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused(s: &str) -> bool {
        classify(s.parse().unwrap()).is_some()
    }

    #[test]
    fn refuses_every_listed_ipv4_range() {
        for ip in [
            "0.0.0.0",
            "0.1.2.3",
            "10.0.0.1",
            "10.255.255.255",
            "100.64.0.1",
            "100.100.100.200", // Alibaba metadata
            "100.127.255.255",
            "127.0.0.1",
            "127.255.255.254",
            "169.254.169.254", // AWS/GCP/Azure IMDS
            "169.254.170.2",   // ECS task metadata
            "169.254.0.1",
            "172.16.0.1",
            "172.31.255.255",
            "192.0.0.192", // Oracle metadata lives in 192.0.0.0/24
            "192.0.2.10",
            "192.88.99.1",
            "192.168.1.1",
            "198.18.0.1",
            "198.19.255.255",
            "198.51.100.7",
            "203.0.113.9",
            "224.0.0.1",
            "239.255.255.250",
            "240.0.0.1",
            "255.255.255.255",
            "168.63.129.16", // Azure wire server
        ] {
            assert!(refused(ip), "{ip} should be refused");
        }
    }

    #[test]
    fn allows_public_ipv4_including_range_neighbours() {
        for ip in [
            "1.1.1.1",
            "8.8.8.8",
            "9.255.255.255",
            "11.0.0.0",
            "100.63.255.255",
            "100.128.0.0",
            "126.255.255.255",
            "128.0.0.0",
            "169.253.255.255",
            "169.255.0.0",
            "172.15.255.255",
            "172.32.0.0",
            "192.0.1.0",
            "192.0.3.0",
            "192.167.255.255",
            "192.169.0.0",
            "198.17.255.255",
            "198.20.0.0",
            "168.63.129.15",
            "168.63.129.17",
            "223.255.255.255",
        ] {
            assert!(!refused(ip), "{ip} should be allowed");
        }
    }

    #[test]
    fn refuses_every_listed_ipv6_range() {
        for ip in [
            "::",
            "::1",
            "fe80::1",
            "febf:ffff::1", // the whole of fe80::/10
            "fec0::1",
            "fc00::1",
            "fd00:ec2::254", // AWS IMDS over IPv6
            "fdff:ffff::1",
            "ff02::1",
            "ff05::2",
            "2001:db8::1",
            "3fff::1",
            "100::1",
            "2001:2::1",
            "2001:10::1",
            "2001:20::1",
            "64:ff9b:1::a00:1", // local-use NAT64: refused whatever it embeds
            "64:ff9b:1::808:808",
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
            "::ffff:169.254.169.254",
            "::ffff:0:127.0.0.1",
            "::127.0.0.1",
            "::10.1.2.3",
            "::0.0.0.0",
            "64:ff9b::127.0.0.1",
            "64:ff9b::a9fe:a9fe", // NAT64 of 169.254.169.254
            "2002:7f00:1::",      // 6to4 of 127.0.0.1
            "2002:a9fe:a9fe::1",  // 6to4 of 169.254.169.254
            "2002:c0a8:101::",    // 6to4 of 192.168.1.1
            // Teredo, client 127.0.0.1 obfuscated (XOR 0xffffffff = 80ff:fffe)
            "2001:0:4136:e378:8000:63bf:80ff:fffe",
            // Teredo whose server part is private
            "2001:0:a00:1:8000:63bf:f7f7:f7f7",
        ] {
            assert!(refused(ip), "{ip} should be refused");
        }
    }

    #[test]
    fn allows_public_ipv6_and_public_embedded_ipv4() {
        for ip in [
            "2606:4700:4700::1111",
            "2a00:1450:4001:82b::200e",
            "::ffff:8.8.8.8",
            "64:ff9b::808:808",
            "2002:808:808::1",
            // Teredo with public server 65.54.227.120 and client 8.8.8.8 (obfuscated f7f7:f7f7)
            "2001:0:4136:e378:8000:63bf:f7f7:f7f7",
            "fbff::1",
            "fe7f::1",
        ] {
            assert!(!refused(ip), "{ip} should be allowed");
        }
    }

    #[test]
    fn inet_aton_spellings() {
        let lo = Some(Ipv4Addr::new(127, 0, 0, 1));
        assert_eq!(parse_inet_aton("127.0.0.1"), lo);
        assert_eq!(parse_inet_aton("2130706433"), lo);
        assert_eq!(parse_inet_aton("0x7f000001"), lo);
        assert_eq!(parse_inet_aton("0X7F000001"), lo);
        assert_eq!(parse_inet_aton("017700000001"), lo);
        assert_eq!(parse_inet_aton("0177.0.0.1"), lo);
        assert_eq!(parse_inet_aton("0177.0.0.01"), lo);
        assert_eq!(parse_inet_aton("127.1"), lo);
        assert_eq!(parse_inet_aton("127.0.1"), lo);
        assert_eq!(parse_inet_aton("0x7f.1"), lo);
        assert_eq!(parse_inet_aton("0x7f.0.0x0.1"), lo);
        assert_eq!(parse_inet_aton("127.0.0.1."), lo);
        assert_eq!(parse_inet_aton("0"), Some(Ipv4Addr::UNSPECIFIED));
        assert_eq!(
            parse_inet_aton("0xa9fea9fe"),
            Some(Ipv4Addr::new(169, 254, 169, 254))
        );
        assert_eq!(
            parse_inet_aton("169.254.43518"),
            Some(Ipv4Addr::new(169, 254, 169, 254))
        );
        for bad in [
            "",
            ".",
            "1.2.3.4.5",
            "256.0.0.1",
            "1.2.3.256",
            "08.0.0.1",
            "4294967296",
            "example.com",
            "1.2.3.4x",
            "127..1",
            "-1",
        ] {
            assert_eq!(parse_inet_aton(bad), None, "{bad}");
        }
    }

    #[test]
    fn name_checks_catch_localhost_and_numeric_names() {
        let g = Guard::new(false, &[]);
        for name in [
            "localhost",
            "LOCALHOST",
            "localhost.",
            "api.localhost",
            "2130706433",
            "0x7f000001",
            "0177.0.0.1",
            "127.1",
            "0",
            "::1",
        ] {
            assert!(g.check_name(name).is_err(), "{name}");
        }
        assert!(g.check_name("example.com").is_ok());
        assert!(Guard::new(true, &[]).check_name("localhost").is_ok());
    }

    #[test]
    fn exceptions_allow_exactly_their_addresses() {
        let g = Guard::new(false, &["127.0.0.1".parse().unwrap()]);
        assert!(g.check_ip("h", "127.0.0.1".parse().unwrap()).is_ok());
        assert!(g.check_ip("h", "::ffff:127.0.0.1".parse().unwrap()).is_ok());
        assert!(g.check_ip("h", "127.0.0.2".parse().unwrap()).is_err());
        assert!(g.check_ip("h", "::1".parse().unwrap()).is_err());
    }

    #[test]
    fn allowed_hosts_patterns() {
        assert!(host_matches("api.example.com", "api.example.com"));
        assert!(host_matches("API.Example.COM", "api.example.com"));
        assert!(host_matches("api.example.com.", "api.example.com"));
        assert!(host_matches("api.example.com", "api.example.com."));
        assert!(!host_matches("api.example.com", "example.com"));
        assert!(!host_matches("api.example.com", "api.example.com.evil.net"));
        assert!(host_matches("*.example.org", "a.example.org"));
        assert!(host_matches("*.example.org", "a.b.example.org"));
        assert!(host_matches("*.Example.org.", "A.example.ORG."));
        assert!(!host_matches("*.example.org", "example.org"));
        assert!(!host_matches("*.example.org", "badexample.org"));
        assert!(!host_matches("*.example.org", "example.org.evil.net"));
        assert!(host_matches("bücher.example", "xn--bcher-kva.example"));
        assert!(host_matches("127.0.0.1", "127.0.0.1"));
        assert!(host_matches("[::1]", "[::1]"));
        assert!(host_matches("::1", "[::1]"));
        assert!(!host_matches("*", "example.org"));
        assert!(!host_matches("", "example.org"));
        assert!(host_allowed(&[], "anything.example"));
        assert!(host_allowed(
            &["x.example".into(), "*.example.org".into()],
            "a.example.org"
        ));
        assert!(!host_allowed(&["x.example".into()], "y.example"));
    }
}
