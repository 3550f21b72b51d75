//! [`Receiver::rejoin`] on `lo` (127.0.0.1, TTL 0): making every membership again on an
//! interface's index, as a receiver does when its interface comes back, keeps each socket's
//! groups and the datagrams flowing. (Deleting and creating an interface again needs root and
//! a namespace: the `mcast` tool's `link` tests do that.)

use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use mcast_core::addr::{Group, GroupRange, Source};
use mcast_core::iface::IfaceSpec;
use mcast_sync::{Error, Receiver, Sender};

fn lo() -> IfaceSpec {
    IfaceSpec::Addr(Ipv4Addr::LOCALHOST.into())
}

/// Sends `payload` to `group` on `lo` and waits (bounded) until `rx` gets it.
fn arrives(rx: &mut Receiver, group: Group, payload: &[u8]) -> bool {
    let tx = Sender::builder(group, rx.port())
        .iface(lo())
        .ttl(0)
        .build()
        .unwrap();
    tx.send(payload).unwrap();
    let end = Instant::now() + Duration::from_secs(2);
    let mut buf = [0u8; 256];
    while let Some(left) = end.checked_duration_since(Instant::now()) {
        rx.set_read_timeout(Some(left.max(Duration::from_millis(1))));
        match rx.recv(&mut buf) {
            Ok((n, _)) if &buf[..n] == payload => return true,
            Ok(_) => {}
            Err(e) if e.is_timeout() => return false,
            Err(e) => panic!("recv failed: {e}"),
        }
    }
    false
}

// issue #9 (link) — more groups than a socket holds: each socket joins its own groups again
// (the old memberships are left first, or the limit would refuse them).
#[test]
fn rejoin_keeps_every_group_on_its_socket() {
    let range: GroupRange = "239.77.0.1+25".parse().unwrap();
    let mut rx = Receiver::builder(47501)
        .groups(range.iter())
        .iface(lo())
        .groups_per_socket(20)
        .build()
        .unwrap();
    assert_eq!(rx.socket_count(), 2);
    let index = rx.iface().index;
    let done = rx.rejoin(index).unwrap();
    assert_eq!((done.groups, done.memberships), (25, 25));
    assert_eq!((done.previous_index, done.index), (index, index));
    assert_eq!(rx.iface().index, index);
    for group in [range.first(), range.iter().next_back().unwrap()] {
        assert!(
            arrives(&mut rx, group, group.to_string().as_bytes()),
            "{group}"
        );
    }
    // Twice in a row is as good.
    assert_eq!(rx.rejoin(index).unwrap().groups, 25);
}

// issue #9 (link) — source-specific joins are made again once per source.
#[test]
fn rejoin_makes_every_source_again() {
    let group: Group = "232.77.0.1".parse().unwrap();
    let sources =
        ["127.0.0.1", "127.0.0.2"].map(|s| Source::for_group(group, s.parse().unwrap()).unwrap());
    let mut rx = Receiver::builder(47502)
        .group(group)
        .sources(sources)
        .iface(lo())
        .build()
        .unwrap();
    let done = rx.rejoin(rx.iface().index).unwrap();
    assert_eq!((done.groups, done.memberships), (1, 2));
    assert!(arrives(&mut rx, group, b"ssm after rejoin"));
}

// issue #9 (link) — an index with no interface is refused before anything is left: the
// receiver keeps its memberships.
#[test]
fn rejoin_on_a_missing_index_changes_nothing() {
    let group: Group = "239.77.1.1".parse().unwrap();
    let mut rx = Receiver::builder(47503)
        .group(group)
        .iface(lo())
        .build()
        .unwrap();
    let index = rx.iface().index;
    let e = rx.rejoin(999_999).unwrap_err();
    assert!(matches!(e, Error::Iface { .. }), "{e:?}");
    assert!(e.to_string().contains("999999"), "{e}");
    assert_eq!(rx.iface().index, index);
    assert!(arrives(&mut rx, group, b"still joined"));
}
