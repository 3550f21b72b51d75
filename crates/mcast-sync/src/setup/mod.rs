//! The one socket-setup path shared by the blocking and the async adapter (after quinn-udp's
//! `UdpSocketState`).
//!
//! **Every socket option of mcast is set in this module** — bind, `SO_REUSEADDR`/`SO_REUSEPORT`,
//! `IP_MULTICAST_ALL`/`IPV6_MULTICAST_ALL`, `IP_PKTINFO`/`IPV6_RECVPKTINFO`, `SO_RXQ_OVFL`,
//! `IP_RECVTTL`/`IPV6_RECVHOPLIMIT`, `SO_RCVBUF`/`SO_RCVBUFFORCE`, `SO_SNDBUF`, TTL/hop limit,
//! loop, `IP_MULTICAST_IF`/`IPV6_MULTICAST_IF`, every join and the unicast socket's bind and
//! `connect` ([`crate::unicast`]) — and so are the sends (`sendto`, UDP
//! GSO with `UDP_SEGMENT`, `sendmmsg`: see [`SendPath`]) and receives (`recvmsg`, `recvmmsg`,
//! with control-message parsing) that both adapters call. mcast-async only wraps the resulting
//! `std::net::UdpSocket`s in tokio and calls [`SocketState::recv`] inside `try_io`.
//!
//! socket2 stays out of every public signature: sockets go out as `std::net::UdpSocket` and
//! come back in as [`BorrowedFd`](std::os::fd::BorrowedFd).
//!
//! One job per submodule (private; what the adapters need is re-exported here):
//!
//! | Module | Its one job |
//! |---|---|
//! | `open` | the sender, receiver and unicast configurations, and building their sockets in order: bind, options, first joins (the core's `membership` queue drained into joins) |
//! | `options` | the `setsockopt` helpers, the address-family check, and each option more than one kind of socket sets |
//! | `join` | memberships (join, leave, again on a new interface index) and the outgoing interface |
//! | `state` | [`SocketState`]: what setup learnt, TTL and loop after opening, and the send and receive calls both adapters make |
//! | `send` | batches out: UDP GSO (`UDP_SEGMENT`) and `sendmmsg` |
//! | `recv` | one datagram in: `recvmsg` with `MSG_TRUNC`, control messages into a [`RecvMeta`](mcast_core::RecvMeta) |
//! | `batch` | [`RecvBatch`], filled by `recvmmsg` |
//!
//! Each option has one owning function (a table in ARCHITECTURE.md names them).
//!
//! **Not a stable API.** This module is public only so that the adapters (this crate and
//! mcast-async) can share one setup path; it is their plumbing, not an interface for other
//! crates, and it may change in any release. Applications use [`crate::Sender`],
//! [`crate::Receiver`] and their builders (or mcast-async's).

mod batch;
mod join;
mod open;
mod options;
mod recv;
mod send;
mod state;

pub use batch::RecvBatch;
pub use options::set_nonblocking;
pub use state::{RecvBufferReport, SendPath, SocketState};

pub(crate) use join::set_multicast_if_index;
pub(crate) use join::{join_on_index, leave, leave_on_index, move_bound_device};
pub use join::{membership_request, MembershipRequest};
pub(crate) use open::{
    drain_joins, open_receiver, open_receiver_socket, open_sender, open_unicast, queue_join,
    NewestFirst,
};
pub(crate) use open::{ReceiverConfig, SenderConfig, UnicastConfig};
pub(crate) use options::check_family;
#[cfg(feature = "capture")]
pub(crate) use options::recv_timestamps;
pub(crate) use recv::poll_ms;
