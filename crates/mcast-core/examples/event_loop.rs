//! A hand-written event loop around mcast-core's sender and receiver, over a simulated network
//! and a virtual clock: no socket, no sleeping, the same result on every run.
//!
//! The sender sends 100 framed datagrams, one every 10 ms. The "network" between the two
//! delays each by 2 ms, loses every 13th, delivers every 17th twice and holds every 7th back
//! by 15 ms (so it arrives after later ones). The loop is the one an adapter writes, with the
//! socket replaced by a queue:
//!
//! 1. drain `Sender::poll_transmit` into the network;
//! 2. hand every datagram the network delivers by now to `Receiver::handle_datagram`;
//! 3. drain `Receiver::poll_event`;
//! 4. move the clock to the earliest of `Sender::poll_timeout`, `Receiver::poll_timeout` and
//!    the network's next delivery, and call both `handle_timeout`s.
//!
//! It prints the events and the receiver's totals, and exits 1 unless the receiver counted
//! exactly what the network did.
//!
//! ```text
//! cargo run -p mcast-core --example event_loop
//! ```

use std::collections::BTreeMap;
use std::net::{Ipv4Addr, SocketAddr};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use mcast_core::addr::{Group, GroupAddr};
use mcast_core::session::{Event, Receiver, ReceiverConfig, Sender, SenderConfig, SessionId};
use mcast_core::RecvMeta;

const GROUP: Group = Group::v4_const(Ipv4Addr::new(239, 255, 70, 2));
const COUNT: u64 = 100;
const DELAY: Duration = Duration::from_millis(2);
const HOLD_BACK: Duration = Duration::from_millis(15);
/// The wall clock at the start, in ns since the Unix epoch (virtual, like the rest).
const WALL0: u64 = 1_700_000_000_000_000_000;

/// A network that delays, loses, duplicates and reorders, deterministically.
#[derive(Default)]
struct Network {
    /// Datagrams in flight by delivery time (and arrival order among equal times).
    in_flight: BTreeMap<(Instant, u64), Vec<u8>>,
    sent: u64,
    lost: u64,
    duplicated: u64,
    held_back: u64,
}

impl Network {
    fn send(&mut self, now: Instant, datagram: &[u8]) {
        self.sent += 1;
        let n = self.sent;
        if n % 13 == 0 {
            self.lost += 1;
            return;
        }
        let mut at = now + DELAY;
        if n % 7 == 0 {
            self.held_back += 1;
            at += HOLD_BACK;
        }
        let copies = if n % 17 == 0 {
            self.duplicated += 1;
            2
        } else {
            1
        };
        for copy in 0..copies {
            self.in_flight.insert((at, n * 2 + copy), datagram.to_vec());
        }
    }

    /// The next datagram due by `now`.
    fn deliver(&mut self, now: Instant) -> Option<Vec<u8>> {
        let (&key, _) = self.in_flight.first_key_value()?;
        (key.0 <= now).then(|| self.in_flight.remove(&key).unwrap_or_default())
    }

    fn next_delivery(&self) -> Option<Instant> {
        self.in_flight.first_key_value().map(|(&(at, _), _)| at)
    }
}

/// The only clock read: an origin for virtual time (`Instant` has no other constructor).
#[allow(clippy::disallowed_methods)]
fn origin() -> Instant {
    Instant::now()
}

fn main() -> ExitCode {
    let t0 = origin();
    let wall = |now: Instant| WALL0 + u64::try_from((now - t0).as_nanos()).unwrap_or(u64::MAX);
    let source = SocketAddr::from(([192, 0, 2, 1], 40000));

    let mut tx = Sender::new(SenderConfig {
        session: SessionId::from(7),
        framed: true,
        count: Some(COUNT),
        interval: Some(Duration::from_millis(10)),
        ..SenderConfig::new(GroupAddr::new(GROUP, 50001))
    });
    let mut rx = Receiver::new(
        ReceiverConfig {
            report_interval: Some(Duration::from_millis(250)),
            groups: vec![GROUP],
            ..ReceiverConfig::default()
        },
        t0,
    );
    let mut net = Network::default();
    let mut buf = Vec::new();
    let mut now = t0;

    // Bounded: far more turns than 100 datagrams, their end frames and reports need.
    for _ in 0..10_000 {
        // 1. The sender's datagrams go into the network (a GSO batch, one by one).
        while let Some(t) = tx.poll_transmit(now, wall(now), b"tick", &mut buf) {
            let segment = t.segment_size.unwrap_or(t.size).max(1);
            for d in buf[..t.size].chunks(segment) {
                net.send(now, d);
            }
        }
        // 2. What arrives by now goes to the receiver, sent to the group.
        while let Some(d) = net.deliver(now) {
            let meta = RecvMeta::new(source, d.len()).with_destination(Some(GROUP.addr()));
            let _ = rx.handle_datagram(now, wall(now), meta, &d);
        }
        // 3. The receiver's events.
        while let Some(event) = rx.poll_event() {
            let at = (now - t0).as_millis();
            match event {
                Event::Report(s) => println!(
                    "{at:>5} ms  report: {} frames, {} lost so far",
                    s.framed, s.lost
                ),
                other => println!("{at:>5} ms  {other:?}"),
            }
        }
        if tx.is_finished() && net.next_delivery().is_none() {
            break;
        }
        // 4. Jump to the next thing that happens.
        let Some(next) = [tx.poll_timeout(), rx.poll_timeout(), net.next_delivery()]
            .into_iter()
            .flatten()
            .min()
        else {
            break;
        };
        now = now.max(next);
        tx.handle_timeout(now);
        rx.handle_timeout(now);
    }

    let stats = rx.stats();
    println!(
        "network: {} sent, {} lost, {} duplicated, {} held back",
        net.sent, net.lost, net.duplicated, net.held_back
    );
    println!(
        "receiver: {} frames, {} lost, {} duplicates, {} reordered, {} end frames, {} streams ended",
        stats.framed, stats.lost, stats.duplicates, stats.reordered, stats.end_frames, stats.streams_ended
    );
    // The network's losses and copies hit data and end frames alike; the receiver's loss and
    // duplicate counts are about data (datagrams 1..=COUNT), end frames are counted apart.
    let data = |every: u64, unless: u64| {
        (1..=COUNT)
            .filter(|n| n % every == 0 && n % unless != 0)
            .count() as u64
    };
    let ok = tx.is_finished()
        && stats.lost == data(13, u64::MAX)
        && stats.duplicates == data(17, 13)
        && stats.reordered > 0
        && stats.streams_ended == 1;
    if !ok {
        eprintln!("event_loop: the receiver's counts do not match the network's");
        return ExitCode::FAILURE;
    }
    ExitCode::SUCCESS
}
