//! `cargo xtask perf`: multicast throughput on a two-namespace veth lab, written to BENCHMARKS.md.
//!
//! The lab is the `pair` topology (sender 10.77.0.1 and receiver 10.77.0.2 on one veth). Every
//! row sends to 239.77.0.1:5001 with TTL 1 out of the sender's veth address, on its own core, into
//! a receiver on another core:
//!
//! * at 64 B and 1400 B, into our C counter (`recvmmsg_count`): the baseline C `sendto` loop,
//!   iperf2's client, and `mcast perf send --rate max` over `--io single`, `mmsg` and `gso`;
//! * at both sizes, `mcast perf send --io gso --rate max` into `mcast perf recv`, and the same
//!   with `--key-file` on both ends (every datagram signed and verified: the cost of
//!   authentication, as a ratio of the two rows);
//! * `mcast perf send --rate 20000 --duration 5` into `mcast perf recv --report 1s`.
//!
//! When the `mcast` binary has no `perf` subcommand, its rows say "not run" and the rest run.

mod c_programs;
mod parse;
mod ping;
pub(crate) mod report;
mod rows;

use std::{
    path::{Path, PathBuf},
    process::Command,
    time::{Duration, Instant},
};

use anyhow::{bail, Context, Result};

use crate::{
    lab::{self, Config, Lab, Profile, Topology},
    netns,
    prereq::{self, Prereq},
};
use c_programs::CPrograms;
use report::{Count, Io, Kind, Outcome, PacedRun, Pacing, Report, Row, Setup};
use rows::{Bench, Pinning};

/// The UDP payload sizes of the throughput rows.
const SIZES: [usize; 2] = [64, 1400];
/// The paced row's rate, in datagrams per second.
const PACED_RATE: u64 = 20_000;
/// The paced row's duration (seconds), and with `--quick`.
const PACED_SECONDS: u64 = 5;
const PACED_SECONDS_QUICK: u64 = 1;
/// The paced row's datagram size.
const PACED_SIZE: usize = 1400;
/// How long each throughput row sends, and with `--quick`.
const ROW_TIME: Duration = Duration::from_secs(3);
const ROW_TIME_QUICK: Duration = Duration::from_millis(500);
/// The longest `--duration` accepted: every sending loop stays bounded.
const MAX_ROW_TIME: Duration = Duration::from_secs(60);

/// `cargo xtask perf`
#[derive(clap::Args, Debug, Clone)]
pub(crate) struct Opt {
    /// How long each --rate max row sends (`3s`, `500ms`, `2.5`) [default: 3s, 500ms with --quick].
    #[arg(long, value_name = "D", value_parser = parse_duration)]
    duration: Option<Duration>,
    /// A short smoke run: 0.5 s rows and a 1 s paced row instead of 5 s.
    #[arg(long)]
    quick: bool,
    /// Where to write the report; `-` only prints it [default: BENCHMARKS.md at the repository root].
    #[arg(long, value_name = "PATH")]
    output: Option<PathBuf>,
}

/// `3`, `2.5s` or `500ms` as a duration between 1 ms and [`MAX_ROW_TIME`].
fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let (number, scale) = if let Some(ms) = text.strip_suffix("ms") {
        (ms, 1e-3)
    } else {
        (text.strip_suffix('s').unwrap_or(text), 1.0)
    };
    let value: f64 = number
        .trim()
        .parse()
        .map_err(|_| format!("{text:?} is not a duration such as 3s, 2.5 or 500ms"))?;
    let d = Duration::try_from_secs_f64(value * scale)
        .map_err(|_| format!("{text:?} is not a duration such as 3s, 2.5 or 500ms"))?;
    if d < Duration::from_millis(1) || d > MAX_ROW_TIME {
        return Err(format!(
            "{text:?} is out of range: between 1ms and {}s",
            MAX_ROW_TIME.as_secs()
        ));
    }
    Ok(d)
}

/// Everything `cargo xtask perf` needs from the machine.
pub(crate) const PREREQS: [Prereq; 5] = [
    Prereq::Root,
    Prereq::Ip,
    Prereq::Taskset,
    Prereq::Cc,
    Prereq::Iperf,
];

