//! [`Pinger`]: the ssmping client as a state machine. It makes the queries on a drift-free
//! schedule, matches the replies of both paths to them, and counts loss, duplicates and round
//! trip times per path. Time goes in as arguments; bytes go in and out through the caller's
//! buffers.

use std::collections::VecDeque;
use std::net::IpAddr;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;

use super::{distance, Kind, MessageRepr, SsmpingError, Timestamp};
use crate::addr::Group;

/// How many of the latest queries a [`Pinger`] remembers (send time, which paths answered).
/// A reply to an older query is [`Ignored::UnknownSeq`]: late beyond this many intervals, it
/// counts as lost.
pub const WINDOW: usize = 16_384;

/// The longest round trip the histograms hold (one hour); longer ones are recorded as this.
const HIST_MAX_NS: u64 = 3_600_000_000_000;

/// What a [`Pinger`] does.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct PingerConfig {
    /// The server's address: replies from elsewhere are [`Ignored::WrongHost`].
    pub server: IpAddr,
    /// The group the queries name (`GROUP`), which the caller has joined.
    pub group: Group,
    /// The identifier the queries carry (`PID`): replies with another are someone else's.
    pub pid: u32,
    /// How many queries to send; `None`: until the caller stops.
    pub count: Option<u64>,
    /// The time between two queries (0: all at once).
    pub interval: Duration,
    /// How long to wait for replies after the last query, unless every reply is in.
    pub linger: Duration,
    /// Ask the server for its version (`REQUEST_VERSION`; the reference client's `-v`).
    pub request_version: bool,
    /// Ask for replies of this many bytes (`REPLY_SIZE`; the reference client's `-s`).
    pub reply_size: Option<u16>,
}

impl PingerConfig {
    /// Queries to `server` naming `group`, with `pid`: every second (the reference client's
    /// pace) until stopped, waiting one second for the last replies.
    pub fn new(server: IpAddr, group: Group, pid: u32) -> Self {
        Self {
            server,
            group,
            pid,
            count: None,
            interval: Duration::from_secs(1),
            linger: Duration::from_secs(1),
            request_version: false,
            reply_size: None,
        }
    }
}

/// Which way a reply came.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "lowercase"))]
pub enum Path {
    /// Unicast, from the server to the client.
    Unicast,
    /// Multicast, to the group.
    Multicast,
}

impl Path {
    /// `unicast` or `multicast`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Unicast => "unicast",
            Self::Multicast => "multicast",
        }
    }

    fn index(self) -> usize {
        match self {
            Self::Unicast => 0,
            Self::Multicast => 1,
        }
    }
}

/// A query [`Pinger::poll_transmit`] wrote into the caller's buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[must_use]
#[non_exhaustive]
pub struct Query {
    /// Its sequence number (the first query's is 1, as the reference client's).
    pub seq: u32,
    /// Its length: the buffer's first `len` bytes.
    pub len: usize,
}

/// A reply matched to its query.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Reply<'a> {
    /// Which way it came.
    pub path: Path,
    /// The sequence number of its query.
    pub seq: u32,
    /// From the query's send time to the reply's arrival, as the caller's clock says.
    pub rtt: Duration,
    /// The TTL / hop limit it arrived with, when the caller knows it.
    pub hop_limit: Option<u8>,
    /// How many routers it crossed ([`super::distance`] of `hop_limit`).
    pub distance: Option<u8>,
    /// Its length in bytes.
    pub len: usize,
    /// Whether this path already brought a reply to this query (not counted again).
    pub duplicate: bool,
    /// The server's version, when the reply carries one (`VERSION`) and it is text.
    pub version: Option<&'a str>,
}

/// Why a datagram was not taken as a reply.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Ignored {
    /// It is not an ssmping message.
    #[error("not an ssmping message: {0}")]
    Malformed(SsmpingError),
    /// It is a query, not a reply.
    #[error("a query, not a reply")]
    NotAReply,
    /// It came from another host than the server.
    #[error("from {0}, not the server")]
    WrongHost(IpAddr),
    /// It answers another client (another `PID`, or none).
    #[error("a reply to another client (pid {})", .0.map_or_else(|| "none".to_owned(), |p| p.to_string()))]
    OtherClient(Option<u32>),
    /// It carries no sequence number.
    #[error("a reply without a sequence number")]
    NoSeq,
    /// Its sequence number is none of the last [`WINDOW`] queries sent.
    #[error("a reply to seq {0}, which is not among the queries awaiting replies")]
    UnknownSeq(u32),
}

