//! The capture filter: which captured frames to keep ([`Filter`]), checked on the bytes in
//! user space, and the classic BPF program ([`Filter::bpf_program`]) that lets a kernel drop
//! most other frames before copying them.
//!
//! A pure function over bytes, like the rest of [`packet`](super): the adapter attaches the
//! program to its `AF_PACKET` socket and calls [`Filter::matches`] on every frame it reads.
//! The check reads only the few fields it needs (the EtherType behind at most two VLAN tags,
//! the IP destination, the UDP ports, whether the packet is IGMP or MLD), so it costs far less
//! than [`summarize`](super::summarize).
//!
//! ```
//! use mcast_core::packet::filter::Filter;
//!
//! // UDP from 192.168.56.3:52582 to 224.1.1.5:50001, "Hello, World!", as captured on a veth.
//! let frame = b"\x01\x00\x5e\x01\x01\x05\xce\xbe\x28\x7d\x4c\x16\x08\x00\
//!     \x45\x00\x00\x29\xdf\x2d\x40\x00\x01\x11\xc0\xe4\xc0\xa8\x38\x03\xe0\x01\x01\x05\
//!     \xcd\x66\xc3\x51\x00\x15\xd9\xd8Hello, World!";
//! let to_port = Filter { port: Some(50001), group: None };
//! assert!(to_port.matches(frame, true));
//! let elsewhere = Filter { port: None, group: Some("224.1.1.6".parse()?) };
//! // The group is a checked `Group`: a unicast address is refused before any filter exists.
//! assert!("10.0.0.1".parse::<mcast_core::addr::Group>().is_err());
//! assert!(!elsewhere.matches(frame, true));
//! // The kernel's pre-filter: a superset of `matches`; none when everything is kept.
//! assert!(to_port.bpf_program().is_some_and(|prog| !prog.is_empty()));
//! assert_eq!(Filter::default().bpf_program(), None);
//! # Ok::<(), mcast_core::addr::AddrError>(())
//! ```

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::mld;
use crate::addr::Group;

pub mod expr;

pub use expr::{Expr, ExprError, ExprErrorKind};

/// Which captured frames to keep. The default keeps every frame.
///
/// - `port`: UDP datagrams (over IPv4 or IPv6) with this source **or** destination port. Every
///   other frame is dropped, IGMP and MLD included (they carry no ports).
/// - `group`: IP packets whose destination is this group, plus every IGMP and MLD message
///   (so joins and leaves stay visible while watching a group). A [`Group`], checked
///   multicast: a filter on a unicast destination is not what this module is for.
/// - both: a frame must pass each, so only UDP to `group` with `port` on one side.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Filter {
    /// UDP port on either side.
    pub port: Option<u16>,
    /// Destination group.
    pub group: Option<Group>,
}

impl Filter {
    /// Whether the filter lets every frame through.
    pub fn is_empty(&self) -> bool {
        self.port.is_none() && self.group.is_none()
    }

    /// Whether the frame passes. `ethernet` says whether `frame` starts with a 14-byte
    /// Ethernet header (what an `AF_PACKET` socket gives on Ethernet, veth and `lo`, see
    /// [`LinkType::Ethernet`](super::LinkType::Ethernet)); otherwise it must start with the IP
    /// header. Never panics, whatever the bytes.
    pub fn matches(&self, frame: &[u8], ethernet: bool) -> bool {
        if self.is_empty() {
            return true;
        }
        let Some(ip) = frame_facts(frame, ethernet).ip else {
            return false;
        };
        if let Some(port) = self.port {
            match ip.udp_ports {
                Some((src, dst)) if src == port || dst == port => {}
                _ => return false,
            }
        }
        if let Some(group) = self.group {
            if ip.dst != group.addr() && !ip.membership {
                return false;
            }
        }
        true
    }

    /// A classic BPF program for Ethernet frames that accepts a superset of what
    /// [`Filter::matches`] accepts, or `None` when the filter keeps everything.
    ///
    /// IPv6 and VLAN-tagged frames are always accepted (the exact check decides); IPv4 frames
    /// are checked exactly as [`Filter::matches`] does; everything else is dropped. A frame
    /// the program accepts still goes through [`Filter::matches`].
    pub fn bpf_program(&self) -> Option<Vec<BpfInsn>> {
        bpf::compile(self)
    }
}

