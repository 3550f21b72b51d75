//! What can go wrong while setting up, joining, sending and receiving, with the context the
//! operating system does not give and a [`Error::hint`] for the known traps.

use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use mcast_core::addr::{Group, Source};
use mcast_core::iface::IfaceSpec;

/// An error from the blocking (and, through it, the async) adapter.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The interface could not be resolved: no such name or index, or the address is not on
    /// this host.
    #[error("interface {spec}: {reason}")]
    Iface {
        /// The interface as the user named it.
        spec: IfaceSpec,
        /// What is wrong with it.
        reason: String,
    },
    /// Joining a group (or a source-specific channel) failed.
    #[error("cannot join {group}{} on interface {iface}", ssm_source.map(|s| format!(" from source {s}")).unwrap_or_default())]
    Join {
        /// The group.
        group: Group,
        /// The source of a source-specific join.
        ssm_source: Option<Source>,
        /// The interface as the user named it.
        iface: IfaceSpec,
        /// What the kernel said.
        source: io::Error,
    },
    /// Binding the socket failed.
    #[error("cannot bind to {addr}")]
    Bind {
        /// The address we tried to bind.
        addr: SocketAddr,
        /// What the kernel said.
        source: io::Error,
    },
    /// Setting a socket option failed.
    #[error("cannot set {option}")]
    SetOption {
        /// The option's name, e.g. `IP_MULTICAST_TTL`.
        option: &'static str,
        /// What the kernel said.
        source: io::Error,
    },
    /// The groups, sources, interface and bind address are not all of one address family.
    #[error("{what} is {found} but the group {group} is {expected}")]
    FamilyMismatch {
        /// The group that fixes the family.
        group: Group,
        /// What has the other family.
        what: String,
        /// The family found, `IPv4` or `IPv6`.
        found: &'static str,
        /// The family expected.
        expected: &'static str,
    },
    /// A membership request could not be built (a family mismatch the builder did not catch).
    #[error(transparent)]
    Mreq(#[from] mcast_core::mreq::MreqError),
    /// The caller stopped the joins (its progress callback broke) before they were all done;
    /// the groups joined so far were left again.
    #[error("stopped after {done} of {total} joins")]
    JoinStopped {
        /// How many joins were done.
        done: usize,
        /// How many there were to do.
        total: usize,
    },
    /// A receiver was built without any group.
    #[error("no group to join: give at least one group")]
    NoGroups,
    /// Connecting a unicast socket to its peer failed (no route, say).
    #[error("cannot connect to {peer}")]
    Connect {
        /// The peer.
        peer: SocketAddr,
        /// What the kernel said.
        source: io::Error,
    },
    /// Sending a datagram failed.
    #[error("cannot send to {destination}")]
    Send {
        /// Where to.
        destination: SocketAddr,
        /// What the kernel said.
        source: io::Error,
    },
    /// No datagram arrived within the read timeout.
    #[error("no datagram within {0:?}")]
    TimedOut(Duration),
    /// Any other I/O error, with what we were doing.
    #[error("{context}")]
    Io {
        /// What we were doing.
        context: &'static str,
        /// What the kernel said.
        source: io::Error,
    },
}

impl Error {
    /// The OS error underneath, when there is one.
    pub fn io_error(&self) -> Option<&io::Error> {
        match self {
            Self::Join { source, .. }
            | Self::Bind { source, .. }
            | Self::SetOption { source, .. }
            | Self::Connect { source, .. }
            | Self::Send { source, .. }
            | Self::Io { source, .. } => Some(source),
            _ => None,
        }
    }

    /// Whether a signal interrupted a blocking call (call it again to continue).
    pub fn is_interrupted(&self) -> bool {
        self.io_error()
            .is_some_and(|e| e.kind() == io::ErrorKind::Interrupted)
    }

    /// Whether the peer of a unicast socket refused an earlier datagram (`ECONNREFUSED`: an
    /// ICMP port unreachable, nothing listens there).
    pub fn is_refused(&self) -> bool {
        self.io_error()
            .and_then(io::Error::raw_os_error)
            .is_some_and(|errno| errno == libc::ECONNREFUSED)
    }

    /// Whether this is a read timeout.
    pub fn is_timeout(&self) -> bool {
        matches!(self, Self::TimedOut(_))
    }

