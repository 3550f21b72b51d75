//! The sending side: numbering, stamping and pacing datagrams.

use std::time::{Duration, Instant};

use crate::addr::GroupAddr;
#[cfg(feature = "auth")]
use crate::auth::Key;
use crate::auth::{Authenticator, TAG_LEN};
use crate::frame::{self, Flags, FrameError, FrameRepr, Seq, SessionId};
use crate::Transmit;

/// How a [`Sender`] numbers, frames and paces its datagrams.
///
/// Build it with [`SenderConfig::new`] and struct update syntax:
///
/// ```
/// use std::time::Duration;
/// use mcast_core::session::{SenderConfig, SessionId};
///
/// let config = SenderConfig {
///     session: SessionId(7),
///     framed: true,
///     interval: Some(Duration::from_millis(100)),
///     count: Some(10),
///     ..SenderConfig::new("224.1.1.5:50001".parse().unwrap())
/// };
/// assert_eq!(config.max_segments, 1);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SenderConfig {
    /// Where every datagram goes: the group and port (a [`GroupAddr`], never a unicast
    /// address).
    pub destination: GroupAddr,
    /// The session id written into frames.
    pub session: SessionId,
    /// Whether to put a [`frame`] header in front of each payload. Raw mode (`false`, the
    /// default) sends the payload alone, as plain socket programs do.
    pub framed: bool,
    /// Pacing for generated traffic ([`Sender::poll_transmit`]): one datagram per interval.
    /// `None` sends as fast as the caller drains.
    pub interval: Option<Duration>,
    /// How many datagrams [`Sender::poll_transmit`] generates before it is finished. `None`:
    /// no limit.
    pub count: Option<u64>,
    /// The first sequence number.
    pub first_seq: Seq,
    /// Flag bits other than [`Flags::AUTH`] to put in every frame.
    pub flags: Flags,
    /// How many datagrams one [`Transmit`] may hold (GSO batching), at least 1. Unpaced
    /// traffic always comes in batches of this size; paced traffic only when the caller is
    /// late and several datagrams fell due (see [Pacing](Sender#pacing)).
    pub max_segments: usize,
    /// How many end-of-session frames a framed stream ends with (default [`END_FRAMES`]);
    /// 0 sends none. Raw streams never send them.
    pub end_frames: u8,
    /// Authenticate every frame with this key ([`crate::auth`]): each carries
    /// [`Flags::AUTH`] and a [`TAG_LEN`]-byte tag after its payload, end-of-session frames
    /// included. A key implies [`framed`](Self::framed). `None` (the default): plain frames,
    /// which receivers without a key read. Needs the `auth` feature.
    #[cfg(feature = "auth")]
    pub key: Option<Key>,
}

impl SenderConfig {
    /// The largest UDP payload an IPv4 datagram carries: 65,535 (the IPv4 total length
    /// field) minus a 20-byte IPv4 header (no options) and the 8-byte UDP header.
    pub const MAX_UDP_PAYLOAD_V4: usize = 65_535 - 20 - 8;

    /// The largest UDP payload an IPv6 datagram carries without jumbograms: 65,535 (the IPv6
    /// payload length field, which excludes the 40-byte IPv6 header) minus the 8-byte UDP
    /// header.
    pub const MAX_UDP_PAYLOAD_V6: usize = 65_535 - 8;

    /// The largest UDP payload one datagram carries: [`Self::MAX_UDP_PAYLOAD_V4`] (65,507) or,
    /// when `is_ipv6`, [`Self::MAX_UDP_PAYLOAD_V6`] (65,527). Larger payloads fail in the
    /// kernel with `EMSGSIZE` ("Message too long"); check them before sending with
    /// [`Sender::check_payload`] or [`max_payload`](Self::max_payload).
    ///
    /// ```
    /// use mcast_core::session::SenderConfig;
    ///
    /// assert_eq!(SenderConfig::max_udp_payload(false), 65_507);
    /// assert_eq!(SenderConfig::max_udp_payload(true), 65_527);
    /// ```
    pub const fn max_udp_payload(is_ipv6: bool) -> usize {
        if is_ipv6 {
            Self::MAX_UDP_PAYLOAD_V6
        } else {
            Self::MAX_UDP_PAYLOAD_V4
        }
    }

    /// Raw, unpaced, unbounded traffic to `destination`, session 0, starting at `Seq(0)`.
    ///
    /// The destination is a [`GroupAddr`]: a multicast group and port. A plain
    /// [`SocketAddr`](std::net::SocketAddr) is not accepted, since it could be unicast; check
    /// one with `GroupAddr::try_from`:
    ///
    /// ```compile_fail
    /// use std::net::SocketAddr;
    /// use mcast_core::session::SenderConfig;
    ///
    /// let unicast: SocketAddr = "192.168.56.3:50001".parse().unwrap();
    /// let config = SenderConfig::new(unicast);
    /// ```
    ///
    /// ```
    /// use std::net::SocketAddr;
    /// use mcast_core::addr::{Group, GroupAddr};
    /// use mcast_core::session::SenderConfig;
    ///
    /// const GROUP: Group = Group::v4_const(std::net::Ipv4Addr::new(224, 1, 1, 5));
    /// let config = SenderConfig::new(GroupAddr::new(GROUP, 50001));
    /// assert_eq!(config.destination.to_string(), "224.1.1.5:50001");
    ///
    /// let unicast: SocketAddr = "192.168.56.3:50001".parse().unwrap();
    /// assert!(GroupAddr::try_from(unicast).is_err());
    /// ```
    pub fn new(destination: GroupAddr) -> Self {
        Self {
            destination,
            session: SessionId(0),
            framed: false,
            interval: None,
            count: None,
            first_seq: Seq(0),
            flags: Flags::empty(),
            max_segments: 1,
            end_frames: END_FRAMES,
            #[cfg(feature = "auth")]
            key: None,
        }
    }

