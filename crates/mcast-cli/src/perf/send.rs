//! `mcast perf send`: numbered, stamped datagrams at a set rate, through the engine.

use std::process::ExitCode;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use mcast_core::session::{Sender, SenderConfig, SessionId};
use mcast_core::{auth, frame};
use mcast_sync::driver::{wall_ns, Clock as _, Drive, SendDriver, SystemClock};
use mcast_sync::SendPath;
use serde::Serialize;

use super::rate::{parse_rate, Rate};
use super::{mbit_s, per_s};
use crate::adapter;
use crate::errors::CliError;
use crate::output::round3;
use crate::stop::{self, Stop};
use crate::{output, plan};

/// Arguments of `mcast perf send`.
#[derive(clap::Args, Debug)]
#[command(after_help = "\
Examples:
  mcast perf send 239.1.2.3 5001 -i 127.0.0.1 --ttl 0 --rate 20000 --duration 5s
  mcast perf send 239.1.2.3 5001 -i lab0 --rate max --size 64
  mcast perf send 239.1.2.3 5001 -i lab0 --rate 100Mbit --size 1400 -c 100000
  mcast perf send 239.1.2.3 5001 -i lab0 --rate max --key-file group.key   authenticated

Prints a line per second (datagrams/s, Mbit/s) and a summary; --json prints JSON Lines.
The stream ends with end-of-session frames so `mcast perf recv` counts loss at its tail.")]
#[command(mut_arg("group", |a| a.help("The multicast group to send to")))]
#[command(mut_arg("port", |a| a.help("The destination UDP port (1-65535)")))]
#[command(mut_arg("iface", |a| a.help(
    "The outgoing interface: an IPv4 address, a name, an index, or 0.0.0.0",
)))]
pub(crate) struct Opt {
    #[command(flatten)]
    endpoint: crate::args::Endpoint,

    /// Datagrams per second (20000, 20k, 1M), a bit rate of UDP payload (100Mbit, 1Gbit), or
    /// max (as fast as the socket takes them). A bit rate paces one datagram every
    /// 8 × --size / RATE seconds, fractions of a datagram per second included.
    #[arg(long, value_name = "RATE", default_value = "1000", value_parser = parse_rate)]
    rate: Rate,

    /// The UDP payload of each datagram in bytes, the 28-byte frame header included (28 to
    /// 65507), and with --key-file the 16-byte tag too (44 at least).
    #[arg(long, value_name = "B", default_value_t = 1000, value_parser = plan::parse_frame_size)]
    size: usize,

    /// Send for this long (default 10s unless -c is given).
    #[arg(long, value_name = "D", conflicts_with = "count",
          value_parser = |s: &str| plan::parse_positive("--duration", s))]
    duration: Option<Duration>,

    /// Send this many datagrams.
    #[arg(short = 'c', long, value_name = "N", value_parser = plan::parse_count,
          allow_negative_numbers = true)]
    count: Option<u64>,

    /// Time to live (hop limit): 1 stays on the local network, 0 on this host.
    #[arg(long, value_name = "N", default_value_t = 1, value_parser = plan::parse_ttl,
          allow_negative_numbers = true)]
    ttl: u8,

    /// How datagrams reach the kernel: gso (UDP_SEGMENT: up to 64 per system call, cut by
    /// the kernel), mmsg (sendmmsg: up to 64 messages per call), single (one sendto each).
    /// auto is gso, falling back to mmsg where the kernel refuses it.
    #[arg(long, value_name = "PATH", default_value = "auto", value_parser = ["auto", "gso", "mmsg", "single"])]
    io: String,

    #[command(flatten)]
    key: crate::key::KeyArg,

    /// Print JSON Lines (start, interval, summary, end) instead of text.
    #[arg(long)]
    json: bool,
}

#[derive(Serialize)]
struct StartRecord {
    group: String,
    port: u16,
    interface: String,
    size: usize,
    /// The datagrams per second the schedule keeps (fractional for a bit rate).
    rate_pps: Option<f64>,
    io: &'static str,
    session: SessionId,
    /// Whether frames carry a tag (`--key-file`).
    authenticated: bool,
}

/// An `interval` or `summary` record of the sender.
#[derive(Serialize)]
struct SendRecord {
    #[serde(skip_serializing_if = "Option::is_none")]
    start_s: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    end_s: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    elapsed_s: Option<f64>,
    datagrams: u64,
    bytes: u64,
    rate_pps: f64,
    mbit_s: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    io: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    host_drops: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    transmits: Option<u64>,
}

#[derive(Serialize)]
struct EndRecord {
    reason: &'static str,
    exit_code: u8,
}

/// How much a GSO batch may hold: the kernel's limit of 64 segments per send.
const MAX_SEGMENTS: usize = 64;

