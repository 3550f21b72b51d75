//! The blocking multicast sender.

use std::net::{SocketAddr, UdpSocket};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, RawFd};

use mcast_core::addr::{Group, GroupAddr};
use mcast_core::iface::IfaceSpec;
use mcast_core::Transmit;

use crate::resolve::ResolvedIface;
use crate::setup::{self, SendPath, SenderConfig, SocketState};
use crate::Error;

/// Options for a [`Sender`]: group and port, interface, TTL (default 1), loop (default on),
/// bind address, send buffer, and the [`SendPath`] of [`Sender::send_transmit`] (default
/// [`SendPath::Gso`]).
///
/// ```no_run
/// use mcast_sync::Sender;
/// let tx = Sender::builder("224.1.1.5".parse()?, 50001)
///     .iface("192.168.56.3".parse()?)
///     .ttl(1)
///     .build()?;
/// tx.send(b"robot")?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone)]
#[must_use]
pub struct SenderBuilder {
    cfg: SenderConfig,
}

impl SenderBuilder {
    /// The interface to send on: by IPv4 address (`IP_MULTICAST_IF`, the lecture's way), by
    /// name or index (`ip_mreqn` with the index; `IPV6_MULTICAST_IF` for IPv6), or
    /// [`IfaceSpec::Any`] for the kernel's choice by route (the default).
    pub fn iface(mut self, iface: IfaceSpec) -> Self {
        self.cfg.iface = iface;
        self
    }

    /// The IPv4 TTL or IPv6 hop limit (default 1: the datagrams never cross a router).
    pub fn ttl(mut self, ttl: u32) -> Self {
        self.cfg.ttl = ttl;
        self
    }

    /// Whether our own datagrams loop back to receivers on this host (default on).
    pub fn loopback(mut self, on: bool) -> Self {
        self.cfg.loopback = on;
        self
    }

    /// The local address and port to send from (default: any address, a port the kernel picks).
    pub fn bind(mut self, addr: SocketAddr) -> Self {
        self.cfg.bind = Some(addr);
        self
    }

    /// Asks for a send buffer of this many bytes (`SO_SNDBUF`).
    pub fn send_buffer_size(mut self, bytes: usize) -> Self {
        self.cfg.send_buffer = Some(bytes);
        self
    }

    /// Asks the kernel for the receive time (`SO_TIMESTAMPNS`) of datagrams that come back to
    /// this socket (a ping's unicast answers), as
    /// [`RecvMeta::timestamp_ns`](mcast_core::RecvMeta::timestamp_ns).
    pub fn recv_timestamps(mut self, on: bool) -> Self {
        self.cfg.recv_timestamps = on;
        self
    }

    /// How [`Sender::send_transmit`] hands a transmit of several datagrams to the kernel
    /// (default [`SendPath::Gso`], which falls back to [`SendPath::Mmsg`] for good when the
    /// kernel refuses UDP GSO).
    pub fn send_path(mut self, path: SendPath) -> Self {
        self.cfg.send_path = path;
        self
    }

    /// The group datagrams go to.
    pub fn group(&self) -> Group {
        self.cfg.group
    }

    /// The destination port.
    pub fn port(&self) -> u16 {
        self.cfg.port
    }

    /// Opens and sets up the socket.
    pub fn build(self) -> Result<Sender, Error> {
        let open = setup::open_sender(&self.cfg)?;
        Ok(Sender {
            socket: open.socket,
            state: open.state,
            destination: group_addr(self.cfg.group, open.destination),
        })
    }
}

/// A blocking multicast sender: one UDP socket set up to send to one group and port.
#[derive(Debug)]
pub struct Sender {
    socket: UdpSocket,
    state: SocketState,
    destination: GroupAddr,
}

/// The group's address as the socket sends to it: `group` with the port and (IPv6) scope id
/// setup chose.
fn group_addr(group: Group, to: SocketAddr) -> GroupAddr {
    let scope_id = match to {
        SocketAddr::V4(_) => 0,
        SocketAddr::V6(a) => a.scope_id(),
    };
    GroupAddr::new(group, to.port()).with_scope_id(scope_id)
}

impl Sender {
    /// Starts a builder for datagrams to `group`:`port`.
    pub fn builder(group: Group, port: u16) -> SenderBuilder {
        SenderBuilder {
            cfg: SenderConfig {
                group,
                port,
                iface: IfaceSpec::Any,
                ttl: 1,
                loopback: true,
                bind: None,
                send_buffer: None,
                send_path: SendPath::Gso,
                recv_timestamps: false,
            },
        }
    }

