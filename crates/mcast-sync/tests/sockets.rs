//! Adapter tests on real sockets. Every test pins its interface: IPv4 tests use `lo`
//! (127.0.0.1, TTL 0), in the host's network namespace or, where a test needs a small MTU, in
//! one of its own; IPv6 tests run in a network namespace of their own with a veth pair. The
//! namespaces, the pair and the root check are mcast-testkit's.
//! Each test uses its own groups and port, and recognises its datagrams by a unique payload, so
//! tests running in parallel (or other programs on `lo`) cannot confuse it.

use std::collections::BTreeSet;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use mcast_core::addr::{Group, Source};
use mcast_core::iface::IfaceSpec;
use mcast_core::{RecvMeta, Transmit};
use mcast_sync::{Error, Receiver, ReceiverBuilder, RecvBatch, SendPath, Sender, SenderBuilder};
use mcast_testkit::loopback::{backlog_drops, LO_V4};
use mcast_testkit::netns::in_private_netns;
use mcast_testkit::privilege::{has_cap_net_admin, skip_unless_root};

const WAIT: Duration = Duration::from_secs(2);
const QUIET: Duration = Duration::from_millis(300);

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

/// Waits up to `wait` for a datagram whose payload is `payload`; other datagrams are skipped.
fn expect(rx: &mut Receiver, payload: &[u8], wait: Duration) -> Option<RecvMeta> {
    let end = Instant::now() + wait;
    let mut buf = [0u8; 2048];
    loop {
        let left = end.checked_duration_since(Instant::now())?;
        rx.set_read_timeout(Some(left.max(Duration::from_millis(1))));
        match rx.recv(&mut buf) {
            Ok((n, meta)) if &buf[..n] == payload => return Some(meta),
            Ok(_) => {}
            Err(e) if e.is_timeout() => return None,
            Err(e) => panic!("recv failed: {e}"),
        }
    }
}

/// The helper behind most tests: builds the sender, sends `payload` once, and returns what the
/// receiver got (or `None` when nothing arrived within `wait`).
fn send_recv(
    tx: SenderBuilder,
    rx: &mut Receiver,
    payload: &[u8],
    wait: Duration,
) -> Option<RecvMeta> {
    let tx = tx.build().unwrap();
    assert_eq!(tx.send(payload).unwrap(), payload.len());
    expect(rx, payload, wait)
}

fn lo_index() -> u32 {
    mcast_sync::resolve::name_to_index("lo").unwrap()
}

#[test]
fn v4_loopback() {
    let mut r = rx(41001).group(g("239.255.41.1")).build().unwrap();
    assert_eq!(r.socket_count(), 1);
    assert_eq!(
        r.local_addr().unwrap(),
        "239.255.41.1:41001".parse().unwrap()
    );
    let meta =
        send_recv(tx("239.255.41.1", 41001), &mut r, b"v4_loopback", WAIT).expect("datagram");
    assert_eq!(meta.source.ip(), IpAddr::V4(Ipv4Addr::LOCALHOST));
    assert_eq!(meta.destination, Some(g("239.255.41.1").addr()));
    assert_eq!(meta.ifindex, Some(lo_index()));
    assert_eq!(meta.len, b"v4_loopback".len());
}

#[test]
fn v4_iface_by_name_and_index() {
    for (port, spec) in [
        (41002, IfaceSpec::Name("lo".into())),
        (41003, IfaceSpec::Index(lo_index())),
    ] {
        let mut r = Receiver::builder(port)
            .group(g("239.255.41.2"))
            .iface(spec.clone())
            .build()
            .unwrap();
        let t = Sender::builder(g("239.255.41.2"), port)
            .iface(spec.clone())
            .ttl(0);
        let meta = send_recv(t, &mut r, format!("by {spec}").as_bytes(), WAIT).expect("datagram");
        assert_eq!(meta.ifindex, Some(lo_index()));
        assert_eq!(r.iface().name.as_deref(), Some("lo"));
    }
}

/// The lecture's trap: without IP_MULTICAST_ALL=0, a socket bound to 0.0.0.0:50001 and joined to
/// 234.3.2.1 also receives 224.1.1.5:50001 because another socket on the host joined that group.
#[test]
fn ip_multicast_all_trap() {
    let mut only_234 = rx(50001)
        .group(g("234.3.2.1"))
        .bind_addr(Ipv4Addr::UNSPECIFIED.into())
        .build()
        .unwrap();
    assert!(only_234.iface().index != 0);
    let mut joined_224 = rx(50001).group(g("224.1.1.5")).build().unwrap();
    let payload = format!("ip_multicast_all_trap {}", std::process::id());
    let t = tx("224.1.1.5", 50001).build().unwrap();
    t.send(payload.as_bytes()).unwrap();
    assert!(expect(&mut joined_224, payload.as_bytes(), WAIT).is_some());
    assert!(expect(&mut only_234, payload.as_bytes(), QUIET).is_none());
}

#[test]
fn two_receivers_share_port() {
    let mut a = rx(41005).group(g("239.255.41.5")).build().unwrap();
    let mut b = rx(41005).group(g("239.255.41.5")).build().unwrap();
    let t = tx("239.255.41.5", 41005).build().unwrap();
    t.send(b"shared").unwrap();
    assert!(expect(&mut a, b"shared", WAIT).is_some());
    assert!(expect(&mut b, b"shared", WAIT).is_some());
}

#[test]
fn destination_group_reported() {
    let groups = [g("239.255.41.6"), g("239.255.41.7")];
    let mut r = rx(41006).groups(groups).build().unwrap();
    assert_eq!(r.local_addr().unwrap(), "0.0.0.0:41006".parse().unwrap());
    for group in groups {
        let payload = format!("to {group}");
        let meta = send_recv(
            tx(&group.to_string(), 41006),
            &mut r,
            payload.as_bytes(),
            WAIT,
        )
        .expect("datagram");
        assert_eq!(meta.destination, Some(group.addr()), "{payload}");
    }
}

#[test]
fn send_transmit_splits_segments() {
    let mut r = rx(41007).group(g("239.255.41.8")).build().unwrap();
    let t = tx("239.255.41.8", 41007).build().unwrap();
    let buf = b"seg-1seg-2seg-3";
    let transmit =
        Transmit::new("239.255.41.8:41007".parse().unwrap(), buf.len()).with_segment_size(Some(5));
    assert_eq!(t.send_transmit(&transmit, buf).unwrap(), 3);
    for seg in buf.chunks(5) {
        assert!(expect(&mut r, seg, WAIT).is_some(), "{seg:?}");
    }
    let too_big = Transmit::new(t.destination().into(), 100);
    assert!(t.send_transmit(&too_big, buf).is_err());
}

/// A transmit of 0 bytes is one zero-length datagram on every send path (UDP carries them),
/// and the send driver sends one per empty payload it is asked for, none batched.
#[test]
fn empty_transmit_is_one_zero_length_datagram() {
    use mcast_core::session::{Sender as Session, SenderConfig};
    use mcast_sync::driver::{Drive, SendDriver};

    let (group, port) = ("239.255.41.17", 41017);
    let mut r = rx(port).group(g(group)).build().unwrap();
    let mut batch = RecvBatch::new(8, 64);
    // Every datagram on this group and port is one of ours: their lengths, as the receive
    // drivers see them (a batch cut into datagrams).
    let mut arrivals = |r: &mut Receiver| {
        let mut lens = Vec::new();
        r.set_read_timeout(Some(QUIET));
        while r.recv_batch(&mut batch).is_ok() {
            lens.extend(
                batch
                    .datagrams()
                    .map(|(bytes, meta)| (bytes.len(), meta.len)),
            );
        }
        lens
    };
    for path in [SendPath::Gso, SendPath::Mmsg, SendPath::Single] {
        let t = tx(group, port).send_path(path).build().unwrap();
        let empty = Transmit::new(t.destination().into(), 0);
        assert_eq!(t.send_transmit(&empty, &[]).unwrap(), 1, "{path:?}");
        let batch = empty.with_segment_size(Some(0));
        assert_eq!(t.send_transmit(&batch, &[]).unwrap(), 1, "{path:?}");
        assert_eq!(arrivals(&mut r), [(0, 0); 2], "{path:?}");
    }
    let t = tx(group, port).build().unwrap();
    let mut driver = SendDriver::new(Session::new(SenderConfig {
        count: Some(3),
        max_segments: 64,
        ..SenderConfig::new(t.destination())
    }));
    let mut transmits = Vec::new();
    let drive = driver
        .run(
            &t,
            b"",
            None,
            || false,
            |sent| transmits.push(sent.datagrams),
        )
        .unwrap();
    assert_eq!(drive, Drive::Finished);
    assert_eq!(transmits, [1, 1, 1]);
    assert_eq!((driver.datagrams_sent(), driver.bytes_sent()), (3, 0));
    assert_eq!(arrivals(&mut r), [(0, 0); 3]);
}