    /// Whether datagrams carry a frame header: [`framed`](Self::framed), or a
    /// [`key`](Self::key) is set.
    pub const fn is_framed(&self) -> bool {
        self.framed || self.has_key()
    }

    /// Whether a [`key`](Self::key) is set (never, without the `auth` feature).
    const fn has_key(&self) -> bool {
        #[cfg(feature = "auth")]
        return self.key.is_some();
        #[cfg(not(feature = "auth"))]
        false
    }

    /// The longest payload one datagram to [`destination`](Self::destination) carries in
    /// this mode: [`max_udp_payload`](Self::max_udp_payload) for the destination's family, minus the
    /// [`frame::HEADER_LEN`]-byte header when [framed](Self::is_framed) and the
    /// [`TAG_LEN`]-byte tag with a [`key`](Self::key) (and never more than a frame's length
    /// field holds, [`frame::MAX_PAYLOAD_LEN`]).
    ///
    /// | destination | raw    | framed | with a key |
    /// |-------------|-------:|-------:|-----------:|
    /// | IPv4        | 65,507 | 65,479 | 65,463     |
    /// | IPv6        | 65,527 | 65,499 | 65,483     |
    ///
    /// ```
    /// use mcast_core::session::SenderConfig;
    ///
    /// let raw = SenderConfig::new("224.1.1.5:50001".parse().unwrap());
    /// assert_eq!(raw.max_payload(), 65_507);
    /// let framed = SenderConfig { framed: true, ..raw };
    /// assert_eq!(framed.max_payload(), 65_479);
    /// ```
    pub const fn max_payload(&self) -> usize {
        let udp = Self::max_udp_payload(self.destination.is_ipv6());
        if self.is_framed() {
            let tag = if self.has_key() { TAG_LEN } else { 0 };
            let room = udp.saturating_sub(frame::HEADER_LEN + tag);
            if room < frame::MAX_PAYLOAD_LEN {
                room
            } else {
                frame::MAX_PAYLOAD_LEN
            }
        } else {
            udp
        }
    }
}

/// How late a paced datagram may be before the schedule is forgiven: a sender that falls
/// further behind (the process was stopped, stdin was slow) starts a new schedule at `now`
/// instead of sending everything it missed in a burst. Smaller lags are caught up, so the rate
/// does not drift.
pub const MAX_LAG: Duration = Duration::from_millis(100);

/// How many end-of-session frames a framed sender sends when its stream ends
/// ([`SenderConfig::end_frames`] by default).
pub const END_FRAMES: u8 = 3;

/// The spacing of the end-of-session frames, so that one burst of loss does not take them all.
pub const END_SPACING: Duration = Duration::from_millis(5);

/// Turns payloads into numbered, stamped datagrams, and paces generated traffic.
///
/// Two ways to send:
/// - [`write_datagram`](Self::write_datagram): one datagram for a payload the caller has now
///   (a line read from stdin). Not paced, not counted against [`SenderConfig::count`].
/// - [`poll_transmit`](Self::poll_transmit): generated traffic, paced by
///   [`SenderConfig::interval`] and bounded by [`SenderConfig::count`].
///
/// Both take sequence numbers from the same counter.
///
/// # Pacing
///
/// Datagram `k` of a paced stream is due at `origin + k × interval`, where `origin` is the
/// first [`poll_transmit`](Self::poll_transmit). The schedule is absolute: a caller that wakes
/// up late gets the datagrams that fell due meanwhile (up to [`SenderConfig::max_segments`] per
/// call, ready for GSO), so the long-run rate is exact whatever the wake-up jitter. A caller
/// more than [`MAX_LAG`] late starts a new schedule at `now` instead (no catch-up burst after a
/// stall).
///
/// # End of session
///
/// A framed stream ends with [`SenderConfig::end_frames`] end-of-session frames
/// ([`frame::EndOfSession`]), [`END_SPACING`] apart, so receivers count the loss at its tail.
/// They follow the last generated datagram once [`SenderConfig::count`] is reached (on the
/// next `poll_transmit`), or [`finish`](Self::finish) asks for them earlier.
#[derive(Debug, Clone)]
pub struct Sender {
    config: SenderConfig,
    /// The key's tag maker, when [`SenderConfig::key`] is set.
    auth: Option<Authenticator>,
    next_seq: Seq,
    /// Datagrams made by `poll_transmit`.
    generated: u64,
    /// The paced schedule's origin, and how many datagrams it has produced since then.
    origin: Option<(Instant, u64)>,
    /// When `poll_transmit` may next send; `None` before the first call.
    next_at: Option<Instant>,
    /// When `poll_transmit` last generated data.
    last_at: Option<Instant>,
    /// The schedule ran past what `Instant` can represent: no more generated traffic.
    exhausted: bool,
    /// The end phase: `None` until the stream ends.
    ending: Option<Ending>,
    datagrams: u64,
    bytes: u64,
}

/// The end phase of a stream.
#[derive(Debug, Clone, Copy)]
struct Ending {
    /// The first sequence number of the stream.
    end: frame::EndOfSession,
    /// End-of-session frames still to send.
    left: u8,
    /// When the next is due.
    at: Instant,
}

