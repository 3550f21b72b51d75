//! Memberships: join, leave and rejoin (on another interface index), and the outgoing interface.

use std::io;
use std::net::{IpAddr, Ipv4Addr};

use mcast_core::addr::{Group, Source};
use mcast_core::iface::IfaceSpec;
use mcast_core::membership::OsErrorKind;
use mcast_core::mreq;
use socket2::Socket;

use crate::resolve::ResolvedIface;
use crate::trace::debug;
use crate::Error;

use super::options::{opt, setsockopt_bytes};
use super::state::SocketState;

/// The errno of a failed join, as the core policy reads it.
pub(super) fn os_error_kind(e: &io::Error) -> OsErrorKind {
    match e.raw_os_error() {
        Some(libc::ENOBUFS) => OsErrorKind::NoBuffers,
        Some(libc::ENODEV) => OsErrorKind::NoDevice,
        Some(libc::EADDRNOTAVAIL) => OsErrorKind::AddrNotAvailable,
        Some(libc::EADDRINUSE) => OsErrorKind::AddrInUse,
        errno => OsErrorKind::Other(errno),
    }
}

/// How a membership names its interface: by IPv4 address (`ip_mreq`, `ip_mreq_source`: the
/// lecture's way, also for the kernel's choice, `0.0.0.0`) or by index (every other request).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Via {
    Addr(Ipv4Addr),
    Index(u32),
}

impl Via {
    /// The way [`join`] and [`leave`] name `iface` for `group`: IPv4 by address when the
    /// interface was named by an IPv4 address or not at all, else by index.
    fn of(group: Group, iface: &ResolvedIface) -> Self {
        match (group.addr(), &iface.spec) {
            (IpAddr::V4(_), IfaceSpec::Any | IfaceSpec::Addr(IpAddr::V4(_))) => {
                Self::Addr(iface.v4)
            }
            _ => Self::Index(iface.index),
        }
    }
}

/// One membership request: the option (level and name) and the core's bytes for it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Request {
    level: libc::c_int,
    name: libc::c_int,
    bytes: Vec<u8>,
}

/// The membership request mcast-sync makes to join a group: the option, the request's C
/// layout and the core's bytes for it, and how it names the interface. For a program that
/// shows what it did (`mcast recv --explain`); [`membership_request`] gives it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MembershipRequest {
    /// The option's level: `IPPROTO_IP` or `IPPROTO_IPV6`.
    pub level: &'static str,
    /// The option: `IP_ADD_MEMBERSHIP`, `IP_ADD_SOURCE_MEMBERSHIP`, `IPV6_ADD_MEMBERSHIP` or
    /// `MCAST_JOIN_SOURCE_GROUP`.
    pub option: &'static str,
    /// The C struct the bytes are: `ip_mreq`, `ip_mreq_source`, `ip_mreqn`, `ipv6_mreq` or
    /// `group_source_req`.
    pub layout: &'static str,
    /// The bytes handed to the kernel, built by [`mcast_core::mreq`].
    pub bytes: Vec<u8>,
    /// The interface's IPv4 address when the request names it so (the lecture's way), `None`
    /// when it names the interface by index.
    pub by_address: Option<Ipv4Addr>,
}

/// The request every join of a receiver hands the kernel to join `group` (from `source`, for a
/// source-specific join) on `iface`: the one rule, here, for which request names an interface
/// how (see `Request::join`'s table).
///
/// # Errors
///
/// What the core's builders refuse: a source of the other family than the group.
pub fn membership_request(
    group: Group,
    source: Option<Source>,
    iface: &ResolvedIface,
) -> Result<MembershipRequest, mreq::MreqError> {
    let via = Via::of(group, iface);
    let request = Request::join(group, source, via)?;
    let (option, layout) = match (request.name, source, via) {
        (libc::IP_ADD_MEMBERSHIP, _, Via::Addr(_)) => ("IP_ADD_MEMBERSHIP", "ip_mreq"),
        (libc::IP_ADD_MEMBERSHIP, _, Via::Index(_)) => ("IP_ADD_MEMBERSHIP", "ip_mreqn"),
        (libc::IP_ADD_SOURCE_MEMBERSHIP, ..) => ("IP_ADD_SOURCE_MEMBERSHIP", "ip_mreq_source"),
        (libc::IPV6_ADD_MEMBERSHIP, ..) => ("IPV6_ADD_MEMBERSHIP", "ipv6_mreq"),
        _ => ("MCAST_JOIN_SOURCE_GROUP", "group_source_req"),
    };
    Ok(MembershipRequest {
        level: if group.is_ipv4() {
            "IPPROTO_IP"
        } else {
            "IPPROTO_IPV6"
        },
        option,
        layout,
        bytes: request.bytes,
        by_address: match via {
            Via::Addr(a) => Some(a),
            Via::Index(_) => None,
        },
    })
}