/// Runs `mcast perf send`.
pub(crate) fn run(opt: Opt) -> anyhow::Result<ExitCode> {
    let (group, port) = opt.endpoint.resolve("perf send")?;
    let (plan, label) = plan::send(group, port, opt.endpoint.iface.as_deref(), opt.ttl, false)?;
    let key = opt.key.load()?;
    // The tag is part of the datagram's --size, so that a run with a key and one without
    // send datagrams of one size.
    let tag = if key.is_some() { auth::TAG_LEN } else { 0 };
    if opt.size < frame::HEADER_LEN + tag {
        return Err(CliError::usage(format!(
            "--size {} is too small for an authenticated frame: at least {} bytes (the {}-byte header and the {tag}-byte tag)",
            opt.size,
            frame::HEADER_LEN + tag,
            frame::HEADER_LEN
        ))
        .into());
    }
    if plan.group.is_ipv6() && opt.size > SenderConfig::MAX_UDP_PAYLOAD_V6 {
        return Err(CliError::usage(format!(
            "--size {} is more than an IPv6 UDP datagram holds ({})",
            opt.size,
            SenderConfig::MAX_UDP_PAYLOAD_V6
        ))
        .into());
    }
    let path = match opt.io.as_str() {
        "mmsg" => SendPath::Mmsg,
        "single" => SendPath::Single,
        _ => SendPath::Gso,
    };
    let interrupted = stop::install();
    let tx = adapter::open_sender(&plan, path)?;
    let session = SessionId((wall_ns() as u32) ^ std::process::id().rotate_left(16));
    let payload = vec![0x6d_u8; opt.size - frame::HEADER_LEN - tag];
    let duration = match opt.count {
        Some(_) => opt.duration,
        None => Some(opt.duration.unwrap_or(Duration::from_secs(10))),
    };
    let mut driver = SendDriver::new(Sender::new(SenderConfig {
        session,
        framed: true,
        interval: opt.rate.interval(opt.size),
        count: opt.count,
        max_segments: MAX_SEGMENTS,
        key,
        ..SenderConfig::new(tx.destination())
    }));
    if opt.json {
        output::emit_json(
            "start",
            &StartRecord {
                group: plan.group.to_string(),
                port: plan.port,
                interface: label.clone(),
                size: opt.size,
                rate_pps: opt.rate.pps(opt.size).map(round3),
                io: tx.send_path().as_str(),
                session,
                authenticated: tag > 0,
            },
        )?;
    } else {
        output::note(&format!(
            "sending to {}:{} on {label}: {}-byte {}datagrams, rate {}, io {}, {}",
            output::host(plan.group.addr()),
            plan.port,
            opt.size,
            if tag > 0 { "authenticated " } else { "" },
            match (opt.rate, opt.rate.pps(opt.size)) {
                // A bit rate says what it means in datagrams, fractions kept.
                (Rate::Bits(_), Some(pps)) => format!("{} ({} datagrams/s)", opt.rate, round3(pps)),
                _ => opt.rate.to_string(),
            },
            tx.send_path().as_str(),
            match (opt.count, duration) {
                (Some(c), _) => format!("{c} datagrams"),
                (None, Some(d)) => format!("for {}", humantime::format_duration(d)),
                (None, None) => "until Ctrl-C".into(),
            }
        ));
    }

    let stop = || interrupted.load(Ordering::SeqCst);
    let start = driver.clock().now();
    let end = duration.and_then(|d| start.checked_add(d));
    let mut tick = 1_u64;
    let mut last = (start, 0_u64, 0_u64);
    // When the last data datagram went, for the run's end (see `run_end`).
    let mut last_sent: Option<Instant> = None;
    let reason = loop {
        let next = start + Duration::from_secs(tick);
        let limit = end.map_or(next, |e| e.min(next));
        let drive = driver.run_data(&tx, &payload, Some(limit), stop, |sent| {
            if !sent.is_end && sent.datagrams > 0 {
                last_sent = Some(SystemClock.now());
            }
        })?;
        let now = driver.clock().now();
        if now >= next {
            interval(&opt, start, last, now, &driver)?;
            last = (now, driver.datagrams_sent(), driver.bytes_sent());
            tick = (now - start).as_secs() + 1;
        }
        match drive {
            Drive::Finished => break Stop::Count,
            Drive::Stopped => break stop::requested_reason(),
            _ if end.is_some_and(|e| now >= e) => break Stop::Duration,
            _ => {}
        }
    };
    let elapsed = run_end(driver.clock().now(), last_sent, opt.rate.interval(opt.size)) - start;
    if last.0 < start + elapsed && driver.datagrams_sent() > last.1 {
        interval(&opt, start, last, start + elapsed, &driver)?;
    }
    // The end-of-session frames close the stream (also after Ctrl-C), so the receiver
    // counts the tail.
    let now = driver.clock().now();
    driver.session_mut().finish(now);
    let _ = driver.run(
        &tx,
        &payload,
        Some(now + Duration::from_secs(1)),
        || false,
        |_| {},
    )?;

    let secs = elapsed.as_secs_f64();
    let summary = SendRecord {
        start_s: None,
        end_s: None,
        elapsed_s: Some(round3(secs)),
        datagrams: driver.datagrams_sent(),
        bytes: driver.bytes_sent(),
        rate_pps: round3(per_s(driver.datagrams_sent(), secs)),
        mbit_s: round3(mbit_s(driver.bytes_sent(), secs)),
        io: Some(tx.send_path().as_str()),
        host_drops: Some(driver.host_drops()),
        transmits: Some(driver.transmits()),
    };
    // The summary reaches stdout if it still takes output, else stderr.
    if opt.json {
        output::final_json("summary", &summary)?;
        output::final_json(
            "end",
            &EndRecord {
                reason: reason.as_str(),
                exit_code: 0,
            },
        )?;
    } else {
        output::final_line(&format!(
            "[{:5.1}-{:5.1} s] sent {}, {}: {:.0} datagrams/s, {:.2} Mbit/s ({}, io {}{}){}",
            0.0,
            secs,
            output::count(summary.datagrams, "datagram"),
            output::count(summary.bytes, "byte"),
            summary.rate_pps,
            summary.mbit_s,
            output::count(driver.transmits() as u64, "system call"),
            tx.send_path().as_str(),
            match driver.host_drops() {
                0 => String::new(),
                n => format!(", {n} refused by the host: ENOBUFS"),
            },
            reason.suffix()
        ))?;
    }
    Ok(ExitCode::SUCCESS)
}

