//! The tokio multicast sender.

use std::net::SocketAddr;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, RawFd};
use std::task::{ready, Context, Poll};

use mcast_core::addr::{Group, GroupAddr};
use mcast_core::frame::{Flags, Seq, SessionId};
use mcast_core::iface::IfaceSpec;
use mcast_core::Transmit;
use mcast_sync::setup::SocketState;
use mcast_sync::{ResolvedIface, SendPath};
use tokio::io::Interest;
use tokio::net::UdpSocket;

use crate::error::io;
use crate::{Error, FrameSink, FramedSink};

/// Options for an async [`Sender`]: the same as mcast-sync's
/// [`SenderBuilder`](mcast_sync::SenderBuilder) (group and port, interface, TTL (default 1),
/// loop (default on), bind address, send buffer, [`SendPath`]), but [`SenderBuilder::build`]
/// returns the tokio [`Sender`]: an async builder cannot yield a blocking socket.
///
/// ```
/// use mcast_async::Sender;
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let tx: mcast_async::Sender = Sender::builder("224.1.1.5".parse()?, 43010)
///     .iface("127.0.0.1".parse()?)
///     .ttl(0)
///     .build()?;
/// tx.send(b"robot").await?;
/// # Ok(())
/// # }
/// ```
///
/// The builder never gives a blocking sender (whose `send` would block the runtime's thread):
///
/// ```compile_fail
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let tx: mcast_sync::Sender = mcast_async::Sender::builder("224.1.1.5".parse()?, 43010)
///     .iface("127.0.0.1".parse()?)
///     .ttl(0)
///     .build()?;
/// # Ok(())
/// # }
/// ```
///
/// For a blocking sender moved onto tokio, use [`Sender::from_sync`].
#[derive(Debug, Clone)]
#[must_use]
pub struct SenderBuilder(mcast_sync::SenderBuilder);

impl SenderBuilder {
    /// The interface to send on (see [`mcast_sync::SenderBuilder::iface`]; default
    /// [`IfaceSpec::Any`], the kernel's choice by route).
    pub fn iface(self, iface: IfaceSpec) -> Self {
        Self(self.0.iface(iface))
    }

    /// The IPv4 TTL or IPv6 hop limit (default 1: the datagrams never cross a router).
    pub fn ttl(self, ttl: u32) -> Self {
        Self(self.0.ttl(ttl))
    }

    /// Whether our own datagrams loop back to receivers on this host (default on).
    pub fn loopback(self, on: bool) -> Self {
        Self(self.0.loopback(on))
    }

    /// The local address and port to send from (default: any address, a port the kernel picks).
    pub fn bind(self, addr: SocketAddr) -> Self {
        Self(self.0.bind(addr))
    }

    /// Asks for a send buffer of this many bytes (`SO_SNDBUF`).
    pub fn send_buffer_size(self, bytes: usize) -> Self {
        Self(self.0.send_buffer_size(bytes))
    }

    /// Asks the kernel for the receive time of datagrams that come back to this socket (see
    /// [`mcast_sync::SenderBuilder::recv_timestamps`]).
    pub fn recv_timestamps(self, on: bool) -> Self {
        Self(self.0.recv_timestamps(on))
    }

    /// How [`Sender::send_transmit`] hands a transmit of several datagrams to the kernel
    /// (default [`SendPath::Gso`]).
    pub fn send_path(self, path: SendPath) -> Self {
        Self(self.0.send_path(path))
    }

    /// The group datagrams go to.
    pub fn group(&self) -> Group {
        self.0.group()
    }

    /// The destination port.
    pub fn port(&self) -> u16 {
        self.0.port()
    }

    /// Opens and sets up the socket with mcast-sync's setup and registers it with tokio.
    ///
    /// # Panics
    ///
    /// Outside a tokio runtime (as `tokio::net::UdpSocket::from_std`).
    pub fn build(self) -> Result<Sender, Error> {
        Sender::from_sync(self.0.build()?)
    }
}