impl Request {
    fn new(level: libc::c_int, name: libc::c_int, bytes: &[u8]) -> Self {
        Self {
            level,
            name,
            bytes: bytes.to_vec(),
        }
    }

    /// The join of `group` (from `source`, for a source-specific one) on the interface named
    /// `via`. Each layout is the core's ([`mcast_core::mreq`]); this picks the option:
    ///
    /// | family | source | interface | option | request |
    /// |---|---|---|---|---|
    /// | IPv4 | — | address | `IP_ADD_MEMBERSHIP` | `ip_mreq` |
    /// | IPv4 | yes | address | `IP_ADD_SOURCE_MEMBERSHIP` | `ip_mreq_source` |
    /// | IPv4 | — | index | `IP_ADD_MEMBERSHIP` | `ip_mreqn` |
    /// | IPv6 | — | index | `IPV6_ADD_MEMBERSHIP` | `ipv6_mreq` |
    /// | either | yes | index | `MCAST_JOIN_SOURCE_GROUP` | `group_source_req` |
    fn join(group: Group, source: Option<Source>, via: Via) -> Result<Self, mreq::MreqError> {
        let level = level_of(group);
        Ok(match (source, via) {
            (None, Via::Addr(a)) => {
                Self::new(level, libc::IP_ADD_MEMBERSHIP, &mreq::ip_mreq(group, a)?)
            }
            (Some(s), Via::Addr(a)) => Self::new(
                level,
                libc::IP_ADD_SOURCE_MEMBERSHIP,
                &mreq::ip_mreq_source(group, a, s)?,
            ),
            (None, Via::Index(i)) if group.is_ipv4() => Self::new(
                level,
                libc::IP_ADD_MEMBERSHIP,
                &mreq::ip_mreqn(group, Ipv4Addr::UNSPECIFIED, i)?,
            ),
            (None, Via::Index(i)) => Self::new(
                level,
                libc::IPV6_ADD_MEMBERSHIP,
                &mreq::ipv6_mreq(group, i)?,
            ),
            (Some(s), Via::Index(i)) => Self::new(
                level,
                libc::MCAST_JOIN_SOURCE_GROUP,
                &mreq::group_source_req(group, s, i)?,
            ),
        })
    }

    /// The leave of the whole of `group` (its source-specific joins included) on the interface
    /// named `via`: `IP_DROP_MEMBERSHIP` with an `ip_mreq` by address, `MCAST_LEAVE_GROUP`
    /// with a `group_req` by index (either family).
    fn leave(group: Group, via: Via) -> Result<Self, mreq::MreqError> {
        let level = level_of(group);
        Ok(match via {
            Via::Addr(a) => Self::new(level, libc::IP_DROP_MEMBERSHIP, &mreq::ip_mreq(group, a)?),
            Via::Index(i) => Self::new(level, libc::MCAST_LEAVE_GROUP, &mreq::group_req(group, i)),
        })
    }

    /// Hands the request to the kernel: the one `setsockopt` of every join and leave.
    fn apply(&self, sock: &Socket) -> io::Result<()> {
        setsockopt_bytes(sock, self.level, self.name, &self.bytes)
    }
}

/// The option level of `group`'s family.
fn level_of(group: Group) -> libc::c_int {
    if group.is_ipv4() {
        libc::IPPROTO_IP
    } else {
        libc::IPPROTO_IPV6
    }
}

/// A request the core's builders refuse (a source of the other family, an IPv4 interface
/// address for an IPv6 group) as the error a refused `setsockopt` would be.
fn invalid(e: mreq::MreqError) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, e)
}