/// 150 segments: three GSO sends (64 + 64 + 22) where the kernel has UDP GSO, else 150 sends.
#[test]
fn send_transmit_gso_batches() {
    let mut r = rx(41016)
        .group(g("239.255.41.16"))
        .recv_buffer_size(1 << 20)
        .build()
        .unwrap();
    let t = tx("239.255.41.16", 41016).build().unwrap();
    let buf: Vec<u8> = (0..150u32)
        .flat_map(|i| format!("gso-{i:05}").into_bytes())
        .collect();
    let transmit = Transmit::new(t.destination().into(), buf.len()).with_segment_size(Some(9));
    assert_eq!(transmit.datagrams(), 150);
    assert_eq!(t.send_transmit(&transmit, &buf).unwrap(), 150);
    eprintln!("gso in use: {}", t.gso_enabled());
    for seg in buf.chunks(9) {
        assert!(
            expect(&mut r, seg, WAIT).is_some(),
            "{}",
            String::from_utf8_lossy(seg)
        );
    }
    assert!(r.recv_buffer_size().is_some());
}

#[test]
fn sender_reports_local_addr() {
    let t = tx("239.255.41.9", 41008)
        .bind("127.0.0.1:0".parse().unwrap())
        .build()
        .unwrap();
    let local = t.local_addr().unwrap();
    assert_eq!(local.ip(), IpAddr::V4(Ipv4Addr::LOCALHOST));
    assert_ne!(local.port(), 0);
    assert_eq!(t.destination(), "239.255.41.9:41008".parse().unwrap());
}

/// 1,000 groups on one port, past igmp_max_memberships: spread over sockets, every datagram
/// attributed to its group.
#[test]
fn many_groups_1000() {
    let first: Group = g("239.77.0.1");
    let range = mcast_core::addr::GroupRange::new(first, 1000).unwrap();
    let groups: Vec<Group> = range.iter().collect();
    let mut r = rx(41009).groups(groups.iter().copied()).build().unwrap();
    let limit = mcast_sync::error::igmp_max_memberships().unwrap_or(20);
    assert!(
        r.socket_count() >= 1000usize.div_ceil(limit),
        "{} sockets",
        r.socket_count()
    );
    // One sender socket; each core Transmit names its own group.
    let t = tx("239.77.0.1", 41009).build().unwrap();
    for (i, gr) in groups.iter().enumerate() {
        let payload = format!("many {i}");
        let transmit = Transmit::new(SocketAddr::new(gr.addr(), 41009), payload.len());
        assert_eq!(t.send_transmit(&transmit, payload.as_bytes()).unwrap(), 1);
    }
    let mut seen = BTreeSet::new();
    let end = Instant::now() + Duration::from_secs(10);
    let mut buf = [0u8; 64];
    while seen.len() < groups.len() && Instant::now() < end {
        r.set_read_timeout(Some(Duration::from_millis(500)));
        match r.recv(&mut buf) {
            Ok((n, meta)) => {
                let text = std::str::from_utf8(&buf[..n]).unwrap_or("");
                let Some(i) = text
                    .strip_prefix("many ")
                    .and_then(|s| s.parse::<usize>().ok())
                else {
                    continue;
                };
                assert_eq!(meta.destination, Some(groups[i].addr()), "datagram {i}");
                assert!(seen.insert(i), "datagram {i} twice");
            }
            Err(e) if e.is_timeout() => {}
            Err(e) => panic!("{e}"),
        }
    }
    assert_eq!(seen.len(), 1000);
}

/// A limit set too high is corrected by the kernel's ENOBUFS.
#[test]
fn many_groups_enobufs_spreads() {
    let Some(limit) = mcast_sync::error::igmp_max_memberships() else {
        eprintln!("skipped: /proc/sys/net/ipv4/igmp_max_memberships is not readable");
        return;
    };
    let range = mcast_core::addr::GroupRange::new(g("239.78.0.1"), (limit + 5) as u32).unwrap();
    let r = rx(41010)
        .groups(range.iter())
        .groups_per_socket(limit + 100)
        .build()
        .unwrap();
    assert_eq!(r.socket_count(), 2);
}

#[test]
fn v4_ssm() {
    let src: Source = "127.0.0.1".parse().unwrap();
    for (port, spec) in [(41011, lo()), (41012, IfaceSpec::Name("lo".into()))] {
        let mut r = Receiver::builder(port)
            .group(g("232.41.0.1"))
            .source(src)
            .iface(spec)
            .build()
            .unwrap();
        assert_eq!(r.sources(), &[src]);
        let meta =
            send_recv(tx("232.41.0.1", port), &mut r, b"from the source", WAIT).expect("datagram");
        assert_eq!(meta.source.ip(), src.addr());
        // A sender on another address is filtered out.
        let other = tx("232.41.0.1", port).bind("127.0.0.2:0".parse().unwrap());
        assert!(send_recv(other, &mut r, b"from elsewhere", QUIET).is_none());
    }
}

#[test]
fn nonexistent_iface_is_iface_error_with_hint() {
    let spec = IfaceSpec::Name("nosuch-mc0".into());
    let e = Receiver::builder(41013)
        .group(g("239.255.41.13"))
        .iface(spec.clone())
        .build()
        .unwrap_err();
    assert!(
        matches!(&e, Error::Iface { spec: s, .. } if *s == spec),
        "{e:?}"
    );
    assert!(e.hint().unwrap().contains("`ip addr`"));
    let e = Sender::builder(g("239.255.41.13"), 41013)
        .iface(spec)
        .build()
        .unwrap_err();
    assert!(matches!(e, Error::Iface { .. }), "{e:?}");
    let e = Sender::builder(g("239.255.41.13"), 41013)
        .iface(IfaceSpec::Addr("192.0.2.99".parse().unwrap()))
        .build()
        .unwrap_err();
    assert!(e.to_string().contains("192.0.2.99"), "{e}");
}

#[test]
fn mixed_families_and_no_groups_are_errors() {
    let e = rx(41014)
        .group(g("239.255.41.14"))
        .group(g("ff15::1"))
        .build()
        .unwrap_err();
    assert!(matches!(e, Error::FamilyMismatch { .. }), "{e:?}");
    let e = rx(41014)
        .group(g("239.255.41.14"))
        .source("::1".parse().unwrap())
        .build()
        .unwrap_err();
    assert!(matches!(e, Error::FamilyMismatch { .. }), "{e:?}");
    let e = rx(41014).build().unwrap_err();
    assert!(matches!(e, Error::NoGroups), "{e:?}");
}

#[test]
fn read_timeout_is_reported() {
    let mut r = rx(41015)
        .group(g("239.255.41.15"))
        .read_timeout(Some(Duration::from_millis(50)))
        .build()
        .unwrap();
    let mut buf = [0u8; 16];
    let start = Instant::now();
    let e = r.recv(&mut buf).unwrap_err();
    assert!(e.is_timeout(), "{e:?}");
    assert!(start.elapsed() >= Duration::from_millis(50));
}

