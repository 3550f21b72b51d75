//! The one socket-setup path shared by the blocking and the async adapter (after quinn-udp's
//! `UdpSocketState`).
//!
//! **Every socket option of mcast is set in this file** — bind, `SO_REUSEADDR`/`SO_REUSEPORT`,
//! `IP_MULTICAST_ALL`/`IPV6_MULTICAST_ALL`, `IP_PKTINFO`/`IPV6_RECVPKTINFO`, `SO_RXQ_OVFL`,
//! `IP_RECVTTL`/`IPV6_RECVHOPLIMIT`, `SO_RCVBUF`/`SO_RCVBUFFORCE`, `SO_SNDBUF`, TTL/hop limit,
//! loop, `IP_MULTICAST_IF`/`IPV6_MULTICAST_IF`, every join and the unicast socket's bind and
//! `connect` ([`crate::unicast`]) — and so are the sends (`sendto`, UDP
//! GSO with `UDP_SEGMENT`, `sendmmsg`: see [`SendPath`]) and receives (`recvmsg`, `recvmmsg`,
//! with control-message parsing) that both adapters call. mcast-async only wraps the resulting
//! `std::net::UdpSocket`s in tokio and calls [`SocketState::recv`] inside `try_io`.
//!
//! socket2 stays out of every public signature: sockets go out as `std::net::UdpSocket` and
//! come back in as [`BorrowedFd`].
//!
//! **Not a stable API.** This module is public only so that the adapters (this crate and
//! mcast-async) can share one setup path; it is their plumbing, not an interface for other
//! crates, and it may change in any release. Applications use [`crate::Sender`],
//! [`crate::Receiver`] and their builders (or mcast-async's).

use std::io;
use std::mem::{self, MaybeUninit};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6, UdpSocket};
use std::ops::ControlFlow;
use std::os::fd::{AsRawFd, BorrowedFd};
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::Arc;
use std::time::Duration;

use mcast_core::addr::{Group, Source};
use mcast_core::iface::IfaceSpec;
use mcast_core::membership::{JoinError, Membership, OsErrorKind};
use mcast_core::{mreq, RecvMeta, Transmit};
use socket2::{Domain, InterfaceIndexOrAddress, Protocol, SockAddr, SockRef, Socket, Type};

use crate::receiver::JoinProgress;
use crate::resolve::ResolvedIface;
use crate::Error;

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

/// The per-socket knowledge `send` and `recv` need, and what setup learnt (the resolved
/// interface, the receive buffer the kernel granted, which options the kernel lacks, the send
/// path in use).
#[derive(Debug, Clone)]
pub struct SocketState {
    v6: bool,
    iface: ResolvedIface,
    recv_buffer: Option<RecvBufferReport>,
    multicast_all_off: bool,
    kernel_drops_on: bool,
    gro_on: bool,
    /// A [`SendPath`] as its `u8`, shared by every clone of the state.
    send_path: Arc<AtomicU8>,
}

/// What came of a receiver's request for a receive buffer ([`crate::ReceiverBuilder::recv_buffer_size`]).
///
/// Linux grants twice the request (the other half is its bookkeeping), but caps an unprivileged
/// request at `net.core.rmem_max`, so that at most twice `rmem_max` is granted. When the grant
/// falls short of the request, setup tries `SO_RCVBUFFORCE`, which passes the cap for a process
/// with `CAP_NET_ADMIN` (root, say). Otherwise `sysctl -w net.core.rmem_max=N` raises the cap.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecvBufferReport {
    /// The bytes asked for per socket.
    pub requested: usize,
    /// The bytes the kernel granted per socket, as `SO_RCVBUF` reads back (twice what it
    /// accepted of the request). With several sockets, the smallest grant.
    pub granted: usize,
    /// `net.core.rmem_max` when setup asked, if `/proc/sys/net/core/rmem_max` was readable.
    pub rmem_max: Option<usize>,
    /// Whether `SO_RCVBUFFORCE` was needed and the kernel took it.
    pub forced: bool,
}

impl RecvBufferReport {
    /// Whether the kernel granted less than was asked for.
    pub fn clamped(&self) -> bool {
        self.granted < self.requested
    }
}

/// How [`SocketState::send_transmit`] (and so [`crate::Sender::send_transmit`]) hands a
/// transmit of several datagrams to the kernel. Whatever the path, a transmit's datagrams go
/// out in order, and a single datagram goes out with one `sendto`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum SendPath {
    /// UDP GSO (`UDP_SEGMENT`): up to 64 datagrams in one `sendmsg`, cut by the kernel (or the
    /// NIC). Segments too large for two to share one 64 KiB send, or longer than the route's
    /// MTU (GSO never fragments; the kernel says `EMSGSIZE`), go out as with
    /// [`SendPath::Mmsg`]. When the kernel refuses `UDP_SEGMENT` itself, the socket switches to
    /// [`SendPath::Mmsg`] for good. The default.
    #[default]
    Gso,
    /// `sendmmsg`: up to 64 datagrams in one system call, each a message of its own.
    Mmsg,
    /// One `sendto` per datagram.
    Single,
}

impl SendPath {
    /// The path's name: `gso`, `mmsg` or `single`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Gso => "gso",
            Self::Mmsg => "mmsg",
            Self::Single => "single",
        }
    }

    fn from_u8(v: u8) -> Self {
        match v {
            v if v == Self::Mmsg as u8 => Self::Mmsg,
            v if v == Self::Single as u8 => Self::Single,
            _ => Self::Gso,
        }
    }
}

impl std::fmt::Display for SendPath {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl SocketState {
    /// Whether the sockets are IPv6.
    pub fn is_ipv6(&self) -> bool {
        self.v6
    }

    /// The interface the sockets send on or joined on.
    pub fn iface(&self) -> &ResolvedIface {
        &self.iface
    }

    /// The receive buffer size the kernel granted, when one was asked for (Linux grants twice
    /// the request, at most twice `net.core.rmem_max` unless `SO_RCVBUFFORCE` passed the cap:
    /// see [`SocketState::recv_buffer_report`]).
    pub fn recv_buffer_size(&self) -> Option<usize> {
        self.recv_buffer.map(|r| r.granted)
    }

    /// What came of the receive buffer request, when one was made.
    pub fn recv_buffer_report(&self) -> Option<RecvBufferReport> {
        self.recv_buffer
    }

    /// Whether `IP_MULTICAST_ALL`/`IPV6_MULTICAST_ALL` could be switched off (false on kernels
    /// without the option: then a socket may also see groups other sockets joined).
    pub fn multicast_all_off(&self) -> bool {
        self.multicast_all_off
    }

    /// Records that the interface now has index `index` (it was deleted and created again).
    pub(crate) fn set_iface_index(&mut self, index: u32) {
        self.iface.index = index;
    }

    /// Whether every receiver socket has `SO_RXQ_OVFL` on, so that each received datagram's
    /// [`RecvMeta::kernel_drops`] is known (false for a sender, and on kernels without the
    /// option).
    pub fn kernel_drops_on(&self) -> bool {
        self.kernel_drops_on
    }

    /// Whether every receiver socket takes coalesced runs of datagrams (`UDP_GRO`, asked for
    /// with [`crate::ReceiverBuilder::gro`]; false on kernels without it).
    pub fn gro_on(&self) -> bool {
        self.gro_on
    }

    /// Sets a sender socket's IPv4 TTL (`IP_MULTICAST_TTL`) or IPv6 hop limit
    /// (`IPV6_MULTICAST_HOPS`) for the datagrams sent from now on.
    pub fn set_ttl(&self, sock: BorrowedFd<'_>, ttl: u32) -> Result<(), Error> {
        let sock = SockRef::from(&sock);
        if self.v6 {
            opt("IPV6_MULTICAST_HOPS", sock.set_multicast_hops_v6(ttl))
        } else {
            opt("IP_MULTICAST_TTL", sock.set_multicast_ttl_v4(ttl))
        }
    }

    /// A sender socket's IPv4 TTL or IPv6 hop limit, as the kernel holds it.
    pub fn ttl(&self, sock: BorrowedFd<'_>) -> Result<u32, Error> {
        let sock = SockRef::from(&sock);
        let r = if self.v6 {
            sock.multicast_hops_v6()
        } else {
            sock.multicast_ttl_v4()
        };
        r.map_err(|source| Error::Io {
            context: "cannot read the TTL",
            source,
        })
    }

