//! The engine's loop: mcast-core's session machines driven against a socket.
//!
//! Every command of the `mcast` tool and the loopback bench go through these two drivers, so
//! pacing, numbering, batching and counting are written once:
//!
//! - [`SendDriver`] drains [`core::Sender::poll_transmit`](mcast_core::session::Sender::poll_transmit)
//!   into [`Sender::send_transmit`] (GSO, `sendmmsg` or one `sendto` per datagram, whichever
//!   the socket uses), and waits for
//!   [`poll_timeout`](mcast_core::session::Sender::poll_timeout) between transmits. Pacing follows
//!   the core's absolute schedule, so the rate does not drift: the driver sleeps until shortly
//!   before a deadline and spins for the rest.
//! - [`RecvDriver`] receives batches with `recvmmsg` ([`Receiver::recv_batch`]), hands every
//!   datagram to
//!   [`core::Receiver::handle_datagram`](mcast_core::session::Receiver::handle_datagram), drains
//!   [`poll_event`](mcast_core::session::Receiver::poll_event), runs the receiver's timers (interval
//!   reports) and passes the socket's kernel drop count in as host drops.
//!
//! Both receive drivers ([`RecvDriver`], [`PingDriver`]) can follow the interface they joined
//! on ([`RecvDriver::follow_link`]): between waits they poll a [`LinkWatch`], hand every change
//! to the caller, and join every group again when the interface comes back with a new index.
//!
//! Both read time through a [`Clock`] ([`SystemClock`] by default), and both return after a
//! time limit, a stop request or when the work is done, so the caller can print progress
//! between calls.
//!
//! ```no_run
//! use mcast_core::session::{Sender as Session, SenderConfig};
//! use mcast_sync::driver::{Drive, SendDriver};
//! use mcast_sync::Sender;
//!
//! let tx = Sender::builder("239.1.2.3".parse()?, 50001)
//!     .iface("127.0.0.1".parse()?)
//!     .ttl(0)
//!     .build()?;
//! let session = Session::new(SenderConfig {
//!     framed: true,
//!     count: Some(1000),
//!     interval: Some(std::time::Duration::from_millis(1)),
//!     ..SenderConfig::new(tx.destination())
//! });
//! let mut driver = SendDriver::new(session);
//! let done = driver.run(&tx, b"tick", None, || false, |_| {})?;
//! assert_eq!(done, Drive::Finished);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::io;
use std::net::IpAddr;
use std::ops::ControlFlow;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use mcast_core::session::{self as core, Datagram, Event};
use mcast_core::{RecvMeta, Transmit};

use crate::link::{LinkChange, LinkReport, LinkWatch, Rejoined};
use crate::{Error, Receiver, RecvBatch, Sender};

mod ping;
pub use ping::PingDriver;

/// Where the drivers read the time.
pub trait Clock {
    /// The monotonic clock, for timers and pacing.
    fn now(&self) -> Instant;
    /// The wall clock in nanoseconds since the Unix epoch, for the send time on the wire and
    /// one-way delay.
    fn wall_ns(&self) -> u64;
}

/// The operating system's clocks.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Instant {
        Instant::now()
    }

    fn wall_ns(&self) -> u64 {
        wall_ns()
    }
}

/// Nanoseconds since the Unix epoch by the system clock (0 before 1970, saturating far in the
/// future).
pub fn wall_ns() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
}

/// Why a driver's `run` returned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Drive {
    /// The work is done: the sender sent everything (end-of-session frames included), or a
    /// callback of the receiver asked to stop.
    Finished,
    /// The time limit passed.
    Limit,
    /// The stop function said so.
    Stopped,
}

/// What one transmit put on the wire, for progress and per-datagram output.
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub struct Sent {
    /// The transmit as the core made it.
    pub transmit: Transmit,
    /// How many of its datagrams the socket took (fewer than `transmit.datagrams()` when the
    /// host dropped some: `ENOBUFS`).
    pub datagrams: usize,
    /// The sequence number of its first datagram (framed mode).
    pub first_seq: core::Seq,
    /// The wall-clock stamp its frames carry.
    pub wall_ns: u64,
    /// Whether it is an end-of-session frame.
    pub is_end: bool,
}

