//! `mcast perf recv`: receive through the engine and measure rate, loss, host drops,
//! duplicates, reordering, jitter and one-way delay.

use std::collections::HashSet;
use std::io::{self, IsTerminal as _};
use std::net::SocketAddr;
use std::ops::ControlFlow;
use std::process::ExitCode;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use mcast_core::auth::AuthStats;
use mcast_core::session::{Datagram, Event, Receiver, ReceiverConfig, SessionId, Stats};
use mcast_sync::driver::{wall_ns, Clock as _, Drive, RecvDriver};
use mcast_sync::RecvBatch;
use serde::Serialize;

use super::{mbit_s, per_s};
use crate::adapter::{self, RecvBufferRecord};
use crate::errors::CliError;
use crate::output::round3;
use crate::stop::{self, Stop};
use crate::{output, plan, recv::host_drops_line, watch};

/// Arguments of `mcast perf recv`.
#[derive(clap::Args, Debug)]
#[command(after_help = "\
Examples:
  mcast perf recv 239.1.2.3 5001 -i 127.0.0.1
  mcast perf recv 239.1.2.3 5001 -i lab0 --rcvbuf 16M --json
  mcast perf recv 239.1.2.3 5001 -i lab0 --report 500ms --csv > run.csv
  mcast perf recv 239.1.2.3 5001 -i lab0 --iperf      count an `iperf -c 239.1.2.3 -u` client
  mcast perf recv 239.1.2.3 5001 -i lab0 --key-file group.key   authenticated frames only

The receiver counts mcast's framed datagrams (`mcast perf send`, `mcast send --framed`) and,
with --iperf, iperf2's. iperf's own server does not understand mcast's frames: measure mcast
senders with `mcast perf recv`.

Each report line: datagrams/s, Mbit/s, datagrams lost in the network (sequence gaps, the
tail included once the sender's end frames arrive), host drops (datagrams the kernel dropped
here because the receive buffer was full), duplicates, reordered, and RFC 3550 jitter. The
summary adds one-way delay percentiles: they compare the sender's clock with this host's, so
they hold when both share a clock (as the lab's namespaces do) or are synchronised.

--csv prints iperf2's -y C columns, one row per interval, no header:
  time (UTC, YYYYMMDDHHMMSS), source address, source port, group, port, id, interval
  (start-end s), bytes, bits/s, jitter (ms), lost, total (received + lost), lost %,
  out of order, then mcast's own: host drops, duplicates.")]
pub(crate) struct Opt {
    #[command(flatten)]
    endpoint: crate::args::Endpoint,

    /// Accept only this sender (source-specific multicast). Repeat for several.
    #[arg(short = 's', long = "source", value_name = "S")]
    source: Vec<String>,

    /// Ask for a receive buffer of SIZE bytes (e.g. 16M); the size granted is shown.
    #[arg(long, value_name = "SIZE", value_parser = plan::parse_size)]
    rcvbuf: Option<usize>,

    /// Report this often (e.g. 1s, 500ms), counted from the first datagram.
    #[arg(long, value_name = "D", default_value = "1s",
          value_parser = |s: &str| plan::parse_positive("--report", s))]
    report: Duration,

    /// Give up after this long: exit 1 if nothing arrived by then.
    #[arg(long, value_name = "D", value_parser = plan::parse_timeout)]
    timeout: Option<Duration>,

    /// Also count iperf2's UDP datagrams (`iperf -c GROUP -u`): their sequence number and
    /// send time, and the client's final datagram as the end of its stream.
    /// Not with --key-file: iperf2 cannot sign its datagrams.
    #[arg(long, conflicts_with = "key_file")]
    iperf: bool,

    /// Print JSON Lines (start, interval, summary, end).
    #[arg(long, conflicts_with = "csv")]
    json: bool,

    /// Print one CSV row per interval, as iperf2's -y C.
    #[arg(long)]
    csv: bool,

    #[command(flatten)]
    key: crate::key::KeyArg,
}

#[derive(Serialize)]
struct StartRecord {
    group: String,
    port: u16,
    interface: String,
    recv_buffer: Option<RecvBufferRecord>,
}

