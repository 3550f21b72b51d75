//! Send → receive over loopback through the engine the `mcast` tool runs: mcast-sync's
//! [`SendDriver`] (the core sender, unpaced, into `send_transmit`) and [`RecvDriver`]
//! (`recvmmsg` batches into the core receiver), on the tool's socket setup
//! (`mcast_sync::Sender` / `Receiver`, and so `mcast_sync::setup`).
//!
//! Every socket is pinned to 127.0.0.1 with TTL 0: nothing leaves the machine. One thread does
//! both ends: each iteration raises the send session's count by `batch` and runs the send
//! driver until those datagrams are out ([`SendDriver::run_data`], so no end-of-session frames
//! in between), then runs the receive driver until all of them have been handed to the core
//! receiver, or a time limit passed. The sessions live as long as a group, so the receiver
//! sees one long stream and counts its loss.
//!
//! One criterion group per configuration, so results compare across runs:
//!
//! - `batch_{batch}_gso_{gso}_len_{len}`: `batch` framed datagrams of `len` payload bytes per
//!   iteration, in transmits of up to `gso` segments (the session's `max_segments`; UDP GSO
//!   when `gso > 1`), received into a batch of 64 slots of 64 KiB as `mcast perf recv` does.
//!   Throughput is in datagrams (`Elements`) and, in a `_bytes` twin group, in payload bytes.
//! - `batch_{batch}_gso_{gso}_len_{len}_rxbatch_{rx}`: the same, received into a batch of `rx`
//!   slots: `rxbatch_1` is one datagram per `recvmmsg`, `rxbatch_32` what batching the receive
//!   side buys.
//! - `batch_{batch}_seg_{seg}_len_{len}_path_{path}`: transmits of up to `seg` segments over
//!   each [`SendPath`] (UDP GSO, `sendmmsg`, one `sendto` per datagram), received into 32
//!   slots: what each send path costs per datagram.
//!
//! A datagram lost on loopback (receive buffer full) is not waited for longer than the
//! receive limit; the bench reports losses, as the core receiver counted them, on stderr at
//! the end of each group.

use std::hint::black_box;
use std::ops::ControlFlow;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use mcast_bench::payload;
use mcast_core::addr::Group;
use mcast_core::iface::IfaceSpec;
use mcast_core::session::{
    Receiver as CoreReceiver, ReceiverConfig, Sender as CoreSender, SenderConfig,
};
use mcast_sync::driver::{Drive, RecvDriver, SendDriver};
use mcast_sync::{Receiver, RecvBatch, SendPath, Sender};

const GROUP: &str = "239.77.0.1";
const PORT: u16 = 47901;

/// How many datagrams one `recvmmsg` takes, as in `mcast perf recv`.
const RX_SLOTS: usize = 64;

/// The longest datagram the receive batch holds whole, as in `mcast perf recv`: 64 KiB.
const RX_BUF: usize = 65_536;

/// How long an iteration waits for datagrams that have not arrived (lost on loopback).
const RECV_LIMIT: Duration = Duration::from_millis(200);

/// The two ends of one group's run: the sockets and the engine's drivers around them.
struct Loop {
    tx: Sender,
    rx: Receiver,
    send: SendDriver,
    recv: RecvDriver,
    /// Datagrams sent and not received, over the group.
    lost: u64,
}

impl Loop {
    /// Sockets on 127.0.0.1 (the sender over `path`, TTL 0), a send session generating framed
    /// datagrams in transmits of up to `segments`, and a receive session taking batches of
    /// `rx_slots`.
    fn new(path: SendPath, segments: usize, rx_slots: usize) -> Self {
        let group: Group = GROUP.parse().expect("a multicast literal");
        let lo: IfaceSpec = "127.0.0.1".parse().expect("an address literal");
        let rx = Receiver::builder(PORT)
            .group(group)
            .iface(lo.clone())
            .recv_buffer_size(4 << 20)
            .build()
            .expect("a receiver on 127.0.0.1");
        let tx = Sender::builder(group, PORT)
            .iface(lo)
            .ttl(0)
            .send_path(path)
            .build()
            .expect("a sender on 127.0.0.1");
        let send = SendDriver::new(CoreSender::new(SenderConfig {
            framed: true,
            count: Some(0),
            max_segments: segments,
            ..SenderConfig::new(tx.destination())
        }));
        let recv = RecvDriver::new(
            CoreReceiver::new(ReceiverConfig::default(), Instant::now()),
            RecvBatch::new(rx_slots, RX_BUF),
        );
        Self {
            tx,
            rx,
            send,
            recv,
            lost: 0,
        }
    }

