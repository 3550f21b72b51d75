//! Captured frames in words: Ethernet, IPv4/IPv6, UDP, IGMP and MLD, plus hexdumps and pcap.
//!
//! Everything here is a pure function over bytes the adapter captured (`mcast sniff` reads an
//! `AF_PACKET` socket; on Linux even `lo` hands out Ethernet-framed packets, with zero MACs).
//!
//! - [`summarize`] decodes one frame into a [`PacketSummary`], whose `Display` is a scapy-style
//!   line such as `Ether / IP / UDP 192.168.56.3:52582 > 224.1.1.5:50001 / Raw`.
//! - IGMP v1/v2/v3 is parsed by etherparse (0.21 knows every IGMP message) and put into words
//!   by this module; MLD v1/v2 is decoded by hand from the ICMPv6 message (see [`mld`]). Both
//!   become a [`MembershipMessage`]: `IGMPv3 report: join 224.1.1.5 (exclude {})`, which a
//!   summary line puts between its sender and destination:
//!   `Ether / IP / IGMPv3 192.168.56.1 > 224.0.0.22 report: join 224.1.1.5 (exclude {})`.
//! - [`ether`] puts the Ethernet header (MACs, VLAN tags, EtherType) in tcpdump's `-e` words.
//! - [`filter`] keeps the frames a capture asks for (a UDP port, a destination group, or a
//!   tcpdump-like expression, [`filter::Expr`]) and builds the classic BPF program that lets
//!   the kernel drop most others first.
//! - [`hexdump`] prints bytes in scapy's `hexdump()` layout.
//! - [`pcap`] writes classic pcap files into any `io::Write` and reads them back from bytes.
//!
//! Nothing here panics on any input, and malformed or cut-short packets still give as much of a
//! summary as could be read (with [`PacketSummary::truncated`] set).
//!
//! ```
//! use mcast_core::packet::{summarize, LinkType};
//!
//! // UDP from 192.168.56.3:52582 to 224.1.1.5:50001, "Hello, World!", as captured on a veth.
//! let frame = b"\x01\x00\x5e\x01\x01\x05\xce\xbe\x28\x7d\x4c\x16\x08\x00\
//!     \x45\x00\x00\x29\xdf\x2d\x40\x00\x01\x11\xc0\xe4\xc0\xa8\x38\x03\xe0\x01\x01\x05\
//!     \xcd\x66\xc3\x51\x00\x15\xd9\xd8Hello, World!";
//! let s = summarize(frame, LinkType::Ethernet)?;
//! assert_eq!(s.to_string(), "Ether / IP / UDP 192.168.56.3:52582 > 224.1.1.5:50001 / Raw");
//! assert_eq!(s.dst_mac.unwrap().to_string(), "01:00:5e:01:01:05");
//! assert_eq!((s.ttl, s.payload_len), (Some(1), Some(13)));
//! # Ok::<(), mcast_core::packet::PacketError>(())
//! ```

use std::fmt;
use std::net::{IpAddr, SocketAddr};

use etherparse::{IpNumber, LaxNetSlice, LaxSlicedPacket, LinkSlice, TransportSlice};

use crate::addr::MacAddr;

pub mod ether;
pub mod filter;
mod hexdump;
mod igmp;
mod membership;
pub mod mld;
pub mod pcap;

pub use hexdump::hexdump;
pub use membership::{GroupRecord, MembershipMessage, MembershipProtocol, MessageKind, RecordType};

/// How a captured frame starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "snake_case"))]
#[non_exhaustive]
pub enum LinkType {
    /// An Ethernet II header (`AF_PACKET` on Ethernet, veth and `lo`).
    Ethernet,
    /// No link header: the frame is an IPv4 or IPv6 packet (tun devices, `LINKTYPE_RAW`).
    RawIp,
}

impl LinkType {
    /// The pcap `LINKTYPE_*` number.
    pub fn pcap_linktype(&self) -> u32 {
        match self {
            Self::Ethernet => pcap::LINKTYPE_ETHERNET,
            Self::RawIp => pcap::LINKTYPE_RAW,
        }
    }
}

/// A frame too broken to summarize at all.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PacketError {
    /// The frame is shorter than its link-layer header.
    #[error("frame too short: {got} bytes, an Ethernet header needs {need}")]
    Truncated {
        /// Bytes needed.
        need: usize,
        /// Bytes present.
        got: usize,
    },
    /// A raw-IP frame does not start with a usable IPv4 or IPv6 header.
    #[error("not an IP packet: {0}")]
    NotIp(String),
}

