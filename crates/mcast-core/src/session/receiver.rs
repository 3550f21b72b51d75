//! The receiving side: classifying datagrams and counting what happened to each stream.

use std::collections::{HashSet, VecDeque};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;

use super::iperf::{IperfDatagram, IPERF_SESSION};
use super::table::Table;
use super::window::SeqWindow;
use crate::addr::Group;
#[cfg(feature = "auth")]
use crate::auth::Key;
use crate::auth::{AuthStats, Authenticator, Rejection, ReplayWindow, DEFAULT_REPLAY_WINDOW};
use crate::frame::{self, EndOfSession, FrameError, FrameRepr, Seq, SessionId};
use crate::RecvMeta;

/// How a [`Receiver`] classifies and counts, and how much memory it may use.
///
/// Build it with [`ReceiverConfig::default`] and struct update syntax.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReceiverConfig {
    /// Emit [`Event::Report`] this often. `None`: no periodic reports.
    pub report_interval: Option<Duration>,
    /// How many sequence numbers below the highest one each stream remembers, for telling
    /// late arrivals from duplicates. Rounded up to a multiple of 64, within 64..=2^24.
    /// Default 1024 (128 bytes per stream).
    pub window: u64,
    /// The most streams tracked at once (default 1024). A new stream beyond that evicts the
    /// stream heard from least recently; its counters stay in the totals.
    pub max_streams: usize,
    /// The most destination groups counted separately (default 256). Datagrams for further
    /// groups are counted in [`Stats::groups_untracked`].
    pub max_groups: usize,
    /// The most events queued for [`Receiver::poll_event`] (default 4096). Further events are
    /// dropped and counted in [`Stats::events_dropped`].
    pub max_events: usize,
    /// Whether to look for frames at all (default `true`). When `false`, every datagram is
    /// [`Datagram::Raw`], even one that starts with the frame magic.
    pub detect_frames: bool,
    /// How far (in sequence numbers) a frame may jump from its stream's highest before it is
    /// [suspect](Arrival::Suspect) rather than counted (default 2^24, about 14 s at 1.2M
    /// datagrams/s). Two consecutive frames that agree with each other there start a new
    /// epoch of the stream (a restarted sender).
    pub max_jump: u64,
    /// Whether to read raw datagrams as iperf2's (default `false`): a sequence number and a
    /// send time in their first 16 bytes, counted like frames under
    /// [`iperf::IPERF_SESSION`](super::iperf::IPERF_SESSION); see [`super::iperf`].
    pub detect_iperf: bool,
    /// The largest one-way delay, either sign, taken as a measurement (default one hour). A
    /// frame whose send time lies further from the receiver's clock is counted in
    /// [`StreamStats::delay_discarded`] instead of poisoning the delay figures. Under a
    /// [`key`](Self::key), a frame sent that far from the receiver's clock is a replay
    /// ([`Rejection::Replayed`]): the signed send time bounds how old a recording can be.
    pub max_delay: Duration,
    /// The groups joined (default: none named). A datagram whose destination is known and is
    /// not one of them is [stray](Datagram::Stray): counted apart, by kind, and never taken
    /// for group traffic. Empty: every multicast destination counts as a joined group.
    /// Unicast and broadcast destinations are stray whatever this holds.
    pub groups: Vec<Group>,
    /// This host's directed broadcast addresses (e.g. 192.168.56.255), so that datagrams sent
    /// to them count as [`Stray::Broadcast`] rather than [`Stray::Unicast`]. The limited
    /// broadcast address 255.255.255.255 always does.
    pub broadcast: Vec<IpAddr>,
    /// Accept only authenticated frames, by this key ([`crate::auth`]): every datagram is
    /// verified before it touches any statistics, and one that fails (raw datagrams, plain
    /// frames, forged, tampered, truncated and replayed frames) is dropped
    /// ([`Datagram::Rejected`]) and counted by name in [`Stats::auth`]. `None` (the default):
    /// no authentication, tags are not checked. Needs the `auth` feature.
    #[cfg(feature = "auth")]
    pub key: Option<Key>,
    /// The size of each sender session's replay window under a [`key`](Self::key), in
    /// sequence numbers: rounded up to a multiple of 64, within 64..=2^24 (default
    /// [`DEFAULT_REPLAY_WINDOW`], 4096; about `size / 8` bytes per stream).
    pub replay_window: u64,
}

impl ReceiverConfig {
    /// The one-way delay the receiver measures for a frame sent at `sent_at_ns` and received
    /// at `wall_ns` (both in nanoseconds since the Unix epoch): `wall_ns - sent_at_ns`, or
    /// `None` when it lies beyond [`max_delay`](Self::max_delay) either way, as for a forged or
    /// zero send time.
    ///
    /// ```
    /// use std::time::Duration;
    /// use mcast_core::session::ReceiverConfig;
    ///
    /// let config = ReceiverConfig::default();
    /// let now = 1_700_000_000_000_000_000;
    /// assert_eq!(config.delay_ns(now, now - 40_000), Some(40_000));
    /// assert_eq!(config.delay_ns(now, now + 1_000), Some(-1_000), "clock skew shows");
    /// assert_eq!(config.delay_ns(now, 0), None, "a send time of 0 is not a delay");
    /// assert_eq!(config.delay_ns(now, u64::MAX), None);
    /// ```
    pub fn delay_ns(&self, wall_ns: u64, sent_at_ns: u64) -> Option<i64> {
        let d = delay_ns(wall_ns, sent_at_ns);
        (u128::from(d.unsigned_abs()) <= self.max_delay.as_nanos()).then_some(d)
    }
}

impl Default for ReceiverConfig {
    fn default() -> Self {
        Self {
            report_interval: None,
            window: 1024,
            max_streams: 1024,
            max_groups: 256,
            max_events: 4096,
            detect_frames: true,
            max_jump: 1 << 24,
            detect_iperf: false,
            max_delay: Duration::from_secs(3600),
            groups: Vec::new(),
            broadcast: Vec::new(),
            #[cfg(feature = "auth")]
            key: None,
            replay_window: DEFAULT_REPLAY_WINDOW,
        }
    }
}

/// What a [stray](Datagram::Stray) datagram was sent to, instead of a joined group.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "snake_case"))]
#[non_exhaustive]
pub enum Stray {
    /// A unicast address of this host: a datagram sent to the port, not to a group.
    Unicast,
    /// A broadcast address: 255.255.255.255, or one of
    /// [`ReceiverConfig::broadcast`].
    Broadcast,
    /// A multicast group that is not one of [`ReceiverConfig::groups`].
    OtherGroup,
}

impl Stray {
    /// The kind in words, as in the JSON (`unicast`, `broadcast`, `other_group`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Unicast => "unicast",
            Self::Broadcast => "broadcast",
            Self::OtherGroup => "other_group",
        }
    }
}

/// Datagrams that were not group traffic ([`Datagram::Stray`]), by what they were sent to.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct StrayStats {
    /// Datagrams sent to a unicast address of this host.
    pub unicast: u64,
    /// Datagrams sent to a broadcast address.
    pub broadcast: u64,
    /// Datagrams sent to a group that was not joined.
    pub other_group: u64,
    /// The bytes of all of them.
    pub bytes: u64,
}

impl StrayStats {
    /// How many stray datagrams arrived, of every kind.
    pub fn total(&self) -> u64 {
        self.unicast
            .saturating_add(self.broadcast)
            .saturating_add(self.other_group)
    }
}

/// What one received datagram turned out to be. Borrows the datagram's bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Datagram<'a> {
    /// Not a frame (no magic): the whole datagram is the payload.
    Raw(&'a [u8]),
    /// A valid frame.
    Framed {
        /// The parsed header, payload and tag.
        frame: FrameRepr<'a>,
        /// Where it fell in its stream's sequence.
        arrival: Arrival,
    },
    /// A valid end-of-session frame ([`frame::Flags::END`]): no application data. Repeats of
    /// an end already seen are reported again and change nothing.
    End {
        /// The parsed frame.
        frame: FrameRepr<'a>,
        /// What it says: the stream was `first..end`.
        end: EndOfSession,
    },
    /// It starts with the frame magic but does not parse. Counted and dropped.
    Malformed(FrameError),
    /// Not group traffic: its destination was a unicast or broadcast address, or a group that
    /// was not joined ([`ReceiverConfig::groups`]). Counted by kind in [`Stats::stray`] and
    /// nothing else: it is never read as a frame, so it cannot touch any stream.
    Stray {
        /// What it was sent to.
        kind: Stray,
        /// The whole datagram.
        bytes: &'a [u8],
    },
    /// Under a [key](ReceiverConfig::key), it failed authentication: dropped before it
    /// touched any statistics, and counted in [`Stats::auth`].
    Rejected(Rejection),
}

impl<'a> Datagram<'a> {
    /// The application's bytes, unless the datagram is malformed.
    pub fn payload(&self) -> Option<&'a [u8]> {
        match self {
            Self::Raw(payload) => Some(payload),
            Self::Framed { frame, .. } => Some(frame.payload),
            Self::End { .. } | Self::Malformed(_) | Self::Stray { .. } | Self::Rejected(_) => None,
        }
    }
}

/// Where a frame fell in its stream's sequence.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "snake_case"))]
#[non_exhaustive]
pub enum Arrival {
    /// The first frame of a new stream.
    First,
    /// The next sequence number after the highest seen.
    InOrder,
    /// Ahead of the next expected sequence number: `missing` numbers were skipped (and are
    /// counted lost until they arrive).
    Gap {
        /// How many sequence numbers were skipped.
        missing: u64,
    },
    /// Below the highest seen, not seen before, inside the window: a late arrival.
    Reordered,
    /// Seen before, inside the window.
    Duplicate,
    /// More than the window below the highest seen: too old to tell a late arrival from a
    /// duplicate. Counted as stale, nothing else changes.
    Stale,
    /// Further than [`ReceiverConfig::max_jump`] from the highest seen, either way: a forged
    /// or corrupted sequence number, or a restarted sender. Counted as suspect, nothing else
    /// changes; a second frame that follows it closely starts a new epoch of the stream.
    Suspect,
    /// It started a new epoch of its stream (see [`Arrival::Suspect`]).
    NewEpoch,
}

/// An output of the [`Receiver`], drained with [`Receiver::poll_event`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Event {
    /// A frame from a new (source, session) stream.
    NewStream {
        /// The sender's address.
        source: SocketAddr,
        /// The sender's session.
        session: SessionId,
        /// The first sequence number heard.
        seq: Seq,
    },
    /// Sequence numbers were skipped: `first..first+count` have not arrived.
    Gap {
        /// The sender's address.
        source: SocketAddr,
        /// The sender's session.
        session: SessionId,
        /// The first missing sequence number.
        first: Seq,
        /// How many are missing.
        count: u64,
    },
    /// A frame arrived after a higher sequence number.
    Reordered {
        /// The sender's address.
        source: SocketAddr,
        /// The sender's session.
        session: SessionId,
        /// The late frame's sequence number.
        seq: Seq,
    },
    /// A frame arrived again.
    Duplicate {
        /// The sender's address.
        source: SocketAddr,
        /// The sender's session.
        session: SessionId,
        /// The repeated sequence number.
        seq: Seq,
    },
    /// A frame arrived too far behind to classify (see [`Arrival::Stale`]).
    Stale {
        /// The sender's address.
        source: SocketAddr,
        /// The sender's session.
        session: SessionId,
        /// The old sequence number.
        seq: Seq,
    },
    /// A frame far from its stream's sequence ([`Arrival::Suspect`]).
    Suspect {
        /// The sender's address.
        source: SocketAddr,
        /// The sender's session.
        session: SessionId,
        /// The suspect sequence number.
        seq: Seq,
    },
    /// A stream started over at `seq` ([`Arrival::NewEpoch`]).
    NewEpoch {
        /// The sender's address.
        source: SocketAddr,
        /// The sender's session.
        session: SessionId,
        /// Where the new epoch starts.
        seq: Seq,
    },
    /// A stream's end-of-session frame arrived (the first of its repeats): the loss at the
    /// stream's tail and head is now counted.
    StreamEnd {
        /// The sender's address.
        source: SocketAddr,
        /// The sender's session.
        session: SessionId,
        /// What the sender said it sent.
        end: EndOfSession,
        /// The stream's loss, now final (unless late frames still arrive).
        lost: u64,
    },
    /// A datagram with the frame magic did not parse.
    Malformed {
        /// The sender's address.
        source: SocketAddr,
        /// Why it did not parse.
        error: FrameError,
    },
    /// Under a [key](ReceiverConfig::key), a datagram failed authentication and was dropped.
    Rejected {
        /// The sender's address.
        source: SocketAddr,
        /// The session the datagram names, when its header is there to read.
        session: Option<SessionId>,
        /// The sequence number it names, when its header is there to read.
        seq: Option<Seq>,
        /// Why it was dropped.
        rejection: Rejection,
    },
    /// The periodic report ([`ReceiverConfig::report_interval`]), boxed: the statistics are
    /// far larger than any other event.
    Report(Box<Stats>),
}

