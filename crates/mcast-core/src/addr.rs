//! Multicast addresses: [`Group`], [`Cidr`], [`Scope`], [`Block`], [`MacAddr`] and [`GroupRange`].
//!
//! A [`Group`] is an IP address that has been checked to be multicast (IPv4 224.0.0.0/4, IPv6
//! ff00::/8). Every function in mcast that needs a group takes a `Group`, never a bare `IpAddr`,
//! so the check happens once, where the text is parsed.
//!
//! ```
//! use mcast_core::addr::{Group, Scope};
//!
//! let g: Group = "224.1.1.5".parse()?;
//! assert_eq!(g.mac().to_string(), "01:00:5e:01:01:05");
//! assert_eq!(g.scope(), Scope::Global);
//! assert!(!g.is_ssm());
//!
//! let err = "192.168.1.1".parse::<Group>().unwrap_err();
//! assert_eq!(
//!     err.to_string(),
//!     "192.168.1.1 is not a multicast address: IPv4 multicast groups are 224.0.0.0/4"
//! );
//! # Ok::<(), mcast_core::addr::AddrError>(())
//! ```

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV6};
use std::str::FromStr;

/// `Serialize` as the `Display` text, `Deserialize` through `FromStr`.
macro_rules! serde_as_text {
    ($ty:ty) => {
        #[cfg(feature = "serde")]
        impl serde::Serialize for $ty {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.collect_str(self)
            }
        }

        #[cfg(feature = "serde")]
        impl<'de> serde::Deserialize<'de> for $ty {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                struct Text;

                impl serde::de::Visitor<'_> for Text {
                    type Value = $ty;

                    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                        f.write_str(concat!("a ", stringify!($ty), " as text"))
                    }

                    fn visit_str<E: serde::de::Error>(self, s: &str) -> Result<$ty, E> {
                        s.parse().map_err(E::custom)
                    }
                }

                d.deserialize_str(Text)
            }
        }
    };
}

/// What can be wrong with an address, a prefix or a range given as a group or a source.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AddrError {
    /// The text is not an IPv4 or IPv6 address.
    #[error("{0:?} is not an IP address (expected e.g. 224.1.1.5 or ff15::1)")]
    Syntax(String),
    /// The address is valid but not multicast.
    #[error("{addr} is not a multicast address: {}", multicast_hint(*.addr))]
    NotMulticast {
        /// The offending address.
        addr: IpAddr,
    },
    /// A source address (SSM / IGMPv3 source filter) must be a unicast address.
    #[error("source {source_addr} is not a unicast address: a source names the host that sends, e.g. 192.168.56.3")]
    SourceNotUnicast {
        /// The offending source.
        source_addr: IpAddr,
    },
    /// The source and the group are of different address families.
    #[error("source {source_addr} and group {group} are of different address families")]
    FamilyMismatch {
        /// The group.
        group: IpAddr,
        /// The source.
        source_addr: IpAddr,
    },
    /// Two groups served together (by one receiver, one membership queue) are of different
    /// address families.
    #[error("groups {first} and {group} are of different address families")]
    MixedFamilies {
        /// The first group, which fixes the family.
        first: IpAddr,
        /// The group of the other family.
        group: IpAddr,
    },
    /// The text is not a `ADDR/PREFIX` CIDR block.
    #[error("{0:?} is not a CIDR block (expected e.g. 224.0.0.0/4 or ff00::/8)")]
    CidrSyntax(String),
    /// The prefix length is too long for the family.
    #[error("prefix length {prefix} is too long for {addr} (at most {max})")]
    PrefixTooLong {
        /// The base address.
        addr: IpAddr,
        /// The prefix length given.
        prefix: u8,
        /// The longest allowed prefix for the family.
        max: u8,
    },
    /// The text is not a `GROUP+COUNT` range.
    #[error("{0:?} is not a group range (expected GROUP+COUNT, e.g. 239.1.0.1+100)")]
    RangeSyntax(String),
    /// The count of a `GROUP+COUNT` range is a number, but larger than a range can be.
    #[error("{range:?} counts more groups than a range can hold (at most {max})")]
    RangeTooLarge {
        /// The range as written.
        range: String,
        /// The largest count, [`GroupRange::MAX_COUNT`].
        max: u32,
    },
    /// A range must name at least one group.
    #[error("a group range needs a count of at least 1")]
    EmptyRange,
    /// The range runs past the end of the multicast block.
    #[error(
        "range {first}+{count} runs past the end of the multicast block ({last} is the last group)"
    )]
    RangeOverflow {
        /// The first group.
        first: IpAddr,
        /// The number of groups asked for.
        count: u64,
        /// The last multicast address of that family.
        last: IpAddr,
    },
    /// The text is not a scope name (see [`Scope`]'s `FromStr`).
    #[error("{0:?} is not a scope (expected interface-local, link-local, realm-local, admin-local, site-local, organization-local or global)")]
    ScopeSyntax(String),
    /// The text is not a `GROUP:PORT` socket address.
    #[error("{0:?} is not GROUP:PORT (expected e.g. 224.1.1.5:50001 or [ff15::1]:50001)")]
    SocketAddrSyntax(String),
    /// The text is not a MAC address.
    #[error("{0:?} is not a MAC address (expected six hex octets, e.g. 01:00:5e:01:01:05)")]
    MacSyntax(String),
}

fn multicast_hint(addr: IpAddr) -> &'static str {
    match addr {
        IpAddr::V4(_) => "IPv4 multicast groups are 224.0.0.0/4",
        IpAddr::V6(_) => "IPv6 multicast groups are ff00::/8",
    }
}

/// An IP prefix, `ADDR/LEN`.
///
/// ```
/// use mcast_core::addr::Cidr;
/// let lan: Cidr = "192.168.56.0/24".parse()?;
/// assert!(lan.contains("192.168.56.3".parse().unwrap()));
/// assert!(!lan.contains("192.168.57.3".parse().unwrap()));
/// assert!(Cidr::IPV4_MULTICAST.contains("239.1.2.3".parse().unwrap()));
/// # Ok::<(), mcast_core::addr::AddrError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Cidr {
    addr: IpAddr,
    prefix: u8,
}

impl Cidr {
    /// All IPv4 multicast: 224.0.0.0/4.
    pub const IPV4_MULTICAST: Self = Self::v4_const(Ipv4Addr::new(224, 0, 0, 0), 4);
    /// All IPv6 multicast: ff00::/8.
    pub const IPV6_MULTICAST: Self = Self::v6_const(Ipv6Addr::new(0xff00, 0, 0, 0, 0, 0, 0, 0), 8);
    /// IPv4 source-specific multicast: 232.0.0.0/8 (RFC 4607).
    pub const IPV4_SSM: Self = Self::v4_const(Ipv4Addr::new(232, 0, 0, 0), 8);
    /// IPv4 local network control block: 224.0.0.0/24 (never forwarded by routers).
    pub const IPV4_LOCAL_NETWORK_CONTROL: Self = Self::v4_const(Ipv4Addr::new(224, 0, 0, 0), 24);
    /// Administratively scoped IPv4 multicast: 239.0.0.0/8 (RFC 2365).
    pub const IPV4_ADMIN_SCOPED: Self = Self::v4_const(Ipv4Addr::new(239, 0, 0, 0), 8);

    const fn v4_const(addr: Ipv4Addr, prefix: u8) -> Self {
        Self {
            addr: IpAddr::V4(addr),
            prefix,
        }
    }

    const fn v6_const(addr: Ipv6Addr, prefix: u8) -> Self {
        Self {
            addr: IpAddr::V6(addr),
            prefix,
        }
    }

    /// Builds a prefix; host bits in `addr` are cleared.
    pub fn new(addr: IpAddr, prefix: u8) -> Result<Self, AddrError> {
        let max = max_prefix(addr);
        if prefix > max {
            return Err(AddrError::PrefixTooLong { addr, prefix, max });
        }
        let addr = match addr {
            IpAddr::V4(a) => IpAddr::V4(Ipv4Addr::from(u32::from(a) & mask32(prefix))),
            IpAddr::V6(a) => IpAddr::V6(Ipv6Addr::from(u128::from(a) & mask128(prefix))),
        };
        Ok(Self { addr, prefix })
    }

    /// The network address.
    pub fn addr(&self) -> IpAddr {
        self.addr
    }

    /// The prefix length.
    pub fn prefix(&self) -> u8 {
        self.prefix
    }

    /// Whether `ip` lies inside this prefix (always false across families).
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.addr, ip) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                u32::from(ip) & mask32(self.prefix) == u32::from(net)
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                u128::from(ip) & mask128(self.prefix) == u128::from(net)
            }
            _ => false,
        }
    }
}

