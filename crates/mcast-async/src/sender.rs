//! The tokio multicast sender.

use std::net::SocketAddr;
use std::os::fd::AsFd;
use std::task::{ready, Context, Poll};

use mcast_core::addr::{Group, GroupAddr};
use mcast_core::frame::SessionId;
use mcast_core::Transmit;
use mcast_sync::setup::SocketState;
use mcast_sync::{ResolvedIface, SendPath, SenderBuilder};
use tokio::io::Interest;
use tokio::net::UdpSocket;

use crate::error::io;
use crate::{Error, FrameSink, FramedSink};

/// A tokio multicast sender: one socket set up by mcast-sync, sending to one group and port.
#[derive(Debug)]
pub struct Sender {
    io: UdpSocket,
    state: SocketState,
    destination: GroupAddr,
}

impl Sender {
    /// Starts a builder (mcast-sync's, with the same options) for datagrams to `group`:`port`;
    /// finish it with [`Sender::open`].
    pub fn builder(group: Group, port: u16) -> SenderBuilder {
        mcast_sync::Sender::builder(group, port)
    }

    /// Builds the socket with mcast-sync's setup and registers it with tokio. Must be called
    /// within a tokio runtime.
    pub fn open(builder: SenderBuilder) -> Result<Self, Error> {
        Self::from_sync(builder.build()?)
    }

    /// Moves a blocking sender onto tokio. Must be called within a tokio runtime.
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
    /// that then returns, so if `send` is used as the event in a [`tokio::select!`] and
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

    /// A [`futures::Sink`] of hand-built frames: each [`mcast_core::frame::FrameRepr`] is
    /// encoded with the core's codec and sent as one datagram. The caller supplies every
    /// field, `seq` and `sent_at_ns` included; [`Sender::into_framed`] fills those in.
    pub fn into_frame_sink(self) -> FrameSink {
        FrameSink::new(self)
    }

    /// A [`futures::Sink`] of payloads, each sent as one frame of `session` with the next
    /// sequence number (from 0) and the wall clock as its send time, as
    /// `mcast send --framed` sends them; see [`FramedSink`].
    pub fn into_framed(self, session: SessionId) -> FramedSink {
        FramedSink::new(self, session)
    }
}
