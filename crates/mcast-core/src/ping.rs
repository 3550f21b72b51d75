//! Multicast ping, sans-IO: every instance probes a group and answers the probes it hears, so
//! the same command on N hosts measures the N×N picture (omping's idea).
//!
//! # Wire format
//!
//! Probes and answers are [frames](crate::frame) with a flag bit of their own.
//!
//! A **probe** has [`Flags::PROBE`]: `session` is the prober's, `seq` counts its probes,
//! `sent_at_ns` is the prober's wall clock when it sent the probe (only the prober reads it
//! back, against the same clock, so no two hosts' clocks need to agree), and the payload is
//! padding up to the probe's size.
//!
//! An **answer** has [`Flags::ANSWER`]: `session` and `seq` are the responder's own (`seq`
//! counts its answers), and the payload echoes the probe (big-endian):
//!
//! | offset | size | field          | meaning                                   |
//! |-------:|-----:|----------------|-------------------------------------------|
//! | 0      | 4    | `probe_session`| the prober's session                      |
//! | 4      | 8    | `probe_seq`    | the probe's sequence number               |
//! | 8+4    | 8    | `probe_sent`   | the probe's `sent_at_ns`, echoed          |
//! | 20     | 1    | `via`          | 0: this answer went to the group; 1: to the prober alone (unicast) |
//!
//! With a [key](PingConfig::key), probes and answers are [authenticated](crate::auth) like any
//! frame, and a pinger drops (and counts in [`PingStats::auth`]) every datagram that is
//! unauthenticated, truncated, forged, tampered or replayed before it is answered or counted:
//! a replayed probe draws no answer. Each peer's probes and answers have a replay window each
//! (their sequence numbers are counted apart).
//!
//! Each probe heard is answered twice: by multicast to the group (the path under test, both
//! ways) and by unicast to the prober. A peer whose unicast answers arrive while its multicast
//! answers do not has a multicast problem (IGMP snooping without a querier, a firewall, a TTL)
//! on the way back.
//!
//! # The machine
//!
//! [`Pinger`] paces its probes with the same [`session::Sender`](crate::session::Sender) as any
//! other stream, queues answers, and counts, per peer and per path: probes sent while the peer
//! was known, answers received in time, lost (no answer within [`PingConfig::timeout`]), late,
//! duplicated and reordered answers, and round-trip times in an HDR histogram.
//!
//! ```
//! use std::time::{Duration, Instant};
//! use mcast_core::ping::{PingConfig, Pinger};
//! use mcast_core::session::SessionId;
//!
//! let group = "239.1.2.3:5000".parse().unwrap();
//! let t0 = Instant::now();
//! let mut a = Pinger::new(PingConfig { count: Some(1), ..PingConfig::new(group, SessionId(1)) }, t0);
//! let mut b = Pinger::new(PingConfig { count: Some(1), ..PingConfig::new(group, SessionId(2)) }, t0);
//! let (a_addr, b_addr) = ("10.0.0.1:4000".parse().unwrap(), "10.0.0.2:4000".parse().unwrap());
//! let mut buf = Vec::new();
//! let wall = 1_700_000_000_000_000_000; // the wall clock at t0, in ns
//! // A probes; B hears it and answers twice (group, then unicast to A).
//! let probe = a.poll_transmit(t0, wall, &mut buf).unwrap();
//! b.handle_datagram(t0, wall, a_addr, &buf[..probe.size]);
//! let mut answers = Vec::new();
//! while let Some(t) = b.poll_transmit(t0, wall, &mut buf) {
//!     if t.destination == a_addr || t.destination == group.into() {
//!         answers.push(buf[..t.size].to_vec());
//!     }
//! }
//! // (B's own probe is among them: A ignores what is not an answer to its probes.)
//! let later = t0 + Duration::from_micros(40);
//! for answer in &answers {
//!     a.handle_datagram(later, wall + 40_000, b_addr, answer);
//! }
//! let stats = a.stats(later + Duration::from_secs(2));
//! let peer = &stats.peers[0];
//! assert_eq!((peer.sent, peer.multicast.received, peer.unicast.received), (1, 1, 1));
//! assert_eq!(peer.multicast.rtt.unwrap().p50_ns / 1000, 40);
//! ```

use std::collections::VecDeque;
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;

use crate::addr::GroupAddr;
#[cfg(feature = "auth")]
use crate::auth::Key;
use crate::auth::{AuthStats, Authenticator, Rejection, ReplayWindow, TAG_LEN};
use crate::frame::{self, Flags, FrameRepr, Seq, SessionId};
use crate::session::table::Table;
use crate::session::window::SeqWindow;
use crate::session::{Sender, SenderConfig};
use crate::Transmit;

/// The length of an answer's payload.
pub const ANSWER_LEN: usize = 21;

/// How many probes back an answer is still told apart from a duplicate.
const WINDOW: u64 = 4096;

/// The largest round trip the histograms hold (60 s, in nanoseconds).
const RTT_MAX_NS: u64 = 60_000_000_000;

/// Under a key, a probe or answer sent further than this (one hour) from this host's wall
/// clock is a replay.
pub const MAX_AGE: Duration = Duration::from_secs(3600);

