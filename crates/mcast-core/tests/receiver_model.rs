//! A state-machine property test in firezone's style: random transitions go to the real
//! [`Receiver`] and to a reference model built on plain sets, and their counters must agree
//! after every step.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::time::Duration;

use mcast_core::frame::{self, Flags, FrameRepr, Seq, SessionId};
use mcast_core::session::{Arrival, Datagram, Receiver, ReceiverConfig};
use mcast_core::RecvMeta;
use proptest::prelude::*;

/// The receiver's window in the test: small, so stale arrivals happen.
const WINDOW: u64 = 64;

#[derive(Debug, Clone)]
enum Transition {
    /// A valid frame.
    Frame { source: u8, session: u32, seq: u64 },
    /// A datagram without the magic.
    Raw { len: usize },
    /// A frame cut short: it has the magic but does not parse.
    Truncated {
        source: u8,
        session: u32,
        len: usize,
    },
}

fn transition() -> impl Strategy<Value = Transition> {
    prop_oneof![
        8 => (0..2u8, 0..2u32, 0..200u64)
            .prop_map(|(source, session, seq)| Transition::Frame { source, session, seq }),
        1 => (0..40usize).prop_map(|len| Transition::Raw { len }),
        1 => (0..2u8, 0..2u32, 2..32usize)
            .prop_map(|(source, session, len)| Transition::Truncated { source, session, len }),
    ]
}

fn source(i: u8) -> SocketAddr {
    SocketAddr::from(([10, 0, 0, 1 + i], 5000))
}

fn frame_bytes(session: u32, seq: u64) -> Vec<u8> {
    let repr = FrameRepr {
        flags: Flags::empty(),
        session: SessionId(session),
        seq: Seq(seq),
        sent_at_ns: 0,
        payload: b"model",
        tag: None,
    };
    let mut buf = Vec::new();
    frame::encode(&repr, &mut buf).unwrap();
    buf
}

/// The reference stream: the set of accepted sequence numbers, and counters defined from it.
#[derive(Debug, Default)]
struct ModelStream {
    accepted: BTreeSet<u64>,
    received: u64,
    duplicates: u64,
    reordered: u64,
    stale: u64,
    malformed: u64,
}

impl ModelStream {
    fn highest(&self) -> u64 {
        *self.accepted.last().unwrap()
    }

    fn arrive(&mut self, seq: u64) -> Arrival {
        self.received += 1;
        if self.accepted.is_empty() {
            self.accepted.insert(seq);
            return Arrival::First;
        }
        let highest = self.highest();
        if seq > highest {
            self.accepted.insert(seq);
            return match seq - highest - 1 {
                0 => Arrival::InOrder,
                missing => Arrival::Gap { missing },
            };
        }
        if highest - seq >= WINDOW {
            self.stale += 1;
            Arrival::Stale
        } else if self.accepted.contains(&seq) {
            self.duplicates += 1;
            Arrival::Duplicate
        } else {
            self.accepted.insert(seq);
            self.reordered += 1;
            Arrival::Reordered
        }
    }

    /// By definition: the numbers between the lowest and highest accepted that are missing.
    fn lost(&self) -> u64 {
        let lo = *self.accepted.first().unwrap();
        (self.highest() - lo + 1) - self.accepted.len() as u64
    }
}

#[derive(Debug, Default)]
struct Model {
    streams: BTreeMap<(SocketAddr, SessionId), ModelStream>,
    datagrams: u64,
    raw: u64,
    framed: u64,
    malformed: u64,
}

fn check(rx: &Receiver, model: &Model) -> Result<(), TestCaseError> {
    let stats = rx.stats();
    prop_assert_eq!(stats.datagrams, model.datagrams);
    prop_assert_eq!(stats.raw, model.raw);
    prop_assert_eq!(stats.framed, model.framed);
    prop_assert_eq!(stats.malformed, model.malformed);
    prop_assert_eq!(stats.streams.len(), model.streams.len());
    for (s, ((src, session), m)) in stats.streams.iter().zip(&model.streams) {
        prop_assert_eq!((s.source, s.session), (*src, *session));
        prop_assert_eq!(s.received, m.received);
        prop_assert_eq!(s.lost, m.lost(), "lost");
        prop_assert_eq!(s.duplicates, m.duplicates, "duplicates");
        prop_assert_eq!(s.reordered, m.reordered, "reordered");
        prop_assert_eq!(s.stale, m.stale, "stale");
        prop_assert_eq!(s.malformed, m.malformed, "malformed");
        prop_assert_eq!(s.highest_seq.0, m.highest());
        prop_assert_eq!(s.first_seq.0, *m.accepted.first().unwrap());
    }
    let lost: u64 = model.streams.values().map(ModelStream::lost).sum();
    prop_assert_eq!(stats.lost, lost);
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn receiver_matches_reference_model(
        transitions in proptest::collection::vec(transition(), 1..300),
    ) {
        let t0 = common::time_origin();
        let mut rx = Receiver::new(ReceiverConfig { window: WINDOW, ..ReceiverConfig::default() }, t0);
        let mut model = Model::default();
        for (i, t) in transitions.into_iter().enumerate() {
            let now = t0 + Duration::from_millis(i as u64);
            model.datagrams += 1;
            match t {
                Transition::Frame { source: s, session, seq } => {
                    let bytes = frame_bytes(session, seq);
                    let meta = RecvMeta::new(source(s), bytes.len());
                    let got = rx.handle_datagram(now, 0, meta, &bytes);
                    model.framed += 1;
                    let want = model
                        .streams
                        .entry((source(s), SessionId(session)))
                        .or_default()
                        .arrive(seq);
                    match got {
                        Datagram::Framed { frame, arrival } => {
                            prop_assert_eq!(arrival, want);
                            prop_assert_eq!(frame.seq, Seq(seq));
                        }
                        other => prop_assert!(false, "not framed: {:?}", other),
                    }
                }
                Transition::Raw { len } => {
                    let bytes = vec![b'r'; len];
                    let got = rx.handle_datagram(now, 0, RecvMeta::new(source(0), len), &bytes);
                    prop_assert_eq!(got, Datagram::Raw(&bytes));
                    model.raw += 1;
                }
                Transition::Truncated { source: s, session, len } => {
                    let mut bytes = frame_bytes(session, 0);
                    bytes.truncate(len);
                    let got = rx.handle_datagram(now, 0, RecvMeta::new(source(s), len), &bytes);
                    prop_assert!(matches!(got, Datagram::Malformed(_)), "{:?}", got);
                    model.malformed += 1;
                    if len >= 8 {
                        if let Some(m) = model.streams.get_mut(&(source(s), SessionId(session))) {
                            m.malformed += 1;
                        }
                    }
                }
            }
            check(&rx, &model)?;
        }
    }
}
