//! Async adapter tests on real sockets, pinned to `lo` (127.0.0.1, TTL 0) or run in a network
//! namespace private to one thread with a veth pair. Each test has its own groups and port and
//! recognises its datagrams by payload.

use std::collections::BTreeSet;
use std::future::pending;
use std::net::{Ipv4Addr, SocketAddr};
use std::ops::ControlFlow;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use futures::{SinkExt, StreamExt};
use mcast_async::driver::{Drive, Received, RecvDriver, SendDriver, BUDGET};
use mcast_async::{Error, Receiver, ReceiverBuilder, RecvBatch, SendPath, Sender, SenderBuilder};
use mcast_core::addr::{Group, GroupRange, Source};
use mcast_core::frame::{self, EndOfSession, Flags, FrameRepr, Seq, SessionId};
use mcast_core::iface::IfaceSpec;
use mcast_core::session::{self as core, Arrival, Event, ReceiverConfig, SenderConfig};
use mcast_core::{RecvMeta, Transmit};
use mcast_testkit::loopback::{backlog_drops, LO_V4};
use mcast_testkit::netns::in_veth_netns;

const WAIT: Duration = Duration::from_secs(2);

fn lo() -> IfaceSpec {
    IfaceSpec::Addr(LO_V4.into())
}

fn g(s: &str) -> Group {
    s.parse().unwrap()
}

fn tx(group: &str, port: u16) -> SenderBuilder {
    Sender::builder(g(group), port).iface(lo()).ttl(0)
}

fn rx(port: u16) -> ReceiverBuilder {
    Receiver::builder(port).iface(lo())
}

/// Waits up to `WAIT` for a datagram whose payload is `payload`; other datagrams are skipped.
async fn expect(rx: &mut Receiver, payload: &[u8]) -> Option<RecvMeta> {
    let mut buf = [0u8; 2048];
    tokio::time::timeout(WAIT, async {
        loop {
            let (n, meta) = rx.recv_from(&mut buf).await.unwrap();
            if &buf[..n] == payload {
                return meta;
            }
        }
    })
    .await
    .ok()
}

/// The helper behind most tests: opens the sender, sends `payload` once, returns what arrived.
async fn send_recv(tx: SenderBuilder, rx: &mut Receiver, payload: &[u8]) -> Option<RecvMeta> {
    let tx = Sender::open(tx).unwrap();
    assert_eq!(tx.send(payload).await.unwrap(), payload.len());
    expect(rx, payload).await
}

/// The `i` of a payload "`{prefix}{i}`"; `None` for other payloads.
fn numbered(payload: &[u8], prefix: &str) -> Option<usize> {
    String::from_utf8_lossy(payload)
        .strip_prefix(prefix)?
        .parse()
        .ok()
}

#[tokio::test]
async fn async_send_recv() {
    let mut r = Receiver::open(rx(41201).group(g("239.255.42.1"))).unwrap();
    assert_eq!(
        r.local_addr().unwrap(),
        "239.255.42.1:41201".parse().unwrap()
    );
    let meta = send_recv(tx("239.255.42.1", 41201), &mut r, b"async")
        .await
        .expect("datagram");
    assert_eq!(meta.destination, Some(g("239.255.42.1").addr()));
    assert_eq!(meta.source.ip(), Ipv4Addr::LOCALHOST);
    assert_eq!(meta.ifindex, mcast_sync::resolve::name_to_index("lo"));
}

#[tokio::test]
async fn two_groups_one_port_attributed() {
    let groups = [g("239.255.42.2"), g("239.255.42.3")];
    let mut r = Receiver::open(rx(41202).groups(groups)).unwrap();
    for group in groups {
        let payload = format!("to {group}");
        let meta = send_recv(tx(&group.to_string(), 41202), &mut r, payload.as_bytes())
            .await
            .expect("datagram");
        assert_eq!(meta.destination, Some(group.addr()), "{payload}");
    }
}

#[tokio::test]
async fn two_receivers_concurrently() {
    let mut a = Receiver::open(rx(41203).group(g("239.255.42.4"))).unwrap();
    let mut b = Receiver::open(rx(41203).group(g("239.255.42.5"))).unwrap();
    Sender::open(tx("239.255.42.4", 41203))
        .unwrap()
        .send(b"for a")
        .await
        .unwrap();
    Sender::open(tx("239.255.42.5", 41203))
        .unwrap()
        .send(b"for b")
        .await
        .unwrap();
    let (ma, mb) = tokio::join!(expect(&mut a, b"for a"), expect(&mut b, b"for b"));
    assert_eq!(ma.expect("a").destination, Some(g("239.255.42.4").addr()));
    assert_eq!(mb.expect("b").destination, Some(g("239.255.42.5").addr()));
}

/// 200 groups need several sockets (igmp_max_memberships is 20 by default); the receiver polls
/// them all.
#[tokio::test]
async fn many_groups_across_sockets() {
    let groups: Vec<Group> = GroupRange::new(g("239.79.0.1"), 200)
        .unwrap()
        .iter()
        .collect();
    let r = Receiver::open(rx(41204).groups(groups.iter().copied())).unwrap();
    if let Some(limit) = mcast_sync::error::igmp_max_memberships() {
        assert!(r.socket_count() >= 200usize.div_ceil(limit));
    }
    let mut stream = r.into_datagrams();
    // One sender socket; each core Transmit names its own group.
    let t = Sender::open(tx("239.79.0.1", 41204)).unwrap();
    for (i, gr) in groups.iter().enumerate() {
        let payload = format!("many {i}");
        let transmit = Transmit::new(SocketAddr::new(gr.addr(), 41204), payload.len());
        assert_eq!(
            t.send_transmit(&transmit, payload.as_bytes())
                .await
                .unwrap(),
            1
        );
    }
    let mut seen = BTreeSet::new();
    let got = tokio::time::timeout(Duration::from_secs(10), async {
        while seen.len() < groups.len() {
            let d = stream.next().await.expect("stream ended").unwrap();
            let Some(i) = numbered(&d.bytes, "many ") else {
                continue;
            };
            assert_eq!(d.meta.destination, Some(groups[i].addr()), "datagram {i}");
            assert!(seen.insert(i), "datagram {i} twice");
        }
    })
    .await;
    assert!(got.is_ok(), "only {} of 200 datagrams", seen.len());
}

/// A group joined after `build()` past the per-socket limit goes to a new socket, which the
/// async receiver registers with tokio and polls beside the others.
#[tokio::test]
async fn join_after_build_past_the_limit_opens_a_socket() {
    let groups: Vec<Group> = (1..=3)
        .map(|i| g(&format!("239.255.44.{}", 20 + i)))
        .collect();
    let mut r = Receiver::open(
        rx(41210)
            .groups(groups[..2].iter().copied())
            .groups_per_socket(2),
    )
    .unwrap();
    assert_eq!(r.socket_count(), 1);
    r.join(groups[2]).unwrap();
    assert_eq!(r.socket_count(), 2);
    for gr in &groups {
        let payload = format!("async limit to {gr}");
        let meta = send_recv(tx(&gr.to_string(), 41210), &mut r, payload.as_bytes()).await;
        assert_eq!(meta.expect("datagram").destination, Some(gr.addr()));
    }
}