/// The few facts about a frame the filters need: its first VLAN tag and its IP packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct FrameFacts {
    /// The VLAN id of the outer 802.1Q/802.1ad tag, if the frame has one.
    vlan: Option<u16>,
    /// The IP packet, if the frame carries one whose version agrees with the EtherType.
    ip: Option<IpFacts>,
}

/// The few facts about an IP packet the filters need.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct IpFacts {
    src: IpAddr,
    dst: IpAddr,
    /// The transport protocol (after IPv6 extension headers, when they could be walked).
    proto: u8,
    /// (source, destination) port of an unfragmented (or first-fragment) UDP datagram.
    udp_ports: Option<(u16, u16)>,
    /// IGMP or MLD.
    membership: bool,
}

const ETHERTYPE_IPV4: u16 = 0x0800;
const ETHERTYPE_IPV6: u16 = 0x86dd;
const ETHERTYPE_VLAN: u16 = 0x8100;
const ETHERTYPE_QINQ: u16 = 0x88a8;
// The IP protocol numbers are the decoder's, one definition for the packet module.
use super::{
    IP_PROTO_ICMPV6 as PROTO_ICMPV6, IP_PROTO_IGMP as PROTO_IGMP, IP_PROTO_UDP as PROTO_UDP,
};

fn be16(b: &[u8], at: usize) -> Option<u16> {
    let s = b.get(at..at.checked_add(2)?)?;
    Some(u16::from_be_bytes([s[0], s[1]]))
}

fn udp_ports(l4: &[u8]) -> Option<(u16, u16)> {
    Some((be16(l4, 0)?, be16(l4, 2)?))
}

fn frame_facts(frame: &[u8], ethernet: bool) -> FrameFacts {
    let mut vlan = None;
    let link = if ethernet {
        let mut at = 12;
        let mut ethertype = be16(frame, at);
        // At most two VLAN tags (802.1ad outer + 802.1Q inner).
        for _ in 0..2 {
            if let Some(ETHERTYPE_VLAN | ETHERTYPE_QINQ) = ethertype {
                if vlan.is_none() {
                    vlan = be16(frame, at + 2).map(|tci| tci & 0x0fff);
                }
                at += 4;
                ethertype = be16(frame, at);
            }
        }
        ethertype.and_then(|t| Some((frame.get(at + 2..)?, Some(t))))
    } else {
        Some((frame, None))
    };
    FrameFacts {
        vlan,
        ip: link.and_then(|(ip, ethertype)| ip_facts(ip, ethertype)),
    }
}

fn ip_facts(ip: &[u8], ethertype: Option<u16>) -> Option<IpFacts> {
    // Behind an Ethernet header, the IP version must agree with the EtherType.
    match (ip.first()? >> 4, ethertype) {
        (4, None | Some(ETHERTYPE_IPV4)) => ipv4_facts(ip),
        (6, None | Some(ETHERTYPE_IPV6)) => ipv6_facts(ip),
        _ => None,
    }
}

fn ipv4_facts(ip: &[u8]) -> Option<IpFacts> {
    let ihl = usize::from(ip.first()? & 0x0f) * 4;
    if ihl < 20 {
        return None;
    }
    let proto = *ip.get(9)?;
    let src: [u8; 4] = ip.get(12..16)?.try_into().ok()?;
    let dst: [u8; 4] = ip.get(16..20)?.try_into().ok()?;
    let frag_offset = be16(ip, 6)? & 0x1fff;
    let udp_ports = if proto == PROTO_UDP && frag_offset == 0 {
        ip.get(ihl..).and_then(udp_ports)
    } else {
        None
    };
    Some(IpFacts {
        src: IpAddr::V4(Ipv4Addr::from(src)),
        dst: IpAddr::V4(Ipv4Addr::from(dst)),
        proto,
        udp_ports,
        membership: proto == PROTO_IGMP,
    })
}

