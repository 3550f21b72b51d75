//! Membership requests as the bytes the kernel reads.
//!
//! Each function here returns the exact byte image of one of the structs that Linux's
//! `setsockopt` takes to join or leave a multicast group. The adapters hand these bytes to
//! `libc::setsockopt` unchanged; mcast-core itself depends on neither libc nor socket2, so the
//! layouts below are written by hand from the Linux headers (`<linux/in.h>`, `<linux/in6.h>`,
//! `<bits/socket.h>`).
//!
//! Conventions, as in the C structs:
//! - IP addresses are in network byte order (the octets as written, `224.1.1.5` → `E0 01 01 05`);
//! - integers (`imr_ifindex`, `ipv6mr_interface`, `gr_interface`, `sa_family`) are in the host's
//!   native byte order;
//! - ports and flow labels inside the socket addresses are zero.
//!
//! | function | option(s) | layout (offset: field) | size |
//! |---|---|---|---|
//! | [`ip_mreq`] | `IP_ADD_MEMBERSHIP`, `IP_DROP_MEMBERSHIP` | 0: `imr_multiaddr` · 4: `imr_interface` | 8 |
//! | [`ip_mreqn`] | the same, and `IP_MULTICAST_IF` | 0: `imr_multiaddr` · 4: `imr_address` · 8: `imr_ifindex` (int) | 12 |
//! | [`ip_mreq_source`] | `IP_ADD_SOURCE_MEMBERSHIP`, `IP_DROP_SOURCE_MEMBERSHIP`, `IP_BLOCK_SOURCE`, `IP_UNBLOCK_SOURCE` | 0: `imr_multiaddr` · 4: `imr_interface` · 8: `imr_sourceaddr` (Linux order) | 12 |
//! | [`ipv6_mreq`] | `IPV6_ADD_MEMBERSHIP` (`IPV6_JOIN_GROUP`), `IPV6_DROP_MEMBERSHIP` | 0: `ipv6mr_multiaddr` · 16: `ipv6mr_interface` (unsigned int) | 20 |
//! | [`group_req`] | `MCAST_JOIN_GROUP`, `MCAST_LEAVE_GROUP` (RFC 3678) | 0: `gr_interface` (u32) · 4: padding · 8: `gr_group` (`sockaddr_storage`, 128) | [`GROUP_REQ_LEN`] |
//! | [`group_source_req`] | `MCAST_JOIN_SOURCE_GROUP`, `MCAST_LEAVE_SOURCE_GROUP`, `MCAST_BLOCK_SOURCE`, `MCAST_UNBLOCK_SOURCE` | 0: `gsr_interface` · 4: padding · 8: `gsr_group` · 136: `gsr_source` | [`GROUP_SOURCE_REQ_LEN`] |
//!
//! Inside a `sockaddr_storage`, an IPv4 address is a `sockaddr_in`
//! (0: `sin_family` = [`AF_INET`] · 2: `sin_port` · 4: `sin_addr` · 8: zero) and an IPv6 address a
//! `sockaddr_in6` (0: `sin6_family` = [`AF_INET6`] · 2: `sin6_port` · 4: `sin6_flowinfo` ·
//! 8: `sin6_addr` · 24: `sin6_scope_id`); the rest of the 128 bytes is zero.
//!
//! **64-bit assumption:** `sockaddr_storage` is aligned to `unsigned long`, so on 64-bit Linux
//! four bytes of padding follow `gr_interface` and [`GROUP_REQ_LEN`] is 136 and
//! [`GROUP_SOURCE_REQ_LEN`] 264. On 32-bit targets there is no padding and the lengths are 132
//! and 260; the constants follow `target_pointer_width`.
//!
//! The lecture's join, `struct.pack("=4s4s", inet_aton("224.1.1.5"), inet_aton("192.168.56.3"))`:
//!
//! ```
//! use std::net::Ipv4Addr;
//! use mcast_core::{addr::Group, mreq};
//!
//! let group: Group = "224.1.1.5".parse()?;
//! let bytes = mreq::ip_mreq(group, Ipv4Addr::new(192, 168, 56, 3))?;
//! assert_eq!(bytes, [224, 1, 1, 5, 192, 168, 56, 3]);
//!
//! let req = mreq::group_req(group, 3);
//! assert_eq!(req.len(), mreq::GROUP_REQ_LEN);
//! assert_eq!(req[..4], 3u32.to_ne_bytes());                 // gr_interface
//! assert_eq!(req[8..10], mreq::AF_INET.to_ne_bytes());      // sin_family
//! assert_eq!(req[12..16], [224, 1, 1, 5]);                  // sin_addr
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::addr::{Group, Source};