/// A tokio multicast sender: one socket set up by mcast-sync, sending to one group and port.
#[derive(Debug)]
pub struct Sender {
    io: UdpSocket,
    state: SocketState,
    destination: GroupAddr,
}

impl Sender {
    /// Starts a builder for datagrams to `group`:`port` (mcast-sync's options); its
    /// [`build`](SenderBuilder::build) returns this async sender.
    pub fn builder(group: Group, port: u16) -> SenderBuilder {
        SenderBuilder(mcast_sync::Sender::builder(group, port))
    }

    /// Builds the socket with mcast-sync's setup and registers it with tokio: the same as
    /// [`SenderBuilder::build`].
    ///
    /// # Panics
    ///
    /// Outside a tokio runtime.
    pub fn open(builder: SenderBuilder) -> Result<Self, Error> {
        builder.build()
    }

    /// Moves a blocking sender onto tokio (its socket is made nonblocking).
    ///
    /// # Panics
    ///
    /// Outside a tokio runtime.
    pub fn from_sync(sender: mcast_sync::Sender) -> Result<Self, Error> {
        let (socket, state, destination) = sender.into_parts();
        mcast_sync::setup::set_nonblocking(&socket)?;
        let io = UdpSocket::from_std(socket)
            .map_err(|e| io("cannot register the socket with tokio", e))?;
        Ok(Self {
            io,
            state,
            destination,
        })
    }

    /// Sends one datagram to the group. Returns the bytes sent.
    ///
    /// # Cancel safety
    ///
    /// This method is cancel safe. The datagram is handed to the socket only inside a poll
    /// that then returns, so if `send` is used as the event in a [`select!`](https://docs.rs/tokio/1/tokio/macro.select.html) and
    /// another branch completes first, the datagram was not sent.
    pub async fn send(&self, payload: &[u8]) -> Result<usize, Error> {
        self.io
            .async_io(Interest::WRITABLE, || self.send_now(payload))
            .await
            .map_err(|source| self.send_error(source))
    }

    /// Sends what a core [`Transmit`] describes from `buf`, over the [`SendPath`] in use.
    /// Returns how many datagrams went out; when the socket's buffer fills after the first
    /// datagram, the count so far (the caller sends the rest again).
    ///
    /// # Cancel safety
    ///
    /// This method is cancel safe, as [`Sender::send`] is: if the future is dropped before it
    /// completes, nothing was sent.
    pub async fn send_transmit(&self, transmit: &Transmit, buf: &[u8]) -> Result<usize, Error> {
        self.io
            .async_io(Interest::WRITABLE, || {
                self.state.send_transmit(self.io.as_fd(), transmit, buf)
            })
            .await
            .map_err(|source| {
                Error::Socket(mcast_sync::Error::send(
                    transmit.destination,
                    self.state.iface(),
                    source,
                ))
            })
    }

    /// Polls to send one datagram (the building block of the sinks). The datagram is sent
    /// only when this returns `Ready(Ok(_))`.
    pub fn poll_send(&self, cx: &mut Context<'_>, payload: &[u8]) -> Poll<Result<usize, Error>> {
        loop {
            ready!(self.poll_send_ready(cx))?;
            match self
                .io
                .try_io(Interest::WRITABLE, || self.send_now(payload))
            {
                // Readiness was cleared: poll again so the waker is registered.
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => continue,
                result => return Poll::Ready(result.map_err(|e| self.send_error(e))),
            }
        }
    }

    /// Polls until the socket can take a datagram (the sinks build their frame then).
    pub(crate) fn poll_send_ready(&self, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        self.io.poll_send_ready(cx).map_err(|e| self.send_error(e))
    }

    /// One nonblocking send of `payload` to the group (`WouldBlock` when the buffer is full).
    fn send_now(&self, payload: &[u8]) -> std::io::Result<usize> {
        self.state
            .send(self.io.as_fd(), self.destination.into(), payload)
    }

    fn send_error(&self, source: std::io::Error) -> Error {
        Error::Socket(mcast_sync::Error::send(
            self.destination.into(),
            self.state.iface(),
            source,
        ))
    }

