//! `mcast recv GROUPS PORT`: join groups and print what arrives.
//!
//! The adapter ([`crate::adapter::open_receiver`]) binds and joins every group; mcast-sync's
//! [`RecvDriver`] (the loop `mcast perf recv` uses too) receives batches and feeds every
//! datagram, with its destination group, to mcast-core's session receiver, which counts loss,
//! duplicates and reordering per framed stream (the tail too, from end-of-session frames).
//! The loop ends after `-c COUNT` datagrams, when `--timeout` passes, on SIGINT (Ctrl-C),
//! SIGTERM or SIGHUP, or when stdout is closed; however it ends, a summary goes to stderr, and
//! with `--json` a `stats` and an `end` record (naming the reason) to stdout, if stdout still
//! takes them. A count of groups that cannot be joined (past the open-file limit, or more than
//! a million) is a usage error before any group is listed; more than 10,000 groups get a
//! warning first, and joins that take more than a second show progress ([`crate::joining`]).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::ops::ControlFlow;
use std::process::ExitCode;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use mcast_core::addr::Group;
use mcast_core::auth::AuthStats;
use mcast_core::json::{option_u64_exact, u64_exact};
use mcast_core::session::{
    Arrival, Datagram, Event, Receiver, ReceiverConfig, SessionId, Stats, Stray, StrayStats,
};
use mcast_core::RecvMeta;
use mcast_sync::driver::{wall_ns, Drive, RecvDriver};
use mcast_sync::RecvBatch;
use serde::Serialize;

use crate::errors::CliError;
use crate::joining::{self, Joined};
use crate::output;
use crate::plan::{self, RecvPlan};
use crate::stop::{self, Stop};
use crate::watch;

/// How many datagrams one receive call takes at most (`recvmmsg`).
const BATCH: usize = 32;

/// The largest datagram we read (the UDP maximum).
const MAX_DATAGRAM: usize = 65_536;

/// Arguments of `mcast recv`.
#[derive(clap::Args, Debug)]
#[command(after_help = "\
Examples:
  mcast recv 224.1.1.5 50001 -i 127.0.0.1                 the lecture's receiver, on loopback
  mcast recv 224.1.1.5,234.3.2.1 50001 -i lab0            two groups: lines get a [GROUP] prefix
  mcast recv 239.1.0.1+1000 5000 -i lab0 --json           1,000 groups, JSON Lines
  mcast recv 232.1.1.1 5000 -i lab0 --source 192.168.56.3 source-specific (SSM)
  mcast recv 239.1.2.3 5000 -i 127.0.0.1 -c 1 --timeout 5s  one datagram, or exit 1 after 5s
  mcast recv 239.1.2.3 5000 -i lab0 --key-file group.key   authenticated frames only

Prints \"listening on ...\" on stderr once every join is done (with a warning first above 10,000
groups, and progress while joining takes more than a second). -c, --timeout, Ctrl-C, SIGTERM,
SIGHUP and a closed stdout all end with a summary on stderr (and the JSON stats and end records,
whose reason says which). Exit status: 0 done (also on a signal), 1 --timeout passed first,
2 usage error.")]
pub(crate) struct Opt {
    /// Groups to join, comma-separated; GROUP+COUNT is COUNT consecutive groups
    /// (224.1.1.5,234.3.2.1 or 239.1.0.1+1000); GROUP%IFACE names an IPv6 link-local group's
    /// interface (ff02::1%eth0). GROUPS:PORT (socat's form: 239.1.2.3:5000,
    /// [ff02::1%eth0]:5000) gives the port for every group.
    #[arg(value_name = "GROUPS")]
    groups: String,

    /// The UDP port to bind (1-65535).
    #[arg(value_name = "PORT", allow_negative_numbers = true)]
    port: Option<String>,

    /// The interface to join on: an IPv4 address, a name, an index, or 0.0.0.0 (the kernel's
    /// choice by route, the default; "listening on" names the interface it picks).
    #[arg(short = 'i', long = "iface", value_name = "IFACE")]
    iface: Option<String>,

    /// Accept only datagrams from this sender (source-specific multicast; outside 232.0.0.0/8
    /// an IGMPv3 source filter). Repeat for several sources.
    #[arg(short = 's', long = "source", value_name = "S")]
    source: Vec<String>,

