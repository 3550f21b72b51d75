//! The Ethernet header of a captured frame in tcpdump's `-e` words:
//! `ce:be:28:7d:4c:16 > 01:00:5e:01:01:05, ethertype IPv4 (0x0800), length 55`.
//!
//! ```
//! use mcast_core::packet::ether::EtherHeader;
//!
//! let mut frame = vec![0x01, 0x00, 0x5e, 0x01, 0x01, 0x05, 0xce, 0xbe, 0x28, 0x7d, 0x4c, 0x16];
//! frame.extend_from_slice(&[0x81, 0x00, 0x00, 0x05, 0x08, 0x00]); // VLAN 5, then IPv4
//! frame.resize(60, 0);
//! let h = EtherHeader::parse(&frame).unwrap();
//! assert_eq!(h.dst.to_string(), "01:00:5e:01:01:05");
//! assert_eq!((h.vlans, h.ether_type), ([Some(5), None], 0x0800));
//! assert_eq!(
//!     h.to_string(),
//!     "ce:be:28:7d:4c:16 > 01:00:5e:01:01:05, vlan 5, ethertype IPv4 (0x0800), length 60"
//! );
//! assert_eq!(EtherHeader::parse(&frame[..13]), None);
//! ```

use std::fmt;

use crate::addr::MacAddr;

/// The link-level header of an Ethernet II frame, behind at most two VLAN tags.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct EtherHeader {
    /// Source MAC.
    pub src: MacAddr,
    /// Destination MAC (`01:00:5e:…` for an IPv4 group, `33:33:…` for IPv6).
    pub dst: MacAddr,
    /// The VLAN ids of the outer and the inner tag (802.1ad / 802.1Q), outer first.
    pub vlans: [Option<u16>; 2],
    /// The EtherType after the tags (0x0800 IPv4, 0x86dd IPv6, 0x0806 ARP).
    pub ether_type: u16,
    /// The frame's length in bytes.
    pub len: usize,
}

impl EtherHeader {
    /// Reads the header at the start of `frame`, or `None` if it is cut short.
    pub fn parse(frame: &[u8]) -> Option<Self> {
        let mac = |at: usize| -> Option<MacAddr> {
            Some(MacAddr(frame.get(at..at + 6)?.try_into().ok()?))
        };
        let be16 = |at: usize| -> Option<u16> {
            Some(u16::from_be_bytes(frame.get(at..at + 2)?.try_into().ok()?))
        };
        let mut vlans = [None; 2];
        let mut at = 12;
        let mut ether_type = be16(at)?;
        for slot in &mut vlans {
            if ether_type != 0x8100 && ether_type != 0x88a8 {
                break;
            }
            *slot = Some(be16(at + 2)? & 0x0fff);
            at += 4;
            ether_type = be16(at)?;
        }
        Some(Self {
            dst: mac(0)?,
            src: mac(6)?,
            vlans,
            ether_type,
            len: frame.len(),
        })
    }
}

/// tcpdump's name for an EtherType.
pub fn ether_type_name(t: u16) -> &'static str {
    match t {
        0x0800 => "IPv4",
        0x86dd => "IPv6",
        0x0806 => "ARP",
        0x8100 => "802.1Q",
        0x88a8 => "802.1Q-QinQ",
        0x88cc => "LLDP",
        _ => "Unknown",
    }
}

impl fmt::Display for EtherHeader {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} > {}, ", self.src, self.dst)?;
        for id in self.vlans.iter().flatten() {
            write!(f, "vlan {id}, ")?;
        }
        write!(
            f,
            "ethertype {} ({:#06x}), length {}",
            ether_type_name(self.ether_type),
            self.ether_type,
            self.len
        )
    }
}
