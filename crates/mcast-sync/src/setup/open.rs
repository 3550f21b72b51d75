//! Opening sockets: the sender, receiver and unicast configurations and the `open_*` functions that
//! build their sockets (bind, options, first joins).

use std::io;
use std::mem;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV6, UdpSocket};
use std::ops::ControlFlow;
use std::os::fd::{AsFd, BorrowedFd};
use std::sync::atomic::AtomicU8;
use std::sync::Arc;

use mcast_core::addr::{Group, Source};
use mcast_core::iface::IfaceSpec;
use mcast_core::membership::{Membership, MembershipOp};
use socket2::{SockRef, Socket};

use crate::receiver::JoinProgress;
use crate::resolve::ResolvedIface;
use crate::Error;

use super::join::{join, os_error_kind, set_multicast_if};
use super::options::{
    check_family, new_socket, opt, opt_optional, recv_hop_limit, recv_pktinfo, recv_timestamps,
    reuse_address, set_recv_buffer, setsockopt_int,
};
use super::recv::UDP_GRO;
use super::state::{SendPath, SocketState};

/// What a sender socket is built from (the [`crate::SenderBuilder`] fills it in).
#[derive(Debug, Clone)]
pub(crate) struct SenderConfig {
    pub(crate) group: Group,
    pub(crate) port: u16,
    pub(crate) iface: IfaceSpec,
    pub(crate) ttl: u32,
    pub(crate) loopback: bool,
    pub(crate) bind: Option<SocketAddr>,
    pub(crate) send_buffer: Option<usize>,
    pub(crate) send_path: SendPath,
    pub(crate) recv_timestamps: bool,
}

/// What the receiver sockets are built from (the [`crate::ReceiverBuilder`] fills it in).
#[derive(Debug, Clone)]
pub(crate) struct ReceiverConfig {
    pub(crate) port: u16,
    pub(crate) groups: Vec<Group>,
    pub(crate) iface: IfaceSpec,
    /// Interfaces to join on besides `iface` (each group is joined on every one).
    pub(crate) more_ifaces: Vec<IfaceSpec>,
    pub(crate) sources: Vec<Source>,
    pub(crate) bind: Option<IpAddr>,
    pub(crate) recv_buffer: Option<usize>,
    pub(crate) per_socket_limit: Option<usize>,
    pub(crate) gro: bool,
    pub(crate) timestamps: bool,
    pub(crate) hop_limit: bool,
}

/// What a unicast socket is built from (the [`crate::unicast::UnicastBuilder`] fills it in).
#[derive(Debug, Clone)]
pub(crate) struct UnicastConfig {
    pub(crate) peer: SocketAddr,
    pub(crate) iface: IfaceSpec,
    pub(crate) hop_limit: bool,
}

/// A unicast socket, bound and connected.
#[derive(Debug)]
pub(crate) struct OpenUnicast {
    pub(crate) socket: UdpSocket,
    pub(crate) state: SocketState,
    pub(crate) local: SocketAddr,
    pub(crate) peer: SocketAddr,
}

/// A sender socket, set up.
#[derive(Debug)]
pub(crate) struct OpenSender {
    pub(crate) socket: UdpSocket,
    pub(crate) state: SocketState,
    pub(crate) destination: SocketAddr,
}

/// The receiver sockets, set up and joined.
#[derive(Debug)]
pub(crate) struct OpenReceiver {
    pub(crate) sockets: NewestFirst<UdpSocket>,
    pub(crate) state: SocketState,
    /// How many groups each socket holds: socket 0 the first ones in the order joined, and so
    /// on (the membership policy fills the sockets one after the other).
    pub(crate) per_socket: Vec<usize>,
    /// The interfaces joined on besides the state's, resolved, in the order given.
    pub(crate) more_ifaces: Vec<ResolvedIface>,
    /// Each membership made, (group, interface number: 0 the state's, then `more_ifaces`), in
    /// the order made: `per_socket` counts these.
    pub(crate) memberships: Vec<(Group, usize)>,
    /// The per-socket membership limit in force (given, read, or learnt from `ENOBUFS`).
    pub(crate) limit: Option<usize>,
}

