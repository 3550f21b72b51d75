//! The core alone: frame encode and decode, authentication (sign and verify, and the sender
//! and receiver with a key), the sender's generated traffic and the receiver's
//! `handle_datagram`. One group per configuration, named so results compare
//! across runs; throughput is in datagrams (`Elements`), so criterion reports packets/s.

use std::hint::black_box;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use mcast_bench::{frames, payload, repr, BATCH, PAYLOAD_LENS};
use mcast_core::auth::{Authenticator, Key};
use mcast_core::frame::{self, Frame, FrameRepr, Seq};
use mcast_core::session::{Receiver, ReceiverConfig, Sender, SenderConfig};
use mcast_core::RecvMeta;

fn destination() -> SocketAddr {
    "224.1.1.5:50001".parse().unwrap()
}

fn encode(c: &mut Criterion) {
    for len in PAYLOAD_LENS {
        let payload = payload(len);
        let mut group = c.benchmark_group(format!("encode_len_{len}"));
        group.throughput(Throughput::Elements(BATCH as u64));
        let mut buf = Vec::with_capacity(BATCH * (frame::HEADER_LEN + len));
        group.bench_function("frame_encode", |b| {
            b.iter(|| {
                buf.clear();
                for seq in 0..BATCH as u64 {
                    frame::encode(&repr(seq, black_box(&payload)), &mut buf).unwrap();
                }
                black_box(buf.len())
            })
        });
        group.finish();
    }
}

fn decode(c: &mut Criterion) {
    for len in PAYLOAD_LENS {
        let frames = frames(BATCH, &payload(len));
        let mut group = c.benchmark_group(format!("decode_len_{len}"));
        group.throughput(Throughput::Elements(BATCH as u64));
        group.bench_function("frame_decode", |b| {
            b.iter(|| {
                let mut sum = 0u64;
                for f in &frames {
                    sum = sum.wrapping_add(frame::decode(black_box(f)).unwrap().seq.0);
                }
                sum
            })
        });
        group.finish();
    }
}

fn sender(c: &mut Criterion) {
    for (len, segments) in [(64, 1), (1400, 1), (1400, 16)] {
        let payload = payload(len);
        let mut group = c.benchmark_group(format!("sender_len_{len}_segments_{segments}"));
        group.throughput(Throughput::Elements(BATCH as u64));
        let mut sender = Sender::new(SenderConfig {
            framed: true,
            max_segments: segments,
            ..SenderConfig::new(destination().try_into().unwrap())
        });
        let now = Instant::now();
        let mut buf = Vec::new();
        group.bench_function("poll_transmit", |b| {
            b.iter(|| {
                let mut n = 0;
                while n < BATCH {
                    let t = sender
                        .poll_transmit(now, 1, black_box(&payload), &mut buf)
                        .unwrap();
                    n += t.datagrams();
                }
                n
            })
        });
        group.finish();
    }
}

/// Feeds the receiver `BATCH` frames per iteration, rewriting the sequence number in place so
/// the stream keeps going. With `swap = Some(k)`, every `k`-th pair of numbers arrives swapped
/// (one reorder, one gap filled), to measure the slow path.
fn receiver(c: &mut Criterion) {
    for (name, len, swap) in [
        ("in_order", 64, None),
        ("in_order", 1400, None),
        ("reorder", 64, Some(10u64)),
    ] {
        let mut frames = frames(BATCH, &payload(len));
        let mut group = c.benchmark_group(format!("receiver_{name}_len_{len}"));
        group.throughput(Throughput::Elements(BATCH as u64));
        let now = Instant::now();
        // As `mcast recv` does: the joined groups named, so a datagram to any other
        // destination is stray.
        let joined = mcast_core::addr::Group::new(destination().ip()).unwrap();
        let config = ReceiverConfig {
            groups: vec![joined],
            ..ReceiverConfig::default()
        };
        let mut rx = Receiver::new(config, now);
        let meta = RecvMeta::new("192.168.56.3:40000".parse().unwrap(), frames[0].len())
            .with_destination(Some(destination().ip()));
        let mut next = 0u64;
        group.bench_function("handle_datagram", |b| {
            b.iter(|| {
                for (i, f) in frames.iter_mut().enumerate() {
                    let mut seq = next + i as u64;
                    if let Some(k) = swap {
                        if seq % k == 0 {
                            seq += 1;
                        } else if seq % k == 1 {
                            seq -= 1;
                        }
                    }
                    Frame::new_unchecked(&mut f[..]).set_seq(Seq(seq));
                }
                next += BATCH as u64;
                for f in &frames {
                    black_box(rx.handle_datagram(now, 2, meta, black_box(f)));
                }
                while rx.poll_event().is_some() {}
            })
        });
        group.finish();
    }
}

