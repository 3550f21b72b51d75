//! What can go wrong while setting up, joining, sending and receiving, with the context the
//! operating system does not give and a [`Error::hint`] for the known traps.
//!
//! The kernel's error numbers are terse and often misleading: `ENODEV` on a join says "no such
//! device" when the interface was left to the kernel and it has no route to pick one by;
//! `ENETUNREACH` on a send says the same for a named interface that is down. When an error
//! happens, the adapter looks at the interface and the routes and records what it found as a
//! [`Cause`] ([`Error::cause`]). The hints speak in the library's terms ("name an
//! interface"); a front end words a [`Cause`] in its own (its options) by matching on it.

use std::io;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use mcast_core::addr::{Group, Source};
use mcast_core::iface::IfaceSpec;
use mcast_core::membership::JoinVerdict;
use mcast_core::RecvMeta;

/// The cause found behind an error, by looking at the interface and the routes when it
/// happened (see the [module docs](self)).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Cause {
    /// The interface was left to the kernel, and it has no route for the group, so it cannot
    /// pick one (the lecture's `INADDR_ANY` trap: a host without a default route).
    NoRoute {
        /// The group.
        group: Group,
    },
    /// An IPv6 group of interface- or link-local scope (`ff02::1`) and no interface: the same
    /// address exists on every link, so it needs one ([`Group::needs_interface`]).
    NeedsInterface {
        /// The group.
        group: Group,
    },
    /// The interface is administratively down.
    IfaceDown {
        /// Its name.
        name: String,
    },
    /// The interface is up but its link is not (no carrier), so IPv6 has set up no multicast
    /// route through it yet.
    NoCarrier {
        /// Its name.
        name: String,
    },
    /// The interface lacks the `MULTICAST` flag, as loopback interfaces do, so the kernel has
    /// no IPv6 multicast route through it.
    NotMulticast {
        /// Its name.
        name: String,
    },
    /// The interface has no IPv6 address (IPv6 is off on it), so it carries no IPv6 multicast.
    NoIpv6 {
        /// Its name.
        name: String,
    },
    /// A port below `net.ipv4.ip_unprivileged_port_start` needs `CAP_NET_BIND_SERVICE`
    /// (root has it).
    PrivilegedPort {
        /// The port asked for.
        port: u16,
        /// The first port anyone may bind (1024 unless the sysctl says otherwise).
        first_unprivileged: u16,
    },
}

impl Cause {
    /// The cause in the library's words, as [`Error::hint`] gives it.
    pub fn hint(&self) -> String {
        match self {
            Self::NoRoute { group } => format!(
                "the kernel has no route for {group}, so it cannot pick an interface: name one, or add a route"
            ),
            Self::NeedsInterface { group } => format!(
                "{group} is {}: the same address exists on every link, so name the interface it is meant for",
                scope_words(*group)
            ),
            Self::IfaceDown { name } => {
                format!("interface {name} is down: bring it up (`ip link set {name} up`)")
            }
            Self::NoCarrier { name } => format!(
                "interface {name} is up but its link is not (no carrier), so IPv6 has no multicast route through it yet: connect it, or bring up its peer"
            ),
            Self::NotMulticast { name } => format!(
                "interface {name} lacks the MULTICAST flag (loopback interfaces do), so the kernel has no IPv6 multicast route through it: IPv6 multicast does not loop back over lo, use an interface that has the flag, e.g. one end of a veth pair"
            ),
            Self::NoIpv6 { name } => format!(
                "interface {name} has no IPv6 address (IPv6 is off on it), so it carries no IPv6 multicast"
            ),
            Self::PrivilegedPort {
                port,
                first_unprivileged,
            } => format!(
                "port {port} is below {first_unprivileged} (net.ipv4.ip_unprivileged_port_start): binding it needs root or CAP_NET_BIND_SERVICE; use a port of {first_unprivileged} or above"
            ),
        }
    }
}