/// Counters at one moment, for interval differences.
#[derive(Debug, Clone, Copy, Default)]
struct Snapshot {
    at: Option<Instant>,
    datagrams: u64,
    bytes: u64,
    lost: u64,
    host_drops: u64,
    duplicates: u64,
    reordered: u64,
}

impl Snapshot {
    fn of(stats: &Stats, at: Instant) -> Self {
        Self {
            at: Some(at),
            datagrams: stats.framed,
            bytes: stats.bytes,
            lost: stats.lost,
            host_drops: stats.host_drops,
            duplicates: stats.duplicates,
            reordered: stats.reordered,
        }
    }
}

/// An `interval` record.
#[derive(Serialize)]
struct IntervalRecord {
    start_s: f64,
    end_s: f64,
    datagrams: u64,
    bytes: u64,
    rate_pps: f64,
    mbit_s: f64,
    lost: u64,
    host_drops: u64,
    duplicates: u64,
    reordered: u64,
    jitter_us: f64,
}

/// One-way delay percentiles in microseconds.
#[derive(Serialize)]
struct DelayUs {
    min: f64,
    p50: f64,
    p90: f64,
    p99: f64,
    max: f64,
}

/// The `summary` record.
#[derive(Serialize)]
struct SummaryRecord {
    elapsed_s: f64,
    datagrams: u64,
    bytes: u64,
    rate_pps: f64,
    mbit_s: f64,
    /// What the senders said they sent (their end frames); `null` when no end frame came.
    sent: Option<u64>,
    /// Lost in the network: `missing` less `host_drops`.
    lost: u64,
    /// Sequence numbers that never arrived, for whatever reason.
    missing: u64,
    lost_percent: f64,
    host_drops: u64,
    duplicates: u64,
    reordered: u64,
    suspect: u64,
    /// Datagrams that reached the port but were not sent to the group (unicast, broadcast,
    /// another group): not counted anywhere else.
    stray: u64,
    jitter_us: f64,
    streams: usize,
    delay_us: Option<DelayUs>,
    /// `comparable` when no delay was negative; `sender_ahead` when the sender's clock is
    /// ahead of this host's (the delays are then not one-way delays).
    clocks: &'static str,
    /// With `--key-file`: datagrams authenticated, and those dropped by name; `null` without.
    auth: Option<AuthStats>,
}

#[derive(Serialize)]
struct EndRecord {
    reason: &'static str,
    exit_code: u8,
}

/// How often the live progress line is redrawn on a terminal (and how soon after the first
/// datagram the report clock starts).
const PROGRESS: Duration = Duration::from_millis(250);