/// Round trip time percentiles over one path's replies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct RttPercentiles {
    /// How many round trips.
    pub samples: u64,
    /// The shortest (exact).
    pub min: Duration,
    /// The median.
    pub p50: Duration,
    /// The 90th percentile.
    pub p90: Duration,
    /// The 99th percentile.
    pub p99: Duration,
    /// The longest (exact).
    pub max: Duration,
}

/// What one path brought.
#[derive(Debug, Clone)]
pub struct PathStats {
    received: u64,
    duplicates: u64,
    first_seq: Option<u32>,
    hist: Histogram<u64>,
    min_ns: u64,
    max_ns: u64,
}

impl PathStats {
    fn new() -> Self {
        Self {
            received: 0,
            duplicates: 0,
            first_seq: None,
            // Fixed bounds and three significant digits: allocated once here; recording
            // never allocates.
            hist: Histogram::new_with_bounds(1, HIST_MAX_NS, 3)
                .expect("1 < HIST_MAX_NS and 3 significant digits are valid bounds"),
            min_ns: u64::MAX,
            max_ns: 0,
        }
    }

    fn record(&mut self, seq: u32, rtt: Duration) {
        let ns = u64::try_from(rtt.as_nanos())
            .unwrap_or(u64::MAX)
            .clamp(1, HIST_MAX_NS);
        self.hist.saturating_record(ns);
        self.min_ns = self.min_ns.min(ns);
        self.max_ns = self.max_ns.max(ns);
        self.received += 1;
        self.first_seq.get_or_insert(seq);
    }

    /// Queries answered on this path (each once, duplicates aside).
    pub fn received(&self) -> u64 {
        self.received
    }

    /// Replies that came again on this path.
    pub fn duplicates(&self) -> u64 {
        self.duplicates
    }

    /// The sequence number of the first query answered on this path: for multicast, roughly
    /// when the tree reached the client.
    pub fn first_seq(&self) -> Option<u32> {
        self.first_seq
    }

    /// Queries of the `sent` that this path did not answer.
    pub fn lost(&self, sent: u64) -> u64 {
        sent.saturating_sub(self.received)
    }

    /// Round trip percentiles; `None` before the first reply. Min and max are exact, the
    /// percentiles within 0.1 % (three significant digits), and never outside min..=max.
    pub fn rtt(&self) -> Option<RttPercentiles> {
        let h = &self.hist;
        let at = |q| Duration::from_nanos(h.value_at_quantile(q).clamp(self.min_ns, self.max_ns));
        (!h.is_empty()).then(|| RttPercentiles {
            samples: h.len(),
            min: Duration::from_nanos(self.min_ns),
            p50: at(0.50),
            p90: at(0.90),
            p99: at(0.99),
            max: Duration::from_nanos(self.max_ns),
        })
    }
}

/// A query sent: when, and which paths answered it.
#[derive(Debug, Clone, Copy)]
struct Sent {
    at: Instant,
    answered: [bool; 2],
}

/// The ssmping client as a state machine (sans-IO).
///
/// The caller owns a unicast socket connected to the server's port 4321 and a receiver joined
/// to the group on that socket's own port (the server multicasts to the client's port), and
/// drives the machine:
///
/// 1. [`poll_transmit`](Self::poll_transmit) until `None`, sending each query unicast;
/// 2. waits for either socket until [`poll_timeout`](Self::poll_timeout);
/// 3. hands every datagram to [`handle_datagram`](Self::handle_datagram) with the path it
///    came by, then calls [`handle_timeout`](Self::handle_timeout);
/// 4. stops when [`is_finished`](Self::is_finished): every query sent and answered on both
///    paths, or the linger after the last query passed.
///
/// ```
/// use std::time::{Duration, Instant};
/// use mcast_core::ssmping::{self, Kind, MessageRepr, Path, Pinger, PingerConfig};
///
/// let server = "192.0.2.1".parse()?;
/// let mut cfg = PingerConfig::new(server, ssmping::default_group(false), 7);
/// cfg.count = Some(1);
/// let start = Instant::now();
/// let mut pinger = Pinger::new(cfg, start);
/// let mut buf = Vec::new();
/// let query = pinger.poll_transmit(start, 1_700_000_000_000_000_000, &mut buf).unwrap();
/// // The server's answer is the query with 'A' for 'Q', unicast and multicast.
/// buf[0] = b'A';
/// let later = start + Duration::from_micros(300);
/// let reply = pinger.handle_datagram(later, Path::Unicast, server, Some(64), &buf[..query.len])?;
/// assert_eq!((reply.seq, reply.rtt, reply.distance), (1, Duration::from_micros(300), Some(0)));
/// pinger.handle_datagram(later, Path::Multicast, server, Some(64), &buf[..query.len])?;
/// assert!(pinger.is_finished());
/// assert_eq!(pinger.stats(Path::Multicast).received(), 1);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone)]
pub struct Pinger {
    cfg: PingerConfig,
    start: Instant,
    /// When the next query is due, on the absolute schedule `start + k * interval`.
    next_due: Option<Instant>,
    /// Queries sent so far.
    sent: u64,
    /// The sequence number of the latest query sent.
    last_seq: u32,
    /// The latest queries sent, oldest first, at most [`WINDOW`].
    window: VecDeque<Sent>,
    paths: [PathStats; 2],
    version: Option<String>,
    finished: bool,
}