#[tokio::test]
async fn frames_through_sink_and_stream() {
    let r = Receiver::open(rx(41205).group(g("239.255.42.6"))).unwrap();
    let mut frames = r.into_frames();
    let tx_raw = Sender::open(tx("239.255.42.6", 41205)).unwrap();
    let mut sink = Sender::open(tx("239.255.42.6", 41205))
        .unwrap()
        .into_frame_sink();
    let session = SessionId(std::process::id());
    for seq in 0..3u64 {
        let payload = format!("frame {seq}");
        let repr = FrameRepr {
            flags: Flags::empty(),
            session,
            seq: Seq(seq),
            sent_at_ns: 1_000 + seq,
            payload: payload.as_bytes(),
            tag: None,
        };
        sink.send(repr).await.unwrap();
        if seq == 1 {
            // A raw datagram in between: an error value, and the stream goes on.
            tx_raw.send(b"not a frame").await.unwrap();
        }
    }
    let mut got = Vec::new();
    let mut malformed = 0;
    tokio::time::timeout(WAIT, async {
        while got.len() < 3 {
            match frames.next().await.expect("stream ended") {
                Ok(f) if f.session == session => got.push(f),
                Ok(_) => {}
                Err(Error::Frame { meta, .. }) => {
                    assert_eq!(meta.destination, Some(g("239.255.42.6").addr()));
                    malformed += 1;
                }
                Err(e) => panic!("{e}"),
            }
        }
    })
    .await
    .expect("three frames");
    assert_eq!(malformed, 1);
    for (seq, f) in got.iter().enumerate() {
        assert_eq!(f.seq, Seq(seq as u64));
        assert_eq!(f.sent_at_ns, 1_000 + seq as u64);
        assert_eq!(f.payload, format!("frame {seq}").as_bytes());
        assert_eq!(f.meta.destination, Some(g("239.255.42.6").addr()));
        assert_eq!(f.repr().payload, &f.payload[..]);
    }
}

#[tokio::test]
async fn oversized_frame_is_an_encode_error() {
    let mut sink = Sender::open(tx("239.255.42.7", 41206))
        .unwrap()
        .into_frame_sink();
    let huge = vec![0u8; 70_000];
    let repr = FrameRepr {
        flags: Flags::empty(),
        session: SessionId(1),
        seq: Seq(0),
        sent_at_ns: 0,
        payload: &huge,
        tag: None,
    };
    assert!(matches!(sink.send(repr).await, Err(Error::Encode(_))));
}

#[tokio::test]
async fn open_errors_carry_hints() {
    let e = Receiver::open(
        Receiver::builder(41207)
            .group(g("239.255.42.8"))
            .iface(IfaceSpec::Name("nosuch-mc1".into())),
    )
    .unwrap_err();
    assert!(
        matches!(e, Error::Socket(mcast_sync::Error::Iface { .. })),
        "{e:?}"
    );
    assert!(e.hint().unwrap().contains("`ip addr`"));
}

#[tokio::test]
async fn recv_from_honours_read_timeout() {
    let timeout = Duration::from_millis(200);
    let mut r = Receiver::open(
        rx(41209)
            .group(g("239.255.42.9"))
            .read_timeout(Some(timeout)),
    )
    .unwrap();
    assert_eq!(r.read_timeout(), Some(timeout));
    let mut buf = [0u8; 64];
    let start = tokio::time::Instant::now();
    let e = tokio::time::timeout(WAIT, r.recv_from(&mut buf))
        .await
        .expect("the read timeout fires before the test's bound")
        .unwrap_err();
    assert!(e.is_timeout(), "{e:?}");
    assert!(
        matches!(e, Error::Socket(mcast_sync::Error::TimedOut(t)) if t == timeout),
        "{e:?}"
    );
    assert!(start.elapsed() >= timeout);
    // After a timeout the receiver goes on.
    let meta = send_recv(tx("239.255.42.9", 41209), &mut r, b"after the timeout")
        .await
        .expect("datagram");
    assert_eq!(meta.destination, Some(g("239.255.42.9").addr()));
    r.set_read_timeout(None);
    assert_eq!(r.read_timeout(), None);
}

#[tokio::test]
async fn from_sync_keeps_the_read_timeout() {
    let timeout = Duration::from_millis(100);
    // A blocking receiver, built by mcast-sync's own builder (the async one builds async).
    let sync: mcast_sync::Receiver = mcast_sync::Receiver::builder(41210)
        .iface(lo())
        .group(g("239.255.42.10"))
        .read_timeout(Some(timeout))
        .build()
        .unwrap();
    let mut r = Receiver::from_sync(sync).unwrap();
    assert_eq!(r.read_timeout(), Some(timeout));
    let mut buf = [0u8; 64];
    let e = tokio::time::timeout(WAIT, r.recv_from(&mut buf))
        .await
        .expect("bounded")
        .unwrap_err();
    assert!(e.is_timeout(), "{e:?}");
}

#[tokio::test]
async fn streams_yield_read_timeouts_and_go_on() {
    let timeout = Duration::from_millis(100);
    let r = Receiver::open(
        rx(41211)
            .group(g("239.255.42.11"))
            .read_timeout(Some(timeout)),
    )
    .unwrap();
    let mut stream = r.into_datagrams();
    for _ in 0..2 {
        let e = tokio::time::timeout(WAIT, stream.next())
            .await
            .expect("bounded")
            .expect("the stream never ends")
            .unwrap_err();
        assert!(e.is_timeout(), "{e:?}");
    }
    Sender::open(tx("239.255.42.11", 41211))
        .unwrap()
        .send(b"after two timeouts")
        .await
        .unwrap();
    let d = tokio::time::timeout(WAIT, async {
        loop {
            match stream.next().await.expect("the stream never ends") {
                Ok(d) if d.bytes == b"after two timeouts"[..] => return d,
                Ok(_) => {}
                // A timeout may race the send; the stream goes on.
                Err(e) => assert!(e.is_timeout(), "{e:?}"),
            }
        }
    })
    .await
    .expect("datagram");
    assert_eq!(d.meta.destination, Some(g("239.255.42.11").addr()));

    // The frame stream shares the behaviour.
    let mut frames = Receiver::open(
        rx(41211)
            .group(g("239.255.42.12"))
            .read_timeout(Some(timeout)),
    )
    .unwrap()
    .into_frames();
    let e = tokio::time::timeout(WAIT, frames.next())
        .await
        .expect("bounded")
        .expect("the stream never ends")
        .unwrap_err();
    assert!(e.is_timeout(), "{e:?}");
}

/// Polls `receive` once (it must be pending, so it registered for readiness), sends
/// `payloads` with a sender opened from `tx` while it is pending, gives them time to land, and
/// drops the future unpolled, as a losing `select!` branch is dropped.
async fn send_while_pending<T>(
    receive: impl std::future::Future<Output = T>,
    tx: SenderBuilder,
    payloads: impl IntoIterator<Item = impl AsRef<[u8]>>,
) {
    let mut fut = std::pin::pin!(receive);
    assert!(futures::poll!(fut.as_mut()).is_pending());
    let t = Sender::open(tx).unwrap();
    for payload in payloads {
        t.send(payload.as_ref()).await.unwrap();
    }
    tokio::time::sleep(Duration::from_millis(50)).await;
}