    #[command(flatten)]
    limits: crate::args::Limits,

    /// Print JSON Lines (start, recv, gap, stats, end records) instead of text.
    #[arg(long)]
    json: bool,

    /// Show the source, group, length and frame header of each datagram.
    /// -v also logs at info level, -vv at debug (see `mcast --help`).
    #[arg(short = 'v', long, action = clap::ArgAction::Count)]
    verbose: u8,

    /// Also count iperf2's UDP datagrams (`iperf -c GROUP -u`): loss, duplicates and
    /// reordering from their sequence numbers, the client's final datagram as the end.
    /// Not with --key-file: iperf2 cannot sign its datagrams.
    #[arg(long, conflicts_with = "key_file")]
    iperf: bool,

    /// Ask the kernel for a receive buffer of SIZE bytes (e.g. 8M): a larger buffer rides out
    /// bursts that a slow consumer would otherwise lose as host drops. The size granted is
    /// shown; `net.core.rmem_max` caps it unless run as root.
    #[arg(long, value_name = "SIZE", value_parser = plan::parse_size)]
    rcvbuf: Option<usize>,

    #[command(flatten)]
    key: crate::key::KeyArg,

    /// Print on stderr, before the "listening on" line, where the socket is bound and each
    /// membership request as the lecture's Python builds it (`ip_mreq` as
    /// `struct.pack("=4s4s", …)`).
    #[arg(long)]
    explain: bool,

    /// Quiet: no notes, warnings, progress, "listening on" lines or summaries on stderr.
    /// Errors (with their hints) and stdout still print, and so do --explain and the log
    /// lines asked for with -v or RUST_LOG.
    #[arg(short = 'q', long)]
    quiet: bool,
}

/// The `start` record.
#[derive(Serialize)]
struct StartRecord<'a> {
    groups: Vec<String>,
    group_count: usize,
    port: u16,
    interface: &'a str,
    sources: Vec<String>,
}

/// The `recv` record.
#[derive(Serialize)]
struct RecvRecord<'a> {
    group: Option<IpAddr>,
    port: u16,
    source: SocketAddr,
    len: usize,
    payload: &'a str,
    utf8: bool,
    /// The exact payload bytes in hex, when they are not valid UTF-8.
    #[serde(skip_serializing_if = "Option::is_none")]
    payload_hex: Option<String>,
    frame: Option<FrameInfo>,
}

/// A `stray` record: a datagram that reached the port but was not sent to a joined group.
#[derive(Serialize)]
struct StrayRecord<'a> {
    /// `unicast`, `broadcast` or `other_group`.
    kind: Stray,
    /// Where it was sent.
    destination: Option<IpAddr>,
    port: u16,
    source: SocketAddr,
    len: usize,
    payload: &'a str,
    utf8: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    payload_hex: Option<String>,
}

/// The frame header of a framed datagram, in a `recv` record.
#[derive(Serialize, Clone, Copy)]
struct FrameInfo {
    session: SessionId,
    #[serde(serialize_with = "u64_exact")]
    seq: u64,
    #[serde(serialize_with = "u64_exact")]
    sent_at_ns: u64,
    /// Receive wall clock minus `sent_at_ns` (negative when the clocks disagree); `null` for a
    /// send time further than the receiver's `max_delay` from this host's clock (a forged or
    /// zero stamp) and for a suspect frame.
    latency_ns: Option<i64>,
    /// Where the frame fell in its stream: `first`, `in_order`, `gap`, `reordered`, ...
    arrival: Arrival,
}

impl std::fmt::Display for FrameInfo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "session {} seq {}", self.session, self.seq)?;
        match self.latency_ns {
            Some(ns) => write!(f, " latency {:.3}ms", ns as f64 / 1e6),
            None => f.write_str(" latency ?"),
        }
    }
}

/// A `gap` (or other stream event) record.
#[derive(Serialize)]
struct GapRecord {
    /// `gap`, `reordered`, `duplicate`, `stale`, `suspect` (a sequence number far from the
    /// stream), `new_epoch` (the stream started over), `end` (the end-of-session frame: `seq`
    /// is one past the last sent, `count` the stream's loss), `malformed`, or, with
    /// `--key-file`, why a datagram was dropped: `unauthenticated`, `truncated`, `forged`,
    /// `tampered`, `replayed`.
    event: &'static str,
    source: SocketAddr,
    #[serde(skip_serializing_if = "Option::is_none")]
    session: Option<SessionId>,
    /// The first missing sequence number (gap) or the sequence number concerned.
    #[serde(
        skip_serializing_if = "Option::is_none",
        serialize_with = "option_u64_exact"
    )]
    seq: Option<u64>,
    /// How many sequence numbers are missing (gap).
    #[serde(skip_serializing_if = "Option::is_none")]
    count: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
}