/// Runs `mcast perf recv`.
pub(crate) fn run(opt: Opt) -> anyhow::Result<ExitCode> {
    // First, so that a signal while the groups are listed or joined ends with the summary.
    let interrupted = stop::install();
    let (group, port) = opt.endpoint.resolve("perf recv")?;
    let plan = plan::recv(group, port, opt.endpoint.iface.as_deref(), &opt.source)?;
    let key = opt.key.load()?;
    for n in &plan.notes {
        output::note(n);
    }
    let link = watch::start(&plan.iface, false);
    let mut rx = adapter::open_receiver(&plan, opt.rcvbuf)?;
    if let Some(l) = adapter::recv_buffer_note(&rx) {
        output::note(&l);
    }
    output::note(&format!(
        "listening on {}:{} (interface {})",
        output::host(plan.groups[0].addr()),
        plan.port,
        plan.iface_label
    ));
    if opt.json {
        output::emit_json(
            "start",
            &StartRecord {
                group: plan.groups[0].to_string(),
                port: plan.port,
                interface: plan.iface_label.clone(),
                recv_buffer: adapter::recv_buffer_record(&rx),
            },
        )?;
    }
    let started = Instant::now();
    let session = Receiver::new(
        ReceiverConfig {
            max_groups: 2,
            // A deep window: at a million datagrams a second, reordering by up to 64k.
            window: 1 << 16,
            detect_iperf: opt.iperf,
            groups: plan.groups.clone(),
            broadcast: adapter::broadcast_addresses(),
            key,
            ..ReceiverConfig::default()
        },
        started,
    );
    let mut driver = RecvDriver::new(session, RecvBatch::new(64, 65_536))
        .with_default_destination(Some(plan.groups[0].addr()));
    watch::follow_recv(&mut driver, link, opt.json, false);
    let deadline = opt.timeout.and_then(|t| started.checked_add(t));
    let live = !opt.json && !opt.csv && io::stdout().is_terminal();

    let mut first: Option<Instant> = None;
    let mut last_data: Option<Instant> = None;
    let mut prev = Snapshot::default();
    let mut next_report: Option<Instant> = None;
    let mut heard: HashSet<(SocketAddr, SessionId)> = HashSet::new();
    let mut ended: HashSet<(SocketAddr, SessionId)> = HashSet::new();
    let mut source: Option<SocketAddr> = None;
    let mut report_id = 0_u64;
    let mut data_seen = 0_u64;
    // When the first end frame arrived: the last datagram came just before it.
    let mut ended_at: Option<Instant> = None;
    let stop = || interrupted.load(Ordering::SeqCst);
    let reason = loop {
        let now = driver.clock().now();
        let mut limit = deadline;
        // Until the first datagram, come back often to start the report clock with it.
        let wake = if first.is_none() || live {
            Some(now + PROGRESS)
        } else {
            None
        };
        for t in [next_report, wake].into_iter().flatten() {
            limit = Some(limit.map_or(t, |l| l.min(t)));
        }
        let mut all_ended = false;
        let drive = driver.run(
            &mut rx,
            limit,
            stop,
            |meta, d| {
                if matches!(d, Datagram::Framed { .. }) {
                    // The clock is read for the first datagram and then every 64th, to keep the
                    // per-datagram cost down; the end frames read it again at the end.
                    data_seen += 1;
                    if first.is_none() || data_seen % 64 == 0 {
                        let now = Instant::now();
                        first.get_or_insert(now);
                        last_data = Some(now);
                        source.get_or_insert(meta.source);
                    }
                }
                ControlFlow::Continue(())
            },
            |e| {
                match e {
                    Event::NewStream {
                        source, session, ..
                    } => {
                        heard.insert((source, session));
                    }
                    Event::StreamEnd {
                        source, session, ..
                    } => {
                        ended_at.get_or_insert_with(Instant::now);
                        heard.insert((source, session));
                        ended.insert((source, session));
                        if heard.iter().all(|k| ended.contains(k)) {
                            all_ended = true;
                            return ControlFlow::Break(());
                        }
                    }
                    _ => {}
                }
                ControlFlow::Continue(())
            },
        )?;
        let now = driver.clock().now();
        if let (Some(f), None) = (first, next_report) {
            next_report = Some(f + opt.report);
            prev.at = Some(f);
        }
        if next_report.is_some_and(|t| now >= t) {
            let stats = driver.session().stats();
            report_id += 1;
            report(
                &opt, &prev, &stats, now, first, source, &plan, report_id, live,
            )?;
            prev = Snapshot::of(&stats, now);
            next_report = next_report.map(|t| (t + opt.report).max(now));
        } else if live && first.is_some() {
            progress(&driver.session().stats(), &prev, now)?;
        }
        match drive {
            Drive::Stopped => break stop::requested_reason(),
            Drive::Finished if all_ended => break Stop::Ended,
            Drive::Limit if deadline.is_some_and(|d| now >= d) => break Stop::Timeout,
            _ => {}
        }
    };
    let stats = driver.session().stats();
    let end = match (last_data, ended_at) {
        (Some(l), Some(e)) => l.max(e),
        (l, e) => l.or(e).unwrap_or_else(Instant::now),
    };
    let end = run_end(first, end, stats.framed);
    // The last, partial interval.
    if let (Some(at), Some(_)) = (prev.at, first) {
        if stats.framed > prev.datagrams || stats.lost > prev.lost {
            report_id += 1;
            report(
                &opt,
                &prev,
                &stats,
                end.max(at),
                first,
                source,
                &plan,
                report_id,
                live,
            )?;
        }
    }
    let failed = reason == Stop::Timeout && stats.datagrams == 0;
    if live {
        // Clear the progress line first.
        output::raw("\r\x1b[K")?;
    }
    summary(&opt, &stats, first.map(|f| end - f), reason)?;
    if opt.json {
        output::final_json(
            "end",
            &EndRecord {
                reason: reason.as_str(),
                exit_code: u8::from(failed),
            },
        )?;
    }
    if failed {
        return Err(CliError::runtime(format!(
            "timeout: nothing arrived within {}",
            humantime::format_duration(opt.timeout.unwrap_or_default())
        ))
        .hint("check that the sender uses the same group and port, sends on this interface (-i) and with a TTL that reaches here")
        .into());
    }
    Ok(ExitCode::SUCCESS)
}

