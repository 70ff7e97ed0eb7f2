//! The destination guard: which hosts and addresses a request may reach.
//!
//! It owns three checks. [`classify`] says whether an IP address is anything other
//! than a public unicast address (loopback, private, link-local, CGNAT, cloud metadata,
//! multicast, documentation, NAT64/6to4/Teredo/IPv4-mapped forms of any of those…),
//! and [`classify_kind`] which class it falls in: cloud-metadata and link-local
//! addresses are their own class ([`RefusalKind::Metadata`]) that `allow_private` does
//! not lift. [`Guard`] applies that to a URL host and port: IP literals directly, names
//! after DNS, and refuses Lockbox's own endpoints (its listen addresses and public URL)
//! whatever the switches say. Names resolve once per check through the guard, which
//! pins the checked addresses; [`GuardedResolver`], the `reqwest` resolver, hands the
//! client only pinned (checked) addresses, so the connection goes to exactly the
//! addresses that were checked. [`host_allowed`] matches a host against a secret's
//! `allowed_hosts` patterns.
//!
//! Numeric host spellings that URL parsers or the C resolver accept (`2130706433`,
//! `0x7f000001`, `0177.0.0.1`, `127.1`, `0`, mixed forms) are parsed with
//! `inet_aton`'s rules by [`parse_inet_aton`] and treated as the address they spell,
//! so they are refused exactly when the canonical form would be.
//!
//! This module never sees secret values and never performs a request itself.

use std::collections::HashMap;
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// A refused destination: which host, and why. The host is the URL host (or the
/// name being resolved), never a full URL. Callers that may not quote the host (a
/// URL held by a secret, a redirect hop) use [`RefusalKind::summary`] instead of
/// `reason`, which can quote parts of the address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub host: String,
    pub reason: String,
    pub kind: RefusalKind,
}

/// The class of a refused destination; each is lifted by a different switch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefusalKind {
    /// Loopback, private, CGNAT, documentation, multicast, `localhost` names…:
    /// `allow_private` lifts it.
    NotPublic,
    /// Cloud-metadata services and the link-local ranges they live in: only
    /// `dangerous_allow_metadata` lifts it.
    Metadata,
    /// Lockbox's own listen address or public URL: nothing lifts it.
    SelfEndpoint,
}

impl RefusalKind {
    /// A fixed text naming the class, with no part of the address in it.
    pub fn summary(self) -> &'static str {
        match self {
            RefusalKind::NotPublic => "not a public address",
            RefusalKind::Metadata => "a cloud-metadata or link-local address",
            RefusalKind::SelfEndpoint => "Lockbox's own address",
        }
    }
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

/// IPv4 cloud-metadata addresses and the link-local range, as (network, prefix,
/// reason): refused even when private destinations are allowed.
const V4_METADATA: &[(u32, u8, &str)] = &[
    (
        0xA9FE_0000,
        16,
        "link-local address (169.254.0.0/16, incl. cloud metadata 169.254.169.254 and ECS 169.254.170.2/.23)",
    ),
    (0x6464_64C8, 32, "Alibaba Cloud metadata address (100.100.100.200)"),
    (0xC000_00C0, 32, "Oracle Cloud metadata address (192.0.0.192)"),
    (0xA83F_8110, 32, "Azure wire server (168.63.129.16)"),
];

/// IPv4 ranges that are never a public destination, as (network, prefix, reason).
const V4_DENY: &[(u32, u8, &str)] = &[
    (0x0000_0000, 8, "'this network' address (0.0.0.0/8)"),
    (0x0A00_0000, 8, "private address (10.0.0.0/8)"),
    (0x6440_0000, 10, "carrier-grade NAT address (100.64.0.0/10)"),
    (0x7F00_0000, 8, "loopback address (127.0.0.0/8)"),
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
];

