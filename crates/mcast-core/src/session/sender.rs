//! The sending side: numbering, stamping and pacing datagrams.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

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
    /// Where every datagram goes: the group and port.
    pub destination: SocketAddr,
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
    /// How many datagrams one [`Transmit`] may hold (GSO batching), at least 1. Batches are
    /// built only when `interval` is `None`: paced traffic goes one datagram at a time.
    pub max_segments: usize,
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
    pub fn new(destination: SocketAddr) -> Self {
        Self {
            destination,
            session: SessionId(0),
            framed: false,
            interval: None,
            count: None,
            first_seq: Seq(0),
            flags: Flags::empty(),
            max_segments: 1,
        }
    }

    /// The longest payload one datagram to [`destination`](Self::destination) carries in
    /// this mode: [`max_udp_payload`](Self::max_udp_payload) for the destination's family, minus the
    /// [`frame::HEADER_LEN`]-byte header when [`framed`](Self::framed) (and never more than a
    /// frame's length field holds, [`frame::MAX_PAYLOAD_LEN`]).
    ///
    /// | destination | raw    | framed |
    /// |-------------|-------:|-------:|
    /// | IPv4        | 65,507 | 65,479 |
    /// | IPv6        | 65,527 | 65,499 |
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
        if self.framed {
            let room = udp.saturating_sub(frame::HEADER_LEN);
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

/// Turns payloads into numbered, stamped datagrams, and paces generated traffic.
///
/// Two ways to send:
/// - [`write_datagram`](Self::write_datagram): one datagram for a payload the caller has now
///   (a line read from stdin). Not paced, not counted against [`SenderConfig::count`].
/// - [`poll_transmit`](Self::poll_transmit): generated traffic, paced by
///   [`SenderConfig::interval`] and bounded by [`SenderConfig::count`].
///
/// Both take sequence numbers from the same counter.
#[derive(Debug, Clone)]
pub struct Sender {
    config: SenderConfig,
    next_seq: Seq,
    /// Datagrams made by `poll_transmit`.
    generated: u64,
    /// When `poll_transmit` may next send; `None` before the first call.
    next_at: Option<Instant>,
    /// The schedule ran past what `Instant` can represent: no more generated traffic.
    exhausted: bool,
    datagrams: u64,
    bytes: u64,
}

impl Sender {
    /// A sender with nothing sent yet.
    pub fn new(config: SenderConfig) -> Self {
        Self {
            next_seq: config.first_seq,
            config,
            generated: 0,
            next_at: None,
            exhausted: false,
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

    /// Datagrams written so far, by both ways of sending.
    pub fn datagrams_sent(&self) -> u64 {
        self.datagrams
    }

    /// Bytes written so far (whole datagrams, headers included).
    pub fn bytes_sent(&self) -> u64 {
        self.bytes
    }

    /// Datagrams generated by [`poll_transmit`](Self::poll_transmit) so far.
    pub fn generated(&self) -> u64 {
        self.generated
    }

    /// Whether generated traffic is over: [`SenderConfig::count`] datagrams were generated.
    pub fn is_finished(&self) -> bool {
        self.exhausted || self.remaining() == Some(0)
    }

    fn remaining(&self) -> Option<u64> {
        self.config
            .count
            .map(|count| count.saturating_sub(self.generated))
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

    /// Appends one datagram for `payload` to `buf` and returns its length. The caller has
    /// checked the payload's length.
    fn append(&mut self, wall_ns: u64, payload: &[u8], buf: &mut Vec<u8>) -> usize {
        let len = if self.config.framed {
            let payload = payload.get(..frame::MAX_PAYLOAD_LEN).unwrap_or(payload);
            let repr = FrameRepr {
                flags: self.config.flags.with(Flags::AUTH, false),
                session: self.config.session,
                seq: self.next_seq,
                sent_at_ns: wall_ns,
                payload,
                tag: None,
            };
            // The payload was cut to what the length field holds, and there is no tag, so
            // encoding cannot fail; 0 would only mean "nothing appended".
            frame::encode(&repr, buf).unwrap_or(0)
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
        Ok(Transmit::new(self.config.destination, size))
    }

    /// Generates the next datagram(s) of paced traffic into `buf` (cleared first), if one is
    /// due at `now`.
    ///
    /// Each datagram carries `payload` (framed mode: with the next sequence number and
    /// `wall_ns` as send time; a framed payload is cut to [`frame::MAX_PAYLOAD_LEN`], so check
    /// it once with [`check_payload`](Self::check_payload)). The first call sends at once.
    /// With an interval, one datagram goes per interval; a caller that is late gets one
    /// datagram and the schedule restarts from `now` (no catch-up burst). Without an interval,
    /// a call returns a batch of up to [`SenderConfig::max_segments`] datagrams
    /// (`segment_size` is set when there are several).
    ///
    /// Returns `None` when nothing is due or [`is_finished`](Self::is_finished).
    ///
    /// # When to call
    ///
    /// Call it until it returns `None`:
    /// - once after [`Sender::new`], to send the first datagram;
    /// - after [`handle_timeout`](Self::handle_timeout), i.e. when the deadline from
    ///   [`poll_timeout`](Self::poll_timeout) has passed.
    #[must_use]
    pub fn poll_transmit(
        &mut self,
        now: Instant,
        wall_ns: u64,
        payload: &[u8],
        buf: &mut Vec<u8>,
    ) -> Option<Transmit> {
        if self.is_finished() || self.next_at.is_some_and(|at| now < at) {
            return None;
        }
        let batch = match self.config.interval {
            Some(_) => 1,
            None => self.config.max_segments.max(1) as u64,
        };
        let n = self.remaining().map_or(batch, |r| r.min(batch));
        buf.clear();
        let mut segment = 0;
        for _ in 0..n {
            segment = self.append(wall_ns, payload, buf);
        }
        self.generated += n;
        self.next_at = match self.config.interval {
            None => Some(now),
            Some(interval) => {
                let planned = self.next_at.and_then(|at| at.checked_add(interval));
                match planned {
                    Some(at) if at > now => Some(at),
                    _ => now.checked_add(interval),
                }
            }
        };
        self.exhausted = self.next_at.is_none();
        let transmit = Transmit::new(self.config.destination, buf.len());
        Some(if n > 1 {
            transmit.with_segment_size(Some(segment))
        } else {
            transmit
        })
    }

    /// When [`poll_transmit`](Self::poll_transmit) next has something to send: `None` when the
    /// traffic is finished, and also before the first `poll_transmit` (a new sender is due at
    /// once). Without an interval the deadline is the time of the last send: call again at once.
    ///
    /// # When to call
    ///
    /// - after draining [`poll_transmit`](Self::poll_transmit), to know how long to wait;
    /// - after [`handle_timeout`](Self::handle_timeout).
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        if self.is_finished() {
            None
        } else {
            self.next_at
        }
    }

    /// Tells the sender that `now` has come. The only timer is the pacing deadline, which
    /// [`poll_transmit`](Self::poll_transmit) checks against its own `now`, so this only has
    /// to be followed by draining `poll_transmit`. Spurious calls are no-ops.
    pub fn handle_timeout(&mut self, now: Instant) {
        let _ = now;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dest() -> SocketAddr {
        "224.1.1.5:50001".parse().unwrap()
    }

    #[test]
    fn raw_write_copies_payload() {
        let mut s = Sender::new(SenderConfig::new(dest()));
        let mut buf = vec![1, 2, 3];
        let t = s.write_datagram(5, b"hello", &mut buf).unwrap();
        assert_eq!(t, Transmit::new(dest(), 5));
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
        let v6: SocketAddr = "[ff15::1]:50001".parse().unwrap();
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

    #[test]
    fn paced_count_bounded() {
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
        assert!(s.is_finished());
        assert_eq!(s.poll_timeout(), None);
        assert!(s.poll_transmit(t0 + 10 * iv, 0, b"p", &mut buf).is_none());
        assert_eq!(s.generated(), 3);
        assert_eq!(frame::decode(&buf).unwrap().seq, Seq(2));
    }

    #[test]
    fn late_caller_gets_no_burst() {
        let t0 = super::super::test_origin();
        let iv = Duration::from_millis(10);
        let mut s = Sender::new(SenderConfig {
            interval: Some(iv),
            ..SenderConfig::new(dest())
        });
        let mut buf = Vec::new();
        assert!(s.poll_transmit(t0, 0, b"p", &mut buf).is_some());
        let late = t0 + 5 * iv;
        assert!(s.poll_transmit(late, 0, b"p", &mut buf).is_some());
        assert!(s.poll_transmit(late, 0, b"p", &mut buf).is_none());
        assert_eq!(s.poll_timeout(), Some(late + iv));
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
        assert!(s.poll_transmit(t0, 0, b"abc", &mut buf).is_none());
        assert_eq!(s.generated(), 5);
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

    #[test]
    fn poll_timeout_moves_forward_after_handle_timeout() {
        let t0 = super::super::test_origin();
        let iv = Duration::from_millis(7);
        let mut s = Sender::new(SenderConfig {
            interval: Some(iv),
            count: Some(50),
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
        assert_eq!(sent, 50);
        assert_eq!(now, t0 + 49 * iv);
    }
}
