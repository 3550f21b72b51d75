//! A framed round trip with statistics: mcast-core's session sender, driven by a
//! [`SendDriver`], sends 200 numbered, time-stamped frames (paced at 10,000 a second, then
//! three end-of-session frames); a [`RecvDriver`] in a thread counts them, and the example
//! prints what the receiver's session saw: received, lost, duplicates, reordered, jitter and
//! one-way delay. On `lo` (127.0.0.1), TTL 0; bounded by a 10 s limit.
//!
//! `cargo run -p mcast-sync --example framed`

use std::ops::ControlFlow;
use std::thread;
use std::time::{Duration, Instant};

use mcast_sync::core::addr::Group;
use mcast_sync::core::iface::IfaceSpec;
use mcast_sync::core::session::{self, Event, ReceiverConfig, SenderConfig, SessionId};
use mcast_sync::driver::{Drive, RecvDriver, SendDriver};
use mcast_sync::{Receiver, RecvBatch, Sender};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let lo: IfaceSpec = "127.0.0.1".parse()?;
    let group: Group = "239.255.43.101".parse()?;
    let port = 43102;
    let limit = Instant::now() + Duration::from_secs(10);

    let mut rx = Receiver::builder(port)
        .group(group)
        .iface(lo.clone())
        .build()?;
    let receiving = thread::spawn(move || {
        let session = session::Receiver::new(ReceiverConfig::default(), Instant::now());
        let mut driver = RecvDriver::new(session, RecvBatch::new(64, 2048));
        let drive = driver.run(
            &mut rx,
            Some(limit),
            || false,
            |_, _| ControlFlow::Continue(()),
            // Stop once the sender's end-of-session frames closed its stream.
            |event| match event {
                Event::StreamEnd { .. } => ControlFlow::Break(()),
                _ => ControlFlow::Continue(()),
            },
        );
        drive.map(|drive| (drive, driver.session().stats()))
    });

    let tx = Sender::builder(group, port).iface(lo).ttl(0).build()?;
    let mut driver = SendDriver::new(session::Sender::new(SenderConfig {
        framed: true,
        session: SessionId(7),
        count: Some(200),
        interval: Some(Duration::from_micros(100)),
        ..SenderConfig::new(tx.destination())
    }));
    let sent = driver.run(&tx, b"framed example", Some(limit), || false, |_| {})?;
    println!("sender: {sent:?}, {} frames sent", driver.datagrams_sent());

    let (drive, stats) = receiving
        .join()
        .map_err(|_| "the receiving thread panicked")??;
    println!("receiver: {drive:?}");
    for s in &stats.streams {
        println!(
            "session {} from {}: received {}, lost {}, duplicates {}, reordered {}, jitter {} ns",
            s.session.0, s.source, s.received, s.lost, s.duplicates, s.reordered, s.jitter_ns
        );
        if let Some(delay) = &s.delay {
            println!(
                "  one-way delay: min {} µs, mean {} µs, max {} µs over {} frames",
                delay.min_ns / 1000,
                delay.mean_ns / 1000,
                delay.max_ns / 1000,
                delay.samples
            );
        }
    }
    let stream = stats.streams.first().ok_or("no stream arrived")?;
    if drive != Drive::Finished || stream.received != 200 {
        return Err(format!("expected 200 frames and the stream's end, got {stream:?}").into());
    }
    Ok(())
}