/// IPv6 cloud-metadata addresses and the link-local range: refused even when private
/// destinations are allowed.
const V6_METADATA: &[(u128, u8, &str)] = &[
    (
        0xfd00_0ec2_0000_0000_0000_0000_0000_0254,
        128,
        "AWS IMDS address (fd00:ec2::254)",
    ),
    (
        0xfd00_0ec2_0000_0000_0000_0000_0000_0023,
        128,
        "AWS ECS metadata address (fd00:ec2::23)",
    ),
    (
        0xfe80_0000_0000_0000_0000_0000_0000_0000,
        10,
        "link-local address (fe80::/10)",
    ),
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
        "unique-local address (fc00::/7)",
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

type Class = (RefusalKind, String);

fn classify_v4(ip: Ipv4Addr) -> Option<Class> {
    let x = u32::from(ip);
    let find = |list: &[(u32, u8, &str)], kind| {
        list.iter()
            .find(|(net, prefix, _)| in_v4(x, *net, *prefix))
            .map(|(_, _, why)| (kind, (*why).to_string()))
    };
    find(V4_METADATA, RefusalKind::Metadata).or_else(|| find(V4_DENY, RefusalKind::NotPublic))
}

fn embedded(kind: &str, v4: Ipv4Addr) -> Option<Class> {
    classify_v4(v4).map(|(class, why)| (class, format!("{kind} form of {v4}, a {why}")))
}

fn classify_v6(ip: Ipv6Addr) -> Option<Class> {
    let x = u128::from(ip);
    for (list, kind) in [
        (V6_METADATA, RefusalKind::Metadata),
        (V6_DENY, RefusalKind::NotPublic),
    ] {
        if let Some((_, _, why)) = list.iter().find(|(net, prefix, _)| in_v6(x, *net, *prefix)) {
            return Some((kind, (*why).to_string()));
        }
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
        // The stricter class wins when both halves are refused.
        return match (
            embedded("Teredo server", server),
            embedded("Teredo client", client),
        ) {
            (Some(a), Some(b)) if b.0 == RefusalKind::Metadata && a.0 != RefusalKind::Metadata => {
                Some(b)
            }
            (a, b) => a.or(b),
        };
    }
    None
}

/// Why `ip` is not a public unicast destination, or `None` when it is one.
pub fn classify(ip: IpAddr) -> Option<String> {
    classify_kind(ip).map(|(_, why)| why)
}

/// As [`classify`], with the class: [`RefusalKind::Metadata`] for cloud-metadata and
/// link-local addresses (also inside mapped, NAT64, 6to4 and Teredo forms),
/// [`RefusalKind::NotPublic`] for every other non-public address.
pub fn classify_kind(ip: IpAddr) -> Option<(RefusalKind, String)> {
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

/// How long a name's checked addresses are reused before a check resolves it again.
const PIN_REFRESH: Duration = Duration::from_secs(30);
/// A pin no check has used for this long is forgotten.
const PIN_IDLE: Duration = Duration::from_secs(300);
/// Names pinned at once (idle ones are dropped first).
const PIN_MAX_NAMES: usize = 1024;
/// Addresses kept per name (the newest answer first).
const PIN_MAX_ADDRS: usize = 32;

/// The checked addresses of one name. They only grow while the name is in use, and
/// an address joins only after it passed every check earlier users relied on, so a
/// connection that takes any of them goes where a check said it may.
#[derive(Debug)]
struct Pin {
    addrs: Vec<IpAddr>,
    /// Lockbox's own ports this name was checked with: no address that is Lockbox's
    /// on one of them may join `addrs` (a request checked for that port may still be
    /// connecting).
    self_ports: Vec<u16>,
    resolved_at: Instant,
    used_at: Instant,
}

/// Addresses a name resolved to, and when.
type Resolved = (Instant, Vec<SocketAddr>);

/// The SSRF policy in force: what [`classify_kind`] refuses, unless private
/// destinations are allowed for the whole deployment (`allow_private`), metadata
/// addresses are (`dangerous_allow_metadata`), or an address is an explicit exception
/// (`dangerous_allow_ips`, which lifts either class for exactly that address); and
/// Lockbox's own endpoints, which nothing lifts.
#[derive(Debug, Clone)]
pub struct Guard {
    allow_private: bool,
    allow_metadata: bool,
    exceptions: Arc<[IpAddr]>,
    self_endpoints: Arc<[SocketAddr]>,
    /// Host names of Lockbox's public URLs (normalized), with their ports.
    self_names: Arc<[(String, u16)]>,
    pins: Arc<Mutex<HashMap<String, Pin>>>,
    /// What the public URLs' names resolved to, and when (with `allow_private` only).
    self_name_addrs: Arc<Mutex<Option<Resolved>>>,
}

/// Why a destination may not be reached: refused, or its name did not resolve.
#[derive(Debug)]
pub enum Blocked {
    Refused(Refusal),
    Lookup(LookupFailed),
}

impl From<Refusal> for Blocked {
    fn from(r: Refusal) -> Blocked {
        Blocked::Refused(r)
    }
}

impl From<LookupFailed> for Blocked {
    fn from(l: LookupFailed) -> Blocked {
        Blocked::Lookup(l)
    }
}

impl fmt::Display for Blocked {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Blocked::Refused(r) => r.fmt(f),
            Blocked::Lookup(l) => l.fmt(f),
        }
    }
}

