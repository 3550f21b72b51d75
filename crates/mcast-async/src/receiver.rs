//! The tokio multicast receiver, over one socket or, for many groups, several.

use std::future::poll_fn;
use std::net::SocketAddr;
use std::os::fd::AsFd;
use std::task::{Context, Poll};

use mcast_core::addr::Group;
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
    next: usize,
}

impl Receiver {
    /// Starts a builder (mcast-sync's, with the same options) for a receiver on `port`; finish
    /// it with [`Receiver::open`]. The builder's read timeout is not used: wrap calls in
    /// `tokio::time::timeout` instead.
    pub fn builder(port: u16) -> ReceiverBuilder {
        mcast_sync::Receiver::builder(port)
    }

    /// Builds and joins with mcast-sync's setup and registers the sockets with tokio. When it
    /// returns, every join is done. Must be called within a tokio runtime.
    pub fn open(builder: ReceiverBuilder) -> Result<Self, Error> {
        Self::from_sync(builder.build()?)
    }

    /// Moves a blocking receiver onto tokio. Must be called within a tokio runtime.
    pub fn from_sync(receiver: mcast_sync::Receiver) -> Result<Self, Error> {
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
            next: 0,
        })
    }

    /// Receives the next datagram from any of the sockets into `buf`. Returns its length and
    /// metadata: the sender, the group it was sent to and the interface index.
    pub async fn recv_from(&mut self, buf: &mut [u8]) -> Result<(usize, RecvMeta), Error> {
        poll_fn(|cx| self.poll_recv_from(cx, buf)).await
    }

    /// Polls every socket, round-robin, for a datagram. On `Pending`, each socket will wake the
    /// task when it becomes readable.
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

    /// The groups joined.
    pub fn groups(&self) -> &[Group] {
        self.joined.groups()
    }

    /// The port.
    pub fn port(&self) -> u16 {
        self.joined.port()
    }

    /// The interface joined on, resolved.
    pub fn iface(&self) -> &ResolvedIface {
        self.joined.iface()
    }

    /// How many sockets carry the joins.
    pub fn socket_count(&self) -> usize {
        self.sockets.len()
    }

    /// The first socket's local address.
    pub fn local_addr(&self) -> Result<SocketAddr, Error> {
        let sock = self.sockets.first().ok_or(mcast_sync::Error::NoGroups)?;
        sock.local_addr()
            .map_err(|e| io("cannot read the local address", e))
    }

    /// A [`futures::Stream`] of raw datagrams with their metadata.
    pub fn into_datagrams(self) -> DatagramStream {
        DatagramStream::new(self)
    }

    /// A [`futures::Stream`] of decoded frames with their metadata; malformed datagrams are
    /// yielded as [`Error::Frame`] and the stream goes on.
    pub fn into_frames(self) -> FrameStream {
        FrameStream::new(self)
    }
}
