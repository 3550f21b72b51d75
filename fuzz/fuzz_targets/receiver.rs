#![no_main]
//! The receiver session fed arbitrary datagram sequences: a run is a configuration (small
//! windows and tables, so eviction and the queue limits are reached) and then steps, each a
//! datagram (a time step, a source, a destination, and either raw bytes or a crafted frame,
//! end-of-session frame or iperf2 header, perhaps cut short or with a byte flipped), a timer,
//! a host-drop report or a look at the stats.
//!
//! Some runs name the joined groups (datagrams to anything else are stray) and some hold a key
//! (then most frames are signed with it, and whatever fails authentication is rejected).
//!
//! Besides "no panic", the counters must agree with what went in: every datagram is counted
//! once as what `handle_datagram` said it was (stray and rejected ones in their own counts and
//! nowhere else), the per-group and per-stream counts add up to
//! the totals, no event is dropped while the queue has room for one step's events, no frame
//! makes more loss than `max_jump` (or the window) allows, no delay beyond `max_delay` is
//! measured, and a stream that saw nothing out of the ordinary obeys the receiver's documented
//! identity `received = (highest - lowest + 1) - lost + duplicates`.
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::{Duration, Instant};

use libfuzzer_sys::fuzz_target;
use mcast_core::addr::Group;
use mcast_core::auth::{Authenticator, Key};
use mcast_core::frame::{self, Flags, FrameRepr, Seq, SessionId};
use mcast_core::session::iperf::IPERF_SESSION;
use mcast_core::session::{Datagram, Event, Receiver, ReceiverConfig, Stats};
use mcast_core::RecvMeta;
use mcast_fuzz::Input;

/// The wall clock at the start of a run (2023-11-14), in ns since the Unix epoch.
const WALL0: u64 = 1_700_000_000_000_000_000;

/// The most events one step can queue: a report, two gaps and a stream end.
const EVENTS_PER_STEP: usize = 4;

/// What the run fed in, by what the receiver said each datagram was.
#[derive(Debug, Default)]
struct Tally {
    raw: u64,
    framed: u64,
    malformed: u64,
    end_frames: u64,
    /// Not sent to a joined group.
    stray: u64,
    /// Failed authentication, under a key.
    rejected: u64,
    /// Bytes of the datagrams that count as data (not end-of-session frames).
    bytes: u64,
    host_drops: u64,
}

// The struct update is there for fields added later: they keep their defaults.
#[allow(clippy::needless_update)]
fn config(input: &mut Input<'_>) -> ReceiverConfig {
    // The fields are read from the input in the order written.
    ReceiverConfig {
        report_interval: input.pick(&[
            None,
            Some(Duration::from_millis(1)),
            Some(Duration::from_millis(100)),
        ]),
        window: input.pick(&[64, 100, 1024, 4096]),
        max_streams: 1 + usize::from(input.below(6)),
        max_groups: 1 + usize::from(input.below(6)),
        max_events: input.pick(&[1, EVENTS_PER_STEP, 4096]),
        detect_frames: input.below(8) != 0,
        max_jump: input.pick(&[1, 64, 1000, 1 << 24, u64::MAX]),
        detect_iperf: input.bool(),
        max_delay: input.pick(&[
            Duration::from_millis(1),
            Duration::from_secs(1),
            Duration::from_secs(3600),
        ]),
        groups: match input.below(3) {
            0 => Vec::new(),
            1 => vec![Group::v4_const(Ipv4Addr::new(239, 1, 1, 1))],
            _ => vec![
                Group::v4_const(Ipv4Addr::new(239, 1, 1, 1)),
                Group::v4_const(Ipv4Addr::new(239, 1, 1, 2)),
            ],
        },
        key: (input.below(4) == 0).then(|| Key::from_bytes([7; 32])),
        ..ReceiverConfig::default()
    }
}

