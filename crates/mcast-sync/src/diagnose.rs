//! Finding the [`Cause`] behind a failed join, send or bind: the kernel's error number, read
//! together with the interface's flags and addresses and a route lookup.
//!
//! These run only after something failed, never on a path that succeeds.

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, UdpSocket};

use mcast_core::addr::Group;

use crate::error::Cause;
use crate::ifaces::{self, Interface};
use crate::resolve::ResolvedIface;

/// Whether `e` is an error a route or an interface's state can explain.
fn route_or_iface_errno(e: &io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(
            libc::ENODEV
                | libc::EADDRNOTAVAIL
                | libc::ENETUNREACH
                | libc::EHOSTUNREACH
                | libc::ENETDOWN
                | libc::EINVAL
        )
    )
}

/// The cause of a failed join of, or send to, `group` on `iface`, if one is found: no route
/// for the group (when the kernel was to choose the interface), or the interface's state.
pub(crate) fn route_or_iface(group: Group, iface: &ResolvedIface, e: &io::Error) -> Option<Cause> {
    if !route_or_iface_errno(e) {
        return None;
    }
    if iface.is_any() {
        if group.needs_interface() {
            return Some(Cause::NeedsInterface { group });
        }
        return (!has_route(group.addr())).then_some(Cause::NoRoute { group });
    }
    let list = ifaces::list().ok()?;
    let found = list.iter().find(|i| i.index == iface.index)?;
    iface_state(found, group.is_ipv6())
}

/// What keeps `iface` from carrying multicast of the family (`v6`), judged from its flags and
/// addresses: down; for IPv6 also no carrier, no `MULTICAST` flag or no IPv6 address (IPv4
/// multicast goes out of an interface in those states, or loops back over `lo`).
pub(crate) fn iface_state(iface: &Interface, v6: bool) -> Option<Cause> {
    let name = iface.name.clone();
    if !iface.flags.up {
        return Some(Cause::IfaceDown { name });
    }
    if !v6 {
        return None;
    }
    if !iface.flags.running {
        Some(Cause::NoCarrier { name })
    } else if !iface.flags.multicast {
        Some(Cause::NotMulticast { name })
    } else if iface.ipv6().is_none() {
        Some(Cause::NoIpv6 { name })
    } else {
        None
    }
}

/// Whether the kernel has a route for `dest`: a UDP socket's `connect` looks one up (and sends
/// nothing).
fn has_route(dest: IpAddr) -> bool {
    let local: SocketAddr = match dest {
        IpAddr::V4(_) => (Ipv4Addr::UNSPECIFIED, 0).into(),
        IpAddr::V6(_) => (Ipv6Addr::UNSPECIFIED, 0).into(),
    };
    // A socket that cannot even be made proves nothing: assume a route.
    UdpSocket::bind(local).map_or(true, |s| s.connect((dest, 9)).is_ok())
}

/// The cause of a failed bind to `addr`, if one is found: a privileged port.
pub(crate) fn bind(addr: SocketAddr, e: &io::Error) -> Option<Cause> {
    privileged_port(addr.port(), e, first_unprivileged_port())
}

/// [`bind`]'s rule: `EACCES` for a port (not 0) below the first unprivileged one.
fn privileged_port(port: u16, e: &io::Error, first_unprivileged: u16) -> Option<Cause> {
    (e.raw_os_error() == Some(libc::EACCES) && port != 0 && port < first_unprivileged).then_some(
        Cause::PrivilegedPort {
            port,
            first_unprivileged,
        },
    )
}