    /// Sets whether a sender socket's datagrams loop back to receivers on this host
    /// (`IP_MULTICAST_LOOP` / `IPV6_MULTICAST_LOOP`), from now on.
    pub fn set_loopback(&self, sock: BorrowedFd<'_>, on: bool) -> Result<(), Error> {
        let sock = SockRef::from(&sock);
        if self.v6 {
            opt("IPV6_MULTICAST_LOOP", sock.set_multicast_loop_v6(on))
        } else {
            opt("IP_MULTICAST_LOOP", sock.set_multicast_loop_v4(on))
        }
    }

    /// Whether a sender socket's datagrams loop back to receivers on this host.
    pub fn loopback(&self, sock: BorrowedFd<'_>) -> Result<bool, Error> {
        let sock = SockRef::from(&sock);
        let r = if self.v6 {
            sock.multicast_loop_v6()
        } else {
            sock.multicast_loop_v4()
        };
        r.map_err(|source| Error::Io {
            context: "cannot read the multicast loop flag",
            source,
        })
    }

    /// Sends one datagram to `destination`. Blocks on a blocking socket; on a nonblocking one
    /// returns `WouldBlock` when the send buffer is full.
    pub fn send(
        &self,
        sock: BorrowedFd<'_>,
        destination: SocketAddr,
        buf: &[u8],
    ) -> io::Result<usize> {
        SockRef::from(&sock).send_to(buf, &SockAddr::from(destination))
    }

    /// Sends the datagrams a [`Transmit`] describes: `buf[..size]`, cut into `segment_size`
    /// pieces when set, over the socket's [`SendPath`]: UDP GSO (`UDP_SEGMENT`, up to 64
    /// datagrams per `sendmsg`), `sendmmsg` (up to 64 datagrams per call), or one `sendto` per
    /// datagram. A last lone datagram always goes out with one `sendto`.
    ///
    /// Returns how many datagrams went out. An error before the first datagram is returned; an
    /// error after it (`ENOBUFS` or `EAGAIN` when the kernel cannot keep up, say) ends the call,
    /// which then returns the count so far, so a caller can send the rest again without losing
    /// count.
    pub fn send_transmit(
        &self,
        sock: BorrowedFd<'_>,
        transmit: &Transmit,
        buf: &[u8],
    ) -> io::Result<usize> {
        let data = buf.get(..transmit.size).ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "transmit of {} bytes over a buffer of {}",
                    transmit.size,
                    buf.len()
                ),
            )
        })?;
        let seg = match transmit.segment_size {
            Some(n) if n > 0 => n,
            _ => data.len().max(1),
        };
        let destination = transmit.destination;
        // How many segments fit one GSO send: the kernel's 64, and one IP datagram's 64 KiB.
        let per_gso = (MAX_GSO_BYTES / seg).min(MAX_GSO_SEGMENTS);
        // Cleared when the route's MTU is too small for one segment: GSO cannot fragment.
        let mut gso_fits = true;
        // Cleared when the kernel (or a seccomp filter) has no sendmmsg.
        let mut mmsg_exists = true;
        let mut sent = 0;
        let mut rest = data;
        while !rest.is_empty() {
            // Each step sends some datagrams from the front of `rest`: (datagrams, bytes).
            let step = if rest.len() <= seg {
                self.send(sock, destination, rest).map(|_| (1, rest.len()))
            } else {
                match self.send_path() {
                    SendPath::Gso if per_gso > 1 && gso_fits => {
                        let batch = &rest[..rest.len().min(seg * per_gso)];
                        match send_gso(sock, destination, batch, seg) {
                            Err(e) if gso_unsupported(&e) => {
                                // Remember, and send this batch (and the rest) with sendmmsg.
                                self.set_send_path(SendPath::Mmsg);
                                continue;
                            }
                            Err(e) if e.raw_os_error() == Some(libc::EMSGSIZE) => {
                                // A segment longer than the MTU: this transmit goes out with
                                // sendmmsg, whose datagrams the kernel may fragment.
                                gso_fits = false;
                                continue;
                            }
                            r => r.map(|()| (batch.len().div_ceil(seg), batch.len())),
                        }
                    }
                    // Segments too large for two to share one GSO send, or for the MTU, go out as
                    // with Mmsg.
                    path @ (SendPath::Gso | SendPath::Mmsg) if mmsg_exists => {
                        match send_mmsg(sock, destination, rest, seg) {
                            Err(e) if e.raw_os_error() == Some(libc::ENOSYS) => {
                                // A GSO socket keeps GSO; an Mmsg one sends singly for good.
                                if path == SendPath::Mmsg {
                                    self.set_send_path(SendPath::Single);
                                }
                                mmsg_exists = false;
                                continue;
                            }
                            r => r,
                        }
                    }
                    _ => self.send(sock, destination, &rest[..seg]).map(|_| (1, seg)),
                }
            };
            match step {
                Ok((datagrams, bytes)) => {
                    sent += datagrams;
                    rest = &rest[bytes..];
                }
                Err(e) if sent == 0 => return Err(e),
                Err(_) => break,
            }
        }
        Ok(sent)
    }

    /// The send path [`SocketState::send_transmit`] uses now: the one asked for, or `Mmsg` for
    /// good once the kernel refused UDP GSO (and `Single` for good once `sendmmsg` failed with
    /// `ENOSYS`).
    pub fn send_path(&self) -> SendPath {
        SendPath::from_u8(self.send_path.load(Ordering::Relaxed))
    }

    fn set_send_path(&self, path: SendPath) {
        self.send_path.store(path as u8, Ordering::Relaxed);
    }

    /// Whether UDP GSO is still in use: the send path is [`SendPath::Gso`] (it switches to
    /// [`SendPath::Mmsg`] for good after the kernel refuses GSO).
    pub fn gso_enabled(&self) -> bool {
        self.send_path() == SendPath::Gso
    }

    /// Receives one datagram without blocking (`MSG_DONTWAIT`), with the group it was sent to
    /// and the interface it arrived on from the `IP_PKTINFO`/`IPV6_PKTINFO` control message, and
    /// the socket's cumulative kernel drop count from the `SO_RXQ_OVFL` one. Returns
    /// `WouldBlock` when nothing is queued.
    ///
    /// A datagram longer than `buf` is cut to `buf.len()` bytes, and the returned
    /// [`RecvMeta::len`] is then its full length (the kernel's answer to `MSG_TRUNC`), larger
    /// than `buf.len()`: that is how a caller tells a cut datagram apart.
    pub fn recv(&self, sock: BorrowedFd<'_>, buf: &mut [u8]) -> io::Result<RecvMeta> {
        recvmsg(sock, buf, self.kernel_drops_on)
    }

    /// Receives as many queued datagrams as fit the free slots of `batch` (those after
    /// [`RecvBatch::len`]), with `recvmmsg` (up to 64 per call, looping while more are
    /// queued), without blocking (`MSG_DONTWAIT`, as [`SocketState::recv`]). Each datagram's
    /// [`RecvMeta`] is parsed from its control messages (`IP_PKTINFO`/`IPV6_PKTINFO`,
    /// `SO_RXQ_OVFL`) exactly as `recv` parses them. Returns how many datagrams were added;
    /// allocates nothing.
    ///
    /// A datagram longer than [`RecvBatch::buf_len`] is cut to it, its length reported as
    /// `buf_len` as `recv` reports it, and [`RecvBatch::is_truncated`] is set for it.
    ///
    /// # Errors
    ///
    /// `WouldBlock` when nothing is queued and `batch` got nothing; any other error of
    /// `recvmmsg` when it got nothing (after at least one datagram, an error ends the batch
    /// and is left for the next call to see); `InvalidData` for a datagram from an address
    /// family other than IPv4/IPv6 (which a UDP socket cannot receive) when it is the first.
    pub fn recv_batch(&self, sock: BorrowedFd<'_>, batch: &mut RecvBatch) -> io::Result<usize> {
        let start = batch.len;
        while !batch.is_full() {
            let asked = (batch.capacity() - batch.len).min(MMSG_CHUNK);
            match recvmmsg_chunk(sock, batch, self.kernel_drops_on) {
                Ok(got) if got == asked => {}
                Ok(_) => break,
                Err(e) if batch.len == start => return Err(e),
                Err(_) => break,
            }
        }
        Ok(batch.len - start)
    }
}

