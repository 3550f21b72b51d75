//! Async adapter tests on real sockets, pinned to `lo` (127.0.0.1, TTL 0) or run in a network
//! namespace private to one thread with a veth pair. Each test has its own groups and port and
//! recognises its datagrams by payload.

use std::collections::BTreeSet;
use std::net::{Ipv4Addr, SocketAddr};
use std::time::Duration;

use futures::{SinkExt, StreamExt};
use mcast_async::{Error, Receiver, ReceiverBuilder, Sender, SenderBuilder};
use mcast_core::addr::{Group, GroupRange};
use mcast_core::frame::{Flags, FrameRepr, Seq, SessionId};
use mcast_core::iface::IfaceSpec;
use mcast_core::{RecvMeta, Transmit};

const WAIT: Duration = Duration::from_secs(2);

fn lo() -> IfaceSpec {
    IfaceSpec::Addr(Ipv4Addr::LOCALHOST.into())
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
            let text = String::from_utf8_lossy(&d.bytes);
            let Some(i) = text
                .strip_prefix("many ")
                .and_then(|s| s.parse::<usize>().ok())
            else {
                continue;
            };
            assert_eq!(d.meta.destination, Some(groups[i].addr()), "datagram {i}");
            assert!(seen.insert(i), "datagram {i} twice");
        }
    })
    .await;
    assert!(got.is_ok(), "only {} of 200 datagrams", seen.len());
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
    assert!(e.hint().unwrap().contains("mcast ifaces"));
}

/// Waits (bounded) until the kernel has configured both ends: operstate UP (the carrier event,
/// which linkwatch delivers late) and the `ff00::/8` multicast route on each.
fn wait_veth_ready() {
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    loop {
        let out = |args: &[&str]| {
            let o = std::process::Command::new("ip")
                .args(args)
                .output()
                .expect("run ip");
            String::from_utf8_lossy(&o.stdout).into_owned()
        };
        let links = out(&["-o", "link", "show"]);
        let routes = out(&["-6", "route", "show", "table", "local"]);
        let ready = ["mva", "mvb"].iter().all(|d| {
            links
                .lines()
                .any(|l| l.contains(&format!(" {d}@")) && l.contains("state UP"))
                && routes.contains(&format!("ff00::/8 dev {d} "))
        });
        if ready {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "veth pair not ready after 5 s:\n{links}\n{routes}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// IPv6 over a veth pair in a network namespace private to one thread, with its own runtime.
#[test]
fn v6_veth_async() {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        eprintln!("skipped: IPv6 multicast needs a veth pair in a new network namespace, which needs root");
        return;
    }
    std::thread::spawn(|| {
        // SAFETY: unsharing the network namespace affects only this thread.
        assert_eq!(
            unsafe { libc::unshare(libc::CLONE_NEWNET) },
            0,
            "{}",
            std::io::Error::last_os_error()
        );
        let ip = |args: &[&str]| {
            let out = std::process::Command::new("ip")
                .args(args)
                .output()
                .expect("run ip");
            assert!(
                out.status.success(),
                "ip {args:?}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        };
        ip(&["link", "add", "mva", "type", "veth", "peer", "name", "mvb"]);
        for dev in ["mva", "mvb"] {
            ip(&["link", "set", dev, "addrgenmode", "none"]);
        }
        ip(&["addr", "add", "fe80::a/64", "dev", "mva", "nodad"]);
        ip(&["addr", "add", "fe80::b/64", "dev", "mvb", "nodad"]);
        for dev in ["lo", "mva", "mvb"] {
            ip(&["link", "set", dev, "up"]);
        }
        wait_veth_ready();
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
    })
    .join()
    .expect("namespace thread");
}
