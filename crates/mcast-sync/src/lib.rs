//! mcast-sync binds mcast-core to blocking sockets: a [`Sender`] that sends datagrams to one
//! group on a chosen interface, and a [`Receiver`] that joins one or many groups (any-source or
//! source-specific) and reports, for every datagram, which group it was sent to.
//!
//! The contract:
//! - every socket option is set in one place, [`setup`], which mcast-async reuses: the async
//!   adapter adds no socket option code of its own;
//! - a receiver sees only the groups it joined (`IP_MULTICAST_ALL=0` on Linux), shares its port
//!   with other receivers (`SO_REUSEADDR` + `SO_REUSEPORT`), and learns each datagram's
//!   destination group and interface from `IP_PKTINFO`/`IPV6_PKTINFO`;
//! - more groups than `net.ipv4.igmp_max_memberships` (20 by default) are spread over several
//!   sockets on the same port ([`mcast_core::membership`] is that policy, testable without a
//!   network);
//! - when [`ReceiverBuilder::build`] returns, every join is done
//!   ([`ReceiverBuilder::build_with_progress`] reports each one and can stop them); a
//!   receiver's sockets close newest first, so that the kernel leaves even 100,000 groups in
//!   linear time;
//! - [`driver`] runs mcast-core's session machines against the sockets: [`driver::SendDriver`]
//!   paces, numbers and batches (GSO) what a sender sends, [`driver::RecvDriver`] counts what a
//!   receiver gets; every command of the `mcast` tool goes through them;
//! - [`Receiver::recv_batch`] receives many datagrams per system call (`recvmmsg`) into a
//!   caller-owned [`RecvBatch`], with the same per-datagram metadata as [`Receiver::recv`];
//! - [`Receiver::kernel_drops`] counts the datagrams the kernel dropped because a receive
//!   buffer was full (`SO_RXQ_OVFL`), and [`Receiver::recv_buffer_report`] says what came of
//!   the receive buffer request (`SO_RCVBUF`, `SO_RCVBUFFORCE` past `net.core.rmem_max`);
//! - [`Sender::send_transmit`] sends a batch of datagrams over a [`SendPath`]: UDP GSO (the
//!   default, falling back to `sendmmsg` for good when the kernel refuses it), `sendmmsg`, or
//!   one `sendto` per datagram, and reports partial progress;
//! - [`unicast::UnicastSocket`] is a UDP socket connected to one peer, set up in [`setup`]
//!   too, and [`ssmping::PingDriver`] runs mcast-core's ssmping client against it and a
//!   receiver (the queries and replies of `mcast ping --ssmping`);
//! - [`link::LinkWatch`] follows the interface a receiver joined on (down, up, gone, back)
//!   through the kernel's netlink link messages, [`Receiver::rejoin`] makes the memberships
//!   again on an interface created anew, and the drivers do both when asked to
//!   ([`driver::RecvDriver::follow_link`]);
//! - errors name the group, interface or address involved, [`Error::cause`] is what the
//!   adapter found behind a failure (no route, an interface down, a privileged port, ...) and
//!   [`Error::hint`] explains the known traps in the library's terms;
//! - socket2 appears in no public signature.
//!
//! One dependency is enough: mcast-core, the engine, is re-exported as [`core`] (with
//! [`RecvMeta`] at the root). A receiver and a sender on `lo`, TTL 0:
//!
//! ```
//! use std::time::Duration;
//! use mcast_sync::core::addr::Group;
//! use mcast_sync::core::iface::IfaceSpec;
//! use mcast_sync::{Receiver, RecvMeta, Sender};
//! let lo: IfaceSpec = "127.0.0.1".parse()?;
//! let group: Group = "224.1.1.5".parse()?;
//! let mut rx = Receiver::builder(43001)
//!     .group(group)
//!     .iface(lo.clone())
//!     .read_timeout(Some(Duration::from_secs(2)))
//!     .build()?;
//! let tx = Sender::builder(group, 43001).iface(lo).ttl(0).build()?;
//! tx.send(b"robot")?;
//! let mut buf = [0u8; 1500];
//! let (n, meta): (usize, RecvMeta) = rx.recv(&mut buf)?;
//! assert_eq!(&buf[..n], b"robot");
//! assert_eq!(meta.destination, Some(group.addr()));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Features
//!
//! - `capture` (default): the `capture` module, an `AF_PACKET` socket that captures the
//!   frames mcast-core's `packet::filter` keeps (turns on mcast-core's `packet` feature, and
//!   with it etherparse). Without it the crate is the socket layer and the drivers alone, as
//!   mcast-async uses it.
//! - `auth`: authenticated frames (mcast-core's `auth` feature).
//! - `tracing`: debug-level [`tracing`](https://docs.rs/tracing) events (target
//!   `mcast_sync::setup::…`) for each socket option set and each join and leave, for an
//!   application that installs a subscriber (`mcast -vv` does). Off by default: without it the
//!   crate depends on no logging crate.
//!
//! # Platform
//!
//! Linux only: the crate speaks Linux's socket interface directly. It relies on
//! `IP_MULTICAST_ALL` (a receiver sees only its own groups), the `IP_PKTINFO` /
//! `IPV6_RECVPKTINFO` control messages (each datagram's group and interface), `SO_RXQ_OVFL`,
//! `recvmmsg` / `sendmmsg`, UDP GSO (`UDP_SEGMENT`) and GRO, `SO_RCVBUFFORCE`,
//! `SO_BINDTOIFINDEX`, the `/proc/sys` limits, a `NETLINK_ROUTE` socket ([`link`]) and
//! `AF_PACKET` (the `capture` module). Elsewhere it does not compile. A port would need, per system:
//! the destination from `IP_RECVDSTADDR` / `IP_RECVIF` (BSDs, macOS) or `WSARecvMsg`
//! (Windows); one system call per datagram instead of the `mmsg` batches, and no GSO, GRO or
//! drop counter; receivers that tolerate other groups on their port (no `IP_MULTICAST_ALL`);
//! routing sockets instead of netlink, and BPF devices instead of `AF_PACKET`. mcast-core,
//! the engine, is portable (sans-IO), and its membership requests follow Linux's layouts.
#![warn(missing_docs)]

#[cfg(not(target_os = "linux"))]
compile_error!(
    "mcast-sync supports Linux only: its crate documentation says what another system would need"
);

#[cfg(feature = "capture")]
pub mod capture;
mod diagnose;
pub mod driver;
pub mod error;
pub mod ifaces;
pub mod link;
pub mod receiver;
pub mod resolve;
pub mod sender;
pub mod setup;
pub mod ssmping;
mod trace;
pub mod unicast;

/// mcast-core, the sans-IO engine these sockets drive (groups, interfaces, frames, sessions),
/// re-exported so that one dependency is enough: `mcast_sync::core::addr::Group`.
pub use mcast_core as core;
#[doc(no_inline)]
pub use mcast_core::RecvMeta;

pub use error::{Cause, Error};
pub use receiver::{JoinProgress, Joined, Receiver, ReceiverBuilder};
pub use resolve::ResolvedIface;
pub use sender::{Sender, SenderBuilder};
pub use setup::{RecvBatch, RecvBufferReport, SendPath, SocketState};