/// Sockets that close newest first, whenever they are dropped.
///
/// Closing a socket makes the kernel leave each of its groups, and Linux finds each
/// membership by walking the interface's list from its head, where the newest one is. Sockets
/// joined in order and closed oldest first make every leave walk the whole list: quadratic,
/// minutes at 100% CPU for 100,000 groups over 5,000 sockets, during which the process
/// cannot be stopped. Closed newest first, each leave finds its group at the head of the list
/// (the same 100,000 groups: under a second). A socket's own groups leave newest first too.
#[derive(Debug)]
pub(crate) struct NewestFirst<T>(Vec<T>);

impl<T> NewestFirst<T> {
    /// An empty list.
    pub(crate) fn new() -> Self {
        Self(Vec::new())
    }

    /// The sockets, oldest first, for an owner that takes over the closing order.
    pub(crate) fn into_vec(mut self) -> Vec<T> {
        mem::take(&mut self.0)
    }
}

impl<T> std::ops::Deref for NewestFirst<T> {
    type Target = Vec<T>;
    fn deref(&self) -> &Vec<T> {
        &self.0
    }
}

impl<T> std::ops::DerefMut for NewestFirst<T> {
    fn deref_mut(&mut self) -> &mut Vec<T> {
        &mut self.0
    }
}

impl<T> Drop for NewestFirst<T> {
    fn drop(&mut self) {
        while self.0.pop().is_some() {}
    }
}

/// Builds a sender socket: bind, TTL/hop limit, loop, outgoing interface.
pub(crate) fn open_sender(cfg: &SenderConfig) -> Result<OpenSender, Error> {
    let v6 = cfg.group.is_ipv6();
    if let Some(b) = cfg.bind {
        check_family(cfg.group, || format!("the bind address {b}"), b.is_ipv6())?;
    }
    let iface = ResolvedIface::resolve(&cfg.iface)?;
    if cfg.group.needs_interface() && iface.is_any() {
        return Err(Error::NeedsInterface { group: cfg.group });
    }
    let sock = new_socket(v6)?;
    if let Some(size) = cfg.send_buffer {
        opt("SO_SNDBUF", sock.set_send_buffer_size(size))?;
    }
    let bind = cfg.bind.unwrap_or_else(|| {
        let ip = if v6 {
            IpAddr::V6(Ipv6Addr::UNSPECIFIED)
        } else {
            IpAddr::V4(Ipv4Addr::UNSPECIFIED)
        };
        SocketAddr::new(ip, 0)
    });
    if bind.port() != 0 {
        reuse_address(&sock)?;
    }
    sock.bind(&bind.into()).map_err(|source| Error::Bind {
        addr: bind,
        cause: crate::diagnose::bind(bind, &source),
        source,
    })?;
    if cfg.recv_timestamps {
        recv_timestamps(&sock)?;
    }
    let state = SocketState {
        v6,
        iface,
        recv_buffer: None,
        multicast_all_off: false,
        kernel_drops_on: false,
        gro_on: false,
        send_path: Arc::new(AtomicU8::new(cfg.send_path as u8)),
    };
    state.set_ttl(sock.as_fd(), cfg.ttl)?;
    state.set_loopback(sock.as_fd(), cfg.loopback)?;
    if !state.iface.is_any() {
        // IPv4 by the address given (the lecture's way), else by index.
        let by_addr = match cfg.iface {
            IfaceSpec::Addr(IpAddr::V4(a)) if !v6 => Some(a),
            _ => None,
        };
        set_multicast_if(&sock, v6, cfg.group, state.iface.index, by_addr)?;
    }
    let destination = if v6 {
        let scope = if cfg.group.is_link_local() {
            state.iface.index
        } else {
            0
        };
        let g = cfg.group.as_v6().unwrap_or(Ipv6Addr::UNSPECIFIED);
        SocketAddr::V6(SocketAddrV6::new(g, cfg.port, 0, scope))
    } else {
        SocketAddr::new(cfg.group.addr(), cfg.port)
    };
    Ok(OpenSender {
        socket: sock.into(),
        state,
        destination,
    })
}

