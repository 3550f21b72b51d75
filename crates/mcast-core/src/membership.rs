//! The join policy as a queue the adapter drains (after smoltcp's multicast group
//! state): no sockets and no errno values here, so the "spread joins over
//! several sockets" policy is testable without root.
//!
//! Linux refuses more than `net.ipv4.igmp_max_memberships` (20 by default) group memberships
//! per IPv4 socket with `ENOBUFS`. [`Membership`] hands out [`MembershipOp`]s, each naming the
//! socket (0, 1, 2 …) it should be applied to; it moves to the next socket when the known limit
//! is reached, or when the kernel answers `ENOBUFS` on a socket that already holds groups (it
//! then learns the limit and reports [`MembershipEvent::LimitLearnt`]). All joins of one group
//! on one interface (several SSM sources) stay on one socket; a group joined on several
//! interfaces ([`Membership::join_on`]) takes a membership slot for each.
//!
//! The drive loop:
//! 1. [`Membership::join`] validates a group (and its sources) and queues it;
//! 2. [`Membership::poll_op`] hands out the next request, one at a time;
//! 3. the adapter opens socket [`MembershipOp::socket`] if it is new, applies the setsockopt,
//!    and maps the answer's errno to an [`OsErrorKind`];
//! 4. [`Membership::handle_op_result`] records the outcome: `Ok(())`, or a [`JoinVerdict`] when
//!    the join cannot succeed (with [`JoinVerdict::hint`] naming the sysctl to raise);
//! 5. repeat from 2 until `poll_op` returns `None`, and drain [`Membership::poll_event`].
//!
//! 25 groups with a limit of 20 take two sockets:
//!
//! ```
//! use mcast_core::addr::Group;
//! use mcast_core::membership::{Membership, OsErrorKind};
//! let mut m = Membership::new(Some(20));
//! for i in 1..=25u8 {
//!     let group: Group = format!("239.1.0.{i}").parse()?;
//!     m.join(group, &[])?;
//! }
//! // A fake kernel that takes every join: the adapter would call setsockopt on socket `op.socket`.
//! let mut sockets = 0;
//! while let Some(op) = m.poll_op() {
//!     sockets = sockets.max(op.socket + 1);
//!     m.handle_op_result(&op, Ok::<(), OsErrorKind>(()))?;
//! }
//! assert_eq!(sockets, 2);
//! assert_eq!(m.groups_per_socket(), &[20, 5]);
//! assert_eq!(m.poll_event(), None);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::collections::VecDeque;

use crate::addr::{Group, Source};

/// How the operating system answered a membership request, as the policy needs to know it.
///
/// The adapter maps `errno` to this (mcast-core never depends on libc).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, thiserror::Error)]
#[non_exhaustive]
pub enum OsErrorKind {
    /// `ENOBUFS`: the socket's membership (or source filter) table is full.
    #[error("no buffer space (ENOBUFS)")]
    NoBuffers,
    /// `ENODEV`: no such interface, or it is down.
    #[error("no such device (ENODEV)")]
    NoDevice,
    /// `EADDRNOTAVAIL`: the interface address is not on this host.
    #[error("address not available (EADDRNOTAVAIL)")]
    AddrNotAvailable,
    /// `EADDRINUSE`: the socket already holds this membership.
    #[error("already joined (EADDRINUSE)")]
    AddrInUse,
    /// Any other failure, with its `errno` when it had one.
    #[error("os error {}", .0.map_or_else(|| "without errno".into(), |e| e.to_string()))]
    Other(Option<i32>),
}

/// One membership request for the adapter to apply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MembershipOp {
    /// Which socket (0-based); the adapter opens socket `n` when it first sees it.
    pub socket: usize,
    /// The group.
    pub group: Group,
    /// The source, for a source-specific join.
    pub source: Option<Source>,
    /// Whether this is the group's first join on the socket and interface (it takes a
    /// membership slot).
    pub first_of_group: bool,
    /// Which of the adapter's interfaces to join on, as given to [`Membership::join_on`]
    /// (0 for [`Membership::join`]).
    pub iface: usize,
}