/// One membership: any-source or source-specific, IPv4 or IPv6, on the resolved interface,
/// through the core's request bytes (see `Request::join` for which request is used when).
pub(crate) fn join(
    sock: &Socket,
    group: Group,
    source: Option<Source>,
    iface: &ResolvedIface,
) -> io::Result<()> {
    debug!(%group, source = ?source.map(|s| s.addr()), iface = %iface.spec, index = iface.index, "join");
    Request::join(group, source, Via::of(group, iface))
        .map_err(invalid)?
        .apply(sock)
}

/// Leaves `group` on the resolved interface, named the way [`join`] named it (by address for
/// IPv4 with an address or any interface, else by index): the whole group, its
/// source-specific joins included.
pub(crate) fn leave(sock: &Socket, group: Group, iface: &ResolvedIface) -> io::Result<()> {
    debug!(%group, iface = %iface.spec, index = iface.index, "leave");
    Request::leave(group, Via::of(group, iface))
        .map_err(invalid)?
        .apply(sock)
}

/// Leaves `group` on the interface with index `index` (`MCAST_LEAVE_GROUP` with a
/// `group_req`): the whole group, its source-specific joins included. The interface need not
/// exist any more: the kernel keeps a deleted interface's memberships on the socket, by index,
/// until they are left.
pub(crate) fn leave_on_index(sock: &Socket, group: Group, index: u32) -> io::Result<()> {
    debug!(%group, index, "leave");
    Request::leave(group, Via::Index(index))
        .map_err(invalid)?
        .apply(sock)
}

/// Joins `group` (from `source`, for a source-specific join) on the interface with index
/// `index`, whatever way the interface was first named: by index, an interface created again
/// needs no address yet.
pub(crate) fn join_on_index(
    sock: &Socket,
    group: Group,
    source: Option<Source>,
    index: u32,
) -> io::Result<()> {
    Request::join(group, source, Via::Index(index))
        .map_err(invalid)?
        .apply(sock)
}

/// Moves a socket bound to the interface with index `previous` over to index `index`
/// (`SO_BINDTOIFINDEX`); a socket bound to no interface, or another one, is left alone. An IPv6
/// receiver of a link-local group is bound to the group with its interface as the scope, which
/// binds the socket to that interface: without the move, nothing arriving on the interface's new
/// index would reach it. The kernel allows moving a bound socket only with `CAP_NET_RAW`.
pub(crate) fn move_bound_device(sock: &Socket, previous: u32, index: u32) -> Result<(), Error> {
    // SO_BINDTOIFINDEX is a socket-level option: the `_v6` in socket2's names does not matter.
    match sock.device_index_v6() {
        Ok(Some(bound)) if bound.get() == previous && previous != index => opt(
            "SO_BINDTOIFINDEX",
            sock.bind_device_by_index_v6(std::num::NonZeroU32::new(index)),
        ),
        _ => Ok(()),
    }
}

/// Points a sender's outgoing multicast interface at the interface with index `index`
/// (`IP_MULTICAST_IF` with an `ip_mreqn`, `IPV6_MULTICAST_IF`), and records it in `state`:
/// for an interface created again under its name, with a new index.
pub(crate) fn set_multicast_if_index(
    sock: &Socket,
    state: &mut SocketState,
    group: Group,
    index: u32,
) -> Result<(), Error> {
    set_multicast_if(sock, state.v6, group, index, None)?;
    state.set_iface_index(index);
    Ok(())
}

