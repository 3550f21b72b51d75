//! A sans-IO network emulator in the style of str0m's `netem`: datagrams go in with a send time
//! and come out at their delivery time, after loss, duplication, latency, jitter and
//! reordering drawn from a seeded generator. Everything it did is logged, so tests can compare
//! a receiver's counters with the truth.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::time::{Duration, Instant};

/// SplitMix64: a tiny, well-mixed, seedable generator (Steele, Lea, Flood 2014).
#[derive(Debug, Clone)]
pub struct SplitMix64(u64);

impl SplitMix64 {
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A float in `[0, 1)` from the top 53 bits.
    pub fn next_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Whether an event of probability `p` happens.
    pub fn chance(&mut self, p: f64) -> bool {
        p > 0.0 && self.next_f64() < p
    }

    /// A duration uniform in `[0, max]`.
    pub fn duration_up_to(&mut self, max: Duration) -> Duration {
        let nanos = u64::try_from(max.as_nanos()).unwrap_or(u64::MAX);
        if nanos == 0 {
            Duration::ZERO
        } else {
            Duration::from_nanos(self.next_u64() % (nanos + 1))
        }
    }
}

/// What the emulated network does to each datagram.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct NetemConfig {
    pub seed: u64,
    /// Fixed one-way latency.
    pub latency: Duration,
    /// Extra delay, uniform in `[0, jitter]`, per copy.
    pub jitter: Duration,
    /// Probability that a datagram is dropped.
    pub loss: f64,
    /// Probability that a datagram that was not dropped is delivered twice.
    pub duplicate: f64,
    /// Probability that a copy is held back by `reorder_delay`, so later ones overtake it.
    pub reorder: f64,
    pub reorder_delay: Duration,
}

impl NetemConfig {
    /// A perfect network with no latency.
    pub fn perfect(seed: u64) -> Self {
        Self {
            seed,
            latency: Duration::ZERO,
            jitter: Duration::ZERO,
            loss: 0.0,
            duplicate: 0.0,
            reorder: 0.0,
            reorder_delay: Duration::ZERO,
        }
    }
}

/// What the netem did, by datagram id.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NetemLog {
    pub offered: u64,
    pub dropped: Vec<u64>,
    pub duplicated: Vec<u64>,
    pub held_back: Vec<u64>,
    /// Ids in delivery order (a duplicated id appears twice).
    pub delivered: Vec<u64>,
}

#[derive(Debug, PartialEq, Eq, PartialOrd, Ord)]
struct InFlight {
    at: Instant,
    /// Insertion order breaks ties, so equal delivery times keep send order.
    order: u64,
    id: u64,
    bytes: Vec<u8>,
}

/// The emulator. Datagrams carry an `id` chosen by the caller (the tests use the sequence
/// number), so the log speaks the caller's language.
#[derive(Debug)]
pub struct Netem {
    config: NetemConfig,
    rng: SplitMix64,
    queue: BinaryHeap<Reverse<InFlight>>,
    order: u64,
    pub log: NetemLog,
}

impl Netem {
    pub fn new(config: NetemConfig) -> Self {
        Self {
            rng: SplitMix64::new(config.seed),
            config,
            queue: BinaryHeap::new(),
            order: 0,
            log: NetemLog::default(),
        }
    }

    /// Offers a datagram sent at `now`.
    pub fn send(&mut self, now: Instant, id: u64, bytes: &[u8]) {
        self.log.offered += 1;
        if self.rng.chance(self.config.loss) {
            self.log.dropped.push(id);
            return;
        }
        let copies = if self.rng.chance(self.config.duplicate) {
            self.log.duplicated.push(id);
            2
        } else {
            1
        };
        for _ in 0..copies {
            let mut delay = self.config.latency + self.rng.duration_up_to(self.config.jitter);
            if self.rng.chance(self.config.reorder) {
                self.log.held_back.push(id);
                delay += self.config.reorder_delay;
            }
            self.order += 1;
            self.queue.push(Reverse(InFlight {
                at: now + delay,
                order: self.order,
                id,
                bytes: bytes.to_vec(),
            }));
        }
    }

    /// The next datagram due at `now`, with its id.
    pub fn poll_datagram(&mut self, now: Instant) -> Option<(u64, Vec<u8>)> {
        if self.queue.peek().is_some_and(|Reverse(f)| f.at <= now) {
            let Reverse(f) = self.queue.pop()?;
            self.log.delivered.push(f.id);
            Some((f.id, f.bytes))
        } else {
            None
        }
    }

    /// When the next datagram is due.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.queue.peek().map(|Reverse(f)| f.at)
    }

    pub fn in_flight(&self) -> usize {
        self.queue.len()
    }
}

/// What a receiver should have counted for one stream, worked out from a delivery order with
/// plain sets (no window: use it where nothing arrives more than a window late).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Expected {
    pub received: u64,
    pub lost: u64,
    pub duplicates: u64,
    pub reordered: u64,
}

impl Expected {
    pub fn from_delivery(delivered: &[u64]) -> Self {
        let mut seen = std::collections::HashSet::new();
        let mut highest: Option<u64> = None;
        let mut e = Self::default();
        for &seq in delivered {
            e.received += 1;
            if !seen.insert(seq) {
                e.duplicates += 1;
            } else if highest.is_some_and(|h| seq < h) {
                e.reordered += 1;
            }
            highest = Some(highest.map_or(seq, |h| h.max(seq)));
        }
        if let (Some(lo), Some(hi)) = (seen.iter().min(), seen.iter().max()) {
            e.lost = (hi - lo + 1) - seen.len() as u64;
        }
        e
    }
}