/// What one captured frame is, layer by layer. Fields a frame does not have are `None`.
///
/// `Display` gives one scapy-style line:
///
/// | frame | line |
/// |---|---|
/// | UDP with payload | `Ether / IP / UDP 192.168.56.3:52582 > 224.1.1.5:50001 / Raw` |
/// | UDP over IPv6, empty | `Ether / IPv6 / UDP [fe80::1]:5000 > [ff15::1]:5000` |
/// | IGMPv3 report | `Ether / IP / IGMPv3 192.168.56.1 > 224.0.0.22 report: join 224.1.1.5 (exclude {})` |
/// | IGMPv2 report | `Ether / IP / IGMPv2 192.168.56.1 > 224.1.1.5 report: join 224.1.1.5` |
/// | IGMP leave | `Ether / IP / IGMPv2 192.168.56.1 > 224.0.0.2 leave 224.1.1.5` |
/// | IGMP query | `Ether / IP / IGMPv3 192.168.56.254 > 224.0.0.1 query (general)` |
/// | MLD done | `Ether / IPv6 / MLDv1 fe80::a > ff02::2 leave ff15::2` |
/// | ICMP | `Ether / IPv6 / ICMPv6 type 133 fe80::1 > ff02::2` |
/// | other protocols | `Ether / IP / proto 6 10.0.0.1 > 10.0.0.2` |
/// | not IP | `Ether / ARP`, `Ether / type 0x88cc` |
///
/// A cut-short packet ends in ` (truncated)`, a fragment in ` (fragment)`.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[non_exhaustive]
pub struct PacketSummary {
    /// The link type the frame was decoded as.
    pub link: LinkType,
    /// The frame's length in bytes.
    pub len: usize,
    /// Ethernet source.
    pub src_mac: Option<MacAddr>,
    /// Ethernet destination (`01:00:5e:…` / `33:33:…` for multicast).
    pub dst_mac: Option<MacAddr>,
    /// The EtherType of the Ethernet header.
    pub ether_type: Option<u16>,
    /// 4 or 6.
    pub ip_version: Option<u8>,
    /// IP source.
    pub src: Option<IpAddr>,
    /// IP destination.
    pub dst: Option<IpAddr>,
    /// IPv4 TTL or IPv6 hop limit.
    pub ttl: Option<u8>,
    /// The transport protocol number, after any IPv6 extension headers (17 UDP, 2 IGMP, 58
    /// ICMPv6).
    pub protocol: Option<u8>,
    /// Whether the packet carries a Router Alert (IPv4 option 148, IPv6 Hop-by-Hop option 5),
    /// as IGMP and MLD messages do.
    pub router_alert: bool,
    /// UDP (or TCP) source port.
    pub src_port: Option<u16>,
    /// UDP (or TCP) destination port.
    pub dst_port: Option<u16>,
    /// Bytes of UDP payload.
    pub payload_len: Option<usize>,
    /// ICMP/ICMPv6 type, for ICMP messages that are not MLD.
    pub icmp_type: Option<u8>,
    /// The IGMP or MLD message, if the packet is one.
    pub membership: Option<MembershipMessage>,
    /// The IP payload is a fragment that is not the first (no transport header to read).
    pub fragment: bool,
    /// Some layer was cut short or malformed; what was readable is filled in.
    pub truncated: bool,
    /// Why decoding stopped early, if it did.
    pub error: Option<String>,
}

impl PacketSummary {
    fn empty(link: LinkType, len: usize) -> Self {
        Self {
            link,
            len,
            src_mac: None,
            dst_mac: None,
            ether_type: None,
            ip_version: None,
            src: None,
            dst: None,
            ttl: None,
            protocol: None,
            router_alert: false,
            src_port: None,
            dst_port: None,
            payload_len: None,
            icmp_type: None,
            membership: None,
            fragment: false,
            truncated: false,
            error: None,
        }
    }
}

const ETHERTYPE_ARP: u16 = 0x0806;
const IPV4_OPTION_ROUTER_ALERT: u8 = 148;
const IPV6_OPTION_ROUTER_ALERT: u8 = 5;
const IP_PROTO_ICMP: u8 = 1;
const IP_PROTO_IGMP: u8 = 2;
const IP_PROTO_UDP: u8 = 17;
const IP_PROTO_ICMPV6: u8 = 58;