    /// A one-line hint for the known traps, when one applies.
    pub fn hint(&self) -> Option<String> {
        let errno = self.io_error().and_then(io::Error::raw_os_error);
        match (self, errno) {
            (Self::Iface { .. }, _) => Some(
                "list the multicast-capable interfaces and their addresses with `mcast ifaces`"
                    .into(),
            ),
            (Self::Join { .. }, Some(libc::ENOBUFS)) => Some(format!(
                "the kernel allows net.ipv4.igmp_max_memberships ({}) groups per socket; \
                 raise it with `sysctl -w net.ipv4.igmp_max_memberships=N`",
                igmp_max_memberships().map_or_else(|| "20 by default".into(), |n| n.to_string())
            )),
            (
                Self::Join { .. } | Self::SetOption { .. },
                Some(libc::ENODEV | libc::EADDRNOTAVAIL),
            ) => Some(
                "the interface does not exist, is down, or does not hold that address: \
                 list interfaces with `mcast ifaces`"
                    .into(),
            ),
            (Self::Bind { .. }, Some(libc::EADDRINUSE)) => {
                Some("another program holds the port without SO_REUSEADDR/SO_REUSEPORT".into())
            }
            (Self::Bind { .. }, Some(libc::EADDRNOTAVAIL)) => Some(
                "the bind address is not on this host: list addresses with `mcast ifaces`".into(),
            ),
            (Self::Send { .. }, Some(libc::ENETUNREACH | libc::EHOSTUNREACH)) => {
                Some("no route for multicast: name the outgoing interface with -i IFACE".into())
            }
            (Self::Connect { .. }, Some(libc::ENETUNREACH | libc::EHOSTUNREACH)) => Some(
                "no route to that address from this host: check it, and the routes (`ip route`)"
                    .into(),
            ),
            (Self::Send { .. } | Self::SetOption { .. }, Some(libc::EPERM | libc::EACCES)) => {
                Some("a firewall rule or missing privilege refused it".into())
            }
            _ => None,
        }
    }
}

/// The kernel's per-socket IPv4 membership limit, from
/// `/proc/sys/net/ipv4/igmp_max_memberships`.
pub fn igmp_max_memberships() -> Option<usize> {
    read_sysctl("/proc/sys/net/ipv4/igmp_max_memberships")
}

/// The largest receive buffer an unprivileged socket may ask for, in bytes, from
/// `/proc/sys/net/core/rmem_max` (the kernel grants twice the request, up to twice this).
pub fn rmem_max() -> Option<usize> {
    read_sysctl("/proc/sys/net/core/rmem_max")
}

/// A sysctl holding one number.
fn read_sysctl(path: &str) -> Option<usize> {
    std::fs::read_to_string(path).ok()?.trim().parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn join_err(errno: i32) -> Error {
        Error::Join {
            group: "224.1.1.5".parse().unwrap(),
            ssm_source: None,
            iface: IfaceSpec::Name("lab0".into()),
            source: io::Error::from_raw_os_error(errno),
        }
    }

    #[test]
    fn enobufs_hints_at_igmp_max_memberships() {
        let e = join_err(libc::ENOBUFS);
        assert!(e.hint().unwrap().contains("net.ipv4.igmp_max_memberships"));
        // The OS error is the source, not part of the message: printing the chain (`{:#}`)
        // must show it once.
        assert_eq!(e.to_string(), "cannot join 224.1.1.5 on interface lab0");
        let source = std::error::Error::source(&e).expect("the kernel's error is the source");
        assert_eq!(
            source
                .downcast_ref::<io::Error>()
                .and_then(io::Error::raw_os_error),
            Some(libc::ENOBUFS)
        );
    }

    #[test]
    fn enodev_and_eaddrnotavail_hint_at_mcast_ifaces() {
        for errno in [libc::ENODEV, libc::EADDRNOTAVAIL] {
            assert!(join_err(errno).hint().unwrap().contains("mcast ifaces"));
        }
        assert_eq!(join_err(libc::EINVAL).hint(), None);
    }

    #[test]
    fn ssm_join_names_the_source() {
        let e = Error::Join {
            group: "232.1.1.1".parse().unwrap(),
            ssm_source: Some("10.0.0.1".parse().unwrap()),
            iface: IfaceSpec::Index(3),
            source: io::Error::from_raw_os_error(libc::EINVAL),
        };
        assert!(e
            .to_string()
            .contains("232.1.1.1 from source 10.0.0.1 on interface #3"));
    }
}
