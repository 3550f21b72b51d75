//! mcast-core contains a fully deterministic implementation of IP multicast's moving parts: it
//! opens no sockets, spawns no threads and never reads the clock. Time and bytes go in; bytes
//! and events come out. The adapters (`mcast-sync`, `mcast-async`) bind it to real sockets.
//!
//! - [`addr`]: [`addr::Group`] (a checked multicast address), scopes, IANA blocks, group → MAC,
//!   CIDR blocks, sources and group ranges.
//! - [`iface`]: an interface named by address, index or name.
//! - [`mreq`]: membership requests as the bytes the kernel reads.
//! - [`membership`]: the join policy, a queue of membership requests the adapter drains.
//! - [`frame`]: the framed wire format.
//! - [`auth`]: authenticated frames: keys, tags (HMAC-SHA256) and replay windows.
//! - [`session`]: sender and receiver state machines.
//! - [`ssmping`]: the ssmping protocol's queries and replies, and the client's state machine.
//! - [`proc`]: parsers for `/proc/net/igmp` and `/proc/net/igmp6`.
//! - [`ping`]: probes and answers for `mcast ping`, counted per peer and path.
//! - [`packet`]: decoding captured Ethernet frames (IP, UDP, IGMP, MLD) into words, hexdumps and pcap.
//! - [`transmit`]: [`Transmit`] and [`RecvMeta`], the two ends of a socket.
//! - [`json`]: 64-bit sequence numbers and timestamps as exact decimal strings in JSON.
#![warn(missing_docs)]

pub mod addr;
pub mod auth;
pub mod frame;
pub mod iface;
#[cfg(feature = "serde")]
pub mod json;
pub mod membership;
pub mod mreq;
#[cfg(feature = "packet")]
pub mod packet;
pub mod ping;
pub mod proc;
pub mod session;
pub mod ssmping;
pub mod transmit;

pub use transmit::{RecvMeta, Transmit};
