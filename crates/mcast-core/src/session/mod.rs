//! Sender and receiver state machines: sequencing, pacing, and loss, duplication, reordering
//! and one-way delay statistics.
//!
//! Both machines are sans-IO and speak the same verbs:
//!
//! - `handle_*` feeds an input in: a datagram, or the passing of time;
//! - `poll_*` drains an output until it returns `None`: a [`Transmit`](crate::Transmit), an
//!   [`Event`], or the next deadline ([`Sender::poll_timeout`], [`Receiver::poll_timeout`]).
//!
//! Time is a parameter. Timers take `now: Instant` (the adapter's monotonic clock, or a test's
//! virtual one); the timestamp that goes on the wire is `wall_ns: u64`, nanoseconds since the
//! Unix epoch, read by the adapter. Nothing here reads a clock, opens a socket or draws a random
//! number.
//!
//! # Driving them
//!
//! Each adapter writes these loops once, in its `driver` module (`mcast_sync::driver` on
//! blocking sockets, `mcast_async::driver` on tokio), and every program that sends or receives
//! goes through them. A sender and a receiver have loops of their own:
//!
//! **Sending** ([`Sender`]):
//!
//! 1. drain [`Sender::poll_transmit`]: send each [`Transmit`](crate::Transmit) (the bytes are
//!    `buf[..size]`; with a segment size, one GSO send or one send per segment);
//! 2. stop when [`Sender::is_finished`];
//! 3. otherwise wait until [`Sender::poll_timeout`] (a deadline in the past means at once),
//!    call [`Sender::handle_timeout`], and go to 1.
//!
//! **Receiving** ([`Receiver`]):
//!
//! 1. wait for datagrams until [`Receiver::poll_timeout`] (for ever when it is `None`);
//! 2. hand each datagram to [`Receiver::handle_datagram`], with the destination address and
//!    interface the socket reported in its [`RecvMeta`](crate::RecvMeta);
//! 3. on the deadline, call [`Receiver::handle_timeout`] (interval reports);
//! 4. drain [`Receiver::poll_event`] and deliver each [`Event`]; go to 1.
//!
//! A program that does both (a ping) runs the two in one loop and waits for the earlier of the
//! two deadlines. `examples/event_loop.rs` in this crate writes both loops by hand over a
//! simulated network, and `examples/std_socket.rs` over a `std::net::UdpSocket`.

pub mod iperf;
mod receiver;
mod sender;
pub(crate) mod table;
pub(crate) mod window;

pub use crate::frame::{EndOfSession, Flags, Seq, SessionId};
pub use receiver::{
    Arrival, Datagram, DelayPercentiles, DelayStats, Event, GroupStats, Percentiles, Receiver,
    ReceiverConfig, Stats, Stray, StrayStats, StreamStats,
};
pub use sender::{Sender, SenderConfig, END_FRAMES, END_SPACING, MAX_LAG};

/// The origin of virtual time in unit tests: the only clock read in this crate, and only in
/// tests, because `Instant` has no other constructor. Tests move time by adding durations.
#[cfg(test)]
#[allow(clippy::disallowed_methods)]
pub(crate) fn test_origin() -> std::time::Instant {
    std::time::Instant::now()
}