/// When a run that stopped sending at `now` ends for its figures: a paced run (one datagram
/// every `pace`) lasts until one pace after its last datagram (`last_sent`), the time that
/// datagram stands for, so `-c 3` at 2 datagrams/s is 3 datagrams in 1.5 s (2/s), and its last
/// interval is never a sliver of time with a datagram in it (an absurd rate). Unpaced, the run
/// ends at `now`.
fn run_end(now: Instant, last_sent: Option<Instant>, pace: Option<Duration>) -> Instant {
    match (last_sent, pace) {
        (Some(at), Some(pace)) => at.checked_add(pace).map_or(now, |slot| slot.max(now)),
        _ => now,
    }
}

/// Prints the interval from `last` (time, datagrams, bytes) to `now`.
fn interval(
    opt: &Opt,
    start: Instant,
    last: (Instant, u64, u64),
    now: Instant,
    driver: &SendDriver,
) -> std::io::Result<()> {
    let secs = (now - last.0).as_secs_f64();
    let datagrams = driver.datagrams_sent() - last.1;
    let bytes = driver.bytes_sent() - last.2;
    let rec = SendRecord {
        start_s: Some(round3((last.0 - start).as_secs_f64())),
        end_s: Some(round3((now - start).as_secs_f64())),
        elapsed_s: None,
        datagrams,
        bytes,
        rate_pps: round3(per_s(datagrams, secs)),
        mbit_s: round3(mbit_s(bytes, secs)),
        io: None,
        host_drops: None,
        transmits: None,
    };
    if opt.json {
        output::emit_json("interval", &rec)
    } else {
        output::line(&format!(
            "[{:5.1}-{:5.1} s] {:>10} datagrams  {:>12.0} datagrams/s  {:>9.2} Mbit/s",
            rec.start_s.unwrap_or(0.0),
            rec.end_s.unwrap_or(0.0),
            datagrams,
            rec.rate_pps,
            rec.mbit_s
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // A paced run's last interval runs one pace past its last datagram: `--rate 2 -c 3` sends at
    // 0, 0.5 and 1.0 s, and the tick at 1.0 s must not leave the third datagram alone in a
    // sliver of an interval (it was reported at 2591 datagrams/s).
    #[test]
    fn a_paced_run_ends_one_pace_after_its_last_datagram() {
        let t0 = Instant::now();
        let pace = Some(Duration::from_millis(500));
        let last = t0 + Duration::from_millis(1_000);
        let stopped = last + Duration::from_micros(400);
        let end = run_end(stopped, Some(last), pace);
        assert_eq!(end - t0, Duration::from_millis(1_500));
        // The tail [1.0, 1.5] holds one datagram: 2/s, as asked; the run 3 in 1.5 s.
        let tail = (end - (t0 + Duration::from_secs(1))).as_secs_f64();
        assert!((per_s(1, tail) - 2.0).abs() < 1e-9);
        assert!((per_s(3, (end - t0).as_secs_f64()) - 2.0).abs() < 1e-9);
        // A run that went on past that slot (stopped by its duration) ends when it stopped.
        let later = last + Duration::from_secs(2);
        assert_eq!(run_end(later, Some(last), pace), later);
        // Unpaced, or nothing sent: now.
        assert_eq!(run_end(stopped, Some(last), None), stopped);
        assert_eq!(run_end(stopped, None, pace), stopped);
    }
}