impl std::fmt::Display for GapRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} from {}", self.event, self.source)?;
        if let Some(s) = self.session {
            write!(f, " session {s}")?;
        }
        match (self.seq, self.count) {
            (Some(q), Some(n)) if self.event == "end" => {
                write!(f, ": stream ended before seq {q}, {n} lost in all")?;
            }
            (Some(q), Some(n)) => write!(f, ": {n} missing from seq {q}")?,
            (Some(q), None) => write!(f, ": seq {q}")?,
            _ => {}
        }
        if let Some(e) = &self.error {
            write!(f, ": {e}")?;
        }
        Ok(())
    }
}

/// The `stats` record.
#[derive(Serialize)]
struct StatsRecord<'a> {
    datagrams: u64,
    bytes: u64,
    /// Datagrams the kernel dropped on this host because the receive buffer was full
    /// (`SO_RXQ_OVFL`), apart from network loss.
    host_drops: u64,
    /// The receive buffer asked for with `--rcvbuf` and what the kernel granted.
    recv_buffer: Option<crate::adapter::RecvBufferRecord>,
    elapsed_ms: u64,
    groups: BTreeMap<String, u64>,
    distinct_groups: usize,
    /// Datagrams that reached the port but were not sent to a joined group, by kind; not in
    /// `datagrams` or `groups`.
    stray: StrayStats,
    /// The core session receiver's statistics (loss, duplicates, reordering, delay per
    /// stream); `null` when no framed datagram arrived.
    framed: Option<&'a Stats>,
    /// With `--key-file`: datagrams authenticated, and those dropped by name
    /// (`unauthenticated`, `truncated`, `forged`, `tampered`, `replayed`); `null` without.
    auth: Option<AuthStats>,
}

/// The `end` record.
#[derive(Serialize)]
struct EndRecord {
    reason: &'static str,
    exit_code: u8,
    /// How many joins were done when a stop request came before the last one.
    #[serde(skip_serializing_if = "Option::is_none")]
    joined: Option<usize>,
}

/// Ends a run stopped before every join was done: a line on stderr, and the `end` record
/// (no `start`, no `stats`: it never listened). Exit 0, as any stop request.
fn stopped_while_joining(opt: &Opt, done: usize, total: usize) -> anyhow::Result<ExitCode> {
    let reason = stop::requested_reason();
    if !opt.quiet {
        output::note(&format!(
            "stopped while joining ({}): {done} of {total} joins were done, and left again",
            reason.cut_short().unwrap_or(reason.as_str())
        ));
    }
    if opt.json && output::stdout_ok() {
        output::emit_json(
            "end",
            &EndRecord {
                reason: reason.as_str(),
                exit_code: 0,
                joined: Some(done),
            },
        )?;
    }
    Ok(ExitCode::SUCCESS)
}

