//! The tokio multicast receiver, over one socket or, for many groups, several.

use std::future::poll_fn;
use std::net::SocketAddr;
use std::os::fd::AsFd;
use std::task::{Context, Poll};
use std::time::Duration;

use mcast_core::addr::{Group, Source};
use mcast_core::RecvMeta;
use mcast_sync::{Joined, ReceiverBuilder, ResolvedIface};
use tokio::io::Interest;
use tokio::net::UdpSocket;

use crate::error::io;
use crate::{DatagramStream, Error, FrameStream};

/// A tokio multicast receiver over the sockets mcast-sync set up and joined.
#[derive(Debug)]
pub struct Receiver {
    sockets: Vec<UdpSocket>,
    joined: Joined,
    timeout: Option<Duration>,
    next: usize,
}

impl Receiver {
    /// Starts a builder (mcast-sync's, with the same options) for a receiver on `port`; finish
    /// it with [`Receiver::open`]. The builder's
    /// [`read_timeout`](ReceiverBuilder::read_timeout) is honoured by [`Receiver::recv_from`]
    /// and the streams, with tokio's timer.
    pub fn builder(port: u16) -> ReceiverBuilder {
        mcast_sync::Receiver::builder(port)
    }

    /// Builds and joins with mcast-sync's setup and registers the sockets with tokio. When it
    /// returns, every join is done. Must be called within a tokio runtime.
    pub fn open(builder: ReceiverBuilder) -> Result<Self, Error> {
        Self::from_sync(builder.build()?)
    }

    /// Moves a blocking receiver onto tokio, keeping its read timeout. Must be called within a
    /// tokio runtime.
    pub fn from_sync(receiver: mcast_sync::Receiver) -> Result<Self, Error> {
        let timeout = receiver.read_timeout();
        let (std_sockets, joined) = receiver.into_parts();
        let mut sockets = Vec::with_capacity(std_sockets.len());
        for s in std_sockets {
            mcast_sync::setup::set_nonblocking(&s)?;
            sockets.push(
                UdpSocket::from_std(s)
                    .map_err(|e| io("cannot register the socket with tokio", e))?,
            );
        }
        Ok(Self {
            sockets,
            joined,
            timeout,
            next: 0,
        })
    }

    /// Receives the next datagram from any of the sockets into `buf`. Returns its length and
    /// metadata: the sender, the group it was sent to and the interface index.
    ///
    /// With a [read timeout](Self::read_timeout), fails with an error for which
    /// [`Error::is_timeout`] holds (`mcast_sync::Error::TimedOut`) when no datagram arrives
    /// in time; call again to go on waiting.
    ///
    /// # Cancel safety
    ///
    /// This method is cancel safe. A datagram is read from a socket only inside a poll that
    /// then returns it at once, so if `recv_from` is used as the event in a
    /// [`tokio::select!`] and another branch completes first, no datagram has been taken
    /// off any socket.
    pub async fn recv_from(&mut self, buf: &mut [u8]) -> Result<(usize, RecvMeta), Error> {
        let Some(timeout) = self.timeout else {
            return poll_fn(|cx| self.poll_recv_from(cx, buf)).await;
        };
        match tokio::time::timeout(timeout, poll_fn(|cx| self.poll_recv_from(cx, buf))).await {
            Ok(result) => result,
            Err(_elapsed) => Err(timed_out(timeout)),
        }
    }

    /// Polls every socket, round-robin, for a datagram. On `Pending`, each socket will wake the
    /// task when it becomes readable. This is the building block of [`Receiver::recv_from`]
    /// and the streams; it applies no read timeout.
    ///
    /// A datagram is read (inside tokio's `try_io`) only when the poll returns it, so dropping
    /// the caller between polls loses nothing.
    pub fn poll_recv_from(
        &mut self,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<Result<(usize, RecvMeta), Error>> {
        let n = self.sockets.len();
        for k in 0..n {
            let i = (self.next + k) % n;
            let sock = &self.sockets[i];
            loop {
                match sock.poll_recv_ready(cx) {
                    Poll::Ready(Ok(())) => {}
                    Poll::Ready(Err(e)) => return Poll::Ready(Err(io("cannot receive", e))),
                    Poll::Pending => break,
                }
                match sock.try_io(Interest::READABLE, || {
                    self.joined.state().recv(sock.as_fd(), buf)
                }) {
                    Ok(meta) => {
                        self.next = (i + 1) % n;
                        return Poll::Ready(Ok((meta.len, meta)));
                    }
                    // Readiness was cleared: poll again so the waker is registered.
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => continue,
                    Err(e) => return Poll::Ready(Err(io("cannot receive", e))),
                }
            }
        }
        Poll::Pending
    }

    /// The read timeout of [`Receiver::recv_from`] and the streams (`None`: wait forever).
    pub fn read_timeout(&self) -> Option<Duration> {
        self.timeout
    }

    /// Changes the read timeout (`None`: wait forever).
    pub fn set_read_timeout(&mut self, timeout: Option<Duration>) {
        self.timeout = timeout;
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

    /// The interface joined on, resolved.
    pub fn iface(&self) -> &ResolvedIface {
        self.joined.iface()
    }

    /// How many sockets carry the joins (more than one past `igmp_max_memberships` groups).
    pub fn socket_count(&self) -> usize {
        self.sockets.len()
    }

    /// The receive buffer the kernel granted per socket, when one was asked for
    /// ([`ReceiverBuilder::recv_buffer_size`]).
    pub fn recv_buffer_size(&self) -> Option<usize> {
        self.joined.recv_buffer_size()
    }

    /// The first socket's local address.
    pub fn local_addr(&self) -> Result<SocketAddr, Error> {
        let sock = self.sockets.first().ok_or(mcast_sync::Error::NoGroups)?;
        sock.local_addr()
            .map_err(|e| io("cannot read the local address", e))
    }

    /// A [`futures::Stream`] of raw datagrams with their metadata. The read timeout carries
    /// over: see [`DatagramStream`].
    pub fn into_datagrams(self) -> DatagramStream {
        DatagramStream::new(self)
    }

    /// A [`futures::Stream`] of decoded frames with their metadata; malformed datagrams are
    /// yielded as [`Error::Frame`] and the stream goes on. The read timeout carries over: see
    /// [`FrameStream`].
    pub fn into_frames(self) -> FrameStream {
        FrameStream::new(self)
    }
}

/// The error a read timeout yields (the blocking receiver's, so [`Error::is_timeout`] holds).
pub(crate) fn timed_out(timeout: Duration) -> Error {
    Error::Socket(mcast_sync::Error::TimedOut(timeout))
}
