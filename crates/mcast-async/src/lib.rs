//! mcast-async is mcast-sync on tokio: a [`Sender`] and a [`Receiver`] with the same builders
//! ([`SenderBuilder`], [`ReceiverBuilder`]) and the same socket setup, plus a [`Stream`] of
//! received frames ([`FrameStream`]) and a [`Sink`] of outgoing ones ([`FrameSink`]).
//!
//! The contract:
//! - mcast-async sets no socket option: every socket is built by mcast-sync's shared setup
//!   ([`mcast_sync::setup`]) and handed to tokio with `UdpSocket::from_std`, nonblocking;
//! - every received datagram carries its [`RecvMeta`] (sender, destination group, interface
//!   index): receives go through mcast-sync's `recvmsg` path inside tokio's `try_io`, because
//!   tokio-util's `UdpFramed` would lose that metadata;
//! - a receiver over many groups may hold several sockets (past `igmp_max_memberships`); it
//!   polls them all and returns whichever datagram is ready first;
//! - malformed frames are error values ([`Error::Frame`]) that the stream yields and then goes
//!   on; they never end the stream or panic.
//!
//! Receiving from two groups concurrently, with each datagram attributed to its group:
//!
//! ```no_run
//! use mcast_async::Receiver;
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let lo: mcast_core::iface::IfaceSpec = "127.0.0.1".parse()?;
//! let mut a = Receiver::open(Receiver::builder(50001).group("224.1.1.5".parse()?).iface(lo.clone()))?;
//! let mut b = Receiver::open(Receiver::builder(50001).group("234.3.2.1".parse()?).iface(lo))?;
//! let (mut buf_a, mut buf_b) = ([0u8; 1500], [0u8; 1500]);
//! loop {
//!     tokio::select! {
//!         r = a.recv_from(&mut buf_a) => { let (n, meta) = r?; println!("[{:?}] {} bytes", meta.destination, n); }
//!         r = b.recv_from(&mut buf_b) => { let (n, meta) = r?; println!("[{:?}] {} bytes", meta.destination, n); }
//!     }
//! }
//! # }
//! ```
//!
//! Sending framed messages through the [`Sink`]:
//!
//! ```no_run
//! use futures::SinkExt;
//! use mcast_async::Sender;
//! use mcast_core::frame::{Flags, FrameRepr, Seq, SessionId};
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let tx = Sender::open(Sender::builder("224.1.1.5".parse()?, 50001).iface("127.0.0.1".parse()?).ttl(0))?;
//! let mut sink = tx.into_frame_sink();
//! for seq in 0..3 {
//!     let repr = FrameRepr { flags: Flags::empty(), session: SessionId(7), seq: Seq(seq), sent_at_ns: 0, payload: b"hello", tag: None };
//!     sink.send(repr).await?;
//! }
//! # Ok(())
//! # }
//! ```
#![warn(missing_docs)]

mod error;
mod frames;
mod receiver;
mod sender;

pub use error::Error;
pub use frames::{Datagram, DatagramStream, FrameSink, FrameStream, ReceivedFrame};
pub use mcast_core::RecvMeta;
pub use mcast_sync::{ReceiverBuilder, ResolvedIface, SenderBuilder};
pub use receiver::Receiver;
pub use sender::Sender;

#[doc(no_inline)]
pub use futures::{Sink, Stream};
