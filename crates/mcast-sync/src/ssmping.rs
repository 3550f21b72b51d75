//! The ssmping client's loop: mcast-core's [`Pinger`] driven against a [`UnicastSocket`]
//! connected to the server's port 4321 (queries out, unicast replies in) and a [`Receiver`]
//! joined to the group on that socket's own port (multicast replies in: `ssmpingd` multicasts
//! to the client's port).
//!
//! [`PingDriver::run`] sends each query when the machine says it is due, waits for both
//! sockets at once (`ppoll`, to the nanosecond) until the next deadline, hands every datagram
//! to the machine with the path it came by, and reports what happened as [`PingEvent`]s.
//!
//! ```no_run
//! use std::ops::ControlFlow;
//! use mcast_core::addr::Source;
//! use mcast_core::ssmping::{self, Pinger, PingerConfig};
//! use mcast_sync::driver::Clock as _;
//! use mcast_sync::ssmping::{PingDriver, PingEvent};
//! use mcast_sync::unicast::UnicastSocket;
//! use mcast_sync::Receiver;
//!
//! let server: std::net::IpAddr = "192.0.2.1".parse()?;
//! let unicast = UnicastSocket::builder((server, ssmping::PORT).into())
//!     .recv_hop_limit(true)
//!     .build()?;
//! let group = ssmping::default_group(false);
//! let mut rx = Receiver::builder(unicast.local_addr().port())
//!     .group(group)
//!     .source(Source::for_group(group, server)?)
//!     .iface(mcast_core::iface::IfaceSpec::Addr(unicast.local_addr().ip()))
//!     .recv_hop_limit(true)
//!     .build()?;
//! let mut cfg = PingerConfig::new(server, group, std::process::id());
//! cfg.count = Some(5);
//! let clock = mcast_sync::driver::SystemClock;
//! let mut driver = PingDriver::new(Pinger::new(cfg, clock.now()));
//! driver.run(&unicast, &mut rx, None, || false, |event| {
//!     if let PingEvent::Reply { reply, .. } = event {
//!         println!("{:?} seq={} time={:?}", reply.path, reply.seq, reply.rtt);
//!     }
//!     ControlFlow::Continue(())
//! })?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::io;
use std::ops::ControlFlow;
use std::os::fd::{AsFd as _, AsRawFd as _};
use std::time::{Duration, Instant};

use mcast_core::ssmping::{Ignored, Path, Pinger, Query, Reply};
use mcast_core::RecvMeta;

use crate::driver::{is_host_drop, Clock, Drive, SystemClock};
use crate::unicast::UnicastSocket;
use crate::{Error, Receiver, RecvBatch};

/// How long the driver waits at most in one go, so a stop request is seen within it.
const TICK: Duration = Duration::from_millis(50);

/// The longest reply the driver reads whole (a UDP datagram's largest payload).
const MAX_REPLY: usize = 65_535;

/// What happened, as [`PingDriver::run`] reports it.
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub enum PingEvent<'a> {
    /// A query went out.
    Sent {
        /// Its sequence number and length.
        query: Query,
        /// The wall-clock time it carries, nanoseconds since the Unix epoch.
        wall_ns: u64,
    },
    /// A reply to one of our queries arrived (or arrived again: `reply.duplicate`).
    Reply {
        /// The reply, matched to its query.
        reply: Reply<'a>,
        /// What the socket said about the datagram (source, destination group, hop limit).
        meta: RecvMeta,
    },
    /// A datagram that is no reply to us arrived; it was not counted.
    Ignored {
        /// The socket it came by.
        path: Path,
        /// What the socket said about it.
        meta: RecvMeta,
        /// Why it was not taken.
        why: Ignored,
    },
    /// The server refused a query (`ECONNREFUSED`: an ICMP port unreachable, nothing listens
    /// on its port).
    Refused,
}