/// Builds the receiver sockets: as many as the membership limit needs, each with
/// `SO_REUSEADDR` + `SO_REUSEPORT`, multicast-all off, pktinfo and `SO_RXQ_OVFL` on, bound to
/// the port, and joined.
///
/// `progress` hears after every join how far they have come; when it breaks, the joins stop
/// there ([`Error::JoinStopped`]) and what was joined is left, newest first.
pub(crate) fn open_receiver(
    cfg: &ReceiverConfig,
    progress: &mut dyn FnMut(JoinProgress) -> ControlFlow<()>,
) -> Result<OpenReceiver, Error> {
    let first = *cfg.groups.first().ok_or(Error::NoGroups)?;
    let v6 = first.is_ipv6();
    for g in &cfg.groups {
        // The groups' rule is the core's (`Group::check_same_family`), worded as the others.
        if g.check_same_family(first).is_err() {
            check_family(first, || format!("the group {g}"), g.is_ipv6())?;
        }
    }
    for s in &cfg.sources {
        // The source-family rule is the core's (`Group::check_source`), worded as the others.
        if first.check_source(*s).is_err() {
            check_family(first, || format!("the source {s}"), s.addr().is_ipv6())?;
        }
    }
    if let Some(b) = cfg.bind {
        check_family(first, || format!("the bind address {b}"), b.is_ipv6())?;
    }
    let iface = ResolvedIface::resolve(&cfg.iface)?;
    let more_ifaces = cfg
        .more_ifaces
        .iter()
        .map(ResolvedIface::resolve)
        .collect::<Result<Vec<_>, _>>()?;
    if let Some(g) = cfg.groups.iter().find(|g| g.needs_interface()) {
        if iface.is_any() || more_ifaces.iter().any(ResolvedIface::is_any) {
            return Err(Error::NeedsInterface { group: *g });
        }
    }
    // One group on one interface: bound to the group, as the lecture does (a link-local IPv6
    // group with the interface as its scope); else to the unspecified address.
    let bind_ip = cfg
        .bind
        .unwrap_or(match (cfg.groups.len() + more_ifaces.len(), v6) {
            (1, _) => first.addr(),
            (_, false) => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            (_, true) => IpAddr::V6(Ipv6Addr::UNSPECIFIED),
        });
    let bind = match bind_ip {
        IpAddr::V6(a) => {
            let scoped = Group::v6(a).is_ok_and(|g| g.is_link_local()) || a.is_unicast_link_local();
            SocketAddr::V6(SocketAddrV6::new(
                a,
                cfg.port,
                0,
                if scoped { iface.index } else { 0 },
            ))
        }
        ip => SocketAddr::new(ip, cfg.port),
    };

    let limit = cfg.per_socket_limit.or(if v6 {
        None
    } else {
        crate::error::igmp_max_memberships()
    });
    let mut membership = Membership::new(limit);
    for g in &cfg.groups {
        queue_join(&mut membership, *g, &cfg.sources, &iface, &more_ifaces)?;
    }

    let rmem_max = cfg.recv_buffer.and_then(|_| crate::error::rmem_max());
    // Dropped on any early return: the groups joined so far are left newest first.
    let mut sockets: NewestFirst<Socket> = NewestFirst::new();
    let total = cfg.groups.len() * (1 + more_ifaces.len()) * cfg.sources.len().max(1);
    let mut done = 0;
    let mut state = SocketState {
        v6,
        iface,
        recv_buffer: None,
        multicast_all_off: true,
        kernel_drops_on: true,
        gro_on: cfg.gro,
        send_path: Arc::new(AtomicU8::new(SendPath::default() as u8)),
    };
    let mut memberships = Vec::new();
    drain_joins(
        &mut membership,
        &more_ifaces,
        &[],
        &mut sockets,
        &mut state,
        &mut |state| open_receiver_socket(cfg, v6, bind, rmem_max, state),
        &mut |op, sockets| {
            if op.first_of_group {
                memberships.push((op.group, op.iface));
            }
            done += 1;
            if progress(JoinProgress {
                done,
                total,
                sockets,
            })
            .is_break()
            {
                return Err(Error::JoinStopped { done, total });
            }
            Ok(())
        },
    )?;
    Ok(OpenReceiver {
        sockets: NewestFirst(
            sockets
                .into_vec()
                .into_iter()
                .map(UdpSocket::from)
                .collect(),
        ),
        state,
        per_socket: membership.groups_per_socket().to_vec(),
        limit: membership.limit(),
        more_ifaces,
        memberships,
    })
}

