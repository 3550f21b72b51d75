#![no_main]
//! `mcast ping`'s probes and answers: the answer payload decoder on arbitrary bytes (what it
//! takes, it writes back byte for byte), and a `Pinger` fed an arbitrary sequence of steps —
//! time passing, its own probes going out, peers' probes, answers to its probes (true ones,
//! late ones, duplicates, forged ones for probes it never sent, damaged ones) and raw bytes.
//!
//! Besides "no panic": every datagram it sends decodes as a frame, each answer it sends
//! carries a valid answer payload, it counts exactly the answers it sent, no path counts more
//! probes answered than were sent, only round trips within the timeout are measured, and only
//! probes whose time is up are settled.
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use libfuzzer_sys::fuzz_target;
use mcast_core::addr::GroupAddr;
use mcast_core::frame::{self, Flags, FrameRepr, Seq, SessionId};
use mcast_core::ping::{AnswerRepr, PingConfig, PingEvent, Pinger, Via};
use mcast_fuzz::Input;

const WALL0: u64 = 1_700_000_000_000_000_000;
const ME: SessionId = SessionId(7);

fn config(input: &mut Input<'_>) -> PingConfig {
    let group: GroupAddr = "239.1.2.3:5000".parse().expect("a group and port");
    let mut c = PingConfig::new(group, ME);
    c.count = input.pick(&[None, Some(1), Some(3), Some(20)]);
    c.interval = input.pick(&[Duration::from_millis(1), Duration::from_secs(1)]);
    c.timeout = input.pick(&[Duration::from_millis(1), Duration::from_millis(100)]);
    c.size = input.pick(&[0, frame::HEADER_LEN, 64, 300]);
    c.probe = input.below(8) != 0;
    c.answer = input.below(8) != 0;
    c.max_peers = 1 + usize::from(input.below(4));
    c.max_queued = input.pick(&[0, 2, 5, 1024]);
    c
}

/// A frame from a peer: a probe, an answer (to one of `probes` or made up), or other flags.
fn peer_frame(input: &mut Input<'_>, probes: &[(u64, u64)], wall: u64, buf: &mut Vec<u8>) {
    let body;
    let mut repr = FrameRepr {
        flags: Flags::PROBE,
        session: input.pick(&[SessionId(1), SessionId(2), ME]),
        seq: Seq(u64::from(input.u8())),
        sent_at_ns: wall,
        payload: &[],
        tag: None,
    };
    match input.below(4) {
        0 => repr.payload = input.bytes(64),
        1 | 2 => {
            let (seq, sent) = match probes.len() {
                0 => (input.u64(), input.u64()),
                n => probes[usize::from(input.u8()) % n],
            };
            let answer = AnswerRepr {
                probe_session: input.pick(&[ME, ME, ME, SessionId(1)]),
                probe_seq: Seq(match input.below(4) {
                    0 => input.u64(),
                    _ => seq,
                }),
                probe_sent_ns: match input.below(4) {
                    0 => input.u64(),
                    _ => sent,
                },
                via: input.pick(&[Via::Multicast, Via::Unicast]),
            };
            body = answer.to_bytes();
            repr.flags = Flags::ANSWER;
            repr.payload = if input.below(8) == 0 {
                &body[..usize::from(input.below(21))]
            } else {
                &body
            };
        }
        _ => repr.flags = Flags(input.u8() & !Flags::AUTH.0),
    }
    buf.clear();
    frame::encode(&repr, buf).expect("a short frame encodes");
    if input.below(8) == 0 {
        let i = usize::from(input.u8()) % buf.len();
        buf[i] ^= input.u8() | 1;
    }
}

fuzz_target!(|data: &[u8]| {
    let mut input = Input::new(data);

    // The answer payload alone: whatever parses is written back as the same bytes.
    let raw = input.bytes(32);
    if let Some(a) = AnswerRepr::parse(raw) {
        assert_eq!(&a.to_bytes()[..], raw);
    }

    let config = config(&mut input);
    let t0 = Instant::now();
    let (mut now, mut wall) = (t0, WALL0);
    let mut pinger = Pinger::new(config.clone(), now);
    let mut buf = Vec::new();
    let mut out = Vec::new();
    // This pinger's probes as they went out: (seq, sent_at_ns).
    let mut probes: Vec<(u64, u64)> = Vec::new();
    let mut answers_sent = 0u64;
    let mut steps = 0;
    while !input.is_empty() && steps < 5_000 {
        steps += 1;
        let dt = Duration::from_micros(u64::from(input.u16()) * 4);
        now += dt;
        wall += dt.as_nanos() as u64;
        match input.below(7) {
            0 | 1 => {
                let mut sent = 0;
                while let Some(t) = pinger.poll_transmit(now, wall, &mut out) {
                    sent += 1;
                    assert!(sent <= 100_000, "poll_transmit never stops");
                    let f = frame::decode(&out[..t.size]).expect("what it sends is a frame");
                    assert_eq!(f.session, ME);
                    if f.flags.contains(Flags::ANSWER) {
                        assert!(AnswerRepr::parse(f.payload).is_some());
                        answers_sent += 1;
                    } else {
                        assert!(f.flags.contains(Flags::PROBE), "{f:?}");
                        assert_eq!(t.destination, SocketAddr::from(config.group));
                        probes.push((f.seq.0, f.sent_at_ns));
                    }
                }
            }
            2 | 3 => {
                let source = input.endpoint();
                peer_frame(&mut input, &probes, wall, &mut buf);
                pinger.handle_datagram(now, wall, source, &buf);
            }
            4 => {
                let source = input.endpoint();
                let bytes = input.bytes(128);
                pinger.handle_datagram(now, wall, source, bytes);
            }
            5 => match input.below(3) {
                0 => pinger.finish(now),
                _ => pinger.handle_timeout(now),
            },
            _ => {
                let _ = pinger.poll_timeout();
                let _ = pinger.is_finished(now);
            }
        }
        while let Some(event) = pinger.poll_event() {
            if let PingEvent::Answer { rtt, late, .. } = event {
                if !late {
                    assert!(rtt <= config.timeout, "{rtt:?} in time");
                }
            }
        }
    }
    let stats = pinger.stats(now);
    assert_eq!(stats.answers_sent, answers_sent);
    assert_eq!(stats.probes_sent, probes.len() as u64);
    assert!(stats.probes_settled <= stats.probes_sent, "{stats:?}");
    assert!(stats.peers.len() <= config.max_peers);
    for peer in &stats.peers {
        assert!(peer.sent <= stats.probes_settled, "{stats:?}");
        for path in [&peer.multicast, &peer.unicast] {
            assert!(path.received <= stats.probes_sent, "{stats:?}");
            assert_eq!(path.lost, peer.sent.saturating_sub(path.received));
            if let Some(rtt) = path.rtt {
                assert_eq!(rtt.samples, path.received);
                assert!(
                    rtt.min_ns <= rtt.p50_ns && rtt.p99_ns <= rtt.max_ns,
                    "{rtt:?}"
                );
                // Only answers in time are measured (the histogram rounds up by at most 1/1024).
                let timeout = config.timeout.as_nanos();
                assert!(
                    u128::from(rtt.max_ns) <= timeout + timeout / 512 + 1,
                    "{rtt:?}"
                );
            }
        }
    }
});
