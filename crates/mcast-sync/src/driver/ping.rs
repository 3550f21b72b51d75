//! The ping loop: a [`Pinger`] driven against a sender socket (probes and answers go out on it,
//! unicast answers come back to it) and a receiver socket joined to the group (probes of others
//! and multicast answers arrive there).

use std::io;
use std::net::UdpSocket;
use std::os::fd::{AsFd, AsRawFd};
use std::time::{Duration, Instant};

use mcast_core::ping::{PingEvent, Pinger};

use socket2::SockRef;

use super::{is_host_drop_io, Clock, Drive, Follow, SystemClock, TICK};
use crate::link::{LinkReport, LinkWatch, Rejoined};
use crate::setup::{self, poll_ms};
use crate::{Error, Joined, Receiver, RecvBatch, Sender, SocketState};

/// Runs a [`Pinger`] against a sender and a receiver on the same group and port.
///
/// Answers are sent the moment the probe is handled. With busy polling on
/// ([`set_busy_poll`](Self::set_busy_poll)) the loop never sleeps: it spins on non-blocking
/// receives, which takes a core but saves the wake-up of a sleeping process on every datagram
/// (tens of microseconds of round trip on a veth pair).
#[derive(Debug)]
pub struct PingDriver<C: Clock = SystemClock> {
    pinger: Pinger,
    clock: C,
    tx: UdpSocket,
    tx_state: SocketState,
    rx: Vec<UdpSocket>,
    rx_joined: Joined,
    batch: RecvBatch,
    buf: Vec<u8>,
    busy_poll: bool,
    send_errors: u64,
    link: Option<Follow>,
}

impl PingDriver<SystemClock> {
    /// A driver for `pinger` over `sender` (to the group, with its TTL and interface) and
    /// `receiver` (joined to the group), on the system clocks.
    pub fn new(pinger: Pinger, sender: Sender, receiver: Receiver) -> Self {
        Self::with_clock(pinger, sender, receiver, SystemClock)
    }
}

impl<C: Clock> PingDriver<C> {
    /// A driver reading time from `clock`.
    pub fn with_clock(pinger: Pinger, sender: Sender, receiver: Receiver, clock: C) -> Self {
        let (tx, tx_state, _) = sender.into_parts();
        let (rx, joined) = receiver.into_parts();
        Self {
            pinger,
            clock,
            tx,
            tx_state,
            rx,
            rx_joined: joined,
            batch: RecvBatch::new(64, 65_536),
            buf: Vec::with_capacity(2048),
            busy_poll: false,
            send_errors: 0,
            link: None,
        }
    }

    /// Follows the interface the sockets use, as
    /// [`RecvDriver::follow_link`](super::RecvDriver::follow_link) does: every change goes to
    /// `on_change`, and when the interface is back with a new index the receiver's groups are
    /// joined again there and the sender's outgoing interface (`IP_MULTICAST_IF`) points at it.
    /// While the interface is down or gone, probes and answers that cannot leave count as
    /// [`send_errors`](Self::send_errors).
    pub fn follow_link(
        &mut self,
        watch: LinkWatch,
        on_change: impl FnMut(&LinkReport) + Send + 'static,
    ) {
        self.link = Some(Follow::new(watch, on_change));
    }

    /// Joins the group again on `index` and sends by it from now on.
    fn rejoin(
        rx: &[UdpSocket],
        rx_joined: &mut Joined,
        tx: &UdpSocket,
        tx_state: &mut SocketState,
        index: u32,
    ) -> Result<Rejoined, Error> {
        let done = rx_joined.rejoin(rx, index)?;
        if let Some(&group) = rx_joined.groups().first() {
            setup::set_multicast_if_index(&SockRef::from(tx), tx_state, group, index)?;
        }
        Ok(done)
    }

    /// Spin instead of sleeping between datagrams (lower round trips, one core busy).
    pub fn set_busy_poll(&mut self, on: bool) {
        self.busy_poll = on;
    }

    /// The ping machine (its [`stats`](Pinger::stats)).
    pub fn pinger(&self) -> &Pinger {
        &self.pinger
    }

    /// The ping machine, to [`finish`](Pinger::finish) it.
    pub fn pinger_mut(&mut self) -> &mut Pinger {
        &mut self.pinger
    }

    /// The clock.
    pub fn clock(&self) -> &C {
        &self.clock
    }

    /// Datagrams the host refused to send (`ENOBUFS`), or that could not go to a peer.
    pub fn send_errors(&self) -> u64 {
        self.send_errors
    }