/// Runs `mcast recv`.
pub(crate) fn run(opt: Opt) -> anyhow::Result<ExitCode> {
    // First, so that a signal while the groups are listed or joined ends with the summary.
    let interrupted = stop::install();
    let (groups, port) = plan::endpoint(&opt.groups, opt.port.as_deref(), "recv")?;
    let plan = plan::recv(groups, port, opt.iface.as_deref(), &opt.source)?;
    let key = opt.key.load()?;
    if !opt.quiet {
        for n in &plan.notes {
            output::note(n);
        }
    }
    let link = watch::start(&plan.iface, opt.quiet);
    let mut rx = match joining::open(&plan, opt.rcvbuf, opt.quiet)? {
        Joined::Ready(rx) => rx,
        Joined::Stopped { done, total } => return stopped_while_joining(&opt, done, total),
    };
    if !opt.quiet {
        if let Some(l) = crate::adapter::recv_buffer_note(&rx) {
            output::note(&l);
        }
    }
    if opt.explain {
        let bound = rx.local_addr().ok();
        for l in crate::explain::receiver_lines(bound, rx.groups(), rx.sources(), rx.iface()) {
            output::asked_for(&l);
        }
    }
    if !opt.quiet {
        output::note(&listening_line(&plan));
    }
    if opt.json {
        output::emit_json(
            "start",
            &StartRecord {
                groups: plan.ranges.iter().map(ToString::to_string).collect(),
                group_count: plan.groups.len(),
                port: plan.port,
                interface: &plan.iface_label,
                sources: plan.sources.iter().map(ToString::to_string).collect(),
            },
        )?;
    }

    let start = Instant::now();
    let limit = opt.limits.timeout.and_then(|t| start.checked_add(t));
    let session = Receiver::new(
        ReceiverConfig {
            // One counter per joined group, plus "unknown destination".
            max_groups: plan.groups.len() + 1,
            detect_iperf: opt.iperf,
            groups: plan.groups.clone(),
            broadcast: crate::adapter::broadcast_addresses(),
            key,
            ..ReceiverConfig::default()
        },
        start,
    );
    // The delay rules, for each frame's latency as printed.
    let config = session.config().clone();
    // Without pktinfo the adapter cannot name the group; with one group joined it is that one.
    let single = (plan.groups.len() == 1).then(|| plan.groups[0].addr());
    let mut driver = RecvDriver::new(session, RecvBatch::new(BATCH, MAX_DATAGRAM))
        .with_default_destination(single);
    watch::follow_recv(&mut driver, link, opt.json, opt.quiet);
    // Counted here too: `stats()` builds a snapshot, too slow to call per datagram.
    let mut received: u64 = 0;
    let mut stray_noted = false;
    let mut failure: Option<io::Error> = None;
    let mut event_failure: Option<io::Error> = None;
    let reason = if opt.limits.count == Some(0) {
        Stop::Count
    } else {
        let drive = driver.run(
            &mut rx,
            limit,
            || interrupted.load(Ordering::SeqCst),
            |meta, datagram| {
                // Neither the protocol's end frames nor datagrams that failed authentication
                // are data.
                if matches!(datagram, Datagram::End { .. } | Datagram::Rejected(_)) {
                    return ControlFlow::Continue(());
                }
                if let Datagram::Stray { kind, bytes } = datagram {
                    // Not group traffic: it neither counts towards -c nor prints as data.
                    if let Err(e) = show_stray(&opt, &plan, meta, kind, bytes, &mut stray_noted) {
                        failure = Some(e);
                        return ControlFlow::Break(());
                    }
                    return ControlFlow::Continue(());
                }
                received += 1;
                if let Err(e) = show(&opt, &plan, &config, meta, datagram) {
                    failure = Some(e);
                    return ControlFlow::Break(());
                }
                if opt.limits.count.is_some_and(|c| received >= c) {
                    return ControlFlow::Break(());
                }
                ControlFlow::Continue(())
            },
            |event| match show_event(&opt, event) {
                Ok(()) => ControlFlow::Continue(()),
                Err(e) => {
                    event_failure = Some(e);
                    ControlFlow::Break(())
                }
            },
        )?;
        if let Some(e) = failure.or(event_failure) {
            return Err(e.into());
        }
        match drive {
            Drive::Stopped => stop::requested_reason(),
            Drive::Limit => Stop::Timeout,
            _ => Stop::Count,
        }
    };

    let stats = driver.session().stats();
    let failed = reason == Stop::Timeout
        && match opt.limits.count {
            Some(c) => received < c,
            None => received == 0,
        };
    let code = u8::from(failed);
    let counts = group_counts(&stats, &plan.groups);
    if !opt.quiet {
        let mut lines = summary(&stats, &counts, start.elapsed());
        lines[0].push_str(&reason.suffix());
        for l in lines {
            output::note(&l);
        }
        if let Some(l) = host_drops_line(stats.host_drops) {
            output::note(&l);
        }
    }
    // The summary is on stderr already: the records go to stdout only if it still takes them.
    if opt.json && output::stdout_ok() {
        output::emit_json(
            "stats",
            &StatsRecord {
                datagrams: stats.datagrams,
                bytes: stats.bytes,
                host_drops: stats.host_drops,
                recv_buffer: crate::adapter::recv_buffer_record(&rx),
                elapsed_ms: u64::try_from(start.elapsed().as_millis()).unwrap_or(u64::MAX),
                distinct_groups: counts.iter().filter(|(_, n)| *n > 0).count(),
                groups: counts.iter().map(|(g, n)| (g.clone(), *n)).collect(),
                stray: stats.stray,
                framed: (stats.framed + stats.malformed > 0).then_some(&stats),
                auth: stats.auth,
            },
        )?;
        output::emit_json(
            "end",
            &EndRecord {
                reason: reason.as_str(),
                exit_code: code,
                joined: None,
            },
        )?;
    }
    if failed {
        let got = match opt.limits.count {
            Some(c) => format!("{received} of {c} datagrams"),
            None => "no datagram".into(),
        };
        let timeout = opt.limits.timeout.unwrap_or_default();
        let auth_dropped = stats.auth.map_or(0, |a| a.dropped());
        let hint = if auth_dropped > 0 {
            format!(
                "{} failed authentication: check that every sender signs with the same key (--key-file)",
                plural_datagrams(auth_dropped)
            )
        } else if stats.stray.total() > 0 {
            format!(
                "{} reached port {} without being sent to a joined group ({}): check that the sender sends to the group",
                plural_datagrams(stats.stray.total()),
                plan.port,
                stray_kinds(&stats.stray)
            )
        } else {
            "check that the sender uses the same group and port, sends on this interface \
             (-i) and with a TTL that reaches here"
                .to_owned()
        };
        return Err(CliError::runtime(format!(
            "timeout: received {got} within {}",
            humantime::format_duration(timeout)
        ))
        .hint(hint)
        .into());
    }
    Ok(ExitCode::SUCCESS)
}