/// A group's scope in words, for [`Cause::NeedsInterface`].
/// The one hint that points at this host's interfaces and their addresses.
const LIST_IFACES: &str = "list the interfaces and their addresses with `ip addr`";

fn scope_words(group: Group) -> &'static str {
    match group.scope() {
        mcast_core::addr::Scope::InterfaceLocal => "interface-local",
        _ => "link-local",
    }
}

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
        /// What the adapter found behind it, if anything.
        cause: Option<Cause>,
        /// The membership policy's verdict ([`mcast_core::membership`]), when the join went
        /// through it: its [`hint`](JoinVerdict::hint) names the kernel limit that refused
        /// the join, and is this error's [`Error::hint`] (boxed: errors travel in every
        /// `Result`).
        verdict: Option<Box<JoinVerdict>>,
    },
    /// Binding the socket failed.
    #[error("cannot bind to {addr}")]
    Bind {
        /// The address we tried to bind.
        addr: SocketAddr,
        /// What the kernel said.
        source: io::Error,
        /// What the adapter found behind it, if anything.
        cause: Option<Cause>,
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
    /// An IPv6 group of interface- or link-local scope with no interface
    /// ([`Cause::NeedsInterface`]): refused before any socket is opened.
    #[error("{group} is {}: it needs an interface", scope_words(*group))]
    NeedsInterface {
        /// The group.
        group: Group,
    },
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
        /// What the adapter found behind it, if anything.
        cause: Option<Cause>,
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
    /// A datagram was longer than the buffer it was received into: the buffer holds its first
    /// `capacity` bytes, and the rest is lost. The datagram is consumed; the next receive gets
    /// the next one.
    #[error("a datagram of {} bytes from {} was cut to the buffer's {capacity} bytes", meta.len, meta.source)]
    Truncated {
        /// The datagram's metadata, with its full length in [`RecvMeta::len`] (boxed: errors
        /// travel in every `Result`).
        meta: Box<RecvMeta>,
        /// The buffer's length: how many bytes of the datagram it holds.
        capacity: usize,
    },
    /// A group joined after building, on a receiver whose sockets are bound to another address
    /// (with one group, a receiver binds to that group): its datagrams could never arrive.
    #[error("cannot receive {group} on sockets bound to {bound}")]
    BoundElsewhere {
        /// The group.
        group: Group,
        /// The address the sockets are bound to.
        bound: IpAddr,
    },
    /// A group to leave that the receiver has not joined.
    #[error("{group} is not joined")]
    NotJoined {
        /// The group.
        group: Group,
    },
}

impl Error {
    /// A failed send to `destination` from a socket on `iface`, with the [`Cause`] found behind
    /// it when the destination is a group and the error one that a route or an interface
    /// explains (`ENETUNREACH`, `ENODEV`, ...).
    pub fn send(destination: SocketAddr, iface: &crate::ResolvedIface, source: io::Error) -> Self {
        let cause = Group::new(destination.ip())
            .ok()
            .and_then(|group| crate::diagnose::route_or_iface(group, iface, &source));
        Self::Send {
            destination,
            source,
            cause,
        }
    }

    /// What the adapter found behind the error, when it looked and found something.
    pub fn cause(&self) -> Option<Cause> {
        match self {
            Self::Join { cause, .. } | Self::Bind { cause, .. } | Self::Send { cause, .. } => {
                cause.clone()
            }
            Self::NeedsInterface { group } => Some(Cause::NeedsInterface { group: *group }),
            _ => None,
        }
    }

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