/// A `recv_from` future that was polled (registered for readiness) and then dropped, as a
/// losing `select!` branch is, takes no datagram with it.
#[tokio::test]
async fn dropped_recv_from_loses_nothing() {
    let mut r = Receiver::open(rx(41212).group(g("239.255.42.13"))).unwrap();
    let mut buf = [0u8; 64];
    send_while_pending(
        r.recv_from(&mut buf),
        tx("239.255.42.13", 41212),
        [b"while pending"],
    )
    .await;
    let meta = expect(&mut r, b"while pending").await.expect("datagram");
    assert_eq!(meta.destination, Some(g("239.255.42.13").addr()));
}

/// How many datagrams the `select!` loop tests trickle in.
const TRICKLE: usize = 50;

/// Opens a receiver on `group`:`port` and spawns a task that sends it [`TRICKLE`] datagrams,
/// "`{prefix}{i}`", 2 ms apart.
fn receiver_with_trickle(
    group: &str,
    port: u16,
    prefix: &'static str,
) -> (Receiver, tokio::task::JoinHandle<()>) {
    let r = Receiver::open(rx(port).group(g(group))).unwrap();
    let t = Sender::open(tx(group, port)).unwrap();
    let sending = tokio::spawn(async move {
        for i in 0..TRICKLE {
            t.send(format!("{prefix}{i}").as_bytes()).await.unwrap();
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    });
    (r, sending)
}

/// `recv_from` in a `select!` loop against a ticker, with datagrams trickling in from another
/// task: the ticker often wins while `recv_from` waits, and every datagram still arrives once.
#[tokio::test]
async fn select_loop_loses_nothing() {
    const N: usize = TRICKLE;
    let (mut r, sending) = receiver_with_trickle("239.255.42.14", 41213, "sel ");
    let mut ticks = tokio::time::interval(Duration::from_millis(1));
    let mut seen = BTreeSet::new();
    let mut ticked = 0u64;
    let mut buf = [0u8; 64];
    let done = tokio::time::timeout(Duration::from_secs(5), async {
        while seen.len() < N {
            tokio::select! {
                r = r.recv_from(&mut buf) => {
                    let (n, _) = r.unwrap();
                    if let Some(i) = numbered(&buf[..n], "sel ") {
                        assert!(seen.insert(i), "datagram {i} twice");
                    }
                }
                _ = ticks.tick() => ticked += 1,
            }
        }
    })
    .await;
    sending.await.unwrap();
    assert!(done.is_ok(), "only {} of {N} datagrams", seen.len());
    assert!(
        ticked > 0,
        "the other branch never won: the test proved nothing"
    );
}

#[tokio::test]
async fn accessors_match_the_blocking_receiver() {
    let builder = rx(41214)
        .group(g("232.42.0.1"))
        .source("127.0.0.1".parse::<Source>().unwrap())
        .recv_buffer_size(256 * 1024);
    let sync = builder.clone().build().unwrap();
    let r = Receiver::open(builder).unwrap();
    assert_eq!(r.sources(), sync.sources());
    assert_eq!(r.sources(), &["127.0.0.1".parse::<Source>().unwrap()]);
    assert!(r.recv_buffer_size().is_some_and(|n| n > 0));
    assert_eq!(r.recv_buffer_size(), sync.recv_buffer_size());
    let report = r.recv_buffer_report().expect("a report");
    assert_eq!(report.requested, 256 * 1024);
    assert_eq!(Some(report.granted), r.recv_buffer_size());
    assert_eq!(r.recv_buffer_report(), sync.recv_buffer_report());
    let plain = Receiver::open(rx(41214).group(g("239.255.42.15"))).unwrap();
    assert!(plain.sources().is_empty());
    assert_eq!(plain.recv_buffer_size(), None);
    assert_eq!(plain.recv_buffer_report(), None);
}

/// A receiver with a small buffer misses most of a burst it does not read; the drops the
/// kernel counted (SO_RXQ_OVFL) arrive with the next datagram, through `recv_batch` and
/// `recv_from` alike, and add up with what arrived to what was sent (unless a CPU's input
/// backlog overflowed meanwhile, on a host under heavy load).
#[tokio::test]
async fn kernel_drops_are_counted() {
    const BURST: usize = 500;
    let mut r = Receiver::open(rx(41225).group(g("239.255.42.25")).recv_buffer_size(4096)).unwrap();
    let t = Sender::open(tx("239.255.42.25", 41225)).unwrap();
    let payload = [b'k'; 200];
    let backlog_before = backlog_drops();
    for _ in 0..BURST {
        t.send(&payload).await.unwrap();
    }
    let mut batch = RecvBatch::new(64, 256);
    let mut got = 0;
    r.set_read_timeout(Some(Duration::from_millis(300)));
    loop {
        match r.recv_batch(&mut batch).await {
            Ok(_) => got += batch.iter().filter(|(b, _)| b.starts_with(b"kkk")).count(),
            Err(e) if e.is_timeout() => break,
            Err(e) => panic!("{e}"),
        }
    }
    assert_eq!(r.kernel_drops(), 0, "the count rides on the next datagram");
    r.set_read_timeout(None);
    let last = send_recv(tx("239.255.42.25", 41225), &mut r, b"kd-last")
        .await
        .expect("datagram after the burst");
    let dropped = last.kernel_drops.expect("SO_RXQ_OVFL count");
    assert!(dropped > 0, "a 4 KiB buffer held {got} of {BURST}");
    let counted = got + dropped as usize;
    let elsewhere = backlog_drops().wrapping_sub(backlog_before);
    if elsewhere == 0 {
        assert_eq!(counted, BURST);
    } else {
        assert!(counted <= BURST && counted as u64 + elsewhere >= BURST as u64);
    }
    assert_eq!(r.kernel_drops(), u64::from(dropped));
}

/// The builder's send path carries over to the async sender, which sends a transmit's
/// segments over it.
#[tokio::test]
async fn send_path_carries_over() {
    let mut r = Receiver::open(
        rx(41226)
            .group(g("239.255.42.26"))
            .recv_buffer_size(1 << 20),
    )
    .unwrap();
    let default = Sender::open(tx("239.255.42.26", 41226)).unwrap();
    assert_eq!(default.send_path(), SendPath::Gso);
    let t = Sender::open(tx("239.255.42.26", 41226).send_path(SendPath::Mmsg)).unwrap();
    assert_eq!(t.send_path(), SendPath::Mmsg);
    let buf: Vec<u8> = (0..20)
        .flat_map(|i| format!("path {i:03}").into_bytes())
        .collect();
    let transmit = Transmit::new(t.destination().into(), buf.len()).with_segment_size(Some(8));
    assert_eq!(t.send_transmit(&transmit, &buf).await.unwrap(), 20);
    let mut batch = RecvBatch::new(32, 64);
    let (got, _) = collect_batches(&mut r, &mut batch, "path ", 20).await;
    let got: Vec<String> = got.into_iter().map(|(text, _)| text).collect();
    let want: Vec<String> = (0..20).map(|i| format!("path {i:03}")).collect();
    assert_eq!(got, want);
}

fn wall_ns() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64
}

