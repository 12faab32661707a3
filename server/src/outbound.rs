//! The one policy for every outgoing call: operator webhooks and the callback URLs agents
//! name alike. Which addresses may be reached is decided here, over `IpAddr`, and the
//! delivery worker's HTTP agents resolve host names through [`Resolver`], which drops
//! every address the policy refuses, so the check holds on the very address connected to,
//! at every attempt (DNS rebinding cannot bypass it).
//!
//! `HANDRAIL_OUTBOUND_NETWORKS` chooses the networks:
//! - `public` (the default): only public unicast addresses. Refused: loopback, RFC 1918,
//!   CGNAT `100.64/10`, link-local, ULA `fc00::/7`, site-local `fec0::/10`, NAT64
//!   (`64:ff9b::/96`, `64:ff9b:1::/48`), Teredo, 6to4 and IPv4-mapped or -compatible forms of
//!   a refused IPv4 address, multicast, unspecified, broadcast, documentation and
//!   benchmarking ranges, `0/8`, `240/4` and the other special-purpose blocks.
//! - `private`: also loopback and the private ranges, for receivers on the same host or LAN.
//!
//! Cloud metadata services (`169.254.169.254`, `fd00:ec2::254`, `100.100.100.200`,
//! `169.254.170.2`, …) and the never-routable classes are refused in either mode.
//! `HANDRAIL_CALLBACK_NETWORKS` is a deprecated alias (`local` meaning `private`).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, ToSocketAddrs};

/// The setting's name, and its deprecated alias.
pub(crate) const VAR: &str = "HANDRAIL_OUTBOUND_NETWORKS";
const OLD_VAR: &str = "HANDRAIL_CALLBACK_NETWORKS";

/// What the delivery log says of an attempt the policy stopped: stable, and the same
/// whatever the address was, so the log cannot be used to map a network.
pub(crate) const REFUSED: &str = "refused by policy";

/// Which networks outgoing calls may reach (see the module doc).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Networks {
    /// Public unicast addresses only (the default).
    Public,
    /// Public, loopback and private addresses.
    Private,
}

impl Networks {
    /// `HANDRAIL_OUTBOUND_NETWORKS`, else the deprecated `HANDRAIL_CALLBACK_NETWORKS`, else
    /// `public`. An unknown value is an error, so a typo never opens the private networks.
    pub(crate) fn from_env() -> Result<Networks, String> {
        let read = |name: &str| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
        match (read(VAR), read(OLD_VAR)) {
            (Some(v), _) => Networks::parse(&v).ok_or_else(|| format!("{VAR}={v}: public or private")),
            (None, Some(v)) => {
                let parsed = if v.trim() == "local" { Some(Networks::Private) } else { Networks::parse(&v) };
                parsed.ok_or_else(|| format!("{OLD_VAR}={v}: public or private (use {VAR})"))
            }
            (None, None) => Ok(Networks::Public),
        }
    }

    fn parse(text: &str) -> Option<Networks> {
        match text.trim() {
            "public" => Some(Networks::Public),
            "private" => Some(Networks::Private),
            _ => None,
        }
    }

    /// Whether an outgoing call may connect to `ip`.
    pub(crate) fn allows(self, ip: IpAddr) -> bool {
        match class(ip) {
            Class::Public => true,
            Class::Private => self == Networks::Private,
            Class::Never => false,
        }
    }
}

/// How the policy sees an address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Class {
    /// A public unicast address.
    Public,
    /// Loopback or a private range: reachable only with `private`.
    Private,
    /// Never reached: metadata services, link-local, multicast, reserved, documentation…
    Never,
}