    /// A one-line hint for the known traps, when one applies: the [`Cause`] when one was
    /// found, else what the error number usually means. In the library's terms: it names no
    /// option of any program.
    pub fn hint(&self) -> Option<String> {
        if let Some(cause) = self.cause() {
            return Some(cause.hint());
        }
        // The core's membership policy owns the hint of a full socket or source filter
        // (`ENOBUFS`).
        if let Self::Join {
            verdict: Some(verdict),
            ..
        } = self
        {
            if let Some(hint) = verdict.hint() {
                return Some(hint);
            }
        }
        let errno = self.io_error().and_then(io::Error::raw_os_error);
        match (self, errno) {
            (Self::Iface { .. }, _) => Some(LIST_IFACES.into()),
            (
                Self::Join { .. } | Self::SetOption { .. },
                Some(libc::ENODEV | libc::EADDRNOTAVAIL),
            ) => Some(format!(
                "the interface does not exist, is down, or does not hold that address: \
                 {LIST_IFACES}"
            )),
            (Self::Bind { .. }, Some(libc::EADDRINUSE)) => {
                Some("another program holds the port without SO_REUSEADDR/SO_REUSEPORT".into())
            }
            (Self::Bind { .. }, Some(libc::EADDRNOTAVAIL)) => Some(format!(
                "the bind address is not on this host: {LIST_IFACES}"
            )),
            (Self::Send { .. }, Some(libc::ENETUNREACH | libc::EHOSTUNREACH)) => Some(
                "the kernel has no route for it through the interface: check the interface's \
                 state (`ip link`) and the routes (`ip route`)"
                    .into(),
            ),
            (Self::Connect { .. }, Some(libc::ENETUNREACH | libc::EHOSTUNREACH)) => Some(
                "no route to that address from this host: check it, and the routes (`ip route`)"
                    .into(),
            ),
            (Self::Send { .. } | Self::SetOption { .. }, Some(libc::EPERM | libc::EACCES)) => {
                Some("a firewall rule or missing privilege refused it".into())
            }
            (Self::Truncated { .. }, _) => Some(
                "receive into a buffer of 65,535 bytes, the longest UDP payload \
                 (or a batch with buffers that long)"
                    .into(),
            ),
            (Self::BoundElsewhere { .. }, _) => Some(
                "to join groups after building a receiver, bind it to the unspecified address \
                 (0.0.0.0 or ::) with its builder's `bind_addr`"
                    .into(),
            ),
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
            cause: None,
            verdict: None,
        }
    }

    /// The verdict of the core's policy on `ENOBUFS` for the `n`th join of 224.1.1.5 (from
    /// each of `sources`) on a socket holding no other group.
    fn enobufs_verdict(sources: &[Source], n: usize) -> JoinVerdict {
        use mcast_core::membership::{Membership, OsErrorKind};
        let mut m = Membership::new(None);
        m.join("224.1.1.5".parse().unwrap(), sources).unwrap();
        for _ in 1..n {
            let op = m.poll_op().unwrap();
            m.handle_op_result(&op, Ok(())).unwrap();
        }
        let op = m.poll_op().unwrap();
        m.handle_op_result(&op, Err(OsErrorKind::NoBuffers))
            .unwrap_err()
    }

