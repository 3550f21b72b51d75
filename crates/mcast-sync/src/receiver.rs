//! The blocking multicast receiver, over one socket or, for many groups, several.

use std::io;
use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::ops::ControlFlow;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd};
use std::time::{Duration, Instant};

use mcast_core::addr::{Group, Source};
use mcast_core::iface::IfaceSpec;
use mcast_core::RecvMeta;

use socket2::SockRef;

use crate::link::Rejoined;
use crate::resolve::ResolvedIface;
use crate::setup::{self, NewestFirst, ReceiverConfig, RecvBatch, RecvBufferReport, SocketState};
use crate::Error;

/// Options for a [`Receiver`]: port, groups, interface, SSM sources, buffer, timeout.
///
/// ```no_run
/// use mcast_sync::Receiver;
/// let mut rx = Receiver::builder(50001)
///     .group("224.1.1.5".parse()?)
///     .group("234.3.2.1".parse()?)
///     .iface("192.168.56.3".parse()?)
///     .build()?;
/// let mut buf = [0u8; 2048];
/// let (n, meta) = rx.recv(&mut buf)?;
/// println!("{n} bytes to {:?} from {}", meta.destination, meta.source);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone)]
#[must_use]
pub struct ReceiverBuilder {
    cfg: ReceiverConfig,
    read_timeout: Option<Duration>,
}

impl ReceiverBuilder {
    /// Adds a group to join.
    pub fn group(mut self, group: Group) -> Self {
        self.cfg.groups.push(group);
        self
    }

    /// Adds groups to join (e.g. a `GroupRange::iter()`).
    pub fn groups(mut self, groups: impl IntoIterator<Item = Group>) -> Self {
        self.cfg.groups.extend(groups);
        self
    }

    /// The interface to join on: by IPv4 address (`ip_mreq`, the lecture's way), by name or
    /// index (`ip_mreqn`/`ipv6_mreq`/`group_source_req` with the index), or [`IfaceSpec::Any`]
    /// (the default) for the kernel's choice.
    ///
    /// For the same groups on several interfaces, see [`ReceiverBuilder::ifaces`].
    pub fn iface(mut self, iface: IfaceSpec) -> Self {
        self.cfg.iface = iface;
        self.cfg.more_ifaces.clear();
        self
    }

