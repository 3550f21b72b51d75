//! The engine's loop on real sockets: a [`SendDriver`] and a [`RecvDriver`] on loopback
//! (127.0.0.1, TTL 0). Each test uses its own group and port.

use std::net::Ipv4Addr;
use std::ops::ControlFlow;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use mcast_core::iface::IfaceSpec;
use mcast_core::session::{self as core, Datagram, Event, ReceiverConfig, SenderConfig, SessionId};
use mcast_sync::driver::{Drive, RecvDriver, SendDriver};
use mcast_sync::{Receiver, RecvBatch, Sender};

fn lo() -> IfaceSpec {
    IfaceSpec::Addr(Ipv4Addr::LOCALHOST.into())
}

fn receiver(group: &str, port: u16) -> Receiver {
    Receiver::builder(port)
        .group(group.parse().unwrap())
        .iface(lo())
        .recv_buffer_size(4 << 20)
        .build()
        .unwrap()
}

fn sender(group: &str, port: u16) -> Sender {
    Sender::builder(group.parse().unwrap(), port)
        .iface(lo())
        .ttl(0)
        .build()
        .unwrap()
}

fn recv_driver() -> RecvDriver {
    RecvDriver::new(
        core::Receiver::new(ReceiverConfig::default(), Instant::now()),
        RecvBatch::new(64, 2048),
    )
}

/// Runs a receive driver on `rx` in a thread until every stream ended (or 10 s passed) and
/// returns its session's stats and the payloads it saw.
fn receive_until_ended(mut rx: Receiver) -> thread::JoinHandle<(core::Stats, Vec<Vec<u8>>)> {
    thread::spawn(move || {
        let mut driver = recv_driver();
        let mut payloads = Vec::new();
        let mut ended = false;
        let limit = Instant::now() + Duration::from_secs(10);
        let drive = driver
            .run(
                &mut rx,
                Some(limit),
                || false,
                |_, d| {
                    if let Datagram::Framed { frame, .. } = d {
                        payloads.push(frame.payload.to_vec());
                    }
                    ControlFlow::Continue(())
                },
                |e| {
                    if matches!(e, Event::StreamEnd { .. }) {
                        ended = true;
                        return ControlFlow::Break(());
                    }
                    ControlFlow::Continue(())
                },
            )
            .unwrap();
        assert_eq!(drive, Drive::Finished, "the stream's end arrived");
        assert!(ended);
        (driver.session().stats(), payloads)
    })
}

// issue #7 — paced, numbered frames through both drivers: everything counted, the end frame
// closes the stream, nothing lost on loopback.
#[test]
fn paced_framed_stream_through_both_drivers() {
    let (group, port) = ("239.77.1.1", 47611);
    let rx = receiver(group, port);
    let handle = receive_until_ended(rx);
    let tx = sender(group, port);
    let session = core::Sender::new(SenderConfig {
        framed: true,
        session: SessionId(42),
        count: Some(500),
        interval: Some(Duration::from_micros(100)),
        ..SenderConfig::new(tx.destination())
    });
    let mut driver = SendDriver::new(session);
    let mut ends = 0;
    let mut transmits = 0;
    let drive = driver
        .run(
            &tx,
            b"driven",
            Some(Instant::now() + Duration::from_secs(10)),
            || false,
            |sent| {
                transmits += 1;
                ends += usize::from(sent.is_end);
            },
        )
        .unwrap();
    assert_eq!(drive, Drive::Finished);
    assert_eq!(ends, 3, "three end-of-session frames");
    assert_eq!(driver.datagrams_sent(), 500);
    assert_eq!(driver.host_drops(), 0);
    let (stats, payloads) = handle.join().unwrap();
    assert_eq!(payloads.len(), 500);
    assert!(payloads.iter().all(|p| p == b"driven"));
    let s = &stats.streams[0];
    assert_eq!((s.received, s.lost, s.duplicates), (500, 0, 0));
    assert_eq!(s.session, SessionId(42));
    assert_eq!(stats.streams_ended, 1);
    assert!(transmits >= 3);
}

