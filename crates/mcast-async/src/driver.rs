//! The engine's loop on tokio: mcast-core's session machines driven against the async
//! sockets, as [`mcast_sync::driver`] drives them against the blocking ones.
//!
//! - [`SendDriver`] drains [`core::Sender::poll_transmit`](mcast_core::session::Sender::poll_transmit)
//!   into [`Sender::send_transmit`] (mcast-sync's `SocketState::send_transmit` inside tokio's
//!   writable readiness: GSO, `sendmmsg` or one `sendto` per datagram, whichever the socket
//!   uses) and waits for [`poll_timeout`](mcast_core::session::Sender::poll_timeout) with
//!   tokio's timer between transmits.
//! - [`RecvDriver`] receives batches with `recvmmsg` ([`Receiver::poll_recv_batch`]), hands
//!   every datagram to
//!   [`core::Receiver::handle_datagram`](mcast_core::session::Receiver::handle_datagram),
//!   drains [`poll_event`](mcast_core::session::Receiver::poll_event), runs the receiver's
//!   timers (interval reports) at
//!   [`poll_timeout`](mcast_core::session::Receiver::poll_timeout), and passes
//!   [`Receiver::kernel_drops`] in as host drops. [`RecvDriver::run`] reports through
//!   callbacks, as the blocking driver does.
//! - [`RecvStream`] ([`RecvDriver::into_stream`]) is the same receive loop as a
//!   [`Stream`] for library users: it yields each frame, decoded once by the core's receiver
//!   on its way through ([`Received::Frame`], with where it fell in its stream), each raw
//!   datagram, and the session's events (gaps, duplicates, reordering, a stream's end,
//!   reports) in the order they happened, while [`RecvStream::stats`] has the loss, duplicate,
//!   reorder and end-of-session counts of everything yielded so far. The frames a user
//!   consumes are the frames the statistics count: nothing is encoded again or parsed twice.
//!
//! The types the blocking drivers report with are reused, not copied: [`Drive`] says why a
//! `run` returned, [`Sent`] what one transmit put on the wire, [`SendCounts`] what a sender
//! counted, and [`Clock`] ([`SystemClock`] by default) is where both drivers read time.
//!
//! # Differences from the blocking drivers
//!
//! - `stop` is a future (a [`tokio::sync::Notify`]'s `notified()`, a `watch` receiver's
//!   `changed()`, [`tokio::signal::ctrl_c`], or [`std::future::pending`] for none): a driver
//!   returns [`Drive::Stopped`] as soon as it completes, even in the middle of a wait.
//!
//!   [`tokio::sync::Notify`]: https://docs.rs/tokio/1/tokio/sync/struct.Notify.html
//!   [`tokio::signal::ctrl_c`]: https://docs.rs/tokio/1/tokio/signal/fn.ctrl_c.html
//! - Waits use tokio's timer, whose resolution is a millisecond, and never spin. Paced
//!   traffic faster than one datagram per millisecond therefore leaves in small bursts of the
//!   datagrams that fell due meanwhile (one GSO transmit each when `max_segments > 1`); the
//!   core's absolute schedule keeps the long-run rate exact.
//! - A driver yields to the runtime after [`BUDGET`] transmits or receive batches, so an
//!   unpaced sender or a flooded receiver cannot starve the other tasks of its thread.
//! - A send that meets a full socket buffer waits for writable readiness and sends the rest
//!   of the transmit, instead of counting it lost; only `ENOBUFS` counts as host drops.
//! - The receiver's [read timeout](Receiver::read_timeout) does not apply to
//!   [`RecvDriver::run`], which `limit` and `stop` bound; [`RecvStream`] honours it as the
//!   other streams of this crate do.
//!
//! The clock must agree with tokio's: [`SystemClock`] does in a runtime whose time is not
//! paused. A clock that runs apart makes waits end too early (the loop then waits again, and
//! yields meanwhile) or too late, never sends early.
//!
//! ```
//! use std::time::{Duration, Instant};
//! use futures::StreamExt;
//! use mcast_async::driver::{Drive, Received, RecvDriver, SendDriver};
//! use mcast_async::{Receiver, RecvBatch, Sender};
//! use mcast_async::core::session::{self as core, Event, ReceiverConfig, SenderConfig};
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let lo: mcast_async::core::iface::IfaceSpec = "127.0.0.1".parse()?;
//! let group = "239.1.2.3".parse()?;
//! let rx = Receiver::builder(41240).group(group).iface(lo.clone()).build()?;
//! let tx = Sender::builder(group, 41240).iface(lo).ttl(0).build()?;
//!
//! // 100 numbered frames, one every 100 µs, then the end-of-session frames.
//! let mut send = SendDriver::new(core::Sender::new(SenderConfig {
//!     framed: true,
//!     count: Some(100),
//!     interval: Some(Duration::from_micros(100)),
//!     ..SenderConfig::new(tx.destination())
//! }));
//! let limit = Instant::now() + Duration::from_secs(5);
//! let stop = std::future::pending::<()>();
//! let drive = send.run(&tx, b"tick", Some(limit), stop, |_| {}).await?;
//! assert_eq!(drive, Drive::Finished);
//!
//! // The frames as a stream, counted by the core's receiver on their way through.
//! let session = core::Receiver::new(ReceiverConfig::default(), Instant::now());
//! let mut frames = RecvDriver::new(session, RecvBatch::new(64, 2048)).into_stream(rx);
//! let mut seen = 0;
//! while let Some(item) = tokio::time::timeout(Duration::from_secs(5), frames.next()).await? {
//!     match item? {
//!         Received::Frame { frame, .. } => {
//!             assert_eq!(&frame.payload[..], b"tick");
//!             seen += 1;
//!         }
//!         Received::Event(Event::StreamEnd { lost, .. }) => {
//!             assert_eq!(lost, 0);
//!             break;
//!         }
//!         _ => {}
//!     }
//! }
//! let stats = frames.stats();
//! assert_eq!((seen, stats.framed, stats.lost, stats.streams_ended), (100, 100, 0, 1));
//! # Ok(())
//! # }
//! ```