impl Sent {
    /// A transmit the core just made, before it is sent (`datagrams` 0): for drivers of
    /// other runtimes (mcast-async's) that report transmits as this one does.
    pub fn new(transmit: Transmit, first_seq: core::Seq, wall_ns: u64, is_end: bool) -> Self {
        Self {
            transmit,
            datagrams: 0,
            first_seq,
            wall_ns,
            is_end,
        }
    }
}

/// What a send driver counts, one [`Sent`] at a time. The blocking driver and mcast-async's
/// keep their counters in one of these, so both count alike.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct SendCounts {
    /// Datagrams the socket took, end-of-session frames excluded.
    pub datagrams: u64,
    /// Their bytes (UDP payloads).
    pub bytes: u64,
    /// Datagrams the host refused (`ENOBUFS`): made by the session, never sent.
    pub host_drops: u64,
    /// Transmits handed to the socket.
    pub transmits: u64,
}

impl SendCounts {
    /// Counts one transmit handed to the socket, of which `sent.datagrams` went out; the rest
    /// of its datagrams count as host drops. End-of-session frames count only as transmits.
    pub fn record(&mut self, sent: &Sent) {
        let transmit = sent.transmit;
        self.transmits += 1;
        if !sent.is_end {
            let wanted = transmit.datagrams();
            let went = sent.datagrams.min(wanted);
            let seg = transmit.segment_size.unwrap_or(transmit.size).max(1);
            self.datagrams += went as u64;
            self.bytes += transmit.size.min(went * seg) as u64;
            self.host_drops += (wanted - went) as u64;
        }
    }
}

/// How long the drivers sleep at most in one go, so a stop request is seen within it.
const TICK: Duration = Duration::from_millis(50);

/// How close to a deadline the sender stops sleeping and spins: a little more than the
/// kernel's default timer slack (50 µs), so wake-ups are not late.
const SPIN: Duration = Duration::from_micros(80);

/// Runs a [`core::Sender`](mcast_core::session::Sender) against a [`Sender`] socket.
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
    /// A driver for `session` reading time from `clock`.
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

    /// Transmits (system calls, or GSO/`sendmmsg` batches) handed to the socket so far.
    pub fn transmits(&self) -> u64 {
        self.counts.transmits
    }

    /// All four counters at once.
    pub fn counts(&self) -> SendCounts {
        self.counts
    }

    /// Sends until the session is finished, end-of-session frames included
    /// ([`Drive::Finished`]), until `limit` passes ([`Drive::Limit`]) or until `stop` returns
    /// true ([`Drive::Stopped`], checked at least every 50 ms). Every datagram carries
    /// `payload`; `on_sent` hears of every transmit.
    ///
    /// # Errors
    ///
    /// The socket's error when a send fails for a reason other than `ENOBUFS` (which is
    /// counted in [`host_drops`](Self::host_drops)).
    pub fn run(
        &mut self,
        socket: &Sender,
        payload: &[u8],
        limit: Option<Instant>,
        stop: impl FnMut() -> bool,
        on_sent: impl FnMut(&Sent),
    ) -> Result<Drive, Error> {
        self.drive(socket, payload, limit, stop, on_sent, false)
    }

    /// As [`run`](Self::run), but returns [`Drive::Finished`] as soon as the generated data is
    /// done, before any end-of-session frame: for callers that feed payloads one at a time
    /// with [`extend_count`](mcast_core::session::Sender::extend_count) (lines of stdin), and
    /// [`run`](Self::run) once at the end.
    ///
    /// # Errors
    ///
    /// As [`run`](Self::run).
    pub fn run_data(
        &mut self,
        socket: &Sender,
        payload: &[u8],
        limit: Option<Instant>,
        stop: impl FnMut() -> bool,
        on_sent: impl FnMut(&Sent),
    ) -> Result<Drive, Error> {
        self.drive(socket, payload, limit, stop, on_sent, true)
    }

    fn drive(
        &mut self,
        socket: &Sender,
        payload: &[u8],
        limit: Option<Instant>,
        mut stop: impl FnMut() -> bool,
        mut on_sent: impl FnMut(&Sent),
        data_only: bool,
    ) -> Result<Drive, Error> {
        loop {
            if stop() {
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
                self.send(socket, sent, &mut on_sent)?;
                continue;
            }
            self.session.handle_timeout(now);
            // Without a deadline nothing more will come: finished (checked at the top).
            if let Some(deadline) = self.session.poll_timeout() {
                let until = limit.map_or(deadline, |l| l.min(deadline));
                wait_until(&self.clock, until, &mut stop);
            }
        }
    }

    fn send(
        &mut self,
        socket: &Sender,
        mut sent: Sent,
        on_sent: &mut impl FnMut(&Sent),
    ) -> Result<(), Error> {
        sent.datagrams = match socket.send_transmit(&sent.transmit, &self.buf) {
            Ok(n) => n,
            Err(e) if is_host_drop(&e) => 0,
            Err(e) => return Err(e),
        };
        self.counts.record(&sent);
        on_sent(&sent);
        Ok(())
    }
}

