//! [`SocketState`]: what setup learnt about a socket, and the send and receive calls both adapters
//! make through it ([`SendPath`], [`RecvBufferReport`]).

use std::io;
use std::net::SocketAddr;
use std::os::fd::BorrowedFd;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::Arc;

use mcast_core::{RecvMeta, Transmit};
use socket2::{SockAddr, SockRef};

use crate::resolve::ResolvedIface;
use crate::Error;

use super::batch::{recvmmsg_chunk, RecvBatch, MMSG_CHUNK};
use super::options::opt;
use super::recv::recvmsg;
use super::send::{gso_unsupported, send_gso, send_mmsg, MAX_GSO_BYTES, MAX_GSO_SEGMENTS};

/// The per-socket knowledge `send` and `recv` need, and what setup learnt (the resolved
/// interface, the receive buffer the kernel granted, which options the kernel lacks, the send
/// path in use).
#[derive(Debug, Clone)]
pub struct SocketState {
    pub(super) v6: bool,
    pub(super) iface: ResolvedIface,
    pub(super) recv_buffer: Option<RecvBufferReport>,
    pub(super) multicast_all_off: bool,
    pub(super) kernel_drops_on: bool,
    pub(super) gro_on: bool,
    /// A [`SendPath`] as its `u8`, shared by every clone of the state.
    pub(super) send_path: Arc<AtomicU8>,
}

/// What came of a receiver's request for a receive buffer ([`crate::ReceiverBuilder::recv_buffer_size`]).
///
/// Linux takes a request of `r` bytes as follows, and reports (`SO_RCVBUF` read back) twice
/// what it accepted, the other half being its bookkeeping:
///
/// | option | accepted | granted (read back) |
/// |--------|----------|---------------------|
/// | `SO_RCVBUF` | `min(r, net.core.rmem_max)` | twice that |
/// | `SO_RCVBUFFORCE` (needs `CAP_NET_ADMIN`, root say) | `min(r, INT_MAX / 2)` | twice that, at most [`MAX_GRANT`](Self::MAX_GRANT) |
///
/// (and never less than the kernel's minimum of about 2 KiB). Setup asks with `SO_RCVBUF`
/// and, when the kernel accepted less than the request ([`clamped`](Self::clamped)), tries
/// `SO_RCVBUFFORCE`, which passes `net.core.rmem_max` with `CAP_NET_ADMIN`. Without it,
/// `sysctl -w net.core.rmem_max=N` raises the cap.
///
/// ```
/// use mcast_sync::RecvBufferReport;
///
/// // 8 MiB asked for, net.core.rmem_max 4 MiB, no CAP_NET_ADMIN: 4 MiB accepted, 8 MiB read back.
/// let capped = RecvBufferReport { requested: 8 << 20, granted: 8 << 20, rmem_max: Some(4 << 20), forced: false };
/// assert_eq!(capped.accepted(), 4 << 20);
/// assert!(capped.clamped());
/// // With CAP_NET_ADMIN, SO_RCVBUFFORCE takes all of it.
/// let forced = RecvBufferReport { granted: 16 << 20, forced: true, ..capped };
/// assert!(!forced.clamped());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecvBufferReport {
    /// The bytes asked for per socket.
    pub requested: usize,
    /// The bytes the kernel granted per socket, its own figure as `SO_RCVBUF` reads back: twice
    /// what it [accepted](Self::accepted) of the request. With several sockets, the smallest
    /// grant.
    pub granted: usize,
    /// `net.core.rmem_max` when setup asked, if `/proc/sys/net/core/rmem_max` was readable.
    pub rmem_max: Option<usize>,
    /// Whether `SO_RCVBUFFORCE` was needed (`SO_RCVBUF` accepted less than the request) and the
    /// kernel took it: the process has `CAP_NET_ADMIN`, and the grant may pass
    /// `net.core.rmem_max`.
    pub forced: bool,
}

impl RecvBufferReport {
    /// The largest grant a socket can have: `SO_RCVBUFFORCE` accepts at most `INT_MAX / 2`
    /// bytes and doubles them (2,147,483,646).
    pub const MAX_GRANT: usize = (i32::MAX as usize / 2) * 2;

    /// The bytes of the request the kernel accepted: half of [`granted`](Self::granted), the
    /// other half being the kernel's bookkeeping.
    pub fn accepted(&self) -> usize {
        self.granted / 2
    }

    /// Whether the kernel accepted less than was asked for: `net.core.rmem_max` capped a plain
    /// request, or (when [`forced`](Self::forced)) the request was more than a socket's buffer
    /// holds ([`MAX_GRANT`](Self::MAX_GRANT)).
    pub fn clamped(&self) -> bool {
        self.accepted() < self.requested
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
        crate::trace::debug!(ttl, v6 = self.v6, "multicast TTL");
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
        crate::trace::debug!(on, v6 = self.v6, "multicast loop");
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
    /// datagram. A last lone datagram always goes out with one `sendto`, and a transmit of 0
    /// bytes is one zero-length datagram.
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
        let destination = transmit.destination;
        if data.is_empty() {
            // One zero-length datagram: UDP carries it, and the loop below would send nothing.
            return self.send(sock, destination, data).map(|_| 1);
        }
        let seg = match transmit.segment_size {
            Some(n) if n > 0 => n,
            _ => data.len(),
        };
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
