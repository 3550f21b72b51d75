//! A blocking unicast UDP socket connected to one peer, for request/response exchanges beside
//! multicast (the queries of `mcast ping --ssmping`, say).
//!
//! It is set up in [`crate::setup`] like every socket of mcast: bound to the named interface's
//! address (or the route's choice), connected to the peer, `SO_REUSEADDR` on so that a
//! [`crate::Receiver`] can bind a group to the same port (an ssmping server multicasts its
//! replies to the client's own port), pktinfo on, and the arrival TTL / hop limit on request.
//!
//! ```no_run
//! use mcast_sync::unicast::UnicastSocket;
//! let sock = UnicastSocket::builder("192.0.2.1:4321".parse()?)
//!     .iface("192.0.2.7".parse()?)
//!     .recv_hop_limit(true)
//!     .build()?;
//! sock.send(b"Q")?;
//! let mut buf = [0u8; 1500];
//! if let Some((n, meta)) = sock.try_recv(&mut buf)? {
//!     println!("{n} bytes from {} (hop limit {:?})", meta.source, meta.hop_limit);
//! }
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::io;
use std::net::{SocketAddr, UdpSocket};
use std::os::fd::{AsFd, BorrowedFd};

use mcast_core::iface::IfaceSpec;
use mcast_core::RecvMeta;

use crate::resolve::ResolvedIface;
use crate::setup::{self, SocketState, UnicastConfig};
use crate::Error;

/// Options for a [`UnicastSocket`]: the peer, the interface to send from, and whether to
/// report each datagram's TTL / hop limit.
#[derive(Debug, Clone)]
#[must_use]
pub struct UnicastBuilder {
    cfg: UnicastConfig,
}

impl UnicastBuilder {
    /// The interface to send from, whose address the socket binds: by address, name or index,
    /// or [`IfaceSpec::Any`] for the route's choice (the default).
    pub fn iface(mut self, iface: IfaceSpec) -> Self {
        self.cfg.iface = iface;
        self
    }

    /// Asks for each datagram's TTL / hop limit, reported in [`RecvMeta::hop_limit`] (default
    /// off).
    pub fn recv_hop_limit(mut self, on: bool) -> Self {
        self.cfg.hop_limit = on;
        self
    }

    /// Opens the socket, binds it and connects it to the peer.
    pub fn build(self) -> Result<UnicastSocket, Error> {
        let open = setup::open_unicast(&self.cfg)?;
        Ok(UnicastSocket {
            socket: open.socket,
            state: open.state,
            local: open.local,
            peer: open.peer,
        })
    }
}

/// A UDP socket connected to one peer: it sends there and receives only from there.
#[derive(Debug)]
pub struct UnicastSocket {
    socket: UdpSocket,
    state: SocketState,
    local: SocketAddr,
    peer: SocketAddr,
}

impl UnicastSocket {
    /// Starts a builder for a socket connected to `peer`.
    pub fn builder(peer: SocketAddr) -> UnicastBuilder {
        UnicastBuilder {
            cfg: UnicastConfig {
                peer,
                iface: IfaceSpec::Any,
                hop_limit: false,
            },
        }
    }

    /// Sends one datagram to the peer. Returns the bytes sent.
    ///
    /// When an earlier datagram met a closed port, the kernel reports it here or on the next
    /// receive, once, as `ECONNREFUSED` ([`Error::is_refused`]); the datagram of that call was
    /// not sent.
    pub fn send(&self, payload: &[u8]) -> Result<usize, Error> {
        self.state
            .send(self.socket.as_fd(), self.peer, payload)
            .map_err(|source| Error::Send {
                destination: self.peer,
                source,
                cause: None,
            })
    }

    /// Receives one datagram if one is queued, without waiting: its length and metadata
    /// (source, destination, interface, and the hop limit when asked for), or `None`.
    ///
    /// A datagram longer than `buf` is cut to `buf.len()` bytes: the length returned is then
    /// `buf.len()`, and [`RecvMeta::len`] the datagram's full length.
    ///
    /// # Errors
    ///
    /// [`Error::Io`] when receiving fails; a refused earlier datagram shows up here as
    /// `ECONNREFUSED` ([`Error::is_refused`]), once.
    pub fn try_recv(&self, buf: &mut [u8]) -> Result<Option<(usize, RecvMeta)>, Error> {
        match self.state.recv(self.socket.as_fd(), buf) {
            Ok(meta) => Ok(Some((meta.len.min(buf.len()), meta))),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(None),
            Err(source) => Err(Error::Io {
                context: "cannot receive",
                source,
            }),
        }
    }

    /// The local address and port: the source of what it sends.
    pub fn local_addr(&self) -> SocketAddr {
        self.local
    }

    /// The peer it is connected to (an IPv6 link-local peer with its interface's scope).
    pub fn peer_addr(&self) -> SocketAddr {
        self.peer
    }

    /// The interface it sends from: the one named, or the one holding the address the route
    /// chose.
    pub fn iface(&self) -> &ResolvedIface {
        self.state.iface()
    }

    /// The socket's shared state.
    pub fn state(&self) -> &SocketState {
        &self.state
    }
}

impl AsFd for UnicastSocket {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.socket.as_fd()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Two sockets on 127.0.0.1, each connected to the other: what one sends, the other
    // receives, with the TTL when asked for. Nothing leaves loopback.
    #[test]
    fn a_pair_on_loopback_talks_and_reports_the_ttl() {
        let lo: IfaceSpec = "127.0.0.1".parse().unwrap();
        let b = UdpSocket::bind("127.0.0.1:0").unwrap();
        let b_addr = b.local_addr().unwrap();
        let a = UnicastSocket::builder(b_addr)
            .iface(lo)
            .recv_hop_limit(true)
            .build()
            .unwrap();
        assert_eq!(a.local_addr().ip(), b_addr.ip());
        assert_eq!(a.iface().name.as_deref(), Some("lo"));
        b.connect(a.local_addr()).unwrap();
        a.send(b"ping").unwrap();
        let mut buf = [0; 16];
        assert_eq!(b.recv(&mut buf).unwrap(), 4);
        b.send(b"pong").unwrap();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        let (n, meta) = loop {
            if let Some(got) = a.try_recv(&mut buf).unwrap() {
                break got;
            }
            assert!(std::time::Instant::now() < deadline, "no reply");
            std::thread::sleep(std::time::Duration::from_millis(1));
        };
        assert_eq!(&buf[..n], b"pong");
        assert_eq!(meta.source, b_addr);
        assert_eq!(meta.destination, Some(a.local_addr().ip()));
        assert_eq!(meta.hop_limit, Some(64), "Linux's default unicast TTL");
        assert!(a.try_recv(&mut buf).unwrap().is_none());
    }

    #[test]
    fn a_closed_port_is_refused() {
        let probe = UdpSocket::bind("127.0.0.1:0").unwrap();
        let closed = probe.local_addr().unwrap();
        drop(probe);
        let a = UnicastSocket::builder(closed)
            .iface("127.0.0.1".parse().unwrap())
            .build()
            .unwrap();
        a.send(b"anyone?").unwrap();
        let mut buf = [0; 16];
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        let err = loop {
            match a.try_recv(&mut buf) {
                Err(e) => break e,
                Ok(None) => {}
                Ok(Some(got)) => panic!("a datagram from a closed port: {got:?}"),
            }
            assert!(std::time::Instant::now() < deadline, "no ICMP error");
            std::thread::sleep(std::time::Duration::from_millis(1));
        };
        assert!(err.is_refused(), "{err:?}");
    }
}