impl Pinger {
    /// A client that sends its first query at `start`.
    pub fn new(cfg: PingerConfig, start: Instant) -> Self {
        let finished = cfg.count == Some(0);
        Self {
            cfg,
            start,
            next_due: Some(start),
            sent: 0,
            last_seq: 0,
            window: VecDeque::new(),
            paths: [PathStats::new(), PathStats::new()],
            version: None,
            finished,
        }
    }

    /// The configuration.
    pub fn config(&self) -> &PingerConfig {
        &self.cfg
    }

    /// When the client started.
    pub fn start(&self) -> Instant {
        self.start
    }

    /// Queries sent so far.
    pub fn sent(&self) -> u64 {
        self.sent
    }

    /// What a path brought so far.
    pub fn stats(&self, path: Path) -> &PathStats {
        &self.paths[path.index()]
    }

    /// The server's version, once a reply carried it.
    pub fn server_version(&self) -> Option<&str> {
        self.version.as_deref()
    }

    /// Whether every query has been sent (never, without a count).
    pub fn all_sent(&self) -> bool {
        self.cfg.count.is_some_and(|c| self.sent >= c)
    }

    /// Whether the client is done: every query sent, and every reply in or the linger after
    /// the last query passed (see [`handle_timeout`](Self::handle_timeout)), or
    /// [`finish`](Self::finish) was called.
    pub fn is_finished(&self) -> bool {
        self.finished
    }

    /// Stops the client: no more queries, [`is_finished`](Self::is_finished) from now on.
    pub fn finish(&mut self) {
        self.finished = true;
    }

    /// Writes the next query into `buf` (cleared first) when it is due at `now`, and returns
    /// it; `wall_ns` (the wall clock, nanoseconds since the Unix epoch) is its `TIMESTAMP`.
    /// The queries follow the absolute schedule `start + k * interval`, so the pace does not
    /// drift; a caller that falls behind gets the queries it owes one call at a time.
    ///
    /// # When to call
    ///
    /// Call it until it returns `None`: once after [`Pinger::new`], and whenever the deadline
    /// from [`poll_timeout`](Self::poll_timeout) has passed.
    pub fn poll_transmit(
        &mut self,
        now: Instant,
        wall_ns: u64,
        buf: &mut Vec<u8>,
    ) -> Option<Query> {
        if self.finished || self.all_sent() {
            return None;
        }
        let due = self.next_due?;
        if now < due {
            return None;
        }
        let seq = self.last_seq.wrapping_add(1);
        let repr = MessageRepr {
            pid: Some(self.cfg.pid),
            seq: Some(seq),
            timestamp: Some(Timestamp::from_unix_ns(wall_ns)),
            request_version: self.cfg.request_version,
            reply_size: self.cfg.reply_size,
            group: Some(self.cfg.group.addr()),
            ..MessageRepr::new(Kind::Query)
        };
        // A query without a version string cannot be too long for its fields.
        let len = super::encode(&repr, buf).ok()?;
        self.last_seq = seq;
        self.sent += 1;
        self.next_due = due.checked_add(self.cfg.interval);
        if self.window.len() == WINDOW {
            self.window.pop_front();
        }
        self.window.push_back(Sent {
            at: now,
            answered: [false; 2],
        });
        Some(Query { seq, len })
    }