#[tokio::test]
async fn framed_sink_numbers_and_stamps() {
    let r = Receiver::open(rx(41215).group(g("239.255.42.16"))).unwrap();
    let mut frames = r.into_frames();
    let session = SessionId(std::process::id() ^ 0x5a5a);
    let mut sink = Sender::open(tx("239.255.42.16", 41215))
        .unwrap()
        .into_framed(session);
    assert_eq!(sink.session(), session);
    assert_eq!(sink.next_seq(), Seq(0));
    let before = wall_ns();
    sink.send("zero").await.unwrap();
    sink.send(b"one".to_vec()).await.unwrap();
    // Too long for one datagram: refused, and no sequence number is used.
    let huge = vec![0u8; sink.max_payload() + 1];
    assert!(matches!(sink.send(&huge[..]).await, Err(Error::Encode(_))));
    assert_eq!(sink.next_seq(), Seq(2));
    sink.send(bytes::Bytes::from_static(b"two")).await.unwrap();
    // An empty payload is a frame too.
    sink.send(&b""[..]).await.unwrap();
    let after = wall_ns();
    assert_eq!(sink.frames_sent(), 4);
    assert_eq!(sink.next_seq(), Seq(4));
    let mut got = Vec::new();
    tokio::time::timeout(WAIT, async {
        while got.len() < 4 {
            let f = frames.next().await.expect("stream ended").unwrap();
            if f.session == session {
                got.push(f);
            }
        }
    })
    .await
    .expect("four frames");
    let payloads: [&[u8]; 4] = [b"zero", b"one", b"two", b""];
    let mut last = 0;
    for (i, f) in got.iter().enumerate() {
        assert_eq!(f.seq, Seq(i as u64));
        assert_eq!(&f.payload[..], payloads[i]);
        assert_eq!(f.tag, None);
        assert!(
            (before..=after).contains(&f.sent_at_ns),
            "stamp {} outside {before}..={after}",
            f.sent_at_ns
        );
        assert!(f.sent_at_ns >= last, "stamps go forward");
        last = f.sent_at_ns;
        assert_eq!(f.meta.destination, Some(g("239.255.42.16").addr()));
    }
}

/// Receives batches until `want` datagrams whose payload starts with `prefix` have arrived
/// (bounded by `WAIT`); returns them as (payload, meta) in arrival order, and the sizes of the
/// batches. Other datagrams are skipped.
async fn collect_batches(
    r: &mut Receiver,
    batch: &mut RecvBatch,
    prefix: &str,
    want: usize,
) -> (Vec<(String, RecvMeta)>, Vec<usize>) {
    let mut got = Vec::new();
    let mut sizes = Vec::new();
    let done = tokio::time::timeout(WAIT, async {
        while got.len() < want {
            let n = r.recv_batch(batch).await.unwrap();
            assert!(n >= 1, "recv_batch returned an empty batch");
            assert_eq!(n, batch.len());
            sizes.push(n);
            for (bytes, meta) in batch.iter() {
                let text = String::from_utf8_lossy(bytes).into_owned();
                if text.starts_with(prefix) {
                    got.push((text, *meta));
                }
            }
        }
    })
    .await;
    assert!(done.is_ok(), "only {} of {want} datagrams", got.len());
    (got, sizes)
}

/// 64 datagrams sent before receiving arrive through `recv_batch`, in order, each with its
/// group, sender and interface; a batch smaller than the backlog takes several calls.
#[tokio::test]
async fn recv_batch_keeps_order_and_metadata() {
    const N: usize = 64;
    let group = g("239.255.42.17");
    let mut r = Receiver::open(rx(41216).group(group)).unwrap();
    let t = Sender::open(tx("239.255.42.17", 41216)).unwrap();
    let sender_port = t.local_addr().unwrap().port();
    for i in 0..N {
        t.send(format!("batch {i}").as_bytes()).await.unwrap();
    }
    let mut batch = RecvBatch::new(16, 1500);
    let (got, sizes) = collect_batches(&mut r, &mut batch, "batch ", N).await;
    let texts: Vec<&str> = got.iter().map(|(text, _)| text.as_str()).collect();
    let expected: Vec<String> = (0..N).map(|i| format!("batch {i}")).collect();
    assert_eq!(texts, expected);
    assert!(sizes.iter().all(|&n| n <= 16), "{sizes:?}");
    assert!(sizes.len() >= N / 16, "{sizes:?}");
    for (text, meta) in &got {
        assert_eq!(meta.destination, Some(group.addr()), "{text}");
        assert_eq!(
            meta.source,
            SocketAddr::from((Ipv4Addr::LOCALHOST, sender_port)),
            "{text}"
        );
        assert_eq!(
            meta.ifindex,
            mcast_sync::resolve::name_to_index("lo"),
            "{text}"
        );
        assert_eq!(meta.len, text.len());
    }
}

/// A datagram longer than the batch's buffers is cut to them and marked truncated; its
/// neighbours are not.
#[tokio::test]
async fn recv_batch_marks_truncation() {
    let mut r = Receiver::open(rx(41220).group(g("239.255.42.21"))).unwrap();
    let t = Sender::open(tx("239.255.42.21", 41220)).unwrap();
    for payload in ["trunc", "trunc and then some", "trunc"] {
        t.send(payload.as_bytes()).await.unwrap();
    }
    let mut batch = RecvBatch::new(8, 8);
    let mut seen = Vec::new();
    tokio::time::timeout(WAIT, async {
        while seen.len() < 3 {
            r.recv_batch(&mut batch).await.unwrap();
            for i in 0..batch.len() {
                let (bytes, _) = batch.get(i).unwrap();
                if bytes.starts_with(b"trunc") {
                    seen.push((bytes.to_vec(), batch.is_truncated(i)));
                }
            }
        }
    })
    .await
    .expect("three datagrams");
    assert_eq!(
        seen,
        [
            (b"trunc".to_vec(), false),
            (b"trunc an".to_vec(), true),
            (b"trunc".to_vec(), false)
        ]
    );
}

/// Two groups joined on two sockets (`groups_per_socket(1)`): one `recv_batch` fills the batch
/// from both readable sockets, each datagram attributed to its group, each group's datagrams
/// in order.
#[tokio::test]
async fn recv_batch_over_two_sockets() {
    const N: usize = 8;
    let groups = [g("239.255.42.18"), g("239.255.42.19")];
    let mut r = Receiver::open(rx(41217).groups(groups).groups_per_socket(1)).unwrap();
    assert_eq!(r.socket_count(), 2);
    let senders: Vec<Sender> = groups
        .iter()
        .map(|gr| Sender::open(tx(&gr.to_string(), 41217)).unwrap())
        .collect();
    for i in 0..N {
        for (k, t) in senders.iter().enumerate() {
            t.send(format!("two {k} {i}").as_bytes()).await.unwrap();
        }
    }
    // Let every datagram land (and the reactor see both sockets readable) before receiving.
    tokio::time::sleep(Duration::from_millis(100)).await;
    let mut batch = RecvBatch::new(64, 1500);
    let (got, sizes) = collect_batches(&mut r, &mut batch, "two ", 2 * N).await;
    assert_eq!(sizes, [2 * N], "one call takes the backlog of both sockets");
    let mut next = [0usize; 2];
    for (text, meta) in &got {
        let mut fields = text.split(' ').skip(1).map(|f| f.parse::<usize>().unwrap());
        let (k, i) = (fields.next().unwrap(), fields.next().unwrap());
        assert_eq!(meta.destination, Some(groups[k].addr()), "{text}");
        assert_eq!(i, next[k], "group {k} out of order");
        next[k] += 1;
    }
    assert_eq!(next, [N, N]);
    // Later datagrams on either socket alone still wake the receiver.
    for (k, t) in senders.iter().enumerate().rev() {
        t.send(format!("late {k}").as_bytes()).await.unwrap();
        let (got, _) = collect_batches(&mut r, &mut batch, "late ", 1).await;
        assert_eq!(got[0].0, format!("late {k}"));
        assert_eq!(got[0].1.destination, Some(groups[k].addr()));
    }
}