use std::future::{poll_fn, Future};
use std::net::IpAddr;
use std::ops::ControlFlow;
use std::pin::{pin, Pin};
use std::task::{Context, Poll, Waker};
use std::time::Instant;

use bytes::Bytes;
use futures_core::Stream;
use mcast_core::session::{self as core, Arrival, Event, Stats};
use mcast_core::RecvMeta;
pub use mcast_sync::driver::{Clock, Drive, SendCounts, Sent, SystemClock};
use tokio::time::Sleep;

use crate::receiver::timed_out;
use crate::{Datagram, Error, ReceivedFrame, Receiver, RecvBatch, Sender};

/// How many transmits a [`SendDriver`], or receive batches a [`RecvDriver`] or
/// [`RecvStream`], handles before it yields to the runtime.
pub const BUDGET: usize = 32;

/// Runs a [`core::Sender`](mcast_core::session::Sender) against an async [`Sender`].
#[derive(Debug)]
pub struct SendDriver<C: Clock = SystemClock> {
    session: core::Sender,
    clock: C,
    buf: Vec<u8>,
    counts: SendCounts,
}

impl SendDriver<SystemClock> {
    /// A driver for `session` on the system clocks.
    pub fn new(session: core::Sender) -> Self {
        Self::with_clock(session, SystemClock)
    }
}

impl<C: Clock> SendDriver<C> {
    /// A driver for `session` reading time from `clock` (see the [module](self) on clocks).
    pub fn with_clock(session: core::Sender, clock: C) -> Self {
        Self {
            session,
            clock,
            buf: Vec::with_capacity(64 * 1024),
            counts: SendCounts::default(),
        }
    }