impl std::error::Error for Blocked {}

fn self_refusal(host: &str, reason: &str) -> Refusal {
    Refusal {
        host: host.to_string(),
        reason: reason.to_string(),
        kind: RefusalKind::SelfEndpoint,
    }
}

/// Whether `ip` is an address of this machine: loopback, unspecified, or one a socket
/// can bind to (the address of a local interface). Binding a UDP socket to port 0
/// sends nothing.
fn is_local(ip: IpAddr) -> bool {
    ip.is_loopback()
        || ip.is_unspecified()
        || std::net::UdpSocket::bind(SocketAddr::new(ip, 0)).is_ok()
}

async fn lookup(name: &str) -> Result<Vec<IpAddr>, LookupFailed> {
    let failed = || LookupFailed {
        host: name.to_string(),
    };
    let addrs: Vec<IpAddr> = tokio::net::lookup_host((name, 0))
        .await
        .map_err(|_| failed())?
        .map(|a| a.ip())
        .collect();
    if addrs.is_empty() {
        return Err(failed());
    }
    Ok(addrs)
}

impl Guard {
    pub fn new(allow_private: bool, exceptions: &[IpAddr]) -> Guard {
        Guard {
            allow_private,
            allow_metadata: false,
            exceptions: exceptions.iter().map(|ip| canonical_ip(*ip)).collect(),
            self_endpoints: Arc::new([]),
            self_names: Arc::new([]),
            pins: Arc::new(Mutex::new(HashMap::new())),
            self_name_addrs: Arc::new(Mutex::new(None)),
        }
    }

    /// The guard a policy describes: its switches, exceptions, and Lockbox's own
    /// endpoints (listen addresses, public URLs).
    pub fn from_policy(policy: &crate::EgressPolicy) -> Guard {
        let mut g = Guard::new(policy.allow_private, &policy.dangerous_allow_ips);
        g.allow_metadata = policy.dangerous_allow_metadata;
        let mut endpoints = policy.self_endpoints.clone();
        let mut names = Vec::new();
        for u in &policy.self_urls {
            let Some(port) = u.port_or_known_default() else {
                continue;
            };
            match u.host() {
                Some(url::Host::Domain(d)) => names.push((normalize_host(d), port)),
                Some(url::Host::Ipv4(a)) => endpoints.push(SocketAddr::new(IpAddr::V4(a), port)),
                Some(url::Host::Ipv6(a)) => endpoints.push(SocketAddr::new(IpAddr::V6(a), port)),
                None => {}
            }
        }
        g.self_endpoints = endpoints.into();
        g.self_names = names.into();
        g
    }

    /// Whether a connection to `addr` would reach Lockbox itself: one of its listen
    /// addresses with the same port, where a listen on `0.0.0.0` or `::` stands for
    /// every loopback and local address, and a destination of `0.0.0.0` or `::` (which
    /// connects to this machine) for every listen address.
    pub fn is_self(&self, addr: SocketAddr) -> bool {
        let ip = canonical_ip(addr.ip());
        self.self_endpoints.iter().any(|ep| {
            let ep_ip = canonical_ip(ep.ip());
            ep.port() == addr.port()
                && (ep_ip == ip || ip.is_unspecified() || (ep_ip.is_unspecified() && is_local(ip)))
        })
    }

    /// Checks one address that a connection would go to (its class only).
    pub fn check_ip(&self, host: &str, ip: IpAddr) -> Result<(), Refusal> {
        if self.exceptions.contains(&canonical_ip(ip)) {
            return Ok(());
        }
        match classify_kind(ip) {
            None => Ok(()),
            Some((RefusalKind::NotPublic, _)) if self.allow_private => Ok(()),
            Some((RefusalKind::Metadata, _)) if self.allow_metadata => Ok(()),
            Some((kind, reason)) => Err(Refusal {
                host: host.to_string(),
                reason,
                kind,
            }),
        }
    }