/// When a run whose `datagrams` arrived from `first` to `last` ends for its figures: one mean
/// spacing after the last datagram, the time that datagram stands for (as `perf send` ends a
/// paced run one pace after its last). So n datagrams count over n spacings, not n - 1: 3 at
/// 2 datagrams/s are 2/s over 1.5 s, and a last interval is never a sliver of time with a
/// datagram in it (an absurd rate).
fn run_end(first: Option<Instant>, last: Instant, datagrams: u64) -> Instant {
    match first {
        Some(first) if datagrams >= 2 && last > first => {
            let spacing = (last - first).as_secs_f64() / (datagrams - 1) as f64;
            Duration::try_from_secs_f64(spacing)
                .ok()
                .and_then(|s| last.checked_add(s))
                .unwrap_or(last)
        }
        _ => last,
    }
}

/// Datagrams lost in the network: the sequence numbers missing, less those the kernel dropped
/// on this host (a host drop also leaves a gap in the sequence).
fn network_lost(stats: &Stats) -> u64 {
    stats.lost.saturating_sub(stats.host_drops)
}

/// [`network_lost`] of a snapshot.
fn network_lost_of(s: &Snapshot) -> u64 {
    s.lost.saturating_sub(s.host_drops)
}

/// The largest jitter of any stream, in microseconds.
fn jitter_us(stats: &Stats) -> f64 {
    stats.streams.iter().map(|s| s.jitter_ns).max().unwrap_or(0) as f64 / 1e3
}

/// Prints the live progress line (terminal only).
fn progress(stats: &Stats, prev: &Snapshot, now: Instant) -> io::Result<()> {
    let secs = prev.at.map_or(0.0, |a| (now - a).as_secs_f64());
    let n = stats.framed - prev.datagrams;
    output::raw(&format!(
        "\r  … {} ({:.0}/s), {} lost, {} so far\x1b[K",
        output::count(n, "datagram"),
        per_s(n, secs),
        stats.lost,
        output::count(stats.host_drops, "host drop")
    ))
}