    /// The session machine.
    pub fn session(&self) -> &core::Sender {
        &self.session
    }

    /// The session machine, to [`extend_count`](mcast_core::session::Sender::extend_count) or
    /// [`finish`](mcast_core::session::Sender::finish) it.
    pub fn session_mut(&mut self) -> &mut core::Sender {
        &mut self.session
    }

    /// The clock.
    pub fn clock(&self) -> &C {
        &self.clock
    }

    /// Datagrams the socket took so far (end-of-session frames excluded).
    pub fn datagrams_sent(&self) -> u64 {
        self.counts.datagrams
    }

    /// Bytes of those datagrams (UDP payloads).
    pub fn bytes_sent(&self) -> u64 {
        self.counts.bytes
    }

    /// Datagrams the host refused to send (`ENOBUFS`: a full queue on the interface).
    pub fn host_drops(&self) -> u64 {
        self.counts.host_drops
    }

    /// Transmits (GSO or `sendmmsg` batches, or single datagrams) handed to the socket so far.
    pub fn transmits(&self) -> u64 {
        self.counts.transmits
    }

    /// All four counters at once.
    pub fn counts(&self) -> SendCounts {
        self.counts
    }

    /// Sends until the session is finished, end-of-session frames included
    /// ([`Drive::Finished`]), until `limit` passes ([`Drive::Limit`]) or until `stop` completes
    /// ([`Drive::Stopped`]). Every datagram carries `payload`; `on_sent` hears of every
    /// transmit, after the socket took it.
    ///
    /// A transmit that is waiting for room in the socket's buffer when `stop` completes or
    /// `limit` passes is cut to the datagrams already sent: the rest are neither sent nor
    /// counted, and receivers count their sequence numbers lost.
    ///
    /// # Cancel safety
    ///
    /// Dropping the future (a losing [`tokio::select!`](https://docs.rs/tokio/1/tokio/macro.select.html) branch) loses at most the transmit
    /// that was waiting for the socket, as `stop` does, but it is neither counted nor
    /// reported; end the loop with `stop` or `limit` instead.
    ///
    /// # Errors
    ///
    /// The socket's error when a send fails for a reason other than `ENOBUFS` (which is
    /// counted in [`host_drops`](Self::host_drops)).
    pub async fn run(
        &mut self,
        socket: &Sender,
        payload: &[u8],
        limit: Option<Instant>,
        stop: impl Future,
        on_sent: impl FnMut(&Sent),
    ) -> Result<Drive, Error> {
        self.drive(socket, payload, limit, stop, on_sent, false)
            .await
    }

    /// As [`run`](Self::run), but returns [`Drive::Finished`] as soon as the generated data is
    /// done, before any end-of-session frame: for callers that feed payloads one at a time
    /// with [`extend_count`](mcast_core::session::Sender::extend_count), and
    /// [`run`](Self::run) once at the end.
    ///
    /// # Errors
    ///
    /// As [`run`](Self::run).
    pub async fn run_data(
        &mut self,
        socket: &Sender,
        payload: &[u8],
        limit: Option<Instant>,
        stop: impl Future,
        on_sent: impl FnMut(&Sent),
    ) -> Result<Drive, Error> {
        self.drive(socket, payload, limit, stop, on_sent, true)
            .await
    }