fn max_prefix(addr: IpAddr) -> u8 {
    if addr.is_ipv4() {
        32
    } else {
        128
    }
}

fn mask32(prefix: u8) -> u32 {
    u32::MAX.checked_shl(32 - u32::from(prefix)).unwrap_or(0)
}

fn mask128(prefix: u8) -> u128 {
    u128::MAX.checked_shl(128 - u32::from(prefix)).unwrap_or(0)
}

impl FromStr for Cidr {
    type Err = AddrError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (a, p) = s
            .split_once('/')
            .ok_or_else(|| AddrError::CidrSyntax(s.to_owned()))?;
        let addr: IpAddr = a.parse().map_err(|_| AddrError::CidrSyntax(s.to_owned()))?;
        let prefix: u8 = p.parse().map_err(|_| AddrError::CidrSyntax(s.to_owned()))?;
        Self::new(addr, prefix)
    }
}

serde_as_text!(Cidr);

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

/// How far a group's traffic is meant to travel.
///
/// For IPv6 this is the scope nibble of the address (RFC 4291, RFC 7346). For IPv4 it follows
/// RFC 5771 and RFC 2365: 224.0.0.0/24 is link-local, 239.255.0.0/16 site-local, 239.192.0.0/14
/// organization-local, the rest of 239.0.0.0/8 admin-local, everything else global.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "kebab-case"))]
pub enum Scope {
    /// Never leaves the interface (IPv6 scope 1): loopback of multicast.
    InterfaceLocal,
    /// Stays on the link; routers never forward it.
    LinkLocal,
    /// Realm-local (IPv6 scope 3, RFC 7346).
    RealmLocal,
    /// The smallest administratively configured scope.
    AdminLocal,
    /// One site.
    SiteLocal,
    /// Several sites of one organization.
    OrganizationLocal,
    /// The whole Internet.
    Global,
    /// A reserved IPv6 scope value (0 or 15).
    Reserved(u8),
    /// An IPv6 scope value with no assigned meaning.
    Unassigned(u8),
}

impl Scope {
    /// The IPv6 scope nibble for this scope (IPv4 scopes map onto the same numbers).
    pub fn nibble(&self) -> u8 {
        match self {
            Self::InterfaceLocal => 1,
            Self::LinkLocal => 2,
            Self::RealmLocal => 3,
            Self::AdminLocal => 4,
            Self::SiteLocal => 5,
            Self::OrganizationLocal => 8,
            Self::Global => 14,
            Self::Reserved(n) | Self::Unassigned(n) => *n,
        }
    }

    fn from_nibble(n: u8) -> Self {
        match n {
            1 => Self::InterfaceLocal,
            2 => Self::LinkLocal,
            3 => Self::RealmLocal,
            4 => Self::AdminLocal,
            5 => Self::SiteLocal,
            8 => Self::OrganizationLocal,
            14 => Self::Global,
            0 | 15 => Self::Reserved(n),
            n => Self::Unassigned(n),
        }
    }
}

/// Scopes order by their nibble, narrowest first (RFC 4291: a larger value is a wider scope):
/// `InterfaceLocal < LinkLocal < … < OrganizationLocal < Global`, with `Reserved(0)` first and
/// `Reserved(15)` last. Two values with the same nibble (only a hand-made `Reserved(n)` or
/// `Unassigned(n)` can share one with a named scope) order by variant.
///
/// ```
/// use mcast_core::addr::{Group, Scope};
/// assert!(Scope::LinkLocal < Scope::SiteLocal);
/// assert!(Scope::SiteLocal < Scope::Global);
/// let g: Group = "239.255.0.1".parse()?;
/// assert!(g.scope() <= Scope::OrganizationLocal);
/// # Ok::<(), mcast_core::addr::AddrError>(())
/// ```
impl Ord for Scope {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        (self.nibble(), self.rank()).cmp(&(other.nibble(), other.rank()))
    }
}

impl PartialOrd for Scope {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Scope {
    /// The variant's position, to break ties between equal nibbles.
    fn rank(&self) -> u8 {
        match self {
            Self::InterfaceLocal => 0,
            Self::LinkLocal => 1,
            Self::RealmLocal => 2,
            Self::AdminLocal => 3,
            Self::SiteLocal => 4,
            Self::OrganizationLocal => 5,
            Self::Global => 6,
            Self::Reserved(_) => 7,
            Self::Unassigned(_) => 8,
        }
    }
}

/// Parses what [`Display`](fmt::Display) writes: a scope's name (`link-local`, `global`, …,
/// case-insensitive), or `reserved (N)` / `unassigned (N)` with `N` the hex nibble.
///
/// ```
/// use mcast_core::addr::Scope;
/// assert_eq!("site-local".parse::<Scope>()?, Scope::SiteLocal);
/// assert_eq!("Global".parse::<Scope>()?, Scope::Global);
/// assert_eq!("unassigned (6)".parse::<Scope>()?, Scope::Unassigned(6));
/// for s in [Scope::OrganizationLocal, Scope::Reserved(15)] {
///     assert_eq!(s.to_string().parse::<Scope>()?, s);
/// }
/// assert!("galactic".parse::<Scope>().is_err());
/// # Ok::<(), mcast_core::addr::AddrError>(())
/// ```
impl FromStr for Scope {
    type Err = AddrError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = || AddrError::ScopeSyntax(s.to_owned());
        let t = s.trim().to_ascii_lowercase();
        let numbered = |prefix: &str| {
            t.strip_prefix(prefix)
                .and_then(|rest| rest.trim().strip_prefix('('))
                .and_then(|rest| rest.strip_suffix(')'))
                .and_then(|n| u8::from_str_radix(n.trim(), 16).ok())
                .filter(|&n| n < 16)
        };
        Ok(match t.as_str() {
            "interface-local" => Self::InterfaceLocal,
            "link-local" => Self::LinkLocal,
            "realm-local" => Self::RealmLocal,
            "admin-local" => Self::AdminLocal,
            "site-local" => Self::SiteLocal,
            "organization-local" => Self::OrganizationLocal,
            "global" => Self::Global,
            _ => {
                if let Some(n) = numbered("reserved") {
                    Self::Reserved(n)
                } else if let Some(n) = numbered("unassigned") {
                    Self::Unassigned(n)
                } else {
                    return Err(err());
                }
            }
        })
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::InterfaceLocal => f.write_str("interface-local"),
            Self::LinkLocal => f.write_str("link-local"),
            Self::RealmLocal => f.write_str("realm-local"),
            Self::AdminLocal => f.write_str("admin-local"),
            Self::SiteLocal => f.write_str("site-local"),
            Self::OrganizationLocal => f.write_str("organization-local"),
            Self::Global => f.write_str("global"),
            Self::Reserved(n) => write!(f, "reserved ({n:x})"),
            Self::Unassigned(n) => write!(f, "unassigned ({n:x})"),
        }
    }
}

/// The IANA registry block a group belongs to (RFC 5771 for IPv4; for IPv6 the well-known kinds).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "kebab-case"))]
#[non_exhaustive]
pub enum Block {
    /// 224.0.0.0/24: routing protocols and discovery on one link (never forwarded).
    LocalNetworkControl,
    /// 224.0.1.0/24: control traffic that may be forwarded (NTP, ...).
    InternetworkControl,
    /// 224.0.2.0–224.0.255.255, 224.3.0.0–224.4.255.255, 233.252.0.0/14: AD-HOC blocks.
    AdHoc,
    /// 224.2.0.0/16: SDP/SAP.
    SdpSap,
    /// 224.252.0.0/14: DIS transient groups.
    DisTransient,
    /// 232.0.0.0/8 or ff3x::/32: source-specific multicast (RFC 4607).
    SourceSpecific,
    /// 233.0.0.0–233.251.255.255: GLOP, derived from an AS number (RFC 3180).
    Glop,
    /// 234.0.0.0/8: unicast-prefix-based IPv4 multicast (RFC 6034).
    UnicastPrefixBased,
    /// 239.0.0.0/8: administratively scoped (RFC 2365), the IPv4 "private" multicast block.
    AdminScoped,
    /// Reserved by IANA; usable on a lab network, but not assigned.
    Reserved,
    /// IPv6 ff02::1:ff00:0/104: solicited-node, used by neighbor discovery.
    SolicitedNode,
    /// IPv6 with the P flag: unicast-prefix-based (RFC 3306).
    PrefixBased,
    /// IPv6 with the R flag: embedded rendezvous point (RFC 3956).
    EmbeddedRp,
    /// IPv6 permanent (well-known, IANA-assigned) group: flag T clear.
    Permanent,
    /// IPv6 transient (dynamically assigned) group: flag T set.
    Transient,
}