fn ipv6_facts(ip: &[u8]) -> Option<IpFacts> {
    let src: [u8; 16] = ip.get(8..24)?.try_into().ok()?;
    let dst: [u8; 16] = ip.get(24..40)?.try_into().ok()?;
    let mut next = *ip.get(6)?;
    let mut at = 40usize;
    let mut udp = None;
    let mut membership = false;
    // Walk at most 8 extension headers; a loop cannot run away on hostile bytes.
    for _ in 0..8 {
        match next {
            // Hop-by-hop, routing, destination options: length in 8-byte units, excluding the first 8.
            0 | 43 | 60 => {
                let len = (usize::from(*ip.get(at + 1)?) + 1) * 8;
                next = *ip.get(at)?;
                at += len;
            }
            // Fragment header: only the first fragment carries the UDP header.
            44 => {
                let offset = be16(ip, at + 2)? >> 3;
                next = *ip.get(at)?;
                if offset != 0 {
                    break;
                }
                at += 8;
            }
            PROTO_UDP => {
                udp = ip.get(at..).and_then(udp_ports);
                break;
            }
            PROTO_ICMPV6 => {
                membership = ip.get(at).copied().is_some_and(mld::is_mld);
                break;
            }
            _ => break,
        }
    }
    Some(IpFacts {
        src: IpAddr::V6(Ipv6Addr::from(src)),
        dst: IpAddr::V6(Ipv6Addr::from(dst)),
        proto: next,
        udp_ports: udp,
        membership,
    })
}

/// One classic BPF instruction, laid out as Linux's `struct sock_filter` (what
/// `SO_ATTACH_FILTER` takes, one per instruction, in order).
///
/// ```
/// use mcast_core::packet::filter::{BpfInsn, Filter};
///
/// let prog: Vec<BpfInsn> = Filter { port: Some(5000), group: None }.bpf_program().unwrap();
/// // Every program ends with "accept" (return a snap length) and "drop" (return 0).
/// let ret = 0x06;
/// assert_eq!((prog[prog.len() - 2].code, prog[prog.len() - 1].code), (ret, ret));
/// assert_eq!(prog[prog.len() - 1].k, 0);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BpfInsn {
    /// The opcode (`BPF_LD | BPF_H | BPF_ABS`, ...).
    pub code: u16,
    /// How many instructions a true condition skips.
    pub jt: u8,
    /// How many instructions a false condition skips.
    pub jf: u8,
    /// The operand.
    pub k: u32,
}

/// A classic BPF pre-filter for Ethernet frames that accepts a superset of [`Filter::matches`].
mod bpf {
    use super::{
        BpfInsn as Insn, Filter, ETHERTYPE_IPV4, ETHERTYPE_IPV6, ETHERTYPE_QINQ, ETHERTYPE_VLAN,
    };
    use super::{PROTO_IGMP, PROTO_UDP};

    // Opcodes from <linux/filter.h> (libc does not export them for Linux).
    pub(super) const LD: u16 = 0x00;
    pub(super) const LDX: u16 = 0x01;
    pub(super) const JMP: u16 = 0x05;
    pub(super) const RET: u16 = 0x06;
    pub(super) const W: u16 = 0x00;
    pub(super) const H: u16 = 0x08;
    pub(super) const B: u16 = 0x10;
    pub(super) const ABS: u16 = 0x20;
    pub(super) const IND: u16 = 0x40;
    pub(super) const MSH: u16 = 0xa0;
    pub(super) const JA: u16 = 0x00;
    pub(super) const JEQ: u16 = 0x10;
    pub(super) const JSET: u16 = 0x40;
    pub(super) const K: u16 = 0x00;

    /// Bytes a matching frame keeps (all of it).
    pub(super) const SNAP: u32 = 0x0004_0000;

    /// A jump target while assembling.
    #[derive(Clone, Copy)]
    enum To {
        Next,
        Accept,
        Drop,
        /// The instruction at this index.
        At(usize),
    }

    enum Op {
        Plain(u16, u32),
        Jump(u16, u32, To, To),
    }

    /// Assembles `ops` followed by `ret SNAP` (accept) and `ret 0` (drop).
    fn assemble(ops: &[Op]) -> Option<Vec<Insn>> {
        let accept = ops.len();
        let drop = ops.len() + 1;
        let offset = |i: usize, to: To| -> Option<u8> {
            let target = match to {
                To::Next => i + 1,
                To::Accept => accept,
                To::Drop => drop,
                To::At(t) => t,
            };
            u8::try_from(target.checked_sub(i + 1)?).ok()
        };
        let mut out = Vec::with_capacity(ops.len() + 2);
        for (i, op) in ops.iter().enumerate() {
            out.push(match *op {
                Op::Plain(code, k) => Insn {
                    code,
                    jt: 0,
                    jf: 0,
                    k,
                },
                Op::Jump(code, k, t, f) => Insn {
                    code,
                    jt: offset(i, t)?,
                    jf: offset(i, f)?,
                    k,
                },
            });
        }
        out.push(Insn {
            code: RET | K,
            jt: 0,
            jf: 0,
            k: SNAP,
        });
        out.push(Insn {
            code: RET | K,
            jt: 0,
            jf: 0,
            k: 0,
        });
        Some(out)
    }