/// Receives with `recv_batch` until `want` datagrams whose payload starts with `prefix` have
/// arrived or `wait` passes; returns them (payload, metadata) in arrival order, and the largest
/// number one call returned.
fn collect_batched(
    r: &mut Receiver,
    batch: &mut RecvBatch,
    prefix: &[u8],
    want: usize,
    wait: Duration,
) -> (Vec<(Vec<u8>, RecvMeta)>, usize) {
    let end = Instant::now() + wait;
    let mut got = Vec::new();
    let mut most = 0;
    while got.len() < want {
        let Some(left) = end.checked_duration_since(Instant::now()) else {
            break;
        };
        r.set_read_timeout(Some(left.max(Duration::from_millis(1))));
        match r.recv_batch(batch) {
            Ok(n) => {
                assert!(n >= 1 && n <= batch.capacity(), "{n}");
                assert_eq!(n, batch.len());
                assert_eq!(batch.iter().len(), n);
                most = most.max(n);
                for (bytes, meta) in batch.iter() {
                    assert_eq!(bytes.len(), meta.len);
                    if bytes.starts_with(prefix) {
                        got.push((bytes.to_vec(), *meta));
                    }
                }
            }
            Err(e) if e.is_timeout() => break,
            Err(e) => panic!("recv_batch failed: {e}"),
        }
    }
    (got, most)
}

/// 64 datagrams of different lengths, queued before the first call: `recv_batch` returns them
/// all, several per call, in order, with their lengths, source, group and interface.
#[test]
fn recv_batch_64_in_order() {
    let group = g("239.255.41.31");
    let mut r = rx(41031)
        .group(group)
        .recv_buffer_size(1 << 20)
        .build()
        .unwrap();
    let t = tx("239.255.41.31", 41031)
        .bind("127.0.0.1:0".parse().unwrap())
        .build()
        .unwrap();
    let payloads: Vec<Vec<u8>> = (0..64usize)
        .map(|i| {
            let mut p = format!("rb64-{i:03}-").into_bytes();
            p.resize(p.len() + i * 7, b'x');
            p
        })
        .collect();
    for p in &payloads {
        assert_eq!(t.send(p).unwrap(), p.len());
    }
    let mut batch = RecvBatch::new(32, 2048);
    let (got, most) = collect_batched(&mut r, &mut batch, b"rb64-", 64, WAIT);
    assert_eq!(got.len(), 64);
    assert!(most > 1, "every call returned one datagram");
    let source = t.local_addr().unwrap();
    for ((bytes, meta), sent) in got.iter().zip(&payloads) {
        assert_eq!(bytes, sent);
        assert_eq!(meta.len, sent.len());
        assert_eq!(meta.source, source);
        assert_eq!(meta.destination, Some(group.addr()));
        assert_eq!(meta.ifindex, Some(lo_index()));
    }
    assert!((0..batch.len()).all(|i| !batch.is_truncated(i)));
}

/// Two groups on two sockets (one group per socket): one batch may hold datagrams of both,
/// each attributed to its own group, each group's datagrams in order.
#[test]
fn recv_batch_mixed_groups() {
    let groups = [g("239.255.41.32"), g("239.255.41.33")];
    let mut r = rx(41032)
        .groups(groups)
        .groups_per_socket(1)
        .recv_buffer_size(1 << 20)
        .build()
        .unwrap();
    assert_eq!(r.socket_count(), 2);
    let t = tx("239.255.41.32", 41032).build().unwrap();
    for i in 0..40usize {
        let payload = format!("mix-{i:02}");
        let to = SocketAddr::new(groups[i % 2].addr(), 41032);
        let transmit = Transmit::new(to, payload.len());
        assert_eq!(t.send_transmit(&transmit, payload.as_bytes()).unwrap(), 1);
    }
    let mut batch = RecvBatch::new(64, 64);
    let (got, _) = collect_batched(&mut r, &mut batch, b"mix-", 40, WAIT);
    assert_eq!(got.len(), 40);
    let mut per_group = [Vec::new(), Vec::new()];
    for (bytes, meta) in &got {
        let i: usize = std::str::from_utf8(&bytes[4..]).unwrap().parse().unwrap();
        assert_eq!(meta.destination, Some(groups[i % 2].addr()), "datagram {i}");
        per_group[i % 2].push(i);
    }
    assert_eq!(per_group[0], (0..40).step_by(2).collect::<Vec<_>>());
    assert_eq!(per_group[1], (1..40).step_by(2).collect::<Vec<_>>());
}

/// Nothing queued: `recv_batch` waits the read timeout, reports it, and leaves the batch empty;
/// a datagram that then arrives is returned at once.
#[test]
fn recv_batch_timeout() {
    let mut r = rx(41033)
        .group(g("239.255.41.34"))
        .read_timeout(Some(Duration::from_millis(50)))
        .build()
        .unwrap();
    let mut batch = RecvBatch::new(8, 256);
    let start = Instant::now();
    let e = r.recv_batch(&mut batch).unwrap_err();
    assert!(e.is_timeout(), "{e:?}");
    assert!(start.elapsed() >= Duration::from_millis(50));
    assert!(batch.is_empty());
    assert!(batch.get(0).is_none());

    let t = tx("239.255.41.34", 41033).build().unwrap();
    t.send(b"after the timeout").unwrap();
    r.set_read_timeout(Some(WAIT));
    let (got, _) = collect_batched(&mut r, &mut batch, b"after the timeout", 1, WAIT);
    assert_eq!(got.len(), 1);
    // A timeout clears what the batch held before.
    r.set_read_timeout(Some(Duration::from_millis(20)));
    assert!(r.recv_batch(&mut batch).unwrap_err().is_timeout());
    assert!(batch.is_empty());
}

/// A datagram longer than `recv`'s buffer is reported, never cut silently: `recv` fails with
/// `Error::Truncated` carrying the full length (the buffer holds the prefix), and the next
/// datagram comes next. A datagram longer than the batch's buffers is cut to the same prefix
/// and flagged truncated; a short one beside it is not.
#[test]
fn recv_reports_truncation_and_batch_flags_it() {
    let mut r = rx(41034)
        .group(g("239.255.41.35"))
        .read_timeout(Some(WAIT))
        .build()
        .unwrap();
    let t = tx("239.255.41.35", 41034).build().unwrap();
    let long: Vec<u8> = (0..100u8).collect();
    t.send(&long).unwrap();
    t.send(b"after").unwrap();
    let mut small = [0u8; 16];
    match r.recv(&mut small) {
        Err(Error::Truncated { meta, capacity }) => {
            assert_eq!((meta.len, capacity), (100, 16));
            assert_eq!(meta.destination, Some(g("239.255.41.35").addr()));
        }
        other => panic!("expected a truncation, got {other:?}"),
    }
    assert_eq!(small, long[..16]);
    let (n, _) = r.recv(&mut small).unwrap();
    assert_eq!(&small[..n], b"after");
    r.set_read_timeout(Some(QUIET));
    let e = r.recv(&mut [0u8; 1]).err();
    assert!(e.is_some_and(|e| e.is_timeout()), "nothing else was sent");
    r.set_read_timeout(Some(WAIT));
    let n = 16;

    t.send(&long).unwrap();
    t.send(&long[..5]).unwrap();
    let mut batch = RecvBatch::new(4, 16);
    let mut seen = Vec::new();
    let end = Instant::now() + WAIT;
    while seen.len() < 2 && Instant::now() < end {
        r.recv_batch(&mut batch).unwrap();
        for i in 0..batch.len() {
            let (bytes, meta) = batch.get(i).unwrap();
            seen.push((bytes.to_vec(), meta.len, batch.is_truncated(i)));
        }
    }
    assert_eq!(
        seen,
        [
            (long[..16].to_vec(), n, true),
            (long[..5].to_vec(), 5, false)
        ]
    );
}