fn key() -> Key {
    Key::from_bytes([0x5a; 32])
}

/// One tag made and one checked per frame: HMAC-SHA256 over the header and payload.
fn auth(c: &mut Criterion) {
    let auth = Authenticator::new(&key());
    for len in PAYLOAD_LENS {
        let payload = payload(len);
        let mut group = c.benchmark_group(format!("auth_len_{len}"));
        group.throughput(Throughput::Elements(BATCH as u64));
        let mut buf = Vec::new();
        group.bench_function("sign", |b| {
            b.iter(|| {
                buf.clear();
                for seq in 0..BATCH as u64 {
                    auth.encode(&repr(seq, black_box(&payload)), &mut buf)
                        .unwrap();
                }
                black_box(buf.len())
            })
        });
        let signed: Vec<Vec<u8>> = (0..BATCH as u64)
            .map(|seq| {
                let mut f = Vec::new();
                auth.encode(&repr(seq, &payload), &mut f).unwrap();
                f
            })
            .collect();
        group.bench_function("verify", |b| {
            b.iter(|| {
                for f in &signed {
                    auth.verify(black_box(f)).unwrap();
                }
            })
        });
        group.finish();
    }
}

/// The sender and the receiver with a key, as `--key-file` runs them: every frame signed, and
/// every frame verified and checked against its replay window before it is counted.
fn keyed(c: &mut Criterion) {
    for len in [64, 1400] {
        let payload = payload(len);
        let mut group = c.benchmark_group(format!("keyed_len_{len}"));
        group.throughput(Throughput::Elements(BATCH as u64));
        let mut sender = Sender::new(SenderConfig {
            max_segments: 16,
            key: Some(key()),
            ..SenderConfig::new(destination().try_into().unwrap())
        });
        let now = Instant::now();
        let mut buf = Vec::new();
        group.bench_function("sender_poll_transmit", |b| {
            b.iter(|| {
                let mut n = 0;
                while n < BATCH {
                    let t = sender
                        .poll_transmit(now, 1, black_box(&payload), &mut buf)
                        .unwrap();
                    n += t.datagrams();
                }
                n
            })
        });
        // The receiver needs new sequence numbers (and so new tags) every round: they are
        // made outside the timed part.
        let auth = Authenticator::new(&key());
        let wall = 1_700_000_000_000_000_000;
        let mut rx = Receiver::new(
            ReceiverConfig {
                key: Some(key()),
                ..ReceiverConfig::default()
            },
            now,
        );
        let mut next = 0u64;
        let mut template = repr(0, &payload);
        template.sent_at_ns = wall;
        group.bench_function("receiver_handle_datagram", |b| {
            b.iter_batched_ref(
                || {
                    let frames: Vec<Vec<u8>> = (next..next + BATCH as u64)
                        .map(|seq| {
                            let mut f = Vec::new();
                            auth.encode(
                                &FrameRepr {
                                    seq: Seq(seq),
                                    ..template
                                },
                                &mut f,
                            )
                            .unwrap();
                            f
                        })
                        .collect();
                    next += BATCH as u64;
                    frames
                },
                |frames| {
                    for f in frames.iter() {
                        let meta = RecvMeta::new("192.168.56.3:40000".parse().unwrap(), f.len());
                        black_box(rx.handle_datagram(now, wall, meta, black_box(f)));
                    }
                    while rx.poll_event().is_some() {}
                },
                BatchSize::SmallInput,
            )
        });
        group.finish();
    }
}

criterion_group! {
    name = benches;
    config = Criterion::default().warm_up_time(Duration::from_secs(1));
    targets = encode, decode, auth, keyed, sender, receiver
}
criterion_main!(benches);