/// Queues `group` (from each of `sources`) on `iface` and on each of `more_ifaces`, as
/// interfaces 0, 1, 2 ... of the core's policy.
pub(crate) fn queue_join(
    membership: &mut Membership,
    group: Group,
    sources: &[Source],
    iface: &ResolvedIface,
    more_ifaces: &[ResolvedIface],
) -> Result<(), Error> {
    for (k, on) in std::iter::once(iface).chain(more_ifaces).enumerate() {
        // The family checks before leave the core no family to refuse (`MixedFamilies`,
        // `SourceFamily`); `JoinError` may grow, and a refusal we do not know yet is still a
        // refused join.
        membership
            .join_on(group, sources, k)
            .map_err(|refusal| Error::Join {
                group,
                ssm_source: None,
                iface: on.spec.clone(),
                source: io::Error::new(io::ErrorKind::InvalidInput, refusal),
                cause: None,
                verdict: None,
            })?;
    }
    Ok(())
}

/// Drains the core's membership queue into joins: socket `k` of an op is `existing[k]`, or
/// past those, `added[k - existing.len()]`, which `open` opens when an op first names it;
/// interface 0 of an op is the state's, interface `i` `more_ifaces[i - 1]`. `joined` hears
/// after every join which it was and how many sockets there are; an error from it stops the
/// joins. A join the policy gives up on is [`Error::Join`] with the policy's verdict.
pub(crate) fn drain_joins(
    membership: &mut Membership,
    more_ifaces: &[ResolvedIface],
    existing: &[BorrowedFd<'_>],
    added: &mut NewestFirst<Socket>,
    state: &mut SocketState,
    open: &mut dyn FnMut(&mut SocketState) -> Result<Socket, Error>,
    joined: &mut dyn FnMut(&MembershipOp, usize) -> Result<(), Error>,
) -> Result<(), Error> {
    while let Some(op) = membership.poll_op() {
        while existing.len() + added.len() <= op.socket {
            added.push(open(state)?);
        }
        let iface = match op.iface.checked_sub(1) {
            None => &state.iface,
            Some(i) => &more_ifaces[i],
        };
        let result = match op.socket.checked_sub(existing.len()) {
            None => join(
                &SockRef::from(&existing[op.socket]),
                op.group,
                op.source,
                iface,
            ),
            Some(k) => join(&added[k], op.group, op.source, iface),
        };
        let outcome = result.as_ref().map(|_| ()).map_err(os_error_kind);
        match (membership.handle_op_result(&op, outcome), result) {
            (Ok(()), Ok(())) => joined(&op, existing.len() + added.len())?,
            // ENOBUFS taught the policy the limit: the join goes again on a new socket.
            (Ok(()), Err(_)) => {}
            (Err(verdict), Err(source)) => {
                return Err(Error::Join {
                    group: op.group,
                    ssm_source: op.source,
                    iface: iface.spec.clone(),
                    cause: crate::diagnose::route_or_iface(op.group, iface, &source),
                    source,
                    verdict: Some(Box::new(verdict)),
                })
            }
            // A verdict is only ever given for an error.
            (Err(_), Ok(())) => {}
        }
    }
    Ok(())
}

pub(crate) fn open_receiver_socket(
    cfg: &ReceiverConfig,
    v6: bool,
    bind: SocketAddr,
    rmem_max: Option<usize>,
    state: &mut SocketState,
) -> Result<Socket, Error> {
    let sock = new_socket(v6)?;
    reuse_address(&sock)?;
    opt("SO_REUSEPORT", sock.set_reuse_port(true))?;
    let all_off = if v6 {
        opt_optional("IPV6_MULTICAST_ALL", sock.set_multicast_all_v6(false))?
    } else {
        opt_optional("IP_MULTICAST_ALL", sock.set_multicast_all_v4(false))?
    };
    state.multicast_all_off &= all_off;
    recv_pktinfo(&sock, v6)?;
    state.kernel_drops_on &= opt_optional(
        "SO_RXQ_OVFL",
        setsockopt_int(&sock, libc::SOL_SOCKET, libc::SO_RXQ_OVFL, 1),
    )?;
    if cfg.gro {
        state.gro_on &= opt_optional("UDP_GRO", setsockopt_int(&sock, libc::SOL_UDP, UDP_GRO, 1))?;
    }
    if cfg.hop_limit {
        recv_hop_limit(&sock, v6)?;
    }
    if cfg.timestamps {
        recv_timestamps(&sock)?;
    }
    if let Some(size) = cfg.recv_buffer {
        let report = set_recv_buffer(&sock, size, rmem_max)?;
        // The state reports the smallest grant of all the sockets.
        state.recv_buffer = match state.recv_buffer {
            Some(r) if r.granted <= report.granted => Some(r),
            _ => Some(report),
        };
    }
    sock.bind(&bind.into()).map_err(|source| Error::Bind {
        addr: bind,
        cause: crate::diagnose::bind(bind, &source),
        source,
    })?;
    Ok(sock)
}

/// Builds a unicast socket for a request/response exchange with one peer (an ssmping server,
/// say): `SO_REUSEADDR` (so that a receiver may bind a group to the same port), pktinfo on,
/// the TTL / hop limit on when asked, bound to the interface's address when one is named, then
/// connected to the peer, which fixes the local address and port.
///
/// With an interface, an IPv4 socket binds its IPv4 address; an IPv6 one binds the interface's
/// link-local address for a link-local peer (whose scope becomes the interface) and its first
/// other address otherwise. Without one, `connect` lets the route choose.
pub(crate) fn open_unicast(cfg: &UnicastConfig) -> Result<OpenUnicast, Error> {
    let v6 = cfg.peer.is_ipv6();
    let iface = ResolvedIface::resolve(&cfg.iface)?;
    let mut peer = cfg.peer;
    let bind = match (&cfg.iface, peer) {
        (IfaceSpec::Any, _) => None,
        (IfaceSpec::Addr(ip), _) => Some(*ip),
        (_, SocketAddr::V4(_)) if iface.v4.is_unspecified() => {
            return Err(Error::Iface {
                spec: cfg.iface.clone(),
                reason: "it has no IPv4 address to send from".into(),
            })
        }
        (_, SocketAddr::V4(_)) => Some(IpAddr::V4(iface.v4)),
        (_, SocketAddr::V6(p)) => {
            let link_local = p.ip().is_unicast_link_local();
            let addrs = crate::ifaces::list().map_err(|e| Error::Iface {
                spec: cfg.iface.clone(),
                reason: e.to_string(),
            })?;
            let found = addrs
                .iter()
                .filter(|i| i.index == iface.index)
                .flat_map(|i| &i.addrs)
                .find_map(|a| match a.addr {
                    IpAddr::V6(a) if a.is_unicast_link_local() == link_local => Some(a),
                    _ => None,
                });
            let Some(found) = found else {
                return Err(Error::Iface {
                    spec: cfg.iface.clone(),
                    reason: format!(
                        "it has no {}IPv6 address to send from",
                        if link_local {
                            "link-local "
                        } else {
                            "non-link-local "
                        }
                    ),
                });
            };
            Some(IpAddr::V6(found))
        }
    };
    if let SocketAddr::V6(p) = &mut peer {
        if p.ip().is_unicast_link_local() && p.scope_id() == 0 {
            p.set_scope_id(iface.index);
        }
    }
    let sock = new_socket(v6)?;
    reuse_address(&sock)?;
    recv_pktinfo(&sock, v6)?;
    if cfg.hop_limit {
        recv_hop_limit(&sock, v6)?;
    }
    if let Some(ip) = bind {
        let addr = match (ip, peer) {
            (IpAddr::V6(a), SocketAddr::V6(p)) if a.is_unicast_link_local() => {
                SocketAddr::V6(SocketAddrV6::new(a, 0, 0, p.scope_id()))
            }
            (ip, _) => SocketAddr::new(ip, 0),
        };
        if addr.is_ipv6() != v6 {
            return Err(Error::Iface {
                spec: cfg.iface.clone(),
                reason: format!("its address {ip} is not of the peer {peer}'s address family"),
            });
        }
        sock.bind(&addr.into()).map_err(|source| Error::Bind {
            addr,
            cause: crate::diagnose::bind(addr, &source),
            source,
        })?;
    }
    sock.connect(&peer.into())
        .map_err(|source| Error::Connect { peer, source })?;
    let local = sock
        .local_addr()
        .and_then(|a| {
            a.as_socket()
                .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "not an IP address"))
        })
        .map_err(|source| Error::Io {
            context: "cannot read the local address",
            source,
        })?;
    // Without a named interface, the one the route chose: the one holding the local address.
    let iface = if cfg.iface.is_any() {
        ResolvedIface::resolve(&IfaceSpec::Addr(local.ip())).unwrap_or(iface)
    } else {
        iface
    };
    Ok(OpenUnicast {
        socket: sock.into(),
        state: SocketState {
            v6,
            iface,
            recv_buffer: None,
            multicast_all_off: false,
            kernel_drops_on: false,
            gro_on: false,
            send_path: Arc::new(AtomicU8::new(SendPath::Single as u8)),
        },
        local,
        peer,
    })
}