    async fn drive(
        &mut self,
        socket: &Sender,
        payload: &[u8],
        limit: Option<Instant>,
        stop: impl Future,
        mut on_sent: impl FnMut(&Sent),
        data_only: bool,
    ) -> Result<Drive, Error> {
        let mut stop = pin!(stop);
        let mut budget = BUDGET;
        loop {
            if stop
                .as_mut()
                .poll(&mut Context::from_waker(Waker::noop()))
                .is_ready()
            {
                return Ok(Drive::Stopped);
            }
            let done = if data_only {
                self.session.is_data_done()
            } else {
                self.session.is_finished()
            };
            if done {
                return Ok(Drive::Finished);
            }
            let now = self.clock.now();
            if limit.is_some_and(|l| now >= l) {
                return Ok(Drive::Limit);
            }
            let wall = self.clock.wall_ns();
            let first_seq = self.session.next_seq();
            // Only end-of-session frames follow the data.
            let is_end = self.session.is_data_done();
            if let Some(transmit) = self
                .session
                .poll_transmit(now, wall, payload, &mut self.buf)
            {
                let sent = Sent::new(transmit, first_seq, wall, is_end);
                if let Some(drive) = self
                    .send(socket, sent, stop.as_mut(), limit, &mut on_sent)
                    .await?
                {
                    return Ok(drive);
                }
                budget -= 1;
                if budget == 0 {
                    budget = BUDGET;
                    tokio::task::yield_now().await;
                }
                continue;
            }
            self.session.handle_timeout(now);
            // Without a deadline nothing more will come: finished (checked at the top).
            if let Some(deadline) = self.session.poll_timeout() {
                let until = limit.map_or(deadline, |l| l.min(deadline));
                let mut sleep = pin!(tokio::time::sleep_until(until.into()));
                // The stop first, then the timer.
                let stopped = poll_fn(|cx| {
                    if stop.as_mut().poll(cx).is_ready() {
                        return Poll::Ready(true);
                    }
                    sleep.as_mut().poll(cx).map(|()| false)
                })
                .await;
                if stopped {
                    return Ok(Drive::Stopped);
                }
            }
        }
    }

    /// Sends `sent.transmit` from the buffer, the rest again after a partial send (a full
    /// socket buffer: the next attempt waits for room), until every datagram went or the host
    /// refused one (`ENOBUFS`: the rest are host drops). Counts and reports it. Returns the
    /// reason to stop when `stop` or `limit` ended a wait for room first.
    async fn send<F: Future>(
        &mut self,
        socket: &Sender,
        mut sent: Sent,
        mut stop: Pin<&mut F>,
        limit: Option<Instant>,
        on_sent: &mut impl FnMut(&Sent),
    ) -> Result<Option<Drive>, Error> {
        let transmit = sent.transmit;
        let wanted = transmit.datagrams();
        let seg = match transmit.segment_size {
            Some(n) if n > 0 => n,
            _ => transmit.size.max(1),
        };
        let mut went = 0;
        let mut ended = None;
        while went < wanted {
            let offset = went * seg;
            let mut rest = transmit;
            rest.size = transmit.size.saturating_sub(offset);
            let buf = self.buf.get(offset..).unwrap_or_default();
            let result = {
                let mut sending = pin!(socket.send_transmit(&rest, buf));
                let mut deadline = pin!(until(limit));
                // In this order: the send, the stop, the limit.
                poll_fn(|cx| {
                    if let Poll::Ready(r) = sending.as_mut().poll(cx) {
                        return Poll::Ready(Ok(r));
                    }
                    if stop.as_mut().poll(cx).is_ready() {
                        return Poll::Ready(Err(Drive::Stopped));
                    }
                    deadline.as_mut().poll(cx).map(|()| Err(Drive::Limit))
                })
                .await
            };
            let result = match result {
                Ok(r) => r,
                Err(drive) => {
                    ended = Some(drive);
                    break;
                }
            };
            match result {
                // A transmit always sends something or fails; never loop on nothing.
                Ok(0) => break,
                Ok(n) => went += n,
                Err(Error::Socket(e)) if mcast_sync::driver::is_host_drop(&e) => break,
                Err(e) => {
                    // What went before the error is counted.
                    if went > 0 {
                        self.report(cut(sent, went, seg), on_sent);
                    }
                    return Err(e);
                }
            }
        }
        if ended.is_some() {
            // Only what went counts; the rest was never handed to the socket.
            if went > 0 {
                self.report(cut(sent, went, seg), on_sent);
            }
            return Ok(ended);
        }
        sent.datagrams = went;
        self.report(sent, on_sent);
        Ok(None)
    }