/// One-way delay: the receiver's `wall_ns` minus the frame's `sent_at_ns`, in nanoseconds.
///
/// Negative values mean the sender's clock is ahead of the receiver's; they are kept, not
/// clamped, so clock skew shows. Differences beyond ±2^63 ns saturate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct DelayStats {
    /// How many frames were measured.
    pub samples: u64,
    /// The smallest delay.
    pub min_ns: i64,
    /// The mean delay (rounded towards zero).
    pub mean_ns: i64,
    /// The largest delay.
    pub max_ns: i64,
}

/// Percentiles of durations in nanoseconds (one-way delays, round trips), from an HDR
/// histogram with three significant digits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Percentiles {
    /// How many durations were measured.
    pub samples: u64,
    /// The shortest.
    pub min_ns: u64,
    /// The median.
    pub p50_ns: u64,
    /// The 90th percentile.
    pub p90_ns: u64,
    /// The 99th percentile.
    pub p99_ns: u64,
    /// The longest.
    pub max_ns: u64,
}

impl Percentiles {
    /// The percentiles of what `h` recorded; `None` when it recorded nothing.
    pub(crate) fn of(h: &Histogram<u64>) -> Option<Self> {
        (!h.is_empty()).then(|| Self {
            samples: h.len(),
            min_ns: h.min(),
            p50_ns: h.value_at_quantile(0.50),
            p90_ns: h.value_at_quantile(0.90),
            p99_ns: h.value_at_quantile(0.99),
            max_ns: h.max(),
        })
    }
}

/// One-way delay percentiles over every frame of the run. Negative delays (the sender's clock
/// ahead) are recorded as 0 here; [`DelayStats`] keeps their sign.
pub type DelayPercentiles = Percentiles;

/// The counters of one (source, session) stream.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[non_exhaustive]
pub struct StreamStats {
    /// The sender's address.
    pub source: SocketAddr,
    /// The sender's session.
    pub session: SessionId,
    /// Valid frames received, duplicates and stale ones included.
    pub received: u64,
    /// Bytes of those frames (whole datagrams).
    pub bytes: u64,
    /// Sequence numbers between the lowest and the highest seen that have not arrived.
    /// A late arrival inside the window takes one off.
    pub lost: u64,
    /// Frames whose sequence number had already arrived (inside the window).
    pub duplicates: u64,
    /// Frames that arrived after a higher sequence number (inside the window).
    pub reordered: u64,
    /// Frames too far behind the highest to classify.
    pub stale: u64,
    /// Malformed datagrams from this source whose session field named this stream.
    pub malformed: u64,
    /// The lowest sequence number seen (inside the window at the time).
    pub first_seq: Seq,
    /// The highest sequence number seen.
    pub highest_seq: Seq,
    /// One-way delay over every valid frame.
    pub delay: Option<DelayStats>,
    /// Frames further than [`ReceiverConfig::max_jump`] from the stream ([`Arrival::Suspect`]),
    /// not counted as loss, duplicates or reordering.
    pub suspect: u64,
    /// How many times the stream started over ([`Arrival::NewEpoch`]).
    pub epochs: u64,
    /// Frames whose one-way delay lay beyond [`ReceiverConfig::max_delay`]: not measured.
    pub delay_discarded: u64,
    /// Interarrival jitter as RFC 3550 (section 6.4.1) defines it, in nanoseconds: the
    /// smoothed mean deviation of the transit-time difference of consecutive frames.
    pub jitter_ns: u64,
    /// The end-of-session frame, once one arrived: the stream was `first..end`.
    pub end: Option<EndOfSession>,
    /// Under a key: frames naming this stream whose tag did not verify
    /// ([`Rejection::Tampered`]).
    pub tampered: u64,
    /// Under a key: valid frames of this stream dropped as replays ([`Rejection::Replayed`]).
    pub replayed: u64,
}

/// Datagrams and bytes per destination group.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct GroupStats {
    /// The group the datagrams were sent to; `None` when the adapter could not tell. (A
    /// known destination that is not a group makes the datagram [stray](Datagram::Stray),
    /// which is never counted here.) In JSON, the address as a string, or `null`.
    pub group: Option<Group>,
    /// Datagrams received for it.
    pub datagrams: u64,
    /// Their bytes.
    pub bytes: u64,
}

/// A snapshot of a [`Receiver`]'s counters, ready for JSON.
///
/// The loss, duplicate, reorder and stale totals include streams that were evicted.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[non_exhaustive]
pub struct Stats {
    /// Every datagram of group traffic handled (stray ones are in [`stray`](Self::stray)).
    pub datagrams: u64,
    /// Their bytes.
    pub bytes: u64,
    /// Datagrams that were not frames.
    pub raw: u64,
    /// Valid frames (and iperf2 datagrams, when [`ReceiverConfig::detect_iperf`] is on).
    pub framed: u64,
    /// Datagrams with the frame magic that did not parse.
    pub malformed: u64,
    /// Total of [`StreamStats::lost`].
    pub lost: u64,
    /// Total of [`StreamStats::duplicates`].
    pub duplicates: u64,
    /// Total of [`StreamStats::reordered`].
    pub reordered: u64,
    /// Total of [`StreamStats::stale`].
    pub stale: u64,
    /// The tracked streams, ordered by source then session.
    pub streams: Vec<StreamStats>,
    /// Streams evicted to stay within [`ReceiverConfig::max_streams`].
    pub streams_evicted: u64,
    /// The tracked groups, unknown destination first, then by address.
    pub groups: Vec<GroupStats>,
    /// Datagrams for groups beyond [`ReceiverConfig::max_groups`].
    pub groups_untracked: u64,
    /// Events dropped because the queue was full.
    pub events_dropped: u64,
    /// Total of [`StreamStats::suspect`], and end-of-session frames of streams never heard
    /// that named more than [`ReceiverConfig::max_jump`] numbers.
    pub suspect: u64,
    /// Streams whose end-of-session frame arrived (evicted ones included).
    pub streams_ended: u64,
    /// End-of-session frames received, repeats included. They are not data: [`datagrams`],
    /// [`bytes`], [`framed`] and the group counts leave them out.
    ///
    /// [`datagrams`]: Self::datagrams
    /// [`bytes`]: Self::bytes
    /// [`framed`]: Self::framed
    pub end_frames: u64,
    /// Datagrams the kernel dropped before this receiver saw them (full receive buffer), as
    /// the adapter last reported with [`Receiver::handle_host_drops`]: host drops, apart from
    /// network loss.
    pub host_drops: u64,
    /// One-way delay percentiles over every stream; `None` before the first measured frame.
    pub delay: Option<DelayPercentiles>,
    /// Datagrams that were not group traffic ([`Datagram::Stray`]), by kind; not in
    /// [`datagrams`](Self::datagrams) or any other count.
    pub stray: StrayStats,
    /// Under a [key](ReceiverConfig::key): what authentication let through and dropped, by
    /// name. The dropped datagrams count nowhere else: not in [`datagrams`](Self::datagrams),
    /// [`bytes`](Self::bytes), the group counts or any stream's figures. `None` without a key.
    pub auth: Option<AuthStats>,
}

#[derive(Debug, Clone, Copy, Default)]
struct DelayAcc {
    samples: u64,
    min: i64,
    max: i64,
    sum: i128,
    /// The previous frame's transit time, for jitter.
    prev_transit: Option<i64>,
    /// RFC 3550's jitter estimate, scaled by 16.
    jitter16: u64,
}

/// One-way delay in nanoseconds, saturated to `i64`.
fn delay_ns(wall_ns: u64, sent_at_ns: u64) -> i64 {
    let d = i128::from(wall_ns) - i128::from(sent_at_ns);
    i64::try_from(d).unwrap_or(if d < 0 { i64::MIN } else { i64::MAX })
}

impl DelayAcc {
    fn add(&mut self, d: i64) {
        if let Some(prev) = self.prev_transit {
            // J += (|D| - J) / 16, in RFC 3550's integer form (J kept scaled by 16).
            let diff = d.abs_diff(prev);
            self.jitter16 = self
                .jitter16
                .saturating_add(diff)
                .saturating_sub((self.jitter16 + 8) >> 4);
        }
        self.prev_transit = Some(d);
        if self.samples == 0 {
            self.min = d;
            self.max = d;
        } else {
            self.min = self.min.min(d);
            self.max = self.max.max(d);
        }
        self.samples += 1;
        self.sum = self.sum.saturating_add(i128::from(d));
    }

    fn stats(&self) -> Option<DelayStats> {
        let samples = self.samples;
        (samples > 0).then(|| DelayStats {
            samples,
            min_ns: self.min,
            // The mean of i64 values is an i64.
            mean_ns: i64::try_from(self.sum / i128::from(samples)).unwrap_or(0),
            max_ns: self.max,
        })
    }
}

#[derive(Debug, Clone, Copy, Default)]
struct Counters {
    received: u64,
    bytes: u64,
    lost: u64,
    duplicates: u64,
    reordered: u64,
    stale: u64,
    malformed: u64,
    suspect: u64,
    delay_discarded: u64,
    tampered: u64,
    replayed: u64,
}

impl Counters {
    fn absorb(&mut self, other: &Self) {
        self.received = self.received.saturating_add(other.received);
        self.bytes = self.bytes.saturating_add(other.bytes);
        self.lost = self.lost.saturating_add(other.lost);
        self.duplicates = self.duplicates.saturating_add(other.duplicates);
        self.reordered = self.reordered.saturating_add(other.reordered);
        self.stale = self.stale.saturating_add(other.stale);
        self.malformed = self.malformed.saturating_add(other.malformed);
        self.suspect = self.suspect.saturating_add(other.suspect);
        self.delay_discarded = self.delay_discarded.saturating_add(other.delay_discarded);
        self.tampered = self.tampered.saturating_add(other.tampered);
        self.replayed = self.replayed.saturating_add(other.replayed);
    }
}

#[derive(Debug, Clone)]
struct Stream {
    /// The lowest sequence number seen (moves down only inside the window).
    base: u64,
    highest: u64,
    seen: SeqWindow,
    counters: Counters,
    delay: DelayAcc,
    last_heard: Instant,
    /// Whether any data frame arrived (a stream may be known from its end frame alone).
    has_data: bool,
    /// A far-away sequence number that may start a new epoch if the next frame agrees.
    pending_epoch: Option<u64>,
    epochs: u64,
    end: Option<EndOfSession>,
    /// Under a key: the sequence numbers authenticated, for telling replays.
    replay: Option<ReplayWindow>,
}

impl Stream {
    fn new(seq: u64, window: u64, now: Instant) -> Self {
        let mut seen = SeqWindow::new(window);
        seen.set(seq);
        Self {
            base: seq,
            highest: seq,
            seen,
            counters: Counters::default(),
            delay: DelayAcc::default(),
            last_heard: now,
            has_data: true,
            pending_epoch: None,
            epochs: 0,
            end: None,
            replay: None,
        }
    }

    /// A stream known only from its end frame: every datagram of it was lost (so far).
    fn from_end(end: EndOfSession, window: u64, now: Instant) -> Self {
        let mut stream = Self::new(end.first.0, window, now);
        stream.has_data = false;
        stream.seen = SeqWindow::new(window);
        stream.highest = end.end.0.saturating_sub(1).max(end.first.0);
        stream.counters.lost = end.len();
        stream.end = Some(end);
        stream
    }

    /// Counts the bytes of one frame of `len` bytes.
    fn count(&mut self, len: u64) {
        self.counters.received += 1;
        self.counters.bytes = self.counters.bytes.saturating_add(len);
    }

    /// Whether `seq` lies further than `max_jump` from the stream.
    fn is_far(&self, seq: u64, max_jump: u64) -> bool {
        seq.abs_diff(self.highest) > max_jump
    }

    /// Records `seq`, which lies further than `max_jump` from the stream: suspect, unless it
    /// follows closely on the previous suspect, in which case the stream starts over there.
    fn record_far(&mut self, seq: u64, window: u64) -> Arrival {
        match self.pending_epoch {
            Some(p) if seq > p && seq - p <= window => {
                // The pending frame was counted suspect; it now belongs to the new epoch.
                let c = self.counters;
                self.seen = SeqWindow::new(window);
                self.seen.set(p);
                self.seen.set(seq);
                self.base = p;
                self.highest = seq;
                self.counters.suspect = c.suspect.saturating_sub(1);
                self.counters.lost = c.lost.saturating_add(seq - p - 1);
                self.pending_epoch = None;
                self.epochs += 1;
                self.end = None;
                Arrival::NewEpoch
            }
            _ => {
                self.pending_epoch = Some(seq);
                self.counters.suspect += 1;
                Arrival::Suspect
            }
        }
    }

