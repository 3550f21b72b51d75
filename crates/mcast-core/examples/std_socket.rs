//! mcast-core driven by plain `std::net::UdpSocket`s, with socket2 only for the options std
//! lacks. No mcast adapter: this file is the adapter.
//!
//! A sender and a receiver in one thread, on one host: the receiver joins 239.255.70.1 on the
//! loopback interface, the sender sends 200 framed datagrams to it, one per millisecond, with
//! TTL 0 out of 127.0.0.1 (nothing leaves the host), and the program prints what the
//! receiver counted. It exits 1 if anything went missing or the exchange took longer than five
//! seconds.
//!
//! ```text
//! cargo run -p mcast-core --example std_socket
//! ```
//!
//! The options std's `UdpSocket` cannot set, and what they are for:
//! - `SO_REUSEADDR` before `bind` (socket2): other programs may listen on the same group and
//!   port;
//! - `IP_MULTICAST_IF` (socket2): the interface datagrams leave by, here loopback, never the
//!   kernel's default route;
//! - `IP_MULTICAST_ALL` off (socket2, Linux): the socket gets only the groups it joined, not
//!   every group some socket of the host joined on its port.
//!
//! std does the rest: `join_multicast_v4` on a named interface, `set_multicast_ttl_v4`,
//! `set_multicast_loop_v4`. What std cannot tell is a datagram's destination address
//! (`IP_PKTINFO`), so [`RecvMeta`] leaves it unknown; mcast-sync reports it, and the
//! receiver then sets apart datagrams that were not sent to a joined group.

use std::io;
use std::net::{Ipv4Addr, SocketAddr, UdpSocket};
use std::process::ExitCode;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use mcast_core::addr::{Group, GroupAddr};
use mcast_core::session::{Event, Receiver, ReceiverConfig, Sender, SenderConfig, SessionId};
use mcast_core::RecvMeta;
use socket2::{Domain, Protocol, Socket, Type};

/// An administratively scoped group (RFC 2365), checked at compile time.
const GROUP: Group = Group::v4_const(Ipv4Addr::new(239, 255, 70, 1));
/// How many datagrams the sender sends: the loop is bounded.
const COUNT: u64 = 200;
/// The longest the exchange may take.
const LIMIT: Duration = Duration::from_secs(5);

fn main() -> ExitCode {
    match run() {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("std_socket: {e}");
            ExitCode::FAILURE
        }
    }
}

/// The receiving socket: bound to the group (on a port the kernel picks) and joined on the
/// loopback interface.
fn receiver_socket() -> io::Result<UdpSocket> {
    let s = Socket::new(Domain::IPV4, Type::DGRAM, Some(Protocol::UDP))?;
    s.set_reuse_address(true)?;
    #[cfg(target_os = "linux")]
    s.set_multicast_all_v4(false)?;
    // Bound to the group address, so unicast datagrams to the port do not arrive here.
    s.bind(&SocketAddr::from((GROUP.as_v4().unwrap_or(Ipv4Addr::UNSPECIFIED), 0)).into())?;
    let s = UdpSocket::from(s);
    if let Some(group) = GROUP.as_v4() {
        s.join_multicast_v4(&group, &Ipv4Addr::LOCALHOST)?;
    }
    Ok(s)
}

/// The sending socket: out of 127.0.0.1, TTL 0, looped back to this host's receivers.
fn sender_socket() -> io::Result<UdpSocket> {
    let s = Socket::new(Domain::IPV4, Type::DGRAM, Some(Protocol::UDP))?;
    s.set_multicast_if_v4(&Ipv4Addr::LOCALHOST)?;
    s.bind(&SocketAddr::from((Ipv4Addr::LOCALHOST, 0)).into())?;
    let s = UdpSocket::from(s);
    s.set_multicast_ttl_v4(0)?;
    s.set_multicast_loop_v4(true)?;
    Ok(s)
}

/// The clocks. The core never reads them: the adapter does, and passes the time in.
#[allow(clippy::disallowed_methods)]
fn now() -> Instant {
    Instant::now()
}

#[allow(clippy::disallowed_methods)]
fn wall_ns() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
}

fn run() -> io::Result<bool> {
    let rx_socket = receiver_socket()?;
    let tx_socket = sender_socket()?;
    let port = rx_socket.local_addr()?.port();

    let start = now();
    let mut tx = Sender::new(SenderConfig {
        session: SessionId::from(std::process::id()),
        framed: true,
        count: Some(COUNT),
        interval: Some(Duration::from_millis(1)),
        ..SenderConfig::new(GroupAddr::new(GROUP, port))
    });
    let mut rx = Receiver::new(
        ReceiverConfig {
            report_interval: Some(Duration::from_millis(100)),
            groups: vec![GROUP],
            ..ReceiverConfig::default()
        },
        start,
    );

    let mut out = Vec::new();
    let mut datagram = [0u8; 2048];
    loop {
        if now().duration_since(start) > LIMIT {
            eprintln!("std_socket: gave up after {LIMIT:?}");
            return Ok(false);
        }
        // 1. Drain the sender: each Transmit is one datagram, or several of `segment_size`
        //    bytes (a GSO batch) that a plain socket sends one by one.
        while let Some(t) = tx.poll_transmit(now(), wall_ns(), b"hello from std", &mut out) {
            let segment = t.segment_size.unwrap_or(t.size).max(1);
            for d in out[..t.size].chunks(segment) {
                tx_socket.send_to(d, t.destination)?;
            }
        }
        if tx.is_finished() && rx.all_streams_ended() {
            break;
        }
        // 2. Wait for a datagram until the earliest deadline (at least 100 µs: a zero read
        //    timeout is an error).
        let t = now();
        let deadline = [tx.poll_timeout(), rx.poll_timeout()]
            .into_iter()
            .flatten()
            .min()
            .unwrap_or(t + Duration::from_millis(50));
        let wait = deadline
            .saturating_duration_since(t)
            .max(Duration::from_micros(100));
        rx_socket.set_read_timeout(Some(wait))?;
        match rx_socket.recv_from(&mut datagram) {
            // 3. Hand it to the receiver.
            Ok((n, from)) => {
                let _ =
                    rx.handle_datagram(now(), wall_ns(), RecvMeta::new(from, n), &datagram[..n]);
            }
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) => {}
            Err(e) => return Err(e),
        }
        // 4. Run the timers, and drain the receiver's events.
        let t = now();
        tx.handle_timeout(t);
        rx.handle_timeout(t);
        while let Some(event) = rx.poll_event() {
            match event {
                Event::Report(s) => println!("report: {} frames so far", s.framed),
                other => println!("{other:?}"),
            }
        }
    }

    let stats = rx.stats();
    println!(
        "received {} framed datagrams ({} bytes) to {GROUP}:{port}: lost {}, duplicates {}, reordered {}, end frames {}",
        stats.framed, stats.bytes, stats.lost, stats.duplicates, stats.reordered, stats.end_frames
    );
    if let Some(d) = stats.delay {
        println!(
            "one-way delay: min {} ns, median {} ns, p99 {} ns",
            d.min_ns, d.p50_ns, d.p99_ns
        );
    }
    Ok(stats.framed == COUNT && stats.lost == 0)
}