/// Runs a [`Pinger`] against its two sockets.
#[derive(Debug)]
pub struct PingDriver<C: Clock = SystemClock> {
    session: Pinger,
    clock: C,
    out: Vec<u8>,
    buf: Vec<u8>,
    batch: RecvBatch,
}

impl PingDriver<SystemClock> {
    /// A driver for `session` on the system clocks.
    pub fn new(session: Pinger) -> Self {
        Self::with_clock(session, SystemClock)
    }
}

impl<C: Clock> PingDriver<C> {
    /// A driver for `session` reading time from `clock`.
    pub fn with_clock(session: Pinger, clock: C) -> Self {
        Self {
            session,
            clock,
            out: Vec::with_capacity(128),
            buf: vec![0; MAX_REPLY],
            batch: RecvBatch::new(8, MAX_REPLY),
        }
    }

    /// The state machine (its counts and round trip times).
    pub fn session(&self) -> &Pinger {
        &self.session
    }

    /// The state machine, to [`finish`](Pinger::finish) it.
    pub fn session_mut(&mut self) -> &mut Pinger {
        &mut self.session
    }

    /// The clock.
    pub fn clock(&self) -> &C {
        &self.clock
    }

    /// Sends queries and takes replies until the machine is finished ([`Drive::Finished`]:
    /// every query sent and answered on both paths, or the linger after the last one passed),
    /// until `limit` passes ([`Drive::Limit`]), until `stop` returns true ([`Drive::Stopped`],
    /// checked at least every 50 ms) or until `on_event` breaks ([`Drive::Finished`]).
    ///
    /// # Errors
    ///
    /// A socket's error when sending or receiving fails for a reason other than a refused query
    /// ([`PingEvent::Refused`]) or a full send queue (`ENOBUFS`/`EAGAIN`: the query is then
    /// lost, as it would be in the network).
    pub fn run(
        &mut self,
        unicast: &UnicastSocket,
        rx: &mut Receiver,
        limit: Option<Instant>,
        mut stop: impl FnMut() -> bool,
        mut on_event: impl FnMut(PingEvent<'_>) -> ControlFlow<()>,
    ) -> Result<Drive, Error> {
        let mut pollfds: Vec<libc::pollfd> = std::iter::once(unicast.as_fd().as_raw_fd())
            .chain(rx.fds().map(|fd| fd.as_raw_fd()))
            .map(|fd| libc::pollfd {
                fd,
                events: libc::POLLIN,
                revents: 0,
            })
            .collect();
        loop {
            if stop() {
                return Ok(Drive::Stopped);
            }
            if self.session.is_finished() {
                return Ok(Drive::Finished);
            }
            let now = self.clock.now();
            if limit.is_some_and(|l| now >= l) {
                return Ok(Drive::Limit);
            }
            loop {
                let wall_ns = self.clock.wall_ns();
                let Some(query) = self.session.poll_transmit(now, wall_ns, &mut self.out) else {
                    break;
                };
                let bytes = &self.out[..query.len];
                let refused = send(unicast, bytes)?;
                if refused && on_event(PingEvent::Refused).is_break() {
                    return Ok(Drive::Finished);
                }
                if on_event(PingEvent::Sent { query, wall_ns }).is_break() {
                    return Ok(Drive::Finished);
                }
            }
            let wake = [limit, self.session.poll_timeout(), now.checked_add(TICK)]
                .into_iter()
                .flatten()
                .min()
                .unwrap_or(now);
            wait(
                &mut pollfds,
                wake.saturating_duration_since(self.clock.now()),
            )?;
            if self.drain_unicast(unicast, &mut on_event)?.is_break()
                || self.drain_multicast(rx, &mut on_event)?.is_break()
            {
                return Ok(Drive::Finished);
            }
            self.session.handle_timeout(self.clock.now());
        }
    }

    /// Hands every queued unicast datagram to the machine.
    fn drain_unicast(
        &mut self,
        unicast: &UnicastSocket,
        on_event: &mut impl FnMut(PingEvent<'_>) -> ControlFlow<()>,
    ) -> Result<ControlFlow<()>, Error> {
        loop {
            let (n, meta) = match unicast.try_recv(&mut self.buf) {
                Ok(Some(got)) => got,
                Ok(None) => return Ok(ControlFlow::Continue(())),
                Err(e) if e.is_refused() => {
                    if on_event(PingEvent::Refused).is_break() {
                        return Ok(ControlFlow::Break(()));
                    }
                    continue;
                }
                Err(e) => return Err(e),
            };
            let now = self.clock.now();
            let bytes = &self.buf[..n];
            let event = match self.session.handle_datagram(
                now,
                Path::Unicast,
                meta.source.ip(),
                meta.hop_limit,
                bytes,
            ) {
                Ok(reply) => PingEvent::Reply { reply, meta },
                Err(why) => PingEvent::Ignored {
                    path: Path::Unicast,
                    meta,
                    why,
                },
            };
            if on_event(event).is_break() {
                return Ok(ControlFlow::Break(()));
            }
        }
    }

    /// Hands every queued multicast datagram to the machine.
    fn drain_multicast(
        &mut self,
        rx: &mut Receiver,
        on_event: &mut impl FnMut(PingEvent<'_>) -> ControlFlow<()>,
    ) -> Result<ControlFlow<()>, Error> {
        while rx.try_recv_batch(&mut self.batch)? > 0 {
            let now = self.clock.now();
            for (bytes, meta) in self.batch.datagrams() {
                let event = match self.session.handle_datagram(
                    now,
                    Path::Multicast,
                    meta.source.ip(),
                    meta.hop_limit,
                    bytes,
                ) {
                    Ok(reply) => PingEvent::Reply { reply, meta },
                    Err(why) => PingEvent::Ignored {
                        path: Path::Multicast,
                        meta,
                        why,
                    },
                };
                if on_event(event).is_break() {
                    return Ok(ControlFlow::Break(()));
                }
            }
        }
        Ok(ControlFlow::Continue(()))
    }
}

/// Sends a query; returns whether the kernel first reported a refused earlier query, in which
/// case this one was sent again (the report consumed the error). A full send queue loses the
/// query, as the network would.
fn send(unicast: &UnicastSocket, bytes: &[u8]) -> Result<bool, Error> {
    match unicast.send(bytes) {
        Ok(_) => Ok(false),
        Err(e) if is_host_drop(&e) => Ok(false),
        Err(e) if e.is_refused() => match unicast.send(bytes) {
            Ok(_) => Ok(true),
            Err(e) if is_host_drop(&e) || e.is_refused() => Ok(true),
            Err(e) => Err(e),
        },
        Err(e) => Err(e),
    }
}

/// Waits until a socket is readable (or has an error to report), a signal arrives, or
/// `timeout` passes.
fn wait(pollfds: &mut [libc::pollfd], timeout: Duration) -> Result<(), Error> {
    for p in pollfds.iter_mut() {
        p.revents = 0;
    }
    let ts = libc::timespec {
        tv_sec: libc::time_t::try_from(timeout.as_secs()).unwrap_or(libc::time_t::MAX),
        tv_nsec: libc::c_long::from(timeout.subsec_nanos() as i32),
    };
    // SAFETY: `pollfds` is a live array of `len()` pollfd structs whose fds the caller's
    // sockets own for the call; `ts` is a live timespec; no signal mask is passed.
    let rc = unsafe {
        libc::ppoll(
            pollfds.as_mut_ptr(),
            pollfds.len() as libc::nfds_t,
            &ts,
            std::ptr::null(),
        )
    };
    if rc < 0 {
        let e = io::Error::last_os_error();
        if e.kind() != io::ErrorKind::Interrupted {
            return Err(Error::Io {
                context: "cannot wait for replies",
                source: e,
            });
        }
    }
    Ok(())
}