/// Prints one interval, from `prev` to the counters in `stats` at `now`.
#[allow(clippy::too_many_arguments)]
fn report(
    opt: &Opt,
    prev: &Snapshot,
    stats: &Stats,
    now: Instant,
    first: Option<Instant>,
    source: Option<SocketAddr>,
    plan: &plan::RecvPlan,
    id: u64,
    live: bool,
) -> io::Result<()> {
    let Some(origin) = first else {
        return Ok(());
    };
    let from = prev.at.unwrap_or(origin);
    let secs = (now.max(from) - from).as_secs_f64();
    let datagrams = stats.framed - prev.datagrams.min(stats.framed);
    let bytes = stats.bytes - prev.bytes.min(stats.bytes);
    let rec = IntervalRecord {
        start_s: round3((from - origin).as_secs_f64()),
        end_s: round3((now.max(from) - origin).as_secs_f64()),
        datagrams,
        bytes,
        rate_pps: round3(per_s(datagrams, secs)),
        mbit_s: round3(mbit_s(bytes, secs)),
        lost: network_lost(stats).saturating_sub(network_lost_of(prev)),
        host_drops: stats.host_drops.saturating_sub(prev.host_drops),
        duplicates: stats.duplicates.saturating_sub(prev.duplicates),
        reordered: stats.reordered.saturating_sub(prev.reordered),
        jitter_us: round3(jitter_us(stats)),
    };
    if opt.json {
        return output::emit_json("interval", &rec);
    }
    if opt.csv {
        let total = rec.datagrams + rec.lost;
        let src = source.unwrap_or_else(|| SocketAddr::from(([0, 0, 0, 0], 0)));
        return output::line(&format!(
            "{},{},{},{},{},{id},{:.1}-{:.1},{},{:.0},{:.3},{},{total},{:.3},{},{},{}",
            utc_stamp(wall_ns()),
            src.ip(),
            src.port(),
            plan.groups[0],
            plan.port,
            rec.start_s,
            rec.end_s,
            rec.bytes,
            rec.mbit_s * 1e6,
            rec.jitter_us / 1e3,
            rec.lost,
            if total > 0 {
                rec.lost as f64 * 100.0 / total as f64
            } else {
                0.0
            },
            rec.reordered,
            rec.host_drops,
            rec.duplicates
        ));
    }
    let line = format!(
        "[{:5.1}-{:5.1} s] {:>9} datagrams {:>11.0}/s {:>9.2} Mbit/s  lost {:<6} host drops {:<6} dup {:<4} reord {:<4} jitter {:.3} ms",
        rec.start_s,
        rec.end_s,
        rec.datagrams,
        rec.rate_pps,
        rec.mbit_s,
        rec.lost,
        rec.host_drops,
        rec.duplicates,
        rec.reordered,
        rec.jitter_us / 1e3
    );
    if live {
        // Clear the progress line first.
        output::raw("\r\x1b[K")?;
    }
    output::line(&line)
}

/// Prints the summary: totals, loss, host drops, jitter and one-way delay percentiles.
/// It goes to stdout if stdout still takes output, else to stderr; the first line says
/// when the run was cut short.
fn summary(opt: &Opt, stats: &Stats, elapsed: Option<Duration>, reason: Stop) -> io::Result<()> {
    let secs = elapsed.map_or(0.0, |d| d.as_secs_f64());
    let sent: Option<u64> = {
        let ends: Vec<u64> = stats
            .streams
            .iter()
            .filter_map(|s| s.end.map(|e| e.len()))
            .collect();
        (!ends.is_empty()).then(|| ends.iter().sum())
    };
    let expected = stats.framed.saturating_sub(stats.duplicates) + stats.lost;
    let lost_percent = if expected > 0 {
        network_lost(stats) as f64 * 100.0 / expected as f64
    } else {
        0.0
    };
    let sender_ahead = stats
        .streams
        .iter()
        .any(|s| s.delay.is_some_and(|d| d.min_ns < 0));
    let us = |ns: u64| round3(ns as f64 / 1e3);
    let rec = SummaryRecord {
        elapsed_s: round3(secs),
        datagrams: stats.framed,
        bytes: stats.bytes,
        rate_pps: round3(per_s(stats.framed, secs)),
        mbit_s: round3(mbit_s(stats.bytes, secs)),
        sent,
        lost: network_lost(stats),
        missing: stats.lost,
        lost_percent: round3(lost_percent),
        host_drops: stats.host_drops,
        duplicates: stats.duplicates,
        reordered: stats.reordered,
        suspect: stats.suspect,
        stray: stats.stray.total(),
        jitter_us: round3(jitter_us(stats)),
        streams: stats.streams.len(),
        delay_us: stats.delay.map(|d| DelayUs {
            min: us(d.min_ns),
            p50: us(d.p50_ns),
            p90: us(d.p90_ns),
            p99: us(d.p99_ns),
            max: us(d.max_ns),
        }),
        clocks: if sender_ahead {
            "sender_ahead"
        } else {
            "comparable"
        },
        auth: stats.auth,
    };
    if opt.json {
        return output::final_json("summary", &rec);
    }
    if opt.csv {
        return Ok(());
    }
    let mut lines = vec![format!(
        "[{:5.1}-{:5.1} s] received {}, {}: {:.0} datagrams/s, {:.2} Mbit/s, from {}{}",
        0.0,
        rec.elapsed_s,
        output::count(rec.datagrams, "datagram"),
        output::count(rec.bytes, "byte"),
        rec.rate_pps,
        rec.mbit_s,
        output::count(rec.streams as u64, "stream"),
        reason.suffix()
    )];
    lines.push(format!(
        "  sent {}, lost in the network {} ({:.3}%), host drops {}, duplicates {}, reordered {}, jitter {:.3} ms{}",
        sent.map_or_else(|| "? (no end frame arrived)".into(), |s| s.to_string()),
        rec.lost,
        rec.lost_percent,
        rec.host_drops,
        rec.duplicates,
        rec.reordered,
        rec.jitter_us / 1e3,
        if rec.suspect > 0 {
            format!(", {} suspect frames ignored", rec.suspect)
        } else {
            String::new()
        }
    ));
    if rec.stray > 0 {
        lines.push(format!(
            "  {} reached the port without being sent to the group (not counted)",
            output::count(rec.stray, "datagram")
        ));
    }
    if let Some(d) = &rec.delay_us {
        lines.push(format!(
            "  one-way delay (ms): min {:.3}  p50 {:.3}  p90 {:.3}  p99 {:.3}  max {:.3}",
            d.min / 1e3,
            d.p50 / 1e3,
            d.p90 / 1e3,
            d.p99 / 1e3,
            d.max / 1e3
        ));
        lines.push(if sender_ahead {
            "  note: some delays were negative: the sender's clock is ahead of this host's, so these are not one-way delays".into()
        } else {
            "  (one-way delay compares the sender's clock with this host's: exact when they share one, as the lab's hosts do)".into()
        });
    }
    if let Some(l) = host_drops_line(stats.host_drops) {
        lines.push(format!("  {l}"));
    }
    if let Some(auth) = &stats.auth {
        lines.push(format!("  {}", crate::recv::auth_line(auth)));
    }
    for l in lines {
        output::final_line(&l)?;
    }
    Ok(())
}