/// Decodes one captured frame. Fails only when not even the first header is there; anything
/// later that is cut short or malformed is reported in the summary instead.
///
/// See the [module docs](self) for an example.
pub fn summarize(frame: &[u8], link: LinkType) -> Result<PacketSummary, PacketError> {
    let sliced = match link {
        LinkType::Ethernet => {
            LaxSlicedPacket::from_ethernet(frame).map_err(|e| PacketError::Truncated {
                need: e.required_len,
                got: e.len,
            })?
        }
        LinkType::RawIp => {
            LaxSlicedPacket::from_ip(frame).map_err(|e| PacketError::NotIp(e.to_string()))?
        }
    };
    let mut s = PacketSummary::empty(link, frame.len());

    if let Some(LinkSlice::Ethernet2(eth)) = &sliced.link {
        s.src_mac = Some(MacAddr(eth.source()));
        s.dst_mac = Some(MacAddr(eth.destination()));
        s.ether_type = Some(eth.ether_type().0);
    }
    // A VLAN tag hides the inner EtherType; the last link extension has it.
    if let Some(payload) = sliced.ether_payload() {
        s.ether_type = Some(payload.ether_type.0);
    }

    let ip_payload = match &sliced.net {
        Some(LaxNetSlice::Ipv4(ip)) => {
            let h = ip.header();
            s.ip_version = Some(4);
            s.src = Some(IpAddr::V4(h.source_addr()));
            s.dst = Some(IpAddr::V4(h.destination_addr()));
            s.ttl = Some(h.ttl());
            s.router_alert = ipv4_router_alert(h.options());
            Some(ip.payload())
        }
        Some(LaxNetSlice::Ipv6(ip)) => {
            let h = ip.header();
            s.ip_version = Some(6);
            s.src = Some(IpAddr::V6(h.source_addr()));
            s.dst = Some(IpAddr::V6(h.destination_addr()));
            s.ttl = Some(h.hop_limit());
            // The Hop-by-Hop header can only come first. Its bytes are read here by hand:
            // etherparse 0.21's extension iterator reads out of bounds when a lax parse
            // stopped inside the extension chain (found by the sniff_summary fuzz target).
            let exts = ip.extensions();
            if exts.first_header() == Some(IpNumber::IPV6_HEADER_HOP_BY_HOP) {
                s.router_alert = hop_by_hop_options(exts.slice()).is_some_and(ipv6_router_alert);
            }
            Some(ip.payload())
        }
        Some(LaxNetSlice::Arp(_)) | None => None,
    };
    if let Some(p) = ip_payload {
        s.protocol = Some(p.ip_number.0);
        s.fragment = p.fragmented;
        s.truncated |= p.incomplete;
    }

    match &sliced.transport {
        Some(TransportSlice::Udp(udp)) => {
            s.src_port = Some(udp.source_port());
            s.dst_port = Some(udp.destination_port());
            s.payload_len = Some(udp.payload().len());
        }
        Some(TransportSlice::Tcp(tcp)) => {
            s.src_port = Some(tcp.source_port());
            s.dst_port = Some(tcp.destination_port());
        }
        Some(TransportSlice::Igmp(igmp_slice)) => {
            let m = igmp::decode(igmp_slice);
            s.truncated |= m.truncated;
            s.membership = Some(m);
        }
        Some(TransportSlice::Icmpv6(icmp)) => {
            let t = icmp.type_u8();
            match mld::decode(icmp.slice()) {
                Ok(Some(mut m)) => {
                    if let (Some(IpAddr::V6(src)), Some(IpAddr::V6(dst))) = (s.src, s.dst) {
                        if !m.truncated && !s.truncated {
                            m.checksum_ok =
                                Some(icmp.is_checksum_valid(src.octets(), dst.octets()));
                        }
                    }
                    s.truncated |= m.truncated;
                    s.membership = Some(m);
                }
                Ok(None) => s.icmp_type = Some(t),
                Err(mld::Truncated) => {
                    s.icmp_type = Some(t);
                    s.truncated = true;
                }
            }
        }
        Some(TransportSlice::Icmpv4(icmp)) => s.icmp_type = Some(icmp.type_u8()),
        None => {}
    }

    if let Some((err, layer)) = &sliced.stop_err {
        s.truncated = true;
        s.error = Some(format!("{layer}: {err}"));
    }
    Ok(s)
}