impl Sender {
    /// A sender with nothing sent yet. A [`key`](SenderConfig::key) turns
    /// [`framed`](SenderConfig::framed) on.
    pub fn new(mut config: SenderConfig) -> Self {
        #[cfg(feature = "auth")]
        let auth = config.key.as_ref().map(Authenticator::new);
        #[cfg(not(feature = "auth"))]
        let auth: Option<Authenticator> = None;
        config.framed = config.is_framed();
        Self {
            auth,
            next_seq: config.first_seq,
            config,
            generated: 0,
            origin: None,
            next_at: None,
            last_at: None,
            exhausted: false,
            ending: None,
            datagrams: 0,
            bytes: 0,
        }
    }

    /// The configuration.
    pub fn config(&self) -> &SenderConfig {
        &self.config
    }

    /// The sequence number the next framed datagram gets.
    pub fn next_seq(&self) -> Seq {
        self.next_seq
    }

    /// Datagrams written so far, by both ways of sending (end-of-session frames excluded).
    pub fn datagrams_sent(&self) -> u64 {
        self.datagrams
    }

    /// Bytes written so far (whole datagrams, headers included; end-of-session frames
    /// excluded).
    pub fn bytes_sent(&self) -> u64 {
        self.bytes
    }

    /// Datagrams generated by [`poll_transmit`](Self::poll_transmit) so far.
    pub fn generated(&self) -> u64 {
        self.generated
    }

    /// Whether everything is sent: the generated traffic is over ([`SenderConfig::count`]
    /// reached, or [`finish`](Self::finish) called) and so are the end-of-session frames.
    pub fn is_finished(&self) -> bool {
        self.exhausted || self.ending.is_some_and(|e| e.left == 0)
    }

    /// Whether the generated traffic is over: [`SenderConfig::count`] datagrams were generated
    /// or the stream was [finished](Self::finish). End-of-session frames may still be due.
    pub fn is_data_done(&self) -> bool {
        self.exhausted || self.ending.is_some() || self.remaining() == Some(0)
    }

    /// How many datagrams are still to be generated; `None` without a count.
    pub fn remaining(&self) -> Option<u64> {
        self.config
            .count
            .map(|count| count.saturating_sub(self.generated))
    }

    /// Raises [`SenderConfig::count`] by `n` (from 0 when there was no count), so
    /// [`poll_transmit`](Self::poll_transmit) generates `n` more datagrams. Has no effect once
    /// the stream [ended](Self::finish). A caller that feeds payloads one at a time (lines of
    /// stdin) extends the count before each, and the end-of-session frames wait for the last.
    pub fn extend_count(&mut self, n: u64) {
        if self.ending.is_none() {
            let count = self.config.count.unwrap_or(self.generated);
            self.config.count = Some(count.saturating_add(n));
        }
    }

    /// Ends the stream at `now`: no more generated traffic; a framed sender's end-of-session
    /// frames are due from `now` on ([`poll_transmit`](Self::poll_transmit) returns them).
    /// Later calls change nothing.
    pub fn finish(&mut self, now: Instant) {
        if self.ending.is_some() {
            return;
        }
        let left = if self.config.framed {
            self.config.end_frames
        } else {
            0
        };
        self.ending = Some(Ending {
            end: frame::EndOfSession {
                first: self.config.first_seq,
                end: self.next_seq,
            },
            left,
            at: now,
        });
    }

    /// Checks that `payload` fits one UDP datagram to the destination in this sender's mode:
    /// at most [`SenderConfig::max_payload`] bytes (the UDP limit of the destination's
    /// family, minus the frame header when framed).
    ///
    /// # Errors
    ///
    /// [`FrameError::TooLong`] with `what: "payload"`, the payload's length and
    /// [`SenderConfig::max_payload`] as `max`.
    pub fn check_payload(&self, payload: &[u8]) -> Result<(), FrameError> {
        let max = self.config.max_payload();
        if payload.len() > max {
            return Err(FrameError::TooLong {
                what: "payload",
                len: payload.len(),
                max,
            });
        }
        Ok(())
    }

    /// Appends the frame for `repr` to `buf`, authenticated when the sender has a key, and
    /// returns its length; 0 (nothing appended) only for a payload or tag too long for a
    /// frame, which callers rule out.
    fn encode(&self, repr: &FrameRepr<'_>, buf: &mut Vec<u8>) -> usize {
        match &self.auth {
            Some(auth) => auth.encode(repr, buf),
            None => frame::encode(repr, buf),
        }
        .unwrap_or(0)
    }

    /// Appends one datagram for `payload` to `buf` and returns its length. The caller has
    /// checked the payload's length.
    fn append(&mut self, wall_ns: u64, payload: &[u8], buf: &mut Vec<u8>) -> usize {
        let len = if self.config.framed {
            let payload = payload.get(..frame::MAX_PAYLOAD_LEN).unwrap_or(payload);
            let repr = FrameRepr {
                flags: self
                    .config
                    .flags
                    .with(Flags::AUTH, false)
                    .with(Flags::END, false),
                session: self.config.session,
                seq: self.next_seq,
                sent_at_ns: wall_ns,
                payload,
                tag: None,
            };
            // The payload was cut to what the length field holds, and a tag is 16 bytes, so
            // encoding cannot fail.
            self.encode(&repr, buf)
        } else {
            buf.extend_from_slice(payload);
            payload.len()
        };
        self.next_seq = self.next_seq.next();
        self.datagrams += 1;
        self.bytes = self.bytes.saturating_add(len as u64);
        len
    }