/// `UDP_SEGMENT` from `<linux/udp.h>`.
const UDP_SEGMENT: libc::c_int = 103;
/// `UDP_MAX_SEGMENTS` from `<linux/udp.h>`.
const MAX_GSO_SEGMENTS: usize = 64;
/// How many datagrams one `sendmmsg` carries at most (its arrays live on the stack, about
/// 5 KiB).
const MMSG_SEND_CHUNK: usize = 64;
/// The most payload one GSO send may carry: an IPv6 datagram's 65,535 bytes less the UDP and
/// IPv6 headers (IPv4's limit is larger by 20).
const MAX_GSO_BYTES: usize = 65_535 - 8 - 40;

/// Whether the kernel refused `UDP_SEGMENT` itself, for this socket for good: `EIO` (no checksum
/// offload on the route, UDP-Lite, IPsec), `EINVAL` (checksums switched off with `SO_NO_CHECK`),
/// `EOPNOTSUPP`/`ENOPROTOOPT` (a kernel without UDP GSO).
fn gso_unsupported(e: &io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(libc::EIO | libc::EINVAL | libc::EOPNOTSUPP | libc::ENOPROTOOPT)
    )
}

/// One `sendmsg` carrying `data` as datagrams of `seg` bytes (the last may be shorter).
fn send_gso(
    sock: BorrowedFd<'_>,
    destination: SocketAddr,
    data: &[u8],
    seg: usize,
) -> io::Result<()> {
    let seg = u16::try_from(seg).map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))?;
    let addr = SockAddr::from(destination);
    let mut iov = libc::iovec {
        iov_base: data.as_ptr().cast_mut().cast(),
        iov_len: data.len(),
    };
    let mut control = CmsgBuf([0; CMSG_BUF_LEN]);
    // SAFETY: msghdr is plain data; all-zero is a valid value, the fields are set below.
    let mut msg: libc::msghdr = unsafe { mem::zeroed() };
    msg.msg_name = addr.as_ptr().cast_mut().cast();
    msg.msg_namelen = addr.len();
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control.0.as_mut_ptr().cast();
    // SAFETY: CMSG_SPACE only computes a size.
    msg.msg_controllen = unsafe { libc::CMSG_SPACE(size_of::<u16>() as u32) } as _;
    // SAFETY: the control buffer is aligned and larger than one u16 cmsg; CMSG_* stay inside it.
    unsafe {
        let c = libc::CMSG_FIRSTHDR(&msg);
        (*c).cmsg_level = libc::SOL_UDP;
        (*c).cmsg_type = UDP_SEGMENT;
        (*c).cmsg_len = libc::CMSG_LEN(size_of::<u16>() as u32) as _;
        std::ptr::write_unaligned(libc::CMSG_DATA(c).cast::<u16>(), seg);
    }
    // SAFETY: every pointer in `msg` points to live buffers of the lengths given; the kernel
    // only reads them.
    let n = unsafe { libc::sendmsg(sock.as_raw_fd(), &msg, 0) };
    if n < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

/// One `sendmmsg` of the first datagrams of `data` (up to [`MMSG_SEND_CHUNK`]), cut into `seg`
/// bytes each (the last may be shorter). Returns how many datagrams went out and how many bytes
/// of `data` they held; the kernel may send fewer than asked (an error after the first message
/// ends its call and is left for the next one to see).
fn send_mmsg(
    sock: BorrowedFd<'_>,
    destination: SocketAddr,
    data: &[u8],
    seg: usize,
) -> io::Result<(usize, usize)> {
    let addr = SockAddr::from(destination);
    // Only the first `init` entries are initialised (and zeroed): a short transmit costs a few
    // headers, not 64.
    let mut iovs = [const { MaybeUninit::<libc::iovec>::uninit() }; MMSG_SEND_CHUNK];
    let mut hdrs = [const { MaybeUninit::<libc::mmsghdr>::uninit() }; MMSG_SEND_CHUNK];
    // How many headers the loop below really initialised: the only count passed to the kernel,
    // so no uninitialised header can ever reach sendmmsg.
    let mut init = 0;
    for (chunk, (iov, hdr)) in data.chunks(seg).zip(iovs.iter_mut().zip(hdrs.iter_mut())) {
        let iov = iov.write(libc::iovec {
            iov_base: chunk.as_ptr().cast_mut().cast(),
            iov_len: chunk.len(),
        });
        // SAFETY: mmsghdr is plain data; all-zero is a valid value, the fields are set below.
        let hdr = hdr.write(unsafe { mem::zeroed() });
        let msg = &mut hdr.msg_hdr;
        msg.msg_name = addr.as_ptr().cast_mut().cast();
        msg.msg_namelen = addr.len();
        msg.msg_iov = iov;
        msg.msg_iovlen = 1;
        init += 1;
    }
    if init == 0 {
        return Ok((0, 0));
    }
    // SAFETY: the loop above initialised exactly the first `init` headers (counted, not
    // assumed); they point to `addr`, to `iovs` and through them to `data`, all live for the
    // call and only read by the kernel (it writes only each header's `msg_len`).
    let n = unsafe {
        libc::sendmmsg(
            sock.as_raw_fd(),
            hdrs.as_mut_ptr().cast::<libc::mmsghdr>(),
            init as libc::c_uint,
            0,
        )
    };
    if n < 0 {
        return Err(io::Error::last_os_error());
    }
    let n = (n as usize).min(init);
    if n == 0 {
        // The kernel reports an error rather than sending nothing; never loop on it.
        return Err(io::Error::new(
            io::ErrorKind::WriteZero,
            "sendmmsg sent no datagram",
        ));
    }
    Ok((n, (n * seg).min(data.len())))
}

/// The size of a control buffer: room for every control message a receiver socket is set up to
/// get (one `in6_pktinfo` or `in_pktinfo`, the u32 of `SO_RXQ_OVFL`, the int of `UDP_GRO`, the
/// int of the TTL / hop limit and the timespec of `SO_TIMESTAMPNS`), and then some.
const CMSG_BUF_LEN: usize = 192;

// SAFETY: CMSG_SPACE only computes a size.
const CMSG_NEEDED: usize = unsafe {
    libc::CMSG_SPACE(size_of::<libc::in6_pktinfo>() as libc::c_uint) as usize
        + libc::CMSG_SPACE(size_of::<u32>() as libc::c_uint) as usize
        + 2 * libc::CMSG_SPACE(size_of::<libc::c_int>() as libc::c_uint) as usize
        + libc::CMSG_SPACE(size_of::<libc::timespec>() as libc::c_uint) as usize
};
const _: () = assert!(
    CMSG_NEEDED <= CMSG_BUF_LEN,
    "the control buffer must hold pktinfo, SO_RXQ_OVFL, UDP_GRO, the hop limit and a timestamp"
);

/// `UDP_GRO` from `<linux/udp.h>`: the socket takes coalesced runs of datagrams, each run with
/// a control message giving the segment size.
const UDP_GRO: libc::c_int = 104;
const _: () = assert!(size_of::<libc::in_pktinfo>() <= size_of::<libc::in6_pktinfo>());

/// A control buffer of [`CMSG_BUF_LEN`] bytes, aligned for cmsghdr.
#[derive(Clone)]
#[repr(C, align(8))]
struct CmsgBuf([u8; CMSG_BUF_LEN]);

impl std::fmt::Debug for CmsgBuf {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CmsgBuf")
    }
}

fn recvmsg(sock: BorrowedFd<'_>, buf: &mut [u8], kernel_drops_on: bool) -> io::Result<RecvMeta> {
    let mut name = MaybeUninit::<libc::sockaddr_storage>::zeroed();
    let mut iov = libc::iovec {
        iov_base: buf.as_mut_ptr().cast(),
        iov_len: buf.len(),
    };
    let mut control = CmsgBuf([0; CMSG_BUF_LEN]);
    // SAFETY: msghdr is plain data; all-zero is a valid value, the fields are set below.
    let mut msg: libc::msghdr = unsafe { mem::zeroed() };
    msg.msg_name = name.as_mut_ptr().cast();
    msg.msg_namelen = size_of::<libc::sockaddr_storage>() as libc::socklen_t;
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control.0.as_mut_ptr().cast();
    msg.msg_controllen = control.0.len() as _;
    // SAFETY: every pointer in `msg` points to live buffers of the lengths given.
    // With MSG_TRUNC, a UDP socket returns the datagram's full length even when it was cut.
    let n = unsafe {
        libc::recvmsg(
            sock.as_raw_fd(),
            &mut msg,
            libc::MSG_DONTWAIT | libc::MSG_TRUNC,
        )
    };
    if n < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: recvmsg filled `msg`; its name is the zero-initialised storage above and its
    // control buffer `control`, both still live.
    unsafe { parse_msghdr(&msg, n as usize, kernel_drops_on) }
}