/// Linux's `AF_INET`, the `sa_family` of an IPv4 socket address.
pub const AF_INET: u16 = 2;
/// Linux's `AF_INET6`, the `sa_family` of an IPv6 socket address.
pub const AF_INET6: u16 = 10;

/// Size of `struct sockaddr_storage`.
pub const SOCKADDR_STORAGE_LEN: usize = 128;

/// Padding between the `u32` interface index and the first `sockaddr_storage` in
/// `group_req`/`group_source_req`: the storage is aligned to `unsigned long`.
#[cfg(target_pointer_width = "64")]
const GR_PAD: usize = 4;
#[cfg(not(target_pointer_width = "64"))]
const GR_PAD: usize = 0;

/// Offset of `gr_group` / `gsr_group` in the struct.
const GR_GROUP: usize = 4 + GR_PAD;

/// Size of `struct group_req` (136 on 64-bit Linux, 132 on 32-bit).
pub const GROUP_REQ_LEN: usize = GR_GROUP + SOCKADDR_STORAGE_LEN;
/// Size of `struct group_source_req` (264 on 64-bit Linux, 260 on 32-bit).
pub const GROUP_SOURCE_REQ_LEN: usize = GR_GROUP + 2 * SOCKADDR_STORAGE_LEN;

/// What can make a membership request impossible to build.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum MreqError {
    /// The request exists for one address family only and the group is of the other.
    #[error("{request} takes an {expected} group, got {got}")]
    WrongFamily {
        /// The C struct asked for, e.g. `"ip_mreq"`.
        request: &'static str,
        /// The family the struct holds, `"IPv4"` or `"IPv6"`.
        expected: &'static str,
        /// The address given.
        got: IpAddr,
    },
    /// The source and the group are of different address families.
    #[error("source {source_addr} and group {group} are of different address families")]
    FamilyMismatch {
        /// The group.
        group: IpAddr,
        /// The source.
        source_addr: IpAddr,
    },
}

fn v4_group(request: &'static str, group: Group) -> Result<Ipv4Addr, MreqError> {
    group.as_v4().ok_or(MreqError::WrongFamily {
        request,
        expected: "IPv4",
        got: group.addr(),
    })
}

fn v6_group(request: &'static str, group: Group) -> Result<Ipv6Addr, MreqError> {
    group.as_v6().ok_or(MreqError::WrongFamily {
        request,
        expected: "IPv6",
        got: group.addr(),
    })
}

/// The source-family rule is the group's ([`Group::check_source`]), in this module's error.
fn check_source(group: Group, source: Source) -> Result<(), MreqError> {
    group
        .check_source(source)
        .map_err(|_| family_mismatch(group, source))
}

fn family_mismatch(group: Group, source: Source) -> MreqError {
    MreqError::FamilyMismatch {
        group: group.addr(),
        source_addr: source.addr(),
    }
}

/// `struct ip_mreq { imr_multiaddr; imr_interface; }` (8 bytes) for `IP_ADD_MEMBERSHIP`.
///
/// `iface_addr` is the local address of the interface to join on (`0.0.0.0`: let the kernel
/// choose by route, which tests must never do).
///
/// ```
/// # use std::net::Ipv4Addr;
/// # use mcast_core::{addr::Group, mreq};
/// let b = mreq::ip_mreq("224.1.1.5".parse()?, Ipv4Addr::LOCALHOST)?;
/// assert_eq!(b, [224, 1, 1, 5, 127, 0, 0, 1]);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn ip_mreq(group: Group, iface_addr: Ipv4Addr) -> Result<[u8; 8], MreqError> {
    let g = v4_group("ip_mreq", group)?;
    let mut out = [0u8; 8];
    out[0..4].copy_from_slice(&g.octets());
    out[4..8].copy_from_slice(&iface_addr.octets());
    Ok(out)
}