#[tokio::test]
async fn recv_batch_honours_read_timeout() {
    let timeout = Duration::from_millis(200);
    let mut r = Receiver::open(
        rx(41218)
            .group(g("239.255.42.20"))
            .read_timeout(Some(timeout)),
    )
    .unwrap();
    let mut batch = RecvBatch::new(8, 1500);
    let start = tokio::time::Instant::now();
    let e = tokio::time::timeout(WAIT, r.recv_batch(&mut batch))
        .await
        .expect("the read timeout fires before the test's bound")
        .unwrap_err();
    assert!(e.is_timeout(), "{e:?}");
    assert!(
        matches!(e, Error::Socket(mcast_sync::Error::TimedOut(t)) if t == timeout),
        "{e:?}"
    );
    assert!(start.elapsed() >= timeout);
    assert!(batch.is_empty());
    // After a timeout the receiver goes on.
    Sender::open(tx("239.255.42.20", 41218))
        .unwrap()
        .send(b"after the batch timeout")
        .await
        .unwrap();
    let (got, _) = collect_batches(&mut r, &mut batch, "after the batch timeout", 1).await;
    assert_eq!(got[0].1.destination, Some(g("239.255.42.20").addr()));
}

/// A `recv_batch` future that was polled (registered for readiness) and then dropped takes no
/// datagram with it: all of them arrive in the next call, in order.
#[tokio::test]
async fn dropped_recv_batch_loses_nothing() {
    let mut r = Receiver::open(rx(41219).group(g("239.255.42.22"))).unwrap();
    let mut batch = RecvBatch::new(32, 1500);
    send_while_pending(
        r.recv_batch(&mut batch),
        tx("239.255.42.22", 41219),
        (0..5).map(|i| format!("pend {i}")),
    )
    .await;
    assert!(batch.is_empty(), "the dropped future took datagrams");
    let (got, _) = collect_batches(&mut r, &mut batch, "pend ", 5).await;
    let texts: Vec<&str> = got.iter().map(|(text, _)| text.as_str()).collect();
    assert_eq!(texts, ["pend 0", "pend 1", "pend 2", "pend 3", "pend 4"]);
    for (_, meta) in &got {
        assert_eq!(meta.destination, Some(g("239.255.42.22").addr()));
    }
}

/// `recv_batch` in a `select!` loop against a ticker, with datagrams trickling in from another
/// task: the ticker often wins while `recv_batch` waits, and every datagram arrives once.
#[tokio::test]
async fn recv_batch_select_loop_loses_nothing() {
    const N: usize = TRICKLE;
    let (mut r, sending) = receiver_with_trickle("239.255.42.23", 41224, "bsel ");
    let mut ticks = tokio::time::interval(Duration::from_millis(1));
    let mut batch = RecvBatch::new(8, 64);
    let mut seen = Vec::new();
    let mut ticked = 0u64;
    let done = tokio::time::timeout(Duration::from_secs(5), async {
        while seen.len() < N {
            tokio::select! {
                n = r.recv_batch(&mut batch) => {
                    assert!(n.unwrap() >= 1);
                    seen.extend(batch.iter().filter_map(|(bytes, _)| numbered(bytes, "bsel ")));
                }
                _ = ticks.tick() => ticked += 1,
            }
        }
    })
    .await;
    sending.await.unwrap();
    assert!(done.is_ok(), "only {} of {N} datagrams", seen.len());
    assert_eq!(
        seen,
        (0..N).collect::<Vec<_>>(),
        "lost, repeated or reordered"
    );
    assert!(
        ticked > 0,
        "the other branch never won: the test proved nothing"
    );
}

/// A receive driver with the default session and a batch of 64.
fn recv_driver() -> RecvDriver {
    RecvDriver::new(
        core::Receiver::new(ReceiverConfig::default(), Instant::now()),
        RecvBatch::new(64, 2048),
    )
}

/// Runs `driver` on `r` until a stream's end arrives (bounded by 10 s) and returns the
/// payloads of the data frames it saw.
async fn receive_until_end(driver: &mut RecvDriver, r: &mut Receiver) -> Vec<Vec<u8>> {
    let mut payloads = Vec::new();
    let drive = driver
        .run(
            r,
            Some(Instant::now() + Duration::from_secs(10)),
            pending::<()>(),
            |_, d| {
                if let core::Datagram::Framed { frame, .. } = d {
                    payloads.push(frame.payload.to_vec());
                }
                ControlFlow::Continue(())
            },
            |e| {
                if matches!(e, Event::StreamEnd { .. }) {
                    ControlFlow::Break(())
                } else {
                    ControlFlow::Continue(())
                }
            },
        )
        .await
        .unwrap();
    assert_eq!(drive, Drive::Finished, "the stream's end arrived");
    payloads
}

/// A paced, framed stream from the async send driver to the async receive driver, in one
/// task: 300 frames 200 µs apart, all counted, none lost, and the stream's end arrives.
#[tokio::test]
async fn drivers_paced_framed_stream() {
    const N: u64 = 300;
    let interval = Duration::from_micros(200);
    let mut r =
        Receiver::open(rx(41227).group(g("239.255.43.1")).recv_buffer_size(4 << 20)).unwrap();
    let t = Sender::open(tx("239.255.43.1", 41227)).unwrap();
    let mut send = SendDriver::new(core::Sender::new(SenderConfig {
        framed: true,
        session: SessionId(43),
        count: Some(N),
        interval: Some(interval),
        ..SenderConfig::new(t.destination())
    }));
    let mut recv = recv_driver();
    let mut ends = 0;
    let started = Instant::now();
    let (drive, payloads) = tokio::join!(
        send.run(
            &t,
            b"paced",
            Some(started + Duration::from_secs(10)),
            pending::<()>(),
            |sent| ends += usize::from(sent.is_end),
        ),
        receive_until_end(&mut recv, &mut r),
    );
    assert_eq!(drive.unwrap(), Drive::Finished);
    assert!(
        started.elapsed() >= interval * (N as u32 - 1),
        "faster than the pace: {:?}",
        started.elapsed()
    );
    assert_eq!(ends, 3, "three end-of-session frames");
    assert_eq!((send.datagrams_sent(), send.host_drops()), (N, 0));
    assert_eq!(send.bytes_sent(), N * (frame::HEADER_LEN as u64 + 5));
    assert_eq!(payloads.len(), N as usize);
    assert!(payloads.iter().all(|p| p == b"paced"));
    let stats = recv.stats();
    let s = &stats.streams[0];
    assert_eq!((s.received, s.lost, s.duplicates), (N, 0, 0));
    assert_eq!(s.session, SessionId(43));
    assert_eq!(stats.streams_ended, 1);
}