/// The [`RecvMeta`] of one received datagram of `len` bytes: the source from `msg_name`, the
/// destination and interface from the `IP_PKTINFO`/`IPV6_PKTINFO` control message, the
/// socket's cumulative drop count from the `SO_RXQ_OVFL` one, and the TTL / hop limit from
/// `IP_TTL`/`IPV6_HOPLIMIT` (sent when the socket asked for it). Shared by `recvmsg` and
/// `recvmmsg`.
///
/// The kernel attaches `SO_RXQ_OVFL` only when the count is not zero, so on a socket with the
/// option on (`kernel_drops_on`) a datagram without it reports `Some(0)`. Under `MSG_CTRUNC`,
/// or when the message is too short for its u32, the count is unknown (`None`).
///
/// # Safety
///
/// `msg` was filled by `recvmsg`/`recvmmsg`: `msg_name` points to a live, initialised
/// `sockaddr_storage` and `msg_control` to a live buffer of at least `msg_controllen` bytes,
/// aligned for `cmsghdr`.
unsafe fn parse_msghdr(
    msg: &libc::msghdr,
    len: usize,
    kernel_drops_on: bool,
) -> io::Result<RecvMeta> {
    let unknown = || {
        io::Error::new(
            io::ErrorKind::InvalidData,
            "datagram from an unknown address family",
        )
    };
    if (msg.msg_namelen as usize) < size_of::<libc::sa_family_t>() {
        return Err(unknown());
    }
    // SAFETY: the caller guarantees msg_name points to an initialised sockaddr_storage.
    let name = unsafe { &*msg.msg_name.cast::<libc::sockaddr_storage>() };
    let source = sockaddr_to_std(name).ok_or_else(unknown)?;
    let mut destination = None;
    let mut ifindex = None;
    let mut kernel_drops = None;
    let mut kernel_drops_seen = false;
    let mut segment_size = None;
    let mut hop_limit = None;
    let mut timestamp_ns = None;
    // A truncated control buffer may end in stale bytes: then no control message is trusted.
    let ctrunc = msg.msg_flags & libc::MSG_CTRUNC != 0;
    // SAFETY: the caller guarantees `msg` was filled by the kernel; CMSG_* walk only within
    // msg_controllen of the live control buffer, and a payload is read only when the message's
    // own `cmsg_len` covers it (`cmsg_holds`).
    unsafe {
        let mut c = libc::CMSG_FIRSTHDR(msg);
        while !c.is_null() {
            let hdr = &*c;
            match (hdr.cmsg_level, hdr.cmsg_type) {
                (libc::IPPROTO_IP, libc::IP_PKTINFO)
                    if cmsg_holds::<libc::in_pktinfo>(hdr) && !ctrunc =>
                {
                    let info: libc::in_pktinfo =
                        std::ptr::read_unaligned(libc::CMSG_DATA(c).cast());
                    destination = Some(IpAddr::V4(Ipv4Addr::from(u32::from_be(
                        info.ipi_addr.s_addr,
                    ))));
                    ifindex = u32::try_from(info.ipi_ifindex).ok();
                }
                (libc::IPPROTO_IPV6, libc::IPV6_PKTINFO)
                    if cmsg_holds::<libc::in6_pktinfo>(hdr) && !ctrunc =>
                {
                    let info: libc::in6_pktinfo =
                        std::ptr::read_unaligned(libc::CMSG_DATA(c).cast());
                    destination = Some(IpAddr::V6(Ipv6Addr::from(info.ipi6_addr.s6_addr)));
                    ifindex = Some(info.ipi6_ifindex);
                }
                (libc::SOL_SOCKET, libc::SCM_TIMESTAMPNS)
                    if cmsg_holds::<libc::timespec>(hdr) && !ctrunc =>
                {
                    let ts: libc::timespec = std::ptr::read_unaligned(libc::CMSG_DATA(c).cast());
                    timestamp_ns = u64::try_from(ts.tv_sec)
                        .ok()
                        .zip(u64::try_from(ts.tv_nsec).ok())
                        .and_then(|(s, ns)| s.checked_mul(1_000_000_000)?.checked_add(ns));
                }
                (libc::SOL_UDP, UDP_GRO) if cmsg_holds::<libc::c_int>(hdr) && !ctrunc => {
                    let size: libc::c_int = std::ptr::read_unaligned(libc::CMSG_DATA(c).cast());
                    // Only a size below the buffer's length means several datagrams.
                    segment_size = u16::try_from(size)
                        .ok()
                        .filter(|&s| s > 0 && usize::from(s) < len);
                }
                (libc::IPPROTO_IP, libc::IP_TTL) | (libc::IPPROTO_IPV6, libc::IPV6_HOPLIMIT)
                    if cmsg_holds::<libc::c_int>(hdr) && !ctrunc =>
                {
                    let hops: libc::c_int = std::ptr::read_unaligned(libc::CMSG_DATA(c).cast());
                    hop_limit = u8::try_from(hops).ok();
                }
                (libc::SOL_SOCKET, libc::SO_RXQ_OVFL) => {
                    kernel_drops_seen = true;
                    if cmsg_holds::<u32>(hdr) && !ctrunc {
                        kernel_drops =
                            Some(std::ptr::read_unaligned(libc::CMSG_DATA(c).cast::<u32>()));
                    }
                }
                _ => {}
            }
            c = libc::CMSG_NXTHDR(msg, c);
        }
    }
    // No SO_RXQ_OVFL message at all (not even a short one) means no drop so far.
    if kernel_drops_on && !ctrunc && !kernel_drops_seen {
        kernel_drops = Some(0);
    }
    Ok(RecvMeta::new(source, len)
        .with_destination(destination)
        .with_ifindex(ifindex)
        .with_kernel_drops(kernel_drops)
        .with_segment_size(segment_size)
        .with_hop_limit(hop_limit)
        .with_timestamp_ns(timestamp_ns))
}

/// How many datagrams one `recvmmsg` asks for at most; [`SocketState::recv_batch`] loops for
/// more. The `mmsghdr`/`iovec` arrays of one call live on the stack (about 5 KiB).
const MMSG_CHUNK: usize = 64;

/// Caller-owned buffers for [`SocketState::recv_batch`] and [`crate::Receiver::recv_batch`]:
/// `capacity` datagram buffers of `buf_len` bytes each, with room for each datagram's source
/// address and control messages (`IP_PKTINFO`/`IPV6_PKTINFO`, `SO_RXQ_OVFL`), and the
/// [`RecvMeta`] of each.
///
/// Everything is allocated once, in [`RecvBatch::new`]; receiving into a batch allocates
/// nothing. The `mmsghdr`/`iovec` arrays the kernel needs hold pointers into these buffers, so
/// they are not stored here but rebuilt on the stack on every call (which is cheap, and keeps
/// the batch free of self-references and `Send`).
///
/// A datagram longer than `buf_len` is cut to `buf_len` bytes, exactly as
/// [`crate::Receiver::recv`] cuts it to its buffer: its [`RecvMeta::len`] is then `buf_len`,
/// and [`RecvBatch::is_truncated`] tells it apart.
///
/// ```
/// use mcast_sync::RecvBatch;
/// let batch = RecvBatch::new(32, 1500);
/// assert_eq!(batch.capacity(), 32);
/// assert!(batch.is_empty());
/// for (bytes, meta) in batch.iter() {
///     println!("{} bytes from {}: {bytes:?}", meta.len, meta.source);
/// }
/// ```
#[derive(Debug, Clone)]
pub struct RecvBatch {
    data: Vec<u8>,
    buf_len: usize,
    names: Vec<SockaddrBuf>,
    controls: Vec<CmsgBuf>,
    metas: Vec<RecvMeta>,
    truncated: Vec<bool>,
    len: usize,
}

/// A `sockaddr_storage`, initialised once so the kernel's partial writes leave no uninitialised
/// bytes behind.
#[derive(Clone, Copy)]
struct SockaddrBuf(libc::sockaddr_storage);