    // One owner: the hint of a full socket is the core's verdict's, and the error number
    // alone gives none.
    #[test]
    fn enobufs_hint_is_the_cores_verdict() {
        let verdict = enobufs_verdict(&[], 1);
        let mut e = join_err(libc::ENOBUFS);
        assert_eq!(e.hint(), None);
        if let Error::Join { verdict: v, .. } = &mut e {
            *v = Some(Box::new(verdict));
        }
        assert_eq!(e.hint(), verdict.hint());
        assert!(e.hint().unwrap().contains("net.ipv4.igmp_max_memberships"));
        // A further source that does not fit names the source filter's limit instead.
        let sources: Vec<Source> = ["10.0.0.1", "10.0.0.2"].map(|s| s.parse().unwrap()).into();
        let mut e = join_err(libc::ENOBUFS);
        if let Error::Join { verdict: v, .. } = &mut e {
            *v = Some(Box::new(enobufs_verdict(&sources, 2)));
        }
        assert!(e.hint().unwrap().contains("net.ipv4.igmp_max_msf"));
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
    fn enodev_and_eaddrnotavail_hint_at_the_interfaces() {
        for errno in [libc::ENODEV, libc::EADDRNOTAVAIL] {
            assert!(join_err(errno).hint().unwrap().contains("`ip addr`"));
        }
        assert_eq!(join_err(libc::EINVAL).hint(), None);
    }

    // issue #9 — a cause found behind an error is the hint, whatever the error number.
    #[test]
    fn the_cause_is_the_hint() {
        let mut e = join_err(libc::ENODEV);
        if let Error::Join { cause, .. } = &mut e {
            *cause = Some(Cause::NoRoute {
                group: "239.1.1.1".parse().unwrap(),
            });
        }
        assert_eq!(
            e.hint().unwrap(),
            "the kernel has no route for 239.1.1.1, so it cannot pick an interface: name one, or add a route"
        );
        let e = Error::NeedsInterface {
            group: "ff02::1".parse().unwrap(),
        };
        assert_eq!(
            e.to_string(),
            "ff02::1 is link-local: it needs an interface"
        );
        assert!(matches!(e.cause(), Some(Cause::NeedsInterface { .. })));
    }

    // issue #9 — the library's hints speak in its own terms: no program's options or
    // commands (`-i`, `mcast ifaces`), which each front end adds in its own words.
    #[test]
    fn hints_name_no_program_option() {
        let g: Group = "239.1.1.1".parse().unwrap();
        let causes = [
            Cause::NoRoute { group: g },
            Cause::NeedsInterface {
                group: "ff02::1".parse().unwrap(),
            },
            Cause::IfaceDown { name: "va".into() },
            Cause::NoCarrier { name: "va".into() },
            Cause::NotMulticast { name: "lo".into() },
            Cause::NoIpv6 { name: "va".into() },
            Cause::PrivilegedPort {
                port: 500,
                first_unprivileged: 1024,
            },
        ];
        let mut hints: Vec<String> = causes.iter().map(Cause::hint).collect();
        let errnos = [
            libc::ENOBUFS,
            libc::ENODEV,
            libc::EADDRNOTAVAIL,
            libc::EADDRINUSE,
            libc::ENETUNREACH,
            libc::EPERM,
        ];
        for errno in errnos {
            let io = || io::Error::from_raw_os_error(errno);
            let dest: SocketAddr = "239.1.1.1:5000".parse().unwrap();
            for e in [
                join_err(errno),
                Error::Bind {
                    addr: dest,
                    source: io(),
                    cause: None,
                },
                Error::Send {
                    destination: dest,
                    source: io(),
                    cause: None,
                },
                Error::Connect {
                    peer: dest,
                    source: io(),
                },
            ] {
                hints.extend(e.hint());
            }
        }
        let sources: Vec<Source> = ["10.0.0.1", "10.0.0.2"].map(|s| s.parse().unwrap()).into();
        for verdict in [enobufs_verdict(&[], 1), enobufs_verdict(&sources, 2)] {
            let mut e = join_err(libc::ENOBUFS);
            if let Error::Join { verdict: v, .. } = &mut e {
                *v = Some(Box::new(verdict));
            }
            hints.extend(e.hint());
        }
        hints.extend(
            Error::Iface {
                spec: IfaceSpec::Name("x".into()),
                reason: "gone".into(),
            }
            .hint(),
        );
        assert!(hints.len() > causes.len() + 5, "{hints:#?}");
        for h in &hints {
            assert!(!h.contains("-i") && !h.contains("mcast "), "{h}");
        }
    }

    #[test]
    fn ssm_join_names_the_source() {
        let e = Error::Join {
            group: "232.1.1.1".parse().unwrap(),
            ssm_source: Some("10.0.0.1".parse().unwrap()),
            iface: IfaceSpec::Index(3),
            source: io::Error::from_raw_os_error(libc::EINVAL),
            cause: None,
            verdict: None,
        };
        assert!(e
            .to_string()
            .contains("232.1.1.1 from source 10.0.0.1 on interface #3"));
    }
}