impl Block {
    /// A short human description, as `mcast info` prints it.
    pub fn describe(&self) -> &'static str {
        match self {
            Self::LocalNetworkControl => "local network control block (224.0.0.0/24, never routed)",
            Self::InternetworkControl => "internetwork control block (224.0.1.0/24)",
            Self::AdHoc => "AD-HOC block (RFC 5771)",
            Self::SdpSap => "SDP/SAP block (224.2.0.0/16)",
            Self::DisTransient => "DIS transient groups (224.252.0.0/14)",
            Self::SourceSpecific => "source-specific multicast block (RFC 4607)",
            Self::Glop => "GLOP block (233.0.0.0/8, RFC 3180)",
            Self::UnicastPrefixBased => "unicast-prefix-based block (234.0.0.0/8, RFC 6034)",
            Self::AdminScoped => "administratively scoped block (239.0.0.0/8, RFC 2365)",
            Self::Reserved => "reserved by IANA (fine on a lab network)",
            Self::SolicitedNode => "solicited-node group (ff02::1:ff00:0/104, neighbor discovery)",
            Self::PrefixBased => "unicast-prefix-based group (RFC 3306)",
            Self::EmbeddedRp => "embedded-RP group (RFC 3956)",
            Self::Permanent => "permanent (IANA-assigned) group",
            Self::Transient => "transient (dynamically assigned) group",
        }
    }
}

impl Block {
    /// The block's short name, as in JSON (`local-network-control`, `source-specific`, …).
    pub fn name(&self) -> &'static str {
        match self {
            Self::LocalNetworkControl => "local-network-control",
            Self::InternetworkControl => "internetwork-control",
            Self::AdHoc => "ad-hoc",
            Self::SdpSap => "sdp-sap",
            Self::DisTransient => "dis-transient",
            Self::SourceSpecific => "source-specific",
            Self::Glop => "glop",
            Self::UnicastPrefixBased => "unicast-prefix-based",
            Self::AdminScoped => "admin-scoped",
            Self::Reserved => "reserved",
            Self::SolicitedNode => "solicited-node",
            Self::PrefixBased => "prefix-based",
            Self::EmbeddedRp => "embedded-rp",
            Self::Permanent => "permanent",
            Self::Transient => "transient",
        }
    }
}

/// Writes the block's short [`name`](Block::name), the same word as in JSON; the alternate
/// form (`{:#}`) writes its [`describe`](Block::describe) sentence.
///
/// ```
/// use mcast_core::addr::{Block, Group};
/// let g: Group = "232.1.1.1".parse()?;
/// assert_eq!(g.block().to_string(), "source-specific");
/// assert_eq!(format!("{:#}", Block::AdminScoped), "administratively scoped block (239.0.0.0/8, RFC 2365)");
/// # Ok::<(), mcast_core::addr::AddrError>(())
/// ```
impl fmt::Display for Block {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if f.alternate() {
            f.write_str(self.describe())
        } else {
            f.write_str(self.name())
        }
    }
}

/// An Ethernet MAC address.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct MacAddr(pub [u8; 6]);

impl MacAddr {
    /// The six octets.
    pub fn octets(&self) -> [u8; 6] {
        self.0
    }

    /// Whether the group bit (least significant bit of the first octet) is set.
    pub fn is_multicast(&self) -> bool {
        self.0[0] & 1 == 1
    }
}

impl fmt::Display for MacAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let [a, b, c, d, e, g] = self.0;
        write!(f, "{a:02x}:{b:02x}:{c:02x}:{d:02x}:{e:02x}:{g:02x}")
    }
}

/// Parses six octets of two hex digits each, separated by `:` (`01:00:5e:01:01:05`, as
/// [`Display`](fmt::Display) writes and `ip link` prints) or by `-` (`01-00-5E-01-01-05`, as
/// Windows and IEEE write them), in either case; one address uses one separator.
///
/// ```
/// use mcast_core::addr::{Group, MacAddr};
/// let m: MacAddr = "01:00:5e:01:01:05".parse()?;
/// assert_eq!(m, "224.1.1.5".parse::<Group>()?.mac());
/// assert_eq!("01-00-5E-01-01-05".parse::<MacAddr>()?, m);
/// assert!("01:00:5e:01:01".parse::<MacAddr>().is_err());
/// assert!("01:00-5e:01:01:05".parse::<MacAddr>().is_err());
/// assert!("1:0:5e:1:1:5".parse::<MacAddr>().is_err());
/// # Ok::<(), mcast_core::addr::AddrError>(())
/// ```
impl FromStr for MacAddr {
    type Err = AddrError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = || AddrError::MacSyntax(s.to_owned());
        let t = s.trim();
        let sep = if t.contains('-') { '-' } else { ':' };
        let mut octets = [0u8; 6];
        let mut parts = t.split(sep);
        for o in &mut octets {
            let part = parts.next().ok_or_else(err)?;
            if part.len() != 2 || !part.bytes().all(|b| b.is_ascii_hexdigit()) {
                return Err(err());
            }
            *o = u8::from_str_radix(part, 16).map_err(|_| err())?;
        }
        if parts.next().is_some() {
            return Err(err());
        }
        Ok(Self(octets))
    }
}

serde_as_text!(MacAddr);

/// A validated multicast group address, IPv4 (224.0.0.0/4) or IPv6 (ff00::/8).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Group(IpAddr);

impl Group {
    /// Checks that `addr` is multicast.
    pub fn new(addr: IpAddr) -> Result<Self, AddrError> {
        let ok = match addr {
            IpAddr::V4(_) => Cidr::IPV4_MULTICAST.contains(addr),
            IpAddr::V6(_) => Cidr::IPV6_MULTICAST.contains(addr),
        };
        if ok {
            Ok(Self(addr))
        } else {
            Err(AddrError::NotMulticast { addr })
        }
    }

    /// A group known at compile time: `addr` must be IPv4 multicast (224.0.0.0/4).
    ///
    /// This is a `const fn` for constants and statics; there a non-multicast address is a
    /// compile error. Called at run time with one, it panics: use [`Group::v4`] for addresses
    /// that come from outside.
    ///
    /// ```
    /// use std::net::Ipv4Addr;
    /// use mcast_core::addr::Group;
    ///
    /// const LECTURE: Group = Group::v4_const(Ipv4Addr::new(224, 1, 1, 5));
    /// assert_eq!(LECTURE.to_string(), "224.1.1.5");
    /// ```
    ///
    /// A unicast address does not compile:
    ///
    /// ```compile_fail
    /// use std::net::Ipv4Addr;
    /// use mcast_core::addr::Group;
    ///
    /// const NOT_A_GROUP: Group = Group::v4_const(Ipv4Addr::new(192, 168, 1, 1));
    /// ```
    #[track_caller]
    pub const fn v4_const(addr: Ipv4Addr) -> Self {
        assert!(
            addr.is_multicast(),
            "not an IPv4 multicast address: IPv4 multicast groups are 224.0.0.0/4"
        );
        Self(IpAddr::V4(addr))
    }

    /// A group known at compile time: `addr` must be IPv6 multicast (ff00::/8). As
    /// [`Group::v4_const`]: a compile error in a constant, a panic at run time.
    ///
    /// ```
    /// use std::net::Ipv6Addr;
    /// use mcast_core::addr::Group;
    ///
    /// const ALL_NODES: Group = Group::v6_const(Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 1));
    /// assert!(ALL_NODES.needs_interface());
    /// ```
    ///
    /// ```compile_fail
    /// use std::net::Ipv6Addr;
    /// use mcast_core::addr::Group;
    ///
    /// const LOOPBACK: Group = Group::v6_const(Ipv6Addr::LOCALHOST);
    /// ```
    #[track_caller]
    pub const fn v6_const(addr: Ipv6Addr) -> Self {
        assert!(
            addr.is_multicast(),
            "not an IPv6 multicast address: IPv6 multicast groups are ff00::/8"
        );
        Self(IpAddr::V6(addr))
    }

    /// Checks that an IPv4 address is multicast.
    pub fn v4(addr: Ipv4Addr) -> Result<Self, AddrError> {
        Self::new(IpAddr::V4(addr))
    }

    /// Checks that an IPv6 address is multicast.
    pub fn v6(addr: Ipv6Addr) -> Result<Self, AddrError> {
        Self::new(IpAddr::V6(addr))
    }

    /// The address.
    pub fn addr(&self) -> IpAddr {
        self.0
    }