impl std::fmt::Debug for SockaddrBuf {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SockaddrBuf")
    }
}

impl RecvBatch {
    /// Room for `capacity` datagrams (at least 1) of up to `buf_len` bytes each (at least 1).
    /// 65,535 bytes holds any UDP datagram; 1,500 an unfragmented one on Ethernet.
    ///
    /// # Panics
    ///
    /// When `capacity * buf_len` bytes cannot be addressed (it overflows `usize`), as `vec!`
    /// panics for an impossible size.
    pub fn new(capacity: usize, buf_len: usize) -> Self {
        let capacity = capacity.max(1);
        let buf_len = buf_len.max(1);
        // The receive path relies on `data` holding exactly `capacity` slots of `buf_len`.
        let data_len = capacity
            .checked_mul(buf_len)
            .expect("RecvBatch::new: capacity * buf_len overflows usize");
        // SAFETY: sockaddr_storage is plain data; all-zero is a valid value.
        let zero_name: libc::sockaddr_storage = unsafe { mem::zeroed() };
        let placeholder = RecvMeta::new(SocketAddr::from((Ipv4Addr::UNSPECIFIED, 0)), 0);
        Self {
            data: vec![0; data_len],
            buf_len,
            names: vec![SockaddrBuf(zero_name); capacity],
            controls: vec![CmsgBuf([0; CMSG_BUF_LEN]); capacity],
            metas: vec![placeholder; capacity],
            truncated: vec![false; capacity],
            len: 0,
        }
    }

    /// How many datagrams the batch can hold.
    pub fn capacity(&self) -> usize {
        self.metas.len()
    }

    /// The size of each datagram buffer.
    pub fn buf_len(&self) -> usize {
        self.buf_len
    }

    /// How many datagrams the batch holds.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the batch holds no datagram.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Whether the batch is full.
    pub fn is_full(&self) -> bool {
        self.len == self.capacity()
    }

    /// Forgets the datagrams held (the buffers stay allocated).
    pub fn clear(&mut self) {
        self.len = 0;
    }

    /// The `i`th datagram held: its bytes (`meta.len` of them) and metadata.
    pub fn get(&self, i: usize) -> Option<(&[u8], &RecvMeta)> {
        let meta = self.metas[..self.len].get(i)?;
        let start = i * self.buf_len;
        Some((&self.data[start..start + meta.len.min(self.buf_len)], meta))
    }

    /// Whether the `i`th datagram was longer than [`RecvBatch::buf_len`] and cut to it
    /// (`MSG_TRUNC`); false when there is no `i`th datagram.
    pub fn is_truncated(&self, i: usize) -> bool {
        self.truncated[..self.len].get(i).copied().unwrap_or(false)
    }

    /// The metadata of the datagrams held, in arrival order.
    pub fn metas(&self) -> &[RecvMeta] {
        &self.metas[..self.len]
    }

    /// The datagrams held, in arrival order, with a run that UDP GRO coalesced into one slot
    /// ([`RecvMeta::segment_size`]) cut back into its datagrams: bytes and metadata, each
    /// datagram's `len` its own and `segment_size` `None`. This is what a receiver wants
    /// whether or not GRO is on ([`crate::ReceiverBuilder::gro`]).
    pub fn datagrams(&self) -> impl Iterator<Item = (&[u8], RecvMeta)> + '_ {
        self.iter().flat_map(|(bytes, meta)| {
            let seg = meta.segment_size.map_or(bytes.len(), usize::from).max(1);
            bytes.chunks(seg).map(move |chunk| {
                let mut one = meta.with_segment_size(None);
                one.len = chunk.len();
                (chunk, one)
            })
        })
    }

    /// The slots held, in arrival order: bytes and metadata, one slot per message the kernel
    /// handed over (with UDP GRO a slot may hold several datagrams: see
    /// [`RecvBatch::datagrams`]).
    pub fn iter(&self) -> impl ExactSizeIterator<Item = (&[u8], &RecvMeta)> + '_ {
        self.data
            .chunks_exact(self.buf_len)
            .zip(&self.metas[..self.len])
            .map(|(buf, meta)| (&buf[..meta.len.min(buf.len())], meta))
    }
}

/// Whether a control message's own length covers a payload of type `T`.
fn cmsg_holds<T>(hdr: &libc::cmsghdr) -> bool {
    // SAFETY: CMSG_LEN is pure arithmetic on its argument.
    let need = unsafe { libc::CMSG_LEN(size_of::<T>() as libc::c_uint) } as usize;
    // `cmsg_len` is `size_t` on glibc but `socklen_t` on musl: the cast is needed there.
    #[allow(clippy::unnecessary_cast)]
    let len = hdr.cmsg_len as usize;
    len >= need
}

/// One `recvmmsg` into the free slots `batch.len..batch.len + n` (n ≤ [`MMSG_CHUNK`]); returns
/// how many datagrams arrived, with their metadata parsed.
fn recvmmsg_chunk(
    sock: BorrowedFd<'_>,
    batch: &mut RecvBatch,
    kernel_drops_on: bool,
) -> io::Result<usize> {
    let first = batch.len;
    let n = (batch.capacity() - first).min(MMSG_CHUNK);
    // Only the first `n` entries are initialised (and zeroed): a batch of one costs one
    // header, not 64.
    let mut iovs = [const { MaybeUninit::<libc::iovec>::uninit() }; MMSG_CHUNK];
    let mut hdrs = [const { MaybeUninit::<libc::mmsghdr>::uninit() }; MMSG_CHUNK];
    let slots = batch
        .data
        .chunks_exact_mut(batch.buf_len)
        .zip(batch.names.iter_mut())
        .zip(batch.controls.iter_mut())
        .skip(first)
        .take(n);
    // How many headers the loop below really initialised: the only count passed to the kernel,
    // whatever `n` says, so no uninitialised header can ever reach recvmmsg.
    let mut init = 0;
    for (((buf, name), control), (iov, hdr)) in slots.zip(iovs.iter_mut().zip(hdrs.iter_mut())) {
        let iov = iov.write(libc::iovec {
            iov_base: buf.as_mut_ptr().cast(),
            iov_len: buf.len(),
        });
        // SAFETY: mmsghdr is plain data; all-zero is a valid value, the fields are set below.
        let hdr = hdr.write(unsafe { mem::zeroed() });
        let msg = &mut hdr.msg_hdr;
        msg.msg_name = std::ptr::from_mut(&mut name.0).cast();
        msg.msg_namelen = size_of::<libc::sockaddr_storage>() as libc::socklen_t;
        msg.msg_iov = iov;
        msg.msg_iovlen = 1;
        msg.msg_control = control.0.as_mut_ptr().cast();
        msg.msg_controllen = control.0.len() as _;
        init += 1;
    }
    debug_assert_eq!(init, n, "every free slot gets a header");
    if init == 0 {
        return Ok(0);
    }
    // SAFETY: the loop above initialised exactly the first `init` headers (counted, not
    // assumed); they point to live, disjoint buffers of the batch (data, name, control) of the
    // lengths given, and to `iovs`, which outlives the call.
    let got = unsafe {
        libc::recvmmsg(
            sock.as_raw_fd(),
            hdrs.as_mut_ptr().cast::<libc::mmsghdr>(),
            init as libc::c_uint,
            libc::MSG_DONTWAIT,
            std::ptr::null_mut(),
        )
    };
    if got < 0 {
        return Err(io::Error::last_os_error());
    }
    let got = (got as usize).min(init);
    for (k, hdr) in hdrs[..got].iter().enumerate() {
        // SAFETY: `got` ≤ `init`, so this header was initialised above and recvmmsg filled it.
        let hdr = unsafe { hdr.assume_init_ref() };
        // SAFETY: recvmmsg filled this header; its name and control pointers still point into
        // `batch.names`/`batch.controls` (initialised at construction, not moved since).
        match unsafe { parse_msghdr(&hdr.msg_hdr, hdr.msg_len as usize, kernel_drops_on) } {
            Ok(meta) => {
                batch.metas[first + k] = meta;
                batch.truncated[first + k] = hdr.msg_hdr.msg_flags & libc::MSG_TRUNC != 0;
                batch.len += 1;
            }
            // Datagrams before it are kept; it and those after it are dropped.
            Err(e) if k == 0 => return Err(e),
            Err(_) => return Ok(k),
        }
    }
    Ok(got)
}