    fn report(&mut self, sent: Sent, on_sent: &mut impl FnMut(&Sent)) {
        self.counts.record(&sent);
        on_sent(&sent);
    }
}

/// `sent` cut to its first `went` datagrams of `seg` bytes, all of which went out.
fn cut(mut sent: Sent, went: usize, seg: usize) -> Sent {
    sent.transmit.size = sent.transmit.size.min(went.saturating_mul(seg));
    sent.datagrams = went;
    sent
}

/// Completes at `deadline`, or never without one.
async fn until(deadline: Option<Instant>) {
    match deadline {
        Some(deadline) => tokio::time::sleep_until(deadline.into()).await,
        None => std::future::pending().await,
    }
}

/// Runs a [`core::Receiver`](mcast_core::session::Receiver) against an async [`Receiver`]:
/// with callbacks ([`run`](Self::run)) or as a [`Stream`] ([`into_stream`](Self::into_stream)).
#[derive(Debug)]
pub struct RecvDriver<C: Clock = SystemClock> {
    session: core::Receiver,
    clock: C,
    batch: RecvBatch,
    default_destination: Option<IpAddr>,
}

impl RecvDriver<SystemClock> {
    /// A driver for `session` on the system clocks, receiving into `batch` (its capacity is
    /// the most datagrams one system call takes; its buffer length the longest datagram read
    /// whole).
    pub fn new(session: core::Receiver, batch: RecvBatch) -> Self {
        Self::with_clock(session, batch, SystemClock)
    }
}

impl<C: Clock> RecvDriver<C> {
    /// A driver for `session` reading time from `clock` (see the [module](self) on clocks).
    pub fn with_clock(session: core::Receiver, batch: RecvBatch, clock: C) -> Self {
        Self {
            session,
            clock,
            batch,
            default_destination: None,
        }
    }

    /// The group to count a datagram under when the socket could not tell its destination
    /// (no `IP_PKTINFO`): with one group joined, that group.
    #[must_use]
    pub fn with_default_destination(mut self, group: Option<IpAddr>) -> Self {
        self.default_destination = group;
        self
    }

    /// The session machine.
    pub fn session(&self) -> &core::Receiver {
        &self.session
    }

    /// The session machine.
    pub fn session_mut(&mut self) -> &mut core::Receiver {
        &mut self.session
    }

    /// The clock.
    pub fn clock(&self) -> &C {
        &self.clock
    }

    /// A snapshot of the session's counters: loss, duplicates, reordering, streams ended,
    /// host drops, delay ([`core::Receiver::stats`](mcast_core::session::Receiver::stats)).
    pub fn stats(&self) -> Stats {
        self.session.stats()
    }