    /// Sends `batch` datagrams carrying `payload` through the send driver, then receives them
    /// through the receive driver; returns how many arrived.
    fn round(&mut self, batch: u64, payload: &[u8]) -> u64 {
        let before = self.send.datagrams_sent();
        self.send.session_mut().extend_count(batch);
        let drive = self
            .send
            .run_data(&self.tx, payload, None, || false, |_| {})
            .expect("send on loopback");
        assert_eq!(drive, Drive::Finished, "the send session ran dry");
        let sent = self.send.datagrams_sent() - before;
        let mut got = 0;
        if sent > 0 {
            let limit = Instant::now() + RECV_LIMIT;
            self.recv
                .run(
                    &mut self.rx,
                    Some(limit),
                    || false,
                    |_, datagram| {
                        black_box(datagram);
                        got += 1;
                        if got < sent {
                            ControlFlow::Continue(())
                        } else {
                            ControlFlow::Break(())
                        }
                    },
                    |event| {
                        black_box(event);
                        ControlFlow::Continue(())
                    },
                )
                .expect("receive on loopback");
        }
        self.lost += sent - got.min(sent);
        got
    }

    /// Says on stderr what the group lost, if anything: datagrams not received, the core
    /// receiver's loss count, and the kernel's drops for a full receive buffer.
    fn report(&self, name: &str) {
        let stats = self.recv.session().stats();
        if self.lost > 0 || stats.lost > 0 || stats.host_drops > 0 || self.send.host_drops() > 0 {
            eprintln!(
                "{name}: {} datagrams not received; core receiver: {} lost, {} host drops; \
                 sender: {} host drops",
                self.lost,
                stats.lost,
                stats.host_drops,
                self.send.host_drops()
            );
        }
    }
}

fn loopback(c: &mut Criterion) {
    for (batch, gso, len) in [(64u64, 1usize, 64usize), (64, 1, 1400), (64, 16, 1400)] {
        let payload = payload(len);
        let name = format!("batch_{batch}_gso_{gso}_len_{len}");
        let mut l = Loop::new(SendPath::Gso, gso, RX_SLOTS);
        for (suffix, throughput) in [
            ("", Throughput::Elements(batch)),
            ("_bytes", Throughput::Bytes(batch * len as u64)),
        ] {
            let mut group = c.benchmark_group(format!("{name}{suffix}"));
            group.throughput(throughput);
            group.bench_function("send_recv", |b| b.iter(|| l.round(batch, &payload)));
            group.finish();
        }
        l.report(&name);
    }
    let batch = 64u64;
    for (gso, len, rx_slots) in [1usize, 16]
        .into_iter()
        .flat_map(|gso| [64usize, 1400].map(move |len| (gso, len)))
        .flat_map(|(gso, len)| [1usize, 32].map(move |rx| (gso, len, rx)))
    {
        let payload = payload(len);
        let name = format!("batch_{batch}_gso_{gso}_len_{len}_rxbatch_{rx_slots}");
        let mut l = Loop::new(SendPath::Gso, gso, rx_slots);
        let mut group = c.benchmark_group(&name);
        group.throughput(Throughput::Elements(batch));
        group.bench_function("send_recv", |b| b.iter(|| l.round(batch, &payload)));
        group.finish();
        l.report(&name);
    }
    let seg = 64usize;
    for (len, path) in [64usize, 1400]
        .into_iter()
        .flat_map(|len| [SendPath::Gso, SendPath::Mmsg, SendPath::Single].map(move |p| (len, p)))
    {
        let payload = payload(len);
        let name = format!("batch_{batch}_seg_{seg}_len_{len}_path_{path}");
        let mut l = Loop::new(path, seg, 32);
        let mut group = c.benchmark_group(&name);
        group.throughput(Throughput::Elements(batch));
        group.bench_function("send_recv", |b| b.iter(|| l.round(batch, &payload)));
        group.finish();
        assert_eq!(l.tx.send_path(), path, "{name}: the send path changed");
        l.report(&name);
    }
}

criterion_group!(benches, loopback);
criterion_main!(benches);