    /// Probes, answers and counts until the pinger is finished ([`Drive::Finished`]), `limit`
    /// passes ([`Drive::Limit`]) or `stop` returns true ([`Drive::Stopped`], checked at least
    /// every 50 ms). `on_event` hears every answer and new peer, in order.
    ///
    /// # Errors
    ///
    /// The socket's error when receiving fails, or sending fails for a reason other than a
    /// full queue or an unreachable peer.
    pub fn run(
        &mut self,
        limit: Option<Instant>,
        mut stop: impl FnMut() -> bool,
        mut on_event: impl FnMut(PingEvent),
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
                let (rx, rx_joined) = (&self.rx, &mut self.rx_joined);
                let (tx, tx_state) = (&self.tx, &mut self.tx_state);
                follow.check(now, |index| {
                    Self::rejoin(rx, rx_joined, tx, tx_state, index)
                });
            }
            let wall = self.clock.wall_ns();
            while let Some(t) = self.pinger.poll_transmit(now, wall, &mut self.buf) {
                match self.tx_state.send_transmit(self.tx.as_fd(), &t, &self.buf) {
                    Ok(_) => {}
                    Err(e) if unreachable_or_full(&e) => self.send_errors += 1,
                    Err(source) => {
                        return Err(Error::send(t.destination, self.tx_state.iface(), source))
                    }
                }
            }
            let got = self.receive(&mut on_event)?;
            if got > 0 {
                continue;
            }
            let now = self.clock.now();
            self.pinger.handle_timeout(now);
            while let Some(e) = self.pinger.poll_event() {
                on_event(e);
            }
            if self.pinger.is_finished(now) {
                return Ok(Drive::Finished);
            }
            if self.busy_poll {
                // Yielding, not just spinning, lets the kernel's softirq work for this core
                // (the datagrams we wait for) run as soon as it is due.
                std::thread::yield_now();
                continue;
            }
            let wake = [limit, self.pinger.poll_timeout(), now.checked_add(TICK)]
                .into_iter()
                .flatten()
                .min()
                .unwrap_or(now);
            if wake > now {
                self.wait(wake - now)?;
            }
        }
    }

    /// Takes every queued datagram from the receiver's sockets and the sender's (unicast
    /// answers) without blocking, and hands each to the pinger. Returns how many there were.
    fn receive(&mut self, on_event: &mut impl FnMut(PingEvent)) -> Result<usize, Error> {
        let mut total = 0;
        for k in 0..=self.rx.len() {
            let (fd, state) = match self.rx.get(k) {
                Some(s) => (s.as_fd(), self.rx_joined.state()),
                None => (self.tx.as_fd(), &self.tx_state),
            };
            self.batch.clear();
            match state.recv_batch(fd, &mut self.batch) {
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
                // An ICMP error for an earlier unicast answer; nothing to read.
                Err(e) if unreachable_or_full(&e) => continue,
                Err(source) => {
                    return Err(Error::Io {
                        context: "cannot receive",
                        source,
                    })
                }
            }
            let now = self.clock.now();
            let wall = self.clock.wall_ns();
            for (bytes, meta) in self.batch.datagrams() {
                // The kernel's receive time, when the sockets give it, leaves our own wake-up
                // out of the round trip.
                let at = meta.timestamp_ns.unwrap_or(wall);
                self.pinger.handle_datagram(now, at, meta.source, bytes);
                total += 1;
            }
            while let Some(e) = self.pinger.poll_event() {
                on_event(e);
            }
        }
        Ok(total)
    }

    /// Sleeps until a socket is readable, `timeout` passes, or a signal arrives.
    fn wait(&self, timeout: Duration) -> Result<(), Error> {
        let mut fds: Vec<libc::pollfd> = self
            .rx
            .iter()
            .map(AsRawFd::as_raw_fd)
            .chain(std::iter::once(self.tx.as_raw_fd()))
            .map(|fd| libc::pollfd {
                fd,
                events: libc::POLLIN,
                revents: 0,
            })
            .collect();
        // SAFETY: `fds` is a live array of `len()` pollfd structs for sockets this driver owns.
        let rc = unsafe {
            libc::poll(
                fds.as_mut_ptr(),
                fds.len() as libc::nfds_t,
                poll_ms(Some(timeout)),
            )
        };
        if rc < 0 {
            let e = io::Error::last_os_error();
            if e.kind() != io::ErrorKind::Interrupted {
                return Err(Error::Io {
                    context: "cannot wait for datagrams",
                    source: e,
                });
            }
        }
        Ok(())
    }
}

/// Errors a pinger rides out: a full queue (a host drop), a peer (or route) that went away,
/// or an interface that is down or gone (`ENETDOWN`; `ENODEV` / `ENXIO` for an outgoing
/// interface index that no longer exists, until it is back).
fn unreachable_or_full(e: &io::Error) -> bool {
    is_host_drop_io(e)
        || matches!(
            e.raw_os_error(),
            Some(
                libc::ECONNREFUSED
                    | libc::EHOSTUNREACH
                    | libc::ENETUNREACH
                    | libc::ENETDOWN
                    | libc::ENODEV
                    | libc::ENXIO
            )
        )
}
