//! One receiver joined to two groups on one port, and a sender to each: every datagram is
//! attributed to its group by its metadata's destination. On `lo` (127.0.0.1), TTL 0, so
//! nothing leaves the machine; it ends on its own (a 2 s read timeout bounds every wait).
//!
//! `cargo run -p mcast-sync --example two_groups`

use std::time::Duration;

use mcast_sync::core::addr::Group;
use mcast_sync::core::iface::IfaceSpec;
use mcast_sync::{Receiver, Sender};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let lo: IfaceSpec = "127.0.0.1".parse()?;
    let port = 43101;
    let groups: [Group; 2] = ["224.1.1.5".parse()?, "234.3.2.1".parse()?];

    let mut rx = Receiver::builder(port)
        .groups(groups)
        .iface(lo.clone())
        .read_timeout(Some(Duration::from_secs(2)))
        .build()?;
    for group in groups {
        let tx = Sender::builder(group, port)
            .iface(lo.clone())
            .ttl(0)
            .build()?;
        for i in 0..3 {
            tx.send(format!("datagram {i} to {group}").as_bytes())?;
        }
    }

    // 65,535 bytes hold any UDP datagram; a shorter buffer would make `recv` report a cut one.
    let mut buf = vec![0u8; 65_535];
    let mut per_group = [0; 2];
    while per_group.iter().sum::<usize>() < 6 {
        let (n, meta) = rx.recv(&mut buf)?;
        let text = String::from_utf8_lossy(&buf[..n]);
        let Some(k) = groups
            .iter()
            .position(|g| Some(g.addr()) == meta.destination)
        else {
            continue; // another program's datagram on this port
        };
        if !text.ends_with(&format!("to {}", groups[k])) {
            continue;
        }
        per_group[k] += 1;
        println!("[{}] {text:?} from {}", groups[k], meta.source);
    }
    println!(
        "{} to {}, {} to {}",
        per_group[0], groups[0], per_group[1], groups[1]
    );
    Ok(())
}
