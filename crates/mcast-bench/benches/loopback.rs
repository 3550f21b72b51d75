//! Send → receive over loopback, through the same socket setup the `mcast` tool uses
//! (`mcast_sync::Sender` / `Receiver`, and so `mcast_sync::setup`).
//!
//! Every socket is pinned to 127.0.0.1 with TTL 0: nothing leaves the machine. One criterion
//! group per configuration, `batch_{batch}_gso_{gso}_len_{len}`: each iteration makes the core
//! `Sender` generate `batch` framed datagrams (as GSO batches of up to `gso` segments when
//! `gso > 1`), sends them, and receives all of them. Throughput is reported in datagrams
//! (`Elements`) and, in a `_bytes` twin group, in payload bytes.
//!
//! The `batch_{batch}_gso_{gso}_len_{len}_rxbatch_{rx}` groups do the same, but receive with
//! `Receiver::recv_batch` into a `RecvBatch` of `rx` slots (`recvmmsg`); `rxbatch_1` measures
//! the batch path's overhead against the plain `recv` groups (one datagram per system call
//! either way), `rxbatch_32` what batching the receive side buys.
//!
//! The `batch_{batch}_seg_{seg}_len_{len}_path_{path}` groups send batches of up to `seg`
//! segments over each [`SendPath`] (UDP GSO, `sendmmsg`, one `sendto` per datagram) and
//! receive them with `recv_batch` into 32 slots: what each send path costs per datagram.
//!
//! A datagram lost on loopback (receive buffer full) is not waited for longer than the read
//! timeout; the bench counts and reports losses on stderr at the end of each group.

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use mcast_bench::payload;
use mcast_core::addr::Group;
use mcast_core::iface::IfaceSpec;
use mcast_core::session::{Sender as CoreSender, SenderConfig};
use mcast_sync::{Receiver, RecvBatch, SendPath, Sender};

const GROUP: &str = "239.77.0.1";
const PORT: u16 = 47901;

struct Loop {
    tx: Sender,
    rx: Receiver,
    buf: Vec<u8>,
    recv_buf: Vec<u8>,
    lost: u64,
}

impl Loop {
    fn new() -> Self {
        let group: Group = GROUP.parse().expect("a multicast literal");
        let lo: IfaceSpec = "127.0.0.1".parse().expect("an address literal");
        let rx = Receiver::builder(PORT)
            .group(group)
            .iface(lo)
            .recv_buffer_size(4 << 20)
            .read_timeout(Some(Duration::from_millis(200)))
            .build()
            .expect("a receiver on 127.0.0.1");
        Self {
            tx: sender(SendPath::Gso),
            rx,
            buf: Vec::with_capacity(64 * 1500),
            recv_buf: vec![0; 65536],
            lost: 0,
        }
    }

    /// Sends `batch` datagrams of `payload` in GSO batches of `gso` segments; returns how many
    /// went out.
    fn send(&mut self, batch: u64, gso: usize, payload: &[u8]) -> u64 {
        let mut cfg = SenderConfig::new(self.tx.destination());
        cfg.framed = true;
        cfg.count = Some(batch);
        cfg.max_segments = gso;
        let mut core = CoreSender::new(cfg);
        let now = Instant::now();
        let mut sent = 0;
        while let Some(t) = core.poll_transmit(now, 0, payload, &mut self.buf) {
            sent += self
                .tx
                .send_transmit(&t, &self.buf)
                .expect("send on loopback") as u64;
        }
        sent
    }

    /// Sends `batch` datagrams of `len` payload bytes in GSO batches of `gso` segments, and
    /// receives them one `recv` at a time; returns how many arrived.
    fn round(&mut self, batch: u64, gso: usize, payload: &[u8]) -> u64 {
        let sent = self.send(batch, gso, payload);
        let mut got = 0;
        while got < sent {
            match self.rx.recv(&mut self.recv_buf) {
                Ok((n, _)) => {
                    black_box(n);
                    got += 1;
                }
                Err(e) if e.is_timeout() => break,
                Err(e) => panic!("recv on loopback: {e}"),
            }
        }
        self.lost += sent - got;
        got
    }