// issue #7 — unpaced GSO batches (64 per transmit) reach the receiver whole and in order.
#[test]
fn unpaced_gso_batches_through_both_drivers() {
    let (group, port) = ("239.77.1.2", 47612);
    let rx = receiver(group, port);
    let handle = receive_until_ended(rx);
    let tx = sender(group, port);
    let session = core::Sender::new(SenderConfig {
        framed: true,
        count: Some(256),
        max_segments: 64,
        ..SenderConfig::new(tx.destination())
    });
    let mut driver = SendDriver::new(session);
    let mut batches = Vec::new();
    driver
        .run(
            &tx,
            &[7; 100],
            None,
            || false,
            |sent| {
                if !sent.is_end {
                    batches.push(sent.datagrams);
                }
            },
        )
        .unwrap();
    assert_eq!(batches, [64, 64, 64, 64], "four GSO-shaped transmits");
    let (stats, payloads) = handle.join().unwrap();
    assert_eq!(payloads.len(), 256);
    assert_eq!((stats.lost, stats.reordered), (0, 0));
}

// The stop function ends both loops promptly, and a time limit ends the receiver.
#[test]
fn stop_and_limit_end_the_loops() {
    let (group, port) = ("239.77.1.3", 47613);
    let mut rx = receiver(group, port);
    let mut driver = recv_driver();
    let started = Instant::now();
    let drive = driver
        .run(
            &mut rx,
            Some(started + Duration::from_millis(150)),
            || false,
            |_, _| ControlFlow::Continue(()),
            |_| ControlFlow::Continue(()),
        )
        .unwrap();
    assert_eq!(drive, Drive::Limit);
    assert!(started.elapsed() >= Duration::from_millis(150));

    let stop = Arc::new(AtomicBool::new(false));
    let flag = Arc::clone(&stop);
    let stopper = thread::spawn(move || {
        thread::sleep(Duration::from_millis(100));
        flag.store(true, Ordering::SeqCst);
    });
    let drive = driver
        .run(
            &mut rx,
            None,
            || stop.load(Ordering::SeqCst),
            |_, _| ControlFlow::Continue(()),
            |_| ControlFlow::Continue(()),
        )
        .unwrap();
    assert_eq!(drive, Drive::Stopped);
    stopper.join().unwrap();

    // A sender paced at one datagram a second stops when asked, between datagrams.
    let tx = sender(group, port);
    let mut send = SendDriver::new(core::Sender::new(SenderConfig {
        interval: Some(Duration::from_secs(1)),
        count: Some(10),
        ..SenderConfig::new(tx.destination())
    }));
    let started = Instant::now();
    let mut calls = 0;
    let drive = send
        .run(
            &tx,
            b"x",
            None,
            || {
                calls += 1;
                started.elapsed() > Duration::from_millis(200)
            },
            |_| {},
        )
        .unwrap();
    assert_eq!(drive, Drive::Stopped);
    assert_eq!(send.datagrams_sent(), 1);
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "stopped before the next datagram"
    );
    assert!(calls > 1);
}

// issue #7 — with UDP GRO a GSO sender's batch reaches the receiver as one buffer, and
// `RecvBatch::datagrams` (which the driver uses) cuts it back into the datagrams sent.
#[test]
fn gro_runs_are_cut_back_into_datagrams() {
    let (group, port) = ("239.77.1.4", 47614);
    let mut rx = Receiver::builder(port)
        .group(group.parse().unwrap())
        .iface(lo())
        .recv_buffer_size(4 << 20)
        .gro(true)
        .read_timeout(Some(Duration::from_secs(2)))
        .build()
        .unwrap();
    let tx = sender(group, port);
    let mut buf = Vec::new();
    for i in 0..40_u8 {
        buf.extend_from_slice(&[i; 100]);
    }
    let transmit =
        mcast_core::Transmit::new(tx.destination().into(), buf.len()).with_segment_size(Some(100));
    assert_eq!(tx.send_transmit(&transmit, &buf).unwrap(), 40);
    let mut batch = RecvBatch::new(64, 65_536);
    let mut got: Vec<Vec<u8>> = Vec::new();
    let mut slots = 0;
    while got.len() < 40 {
        rx.recv_batch(&mut batch).expect("the batch arrives");
        slots += batch.len();
        got.extend(batch.datagrams().map(|(bytes, meta)| {
            assert_eq!(meta.len, bytes.len());
            assert_eq!(meta.segment_size, None);
            bytes.to_vec()
        }));
    }
    assert_eq!(got.len(), 40);
    for (i, d) in got.iter().enumerate() {
        assert_eq!(d, &vec![i as u8; 100], "datagram {i}");
    }
    if rx.gro_on() {
        assert!(
            slots < 40,
            "GRO coalesced the run: {slots} slots for 40 datagrams"
        );
    }
}