    /// Writes one datagram for `payload` into `buf` (cleared first) and returns the
    /// [`Transmit`] for `buf[..size]`.
    ///
    /// Raw mode copies the payload. Framed mode writes a frame with the next sequence number
    /// and `wall_ns` (ns since the Unix epoch) as its send time. This is not paced and does not
    /// count against [`SenderConfig::count`].
    ///
    /// Fails, writing nothing, for a payload that does not fit one UDP datagram (see
    /// [`check_payload`](Self::check_payload)).
    pub fn write_datagram(
        &mut self,
        wall_ns: u64,
        payload: &[u8],
        buf: &mut Vec<u8>,
    ) -> Result<Transmit, FrameError> {
        self.check_payload(payload)?;
        buf.clear();
        let size = self.append(wall_ns, payload, buf);
        Ok(Transmit::new(self.config.destination.into(), size))
    }

    /// How many datagrams of the paced schedule are due at `now` (at least 1 when one is due),
    /// moving the schedule's origin when the caller is more than [`MAX_LAG`] late.
    fn paced_due(&mut self, now: Instant, interval: Duration) -> u64 {
        let (origin, done) = *self.origin.get_or_insert((now, 0));
        let interval_ns = interval.as_nanos();
        let elapsed = now.saturating_duration_since(origin).as_nanos();
        // Datagrams 0..=k are due when k × interval ≤ elapsed.
        let due_total = elapsed
            .checked_div(interval_ns)
            .map_or(u128::from(u64::MAX), |k| k + 1);
        let due = due_total.saturating_sub(u128::from(done));
        if due == 0 {
            return 0;
        }
        // How late the oldest due datagram is.
        let late = elapsed.saturating_sub(u128::from(done).saturating_mul(interval_ns));
        if late > MAX_LAG.as_nanos() {
            self.origin = Some((now, 0));
            return 1;
        }
        u64::try_from(due).unwrap_or(u64::MAX)
    }

    /// When datagram `done` of the schedule starting at `origin` is due; `None` past what
    /// `Instant` can represent.
    fn due_at(origin: Instant, done: u64, interval: Duration) -> Option<Instant> {
        let ns = interval.as_nanos().checked_mul(u128::from(done))?;
        let secs = u64::try_from(ns / 1_000_000_000).ok()?;
        // The remainder is below 10^9, so it fits a u32.
        let nanos = (ns % 1_000_000_000) as u32;
        origin.checked_add(Duration::new(secs, nanos))
    }

    /// Generates the next datagram(s) into `buf` (cleared first), if any is due at `now`.
    ///
    /// Each datagram carries `payload` (framed mode: with the next sequence number and
    /// `wall_ns` as send time; a framed payload is cut to [`frame::MAX_PAYLOAD_LEN`], so check
    /// it once with [`check_payload`](Self::check_payload)). The first call sends at once.
    /// With an interval, datagrams follow the absolute schedule described under
    /// [Pacing](Self#pacing): one per interval, or a batch of those that fell due while the
    /// caller was late. Without an interval, a call returns a batch of up to
    /// [`SenderConfig::max_segments`] datagrams. `segment_size` is set when a transmit holds
    /// several.
    ///
    /// Once the count is reached (or after [`finish`](Self::finish)), a framed sender returns
    /// its end-of-session frames, one per transmit, as they fall due.
    ///
    /// Returns `None` when nothing is due or [`is_finished`](Self::is_finished).
    ///
    /// # When to call
    ///
    /// Call it until it returns `None`:
    /// - once after [`Sender::new`], to send the first datagram;
    /// - after [`handle_timeout`](Self::handle_timeout), i.e. when the deadline from
    ///   [`poll_timeout`](Self::poll_timeout) has passed;
    /// - after [`extend_count`](Self::extend_count) and [`finish`](Self::finish).
    #[must_use]
    pub fn poll_transmit(
        &mut self,
        now: Instant,
        wall_ns: u64,
        payload: &[u8],
        buf: &mut Vec<u8>,
    ) -> Option<Transmit> {
        if self.is_finished() {
            return None;
        }
        if self.ending.is_none() && self.remaining() == Some(0) {
            self.finish(now);
        }
        if let Some(ending) = &mut self.ending {
            if ending.left == 0 || now < ending.at {
                return None;
            }
            ending.left -= 1;
            ending.at = now.checked_add(END_SPACING).unwrap_or(now);
            let end = ending.end;
            let body = end.payload();
            buf.clear();
            let size = self.encode(&end.repr(self.config.session, wall_ns, &body), buf);
            return Some(Transmit::new(self.config.destination.into(), size));
        }
        if self.next_at.is_some_and(|at| now < at) {
            return None;
        }
        // An empty raw payload is a zero-length datagram, which cannot share a GSO batch (a
        // segment of 0 bytes): one per transmit.
        let cap = if !self.config.framed && payload.is_empty() {
            1
        } else {
            self.config.max_segments.max(1) as u64
        };
        let n = match self.config.interval {
            Some(interval) if !interval.is_zero() => self.paced_due(now, interval).min(cap),
            _ => cap,
        };
        let n = self.remaining().map_or(n, |r| r.min(n));
        if n == 0 {
            return None;
        }
        buf.clear();
        let mut segment = 0;
        for _ in 0..n {
            segment = self.append(wall_ns, payload, buf);
        }
        self.generated += n;
        self.last_at = Some(now);
        self.next_at = match (self.config.interval, &mut self.origin) {
            (Some(interval), Some((origin, done))) if !interval.is_zero() => {
                *done += n;
                Self::due_at(*origin, *done, interval)
            }
            _ => Some(now),
        };
        self.exhausted = self.next_at.is_none();
        let transmit = Transmit::new(self.config.destination.into(), buf.len());
        Some(if n > 1 {
            transmit.with_segment_size(Some(segment))
        } else {
            transmit
        })
    }