    /// Checks one address and port: Lockbox's own endpoints (nothing lifts that), then
    /// the address's class.
    pub fn check_socket(&self, host: &str, addr: SocketAddr) -> Result<(), Refusal> {
        if self.is_self(addr) {
            return Err(self_refusal(host, "Lockbox's own listen address"));
        }
        self.check_ip(host, addr.ip())
    }

    /// Checks a URL host before anything is sent: IP literals fully; names for what
    /// can be told without DNS (`localhost`, numeric spellings). Ports and Lockbox's
    /// own endpoints are checked by [`Guard::check_destination`].
    pub fn check_host(&self, host: &url::Host<&str>) -> Result<(), Refusal> {
        match host {
            url::Host::Ipv4(a) => self.check_ip(&a.to_string(), IpAddr::V4(*a)),
            url::Host::Ipv6(a) => self.check_ip(&format!("[{a}]"), IpAddr::V6(*a)),
            url::Host::Domain(name) => self.check_name(name),
        }
    }

    /// Name-level checks, before DNS. Numeric spellings are checked as the address
    /// they spell whatever the switches (metadata stays refused); `localhost` names
    /// only while private destinations are refused.
    pub fn check_name(&self, name: &str) -> Result<(), Refusal> {
        let n = normalize_host(name);
        let refuse = |reason: &str| {
            Err(Refusal {
                host: name.to_string(),
                reason: reason.to_string(),
                kind: RefusalKind::NotPublic,
            })
        };
        if n.is_empty() {
            return refuse("empty host name");
        }
        if let Some(v4) = parse_inet_aton(&n) {
            return self.check_ip(name, IpAddr::V4(v4));
        }
        if let Ok(v6) = n.parse::<Ipv6Addr>() {
            return self.check_ip(name, IpAddr::V6(v6));
        }
        if !self.allow_private && (n == "localhost" || n.ends_with(".localhost")) {
            return refuse("localhost names always mean loopback");
        }
        Ok(())
    }

    /// Every port Lockbox itself answers on (listen addresses and public URLs).
    fn self_ports(&self, extra: &[SocketAddr]) -> Vec<u16> {
        let mut ports: Vec<u16> = self
            .self_endpoints
            .iter()
            .chain(extra)
            .map(|a| a.port())
            .chain(self.self_names.iter().map(|(_, p)| *p))
            .collect();
        ports.sort_unstable();
        ports.dedup();
        ports
    }

    /// With private destinations allowed, the addresses the public URLs' names
    /// resolve to (a private load balancer in front of Lockbox, say), with their
    /// ports; re-resolved at most every [`PIN_REFRESH`]. Empty otherwise.
    async fn resolved_self_names(&self) -> Vec<SocketAddr> {
        if !self.allow_private || self.self_names.is_empty() {
            return Vec::new();
        }
        if let Some((at, addrs)) = &*self.self_name_addrs.lock().unwrap() {
            if at.elapsed() < PIN_REFRESH {
                return addrs.clone();
            }
        }
        let mut out = Vec::new();
        for (name, port) in self.self_names.iter() {
            if let Ok(ips) = lookup(name).await {
                out.extend(ips.into_iter().map(|ip| SocketAddr::new(ip, *port)));
            }
        }
        *self.self_name_addrs.lock().unwrap() = Some((Instant::now(), out.clone()));
        out
    }

    /// The whole check of one destination before a request goes to it: Lockbox's own
    /// public URL by name, then every address the host stands for (the literal, or
    /// what the name resolves to) with the port, against Lockbox's own endpoints and
    /// the address classes. A name's checked addresses are pinned: the connection
    /// ([`GuardedResolver`]) uses exactly those.
    pub async fn check_destination(
        &self,
        host: &url::Host<&str>,
        port: u16,
    ) -> Result<(), Blocked> {
        let label = match host {
            url::Host::Ipv4(a) => a.to_string(),
            url::Host::Ipv6(a) => format!("[{a}]"),
            url::Host::Domain(d) => d.to_string(),
        };
        if let url::Host::Domain(name) = host {
            let n = normalize_host(name);
            if self.self_names.iter().any(|(h, p)| *h == n && *p == port) {
                return Err(self_refusal(&label, "Lockbox's own public URL").into());
            }
        }
        let extra = self.resolved_self_names().await;
        let is_self = |a: SocketAddr| {
            self.is_self(a)
                || extra
                    .iter()
                    .any(|e| e.port() == a.port() && canonical_ip(e.ip()) == canonical_ip(a.ip()))
        };
        let ip = match host {
            url::Host::Ipv4(a) => IpAddr::V4(*a),
            url::Host::Ipv6(a) => IpAddr::V6(*a),
            url::Host::Domain(name) => {
                self.check_name(name)?;
                return self
                    .pin(name, port, &self.self_ports(&extra), &is_self)
                    .await;
            }
        };
        if is_self(SocketAddr::new(ip, port)) {
            return Err(self_refusal(&label, "Lockbox's own address").into());
        }
        Ok(self.check_ip(&label, ip)?)
    }