/// Why [`Membership::join`] refused to queue a group.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum JoinError {
    /// A source is of the other address family than its group.
    #[error("source {source_addr} and group {group} are of different address families")]
    SourceFamily {
        /// The group.
        group: Group,
        /// The source.
        source_addr: Source,
    },
    /// The group is of the other address family than the groups queued before: one
    /// [`Membership`] serves sockets of one family.
    #[error("group {group} and group {first} are of different address families")]
    MixedFamilies {
        /// The first group queued, which fixes the family.
        first: Group,
        /// The group refused.
        group: Group,
    },
}

/// Which kernel limit an `ENOBUFS` ran into.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum KernelLimit {
    /// Group memberships per socket (`net.ipv4.igmp_max_memberships` for IPv4).
    Memberships,
    /// Sources per group and socket (`net.ipv4.igmp_max_msf`, `net.ipv6.mld_max_msf`).
    SourceFilter,
}

impl KernelLimit {
    /// The sysctl that sets this limit for `group`'s family, when one is known.
    pub fn sysctl(self, group: Group) -> Option<&'static str> {
        match (self, group.is_ipv4()) {
            (Self::Memberships, true) => Some("net.ipv4.igmp_max_memberships"),
            (Self::Memberships, false) => None,
            (Self::SourceFilter, true) => Some("net.ipv4.igmp_max_msf"),
            (Self::SourceFilter, false) => Some("net.ipv6.mld_max_msf"),
        }
    }
}

/// Why the policy gave up on a join (the group is dropped from the queue).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum JoinVerdict {
    /// The kernel refused the join for another reason than a full socket.
    #[error("cannot join {}: {error}", op.group)]
    Failed {
        /// The request refused.
        op: MembershipOp,
        /// What the kernel said.
        error: OsErrorKind,
    },
    /// `ENOBUFS` that more sockets will not cure: on a socket holding no group, or for a
    /// further source of a group already joined.
    #[error("cannot join {}: no buffer space (ENOBUFS) on socket {}", op.group, op.socket)]
    NoBuffers {
        /// The request refused.
        op: MembershipOp,
        /// The limit it ran into.
        limit: KernelLimit,
    },
}

impl JoinVerdict {
    /// The request refused.
    pub fn op(&self) -> &MembershipOp {
        match self {
            Self::Failed { op, .. } | Self::NoBuffers { op, .. } => op,
        }
    }

    /// A one-line hint naming the sysctl to raise, for an `ENOBUFS` verdict.
    pub fn hint(&self) -> Option<String> {
        match self {
            Self::Failed { .. } => None,
            Self::NoBuffers { op, limit } => limit.sysctl(op.group).map(|name| match limit {
                KernelLimit::Memberships => {
                    format!("a socket holds at most {name} groups: raise it with `sysctl -w {name}=N`")
                }
                KernelLimit::SourceFilter => {
                    format!("a group holds at most {name} sources per socket: raise it with `sysctl -w {name}=N`")
                }
            }),
        }
    }
}

/// What the policy learnt on the way, for the adapter to log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum MembershipEvent {
    /// `ENOBUFS` on a socket holding `limit` groups: the per-socket limit (for IPv4,
    /// `net.ipv4.igmp_max_memberships`) is `limit`, and further groups go to new sockets.
    LimitLearnt {
        /// The socket that filled up.
        socket: usize,
        /// The per-socket limit now in force.
        limit: usize,
    },
}

#[derive(Debug, Clone)]
struct Pending {
    group: Group,
    iface: usize,
    sources: Vec<Source>,
    /// How many joins of the group succeeded; the first one took a membership slot.
    next_source: usize,
}