    /// The interfaces to join on, each named as for [`ReceiverBuilder::iface`]: every group is
    /// joined on every one of them, so that its datagrams arrive from each (the first is the
    /// receiver's [`iface`](Receiver::iface); all are [`ifaces`](Receiver::ifaces)). The
    /// kernel counts a group once per interface against the per-socket limit, and so does the
    /// membership policy. With more than one interface the sockets bind the unspecified address
    /// unless [`bind_addr`](ReceiverBuilder::bind_addr) says otherwise. No interface at all is
    /// [`IfaceSpec::Any`].
    ///
    /// ```no_run
    /// use mcast_sync::Receiver;
    /// let rx = Receiver::builder(50001)
    ///     .group("224.1.1.5".parse()?)
    ///     .ifaces(["eth0".parse()?, "eth1".parse()?])
    ///     .build()?;
    /// assert_eq!(rx.ifaces().count(), 2);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn ifaces(mut self, ifaces: impl IntoIterator<Item = IfaceSpec>) -> Self {
        let mut ifaces = ifaces.into_iter();
        self.cfg.iface = ifaces.next().unwrap_or_default();
        self.cfg.more_ifaces = ifaces.collect();
        self
    }

    /// Adds a source: every group is then joined source-specifically (IGMPv3/MLDv2), once per
    /// source. Without sources the joins are any-source.
    pub fn source(mut self, source: Source) -> Self {
        self.cfg.sources.push(source);
        self
    }

    /// Adds sources (see [`ReceiverBuilder::source`]).
    pub fn sources(mut self, sources: impl IntoIterator<Item = Source>) -> Self {
        self.cfg.sources.extend(sources);
        self
    }

    /// The local address to bind. By default the group itself when there is exactly one group
    /// (as the lecture binds `(group, port)`), else `0.0.0.0` / `::`.
    pub fn bind_addr(mut self, addr: IpAddr) -> Self {
        self.cfg.bind = Some(addr);
        self
    }

    /// Asks for a receive buffer of this many bytes per socket (`SO_RCVBUF`, and
    /// `SO_RCVBUFFORCE` when `net.core.rmem_max` caps the request and the process may pass the
    /// cap); see [`Receiver::recv_buffer_report`] for what the kernel granted.
    pub fn recv_buffer_size(mut self, bytes: usize) -> Self {
        self.cfg.recv_buffer = Some(bytes);
        self
    }

    /// How long [`Receiver::recv`] waits before [`Error::TimedOut`] (default: forever).
    pub fn read_timeout(mut self, timeout: Option<Duration>) -> Self {
        self.read_timeout = timeout;
        self
    }

    /// Asks the kernel for each datagram's receive time (`SO_TIMESTAMPNS`), reported as
    /// [`RecvMeta::timestamp_ns`](mcast_core::RecvMeta::timestamp_ns): round trips and delays
    /// measured from it leave out the receiving process's wake-up. A kernel without it is not
    /// an error.
    pub fn timestamps(mut self, on: bool) -> Self {
        self.cfg.timestamps = on;
        self
    }

    /// Asks the kernel to hand over runs of same-size datagrams from one sender as one buffer
    /// (`UDP_GRO`): a GSO sender's batches then reach the receiver whole instead of being cut
    /// into datagrams for it, which is several times cheaper at high rates. Use it with
    /// [`Receiver::recv_batch`] and [`RecvBatch::datagrams`](crate::RecvBatch::datagrams), which
    /// cuts the runs back into datagrams ([`Receiver::recv`] hands over a run as it came, with
    /// [`RecvMeta::segment_size`](mcast_core::RecvMeta::segment_size) set). A kernel without
    /// `UDP_GRO` is not an error: datagrams then come one by one.
    pub fn gro(mut self, on: bool) -> Self {
        self.cfg.gro = on;
        self
    }

    /// Asks for each datagram's TTL (IPv4, `IP_RECVTTL`) or hop limit (IPv6,
    /// `IPV6_RECVHOPLIMIT`), reported in
    /// [`RecvMeta::hop_limit`](mcast_core::RecvMeta::hop_limit) (default off): how many routers
    /// a datagram crossed, when the sender's initial value is known.
    pub fn recv_hop_limit(mut self, on: bool) -> Self {
        self.cfg.hop_limit = on;
        self
    }

    /// Overrides the per-socket membership limit (default: IPv4 reads
    /// `/proc/sys/net/ipv4/igmp_max_memberships`; either way `ENOBUFS` opens a further socket).
    pub fn groups_per_socket(mut self, limit: usize) -> Self {
        self.cfg.per_socket_limit = Some(limit);
        self
    }

    /// The groups so far.
    pub fn group_list(&self) -> &[Group] {
        &self.cfg.groups
    }

    /// The port.
    pub fn port(&self) -> u16 {
        self.cfg.port
    }

    /// The read timeout so far.
    pub fn timeout(&self) -> Option<Duration> {
        self.read_timeout
    }

    /// Opens the sockets, sets them up and joins every group. When this returns, every join
    /// is done.
    pub fn build(self) -> Result<Receiver, Error> {
        self.build_with_progress(|_| ControlFlow::Continue(()))
    }

    /// [`build`](Self::build), telling `progress` after every join how far the joins have
    /// come, so a caller can show progress on a long range or stop it. When `progress`
    /// breaks, the joins stop there, the groups joined so far are left again, and the result
    /// is [`Error::JoinStopped`].
    ///
    /// ```no_run
    /// use std::ops::ControlFlow;
    /// use mcast_sync::Receiver;
    /// let range: mcast_core::addr::GroupRange = "239.1.0.1+50000".parse()?;
    /// let rx = Receiver::builder(5000)
    ///     .groups(range.iter())
    ///     .iface("127.0.0.1".parse()?)
    ///     .build_with_progress(|p| {
    ///         if p.done % 10_000 == 0 {
    ///             eprintln!("joined {} of {} on {} sockets", p.done, p.total, p.sockets);
    ///         }
    ///         ControlFlow::Continue(())
    ///     })?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn build_with_progress(
        self,
        mut progress: impl FnMut(JoinProgress) -> ControlFlow<()>,
    ) -> Result<Receiver, Error> {
        let open = setup::open_receiver(&self.cfg, &mut progress)?;
        let pollfds = open
            .sockets
            .iter()
            .map(|s| libc::pollfd {
                fd: s.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            })
            .collect();
        Ok(Receiver {
            drops: vec![0; open.sockets.len()],
            sockets: open.sockets,
            joined: Joined {
                state: open.state,
                sources: self.cfg.sources.clone(),
                port: self.cfg.port,
                per_socket: open.per_socket,
                limit: open.limit,
                more_ifaces: open.more_ifaces,
                memberships: open.memberships,
                cfg: ReceiverConfig {
                    groups: Vec::new(),
                    ..self.cfg
                },
                groups: self.cfg.groups,
            },
            timeout: self.read_timeout,
            next: 0,
            pollfds,
        })
    }
}