/// A datagram's bytes: raw, a frame, an end-of-session frame or an iperf2 header.
fn datagram(input: &mut Input<'_>, wall: u64, signer: Option<&Authenticator>, buf: &mut Vec<u8>) {
    buf.clear();
    let kind = input.below(6);
    if kind == 0 {
        buf.extend_from_slice(input.bytes(1500));
        return;
    }
    let seq = match input.below(5) {
        0 => u64::from(input.u8()),
        1 => u64::from(input.u16()),
        2 => u64::MAX - u64::from(input.u8()),
        3 => (1 << 24) + u64::from(input.u8()),
        _ => input.u64(),
    };
    let sent_at_ns = match input.below(4) {
        0 => wall.saturating_sub(u64::from(input.u16()) * 1000),
        1 => wall + u64::from(input.u16()),
        2 => 0,
        _ => input.u64(),
    };
    if kind == 5 {
        // An iperf2 header: id, tv_sec, tv_usec, id2; a negative id ends the stream.
        let id = if input.bool() {
            seq as u32
        } else {
            (seq as u32).wrapping_neg()
        };
        let usec = u32::from(input.u16()) * 16;
        buf.extend_from_slice(&id.to_be_bytes());
        buf.extend_from_slice(&((sent_at_ns / 1_000_000_000) as u32).to_be_bytes());
        buf.extend_from_slice(&usec.to_be_bytes());
        buf.extend_from_slice(&input.pick(&[0u32, 0xffff_ffff, 1]).to_be_bytes());
        buf.extend_from_slice(input.bytes(64));
        return;
    }
    let session = input.pick(&[SessionId(1), SessionId(2), SessionId(3), IPERF_SESSION]);
    let first = [0u8; 8];
    let end_payload;
    let mut repr = FrameRepr {
        flags: input.pick(&[
            Flags::empty(),
            Flags::empty(),
            Flags::PROBE,
            Flags::ANSWER,
            Flags(0x80),
        ]),
        session,
        seq: Seq(seq),
        sent_at_ns,
        payload: input.bytes(64),
        tag: None,
    };
    if kind == 4 {
        // An end-of-session frame, most of them well-formed.
        let first_seq = match input.below(3) {
            0 => seq.saturating_sub(u64::from(input.u16())),
            1 => 0,
            _ => input.u64(),
        };
        end_payload = first_seq.to_be_bytes();
        repr.flags = Flags::END;
        repr.payload = if input.below(8) == 0 {
            &first[..input.below(8).into()]
        } else {
            &end_payload
        };
    }
    if input.below(4) == 0 {
        repr.tag = Some(input.bytes(32));
    }
    match signer {
        // Under a key, most frames are signed with it (the AUTH flag and a 16-byte tag).
        Some(signer) if input.below(4) != 0 => {
            repr.tag = None;
            signer
                .encode(&repr, buf)
                .expect("a frame of at most 96 bytes encodes");
        }
        _ => {
            frame::encode(&repr, buf).expect("a frame of at most 96 bytes encodes");
        }
    }
    // Now and then damaged on the way: cut short or one byte changed.
    match input.below(8) {
        0 => buf.truncate(usize::from(input.u8()) % (buf.len() + 1)),
        1 => {
            let i = usize::from(input.u8()) % buf.len();
            buf[i] ^= input.u8() | 1;
        }
        _ => {}
    }
}

fn destination(input: &mut Input<'_>) -> Option<IpAddr> {
    input.pick(&[
        None,
        Some(IpAddr::V4(Ipv4Addr::new(239, 1, 1, 1))),
        Some(IpAddr::V4(Ipv4Addr::new(239, 1, 1, 2))),
        Some(IpAddr::V4(Ipv4Addr::new(127, 0, 0, 1))),
        Some(IpAddr::V6(Ipv6Addr::new(0xff15, 0, 0, 0, 0, 0, 0, 1))),
    ])
}

fn check(s: &Stats, t: &Tally, c: &ReceiverConfig) {
    assert_eq!(
        (s.raw, s.framed, s.malformed, s.end_frames),
        (t.raw, t.framed, t.malformed, t.end_frames),
        "raw, framed, malformed and end frames as handle_datagram classified them"
    );
    assert_eq!(s.datagrams, t.raw + t.framed + t.malformed, "{s:?}");
    assert_eq!(s.stray.total(), t.stray, "{s:?}");
    assert_eq!(s.auth.is_some(), c.key.is_some());
    assert_eq!(s.auth.map_or(0, |a| a.dropped()), t.rejected, "{s:?}");
    assert_eq!(s.bytes, t.bytes);
    assert_eq!(s.host_drops, t.host_drops);
    assert!(s.groups.len() <= c.max_groups);
    let group_datagrams: u64 = s.groups.iter().map(|g| g.datagrams).sum();
    assert_eq!(group_datagrams + s.groups_untracked, s.datagrams, "{s:?}");
    assert!(s.streams.len() <= c.max_streams.max(1));
    assert!(s.streams_ended <= s.end_frames);
    if c.max_events >= EVENTS_PER_STEP {
        assert_eq!(
            s.events_dropped, 0,
            "the queue was drained after every step"
        );
    }
    // The receiver's totals saturate; so does this sum.
    let sum = |f: fn(&mcast_core::session::StreamStats) -> u64| -> u64 {
        let total: u128 = s.streams.iter().map(|x| u128::from(f(x))).sum();
        u64::try_from(total).unwrap_or(u64::MAX)
    };
    let tracked = (
        sum(|x| x.received),
        sum(|x| x.lost),
        sum(|x| x.duplicates),
        sum(|x| x.reordered),
        sum(|x| x.stale),
    );
    let totals = (s.framed, s.lost, s.duplicates, s.reordered, s.stale);
    if s.streams_evicted == 0 {
        assert_eq!(tracked, totals, "streams add up to the totals: {s:?}");
    } else {
        assert!(tracked.0 <= totals.0 && tracked.1 <= totals.1 && tracked.2 <= totals.2);
    }
    // The total also counts end frames of unknown streams too long to believe.
    assert!(sum(|x| x.suspect) <= s.suspect, "{s:?}");
    // No frame can claim more loss than the receiver lets it: a data frame adds at most
    // `max_jump` (a gap) or a window's worth (a late frame below the lowest, a new epoch), an
    // end-of-session frame two gaps of at most `max_jump` each (its stream's tail and head).
    let window = c.window.next_multiple_of(64).clamp(64, 1 << 24);
    let per_frame = u128::from(c.max_jump.max(window));
    let frames = u128::from(s.framed) + 2 * u128::from(s.end_frames);
    assert!(
        u128::from(s.lost) <= frames * per_frame,
        "{} lost from {} frames and {} end frames: {s:?}",
        s.lost,
        s.framed,
        s.end_frames
    );
    for st in &s.streams {
        assert!(st.first_seq <= st.highest_seq, "{st:?}");
        if let Some(d) = st.delay {
            // Delays beyond `max_delay` are discarded, never measured.
            let limit = c.max_delay.as_nanos();
            assert!(u128::from(d.min_ns.unsigned_abs()) <= limit, "{d:?}");
            assert!(u128::from(d.max_ns.unsigned_abs()) <= limit, "{d:?}");
        }
        if let Some(d) = st.delay {
            assert!(
                d.samples > 0 && d.min_ns <= d.mean_ns && d.mean_ns <= d.max_ns,
                "{d:?}"
            );
        }
        let ordinary = st.stale == 0 && st.suspect == 0 && st.epochs == 0 && st.end.is_none();
        if ordinary && st.received > 0 {
            let span = u128::from(st.highest_seq.0 - st.first_seq.0) + 1;
            assert_eq!(
                u128::from(st.received) + u128::from(st.lost),
                span + u128::from(st.duplicates),
                "received = (highest - lowest + 1) - lost + duplicates: {st:?}"
            );
        }
    }
    if let Some(p) = s.delay {
        assert!(p.min_ns <= p.p50_ns && p.p50_ns <= p.p90_ns && p.p90_ns <= p.p99_ns);
        assert!(p.p99_ns <= p.max_ns, "{p:?}");
    }
}

