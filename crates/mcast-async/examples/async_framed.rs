//! A framed round trip with statistics on tokio: payloads go into a `Sink` that numbers and
//! stamps them (`Sender::into_framed`), and come out of the receive driver's `Stream`, which
//! counts them with mcast-core's session receiver on their way through; the example prints
//! what it counted: received, lost, duplicates, reordered, jitter and one-way delay (here all
//! frames are sent before the stream reads any, so the delay includes their wait in the
//! socket's buffer). On `lo` (127.0.0.1), TTL 0; every wait is bounded.
//!
//! `cargo run -p mcast-async --example async_framed`

use std::time::{Duration, Instant};

use futures::{SinkExt, StreamExt};
use mcast_async::core::addr::Group;
use mcast_async::core::frame::SessionId;
use mcast_async::core::iface::IfaceSpec;
use mcast_async::core::session::{self, ReceiverConfig};
use mcast_async::driver::{Received, RecvDriver};
use mcast_async::{Receiver, RecvBatch, Sender};

const FRAMES: u64 = 200;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let lo: IfaceSpec = "127.0.0.1".parse()?;
    let group: Group = "239.255.43.111".parse()?;
    let port = 43112;

    let rx = Receiver::builder(port)
        .group(group)
        .iface(lo.clone())
        .read_timeout(Some(Duration::from_secs(2)))
        .build()?;
    let session = session::Receiver::new(ReceiverConfig::default(), Instant::now());
    let mut frames = RecvDriver::new(session, RecvBatch::new(64, 2048)).into_stream(rx);

    let mut sink = Sender::builder(group, port)
        .iface(lo)
        .ttl(0)
        .build()?
        .into_framed(SessionId(7));
    for i in 0..FRAMES {
        sink.send(format!("frame {i}")).await?;
    }
    println!("sent {} frames of session 7", sink.frames_sent());

    let mut seen = 0;
    while seen < FRAMES {
        // The stream yields a read-timeout error after 2 s without a datagram.
        match frames.next().await.ok_or("the stream ended")?? {
            Received::Frame { frame, .. } if frame.session == SessionId(7) => seen += 1,
            _ => {}
        }
    }
    let stats = frames.stats();
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
    Ok(())
}