/// Cloud metadata and instance-credential services, refused in either mode (most also fall
/// in a refused range; the list is what must hold when `private` allows the rest).
const METADATA_V4: [Ipv4Addr; 7] = [
    Ipv4Addr::new(169, 254, 169, 254), // AWS, GCP, Azure IMDS, DigitalOcean, OpenStack, Oracle
    Ipv4Addr::new(169, 254, 170, 2),   // AWS ECS task credentials
    Ipv4Addr::new(169, 254, 170, 23),  // AWS EKS pod identity
    Ipv4Addr::new(169, 254, 169, 123), // AWS time sync
    Ipv4Addr::new(100, 100, 100, 200), // Alibaba Cloud
    Ipv4Addr::new(168, 63, 129, 16),   // Azure WireServer
    Ipv4Addr::new(192, 0, 0, 192),     // Oracle Cloud (legacy)
];
const METADATA_V6: [Ipv6Addr; 2] = [
    Ipv6Addr::new(0xfd00, 0xec2, 0, 0, 0, 0, 0, 0x254), // AWS IMDS over IPv6
    Ipv6Addr::new(0xfd00, 0xec2, 0, 0, 0, 0, 0, 0x23),  // AWS EKS pod identity over IPv6
];

/// The policy's class of `ip`.
pub(crate) fn class(ip: IpAddr) -> Class {
    match ip {
        IpAddr::V4(v4) => class_v4(v4),
        IpAddr::V6(v6) => class_v6(v6),
    }
}

fn in_v4(ip: Ipv4Addr, net: [u8; 4], bits: u32) -> bool {
    let mask = if bits == 0 { 0 } else { u32::MAX << (32 - bits) };
    u32::from(ip) & mask == u32::from(Ipv4Addr::from(net)) & mask
}

fn class_v4(ip: Ipv4Addr) -> Class {
    if METADATA_V4.contains(&ip) {
        return Class::Never;
    }
    const NEVER: [([u8; 4], u32); 12] = [
        ([0, 0, 0, 0], 8),       // "this network", 0.0.0.0 (which Linux connects to loopback)
        ([169, 254, 0, 0], 16),  // link-local
        ([192, 0, 0, 0], 24),    // IETF protocol assignments
        ([192, 0, 2, 0], 24),    // TEST-NET-1
        ([192, 31, 196, 0], 24), // AS112
        ([192, 52, 193, 0], 24), // AMT
        ([192, 88, 99, 0], 24),  // deprecated 6to4 relay anycast
        ([192, 175, 48, 0], 24), // AS112 direct delegation
        ([198, 18, 0, 0], 15),   // benchmarking
        ([198, 51, 100, 0], 24), // TEST-NET-2
        ([203, 0, 113, 0], 24),  // TEST-NET-3
        ([224, 0, 0, 0], 3),     // multicast 224/4 and reserved 240/4, broadcast
    ];
    if NEVER.iter().any(|&(net, bits)| in_v4(ip, net, bits)) {
        return Class::Never;
    }
    const PRIVATE: [([u8; 4], u32); 5] = [
        ([127, 0, 0, 0], 8),    // loopback
        ([10, 0, 0, 0], 8),     // RFC 1918
        ([172, 16, 0, 0], 12),  // RFC 1918
        ([192, 168, 0, 0], 16), // RFC 1918
        ([100, 64, 0, 0], 10),  // CGNAT (RFC 6598)
    ];
    if PRIVATE.iter().any(|&(net, bits)| in_v4(ip, net, bits)) {
        return Class::Private;
    }
    Class::Public
}

