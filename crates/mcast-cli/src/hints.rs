//! The adapter's errors in the CLI's words.
//!
//! mcast-sync finds the cause behind a failure ([`mcast_sync::Cause`]: no route, an interface
//! down, a privileged port, ...) and words it in the library's terms ("name an interface").
//! Here the same causes name the CLI's options (`-i IFACE`, `GROUP%IFACE`) and commands
//! (`mcast ifaces`).

use std::io;

use mcast_sync::{Cause, Error};

/// Where to look for interfaces, for the errors that name one that is not there.
pub(crate) const LIST_IFACES: &str =
    "list the multicast-capable interfaces and their addresses with `mcast ifaces`";

/// The hint for an error, if `e` is an adapter error ([`adapter_error`]).
pub(crate) fn of(e: &(dyn std::error::Error + 'static)) -> Option<String> {
    e.downcast_ref::<Error>().and_then(adapter_error)
}

/// The hint for an adapter error: its cause in the CLI's words, else the library's hint
/// (with `mcast ifaces` where it points at the interfaces).
pub(crate) fn adapter_error(e: &Error) -> Option<String> {
    if let Some(cause) = e.cause() {
        return Some(cause_hint(&cause));
    }
    let errno = e.io_error().and_then(io::Error::raw_os_error);
    match (e, errno) {
        (Error::Iface { .. }, _) => Some(LIST_IFACES.into()),
        (
            Error::Join { .. } | Error::SetOption { .. },
            Some(libc::ENODEV | libc::EADDRNOTAVAIL),
        ) => Some(format!(
            "the interface does not exist, is down, or does not hold that address: {LIST_IFACES}"
        )),
        (Error::Bind { .. }, Some(libc::EADDRNOTAVAIL)) => Some(format!(
            "the bind address is not on this host: {LIST_IFACES}"
        )),
        _ => e.hint(),
    }
}

/// A cause in the CLI's words.
pub(crate) fn cause_hint(cause: &Cause) -> String {
    match cause {
        Cause::NoRoute { group } => format!(
            "the kernel has no route for {group}, so it cannot pick an interface: name one with -i, or add a route"
        ),
        Cause::NeedsInterface { group } => format!(
            "{group} exists on every link: name the interface with -i IFACE, or write {group}%IFACE"
        ),
        Cause::IfaceDown { name } => format!(
            "interface {name} is down: bring it up (`ip link set {name} up`), or name another with -i"
        ),
        Cause::NoCarrier { name } => format!(
            "interface {name} is up but its link is not (no carrier), so IPv6 has no multicast route through it yet: connect it or bring up its peer, or name another with -i"
        ),
        Cause::NotMulticast { name } => format!(
            "interface {name} lacks the MULTICAST flag (loopback interfaces do), so the kernel has no IPv6 multicast route through it: name another with -i (IPv6 multicast does not loop back over lo; one end of a veth pair does)"
        ),
        Cause::NoIpv6 { name } => format!(
            "interface {name} has no IPv6 address (IPv6 is off on it), so it carries no IPv6 multicast: name another with -i"
        ),
        Cause::PrivilegedPort {
            port,
            first_unprivileged,
        } => format!(
            "port {port} is privileged (below {first_unprivileged}): run as root, grant CAP_NET_BIND_SERVICE (`sudo setcap cap_net_bind_service=+ep $(command -v mcast)`), or use a port of {first_unprivileged} or above"
        ),
        // A cause added to the library later: its own words.
        other => other.hint(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // issue #9 — the INADDR_ANY trap, as the issue words it.
    #[test]
    fn no_route_names_the_option() {
        let e = Error::Join {
            group: "239.1.1.1".parse().unwrap(),
            ssm_source: None,
            iface: mcast_core::iface::IfaceSpec::Any,
            source: io::Error::from_raw_os_error(libc::ENODEV),
            cause: Some(Cause::NoRoute {
                group: "239.1.1.1".parse().unwrap(),
            }),
            verdict: None,
        };
        assert_eq!(
            adapter_error(&e).unwrap(),
            "the kernel has no route for 239.1.1.1, so it cannot pick an interface: name one with -i, or add a route"
        );
    }

    // issue #9 — privileged ports: the mapping from EACCES (run as root in CI, where the
    // kernel never refuses, so the mapping is tested here too).
    #[test]
    fn a_privileged_port_names_the_capability_and_the_way_out() {
        let h = cause_hint(&Cause::PrivilegedPort {
            port: 500,
            first_unprivileged: 1024,
        });
        assert!(h.contains("CAP_NET_BIND_SERVICE"), "{h}");
        assert!(h.contains("a port of 1024 or above"), "{h}");
    }

    #[test]
    fn every_cause_with_an_interface_names_another_with_i() {
        for cause in [
            Cause::IfaceDown { name: "va".into() },
            Cause::NoCarrier { name: "va".into() },
            Cause::NotMulticast { name: "lo".into() },
            Cause::NoIpv6 { name: "va".into() },
        ] {
            let h = cause_hint(&cause);
            assert!(h.contains("name another with -i"), "{h}");
            assert!(!h.contains("name the outgoing interface"), "{h}");
        }
    }

    #[test]
    fn missing_interfaces_point_at_mcast_ifaces() {
        let e = Error::Join {
            group: "239.1.1.1".parse().unwrap(),
            ssm_source: None,
            iface: mcast_core::iface::IfaceSpec::Name("x".into()),
            source: io::Error::from_raw_os_error(libc::ENODEV),
            cause: None,
            verdict: None,
        };
        assert!(adapter_error(&e).unwrap().contains("mcast ifaces"));
    }
}