/// How a [`Pinger`] probes and answers. Build it with [`PingConfig::new`] and struct update
/// syntax.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PingConfig {
    /// The group and port probes and multicast answers go to (unicast answers go to each
    /// prober's own address, which the [`Transmit`] names).
    pub group: GroupAddr,
    /// This instance's session, in its probes and answers.
    pub session: SessionId,
    /// One probe per interval (default 1 s).
    pub interval: Duration,
    /// How many probes to send; `None`: until [`Pinger::finish`].
    pub count: Option<u64>,
    /// An answer later than this after its probe is late, and the probe counts as lost
    /// (default 1 s). After the last probe the pinger waits this long for answers.
    pub timeout: Duration,
    /// The UDP payload of a probe in bytes, the frame header (and, with a key, the tag)
    /// included (at least [`frame::HEADER_LEN`], plus [`TAG_LEN`] with a key; default 64).
    pub size: usize,
    /// Whether to probe at all (`false`: only answer, `mcast ping --responder`).
    pub probe: bool,
    /// Whether to answer the probes of others (default `true`).
    pub answer: bool,
    /// The most peers counted (default 64); probes and answers of further peers are ignored.
    pub max_peers: usize,
    /// The most answers queued for sending at once (default 1024); probes heard beyond that
    /// are not answered.
    pub max_queued: usize,
    /// Authenticate probes and answers with this key ([`crate::auth`]), and drop everything
    /// that does not verify. `None` (the default): plain frames. Needs the `auth` feature.
    #[cfg(feature = "auth")]
    pub key: Option<Key>,
}

impl PingConfig {
    /// Defaults for `group` and `session`. The group is a [`GroupAddr`]: a unicast
    /// [`SocketAddr`] does not compile.
    ///
    /// ```compile_fail
    /// use std::net::SocketAddr;
    /// use mcast_core::{frame::SessionId, ping::PingConfig};
    ///
    /// let unicast: SocketAddr = "10.0.0.1:5000".parse().unwrap();
    /// let config = PingConfig::new(unicast, SessionId(1));
    /// ```
    pub fn new(group: GroupAddr, session: SessionId) -> Self {
        Self {
            group,
            session,
            interval: Duration::from_secs(1),
            count: None,
            timeout: Duration::from_secs(1),
            size: 64,
            probe: true,
            answer: true,
            max_peers: 64,
            max_queued: 1024,
            #[cfg(feature = "auth")]
            key: None,
        }
    }
}

/// Which way an answer came back.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "snake_case"))]
pub enum Via {
    /// To the group: the multicast path, both ways.
    Multicast,
    /// To the prober alone.
    Unicast,
}

/// An answer as it travels: which probe it answers, and which way it was sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AnswerRepr {
    /// The prober's session.
    pub probe_session: SessionId,
    /// The probe's sequence number.
    pub probe_seq: Seq,
    /// The probe's send time on the prober's clock, echoed.
    pub probe_sent_ns: u64,
    /// Which way the answer was sent.
    pub via: Via,
}

impl AnswerRepr {
    /// The answer's payload bytes.
    pub fn to_bytes(&self) -> [u8; ANSWER_LEN] {
        let mut b = [0u8; ANSWER_LEN];
        b[0..4].copy_from_slice(&self.probe_session.0.to_be_bytes());
        b[4..12].copy_from_slice(&self.probe_seq.0.to_be_bytes());
        b[12..20].copy_from_slice(&self.probe_sent_ns.to_be_bytes());
        b[20] = match self.via {
            Via::Multicast => 0,
            Via::Unicast => 1,
        };
        b
    }

    /// Reads an answer's payload; `None` when it is not [`ANSWER_LEN`] bytes or `via` is
    /// unknown.
    pub fn parse(payload: &[u8]) -> Option<Self> {
        let b: &[u8; ANSWER_LEN] = payload.try_into().ok()?;
        let u32_at = |i: usize| u32::from_be_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]]);
        let u64_at = |i: usize| (u64::from(u32_at(i)) << 32) | u64::from(u32_at(i + 4));
        let via = match b[20] {
            0 => Via::Multicast,
            1 => Via::Unicast,
            _ => return None,
        };
        Some(Self {
            probe_session: SessionId(u32_at(0)),
            probe_seq: Seq(u64_at(4)),
            probe_sent_ns: u64_at(12),
            via,
        })
    }
}

/// An output of the [`Pinger`], drained with [`Pinger::poll_event`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum PingEvent {
    /// A peer was heard from for the first time (its probe or its answer).
    NewPeer {
        /// Its address.
        peer: IpAddr,
    },
    /// An answer to one of this pinger's probes.
    Answer {
        /// Who answered.
        peer: IpAddr,
        /// Which probe.
        seq: Seq,
        /// Which way it came back.
        via: Via,
        /// The round trip.
        rtt: Duration,
        /// Whether it came after [`PingConfig::timeout`] (the probe counts as lost).
        late: bool,
        /// Whether this probe was answered this way before.
        duplicate: bool,
    },
}

/// Round-trip times over the answers received in time.
pub type RttStats = crate::session::Percentiles;

/// The counts of one peer on one path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[non_exhaustive]
pub struct PathStats {
    /// Probes answered in time (each probe once).
    pub received: u64,
    /// Probes sent while the peer was known, whose time is up, not answered in time.
    pub lost: u64,
    /// Answers to a probe already answered this way.
    pub duplicates: u64,
    /// Answers that came after the answer to a later probe.
    pub reordered: u64,
    /// Answers after the timeout.
    pub late: u64,
    /// Round trips of the answers received in time.
    pub rtt: Option<RttStats>,
}

/// What one peer did.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[non_exhaustive]
pub struct PeerStats {
    /// Its address.
    pub peer: IpAddr,
    /// This pinger's probes sent while the peer was known, whose answer time is up.
    pub sent: u64,
    /// Answers that came back to the group.
    pub multicast: PathStats,
    /// Answers that came back by unicast.
    pub unicast: PathStats,
}