    /// Receives and handles datagrams until `limit` passes ([`Drive::Limit`]), `stop`
    /// completes ([`Drive::Stopped`]), or a callback breaks ([`Drive::Finished`]).
    ///
    /// `on_datagram` sees every datagram as the session classified it, with its metadata;
    /// `on_event` every event the session queued (reports included), in order, after the
    /// datagram that caused it. Datagrams of a batch after the one whose callback broke are
    /// dropped unhandled. The receiver's read timeout does not apply.
    ///
    /// # Cancel safety
    ///
    /// This method is cancel safe: a batch is taken off the sockets only in the poll that
    /// then hands all of it to the session, so dropping the future (a losing
    /// [`tokio::select!`](https://docs.rs/tokio/1/tokio/macro.select.html) branch) loses no datagram, and the next `run` goes on where this one
    /// stopped. Events queued by the session and not yet delivered stay queued for it.
    ///
    /// # Errors
    ///
    /// The socket's error when receiving fails.
    pub async fn run(
        &mut self,
        socket: &mut Receiver,
        limit: Option<Instant>,
        stop: impl Future,
        mut on_datagram: impl FnMut(&RecvMeta, core::Datagram<'_>) -> ControlFlow<()>,
        mut on_event: impl FnMut(Event) -> ControlFlow<()>,
    ) -> Result<Drive, Error> {
        let mut stop = pin!(stop);
        // One timer for the whole call, moved to each new deadline.
        let mut timer = pin!(tokio::time::sleep_until(tokio::time::Instant::now()));
        let mut armed: Option<Instant> = None;
        let mut budget = BUDGET;
        loop {
            // Events left by an earlier call, or by a timer.
            while let Some(event) = self.session.poll_event() {
                if on_event(event).is_break() {
                    return Ok(Drive::Finished);
                }
            }
            let now = self.clock.now();
            if limit.is_some_and(|l| now >= l) {
                return Ok(Drive::Limit);
            }
            let wake = [limit, self.session.poll_timeout()]
                .into_iter()
                .flatten()
                .min();
            if let Some(wake) = wake.filter(|&w| armed != Some(w)) {
                timer.as_mut().reset(wake.into());
                armed = Some(wake);
            }
            let batch = &mut self.batch;
            // In this order: the stop, a batch, the timer (when armed).
            let received = poll_fn(|cx| {
                if stop.as_mut().poll(cx).is_ready() {
                    return Poll::Ready(Err(Drive::Stopped));
                }
                if let Poll::Ready(r) = socket.poll_recv_batch(cx, batch) {
                    return Poll::Ready(Ok(Some(r)));
                }
                if wake.is_some() && timer.as_mut().poll(cx).is_ready() {
                    return Poll::Ready(Ok(None));
                }
                Poll::Pending
            })
            .await;
            let Ok(received) = received else {
                return Ok(Drive::Stopped);
            };
            match received {
                Some(Ok(_)) => {
                    let now = self.clock.now();
                    let wall = self.clock.wall_ns();
                    self.session.handle_host_drops(socket.kernel_drops());
                    for (bytes, meta) in self.batch.datagrams() {
                        let meta = match meta.destination {
                            Some(_) => meta,
                            None => meta.with_destination(self.default_destination),
                        };
                        let datagram = self.session.handle_datagram(now, wall, meta, bytes);
                        let flow = on_datagram(&meta, datagram);
                        while let Some(event) = self.session.poll_event() {
                            if on_event(event).is_break() {
                                return Ok(Drive::Finished);
                            }
                        }
                        if flow.is_break() {
                            return Ok(Drive::Finished);
                        }
                    }
                    budget -= 1;
                    if budget == 0 {
                        budget = BUDGET;
                        tokio::task::yield_now().await;
                    }
                }
                Some(Err(Error::Socket(e))) if e.is_interrupted() => {}
                Some(Err(e)) => return Err(e),
                None => self.session.handle_timeout(self.clock.now()),
            }
        }
    }

    /// The receive loop as a [`Stream`] over `socket`: see [`RecvStream`].
    pub fn into_stream(self, socket: Receiver) -> RecvStream<C> {
        let at = (self.clock.now(), self.clock.wall_ns());
        RecvStream {
            driver: self,
            socket,
            pos: 0,
            offset: 0,
            at,
            timer: None,
            read_timer: None,
            budget: BUDGET,
        }
    }
}

/// What a [`RecvStream`] yields.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Received {
    /// A data frame (not an end-of-session frame), as the core's receiver decoded it.
    Frame {
        /// The frame and its metadata; payload and tag share one buffer with the datagram.
        frame: ReceivedFrame,
        /// Where it fell in its stream: in order, after a gap, reordered, a duplicate…
        arrival: Arrival,
    },
    /// A datagram that is not a frame (no frame magic), whole.
    Raw(Datagram),
    /// An event of the session, after the datagram that caused it: a new stream, a gap, a
    /// duplicate or reordered frame, a stream's end ([`Event::StreamEnd`], which is how
    /// end-of-session frames show), a malformed frame ([`Event::Malformed`]), or a report.
    Event(Event),
}