fuzz_target!(|data: &[u8]| {
    let mut input = Input::new(data);
    let config = config(&mut input);
    let origin = Instant::now();
    let mut now = origin;
    let mut wall = WALL0;
    let mut rx = Receiver::new(config.clone(), now);
    let mut tally = Tally::default();
    let mut buf = Vec::new();
    let signer = config.key.as_ref().map(Authenticator::new);
    let mut steps = 0;
    while !input.is_empty() && steps < 10_000 {
        steps += 1;
        let dt = Duration::from_micros(u64::from(input.u16()));
        now += dt;
        wall += dt.as_nanos() as u64;
        match input.below(8) {
            0..=4 => {
                let source = input.endpoint();
                let destination = destination(&mut input);
                datagram(&mut input, wall, signer.as_ref(), &mut buf);
                let meta = RecvMeta::new(source, buf.len()).with_destination(destination);
                let data = match rx.handle_datagram(now, wall, meta, &buf) {
                    Datagram::Raw(bytes) => {
                        assert_eq!(bytes, &buf[..]);
                        tally.raw += 1;
                        true
                    }
                    Datagram::Framed { frame, .. } => {
                        // A frame (or an iperf2 datagram seen as one) of these very bytes.
                        assert!(frame.payload.len() <= buf.len());
                        tally.framed += 1;
                        true
                    }
                    Datagram::Malformed(_) => {
                        tally.malformed += 1;
                        true
                    }
                    Datagram::End { end, .. } => {
                        assert!(end.first <= end.end, "{end:?}");
                        tally.end_frames += 1;
                        false
                    }
                    Datagram::Stray { bytes, .. } => {
                        assert_eq!(bytes, &buf[..]);
                        tally.stray += 1;
                        false
                    }
                    Datagram::Rejected(_) => {
                        assert!(config.key.is_some(), "only a keyed receiver rejects");
                        tally.rejected += 1;
                        false
                    }
                };
                // End-of-session frames are the protocol's, stray and rejected datagrams
                // nobody's: only the rest is data.
                if data {
                    tally.bytes += buf.len() as u64;
                }
            }
            5 => {
                rx.handle_timeout(now);
                if config.report_interval.is_some() {
                    let next = rx.poll_timeout();
                    assert!(next.is_none_or(|t| t > now), "the next report is later");
                }
            }
            6 => {
                let total = u64::from(input.u16());
                rx.handle_host_drops(total);
                tally.host_drops = tally.host_drops.max(total);
            }
            _ => check(&rx.stats(), &tally, &config),
        }
        while let Some(event) = rx.poll_event() {
            match event {
                Event::Gap { first, count, .. } => {
                    assert!(count > 0);
                    assert!(
                        first.0.checked_add(count - 1).is_some(),
                        "{first:?}+{count}"
                    );
                }
                Event::Report(stats) => {
                    assert!(stats.datagrams <= tally.raw + tally.framed + tally.malformed)
                }
                _ => {}
            }
        }
    }
    check(&rx.stats(), &tally, &config);
});
