//! mcast-async is mcast-sync on tokio: a [`Sender`] and a [`Receiver`] with the same options
//! (their [`SenderBuilder`] and [`ReceiverBuilder`] build the tokio sockets) and the same socket
//! setup, plus [`Stream`]s of
//! received datagrams and frames ([`DatagramStream`], [`FrameStream`]) and [`Sink`]s of
//! outgoing frames: [`FramedSink`] numbers and stamps payloads for you, [`FrameSink`] takes
//! frames you built. The [`driver`] module is the engine's loop on tokio: mcast-core's session
//! machines driven against these sockets ([`driver::SendDriver`] paces, numbers and batches
//! what a sender sends; [`driver::RecvDriver`] counts loss, duplicates, reordering and
//! stream ends of what a receiver gets, through callbacks or as a [`driver::RecvStream`]).
//!
//! The contract:
//! - mcast-async sets no socket option: every socket is built by mcast-sync's shared setup
//!   ([`mcast_sync::setup`]) and handed to tokio with `UdpSocket::from_std`, nonblocking;
//! - every received datagram carries its [`RecvMeta`] (sender, destination group, interface
//!   index): receives go through mcast-sync's `recvmsg` path inside tokio's `try_io`, because
//!   tokio-util's `UdpFramed` would lose that metadata;
//! - [`Receiver::recv_batch`] takes many datagrams per system call (`recvmmsg`) into a
//!   caller-owned [`RecvBatch`], with the same per-datagram metadata;
//! - [`Receiver::kernel_drops`], [`Receiver::recv_buffer_report`] and [`Sender::send_path`]
//!   answer as mcast-sync's do;
//! - a receiver over many groups may hold several sockets (past `igmp_max_memberships`); it
//!   polls them all and returns whichever datagram is ready first;
//! - the builder's [`read_timeout`](ReceiverBuilder::read_timeout) holds here too:
//!   [`Receiver::recv_from`], [`Receiver::recv_batch`] and the streams fail with an error
//!   for which [`Error::is_timeout`] holds, using tokio's timer;
//! - [`Receiver::recv_from`], [`Receiver::recv_batch`], [`Sender::send`] and the streams'
//!   `next()` are cancel safe (a datagram is read or sent only in the poll that completes), so
//!   they fit in [`select!`](https://docs.rs/tokio/1/tokio/macro.select.html);
//! - [`driver::SendDriver`] and [`driver::RecvDriver`] do what mcast-sync's drivers do, with
//!   the same [`driver::Drive`], [`driver::Sent`] and [`driver::Clock`] types; a stop signal is
//!   a future, and both yield to the runtime after [`driver::BUDGET`] transmits or batches;
//! - the wall-clock send time in frames is read here, in the adapter, never in mcast-core;
//! - malformed frames are error values ([`Error::Frame`]) that the stream yields and then goes
//!   on; they never end the stream or panic.
//!
//! One receiver joined to two groups on one port, each datagram attributed to its group by
//! [`RecvMeta::destination`] (sender and receiver on `lo`, TTL 0):
//!
//! ```
//! use std::time::Duration;
//! use mcast_async::core::addr::Group;
//! use mcast_async::core::iface::IfaceSpec;
//! use mcast_async::{Receiver, Sender};
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let lo: IfaceSpec = "127.0.0.1".parse()?;
//! let groups: [Group; 2] = ["224.1.1.5".parse()?, "234.3.2.1".parse()?];
//! let mut rx = Receiver::builder(41221)
//!     .groups(groups)
//!     .iface(lo.clone())
//!     .read_timeout(Some(Duration::from_secs(2)))
//!     .build()?;
//! for group in groups {
//!     let tx = Sender::builder(group, 41221).iface(lo.clone()).ttl(0).build()?;
//!     tx.send(format!("to {group}").as_bytes()).await?;
//! }
//! let mut buf = [0u8; 1500];
//! for _ in groups {
//!     // Fails (`is_timeout()`) after 2 s without a datagram.
//!     let (n, meta) = rx.recv_from(&mut buf).await?;
//!     let group = meta.destination.ok_or("no destination")?;
//!     println!("[{group}] {} bytes from {}", n, meta.source);
//!     assert_eq!(&buf[..n], format!("to {group}").as_bytes());
//! }
//! # Ok(())
//! # }
//! ```
//!
//! Framed messages through the [`Sink`]: each payload goes out with the session, the next
//! sequence number and the wall clock (as `mcast send --framed` does), so receivers can count
//! loss and one-way delay:
//!
//! ```
//! use std::time::Duration;
//! use futures::{SinkExt, StreamExt};
//! use mcast_async::core::addr::Group;
//! use mcast_async::core::frame::{Seq, SessionId};
//! use mcast_async::{Receiver, Sender};
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let lo: mcast_async::core::iface::IfaceSpec = "127.0.0.1".parse()?;
//! let group: Group = "224.1.1.5".parse()?;
//! let frames = Receiver::builder(41222).group(group).iface(lo.clone()).build()?.into_frames();
//! let mut sink = Sender::builder(group, 41222).iface(lo).ttl(0).build()?.into_framed(SessionId(7));
//! for line in ["one", "two", "three"] {
//!     sink.send(line).await?;
//! }
//! let got = tokio::time::timeout(Duration::from_secs(2), frames.take(3).collect::<Vec<_>>())
//!     .await?;
//! for (i, frame) in got.into_iter().enumerate() {
//!     let frame = frame?;
//!     assert_eq!((frame.session, frame.seq), (SessionId(7), Seq(i as u64)));
//!     assert!(frame.sent_at_ns > 0);
//!     println!("#{} {:?} to {:?}", frame.seq.0, frame.payload, frame.meta.destination);
//! }
//! # Ok(())
//! # }
//! ```
//!
//! # Platform
//!
//! Linux only, as mcast-sync, whose sockets it uses (see [its platform
//! notes](mcast_sync#platform) for what another system would need). Of tokio it needs the
//! `net`, `time` and `rt` (`yield_now`) features, and of `futures` only the `Stream` and
//! `Sink` traits (`futures-core`, `futures-sink`).
//!
//! # Features
//!
//! - `auth` (off by default): authenticated frames, mcast-core's `auth` feature (keys and
//!   HMAC-SHA256, with `hmac` and `sha2`): the `key` fields of [`core::session::SenderConfig`]
//!   and [`core::session::ReceiverConfig`]. Without it nothing is rejected and the receiver's
//!   `auth` statistics stay `None`.
#![warn(missing_docs)]

pub mod driver;
mod error;
mod frames;
mod receiver;
mod sender;

/// mcast-core, the sans-IO engine these sockets drive (groups, interfaces, frames, sessions),
/// re-exported so that one dependency is enough: `mcast_async::core::addr::Group`.
pub use mcast_core as core;
/// mcast-sync, the blocking adapter whose socket setup this crate shares (its errors,
/// [`RecvBatch`] and the drivers' common types), re-exported for the same reason.
pub use mcast_sync as sync;

pub use error::Error;
pub use frames::{Datagram, DatagramStream, FrameSink, FrameStream, FramedSink, ReceivedFrame};
pub use mcast_core::RecvMeta;
pub use mcast_sync::{RecvBatch, RecvBufferReport, ResolvedIface, SendPath};
pub use receiver::{Receiver, ReceiverBuilder};
pub use sender::{Sender, SenderBuilder};

#[doc(no_inline)]
pub use futures_core::Stream;
#[doc(no_inline)]
pub use futures_sink::Sink;