    /// Whether this is an IPv4 group.
    pub fn is_ipv4(&self) -> bool {
        self.0.is_ipv4()
    }

    /// Whether this is an IPv6 group.
    pub fn is_ipv6(&self) -> bool {
        self.0.is_ipv6()
    }

    /// The one rule for a group and its sources: a source is of the group's address family.
    /// [`Source::for_group`], the membership queue and the `mreq` builders all ask it.
    ///
    /// ```
    /// use mcast_core::addr::{AddrError, Group, Source};
    /// let group: Group = "232.1.1.5".parse()?;
    /// assert_eq!(group.check_source("192.168.56.1".parse()?), Ok(()));
    /// assert!(matches!(
    ///     group.check_source("fe80::1".parse::<Source>()?),
    ///     Err(AddrError::FamilyMismatch { .. })
    /// ));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn check_source(self, source: Source) -> Result<(), AddrError> {
        if self.is_ipv4() == source.addr().is_ipv4() {
            Ok(())
        } else {
            Err(AddrError::FamilyMismatch {
                group: self.addr(),
                source_addr: source.addr(),
            })
        }
    }

    /// The one rule for groups served together (one receiver's groups, one membership
    /// queue): they are of `first`'s address family, since a socket is IPv4 or IPv6. The
    /// `mcast` CLI's plan and [`Membership::join`](crate::membership::Membership::join) ask it.
    ///
    /// ```
    /// use mcast_core::addr::{AddrError, Group};
    /// let first: Group = "224.1.1.5".parse()?;
    /// assert_eq!("234.3.2.1".parse::<Group>()?.check_same_family(first), Ok(()));
    /// assert!(matches!(
    ///     "ff15::1".parse::<Group>()?.check_same_family(first),
    ///     Err(AddrError::MixedFamilies { .. })
    /// ));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn check_same_family(self, first: Group) -> Result<(), AddrError> {
        if self.is_ipv4() == first.is_ipv4() {
            Ok(())
        } else {
            Err(AddrError::MixedFamilies {
                first: first.addr(),
                group: self.addr(),
            })
        }
    }

    /// The IPv4 address, if this is an IPv4 group.
    pub fn as_v4(&self) -> Option<Ipv4Addr> {
        match self.0 {
            IpAddr::V4(a) => Some(a),
            IpAddr::V6(_) => None,
        }
    }

    /// The IPv6 address, if this is an IPv6 group.
    pub fn as_v6(&self) -> Option<Ipv6Addr> {
        match self.0 {
            IpAddr::V6(a) => Some(a),
            IpAddr::V4(_) => None,
        }
    }

    /// The IPv6 flag nibble (`0RPT`); 0 for IPv4.
    pub fn ipv6_flags(&self) -> u8 {
        match self.0 {
            IpAddr::V6(a) => (a.octets()[1] >> 4) & 0x0f,
            IpAddr::V4(_) => 0,
        }
    }

    /// How far the group's traffic is meant to travel.
    pub fn scope(&self) -> Scope {
        match self.0 {
            IpAddr::V4(a) => {
                let [o0, o1, o2, _] = a.octets();
                if (o0, o1, o2) == (224, 0, 0) {
                    Scope::LinkLocal
                } else if o0 == 239 && o1 == 255 {
                    Scope::SiteLocal
                } else if o0 == 239 && (192..=195).contains(&o1) {
                    Scope::OrganizationLocal
                } else if o0 == 239 {
                    Scope::AdminLocal
                } else {
                    Scope::Global
                }
            }
            IpAddr::V6(a) => Scope::from_nibble(a.octets()[1] & 0x0f),
        }
    }

    /// The IANA block (IPv4) or kind (IPv6) of the group.
    pub fn block(&self) -> Block {
        match self.0 {
            IpAddr::V4(a) => v4_block(a),
            IpAddr::V6(a) => {
                let o = a.octets();
                let flags = self.ipv6_flags();
                if self.is_ssm() {
                    Block::SourceSpecific
                } else if o[1] == 0x02
                    && o[2..11].iter().all(|&b| b == 0)
                    && o[11] == 1
                    && o[12] == 0xff
                {
                    Block::SolicitedNode
                } else if flags & 0x4 != 0 {
                    Block::EmbeddedRp
                } else if flags & 0x2 != 0 {
                    Block::PrefixBased
                } else if flags & 0x1 != 0 {
                    Block::Transient
                } else {
                    Block::Permanent
                }
            }
        }
    }

    /// Whether the group is in the source-specific multicast range: 232.0.0.0/8 for IPv4,
    /// ff3x::/32 for IPv6 (flags P and T set, prefix length and prefix zero).
    pub fn is_ssm(&self) -> bool {
        match self.0 {
            IpAddr::V4(_) => Cidr::IPV4_SSM.contains(self.0),
            IpAddr::V6(a) => {
                let o = a.octets();
                o[1] >> 4 == 3 && o[2..4] == [0, 0]
            }
        }
    }

    /// Whether routers never forward the group (IPv4 224.0.0.0/24, IPv6 scope ≤ 2).
    pub fn is_link_local(&self) -> bool {
        matches!(self.scope(), Scope::InterfaceLocal | Scope::LinkLocal)
    }

    /// Whether the group means nothing without an interface: an IPv6 group of interface-local
    /// or link-local scope (`ff01::/16`, `ff02::/16`, `ff11::/16`, `ff12::/16`, …), the same
    /// address on every link, which a socket names with the interface as its scope id
    /// (`ff02::1%eth0`). IPv4 link-local groups (224.0.0.0/24) do not: the kernel routes them.
    ///
    /// ```
    /// use mcast_core::addr::Group;
    /// let g = |s: &str| s.parse::<Group>().unwrap();
    /// assert!(g("ff02::1").needs_interface());
    /// assert!(g("ff12::1234").needs_interface());
    /// assert!(g("ff01::1").needs_interface());
    /// assert!(!g("ff05::2").needs_interface());
    /// assert!(!g("224.0.0.251").needs_interface());
    /// ```
    pub fn needs_interface(&self) -> bool {
        self.is_ipv6() && self.is_link_local()
    }

    /// Whether the group is in an administratively scoped range (IPv4 239/8; IPv6 scopes 4–8).
    pub fn is_admin_scoped(&self) -> bool {
        match self.0 {
            IpAddr::V4(_) => Cidr::IPV4_ADMIN_SCOPED.contains(self.0),
            IpAddr::V6(_) => (4..=8).contains(&self.scope().nibble()),
        }
    }

    /// The Ethernet destination MAC the group maps to: `01:00:5e` and the low 23 bits for IPv4
    /// (RFC 1112), `33:33` and the low 32 bits for IPv6 (RFC 2464).
    pub fn mac(&self) -> MacAddr {
        match self.0 {
            IpAddr::V4(a) => {
                let o = a.octets();
                MacAddr([0x01, 0x00, 0x5e, o[1] & 0x7f, o[2], o[3]])
            }
            IpAddr::V6(a) => {
                let o = a.octets();
                MacAddr([0x33, 0x33, o[12], o[13], o[14], o[15]])
            }
        }
    }

    /// The IPv4 groups that share this group's MAC address, this group included, in ascending
    /// order: 32 addresses, because the mapping drops 5 bits. Empty for IPv6, where the 2^80
    /// colliding groups are better described than listed.
    ///
    /// ```
    /// let g: mcast_core::addr::Group = "224.1.1.5".parse().unwrap();
    /// let c = g.mac_collisions();
    /// assert_eq!(c.len(), 32);
    /// assert!(c.iter().all(|o| o.mac() == g.mac()));
    /// assert_eq!(c[1].to_string(), "224.129.1.5");
    /// ```
    pub fn mac_collisions(&self) -> Vec<Self> {
        let Some(a) = self.as_v4() else {
            return Vec::new();
        };
        let low23 = u32::from(a) & 0x007f_ffff;
        (0u32..32)
            .map(|high5| {
                Self(IpAddr::V4(Ipv4Addr::from(
                    0xe000_0000 | (high5 << 23) | low23,
                )))
            })
            .collect()
    }

    /// A summary of everything known about the group, for `mcast info` and JSON output.
    pub fn info(&self) -> GroupInfo {
        GroupInfo {
            group: *self,
            family: if self.is_ipv4() { "ipv4" } else { "ipv6" },
            scope: self.scope(),
            block: self.block(),
            block_description: self.block().describe(),
            ssm: self.is_ssm(),
            link_local: self.is_link_local(),
            mac: self.mac(),
            mac_collisions: self.mac_collisions(),
            ipv6_flags: self.is_ipv6().then(|| self.ipv6_flags()),
            well_known: self.well_known(),
        }
    }

    /// What the group is known for, from [`WELL_KNOWN`], and for IPv6 solicited-node groups
    /// (ff02::1:ff00:0/104, one per unicast address, for neighbour discovery); `None` for a
    /// group IANA did not assign to a protocol.
    ///
    /// ```
    /// use mcast_core::addr::Group;
    ///
    /// let name = |g: &str| g.parse::<Group>().unwrap().well_known();
    /// assert_eq!(name("224.0.0.251"), Some("mDNS, multicast DNS (RFC 6762)"));
    /// assert_eq!(name("239.255.255.250"), Some("SSDP, UPnP discovery"));
    /// assert_eq!(name("ff02::1:2"), Some("DHCPv6, all relay agents and servers"));
    /// assert!(name("ff02::1:ff12:3456").unwrap().starts_with("solicited-node"));
    /// assert_eq!(name("224.1.1.5"), None);
    /// ```
    pub fn well_known(&self) -> Option<&'static str> {
        if let Some((_, name)) = WELL_KNOWN.iter().find(|(g, _)| g == self) {
            return Some(name);
        }
        match self.0 {
            IpAddr::V6(a) if a.octets()[..13] == [0xff, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0xff] => {
                Some(
                    "solicited-node: neighbour discovery for the addresses ending in these 24 bits",
                )
            }
            _ => None,
        }
    }
}