impl PeerStats {
    /// The omping diagnosis: unicast answers arrive but multicast ones do not.
    pub fn multicast_broken(&self) -> bool {
        self.unicast.received > 0 && self.multicast.received == 0
    }
}

/// A snapshot of a [`Pinger`]'s counters.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[non_exhaustive]
pub struct PingStats {
    /// Probes sent.
    pub probes_sent: u64,
    /// Probes whose answer time is up.
    pub probes_settled: u64,
    /// Answers sent to others' probes (both ways counted).
    pub answers_sent: u64,
    /// Probes heard from others that were not answered (the answer queue was full).
    pub unanswered: u64,
    /// Datagrams that were neither probes nor answers, or answers to someone else's probes.
    pub ignored: u64,
    /// The peers, by address.
    pub peers: Vec<PeerStats>,
    /// Under a key: the datagrams authenticated and those dropped, by name; `None` without a
    /// key. Dropped datagrams count nowhere else.
    pub auth: Option<AuthStats>,
}

#[derive(Debug)]
struct Path {
    seen: SeqWindow,
    highest: Option<u64>,
    received: u64,
    duplicates: u64,
    reordered: u64,
    late: u64,
    rtt: Histogram<u64>,
}

impl Path {
    fn new() -> Self {
        Self {
            seen: SeqWindow::new(WINDOW),
            highest: None,
            received: 0,
            duplicates: 0,
            reordered: 0,
            late: 0,
            rtt: Histogram::new_with_bounds(1, RTT_MAX_NS, 3)
                .expect("1 < RTT_MAX_NS and 3 significant digits are valid bounds"),
        }
    }

    /// Records an answer to probe `seq`; returns whether it was a duplicate.
    fn record(&mut self, seq: u64, rtt_ns: u64, late: bool) -> bool {
        if late {
            self.late += 1;
            return false;
        }
        match self.highest {
            Some(h) if seq > h => {
                self.seen.clear_range(h + 1, seq);
                self.highest = Some(seq);
            }
            Some(h) if h - seq >= self.seen.size() => {
                // Too old to tell: counted late.
                self.late += 1;
                return false;
            }
            Some(_) => {
                if self.seen.get(seq) {
                    self.duplicates += 1;
                    return true;
                }
                self.reordered += 1;
            }
            None => self.highest = Some(seq),
        }
        self.seen.set(seq);
        self.received += 1;
        self.rtt.saturating_record(rtt_ns.max(1));
        false
    }

    fn stats(&self, sent: u64) -> PathStats {
        let h = &self.rtt;
        PathStats {
            received: self.received,
            lost: sent.saturating_sub(self.received),
            duplicates: self.duplicates,
            reordered: self.reordered,
            late: self.late,
            rtt: RttStats::of(h),
        }
    }
}

#[derive(Debug)]
struct Peer {
    /// The first of this pinger's probes the peer could answer.
    first_seq: u64,
    multicast: Path,
    unicast: Path,
}

/// An answer waiting to be sent.
#[derive(Debug, Clone, Copy)]
struct Pending {
    to: SocketAddr,
    answer: AnswerRepr,
}

/// Probes a group, answers the probes of others, and counts the answers to its own.
///
/// Time is passed in twice: `now` (monotonic) for pacing and timeouts, and `wall_ns` (the wall
/// clock in ns since the Unix epoch) for round trips, which a probe carries out and its answer
/// brings back. An adapter that has the kernel's receive time of an answer passes that as
/// `wall_ns` to [`handle_datagram`](Self::handle_datagram), so the round trip leaves out the
/// prober's own wake-up.
#[derive(Debug)]
pub struct Pinger {
    config: PingConfig,
    origin: Instant,
    probes: Sender,
    padding: Vec<u8>,
    /// Send times of the probes whose answer time is not up yet: (seq, when).
    open: VecDeque<(u64, Instant)>,
    /// Sequence numbers below this are settled.
    settled_below: u64,
    answers: VecDeque<Pending>,
    answer_seq: u64,
    answers_sent: u64,
    unanswered: u64,
    ignored: u64,
    peers: Table<IpAddr, Peer>,
    events: VecDeque<PingEvent>,
    /// When the last probe went out (probing over).
    done_at: Option<Instant>,
    /// Probing is over and so is the last probe's answer time.
    over: bool,
    /// The key's tag maker and checker, when [`PingConfig::key`] is set.
    auth: Option<Authenticator>,
    auth_stats: AuthStats,
    /// Under a key: a replay window per (peer, session, answers or probes).
    windows: Table<(SocketAddr, SessionId, bool), ReplayWindow>,
}

impl Pinger {
    /// A pinger that starts at `now`.
    pub fn new(config: PingConfig, now: Instant) -> Self {
        let size = config.size.max(frame::HEADER_LEN);
        #[cfg(feature = "auth")]
        let auth = config.key.as_ref().map(Authenticator::new);
        #[cfg(not(feature = "auth"))]
        let auth: Option<Authenticator> = None;
        let tag = if auth.is_some() { TAG_LEN } else { 0 };
        let probes = Sender::new(SenderConfig {
            session: config.session,
            framed: true,
            interval: Some(config.interval),
            count: if config.probe { config.count } else { Some(0) },
            flags: Flags::PROBE,
            end_frames: 0,
            #[cfg(feature = "auth")]
            key: config.key.clone(),
            ..SenderConfig::new(config.group)
        });
        Self {
            padding: vec![0x70; size.saturating_sub(frame::HEADER_LEN + tag)],
            probes,
            config,
            origin: now,
            open: VecDeque::new(),
            settled_below: 0,
            answers: VecDeque::new(),
            answer_seq: 0,
            answers_sent: 0,
            unanswered: 0,
            ignored: 0,
            peers: Table::new(),
            events: VecDeque::new(),
            done_at: None,
            over: false,
            auth,
            auth_stats: AuthStats::default(),
            windows: Table::new(),
        }
    }