/// The outgoing multicast interface of a sender's socket, the one place it is set:
/// `IPV6_MULTICAST_IF` by index, or `IP_MULTICAST_IF` by the IPv4 address `by_addr` when one
/// is given, else by index (an `ip_mreqn`).
pub(super) fn set_multicast_if(
    sock: &Socket,
    v6: bool,
    group: Group,
    index: u32,
    by_addr: Option<Ipv4Addr>,
) -> Result<(), Error> {
    debug!(%group, index, by_addr = ?by_addr, "outgoing interface");
    if v6 {
        return opt("IPV6_MULTICAST_IF", sock.set_multicast_if_v6(index));
    }
    if let Some(a) = by_addr {
        return opt("IP_MULTICAST_IF", sock.set_multicast_if_v4(&a));
    }
    let req = mreq::ip_mreqn(group, Ipv4Addr::UNSPECIFIED, index)?;
    opt(
        "IP_MULTICAST_IF",
        setsockopt_bytes(sock, libc::IPPROTO_IP, libc::IP_MULTICAST_IF, &req),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errno_maps_to_the_core_error_kind() {
        let kind = |errno| os_error_kind(&io::Error::from_raw_os_error(errno));
        assert_eq!(kind(libc::ENOBUFS), OsErrorKind::NoBuffers);
        assert_eq!(kind(libc::ENODEV), OsErrorKind::NoDevice);
        assert_eq!(kind(libc::EADDRNOTAVAIL), OsErrorKind::AddrNotAvailable);
        assert_eq!(kind(libc::EADDRINUSE), OsErrorKind::AddrInUse);
        assert_eq!(kind(libc::EPERM), OsErrorKind::Other(Some(libc::EPERM)));
        let no_errno = io::Error::new(io::ErrorKind::InvalidInput, "bad mreq");
        assert_eq!(os_error_kind(&no_errno), OsErrorKind::Other(None));
    }

    fn g(s: &str) -> Group {
        s.parse().unwrap()
    }

    fn src(s: &str) -> Source {
        s.parse().unwrap()
    }

    // Every join and leave is one of the core's requests, unchanged, under the option that
    // takes it.
    #[test]
    fn joins_carry_the_cores_request_bytes() {
        let lo = Ipv4Addr::LOCALHOST;
        let v4 = g("224.1.1.5");
        let ssm = g("232.1.1.5");
        let v6 = g("ff15::1");
        let cases = [
            (
                Request::join(v4, None, Via::Addr(lo)),
                libc::IPPROTO_IP,
                libc::IP_ADD_MEMBERSHIP,
                mreq::ip_mreq(v4, lo).unwrap().to_vec(),
            ),
            (
                Request::join(ssm, Some(src("127.0.0.1")), Via::Addr(lo)),
                libc::IPPROTO_IP,
                libc::IP_ADD_SOURCE_MEMBERSHIP,
                mreq::ip_mreq_source(ssm, lo, src("127.0.0.1"))
                    .unwrap()
                    .to_vec(),
            ),
            (
                Request::join(v4, None, Via::Index(7)),
                libc::IPPROTO_IP,
                libc::IP_ADD_MEMBERSHIP,
                mreq::ip_mreqn(v4, Ipv4Addr::UNSPECIFIED, 7)
                    .unwrap()
                    .to_vec(),
            ),
            (
                Request::join(ssm, Some(src("10.0.0.1")), Via::Index(7)),
                libc::IPPROTO_IP,
                libc::MCAST_JOIN_SOURCE_GROUP,
                mreq::group_source_req(ssm, src("10.0.0.1"), 7)
                    .unwrap()
                    .to_vec(),
            ),
            (
                Request::join(v6, None, Via::Index(3)),
                libc::IPPROTO_IPV6,
                libc::IPV6_ADD_MEMBERSHIP,
                mreq::ipv6_mreq(v6, 3).unwrap().to_vec(),
            ),
            (
                Request::join(g("ff3e::1"), Some(src("fe80::1")), Via::Index(3)),
                libc::IPPROTO_IPV6,
                libc::MCAST_JOIN_SOURCE_GROUP,
                mreq::group_source_req(g("ff3e::1"), src("fe80::1"), 3)
                    .unwrap()
                    .to_vec(),
            ),
            (
                Request::leave(v4, Via::Addr(lo)),
                libc::IPPROTO_IP,
                libc::IP_DROP_MEMBERSHIP,
                mreq::ip_mreq(v4, lo).unwrap().to_vec(),
            ),
            (
                Request::leave(v4, Via::Index(7)),
                libc::IPPROTO_IP,
                libc::MCAST_LEAVE_GROUP,
                mreq::group_req(v4, 7).to_vec(),
            ),
            (
                Request::leave(v6, Via::Index(3)),
                libc::IPPROTO_IPV6,
                libc::MCAST_LEAVE_GROUP,
                mreq::group_req(v6, 3).to_vec(),
            ),
        ];
        for (i, (req, level, name, bytes)) in cases.into_iter().enumerate() {
            assert_eq!(req, Ok(Request { level, name, bytes }), "case {i}");
        }
    }

    // The core's builders own the family rule of a request: a source of the other family is
    // refused before any setsockopt.
    #[test]
    fn a_mixed_request_is_refused_before_the_kernel() {
        let mixed = Request::join(
            g("232.1.1.5"),
            Some(src("fe80::1")),
            Via::Addr(Ipv4Addr::LOCALHOST),
        );
        assert!(matches!(mixed, Err(mreq::MreqError::FamilyMismatch { .. })));
        let mixed = Request::join(g("ff3e::1"), Some(src("10.0.0.1")), Via::Index(1));
        assert!(matches!(mixed, Err(mreq::MreqError::FamilyMismatch { .. })));
    }

    // Interfaces are named as the lecture does for IPv4 by address (or no interface), else by
    // index.
    #[test]
    fn the_interface_is_named_by_address_only_for_ipv4_by_address() {
        let iface = |spec: IfaceSpec| ResolvedIface {
            spec,
            index: 4,
            name: None,
            v4: Ipv4Addr::new(192, 168, 56, 3),
        };
        let by_addr = iface(IfaceSpec::Addr("192.168.56.3".parse().unwrap()));
        let a = Ipv4Addr::new(192, 168, 56, 3);
        assert_eq!(Via::of(g("224.1.1.5"), &by_addr), Via::Addr(a));
        assert_eq!(
            Via::of(g("224.1.1.5"), &iface(IfaceSpec::Any)),
            Via::Addr(a)
        );
        assert_eq!(
            Via::of(g("224.1.1.5"), &iface(IfaceSpec::Index(4))),
            Via::Index(4)
        );
        assert_eq!(Via::of(g("ff15::1"), &by_addr), Via::Index(4));
        assert_eq!(Via::of(g("ff15::1"), &iface(IfaceSpec::Any)), Via::Index(4));
    }

    #[test]
    fn the_membership_request_shown_is_the_one_joined() {
        let iface = |spec: IfaceSpec| ResolvedIface {
            spec,
            index: 4,
            name: None,
            v4: Ipv4Addr::new(192, 168, 56, 3),
        };
        let by_addr = iface(IfaceSpec::Addr("192.168.56.3".parse().unwrap()));
        let by_index = iface(IfaceSpec::Index(4));
        let source: Source = "192.168.56.1".parse().unwrap();
        let cases = [
            (
                g("224.1.1.5"),
                None,
                &by_addr,
                "IP_ADD_MEMBERSHIP",
                "ip_mreq",
            ),
            (
                g("232.1.1.1"),
                Some(source),
                &by_addr,
                "IP_ADD_SOURCE_MEMBERSHIP",
                "ip_mreq_source",
            ),
            (
                g("224.1.1.5"),
                None,
                &by_index,
                "IP_ADD_MEMBERSHIP",
                "ip_mreqn",
            ),
            (
                g("ff15::1"),
                None,
                &by_addr,
                "IPV6_ADD_MEMBERSHIP",
                "ipv6_mreq",
            ),
            (
                g("232.1.1.1"),
                Some(source),
                &by_index,
                "MCAST_JOIN_SOURCE_GROUP",
                "group_source_req",
            ),
        ];
        for (group, source, iface, option, layout) in cases {
            let r = membership_request(group, source, iface).unwrap();
            let joined = Request::join(group, source, Via::of(group, iface)).unwrap();
            assert_eq!((r.option, r.layout), (option, layout), "{group}");
            assert_eq!(
                r.bytes, joined.bytes,
                "{group}: the bytes shown are the bytes joined"
            );
            assert_eq!(
                r.by_address.is_some(),
                layout.starts_with("ip_mreq") && layout != "ip_mreqn"
            );
        }
        let r = membership_request(g("224.1.1.5"), None, &by_addr).unwrap();
        assert_eq!(r.bytes, [224, 1, 1, 5, 192, 168, 56, 3]);
        assert_eq!(r.level, "IPPROTO_IP");
    }
}