/// Runs `cargo xtask perf`; returns the exit code (1 when a row failed, not for a missed target).
pub(crate) fn run_cmd(opt: &Opt) -> Result<i32> {
    // Checked before the (slow) release build.
    prereq::require(&PREREQS)?;
    let mcast = lab::mcast_binary(Profile::Release, false)?;
    let command = std::iter::once("cargo xtask".to_owned())
        .chain(std::env::args().skip(1).map(|a| netns::shell_quote(&a)))
        .collect::<Vec<_>>()
        .join(" ");
    let report = measure(opt, &mcast, command)?;
    let md = report.render();
    out!("{md}");
    match opt.output.as_deref() {
        Some(p) if p == Path::new("-") => {}
        path => {
            let path = path.map_or_else(
                || lab::project_root().join("BENCHMARKS.md"),
                Path::to_path_buf,
            );
            std::fs::write(&path, &md)
                .with_context(|| format!("failed to write {}", path.display()))?;
            eprintln!("perf: wrote {}", path.display());
        }
    }
    let failed = report
        .rows
        .iter()
        .any(|r| matches!(r.outcome, Outcome::Failed(_)))
        || report
            .paced
            .as_ref()
            .is_some_and(|p| matches!(p.outcome, Outcome::Failed(_)));
    Ok(i32::from(failed))
}

/// Why `mcast perf` cannot run with the binary at `mcast`, or `None` when it can.
pub(crate) fn mcast_perf_missing(mcast: &Path) -> Option<String> {
    for sub in ["send", "recv"] {
        let out = Command::new(mcast)
            .args(["perf", sub, "--help"])
            .stdin(std::process::Stdio::null())
            .output();
        match out {
            Ok(out) if out.status.success() => {}
            Ok(out) => {
                let err = String::from_utf8_lossy(&out.stderr);
                return Some(format!(
                    "`mcast perf {sub}` is not in this mcast ({}): {}",
                    mcast.display(),
                    err.lines().next().unwrap_or("no output").trim()
                ));
            }
            Err(e) => return Some(format!("cannot run {}: {e}", mcast.display())),
        }
    }
    None
}

/// The first line of `program args…`'s output, or `unknown`.
fn first_line(program: &str, args: &[&str]) -> String {
    netns::run(Command::new(program).args(args))
        .ok()
        .and_then(|s| s.lines().next().map(|l| l.trim().to_owned()))
        .unwrap_or_else(|| "unknown".into())
}

/// `N cores, MODEL` from /proc/cpuinfo, and the load average when the run starts: other work on
/// the machine competes for the same cores and lowers the numbers.
fn machine() -> String {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let cores = cpuinfo
        .lines()
        .filter(|l| l.starts_with("processor"))
        .count();
    let model = cpuinfo
        .lines()
        .find_map(|l| l.strip_prefix("model name")?.split_once(':'))
        .map_or("unknown CPU", |(_, m)| m.trim());
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let load = load.split_whitespace().next().unwrap_or("unknown");
    format!("{cores} cores, {model}; load average {load} when the run started")
}

