//! Sender → netem → receiver on virtual time: the receiver's loss, duplicate and reorder
//! counts match what the emulated network did, deterministically, with no sockets.

mod common;

use std::collections::HashSet;
use std::time::Duration;

use common::netem::{Expected, NetemConfig, SplitMix64};
use common::pair::{Pair, EPOCH_NS};
use mcast_core::session::{Arrival, Stats, StreamStats};

const MS: Duration = Duration::from_millis(1);

fn only_stream(stats: &Stats) -> &StreamStats {
    assert_eq!(stats.streams.len(), 1, "one sender, one session");
    &stats.streams[0]
}

/// Distinct ids the netem dropped that lie between the lowest and highest delivered: the
/// losses a receiver can see.
fn visible_drops(pair: &Pair) -> u64 {
    let log = &pair.netem.log;
    let lo = *log.delivered.iter().min().unwrap();
    let hi = *log.delivered.iter().max().unwrap();
    log.dropped.iter().filter(|&&id| id > lo && id < hi).count() as u64
}

fn assert_matches_netem(pair: &Pair) {
    let stats = pair.receiver.stats();
    let s = only_stream(&stats);
    let log = &pair.netem.log;
    let expected = Expected::from_delivery(&log.delivered);
    assert_eq!(s.received, log.delivered.len() as u64, "received");
    assert_eq!(
        s.lost,
        visible_drops(pair),
        "lost = dropped inside the seen range"
    );
    assert_eq!(s.lost, expected.lost);
    assert_eq!(
        s.duplicates,
        log.duplicated.len() as u64,
        "every duplicate is seen"
    );
    assert_eq!(s.duplicates, expected.duplicates);
    assert_eq!(
        s.reordered, expected.reordered,
        "reordered, from delivery order"
    );
    assert_eq!(s.stale, 0);
    assert_eq!(stats.framed, log.delivered.len() as u64);
    assert_eq!(stats.malformed, 0);
    assert_eq!(pair.netem.in_flight(), 0);
}

#[test]
fn splitmix_is_deterministic_and_spread() {
    let mut a = SplitMix64::new(42);
    let mut b = SplitMix64::new(42);
    let xs: Vec<u64> = (0..100).map(|_| a.next_u64()).collect();
    let ys: Vec<u64> = (0..100).map(|_| b.next_u64()).collect();
    assert_eq!(xs, ys);
    assert_ne!(
        xs,
        (0..100)
            .map(|_| SplitMix64::new(43).next_u64())
            .collect::<Vec<_>>()
    );
    let mean = (0..10_000).map(|_| a.next_f64()).sum::<f64>() / 10_000.0;
    assert!((mean - 0.5).abs() < 0.02, "mean {mean}");
}

#[test]
fn perfect_network_counts_nothing_bad() {
    let mut pair = Pair::framed(1000, MS, NetemConfig::perfect(1));
    pair.drive();
    let stats = pair.receiver.stats();
    let s = only_stream(&stats);
    assert_eq!(
        (s.received, s.lost, s.duplicates, s.reordered),
        (1000, 0, 0, 0)
    );
    assert_eq!((s.first_seq.0, s.highest_seq.0), (0, 999));
    let delay = s.delay.unwrap();
    assert_eq!(
        (delay.min_ns, delay.max_ns),
        (0, 0),
        "no latency, same clock"
    );
    assert!(pair.arrivals[1..].iter().all(|a| *a == Arrival::InOrder));
    assert_eq!(stats.groups[0].datagrams, 1000);
    assert_eq!(
        pair.now - pair.t0,
        999 * MS,
        "virtual time, one interval per datagram"
    );
}

#[test]
fn loss_only() {
    let mut pair = Pair::framed(
        5000,
        MS,
        NetemConfig {
            loss: 0.1,
            ..NetemConfig::perfect(7)
        },
    );
    pair.drive();
    assert_matches_netem(&pair);
    let lost = only_stream(&pair.receiver.stats()).lost;
    assert!((400..=600).contains(&lost), "about 10% of 5000, got {lost}");
    assert_eq!(only_stream(&pair.receiver.stats()).reordered, 0);
}