/// An empty raw payload is one zero-length datagram per transmit through the async send
/// driver (never a GSO batch of empty segments), and the async receiver hands it over.
#[tokio::test]
async fn empty_payloads_are_zero_length_datagrams() {
    let r = Receiver::open(rx(41234).group(g("239.255.43.34"))).unwrap();
    let mut stream = r.into_datagrams();
    let t = Sender::open(tx("239.255.43.34", 41234)).unwrap();
    let mut send = SendDriver::new(core::Sender::new(SenderConfig {
        count: Some(3),
        max_segments: 64,
        ..SenderConfig::new(t.destination())
    }));
    let mut transmits = Vec::new();
    let drive = send
        .run(
            &t,
            b"",
            Some(Instant::now() + Duration::from_secs(10)),
            pending::<()>(),
            |sent| transmits.push(sent.datagrams),
        )
        .await;
    assert_eq!(drive.unwrap(), Drive::Finished);
    assert_eq!(transmits, [1, 1, 1]);
    assert_eq!(send.datagrams_sent(), 3);
    let lens = tokio::time::timeout(WAIT, async {
        let mut lens = Vec::new();
        while lens.len() < 3 {
            let d = stream.next().await.expect("stream ended").unwrap();
            lens.push((d.bytes.len(), d.meta.len));
        }
        lens
    })
    .await
    .expect("three empty datagrams");
    assert_eq!(lens, [(0, 0); 3]);
}

/// Unpaced GSO batches (256 frames, 64 per transmit) reach the receive driver whole and in
/// order.
#[tokio::test]
async fn drivers_unpaced_gso_batches() {
    let mut r =
        Receiver::open(rx(41228).group(g("239.255.43.2")).recv_buffer_size(4 << 20)).unwrap();
    let t = Sender::open(tx("239.255.43.2", 41228)).unwrap();
    let mut send = SendDriver::new(core::Sender::new(SenderConfig {
        framed: true,
        count: Some(256),
        max_segments: 64,
        ..SenderConfig::new(t.destination())
    }));
    let mut recv = recv_driver();
    let mut batches = Vec::new();
    let (drive, payloads) = tokio::join!(
        send.run(
            &t,
            &[7; 100],
            Some(Instant::now() + Duration::from_secs(10)),
            pending::<()>(),
            |sent| {
                if !sent.is_end {
                    batches.push(sent.datagrams);
                }
            },
        ),
        receive_until_end(&mut recv, &mut r),
    );
    assert_eq!(drive.unwrap(), Drive::Finished);
    assert_eq!(batches, [64, 64, 64, 64], "four GSO-shaped transmits");
    assert_eq!(send.transmits(), 4 + 3, "and three end-of-session frames");
    assert_eq!(send.datagrams_sent(), 256);
    assert_eq!(payloads.len(), 256);
    assert!(payloads.iter().all(|p| p[..] == [7; 100]));
    let stats = recv.stats();
    assert_eq!((stats.framed, stats.lost, stats.reordered), (256, 0, 0));
}

/// A time limit and a stop future end both loops, a stop even in the middle of a wait.
#[tokio::test]
async fn drivers_stop_and_limit_end_the_loops() {
    let mut r = Receiver::open(rx(41229).group(g("239.255.43.3"))).unwrap();
    let mut recv = recv_driver();
    let started = Instant::now();
    let drive = recv
        .run(
            &mut r,
            Some(started + Duration::from_millis(150)),
            pending::<()>(),
            |_, _| ControlFlow::Continue(()),
            |_| ControlFlow::Continue(()),
        )
        .await
        .unwrap();
    assert_eq!(drive, Drive::Limit);
    assert!(started.elapsed() >= Duration::from_millis(150));

    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let stopper = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let _ = stop.send(());
    });
    let started = Instant::now();
    let drive = recv
        .run(
            &mut r,
            None,
            stopped,
            |_, _| ControlFlow::Continue(()),
            |_| ControlFlow::Continue(()),
        )
        .await
        .unwrap();
    assert_eq!(drive, Drive::Stopped);
    assert!(started.elapsed() >= Duration::from_millis(100));
    assert!(started.elapsed() < Duration::from_secs(2));
    stopper.await.unwrap();

    // Senders paced at one datagram a second end between datagrams: one when asked, one at
    // its limit.
    let t = Sender::open(tx("239.255.43.3", 41229)).unwrap();
    let paced = || {
        core::Sender::new(SenderConfig {
            interval: Some(Duration::from_secs(1)),
            count: Some(10),
            ..SenderConfig::new(t.destination())
        })
    };
    let mut send = SendDriver::new(paced());
    let started = Instant::now();
    let stop = tokio::time::sleep(Duration::from_millis(200));
    let drive = send.run(&t, b"x", None, stop, |_| {}).await.unwrap();
    assert_eq!(drive, Drive::Stopped);
    assert_eq!(send.datagrams_sent(), 1);
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "stopped before the next datagram"
    );
    let mut send = SendDriver::new(paced());
    let started = Instant::now();
    let limit = started + Duration::from_millis(200);
    let drive = send
        .run(&t, b"x", Some(limit), pending::<()>(), |_| {})
        .await
        .unwrap();
    assert_eq!(drive, Drive::Limit);
    assert_eq!(send.datagrams_sent(), 1);
    assert!(started.elapsed() >= Duration::from_millis(200));
    assert!(started.elapsed() < Duration::from_secs(1));
}

/// An unpaced sender (bounded: 10,000 datagrams or 200 ms) yields to the runtime after
/// `BUDGET` transmits: a task spawned on the same thread has run by the next one. The sender
/// runs `unconstrained`, so it is the driver's own budget that yields, not tokio's. No
/// receiver joins its group; the datagrams end on `lo`.
#[tokio::test]
async fn send_driver_does_not_starve_the_runtime() {
    let t = Sender::open(tx("239.255.43.9", 41233)).unwrap();
    let mut send = SendDriver::new(core::Sender::new(SenderConfig {
        count: Some(10_000),
        ..SenderConfig::new(t.destination())
    }));
    // The first send waits for tokio to learn that the socket is writable, which yields; the
    // driver's sends should not.
    t.send(b"warm-up").await.unwrap();
    let ran = Arc::new(AtomicBool::new(false));
    let flag = Arc::clone(&ran);
    let other = tokio::spawn(async move { flag.store(true, Ordering::SeqCst) });
    let limit = Instant::now() + Duration::from_millis(200);
    let mut transmits = 0;
    let mut ran_by = None;
    let drive =
        tokio::task::unconstrained(send.run(&t, b"unpaced", Some(limit), pending::<()>(), |_| {
            transmits += 1;
            if ran_by.is_none() && ran.load(Ordering::SeqCst) {
                ran_by = Some(transmits);
            }
        }))
        .await
        .unwrap();
    assert!(matches!(drive, Drive::Finished | Drive::Limit), "{drive:?}");
    let ran_by = ran_by.expect("the other task never ran while the sender sent");
    assert!(
        ran_by <= BUDGET + 1,
        "the other task ran by transmit {ran_by}"
    );
    other.await.unwrap();
}