/// `YYYYMMDDHHMMSS` in UTC for nanoseconds since the Unix epoch (iperf2's CSV time column).
fn utc_stamp(ns: u64) -> String {
    let secs = ns / 1_000_000_000;
    let (days, rem) = (secs / 86_400, secs % 86_400);
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}{month:02}{day:02}{:02}{:02}{:02}",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    use super::{per_s, run_end, utc_stamp};
    use std::time::{Duration, Instant};

    // 3 datagrams at 2/s arrive at 0, 0.5 and 1.0 s; the report tick at 1.0 s must not leave
    // the third alone in a sliver of an interval (an absurd rate): the run lasts one spacing
    // more, and both the tail and the whole run read 2/s.
    #[test]
    fn a_run_ends_one_spacing_after_its_last_datagram() {
        let t0 = Instant::now();
        let last = t0 + Duration::from_millis(1_000);
        let end = run_end(Some(t0), last, 3);
        assert_eq!(end - t0, Duration::from_millis(1_500));
        let tail = (end - (t0 + Duration::from_secs(1))).as_secs_f64();
        assert!((per_s(1, tail) - 2.0).abs() < 1e-9);
        assert!((per_s(3, (end - t0).as_secs_f64()) - 2.0).abs() < 1e-9);
        // One datagram, or none, has no spacing.
        assert_eq!(run_end(Some(t0), t0, 1), t0);
        assert_eq!(run_end(None, last, 0), last);
    }

    #[test]
    fn utc_stamps_are_civil_dates() {
        assert_eq!(utc_stamp(0), "19700101000000");
        // 2026-12-01T18:19:39Z.
        assert_eq!(utc_stamp(1_796_149_179 * 1_000_000_000), "20261201181939");
        // 2024-02-29T23:59:59Z, a leap day.
        assert_eq!(utc_stamp(1_709_251_199 * 1_000_000_000), "20240229235959");
    }
}