fn class_v6(ip: Ipv6Addr) -> Class {
    if METADATA_V6.contains(&ip) || ip.is_unspecified() {
        return Class::Never;
    }
    if ip.is_loopback() {
        return Class::Private;
    }
    let s = ip.segments();
    let v4 = |a: u16, b: u16| Ipv4Addr::from((u32::from(a) << 16) | u32::from(b));
    // ::ffff:a.b.c.d (mapped) and ::a.b.c.d (compatible, deprecated): the IPv4 address decides.
    if s[..5] == [0; 5] && (s[5] == 0xffff || s[5] == 0) {
        return class_v4(v4(s[6], s[7]));
    }
    // A translator or relay on the path reaches the IPv4 address embedded in these, so they
    // are private at best: NAT64's well-known 64:ff9b::/96 (the last 32 bits), its local-use
    // 64:ff9b:1::/48 (RFC 6052: bits 48..64 and 72..88), and 6to4 2002::/16 (bits 16..48).
    if s[0] == 0x64 && s[1] == 0xff9b && s[2..6] == [0; 4] {
        return Class::Private.stricter(class_v4(v4(s[6], s[7])));
    }
    if s[0] == 0x64 && s[1] == 0xff9b && s[2] == 1 {
        let [a, b] = s[3].to_be_bytes();
        let embedded = Ipv4Addr::new(a, b, s[4].to_be_bytes()[1], s[5].to_be_bytes()[0]);
        return Class::Private.stricter(class_v4(embedded));
    }
    if s[0] == 0x2002 {
        return Class::Private.stricter(class_v4(v4(s[1], s[2])));
    }
    if (s[0] & 0xfe00) == 0xfc00 || (s[0] & 0xffc0) == 0xfec0 {
        return Class::Private; // ULA fc00::/7, and the deprecated site-local fec0::/10
    }
    // Outside global unicast 2000::/3: multicast, link-local, the reserved rest of ::/8,
    // discard-only 100::/64, and the unassigned space.
    if (s[0] & 0xe000) != 0x2000 {
        return Class::Never;
    }
    let never = match s[0] {
        0x2001 => {
            s[1] == 0 // Teredo: an IPv4 tunnel, its address obfuscated
                || s[1] == 0x0db8 // documentation
                || (s[1] == 2 && s[2] == 0) // benchmarking
                || matches!(s[1] & 0xfff0, 0x10 | 0x20) // ORCHID
        }
        0x3fff => s[1] < 0x1000, // documentation 3fff::/20
        _ => false,
    };
    if never {
        return Class::Never;
    }
    Class::Public
}

impl Class {
    /// The stricter of the two: a tunnel to an address is private at best.
    fn stricter(self, other: Class) -> Class {
        match (self, other) {
            (Class::Never, _) | (_, Class::Never) => Class::Never,
            (Class::Private, _) | (_, Class::Private) => Class::Private,
            _ => Class::Public,
        }
    }
}

/// Why a URL was refused before anything was sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum UrlError {
    /// Not an http(s) URL of at most 2048 bytes, with a host and no credentials.
    Invalid(&'static str),
    /// Its host is an address (or `localhost`) the policy refuses.
    Forbidden,
}

/// Longest outgoing URL, in bytes.
pub(crate) const MAX_URL: usize = 2048;

/// Checks a URL an outgoing call will go to: http or https, at most [`MAX_URL`] bytes, a
/// host, no user name or password, and — for an address literal or `localhost` — a host
/// `networks` allows. Other host names are checked as they resolve, at every attempt.
pub(crate) fn check_url(text: &str, networks: Networks) -> Result<url::Url, UrlError> {
    if text.len() > MAX_URL {
        return Err(UrlError::Invalid("longer than 2048 bytes"));
    }
    let url = url::Url::parse(text).map_err(|_| UrlError::Invalid("not a URL"))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(UrlError::Invalid("not http or https"));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(UrlError::Invalid("carries credentials"));
    }
    let ip = match url.host() {
        None => return Err(UrlError::Invalid("has no host")),
        Some(url::Host::Domain(name)) => {
            let name = name.trim_end_matches('.').to_ascii_lowercase();
            let local = name == "localhost" || name.ends_with(".localhost");
            local.then_some(IpAddr::V4(Ipv4Addr::LOCALHOST))
        }
        Some(url::Host::Ipv4(v4)) => Some(IpAddr::V4(v4)),
        Some(url::Host::Ipv6(v6)) => Some(IpAddr::V6(v6)),
    };
    if ip.is_some_and(|ip| !networks.allows(ip)) {
        return Err(UrlError::Forbidden);
    }
    Ok(url)
}

/// The marker error of a host that resolved to no address the policy allows: the worker
/// finds it in the attempt's error chain and logs [`REFUSED`].
#[derive(Debug)]
pub(crate) struct Refused;

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(REFUSED)
    }
}

