//! The join policy as a queue the adapter drains (STYLE.md guideline 7, after smoltcp's
//! multicast group state): no sockets here, so the "spread joins over several sockets" policy is
//! testable without root.
//!
//! Linux refuses more than `net.ipv4.igmp_max_memberships` (20 by default) group memberships
//! per IPv4 socket with `ENOBUFS`. [`Membership`] hands out [`JoinOp`]s, each naming the socket
//! (0, 1, 2 …) it should be applied to; it moves to the next socket when the known limit is
//! reached, or when the kernel answers `ENOBUFS` on a socket that already holds groups. All
//! joins of one group (several SSM sources) stay on one socket.
//!
//! ```
//! use mcast_sync::membership::{JoinOutcome, Membership};
//! let groups = (1..=45u8).map(|i| format!("239.1.0.{i}").parse().unwrap());
//! let mut m = Membership::new(Some(20));
//! for g in groups { m.join(g, &[]); }
//! let mut sockets = 0;
//! while let Some(op) = m.poll_op() {
//!     sockets = sockets.max(op.socket + 1);
//!     assert!(m.handle_op_result(&op, JoinOutcome::Joined).is_ok());
//! }
//! assert_eq!(sockets, 3);
//! assert_eq!(m.groups_per_socket(), &[20, 20, 5]);
//! ```

use std::collections::VecDeque;

use mcast_core::addr::{Group, Source};

/// One membership request for the adapter to apply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JoinOp {
    /// Which socket (0-based); the adapter opens socket `n` when it first sees it.
    pub socket: usize,
    /// The group.
    pub group: Group,
    /// The source, for a source-specific join.
    pub source: Option<Source>,
    /// Whether this is the group's first join on the socket (it takes a membership slot).
    pub first_of_group: bool,
}

/// How the kernel answered a [`JoinOp`], as the policy needs to know it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JoinOutcome {
    /// Joined.
    Joined,
    /// `ENOBUFS`: the socket's membership table is full.
    NoBufs,
    /// Any other failure.
    Failed,
}

/// Why the policy gave up on a join.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JoinVerdict {
    /// The kernel refused the join for another reason than a full socket.
    Failed,
    /// `ENOBUFS` that more sockets will not cure: on a socket holding no group, or for a
    /// further source of a group already joined (`net.ipv4.igmp_max_msf`).
    NoBufs,
}

#[derive(Debug, Clone)]
struct Pending {
    group: Group,
    sources: Vec<Source>,
    next_source: usize,
    started: bool,
}

/// The join queue: groups go in with [`Membership::join`], [`JoinOp`]s come out of
/// [`Membership::poll_op`], results go back with [`Membership::handle_op_result`].
#[derive(Debug, Clone)]
pub struct Membership {
    limit: Option<usize>,
    queue: VecDeque<Pending>,
    in_flight: Option<JoinOp>,
    per_socket: Vec<usize>,
}

impl Membership {
    /// An empty queue; `limit` is the per-socket membership limit when known
    /// (`igmp_max_memberships` for IPv4, `None` for IPv6, which has no such limit).
    pub fn new(limit: Option<usize>) -> Self {
        Self {
            limit: limit.filter(|&n| n > 0),
            queue: VecDeque::new(),
            in_flight: None,
            per_socket: vec![0],
        }
    }

    /// Queues a group, any-source when `sources` is empty, else one join per source.
    pub fn join(&mut self, group: Group, sources: &[Source]) {
        self.queue.push_back(Pending {
            group,
            sources: sources.to_vec(),
            next_source: 0,
            started: false,
        });
    }

    /// The next membership request to apply.
    ///
    /// # When to call
    /// - after [`Membership::join`];
    /// - after [`Membership::handle_op_result`] returned `Ok`.
    ///
    /// Returns `None` while a request is in flight or when the queue is empty.
    #[must_use]
    pub fn poll_op(&mut self) -> Option<JoinOp> {
        if self.in_flight.is_some() {
            return None;
        }
        let p = self.queue.front()?;
        let first_of_group = !p.started;
        let mut socket = self.per_socket.len() - 1;
        if first_of_group && self.limit.is_some_and(|l| self.per_socket[socket] >= l) {
            self.per_socket.push(0);
            socket += 1;
        }
        let op = JoinOp {
            socket,
            group: p.group,
            source: p.sources.get(p.next_source).copied(),
            first_of_group,
        };
        self.in_flight = Some(op);
        Some(op)
    }

