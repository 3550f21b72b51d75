//! mcast-core contains a fully deterministic implementation of IP multicast's moving parts: it
//! opens no sockets, spawns no threads and never reads the clock. Time and bytes go in; bytes
//! and events come out.
//!
//! # Platforms
//!
//! The core makes no operating-system call, so it builds and runs anywhere `std` does: its
//! request builders ([`mreq`]) and `/proc` parsers ([`proc`]) produce and read Linux's
//! formats as plain bytes and text. The adapters that bind it to real sockets, `mcast-sync`
//! (blocking, on socket2 and libc) and `mcast-async` (tokio), are **Linux-only**: they use
//! `IP_MULTICAST_ALL`, `IP_PKTINFO`, `SO_RXQ_OVFL`, `recvmmsg`/`sendmmsg`, UDP GSO/GRO,
//! `AF_PACKET` capture and netlink. Elsewhere, drive the core from your own socket code, as
//! `examples/std_socket.rs` does with `std::net::UdpSocket` and socket2.
//!
//! # Modules
//!
//! - [`addr`]: [`addr::Group`] (a checked multicast address), [`addr::GroupAddr`] (a group and
//!   port), scopes, IANA blocks, group → MAC, CIDR blocks, sources and group ranges.
//! - [`iface`]: an interface named by address, index or name.
//! - [`mreq`]: membership requests as the bytes the kernel reads.
//! - [`membership`]: the join policy, a queue of membership requests the adapter drains.
//! - [`frame`]: the framed wire format.
#![cfg_attr(
    feature = "auth",
    doc = "- [`auth`]: authenticated frames: keys, tags (HMAC-SHA256) and replay windows."
)]
#![cfg_attr(
    not(feature = "auth"),
    doc = "- [`auth`]: the verdicts, counters and replay windows of authenticated frames (keys and tags: feature `auth`, not in this build)."
)]
//! - [`session`]: sender and receiver state machines, and how to drive them.
//! - [`ssmping`]: the ssmping protocol's queries and replies, and the client's state machine.
//! - [`proc`]: parsers for `/proc/net/igmp` and `/proc/net/igmp6`.
//! - [`ping`]: probes and answers for `mcast ping`, counted per peer and path.
#![cfg_attr(
    feature = "packet",
    doc = "- [`packet`]: decoding captured Ethernet frames (IP, UDP, IGMP, MLD) into words, hexdumps and pcap."
)]
#![cfg_attr(
    not(feature = "packet"),
    doc = "- `packet` (feature `packet`, not in this build): decoding captured Ethernet frames."
)]
//! - [`transmit`]: [`Transmit`] and [`RecvMeta`], the two ends of a socket.
#![cfg_attr(
    feature = "serde",
    doc = "- [`json`]: 64-bit sequence numbers and timestamps as exact decimal strings in JSON."
)]
#![cfg_attr(
    not(feature = "serde"),
    doc = "- `json` (feature `serde`, not in this build): 64-bit numbers as exact JSON strings."
)]
//!
//! # Features
//!
//! All three are on by default; without them the core depends only on thiserror, hdrhistogram
//! and foldhash.
//!
//! - `serde`: `Serialize` for every report and statistic, `Deserialize` for addresses, frame
//!   numbers and statistics, and the `json` module.
//! - `packet`: the `packet` decoders for captured frames (pulls in etherparse).
//! - `auth`: keys and the MAC of authenticated frames ([`auth`]'s `Key` and `Authenticator`,
//!   and the `key` field of `SenderConfig`, `ReceiverConfig` and `PingConfig`; pulls in `hmac`
//!   and `sha2`). Without it the rest of the API is unchanged: `Datagram::Rejected`,
//!   `Event::Rejected`, `Rejection`, `AuthStats` and the `auth` statistics stay, so code that
//!   matches on them builds either way, but no datagram is rejected and every `auth`
//!   statistic is `None`.
//!
//! # The loop, in short
//!
//! A [`session::Sender`] makes datagrams, a [`session::Receiver`] counts them; the caller
//! carries bytes from one to the other (a socket, or here a `Vec`) and passes the time in.
//! [`session`] describes the loops an adapter runs.
//!
//! ```
//! use std::time::{Duration, Instant};
//! use mcast_core::addr::{Group, GroupAddr};
//! use mcast_core::session::{Receiver, ReceiverConfig, Sender, SenderConfig};
//! use mcast_core::RecvMeta;
//!
//! const GROUP: Group = Group::v4_const(std::net::Ipv4Addr::new(239, 1, 2, 3));
//! let t0 = Instant::now();
//! let mut tx = Sender::new(SenderConfig {
//!     framed: true,
//!     count: Some(5),
//!     interval: Some(Duration::from_millis(10)),
//!     ..SenderConfig::new(GroupAddr::new(GROUP, 50001))
//! });
//! let mut rx = Receiver::new(ReceiverConfig::default(), t0);
//! let (mut now, wall_ns) = (t0, 1_700_000_000_000_000_000);
//! let mut buf = Vec::new();
//! while !tx.is_finished() {
//!     // 1. drain the sender; 2. "send": hand the bytes to the receiver.
//!     while let Some(t) = tx.poll_transmit(now, wall_ns, b"hello", &mut buf) {
//!         let meta = RecvMeta::new("192.0.2.1:40000".parse()?, t.size)
//!             .with_destination(Some(GROUP.addr()));
//!         let _ = rx.handle_datagram(now, wall_ns, meta, &buf[..t.size]);
//!     }
//!     // 3. wait until the next deadline (here: jump to it).
//!     if let Some(at) = tx.poll_timeout() {
//!         now = now.max(at);
//!         tx.handle_timeout(now);
//!     }
//! }
//! let stats = rx.stats();
//! assert_eq!((stats.framed, stats.lost, stats.end_frames), (5, 0, 3));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![warn(missing_docs)]
// The docs describe the whole crate (docs.rs builds it with every feature, `cargo doc` with
// the defaults, `auth` included); without `auth` they still name the keys and the MAC that
// build leaves out.
#![cfg_attr(
    not(feature = "auth"),
    allow(rustdoc::broken_intra_doc_links, rustdoc::private_intra_doc_links)
)]

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