/// Frames sent by hand (sequence 3 skipped, 5 twice, a raw datagram, then an end-of-session
/// frame) through a `RecvStream`: the user consumes the frames, and the statistics of those
/// very frames show the gap, the duplicate and the stream's end.
#[tokio::test]
async fn recv_stream_counts_the_frames_it_yields() {
    let (group, port) = ("239.255.43.4", 41230);
    let r = Receiver::open(rx(port).group(g(group))).unwrap();
    let mut stream = RecvDriver::new(
        core::Receiver::new(ReceiverConfig::default(), Instant::now()),
        RecvBatch::new(16, 2048),
    )
    .into_stream(r);
    let mut sink = Sender::open(tx(group, port)).unwrap().into_frame_sink();
    let session = SessionId(0x4304);
    for seq in [0, 1, 2, 4, 5, 5] {
        let payload = format!("frame {seq}");
        let repr = FrameRepr {
            flags: Flags::empty(),
            session,
            seq: Seq(seq),
            sent_at_ns: wall_ns(),
            payload: payload.as_bytes(),
            tag: None,
        };
        sink.send(repr).await.unwrap();
    }
    Sender::open(tx(group, port))
        .unwrap()
        .send(b"plain text")
        .await
        .unwrap();
    let end = EndOfSession {
        first: Seq(0),
        end: Seq(6),
    };
    let body = end.payload();
    sink.send(end.repr(session, wall_ns(), &body))
        .await
        .unwrap();

    let mut frames = Vec::new();
    let mut raw = Vec::new();
    let mut events = Vec::new();
    tokio::time::timeout(WAIT, async {
        loop {
            match stream.next().await.expect("the stream never ends").unwrap() {
                Received::Frame { frame, arrival } => {
                    assert_eq!(frame.session, session);
                    assert_eq!(frame.payload, format!("frame {}", frame.seq.0).as_bytes());
                    assert_eq!(frame.meta.destination, Some(g(group).addr()));
                    if frame.seq == Seq(4) {
                        assert_eq!(stream.stats().lost, 1, "the gap counts at once");
                    }
                    frames.push((frame.seq.0, arrival));
                }
                Received::Raw(d) => raw.push(d.bytes),
                Received::Event(e) => {
                    let end = matches!(e, Event::StreamEnd { .. });
                    events.push(e);
                    if end {
                        return;
                    }
                }
                other => panic!("unexpected {other:?}"),
            }
        }
    })
    .await
    .expect("the stream's end");
    assert_eq!(
        frames,
        [
            (0, Arrival::First),
            (1, Arrival::InOrder),
            (2, Arrival::InOrder),
            (4, Arrival::Gap { missing: 1 }),
            (5, Arrival::InOrder),
            (5, Arrival::Duplicate),
        ]
    );
    assert_eq!(raw, [&b"plain text"[..]]);
    assert!(
        matches!(events[0], Event::NewStream { seq: Seq(0), .. }),
        "{events:?}"
    );
    assert!(
        matches!(
            events[1],
            Event::Gap {
                first: Seq(3),
                count: 1,
                ..
            }
        ),
        "{events:?}"
    );
    assert!(
        matches!(events[2], Event::Duplicate { seq: Seq(5), .. }),
        "{events:?}"
    );
    assert!(
        matches!(events[3], Event::StreamEnd { lost: 1, end: e, .. } if e == end),
        "{events:?}"
    );
    assert_eq!(events.len(), 4);
    let stats = stream.stats();
    assert_eq!(
        stats.framed,
        frames.len() as u64,
        "every frame yielded is counted"
    );
    assert_eq!(
        (
            stats.lost,
            stats.duplicates,
            stats.streams_ended,
            stats.end_frames,
            stats.raw
        ),
        (1, 1, 1, 1, 1)
    );
    assert_eq!(stats.streams[0].received, 6);
    let (driver, r) = stream.into_parts();
    assert_eq!(driver.stats().lost, 1);
    assert_eq!(r.groups(), [g(group)]);
}

/// Without traffic, a `RecvStream` still runs the session's timer (reports every 50 ms) and
/// yields read timeouts, and goes on after them.
#[tokio::test]
async fn recv_stream_reports_and_times_out_without_traffic() {
    let (group, port) = ("239.255.43.5", 41231);
    let timeout = Duration::from_millis(300);
    let r = Receiver::open(rx(port).group(g(group)).read_timeout(Some(timeout))).unwrap();
    let session = core::Receiver::new(
        ReceiverConfig {
            report_interval: Some(Duration::from_millis(50)),
            ..ReceiverConfig::default()
        },
        Instant::now(),
    );
    let mut stream = RecvDriver::new(session, RecvBatch::new(8, 2048)).into_stream(r);
    let started = Instant::now();
    let mut reports = 0;
    let e = tokio::time::timeout(WAIT, async {
        loop {
            match stream.next().await.expect("the stream never ends") {
                Ok(Received::Event(Event::Report(_))) => reports += 1,
                Ok(other) => panic!("unexpected {other:?}"),
                Err(e) => return e,
            }
        }
    })
    .await
    .expect("the read timeout fires before the test's bound");
    assert!(e.is_timeout(), "{e:?}");
    assert!(started.elapsed() >= timeout);
    assert!(reports >= 2, "{reports} reports in {timeout:?}");
    Sender::open(tx(group, port))
        .unwrap()
        .send(b"after the timeout")
        .await
        .unwrap();
    let got = tokio::time::timeout(WAIT, async {
        loop {
            match stream.next().await.expect("the stream never ends") {
                Ok(Received::Raw(d)) => return d,
                Ok(Received::Event(_)) => {}
                Ok(other) => panic!("unexpected {other:?}"),
                // A timeout may race the send; the stream goes on.
                Err(e) => assert!(e.is_timeout(), "{e:?}"),
            }
        }
    })
    .await
    .expect("datagram");
    assert_eq!(got.bytes, b"after the timeout"[..]);
    assert_eq!(stream.stats().raw, 1);
}

/// `RecvDriver::run` in a `select!` loop against a ticker, with datagrams trickling in: the
/// ticker often wins and drops the run, and every datagram is still handled once, in order.
#[tokio::test]
async fn recv_driver_in_a_select_loop_loses_nothing() {
    const N: usize = TRICKLE;
    let (mut r, sending) = receiver_with_trickle("239.255.43.6", 41232, "drv ");
    let mut driver = recv_driver();
    let mut ticks = tokio::time::interval(Duration::from_millis(1));
    let mut seen = Vec::new();
    let mut ticked = 0u64;
    let done = tokio::time::timeout(Duration::from_secs(5), async {
        while seen.len() < N {
            tokio::select! {
                drive = driver.run(
                    &mut r,
                    None,
                    pending::<()>(),
                    |_, d| {
                        if let core::Datagram::Raw(bytes) = d {
                            seen.extend(numbered(bytes, "drv "));
                        }
                        ControlFlow::Continue(())
                    },
                    |_| ControlFlow::Continue(()),
                ) => panic!("the run ended: {drive:?}"),
                _ = ticks.tick() => ticked += 1,
            }
        }
    })
    .await;
    sending.await.unwrap();
    assert!(done.is_ok(), "only {} of {N} datagrams", seen.len());
    assert_eq!(
        seen,
        (0..N).collect::<Vec<_>>(),
        "lost, repeated or reordered"
    );
    assert_eq!(driver.stats().raw, N as u64);
    assert!(
        ticked > 0,
        "the other branch never won: the test proved nothing"
    );
}