/// The stderr line printed once every join succeeded (the lab's scripts wait for it).
fn listening_line(plan: &RecvPlan) -> String {
    let sources = if plan.sources.is_empty() {
        String::new()
    } else {
        let s: Vec<String> = plan.sources.iter().map(ToString::to_string).collect();
        format!(" from {}", s.join(", "))
    };
    if plan.groups.len() == 1 {
        format!(
            "listening on {}:{}{sources} (interface {})",
            output::host(plan.groups[0].addr()),
            plan.port,
            plan.iface_label
        )
    } else {
        let ranges: Vec<String> = plan.ranges.iter().map(ToString::to_string).collect();
        format!(
            "listening on {} groups ({}) port {}{sources} (interface {})",
            plan.groups.len(),
            ranges.join(","),
            plan.port,
            plan.iface_label
        )
    }
}

/// A stream event as a record; `None` for events not worth a line (a new stream, a report).
fn event_record(event: Event) -> Option<GapRecord> {
    let rec = |event, source, session: SessionId, seq, count| GapRecord {
        event,
        source,
        session: Some(session),
        seq: Some(seq),
        count,
        error: None,
    };
    Some(match event {
        Event::Gap {
            source,
            session,
            first,
            count,
        } => rec("gap", source, session, first.0, Some(count)),
        Event::Reordered {
            source,
            session,
            seq,
        } => rec("reordered", source, session, seq.0, None),
        Event::Duplicate {
            source,
            session,
            seq,
        } => rec("duplicate", source, session, seq.0, None),
        Event::Stale {
            source,
            session,
            seq,
        } => rec("stale", source, session, seq.0, None),
        Event::Suspect {
            source,
            session,
            seq,
        } => rec("suspect", source, session, seq.0, None),
        Event::NewEpoch {
            source,
            session,
            seq,
        } => rec("new_epoch", source, session, seq.0, None),
        Event::StreamEnd {
            source,
            session,
            end,
            lost,
        } => rec("end", source, session, end.end.0, Some(lost)),
        Event::Rejected {
            source,
            session,
            seq,
            rejection,
        } => GapRecord {
            event: rejection.as_str(),
            source,
            session,
            seq: seq.map(|s| s.0),
            count: None,
            error: None,
        },
        Event::Malformed { source, error } => GapRecord {
            event: "malformed",
            source,
            session: None,
            seq: None,
            count: None,
            error: Some(error.to_string()),
        },
        _ => return None,
    })
}