fn v4_block(a: Ipv4Addr) -> Block {
    let [o0, o1, o2, _] = a.octets();
    match (o0, o1, o2) {
        (224, 0, 0) => Block::LocalNetworkControl,
        (224, 0, 1) => Block::InternetworkControl,
        (224, 0, _) => Block::AdHoc,
        (224, 2, _) => Block::SdpSap,
        (224, 3..=4, _) => Block::AdHoc,
        (224, 252..=255, _) => Block::DisTransient,
        (232, _, _) => Block::SourceSpecific,
        (233, 252..=255, _) => Block::AdHoc,
        (233, _, _) => Block::Glop,
        (234, _, _) => Block::UnicastPrefixBased,
        (239, _, _) => Block::AdminScoped,
        _ => Block::Reserved,
    }
}

/// Parses an IPv4 or IPv6 address, ignoring surrounding white space.
fn parse_ip(s: &str) -> Result<IpAddr, AddrError> {
    s.trim()
        .parse()
        .map_err(|_| AddrError::Syntax(s.to_owned()))
}

impl FromStr for Group {
    type Err = AddrError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::new(parse_ip(s)?)
    }
}

impl fmt::Display for Group {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// The same check as [`Group::new`].
///
/// ```
/// use std::net::IpAddr;
/// use mcast_core::addr::{AddrError, Group};
///
/// let ip: IpAddr = "234.3.2.1".parse().unwrap();
/// let g = Group::try_from(ip)?;
/// assert_eq!(IpAddr::from(g), ip);
/// let unicast: IpAddr = "192.168.56.3".parse().unwrap();
/// assert!(matches!(Group::try_from(unicast), Err(AddrError::NotMulticast { .. })));
/// # Ok::<(), AddrError>(())
/// ```
impl TryFrom<IpAddr> for Group {
    type Error = AddrError;

    fn try_from(addr: IpAddr) -> Result<Self, Self::Error> {
        Self::new(addr)
    }
}

/// The same check as [`Group::v4`].
impl TryFrom<Ipv4Addr> for Group {
    type Error = AddrError;

    fn try_from(addr: Ipv4Addr) -> Result<Self, Self::Error> {
        Self::v4(addr)
    }
}

/// The same check as [`Group::v6`].
impl TryFrom<Ipv6Addr> for Group {
    type Error = AddrError;

    fn try_from(addr: Ipv6Addr) -> Result<Self, Self::Error> {
        Self::v6(addr)
    }
}

impl From<Group> for IpAddr {
    fn from(g: Group) -> Self {
        g.0
    }
}

#[cfg(feature = "serde")]
impl serde::Serialize for Group {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.0.serialize(s)
    }
}

/// Reads an IP address as [`IpAddr`] does, then checks it is multicast.
#[cfg(feature = "serde")]
impl<'de> serde::Deserialize<'de> for Group {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let addr = <IpAddr as serde::Deserialize>::deserialize(d)?;
        Self::new(addr).map_err(serde::de::Error::custom)
    }
}

/// Where multicast datagrams go: a [`Group`], a port and, for IPv6, the scope id (the
/// interface index a link-local group such as `ff02::1` is meant on; 0 for none). It is a
/// [`SocketAddr`] whose address has been checked to be multicast: a sender's destination
/// ([`SenderConfig`](crate::session::SenderConfig), [`PingConfig`](crate::ping::PingConfig))
/// has this type, so a unicast address cannot become one by mistake.
///
/// ```
/// use std::net::SocketAddr;
/// use mcast_core::addr::{AddrError, Group, GroupAddr};
///
/// let to: GroupAddr = "224.1.1.5:50001".parse()?;
/// assert_eq!(to, GroupAddr::new("224.1.1.5".parse()?, 50001));
/// assert_eq!(SocketAddr::from(to).to_string(), "224.1.1.5:50001");
/// let scoped: GroupAddr = "[ff02::1%2]:50001".parse()?;
/// assert_eq!((scoped.group().to_string(), scoped.scope_id()), ("ff02::1".to_string(), 2));
///
/// let unicast: SocketAddr = "192.168.56.3:50001".parse().unwrap();
/// assert!(matches!(GroupAddr::try_from(unicast), Err(AddrError::NotMulticast { .. })));
/// # Ok::<(), AddrError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct GroupAddr {
    group: Group,
    port: u16,
    scope_id: u32,
}

impl GroupAddr {
    /// `group`:`port`, with no scope id.
    pub const fn new(group: Group, port: u16) -> Self {
        Self {
            group,
            port,
            scope_id: 0,
        }
    }

    /// The same address with an IPv6 scope id (an interface index); ignored for IPv4.
    #[must_use]
    pub const fn with_scope_id(mut self, scope_id: u32) -> Self {
        if self.is_ipv6() {
            self.scope_id = scope_id;
        }
        self
    }

    /// The group.
    pub const fn group(&self) -> Group {
        self.group
    }

    /// The UDP port.
    pub const fn port(&self) -> u16 {
        self.port
    }

    /// The IPv6 scope id; 0 for none, and always 0 for IPv4.
    pub const fn scope_id(&self) -> u32 {
        self.scope_id
    }

    /// Whether the group is IPv6.
    pub const fn is_ipv6(&self) -> bool {
        matches!(self.group.0, IpAddr::V6(_))
    }

    /// The socket address, as a socket call takes it.
    pub fn socket_addr(&self) -> SocketAddr {
        match self.group.0 {
            IpAddr::V4(a) => SocketAddr::new(IpAddr::V4(a), self.port),
            IpAddr::V6(a) => SocketAddr::V6(SocketAddrV6::new(a, self.port, 0, self.scope_id)),
        }
    }
}

/// Checks that the address is multicast; keeps the port and an IPv6 scope id.
impl TryFrom<SocketAddr> for GroupAddr {
    type Error = AddrError;

    fn try_from(addr: SocketAddr) -> Result<Self, Self::Error> {
        let scope_id = match addr {
            SocketAddr::V4(_) => 0,
            SocketAddr::V6(a) => a.scope_id(),
        };
        Ok(Self::new(Group::new(addr.ip())?, addr.port()).with_scope_id(scope_id))
    }
}

impl From<GroupAddr> for SocketAddr {
    fn from(addr: GroupAddr) -> Self {
        addr.socket_addr()
    }
}

/// Parses what [`SocketAddr`] parses (`224.1.1.5:50001`, `[ff15::1]:50001`,
/// `[ff02::1%2]:50001` with a numeric scope id), then checks the address is multicast.
impl FromStr for GroupAddr {
    type Err = AddrError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let addr: SocketAddr = s
            .trim()
            .parse()
            .map_err(|_| AddrError::SocketAddrSyntax(s.to_owned()))?;
        Self::try_from(addr)
    }
}

impl fmt::Display for GroupAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.socket_addr().fmt(f)
    }
}

serde_as_text!(GroupAddr);