    /// Records `seq` and says where it fell.
    fn record(&mut self, seq: u64) -> Arrival {
        self.pending_epoch = None;
        // A stream known from its end frame alone has every number of it counted lost and
        // none seen: the normal rules below apply.
        self.has_data = true;
        let c = &mut self.counters;
        if seq > self.highest {
            let missing = seq - self.highest - 1;
            self.seen.clear_range(self.highest + 1, seq);
            self.seen.set(seq);
            self.highest = seq;
            c.lost = c.lost.saturating_add(missing);
            return if missing == 0 {
                Arrival::InOrder
            } else {
                Arrival::Gap { missing }
            };
        }
        if self.highest - seq >= self.seen.size() {
            c.stale += 1;
            return Arrival::Stale;
        }
        if self.seen.get(seq) {
            c.duplicates += 1;
            return Arrival::Duplicate;
        }
        self.seen.set(seq);
        c.reordered += 1;
        if seq >= self.base {
            // It was counted lost when the highest passed it (or, for the first number of the
            // stream, when the end frame named it).
            c.lost = c.lost.saturating_sub(1);
        } else {
            // A new lowest: the numbers between it and the old lowest are now missing.
            c.lost = c.lost.saturating_add(self.base - seq - 1);
            self.base = seq;
        }
        Arrival::Reordered
    }

    /// Applies an end-of-session frame: the numbers between the highest seen and the end,
    /// and between the stream's first and the lowest seen, are lost. Returns the gaps found
    /// (first missing, count).
    fn record_end(&mut self, end: EndOfSession, max_jump: u64) -> [Option<(u64, u64)>; 2] {
        self.end = Some(end);
        let mut gaps = [None, None];
        let last = end.end.0.saturating_sub(1);
        if end.end.0 > 0 && last > self.highest && last - self.highest <= max_jump {
            let missing = last - self.highest;
            self.seen.clear_range(self.highest + 1, last);
            gaps[0] = Some((self.highest + 1, missing));
            self.highest = last;
            self.counters.lost = self.counters.lost.saturating_add(missing);
        }
        if end.first.0 < self.base && self.base - end.first.0 <= max_jump {
            let missing = self.base - end.first.0;
            gaps[1] = Some((end.first.0, missing));
            self.counters.lost = self.counters.lost.saturating_add(missing);
            self.base = end.first.0;
        }
        gaps
    }

    fn stats(&self, source: SocketAddr, session: SessionId) -> StreamStats {
        let c = &self.counters;
        StreamStats {
            source,
            session,
            received: c.received,
            bytes: c.bytes,
            lost: c.lost,
            duplicates: c.duplicates,
            reordered: c.reordered,
            stale: c.stale,
            malformed: c.malformed,
            first_seq: Seq(self.base),
            highest_seq: Seq(self.highest),
            delay: self.delay.stats(),
            suspect: c.suspect,
            epochs: self.epochs,
            delay_discarded: c.delay_discarded,
            jitter_ns: self.delay.jitter16 >> 4,
            end: self.end,
            tampered: c.tampered,
            replayed: c.replayed,
        }
    }
}

#[derive(Debug, Clone, Copy, Default)]
struct GroupCounts {
    datagrams: u64,
    bytes: u64,
}

/// Classifies received datagrams and counts, per (source, session) stream, what arrived,
/// what went missing, what came twice and what came late.
///
/// # Semantics
///
/// Each stream remembers which of the last [`ReceiverConfig::window`] sequence numbers (ending
/// at the highest seen) arrived. For a frame with sequence number `s`:
///
/// - `s` above the highest `h`: the `s - h - 1` numbers in between count as **lost**
///   ([`Event::Gap`]), and `s` becomes the highest;
/// - `s` at most `h`, inside the window, seen before: a **duplicate**;
/// - `s` at most `h`, inside the window, not seen: **reordered**; it takes one off `lost`, or,
///   when it is below the lowest seen, the numbers between it and the old lowest become lost;
/// - `s` more than the window below `h`: **stale**, not classified (memory is bounded, so the
///   receiver no longer knows whether it arrived before).
///
/// So, as long as no frame is stale, `lost` is the number of distinct sequence numbers between
/// the lowest and the highest seen that have not arrived, and `received = (h - lowest + 1) -
/// lost + duplicates`. Loss after the last frame received cannot be seen.
///
/// Memory is bounded whatever arrives: at most [`ReceiverConfig::max_streams`] streams of a
/// fixed-size window each, [`ReceiverConfig::max_groups`] group counters and
/// [`ReceiverConfig::max_events`] queued events. Arithmetic saturates; no input panics.
///
/// # Authentication
///
/// With a [key](ReceiverConfig::key), every datagram is verified before the rules above see
/// it ([`crate::auth`]): only frames whose tag verifies, sent within
/// [`max_delay`](ReceiverConfig::max_delay) of the receiver's clock, and (data frames) whose
/// sequence number the stream's replay window has not accepted before, are counted as above.
/// Anything else is [`Datagram::Rejected`] and counted only in [`Stats::auth`]. A duplicate
/// is then a replay, so `duplicates` stays 0 and `replayed` counts it.
///
/// ```
/// use std::time::Instant;
/// use mcast_core::auth::{Authenticator, Key, Rejection};
/// use mcast_core::frame::{Flags, FrameRepr, Seq, SessionId};
/// use mcast_core::session::{Datagram, Receiver, ReceiverConfig};
/// use mcast_core::RecvMeta;
///
/// let key = Key::from_bytes([7; 32]);
/// let t0 = Instant::now();
/// let wall = 1_700_000_000_000_000_000;
/// let mut rx = Receiver::new(ReceiverConfig { key: Some(key.clone()), ..ReceiverConfig::default() }, t0);
/// let repr = FrameRepr {
///     flags: Flags::empty(),
///     session: SessionId(1),
///     seq: Seq(0),
///     sent_at_ns: wall,
///     payload: b"hi",
///     tag: None,
/// };
/// let mut genuine = Vec::new();
/// Authenticator::new(&key).encode(&repr, &mut genuine).unwrap();
/// let meta = RecvMeta::new("10.0.0.1:4000".parse().unwrap(), genuine.len());
/// assert!(matches!(rx.handle_datagram(t0, wall, meta, &genuine), Datagram::Framed { .. }));
/// // The same frame again is a replay; a changed one, tampered.
/// assert_eq!(rx.handle_datagram(t0, wall, meta, &genuine), Datagram::Rejected(Rejection::Replayed));
/// let mut changed = genuine.clone();
/// changed[28] ^= 1;
/// assert_eq!(rx.handle_datagram(t0, wall, meta, &changed), Datagram::Rejected(Rejection::Tampered));
/// let stats = rx.stats();
/// let auth = stats.auth.unwrap();
/// assert_eq!((stats.framed, auth.authenticated, auth.replayed, auth.tampered), (1, 1, 1, 1));
/// ```
#[derive(Debug)]
pub struct Receiver {
    config: ReceiverConfig,
    streams: Table<(SocketAddr, SessionId), Stream>,
    evicted: Counters,
    streams_evicted: u64,
    groups: Table<Option<Group>, GroupCounts>,
    groups_untracked: u64,
    datagrams: u64,
    bytes: u64,
    raw: u64,
    framed: u64,
    malformed: u64,
    events: VecDeque<Event>,
    events_dropped: u64,
    next_report: Option<Instant>,
    streams_ended: u64,
    end_frames: u64,
    host_drops: u64,
    /// One-way delays of every stream, in nanoseconds.
    delay_hist: Histogram<u64>,
    /// [`ReceiverConfig::groups`], for telling group traffic from stray datagrams.
    joined: HashSet<IpAddr, foldhash::fast::FixedState>,
    /// The destination found joined last: datagrams come in runs to one group.
    last_joined: Option<IpAddr>,
    /// [`ReceiverConfig::broadcast`].
    broadcast: HashSet<IpAddr, foldhash::fast::FixedState>,
    stray: StrayStats,
    /// Suspect end-of-session frames of streams never heard (no stream to count them in).
    suspect_unknown: u64,
    /// The key's verifier, when [`ReceiverConfig::key`] is set.
    auth: Option<Authenticator>,
    auth_stats: AuthStats,
}

/// An iperf2 datagram seen as a frame of the [`IPERF_SESSION`] stream: its payload is what
/// follows iperf's 16-byte header.
fn iperf_repr(bytes: &[u8], seq: Seq, sent_at_ns: u64) -> FrameRepr<'_> {
    FrameRepr {
        flags: frame::Flags::empty(),
        session: IPERF_SESSION,
        seq,
        sent_at_ns,
        payload: bytes.get(super::iperf::HEADER_LEN..).unwrap_or_default(),
        tag: None,
    }
}

/// The largest delay the histogram holds: one hour in nanoseconds (larger ones saturate).
const HIST_MAX_NS: u64 = 3_600_000_000_000;

impl Receiver {
    /// A receiver with nothing received, started at `now` (the first report is due one
    /// interval later).
    pub fn new(config: ReceiverConfig, now: Instant) -> Self {
        let next_report = config
            .report_interval
            .and_then(|interval| now.checked_add(interval));
        let joined = config.groups.iter().map(|g| g.addr()).collect();
        let broadcast = config.broadcast.iter().map(|a| a.to_canonical()).collect();
        #[cfg(feature = "auth")]
        let auth = config.key.as_ref().map(Authenticator::new);
        #[cfg(not(feature = "auth"))]
        let auth: Option<Authenticator> = None;
        Self {
            auth,
            auth_stats: AuthStats::default(),
            config,
            streams: Table::new(),
            evicted: Counters::default(),
            streams_evicted: 0,
            groups: Table::new(),
            groups_untracked: 0,
            datagrams: 0,
            bytes: 0,
            raw: 0,
            framed: 0,
            malformed: 0,
            events: VecDeque::new(),
            events_dropped: 0,
            next_report,
            streams_ended: 0,
            end_frames: 0,
            host_drops: 0,
            // Fixed bounds and three significant digits: about 200 KiB, allocated once here;
            // recording never allocates.
            delay_hist: Histogram::new_with_bounds(1, HIST_MAX_NS, 3)
                .expect("1 < HIST_MAX_NS and 3 significant digits are valid bounds"),
            joined,
            last_joined: None,
            broadcast,
            stray: StrayStats::default(),
            suspect_unknown: 0,
        }
    }

    /// Whether a datagram sent to `destination` is stray, and of which kind (`None`: group
    /// traffic, or a destination the adapter could not tell).
    fn stray_kind(&mut self, destination: Option<IpAddr>) -> Option<Stray> {
        let ip = destination?.to_canonical();
        if ip.is_multicast() {
            if self.joined.is_empty() || self.last_joined == Some(ip) {
                return None;
            }
            if self.joined.contains(&ip) {
                self.last_joined = Some(ip);
                return None;
            }
            return Some(Stray::OtherGroup);
        }
        if ip == IpAddr::V4(Ipv4Addr::BROADCAST) || self.broadcast.contains(&ip) {
            Some(Stray::Broadcast)
        } else {
            Some(Stray::Unicast)
        }
    }

    fn count_stray(&mut self, kind: Stray, len: u64) {
        let s = &mut self.stray;
        let n = match kind {
            Stray::Unicast => &mut s.unicast,
            Stray::Broadcast => &mut s.broadcast,
            Stray::OtherGroup => &mut s.other_group,
        };
        *n = n.saturating_add(1);
        s.bytes = s.bytes.saturating_add(len);
    }

    /// The configuration.
    pub fn config(&self) -> &ReceiverConfig {
        &self.config
    }

    fn push_event(&mut self, event: Event) {
        if self.events.len() < self.config.max_events {
            self.events.push_back(event);
        } else {
            self.events_dropped += 1;
        }
    }