/// Walks IPv4 options (type, length, data) looking for Router Alert.
fn ipv4_router_alert(mut opts: &[u8]) -> bool {
    while let Some(&kind) = opts.first() {
        match kind {
            0 => return false,      // End of Option List
            1 => opts = &opts[1..], // No-Operation
            IPV4_OPTION_ROUTER_ALERT => return true,
            _ => {
                let Some(&len) = opts.get(1) else {
                    return false;
                };
                let len = usize::from(len);
                if len < 2 || len > opts.len() {
                    return false;
                }
                opts = &opts[len..];
            }
        }
    }
    false
}

/// The options of the IPv6 Hop-by-Hop header at the start of `exts` (RFC 8200 §4.3: next
/// header, length in 8-byte units not counting the first 8, options), if it is all there.
fn hop_by_hop_options(exts: &[u8]) -> Option<&[u8]> {
    let len = (usize::from(*exts.get(1)?) + 1) * 8;
    exts.get(2..len)
}

/// Walks the TLV options of an IPv6 Hop-by-Hop header (after its two-byte next-header/length
/// prefix) looking for Router Alert.
fn ipv6_router_alert(hbh_options: &[u8]) -> bool {
    let mut opts = hbh_options;
    while let Some(&kind) = opts.first() {
        if kind == 0 {
            // Pad1
            opts = &opts[1..];
            continue;
        }
        if kind == IPV6_OPTION_ROUTER_ALERT {
            return true;
        }
        let Some(&len) = opts.get(1) else {
            return false;
        };
        let Some(rest) = opts.get(2 + usize::from(len)..) else {
            return false;
        };
        opts = rest;
    }
    false
}

impl fmt::Display for PacketSummary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut layers_written = 0;
        let mut sep = |f: &mut fmt::Formatter<'_>| -> fmt::Result {
            layers_written += 1;
            if layers_written > 1 {
                f.write_str(" / ")
            } else {
                Ok(())
            }
        };
        if self.link == LinkType::Ethernet {
            sep(f)?;
            f.write_str("Ether")?;
        }
        match self.ip_version {
            Some(4) => {
                sep(f)?;
                f.write_str("IP")?;
            }
            Some(_) => {
                sep(f)?;
                f.write_str("IPv6")?;
            }
            None => {
                sep(f)?;
                match self.ether_type {
                    Some(ETHERTYPE_ARP) => f.write_str("ARP")?,
                    Some(t) => write!(f, "type 0x{t:04x}")?,
                    None => f.write_str("?")?,
                }
                return Ok(());
            }
        }
        sep(f)?;
        let (Some(src), Some(dst)) = (self.src, self.dst) else {
            return f.write_str("?");
        };
        if let Some(m) = &self.membership {
            // Who said it to whom, between the name and the words, as for ICMP.
            m.fmt_name(f)?;
            write!(f, " {src} > {dst} ")?;
            m.fmt_words(f)?;
        } else if let (Some(IP_PROTO_UDP), Some(sp), Some(dp)) =
            (self.protocol, self.src_port, self.dst_port)
        {
            // `SocketAddr` brackets IPv6: `224.1.1.5:50001`, `[ff15::1]:5000`.
            write!(
                f,
                "UDP {} > {}",
                SocketAddr::from((src, sp)),
                SocketAddr::from((dst, dp))
            )?;
            if self.payload_len.unwrap_or(0) > 0 {
                sep(f)?;
                f.write_str("Raw")?;
            }
        } else if let (Some(p @ (IP_PROTO_ICMP | IP_PROTO_ICMPV6)), Some(t)) =
            (self.protocol, self.icmp_type)
        {
            let name = if p == IP_PROTO_ICMP { "ICMP" } else { "ICMPv6" };
            write!(f, "{name} type {t} {src} > {dst}")?;
        } else {
            match self.protocol {
                Some(p) => write!(f, "proto {p} {src} > {dst}")?,
                None => write!(f, "{src} > {dst}")?,
            }
        }
        if self.fragment {
            f.write_str(" (fragment)")?;
        }
        if self.truncated {
            f.write_str(" (truncated)")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;