    /// Resolves `name` (or reuses its pin while fresh), checks its addresses for
    /// `port`, and records the result so the connector uses only checked addresses.
    async fn pin(
        &self,
        name: &str,
        port: u16,
        self_ports: &[u16],
        is_self: &(dyn Fn(SocketAddr) -> bool + Sync),
    ) -> Result<(), Blocked> {
        let key = normalize_host(name);
        let now = Instant::now();
        let stale = match self.pins.lock().unwrap().get(&key) {
            Some(p) => {
                now.duration_since(p.resolved_at) >= PIN_REFRESH
                    || now.duration_since(p.used_at) >= PIN_IDLE
            }
            None => true,
        };
        let fresh = if stale {
            lookup(name).await?
        } else {
            Vec::new()
        };
        // A name with one refused address is refused whole (a DNS-rebinding set-up).
        for ip in &fresh {
            self.check_ip(name, *ip)?;
        }
        let mut pins = self.pins.lock().unwrap();
        let old = pins
            .get(&key)
            .filter(|p| now.duration_since(p.used_at) < PIN_IDLE);
        let mut addrs = fresh.clone();
        let mut ports = Vec::new();
        if let Some(old) = old {
            for ip in &old.addrs {
                if !addrs.contains(ip) {
                    addrs.push(*ip);
                }
            }
            ports = old.self_ports.clone();
        }
        addrs.truncate(PIN_MAX_ADDRS);
        let refuse =
            || -> Result<(), Blocked> { Err(self_refusal(name, "Lockbox's own address").into()) };
        for ip in &addrs {
            if is_self(SocketAddr::new(*ip, port)) {
                return refuse();
            }
        }
        for ip in addrs
            .iter()
            .filter(|ip| old.is_none_or(|o| !o.addrs.contains(ip)))
        {
            if ports.iter().any(|p| is_self(SocketAddr::new(*ip, *p))) {
                return refuse();
            }
        }
        if self_ports.contains(&port) && !ports.contains(&port) {
            ports.push(port);
        }
        let resolved_at = match old {
            Some(o) if !stale => o.resolved_at,
            _ => now,
        };
        if pins.len() >= PIN_MAX_NAMES && !pins.contains_key(&key) {
            pins.retain(|_, p| now.duration_since(p.used_at) < PIN_IDLE);
            if pins.len() >= PIN_MAX_NAMES {
                // Forgetting a pin is always safe: the connector then resolves on its
                // own and refuses any address of Lockbox's on any of its ports.
                pins.clear();
            }
        }
        pins.insert(
            key,
            Pin {
                addrs,
                self_ports: ports,
                resolved_at,
                used_at: now,
            },
        );
        Ok(())
    }