    /// When [`poll_transmit`](Self::poll_transmit) next has something to send: `None` when
    /// everything is sent, and also before the first `poll_transmit` (a new sender is due at
    /// once). Without an interval the deadline is the time of the last send: call again at
    /// once. The deadline may lie in the past (a late caller has datagrams to catch up).
    ///
    /// # When to call
    ///
    /// - after draining [`poll_transmit`](Self::poll_transmit), to know how long to wait;
    /// - after [`handle_timeout`](Self::handle_timeout).
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        if self.is_finished() {
            return None;
        }
        match &self.ending {
            Some(ending) => Some(ending.at),
            // The end frames follow the last datagram at once.
            None if self.remaining() == Some(0) => self.last_at.or(self.next_at),
            None => self.next_at,
        }
    }

    /// Tells the sender that `now` has come. The only timers are the pacing and end-frame
    /// deadlines, which [`poll_transmit`](Self::poll_transmit) checks against its own `now`,
    /// so this only has to be followed by draining `poll_transmit`. Spurious calls are no-ops.
    pub fn handle_timeout(&mut self, now: Instant) {
        let _ = now;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dest() -> GroupAddr {
        "224.1.1.5:50001".parse().unwrap()
    }

    #[test]
    fn raw_write_copies_payload() {
        let mut s = Sender::new(SenderConfig::new(dest()));
        let mut buf = vec![1, 2, 3];
        let t = s.write_datagram(5, b"hello", &mut buf).unwrap();
        assert_eq!(t, Transmit::new(dest().into(), 5));
        assert_eq!(buf, b"hello");
        assert_eq!(s.next_seq(), Seq(1));
        assert_eq!(s.datagrams_sent(), 1);
        assert_eq!(s.generated(), 0);
    }

    #[test]
    fn framed_write_numbers_and_stamps() {
        let mut s = Sender::new(SenderConfig {
            framed: true,
            session: SessionId(9),
            first_seq: Seq(100),
            flags: Flags(0x80),
            ..SenderConfig::new(dest())
        });
        let mut buf = Vec::new();
        for (i, wall) in [(100, 1_000), (101, 2_000)] {
            let t = s.write_datagram(wall, b"xy", &mut buf).unwrap();
            assert_eq!(t.size, buf.len());
            let f = frame::decode(&buf).unwrap();
            assert_eq!(f.seq, Seq(i));
            assert_eq!(f.session, SessionId(9));
            assert_eq!(f.sent_at_ns, wall);
            assert_eq!(f.payload, b"xy");
            assert_eq!(f.flags, Flags(0x80));
        }
        assert_eq!(s.bytes_sent(), 2 * (frame::HEADER_LEN as u64 + 2));
    }

    #[test]
    fn framed_payload_too_long_is_an_error() {
        let mut s = Sender::new(SenderConfig {
            framed: true,
            ..SenderConfig::new(dest())
        });
        let big = vec![0; frame::MAX_PAYLOAD_LEN + 1];
        let mut buf = Vec::new();
        assert!(s.write_datagram(0, &big, &mut buf).is_err());
        assert_eq!(s.datagrams_sent(), 0);
        // Raw mode no longer leaves the length to the socket (issue #2 (review)): a payload
        // beyond the UDP limit is refused before anything is written.
        let mut raw = Sender::new(SenderConfig::new(dest()));
        assert!(raw.write_datagram(0, &big, &mut buf).is_err());
        assert_eq!(raw.datagrams_sent(), 0);
    }

    // issue #2 (review) — the UDP limit: 65,507 bytes over IPv4, 65,527 over IPv6, minus the
    // frame header when framed; checked before anything is written.
    #[test]
    fn payload_limit_is_the_udp_limit_of_the_family_minus_the_header() {
        assert_eq!(SenderConfig::max_udp_payload(false), 65_507);
        assert_eq!(SenderConfig::max_udp_payload(true), 65_527);
        assert_eq!(frame::HEADER_LEN, 28);
        let v6: GroupAddr = "[ff15::1]:50001".parse().unwrap();
        for (destination, framed, max) in [
            (dest(), false, 65_507),
            (dest(), true, 65_479),
            (v6, false, 65_527),
            (v6, true, 65_499),
        ] {
            let config = SenderConfig {
                framed,
                ..SenderConfig::new(destination)
            };
            assert_eq!(config.max_payload(), max, "{destination} framed={framed}");
            let mut s = Sender::new(config);
            let mut buf = Vec::new();
            let fits = vec![b'x'; max];
            assert_eq!(s.check_payload(&fits), Ok(()));
            let t = s.write_datagram(0, &fits, &mut buf).unwrap();
            assert!(t.size <= SenderConfig::max_udp_payload(destination.is_ipv6()));
            assert_eq!(t.size, buf.len());
            let over = vec![b'x'; max + 1];
            assert_eq!(
                s.check_payload(&over),
                Err(FrameError::TooLong {
                    what: "payload",
                    len: max + 1,
                    max,
                })
            );
            assert!(s.write_datagram(0, &over, &mut buf).is_err());
            assert_eq!(s.datagrams_sent(), 1, "the refused payload was not counted");
        }
    }

    /// Drains the end-of-session frames of a framed sender whose data is done, checking each.
    fn drain_end_frames(s: &mut Sender, mut now: Instant, first: u64, end: u64) -> Instant {
        let mut buf = Vec::new();
        for i in 0..END_FRAMES {
            let t = s
                .poll_transmit(now, 7, b"p", &mut buf)
                .expect("end frame due");
            let f = frame::decode(&buf[..t.size]).unwrap();
            assert!(f.flags.contains(Flags::END), "frame {i} is an end frame");
            assert_eq!(
                frame::EndOfSession::from_repr(&f),
                Some(Ok(frame::EndOfSession {
                    first: Seq(first),
                    end: Seq(end)
                }))
            );
            assert!(s.poll_transmit(now, 7, b"p", &mut buf).is_none());
            if i + 1 < END_FRAMES {
                assert_eq!(s.poll_timeout(), Some(now + END_SPACING));
                now += END_SPACING;
            }
        }
        assert!(s.is_finished());
        assert_eq!(s.poll_timeout(), None);
        now
    }

    #[test]
    fn paced_count_bounded_then_end_frames() {
        let t0 = super::super::test_origin();
        let iv = Duration::from_millis(10);
        let mut s = Sender::new(SenderConfig {
            interval: Some(iv),
            count: Some(3),
            framed: true,
            ..SenderConfig::new(dest())
        });
        let mut buf = Vec::new();
        assert_eq!(
            s.poll_timeout(),
            None,
            "nothing known before the first send"
        );
        assert!(s.poll_transmit(t0, 0, b"p", &mut buf).is_some());
        assert!(
            s.poll_transmit(t0, 0, b"p", &mut buf).is_none(),
            "not due yet"
        );
        assert_eq!(s.poll_timeout(), Some(t0 + iv));
        assert!(s.poll_transmit(t0 + iv / 2, 0, b"p", &mut buf).is_none());
        assert!(s.poll_transmit(t0 + iv, 0, b"p", &mut buf).is_some());
        assert!(s.poll_transmit(t0 + 2 * iv, 0, b"p", &mut buf).is_some());
        assert_eq!(frame::decode(&buf).unwrap().seq, Seq(2));
        assert!(s.is_data_done() && !s.is_finished());
        assert_eq!(
            s.poll_timeout(),
            Some(t0 + 2 * iv),
            "the end follows the last datagram at once"
        );
        drain_end_frames(&mut s, t0 + 2 * iv, 0, 3);
        assert!(s.poll_transmit(t0 + 10 * iv, 0, b"p", &mut buf).is_none());
        assert_eq!((s.generated(), s.datagrams_sent()), (3, 3));
    }

    #[test]
    fn raw_streams_end_without_end_frames() {
        let t0 = super::super::test_origin();
        let mut s = Sender::new(SenderConfig {
            count: Some(2),
            max_segments: 4,
            ..SenderConfig::new(dest())
        });
        let mut buf = Vec::new();
        assert_eq!(
            s.poll_transmit(t0, 0, b"p", &mut buf).unwrap().datagrams(),
            2
        );
        assert!(s.poll_transmit(t0, 0, b"p", &mut buf).is_none());
        assert!(s.is_finished());
        assert_eq!(s.poll_timeout(), None);
    }

    // issue #7 — a late caller catches up on the schedule (no drift), in one GSO batch.
    #[test]
    fn late_caller_catches_up_in_a_batch() {
        let t0 = super::super::test_origin();
        let iv = Duration::from_millis(10);
        let mut s = Sender::new(SenderConfig {
            interval: Some(iv),
            max_segments: 8,
            ..SenderConfig::new(dest())
        });
        let mut buf = Vec::new();
        assert!(s.poll_transmit(t0, 0, b"p", &mut buf).is_some());
        let late = t0 + 3 * iv + iv / 2;
        let t = s.poll_transmit(late, 0, b"p", &mut buf).unwrap();
        assert_eq!((t.datagrams(), t.segment_size), (3, Some(1)));
        assert!(s.poll_transmit(late, 0, b"p", &mut buf).is_none());
        assert_eq!(
            s.poll_timeout(),
            Some(t0 + 4 * iv),
            "still on the first schedule"
        );
        // One datagram per transmit when batches are not allowed: the rest follow at once.
        let mut one = Sender::new(SenderConfig {
            interval: Some(iv),
            ..SenderConfig::new(dest())
        });
        assert!(one.poll_transmit(t0, 0, b"p", &mut buf).is_some());
        let sent = std::iter::from_fn(|| one.poll_transmit(late, 0, b"p", &mut buf)).count();
        assert_eq!(sent, 3);
    }

    #[test]
    fn caller_later_than_max_lag_starts_a_new_schedule() {
        let t0 = super::super::test_origin();
        let iv = Duration::from_millis(10);
        let mut s = Sender::new(SenderConfig {
            interval: Some(iv),
            max_segments: 64,
            ..SenderConfig::new(dest())
        });
        let mut buf = Vec::new();
        assert!(s.poll_transmit(t0, 0, b"p", &mut buf).is_some());
        let late = t0 + MAX_LAG + 5 * iv;
        assert_eq!(
            s.poll_transmit(late, 0, b"p", &mut buf)
                .unwrap()
                .datagrams(),
            1
        );
        assert!(s.poll_transmit(late, 0, b"p", &mut buf).is_none());
        assert_eq!(s.poll_timeout(), Some(late + iv));
    }

    // issue #7 — pacing from 1/s to 1M/s, 10^6 datagrams each, on simulated time with a
    // caller that wakes up to 37 µs late: no datagram goes before its time, none more than
    // the wake-up jitter after it, and the last is due exactly (n - 1) × interval after the
    // first, so the rate does not drift.
    #[test]
    fn pacing_has_no_drift_from_1_to_1m_per_second() {
        const N: u64 = 1_000_000;
        for rate in [1_u64, 1_000, 20_000, 1_000_000] {
            let t0 = super::super::test_origin();
            let iv = Duration::from_nanos(1_000_000_000 / rate);
            let mut s = Sender::new(SenderConfig {
                interval: Some(iv),
                count: Some(N),
                max_segments: 64,
                ..SenderConfig::new(dest())
            });
            let mut buf = Vec::new();
            let mut now = t0;
            let mut sent: u64 = 0;
            let mut jitter_seed: u64 = 0x9e37_79b9_7f4a_7c15;
            while let Some(deadline) = s.poll_timeout().or((sent == 0).then_some(t0)) {
                // A deterministic 0..37 µs wake-up delay.
                jitter_seed = jitter_seed
                    .wrapping_mul(6_364_136_223_846_793_005)
                    .wrapping_add(1);
                let jitter = Duration::from_nanos((jitter_seed >> 33) % 37_000);
                // The first call is the schedule's origin: it comes at t0 exactly.
                now = if sent == 0 {
                    t0
                } else {
                    now.max(deadline) + jitter
                };
                while let Some(t) = s.poll_transmit(now, 0, b"p", &mut buf) {
                    for k in sent..sent + t.datagrams() as u64 {
                        let due = t0 + iv * u32::try_from(k).unwrap();
                        assert!(now >= due, "rate {rate}: datagram {k} early");
                        assert!(
                            now - due < Duration::from_micros(37),
                            "rate {rate}: datagram {k} late by {:?}",
                            now - due
                        );
                    }
                    sent += t.datagrams() as u64;
                }
            }
            assert_eq!(sent, N, "rate {rate}");
            assert_eq!(s.generated(), N);
        }
    }

    #[test]
    fn unpaced_batches_segments() {
        let t0 = super::super::test_origin();
        let mut s = Sender::new(SenderConfig {
            framed: true,
            count: Some(5),
            max_segments: 2,
            ..SenderConfig::new(dest())
        });
        let mut buf = Vec::new();
        let seg = frame::HEADER_LEN + 3;
        let t = s.poll_transmit(t0, 0, b"abc", &mut buf).unwrap();
        assert_eq!(
            (t.size, t.segment_size, t.datagrams()),
            (2 * seg, Some(seg), 2)
        );
        assert_eq!(frame::decode(&buf[seg..]).unwrap().seq, Seq(1));
        assert_eq!(s.poll_timeout(), Some(t0), "due again at once");
        let t = s.poll_transmit(t0, 0, b"abc", &mut buf).unwrap();
        assert_eq!(t.datagrams(), 2);
        let t = s.poll_transmit(t0, 0, b"abc", &mut buf).unwrap();
        assert_eq!(
            (t.size, t.segment_size),
            (seg, None),
            "the count caps the batch"
        );
        assert_eq!(s.generated(), 5);
        drain_end_frames(&mut s, t0, 0, 5);
    }

    // issue #7 — lines of stdin: the count grows before each payload, and the end frames wait
    // for the last one.
    #[test]
    fn extend_count_feeds_payloads_one_at_a_time() {
        let t0 = super::super::test_origin();
        let mut s = Sender::new(SenderConfig {
            framed: true,
            first_seq: Seq(10),
            count: Some(0),
            ..SenderConfig::new(dest())
        });
        let mut buf = Vec::new();
        s.extend_count(2);
        for seq in [10, 11] {
            let _ = s.poll_transmit(t0, 0, b"line one", &mut buf).unwrap();
            assert_eq!(frame::decode(&buf).unwrap().seq, Seq(seq));
        }
        assert!(s.is_data_done() && !s.is_finished());
        s.extend_count(1);
        assert!(!s.is_data_done());
        let _ = s.poll_transmit(t0, 0, b"line two", &mut buf).unwrap();
        assert_eq!(frame::decode(&buf).unwrap().payload, b"line two");
        drain_end_frames(&mut s, t0, 10, 13);
        s.extend_count(5);
        assert!(
            s.poll_transmit(t0, 0, b"x", &mut buf).is_none(),
            "ended for good"
        );
    }

    // An empty payload is a zero-length datagram: UDP carries it. Raw, it goes one per
    // transmit (never a GSO batch of empty segments); framed, it is a bare header.
    #[test]
    fn empty_payload_is_one_zero_length_datagram_per_transmit() {
        let t0 = super::super::test_origin();
        let mut buf = vec![0xa5; 8];
        let mut s = Sender::new(SenderConfig {
            count: Some(3),
            max_segments: 64,
            ..SenderConfig::new(dest())
        });
        let mut got = Vec::new();
        while let Some(t) = s.poll_transmit(t0, 0, b"", &mut buf) {
            got.push((t.size, t.segment_size, t.datagrams()));
        }
        assert_eq!(got, vec![(0, None, 1); 3]);
        assert_eq!(
            (s.generated(), s.datagrams_sent(), s.bytes_sent()),
            (3, 3, 0)
        );
        let t = s.write_datagram(0, b"", &mut buf).unwrap();
        assert_eq!((t.size, t.datagrams(), buf.len()), (0, 1, 0));
        // A late paced caller catches up one empty datagram per transmit.
        let iv = Duration::from_millis(10);
        let mut paced = Sender::new(SenderConfig {
            interval: Some(iv),
            max_segments: 8,
            ..SenderConfig::new(dest())
        });
        assert_eq!(
            paced
                .poll_transmit(t0, 0, b"", &mut buf)
                .unwrap()
                .datagrams(),
            1
        );
        let late = t0 + 3 * iv;
        let caught: Vec<_> =
            std::iter::from_fn(|| paced.poll_transmit(late, 0, b"", &mut buf)).collect();
        assert_eq!(caught.len(), 3);
        assert!(caught.iter().all(|t| (t.size, t.segment_size) == (0, None)));
        // Framed, an empty payload is a header: batches still form.
        let mut framed = Sender::new(SenderConfig {
            framed: true,
            count: Some(2),
            max_segments: 2,
            ..SenderConfig::new(dest())
        });
        let t = framed.poll_transmit(t0, 0, b"", &mut buf).unwrap();
        assert_eq!(
            (t.size, t.segment_size, t.datagrams()),
            (2 * frame::HEADER_LEN, Some(frame::HEADER_LEN), 2)
        );
    }

    #[test]
    fn finish_ends_an_unbounded_stream() {
        let t0 = super::super::test_origin();
        let mut s = Sender::new(SenderConfig {
            framed: true,
            max_segments: 4,
            ..SenderConfig::new(dest())
        });
        let mut buf = Vec::new();
        assert_eq!(
            s.poll_transmit(t0, 0, b"p", &mut buf).unwrap().datagrams(),
            4
        );
        s.finish(t0);
        assert!(s.is_data_done());
        drain_end_frames(&mut s, t0, 0, 4);
        assert_eq!(s.generated(), 4);
    }

    #[test]
    fn huge_interval_does_not_overflow() {
        let t0 = super::super::test_origin();
        let mut s = Sender::new(SenderConfig {
            interval: Some(Duration::MAX),
            ..SenderConfig::new(dest())
        });
        let mut buf = Vec::new();
        assert!(s.poll_transmit(t0, 0, b"p", &mut buf).is_some());
        assert!(s.is_finished());
        assert_eq!(s.poll_timeout(), None);
    }

    // issue #9 — a sender with a key authenticates every frame, end-of-session frames
    // included, and leaves room for the tag.
    #[test]
    #[cfg(feature = "auth")]
    fn a_key_authenticates_every_frame_and_implies_framing() {
        use crate::auth::{Authenticator, Key, VerifyError};

        let key = Key::from_bytes([7; crate::auth::KEY_LEN]);
        let auth = Authenticator::new(&key);
        let config = SenderConfig {
            count: Some(3),
            max_segments: 2,
            key: Some(key),
            ..SenderConfig::new(dest())
        };
        assert!(
            !config.framed && config.is_framed(),
            "a key implies framing"
        );
        assert_eq!(config.max_payload(), 65_463);
        let mut s = Sender::new(config);
        assert!(s.config().framed);
        let t0 = super::super::test_origin();
        let mut buf = Vec::new();
        let seg = frame::HEADER_LEN + 3 + TAG_LEN;
        let mut frames: Vec<Vec<u8>> = Vec::new();
        let mut now = t0;
        while let Some(t) = s.poll_transmit(now, 5, b"abc", &mut buf) {
            let step = t.segment_size.unwrap_or(t.size);
            frames.extend(buf[..t.size].chunks(step).map(<[u8]>::to_vec));
            now += END_SPACING;
        }
        assert_eq!(frames[0].len(), seg);
        assert_eq!(frames.len(), 3 + usize::from(END_FRAMES));
        for (i, f) in frames.iter().enumerate() {
            assert_eq!(auth.verify(f), Ok(()), "frame {i}");
            let repr = frame::decode(f).unwrap();
            assert_eq!(repr.tag.map(<[u8]>::len), Some(TAG_LEN));
            assert_eq!(repr.flags.contains(Flags::END), i >= 3, "frame {i}");
        }
        let mut plain = Sender::new(SenderConfig {
            framed: true,
            ..SenderConfig::new(dest())
        });
        let _ = plain.write_datagram(0, b"abc", &mut buf).unwrap();
        assert_eq!(auth.verify(&buf), Err(VerifyError::Unauthenticated));
        let _ = s.write_datagram(0, b"abc", &mut buf).unwrap();
        assert_eq!(auth.verify(&buf), Ok(()));
    }

    #[test]
    fn poll_timeout_moves_forward_after_handle_timeout() {
        let t0 = super::super::test_origin();
        let iv = Duration::from_millis(7);
        let mut s = Sender::new(SenderConfig {
            interval: Some(iv),
            count: Some(50),
            framed: true,
            ..SenderConfig::new(dest())
        });
        let mut buf = Vec::new();
        let mut now = t0;
        let mut sent = 0;
        for _ in 0..1000 {
            while s.poll_transmit(now, 0, b"p", &mut buf).is_some() {
                sent += 1;
            }
            let Some(deadline) = s.poll_timeout() else {
                break;
            };
            assert!(
                deadline > now,
                "deadline {deadline:?} not after {now:?}: busy loop"
            );
            now = deadline;
            s.handle_timeout(now);
        }
        assert_eq!(sent, 50 + u64::from(END_FRAMES));
        assert_eq!(now, t0 + 49 * iv + 2 * END_SPACING);
    }
}