    /// The program for `f`, or `None` when `f` accepts everything.
    ///
    /// IPv6 and VLAN-tagged frames are always accepted (user space decides); IPv4 frames are
    /// checked exactly as [`Filter::matches`] does; everything else is dropped.
    pub(super) fn compile(f: &Filter) -> Option<Vec<Insn>> {
        if f.is_empty() {
            return None;
        }
        let group_v4 = f.group.map(|g| g.as_v4().map(u32::from));
        let eq = |k: u32, t: To, fl: To| Op::Jump(JMP | JEQ | K, k, t, fl);
        let mut ops = vec![
            Op::Plain(LD | H | ABS, 12),
            eq(u32::from(ETHERTYPE_IPV6), To::Accept, To::Next),
            eq(u32::from(ETHERTYPE_VLAN), To::Accept, To::Next),
            eq(u32::from(ETHERTYPE_QINQ), To::Accept, To::Next),
            eq(u32::from(ETHERTYPE_IPV4), To::Next, To::Drop),
            // IPv4 protocol.
            Op::Plain(LD | B | ABS, 23),
        ];
        match (f.port, group_v4) {
            (Some(port), group) => {
                ops.push(eq(u32::from(PROTO_UDP), To::Next, To::Drop));
                // Not a later fragment.
                ops.push(Op::Plain(LD | H | ABS, 20));
                ops.push(Op::Jump(JMP | JSET | K, 0x1fff, To::Drop, To::Next));
                match group {
                    Some(Some(g)) => {
                        ops.push(Op::Plain(LD | W | ABS, 30));
                        ops.push(eq(g, To::Next, To::Drop));
                    }
                    // An IPv6 group: no IPv4 frame can match.
                    Some(None) => ops.push(Op::Jump(JMP | JA, 0, To::Drop, To::Drop)),
                    None => {}
                }
                ops.push(Op::Plain(LDX | B | MSH, 14));
                ops.push(Op::Plain(LD | H | IND, 14));
                ops.push(eq(u32::from(port), To::Accept, To::Next));
                ops.push(Op::Plain(LD | H | IND, 16));
                ops.push(eq(u32::from(port), To::Accept, To::Drop));
            }
            (None, Some(group)) => {
                let after = ops.len() + 1;
                ops.push(eq(u32::from(PROTO_IGMP), To::Accept, To::At(after)));
                match group {
                    Some(g) => {
                        ops.push(Op::Plain(LD | W | ABS, 30));
                        ops.push(eq(g, To::Accept, To::Drop));
                    }
                    None => ops.push(Op::Jump(JMP | JA, 0, To::Drop, To::Drop)),
                }
            }
            (None, None) => return None,
        }
        // `ja` jumps by k, not jt: fix those up after assembly.
        let mut prog = assemble(&ops)?;
        let drop = prog.len() - 1;
        for (i, insn) in prog.iter_mut().enumerate() {
            if insn.code == JMP | JA {
                insn.k = u32::try_from(drop - i - 1).ok()?;
                insn.jt = 0;
                insn.jf = 0;
            }
        }
        Some(prog)
    }