/// `struct ip_mreqn { imr_multiaddr; imr_address; int imr_ifindex; }` (12 bytes).
///
/// The kernel prefers `imr_ifindex` when it is non-zero and falls back to `imr_address`.
/// Also accepted by `IP_MULTICAST_IF`, where `imr_multiaddr` is ignored.
///
/// ```
/// # use std::net::Ipv4Addr;
/// # use mcast_core::{addr::Group, mreq};
/// let b = mreq::ip_mreqn("224.1.1.5".parse()?, Ipv4Addr::UNSPECIFIED, 1)?;
/// assert_eq!(b[..8], [224, 1, 1, 5, 0, 0, 0, 0]);
/// assert_eq!(b[8..], 1i32.to_ne_bytes());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn ip_mreqn(group: Group, iface_addr: Ipv4Addr, ifindex: u32) -> Result<[u8; 12], MreqError> {
    let g = v4_group("ip_mreqn", group)?;
    let mut out = [0u8; 12];
    out[0..4].copy_from_slice(&g.octets());
    out[4..8].copy_from_slice(&iface_addr.octets());
    out[8..12].copy_from_slice(&ifindex.to_ne_bytes());
    Ok(out)
}

/// `struct ip_mreq_source { imr_multiaddr; imr_interface; imr_sourceaddr; }` (12 bytes, the
/// Linux field order; BSDs put the source second) for `IP_ADD_SOURCE_MEMBERSHIP`.
///
/// ```
/// # use std::net::Ipv4Addr;
/// # use mcast_core::{addr::{Group, Source}, mreq};
/// let b = mreq::ip_mreq_source(
///     "232.1.1.5".parse()?,
///     Ipv4Addr::new(192, 168, 56, 3),
///     "192.168.56.1".parse::<Source>()?,
/// )?;
/// assert_eq!(b, [232, 1, 1, 5, 192, 168, 56, 3, 192, 168, 56, 1]);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn ip_mreq_source(
    group: Group,
    iface_addr: Ipv4Addr,
    source: Source,
) -> Result<[u8; 12], MreqError> {
    let g = v4_group("ip_mreq_source", group)?;
    check_source(group, source)?;
    let IpAddr::V4(s) = source.addr() else {
        // Not reached: the group is IPv4, and the check above found the source of its family.
        return Err(family_mismatch(group, source));
    };
    let mut out = [0u8; 12];
    out[0..4].copy_from_slice(&g.octets());
    out[4..8].copy_from_slice(&iface_addr.octets());
    out[8..12].copy_from_slice(&s.octets());
    Ok(out)
}

/// `struct ipv6_mreq { struct in6_addr ipv6mr_multiaddr; unsigned int ipv6mr_interface; }`
/// (20 bytes) for `IPV6_ADD_MEMBERSHIP`. `ifindex` 0 lets the kernel choose by route.
///
/// ```
/// # use mcast_core::{addr::Group, mreq};
/// let b = mreq::ipv6_mreq("ff15::1".parse()?, 2)?;
/// assert_eq!(b[..2], [0xff, 0x15]);
/// assert_eq!(b[15], 1);
/// assert_eq!(b[16..], 2u32.to_ne_bytes());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn ipv6_mreq(group: Group, ifindex: u32) -> Result<[u8; 20], MreqError> {
    let g = v6_group("ipv6_mreq", group)?;
    let mut out = [0u8; 20];
    out[0..16].copy_from_slice(&g.octets());
    out[16..20].copy_from_slice(&ifindex.to_ne_bytes());
    Ok(out)
}