impl std::error::Error for Refused {}

/// Whether `error`, or any error in its source chain (io errors' inner ones included), is
/// the policy's [`Refused`].
pub(crate) fn is_refused(error: &(dyn std::error::Error + 'static)) -> bool {
    let mut next = Some(error);
    while let Some(err) = next {
        if err.is::<Refused>() {
            return true;
        }
        let inner = err.downcast_ref::<std::io::Error>().and_then(|io| io.get_ref());
        if inner.is_some_and(|i| i.is::<Refused>()) {
            return true;
        }
        next = err.source();
    }
    false
}

/// The resolver of every outgoing HTTP agent: the system's resolution, with only the
/// addresses `networks` allows kept, so nothing else is ever connected to. None left is the
/// [`Refused`] error.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Resolver(pub(crate) Networks);

impl ureq::Resolver for Resolver {
    fn resolve(&self, netloc: &str) -> std::io::Result<Vec<SocketAddr>> {
        let addrs: Vec<SocketAddr> = netloc.to_socket_addrs()?.filter(|a| self.0.allows(a.ip())).collect();
        if addrs.is_empty() {
            return Err(std::io::Error::new(std::io::ErrorKind::PermissionDenied, Refused));
        }
        Ok(addrs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap_or_else(|_| panic!("{s} is an address"))
    }

    #[test]
    fn every_class() {
        use Class::*;
        for (addr, want) in [
            // public
            ("93.184.216.34", Public),
            ("8.8.8.8", Public),
            ("1.1.1.1", Public),
            ("172.32.0.1", Public),
            ("100.128.0.1", Public),
            ("2606:2800:220:1::1", Public),
            ("2a00:1450:4001:80b::200e", Public),
            ("::ffff:8.8.8.8", Public),
            // loopback and private
            ("127.0.0.1", Private),
            ("127.255.255.254", Private),
            ("10.1.2.3", Private),
            ("172.16.0.1", Private),
            ("172.31.255.255", Private),
            ("192.168.1.1", Private),
            ("100.64.0.1", Private),
            ("100.127.255.255", Private),
            ("::1", Private),
            ("fc00::1", Private),
            ("fd12:3456::1", Private),
            ("fec0::1", Private),
            ("::ffff:127.0.0.1", Private),
            ("::ffff:10.0.0.1", Private),
            ("::127.0.0.1", Private),
            ("64:ff9b::a00:1", Private),
            ("64:ff9b::808:808", Private),
            ("64:ff9b:1::1", Never),
            ("64:ff9b:1:a00:1:0:0:0", Private),
            ("64:ff9b:1:a9fe:a9:fe00::", Never),
            ("2002:7f00:1::1", Private),
            ("2002:c0a8:101::1", Private),
            ("2002:808:808::1", Private),
            // never
            ("169.254.169.254", Never),
            ("169.254.170.2", Never),
            ("169.254.1.1", Never),
            ("100.100.100.200", Never),
            ("168.63.129.16", Never),
            ("192.0.0.192", Never),
            ("fd00:ec2::254", Never),
            ("fd00:ec2::23", Never),
            ("::ffff:169.254.169.254", Never),
            ("::ffff:100.100.100.200", Never),
            ("64:ff9b::a9fe:a9fe", Never),
            ("2002:a9fe:a9fe::1", Never),
            ("0.0.0.0", Never),
            ("0.1.2.3", Never),
            ("::", Never),
            ("::ffff:0.0.0.0", Never),
            ("255.255.255.255", Never),
            ("224.0.0.1", Never),
            ("239.255.255.250", Never),
            ("240.0.0.1", Never),
            ("192.0.2.1", Never),
            ("198.51.100.7", Never),
            ("203.0.113.9", Never),
            ("198.18.0.1", Never),
            ("198.19.255.255", Never),
            ("192.0.0.8", Never),
            ("fe80::1", Never),
            ("febf::1", Never),
            ("ff02::1", Never),
            ("2001:db8::1", Never),
            ("3fff::1", Never),
            ("2001:2::1", Never),
            ("2001::1", Never),
            ("2001:0:4136:e378:8000:63bf:3fff:fdd2", Never),
            ("100::1", Never),
            ("2001:20::1", Never),
            ("4000::1", Never),
        ] {
            assert_eq!(class(ip(addr)), want, "{addr}");
        }
    }

    #[test]
    fn the_two_modes() {
        for (addr, public, private) in [
            ("93.184.216.34", true, true),
            ("127.0.0.1", false, true),
            ("10.0.0.1", false, true),
            ("::1", false, true),
            ("fd00::1", false, true),
            ("169.254.169.254", false, false),
            ("100.100.100.200", false, false),
            ("fd00:ec2::254", false, false),
            ("0.0.0.0", false, false),
        ] {
            assert_eq!(Networks::Public.allows(ip(addr)), public, "{addr}");
            assert_eq!(Networks::Private.allows(ip(addr)), private, "{addr}");
        }
    }

    #[test]
    fn urls() {
        use Networks::*;
        assert!(check_url("https://hooks.example.com/lp?x=1", Public).is_ok());
        assert!(check_url("http://93.184.216.34:8080/", Public).is_ok());
        assert!(check_url("http://127.0.0.1:8080/hook", Private).is_ok());
        assert!(check_url("http://localhost:8080/hook", Private).is_ok());
        for forbidden in [
            "http://127.0.0.1:8080/hook",
            "http://localhost/",
            "http://LOCALHOST./",
            "http://api.localhost/",
            "http://[::1]/",
            "http://[::ffff:127.0.0.1]/",
            "http://10.0.0.1/",
            "http://2130706433/", // 127.0.0.1 as one number
            "http://0x7f.1/",
        ] {
            assert_eq!(check_url(forbidden, Public).unwrap_err(), UrlError::Forbidden, "{forbidden}");
        }
        for never in
            ["http://169.254.169.254/latest/meta-data", "http://[fe80::1]/", "http://[fd00:ec2::254]/"]
        {
            assert_eq!(check_url(never, Private).unwrap_err(), UrlError::Forbidden, "{never}");
        }
        for invalid in [
            "ftp://example.com/",
            "http://user:pw@example.com/",
            "http://user@example.com/",
            "not a url",
            "file:///etc/passwd",
        ] {
            assert!(matches!(check_url(invalid, Private), Err(UrlError::Invalid(_))), "{invalid}");
        }
        let long = format!("http://example.com/{}", "a".repeat(2048));
        assert!(matches!(check_url(&long, Public), Err(UrlError::Invalid(_))));
    }

    #[test]
    fn the_resolver_keeps_only_allowed_addresses() {
        use ureq::Resolver as _;
        let refused = Resolver(Networks::Public).resolve("127.0.0.1:80").unwrap_err();
        assert!(is_refused(&refused), "{refused}");
        let kept = Resolver(Networks::Private).resolve("127.0.0.1:80").unwrap();
        assert_eq!(kept, vec!["127.0.0.1:80".parse::<SocketAddr>().unwrap()]);
        assert!(Resolver(Networks::Private).resolve("169.254.169.254:80").is_err());
        assert!(Resolver(Networks::Public).resolve("93.184.216.34:443").is_ok());
        // A host name is judged by what it resolves to (localhost: loopback, from the hosts file).
        let refused = Resolver(Networks::Public).resolve("localhost:80").unwrap_err();
        assert!(is_refused(&refused), "{refused}");
        let kept = Resolver(Networks::Private).resolve("localhost:80").unwrap();
        assert!(kept.iter().all(|a| a.ip().is_loopback()), "{kept:?}");
    }

    #[test]
    fn the_setting() {
        assert_eq!(Networks::parse("public"), Some(Networks::Public));
        assert_eq!(Networks::parse(" private "), Some(Networks::Private));
        assert_eq!(Networks::parse("local"), None, "only the deprecated alias knows `local`");
        assert_eq!(Networks::parse("all"), None);
    }
}