/// Everything `mcast info` reports about a group.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[non_exhaustive]
pub struct GroupInfo {
    /// The group address (in JSON, the address as a string).
    pub group: Group,
    /// `"ipv4"` or `"ipv6"`.
    pub family: &'static str,
    /// The scope.
    pub scope: Scope,
    /// The IANA block or IPv6 kind.
    pub block: Block,
    /// The block in words.
    pub block_description: &'static str,
    /// Whether the group is in the SSM range.
    pub ssm: bool,
    /// Whether routers never forward the group.
    pub link_local: bool,
    /// The Ethernet MAC the group maps to.
    pub mac: MacAddr,
    /// The IPv4 groups sharing that MAC (empty for IPv6).
    pub mac_collisions: Vec<Group>,
    /// The IPv6 flag nibble.
    pub ipv6_flags: Option<u8>,
    /// What the group is known for, when IANA assigned it to a protocol
    /// ([`Group::well_known`]), e.g. `"mDNS, multicast DNS (RFC 6762)"`.
    pub well_known: Option<&'static str>,
}

/// Groups IANA assigned to a protocol, and what each is for: the one table of them
/// ([`Group::well_known`] reads it, `mcast info` names them). Link-local ones (224.0.0.0/24,
/// ff02::/16) never cross a router, whatever the TTL.
///
/// ```
/// use mcast_core::addr::{Group, WELL_KNOWN};
///
/// let mdns: Group = "224.0.0.251".parse()?;
/// assert!(WELL_KNOWN.iter().any(|(g, _)| *g == mdns));
/// assert!(WELL_KNOWN.iter().all(|(g, name)| g.well_known() == Some(*name)));
/// # Ok::<(), mcast_core::addr::AddrError>(())
/// ```
pub const WELL_KNOWN: &[(Group, &str)] = &[
    (
        v4(224, 0, 0, 1),
        "all systems on this link (every multicast host joins it)",
    ),
    (v4(224, 0, 0, 2), "all routers on this link"),
    (v4(224, 0, 0, 4), "DVMRP routers"),
    (v4(224, 0, 0, 5), "OSPF, all routers"),
    (v4(224, 0, 0, 6), "OSPF, designated routers"),
    (v4(224, 0, 0, 9), "RIPv2 routers"),
    (v4(224, 0, 0, 10), "EIGRP routers"),
    (v4(224, 0, 0, 13), "all PIM routers"),
    (v4(224, 0, 0, 18), "VRRP"),
    (
        v4(224, 0, 0, 22),
        "IGMPv3 reports (all IGMPv3-capable routers)",
    ),
    (v4(224, 0, 0, 102), "HSRPv2 and GLBP"),
    (v4(224, 0, 0, 107), "PTP peer delay (IEEE 1588)"),
    (v4(224, 0, 0, 251), "mDNS, multicast DNS (RFC 6762)"),
    (
        v4(224, 0, 0, 252),
        "LLMNR, link-local multicast name resolution (RFC 4795)",
    ),
    (v4(224, 0, 1, 1), "NTP, network time protocol"),
    (
        v4(224, 0, 1, 129),
        "PTP, precision time protocol (IEEE 1588)",
    ),
    (v4(239, 255, 255, 250), "SSDP, UPnP discovery"),
    (
        v4(239, 255, 255, 253),
        "SLP, service location protocol (RFC 2608)",
    ),
    (v6(0xff01, 0, 1), "all nodes on this interface"),
    (v6(0xff01, 0, 2), "all routers on this interface"),
    (
        v6(0xff02, 0, 1),
        "all nodes on this link (every IPv6 host joins it)",
    ),
    (v6(0xff02, 0, 2), "all routers on this link"),
    (v6(0xff02, 0, 5), "OSPFv3, all routers"),
    (v6(0xff02, 0, 6), "OSPFv3, designated routers"),
    (v6(0xff02, 0, 9), "RIPng routers"),
    (v6(0xff02, 0, 0xc), "SSDP, UPnP discovery"),
    (v6(0xff02, 0, 0xd), "all PIM routers"),
    (v6(0xff02, 0, 0x12), "VRRP"),
    (
        v6(0xff02, 0, 0x16),
        "MLDv2 reports (all MLDv2-capable routers)",
    ),
    (v6(0xff02, 0, 0xfb), "mDNS, multicast DNS (RFC 6762)"),
    (v6(0xff02, 0, 0x101), "NTP, network time protocol"),
    (v6(0xff02, 1, 2), "DHCPv6, all relay agents and servers"),
    (
        v6(0xff02, 1, 3),
        "LLMNR, link-local multicast name resolution (RFC 4795)",
    ),
    (v6(0xff05, 0, 2), "all routers on this site"),
    (v6(0xff05, 0, 0xc), "SSDP, UPnP discovery"),
    (v6(0xff05, 1, 3), "DHCPv6, all servers"),
];

/// A [`WELL_KNOWN`] IPv4 entry.
const fn v4(a: u8, b: u8, c: u8, d: u8) -> Group {
    Group::v4_const(Ipv4Addr::new(a, b, c, d))
}

/// A [`WELL_KNOWN`] IPv6 entry: `prefix::hi:lo`.
const fn v6(prefix: u16, hi: u16, lo: u16) -> Group {
    Group::v6_const(Ipv6Addr::new(prefix, 0, 0, 0, 0, 0, hi, lo))
}

/// A checked source address for source-specific multicast or IGMPv3/MLDv2 source filters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Source(IpAddr);

impl Source {
    /// Checks that `addr` is a unicast address usable as a sender's address: not multicast,
    /// not unspecified, not broadcast.
    pub fn new(addr: IpAddr) -> Result<Self, AddrError> {
        let bad = match addr {
            IpAddr::V4(a) => a.is_multicast() || a.is_unspecified() || a.is_broadcast(),
            IpAddr::V6(a) => a.is_multicast() || a.is_unspecified(),
        };
        if bad {
            Err(AddrError::SourceNotUnicast { source_addr: addr })
        } else {
            Ok(Self(addr))
        }
    }

    /// Checks the source and that it is of the group's family ([`Group::check_source`]).
    pub fn for_group(group: Group, addr: IpAddr) -> Result<Self, AddrError> {
        let s = Self::new(addr)?;
        group.check_source(s)?;
        Ok(s)
    }

    /// The address.
    pub fn addr(&self) -> IpAddr {
        self.0
    }
}

impl FromStr for Source {
    type Err = AddrError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::new(parse_ip(s)?)
    }
}

serde_as_text!(Source);

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// `count` consecutive groups starting at `first`, written `GROUP+COUNT` (`239.1.0.1+100`).
///
/// ```
/// use mcast_core::addr::{AddrError, GroupRange};
/// let r: GroupRange = "239.1.0.255+3".parse()?;
/// let v: Vec<String> = r.iter().map(|g| g.to_string()).collect();
/// assert_eq!(v, ["239.1.0.255", "239.1.1.0", "239.1.1.1"]);
/// assert!("239.255.255.255+2".parse::<GroupRange>().is_err());
/// // A count past `MAX_COUNT` is named as such, not as bad syntax.
/// assert!(matches!(
///     "ff15::1+4294967296".parse::<GroupRange>(),
///     Err(AddrError::RangeTooLarge { max: GroupRange::MAX_COUNT, .. })
/// ));
/// # Ok::<(), mcast_core::addr::AddrError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct GroupRange {
    first: Group,
    count: u32,
}

impl GroupRange {
    /// The largest count of a range.
    pub const MAX_COUNT: u32 = u32::MAX;

    /// Checks that all `count` groups from `first` on are multicast.
    pub fn new(first: Group, count: u32) -> Result<Self, AddrError> {
        if count == 0 {
            return Err(AddrError::EmptyRange);
        }
        let overflow = |last: IpAddr| AddrError::RangeOverflow {
            first: first.addr(),
            count: u64::from(count),
            last,
        };
        match first.addr() {
            IpAddr::V4(a) => {
                let last = Ipv4Addr::new(239, 255, 255, 255);
                let end = u64::from(u32::from(a)) + u64::from(count) - 1;
                if end > u64::from(u32::from(last)) {
                    return Err(overflow(IpAddr::V4(last)));
                }
            }
            IpAddr::V6(a) => {
                let last = Ipv6Addr::from(u128::MAX);
                if u128::from(a).checked_add(u128::from(count) - 1).is_none() {
                    return Err(overflow(IpAddr::V6(last)));
                }
            }
        }
        Ok(Self { first, count })
    }

    /// A range of one group.
    pub fn single(group: Group) -> Self {
        Self {
            first: group,
            count: 1,
        }
    }

    /// The first group.
    pub fn first(&self) -> Group {
        self.first
    }

    /// How many groups.
    pub fn count(&self) -> u32 {
        self.count
    }