#[test]
fn duplication_only() {
    let mut pair = Pair::framed(
        5000,
        MS,
        NetemConfig {
            duplicate: 0.05,
            ..NetemConfig::perfect(11)
        },
    );
    pair.drive();
    assert_matches_netem(&pair);
    let s = only_stream(&pair.receiver.stats()).clone();
    assert!(
        (150..=350).contains(&s.duplicates),
        "about 5%, got {}",
        s.duplicates
    );
    assert_eq!((s.lost, s.reordered), (0, 0));
}

#[test]
fn reordering_recovers_every_late_datagram() {
    let mut pair = Pair::framed(
        3000,
        MS,
        NetemConfig {
            latency: 20 * MS,
            reorder: 0.05,
            reorder_delay: 5 * MS,
            ..NetemConfig::perfect(3)
        },
    );
    pair.drive();
    assert_matches_netem(&pair);
    let s = only_stream(&pair.receiver.stats()).clone();
    // Every held-back datagram (but one held back at the very end) arrives late.
    let held = pair.netem.log.held_back.len() as u64;
    assert!(
        s.reordered > 0 && s.reordered <= held,
        "{} of {held}",
        s.reordered
    );
    assert_eq!(s.lost, 0, "late arrivals take back the loss they caused");
    let delay = s.delay.unwrap();
    assert_eq!(delay.min_ns, 20_000_000);
    assert_eq!(delay.max_ns, 25_000_000);
}

#[test]
fn jitter_reorders_and_bounds_delay() {
    let mut pair = Pair::framed(
        3000,
        MS,
        NetemConfig {
            latency: 10 * MS,
            jitter: 3 * MS,
            ..NetemConfig::perfect(5)
        },
    );
    pair.drive();
    assert_matches_netem(&pair);
    let s = only_stream(&pair.receiver.stats()).clone();
    assert!(
        s.reordered > 100,
        "3 ms jitter at 1 ms spacing reorders, got {}",
        s.reordered
    );
    let delay = s.delay.unwrap();
    assert!(
        delay.min_ns >= 10_000_000 && delay.max_ns <= 13_000_000,
        "{delay:?}"
    );
    assert!(
        (11_000_000..12_000_000).contains(&delay.mean_ns),
        "{delay:?}"
    );
}

fn everything(seed: u64) -> NetemConfig {
    NetemConfig {
        seed,
        latency: 15 * MS,
        jitter: 2 * MS,
        loss: 0.05,
        duplicate: 0.03,
        reorder: 0.04,
        reorder_delay: 4 * MS,
    }
}

#[test]
fn loss_dup_reorder_jitter_together_over_many_seeds() {
    for seed in 0..20 {
        let mut pair = Pair::framed(2000, MS, everything(seed));
        pair.drive();
        assert_matches_netem(&pair);
        let s = only_stream(&pair.receiver.stats()).clone();
        assert!(
            s.lost > 0 && s.duplicates > 0 && s.reordered > 0,
            "seed {seed}: {s:?}"
        );
    }
}

// issue #9 — an authenticated stream through loss, duplication, reordering and jitter is
// counted as the plain one is, except that the network's duplicates are dropped as replays.
#[test]
#[cfg(feature = "auth")]
fn an_authenticated_stream_through_everything() {
    use mcast_core::auth::{Key, Rejection};
    use mcast_core::session::{ReceiverConfig, SenderConfig};

    for seed in 0..5 {
        let key = Key::from_bytes([seed as u8; 32]);
        let sender = SenderConfig {
            framed: true,
            interval: Some(MS),
            count: Some(2000),
            end_frames: 0,
            key: Some(key.clone()),
            ..SenderConfig::new("224.1.1.5:50001".parse().unwrap())
        };
        let receiver = ReceiverConfig {
            key: Some(key),
            ..ReceiverConfig::default()
        };
        let mut pair = Pair::new(sender, receiver, everything(seed));
        pair.drive();
        let stats = pair.receiver.stats();
        let s = only_stream(&stats);
        let log = &pair.netem.log;
        let expected = Expected::from_delivery(&log.delivered);
        let auth = stats.auth.unwrap();
        assert!(expected.duplicates > 0, "seed {seed}: the netem duplicated");
        assert_eq!(
            (s.received, s.duplicates, s.replayed),
            (
                expected.received - expected.duplicates,
                0,
                expected.duplicates
            ),
            "seed {seed}"
        );
        assert_eq!((s.lost, s.reordered), (expected.lost, expected.reordered));
        assert_eq!(auth.replayed, expected.duplicates);
        assert_eq!(auth.authenticated, s.received);
        assert_eq!(auth.dropped(), auth.replayed, "nothing else was dropped");
        assert!(pair.rejected.iter().all(|r| *r == Rejection::Replayed));
    }
}