    /// The addresses a connection to `name` may use: the pinned ones a check passed;
    /// a name no check pinned is resolved here and refused if any address is refused
    /// or is Lockbox's own on any of its ports (the port is not known here).
    pub async fn resolve_for_connect(&self, name: &str) -> Result<Vec<SocketAddr>, Blocked> {
        self.check_name(name)?;
        let key = normalize_host(name);
        if let Some(p) = self.pins.lock().unwrap().get(&key) {
            if p.used_at.elapsed() < PIN_IDLE {
                return Ok(p.addrs.iter().map(|ip| SocketAddr::new(*ip, 0)).collect());
            }
        }
        let ips = lookup(name).await?;
        let ports = self.self_ports(&[]);
        for ip in &ips {
            self.check_ip(name, *ip)?;
            if ports.iter().any(|p| self.is_self(SocketAddr::new(*ip, *p))) {
                return Err(self_refusal(name, "Lockbox's own address").into());
            }
        }
        Ok(ips.into_iter().map(|ip| SocketAddr::new(ip, 0)).collect())
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

/// A `reqwest` DNS resolver that hands the client only addresses the [`Guard`]
/// checked: those [`Guard::check_destination`] pinned for the name (with the port of
/// the request), or, for a name no check pinned, a fresh answer in which every
/// address passed (if any address is refused, the whole name is: a name with one
/// public and one private address is a classic DNS rebinding set-up). `reqwest` does
/// not call resolvers for IP literals; those are checked by the executor before each
/// hop.
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
            match guard.resolve_for_connect(&host).await {
                Ok(addrs) => Ok(Box::new(addrs.into_iter()) as reqwest::dns::Addrs),
                Err(Blocked::Refused(r)) => Err(Box::new(r) as _),
                Err(Blocked::Lookup(l)) => Err(Box::new(l) as _),
            }
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
    fn metadata_and_link_local_are_their_own_class() {
        for ip in [
            "169.254.169.254",
            "169.254.170.2",
            "169.254.170.23",
            "169.254.0.1",
            "169.254.255.255",
            "100.100.100.200",
            "192.0.0.192",
            "168.63.129.16",
            "fd00:ec2::254",
            "fd00:ec2::23",
            "fe80::1",
            "febf:ffff::1",
            "::ffff:169.254.169.254",
            "::ffff:a9fe:a9fe",
            "::ffff:0:169.254.169.254",
            "::169.254.169.254",
            "64:ff9b::a9fe:a9fe",
            "2002:a9fe:a9fe::1",
            "2002:6464:64c8::",
            // Teredo: client 169.254.169.254 obfuscated (XOR ffff:ffff = 5601:5601)
            "2001:0:4136:e378:8000:63bf:5601:5601",
            // Teredo whose server part is 169.254.169.254
            "2001:0:a9fe:a9fe:8000:63bf:f7f7:f7f7",
        ] {
            let kind = classify_kind(ip.parse().unwrap()).map(|(k, _)| k);
            assert_eq!(kind, Some(RefusalKind::Metadata), "{ip}");
        }
        for ip in [
            "127.0.0.1",
            "10.0.0.1",
            "100.64.0.1",
            "::1",
            "fd00::1",
            "fd00:ec2::253",
        ] {
            let kind = classify_kind(ip.parse().unwrap()).map(|(k, _)| k);
            assert_eq!(kind, Some(RefusalKind::NotPublic), "{ip}");
        }
    }

    #[test]
    fn allow_private_does_not_open_metadata_only_the_dangerous_switch_does() {
        let private = Guard::from_policy(&crate::EgressPolicy {
            allow_private: true,
            ..Default::default()
        });
        let metadata = Guard::from_policy(&crate::EgressPolicy {
            dangerous_allow_metadata: true,
            ..Default::default()
        });
        for ip in [
            "169.254.169.254",
            "169.254.170.2",
            "169.254.170.23",
            "100.100.100.200",
            "192.0.0.192",
            "fd00:ec2::254",
            "fd00:ec2::23",
            "fe80::1",
            "::ffff:169.254.169.254",
            "64:ff9b::a9fe:a9fe",
        ] {
            let ip: IpAddr = ip.parse().unwrap();
            let err = private.check_ip("h", ip).unwrap_err();
            assert_eq!(err.kind, RefusalKind::Metadata, "{ip}");
            assert!(metadata.check_ip("h", ip).is_ok(), "{ip}");
            assert!(Guard::new(true, &[ip]).check_ip("h", ip).is_ok(), "{ip}");
        }
        // Numeric spellings of a metadata address stay refused with allow_private.
        for name in ["0xa9fea9fe", "2852039166", "169.254.43518", "fe80::1"] {
            assert!(private.check_name(name).is_err(), "{name}");
        }
        // The dangerous switch opens metadata only, not private addresses.
        assert!(metadata.check_ip("h", "10.0.0.1".parse().unwrap()).is_err());
        assert!(private.check_ip("h", "10.0.0.1".parse().unwrap()).is_ok());
    }

    #[test]
    fn lockbox_own_endpoints_are_refused_whatever_the_switches() {
        let policy = |listen: &str| crate::EgressPolicy {
            allow_private: true,
            dangerous_allow_metadata: true,
            dangerous_allow_ips: vec!["127.0.0.1".parse().unwrap()],
            self_endpoints: vec![listen.parse().unwrap()],
            self_urls: vec![url::Url::parse("https://Lockbox.Example.COM/").unwrap()],
            ..Default::default()
        };
        let g = Guard::from_policy(&policy("127.0.0.1:8270"));
        let sock = |s: &str| -> SocketAddr { s.parse().unwrap() };
        assert!(g.check_socket("h", sock("127.0.0.1:8270")).is_err());
        assert!(g
            .check_socket("h", sock("[::ffff:127.0.0.1]:8270"))
            .is_err());
        assert!(g.check_socket("h", sock("0.0.0.0:8270")).is_err());
        assert!(g.check_socket("h", sock("[::]:8270")).is_err());
        assert!(g.check_socket("h", sock("127.0.0.1:8271")).is_ok());
        assert!(g.check_socket("h", sock("127.0.0.2:8270")).is_ok());
        let err = g.check_socket("h", sock("127.0.0.1:8270")).unwrap_err();
        assert_eq!(err.kind, RefusalKind::SelfEndpoint);

        // A listen on every address stands for every loopback and local address.
        for any in ["0.0.0.0:8270", "[::]:8270"] {
            let g = Guard::from_policy(&policy(any));
            for dest in [
                "127.0.0.1:8270",
                "127.0.0.9:8270",
                "[::1]:8270",
                "0.0.0.0:8270",
            ] {
                assert!(g.check_socket("h", sock(dest)).is_err(), "{any} {dest}");
            }
            assert!(g.check_socket("h", sock("127.0.0.1:8271")).is_ok(), "{any}");
            // 192.0.2.1 (documentation range) is not an address of this machine.
            assert!(!g.is_self(sock("192.0.2.1:8270")), "{any}");
        }
    }

    #[tokio::test]
    async fn the_public_url_is_refused_by_name_and_port() {
        let g = Guard::from_policy(&crate::EgressPolicy {
            allow_private: true,
            self_urls: vec![
                url::Url::parse("https://Lockbox.Example.COM/").unwrap(),
                url::Url::parse("http://10.1.2.3:8443/").unwrap(),
            ],
            ..Default::default()
        });
        for (host, port) in [("lockbox.example.com", 443), ("LOCKBOX.example.com.", 443)] {
            let h = url::Host::Domain(host);
            match g.check_destination(&h, port).await {
                Err(Blocked::Refused(r)) => assert_eq!(r.kind, RefusalKind::SelfEndpoint),
                other => panic!("{host}:{port}: {other:?}"),
            }
        }
        let ip = url::Host::Ipv4("10.1.2.3".parse().unwrap());
        assert!(matches!(
            g.check_destination(&ip, 8443).await,
            Err(Blocked::Refused(Refusal {
                kind: RefusalKind::SelfEndpoint,
                ..
            }))
        ));
        assert!(g.check_destination(&ip, 8444).await.is_ok());
    }

    #[tokio::test]
    async fn a_name_is_checked_with_its_port_and_pinned_for_the_connection() {
        let g = Guard::from_policy(&crate::EgressPolicy {
            allow_private: true,
            self_endpoints: vec!["127.0.0.1:8270".parse().unwrap()],
            ..Default::default()
        });
        let localhost = url::Host::Domain("localhost");
        assert!(g.check_destination(&localhost, 9000).await.is_ok());
        let pinned = g.resolve_for_connect("localhost").await.unwrap();
        assert!(pinned.iter().all(|a| a.ip().is_loopback()), "{pinned:?}");
        assert!(matches!(
            g.check_destination(&localhost, 8270).await,
            Err(Blocked::Refused(Refusal {
                kind: RefusalKind::SelfEndpoint,
                ..
            }))
        ));
        // With no pin (no check first), the connector cannot see the port: a name
        // that resolves to Lockbox's own address is refused whatever the port.
        let fresh = Guard::from_policy(&crate::EgressPolicy {
            allow_private: true,
            self_endpoints: vec!["127.0.0.1:8270".parse().unwrap()],
            ..Default::default()
        });
        if tokio::net::lookup_host(("localhost", 0))
            .await
            .is_ok_and(|mut a| a.any(|a| a.ip() == IpAddr::from([127, 0, 0, 1])))
        {
            assert!(fresh.resolve_for_connect("localhost").await.is_err());
        }
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