/// The socket-level call: `WouldBlock` when nothing is queued, and it appends after what the
/// batch already holds, up to its capacity.
#[test]
fn socket_state_recv_batch_appends() {
    use std::os::fd::AsFd;
    let r = rx(41035).group(g("239.255.41.36")).build().unwrap();
    let (sockets, joined) = r.into_parts();
    let fd = sockets[0].as_fd();
    let mut batch = RecvBatch::new(3, 64);
    let e = joined.state().recv_batch(fd, &mut batch).unwrap_err();
    assert_eq!(e.kind(), std::io::ErrorKind::WouldBlock);
    // One call: how many it added, or `None` (after a short sleep) when nothing was queued yet.
    let poll = |batch: &mut RecvBatch| match joined.state().recv_batch(fd, batch) {
        Ok(n) => Some(n),
        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
            std::thread::sleep(Duration::from_millis(5));
            None
        }
        Err(e) => panic!("{e}"),
    };
    let t = tx("239.255.41.36", 41035).build().unwrap();
    let mut added = 0;
    let end = Instant::now() + WAIT;
    for p in [b"ssa-0", b"ssa-1", b"ssa-2", b"ssa-3"] {
        t.send(p).unwrap();
    }
    while !batch.is_full() && Instant::now() < end {
        added += poll(&mut batch).unwrap_or(0);
    }
    assert_eq!(added, 3);
    let held: Vec<&[u8]> = batch.iter().map(|(b, _)| b).collect();
    assert_eq!(held, [&b"ssa-0"[..], b"ssa-1", b"ssa-2"]);
    // Full: nothing more is taken; the fourth stays queued for the next batch.
    assert_eq!(joined.state().recv_batch(fd, &mut batch).unwrap(), 0);
    batch.clear();
    while batch.is_empty() && Instant::now() < end {
        if let Some(n) = poll(&mut batch) {
            assert_eq!(n, 1);
        }
    }
    assert_eq!(batch.get(0).unwrap().0, b"ssa-3");
}

/// `n` segments of `seg` bytes for one transmit (the last 3 bytes shorter), each starting
/// with `tag` and its number.
fn segments(tag: &str, n: usize, seg: usize) -> Vec<u8> {
    (0..n)
        .flat_map(|i| {
            let mut d = format!("{tag}-{i:05}-").into_bytes();
            d.resize(
                if i + 1 == n { seg - 3 } else { seg },
                b'a' + (i % 26) as u8,
            );
            d
        })
        .collect()
}

/// Sends one transmit of `n` segments of `seg` bytes with `send` (which returns how many
/// datagrams went out) and checks that `n` datagrams arrive at `r`, in order, each with its
/// segment's bytes. `tag` marks the payloads of this call.
fn check_sent(
    r: &mut Receiver,
    tag: &str,
    n: usize,
    seg: usize,
    to: SocketAddr,
    send: impl FnOnce(&Transmit, &[u8]) -> usize,
) {
    let buf = segments(tag, n, seg);
    let transmit = Transmit::new(to, buf.len()).with_segment_size(Some(seg));
    assert_eq!(transmit.datagrams(), n);
    assert_eq!(send(&transmit, &buf), n, "{tag}");
    let mut batch = RecvBatch::new(64, seg + 1);
    let (got, _) = collect_batched(r, &mut batch, tag.as_bytes(), n, WAIT);
    assert_eq!(got.len(), n, "{tag}");
    for ((bytes, meta), want) in got.iter().zip(buf.chunks(seg)) {
        assert_eq!(&bytes[..], want, "{tag}");
        assert_eq!(meta.len, want.len());
    }
}

/// [`check_sent`] through `sender.send_transmit`.
fn check_segments(r: &mut Receiver, sender: &Sender, path: SendPath, n: usize, seg: usize) {
    let tag = format!("{path}{n}x{seg}");
    check_sent(r, &tag, n, seg, sender.destination().into(), |t, buf| {
        sender.send_transmit(t, buf).unwrap()
    });
}

/// A sender on `path` and a receiver with room for a few MiB, on loopback.
fn path_pair(path: SendPath, group: &str, port: u16) -> (Receiver, Sender) {
    let r = rx(port)
        .group(g(group))
        .recv_buffer_size(4 << 20)
        .build()
        .unwrap();
    let t = tx(group, port).send_path(path).build().unwrap();
    assert_eq!(t.send_path(), path);
    (r, t)
}

/// 40 segments in one `sendmmsg`, then 150 (64 + 64 + 22) and 3: each arrives as its own
/// datagram, in order, with its bytes.
#[test]
fn send_path_mmsg_delivers_every_segment() {
    let (mut r, t) = path_pair(SendPath::Mmsg, "239.255.41.41", 41041);
    for n in [40, 150, 3] {
        check_segments(&mut r, &t, SendPath::Mmsg, n, 100);
    }
    // One datagram, and segments of every size up to a lone short one.
    check_segments(&mut r, &t, SendPath::Mmsg, 1, 50);
    check_segments(&mut r, &t, SendPath::Mmsg, 2, 1400);
    assert_eq!(t.send_path(), SendPath::Mmsg);
}

#[test]
fn send_path_single_delivers_every_segment() {
    let (mut r, t) = path_pair(SendPath::Single, "239.255.41.42", 41042);
    for n in [40, 3, 1] {
        check_segments(&mut r, &t, SendPath::Single, n, 100);
    }
    assert_eq!(t.send_path(), SendPath::Single);
}

/// GSO is the default path; where a transmit's segments are too large for two to share one
/// GSO send (3 × 40,000 bytes), they go out with `sendmmsg`, and the path stays GSO.
#[test]
fn send_path_gso_is_the_default_and_delivers_every_segment() {
    let default = tx("239.255.41.43", 41043).build().unwrap();
    assert_eq!(default.send_path(), SendPath::Gso);
    assert_eq!(SendPath::default(), SendPath::Gso);
    let (mut r, t) = path_pair(SendPath::Gso, "239.255.41.43", 41043);
    check_segments(&mut r, &t, SendPath::Gso, 40, 100);
    // A kernel without UDP GSO switched the sender to sendmmsg for good.
    let path = t.send_path();
    eprintln!("send path after GSO sends: {path}");
    assert!(matches!(path, SendPath::Gso | SendPath::Mmsg), "{path}");
    check_segments(&mut r, &t, path, 3, 40_000);
    assert_eq!(
        t.send_path(),
        path,
        "large segments are no reason to give up GSO"
    );
}