/// Writes `addr` as a `sockaddr_in` or `sockaddr_in6` (port 0, flow info 0, scope id 0) into
/// the start of `storage`, which must be at least 28 bytes long.
fn write_sockaddr(storage: &mut [u8], addr: IpAddr) {
    match addr {
        IpAddr::V4(a) => {
            storage[0..2].copy_from_slice(&AF_INET.to_ne_bytes());
            // sin_port [2..4] stays 0.
            storage[4..8].copy_from_slice(&a.octets());
        }
        IpAddr::V6(a) => {
            storage[0..2].copy_from_slice(&AF_INET6.to_ne_bytes());
            // sin6_port [2..4] and sin6_flowinfo [4..8] stay 0.
            storage[8..24].copy_from_slice(&a.octets());
            // sin6_scope_id [24..28] stays 0: the interface is gr_interface.
        }
    }
}

/// RFC 3678 `struct group_req { uint32_t gr_interface; struct sockaddr_storage gr_group; }`
/// for `MCAST_JOIN_GROUP` / `MCAST_LEAVE_GROUP`, for either family (the level is
/// `IPPROTO_IP` or `IPPROTO_IPV6` to match the socket).
///
/// ```
/// # use mcast_core::{addr::Group, mreq};
/// let b = mreq::group_req("ff15::1".parse()?, 7);
/// assert_eq!(b[..4], 7u32.to_ne_bytes());
/// assert_eq!(b[8..10], mreq::AF_INET6.to_ne_bytes());
/// assert_eq!(b[16..18], [0xff, 0x15]); // sin6_addr starts 8 bytes into the storage
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn group_req(group: Group, ifindex: u32) -> [u8; GROUP_REQ_LEN] {
    let mut out = [0u8; GROUP_REQ_LEN];
    out[0..4].copy_from_slice(&ifindex.to_ne_bytes());
    write_sockaddr(&mut out[GR_GROUP..], group.addr());
    out
}