/// A [`Stream`] of received frames, raw datagrams and session events, from
/// [`RecvDriver::into_stream`]: the receive loop of [`RecvDriver::run`] for callers that
/// would rather consume a stream than pass callbacks.
///
/// Every datagram goes through the driver's
/// [`core::Receiver`](mcast_core::session::Receiver) once, and the stream yields what the
/// receiver made of it: a data frame ([`Received::Frame`], decoded once, with its
/// [`Arrival`]), a raw datagram ([`Received::Raw`]), and then the events it caused
/// ([`Received::Event`]). End-of-session and malformed frames are not data: they show only as
/// their events. So [`stats`](Self::stats), read at any time between items, counts exactly the
/// frames yielded so far (and those lost, duplicated or reordered among them), with no frame
/// encoded again.
///
/// The session's timers run too: with a report interval, [`Event::Report`]s come on time
/// even when no datagram arrives. Host drops ([`Receiver::kernel_drops`]) are passed in after
/// every batch.
///
/// The stream never ends. With a [read timeout](Receiver::read_timeout), it yields an error
/// for which [`Error::is_timeout`] holds whenever that long passes without a datagram, and goes
/// on, as [`crate::FrameStream`] does.
///
/// # Cancel safety
///
/// [`StreamExt::next`](https://docs.rs/futures/0.3/futures/stream/trait.StreamExt.html#method.next) is cancel safe: the batch received and the
/// position in it are kept in the stream, and an item is taken from them only in the poll
/// that yields it.
#[derive(Debug)]
pub struct RecvStream<C: Clock = SystemClock> {
    driver: RecvDriver<C>,
    socket: Receiver,
    /// The next slot of the batch to hand to the session.
    pos: usize,
    /// Where the next datagram starts in that slot (a slot holds several when UDP GRO
    /// coalesced them).
    offset: usize,
    /// When the batch arrived, by the clock: monotonic and wall.
    at: (Instant, u64),
    /// The session's timer and the deadline it is set to.
    timer: Option<(Pin<Box<Sleep>>, Instant)>,
    /// The read timeout's timer, armed by the first pending receive after a batch.
    read_timer: Option<Pin<Box<Sleep>>>,
    /// Batches left before the stream yields to the runtime.
    budget: usize,
}

impl<C: Clock> RecvStream<C> {
    /// A snapshot of the session's counters, covering every item yielded so far.
    pub fn stats(&self) -> Stats {
        self.driver.stats()
    }

    /// The driver, and through it the session machine.
    pub fn driver(&self) -> &RecvDriver<C> {
        &self.driver
    }

    /// The receiver underneath.
    pub fn get_ref(&self) -> &Receiver {
        &self.socket
    }

    /// The driver and the receiver back. Datagrams of the last batch that were not yielded
    /// yet are handed to the session first, so its counts are complete; their events stay
    /// queued in it.
    pub fn into_parts(mut self) -> (RecvDriver<C>, Receiver) {
        while self.pos < self.driver.batch.len() {
            let _ = self.handle_next();
        }
        (self.driver, self.socket)
    }