/// Runs every row in a fresh pair lab and returns what was measured; `command` is recorded.
pub(crate) fn measure(opt: &Opt, mcast: &Path, command: String) -> Result<Report> {
    let started = Instant::now();
    let row_time = opt
        .duration
        .unwrap_or(if opt.quick { ROW_TIME_QUICK } else { ROW_TIME });
    let paced_seconds = if opt.quick {
        PACED_SECONDS_QUICK
    } else {
        PACED_SECONDS
    };
    let no_mcast = mcast_perf_missing(mcast);
    if let Some(why) = &no_mcast {
        eprintln!("perf: the mcast rows are not run: {why}");
    }
    let iperf = netns::which("iperf").context("`iperf` is missing")?;
    let pinning = Pinning::choose(&rows::allowed_cpus(), netns::which("taskset"));
    let setup = Setup {
        date: first_line("date", &["-u", "+%Y-%m-%d %H:%M:%S UTC"]),
        machine: machine(),
        kernel: first_line("uname", &["-r"]),
        command,
        row_seconds: row_time.as_secs_f64(),
        pinning: pinning.describe(),
    };

    let lab = Lab::up(Config {
        topology: Topology::Pair,
        ..Config::lecture()
    })?;
    eprintln!(
        "perf: lab {} up (sender 10.77.0.1, receiver 10.77.0.2); {}",
        lab.prefix, setup.pinning
    );
    let c = CPrograms::build(&lab.scratch_dir()?)?;
    // The key of the authenticated rows, made by the mcast under test.
    let key = match &no_mcast {
        Some(why) => Err(why.clone()),
        None => rows::keygen(mcast, &lab.scratch_dir()?),
    };
    if let Err(why) = &key {
        eprintln!("perf: the authenticated rows are not run: {why}");
    }
    let bench = Bench {
        lab: &lab,
        mcast,
        iperf: &iperf,
        c: &c,
        pinning,
    };

    let mut rows = Vec::new();
    for size in SIZES {
        let mut kinds = vec![Kind::Baseline, Kind::Iperf];
        kinds.extend(Io::ALL.map(Kind::Mcast));
        kinds.extend([Kind::McastRecv, Kind::McastRecvAuth]);
        for kind in kinds {
            let outcome = match (&no_mcast, &key, kind) {
                (Some(why), _, Kind::Mcast(_) | Kind::McastRecv | Kind::McastRecvAuth) => {
                    Outcome::NotRun(why.clone())
                }
                (None, Err(why), Kind::McastRecvAuth) => Outcome::NotRun(why.clone()),
                (_, Ok(key), Kind::McastRecvAuth) => {
                    outcome(bench.mcast_recv_auth(size, row_time, key))
                }
                _ => outcome(run_row(&bench, kind, size, row_time)),
            };
            progress(&kind.label(), size, &outcome, |c| c);
            rows.push(Row {
                kind,
                size,
                outcome,
            });
        }
    }
    let paced_outcome = match &no_mcast {
        Some(why) => Outcome::NotRun(why.clone()),
        None => outcome(
            bench
                .paced(PACED_SIZE, PACED_RATE, paced_seconds)
                .map(|(count, per_second)| Pacing { count, per_second }),
        ),
    };
    progress(&Kind::Paced.label(), PACED_SIZE, &paced_outcome, |p| {
        &p.count
    });
    let probes = if opt.quick {
        ping::PROBES_QUICK
    } else {
        ping::PROBES
    };
    let ping_run = ping::measure(
        &bench,
        probes,
        no_mcast.as_ref().map_or(Ok(()), |why| Err(why.clone())),
    );
    for (label, o) in [
        ("plain ping-pong", &ping_run.plain),
        ("mcast ping", &ping_run.mcast),
        ("mcast ping in one run", &ping_run.full),
    ] {
        match o {
            Outcome::Done(r) => eprintln!(
                "perf: {label}: {} of {} answered, p50 {:.1} µs, p99 {:.1} µs",
                r.received, r.sent, r.rtt_us[1], r.rtt_us[3]
            ),
            other => eprintln!("perf: {label}: {}", other.placeholder()),
        }
    }
    let prefix = lab.prefix.clone();
    drop(lab);
    let left = netns::list_netns_with_prefix(&prefix)?;
    if !left.is_empty() {
        bail!("namespaces left after teardown: {}", left.join(" "));
    }
    eprintln!(
        "perf: lab {prefix} torn down; {:.1} s in all",
        started.elapsed().as_secs_f64()
    );
    Ok(Report {
        setup,
        rows,
        paced: Some(PacedRun {
            rate: PACED_RATE,
            seconds: paced_seconds,
            size: PACED_SIZE,
            outcome: paced_outcome,
        }),
        ping: Some(ping_run),
    })
}

/// Runs one throughput row.
fn run_row(bench: &Bench<'_>, kind: Kind, size: usize, time: Duration) -> Result<Count> {
    match kind {
        Kind::Baseline => bench.baseline(size, time),
        Kind::Iperf => bench.iperf(size, time),
        Kind::Mcast(io) => bench.mcast(io, size, time),
        Kind::McastRecv => bench.mcast_recv(size, time),
        Kind::McastRecvAuth => bail!("the authenticated row needs a key"),
        Kind::Paced => bail!("the paced row is no throughput row"),
    }
}

fn outcome<T>(result: Result<T>) -> Outcome<T> {
    match result {
        Ok(t) => Outcome::Done(t),
        Err(e) => Outcome::Failed(format!("{e:#}")),
    }
}

/// One progress line on stderr for a finished row (none after a Ctrl-C: its processes were
/// stopped by the teardown, not by a fault).
fn progress<T>(label: &str, size: usize, outcome: &Outcome<T>, count: impl Fn(&T) -> &Count) {
    if lab::interrupted() {
        return;
    }
    match outcome {
        Outcome::Done(t) => {
            let c = count(t);
            eprintln!(
                "perf: {label}, {size} B: {} of {} received, {} dgram/s, {:.1} Mbit/s",
                report::thousands(c.received),
                report::thousands(c.sent),
                report::thousands(c.rate().round() as u64),
                c.mbit_s()
            );
        }
        Outcome::NotRun(_) => eprintln!("perf: {label}, {size} B: not run"),
        Outcome::Failed(why) => eprintln!("perf: {label}, {size} B: failed: {why}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_take_seconds_or_milliseconds() {
        assert_eq!(parse_duration("3"), Ok(Duration::from_secs(3)));
        assert_eq!(parse_duration("2.5s"), Ok(Duration::from_millis(2500)));
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert!(parse_duration("0").is_err());
        assert!(parse_duration("61s").is_err());
        assert!(parse_duration("soon").is_err());
        assert!(parse_duration("-1").is_err());
    }
}