    /// When something is due next: the next query, or once every query is sent, the end of
    /// the linger after the last one. `None` once finished.
    ///
    /// # When to call
    ///
    /// After draining [`poll_transmit`](Self::poll_transmit) and after every
    /// [`handle_datagram`](Self::handle_datagram), to know how long to wait.
    pub fn poll_timeout(&self) -> Option<Instant> {
        if self.finished {
            return None;
        }
        if self.all_sent() {
            return Some(self.linger_end());
        }
        // A schedule past the end of `Instant` sends nothing more: wait for the linger.
        Some(self.next_due.unwrap_or_else(|| self.linger_end()))
    }

    fn linger_end(&self) -> Instant {
        let last = self.window.back().map_or(self.start, |s| s.at);
        last.checked_add(self.cfg.linger).unwrap_or(last)
    }

    /// Notes that time passed: once every query is sent and the linger after the last one has
    /// passed at `now`, the client is finished.
    pub fn handle_timeout(&mut self, now: Instant) {
        if self.all_sent() && now >= self.linger_end() {
            self.finished = true;
        }
    }

    /// Takes a datagram that arrived at `now` by `path` from `source`, with the TTL / hop
    /// limit `hop_limit` when the caller knows it. A reply to one of the latest [`WINDOW`]
    /// queries is counted (once per path: a repeat is marked `duplicate`) and returned with
    /// its round trip time; anything else is returned as [`Ignored`], uncounted.
    pub fn handle_datagram<'a>(
        &mut self,
        now: Instant,
        path: Path,
        source: IpAddr,
        hop_limit: Option<u8>,
        bytes: &'a [u8],
    ) -> Result<Reply<'a>, Ignored> {
        let repr = MessageRepr::parse(bytes).map_err(Ignored::Malformed)?;
        if repr.kind != Kind::Reply {
            return Err(Ignored::NotAReply);
        }
        if source != self.cfg.server {
            return Err(Ignored::WrongHost(source));
        }
        if repr.pid != Some(self.cfg.pid) {
            return Err(Ignored::OtherClient(repr.pid));
        }
        let seq = repr.seq.ok_or(Ignored::NoSeq)?;
        // How many queries back: 0 for the latest.
        let back = self.last_seq.wrapping_sub(seq) as usize;
        let idx = self
            .window
            .len()
            .checked_sub(back + 1)
            .ok_or(Ignored::UnknownSeq(seq))?;
        let sent = &mut self.window[idx];
        let rtt = now.saturating_duration_since(sent.at);
        let duplicate = std::mem::replace(&mut sent.answered[path.index()], true);
        let stats = &mut self.paths[path.index()];
        if duplicate {
            stats.duplicates += 1;
        } else {
            stats.record(seq, rtt);
        }
        let version = repr.version.and_then(|v| std::str::from_utf8(v).ok());
        if let (None, Some(v)) = (&self.version, version) {
            self.version = Some(v.to_owned());
        }
        if self.all_sent() && self.paths.iter().all(|p| p.received >= self.sent) {
            self.finished = true;
        }
        Ok(Reply {
            path,
            seq,
            rtt,
            hop_limit,
            distance: hop_limit.map(distance),
            len: bytes.len(),
            duplicate,
            version,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ssmping::{default_group, Timestamp};

    const SERVER: &str = "192.0.2.1";
    const WALL: u64 = 1_700_000_000_000_000_000;

    fn server() -> IpAddr {
        SERVER.parse().unwrap()
    }

    fn pinger(count: Option<u64>, interval_ms: u64) -> (Pinger, Instant) {
        let mut cfg = PingerConfig::new(server(), default_group(false), 42);
        cfg.count = count;
        cfg.interval = Duration::from_millis(interval_ms);
        let start = crate::session::test_origin();
        (Pinger::new(cfg, start), start)
    }

    /// The server's answer to a query: 'A' for 'Q'.
    fn answer(query: &[u8]) -> Vec<u8> {
        let mut r = query.to_vec();
        r[0] = b'A';
        r
    }

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn queries_follow_the_absolute_schedule() {
        let (mut p, t0) = pinger(Some(3), 100);
        let mut buf = Vec::new();
        let q = p.poll_transmit(t0, WALL, &mut buf).unwrap();
        assert_eq!(q.seq, 1);
        let repr = MessageRepr::parse(&buf[..q.len]).unwrap();
        assert_eq!(repr.kind, Kind::Query);
        assert_eq!(repr.pid, Some(42));
        assert_eq!(repr.group, Some(default_group(false).addr()));
        assert_eq!(repr.timestamp, Some(Timestamp::from_unix_ns(WALL)));
        assert!(p.poll_transmit(t0, WALL, &mut buf).is_none());
        assert_eq!(p.poll_timeout(), Some(t0 + ms(100)));
        // Late by 30 ms: the next one is still due at 200 ms, not 230.
        assert_eq!(
            p.poll_transmit(t0 + ms(130), WALL, &mut buf).unwrap().seq,
            2
        );
        assert_eq!(p.poll_timeout(), Some(t0 + ms(200)));
        assert_eq!(
            p.poll_transmit(t0 + ms(200), WALL, &mut buf).unwrap().seq,
            3
        );
        assert!(p.all_sent());
        assert!(p.poll_transmit(t0 + ms(900), WALL, &mut buf).is_none());
        // The linger (1 s) runs from the last query.
        assert_eq!(p.poll_timeout(), Some(t0 + ms(1200)));
        p.handle_timeout(t0 + ms(1199));
        assert!(!p.is_finished());
        p.handle_timeout(t0 + ms(1200));
        assert!(p.is_finished());
        assert_eq!(p.poll_timeout(), None);
        assert_eq!(p.stats(Path::Unicast).lost(p.sent()), 3);
    }

    #[test]
    fn a_zero_interval_sends_every_query_at_once() {
        let (mut p, t0) = pinger(Some(4), 0);
        let mut buf = Vec::new();
        let seqs: Vec<u32> = std::iter::from_fn(|| p.poll_transmit(t0, WALL, &mut buf))
            .map(|q| q.seq)
            .collect();
        assert_eq!(seqs, [1, 2, 3, 4]);
    }

    #[test]
    fn replies_are_matched_counted_and_timed_per_path() {
        let (mut p, t0) = pinger(Some(2), 100);
        let mut buf = Vec::new();
        let q1 = p.poll_transmit(t0, WALL, &mut buf).unwrap();
        let r1 = answer(&buf[..q1.len]);
        let q2 = p.poll_transmit(t0 + ms(100), WALL, &mut buf).unwrap();
        let r2 = answer(&buf[..q2.len]);
        let s = server();

        let u = p
            .handle_datagram(t0 + ms(3), Path::Unicast, s, Some(60), &r1)
            .unwrap();
        assert_eq!(
            (u.seq, u.rtt, u.distance, u.duplicate),
            (1, ms(3), Some(4), false)
        );
        let dup = p
            .handle_datagram(t0 + ms(4), Path::Unicast, s, None, &r1)
            .unwrap();
        assert!(dup.duplicate);
        let m = p
            .handle_datagram(t0 + ms(5), Path::Multicast, s, Some(64), &r1)
            .unwrap();
        assert!(!m.duplicate, "each path counts on its own");
        // The reply to the second query, 1 ms after it.
        let u2 = p
            .handle_datagram(t0 + ms(101), Path::Unicast, s, None, &r2)
            .unwrap();
        assert_eq!((u2.seq, u2.rtt), (2, ms(1)));
        assert!(!p.is_finished(), "the second multicast reply is missing");
        p.handle_datagram(t0 + ms(102), Path::Multicast, s, None, &r2)
            .unwrap();
        assert!(p.is_finished(), "every reply is in: no linger");

        let uni = p.stats(Path::Unicast);
        assert_eq!((uni.received(), uni.duplicates(), uni.lost(2)), (2, 1, 0));
        let rtt = uni.rtt().unwrap();
        assert_eq!((rtt.samples, rtt.min, rtt.max), (2, ms(1), ms(3)));
        // A percentile is its bucket's highest value (within 0.1 %), but never above max.
        assert!(rtt.p50 >= ms(1) && rtt.p50 < ms(1) * 1001 / 1000, "{rtt:?}");
        assert_eq!(rtt.p99, ms(3));
        let multi = p.stats(Path::Multicast);
        assert_eq!((multi.received(), multi.first_seq()), (2, Some(1)));
        assert_eq!(multi.rtt().unwrap().max, ms(5));
    }

    #[test]
    fn strangers_are_ignored_uncounted() {
        let (mut p, t0) = pinger(Some(1), 100);
        let mut buf = Vec::new();
        let q = p.poll_transmit(t0, WALL, &mut buf).unwrap();
        let query = buf[..q.len].to_vec();
        let reply = answer(&query);
        let s = server();
        let now = t0 + ms(1);
        let mut ignored = |path, from: IpAddr, bytes: &[u8]| {
            p.handle_datagram(now, path, from, None, bytes).unwrap_err()
        };
        assert_eq!(ignored(Path::Unicast, s, &query), Ignored::NotAReply);
        let other: IpAddr = "198.51.100.7".parse().unwrap();
        assert_eq!(
            ignored(Path::Multicast, other, &reply),
            Ignored::WrongHost(other)
        );
        assert!(matches!(
            ignored(Path::Unicast, s, b"A\x00"),
            Ignored::Malformed(_)
        ));
        let someone_else = MessageRepr {
            pid: Some(7),
            seq: Some(1),
            ..MessageRepr::new(Kind::Reply)
        };
        let mut bytes = Vec::new();
        crate::ssmping::encode(&someone_else, &mut bytes).unwrap();
        assert_eq!(
            ignored(Path::Multicast, s, &bytes),
            Ignored::OtherClient(Some(7))
        );
        let future = MessageRepr {
            pid: Some(42),
            seq: Some(9),
            ..MessageRepr::new(Kind::Reply)
        };
        crate::ssmping::encode(&future, &mut bytes).unwrap();
        assert_eq!(ignored(Path::Unicast, s, &bytes), Ignored::UnknownSeq(9));
        let no_seq = MessageRepr {
            pid: Some(42),
            ..MessageRepr::new(Kind::Reply)
        };
        crate::ssmping::encode(&no_seq, &mut bytes).unwrap();
        assert_eq!(ignored(Path::Unicast, s, &bytes), Ignored::NoSeq);
        assert_eq!(p.stats(Path::Unicast).received(), 0);
        assert_eq!(p.stats(Path::Multicast).received(), 0);
    }

    #[test]
    fn the_window_forgets_old_queries_and_seq_wraps() {
        let (mut p, t0) = pinger(None, 0);
        let mut buf = Vec::new();
        let q = p.poll_transmit(t0, WALL, &mut buf).unwrap();
        let first = answer(&buf[..q.len]);
        for _ in 0..WINDOW {
            let _ = p.poll_transmit(t0, WALL, &mut buf).unwrap();
        }
        assert_eq!(
            p.handle_datagram(t0, Path::Unicast, server(), None, &first),
            Err(Ignored::UnknownSeq(1))
        );
        // Past u32::MAX the numbers wrap and still match.
        p.last_seq = u32::MAX - 1;
        let a = p.poll_transmit(t0, WALL, &mut buf).unwrap();
        assert_eq!(a.seq, u32::MAX);
        let b = p.poll_transmit(t0, WALL, &mut buf).unwrap();
        assert_eq!(b.seq, 0);
        let reply = answer(&buf[..b.len]);
        assert_eq!(
            p.handle_datagram(t0, Path::Unicast, server(), None, &reply)
                .unwrap()
                .seq,
            0
        );
    }

    #[test]
    fn version_requests_and_reply_sizes_go_into_the_query() {
        let mut cfg = PingerConfig::new(server(), default_group(true), 1);
        cfg.request_version = true;
        cfg.reply_size = Some(100);
        cfg.count = Some(1);
        let t0 = crate::session::test_origin();
        let mut p = Pinger::new(cfg, t0);
        let mut buf = Vec::new();
        let q = p.poll_transmit(t0, WALL, &mut buf).unwrap();
        let repr = MessageRepr::parse(&buf[..q.len]).unwrap();
        assert!(repr.request_version);
        assert_eq!(repr.reply_size, Some(100));
        let reply = MessageRepr {
            kind: Kind::Reply,
            version: Some(b"0.9.1 (20080418) [asm][size]"),
            ..repr
        };
        let mut bytes = Vec::new();
        crate::ssmping::encode(&reply, &mut bytes).unwrap();
        let r = p
            .handle_datagram(t0, Path::Unicast, server(), None, &bytes)
            .unwrap();
        assert_eq!(r.version, Some("0.9.1 (20080418) [asm][size]"));
        assert_eq!(p.server_version(), Some("0.9.1 (20080418) [asm][size]"));
    }

    #[test]
    fn count_zero_is_finished_and_finish_stops_sending() {
        let (p, _) = pinger(Some(0), 100);
        assert!(p.is_finished());
        let (mut p, t0) = pinger(None, 100);
        p.finish();
        assert!(p.poll_transmit(t0, WALL, &mut Vec::new()).is_none());
        assert_eq!(p.poll_timeout(), None);
    }
}