/// How far the joins of [`ReceiverBuilder::build_with_progress`] have come.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct JoinProgress {
    /// Joins done: one per group, or one per group and source for source-specific joins.
    pub done: usize,
    /// Joins to do in all.
    pub total: usize,
    /// Sockets opened so far (one per `igmp_max_memberships` groups for IPv4).
    pub sockets: usize,
}

/// What a receiver joined: its groups, SSM sources and port, and the socket state (with the
/// resolved interface) that every one of its sockets shares. The blocking [`Receiver`] and
/// mcast-async's receiver both hold one and answer their accessors from it.
#[derive(Debug, Clone)]
pub struct Joined {
    state: SocketState,
    groups: Vec<Group>,
    sources: Vec<Source>,
    port: u16,
    /// How many of `memberships`, in order, each socket holds.
    per_socket: Vec<usize>,
    /// The interfaces joined on besides the state's.
    more_ifaces: Vec<ResolvedIface>,
    /// Each membership, (group, interface number: 0 the state's, `i` `more_ifaces[i - 1]`), in
    /// the order the sockets took them.
    memberships: Vec<(Group, usize)>,
    /// The per-socket membership limit in force.
    limit: Option<usize>,
    /// What the sockets were built from (without the groups), to build more for later joins.
    cfg: ReceiverConfig,
}

impl Joined {
    /// The socket state shared by the receiver's sockets (what [`SocketState::recv`] needs).
    pub fn state(&self) -> &SocketState {
        &self.state
    }

    /// The groups joined.
    pub fn groups(&self) -> &[Group] {
        &self.groups
    }

    /// The SSM sources joined (empty: any source).
    pub fn sources(&self) -> &[Source] {
        &self.sources
    }

    /// The port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The interface joined on, resolved (the first, when there are several).
    pub fn iface(&self) -> &ResolvedIface {
        self.state.iface()
    }

