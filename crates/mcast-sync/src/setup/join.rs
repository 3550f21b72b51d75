//! Memberships: join, leave and rejoin (on another interface index), and the outgoing interface.

use std::io;
use std::net::{IpAddr, Ipv4Addr};

use mcast_core::addr::{Group, Source};
use mcast_core::iface::IfaceSpec;
use mcast_core::membership::OsErrorKind;
use mcast_core::mreq;
use socket2::{InterfaceIndexOrAddress, Socket};

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

/// One membership: any-source or source-specific, IPv4 or IPv6, on the resolved interface.
pub(crate) fn join(
    sock: &Socket,
    group: Group,
    source: Option<Source>,
    iface: &ResolvedIface,
) -> io::Result<()> {
    debug!(%group, source = ?source.map(|s| s.addr()), iface = %iface.spec, index = iface.index, "join");
    let bad = |e: mreq::MreqError| io::Error::new(io::ErrorKind::InvalidInput, e);
    match (group.addr(), source, &iface.spec) {
        // IPv4, interface by address (or any): ip_mreq / ip_mreq_source, as the lecture does.
        (IpAddr::V4(g), None, IfaceSpec::Any | IfaceSpec::Addr(IpAddr::V4(_))) => {
            sock.join_multicast_v4(&g, &iface.v4)
        }
        (IpAddr::V4(g), Some(s), IfaceSpec::Any | IfaceSpec::Addr(IpAddr::V4(_))) => match s.addr()
        {
            IpAddr::V4(s) => sock.join_ssm_v4(&s, &g, &iface.v4),
            IpAddr::V6(_) => Err(bad(mreq::MreqError::FamilyMismatch {
                group: group.addr(),
                source_addr: s.addr(),
            })),
        },
        // IPv4, interface by index: ip_mreqn / group_source_req.
        (IpAddr::V4(g), None, _) => {
            sock.join_multicast_v4_n(&g, &InterfaceIndexOrAddress::Index(iface.index))
        }
        (IpAddr::V4(_), Some(s), _) => {
            let req = mreq::group_source_req(group, s, iface.index).map_err(bad)?;
            setsockopt_bytes(sock, libc::IPPROTO_IP, libc::MCAST_JOIN_SOURCE_GROUP, &req)
        }
        (IpAddr::V6(g), None, _) => sock.join_multicast_v6(&g, iface.index),
        (IpAddr::V6(_), Some(s), _) => {
            let req = mreq::group_source_req(group, s, iface.index).map_err(bad)?;
            setsockopt_bytes(
                sock,
                libc::IPPROTO_IPV6,
                libc::MCAST_JOIN_SOURCE_GROUP,
                &req,
            )
        }
    }
}

/// Leaves `group` on the resolved interface, named the way [`join`] named it (by address for
/// IPv4 with an address or any interface, else by index): the whole group, its
/// source-specific joins included.
pub(crate) fn leave(sock: &Socket, group: Group, iface: &ResolvedIface) -> io::Result<()> {
    debug!(%group, iface = %iface.spec, index = iface.index, "leave");
    match (group.addr(), &iface.spec) {
        (IpAddr::V4(g), IfaceSpec::Any | IfaceSpec::Addr(IpAddr::V4(_))) => {
            sock.leave_multicast_v4(&g, &iface.v4)
        }
        _ => leave_on_index(sock, group, iface.index),
    }
}

/// Leaves `group` on the interface with index `index` (`IP_DROP_MEMBERSHIP` with an
/// `ip_mreqn`, `IPV6_LEAVE_GROUP`): the whole group, its source-specific joins included. The
/// interface need not exist any more: the kernel keeps a deleted interface's memberships on
/// the socket, by index, until they are left.
pub(crate) fn leave_on_index(sock: &Socket, group: Group, index: u32) -> io::Result<()> {
    debug!(%group, index, "leave");
    match group.addr() {
        IpAddr::V4(g) => sock.leave_multicast_v4_n(&g, &InterfaceIndexOrAddress::Index(index)),
        IpAddr::V6(g) => sock.leave_multicast_v6(&g, index),
    }
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
    let iface = ResolvedIface {
        spec: IfaceSpec::Index(index),
        index,
        name: None,
        v4: Ipv4Addr::UNSPECIFIED,
    };
    join(sock, group, source, &iface)
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
}