/// A socket on which the kernel refuses UDP GSO (here because `SO_NO_CHECK` switched its
/// checksums off, which GSO needs: `EINVAL`, as a kernel without GSO would refuse it) switches
/// to `sendmmsg` for good, and the transmit that learnt it still goes out whole.
#[test]
fn gso_refused_falls_back_to_mmsg_for_good() {
    use std::os::fd::{AsFd, AsRawFd};
    let (mut r, t) = path_pair(SendPath::Gso, "239.255.41.44", 41044);
    let (sock, state, to) = t.into_parts();
    let on: libc::c_int = 1;
    // SAFETY: `on` is a live c_int of the length passed; the kernel copies it.
    let rc = unsafe {
        libc::setsockopt(
            sock.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_NO_CHECK,
            std::ptr::from_ref(&on).cast(),
            size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    assert_eq!(rc, 0, "{}", std::io::Error::last_os_error());
    assert_eq!(state.send_path(), SendPath::Gso);
    let send = |t: &Transmit, buf: &[u8]| state.send_transmit(sock.as_fd(), t, buf).unwrap();
    check_sent(&mut r, "refused-a", 100, 200, to.into(), send);
    assert_eq!(state.send_path(), SendPath::Mmsg);
    assert!(!state.gso_enabled());
    check_sent(&mut r, "refused-b", 10, 200, to.into(), send);
    assert_eq!(state.send_path(), SendPath::Mmsg);
}

/// Runs `f` on a thread inside a fresh network namespace whose only interface, `lo`, is up
/// with the given MTU. Returns false (and says why) when not root.
fn in_lo_netns(test: &str, mtu: u32, f: impl FnOnce() + Send + 'static) -> bool {
    if skip_unless_root(test) {
        return false;
    }
    in_private_netns(move || {
        mcast_testkit::cmd::ip(&["link", "set", "lo", "mtu", &mtu.to_string()]);
        f();
    });
    true
}

/// GSO cannot fragment: segments longer than the MTU (1,400 bytes on a 1,280-byte `lo`, in a
/// namespace of its own) make the kernel refuse the GSO send with `EMSGSIZE`. That transmit goes
/// out with `sendmmsg` instead (the kernel fragments each datagram), and the sender keeps GSO
/// for segments that fit.
#[test]
fn gso_segments_over_the_mtu_go_out_without_gso() {
    in_lo_netns("gso_segments_over_the_mtu_go_out_without_gso", 1280, || {
        let (mut r, t) = path_pair(SendPath::Gso, "239.255.41.45", 41045);
        check_segments(&mut r, &t, SendPath::Gso, 5, 1400);
        assert_eq!(t.send_path(), SendPath::Gso);
        check_segments(&mut r, &t, SendPath::Gso, 5, 1000);
        assert_eq!(t.send_path(), SendPath::Gso);
    });
}

/// A modest request is granted (twice over) without force; 256 MiB is past any default
/// `net.core.rmem_max`: with `CAP_NET_ADMIN` (root) `SO_RCVBUFFORCE` grants it, without it
/// the report says clamped and names `rmem_max`.
#[test]
fn recv_buffer_report_says_when_clamped() {
    let plain = rx(41046).group(g("239.255.41.46")).build().unwrap();
    assert_eq!(plain.recv_buffer_report(), None);
    assert_eq!(plain.recv_buffer_size(), None);

    let rmem_max = mcast_sync::error::rmem_max();
    let small = rx(41046)
        .group(g("239.255.41.46"))
        .recv_buffer_size(64 * 1024)
        .build()
        .unwrap();
    let report = small.recv_buffer_report().expect("a report");
    assert_eq!(report.requested, 64 * 1024);
    assert_eq!(report.rmem_max, rmem_max);
    if rmem_max.is_some_and(|m| m >= 64 * 1024) {
        assert!(!report.clamped() && !report.forced, "{report:?}");
        assert_eq!(report.granted, 128 * 1024, "Linux grants twice the request");
        assert_eq!(report.accepted(), 64 * 1024);
    }
    assert_eq!(small.recv_buffer_size(), Some(report.granted));

    const BIG: usize = 256 << 20;
    let big = rx(41046)
        .group(g("239.255.41.46"))
        .recv_buffer_size(BIG)
        .build()
        .unwrap();
    let report = big.recv_buffer_report().expect("a report");
    eprintln!("256 MiB asked: {report:?}");
    assert_eq!(report.requested, BIG);
    assert_eq!(big.recv_buffer_size(), Some(report.granted));
    if has_cap_net_admin() {
        assert!(report.forced, "{report:?}");
        assert_eq!(report.granted, 2 * BIG, "{report:?}");
        assert!(!report.clamped(), "{report:?}");
    } else {
        let max = report.rmem_max.expect("rmem_max is readable");
        assert!(report.clamped() && !report.forced, "{report:?}");
        assert!(report.granted <= 2 * max, "{report:?}");
    }
}

/// The kernel's rule, as the review found it misread (the doubled grant was compared with the
/// raw request, so a request just past `net.core.rmem_max` read as granted and was never
/// forced): twice `net.core.rmem_max` asked for is capped to it by `SO_RCVBUF` (twice it read
/// back), which is clamped, so with `CAP_NET_ADMIN` `SO_RCVBUFFORCE` takes the whole request
/// (twice it read back); 99999 GiB is capped at the most a socket holds, `INT_MAX / 2` doubled,
/// forced or not past `rmem_max`. Runs in a network namespace of its own as root
/// (`net.core.rmem_max` is the host's: read, never set).
#[test]
fn recv_buffer_past_rmem_max_is_forced_with_cap_net_admin() {
    let check = || {
        let Some(max) = mcast_sync::error::rmem_max() else {
            eprintln!("skipped: /proc/sys/net/core/rmem_max is not readable");
            return;
        };
        let twice = 2 * max;
        if twice > i32::MAX as usize / 2 {
            eprintln!("skipped: net.core.rmem_max {max} is too large to ask for twice it");
            return;
        }
        let r = rx(41047)
            .group(g("239.255.41.47"))
            .recv_buffer_size(twice)
            .build()
            .unwrap();
        let report = r.recv_buffer_report().expect("a report");
        eprintln!("twice rmem_max asked: {report:?}");
        assert_eq!(report.rmem_max, Some(max));
        if has_cap_net_admin() {
            assert!(report.forced && !report.clamped(), "{report:?}");
            assert_eq!((report.granted, report.accepted()), (2 * twice, twice));
        } else {
            assert!(report.clamped() && !report.forced, "{report:?}");
            assert_eq!((report.granted, report.accepted()), (twice, max));
        }
        let huge = rx(41047)
            .group(g("239.255.41.47"))
            .recv_buffer_size(99_999 << 30)
            .build()
            .unwrap();
        let report = huge.recv_buffer_report().expect("a report");
        eprintln!("99999 GiB asked: {report:?}");
        assert!(report.clamped(), "{report:?}");
        if has_cap_net_admin() {
            assert!(report.forced, "{report:?}");
            assert_eq!(report.granted, mcast_sync::RecvBufferReport::MAX_GRANT);
            assert_eq!(report.granted, 2_147_483_646);
        } else {
            assert!(!report.forced, "{report:?}");
            assert_eq!(report.granted, twice);
        }
    };
    if mcast_testkit::privilege::is_root() {
        in_private_netns(check);
    } else {
        // Unprivileged, on the host's lo: the plain cap.
        check();
    }
}

/// Receives every datagram queued on `r` whose payload starts with `prefix`, until `quiet`
/// passes without one; returns how many arrived.
fn drain(r: &mut Receiver, prefix: &[u8], quiet: Duration) -> usize {
    let mut batch = RecvBatch::new(64, 256);
    let mut got = 0;
    r.set_read_timeout(Some(quiet));
    loop {
        match r.recv_batch(&mut batch) {
            Ok(_) => got += batch.iter().filter(|(b, _)| b.starts_with(prefix)).count(),
            Err(e) if e.is_timeout() => return got,
            Err(e) => panic!("recv_batch failed: {e}"),
        }
    }
}

/// A receiver with a small buffer that does not read while 2,000 datagrams arrive: the kernel
/// drops most of them and counts every drop (SO_RXQ_OVFL). The count rides on the next
/// datagram queued after the drops, so one more is sent once the queue is drained; then what
/// arrived and what was dropped add up to what was sent, exactly: on loopback nothing is lost
/// anywhere but at the socket, unless a CPU's input backlog overflowed (a host under heavy
/// load), which the test then allows for.
#[test]
fn kernel_drops_are_counted() {
    const BURST: usize = 2000;
    let mut r = rx(41040)
        .group(g("239.255.41.40"))
        .recv_buffer_size(4096)
        .build()
        .unwrap();
    assert_eq!(r.kernel_drops(), 0);
    let t = tx("239.255.41.40", 41040).build().unwrap();
    // Nothing dropped yet: the first datagram says 0 (the option is on, the count known).
    t.send(b"kd-first").unwrap();
    let first = expect(&mut r, b"kd-first", WAIT).expect("first datagram");
    assert_eq!(first.kernel_drops, Some(0));

    let payload = [b'k'; 200];
    let backlog_before = backlog_drops();
    for _ in 0..BURST {
        assert_eq!(t.send(&payload).unwrap(), payload.len());
    }
    let burst_got = drain(&mut r, b"kkk", QUIET);
    t.send(b"kd-last").unwrap();
    let last = expect(&mut r, b"kd-last", WAIT).expect("datagram after the burst");
    let dropped = last.kernel_drops.expect("SO_RXQ_OVFL count");
    eprintln!(
        "burst of {BURST}: {burst_got} received, {dropped} dropped, rcvbuf {:?}",
        r.recv_buffer_size()
    );
    assert!(dropped > 0, "a 4 KiB buffer held {burst_got} of {BURST}");
    let counted = burst_got + dropped as usize;
    let elsewhere = backlog_drops().wrapping_sub(backlog_before);
    if elsewhere == 0 {
        assert_eq!(counted, BURST);
    } else {
        eprintln!("{elsewhere} datagrams dropped on the host's input backlogs meanwhile");
        assert!(counted <= BURST && counted as u64 + elsewhere >= BURST as u64);
    }
    assert_eq!(r.kernel_drops(), u64::from(dropped));
}

mod v6 {
    //! IPv6 does not loop multicast back over `lo` on Linux: these tests run in a network
    //! namespace private to one thread (`unshare(CLONE_NEWNET)`), with a veth pair in it. The
    //! namespace and the pair vanish when the thread ends.

    use super::*;
    use mcast_testkit::netns::in_veth_netns;

    #[test]
    fn v6_veth() {
        in_veth_netns("v6_veth", || {
            assert!(mcast_sync::resolve::name_to_index("mva").is_some());
            let mut r = Receiver::builder(41100)
                .group(g("ff15::4101"))
                .iface(IfaceSpec::Name("mvb".into()))
                .build()
                .unwrap();
            let t = Sender::builder(g("ff15::4101"), 41100)
                .iface(IfaceSpec::Name("mva".into()))
                .loopback(false);
            let meta = send_recv(t, &mut r, b"v6 over veth", WAIT).expect("datagram");
            assert_eq!(meta.destination, Some(g("ff15::4101").addr()));
            assert_eq!(meta.ifindex, mcast_sync::resolve::name_to_index("mvb"));
            assert_eq!(meta.source.ip(), "fe80::a".parse::<IpAddr>().unwrap());
        });
        // The namespace died with its thread: the pair is not in ours.
        assert!(mcast_sync::resolve::name_to_index("mva").is_none());
    }

    /// On `lo` the sent packet itself comes back in, so IP_MULTICAST_LOOP is checked on a veth:
    /// a receiver joined on the sending interface gets only the loopback copy.
    #[test]
    fn loop_off_delivers_nothing_locally() {
        in_veth_netns("loop_off_delivers_nothing_locally", || {
            let mva = IfaceSpec::Name("mva".into());
            let mut r = Receiver::builder(41103)
                .group(g("ff15::4103"))
                .iface(mva.clone())
                .build()
                .unwrap();
            let t = |on| {
                Sender::builder(g("ff15::4103"), 41103)
                    .iface(mva.clone())
                    .loopback(on)
            };
            assert!(send_recv(t(false), &mut r, b"loop off", QUIET).is_none());
            // The same receiver gets it with loop on, so the silence above meant something.
            assert!(send_recv(t(true), &mut r, b"loop on", WAIT).is_some());
        });
    }

    #[test]
    fn v6_ssm_veth() {
        in_veth_netns("v6_ssm_veth", || {
            let mvb = IfaceSpec::Name("mvb".into());
            let t = || {
                Sender::builder(g("ff35::4102"), 41101)
                    .iface(IfaceSpec::Name("mva".into()))
                    .loopback(false)
            };
            let mut r = Receiver::builder(41101)
                .group(g("ff35::4102"))
                .source("fe80::a".parse().unwrap())
                .iface(mvb.clone())
                .build()
                .unwrap();
            let meta = send_recv(t(), &mut r, b"v6 ssm", WAIT).expect("datagram");
            assert_eq!(meta.destination, Some(g("ff35::4102").addr()));
            let mut other = Receiver::builder(41101)
                .group(g("ff35::4102"))
                .source("fe80::c".parse().unwrap())
                .iface(mvb)
                .build()
                .unwrap();
            assert!(send_recv(t(), &mut other, b"v6 ssm other source", QUIET).is_none());
        });
    }

    /// A nonblocking sender whose send buffer fills (a slow `tbf` queue on `mva` holds the
    /// datagrams) gets `EAGAIN` part way through a transmit: on every path `send_transmit`
    /// returns how many datagrams went out, and exactly those arrive.
    #[test]
    fn send_transmit_reports_partial_progress_when_the_buffer_fills() {
        in_veth_netns(
            "send_transmit_reports_partial_progress_when_the_buffer_fills",
            || {
                mcast_testkit::cmd::sh(&[
                    "tc", "qdisc", "add", "dev", "mva", "root", "tbf", "rate", "20mbit", "burst",
                    "5kb", "latency", "2s",
                ]);
                let mut r = Receiver::builder(41104)
                    .group(g("ff15::4104"))
                    .iface(IfaceSpec::Name("mvb".into()))
                    .recv_buffer_size(4 << 20)
                    .build()
                    .unwrap();
                for path in [SendPath::Gso, SendPath::Mmsg, SendPath::Single] {
                    let t = Sender::builder(g("ff15::4104"), 41104)
                        .iface(IfaceSpec::Name("mva".into()))
                        .loopback(false)
                        .send_buffer_size(4096)
                        .send_path(path)
                        .build()
                        .unwrap();
                    let (sock, state, to) = t.into_parts();
                    mcast_sync::setup::set_nonblocking(&sock).unwrap();
                    let tag = format!("partial-{path}");
                    let buf = segments(&tag, 150, 1000);
                    let transmit =
                        Transmit::new(to.into(), buf.len()).with_segment_size(Some(1000));
                    let sent = {
                        use std::os::fd::AsFd;
                        state.send_transmit(sock.as_fd(), &transmit, &buf).unwrap()
                    };
                    eprintln!("{path}: {sent} of 150 datagrams before the buffer filled");
                    assert!(sent > 0 && sent < 150, "{path}: {sent}");
                    let mut batch = RecvBatch::new(64, 1001);
                    let (got, _) = collect_batched(&mut r, &mut batch, tag.as_bytes(), sent, WAIT);
                    assert_eq!(got.len(), sent, "{path}");
                    for ((bytes, _), want) in got.iter().zip(buf.chunks(1000)) {
                        assert_eq!(&bytes[..], want, "{path}");
                    }
                    let (more, _) = collect_batched(&mut r, &mut batch, tag.as_bytes(), 1, QUIET);
                    assert!(more.is_empty(), "{path}: more arrived than were counted");
                }
            },
        );
    }

    /// An IPv6 group joined after `build()` (`IPV6_ADD_MEMBERSHIP`, `ipv6_mreq`) and left
    /// (`MCAST_LEAVE_GROUP`, `group_req`): received, then no more.
    #[test]
    fn v6_join_and_leave_after_build() {
        in_veth_netns("v6_join_and_leave_after_build", || {
            let (a, b) = (g("ff15::4105"), g("ff15::4106"));
            let mut r = Receiver::builder(41105)
                .group(a)
                .iface(IfaceSpec::Name("mvb".into()))
                .bind_addr(std::net::Ipv6Addr::UNSPECIFIED.into())
                .build()
                .unwrap();
            let t = || {
                Sender::builder(b, 41105)
                    .iface(IfaceSpec::Name("mva".into()))
                    .loopback(false)
            };
            r.join(b).unwrap();
            let meta = send_recv(t(), &mut r, b"v6 joined later", WAIT).expect("datagram");
            assert_eq!(meta.destination, Some(b.addr()));
            r.leave(b).unwrap();
            assert!(send_recv(t(), &mut r, b"v6 after leaving", QUIET).is_none());
        });
    }

    #[test]
    fn v6_many_groups_on_one_port() {
        in_veth_netns("v6_many_groups_on_one_port", || {
            let groups: Vec<Group> = (1..=30u16).map(|i| g(&format!("ff15::42:{i:x}"))).collect();
            let mut r = Receiver::builder(41102)
                .groups(groups.iter().copied())
                .iface(IfaceSpec::Name("mvb".into()))
                .build()
                .unwrap();
            for gr in &groups {
                let t = Sender::builder(*gr, 41102)
                    .iface(IfaceSpec::Name("mva".into()))
                    .loopback(false);
                let payload = format!("to {gr}");
                let meta = send_recv(t, &mut r, payload.as_bytes(), WAIT).expect("datagram");
                assert_eq!(meta.destination, Some(gr.addr()));
            }
        });
    }
}

/// Groups joined and left after `build()`: a joined group's datagrams arrive with its
/// destination, a left group's no longer do; joining on a receiver bound to its one group is
/// refused (its datagrams could never arrive), as is leaving a group never joined.
#[test]
fn join_and_leave_after_build() {
    let (a, b) = (g("239.255.43.21"), g("239.255.43.22"));
    let mut bound = rx(43021).group(a).read_timeout(Some(WAIT)).build().unwrap();
    assert!(matches!(
        bound.join(b),
        Err(Error::BoundElsewhere { group, bound }) if group == b && bound == a.addr()
    ));
    assert!(matches!(bound.leave(b), Err(Error::NotJoined { group }) if group == b));

    let mut r = rx(43021)
        .group(a)
        .bind_addr(Ipv4Addr::UNSPECIFIED.into())
        .read_timeout(Some(WAIT))
        .build()
        .unwrap();
    r.join(b).unwrap();
    r.join(b).unwrap();
    assert_eq!(r.groups(), [a, b]);
    let meta = send_recv(tx("239.255.43.22", 43021), &mut r, b"joined later", WAIT);
    assert_eq!(meta.expect("datagram").destination, Some(b.addr()));
    r.leave(b).unwrap();
    assert_eq!(r.groups(), [a]);
    let t = tx("239.255.43.22", 43021).build().unwrap();
    t.send(b"after leaving").unwrap();
    assert!(expect(&mut r, b"after leaving", QUIET).is_none());
    assert!(matches!(
        r.join(g("ff3e::43:1")),
        Err(Error::FamilyMismatch { .. })
    ));
}

/// Leaves go through the same core requests as the joins (`IP_DROP_MEMBERSHIP` with an
/// `ip_mreq` by address, `MCAST_LEAVE_GROUP` with a `group_req` by index): a group joined after
/// `build()` by interface name, by address from a source, and by name from a source, is
/// received, then left for good.
#[test]
fn leave_by_index_and_source_specific_after_build() {
    let src: Source = "127.0.0.1".parse().unwrap();
    let by_name = || IfaceSpec::Name("lo".into());
    let cases = [
        (43031, by_name(), vec![], "239.255.43.31", "239.255.43.32"),
        (43032, lo(), vec![src], "232.43.0.31", "232.43.0.32"),
        (43033, by_name(), vec![src], "232.43.0.33", "232.43.0.34"),
    ];
    for (port, spec, sources, first, later) in cases {
        let mut r = Receiver::builder(port)
            .group(g(first))
            .sources(sources)
            .iface(spec.clone())
            .bind_addr(Ipv4Addr::UNSPECIFIED.into())
            .build()
            .unwrap();
        r.join(g(later)).unwrap();
        let meta = send_recv(tx(later, port), &mut r, b"joined later", WAIT);
        assert_eq!(
            meta.unwrap_or_else(|| panic!("{spec}: nothing to {later}"))
                .destination,
            Some(g(later).addr())
        );
        r.leave(g(later)).unwrap();
        assert!(
            send_recv(tx(later, port), &mut r, b"after leaving", QUIET).is_none(),
            "{spec}: {later} still arrives"
        );
        // The first group, left alone, still arrives.
        assert!(send_recv(tx(first, port), &mut r, b"still joined", WAIT).is_some());
    }
}

/// Every group of `groups` arrives at `r` (a datagram sent to each, recognised by its payload).
fn each_arrives(r: &mut Receiver, groups: &[Group], port: u16, tag: &str) {
    for gr in groups {
        let payload = format!("{tag} to {gr}");
        let meta = send_recv(tx(&gr.to_string(), port), r, payload.as_bytes(), WAIT);
        assert_eq!(
            meta.unwrap_or_else(|| panic!("{tag}: nothing to {gr}"))
                .destination,
            Some(gr.addr())
        );
    }
}

/// Groups joined after `build()` past the per-socket limit go to a new socket, as the
/// builder's do: with two groups per socket, three built take two sockets, a fourth fills the
/// second, a fifth opens a third; every group arrives, and a group left on the new socket no
/// longer does.
#[test]
fn join_after_build_past_the_limit_opens_a_socket() {
    let groups: Vec<Group> = (1..=5).map(|i| g(&format!("239.255.44.{i}"))).collect();
    let mut r = rx(43041)
        .groups(groups[..3].iter().copied())
        .groups_per_socket(2)
        .build()
        .unwrap();
    assert_eq!(r.socket_count(), 2);
    r.join(groups[3]).unwrap();
    assert_eq!(r.socket_count(), 2);
    r.join(groups[4]).unwrap();
    assert_eq!(r.socket_count(), 3);
    assert_eq!(r.groups(), groups);
    each_arrives(&mut r, &groups, 43041, "limit");
    r.leave(groups[4]).unwrap();
    assert!(send_recv(tx("239.255.44.5", 43041), &mut r, b"left", QUIET).is_none());
    each_arrives(&mut r, &groups[..4], 43041, "after leaving");
}

/// The kernel's own limit, met after `build()`: in a namespace of its own whose
/// `net.ipv4.igmp_max_memberships` is 3, a receiver told it may put 10 groups on a socket
/// joins a fourth group, gets `ENOBUFS`, and (the core's policy learning the limit) puts the
/// group on a new socket, and the next one beside it.
#[test]
fn join_after_build_learns_the_kernel_limit() {
    in_lo_netns("join_after_build_learns_the_kernel_limit", 65536, || {
        std::fs::write("/proc/sys/net/ipv4/igmp_max_memberships", "3")
            .expect("igmp_max_memberships is per network namespace");
        let groups: Vec<Group> = (1..=5)
            .map(|i| g(&format!("239.255.44.{}", 10 + i)))
            .collect();
        let mut r = rx(43042)
            .groups(groups[..2].iter().copied())
            .groups_per_socket(10)
            .build()
            .unwrap();
        assert_eq!(r.socket_count(), 1);
        for (k, sockets) in [(2, 1), (3, 2), (4, 2)] {
            r.join(groups[k]).unwrap();
            assert_eq!(r.socket_count(), sockets, "after joining {}", groups[k]);
        }
        each_arrives(&mut r, &groups, 43042, "learnt");
    });
}

/// A join no socket can take (`net.ipv4.igmp_max_memberships` 0, in a namespace of its own):
/// the error carries the core policy's verdict, and its hint is the verdict's.
#[test]
fn a_full_socket_hints_through_the_cores_verdict() {
    in_lo_netns(
        "a_full_socket_hints_through_the_cores_verdict",
        65536,
        || {
            std::fs::write("/proc/sys/net/ipv4/igmp_max_memberships", "0")
                .expect("igmp_max_memberships is per network namespace");
            let e = rx(43043).group(g("239.255.44.31")).build().unwrap_err();
            let Error::Join {
                verdict: Some(verdict),
                ..
            } = &e
            else {
                panic!("not a join refused by the policy: {e:?}");
            };
            assert_eq!(e.hint(), verdict.hint());
            assert!(e.hint().unwrap().contains("net.ipv4.igmp_max_memberships"));
        },
    );
}

/// One receiver on two interfaces: `lo` and one end (`ovb`) of a veth pair, in a namespace of
/// its own. Every group is joined on both: a datagram arriving on either is received, with the
/// interface it came in on; the kernel lists each group once on each interface, and the
/// membership policy counts it once per interface (2 groups on 2 interfaces, 3 memberships per
/// socket: two sockets). A group joined after `build()` is joined on both; a group left is
/// left on both.
#[test]
fn one_receiver_on_two_interfaces() {
    in_lo_netns("one_receiver_on_two_interfaces", 65536, || {
        let ovb_index = add_local_veth();
        let (a, b, c) = (g("239.255.45.1"), g("239.255.45.2"), g("239.255.45.3"));
        let ovb = IfaceSpec::Name("ovb".into());
        let mut r = Receiver::builder(43051)
            .groups([a, b])
            .ifaces([lo(), ovb])
            .groups_per_socket(3)
            .build()
            .unwrap();
        let indexes: Vec<u32> = r.ifaces().map(|i| i.index).collect();
        assert_eq!(indexes, [lo_index(), ovb_index]);
        assert_eq!(r.socket_count(), 2);
        for gr in [a, b] {
            assert_eq!(joined_on_lo_and_ovb(gr), (true, true), "{gr}");
            assert!(arrives_on(&mut r, gr, lo_index(), 43051), "{gr} via lo");
            assert!(
                arrives_on(&mut r, gr, ovb_index, 43051),
                "{gr} via the veth"
            );
        }
        r.join(c).unwrap();
        assert_eq!(r.socket_count(), 2, "3 + 3 memberships");
        assert_eq!(joined_on_lo_and_ovb(c), (true, true));
        assert!(arrives_on(&mut r, c, ovb_index, 43051), "{c} via the veth");
        r.leave(a).unwrap();
        assert_eq!(joined_on_lo_and_ovb(a), (false, false));
        assert!(
            !arrives_on(&mut r, a, ovb_index, 43051),
            "{a} still arrives after leaving"
        );
        assert_eq!(joined_on_lo_and_ovb(b), (true, true));
        assert!(
            arrives_on(&mut r, b, lo_index(), 43051),
            "{b} via lo after leaving {a}"
        );
    });
}

/// A join after `build()` on two interfaces with one membership per socket: the one join
/// opens two sockets, and the receiver keeps both (the group arrives on each interface, and
/// the leave finds both memberships).
#[test]
fn a_join_on_two_interfaces_keeps_every_socket_it_opens() {
    in_lo_netns(
        "a_join_on_two_interfaces_keeps_every_socket_it_opens",
        65536,
        || {
            let ovb_index = add_local_veth();
            let (a, b) = (g("239.255.46.1"), g("239.255.46.2"));
            let mut r = Receiver::builder(43052)
                .group(a)
                .ifaces([lo(), IfaceSpec::Name("ovb".into())])
                .groups_per_socket(1)
                .build()
                .unwrap();
            assert_eq!(r.socket_count(), 2, "one membership per socket");
            r.join(b).unwrap();
            assert_eq!(r.socket_count(), 4, "the join opened two sockets");
            assert_eq!(joined_on_lo_and_ovb(b), (true, true));
            assert!(arrives_on(&mut r, b, lo_index(), 43052), "{b} via lo");
            assert!(arrives_on(&mut r, b, ovb_index, 43052), "{b} via the veth");
            r.leave(b).unwrap();
            assert_eq!(joined_on_lo_and_ovb(b), (false, false));
            assert_eq!(joined_on_lo_and_ovb(a), (true, true));
        },
    );
}

/// Adds the veth pair `ova` (10.77.0.1) — `ovb` (10.77.0.2) to this thread's namespace, both up,
/// with `ovb` accepting datagrams from `ova`'s address although it is local too (else a
/// martian, dropped), and no reverse-path check. Returns `ovb`'s index.
fn add_local_veth() -> u32 {
    for args in [
        &["link", "add", "ova", "type", "veth", "peer", "name", "ovb"][..],
        &["addr", "add", "10.77.0.1/24", "dev", "ova"],
        &["addr", "add", "10.77.0.2/24", "dev", "ovb"],
        &["link", "set", "ova", "up"],
        &["link", "set", "ovb", "up"],
    ] {
        mcast_testkit::cmd::ip(args);
    }
    for (conf, value) in [
        ("ovb/accept_local", "1"),
        ("ovb/rp_filter", "0"),
        ("all/rp_filter", "0"),
    ] {
        std::fs::write(format!("/proc/sys/net/ipv4/conf/{conf}"), value).unwrap();
    }
    mcast_sync::resolve::name_to_index("ovb").unwrap()
}

/// Whether `group` is joined on `lo` and on `ovb`, in this thread's namespace (`/proc/net` is
/// the main thread's).
fn joined_on_lo_and_ovb(group: Group) -> (bool, bool) {
    let igmp = std::fs::read_to_string("/proc/thread-self/net/igmp").unwrap();
    let m = mcast_core::proc::parse_igmp(&igmp);
    (m.is_joined("lo", group), m.is_joined("ovb", group))
}

/// Whether a datagram to `group:port` reaches `r` through the interface `index` (`lo`, or
/// `ovb` when sent out of `ova` with loop off). Bounded: a few tries, in case the veth drops
/// the first while it comes up.
fn arrives_on(r: &mut Receiver, group: Group, index: u32, port: u16) -> bool {
    let via_veth = index != lo_index();
    for attempt in 0..5 {
        let t = if via_veth {
            Sender::builder(group, port)
                .iface(IfaceSpec::Name("ova".into()))
                .ttl(1)
                .loopback(false)
        } else {
            tx(&group.to_string(), port)
        };
        let payload = format!("{group} on {index}, try {attempt}");
        if let Some(meta) = send_recv(t, r, payload.as_bytes(), QUIET) {
            assert_eq!(meta.ifindex, Some(index), "{payload}");
            assert_eq!(meta.destination, Some(group.addr()), "{payload}");
            return true;
        }
    }
    false
}

/// TTL and loop changed on an open sender: the kernel holds the new values (read back from
/// the socket), and the sender goes on sending with them. (The loop flag cannot be seen at
/// work on `lo`: a datagram sent through `lo` comes back through it whatever the flag.)
#[test]
fn ttl_and_loopback_after_build() {
    let mut r = rx(43022)
        .group(g("239.255.43.23"))
        .read_timeout(Some(WAIT))
        .build()
        .unwrap();
    let t = tx("239.255.43.23", 43022).build().unwrap();
    assert_eq!((t.ttl().unwrap(), t.loopback().unwrap()), (0, true));
    // Changed and read back without sending: nothing leaves with a TTL above 0.
    t.set_ttl(3).unwrap();
    t.set_loopback(false).unwrap();
    assert_eq!((t.ttl().unwrap(), t.loopback().unwrap()), (3, false));
    t.set_ttl(0).unwrap();
    t.set_loopback(true).unwrap();
    assert_eq!((t.ttl().unwrap(), t.loopback().unwrap()), (0, true));
    t.send(b"after the changes").unwrap();
    assert!(expect(&mut r, b"after the changes", WAIT).is_some());
}

/// The sender lends its socket (`AsFd`/`AsRawFd`): the same descriptor, bound where the
/// sender says.
#[test]
fn sender_lends_its_socket() {
    use std::os::fd::{AsFd, AsRawFd};
    let t = tx("239.255.43.24", 43023).build().unwrap();
    assert_eq!(t.as_fd().as_raw_fd(), t.as_raw_fd());
    let sock = socket2::SockRef::from(&t);
    let local = sock.local_addr().unwrap().as_socket().unwrap();
    assert_eq!(local, t.local_addr().unwrap());
}