    /// The groups in order (also `for g in range` and `for g in &range`).
    pub fn iter(&self) -> GroupRangeIter {
        GroupRangeIter {
            first: self.first.addr(),
            next: 0,
            end: self.count,
        }
    }
}

/// The groups of a [`GroupRange`], in order.
///
/// ```
/// use mcast_core::addr::GroupRange;
/// let r: GroupRange = "239.1.0.1+3".parse()?;
/// let mut seen = Vec::new();
/// for g in &r {
///     seen.push(g.to_string());
/// }
/// assert_eq!(seen, ["239.1.0.1", "239.1.0.2", "239.1.0.3"]);
/// assert_eq!(r.into_iter().rev().next().unwrap().to_string(), "239.1.0.3");
/// assert_eq!(r.iter().len(), 3);
/// # Ok::<(), mcast_core::addr::AddrError>(())
/// ```
#[derive(Debug, Clone)]
pub struct GroupRangeIter {
    first: IpAddr,
    /// The offset of the next group from the front.
    next: u32,
    /// One past the offset of the last group still to come.
    end: u32,
}

impl GroupRangeIter {
    fn at(&self, i: u32) -> Group {
        let addr = match self.first {
            IpAddr::V4(a) => IpAddr::V4(Ipv4Addr::from(u32::from(a) + i)),
            IpAddr::V6(a) => IpAddr::V6(Ipv6Addr::from(u128::from(a) + u128::from(i))),
        };
        // Invariant: `GroupRange::new` checked that first + count - 1 stays inside the
        // multicast block.
        Group(addr)
    }
}

impl Iterator for GroupRangeIter {
    type Item = Group;

    fn next(&mut self) -> Option<Group> {
        (self.next < self.end).then(|| {
            self.next += 1;
            self.at(self.next - 1)
        })
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let n = (self.end - self.next) as usize;
        (n, Some(n))
    }
}

impl DoubleEndedIterator for GroupRangeIter {
    fn next_back(&mut self) -> Option<Group> {
        (self.next < self.end).then(|| {
            self.end -= 1;
            self.at(self.end)
        })
    }
}

impl ExactSizeIterator for GroupRangeIter {}

impl std::iter::FusedIterator for GroupRangeIter {}

impl IntoIterator for GroupRange {
    type Item = Group;
    type IntoIter = GroupRangeIter;

    fn into_iter(self) -> GroupRangeIter {
        self.iter()
    }
}

impl IntoIterator for &GroupRange {
    type Item = Group;
    type IntoIter = GroupRangeIter;

    fn into_iter(self) -> GroupRangeIter {
        self.iter()
    }
}

impl FromStr for GroupRange {
    type Err = AddrError;

    /// Parses `GROUP` (a range of one) or `GROUP+COUNT`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().split_once('+') {
            None => Ok(Self::single(s.parse()?)),
            Some((g, n)) => {
                let first: Group = g.parse()?;
                let count: u32 = n.parse().map_err(|e: std::num::ParseIntError| {
                    if *e.kind() == std::num::IntErrorKind::PosOverflow {
                        AddrError::RangeTooLarge {
                            range: s.trim().to_owned(),
                            max: Self::MAX_COUNT,
                        }
                    } else {
                        AddrError::RangeSyntax(s.to_owned())
                    }
                })?;
                Self::new(first, count)
            }
        }
    }
}

serde_as_text!(GroupRange);