/// IPv6 over a veth pair (`mva` fe80::a — `mvb` fe80::b) in a network namespace private to
/// one thread, with its own runtime.
#[test]
fn v6_veth_async() {
    in_veth_netns("v6_veth_async", || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let groups = [g("ff15::4201"), g("ff15::4202")];
            let mut r = Receiver::open(
                Receiver::builder(41208)
                    .groups(groups)
                    .iface(IfaceSpec::Name("mvb".into())),
            )
            .unwrap();
            for group in groups {
                let t = Sender::builder(group, 41208)
                    .iface(IfaceSpec::Name("mva".into()))
                    .loopback(false);
                let payload = format!("to {group}");
                let meta = send_recv(t, &mut r, payload.as_bytes())
                    .await
                    .expect("datagram");
                assert_eq!(meta.destination, Some(group.addr()));
                assert_eq!(meta.ifindex, mcast_sync::resolve::name_to_index("mvb"));
            }
        });
    });
}

/// One async receiver on both ends of a veth pair (`ifaces`), in a namespace private to one
/// thread: the kernel lists the group on both, and a datagram sent out of either end (loop
/// off, so only the copy that crosses the pair) arrives, with the interface it came in on.
#[test]
fn one_async_receiver_on_two_interfaces() {
    in_veth_netns("one_async_receiver_on_two_interfaces", || {
        let index = |name| mcast_sync::resolve::name_to_index(name).unwrap();
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let group = g("ff15::4203");
            let mut r = Receiver::open(
                Receiver::builder(41211)
                    .group(group)
                    .ifaces([IfaceSpec::Name("mva".into()), IfaceSpec::Name("mvb".into())]),
            )
            .unwrap();
            let indexes: Vec<u32> = r.ifaces().map(|i| i.index).collect();
            assert_eq!(indexes, [index("mva"), index("mvb")]);
            // This thread's namespace, not the process's (`/proc/net` is the main thread's).
            let igmp6 = std::fs::read_to_string("/proc/thread-self/net/igmp6").unwrap();
            let m = mcast_core::proc::parse_igmp6(&igmp6);
            assert!(
                m.is_joined("mva", group) && m.is_joined("mvb", group),
                "{igmp6}"
            );
            for (out, comes_in) in [("mva", "mvb"), ("mvb", "mva")] {
                let t = Sender::builder(group, 41211)
                    .iface(IfaceSpec::Name(out.into()))
                    .loopback(false);
                let payload = format!("out of {out}");
                let meta = send_recv(t, &mut r, payload.as_bytes())
                    .await
                    .unwrap_or_else(|| panic!("nothing came in on {comes_in}"));
                assert_eq!(meta.destination, Some(group.addr()));
                assert_eq!(meta.ifindex, Some(index(comes_in)));
            }
        });
    });
}

/// A datagram longer than `recv_from`'s buffer is reported, never cut silently, and the next
/// one comes next.
#[tokio::test]
async fn recv_from_reports_truncation() {
    let mut r = Receiver::open(rx(43031).group(g("239.255.43.31"))).unwrap();
    let t = Sender::open(tx("239.255.43.31", 43031)).unwrap();
    let long: Vec<u8> = (0..100u8).collect();
    t.send(&long).await.unwrap();
    t.send(b"after").await.unwrap();
    let mut small = [0u8; 16];
    let first = tokio::time::timeout(WAIT, r.recv_from(&mut small))
        .await
        .expect("bounded");
    match first {
        Err(Error::Socket(mcast_sync::Error::Truncated { meta, capacity })) => {
            assert_eq!((meta.len, capacity), (100, 16));
        }
        other => panic!("expected a truncation, got {other:?}"),
    }
    assert_eq!(small, long[..16]);
    let (n, _) = tokio::time::timeout(WAIT, r.recv_from(&mut small))
        .await
        .expect("bounded")
        .unwrap();
    assert_eq!(&small[..n], b"after");
}

/// `into_framed_with` numbers from the first sequence number given and sets the flags in
/// every frame; `get_mut` reaches the sender and `into_inner` gives it back (and the frame
/// stream's receiver, which joins a second group through `get_mut`).
#[tokio::test]
async fn framed_sink_first_seq_and_flags_and_inner() {
    let (a, b) = (g("239.255.43.32"), g("239.255.43.33"));
    let mut frames = Receiver::open(rx(43032).group(a).bind_addr(Ipv4Addr::UNSPECIFIED.into()))
        .unwrap()
        .into_frames();
    frames.get_mut().join(b).unwrap();
    assert_eq!(frames.get_ref().groups(), [a, b]);
    let mut sink = Sender::open(tx("239.255.43.33", 43032))
        .unwrap()
        .into_framed_with(SessionId(43), Seq(1000), Flags(0x80));
    sink.get_mut().set_ttl(0).unwrap();
    for line in ["one", "two"] {
        sink.send(line).await.unwrap();
    }
    assert_eq!(sink.next_seq(), Seq(1002));
    let mut got = Vec::new();
    tokio::time::timeout(WAIT, async {
        while got.len() < 2 {
            let f = frames.next().await.expect("stream ended").unwrap();
            if f.session == SessionId(43) {
                got.push(f);
            }
        }
    })
    .await
    .expect("two frames");
    for (i, f) in got.iter().enumerate() {
        assert_eq!(f.seq, Seq(1000 + i as u64));
        assert_eq!(f.flags, Flags(0x80));
        assert_eq!(f.meta.destination, Some(b.addr()));
    }
    let tx = sink.into_inner();
    assert_eq!(tx.destination(), "239.255.43.33:43032".parse().unwrap());
    let rx = frames.into_inner();
    assert_eq!(rx.port(), 43032);
}

/// The async sender lends its socket and changes TTL and loop in place; the receiver lends
/// all of its sockets.
#[tokio::test]
async fn sockets_lent_and_options_changed() {
    use std::os::fd::{AsFd, AsRawFd};
    let t = Sender::open(tx("239.255.43.34", 43033)).unwrap();
    assert_eq!(t.as_fd().as_raw_fd(), t.as_raw_fd());
    t.set_ttl(2).unwrap();
    t.set_loopback(false).unwrap();
    assert_eq!((t.ttl().unwrap(), t.loopback().unwrap()), (2, false));
    t.set_ttl(0).unwrap();
    let r = Receiver::open(rx(43033).group(g("239.255.43.34"))).unwrap();
    assert_eq!(r.fds().len(), r.socket_count());
}