fn sockaddr_to_std(s: &libc::sockaddr_storage) -> Option<SocketAddr> {
    match i32::from(s.ss_family) {
        libc::AF_INET => {
            // SAFETY: the family says the storage holds a sockaddr_in.
            let sin = unsafe { &*(s as *const libc::sockaddr_storage).cast::<libc::sockaddr_in>() };
            Some(SocketAddr::V4(SocketAddrV4::new(
                Ipv4Addr::from(u32::from_be(sin.sin_addr.s_addr)),
                u16::from_be(sin.sin_port),
            )))
        }
        libc::AF_INET6 => {
            // SAFETY: the family says the storage holds a sockaddr_in6.
            let sin6 =
                unsafe { &*(s as *const libc::sockaddr_storage).cast::<libc::sockaddr_in6>() };
            Some(SocketAddr::V6(SocketAddrV6::new(
                Ipv6Addr::from(sin6.sin6_addr.s6_addr),
                u16::from_be(sin6.sin6_port),
                u32::from_be(sin6.sin6_flowinfo),
                sin6.sin6_scope_id,
            )))
        }
        _ => None,
    }
}

fn opt(option: &'static str, r: io::Result<()>) -> Result<(), Error> {
    r.map_err(|source| Error::SetOption { option, source })
}

/// `Ok(false)` when the kernel lacks the option (not fatal: such options are optional).
fn opt_optional(option: &'static str, r: io::Result<()>) -> Result<bool, Error> {
    match r {
        Ok(()) => Ok(true),
        Err(e) if matches!(e.raw_os_error(), Some(libc::ENOPROTOOPT | libc::EOPNOTSUPP)) => {
            Ok(false)
        }
        Err(source) => Err(Error::SetOption { option, source }),
    }
}