impl fmt::Display for GroupRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.count == 1 {
            write!(f, "{}", self.first)
        } else {
            write!(f, "{}+{}", self.first, self.count)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn g(s: &str) -> Group {
        s.parse().unwrap()
    }

    #[test]
    fn lecture_groups_map_to_their_macs() {
        assert_eq!(g("224.1.1.5").mac().to_string(), "01:00:5e:01:01:05");
        assert_eq!(g("234.3.2.1").mac().to_string(), "01:00:5e:03:02:01");
        assert_eq!(g("239.255.255.250").mac().to_string(), "01:00:5e:7f:ff:fa");
        assert_eq!(
            g("ff02::1:ff00:1234").mac().to_string(),
            "33:33:ff:00:12:34"
        );
    }

    #[test]
    fn every_ipv4_multicast_boundary_is_checked() {
        assert!(Group::v4(Ipv4Addr::new(224, 0, 0, 0)).is_ok());
        assert!(Group::v4(Ipv4Addr::new(239, 255, 255, 255)).is_ok());
        assert!(Group::v4(Ipv4Addr::new(223, 255, 255, 255)).is_err());
        assert!(Group::v4(Ipv4Addr::new(240, 0, 0, 0)).is_err());
        assert!(Group::v6("ff00::".parse().unwrap()).is_ok());
        assert!(Group::v6("fe80::1".parse().unwrap()).is_err());
    }

    #[test]
    fn not_multicast_errors_say_what_would_be_right() {
        let e = "192.168.1.1".parse::<Group>().unwrap_err().to_string();
        assert!(e.contains("224.0.0.0/4"), "{e}");
        let e = "2001:db8::1".parse::<Group>().unwrap_err().to_string();
        assert!(e.contains("ff00::/8"), "{e}");
        let e = "hello".parse::<Group>().unwrap_err().to_string();
        assert!(e.contains("not an IP address"), "{e}");
    }

    #[test]
    fn ipv4_scopes_and_blocks() {
        assert_eq!(g("224.0.0.251").scope(), Scope::LinkLocal);
        assert_eq!(g("224.0.0.251").block(), Block::LocalNetworkControl);
        assert_eq!(g("224.0.1.1").block(), Block::InternetworkControl);
        assert_eq!(g("224.2.127.254").block(), Block::SdpSap);
        assert_eq!(g("232.1.1.1").block(), Block::SourceSpecific);
        assert!(g("232.1.1.1").is_ssm());
        assert_eq!(g("233.252.0.1").block(), Block::AdHoc);
        assert_eq!(g("233.1.2.3").block(), Block::Glop);
        assert_eq!(g("234.3.2.1").block(), Block::UnicastPrefixBased);
        assert_eq!(g("239.1.2.3").block(), Block::AdminScoped);
        assert_eq!(g("239.1.2.3").scope(), Scope::AdminLocal);
        assert_eq!(g("239.192.0.1").scope(), Scope::OrganizationLocal);
        assert_eq!(g("239.255.255.250").scope(), Scope::SiteLocal);
        assert_eq!(g("224.1.1.5").block(), Block::Reserved);
        assert_eq!(g("224.1.1.5").scope(), Scope::Global);
    }

    #[test]
    fn ipv6_scopes_flags_and_kinds() {
        assert_eq!(g("ff01::1").scope(), Scope::InterfaceLocal);
        assert_eq!(g("ff02::1").scope(), Scope::LinkLocal);
        assert_eq!(g("ff03::1").scope(), Scope::RealmLocal);
        assert_eq!(g("ff15::1").scope(), Scope::SiteLocal);
        assert_eq!(g("ff18::1").scope(), Scope::OrganizationLocal);
        assert_eq!(g("ff0e::1").scope(), Scope::Global);
        assert_eq!(g("ff00::1").scope(), Scope::Reserved(0));
        assert_eq!(g("ff06::1").scope(), Scope::Unassigned(6));
        assert_eq!(g("ff02::1:ff00:1").block(), Block::SolicitedNode);
        assert_eq!(g("ff02::1").block(), Block::Permanent);
        assert_eq!(g("ff15::1").block(), Block::Transient);
        assert!(g("ff35::1").is_ssm());
        assert!(g("ff3e::8000:1").is_ssm());
        assert_eq!(g("ff35::1").block(), Block::SourceSpecific);
        assert!(!g("ff15::1").is_ssm());
        assert_eq!(g("ff3e:30:2001:db8::1").block(), Block::PrefixBased);
        assert_eq!(g("ff7e:140:2001:db8::1").block(), Block::EmbeddedRp);
        assert_eq!(g("ff35::1").ipv6_flags(), 3);
    }

    #[test]
    fn thirty_two_ipv4_groups_share_a_mac() {
        let c = g("239.1.2.3").mac_collisions();
        assert_eq!(c.len(), 32);
        assert!(c.contains(&g("239.1.2.3")));
        assert!(c.contains(&g("224.1.2.3")));
        assert!(c.contains(&g("224.129.2.3")));
        assert!(c.contains(&g("239.129.2.3")));
        let mut sorted = c.clone();
        sorted.sort();
        sorted.dedup();
        assert_eq!(sorted, c);
        assert!(g("ff15::1").mac_collisions().is_empty());
    }

    #[test]
    fn cidr_contains_and_masks_host_bits() {
        let c: Cidr = "192.168.56.7/24".parse().unwrap();
        assert_eq!(c.to_string(), "192.168.56.0/24");
        assert!(c.contains("192.168.56.255".parse().unwrap()));
        assert!(!c.contains("ff02::1".parse().unwrap()));
        let all: Cidr = "0.0.0.0/0".parse().unwrap();
        assert!(all.contains("8.8.8.8".parse().unwrap()));
        let host: Cidr = "10.0.0.1/32".parse().unwrap();
        assert!(host.contains("10.0.0.1".parse().unwrap()));
        assert!(!host.contains("10.0.0.2".parse().unwrap()));
        assert!("10.0.0.0/33".parse::<Cidr>().is_err());
        assert!("ff00::/129".parse::<Cidr>().is_err());
        assert!("10.0.0.0".parse::<Cidr>().is_err());
        assert!(Cidr::IPV6_MULTICAST.contains("ff35::1".parse().unwrap()));
    }

    #[test]
    fn sources_must_be_unicast_and_of_the_group_family() {
        assert!("239.1.1.1".parse::<Source>().is_err());
        assert!("0.0.0.0".parse::<Source>().is_err());
        assert!("192.168.56.3".parse::<Source>().is_ok());
        let e = Source::for_group(g("232.1.1.1"), "2001:db8::1".parse().unwrap());
        assert!(matches!(e, Err(AddrError::FamilyMismatch { .. })));
    }

    #[test]
    #[allow(clippy::double_ended_iterator_last)] // `last` walks the range forwards, on purpose
    fn ranges_parse_count_and_stop_at_the_block_end() {
        let r: GroupRange = "239.1.0.1+1000".parse().unwrap();
        assert_eq!(r.iter().count(), 1000);
        assert_eq!(r.iter().last().unwrap(), g("239.1.3.232"));
        assert_eq!(r.to_string(), "239.1.0.1+1000");
        assert!("239.1.0.1+0".parse::<GroupRange>().is_err());
        assert!("239.1.0.1+x".parse::<GroupRange>().is_err());
        // Review fix — a count too large for a range says so, with the maximum; a count that
        // is no number at all is still a syntax error.
        let e = "ff15::1+4294967296".parse::<GroupRange>().unwrap_err();
        assert_eq!(
            e.to_string(),
            "\"ff15::1+4294967296\" counts more groups than a range can hold (at most 4294967295)"
        );
        assert!(matches!(
            "239.1.0.1+-1".parse::<GroupRange>(),
            Err(AddrError::RangeSyntax(_))
        ));
        assert!(matches!(
            "ff15::1+4294967295".parse::<GroupRange>(),
            Ok(r) if r.count() == GroupRange::MAX_COUNT
        ));
        assert!("10.0.0.1+3".parse::<GroupRange>().is_err());
        let one: GroupRange = "224.1.1.5".parse().unwrap();
        assert_eq!(one.count(), 1);
        let v6: GroupRange = "ff15::fffe+2".parse().unwrap();
        assert_eq!(v6.iter().last().unwrap(), g("ff15::ffff"));
    }

    #[test]
    fn scopes_order_by_nibble_and_parse_what_they_display() {
        let all: Vec<Scope> = (0..16).map(Scope::from_nibble).collect();
        let mut sorted = all.clone();
        sorted.sort();
        assert_eq!(sorted, all, "from_nibble(0..16) is already in order");
        for s in all {
            assert_eq!(s.to_string().parse::<Scope>(), Ok(s));
        }
        assert!(Scope::Reserved(1) > Scope::InterfaceLocal);
        assert!(Scope::Reserved(1) < Scope::LinkLocal);
        assert!(matches!(
            "reserved (10)".parse::<Scope>(),
            Err(AddrError::ScopeSyntax(_))
        ));
    }

    #[test]
    #[cfg(feature = "serde")]
    fn addresses_read_back_what_they_wrote() {
        fn round_trip<T>(v: T, text: &str)
        where
            T: serde::Serialize + serde::de::DeserializeOwned + PartialEq + fmt::Debug,
        {
            let json = serde_json::to_value(&v).unwrap();
            assert_eq!(json, text, "{v:?}");
            assert_eq!(serde_json::from_value::<T>(json).unwrap(), v);
        }
        round_trip(g("224.1.1.5"), "224.1.1.5");
        round_trip(g("ff15::1"), "ff15::1");
        round_trip(
            "[ff02::1%3]:50001".parse::<GroupAddr>().unwrap(),
            "[ff02::1%3]:50001",
        );
        round_trip(g("224.1.1.5").mac(), "01:00:5e:01:01:05");
        round_trip("192.168.56.3".parse::<Source>().unwrap(), "192.168.56.3");
        round_trip("224.0.0.0/4".parse::<Cidr>().unwrap(), "224.0.0.0/4");
        round_trip(
            "239.1.0.1+100".parse::<GroupRange>().unwrap(),
            "239.1.0.1+100",
        );
        round_trip(Scope::SiteLocal, "site-local");
        round_trip(Block::SourceSpecific, "source-specific");
        // The checks hold on the way in.
        let e = serde_json::from_str::<Group>(r#""10.0.0.1""#).unwrap_err();
        assert!(e.to_string().contains("not a multicast address"), "{e}");
        let e = serde_json::from_str::<GroupAddr>(r#""10.0.0.1:5000""#).unwrap_err();
        assert!(e.to_string().contains("not a multicast address"), "{e}");
        let e = serde_json::from_str::<MacAddr>(r#""01:00:5e""#).unwrap_err();
        assert!(e.to_string().contains("not a MAC address"), "{e}");
    }

    #[test]
    #[cfg(feature = "serde")]
    fn block_display_is_its_json_name() {
        for s in [
            "224.0.0.1",
            "224.0.1.1",
            "224.0.2.1",
            "224.2.0.1",
            "224.252.0.1",
            "232.1.1.1",
            "233.1.1.1",
            "234.1.1.1",
            "239.1.1.1",
            "224.1.1.5",
            "ff02::1:ff00:1",
            "ff3e:30:2001:db8::1",
            "ff7e:140:2001:db8::1",
            "ff02::1",
            "ff15::1",
        ] {
            let b = g(s).block();
            assert_eq!(
                serde_json::to_value(b).unwrap(),
                serde_json::Value::String(b.to_string()),
                "{s}"
            );
        }
    }

    #[test]
    #[cfg(feature = "serde")]
    fn group_info_serializes_groups_as_address_strings() {
        let json = serde_json::to_value(g("224.1.1.5").info()).unwrap();
        assert_eq!(json["group"], "224.1.1.5");
        assert_eq!(json["mac"], "01:00:5e:01:01:05");
        assert_eq!(json["mac_collisions"][1], "224.129.1.5");
        assert_eq!(json["block"], "reserved");
        assert_eq!(json["scope"], "global");
        let to: GroupAddr = "[ff02::1%3]:50001".parse().unwrap();
        assert_eq!(serde_json::to_value(to).unwrap(), "[ff02::1%3]:50001");
        assert_eq!(to.to_string().parse::<GroupAddr>(), Ok(to));
        let v4 = GroupAddr::new(g("224.1.1.5"), 1).with_scope_id(7);
        assert_eq!(v4.scope_id(), 0, "IPv4 has no scope id");
        assert!(matches!(
            "224.1.1.5".parse::<GroupAddr>(),
            Err(AddrError::SocketAddrSyntax(_))
        ));
    }

    #[test]
    fn macs_parse_what_they_display() {
        for s in ["224.1.1.5", "239.255.255.250", "ff02::1:ff00:1234"] {
            let m = g(s).mac();
            assert_eq!(m.to_string().parse::<MacAddr>(), Ok(m));
            assert_eq!(m.to_string().replace(':', "-").parse::<MacAddr>(), Ok(m));
        }
        for bad in [
            "",
            "01:00:5e:01:01:05:07",
            "01:00:5e:01:01:0g",
            "01::5e:01:01:05",
            "+1:00:5e:01:01:05",
        ] {
            assert!(
                matches!(bad.parse::<MacAddr>(), Err(AddrError::MacSyntax(_))),
                "{bad}"
            );
        }
    }

    #[test]
    fn range_iterators_agree_from_both_ends() {
        let r: GroupRange = "ff15::fffe+2".parse().unwrap();
        let fwd: Vec<Group> = r.into_iter().collect();
        let mut back: Vec<Group> = (&r).into_iter().rev().collect();
        back.reverse();
        assert_eq!(fwd, back);
        let mut it = r.iter();
        assert_eq!(it.len(), 2);
        it.next();
        it.next_back();
        assert_eq!((it.len(), it.next(), it.next_back()), (0, None, None));
    }
}