/// The join queue: groups go in with [`Membership::join`], [`MembershipOp`]s come out of
/// [`Membership::poll_op`], results go back with [`Membership::handle_op_result`].
#[derive(Debug, Clone)]
pub struct Membership {
    limit: Option<usize>,
    first: Option<Group>,
    queue: VecDeque<Pending>,
    in_flight: Option<MembershipOp>,
    per_socket: Vec<usize>,
    events: VecDeque<MembershipEvent>,
}

impl Membership {
    /// An empty queue; `limit` is the per-socket membership limit when known
    /// (`igmp_max_memberships` for IPv4, `None` for IPv6, which has no such limit). A limit of
    /// 0 counts as unknown.
    pub fn new(limit: Option<usize>) -> Self {
        Self {
            limit: limit.filter(|&n| n > 0),
            first: None,
            queue: VecDeque::new(),
            in_flight: None,
            per_socket: vec![0],
            events: VecDeque::new(),
        }
    }

    /// A queue that goes on where an earlier one stopped: socket `i` already holds
    /// `groups_per_socket[i]` groups. New groups go on the last socket until it holds `limit`,
    /// then on new sockets, as with [`Membership::new`]: for groups joined after the sockets
    /// were set up. An empty `groups_per_socket` is one empty socket.
    ///
    /// ```
    /// use mcast_core::addr::Group;
    /// use mcast_core::membership::{Membership, OsErrorKind};
    /// // Two sockets, the second holding 19 of 20 groups: the 20th fills it, the 21st opens a third.
    /// let mut m = Membership::resume(Some(20), &[20, 19]);
    /// for g in ["239.1.1.20", "239.1.1.21"] {
    ///     m.join(g.parse::<Group>()?, &[])?;
    /// }
    /// let mut sockets = Vec::new();
    /// while let Some(op) = m.poll_op() {
    ///     sockets.push(op.socket);
    ///     m.handle_op_result(&op, Ok::<(), OsErrorKind>(()))?;
    /// }
    /// assert_eq!(sockets, [1, 2]);
    /// assert_eq!(m.groups_per_socket(), &[20, 20, 1]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn resume(limit: Option<usize>, groups_per_socket: &[usize]) -> Self {
        let mut m = Self::new(limit);
        if !groups_per_socket.is_empty() {
            m.per_socket = groups_per_socket.to_vec();
        }
        m
    }

    /// Queues a group, any-source when `sources` is empty, else one join per source.
    ///
    /// Only validates and queues: nothing is applied before [`Membership::poll_op`] hands it
    /// out. A group queued twice is joined twice (the kernel answers `EADDRINUSE`).
    pub fn join(&mut self, group: Group, sources: &[Source]) -> Result<(), JoinError> {
        self.join_on(group, sources, 0)
    }

    /// Queues a group on the adapter's interface number `iface`, as [`Membership::join`] does
    /// on interface 0: for a receiver joined on several interfaces. The kernel counts a group
    /// once per interface against the per-socket limit, and so does the policy: each
    /// (group, interface) takes a membership slot.
    ///
    /// ```
    /// use mcast_core::addr::Group;
    /// use mcast_core::membership::{Membership, OsErrorKind};
    /// // Two groups on two interfaces are four memberships: with 3 per socket, two sockets.
    /// let mut m = Membership::new(Some(3));
    /// for g in ["239.1.1.1", "239.1.1.2"] {
    ///     for iface in 0..2 {
    ///         m.join_on(g.parse::<Group>()?, &[], iface)?;
    ///     }
    /// }
    /// let mut ops = Vec::new();
    /// while let Some(op) = m.poll_op() {
    ///     ops.push((op.socket, op.iface));
    ///     m.handle_op_result(&op, Ok::<(), OsErrorKind>(()))?;
    /// }
    /// assert_eq!(ops, [(0, 0), (0, 1), (0, 0), (1, 1)]);
    /// assert_eq!(m.groups_per_socket(), &[3, 1]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn join_on(
        &mut self,
        group: Group,
        sources: &[Source],
        iface: usize,
    ) -> Result<(), JoinError> {
        if let Some(source_addr) = sources.iter().find(|&&s| group.check_source(s).is_err()) {
            return Err(JoinError::SourceFamily {
                group,
                source_addr: *source_addr,
            });
        }
        let first = *self.first.get_or_insert(group);
        if group.check_same_family(first).is_err() {
            return Err(JoinError::MixedFamilies { first, group });
        }
        self.queue.push_back(Pending {
            group,
            iface,
            sources: sources.to_vec(),
            next_source: 0,
        });
        Ok(())
    }

    /// The next membership request to apply.
    ///
    /// # When to call
    /// - after [`Membership::join`];
    /// - after [`Membership::handle_op_result`], whatever it returned.
    ///
    /// Returns `None` while a request is in flight or when the queue is empty.
    #[must_use]
    pub fn poll_op(&mut self) -> Option<MembershipOp> {
        if self.in_flight.is_some() {
            return None;
        }
        let p = self.queue.front()?;
        let first_of_group = p.next_source == 0;
        let mut socket = self.per_socket.len() - 1;
        if first_of_group && self.limit.is_some_and(|l| self.per_socket[socket] >= l) {
            self.per_socket.push(0);
            socket += 1;
        }
        let op = MembershipOp {
            socket,
            group: p.group,
            source: p.sources.get(p.next_source).copied(),
            first_of_group,
            iface: p.iface,
        };
        self.in_flight = Some(op);
        Some(op)
    }

    /// Records how the kernel answered `op`.
    ///
    /// `ENOBUFS` ([`OsErrorKind::NoBuffers`]) on a socket that already holds groups lowers the
    /// known limit to what it holds, reports [`MembershipEvent::LimitLearnt`] and queues the
    /// join again for a new socket. Any other failure drops the group and returns the
    /// [`JoinVerdict`]. A result for another request than the one in flight is ignored.
    pub fn handle_op_result(
        &mut self,
        op: &MembershipOp,
        result: Result<(), OsErrorKind>,
    ) -> Result<(), JoinVerdict> {
        if self.in_flight.as_ref() != Some(op) {
            // Not the op we handed out: ignore, as smoltcp ignores stray replies.
            return Ok(());
        }
        self.in_flight = None;
        match result {
            Ok(()) => {
                if op.first_of_group {
                    self.per_socket[op.socket] += 1;
                }
                let Some(p) = self.queue.front_mut() else {
                    return Ok(());
                };
                p.next_source += 1;
                if p.next_source >= p.sources.len() {
                    self.queue.pop_front();
                }
                Ok(())
            }
            Err(OsErrorKind::NoBuffers) if op.first_of_group && self.per_socket[op.socket] > 0 => {
                let limit = self.per_socket[op.socket];
                self.limit = Some(limit);
                self.events.push_back(MembershipEvent::LimitLearnt {
                    socket: op.socket,
                    limit,
                });
                Ok(())
            }
            Err(OsErrorKind::NoBuffers) => {
                self.queue.pop_front();
                Err(JoinVerdict::NoBuffers {
                    op: *op,
                    limit: if op.first_of_group {
                        KernelLimit::Memberships
                    } else {
                        KernelLimit::SourceFilter
                    },
                })
            }
            Err(error) => {
                self.queue.pop_front();
                Err(JoinVerdict::Failed { op: *op, error })
            }
        }
    }

    /// The next thing the policy learnt.
    ///
    /// # When to call
    /// - after [`Membership::handle_op_result`], until it returns `None`.
    #[must_use]
    pub fn poll_event(&mut self) -> Option<MembershipEvent> {
        self.events.pop_front()
    }

    /// How many groups each socket holds so far.
    pub fn groups_per_socket(&self) -> &[usize] {
        &self.per_socket
    }

    /// The per-socket limit in force (given, or learnt from `ENOBUFS`).
    pub fn limit(&self) -> Option<usize> {
        self.limit
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn group(i: u32) -> Group {
        Group::v4(std::net::Ipv4Addr::from(0xef01_0000 + i)).unwrap()
    }

    /// A fake kernel: `limit` groups per socket, then ENOBUFS.
    fn drive(m: &mut Membership, kernel_limit: usize) -> Vec<Vec<Group>> {
        let mut sockets: Vec<Vec<Group>> = Vec::new();
        while let Some(op) = m.poll_op() {
            while sockets.len() <= op.socket {
                sockets.push(Vec::new());
            }
            let s = &mut sockets[op.socket];
            let result = if s.contains(&op.group) {
                Ok(())
            } else if s.len() >= kernel_limit {
                Err(OsErrorKind::NoBuffers)
            } else {
                s.push(op.group);
                Ok(())
            };
            m.handle_op_result(&op, result).unwrap();
        }
        sockets
    }

    #[test]
    fn known_limit_spreads_1000_groups() {
        let mut m = Membership::new(Some(20));
        for i in 0..1000 {
            m.join(group(i), &[]).unwrap();
        }
        let sockets = drive(&mut m, 20);
        assert_eq!(sockets.len(), 50);
        assert!(sockets.iter().all(|s| s.len() == 20));
        assert_eq!(m.poll_event(), None);
    }

    #[test]
    fn unknown_limit_is_learnt_from_enobufs() {
        let mut m = Membership::new(None);
        for i in 0..50 {
            m.join(group(i), &[]).unwrap();
        }
        let sockets = drive(&mut m, 20);
        assert_eq!(
            sockets.iter().map(Vec::len).collect::<Vec<_>>(),
            [20, 20, 10]
        );
        assert_eq!(m.limit(), Some(20));
        let all: Vec<Group> = sockets.concat();
        assert_eq!(all, (0..50).map(group).collect::<Vec<_>>());
        // Learnt once, on the first socket; the second socket never hit ENOBUFS.
        assert_eq!(
            m.poll_event(),
            Some(MembershipEvent::LimitLearnt {
                socket: 0,
                limit: 20
            })
        );
        assert_eq!(m.poll_event(), None);
    }

    #[test]
    fn wrong_limit_is_corrected() {
        let mut m = Membership::new(Some(30));
        for i in 0..45 {
            m.join(group(i), &[]).unwrap();
        }
        let sockets = drive(&mut m, 20);
        assert_eq!(
            sockets.iter().map(Vec::len).collect::<Vec<_>>(),
            [20, 20, 5]
        );
        assert_eq!(m.limit(), Some(20));
    }

    #[test]
    fn zero_limit_counts_as_unknown() {
        assert_eq!(Membership::new(Some(0)).limit(), None);
    }

    #[test]
    fn sources_of_a_group_stay_on_one_socket() {
        let src: Vec<Source> = (1..=3)
            .map(|i| Source::new(std::net::Ipv4Addr::new(10, 0, 0, i).into()).unwrap())
            .collect();
        let mut m = Membership::new(Some(2));
        m.join(group(1), &src).unwrap();
        m.join(group(2), &src).unwrap();
        m.join(group(3), &src).unwrap();
        let mut ops = Vec::new();
        while let Some(op) = m.poll_op() {
            ops.push(op);
            m.handle_op_result(&op, Ok(())).unwrap();
        }
        assert_eq!(ops.len(), 9);
        assert!(ops[..6].iter().all(|o| o.socket == 0));
        assert!(ops[6..]
            .iter()
            .all(|o| o.socket == 1 && o.group == group(3)));
        assert_eq!(ops.iter().filter(|o| o.first_of_group).count(), 3);
        assert_eq!(ops[1].source, Some(src[1]));
    }

    #[test]
    fn enobufs_on_an_empty_socket_is_fatal() {
        let mut m = Membership::new(None);
        m.join(group(1), &[]).unwrap();
        let op = m.poll_op().unwrap();
        let verdict = m.handle_op_result(&op, Err(OsErrorKind::NoBuffers));
        assert_eq!(
            verdict,
            Err(JoinVerdict::NoBuffers {
                op,
                limit: KernelLimit::Memberships
            })
        );
        assert_eq!(m.poll_op(), None);
        let hint = verdict.unwrap_err().hint().unwrap();
        assert!(hint.contains("net.ipv4.igmp_max_memberships"), "{hint}");
    }

    #[test]
    fn enobufs_on_a_further_source_is_fatal_and_names_max_msf() {
        let src: Vec<Source> = (1..=2)
            .map(|i| Source::new(std::net::Ipv4Addr::new(10, 0, 0, i).into()).unwrap())
            .collect();
        let mut m = Membership::new(None);
        m.join(group(1), &src).unwrap();
        m.join(group(2), &[]).unwrap();
        let op = m.poll_op().unwrap();
        m.handle_op_result(&op, Ok(())).unwrap();
        let op = m.poll_op().unwrap();
        assert!(!op.first_of_group);
        let verdict = m.handle_op_result(&op, Err(OsErrorKind::NoBuffers));
        assert_eq!(
            verdict,
            Err(JoinVerdict::NoBuffers {
                op,
                limit: KernelLimit::SourceFilter
            })
        );
        assert_eq!(verdict.unwrap_err().op(), &op);
        assert!(verdict
            .unwrap_err()
            .hint()
            .unwrap()
            .contains("net.ipv4.igmp_max_msf"));
        // The next group still gets its turn, on the same socket.
        let next = m.poll_op().unwrap();
        assert_eq!((next.group, next.socket), (group(2), 0));
    }

    #[test]
    fn one_op_in_flight_at_a_time() {
        let mut m = Membership::new(None);
        m.join(group(1), &[]).unwrap();
        m.join(group(2), &[]).unwrap();
        let op = m.poll_op().unwrap();
        assert_eq!(m.poll_op(), None);
        let stray = MembershipOp {
            group: group(9),
            ..op
        };
        assert!(m
            .handle_op_result(&stray, Err(OsErrorKind::Other(Some(1))))
            .is_ok());
        assert_eq!(m.poll_op(), None);
        m.handle_op_result(&op, Ok(())).unwrap();
        assert_eq!(m.poll_op().unwrap().group, group(2));
    }

    #[test]
    fn other_failures_are_fatal() {
        let mut m = Membership::new(None);
        m.join(group(1), &[]).unwrap();
        let op = m.poll_op().unwrap();
        let verdict = m.handle_op_result(&op, Err(OsErrorKind::NoDevice));
        assert_eq!(
            verdict,
            Err(JoinVerdict::Failed {
                op,
                error: OsErrorKind::NoDevice
            })
        );
        assert_eq!(verdict.unwrap_err().hint(), None);
        assert_eq!(
            verdict.unwrap_err().to_string(),
            "cannot join 239.1.0.1: no such device (ENODEV)"
        );
        assert_eq!(OsErrorKind::Other(Some(1)).to_string(), "os error 1",);
        assert_eq!(
            OsErrorKind::Other(None).to_string(),
            "os error without errno"
        );
    }

    #[test]
    fn join_validates_families() {
        let v6: Group = "ff3e::8000:1".parse().unwrap();
        let v4_source = Source::new(std::net::Ipv4Addr::new(10, 0, 0, 1).into()).unwrap();
        let mut m = Membership::new(None);
        assert_eq!(
            m.join(v6, &[v4_source]),
            Err(JoinError::SourceFamily {
                group: v6,
                source_addr: v4_source
            })
        );
        m.join(group(1), &[v4_source]).unwrap();
        assert_eq!(
            m.join(v6, &[]),
            Err(JoinError::MixedFamilies {
                first: group(1),
                group: v6
            })
        );
        // Refused joins queue nothing.
        let op = m.poll_op().unwrap();
        assert_eq!(op.group, group(1));
        m.handle_op_result(&op, Ok(())).unwrap();
        assert_eq!(m.poll_op(), None);
    }
}