/// RFC 3678 `struct group_source_req { uint32_t gsr_interface; struct sockaddr_storage
/// gsr_group; struct sockaddr_storage gsr_source; }` for `MCAST_JOIN_SOURCE_GROUP` and friends.
///
/// This is the only way to join an IPv6 source-specific group on Linux.
///
/// ```
/// # use mcast_core::{addr::{Group, Source}, mreq};
/// let b = mreq::group_source_req("ff3e::8000:1".parse()?, "fe80::1".parse::<Source>()?, 2)?;
/// assert_eq!(b.len(), mreq::GROUP_SOURCE_REQ_LEN);
/// let src = 8 + mreq::SOCKADDR_STORAGE_LEN;
/// assert_eq!(b[src..src + 2], mreq::AF_INET6.to_ne_bytes());
/// assert_eq!(b[src + 8..src + 10], [0xfe, 0x80]);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn group_source_req(
    group: Group,
    source: Source,
    ifindex: u32,
) -> Result<[u8; GROUP_SOURCE_REQ_LEN], MreqError> {
    check_source(group, source)?;
    let mut out = [0u8; GROUP_SOURCE_REQ_LEN];
    out[0..4].copy_from_slice(&ifindex.to_ne_bytes());
    write_sockaddr(&mut out[GR_GROUP..], group.addr());
    write_sockaddr(&mut out[GR_GROUP + SOCKADDR_STORAGE_LEN..], source.addr());
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn g(s: &str) -> Group {
        s.parse().unwrap()
    }

    fn src(s: &str) -> Source {
        s.parse().unwrap()
    }

    #[test]
    fn ip_mreq_matches_lecture_struct_pack() {
        // struct.pack("=4s4s", inet_aton("224.1.1.5"), inet_aton("192.168.56.3"))
        let b = ip_mreq(g("224.1.1.5"), Ipv4Addr::new(192, 168, 56, 3)).unwrap();
        assert_eq!(b, *b"\xe0\x01\x01\x05\xc0\xa8\x38\x03");
    }

    #[test]
    fn ip_mreq_rejects_ipv6() {
        let err = ip_mreq(g("ff15::1"), Ipv4Addr::LOCALHOST).unwrap_err();
        assert_eq!(
            err,
            MreqError::WrongFamily {
                request: "ip_mreq",
                expected: "IPv4",
                got: "ff15::1".parse().unwrap()
            }
        );
        assert_eq!(err.to_string(), "ip_mreq takes an IPv4 group, got ff15::1");
    }

    #[test]
    #[cfg(target_endian = "little")]
    fn ip_mreqn_golden() {
        let b = ip_mreqn(g("234.3.2.1"), Ipv4Addr::new(192, 168, 56, 4), 0x0102_0304).unwrap();
        assert_eq!(b, [234, 3, 2, 1, 192, 168, 56, 4, 0x04, 0x03, 0x02, 0x01]);
        assert!(ip_mreqn(g("ff02::1"), Ipv4Addr::UNSPECIFIED, 1).is_err());
    }

    #[test]
    fn ip_mreq_source_golden_linux_order() {
        let b = ip_mreq_source(
            g("232.1.1.5"),
            Ipv4Addr::new(127, 0, 0, 1),
            src("192.168.56.1"),
        )
        .unwrap();
        assert_eq!(b, [232, 1, 1, 5, 127, 0, 0, 1, 192, 168, 56, 1]);
        assert!(matches!(
            ip_mreq_source(g("232.1.1.5"), Ipv4Addr::LOCALHOST, src("fe80::1")),
            Err(MreqError::FamilyMismatch { .. })
        ));
        assert!(matches!(
            ip_mreq_source(g("ff3e::1"), Ipv4Addr::LOCALHOST, src("10.0.0.1")),
            Err(MreqError::WrongFamily { .. })
        ));
    }

    #[test]
    #[cfg(target_endian = "little")]
    fn ipv6_mreq_golden() {
        let b = ipv6_mreq(g("ff15::1"), 0x0000_0203).unwrap();
        let mut want = [0u8; 20];
        want[0] = 0xff;
        want[1] = 0x15;
        want[15] = 0x01;
        want[16] = 0x03;
        want[17] = 0x02;
        assert_eq!(b, want);
        assert!(ipv6_mreq(g("224.1.1.5"), 1).is_err());
    }

    #[test]
    #[cfg(all(target_pointer_width = "64", target_endian = "little"))]
    fn group_req_golden_v4() {
        assert_eq!(GROUP_REQ_LEN, 136);
        let b = group_req(g("224.1.1.5"), 3);
        let mut want = [0u8; 136];
        want[0] = 3; // gr_interface = 3
        want[8] = 2; // sin_family = AF_INET (little-endian u16)
        want[12..16].copy_from_slice(&[224, 1, 1, 5]);
        assert_eq!(b, want);
    }

    #[test]
    #[cfg(all(target_pointer_width = "64", target_endian = "little"))]
    fn group_req_golden_v6() {
        let b = group_req(g("ff02::1:ff00:1"), 0x0100);
        let mut want = [0u8; 136];
        want[1] = 1; // gr_interface = 256
        want[8] = 10; // sin6_family = AF_INET6
        want[16..32].copy_from_slice(&[0xff, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0xff, 0, 0, 1]);
        assert_eq!(b, want);
    }

    #[test]
    #[cfg(all(target_pointer_width = "64", target_endian = "little"))]
    fn group_source_req_golden() {
        assert_eq!(GROUP_SOURCE_REQ_LEN, 264);
        let b = group_source_req(g("232.1.1.5"), src("192.168.56.1"), 5).unwrap();
        let mut want = [0u8; 264];
        want[0] = 5;
        want[8] = 2;
        want[12..16].copy_from_slice(&[232, 1, 1, 5]);
        want[136] = 2;
        want[140..144].copy_from_slice(&[192, 168, 56, 1]);
        assert_eq!(b, want);

        let b = group_source_req(g("ff3e::8000:1"), src("2001:db8::5"), 2).unwrap();
        let mut want = [0u8; 264];
        want[0] = 2;
        want[8] = 10;
        want[16..32].copy_from_slice(&"ff3e::8000:1".parse::<Ipv6Addr>().unwrap().octets());
        want[136] = 10;
        want[144..160].copy_from_slice(&"2001:db8::5".parse::<Ipv6Addr>().unwrap().octets());
        assert_eq!(b, want);
    }

    #[test]
    fn group_source_req_rejects_mixed_families() {
        let err = group_source_req(g("232.1.1.5"), src("fe80::1"), 1).unwrap_err();
        assert_eq!(
            err.to_string(),
            "source fe80::1 and group 232.1.1.5 are of different address families"
        );
    }
}