    /// The configuration.
    pub fn config(&self) -> &PingConfig {
        &self.config
    }

    /// Stops probing: no probe after this one; the pinger finishes once the last probe's
    /// answer time is up.
    pub fn finish(&mut self, now: Instant) {
        self.probes.finish(now);
        self.done_at.get_or_insert(now);
    }

    /// Whether the pinger is done: it probed (or was told to finish) and the last probe's
    /// answer time is up. A pure responder is never done by itself.
    pub fn is_finished(&self, now: Instant) -> bool {
        if !self.config.probe && self.done_at.is_none() {
            return false;
        }
        self.probes.is_data_done()
            && self.open.is_empty()
            && self
                .done_at
                .is_none_or(|d| now.saturating_duration_since(d) >= self.config.timeout)
    }

    /// The next datagram to send, if any is due: queued answers first (they are urgent),
    /// then the next probe when its time has come. Writes it into `buf` (cleared first).
    ///
    /// # When to call
    ///
    /// Call it until it returns `None`:
    /// - after [`Pinger::new`];
    /// - after [`handle_datagram`](Self::handle_datagram) (a probe heard queues answers);
    /// - when the deadline from [`poll_timeout`](Self::poll_timeout) has passed.
    #[must_use]
    pub fn poll_transmit(
        &mut self,
        now: Instant,
        wall_ns: u64,
        buf: &mut Vec<u8>,
    ) -> Option<Transmit> {
        if let Some(p) = self.answers.pop_front() {
            let body = p.answer.to_bytes();
            let repr = FrameRepr {
                flags: Flags::ANSWER,
                session: self.config.session,
                seq: Seq(self.answer_seq),
                sent_at_ns: wall_ns,
                payload: &body,
                tag: None,
            };
            buf.clear();
            // A 21-byte payload and a 16-byte tag fit any frame: encoding cannot fail.
            let size = match &self.auth {
                Some(auth) => auth.encode(&repr, buf),
                None => frame::encode(&repr, buf),
            }
            .unwrap_or(0);
            self.answer_seq = self.answer_seq.wrapping_add(1);
            self.answers_sent += 1;
            return Some(Transmit::new(p.to, size));
        }
        self.settle(now);
        let seq = self.probes.next_seq().0;
        let t = self
            .probes
            .poll_transmit(now, wall_ns, &self.padding, buf)?;
        self.open.push_back((seq, now));
        if self.probes.is_data_done() {
            self.done_at = Some(now);
        }
        Some(t)
    }

    /// Moves probes whose answer time is up out of the open list, and notes when the whole
    /// run is over.
    fn settle(&mut self, now: Instant) {
        while let Some(&(seq, at)) = self.open.front() {
            if now.saturating_duration_since(at) < self.config.timeout {
                break;
            }
            self.open.pop_front();
            self.settled_below = seq.saturating_add(1);
        }
        self.over = self.is_finished(now);
    }