    /// Hands the next datagram of the batch to the session and returns what to yield for it:
    /// nothing for an end-of-session or malformed frame (their events say it), nor for a
    /// stray datagram (sent to the port but not to a joined group: counted in the stats).
    fn handle_next(&mut self) -> Option<Received> {
        let RecvDriver {
            session,
            batch,
            default_destination,
            ..
        } = &mut self.driver;
        let Some((slot, meta)) = batch.get(self.pos) else {
            self.pos += 1;
            return None;
        };
        // One datagram of the slot: all of it, or the next segment of a GRO run.
        let seg = meta.segment_size.map_or(slot.len(), usize::from).max(1);
        let start = self.offset.min(slot.len());
        let end = (start + seg).min(slot.len());
        let bytes = &slot[start..end];
        if end >= slot.len() {
            self.pos += 1;
            self.offset = 0;
        } else {
            self.offset = end;
        }
        let mut meta = meta.with_segment_size(None);
        meta.len = bytes.len();
        let meta = match meta.destination {
            Some(_) => meta,
            None => meta.with_destination(*default_destination),
        };
        // One copy, which the yielded frame's payload and tag share.
        let data = Bytes::copy_from_slice(bytes);
        let (now, wall) = self.at;
        match session.handle_datagram(now, wall, meta, &data) {
            core::Datagram::Framed { frame, arrival } => Some(Received::Frame {
                frame: ReceivedFrame::from_repr(meta, &data, &frame),
                arrival,
            }),
            core::Datagram::Raw(_) => Some(Received::Raw(Datagram {
                meta,
                bytes: data.clone(),
            })),
            // Stray datagrams (not sent to a joined group) are counted in the stats, not data.
            core::Datagram::End { .. }
            | core::Datagram::Malformed(_)
            | core::Datagram::Stray { .. }
            | core::Datagram::Rejected(_) => None,
        }
    }

    /// Polls the session's timer; ready when it fired and the session ran it.
    fn poll_timer(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        let Some(deadline) = self.driver.session.poll_timeout() else {
            return Poll::Pending;
        };
        let timer = match &mut self.timer {
            Some((timer, at)) => {
                if *at != deadline {
                    timer.as_mut().reset(deadline.into());
                    *at = deadline;
                }
                timer
            }
            slot @ None => {
                let timer = Box::pin(tokio::time::sleep_until(deadline.into()));
                &mut slot.insert((timer, deadline)).0
            }
        };
        if timer.as_mut().poll(cx).is_pending() {
            return Poll::Pending;
        }
        self.driver.session.handle_timeout(self.driver.clock.now());
        Poll::Ready(())
    }
}

impl<C: Clock + Unpin> Stream for RecvStream<C> {
    type Item = Result<Received, Error>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        loop {
            // The events the last datagram or timer caused, in order.
            if let Some(event) = this.driver.session.poll_event() {
                return Poll::Ready(Some(Ok(Received::Event(event))));
            }
            // The rest of the batch.
            if this.pos < this.driver.batch.len() {
                if let Some(item) = this.handle_next() {
                    return Poll::Ready(Some(Ok(item)));
                }
                continue;
            }
            let deadline = this.driver.session.poll_timeout();
            if this.poll_timer(cx).is_ready() {
                if this.driver.session.poll_timeout() != deadline {
                    continue;
                }
                // The clock is behind tokio's timer: poll again once the runtime had its turn.
                cx.waker().wake_by_ref();
                this.budget = BUDGET;
                return Poll::Pending;
            }
            if this.budget == 0 {
                // Yield to the runtime, and come back at once.
                this.budget = BUDGET;
                cx.waker().wake_by_ref();
                return Poll::Pending;
            }
            match this.socket.poll_recv_batch(cx, &mut this.driver.batch) {
                Poll::Ready(Ok(_)) => {
                    this.budget -= 1;
                    this.pos = 0;
                    this.offset = 0;
                    this.at = (this.driver.clock.now(), this.driver.clock.wall_ns());
                    this.read_timer = None;
                    this.driver
                        .session
                        .handle_host_drops(this.socket.kernel_drops());
                    continue;
                }
                Poll::Ready(Err(e)) => return Poll::Ready(Some(Err(e))),
                Poll::Pending => {}
            }
            this.budget = BUDGET;
            let Some(timeout) = this.socket.read_timeout() else {
                return Poll::Pending;
            };
            let read_timer = this
                .read_timer
                .get_or_insert_with(|| Box::pin(tokio::time::sleep(timeout)));
            if read_timer.as_mut().poll(cx).is_pending() {
                return Poll::Pending;
            }
            this.read_timer = None;
            return Poll::Ready(Some(Err(timed_out(timeout))));
        }
    }
}