    /// Every interface joined on, resolved, the first one first.
    pub fn ifaces(&self) -> impl Iterator<Item = &ResolvedIface> + '_ {
        std::iter::once(self.state.iface()).chain(&self.more_ifaces)
    }

    /// Interface number `k` of the memberships.
    fn iface_no(&self, k: usize) -> &ResolvedIface {
        match k.checked_sub(1) {
            None => self.state.iface(),
            Some(i) => &self.more_ifaces[i],
        }
    }

    /// The receive buffer the kernel granted per socket, when one was asked for.
    pub fn recv_buffer_size(&self) -> Option<usize> {
        self.state.recv_buffer_size()
    }

    /// What came of the receive buffer request, when one was made.
    pub fn recv_buffer_report(&self) -> Option<RecvBufferReport> {
        self.state.recv_buffer_report()
    }

    /// Joins `group` on `sockets` (the receiver's, in the order it opened them): see
    /// [`Receiver::join`]. The join goes through the core's membership policy as the builder's
    /// do: on the last socket until it holds the per-socket limit, then on new sockets, set up
    /// and bound as the others, which are returned, oldest first, for the caller to keep after
    /// its own (more than one when the group goes on several interfaces and a socket fills up
    /// between them).
    ///
    /// # Errors
    ///
    /// As [`Receiver::join`].
    pub fn join<S: AsFd>(&mut self, sockets: &[S], group: Group) -> Result<Vec<UdpSocket>, Error> {
        if self.groups.contains(&group) {
            return Ok(Vec::new());
        }
        let Some(last) = sockets.last() else {
            return Err(Error::NoGroups);
        };
        setup::check_family(group, || "this receiver".into(), self.state.is_ipv6())?;
        if group.needs_interface() && self.ifaces().any(ResolvedIface::is_any) {
            return Err(Error::NeedsInterface { group });
        }
        let last = SockRef::from(last);
        let bound = last
            .local_addr()
            .and_then(|a| {
                a.as_socket()
                    .ok_or_else(|| io::Error::from(io::ErrorKind::AddrNotAvailable))
            })
            .map_err(|source| Error::Io {
                context: "cannot read the receiver's address",
                source,
            })?;
        if !bound.ip().is_unspecified() && bound.ip() != group.addr() {
            return Err(Error::BoundElsewhere {
                group,
                bound: bound.ip(),
            });
        }
        let mut membership =
            mcast_core::membership::Membership::resume(self.limit, &self.per_socket);
        setup::queue_join(
            &mut membership,
            group,
            &self.sources,
            self.state.iface(),
            &self.more_ifaces,
        )?;
        let fds: Vec<BorrowedFd<'_>> = sockets.iter().map(AsFd::as_fd).collect();
        let mut added = NewestFirst::new();
        let cfg = &self.cfg;
        let rmem_max = cfg.recv_buffer.and_then(|_| crate::error::rmem_max());
        let v6 = self.state.is_ipv6();
        let mut made = Vec::new();
        let drained = setup::drain_joins(
            &mut membership,
            &self.more_ifaces,
            &fds,
            &mut added,
            &mut self.state,
            &mut |state| setup::open_receiver_socket(cfg, v6, bound, rmem_max, state),
            &mut |op, _| {
                made.push((op.socket, op.iface));
                Ok(())
            },
        );
        if let Err(e) = drained {
            // Undo the joins this call made on the receiver's sockets before the refusal (a
            // socket opened for it leaves its joins as it closes).
            for (k, i) in made {
                if let Some(sock) = fds.get(k) {
                    let _ = setup::leave(&SockRef::from(sock), group, self.iface_no(i));
                }
            }
            return Err(e);
        }
        self.per_socket = membership.groups_per_socket().to_vec();
        self.limit = membership.limit();
        self.memberships
            .extend((0..=self.more_ifaces.len()).map(|i| (group, i)));
        self.groups.push(group);
        Ok(added.into_vec().into_iter().map(UdpSocket::from).collect())
    }

    /// Leaves `group` on the socket of `sockets` that holds it: see [`Receiver::leave`].
    ///
    /// # Errors
    ///
    /// As [`Receiver::leave`].
    pub fn leave<S: AsFd>(&mut self, sockets: &[S], group: Group) -> Result<(), Error> {
        let i = self
            .groups
            .iter()
            .position(|&g| g == group)
            .ok_or(Error::NotJoined { group })?;
        // The socket holding each membership of the group, on each interface: the policy
        // filled the sockets one after the other, in the order of `memberships`. Newest first,
        // so that the positions still to visit stay where they are.
        let sockets_of: Vec<usize> = self
            .per_socket
            .iter()
            .enumerate()
            .flat_map(|(k, &n)| std::iter::repeat_n(k, n))
            .collect();
        for m in (0..self.memberships.len()).rev() {
            let (g, on) = self.memberships[m];
            if g != group {
                continue;
            }
            let k = *sockets_of.get(m).ok_or(Error::NotJoined { group })?;
            let sock = sockets.get(k).ok_or(Error::NotJoined { group })?;
            setup::leave(&SockRef::from(sock), group, self.iface_no(on)).map_err(|source| {
                Error::Io {
                    context: "cannot leave the group",
                    source,
                }
            })?;
            self.per_socket[k] -= 1;
            self.memberships.remove(m);
        }
        self.groups.remove(i);
        Ok(())
    }

    /// Makes every membership again on the interface with index `index`, on `sockets` (the
    /// receiver's, in the order it opened them): see [`Receiver::rejoin`].
    ///
    /// # Errors
    ///
    /// As [`Receiver::rejoin`].
    pub fn rejoin<S: AsFd>(&mut self, sockets: &[S], index: u32) -> Result<Rejoined, Error> {
        if crate::ifaces::index_to_name(index).is_none() {
            return Err(Error::Iface {
                spec: IfaceSpec::Index(index),
                reason: format!("no interface with index {index} on this host"),
            });
        }
        let previous = self.state.iface().index;
        // From here on the memberships are on `index`, even if a join fails half-way: a later
        // rejoin then leaves those it made.
        self.state.set_iface_index(index);
        let mut memberships = self.memberships.iter();
        let mut done = Rejoined {
            groups: 0,
            memberships: 0,
            previous_index: previous,
            index,
        };
        // Any-source: one join per group; source-specific: one per group and source.
        let sources: Vec<Option<Source>> = if self.sources.is_empty() {
            vec![None]
        } else {
            self.sources.iter().copied().map(Some).collect()
        };
        for (sock, &count) in sockets.iter().zip(&self.per_socket) {
            let sock = SockRef::from(sock);
            setup::move_bound_device(&sock, previous, index)?;
            for &(group, on) in memberships.by_ref().take(count) {
                if on != 0 {
                    // Joined on another of the receiver's interfaces: not the one that came
                    // back.
                    continue;
                }
                if previous != 0 {
                    // The dead entries of the old index still count against the socket's
                    // membership limit; leaving one that is not there is no harm.
                    let _ = setup::leave_on_index(&sock, group, previous);
                }
                for &source in &sources {
                    setup::join_on_index(&sock, group, source, index).map_err(|e| Error::Join {
                        group,
                        ssm_source: source,
                        iface: IfaceSpec::Index(index),
                        // The interface just came back: no route or state to diagnose.
                        cause: None,
                        verdict: None,
                        source: e,
                    })?;
                    done.memberships += 1;
                }
                done.groups += 1;
            }
        }
        Ok(done)
    }
}