    /// Records how the kernel answered `op`.
    ///
    /// `ENOBUFS` on a socket that already holds groups lowers the known limit to what it holds
    /// and queues the join again for a new socket.
    pub fn handle_op_result(
        &mut self,
        op: &JoinOp,
        outcome: JoinOutcome,
    ) -> Result<(), JoinVerdict> {
        if self.in_flight.as_ref() != Some(op) {
            // Not the op we handed out: ignore, as smoltcp ignores stray replies.
            return Ok(());
        }
        self.in_flight = None;
        match outcome {
            JoinOutcome::Joined => {
                if op.first_of_group {
                    self.per_socket[op.socket] += 1;
                }
                let Some(p) = self.queue.front_mut() else {
                    return Ok(());
                };
                p.started = true;
                p.next_source += 1;
                if p.next_source >= p.sources.len() {
                    self.queue.pop_front();
                }
                Ok(())
            }
            JoinOutcome::NoBufs if op.first_of_group && self.per_socket[op.socket] > 0 => {
                self.limit = Some(self.per_socket[op.socket]);
                Ok(())
            }
            JoinOutcome::NoBufs => {
                self.queue.pop_front();
                Err(JoinVerdict::NoBufs)
            }
            JoinOutcome::Failed => {
                self.queue.pop_front();
                Err(JoinVerdict::Failed)
            }
        }
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
            let outcome = if s.contains(&op.group) {
                JoinOutcome::Joined
            } else if s.len() >= kernel_limit {
                JoinOutcome::NoBufs
            } else {
                s.push(op.group);
                JoinOutcome::Joined
            };
            m.handle_op_result(&op, outcome).unwrap();
        }
        sockets
    }

    #[test]
    fn known_limit_spreads_1000_groups() {
        let mut m = Membership::new(Some(20));
        for i in 0..1000 {
            m.join(group(i), &[]);
        }
        let sockets = drive(&mut m, 20);
        assert_eq!(sockets.len(), 50);
        assert!(sockets.iter().all(|s| s.len() == 20));
    }

    #[test]
    fn unknown_limit_is_learnt_from_enobufs() {
        let mut m = Membership::new(None);
        for i in 0..50 {
            m.join(group(i), &[]);
        }
        let sockets = drive(&mut m, 20);
        assert_eq!(
            sockets.iter().map(Vec::len).collect::<Vec<_>>(),
            [20, 20, 10]
        );
        assert_eq!(m.limit(), Some(20));
        let all: Vec<Group> = sockets.concat();
        assert_eq!(all, (0..50).map(group).collect::<Vec<_>>());
    }

    #[test]
    fn wrong_limit_is_corrected() {
        let mut m = Membership::new(Some(30));
        for i in 0..45 {
            m.join(group(i), &[]);
        }
        let sockets = drive(&mut m, 20);
        assert_eq!(
            sockets.iter().map(Vec::len).collect::<Vec<_>>(),
            [20, 20, 5]
        );
    }

    #[test]
    fn sources_of_a_group_stay_on_one_socket() {
        let src: Vec<Source> = (1..=3)
            .map(|i| Source::new(std::net::Ipv4Addr::new(10, 0, 0, i).into()).unwrap())
            .collect();
        let mut m = Membership::new(Some(2));
        m.join(group(1), &src);
        m.join(group(2), &src);
        m.join(group(3), &src);
        let mut ops = Vec::new();
        while let Some(op) = m.poll_op() {
            ops.push(op);
            m.handle_op_result(&op, JoinOutcome::Joined).unwrap();
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
        m.join(group(1), &[]);
        let op = m.poll_op().unwrap();
        assert_eq!(
            m.handle_op_result(&op, JoinOutcome::NoBufs),
            Err(JoinVerdict::NoBufs)
        );
        assert_eq!(m.poll_op(), None);
    }

    #[test]
    fn one_op_in_flight_at_a_time() {
        let mut m = Membership::new(None);
        m.join(group(1), &[]);
        m.join(group(2), &[]);
        let op = m.poll_op().unwrap();
        assert_eq!(m.poll_op(), None);
        let stray = JoinOp {
            group: group(9),
            ..op
        };
        assert!(m.handle_op_result(&stray, JoinOutcome::Failed).is_ok());
        assert_eq!(m.poll_op(), None);
        m.handle_op_result(&op, JoinOutcome::Joined).unwrap();
        assert_eq!(m.poll_op().unwrap().group, group(2));
    }

    #[test]
    fn other_failures_are_fatal() {
        let mut m = Membership::new(None);
        m.join(group(1), &[]);
        let op = m.poll_op().unwrap();
        assert_eq!(
            m.handle_op_result(&op, JoinOutcome::Failed),
            Err(JoinVerdict::Failed)
        );
    }
}