    /// As [`Loop::round`], but receives with `recv_batch` into `rx`.
    fn round_batched(&mut self, batch: u64, gso: usize, payload: &[u8], rx: &mut RecvBatch) -> u64 {
        let sent = self.send(batch, gso, payload);
        let mut got = 0;
        while got < sent {
            match self.rx.recv_batch(rx) {
                Ok(n) => {
                    for (bytes, _) in rx.iter() {
                        black_box(bytes.len());
                    }
                    got += n as u64;
                }
                Err(e) if e.is_timeout() => break,
                Err(e) => panic!("recv_batch on loopback: {e}"),
            }
        }
        self.lost += sent.saturating_sub(got);
        got
    }
}

/// A sender on 127.0.0.1, TTL 0, sending over `path`.
fn sender(path: SendPath) -> Sender {
    let group: Group = GROUP.parse().expect("a multicast literal");
    Sender::builder(group, PORT)
        .iface("127.0.0.1".parse().expect("an address literal"))
        .ttl(0)
        .send_path(path)
        .build()
        .expect("a sender on 127.0.0.1")
}

fn loopback(c: &mut Criterion) {
    let mut l = Loop::new();
    for (batch, gso, len) in [(64u64, 1usize, 64usize), (64, 1, 1400), (64, 16, 1400)] {
        let payload = payload(len);
        for (suffix, throughput) in [
            ("", Throughput::Elements(batch)),
            ("_bytes", Throughput::Bytes(batch * len as u64)),
        ] {
            let mut group = c.benchmark_group(format!("batch_{batch}_gso_{gso}_len_{len}{suffix}"));
            group.throughput(throughput);
            group.bench_function("send_recv", |b| b.iter(|| l.round(batch, gso, &payload)));
            group.finish();
        }
        if l.lost > 0 {
            eprintln!(
                "batch_{batch}_gso_{gso}_len_{len}: {} datagrams lost on loopback",
                l.lost
            );
            l.lost = 0;
        }
    }
    let batch = 64u64;
    for (gso, len, rx_slots) in [1usize, 16]
        .into_iter()
        .flat_map(|gso| [64usize, 1400].map(move |len| (gso, len)))
        .flat_map(|(gso, len)| [1usize, 32].map(move |rx| (gso, len, rx)))
    {
        let payload = payload(len);
        let mut rx = RecvBatch::new(rx_slots, 2048);
        let name = format!("batch_{batch}_gso_{gso}_len_{len}_rxbatch_{rx_slots}");
        let mut group = c.benchmark_group(&name);
        group.throughput(Throughput::Elements(batch));
        group.bench_function("send_recv", |b| {
            b.iter(|| l.round_batched(batch, gso, &payload, &mut rx))
        });
        group.finish();
        if l.lost > 0 {
            eprintln!("{name}: {} datagrams lost on loopback", l.lost);
            l.lost = 0;
        }
    }
    let seg = 64usize;
    for (len, path) in [64usize, 1400]
        .into_iter()
        .flat_map(|len| [SendPath::Gso, SendPath::Mmsg, SendPath::Single].map(move |p| (len, p)))
    {
        l.tx = sender(path);
        let payload = payload(len);
        let mut rx = RecvBatch::new(32, 2048);
        let name = format!("batch_{batch}_seg_{seg}_len_{len}_path_{path}");
        let mut group = c.benchmark_group(&name);
        group.throughput(Throughput::Elements(batch));
        group.bench_function("send_recv", |b| {
            b.iter(|| l.round_batched(batch, seg, &payload, &mut rx))
        });
        group.finish();
        assert_eq!(l.tx.send_path(), path, "{name}: the send path changed");
        if l.lost > 0 {
            eprintln!("{name}: {} datagrams lost on loopback", l.lost);
            l.lost = 0;
        }
    }
}

criterion_group!(benches, loopback);
criterion_main!(benches);