/// Whether a send failed because the host had no room for the datagram (`ENOBUFS` or
/// `EAGAIN`: a full interface queue or send buffer), which a sender at full speed counts
/// rather than dies of.
pub fn is_host_drop(e: &Error) -> bool {
    e.io_error().is_some_and(is_host_drop_io)
}

/// [`is_host_drop`] for a plain I/O error.
fn is_host_drop_io(e: &io::Error) -> bool {
    matches!(e.raw_os_error(), Some(libc::ENOBUFS | libc::EAGAIN))
}

/// Waits until `deadline` by `clock`: sleeps while it is far, spins (yielding) for the last
/// stretch, and returns early when `stop` says so.
fn wait_until<C: Clock>(clock: &C, deadline: Instant, stop: &mut impl FnMut() -> bool) {
    loop {
        let now = clock.now();
        if now >= deadline || stop() {
            return;
        }
        let left = deadline - now;
        if left > SPIN {
            std::thread::sleep((left - SPIN).min(TICK));
        } else {
            std::thread::yield_now();
        }
    }
}

/// A callback that hears of every change of a followed interface.
type OnLink = Box<dyn FnMut(&LinkReport) + Send>;

/// A [`LinkWatch`] a driver polls, and the callback it reports to.
struct Follow {
    watch: LinkWatch,
    on_change: OnLink,
}

impl std::fmt::Debug for Follow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Follow")
            .field("watch", &self.watch)
            .finish_non_exhaustive()
    }
}

impl Follow {
    fn new(watch: LinkWatch, on_change: impl FnMut(&LinkReport) + Send + 'static) -> Self {
        Self {
            watch,
            on_change: Box::new(on_change),
        }
    }

    /// Polls the watch at `now` and reports every change; `rejoin` makes the memberships again
    /// on the new index of an interface that is back.
    fn check(&mut self, now: Instant, mut rejoin: impl FnMut(u32) -> Result<Rejoined, Error>) {
        while let Some(event) = self.watch.poll_event(now) {
            let rejoin = (event.change == LinkChange::Back).then(|| rejoin(event.index));
            (self.on_change)(&LinkReport { event, rejoin });
        }
    }
}

/// Runs a [`core::Receiver`](mcast_core::session::Receiver) against a [`Receiver`] socket.
#[derive(Debug)]
pub struct RecvDriver<C: Clock = SystemClock> {
    session: core::Receiver,
    clock: C,
    batch: RecvBatch,
    default_destination: Option<IpAddr>,
    link: Option<Follow>,
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
    /// A driver for `session` reading time from `clock`.
    pub fn with_clock(session: core::Receiver, batch: RecvBatch, clock: C) -> Self {
        Self {
            session,
            clock,
            batch,
            default_destination: None,
            link: None,
        }
    }