    /// A classic BPF interpreter for the instructions [`compile`] emits, to test programs
    /// without a kernel. Loads past the end reject the frame, as in the kernel.
    #[cfg(test)]
    pub(super) fn run(prog: &[Insn], frame: &[u8]) -> bool {
        let load = |at: usize, size: usize| -> Option<u32> {
            let b = frame.get(at..at.checked_add(size)?)?;
            Some(b.iter().fold(0u32, |acc, &x| (acc << 8) | u32::from(x)))
        };
        let (mut a, mut x, mut pc) = (0u32, 0u32, 0usize);
        while let Some(i) = prog.get(pc) {
            pc += 1;
            let size = |code: u16| match code & 0x18 {
                W => 4,
                H => 2,
                _ => 1,
            };
            match i.code {
                c if c & 0x07 == LD && c & 0xe0 == ABS => {
                    let Some(v) = load(i.k as usize, size(c)) else {
                        return false;
                    };
                    a = v;
                }
                c if c & 0x07 == LD && c & 0xe0 == IND => {
                    let Some(v) = load(x as usize + i.k as usize, size(c)) else {
                        return false;
                    };
                    a = v;
                }
                c if c == LDX | B | MSH => {
                    let Some(v) = load(i.k as usize, 1) else {
                        return false;
                    };
                    x = (v & 0xf) * 4;
                }
                c if c == JMP | JA => pc += i.k as usize,
                c if c == JMP | JEQ | K => {
                    pc += usize::from(if a == i.k { i.jt } else { i.jf });
                }
                c if c == JMP | JSET | K => {
                    pc += usize::from(if a & i.k != 0 { i.jt } else { i.jf });
                }
                c if c == RET | K => return i.k != 0,
                other => panic!("opcode {other:#x} not emitted by compile()"),
            }
        }
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Ethernet + IPv4 + UDP, `src:sport > dst:dport`, with a payload.
    fn udp4(src: [u8; 4], dst: [u8; 4], sport: u16, dport: u16, payload: &[u8]) -> Vec<u8> {
        let mut f = vec![0u8; 12];
        f.extend_from_slice(&ETHERTYPE_IPV4.to_be_bytes());
        let total = 20 + 8 + payload.len();
        f.extend_from_slice(&[
            0x45,
            0,
            (total >> 8) as u8,
            total as u8,
            0,
            1,
            0x40,
            0,
            1,
            17,
            0,
            0,
        ]);
        f.extend_from_slice(&src);
        f.extend_from_slice(&dst);
        f.extend_from_slice(&sport.to_be_bytes());
        f.extend_from_slice(&dport.to_be_bytes());
        f.extend_from_slice(&((8 + payload.len()) as u16).to_be_bytes());
        f.extend_from_slice(&[0, 0]);
        f.extend_from_slice(payload);
        f
    }

    /// Ethernet + IPv4 (with router alert option) + IGMPv2 report for `group`.
    fn igmp4(group: [u8; 4]) -> Vec<u8> {
        let mut f = vec![0u8; 12];
        f.extend_from_slice(&ETHERTYPE_IPV4.to_be_bytes());
        f.extend_from_slice(&[0x46, 0xc0, 0, 32, 0, 0, 0x40, 0, 1, 2, 0, 0]);
        f.extend_from_slice(&[192, 168, 56, 3]);
        f.extend_from_slice(&group);
        f.extend_from_slice(&[0x94, 0x04, 0, 0]);
        f.extend_from_slice(&[0x16, 0, 0, 0]);
        f.extend_from_slice(&group);
        f
    }

    /// Ethernet + IPv6 (+ hop-by-hop) + either UDP or an MLDv2 report.
    fn ipv6(dst: Ipv6Addr, hop_by_hop: bool, l4: &[u8], l4_proto: u8) -> Vec<u8> {
        let mut f = vec![0u8; 12];
        f.extend_from_slice(&ETHERTYPE_IPV6.to_be_bytes());
        let ext = if hop_by_hop { 8 } else { 0 };
        let plen = (ext + l4.len()) as u16;
        f.extend_from_slice(&[0x60, 0, 0, 0]);
        f.extend_from_slice(&plen.to_be_bytes());
        f.push(if hop_by_hop { 0 } else { l4_proto });
        f.push(1);
        f.extend_from_slice(&"fe80::1".parse::<Ipv6Addr>().unwrap().octets());
        f.extend_from_slice(&dst.octets());
        if hop_by_hop {
            f.extend_from_slice(&[l4_proto, 0, 5, 2, 0, 0, 1, 0]);
        }
        f.extend_from_slice(l4);
        f
    }

    /// Ethernet + IPv6 + hop-by-hop + an MLDv2 report to ff02::16.
    fn mld2_report() -> Vec<u8> {
        ipv6(
            "ff02::16".parse().unwrap(),
            true,
            &[143, 0, 0, 0, 0, 0, 0, 0],
            58,
        )
    }

    /// A UDP header 4000 > 50001 with no payload.
    fn udp_4000_to_50001() -> Vec<u8> {
        let mut udp = Vec::new();
        udp.extend_from_slice(&4000u16.to_be_bytes());
        udp.extend_from_slice(&50001u16.to_be_bytes());
        udp.extend_from_slice(&[0, 8, 0, 0]);
        udp
    }

    const G: [u8; 4] = [224, 1, 1, 5];
    const H: [u8; 4] = [192, 168, 56, 3];

    fn group(s: &str) -> Filter {
        Filter {
            port: None,
            group: Some(s.parse().unwrap()),
        }
    }

    fn port(p: u16) -> Filter {
        Filter {
            port: Some(p),
            group: None,
        }
    }

    #[test]
    fn empty_filter_takes_everything() {
        let f = Filter::default();
        assert!(f.is_empty());
        assert!(f.matches(&[], true));
        assert!(f.matches(&[1, 2, 3], true));
    }

    #[test]
    fn port_matches_either_side() {
        let to = udp4(H, G, 52582, 50001, b"hi");
        let from = udp4(G, H, 50001, 52582, b"hi");
        let other = udp4(H, G, 52582, 50002, b"hi");
        assert!(port(50001).matches(&to, true));
        assert!(port(50001).matches(&from, true));
        assert!(!port(50001).matches(&other, true));
    }

    #[test]
    fn port_hides_igmp_and_mld() {
        assert!(!port(50001).matches(&igmp4(G), true));
        let mld = mld2_report();
        assert!(!port(50001).matches(&mld, true));
    }

    #[test]
    fn group_matches_destination_and_keeps_membership_messages() {
        let to_g = udp4(H, G, 1, 50001, b"x");
        let to_other = udp4(H, [234, 3, 2, 1], 1, 50001, b"x");
        assert!(group("224.1.1.5").matches(&to_g, true));
        assert!(!group("224.1.1.5").matches(&to_other, true));
        assert!(group("224.1.1.5").matches(&igmp4([224, 0, 0, 22]), true));
        let mld = mld2_report();
        assert!(group("224.1.1.5").matches(&mld, true));
        // ICMPv6 that is not MLD (an echo request) is not membership.
        let echo = ipv6(
            "ff02::1".parse().unwrap(),
            false,
            &[128, 0, 0, 0, 0, 0, 0, 0],
            58,
        );
        assert!(!group("224.1.1.5").matches(&echo, true));
    }

    #[test]
    fn both_filters_must_pass() {
        let f = Filter {
            port: Some(50001),
            group: Some(Group::v4(G.into()).unwrap()),
        };
        assert!(f.matches(&udp4(H, G, 1, 50001, b""), true));
        assert!(!f.matches(&udp4(H, G, 1, 50002, b""), true));
        assert!(!f.matches(&udp4(H, [234, 3, 2, 1], 1, 50001, b""), true));
        assert!(!f.matches(&igmp4(G), true));
    }

    #[test]
    fn ipv6_udp_through_hop_by_hop() {
        let g6: Ipv6Addr = "ff15::5".parse().unwrap();
        let udp = udp_4000_to_50001();
        for hbh in [false, true] {
            let f = ipv6(g6, hbh, &udp, 17);
            assert!(port(50001).matches(&f, true));
            assert!(port(4000).matches(&f, true));
            assert!(!port(4001).matches(&f, true));
            assert!(group("ff15::5").matches(&f, true));
            assert!(!group("ff15::6").matches(&f, true));
        }
    }

    #[test]
    fn vlan_tag_is_skipped() {
        let plain = udp4(H, G, 1, 50001, b"x");
        let mut tagged = plain[..12].to_vec();
        tagged.extend_from_slice(&[0x81, 0x00, 0x00, 0x05]);
        tagged.extend_from_slice(&plain[12..]);
        assert!(port(50001).matches(&tagged, true));
    }

    #[test]
    fn raw_ip_without_link_header() {
        let f = udp4(H, G, 1, 50001, b"x");
        assert!(port(50001).matches(&f[14..], false));
        assert!(!port(50001).matches(&f, false));
    }

    #[test]
    fn later_fragments_have_no_ports() {
        let mut f = udp4(H, G, 1, 50001, b"x");
        // Fragment offset 185 (× 8 bytes): the bytes after the header are payload, not UDP.
        f[14 + 6] = 0x00;
        f[14 + 7] = 185;
        assert!(!port(50001).matches(&f, true));
        assert!(group("224.1.1.5").matches(&f, true));
    }

    #[test]
    fn non_ip_and_truncated_frames_never_match_a_filter() {
        let arp = {
            let mut f = vec![0u8; 12];
            f.extend_from_slice(&[0x08, 0x06]);
            f.extend_from_slice(&[0; 28]);
            f
        };
        assert!(!port(50001).matches(&arp, true));
        assert!(!group("224.1.1.5").matches(&arp, true));
        let full = udp4(H, G, 1, 50001, b"payload");
        for cut in 0..full.len() {
            // Must not panic; short frames may or may not match, but never before ports exist.
            let m = port(50001).matches(&full[..cut], true);
            assert_eq!(m, cut >= 14 + 20 + 4, "cut at {cut}");
        }
    }

    /// Deterministic xorshift, so the "fuzz" below is the same on every run.
    fn xorshift(state: &mut u64) -> u64 {
        *state ^= *state << 13;
        *state ^= *state >> 7;
        *state ^= *state << 17;
        *state
    }

    fn filters() -> Vec<Filter> {
        let v4: Group = "224.1.1.5".parse().unwrap();
        let v6: Group = "ff15::5".parse().unwrap();
        vec![
            port(50001),
            group("224.1.1.5"),
            group("ff15::5"),
            Filter {
                port: Some(50001),
                group: Some(v4),
            },
            Filter {
                port: Some(50001),
                group: Some(v6),
            },
        ]
    }

    fn templates() -> Vec<Vec<u8>> {
        let mut with_options = udp4(H, G, 50001, 9, b"opt");
        // IHL 6 with a 4-byte option: ports move by 4.
        with_options[14] = 0x46;
        with_options.splice(34..34, [0x94, 4, 0, 0]);
        vec![
            udp4(H, G, 52582, 50001, b"Hello, World!"),
            udp4(G, H, 50001, 1, b""),
            udp4(H, [234, 3, 2, 1], 1, 50001, b"x"),
            udp4(H, G, 1, 2, b"x"),
            with_options,
            igmp4(G),
            igmp4([224, 0, 0, 22]),
            ipv6("ff15::5".parse().unwrap(), true, &udp_4000_to_50001(), 17),
            mld2_report(),
        ]
    }

    #[test]
    fn bpf_agrees_with_userspace_on_well_formed_ipv4() {
        for f in filters() {
            let prog = bpf::compile(&f).expect("a non-empty filter compiles");
            for t in templates() {
                let user = f.matches(&t, true);
                let kernel = bpf::run(&prog, &t);
                if t[12..14] == ETHERTYPE_IPV4.to_be_bytes() {
                    assert_eq!(kernel, user, "filter {f:?}, frame {t:02x?}");
                } else {
                    assert!(kernel || !user, "filter {f:?} drops {t:02x?}");
                }
            }
        }
        assert_eq!(bpf::compile(&Filter::default()), None);
    }

    #[test]
    fn bpf_never_drops_what_userspace_keeps() {
        let mut rng = 0x9e37_79b9_7f4a_7c15u64;
        let mut kept = 0;
        for f in filters() {
            let prog = bpf::compile(&f).unwrap();
            for t in templates() {
                for _ in 0..2000 {
                    let mut frame = t.clone();
                    // Flip a few bytes, and sometimes cut the frame short.
                    for _ in 0..(xorshift(&mut rng) % 4) {
                        let at = (xorshift(&mut rng) as usize) % frame.len();
                        frame[at] = xorshift(&mut rng) as u8;
                    }
                    if xorshift(&mut rng) % 4 == 0 {
                        let cut = (xorshift(&mut rng) as usize) % (frame.len() + 1);
                        frame.truncate(cut);
                    }
                    if f.matches(&frame, true) {
                        kept += 1;
                        assert!(bpf::run(&prog, &frame), "filter {f:?} drops {frame:02x?}");
                    }
                }
            }
        }
        assert!(
            kept > 1000,
            "the mutations must keep many frames matching ({kept})"
        );
    }

    #[test]
    fn bpf_jumps_stay_inside_the_program() {
        for f in filters() {
            let prog = bpf::compile(&f).unwrap();
            for (i, insn) in prog.iter().enumerate() {
                let reach = if insn.code == bpf::JMP | bpf::JA {
                    insn.k as usize
                } else {
                    usize::from(insn.jt.max(insn.jf))
                };
                assert!(i + 1 + reach < prog.len() || insn.code == bpf::RET | bpf::K);
            }
        }
    }
}