    /// Where datagrams go: the group and port (and, for an IPv6 link-local group, the
    /// interface as scope id).
    pub fn destination(&self) -> GroupAddr {
        self.destination
    }

    /// The local address and port the socket is bound to.
    pub fn local_addr(&self) -> Result<SocketAddr, Error> {
        self.io
            .local_addr()
            .map_err(|e| io("cannot read the local address", e))
    }

    /// The send path [`Sender::send_transmit`] uses now: the one the builder asked for
    /// ([`SenderBuilder::send_path`]), or [`SendPath::Mmsg`] once the kernel refused UDP GSO.
    pub fn send_path(&self) -> SendPath {
        self.state.send_path()
    }

    /// The interface it sends on, resolved.
    pub fn iface(&self) -> &ResolvedIface {
        self.state.iface()
    }

    /// Changes the IPv4 TTL or IPv6 hop limit of the datagrams sent from now on (the builder's
    /// [`SenderBuilder::ttl`]).
    pub fn set_ttl(&self, ttl: u32) -> Result<(), Error> {
        Ok(self.state.set_ttl(self.io.as_fd(), ttl)?)
    }

    /// The IPv4 TTL or IPv6 hop limit the datagrams go out with.
    pub fn ttl(&self) -> Result<u32, Error> {
        Ok(self.state.ttl(self.io.as_fd())?)
    }

    /// Changes whether the datagrams sent from now on loop back to receivers on this host (the
    /// builder's [`SenderBuilder::loopback`]). The flag governs the copy the host keeps of a
    /// datagram sent through another interface: one sent through `lo` comes back through it
    /// whatever the flag.
    pub fn set_loopback(&self, on: bool) -> Result<(), Error> {
        Ok(self.state.set_loopback(self.io.as_fd(), on)?)
    }

    /// Whether the datagrams loop back to receivers on this host.
    pub fn loopback(&self) -> Result<bool, Error> {
        Ok(self.state.loopback(self.io.as_fd())?)
    }

    /// A [`Sink`](crate::Sink) of hand-built frames: each [`mcast_core::frame::FrameRepr`] is
    /// encoded with the core's codec and sent as one datagram. The caller supplies every
    /// field, `seq` and `sent_at_ns` included; [`Sender::into_framed`] fills those in.
    pub fn into_frame_sink(self) -> FrameSink {
        FrameSink::new(self)
    }

    /// A [`Sink`](crate::Sink) of payloads, each sent as one frame of `session` with the next
    /// sequence number (from 0) and the wall clock as its send time, as
    /// `mcast send --framed` sends them; see [`FramedSink`].
    pub fn into_framed(self, session: SessionId) -> FramedSink {
        FramedSink::new(self, session, Seq(0), Flags::default())
    }

    /// As [`Sender::into_framed`], with the first frame's sequence number `first_seq` (a
    /// session resumed, say) and the flag bits `flags` in every frame.
    ///
    /// ```
    /// use mcast_async::core::frame::{Flags, Seq, SessionId};
    /// use mcast_async::Sender;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let tx = Sender::builder("224.1.1.5".parse()?, 43012)
    ///     .iface("127.0.0.1".parse()?)
    ///     .ttl(0)
    ///     .build()?;
    /// let sink = tx.into_framed_with(SessionId(7), Seq(1000), Flags::default());
    /// assert_eq!(sink.next_seq(), Seq(1000));
    /// # Ok(())
    /// # }
    /// ```
    pub fn into_framed_with(self, session: SessionId, first_seq: Seq, flags: Flags) -> FramedSink {
        FramedSink::new(self, session, first_seq, flags)
    }
}

/// The sender's one socket, to read an option this crate does not offer. Setting options
/// through it bypasses the sender's own bookkeeping (its interface, its send path).
impl AsFd for Sender {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.io.as_fd()
    }
}

impl AsRawFd for Sender {
    fn as_raw_fd(&self) -> RawFd {
        self.io.as_raw_fd()
    }
}
