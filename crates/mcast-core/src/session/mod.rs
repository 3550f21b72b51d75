//! Sender and receiver state machines: sequencing, pacing, and loss, duplication, reordering
//! and one-way delay statistics.
//!
//! Both machines are sans-IO and speak the same verbs (firezone, quinn):
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
//! A driver loop (the adapters write it once each):
//!
//! 1. drain [`Sender::poll_transmit`] and send each [`Transmit`](crate::Transmit);
//! 2. drain [`Receiver::poll_event`] and deliver each [`Event`];
//! 3. take the earliest deadline of the `poll_timeout`s;
//! 4. wait for a datagram until that deadline;
//! 5. on a datagram, call [`Receiver::handle_datagram`]; on the deadline, call `handle_timeout`;
//! 6. go to 1.

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