/// A blocking multicast receiver over one or more sockets sharing one port.
///
/// It implements neither `AsFd` nor `AsRawFd`: past the kernel's per-socket membership limit it
/// holds several sockets (see [`Receiver::socket_count`]), and one descriptor would hide the
/// others. [`Receiver::fds`] lends them all, to wait for them beside other descriptors.
#[derive(Debug)]
pub struct Receiver {
    /// Closed newest first when the receiver is dropped, so that leaving many groups stays
    /// linear (see `setup::NewestFirst`).
    sockets: NewestFirst<UdpSocket>,
    joined: Joined,
    timeout: Option<Duration>,
    next: usize,
    pollfds: Vec<libc::pollfd>,
    /// Each socket's latest cumulative `SO_RXQ_OVFL` count (0 until one is known).
    drops: Vec<u32>,
}

impl Receiver {
    /// Starts a builder for a receiver on `port`.
    pub fn builder(port: u16) -> ReceiverBuilder {
        ReceiverBuilder {
            cfg: ReceiverConfig {
                port,
                groups: Vec::new(),
                iface: IfaceSpec::Any,
                more_ifaces: Vec::new(),
                sources: Vec::new(),
                bind: None,
                recv_buffer: None,
                per_socket_limit: None,
                gro: false,
                hop_limit: false,
                timestamps: false,
            },
            read_timeout: None,
        }
    }