    /// When to call [`poll_transmit`](Self::poll_transmit) /
    /// [`handle_timeout`](Self::handle_timeout) next: now when answers are queued, else the
    /// next probe or the end of the oldest open probe's answer time.
    ///
    /// # When to call
    ///
    /// - after draining [`poll_transmit`](Self::poll_transmit);
    /// - after [`handle_datagram`](Self::handle_datagram) and
    ///   [`handle_timeout`](Self::handle_timeout).
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        if !self.answers.is_empty() {
            return Some(self.origin);
        }
        let settle = self
            .open
            .front()
            .and_then(|&(_, at)| at.checked_add(self.config.timeout));
        let done = self
            .done_at
            .filter(|_| self.probes.is_data_done() && !self.over)
            .and_then(|d| d.checked_add(self.config.timeout));
        // Once probing is over, the probe sender's deadline no longer matters.
        let probe = if self.probes.is_data_done() {
            None
        } else {
            self.probes.poll_timeout()
        };
        [probe, settle, done].into_iter().flatten().min()
    }

    /// Runs the timers due at `now` (answer times running out). Spurious calls are no-ops.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.settle(now);
    }

    /// The next event, until `None`.
    ///
    /// # When to call
    ///
    /// Call it until it returns `None` after [`handle_datagram`](Self::handle_datagram).
    #[must_use]
    pub fn poll_event(&mut self) -> Option<PingEvent> {
        self.events.pop_front()
    }

    fn peer(&mut self, ip: IpAddr, first_seq: u64) -> Option<&mut Peer> {
        if self.peers.get(&ip).is_none() {
            if self.peers.len() >= self.config.max_peers {
                return None;
            }
            self.peers.insert(
                ip,
                Peer {
                    first_seq,
                    multicast: Path::new(),
                    unicast: Path::new(),
                },
            );
            if self.events.len() < 4096 {
                self.events.push_back(PingEvent::NewPeer { peer: ip });
            }
        }
        self.peers.get_mut(&ip)
    }

    /// Handles one datagram from `source` that arrived at `wall_ns` (the kernel's receive time
    /// when the adapter has it, else the wall clock now): a probe of another instance is queued
    /// for answers, an answer to one of this pinger's probes is counted; anything else is
    /// ignored (and counted in [`PingStats::ignored`]).
    pub fn handle_datagram(
        &mut self,
        now: Instant,
        wall_ns: u64,
        source: SocketAddr,
        bytes: &[u8],
    ) {
        self.settle(now);
        if self.authenticate(wall_ns, source, bytes).is_err() {
            return;
        }
        let Ok(f) = frame::decode(bytes) else {
            self.ignored += 1;
            return;
        };
        if f.session == self.config.session {
            // Our own probes and answers, looped back.
            return;
        }
        if f.flags.contains(Flags::PROBE) {
            let next = self.probes.next_seq().0;
            if self.peer(source.ip(), next).is_none() || !self.config.answer {
                return;
            }
            if self.answers.len() + 2 > self.config.max_queued {
                self.unanswered += 1;
                return;
            }
            for (to, via) in [
                (self.config.group.into(), Via::Multicast),
                (source, Via::Unicast),
            ] {
                self.answers.push_back(Pending {
                    to,
                    answer: AnswerRepr {
                        probe_session: f.session,
                        probe_seq: f.seq,
                        probe_sent_ns: f.sent_at_ns,
                        via,
                    },
                });
            }
        } else if f.flags.contains(Flags::ANSWER) {
            let Some(a) = AnswerRepr::parse(f.payload) else {
                self.ignored += 1;
                return;
            };
            if a.probe_session != self.config.session || a.probe_seq >= self.probes.next_seq() {
                self.ignored += 1;
                return;
            }
            let rtt_ns = wall_ns.saturating_sub(a.probe_sent_ns);
            let late = rtt_ns > u64::try_from(self.config.timeout.as_nanos()).unwrap_or(u64::MAX);
            let seq = a.probe_seq.0;
            let Some(peer) = self.peer(source.ip(), seq) else {
                return;
            };
            peer.first_seq = peer.first_seq.min(seq);
            let path = match a.via {
                Via::Multicast => &mut peer.multicast,
                Via::Unicast => &mut peer.unicast,
            };
            let duplicate = path.record(seq, rtt_ns, late);
            if self.events.len() < 4096 {
                self.events.push_back(PingEvent::Answer {
                    peer: source.ip(),
                    seq: a.probe_seq,
                    via: a.via,
                    rtt: Duration::from_nanos(rtt_ns),
                    late,
                    duplicate,
                });
            }
        } else {
            self.ignored += 1;
        }
    }

    /// Under a key, checks `bytes` from `source` before anything else sees it: its tag, its
    /// send time against `wall_ns` ([`MAX_AGE`]), and (others' probes and answers) its
    /// sequence number against that peer's replay window, which then records it. A datagram
    /// that fails is counted by name. Without a key, everything passes.
    fn authenticate(
        &mut self,
        wall_ns: u64,
        source: SocketAddr,
        bytes: &[u8],
    ) -> Result<(), Rejection> {
        let Some(auth) = &self.auth else {
            return Ok(());
        };
        let header = (bytes.len() >= frame::HEADER_LEN && frame::looks_framed(bytes))
            .then(|| frame::Frame::new_unchecked(bytes));
        let key = header.map(|f| (source, f.session(), f.flags().contains(Flags::ANSWER)));
        let verdict = match (auth.verify(bytes), header, key) {
            (Ok(()), Some(f), Some(key)) => {
                let age = u128::from(wall_ns.abs_diff(f.sent_at_ns()));
                if age > MAX_AGE.as_nanos() {
                    Err(Rejection::Replayed)
                } else if key.1 == self.config.session {
                    // Our own, looped back: ignored later, and no window of ours.
                    Ok(())
                } else if let Some(w) = self.windows.get_mut(&key) {
                    w.accept(f.seq()).map_err(|_| Rejection::Replayed)
                } else {
                    // Probes and answers of peers beyond the table are ignored later anyway.
                    if self.windows.len() < self.config.max_peers.saturating_mul(4) {
                        let mut w = ReplayWindow::default();
                        let _ = w.accept(f.seq());
                        self.windows.insert(key, w);
                    }
                    Ok(())
                }
            }
            // `verify` passes only a whole frame, whose header is there.
            (Ok(()), _, _) => Err(Rejection::Truncated),
            (Err(e), _, key) => {
                let known = key.is_some_and(|k| self.windows.get(&k).is_some());
                Err(Rejection::of(e, known))
            }
        };
        match verdict {
            Ok(()) => self.auth_stats.authenticated += 1,
            Err(r) => self.auth_stats.count(r),
        }
        verdict
    }

    /// A snapshot of every counter at `now` (probes whose answer time is up by then count).
    pub fn stats(&self, now: Instant) -> PingStats {
        // Probes settled by `now`, including open ones whose time is up.
        let mut settled_below = self.settled_below;
        for &(seq, at) in &self.open {
            if now.saturating_duration_since(at) >= self.config.timeout {
                settled_below = seq.saturating_add(1);
            }
        }
        let first = self.config_first_seq();
        let mut peers: Vec<PeerStats> = self
            .peers
            .iter()
            .map(|(&ip, p)| {
                let sent = settled_below.saturating_sub(p.first_seq.max(first));
                PeerStats {
                    peer: ip,
                    sent,
                    multicast: p.multicast.stats(sent),
                    unicast: p.unicast.stats(sent),
                }
            })
            .collect();
        peers.sort_by_key(|p| p.peer);
        PingStats {
            probes_sent: self.probes.generated(),
            probes_settled: settled_below.saturating_sub(first),
            answers_sent: self.answers_sent,
            unanswered: self.unanswered,
            ignored: self.ignored,
            peers,
            auth: self.auth.is_some().then_some(self.auth_stats),
        }
    }

    fn config_first_seq(&self) -> u64 {
        self.probes.config().first_seq.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GROUP: &str = "239.1.2.3:5000";

    fn addr(i: usize) -> SocketAddr {
        SocketAddr::from(([10, 0, 0, 1 + i as u8], 4000))
    }

    /// Several pingers on a simulated network with a fixed one-way delay. `drop` decides, for
    /// (from, to, bytes), whether a datagram is lost; `dup` whether it arrives twice.
    struct Mesh {
        pingers: Vec<Pinger>,
        now: Instant,
        t0: Instant,
        delay: Duration,
        in_flight: Vec<(Instant, usize, usize, Vec<u8>)>,
    }

    impl Mesh {
        fn new(n: usize, config: impl Fn(usize) -> PingConfig) -> Self {
            let t0 = crate::session::test_origin();
            Self {
                pingers: (0..n).map(|i| Pinger::new(config(i), t0)).collect(),
                now: t0,
                t0,
                delay: Duration::from_micros(50),
                in_flight: Vec::new(),
            }
        }

        fn config(i: usize, count: u64) -> PingConfig {
            PingConfig {
                count: Some(count),
                interval: Duration::from_millis(1),
                timeout: Duration::from_millis(100),
                ..PingConfig::new(GROUP.parse().unwrap(), SessionId(100 + i as u32))
            }
        }

        fn run(
            &mut self,
            drop: impl Fn(usize, usize, &[u8]) -> bool,
            dup: impl Fn(usize, usize) -> bool,
        ) {
            let group: GroupAddr = GROUP.parse().unwrap();
            let mut buf = Vec::new();
            for _ in 0..1_000_000 {
                let wall = self.wall();
                for i in 0..self.pingers.len() {
                    while let Some(t) = self.pingers[i].poll_transmit(self.now, wall, &mut buf) {
                        let bytes = buf[..t.size].to_vec();
                        let targets: Vec<usize> = if t.destination == group.into() {
                            (0..self.pingers.len()).filter(|&j| j != i).collect()
                        } else {
                            (0..self.pingers.len())
                                .filter(|&j| addr(j) == t.destination)
                                .collect()
                        };
                        for j in targets {
                            if drop(i, j, &bytes) {
                                continue;
                            }
                            let copies = if dup(i, j) { 2 } else { 1 };
                            for _ in 0..copies {
                                self.in_flight
                                    .push((self.now + self.delay, i, j, bytes.clone()));
                            }
                        }
                    }
                }
                let now = self.now;
                let (due, later): (Vec<_>, Vec<_>) =
                    self.in_flight.drain(..).partition(|(at, ..)| *at <= now);
                self.in_flight = later;
                for (_, from, to, bytes) in due {
                    self.pingers[to].handle_datagram(now, wall, addr(from), &bytes);
                    while self.pingers[to].poll_event().is_some() {}
                }
                for p in &mut self.pingers {
                    p.handle_timeout(now);
                }
                if self.pingers.iter().all(|p| p.is_finished(now)) && self.in_flight.is_empty() {
                    return;
                }
                let next = self
                    .pingers
                    .iter()
                    .filter_map(Pinger::poll_timeout)
                    .chain(self.in_flight.iter().map(|(at, ..)| *at))
                    .min()
                    .unwrap_or(now + Duration::from_millis(1));
                // Queued answers go out at once, at the same instant.
                self.now = next.max(now);
            }
            panic!("the mesh did not settle");
        }

        fn stats(&self, i: usize) -> PingStats {
            self.pingers[i].stats(self.now)
        }

        /// The wall clock of the simulation, in step with `now`.
        fn wall(&self) -> u64 {
            1_700_000_000_000_000_000 + u64::try_from((self.now - self.t0).as_nanos()).unwrap()
        }
    }

    fn peer(stats: &PingStats, i: usize) -> PeerStats {
        stats
            .peers
            .iter()
            .find(|p| p.peer == addr(i).ip())
            .cloned()
            .unwrap_or_else(|| panic!("no peer {i} in {stats:?}"))
    }

    #[test]
    fn answer_payload_round_trips_and_refuses_garbage() {
        let a = AnswerRepr {
            probe_session: SessionId(7),
            probe_seq: Seq(u64::MAX - 1),
            probe_sent_ns: 123_456,
            via: Via::Unicast,
        };
        assert_eq!(AnswerRepr::parse(&a.to_bytes()), Some(a));
        let mut bad = a.to_bytes();
        bad[20] = 2;
        assert_eq!(AnswerRepr::parse(&bad), None);
        assert_eq!(AnswerRepr::parse(&bad[..20]), None);
    }

    // issue #8 — three instances, a perfect network: every probe answered both ways by both
    // others, round trips of two one-way delays.
    #[test]
    fn several_responders_answer_every_probe_both_ways() {
        let mut mesh = Mesh::new(3, |i| Mesh::config(i, 200));
        mesh.run(|_, _, _| false, |_, _| false);
        for i in 0..3 {
            let stats = mesh.stats(i);
            assert_eq!(stats.probes_sent, 200);
            assert_eq!(stats.peers.len(), 2, "{stats:?}");
            for p in &stats.peers {
                assert_eq!(p.sent, 200, "{p:?}");
                for path in [p.multicast, p.unicast] {
                    assert_eq!(
                        (path.received, path.lost, path.duplicates, path.late),
                        (200, 0, 0, 0)
                    );
                    let rtt = path.rtt.unwrap();
                    // Two 50 µs legs, within the histogram's three significant digits.
                    for ns in [rtt.min_ns, rtt.p50_ns, rtt.max_ns] {
                        assert!(ns.abs_diff(100_000) <= 100, "{rtt:?}");
                    }
                }
                assert!(!p.multicast_broken());
            }
        }
        assert!(
            mesh.now - mesh.t0 < Duration::from_millis(400),
            "199 intervals and the timeout"
        );
    }

    // issue #8 — loss on one host: its row and column show it; the other pairs do not.
    #[test]
    fn loss_shows_on_the_faulty_hosts_row_and_column() {
        let mut mesh = Mesh::new(3, |i| Mesh::config(i, 1000));
        // Host 2 drops every 4th datagram it sends or receives (by content, deterministic).
        let lossy = |from: usize, to: usize, bytes: &[u8]| {
            (from == 2 || to == 2) && bytes.iter().map(|&b| u32::from(b)).sum::<u32>() % 4 == 0
        };
        mesh.run(lossy, |_, _| false);
        let clean = peer(&mesh.stats(0), 1);
        assert_eq!((clean.multicast.lost, clean.unicast.lost), (0, 0));
        for (prober, responder) in [(0, 2), (2, 0), (1, 2), (2, 1)] {
            let p = peer(&mesh.stats(prober), responder);
            // The peer is counted from the first probe it could answer: the first few may go
            // before a lossy peer was heard from.
            assert!((990..=1000).contains(&p.sent), "{p:?}");
            let lost = p.multicast.lost;
            assert!(
                (200..=600).contains(&lost),
                "{prober}→{responder}: a round trip crosses the filter twice: {p:?}"
            );
            assert_eq!(p.multicast.received + lost, p.sent);
        }
    }

    #[cfg(feature = "auth")]
    fn keyed(i: usize, count: u64, key: u8) -> PingConfig {
        PingConfig {
            key: Some(Key::from_bytes([key; crate::auth::KEY_LEN])),
            ..Mesh::config(i, count)
        }
    }

    // issue #9 — with a key, probes and answers are authenticated and the mesh works as
    // without one: every probe answered both ways, nothing dropped.
    #[test]
    #[cfg(feature = "auth")]
    fn a_keyed_mesh_answers_every_probe() {
        let mut mesh = Mesh::new(3, |i| keyed(i, 100, 7));
        mesh.run(|_, _, _| false, |_, _| false);
        for i in 0..3 {
            let stats = mesh.stats(i);
            for p in &stats.peers {
                assert_eq!(
                    (p.sent, p.multicast.received, p.unicast.received),
                    (100, 100, 100)
                );
            }
            let auth = stats.auth.unwrap();
            assert_eq!(auth.dropped(), 0, "{auth:?}");
            // Two peers' probes (200) and their answers to this one's probes, both ways (400);
            // the other peer's multicast answers to each other's probes (200) are heard too.
            assert_eq!(auth.authenticated, 200 + 400 + 200, "{auth:?}");
        }
        assert_eq!(Mesh::new(1, |i| Mesh::config(i, 1)).stats(0).auth, None);
    }

    // issue #9 — under a key a duplicate is a replay: a duplicated probe draws no second
    // answer, a duplicated answer is dropped before it is counted.
    #[test]
    #[cfg(feature = "auth")]
    fn a_keyed_mesh_drops_duplicates_as_replays() {
        let mut mesh = Mesh::new(2, |i| keyed(i, 100, 7));
        mesh.run(|_, _, _| false, |from, to| from == 1 && to == 0);
        let stats = mesh.stats(0);
        let p = peer(&stats, 1);
        assert_eq!((p.multicast.received, p.multicast.duplicates), (100, 0));
        assert_eq!(p.unicast.duplicates, 0);
        // 1's probes (100) and its answers both ways (200), each a second time.
        assert_eq!(stats.auth.unwrap().replayed, 300);
        let back = peer(&mesh.stats(1), 0);
        assert_eq!(
            (back.multicast.received, back.multicast.duplicates),
            (100, 0),
            "0 answered each probe once"
        );
    }

    // issue #9 — a pinger with a key hears nothing from one without (unauthenticated) or with
    // another key (forged), and answers none of them.
    #[test]
    #[cfg(feature = "auth")]
    fn pingers_with_other_keys_or_none_are_dropped() {
        let mut mesh = Mesh::new(3, |i| match i {
            0 => keyed(i, 20, 7),
            1 => keyed(i, 20, 8),
            _ => Mesh::config(i, 20),
        });
        mesh.run(|_, _, _| false, |_, _| false);
        let stats = mesh.stats(0);
        assert!(stats.peers.is_empty(), "{stats:?}");
        let auth = stats.auth.unwrap();
        // 1's probes are forged (1 answers nobody: it drops everything too); 2's probes and
        // its answers to 0's probes (both ways) and to 1's (by multicast) are unauthenticated.
        assert_eq!(
            (auth.forged, auth.unauthenticated, auth.authenticated),
            (20, 4 * 20, 0)
        );
        assert_eq!(stats.answers_sent, 0);
        // The plain pinger answers the keyed ones' probes (it reads any frame), and the
        // keyed ones drop those answers.
        assert_eq!(mesh.stats(2).answers_sent, 2 * 2 * 20);
    }

    // issue #9 — a probe replayed draws no answer; a changed answer of a known peer is tampered.
    #[test]
    #[cfg(feature = "auth")]
    fn replayed_probes_go_unanswered_and_changed_answers_are_tampered() {
        let t0 = crate::session::test_origin();
        let wall = 1_700_000_000_000_000_000;
        let mut a = Pinger::new(keyed(0, 1, 7), t0);
        let mut b = Pinger::new(keyed(1, 0, 7), t0);
        let mut buf = Vec::new();
        let t = a.poll_transmit(t0, wall, &mut buf).unwrap();
        let probe = buf[..t.size].to_vec();
        b.handle_datagram(t0, wall, addr(0), &probe);
        b.handle_datagram(t0, wall, addr(0), &probe);
        let mut answers = Vec::new();
        while let Some(t) = b.poll_transmit(t0, wall, &mut buf) {
            if frame::decode(&buf[..t.size])
                .unwrap()
                .flags
                .contains(Flags::ANSWER)
            {
                answers.push(buf[..t.size].to_vec());
            }
        }
        assert_eq!(answers.len(), 2, "one probe, answered once both ways");
        let auth = b.stats(t0).auth.unwrap();
        assert_eq!((auth.replayed, auth.authenticated), (1, 1));
        let mut changed = answers[0].clone();
        changed[frame::HEADER_LEN + 4] ^= 1;
        a.handle_datagram(t0, wall, addr(1), &answers[0]);
        a.handle_datagram(t0, wall, addr(1), &changed);
        // Sent more than an hour from a's clock: a replay even with a valid tag.
        a.handle_datagram(
            t0,
            wall + MAX_AGE.as_nanos() as u64 + 1,
            addr(1),
            &answers[1],
        );
        let stats = a.stats(t0 + Duration::from_secs(5));
        let auth = stats.auth.unwrap();
        assert_eq!(
            (auth.tampered, auth.replayed, auth.authenticated),
            (1, 1, 1)
        );
        assert_eq!(peer(&stats, 1).multicast.received, 1);
        assert_eq!(peer(&stats, 1).unicast.received, 0);
    }

    #[test]
    fn duplicated_answers_are_counted_once() {
        let mut mesh = Mesh::new(2, |i| Mesh::config(i, 100));
        // Everything from 1 to 0 arrives twice.
        mesh.run(|_, _, _| false, |from, to| from == 1 && to == 0);
        let p = peer(&mesh.stats(0), 1);
        assert_eq!(
            (
                p.multicast.received,
                p.multicast.duplicates,
                p.multicast.lost
            ),
            (100, 100, 0)
        );
        assert_eq!(p.unicast.duplicates, 100);
        // 1's probes reached 0 twice too, so 0 answered each twice.
        let back = peer(&mesh.stats(1), 0);
        assert_eq!(
            (back.multicast.received, back.multicast.duplicates),
            (100, 100)
        );
    }

    // issue #8 — an answer after the timeout is late: the probe counts as lost, the round trip
    // is not measured.
    #[test]
    fn late_answers_count_as_lost() {
        let mut mesh = Mesh::new(2, |i| Mesh::config(i, 50));
        mesh.delay = Duration::from_millis(60); // a 120 ms round trip, timeout 100 ms
        mesh.run(|_, _, _| false, |_, _| false);
        let p = peer(&mesh.stats(0), 1);
        assert_eq!(p.sent, 50);
        assert_eq!(
            (p.multicast.received, p.multicast.late, p.multicast.lost),
            (0, 50, 50)
        );
        assert_eq!(p.multicast.rtt, None);
    }

    // issue #8 — multicast answers lost, unicast ones arriving: the omping diagnosis.
    #[test]
    fn unicast_without_multicast_is_diagnosed() {
        let mut mesh = Mesh::new(2, |i| Mesh::config(i, 20));
        let group: GroupAddr = GROUP.parse().unwrap();
        // Drop answers that went to the group (they carry via = 0 as their last byte).
        mesh.run(
            |_, _, bytes| {
                frame::decode(bytes)
                    .is_ok_and(|f| f.flags.contains(Flags::ANSWER) && f.payload.last() == Some(&0))
            },
            |_, _| false,
        );
        let _ = group;
        let p = peer(&mesh.stats(0), 1);
        assert!(p.multicast_broken(), "{p:?}");
        assert_eq!((p.unicast.received, p.multicast.lost), (20, 20));
    }

    // issue #8 — sequence numbers near the top of the range: no overflow, every probe counted.
    #[test]
    fn sequence_numbers_near_the_top_do_not_wrap_the_counts() {
        let mut mesh = Mesh::new(2, |i| Mesh::config(i, 5));
        for p in &mut mesh.pingers {
            let mut c = p.probes.config().clone();
            c.first_seq = Seq(u64::MAX - 6);
            p.probes = Sender::new(c);
        }
        mesh.run(|_, _, _| false, |_, _| false);
        let p = peer(&mesh.stats(0), 1);
        assert_eq!((p.sent, p.multicast.received, p.multicast.lost), (5, 5, 0));
    }

    #[test]
    fn responders_only_answer_and_timeouts_move_forward() {
        let t0 = crate::session::test_origin();
        let config = PingConfig {
            probe: false,
            ..Mesh::config(0, 10)
        };
        let mut r = Pinger::new(config, t0);
        let mut buf = Vec::new();
        assert!(
            r.poll_transmit(t0, 0, &mut buf).is_none(),
            "a responder sends no probe"
        );
        assert!(
            !r.is_finished(t0 + Duration::from_secs(60)),
            "and never finishes by itself"
        );
        // A prober's timeouts move forward.
        let mut p = Pinger::new(Mesh::config(1, 3), t0);
        let mut now = t0;
        for _ in 0..100 {
            while p.poll_transmit(now, 0, &mut buf).is_some() {}
            p.handle_timeout(now);
            let Some(next) = p.poll_timeout() else { break };
            assert!(next > now, "busy loop at {now:?}");
            now = next;
        }
        assert!(p.is_finished(now));
        assert_eq!(p.stats(now).probes_settled, 3);
    }
}