    /// Sends one datagram to the group. Returns the bytes sent.
    pub fn send(&self, payload: &[u8]) -> Result<usize, Error> {
        self.state
            .send(self.socket.as_fd(), self.destination.into(), payload)
            .map_err(|source| Error::send(self.destination.into(), self.state.iface(), source))
    }

    /// Sends what a core [`Transmit`] describes from `buf` (several datagrams when it carries a
    /// segment size), over the [`SendPath`] in use. Returns how many datagrams went out: an
    /// error after the first datagram (`ENOBUFS` when the kernel cannot keep up, say) ends the
    /// call with the count so far, so the caller can send the rest again; an error before it is
    /// returned.
    pub fn send_transmit(&self, transmit: &Transmit, buf: &[u8]) -> Result<usize, Error> {
        self.state
            .send_transmit(self.socket.as_fd(), transmit, buf)
            .map_err(|source| Error::send(transmit.destination, self.state.iface(), source))
    }

    /// Where datagrams go: the group and port (and, for an IPv6 link-local group, the
    /// interface as scope id), ready for the core's
    /// [`SenderConfig::new`](mcast_core::session::SenderConfig::new).
    pub fn destination(&self) -> GroupAddr {
        self.destination
    }

    /// The local address and port the socket is bound to.
    pub fn local_addr(&self) -> Result<SocketAddr, Error> {
        self.socket.local_addr().map_err(|source| Error::Io {
            context: "cannot read the local address",
            source,
        })
    }

    /// The interface it sends on, resolved.
    pub fn iface(&self) -> &ResolvedIface {
        self.state.iface()
    }

    /// The send path [`Sender::send_transmit`] uses now: the one the builder asked for, or
    /// [`SendPath::Mmsg`] once the kernel refused UDP GSO.
    pub fn send_path(&self) -> SendPath {
        self.state.send_path()
    }

    /// Whether [`Sender::send_transmit`] still uses UDP GSO: the send path is
    /// [`SendPath::Gso`] (it falls back to [`SendPath::Mmsg`] for good when the kernel refuses
    /// GSO).
    pub fn gso_enabled(&self) -> bool {
        self.state.gso_enabled()
    }

    /// Changes the IPv4 TTL or IPv6 hop limit of the datagrams sent from now on (the builder's
    /// [`SenderBuilder::ttl`]).
    ///
    /// ```
    /// use mcast_sync::Sender;
    /// let tx = Sender::builder("224.1.1.5".parse()?, 43003)
    ///     .iface("127.0.0.1".parse()?)
    ///     .ttl(0)
    ///     .build()?;
    /// tx.set_ttl(1)?;
    /// tx.set_loopback(false)?;
    /// assert_eq!((tx.ttl()?, tx.loopback()?), (1, false));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn set_ttl(&self, ttl: u32) -> Result<(), Error> {
        self.state.set_ttl(self.socket.as_fd(), ttl)
    }

    /// The IPv4 TTL or IPv6 hop limit the datagrams go out with.
    pub fn ttl(&self) -> Result<u32, Error> {
        self.state.ttl(self.socket.as_fd())
    }

    /// Changes whether the datagrams sent from now on loop back to receivers on this host (the
    /// builder's [`SenderBuilder::loopback`]). The flag governs the copy the host keeps of a
    /// datagram sent through another interface: one sent through `lo` comes back through it
    /// whatever the flag.
    pub fn set_loopback(&self, on: bool) -> Result<(), Error> {
        self.state.set_loopback(self.socket.as_fd(), on)
    }

    /// Whether the datagrams loop back to receivers on this host.
    pub fn loopback(&self) -> Result<bool, Error> {
        self.state.loopback(self.socket.as_fd())
    }

    /// The socket, its shared state and the destination, for another runtime (mcast-async).
    pub fn into_parts(self) -> (UdpSocket, SocketState, GroupAddr) {
        (self.socket, self.state, self.destination)
    }
}

/// The sender's one socket, to wait for it beside others or to read an option this crate does
/// not offer. Setting options through it bypasses the sender's own bookkeeping (its interface,
/// its send path).
impl AsFd for Sender {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.socket.as_fd()
    }
}

impl AsRawFd for Sender {
    fn as_raw_fd(&self) -> RawFd {
        self.socket.as_raw_fd()
    }
}