fn setsockopt_bytes(
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

fn setsockopt_int(
    sock: &Socket,
    level: libc::c_int,
    name: libc::c_int,
    value: libc::c_int,
) -> io::Result<()> {
    setsockopt_bytes(sock, level, name, &value.to_ne_bytes())
}

fn new_socket(v6: bool) -> Result<Socket, Error> {
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

pub(crate) fn family(ip: IpAddr) -> &'static str {
    if ip.is_ipv4() {
        "IPv4"
    } else {
        "IPv6"
    }
}

fn check_family(group: Group, what: impl FnOnce() -> String, ip: IpAddr) -> Result<(), Error> {
    if ip.is_ipv4() == group.is_ipv4() {
        Ok(())
    } else {
        Err(Error::FamilyMismatch {
            group,
            what: what(),
            found: family(ip),
            expected: family(group.addr()),
        })
    }
}

/// Asks the kernel for each datagram's receive time (`SO_TIMESTAMPNS`); a kernel without it is
/// not an error: the datagrams then come without one.
fn recv_timestamps(sock: &Socket) -> Result<(), Error> {
    opt_optional(
        "SO_TIMESTAMPNS",
        setsockopt_int(sock, libc::SOL_SOCKET, libc::SO_TIMESTAMPNS, 1),
    )
    .map(drop)
}

/// Builds a sender socket: bind, TTL/hop limit, loop, outgoing interface.
pub(crate) fn open_sender(cfg: &SenderConfig) -> Result<OpenSender, Error> {
    let v6 = cfg.group.is_ipv6();
    if let Some(b) = cfg.bind {
        check_family(cfg.group, || format!("the bind address {b}"), b.ip())?;
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
        opt("SO_REUSEADDR", sock.set_reuse_address(true))?;
    }
    sock.bind(&bind.into()).map_err(|source| Error::Bind {
        addr: bind,
        cause: crate::diagnose::bind(bind, &source),
        source,
    })?;
    if cfg.recv_timestamps {
        recv_timestamps(&sock)?;
    }
    let destination = if v6 {
        opt("IPV6_MULTICAST_HOPS", sock.set_multicast_hops_v6(cfg.ttl))?;
        opt(
            "IPV6_MULTICAST_LOOP",
            sock.set_multicast_loop_v6(cfg.loopback),
        )?;
        if !iface.is_any() {
            opt("IPV6_MULTICAST_IF", sock.set_multicast_if_v6(iface.index))?;
        }
        let scope = if cfg.group.is_link_local() {
            iface.index
        } else {
            0
        };
        let g = cfg.group.as_v6().unwrap_or(Ipv6Addr::UNSPECIFIED);
        SocketAddr::V6(SocketAddrV6::new(g, cfg.port, 0, scope))
    } else {
        opt("IP_MULTICAST_TTL", sock.set_multicast_ttl_v4(cfg.ttl))?;
        opt(
            "IP_MULTICAST_LOOP",
            sock.set_multicast_loop_v4(cfg.loopback),
        )?;
        match &cfg.iface {
            IfaceSpec::Any => {}
            // The lecture's way: the interface named by its address.
            IfaceSpec::Addr(IpAddr::V4(a)) => opt("IP_MULTICAST_IF", sock.set_multicast_if_v4(a))?,
            // By index (a name, an index, or an IPv6 address of the interface): ip_mreqn.
            _ => {
                let req = mreq::ip_mreqn(cfg.group, Ipv4Addr::UNSPECIFIED, iface.index)?;
                opt(
                    "IP_MULTICAST_IF",
                    setsockopt_bytes(&sock, libc::IPPROTO_IP, libc::IP_MULTICAST_IF, &req),
                )?;
            }
        }
        SocketAddr::new(cfg.group.addr(), cfg.port)
    };
    Ok(OpenSender {
        socket: sock.into(),
        state: SocketState {
            v6,
            iface,
            recv_buffer: None,
            multicast_all_off: false,
            kernel_drops_on: false,
            gro_on: false,
            send_path: Arc::new(AtomicU8::new(cfg.send_path as u8)),
        },
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
        check_family(first, || format!("the group {g}"), g.addr())?;
    }
    for s in &cfg.sources {
        check_family(first, || format!("the source {s}"), s.addr())?;
    }
    if let Some(b) = cfg.bind {
        check_family(first, || format!("the bind address {b}"), b)?;
    }
    let iface = ResolvedIface::resolve(&cfg.iface)?;
    if let Some(g) = cfg.groups.iter().find(|g| g.needs_interface()) {
        if iface.is_any() {
            return Err(Error::NeedsInterface { group: *g });
        }
    }
    let bind_ip = cfg.bind.unwrap_or(match (cfg.groups.len(), v6) {
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
        membership.join(*g, &cfg.sources).map_err(|e| match e {
            JoinError::MixedFamilies { first, group } => Error::FamilyMismatch {
                group: first,
                what: format!("the group {group}"),
                found: family(group.addr()),
                expected: family(first.addr()),
            },
            JoinError::SourceFamily { group, source_addr } => Error::FamilyMismatch {
                group,
                what: format!("the source {source_addr}"),
                found: family(source_addr.addr()),
                expected: family(group.addr()),
            },
            // `JoinError` may grow; a refusal we do not know yet is still a refused join.
            other => Error::Join {
                group: *g,
                ssm_source: None,
                iface: cfg.iface.clone(),
                source: io::Error::new(io::ErrorKind::InvalidInput, other),
                cause: None,
            },
        })?;
    }

    let rmem_max = cfg.recv_buffer.and_then(|_| crate::error::rmem_max());
    // Dropped on any early return: the groups joined so far are left newest first.
    let mut sockets: NewestFirst<Socket> = NewestFirst::new();
    let total = cfg.groups.len() * cfg.sources.len().max(1);
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
    let mut per_socket: Vec<usize> = Vec::new();
    while let Some(op) = membership.poll_op() {
        while sockets.len() <= op.socket {
            sockets.push(open_receiver_socket(cfg, v6, bind, rmem_max, &mut state)?);
            per_socket.push(0);
        }
        let sock = &sockets[op.socket];
        let result = join(sock, op.group, op.source, &state.iface);
        let outcome = result.as_ref().map(|_| ()).map_err(os_error_kind);
        match (membership.handle_op_result(&op, outcome), result) {
            (Ok(()), Ok(())) => {
                if op.first_of_group {
                    per_socket[op.socket] += 1;
                }
                done += 1;
                let now = JoinProgress {
                    done,
                    total,
                    sockets: sockets.len(),
                };
                if progress(now).is_break() {
                    return Err(Error::JoinStopped { done, total });
                }
            }
            // ENOBUFS taught the policy the limit: the join goes again on a new socket.
            (Ok(()), Err(_)) => {}
            (Err(_verdict), Err(source)) => {
                return Err(Error::Join {
                    group: op.group,
                    ssm_source: op.source,
                    iface: cfg.iface.clone(),
                    cause: crate::diagnose::route_or_iface(op.group, &state.iface, &source),
                    source,
                })
            }
            // A verdict is only ever given for an error.
            (Err(_), Ok(())) => {}
        }
    }
    Ok(OpenReceiver {
        sockets: NewestFirst(
            sockets
                .into_vec()
                .into_iter()
                .map(UdpSocket::from)
                .collect(),
        ),
        state,
        per_socket,
    })
}

fn open_receiver_socket(
    cfg: &ReceiverConfig,
    v6: bool,
    bind: SocketAddr,
    rmem_max: Option<usize>,
    state: &mut SocketState,
) -> Result<Socket, Error> {
    let sock = new_socket(v6)?;
    opt("SO_REUSEADDR", sock.set_reuse_address(true))?;
    opt("SO_REUSEPORT", sock.set_reuse_port(true))?;
    let all_off = if v6 {
        opt_optional("IPV6_MULTICAST_ALL", sock.set_multicast_all_v6(false))?
    } else {
        opt_optional("IP_MULTICAST_ALL", sock.set_multicast_all_v4(false))?
    };
    state.multicast_all_off &= all_off;
    if v6 {
        opt(
            "IPV6_RECVPKTINFO",
            setsockopt_int(&sock, libc::IPPROTO_IPV6, libc::IPV6_RECVPKTINFO, 1),
        )?;
    } else {
        opt(
            "IP_PKTINFO",
            setsockopt_int(&sock, libc::IPPROTO_IP, libc::IP_PKTINFO, 1),
        )?;
    }
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

/// Asks for each datagram's TTL (`IP_RECVTTL`) or hop limit (`IPV6_RECVHOPLIMIT`) in a control
/// message, which [`RecvMeta::hop_limit`] reports.
fn recv_hop_limit(sock: &Socket, v6: bool) -> Result<(), Error> {
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
    opt("SO_REUSEADDR", sock.set_reuse_address(true))?;
    if v6 {
        opt(
            "IPV6_RECVPKTINFO",
            setsockopt_int(&sock, libc::IPPROTO_IPV6, libc::IPV6_RECVPKTINFO, 1),
        )?;
    } else {
        opt(
            "IP_PKTINFO",
            setsockopt_int(&sock, libc::IPPROTO_IP, libc::IP_PKTINFO, 1),
        )?;
    }
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

/// Asks for a receive buffer of `size` bytes (`SO_RCVBUF`) and reads back what the kernel
/// granted; when that is less than `size`, tries `SO_RCVBUFFORCE` (refused with `EPERM` without
/// `CAP_NET_ADMIN`, which is no error) and, when the kernel takes it, reads back again.
fn set_recv_buffer(
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

/// The errno of a failed join, as the core policy reads it.
fn os_error_kind(e: &io::Error) -> OsErrorKind {
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
    if state.v6 {
        opt("IPV6_MULTICAST_IF", sock.set_multicast_if_v6(index))?;
    } else {
        let req = mreq::ip_mreqn(group, Ipv4Addr::UNSPECIFIED, index)?;
        opt(
            "IP_MULTICAST_IF",
            setsockopt_bytes(sock, libc::IPPROTO_IP, libc::IP_MULTICAST_IF, &req),
        )?;
    }
    state.set_iface_index(index);
    Ok(())
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

/// Turns a timeout into `poll`'s milliseconds (rounded up, so a 1 ns timeout still waits).
pub(crate) fn poll_ms(timeout: Option<Duration>) -> libc::c_int {
    match timeout {
        None => -1,
        Some(d) => {
            let ms = d.as_nanos().div_ceil(1_000_000);
            libc::c_int::try_from(ms).unwrap_or(libc::c_int::MAX)
        }
    }
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

    #[test]
    fn recv_batch_sizes_that_overflow_are_refused_not_wrapped() {
        // A wrapped size would leave fewer buffer slots than the batch's capacity, and the
        // receive path would hand the kernel headers it never initialised.
        let r = std::panic::catch_unwind(|| RecvBatch::new(2, usize::MAX / 2 + 2));
        assert!(r.is_err(), "an overflowing RecvBatch must not be built");
    }

    #[test]
    fn cmsg_holds_checks_the_message_length() {
        // SAFETY: cmsghdr is plain data; all-zero is a valid value.
        let mut hdr: libc::cmsghdr = unsafe { mem::zeroed() };
        // SAFETY: CMSG_LEN is pure arithmetic.
        let full = unsafe { libc::CMSG_LEN(size_of::<libc::in_pktinfo>() as libc::c_uint) };
        hdr.cmsg_len = full as _;
        assert!(cmsg_holds::<libc::in_pktinfo>(&hdr));
        assert!(!cmsg_holds::<libc::in6_pktinfo>(&hdr));
        hdr.cmsg_len = (full - 1) as _;
        assert!(!cmsg_holds::<libc::in_pktinfo>(&hdr));
    }

    /// A `msghdr` as `recvmsg` leaves it: the source 192.0.2.1:4000 in `name`, and in `control`
    /// the given control messages (level, type, payload, and `cmsg_len` less this many bytes
    /// than the payload needs), with `flags` as `msg_flags`.
    fn received(
        name: &mut libc::sockaddr_storage,
        control: &mut CmsgBuf,
        cmsgs: &[(libc::c_int, libc::c_int, &[u8], usize)],
        flags: libc::c_int,
    ) -> libc::msghdr {
        // SAFETY: sockaddr_in fits in sockaddr_storage, which is aligned for it.
        let sin = unsafe { &mut *std::ptr::from_mut(name).cast::<libc::sockaddr_in>() };
        sin.sin_family = libc::AF_INET as libc::sa_family_t;
        sin.sin_port = 4000u16.to_be();
        sin.sin_addr.s_addr = u32::from(Ipv4Addr::new(192, 0, 2, 1)).to_be();
        // SAFETY: msghdr is plain data; all-zero is a valid value, the fields are set below.
        let mut msg: libc::msghdr = unsafe { mem::zeroed() };
        msg.msg_name = std::ptr::from_mut(name).cast();
        msg.msg_namelen = size_of::<libc::sockaddr_in>() as libc::socklen_t;
        msg.msg_control = control.0.as_mut_ptr().cast();
        msg.msg_controllen = CMSG_BUF_LEN as _;
        msg.msg_flags = flags;
        let mut used = 0;
        // SAFETY: every message written fits the control buffer (CMSG_NEEDED ≤ CMSG_BUF_LEN
        // for the messages these tests write), and CMSG_* stay inside it.
        unsafe {
            let mut c = libc::CMSG_FIRSTHDR(&msg);
            for (i, (level, kind, payload, short)) in cmsgs.iter().enumerate() {
                if i > 0 {
                    c = libc::CMSG_NXTHDR(&msg, c);
                }
                assert!(!c.is_null(), "control buffer too small for the test");
                (*c).cmsg_level = *level;
                (*c).cmsg_type = *kind;
                (*c).cmsg_len =
                    (libc::CMSG_LEN(payload.len() as libc::c_uint) as usize - short) as _;
                std::ptr::copy_nonoverlapping(payload.as_ptr(), libc::CMSG_DATA(c), payload.len());
                used += libc::CMSG_SPACE(payload.len() as libc::c_uint) as usize;
            }
        }
        msg.msg_controllen = used as _;
        msg
    }

    fn pktinfo_v4() -> Vec<u8> {
        // SAFETY: in_pktinfo is plain data; all-zero is a valid value.
        let mut info: libc::in_pktinfo = unsafe { mem::zeroed() };
        info.ipi_ifindex = 3;
        info.ipi_addr.s_addr = u32::from(Ipv4Addr::new(239, 1, 2, 3)).to_be();
        // SAFETY: in_pktinfo is plain data without padding; its bytes are initialised.
        unsafe {
            std::slice::from_raw_parts(
                std::ptr::from_ref(&info).cast::<u8>(),
                size_of::<libc::in_pktinfo>(),
            )
        }
        .to_vec()
    }

    fn parse(
        cmsgs: &[(libc::c_int, libc::c_int, &[u8], usize)],
        flags: libc::c_int,
        on: bool,
    ) -> RecvMeta {
        // SAFETY: sockaddr_storage is plain data; all-zero is a valid value.
        let mut name: libc::sockaddr_storage = unsafe { mem::zeroed() };
        let mut control = CmsgBuf([0; CMSG_BUF_LEN]);
        let msg = received(&mut name, &mut control, cmsgs, flags);
        // SAFETY: `msg` points to the live, initialised `name` and `control` above.
        unsafe { parse_msghdr(&msg, 9, on) }.unwrap()
    }

    #[test]
    fn rxq_ovfl_is_parsed_beside_pktinfo() {
        const PKT: (libc::c_int, libc::c_int) = (libc::IPPROTO_IP, libc::IP_PKTINFO);
        const OVFL: (libc::c_int, libc::c_int) = (libc::SOL_SOCKET, libc::SO_RXQ_OVFL);
        let info = pktinfo_v4();
        let drops = 42u32.to_ne_bytes();
        let both = [
            (PKT.0, PKT.1, &info[..], 0),
            (OVFL.0, OVFL.1, &drops[..], 0),
        ];
        let meta = parse(&both, 0, true);
        assert_eq!(meta.source, "192.0.2.1:4000".parse().unwrap());
        assert_eq!(meta.destination, Some("239.1.2.3".parse().unwrap()));
        assert_eq!(meta.ifindex, Some(3));
        assert_eq!(meta.kernel_drops, Some(42));
        // In the other order too.
        let reversed = [both[1], both[0]];
        assert_eq!(parse(&reversed, 0, true).kernel_drops, Some(42));
        assert_eq!(parse(&reversed, 0, true).ifindex, Some(3));

        // The kernel sends no SO_RXQ_OVFL while the count is 0: with the option on, that is 0.
        let pktinfo_only = [both[0]];
        assert_eq!(parse(&pktinfo_only, 0, true).kernel_drops, Some(0));
        assert_eq!(parse(&pktinfo_only, 0, false).kernel_drops, None);
        assert_eq!(parse(&[], 0, true).kernel_drops, Some(0));

        // A truncated control buffer: nothing in it is trusted, and the count is unknown.
        let cut = parse(&both, libc::MSG_CTRUNC, true);
        assert_eq!(
            (cut.destination, cut.ifindex, cut.kernel_drops),
            (None, None, None)
        );
        assert_eq!(
            parse(&pktinfo_only, libc::MSG_CTRUNC, true).kernel_drops,
            None
        );

        // A message whose own length does not cover its u32 is not read.
        let short = [
            (PKT.0, PKT.1, &info[..], 0),
            (OVFL.0, OVFL.1, &drops[..], 1),
        ];
        let meta = parse(&short, 0, true);
        assert_eq!(meta.kernel_drops, None);
        assert_eq!(meta.ifindex, Some(3));
    }

    #[test]
    fn control_buffer_holds_every_control_message() {
        // SAFETY: CMSG_SPACE is pure arithmetic.
        let v6 = unsafe { libc::CMSG_SPACE(size_of::<libc::in6_pktinfo>() as libc::c_uint) };
        // SAFETY: as above.
        let ovfl = unsafe { libc::CMSG_SPACE(size_of::<u32>() as libc::c_uint) };
        // SAFETY: as above.
        let int = unsafe { libc::CMSG_SPACE(size_of::<libc::c_int>() as libc::c_uint) };
        // SAFETY: as above.
        let ts = unsafe { libc::CMSG_SPACE(size_of::<libc::timespec>() as libc::c_uint) };
        // The const assertion beside CMSG_BUF_LEN checks CMSG_NEEDED; this checks that it is
        // computed as libc computes it at run time: UDP_GRO and the hop limit are ints.
        assert_eq!((v6 + ovfl + 2 * int + ts) as usize, CMSG_NEEDED);
    }

    // The kernel's receive time is read from SCM_TIMESTAMPNS when its message covers a
    // timespec, and not under MSG_CTRUNC.
    #[test]
    fn receive_timestamps_are_parsed() {
        // SAFETY: timespec is plain data; all-zero is a valid value.
        let mut ts: libc::timespec = unsafe { mem::zeroed() };
        ts.tv_sec = 1_700_000_000;
        ts.tv_nsec = 123_456_789;
        // SAFETY: timespec is plain data without padding on Linux; its bytes are initialised.
        let bytes = unsafe {
            std::slice::from_raw_parts(
                std::ptr::from_ref(&ts).cast::<u8>(),
                size_of::<libc::timespec>(),
            )
        }
        .to_vec();
        let msg = (libc::SOL_SOCKET, libc::SCM_TIMESTAMPNS, &bytes[..], 0);
        let meta = parse(&[msg], 0, true);
        assert_eq!(meta.timestamp_ns, Some(1_700_000_000_123_456_789));
        assert_eq!(parse(&[], 0, true).timestamp_ns, None);
        let short = (libc::SOL_SOCKET, libc::SCM_TIMESTAMPNS, &bytes[..], 1);
        assert_eq!(parse(&[short], 0, true).timestamp_ns, None);
        assert_eq!(parse(&[msg], libc::MSG_CTRUNC, true).timestamp_ns, None);
    }

    // The TTL (IPv4) or hop limit (IPv6) is read when its message covers an int, and not under
    // MSG_CTRUNC.
    #[test]
    fn hop_limit_is_parsed() {
        let ttl = 61_i32.to_ne_bytes();
        let v4 = (libc::IPPROTO_IP, libc::IP_TTL, &ttl[..], 0);
        let v6 = (libc::IPPROTO_IPV6, libc::IPV6_HOPLIMIT, &ttl[..], 0);
        assert_eq!(parse(&[v4], 0, true).hop_limit, Some(61));
        assert_eq!(parse(&[v6], 0, true).hop_limit, Some(61));
        assert_eq!(parse(&[], 0, true).hop_limit, None);
        let short = (libc::IPPROTO_IP, libc::IP_TTL, &ttl[..], 1);
        assert_eq!(parse(&[short], 0, true).hop_limit, None);
        assert_eq!(parse(&[v4], libc::MSG_CTRUNC, true).hop_limit, None);
        let info = pktinfo_v4();
        let both = [(libc::IPPROTO_IP, libc::IP_PKTINFO, &info[..], 0), v4];
        let meta = parse(&both, 0, true);
        assert_eq!((meta.hop_limit, meta.ifindex), (Some(61), Some(3)));
    }

    // The UDP_GRO size is read when its message covers an int, only below the buffer's length
    // (the test's datagram is 9 bytes), and not under MSG_CTRUNC.
    #[test]
    fn udp_gro_size_is_parsed() {
        let info = pktinfo_v4();
        let pkt = (libc::IPPROTO_IP, libc::IP_PKTINFO, &info[..], 0);
        let three = 3_i32.to_ne_bytes();
        let nine = 9_i32.to_ne_bytes();
        fn gro(size: &[u8; 4], short: usize) -> (libc::c_int, libc::c_int, &[u8], usize) {
            (libc::SOL_UDP, UDP_GRO, &size[..], short)
        }
        let meta = parse(&[pkt, gro(&three, 0)], 0, true);
        assert_eq!((meta.segment_size, meta.ifindex), (Some(3), Some(3)));
        assert_eq!(parse(&[pkt], 0, true).segment_size, None);
        assert_eq!(
            parse(&[gro(&nine, 0)], 0, true).segment_size,
            None,
            "one datagram"
        );
        assert_eq!(
            parse(&[gro(&three, 1)], 0, true).segment_size,
            None,
            "short"
        );
        let cut = parse(&[pkt, gro(&three, 0)], libc::MSG_CTRUNC, true);
        assert_eq!(cut.segment_size, None);
    }

    #[test]
    fn recv_batch_sizes_are_clamped_and_empty_batches_answer_nothing() {
        let b = RecvBatch::new(0, 0);
        assert_eq!((b.capacity(), b.buf_len()), (1, 1));
        let b = RecvBatch::new(100, 9000);
        assert_eq!((b.capacity(), b.buf_len(), b.len()), (100, 9000, 0));
        assert!(b.is_empty() && !b.is_full());
        assert!(b.get(0).is_none());
        assert!(!b.is_truncated(0));
        assert!(b.metas().is_empty());
        assert_eq!(b.iter().count(), 0);
    }
}