    /// Waits for the next datagram on any of the sockets and copies it into `buf`. Returns its
    /// length and metadata: the sender, the group it was sent to and the interface index.
    ///
    /// A datagram longer than `buf` is never cut silently: the call fails with
    /// [`Error::Truncated`] (its first `buf.len()` bytes are in `buf`, its full length in the
    /// error's metadata). A buffer of 65,535 bytes holds any UDP datagram.
    ///
    /// Returns [`Error::TimedOut`] when the read timeout passes first, and an error for which
    /// [`Error::is_interrupted`] holds when a signal arrives (so a Ctrl-C handler can stop the
    /// loop); call again to continue.
    pub fn recv(&mut self, buf: &mut [u8]) -> Result<(usize, RecvMeta), Error> {
        let deadline = self.timeout.map(|t| Instant::now() + t);
        let n = self.sockets.len();
        loop {
            // Anything already queued is returned without a poll, round-robin across sockets.
            for k in 0..n {
                let i = (self.next + k) % n;
                match self.joined.state.recv(self.sockets[i].as_fd(), buf) {
                    Ok(meta) => {
                        note_kernel_drops(&mut self.drops[i], &[meta]);
                        self.next = (i + 1) % n;
                        return whole(meta, buf.len());
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                    Err(source) => {
                        return Err(Error::Io {
                            context: "cannot receive",
                            source,
                        })
                    }
                }
            }
            self.wait(deadline)?;
        }
    }

    /// Waits for datagrams on any of the sockets and receives as many as are queued, up to
    /// the batch's capacity, with `recvmmsg` (many datagrams per system call). The batch is
    /// cleared first; on return it holds at least one datagram, with the same metadata
    /// [`Receiver::recv`] gives (sender, group, interface index). Returns how many it holds.
    ///
    /// The sockets are visited round-robin, as `recv` visits them, and the batch is filled
    /// from each in turn; datagrams of one socket keep their arrival order. Nothing is
    /// allocated: the caller owns every buffer (see [`RecvBatch`]). A datagram longer than the
    /// batch's [`RecvBatch::buf_len`] is cut to it, as `recv` cuts it to its buffer.
    ///
    /// # Errors
    ///
    /// [`Error::TimedOut`] when the read timeout passes with nothing received (the timeout is
    /// honoured exactly as by `recv`); an error for which [`Error::is_interrupted`] holds when
    /// a signal arrives while waiting; [`Error::Io`] when receiving fails before any datagram
    /// of this call arrived (a failure after some is left for the next call).
    ///
    /// ```no_run
    /// use mcast_sync::{Receiver, RecvBatch};
    /// let mut rx = Receiver::builder(50001)
    ///     .group("239.1.2.3".parse()?)
    ///     .iface("127.0.0.1".parse()?)
    ///     .build()?;
    /// let mut batch = RecvBatch::new(32, 2048);
    /// loop {
    ///     rx.recv_batch(&mut batch)?;
    ///     for (bytes, meta) in batch.iter() {
    ///         println!("{} bytes to {:?} from {}", bytes.len(), meta.destination, meta.source);
    ///     }
    /// }
    /// # #[allow(unreachable_code)]
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn recv_batch(&mut self, batch: &mut RecvBatch) -> Result<usize, Error> {
        let deadline = self.timeout.map(|t| Instant::now() + t);
        loop {
            let got = self.try_recv_batch(batch)?;
            if got > 0 {
                return Ok(got);
            }
            self.wait(deadline)?;
        }
    }

    /// As [`Receiver::recv_batch`], but without waiting: receives what is queued (the batch
    /// cleared first) and returns how many datagrams the batch holds, 0 when nothing was
    /// queued. For a caller that waits for these sockets and others at once (see
    /// [`Receiver::fds`]).
    ///
    /// # Errors
    ///
    /// [`Error::Io`] when receiving fails before any datagram of this call arrived.
    pub fn try_recv_batch(&mut self, batch: &mut RecvBatch) -> Result<usize, Error> {
        batch.clear();
        let n = self.sockets.len();
        let start = self.next;
        for k in 0..n {
            if batch.is_full() {
                break;
            }
            let i = (start + k) % n;
            let before = batch.len();
            match self.joined.state.recv_batch(self.sockets[i].as_fd(), batch) {
                Ok(_) => note_kernel_drops(&mut self.drops[i], &batch.metas()[before..]),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(_) if !batch.is_empty() => break,
                Err(source) => {
                    return Err(Error::Io {
                        context: "cannot receive",
                        source,
                    })
                }
            }
        }
        if !batch.is_empty() {
            // The next call starts at the next socket, so a busy one cannot starve the rest.
            self.next = (start + 1) % n.max(1);
        }
        Ok(batch.len())
    }

    /// The receiver's sockets, to wait for them (`poll`) beside others; receive with
    /// [`Receiver::try_recv_batch`].
    pub fn fds(&self) -> impl ExactSizeIterator<Item = BorrowedFd<'_>> + '_ {
        self.sockets.iter().map(AsFd::as_fd)
    }

    /// Waits until a socket is readable, a signal arrives, or `deadline` passes
    /// ([`Error::TimedOut`]).
    fn wait(&mut self, deadline: Option<Instant>) -> Result<(), Error> {
        let remaining = match deadline {
            Some(d) => {
                let now = Instant::now();
                if now >= d {
                    return Err(Error::TimedOut(self.timeout.unwrap_or_default()));
                }
                Some(d - now)
            }
            None => None,
        };
        for p in &mut self.pollfds {
            p.revents = 0;
        }
        // SAFETY: `pollfds` is a live array of `len()` pollfd structs whose fds we own.
        let rc = unsafe {
            libc::poll(
                self.pollfds.as_mut_ptr(),
                self.pollfds.len() as libc::nfds_t,
                setup::poll_ms(remaining),
            )
        };
        if rc < 0 {
            return Err(Error::Io {
                context: "cannot wait for datagrams",
                source: io::Error::last_os_error(),
            });
        }
        Ok(())
    }

    /// Changes the read timeout (`None`: wait forever).
    pub fn set_read_timeout(&mut self, timeout: Option<Duration>) {
        self.timeout = timeout;
    }

    /// The read timeout.
    pub fn read_timeout(&self) -> Option<Duration> {
        self.timeout
    }

    /// The groups joined.
    pub fn groups(&self) -> &[Group] {
        self.joined.groups()
    }

    /// The SSM sources joined (empty: any source).
    pub fn sources(&self) -> &[Source] {
        self.joined.sources()
    }

    /// The port.
    pub fn port(&self) -> u16 {
        self.joined.port()
    }

    /// The interface joined on, resolved (with its new index after [`Receiver::rejoin`]); the
    /// first one, when there are several.
    pub fn iface(&self) -> &ResolvedIface {
        self.joined.iface()
    }

    /// Every interface joined on, resolved, the first one first.
    pub fn ifaces(&self) -> impl Iterator<Item = &ResolvedIface> + '_ {
        self.joined.ifaces()
    }