/// `net.ipv4.ip_unprivileged_port_start` (it covers IPv6 too), 1024 when unreadable.
fn first_unprivileged_port() -> u16 {
    std::fs::read_to_string("/proc/sys/net/ipv4/ip_unprivileged_port_start")
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(1024)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ifaces::{IfaceAddr, IfaceFlags};

    fn iface(flags: IfaceFlags, addrs: &[&str]) -> Interface {
        Interface {
            name: "va".into(),
            index: 3,
            flags,
            addrs: addrs
                .iter()
                .map(|a| IfaceAddr {
                    addr: a.parse().unwrap(),
                    prefix_len: 64,
                })
                .collect(),
        }
    }

    // issue #9 — the interface's state, in the order that explains a failure best.
    #[test]
    fn interface_states_name_the_cause() {
        let up = IfaceFlags {
            up: true,
            running: true,
            multicast: true,
            ..IfaceFlags::default()
        };
        let name = || "va".to_owned();
        let down = IfaceFlags { up: false, ..up };
        let no_carrier = IfaceFlags {
            running: false,
            ..up
        };
        let no_mc = IfaceFlags {
            multicast: false,
            ..up
        };
        let v6 = ["fe80::1"];
        assert_eq!(
            iface_state(&iface(down, &v6), true),
            Some(Cause::IfaceDown { name: name() })
        );
        assert_eq!(
            iface_state(&iface(down, &["10.0.0.1"]), false),
            Some(Cause::IfaceDown { name: name() })
        );
        assert_eq!(
            iface_state(&iface(no_carrier, &v6), true),
            Some(Cause::NoCarrier { name: name() })
        );
        assert_eq!(
            iface_state(&iface(no_mc, &v6), true),
            Some(Cause::NotMulticast { name: name() })
        );
        assert_eq!(
            iface_state(&iface(up, &["10.0.0.1"]), true),
            Some(Cause::NoIpv6 { name: name() })
        );
        assert_eq!(iface_state(&iface(up, &v6), true), None);
        // IPv4 multicast leaves an interface without carrier or MULTICAST flag.
        assert_eq!(iface_state(&iface(no_carrier, &[]), false), None);
        assert_eq!(iface_state(&iface(no_mc, &[]), false), None);
    }

    // issue #9 — EACCES on a port below the sysctl's start is the privileged-port trap.
    #[test]
    fn eacces_below_the_first_unprivileged_port_is_privileged() {
        let eacces = io::Error::from_raw_os_error(libc::EACCES);
        assert_eq!(
            privileged_port(500, &eacces, 1024),
            Some(Cause::PrivilegedPort {
                port: 500,
                first_unprivileged: 1024
            })
        );
        assert_eq!(privileged_port(5000, &eacces, 1024), None);
        assert_eq!(privileged_port(0, &eacces, 1024), None);
        let eaddrinuse = io::Error::from_raw_os_error(libc::EADDRINUSE);
        assert_eq!(privileged_port(500, &eaddrinuse, 1024), None);
    }

    // issue #9 — a link-local IPv6 group without an interface is refused before any socket
    // is opened (the kernel would say EINVAL or ENETUNREACH).
    #[test]
    fn link_local_groups_need_an_interface() {
        let g: Group = "ff02::1".parse().unwrap();
        let e = crate::Sender::builder(g, 5000).build().unwrap_err();
        assert!(
            matches!(e, crate::Error::NeedsInterface { group } if group == g),
            "{e:?}"
        );
        assert!(e.hint().unwrap().contains("name the interface"), "{e:?}");
        let e = crate::Receiver::builder(5000)
            .group("ff15::1".parse().unwrap())
            .group("ff12::1".parse().unwrap())
            .build()
            .unwrap_err();
        assert!(matches!(e, crate::Error::NeedsInterface { .. }), "{e:?}");
        assert_eq!(
            e.to_string(),
            "ff12::1 is link-local: it needs an interface"
        );
    }

    #[test]
    fn only_route_and_interface_errors_are_diagnosed() {
        let g: Group = "ff02::1".parse().unwrap();
        let any = ResolvedIface::any();
        let enobufs = io::Error::from_raw_os_error(libc::ENOBUFS);
        assert_eq!(route_or_iface(g, &any, &enobufs), None);
        let enodev = io::Error::from_raw_os_error(libc::ENODEV);
        assert_eq!(
            route_or_iface(g, &any, &enodev),
            Some(Cause::NeedsInterface { group: g })
        );
    }
}