#[test]
fn loss_and_dup_rates_within_one_point() {
    // The "±1 point" figures: 5% loss and 3% duplication over 20,000 datagrams.
    let mut pair = Pair::framed(20_000, MS / 10, everything(2024));
    pair.drive();
    assert_matches_netem(&pair);
    let s = only_stream(&pair.receiver.stats()).clone();
    let sent = pair.sender.datagrams_sent() as f64;
    let loss_pct = 100.0 * s.lost as f64 / sent;
    let unique = (s.received - s.duplicates) as f64;
    let dup_pct = 100.0 * s.duplicates as f64 / unique;
    assert!((loss_pct - 5.0).abs() <= 1.0, "loss {loss_pct:.2}%");
    assert!((dup_pct - 3.0).abs() <= 1.0, "dup {dup_pct:.2}%");
}

#[test]
fn same_seed_same_run_other_seed_other_run() {
    let run = |seed| {
        let mut pair = Pair::framed(1000, MS, everything(seed));
        pair.drive();
        (
            pair.receiver.stats(),
            pair.netem.log.clone(),
            pair.arrivals.clone(),
        )
    };
    assert_eq!(run(99), run(99));
    assert_ne!(run(99).1, run(100).1);
}

#[test]
fn wall_clock_follows_virtual_time() {
    let mut pair = Pair::framed(
        10,
        Duration::from_secs(1),
        NetemConfig {
            latency: 250 * MS,
            ..NetemConfig::perfect(0)
        },
    );
    assert_eq!(pair.wall_ns(), EPOCH_NS);
    pair.drive();
    assert_eq!(pair.now - pair.t0, Duration::from_millis(9250));
    let delay = only_stream(&pair.receiver.stats()).delay.unwrap();
    assert_eq!(
        (delay.min_ns, delay.max_ns, delay.samples),
        (250_000_000, 250_000_000, 10)
    );
}

#[test]
fn unpaced_gso_batches_reach_the_receiver_whole() {
    use mcast_core::session::{ReceiverConfig, SenderConfig};
    let sender = SenderConfig {
        framed: true,
        count: Some(100),
        max_segments: 8,
        ..SenderConfig::new("224.1.1.5:50001".parse().unwrap())
    };
    let mut pair = Pair::new(sender, ReceiverConfig::default(), NetemConfig::perfect(0));
    pair.drive();
    let s = only_stream(&pair.receiver.stats()).clone();
    assert_eq!((s.received, s.lost, s.highest_seq.0), (100, 0, 99));
    let ids: HashSet<u64> = pair.netem.log.delivered.iter().copied().collect();
    assert_eq!(ids.len(), 100);
}

// issue #7 — with end-of-session frames, every datagram the network dropped is counted, the
// ones before the first and after the last delivered included; without them only the drops
// between the first and last delivered are visible.
#[test]
fn end_frames_make_every_drop_count() {
    use mcast_core::session::{ReceiverConfig, SenderConfig};
    for seed in 0..20 {
        let sender = SenderConfig {
            framed: true,
            count: Some(300),
            interval: Some(MS),
            ..SenderConfig::new("224.1.1.5:50001".parse().unwrap())
        };
        let netem = NetemConfig {
            loss: 0.3,
            ..NetemConfig::perfect(seed)
        };
        let mut pair = Pair::new(sender, ReceiverConfig::default(), netem);
        pair.drive();
        assert_eq!(pair.ends_received, 3, "seed {seed}");
        let stats = pair.receiver.stats();
        let s = only_stream(&stats);
        let dropped = pair.netem.log.dropped.len() as u64;
        assert_eq!(s.lost, dropped, "seed {seed}: every drop counted");
        assert!(s.lost >= visible_drops(&pair));
        assert_eq!(s.received + s.lost, 300, "seed {seed}");
        assert_eq!((s.first_seq.0, s.highest_seq.0), (0, 299), "seed {seed}");
        assert_eq!(stats.streams_ended, 1);
        assert!(pair.receiver.all_streams_ended());
    }
}