    /// Handles one received datagram: counts it for its destination group, and, when it is a
    /// frame, for its stream. Returns what it was. Runs any timer that is due at `now` first,
    /// so reports keep coming under steady traffic.
    ///
    /// A datagram whose `meta.destination` is not a joined group (see
    /// [`ReceiverConfig::groups`]) is [`Datagram::Stray`]: counted by kind, and nothing else.
    ///
    /// `wall_ns` is the receiver's wall clock (ns since the Unix epoch) for one-way delay;
    /// `meta.source` names the stream together with the frame's session id.
    ///
    /// Under a [key](ReceiverConfig::key), the datagram is authenticated first; one that
    /// fails is [`Datagram::Rejected`], counted in [`Stats::auth`] (and, for a known stream,
    /// [`StreamStats::tampered`] or [`StreamStats::replayed`]) and nowhere else.
    pub fn handle_datagram<'a>(
        &mut self,
        now: Instant,
        wall_ns: u64,
        meta: RecvMeta,
        bytes: &'a [u8],
    ) -> Datagram<'a> {
        self.handle_timeout(now);
        if let Some(kind) = self.stray_kind(meta.destination) {
            self.count_stray(kind, bytes.len() as u64);
            return Datagram::Stray { kind, bytes };
        }
        if let Err(rejection) = self.authenticate(wall_ns, meta.source, bytes) {
            return Datagram::Rejected(rejection);
        }
        // Under a key, only frames get this far.
        let framed =
            (self.config.detect_frames || self.auth.is_some()) && frame::looks_framed(bytes);
        // An end-of-session frame whose payload is wrong is malformed like any frame that does
        // not parse.
        let decoded = framed.then(|| {
            frame::decode(bytes).and_then(|repr| match EndOfSession::from_repr(&repr) {
                Some(Err(error)) => Err(error),
                _ => Ok(repr),
            })
        });
        let iperf = match decoded {
            None if self.config.detect_iperf => IperfDatagram::parse(bytes),
            _ => None,
        };
        // End-of-session frames are the protocol's, not data: counted apart.
        if let Some(Ok(repr)) = decoded {
            if let Some(Ok(end)) = EndOfSession::from_repr(&repr) {
                self.end_frames += 1;
                self.handle_end(now, (meta.source, repr.session), end);
                return Datagram::End { frame: repr, end };
            }
        }
        if let Some(end) = iperf.and_then(|h| h.end()) {
            let key = (meta.source, IPERF_SESSION);
            // iperf's final datagram names only the end; the start is what was seen.
            let first = self.streams.get(&key).map_or(end, |s| s.base.min(end));
            let end = EndOfSession {
                first: Seq(first),
                end: Seq(end),
            };
            self.end_frames += 1;
            self.handle_end(now, key, end);
            return Datagram::End {
                frame: iperf_repr(bytes, Seq(end.end.0), 0),
                end,
            };
        }
        let len = bytes.len() as u64;
        self.datagrams += 1;
        self.bytes = self.bytes.saturating_add(len);
        // Past `stray_kind`, a known destination is multicast (an IPv4-mapped one is counted
        // as the IPv4 group it is).
        let group = meta
            .destination
            .and_then(|ip| Group::new(ip.to_canonical()).ok());
        self.count_group(group, len);

        let decoded = match (decoded, iperf) {
            (Some(d), _) => d,
            (None, Some(h)) => Ok(iperf_repr(bytes, Seq(h.seq.unsigned_abs()), h.sent_at_ns)),
            (None, None) => {
                self.raw += 1;
                return Datagram::Raw(bytes);
            }
        };
        let repr = match decoded {
            Ok(repr) => repr,
            Err(error) => {
                self.malformed += 1;
                // The session field is readable once 8 bytes are there.
                let session =
                    (bytes.len() >= 8).then(|| frame::Frame::new_unchecked(bytes).session());
                if let Some(stream) = session.and_then(|s| self.streams.get_mut(&(meta.source, s)))
                {
                    stream.counters.malformed += 1;
                }
                self.push_event(Event::Malformed {
                    source: meta.source,
                    error,
                });
                return Datagram::Malformed(error);
            }
        };
        self.framed += 1;
        let key = (meta.source, repr.session);
        let (source, session) = key;
        let seq = repr.seq;
        let (window, max_jump) = (self.config.window, self.config.max_jump);
        let replay = self.replay_window();
        let (arrival, stream) = match self.streams.get_mut(&key) {
            Some(stream) => {
                stream.last_heard = now;
                stream.count(len);
                let arrival = if stream.is_far(seq.0, max_jump) {
                    stream.record_far(seq.0, window)
                } else {
                    stream.record(seq.0)
                };
                (arrival, stream)
            }
            None => {
                self.make_room();
                let mut stream = Stream::new(seq.0, window, now);
                stream.replay = replay;
                stream.count(len);
                (Arrival::First, self.streams.insert(key, stream))
            }
        };
        // Authenticated (under a key, `authenticate` checked the window): never again.
        if let Some(w) = &mut stream.replay {
            let _ = w.accept(seq);
        }
        // Suspect frames are not measured: their send time is as doubtful as their number.
        if arrival != Arrival::Suspect {
            if let Some(delay) = self.config.delay_ns(wall_ns, repr.sent_at_ns) {
                stream.delay.add(delay);
                self.delay_hist
                    .saturating_record(delay.max(0).unsigned_abs().max(1));
            } else {
                stream.counters.delay_discarded += 1;
            }
        }
        let event = match arrival {
            Arrival::First => Some(Event::NewStream {
                source,
                session,
                seq,
            }),
            Arrival::InOrder => None,
            Arrival::Gap { missing } => Some(Event::Gap {
                source,
                session,
                first: Seq(seq.0 - missing),
                count: missing,
            }),
            Arrival::Reordered => Some(Event::Reordered {
                source,
                session,
                seq,
            }),
            Arrival::Duplicate => Some(Event::Duplicate {
                source,
                session,
                seq,
            }),
            Arrival::Stale => Some(Event::Stale {
                source,
                session,
                seq,
            }),
            Arrival::Suspect => Some(Event::Suspect {
                source,
                session,
                seq,
            }),
            Arrival::NewEpoch => Some(Event::NewEpoch {
                source,
                session,
                seq,
            }),
        };
        if let Some(event) = event {
            self.push_event(event);
        }
        Datagram::Framed {
            frame: repr,
            arrival,
        }
    }

    /// Applies an end-of-session frame to its stream (made if unknown): the first one counts
    /// the loss at the tail and head and queues [`Event::Gap`]s and an [`Event::StreamEnd`];
    /// repeats change nothing.
    fn handle_end(&mut self, now: Instant, key: (SocketAddr, SessionId), end: EndOfSession) {
        let (source, session) = key;
        let (window, max_jump) = (self.config.window, self.config.max_jump);
        let (gaps, lost) = match self.streams.get_mut(&key) {
            Some(stream) if stream.end == Some(end) => return,
            Some(stream) => {
                stream.last_heard = now;
                if stream.is_far(end.end.0, max_jump) {
                    stream.counters.suspect += 1;
                    self.push_event(Event::Suspect {
                        source,
                        session,
                        seq: end.end,
                    });
                    return;
                }
                let gaps = stream.record_end(end, max_jump);
                (gaps, stream.counters.lost)
            }
            // An end naming more numbers than a jump may span is as doubtful as a far-away
            // frame: it must not make a stream, never heard, that lost 2^64 datagrams.
            None if end.len() > max_jump => {
                self.suspect_unknown = self.suspect_unknown.saturating_add(1);
                self.push_event(Event::Suspect {
                    source,
                    session,
                    seq: end.end,
                });
                return;
            }
            None => {
                self.make_room();
                let mut stream = Stream::from_end(end, window, now);
                stream.replay = self.replay_window();
                let lost = stream.counters.lost;
                self.streams.insert(key, stream);
                let gap = (!end.is_empty()).then_some((end.first.0, end.len()));
                ([gap, None], lost)
            }
        };
        self.streams_ended += 1;
        for (first, count) in gaps.into_iter().flatten() {
            self.push_event(Event::Gap {
                source,
                session,
                first: Seq(first),
                count,
            });
        }
        self.push_event(Event::StreamEnd {
            source,
            session,
            end,
            lost,
        });
    }

    /// A new stream's replay window: `None` without a key. Allocates only under a key, and
    /// is called once per new stream.
    fn replay_window(&self) -> Option<ReplayWindow> {
        self.auth
            .is_some()
            .then(|| ReplayWindow::new(self.config.replay_window))
    }

    /// Under a key, checks `bytes` from `source` before anything else sees it: its tag, its
    /// send time against `wall_ns` and [`ReceiverConfig::max_delay`], and (data frames) its
    /// sequence number against the stream's replay window. A datagram that fails is counted
    /// by name and queued as an [`Event::Rejected`]. Without a key, everything passes.
    fn authenticate(
        &mut self,
        wall_ns: u64,
        source: SocketAddr,
        bytes: &[u8],
    ) -> Result<(), Rejection> {
        let Some(auth) = &self.auth else {
            return Ok(());
        };
        // The session and sequence number, readable once the header is there.
        let header = (bytes.len() >= frame::HEADER_LEN && frame::looks_framed(bytes))
            .then(|| frame::Frame::new_unchecked(bytes));
        let session = header.map(|f| f.session());
        let seq = header.map(|f| f.seq());
        let verdict = match (auth.verify(bytes), header) {
            (Ok(()), Some(f)) => {
                let stream = self.streams.get(&(source, f.session()));
                let max_ns = self.config.max_delay.as_nanos();
                if u128::from(delay_ns(wall_ns, f.sent_at_ns()).unsigned_abs()) > max_ns {
                    Err(Rejection::Replayed)
                } else if f.flags().contains(frame::Flags::END) {
                    // A sender repeats its end frame with one sequence number; a repeat
                    // changes nothing, so end frames stay outside the window.
                    Ok(())
                } else {
                    match stream.and_then(|s| s.replay.as_ref()) {
                        Some(w) if w.check(f.seq()).is_err() => Err(Rejection::Replayed),
                        _ => Ok(()),
                    }
                }
            }
            // `verify` passes only a whole frame, whose header is there.
            (Ok(()), None) => Err(Rejection::Truncated),
            (Err(e), _) => {
                let known = session.is_some_and(|s| self.streams.get(&(source, s)).is_some());
                Err(Rejection::of(e, known))
            }
        };
        let rejection = match verdict {
            Ok(()) => {
                self.auth_stats.authenticated += 1;
                return Ok(());
            }
            Err(rejection) => rejection,
        };
        self.auth_stats.count(rejection);
        if let Some(stream) = session.and_then(|s| self.streams.get_mut(&(source, s))) {
            match rejection {
                Rejection::Tampered => stream.counters.tampered += 1,
                Rejection::Replayed => stream.counters.replayed += 1,
                _ => {}
            }
        }
        self.push_event(Event::Rejected {
            source,
            session,
            seq,
            rejection,
        });
        Err(rejection)
    }

    /// Tells the receiver how many datagrams the kernel has dropped in all before they reached
    /// it (a cumulative count, as `SO_RXQ_OVFL` reports it): they show as
    /// [`Stats::host_drops`], apart from network loss. A host drop may also show as a sequence
    /// gap, since the dropped datagram never arrives; the two counts are reported side by
    /// side, not subtracted.
    pub fn handle_host_drops(&mut self, total: u64) {
        self.host_drops = self.host_drops.max(total);
    }

    /// Whether every stream heard has ended (its end-of-session frame arrived), and at least
    /// one was heard. Streams evicted from the table are not considered.
    pub fn all_streams_ended(&self) -> bool {
        !self.streams.is_empty() && self.streams.values().all(|s| s.end.is_some())
    }

    fn count_group(&mut self, group: Option<Group>, len: u64) {
        let tracked = self.groups.len();
        let counts = match self.groups.get_mut(&group) {
            Some(counts) => Some(counts),
            None if tracked < self.config.max_groups => {
                Some(self.groups.insert(group, GroupCounts::default()))
            }
            None => None,
        };
        match counts {
            Some(counts) => {
                counts.datagrams += 1;
                counts.bytes = counts.bytes.saturating_add(len);
            }
            None => self.groups_untracked += 1,
        }
    }

    /// Evicts the least recently heard stream when the table is full.
    fn make_room(&mut self) {
        if self.streams.len() < self.config.max_streams.max(1) {
            return;
        }
        let oldest = self
            .streams
            .iter()
            .min_by_key(|(key, stream)| (stream.last_heard, **key))
            .map(|(key, _)| *key);
        if let Some(stream) = oldest.and_then(|key| self.streams.remove(&key)) {
            self.evicted.absorb(&stream.counters);
            self.streams_evicted += 1;
        }
    }

    /// The next event, until `None`.
    ///
    /// # When to call
    ///
    /// Call it until it returns `None`:
    /// - after [`handle_datagram`](Self::handle_datagram);
    /// - after [`handle_timeout`](Self::handle_timeout) (reports).
    #[must_use]
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// When [`handle_timeout`](Self::handle_timeout) should next be called: the next report,
    /// or `None` without a report interval.
    ///
    /// # When to call
    ///
    /// - after [`Receiver::new`];
    /// - after [`handle_timeout`](Self::handle_timeout) and
    ///   [`handle_datagram`](Self::handle_datagram), which may move the deadline.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.next_report
    }

    /// Runs the timers due at `now`: queues an [`Event::Report`] when the report is due, and
    /// schedules the next one interval later (or one interval after `now`, when the caller was
    /// late by more than an interval). Spurious calls are no-ops.
    pub fn handle_timeout(&mut self, now: Instant) {
        let (Some(due), Some(interval)) = (self.next_report, self.config.report_interval) else {
            return;
        };
        if now < due {
            return;
        }
        let stats = self.stats();
        self.push_event(Event::Report(Box::new(stats)));
        self.next_report = match due.checked_add(interval) {
            Some(next) if next > now => Some(next),
            _ => now.checked_add(interval),
        };
    }

    /// A snapshot of every counter.
    pub fn stats(&self) -> Stats {
        let mut streams: Vec<StreamStats> = self
            .streams
            .iter()
            .map(|(&(source, session), stream)| stream.stats(source, session))
            .collect();
        streams.sort_by_key(|s| (s.source, s.session));
        let mut totals = self.evicted;
        for stream in self.streams.values() {
            totals.absorb(&stream.counters);
        }
        let mut groups: Vec<GroupStats> = self
            .groups
            .iter()
            .map(|(&group, counts)| GroupStats {
                group,
                datagrams: counts.datagrams,
                bytes: counts.bytes,
            })
            .collect();
        groups.sort_by_key(|g| g.group);
        Stats {
            datagrams: self.datagrams,
            bytes: self.bytes,
            raw: self.raw,
            framed: self.framed,
            malformed: self.malformed,
            lost: totals.lost,
            duplicates: totals.duplicates,
            reordered: totals.reordered,
            stale: totals.stale,
            streams,
            streams_evicted: self.streams_evicted,
            groups,
            groups_untracked: self.groups_untracked,
            events_dropped: self.events_dropped,
            suspect: totals.suspect.saturating_add(self.suspect_unknown),
            streams_ended: self.streams_ended,
            end_frames: self.end_frames,
            host_drops: self.host_drops,
            delay: self.delay_percentiles(),
            stray: self.stray,
            auth: self.auth.is_some().then_some(self.auth_stats),
        }
    }

    /// One-way delay percentiles over every frame measured so far.
    pub fn delay_percentiles(&self) -> Option<DelayPercentiles> {
        Percentiles::of(&self.delay_hist)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::frame::Flags;

    fn src(port: u16) -> SocketAddr {
        SocketAddr::from(([192, 168, 56, 3], port))
    }

    fn framed(session: u32, seq: u64, sent_at_ns: u64) -> Vec<u8> {
        let mut buf = Vec::new();
        let repr = FrameRepr {
            flags: Flags::empty(),
            session: SessionId(session),
            seq: Seq(seq),
            sent_at_ns,
            payload: b"data",
            tag: None,
        };
        frame::encode(&repr, &mut buf).unwrap();
        buf
    }

    fn end_frame(session: u32, end: EndOfSession) -> Vec<u8> {
        let body = end.payload();
        let mut buf = Vec::new();
        frame::encode(&end.repr(SessionId(session), 0, &body), &mut buf).unwrap();
        buf
    }

    fn feed(rx: &mut Receiver, now: Instant, seqs: &[u64]) -> Vec<Arrival> {
        seqs.iter()
            .map(|&s| {
                let bytes = framed(1, s, 0);
                match rx.handle_datagram(now, 0, RecvMeta::new(src(1), bytes.len()), &bytes) {
                    Datagram::Framed { arrival, .. } => arrival,
                    other => panic!("not framed: {other:?}"),
                }
            })
            .collect()
    }

    #[test]
    fn raw_datagrams_pass_through() {
        let t0 = super::super::test_origin();
        let mut rx = Receiver::new(ReceiverConfig::default(), t0);
        let group: Group = "224.1.1.5".parse().unwrap();
        let meta = RecvMeta::new(src(1), 5).with_destination(Some(group.addr()));
        assert_eq!(
            rx.handle_datagram(t0, 0, meta, b"hello"),
            Datagram::Raw(b"hello")
        );
        let stats = rx.stats();
        assert_eq!((stats.datagrams, stats.bytes, stats.raw), (1, 5, 1));
        assert_eq!(
            stats.groups,
            vec![GroupStats {
                group: Some(group),
                datagrams: 1,
                bytes: 5
            }]
        );
        assert!(rx.poll_event().is_none());
    }

    #[test]
    fn detect_frames_off_treats_frames_as_raw() {
        let t0 = super::super::test_origin();
        let mut rx = Receiver::new(
            ReceiverConfig {
                detect_frames: false,
                ..ReceiverConfig::default()
            },
            t0,
        );
        let bytes = framed(1, 0, 0);
        assert_eq!(
            rx.handle_datagram(t0, 0, RecvMeta::new(src(1), bytes.len()), &bytes),
            Datagram::Raw(&bytes)
        );
    }

    #[test]
    fn classifies_gap_reorder_duplicate_stale() {
        let t0 = super::super::test_origin();
        let mut rx = Receiver::new(
            ReceiverConfig {
                window: 64,
                ..ReceiverConfig::default()
            },
            t0,
        );
        let arrivals = feed(&mut rx, t0, &[10, 11, 14, 12, 12, 9, 200, 100, 11]);
        assert_eq!(
            arrivals,
            vec![
                Arrival::First,
                Arrival::InOrder,
                Arrival::Gap { missing: 2 },
                Arrival::Reordered,
                Arrival::Duplicate,
                Arrival::Reordered,
                Arrival::Gap { missing: 185 },
                Arrival::Stale,
                Arrival::Stale,
            ]
        );
        let s = &rx.stats().streams[0];
        // Missing: 13, 15..=199.
        assert_eq!(s.lost, 1 + 185);
        assert_eq!((s.duplicates, s.reordered, s.stale), (1, 2, 2));
        assert_eq!((s.first_seq, s.highest_seq), (Seq(9), Seq(200)));
        assert_eq!(s.received, 9);
        let events: Vec<Event> = std::iter::from_fn(|| rx.poll_event()).collect();
        assert_eq!(
            events[0],
            Event::NewStream {
                source: src(1),
                session: SessionId(1),
                seq: Seq(10)
            }
        );
        assert_eq!(
            events[1],
            Event::Gap {
                source: src(1),
                session: SessionId(1),
                first: Seq(12),
                count: 2
            }
        );
        assert_eq!(events.len(), 8, "{events:?}");
    }

    #[test]
    fn lower_than_first_makes_the_gap_between_lost() {
        let t0 = super::super::test_origin();
        let mut rx = Receiver::new(ReceiverConfig::default(), t0);
        feed(&mut rx, t0, &[5, 2]);
        let s = &rx.stats().streams[0];
        assert_eq!((s.lost, s.reordered), (2, 1));
        feed(&mut rx, t0, &[3, 4]);
        let s = &rx.stats().streams[0];
        assert_eq!((s.lost, s.reordered, s.first_seq), (0, 3, Seq(2)));
    }

    #[test]
    fn extreme_sequence_numbers_do_not_panic() {
        let t0 = super::super::test_origin();
        let mut rx = Receiver::new(ReceiverConfig::default(), t0);
        let arrivals = feed(&mut rx, t0, &[0, u64::MAX, 0, u64::MAX, u64::MAX - 1, 1]);
        assert_eq!(
            arrivals,
            [
                Arrival::First,
                Arrival::Suspect,
                Arrival::Duplicate,
                Arrival::Suspect,
                Arrival::Suspect,
                Arrival::InOrder
            ]
        );
        let s = &rx.stats().streams[0];
        assert_eq!(s.lost, 0);
        assert_eq!(
            (s.duplicates, s.reordered, s.stale, s.suspect),
            (1, 0, 0, 3)
        );
        assert_eq!(s.highest_seq, Seq(1));
    }

    // issue #7 — one forged frame with sequence 2^64-1 must not make the figures say
    // 18446744073709551613 lost.
    #[test]
    fn a_forged_far_sequence_is_suspect_not_loss() {
        let t0 = super::super::test_origin();
        let mut rx = Receiver::new(ReceiverConfig::default(), t0);
        feed(&mut rx, t0, &(0..10).collect::<Vec<_>>());
        assert_eq!(feed(&mut rx, t0, &[u64::MAX]), [Arrival::Suspect]);
        let more: Vec<u64> = (10..20).collect();
        assert!(feed(&mut rx, t0, &more)
            .iter()
            .all(|a| *a == Arrival::InOrder));
        let stats = rx.stats();
        assert_eq!((stats.lost, stats.suspect, stats.framed), (0, 1, 21));
        assert_eq!(stats.streams[0].highest_seq, Seq(19));
        let events: Vec<Event> = std::iter::from_fn(|| rx.poll_event()).collect();
        assert!(events.contains(&Event::Suspect {
            source: src(1),
            session: SessionId(1),
            seq: Seq(u64::MAX)
        }));
    }

    // issue #7 — a sender that restarts far away (two frames that agree) starts a new epoch.
    #[test]
    fn two_agreeing_far_frames_start_a_new_epoch() {
        let t0 = super::super::test_origin();
        let mut rx = Receiver::new(ReceiverConfig::default(), t0);
        feed(&mut rx, t0, &[0, 1, 2]);
        let far = 1_u64 << 40;
        assert_eq!(
            feed(&mut rx, t0, &[far, far + 2, far + 3]),
            [Arrival::Suspect, Arrival::NewEpoch, Arrival::InOrder]
        );
        let s = &rx.stats().streams[0];
        assert_eq!(
            (s.epochs, s.suspect, s.lost),
            (1, 0, 1),
            "far + 1 is missing"
        );
        assert_eq!((s.first_seq, s.highest_seq), (Seq(far), Seq(far + 3)));
        assert_eq!(s.received, 6);
    }

    #[test]
    fn malformed_is_counted_not_fatal() {
        let t0 = super::super::test_origin();
        let mut rx = Receiver::new(ReceiverConfig::default(), t0);
        let good = framed(1, 0, 0);
        let _ = rx.handle_datagram(t0, 0, RecvMeta::new(src(1), good.len()), &good);
        let mut bad = good.clone();
        bad.truncate(20);
        assert_eq!(
            rx.handle_datagram(t0, 0, RecvMeta::new(src(1), bad.len()), &bad),
            Datagram::Malformed(FrameError::Truncated { need: 28, got: 20 })
        );
        let _ = rx.handle_datagram(t0, 0, RecvMeta::new(src(1), 2), &frame::MAGIC);
        let stats = rx.stats();
        assert_eq!((stats.malformed, stats.framed, stats.datagrams), (2, 1, 3));
        assert_eq!(
            stats.streams[0].malformed, 1,
            "only the one naming the session"
        );
        let events: Vec<Event> = std::iter::from_fn(|| rx.poll_event()).collect();
        assert!(matches!(events[1], Event::Malformed { .. }));
    }

    // issue #9 — only datagrams sent to a joined group are group traffic: a unicast datagram
    // to the port, a broadcast and another group's datagram are counted apart, by kind, and
    // never reach a stream (not even a frame).
    #[test]
    fn datagrams_not_sent_to_a_joined_group_are_stray() {
        let t0 = super::super::test_origin();
        let g1: Group = "239.1.1.1".parse().unwrap();
        let g2: Group = "239.1.1.2".parse().unwrap();
        let mut rx = Receiver::new(
            ReceiverConfig {
                groups: vec![g1, g2],
                broadcast: vec!["192.168.56.255".parse().unwrap()],
                ..ReceiverConfig::default()
            },
            t0,
        );
        let to = |dest: &str, len| {
            RecvMeta::new(src(1), len).with_destination(Some(dest.parse().unwrap()))
        };
        let frame = framed(1, 5, 0);
        for (dest, kind) in [
            ("127.0.0.1", Stray::Unicast),
            ("192.168.56.3", Stray::Unicast),
            ("255.255.255.255", Stray::Broadcast),
            ("192.168.56.255", Stray::Broadcast),
            ("239.1.1.3", Stray::OtherGroup),
            ("::ffff:127.0.0.1", Stray::Unicast),
        ] {
            let d = rx.handle_datagram(t0, 0, to(dest, frame.len()), &frame);
            assert_eq!(
                d,
                Datagram::Stray {
                    kind,
                    bytes: &frame
                },
                "{dest}"
            );
            assert_eq!(d.payload(), None, "{dest}");
        }
        for dest in ["239.1.1.1", "239.1.1.2", "239.1.1.1"] {
            let d = rx.handle_datagram(t0, 0, to(dest, 5), b"hello");
            assert_eq!(d, Datagram::Raw(b"hello"), "{dest}");
        }
        // A destination the adapter could not tell is taken for group traffic.
        let d = rx.handle_datagram(t0, 0, RecvMeta::new(src(1), 5), b"hello");
        assert_eq!(d, Datagram::Raw(b"hello"));
        let stats = rx.stats();
        assert_eq!(
            stats.stray,
            StrayStats {
                unicast: 3,
                broadcast: 2,
                other_group: 1,
                bytes: 6 * frame.len() as u64
            }
        );
        assert_eq!(stats.stray.total(), 6);
        assert_eq!((stats.datagrams, stats.raw, stats.framed), (4, 4, 0));
        assert!(stats.streams.is_empty(), "a stray frame makes no stream");
        let groups: Vec<Option<Group>> = stats.groups.iter().map(|g| g.group).collect();
        assert_eq!(groups, [None, Some(g1), Some(g2)]);
        assert!(rx.poll_event().is_none());
        #[cfg(feature = "serde")]
        {
            let json = serde_json::to_value(&stats).unwrap();
            assert_eq!(json["stray"]["unicast"], 3);
            assert_eq!(json["stray"]["other_group"], 1);
            // A group serializes as its address, as when the field was an `IpAddr`.
            assert_eq!(json["groups"][1]["group"], g1.to_string());
        }
    }

    // Without a list of joined groups every group counts, but unicast and broadcast
    // destinations are still stray: a unicast address is never a group.
    #[test]
    fn without_joined_groups_only_non_multicast_is_stray() {
        let t0 = super::super::test_origin();
        let mut rx = Receiver::new(ReceiverConfig::default(), t0);
        let meta =
            |dest: &str| RecvMeta::new(src(1), 2).with_destination(Some(dest.parse().unwrap()));
        assert_eq!(
            rx.handle_datagram(t0, 0, meta("224.1.1.5"), b"hi"),
            Datagram::Raw(b"hi")
        );
        assert_eq!(
            rx.handle_datagram(t0, 0, meta("ff15::1"), b"hi"),
            Datagram::Raw(b"hi")
        );
        assert!(matches!(
            rx.handle_datagram(t0, 0, meta("10.0.0.1"), b"hi"),
            Datagram::Stray {
                kind: Stray::Unicast,
                ..
            }
        ));
        assert!(matches!(
            rx.handle_datagram(t0, 0, meta("fe80::1"), b"hi"),
            Datagram::Stray {
                kind: Stray::Unicast,
                ..
            }
        ));
        assert_eq!(rx.stats().datagrams, 2);
    }

    // issue #9 — an end-of-session frame of a stream never heard, naming 2^64-1 numbers, does
    // not make a stream that lost them all: it is suspect, and the genuine stream that follows
    // counts nothing lost.
    #[test]
    fn a_forged_end_of_an_unknown_stream_is_suspect() {
        let t0 = super::super::test_origin();
        let mut rx = Receiver::new(ReceiverConfig::default(), t0);
        let b = end_frame(
            1,
            EndOfSession {
                first: Seq(0),
                end: Seq(u64::MAX),
            },
        );
        let d = rx.handle_datagram(t0, 0, RecvMeta::new(src(1), b.len()), &b);
        assert!(matches!(d, Datagram::End { .. }), "{d:?}");
        assert_eq!(
            rx.poll_event(),
            Some(Event::Suspect {
                source: src(1),
                session: SessionId(1),
                seq: Seq(u64::MAX)
            })
        );
        assert!(!rx.all_streams_ended());
        let arrivals = feed(&mut rx, t0, &(0..10).collect::<Vec<_>>());
        assert_eq!(arrivals[0], Arrival::First);
        let stats = rx.stats();
        assert_eq!((stats.lost, stats.suspect, stats.streams_ended), (0, 1, 0));
        assert_eq!(stats.streams[0].received, 10);
        // A genuine end still ends it.
        let b = end_frame(
            1,
            EndOfSession {
                first: Seq(0),
                end: Seq(12),
            },
        );
        let _ = rx.handle_datagram(t0, 0, RecvMeta::new(src(1), b.len()), &b);
        assert_eq!((rx.stats().lost, rx.stats().streams_ended), (2, 1));
    }

    #[test]
    fn delay_keeps_negative_skew() {
        let t0 = super::super::test_origin();
        let mut rx = Receiver::new(ReceiverConfig::default(), t0);
        for (seq, sent, wall) in [(0, 1_000, 1_500), (1, 3_000, 2_000)] {
            let b = framed(1, seq, sent);
            let _ = rx.handle_datagram(t0, wall, RecvMeta::new(src(1), b.len()), &b);
        }
        let d = rx.stats().streams[0].delay.unwrap();
        assert_eq!(d.samples, 2);
        assert_eq!((d.min_ns, d.mean_ns, d.max_ns), (-1_000, -250, 500));
    }

    // issue #7 — a send time of 0 (or 2^64-1) must not give a delay of -9e12 ms: it lies beyond
    // `max_delay` and is counted, not measured.
    #[test]
    fn absurd_send_times_are_discarded_not_measured() {
        let t0 = super::super::test_origin();
        let mut rx = Receiver::new(ReceiverConfig::default(), t0);
        let wall = 1_700_000_000_000_000_000;
        for (seq, sent) in [
            (0, wall - 40_000),
            (1, 0),
            (2, u64::MAX),
            (3, wall - 60_000),
        ] {
            let b = framed(1, seq, sent);
            let _ = rx.handle_datagram(t0, wall, RecvMeta::new(src(1), b.len()), &b);
        }
        let stats = rx.stats();
        let s = &stats.streams[0];
        assert_eq!(s.delay_discarded, 2);
        let d = s.delay.unwrap();
        assert_eq!((d.samples, d.min_ns, d.max_ns), (2, 40_000, 60_000));
        let p = stats.delay.unwrap();
        assert_eq!((p.samples, p.min_ns), (2, 40_000));
        assert!(p.max_ns.abs_diff(60_000) <= 60, "{p:?}");
        assert_eq!(s.lost, 0, "the frames themselves count");
    }

    #[test]
    fn delay_percentiles_come_from_the_histogram() {
        let t0 = super::super::test_origin();
        let mut rx = Receiver::new(ReceiverConfig::default(), t0);
        let wall = 1_000_000_000_000;
        for seq in 0..1000_u64 {
            // Delays of 1..=1000 µs.
            let b = framed(1, seq, wall - (seq + 1) * 1_000);
            let _ = rx.handle_datagram(t0, wall, RecvMeta::new(src(1), b.len()), &b);
        }
        let p = rx.stats().delay.unwrap();
        assert_eq!(p.samples, 1000);
        let near = |got: u64, want: u64| got.abs_diff(want) <= want / 500;
        assert!(near(p.min_ns, 1_000), "{p:?}");
        assert!(near(p.p50_ns, 500_000), "{p:?}");
        assert!(near(p.p90_ns, 900_000), "{p:?}");
        assert!(near(p.p99_ns, 990_000), "{p:?}");
        assert!(near(p.max_ns, 1_000_000), "{p:?}");
    }

    // RFC 3550 jitter: constant transit gives 0; transit alternating by 2 µs converges to it.
    #[test]
    fn jitter_follows_rfc_3550() {
        let t0 = super::super::test_origin();
        let mut steady = Receiver::new(ReceiverConfig::default(), t0);
        let mut wobbly = Receiver::new(ReceiverConfig::default(), t0);
        for seq in 0..500_u64 {
            let sent = seq * 1_000_000;
            let b = framed(1, seq, sent);
            let meta = RecvMeta::new(src(1), b.len());
            let _ = steady.handle_datagram(t0, sent + 30_000, meta, &b);
            let transit = if seq % 2 == 0 { 30_000 } else { 32_000 };
            let _ = wobbly.handle_datagram(t0, sent + transit, meta, &b);
        }
        assert_eq!(steady.stats().streams[0].jitter_ns, 0);
        let j = wobbly.stats().streams[0].jitter_ns;
        assert!(j.abs_diff(2_000) <= 20, "jitter {j} ns");
    }

    // issue #7 — tail loss: the last 10 of 100 frames dropped are counted once the end frame
    // arrives (they were invisible before); repeats of the end frame change nothing.
    #[test]
    fn end_frame_counts_the_tail_loss() {
        let t0 = super::super::test_origin();
        let mut rx = Receiver::new(ReceiverConfig::default(), t0);
        feed(&mut rx, t0, &(0..90).collect::<Vec<_>>());
        assert_eq!(rx.stats().lost, 0, "nothing to see before the end");
        assert!(!rx.all_streams_ended());
        let _ = std::iter::from_fn(|| rx.poll_event()).count();
        let end = EndOfSession {
            first: Seq(0),
            end: Seq(100),
        };
        for _ in 0..3 {
            let b = end_frame(1, end);
            let d = rx.handle_datagram(t0, 0, RecvMeta::new(src(1), b.len()), &b);
            assert!(
                matches!(d, Datagram::End { end: e, .. } if e == end),
                "{d:?}"
            );
            assert_eq!(d.payload(), None, "no application data");
        }
        let stats = rx.stats();
        assert_eq!((stats.lost, stats.streams_ended, stats.framed), (10, 1, 90));
        assert_eq!((stats.end_frames, stats.datagrams), (3, 90));
        assert_eq!(stats.streams[0].received, 90, "end frames are not data");
        assert_eq!(stats.streams[0].end, Some(end));
        assert!(rx.all_streams_ended());
        let events: Vec<Event> = std::iter::from_fn(|| rx.poll_event()).collect();
        assert_eq!(
            events,
            [
                Event::Gap {
                    source: src(1),
                    session: SessionId(1),
                    first: Seq(90),
                    count: 10
                },
                Event::StreamEnd {
                    source: src(1),
                    session: SessionId(1),
                    end,
                    lost: 10
                }
            ]
        );
        // A late frame of the tail still arrives: reordered, one less lost.
        assert_eq!(feed(&mut rx, t0, &[95]), [Arrival::Reordered]);
        assert_eq!(rx.stats().lost, 9);
    }

    #[test]
    fn end_frame_counts_the_head_loss() {
        let t0 = super::super::test_origin();
        let mut rx = Receiver::new(ReceiverConfig::default(), t0);
        feed(&mut rx, t0, &[5, 6, 7]);
        let b = end_frame(
            1,
            EndOfSession {
                first: Seq(0),
                end: Seq(8),
            },
        );
        let _ = rx.handle_datagram(t0, 0, RecvMeta::new(src(1), b.len()), &b);
        let s = &rx.stats().streams[0];
        assert_eq!((s.lost, s.first_seq, s.highest_seq), (5, Seq(0), Seq(7)));
        // The first number of the stream arrives late: no underflow, one less lost.
        assert_eq!(feed(&mut rx, t0, &[0]), [Arrival::Reordered]);
        assert_eq!(rx.stats().streams[0].lost, 4);
    }

    #[test]
    fn a_stream_heard_only_by_its_end_lost_everything() {
        let t0 = super::super::test_origin();
        let mut rx = Receiver::new(ReceiverConfig::default(), t0);
        let b = end_frame(
            1,
            EndOfSession {
                first: Seq(0),
                end: Seq(50),
            },
        );
        let _ = rx.handle_datagram(t0, 0, RecvMeta::new(src(1), b.len()), &b);
        let stats = rx.stats();
        assert_eq!((stats.lost, stats.streams_ended), (50, 1));
        assert!(rx.all_streams_ended());
        assert_eq!(
            feed(&mut rx, t0, &[0, 49]),
            [Arrival::Reordered, Arrival::Reordered]
        );
        assert_eq!(rx.stats().lost, 48);
        // An empty stream's end: nothing lost, and no panic.
        let b = end_frame(
            2,
            EndOfSession {
                first: Seq(0),
                end: Seq(0),
            },
        );
        let _ = rx.handle_datagram(t0, 0, RecvMeta::new(src(1), b.len()), &b);
        assert_eq!(rx.stats().lost, 48);
    }

    #[test]
    fn bad_end_frames_are_malformed_and_far_ones_suspect() {
        let t0 = super::super::test_origin();
        let mut rx = Receiver::new(ReceiverConfig::default(), t0);
        feed(&mut rx, t0, &[0, 1]);
        let mut buf = Vec::new();
        let repr = FrameRepr {
            flags: Flags::END,
            session: SessionId(1),
            seq: Seq(2),
            sent_at_ns: 0,
            payload: b"short",
            tag: None,
        };
        frame::encode(&repr, &mut buf).unwrap();
        let d = rx.handle_datagram(t0, 0, RecvMeta::new(src(1), buf.len()), &buf);
        assert!(matches!(
            d,
            Datagram::Malformed(FrameError::BadEndOfSession { payload_len: 5 })
        ));
        let b = end_frame(
            1,
            EndOfSession {
                first: Seq(0),
                end: Seq(u64::MAX),
            },
        );
        let _ = rx.handle_datagram(t0, 0, RecvMeta::new(src(1), b.len()), &b);
        let stats = rx.stats();
        assert_eq!((stats.lost, stats.suspect, stats.malformed), (0, 1, 1));
        assert!(!rx.all_streams_ended());
    }

    // issue #9 (fuzzing) — one forged end-of-session frame of a stream never heard, claiming
    // the whole sequence space, must not make the figures say 18446744073709551615 lost (the
    // receiver fuzz target found it); a believable one still counts its stream lost.
    #[test]
    fn a_forged_end_frame_of_an_unknown_stream_is_suspect_not_loss() {
        let t0 = super::super::test_origin();
        let mut rx = Receiver::new(ReceiverConfig::default(), t0);
        let forged = end_frame(
            9,
            EndOfSession {
                first: Seq(0),
                end: Seq(u64::MAX),
            },
        );
        let d = rx.handle_datagram(t0, 0, RecvMeta::new(src(6), forged.len()), &forged);
        assert!(matches!(d, Datagram::End { .. }));
        let stats = rx.stats();
        assert_eq!((stats.lost, stats.suspect, stats.end_frames), (0, 1, 1));
        assert_eq!((stats.streams.len(), stats.streams_ended), (0, 0));
        assert_eq!(
            std::iter::from_fn(|| rx.poll_event()).collect::<Vec<_>>(),
            [Event::Suspect {
                source: src(6),
                session: SessionId(9),
                seq: Seq(u64::MAX)
            }]
        );
        let believable = end_frame(
            9,
            EndOfSession {
                first: Seq(0),
                end: Seq(1000),
            },
        );
        let _ = rx.handle_datagram(t0, 0, RecvMeta::new(src(6), believable.len()), &believable);
        let stats = rx.stats();
        assert_eq!(
            (stats.lost, stats.suspect, stats.streams_ended),
            (1000, 1, 1)
        );
    }

    fn iperf_datagram(id: i64) -> Vec<u8> {
        let mut d = vec![0u8; 100];
        d[..4].copy_from_slice(&(id as u32).to_be_bytes());
        d[4..8].copy_from_slice(&1_700_000_000_u32.to_be_bytes());
        d[12..16].copy_from_slice(&((id >> 32) as u32).to_be_bytes());
        d
    }

    // issue #7 — iperf2's datagrams are counted like frames when asked: a gap, and the tail
    // from the final datagram (repeated, as iperf repeats it).
    #[test]
    fn iperf_datagrams_are_counted_when_asked() {
        let t0 = super::super::test_origin();
        let config = ReceiverConfig {
            detect_iperf: true,
            ..ReceiverConfig::default()
        };
        let mut rx = Receiver::new(config, t0);
        let meta = RecvMeta::new(src(5001), 100);
        for id in (1..=50).filter(|&i| i != 20) {
            let d = iperf_datagram(id);
            assert!(matches!(
                rx.handle_datagram(t0, 1_700_000_000_000_100_000, meta, &d),
                Datagram::Framed { .. }
            ));
        }
        for _ in 0..3 {
            let d = iperf_datagram(-53);
            assert!(matches!(
                rx.handle_datagram(t0, 0, meta, &d),
                Datagram::End { .. }
            ));
        }
        let stats = rx.stats();
        let s = &stats.streams[0];
        assert_eq!(s.session, IPERF_SESSION);
        assert_eq!((s.received, s.lost), (49, 3), "20, 51 and 52");
        assert_eq!(s.end.map(|e| (e.first, e.end)), Some((Seq(1), Seq(53))));
        assert_eq!((stats.framed, stats.end_frames), (49, 3));
        assert_eq!(s.delay.unwrap().min_ns, 100_000);
        // Off by default: the same bytes are raw.
        let mut plain = Receiver::new(ReceiverConfig::default(), t0);
        let d = iperf_datagram(1);
        assert_eq!(plain.handle_datagram(t0, 0, meta, &d), Datagram::Raw(&d));
    }

    #[test]
    fn host_drops_are_reported_apart() {
        let t0 = super::super::test_origin();
        let mut rx = Receiver::new(ReceiverConfig::default(), t0);
        rx.handle_host_drops(7);
        rx.handle_host_drops(5);
        assert_eq!(
            rx.stats().host_drops,
            7,
            "a cumulative count never goes down"
        );
        assert_eq!(rx.stats().lost, 0);
    }

    #[test]
    fn streams_are_keyed_by_source_and_session_and_bounded() {
        let t0 = super::super::test_origin();
        let mut rx = Receiver::new(
            ReceiverConfig {
                max_streams: 2,
                max_groups: 1,
                ..ReceiverConfig::default()
            },
            t0,
        );
        let g1: IpAddr = "224.1.1.5".parse().unwrap();
        let g2: IpAddr = "234.3.2.1".parse().unwrap();
        for (i, (port, session, group)) in [(1, 1, g1), (1, 2, g1), (2, 1, g2), (1, 2, g2)]
            .into_iter()
            .enumerate()
        {
            let b = framed(session, 0, 0);
            let meta = RecvMeta::new(src(port), b.len()).with_destination(Some(group));
            let now = t0 + Duration::from_secs(i as u64);
            let _ = rx.handle_datagram(now, 0, meta, &b);
        }
        let stats = rx.stats();
        assert_eq!(stats.streams_evicted, 1);
        let keys: Vec<_> = stats
            .streams
            .iter()
            .map(|s| (s.source, s.session))
            .collect();
        assert_eq!(keys, vec![(src(1), SessionId(2)), (src(2), SessionId(1))]);
        assert_eq!(stats.streams[0].duplicates, 1);
        assert_eq!(stats.duplicates, 1);
        assert_eq!(stats.groups.len(), 1);
        assert_eq!(stats.groups[0].datagrams, 2);
        assert_eq!(stats.groups_untracked, 2);
    }

    #[test]
    fn event_queue_is_bounded() {
        let t0 = super::super::test_origin();
        let mut rx = Receiver::new(
            ReceiverConfig {
                max_events: 3,
                ..ReceiverConfig::default()
            },
            t0,
        );
        feed(&mut rx, t0, &[0, 2, 4, 6, 8]);
        assert_eq!(std::iter::from_fn(|| rx.poll_event()).count(), 3);
        assert_eq!(rx.stats().events_dropped, 2);
    }

    #[test]
    fn reports_come_on_time_and_poll_timeout_moves_forward() {
        let t0 = super::super::test_origin();
        let iv = Duration::from_secs(1);
        let mut rx = Receiver::new(
            ReceiverConfig {
                report_interval: Some(iv),
                ..ReceiverConfig::default()
            },
            t0,
        );
        assert_eq!(rx.poll_timeout(), Some(t0 + iv));
        rx.handle_timeout(t0 + iv / 2);
        assert!(rx.poll_event().is_none(), "spurious timeout is a no-op");
        let mut now = t0;
        for _ in 0..5 {
            let deadline = rx.poll_timeout().unwrap();
            assert!(deadline > now, "busy loop");
            now = deadline;
            rx.handle_timeout(now);
            assert!(matches!(rx.poll_event(), Some(Event::Report(_))));
            assert!(rx.poll_event().is_none());
            assert!(rx.poll_timeout().unwrap() > now);
        }
        // Late by several intervals: one report, then the schedule restarts from now.
        let late = now + 5 * iv / 2;
        rx.handle_timeout(late);
        assert_eq!(std::iter::from_fn(|| rx.poll_event()).count(), 1);
        assert_eq!(rx.poll_timeout(), Some(late + iv));
        // Steady traffic also runs the timer.
        let b = framed(1, 0, 0);
        let _ = rx.handle_datagram(late + iv, 0, RecvMeta::new(src(1), b.len()), &b);
        let events: Vec<Event> = std::iter::from_fn(|| rx.poll_event()).collect();
        assert!(matches!(events[0], Event::Report(_)));
        assert!(matches!(events[1], Event::NewStream { .. }));
    }

    #[cfg(feature = "auth")]
    const WALL: u64 = 1_700_000_000_000_000_000;

    #[cfg(feature = "auth")]
    fn key() -> Key {
        Key::from_bytes([0x5a; crate::auth::KEY_LEN])
    }

    #[cfg(feature = "auth")]
    fn keyed() -> ReceiverConfig {
        ReceiverConfig {
            key: Some(key()),
            ..ReceiverConfig::default()
        }
    }

    /// A data frame authenticated with `key`, sent at `WALL`.
    #[cfg(feature = "auth")]
    fn signed_with(key: &Key, session: u32, seq: u64) -> Vec<u8> {
        let repr = FrameRepr {
            flags: Flags::empty(),
            session: SessionId(session),
            seq: Seq(seq),
            sent_at_ns: WALL,
            payload: b"data",
            tag: None,
        };
        let mut buf = Vec::new();
        Authenticator::new(key).encode(&repr, &mut buf).unwrap();
        buf
    }

    #[cfg(feature = "auth")]
    fn signed(session: u32, seq: u64) -> Vec<u8> {
        signed_with(&key(), session, seq)
    }

    #[cfg(feature = "auth")]
    fn handle<'a>(rx: &mut Receiver, t0: Instant, bytes: &'a [u8]) -> Datagram<'a> {
        let meta = RecvMeta::new(src(1), bytes.len()).with_destination(Some(group()));
        rx.handle_datagram(t0, WALL, meta, bytes)
    }

    #[cfg(feature = "auth")]
    fn group() -> IpAddr {
        "239.1.2.3".parse().unwrap()
    }

    #[cfg(feature = "auth")]
    fn rejected(rx: &mut Receiver, t0: Instant, bytes: &[u8]) -> Rejection {
        match handle(rx, t0, bytes) {
            Datagram::Rejected(r) => r,
            other => panic!("not rejected: {other:?}"),
        }
    }

    /// The statistics a keyed receiver shows, with the authentication counters set aside:
    /// they must equal an unkeyed receiver's for the genuine frames alone.
    #[cfg(feature = "auth")]
    fn without_auth(stats: &Stats) -> Stats {
        let mut s = stats.clone();
        s.auth = None;
        for stream in &mut s.streams {
            stream.tampered = 0;
            stream.replayed = 0;
        }
        s
    }

    // issue #9 — a genuine authenticated stream is counted exactly as the plain one is, and the
    // end-of-session frames (repeated with one sequence number) are no replays.
    #[test]
    #[cfg(feature = "auth")]
    fn a_keyed_receiver_counts_a_genuine_stream_as_a_plain_one() {
        let t0 = super::super::test_origin();
        let mut rx = Receiver::new(keyed(), t0);
        let mut plain = Receiver::new(ReceiverConfig::default(), t0);
        let auth = Authenticator::new(&key());
        let end = EndOfSession {
            first: Seq(0),
            end: Seq(100),
        };
        let body = end.payload();
        let mut end_frame = Vec::new();
        auth.encode(&end.repr(SessionId(1), WALL, &body), &mut end_frame)
            .unwrap();
        for seq in (0..100).filter(|s| s % 10 != 3) {
            assert!(matches!(
                handle(&mut rx, t0, &signed(1, seq)),
                Datagram::Framed { .. }
            ));
            let b = framed(1, seq, WALL);
            let _ = handle(&mut plain, t0, &b);
        }
        for _ in 0..3 {
            assert!(matches!(
                handle(&mut rx, t0, &end_frame),
                Datagram::End { .. }
            ));
        }
        let b = end_frame_plain(end);
        for _ in 0..3 {
            let _ = handle(&mut plain, t0, &b);
        }
        let stats = rx.stats();
        let auth = stats.auth.unwrap();
        assert_eq!(
            (auth.authenticated, auth.dropped()),
            (90 + 3, 0),
            "{auth:?}"
        );
        assert_eq!((stats.framed, stats.lost, stats.end_frames), (90, 10, 3));
        let mut p = plain.stats();
        // Byte counts differ by the tags; everything else is the same.
        p.bytes = stats.bytes;
        p.groups[0].bytes = stats.groups[0].bytes;
        p.streams[0].bytes = stats.streams[0].bytes;
        assert_eq!(without_auth(&stats), p);
        assert_eq!(plain.stats().auth, None, "no key, no auth counters");
        assert_eq!(stats.bytes, 90 * (frame::HEADER_LEN + 4 + 16) as u64);
    }

    #[cfg(feature = "auth")]
    fn end_frame_plain(end: EndOfSession) -> Vec<u8> {
        let body = end.payload();
        let mut buf = Vec::new();
        frame::encode(&end.repr(SessionId(1), WALL, &body), &mut buf).unwrap();
        buf
    }

    // issue #9 — raw datagrams and plain frames are unauthenticated under a key: dropped and
    // counted, nowhere else.
    #[test]
    #[cfg(feature = "auth")]
    fn unauthenticated_datagrams_are_dropped_and_counted() {
        let t0 = super::super::test_origin();
        let mut rx = Receiver::new(
            ReceiverConfig {
                detect_iperf: true,
                ..keyed()
            },
            t0,
        );
        let plain = framed(1, 0, WALL);
        let plain_end = end_frame_plain(EndOfSession {
            first: Seq(0),
            end: Seq(1),
        });
        for bytes in [&b"hello"[..], &plain, &plain_end, &[0u8; 100], b""] {
            assert_eq!(
                rejected(&mut rx, t0, bytes),
                Rejection::Unauthenticated,
                "{bytes:?}"
            );
        }
        let stats = rx.stats();
        assert_eq!(stats.auth.unwrap().unauthenticated, 5);
        assert_eq!(
            (stats.datagrams, stats.raw, stats.framed, stats.end_frames),
            (0, 0, 0, 0)
        );
        assert!(stats.groups.is_empty() && stats.streams.is_empty());
        let events: Vec<Event> = std::iter::from_fn(|| rx.poll_event()).collect();
        assert_eq!(events.len(), 5);
        assert_eq!(
            events[1],
            Event::Rejected {
                source: src(1),
                session: Some(SessionId(1)),
                seq: Some(Seq(0)),
                rejection: Rejection::Unauthenticated
            }
        );
    }

    // issue #9 — a bad tag is forged for a stream never authenticated, tampered for a known
    // one; neither touches the stream.
    #[test]
    #[cfg(feature = "auth")]
    fn bad_tags_are_forged_or_tampered() {
        let t0 = super::super::test_origin();
        let mut rx = Receiver::new(keyed(), t0);
        let other = Key::from_bytes([1; crate::auth::KEY_LEN]);
        assert_eq!(
            rejected(&mut rx, t0, &signed_with(&other, 1, 0)),
            Rejection::Forged
        );
        let _ = handle(&mut rx, t0, &signed(1, 0));
        assert_eq!(
            rejected(&mut rx, t0, &signed_with(&other, 1, 1)),
            Rejection::Tampered,
            "now the stream is known"
        );
        assert_eq!(
            rejected(&mut rx, t0, &signed_with(&other, 2, 1)),
            Rejection::Forged,
            "another session is not"
        );
        // A genuine frame changed on the way: payload, sequence number, send time, tag.
        for at in [frame::HEADER_LEN, 15, 20, frame::HEADER_LEN + 4 + 3] {
            let mut b = signed(1, 1);
            b[at] ^= 0x40;
            assert_eq!(rejected(&mut rx, t0, &b), Rejection::Tampered, "byte {at}");
        }
        // A genuine frame with bytes added after its tag.
        let mut long = signed(1, 1);
        long.extend_from_slice(b"more");
        assert_eq!(rejected(&mut rx, t0, &long), Rejection::Tampered);
        let stats = rx.stats();
        let auth = stats.auth.unwrap();
        assert_eq!((auth.forged, auth.tampered, auth.authenticated), (2, 6, 1));
        let s = &stats.streams[0];
        assert_eq!(
            (s.received, s.highest_seq, s.lost, s.tampered),
            (1, Seq(0), 0, 6)
        );
        assert_eq!(stats.datagrams, 1);
        // The genuine frame 1 still arrives.
        assert!(matches!(
            handle(&mut rx, t0, &signed(1, 1)),
            Datagram::Framed {
                arrival: Arrival::InOrder,
                ..
            }
        ));
    }

    // issue #9 — a frame or tag cut short is truncated, whether or not its length fields were
    // patched to match.
    #[test]
    #[cfg(feature = "auth")]
    fn cut_frames_are_truncated() {
        let t0 = super::super::test_origin();
        let mut rx = Receiver::new(keyed(), t0);
        let good = signed(1, 0);
        for len in [
            2,
            3,
            4,
            20,
            frame::HEADER_LEN,
            good.len() - 16,
            good.len() - 1,
        ] {
            assert_eq!(
                rejected(&mut rx, t0, &good[..len]),
                Rejection::Truncated,
                "{len}"
            );
        }
        let mut short_tag = good[..good.len() - 8].to_vec();
        short_tag[26..28].copy_from_slice(&8u16.to_be_bytes());
        assert_eq!(rejected(&mut rx, t0, &short_tag), Rejection::Truncated);
        let mut no_tag = good[..good.len() - 16].to_vec();
        no_tag[26..28].copy_from_slice(&0u16.to_be_bytes());
        assert_eq!(rejected(&mut rx, t0, &no_tag), Rejection::Truncated);
        let stats = rx.stats();
        assert_eq!(stats.auth.unwrap().truncated, 9);
        assert_eq!((stats.datagrams, stats.malformed), (0, 0));
    }

    // issue #9 — a valid frame again, one left of the window, or one sent too long ago is
    // replayed; the stream's figures are those of the genuine frames alone.
    #[test]
    #[cfg(feature = "auth")]
    fn replays_are_dropped_and_counted() {
        let t0 = super::super::test_origin();
        let mut rx = Receiver::new(
            ReceiverConfig {
                replay_window: 64,
                ..keyed()
            },
            t0,
        );
        let first = signed(1, 0);
        let _ = handle(&mut rx, t0, &first);
        assert_eq!(rejected(&mut rx, t0, &first), Rejection::Replayed);
        let _ = handle(&mut rx, t0, &signed(1, 2));
        // A late frame inside the window is no replay, once.
        assert!(matches!(
            handle(&mut rx, t0, &signed(1, 1)),
            Datagram::Framed {
                arrival: Arrival::Reordered,
                ..
            }
        ));
        assert_eq!(rejected(&mut rx, t0, &signed(1, 1)), Rejection::Replayed);
        let _ = handle(&mut rx, t0, &signed(1, 100));
        assert_eq!(
            rejected(&mut rx, t0, &signed(1, 30)),
            Rejection::Replayed,
            "never seen, but left of the window: too old to tell"
        );
        // Sent more than max_delay (an hour) before or after this receiver's clock.
        let hour = 3_600_000_000_000;
        for wall in [WALL + hour + 1, WALL - hour - 1] {
            let b = signed(1, 101);
            let meta = RecvMeta::new(src(1), b.len());
            assert_eq!(
                rx.handle_datagram(t0, wall, meta, &b),
                Datagram::Rejected(Rejection::Replayed)
            );
        }
        let stats = rx.stats();
        let s = &stats.streams[0];
        assert_eq!(stats.auth.unwrap().replayed, 5);
        assert_eq!(s.replayed, 5);
        assert_eq!((s.received, s.duplicates, s.stale), (4, 0, 0));
        assert_eq!(s.lost, 97, "3..=99 less nothing");
        let events: Vec<Event> = std::iter::from_fn(|| rx.poll_event()).collect();
        assert!(events.contains(&Event::Rejected {
            source: src(1),
            session: Some(SessionId(1)),
            seq: Some(Seq(30)),
            rejection: Rejection::Replayed
        }));
    }

    #[derive(Debug, Clone)]
    #[cfg(feature = "auth")]
    enum Attack {
        Genuine(u64),
        /// A copy of the `n`th genuine frame sent so far (if any).
        Replay(usize),
        /// A genuine frame with one bit of its payload or tag flipped.
        Tamper(u64, usize, u8),
        /// A genuine frame cut to `len` (at least the magic).
        Cut(u64, usize),
        /// A frame made with another key.
        Forge(u32, u64),
        Raw(Vec<u8>),
        Plain(u64),
    }

    #[cfg(feature = "auth")]
    fn attack() -> impl proptest::strategy::Strategy<Value = Attack> {
        use proptest::prelude::*;
        prop_oneof![
            6 => (0_u64..300).prop_map(Attack::Genuine),
            1 => any::<usize>().prop_map(Attack::Replay),
            1 => (0_u64..300, any::<usize>(), 0_u8..8).prop_map(|(s, i, b)| Attack::Tamper(s, i, b)),
            1 => (0_u64..300, 2_usize..100).prop_map(|(s, l)| Attack::Cut(s, l)),
            1 => (1_u32..3, 0_u64..300).prop_map(|(x, s)| Attack::Forge(x, s)),
            1 => proptest::collection::vec(any::<u8>(), 0..40).prop_map(Attack::Raw),
            1 => (0_u64..300).prop_map(Attack::Plain),
        ]
    }

    #[cfg(feature = "auth")]
    proptest::proptest! {
        // issue #9 — whatever an attacker mixes into a genuine stream, each datagram gets the
        // verdict it deserves, the genuine frames are delivered once each, and the figures are
        // those of an unkeyed receiver fed the genuine frames alone, once each.
        #[test]
        fn attacks_never_reach_the_figures(attacks in proptest::collection::vec(attack(), 1..150)) {
            let t0 = super::super::test_origin();
            let mut rx = Receiver::new(keyed(), t0);
            let mut reference = Receiver::new(ReceiverConfig::default(), t0);
            let other = Key::from_bytes([1; crate::auth::KEY_LEN]);
            let mut sent: Vec<Vec<u8>> = Vec::new();
            let mut accepted = std::collections::BTreeSet::new();
            let mut expected = AuthStats::default();
            for a in attacks {
                let (bytes, want) = match a {
                    Attack::Genuine(seq) => {
                        let b = signed(1, seq);
                        sent.push(b.clone());
                        let want = if accepted.insert(seq) { None } else { Some(Rejection::Replayed) };
                        if want.is_none() {
                            let plain = framed(1, seq, WALL);
                            let _ = handle(&mut reference, t0, &plain);
                        }
                        (b, want)
                    }
                    Attack::Replay(n) if !sent.is_empty() => {
                        (sent[n % sent.len()].clone(), Some(Rejection::Replayed))
                    }
                    Attack::Replay(_) => (b"nothing to replay yet".to_vec(), Some(Rejection::Unauthenticated)),
                    Attack::Tamper(seq, i, bit) => {
                        let mut b = signed(1, seq);
                        let at = frame::HEADER_LEN + i % (b.len() - frame::HEADER_LEN);
                        b[at] ^= 1 << bit;
                        let known = !accepted.is_empty();
                        (b, Some(if known { Rejection::Tampered } else { Rejection::Forged }))
                    }
                    Attack::Cut(seq, len) => {
                        let b = signed(1, seq);
                        (b[..len.min(b.len() - 1)].to_vec(), Some(Rejection::Truncated))
                    }
                    Attack::Forge(session, seq) => {
                        let known = session == 1 && !accepted.is_empty();
                        (
                            signed_with(&other, session, seq),
                            Some(if known { Rejection::Tampered } else { Rejection::Forged }),
                        )
                    }
                    Attack::Raw(bytes) => {
                        let want = if frame::looks_framed(&bytes) { None } else { Some(Rejection::Unauthenticated) };
                        (bytes, want)
                    }
                    Attack::Plain(seq) => (framed(1, seq, WALL), Some(Rejection::Unauthenticated)),
                };
                let got = handle(&mut rx, t0, &bytes);
                match (want, got) {
                    (None, Datagram::Framed { .. }) => expected.authenticated += 1,
                    (Some(w), Datagram::Rejected(r)) => {
                        proptest::prop_assert_eq!(w, r);
                        expected.count(r);
                    }
                    // Random bytes that happen to start with the magic: some verdict.
                    (None, Datagram::Rejected(r)) if !bytes.starts_with(&frame::MAGIC) || bytes.len() < 2 => {
                        proptest::prop_assert!(false, "{:?}", r);
                    }
                    (None, Datagram::Rejected(r)) => expected.count(r),
                    (w, g) => proptest::prop_assert!(false, "wanted {:?}, got {:?}", w, g),
                }
            }
            let stats = rx.stats();
            proptest::prop_assert_eq!(stats.auth, Some(expected));
            let mut want = reference.stats();
            want.bytes = stats.bytes;
            for (w, g) in want.groups.iter_mut().zip(&stats.groups) {
                w.bytes = g.bytes;
            }
            for (w, g) in want.streams.iter_mut().zip(&stats.streams) {
                w.bytes = g.bytes;
            }
            proptest::prop_assert_eq!(without_auth(&stats), want);
        }
    }

    #[test]
    #[cfg(feature = "serde")]
    fn stats_read_back_what_they_wrote() {
        let t0 = super::super::test_origin();
        let mut rx = Receiver::new(ReceiverConfig::default(), t0);
        feed(&mut rx, t0, &[0, 2, 2, 1, 5]);
        let meta = RecvMeta::new(src(9), 3).with_destination(Some("224.1.1.5".parse().unwrap()));
        let _ = rx.handle_datagram(t0, 0, meta, b"raw");
        let stats = rx.stats();
        assert!(stats.duplicates > 0 && stats.lost > 0, "{stats:?}");
        let json = serde_json::to_string(&stats).unwrap();
        let back: Stats = serde_json::from_str(&json).unwrap();
        assert_eq!(back, stats);
    }

    #[test]
    #[cfg(feature = "serde")]
    fn stats_serialize_to_json() {
        let t0 = super::super::test_origin();
        let mut rx = Receiver::new(ReceiverConfig::default(), t0);
        feed(&mut rx, t0, &[0, 2]);
        let json = serde_json::to_value(rx.stats()).unwrap();
        assert_eq!(json["framed"], 2);
        assert_eq!(json["lost"], 1);
        let stream = &json["streams"][0];
        assert_eq!(stream["source"], "192.168.56.3:1");
        // One base for session ids: hex in text and JSON alike (issue 11).
        assert_eq!(stream["session"], "00000001");
        // Sequence numbers are exact decimal strings (`crate::json`).
        assert_eq!(stream["first_seq"], "0");
        assert_eq!(stream["highest_seq"], "2");
        assert_eq!(stream["delay"]["samples"], 2);
        assert_eq!(json["groups"][0]["group"], serde_json::Value::Null);
    }
}