/// Prints a stream event (text: only malformed datagrams, and all with `-v`; JSON: a `gap`
/// record); reports and new streams print nothing.
fn show_event(opt: &Opt, event: Event) -> io::Result<()> {
    let Some(rec) = event_record(event) else {
        return Ok(());
    };
    if opt.json {
        output::emit_json("gap", &rec)
    } else {
        if (opt.verbose > 0 || rec.event == "malformed") && !opt.quiet {
            output::note(&rec.to_string());
        }
        Ok(())
    }
}

/// `N datagram(s)`.
fn plural_datagrams(n: u64) -> String {
    output::count(n, "datagram")
}

/// The kinds of stray datagrams that arrived, e.g. `2 unicast, 1 broadcast`.
fn stray_kinds(s: &StrayStats) -> String {
    let kinds = [
        (s.unicast, "unicast"),
        (s.broadcast, "broadcast"),
        (s.other_group, "to a group not joined"),
    ];
    kinds
        .iter()
        .filter(|(n, _)| *n > 0)
        .map(|(n, k)| format!("{n} {k}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Reports a stray datagram (one that reached the port but was not sent to a joined group):
/// in JSON a `stray` record; in text, with `-v`, a line marked `[stray KIND to DEST]`, and
/// otherwise one note on stderr for the first (the summary counts them all).
fn show_stray(
    opt: &Opt,
    plan: &RecvPlan,
    meta: &RecvMeta,
    kind: Stray,
    bytes: &[u8],
    noted: &mut bool,
) -> io::Result<()> {
    let dest = meta
        .destination
        .map_or_else(|| "?".to_owned(), |d| d.to_string());
    if opt.json {
        let (text, utf8) = output::payload_text(bytes);
        return output::emit_json(
            "stray",
            &StrayRecord {
                kind,
                destination: meta.destination,
                port: plan.port,
                source: meta.source,
                len: meta.len,
                payload: &text,
                utf8,
                payload_hex: output::payload_hex(bytes, utf8),
            },
        );
    }
    if opt.verbose > 0 {
        return output::line(&format!(
            "[stray {} to {dest}] from {} len {}: {}",
            kind.as_str(),
            meta.source,
            meta.len,
            output::payload_line(bytes)
        ));
    }
    if !*noted && !opt.quiet {
        *noted = true;
        output::note(&format!(
            "note: a {} datagram to {dest} from {} reached port {} but was not sent to a joined group: such datagrams are counted apart and not printed (-v prints them)",
            kind.as_str().replace('_', " "),
            meta.source,
            plan.port
        ));
    }
    Ok(())
}

/// Prints one datagram as the session receiver classified it.
fn show(
    opt: &Opt,
    plan: &RecvPlan,
    config: &ReceiverConfig,
    meta: &RecvMeta,
    datagram: Datagram<'_>,
) -> io::Result<()> {
    let group = meta.destination;
    let now_ns = wall_ns();
    let (payload, info) = match datagram {
        Datagram::Raw(p) => (p, None),
        Datagram::Framed { frame, arrival } => (
            frame.payload,
            Some(FrameInfo {
                session: frame.session,
                seq: frame.seq.0,
                sent_at_ns: frame.sent_at_ns,
                // A suspect frame's stamp is as doubtful as its number: not measured.
                latency_ns: (arrival != Arrival::Suspect)
                    .then(|| config.delay_ns(now_ns, frame.sent_at_ns))
                    .flatten(),
                arrival,
            }),
        ),
        // A malformed frame is counted (and reported as an event) but has no payload to print.
        _ => return Ok(()),
    };
    if opt.json {
        let (text, utf8) = output::payload_text(payload);
        return output::emit_json(
            "recv",
            &RecvRecord {
                group,
                port: plan.port,
                source: meta.source,
                len: meta.len,
                payload: &text,
                utf8,
                payload_hex: output::payload_hex(payload, utf8),
                frame: info,
            },
        );
    }
    // One payload, one line: control characters and bytes that are not UTF-8 are escaped.
    let text = output::payload_line(payload);
    let group_txt = group.map_or_else(|| "?".into(), |g| g.to_string());
    let line = if opt.verbose > 0 {
        let frame_txt = info.map_or_else(String::new, |f| format!(" {f}"));
        format!(
            "[{group_txt}] from {} len {}{frame_txt}: {text}",
            meta.source, meta.len
        )
    } else if plan.groups.len() > 1 {
        format!("[{group_txt}] {text}")
    } else {
        text
    };
    output::line(&line)
}

/// The summary line of authentication (`--key-file`): what passed, and what was dropped by
/// name.
pub(crate) fn auth_line(auth: &AuthStats) -> String {
    format!(
        "authenticated: {} passed; dropped {}: {} unauthenticated, {} truncated, {} forged, {} tampered, {} replayed",
        output::count(auth.authenticated, "datagram"),
        auth.dropped(),
        auth.unauthenticated,
        auth.truncated,
        auth.forged,
        auth.tampered,
        auth.replayed
    )
}

/// The summary line for datagrams the kernel dropped on this host, if any.
pub(crate) fn host_drops_line(drops: u64) -> Option<String> {
    (drops > 0).then(|| {
        format!(
            "host drops: the kernel dropped {} because the receive buffer was full (a datagram each, or a run of datagrams that UDP GRO had coalesced; not network loss: try a larger --rcvbuf)",
            output::count(drops, "time")
        )
    })
}

/// Up to this many joined groups, the summary lists every group's count.
const LIST_ALL_GROUPS: usize = 20;

/// With more groups than [`LIST_ALL_GROUPS`], the summary lists this many of the busiest.
const BUSIEST: usize = 5;

/// Datagrams per group: every joined group in the order joined (0 for one that received
/// nothing), then any destination that was not joined (`unknown` when the adapter could not
/// tell), as the core's receiver counted them.
fn group_counts(stats: &Stats, joined: &[Group]) -> Vec<(String, u64)> {
    let counted: HashMap<Option<Group>, u64> = stats
        .groups
        .iter()
        .map(|g| (g.group, g.datagrams))
        .collect();
    let mut counts: Vec<(String, u64)> = joined
        .iter()
        .map(|g| (g.to_string(), counted.get(&Some(*g)).copied().unwrap_or(0)))
        .collect();
    let joined: HashSet<Group> = joined.iter().copied().collect();
    for g in &stats.groups {
        if !g.group.is_some_and(|a| joined.contains(&a)) {
            counts.push((
                g.group.map_or_else(|| "unknown".into(), |a| a.to_string()),
                g.datagrams,
            ));
        }
    }
    counts
}

/// The stderr summary; `counts` from [`group_counts`].
fn summary(stats: &Stats, counts: &[(String, u64)], elapsed: Duration) -> Vec<String> {
    let count = output::count;
    let active = counts.iter().filter(|(_, n)| *n > 0).count();
    let mut lines = vec![format!(
        "received {}, {}, from {} in {:.1}s",
        count(stats.datagrams, "datagram"),
        count(stats.bytes, "byte"),
        count(active as u64, "distinct group"),
        elapsed.as_secs_f64()
    )];
    let name = |g: &str| {
        if g == "unknown" {
            "unknown group".to_owned()
        } else {
            g.to_owned()
        }
    };
    if counts.len() <= LIST_ALL_GROUPS {
        for (g, n) in counts {
            lines.push(format!("  {}: {n}", name(g)));
        }
    } else {
        lines.push(format!(
            "  {} received datagrams, {} received nothing",
            count(active as u64, "group"),
            counts.len() - active
        ));
        let mut busiest: Vec<&(String, u64)> = counts.iter().filter(|(_, n)| *n > 0).collect();
        // Stable: equal counts keep the order joined.
        busiest.sort_by_key(|g| std::cmp::Reverse(g.1));
        for (g, n) in busiest.iter().take(BUSIEST) {
            lines.push(format!("  {}: {n}", name(g)));
        }
        lines.push("  (… use --json for every group)".into());
    }
    if stats.stray.total() > 0 {
        lines.push(format!(
            "  not group traffic: {} ({}), {}, counted apart",
            plural_datagrams(stats.stray.total()),
            stray_kinds(&stats.stray),
            count(stats.stray.bytes, "byte")
        ));
    }
    if stats.groups_untracked > 0 {
        lines.push(format!(
            "  {} to further groups, not counted per group",
            count(stats.groups_untracked, "datagram")
        ));
    }
    if let Some(auth) = stats.auth {
        lines.push(auth_line(&auth));
    }
    if stats.framed + stats.malformed > 0 {
        lines.push(format!(
            "framed: {} in {}, {} lost, {}, {} reordered, {} malformed{}",
            count(stats.framed, "frame"),
            count(stats.streams.len() as u64, "stream"),
            stats.lost,
            count(stats.duplicates, "duplicate"),
            stats.reordered,
            stats.malformed,
            if stats.suspect > 0 {
                format!(
                    ", {} suspect (far from their stream: not counted)",
                    stats.suspect
                )
            } else {
                String::new()
            }
        ));
        for s in &stats.streams {
            let delay = s.delay.map_or_else(String::new, |d| {
                format!(
                    ", delay min/mean/max {:.3}/{:.3}/{:.3} ms",
                    d.min_ns as f64 / 1e6,
                    d.mean_ns as f64 / 1e6,
                    d.max_ns as f64 / 1e6
                )
            });
            lines.push(format!(
                "  {} session {}: seq {}..={}, {} received, {} lost{delay}",
                s.source, s.session, s.first_seq, s.highest_seq, s.received, s.lost
            ));
        }
    }
    lines
}

#[cfg(test)]
mod tests {
    use mcast_core::session::GroupStats;

    use super::*;

    fn stats_for(counts: &[(Option<&str>, u64)]) -> Stats {
        let mut stats = Stats::default();
        for (g, n) in counts {
            stats.groups.push(GroupStats {
                group: g.map(|g| g.parse().unwrap()),
                datagrams: *n,
                bytes: *n,
            });
            stats.datagrams += n;
        }
        stats
    }

    fn range(text: &str) -> Vec<Group> {
        text.parse::<mcast_core::addr::GroupRange>()
            .unwrap()
            .iter()
            .collect()
    }

    // issue #3 (review) — every joined group is counted, zeros included, in the order joined.
    #[test]
    fn group_counts_list_every_joined_group() {
        let joined = range("239.1.0.1+3");
        let stats = stats_for(&[(None, 1), (Some("239.1.0.3"), 2)]);
        assert_eq!(
            group_counts(&stats, &joined),
            [
                ("239.1.0.1".to_owned(), 0),
                ("239.1.0.2".to_owned(), 0),
                ("239.1.0.3".to_owned(), 2),
                ("unknown".to_owned(), 1),
            ]
        );
    }

    // issue #3 (review) — up to 20 groups the summary lists each, zeros included.
    #[test]
    fn summary_lists_up_to_twenty_groups() {
        let joined = range("239.1.0.1+20");
        let stats = stats_for(&[(Some("239.1.0.12"), 4)]);
        let counts = group_counts(&stats, &joined);
        let lines = summary(&stats, &counts, Duration::from_secs(1));
        assert!(lines[0].contains("from 1 distinct group "), "{}", lines[0]);
        assert_eq!(lines.len(), 21, "{lines:#?}");
        assert!(lines.contains(&"  239.1.0.1: 0".to_owned()), "{lines:#?}");
        assert!(lines.contains(&"  239.1.0.12: 4".to_owned()), "{lines:#?}");
        assert!(lines.contains(&"  239.1.0.20: 0".to_owned()), "{lines:#?}");
    }

    // issue #3 (review) — above 20 groups: how many were silent, the busiest, and a pointer to
    // --json; nothing is dropped silently.
    #[test]
    fn summary_of_many_groups_counts_the_silent_ones() {
        let joined = range("239.1.0.1+30");
        let mut counts: Vec<(Option<&str>, u64)> = vec![
            (Some("239.1.0.2"), 1),
            (Some("239.1.0.3"), 9),
            (Some("239.1.0.4"), 3),
            (Some("239.1.0.5"), 3),
            (Some("239.1.0.6"), 5),
            (Some("239.1.0.7"), 2),
            (Some("239.1.0.8"), 7),
        ];
        counts.sort();
        let stats = stats_for(&counts);
        let counts = group_counts(&stats, &joined);
        assert_eq!(counts.len(), 30);
        let lines = summary(&stats, &counts, Duration::from_secs(1));
        assert_eq!(
            lines[1..],
            [
                "  7 groups received datagrams, 23 received nothing",
                "  239.1.0.3: 9",
                "  239.1.0.8: 7",
                "  239.1.0.6: 5",
                "  239.1.0.4: 3",
                "  239.1.0.5: 3",
                "  (… use --json for every group)",
            ]
        );
        assert!(lines[0].contains("from 7 distinct groups"), "{}", lines[0]);
    }
}