    /// Follows the interface the receiver joined on: between waits (at most every
    /// [`LinkWatch::CHECK`]) [`run`](Self::run) polls `watch` and hands every change to
    /// `on_change`, and when the interface is back under its name with a new index it first
    /// joins every group again there ([`Receiver::rejoin`]), the outcome in the report. A
    /// receiver whose interface goes down keeps its memberships and just receives nothing
    /// until it is up again. Replaces any watch given before.
    ///
    /// ```no_run
    /// use mcast_core::session::{Receiver as Session, ReceiverConfig};
    /// use mcast_sync::driver::RecvDriver;
    /// use mcast_sync::link::LinkWatch;
    /// use mcast_sync::{Receiver, RecvBatch};
    ///
    /// let mut rx = Receiver::builder(5000)
    ///     .group("239.1.2.3".parse()?)
    ///     .iface("veth0".parse()?)
    ///     .build()?;
    /// let session = Session::new(ReceiverConfig::default(), std::time::Instant::now());
    /// let mut driver = RecvDriver::new(session, RecvBatch::new(32, 2048));
    /// if let Some(watch) = LinkWatch::for_iface(rx.iface())? {
    ///     driver.follow_link(watch, |r| eprintln!("{} is {}", r.event.name, r.event.change));
    /// }
    /// driver.run(&mut rx, None, || false, |_, _| std::ops::ControlFlow::Continue(()), |_| {
    ///     std::ops::ControlFlow::Continue(())
    /// })?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn follow_link(
        &mut self,
        watch: LinkWatch,
        on_change: impl FnMut(&LinkReport) + Send + 'static,
    ) {
        self.link = Some(Follow::new(watch, on_change));
    }

    /// The group to count a datagram under when the socket could not tell its destination
    /// (no `IP_PKTINFO`): with one group joined, that group.
    #[must_use]
    pub fn with_default_destination(mut self, group: Option<IpAddr>) -> Self {
        self.default_destination = group;
        self
    }

    /// The session machine (its [`stats`](mcast_core::session::Receiver::stats)).
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

    /// Receives and handles datagrams until `limit` passes ([`Drive::Limit`]), `stop` returns
    /// true ([`Drive::Stopped`], checked at least every 50 ms), or a callback breaks
    /// ([`Drive::Finished`]).
    ///
    /// `on_datagram` sees every datagram as the session classified it, with its metadata;
    /// `on_event` every event the session queued (reports included), in order, after the
    /// datagram that caused it. Datagrams of a batch after the one whose callback broke are
    /// dropped unhandled.
    ///
    /// # Errors
    ///
    /// The socket's error when receiving fails (a timeout or a signal is not an error).
    pub fn run(
        &mut self,
        socket: &mut Receiver,
        limit: Option<Instant>,
        mut stop: impl FnMut() -> bool,
        mut on_datagram: impl FnMut(&RecvMeta, Datagram<'_>) -> ControlFlow<()>,
        mut on_event: impl FnMut(Event) -> ControlFlow<()>,
    ) -> Result<Drive, Error> {
        loop {
            if stop() {
                return Ok(Drive::Stopped);
            }
            let now = self.clock.now();
            if limit.is_some_and(|l| now >= l) {
                return Ok(Drive::Limit);
            }
            if let Some(follow) = &mut self.link {
                follow.check(now, |index| socket.rejoin(index));
            }
            let wake = [limit, self.session.poll_timeout(), now.checked_add(TICK)]
                .into_iter()
                .flatten()
                .min()
                .unwrap_or(now);
            let wait = wake
                .saturating_duration_since(now)
                .max(Duration::from_millis(1));
            socket.set_read_timeout(Some(wait));
            match socket.recv_batch(&mut self.batch) {
                Ok(_) => {
                    // The batch's datagrams carry the socket's drop count as it was when each
                    // was queued: read it before a callback can end the run.
                    self.session.handle_host_drops(socket.kernel_drops());
                    let now = self.clock.now();
                    let wall = self.clock.wall_ns();
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
                }
                Err(e) if e.is_timeout() || e.is_interrupted() => {
                    self.session.handle_timeout(self.clock.now());
                }
                Err(e) => return Err(e),
            }
            while let Some(event) = self.session.poll_event() {
                if on_event(event).is_break() {
                    return Ok(Drive::Finished);
                }
            }
        }
    }
}
