//! Socket options: the `setsockopt` helpers, the family check, and the options more than one socket
//! kind sets (receive buffer, timestamps, hop limit, nonblocking).

use std::io;
use std::net::UdpSocket;
use std::os::fd::AsRawFd;

use mcast_core::addr::Group;
use socket2::{Domain, Protocol, Socket, Type};

use crate::trace::debug;
use crate::Error;

use super::state::RecvBufferReport;

pub(super) fn opt(option: &'static str, r: io::Result<()>) -> Result<(), Error> {
    debug!(option, ok = r.is_ok(), "setsockopt");
    r.map_err(|source| Error::SetOption { option, source })
}

/// `Ok(false)` when the kernel lacks the option (not fatal: such options are optional).
pub(super) fn opt_optional(option: &'static str, r: io::Result<()>) -> Result<bool, Error> {
    debug!(option, ok = r.is_ok(), "setsockopt (optional)");
    match r {
        Ok(()) => Ok(true),
        Err(e) if matches!(e.raw_os_error(), Some(libc::ENOPROTOOPT | libc::EOPNOTSUPP)) => {
            Ok(false)
        }
        Err(source) => Err(Error::SetOption { option, source }),
    }
}

pub(super) fn setsockopt_bytes(
    sock: &Socket,
    level: libc::c_int,
    name: libc::c_int,
    value: &[u8],
) -> io::Result<()> {
    // SAFETY: `value` is a live buffer of the length passed; the kernel copies it.
    let rc = unsafe {
        libc::setsockopt(
            sock.as_raw_fd(),
            level,
            name,
            value.as_ptr().cast(),
            value.len() as libc::socklen_t,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

pub(super) fn setsockopt_int(
    sock: &Socket,
    level: libc::c_int,
    name: libc::c_int,
    value: libc::c_int,
) -> io::Result<()> {
    setsockopt_bytes(sock, level, name, &value.to_ne_bytes())
}

pub(super) fn new_socket(v6: bool) -> Result<Socket, Error> {
    let domain = if v6 { Domain::IPV6 } else { Domain::IPV4 };
    let sock =
        Socket::new(domain, Type::DGRAM, Some(Protocol::UDP)).map_err(|source| Error::Io {
            context: "cannot open a UDP socket",
            source,
        })?;
    if v6 {
        opt("IPV6_V6ONLY", sock.set_only_v6(true))?;
    }
    Ok(sock)
}

/// The adapters' address-family rule: what goes with a group (another group, a bind address,
/// a receiver's sockets) is of the group's family. `what` names that thing and `v6` is its
/// family; the error says which family was found and which one the group needs. (Whether a
/// source suits a group is the core's rule, `Group::check_source`; its refusal is worded here.)
pub(crate) fn check_family(
    group: Group,
    what: impl FnOnce() -> String,
    v6: bool,
) -> Result<(), Error> {
    let name = |v6| if v6 { "IPv6" } else { "IPv4" };
    if v6 == group.is_ipv6() {
        Ok(())
    } else {
        Err(Error::FamilyMismatch {
            group,
            what: what(),
            found: name(v6),
            expected: name(group.is_ipv6()),
        })
    }
}

/// `SO_REUSEADDR`: a receiver may bind a group to a port another socket holds (receivers,
/// unicast sockets, and senders bound to a fixed port).
pub(super) fn reuse_address(sock: &Socket) -> Result<(), Error> {
    opt("SO_REUSEADDR", sock.set_reuse_address(true))
}

/// Asks for each datagram's destination and interface (`IP_PKTINFO` / `IPV6_RECVPKTINFO`),
/// which [`RecvMeta::destination`](mcast_core::RecvMeta::destination) and
/// [`RecvMeta::ifindex`](mcast_core::RecvMeta::ifindex) report.
pub(super) fn recv_pktinfo(sock: &Socket, v6: bool) -> Result<(), Error> {
    if v6 {
        opt(
            "IPV6_RECVPKTINFO",
            setsockopt_int(sock, libc::IPPROTO_IPV6, libc::IPV6_RECVPKTINFO, 1),
        )
    } else {
        opt(
            "IP_PKTINFO",
            setsockopt_int(sock, libc::IPPROTO_IP, libc::IP_PKTINFO, 1),
        )
    }
}

/// Asks the kernel for each datagram's receive time (`SO_TIMESTAMPNS`); a kernel without it is
/// not an error: the datagrams then come without one. The capture socket (`capture`) asks
/// through here too.
pub(crate) fn recv_timestamps(sock: &Socket) -> Result<(), Error> {
    opt_optional(
        "SO_TIMESTAMPNS",
        setsockopt_int(sock, libc::SOL_SOCKET, libc::SO_TIMESTAMPNS, 1),
    )
    .map(drop)
}

/// Asks for each datagram's TTL (`IP_RECVTTL`) or hop limit (`IPV6_RECVHOPLIMIT`) in a control
/// message, which [`RecvMeta::hop_limit`](mcast_core::RecvMeta::hop_limit) reports.
pub(super) fn recv_hop_limit(sock: &Socket, v6: bool) -> Result<(), Error> {
    if v6 {
        opt(
            "IPV6_RECVHOPLIMIT",
            setsockopt_int(sock, libc::IPPROTO_IPV6, libc::IPV6_RECVHOPLIMIT, 1),
        )
    } else {
        opt(
            "IP_RECVTTL",
            setsockopt_int(sock, libc::IPPROTO_IP, libc::IP_RECVTTL, 1),
        )
    }
}

/// Asks for a receive buffer of `size` bytes (`SO_RCVBUF`) and reads back what the kernel
/// granted (twice what it accepted); when it accepted less than `size` (capped by
/// `net.core.rmem_max`), tries `SO_RCVBUFFORCE` (refused with `EPERM` without `CAP_NET_ADMIN`,
/// which is no error) and, when the kernel takes it, reads back again. See
/// [`RecvBufferReport`] for the kernel's rule.
pub(super) fn set_recv_buffer(
    sock: &Socket,
    size: usize,
    rmem_max: Option<usize>,
) -> Result<RecvBufferReport, Error> {
    let granted = |sock: &Socket| {
        sock.recv_buffer_size().map_err(|source| Error::Io {
            context: "cannot read the receive buffer size back",
            source,
        })
    };
    // The kernel reads an int: a larger request asks for the most it can hold.
    let size_int = libc::c_int::try_from(size).unwrap_or(libc::c_int::MAX);
    opt(
        "SO_RCVBUF",
        setsockopt_int(sock, libc::SOL_SOCKET, libc::SO_RCVBUF, size_int),
    )?;
    let mut report = RecvBufferReport {
        requested: size,
        granted: granted(sock)?,
        rmem_max,
        forced: false,
    };
    if report.clamped() {
        let forced = setsockopt_int(sock, libc::SOL_SOCKET, libc::SO_RCVBUFFORCE, size_int);
        match forced {
            Ok(()) => {
                report.forced = true;
                report.granted = granted(sock)?;
            }
            // Without CAP_NET_ADMIN, or on a kernel without the option, the grant stands.
            Err(e)
                if matches!(
                    e.raw_os_error(),
                    Some(libc::EPERM | libc::ENOPROTOOPT | libc::EOPNOTSUPP)
                ) => {}
            Err(source) => {
                return Err(Error::SetOption {
                    option: "SO_RCVBUFFORCE",
                    source,
                })
            }
        }
    }
    Ok(report)
}

/// Puts a socket into nonblocking mode for an async runtime (mcast-async calls this before
/// `tokio::net::UdpSocket::from_std`, so even this flag is set here and nowhere else).
pub fn set_nonblocking(socket: &UdpSocket) -> Result<(), Error> {
    socket
        .set_nonblocking(true)
        .map_err(|source| Error::SetOption {
            option: "O_NONBLOCK",
            source,
        })
}