    /// Joins `group` too, on the interface the receiver joined on (and from each of its SSM
    /// sources, when it has some), so that its datagrams arrive with the rest; a group already
    /// joined is left as it is. When this returns, the join is done.
    ///
    /// The group goes to the receiver's last socket while it holds fewer groups than the
    /// per-socket limit (`net.ipv4.igmp_max_memberships`, or the builder's
    /// [`groups_per_socket`](ReceiverBuilder::groups_per_socket)); past it, to a new socket,
    /// set up and bound as the others, as the builder spreads the groups it is given (the
    /// core's [`Membership`](mcast_core::membership::Membership) policy decides both).
    ///
    /// # Errors
    ///
    /// [`Error::BoundElsewhere`] when the sockets are bound to another address: a receiver
    /// built with one group binds to it, so one meant to take more groups later is built with
    /// [`ReceiverBuilder::bind_addr`] `0.0.0.0` (or `::`); [`Error::FamilyMismatch`] for a
    /// group of the other address family, [`Error::NeedsInterface`] for a link-local IPv6
    /// group on a receiver without an interface, [`Error::Join`] when the kernel refuses (for
    /// a source-specific join, the sources joined before the refusal are left again).
    ///
    /// ```
    /// use std::time::Duration;
    /// use mcast_sync::{Receiver, Sender};
    /// let lo: mcast_sync::core::iface::IfaceSpec = "127.0.0.1".parse()?;
    /// let (a, b) = ("239.255.43.1".parse()?, "239.255.43.2".parse()?);
    /// let mut rx = Receiver::builder(43002)
    ///     .group(a)
    ///     .iface(lo.clone())
    ///     .bind_addr("0.0.0.0".parse()?)
    ///     .read_timeout(Some(Duration::from_secs(2)))
    ///     .build()?;
    /// rx.join(b)?;
    /// assert_eq!(rx.groups(), [a, b]);
    /// Sender::builder(b, 43002).iface(lo).ttl(0).build()?.send(b"to b")?;
    /// let mut buf = [0u8; 1500];
    /// let (n, meta) = rx.recv(&mut buf)?;
    /// assert_eq!((&buf[..n], meta.destination), (&b"to b"[..], Some(b.addr())));
    /// rx.leave(a)?;
    /// assert_eq!(rx.groups(), [b]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn join(&mut self, group: Group) -> Result<(), Error> {
        for sock in self.joined.join(&self.sockets, group)? {
            self.pollfds.push(libc::pollfd {
                fd: sock.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            });
            self.drops.push(0);
            self.sockets.push(sock);
        }
        Ok(())
    }

    /// Leaves `group` (with every source it was joined from): its datagrams stop arriving
    /// once those already queued are read.
    ///
    /// # Errors
    ///
    /// [`Error::NotJoined`] when the receiver has not joined `group`; [`Error::Io`] when the
    /// kernel refuses.
    pub fn leave(&mut self, group: Group) -> Result<(), Error> {
        self.joined.leave(&self.sockets, group)
    }

    /// Makes every membership again on the interface with index `index`: for the interface
    /// the receiver joined on, deleted and created again under its name, which took the
    /// memberships along and came back with a new index (see [`crate::link`]). Each group is
    /// first left on the old index (the socket keeps a deleted interface's memberships as dead
    /// entries, and those count against `net.ipv4.igmp_max_memberships`), then joined on the
    /// new one by index (an `ip_mreqn`, `ipv6_mreq` or `group_source_req`), so the interface
    /// needs no address yet; source-specific groups are joined once per source again. Each
    /// socket keeps the groups it held. A socket bound to the old interface (an IPv6 receiver of
    /// a link-local group, bound with the interface as the group's scope) is moved to the new one
    /// first (`SO_BINDTOIFINDEX`, which the kernel allows only with `CAP_NET_RAW`). The receiver
    /// reports the new index from then on.
    ///
    /// An interface that only went down and up keeps its memberships: nothing to call then.
    /// A receiver joined on several interfaces ([`ReceiverBuilder::ifaces`]) makes again only
    /// the memberships on its first one, the one [`Receiver::iface`] reports.
    ///
    /// # Errors
    ///
    /// [`Error::Iface`] when no interface has that index (nothing is changed then);
    /// [`Error::Join`] for the first join the kernel refused, [`Error::SetOption`] when a bound
    /// socket cannot be moved: what was done before stays done, and the receiver counts its
    /// memberships as on the new index.
    pub fn rejoin(&mut self, index: u32) -> Result<Rejoined, Error> {
        self.joined.rejoin(&self.sockets, index)
    }

    /// How many sockets carry the joins (more than one past `igmp_max_memberships` groups).
    pub fn socket_count(&self) -> usize {
        self.sockets.len()
    }

    /// The receive buffer the kernel granted per socket, when one was asked for.
    pub fn recv_buffer_size(&self) -> Option<usize> {
        self.joined.recv_buffer_size()
    }

    /// What came of the receive buffer request ([`ReceiverBuilder::recv_buffer_size`]): asked,
    /// granted, `net.core.rmem_max`, and whether `SO_RCVBUFFORCE` passed the cap. `None` when
    /// no size was asked for.
    pub fn recv_buffer_report(&self) -> Option<RecvBufferReport> {
        self.joined.recv_buffer_report()
    }

    /// How many datagrams the kernel dropped because a socket's receive buffer was full, summed
    /// over the receiver's sockets (`SO_RXQ_OVFL`). Each socket's count is the cumulative one
    /// the latest datagram received from it carried, so drops after a socket's latest queued
    /// datagram show up only once the next one is received. Stays 0 on a kernel without
    /// `SO_RXQ_OVFL`.
    pub fn kernel_drops(&self) -> u64 {
        self.drops.iter().map(|&d| u64::from(d)).sum()
    }

    /// Whether the sockets take coalesced runs of datagrams (UDP GRO, asked for with
    /// [`ReceiverBuilder::gro`]; false on a kernel without it).
    pub fn gro_on(&self) -> bool {
        self.joined.state.gro_on()
    }

    /// The first socket's local address.
    pub fn local_addr(&self) -> Result<SocketAddr, Error> {
        let sock = self.sockets.first().ok_or(Error::NoGroups)?;
        sock.local_addr().map_err(|source| Error::Io {
            context: "cannot read the local address",
            source,
        })
    }

    /// The sockets (oldest first) and what they joined (with their shared state), for another
    /// runtime (mcast-async). Its owner should close them newest first, as this receiver
    /// does: leaving many groups oldest first is quadratic in the kernel.
    pub fn into_parts(self) -> (Vec<UdpSocket>, Joined) {
        (self.sockets.into_vec(), self.joined)
    }
}

/// A received datagram's length and metadata, or [`Error::Truncated`] when it was longer than
/// the `capacity` bytes of the buffer (its metadata then holds its full length, as
/// [`SocketState::recv`] reports it). Both adapters' receivers answer through it.
pub fn whole(meta: RecvMeta, capacity: usize) -> Result<(usize, RecvMeta), Error> {
    if meta.len > capacity {
        return Err(Error::Truncated {
            meta: Box::new(meta),
            capacity,
        });
    }
    Ok((meta.len, meta))
}

/// Keeps a socket's latest cumulative kernel drop count: that of the last of `metas` (datagrams
/// of that socket, in arrival order) that carries one.
fn note_kernel_drops(latest: &mut u32, metas: &[RecvMeta]) {
    if let Some(d) = metas.iter().rev().find_map(|m| m.kernel_drops) {
        *latest = d;
    }
}
