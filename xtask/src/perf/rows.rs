//! Running one row of `cargo xtask perf` in the pair lab: a receiver in `receiver`, joined and
//! ready, then a bounded sender in `sender`, each on its own core.

use std::{
    path::{Path, PathBuf},
    time::Duration,
};

use anyhow::{bail, Context, Result};

use crate::{
    lab::{self, Lab},
    netns::{self, Proc},
    perf::{
        c_programs::CPrograms,
        parse::{self, Interval},
        report::{Count, Io},
    },
};

/// The group every row sends to.
pub(crate) const GROUP: &str = "239.77.0.1";
/// The UDP port every row sends to.
pub(crate) const PORT: &str = "5001";
/// The receive buffer both receivers ask for (the kernel doubles it).
const RCVBUF: &str = "67108864";
/// How long the C counter goes on after its last datagram before it reports.
const IDLE_MS: &str = "400";
/// How long a receiver may take to say it has joined.
const READY_WAIT: Duration = Duration::from_secs(5);
/// What a sender may take beyond its sending time (start-up, end-of-session frames) before it is
/// stopped, and what a receiver may wait for a sender to start.
const GRACE: Duration = Duration::from_secs(5);

/// The two ends of the lab.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Side {
    Sender,
    Receiver,
}

impl Side {
    fn host(self) -> &'static str {
        match self {
            Self::Sender => "sender",
            Self::Receiver => "receiver",
        }
    }
}

/// Where the sender and the receiver run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Pinning {
    /// Each on its own core, through `taskset -c`.
    Cores {
        taskset: PathBuf,
        sender: u32,
        receiver: u32,
    },
    /// Only one core is available: both share it, unpinned.
    Shared,
}

impl Pinning {
    /// Sender and receiver on the first two cores this process may use, or shared with only one.
    pub(crate) fn choose(allowed: &[u32], taskset: Option<PathBuf>) -> Self {
        match (allowed, taskset) {
            ([sender, receiver, ..], Some(taskset)) => Self::Cores {
                taskset,
                sender: *sender,
                receiver: *receiver,
            },
            _ => Self::Shared,
        }
    }

    /// The pinning in words, for the report.
    pub(crate) fn describe(&self) -> String {
        match self {
            Self::Cores {
                sender, receiver, ..
            } => format!("sender on core {sender}, receiver on core {receiver} (taskset)"),
            Self::Shared => "one core only: sender and receiver share it, unpinned".into(),
        }
    }
}

/// The CPUs in a list such as `/proc/self/status`'s `Cpus_allowed_list` (`0-1`, `0,2-3`).
pub(crate) fn parse_cpu_list(list: &str) -> Vec<u32> {
    let mut cpus = Vec::new();
    for part in list.trim().split(',').filter(|p| !p.is_empty()) {
        let (lo, hi) = part.split_once('-').unwrap_or((part, part));
        if let (Ok(lo), Ok(hi)) = (lo.trim().parse::<u32>(), hi.trim().parse::<u32>()) {
            cpus.extend(lo..=hi);
        }
    }
    cpus
}

/// The CPUs this process may run on.
pub(crate) fn allowed_cpus() -> Vec<u32> {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("Cpus_allowed_list:"))
                .map(parse_cpu_list)
        })
        .unwrap_or_default()
}

/// `d` as `mcast` takes a duration (`2500ms`).
fn millis(d: Duration) -> String {
    format!("{}ms", d.as_millis())
}

/// `d` in seconds as iperf2 and the C helpers take it (`2.5`).
fn seconds(d: Duration) -> String {
    format!("{}", d.as_secs_f64())
}

/// Writes a new key into `dir` with `mcast keygen` (mode 0600, as `--key-file` requires) and
/// returns its path; an `Err` says why the authenticated rows cannot run.
pub(crate) fn keygen(mcast: &Path, dir: &Path) -> std::result::Result<PathBuf, String> {
    let path = dir.join("perf.key");
    let out = std::process::Command::new(mcast)
        .arg("keygen")
        .arg(&path)
        .arg("--force")
        .stdin(std::process::Stdio::null())
        .output()
        .map_err(|e| format!("cannot run {}: {e}", mcast.display()))?;
    if out.status.success() {
        Ok(path)
    } else {
        Err(format!(
            "`mcast keygen` failed in this mcast ({}): {}",
            mcast.display(),
            String::from_utf8_lossy(&out.stderr)
                .lines()
                .next()
                .unwrap_or("no output")
                .trim()
        ))
    }
}

/// What runs the rows: the lab, the programs and where they run.
pub(crate) struct Bench<'a> {
    pub(crate) lab: &'a Lab,
    pub(crate) mcast: &'a Path,
    pub(crate) iperf: &'a Path,
    pub(crate) c: &'a CPrograms,
    pub(crate) pinning: Pinning,
}

impl Bench<'_> {
    pub(crate) fn addr(&self, side: Side) -> Result<String> {
        Ok(self.lab.host(side.host())?.addr.to_string())
    }

    /// Starts `program args…` (shown as `name …`) on `side`, pinned to that side's core.
    pub(crate) fn spawn(
        &self,
        side: Side,
        program: &Path,
        name: &str,
        args: &[String],
    ) -> Result<Proc> {
        let ns = self.lab.ns(side.host());
        let mut shown = std::iter::once(name.to_owned())
            .chain(args.iter().map(|a| netns::shell_quote(a)))
            .collect::<Vec<_>>()
            .join(" ");
        let mut program = program.to_path_buf();
        let mut argv = args.to_vec();
        if let Pinning::Cores {
            taskset,
            sender,
            receiver,
        } = &self.pinning
        {
            let core = if side == Side::Sender {
                sender
            } else {
                receiver
            };
            shown = format!("taskset -c {core} {shown}");
            let pinned = ["-c".into(), core.to_string(), program.display().to_string()];
            argv.splice(0..0, pinned);
            program.clone_from(taskset);
        }
        let argv: Vec<&str> = argv.iter().map(String::as_str).collect();
        // Nothing starts in the lab while a Ctrl-C tears it down.
        let mut proc = lab::unless_interrupted(|| Proc::spawn(&ns, &program, name, &argv))
            .with_context(|| format!("failed to start {name} in {ns}"))?;
        proc.display = shown;
        Ok(proc)
    }

    /// Starts a receiver on the receiver side and waits for its "listening on" line.
    pub(crate) fn start_receiver(
        &self,
        program: &Path,
        name: &str,
        args: &[String],
    ) -> Result<Proc> {
        let mut proc = self.spawn(Side::Receiver, program, name, args)?;
        if !proc.wait_for_line(READY_WAIT, |l| l.contains("listening on")) {
            let run = proc.finish(Duration::ZERO)?;
            bail!(
                "`{}` did not say \"listening on\" within {READY_WAIT:?}: {:?}",
                run.display,
                run.lines
            );
        }
        Ok(proc)
    }

    /// Runs a sender started by `start` (sending for `time`) into the C counter; `sent` reads the
    /// sender's own count from its output.
    fn counted_by_c(
        &self,
        time: Duration,
        start: impl FnOnce() -> Result<Proc>,
        sent: impl FnOnce(&netns::Finished) -> Result<u64>,
    ) -> Result<Count> {
        let window = time + GRACE;
        let args = [
            GROUP.into(),
            PORT.into(),
            self.addr(Side::Receiver)?,
            seconds(window),
            IDLE_MS.into(),
            RCVBUF.into(),
        ];
        let counter = self.start_receiver(&self.c.counter, "recvmmsg_count", &args)?;
        let sender = start()?.finish(time + GRACE)?;
        parse::check_exit(&sender)?;
        let sent = sent(&sender).with_context(|| format!("`{}`", sender.display))?;
        let counted = counter.finish(window + GRACE)?;
        parse::check_exit(&counted)?;
        let count = parse::c_counter(&counted)?;
        Ok(Count { sent, ..count })
    }

    /// The baseline: our C `sendto` loop for `time`.
    pub(crate) fn baseline(&self, size: usize, time: Duration) -> Result<Count> {
        // At most 50 million datagrams a second: a bound far above what one core sends.
        let max_count = (time.as_secs_f64() * 50e6).ceil().to_string();
        let args = [
            GROUP.into(),
            PORT.into(),
            self.addr(Side::Sender)?,
            size.to_string(),
            seconds(time),
            max_count,
        ];
        self.counted_by_c(
            time,
            || self.spawn(Side::Sender, &self.c.sender, "sendto_loop", &args),
            parse::c_sender,
        )
    }

    /// iperf2's client at 10 Gbit/s, TTL 1, bound to the sender's address. Multicast makes it
    /// skip waiting for a server report, so it ends after `-t`; a hang is stopped after the grace.
    pub(crate) fn iperf(&self, size: usize, time: Duration) -> Result<Count> {
        let args: Vec<String> = [
            "-c",
            GROUP,
            "-u",
            "-b",
            "10G",
            "-l",
            &size.to_string(),
            "-T",
            "1",
            "-B",
            &self.addr(Side::Sender)?,
            "-t",
            &seconds(time),
            "-p",
            PORT,
        ]
        .map(str::to_owned)
        .into();
        self.counted_by_c(
            time,
            || self.spawn(Side::Sender, self.iperf, "iperf", &args),
            parse::iperf_sent,
        )
    }

    /// The arguments of `mcast perf send` at `rate` for `time`, on the path `io` (`None`: mcast's
    /// own choice).
    fn mcast_send_args(
        &self,
        size: usize,
        time: Duration,
        rate: &str,
        io: Option<Io>,
    ) -> Result<Vec<String>> {
        let mut args: Vec<String> = [
            "perf",
            "send",
            GROUP,
            PORT,
            "-i",
            &self.addr(Side::Sender)?,
            "--size",
            &size.to_string(),
            "--duration",
            &millis(time),
            "--ttl",
            "1",
            "--rate",
            rate,
            "--json",
        ]
        .map(str::to_owned)
        .into();
        if let Some(io) = io {
            args.extend(["--io".to_owned(), io.arg().to_owned()]);
        }
        Ok(args)
    }

    /// `mcast perf send --rate max --io IO` into the C counter.
    pub(crate) fn mcast(&self, io: Io, size: usize, time: Duration) -> Result<Count> {
        let args = self.mcast_send_args(size, time, "max", Some(io))?;
        self.counted_by_c(
            time,
            || self.spawn(Side::Sender, self.mcast, "mcast", &args),
            |run| parse::mcast_sent(run, Some(io)),
        )
    }

    /// `mcast perf send` (of `size` at `rate` for `time` on `io`, with `both`) into `mcast perf
    /// recv --json` with `recv_extra` and `both`; returns the receiver's counts with the
    /// sender's `sent`, and its intervals.
    fn counted_by_mcast_recv(
        &self,
        size: usize,
        time: Duration,
        rate: &str,
        io: Option<Io>,
        recv_extra: &[&str],
        both: &[&str],
    ) -> Result<(Count, Vec<Interval>)> {
        let mut send_args = self.mcast_send_args(size, time, rate, io)?;
        send_args.extend(both.iter().map(|a| (*a).to_owned()));
        let timeout = time + GRACE * 2;
        let mut args: Vec<String> = [
            "perf",
            "recv",
            GROUP,
            PORT,
            "-i",
            &self.addr(Side::Receiver)?,
            "--rcvbuf",
            RCVBUF,
            "--json",
            "--timeout",
            &millis(timeout),
        ]
        .map(str::to_owned)
        .into();
        args.extend(recv_extra.iter().chain(both).map(|a| (*a).to_owned()));
        let recv = self.start_receiver(self.mcast, "mcast", &args)?;
        let sender = self
            .spawn(Side::Sender, self.mcast, "mcast", &send_args)?
            .finish(time + GRACE)?;
        parse::check_exit(&sender)?;
        let sent = parse::mcast_sent(&sender, io)?;
        let received = recv.finish(timeout + GRACE)?;
        parse::check_exit(&received)?;
        let (count, intervals) = parse::mcast_received(&received)?;
        Ok((Count { sent, ..count }, intervals))
    }

    /// `mcast perf send --io gso --rate max` into `mcast perf recv`.
    pub(crate) fn mcast_recv(&self, size: usize, time: Duration) -> Result<Count> {
        let (count, _) = self.counted_by_mcast_recv(size, time, "max", Some(Io::Gso), &[], &[])?;
        Ok(count)
    }

    /// [`mcast_recv`](Self::mcast_recv) with `--key-file KEY` on both ends.
    pub(crate) fn mcast_recv_auth(&self, size: usize, time: Duration, key: &Path) -> Result<Count> {
        let key = key.to_str().context("the key file's path is not UTF-8")?;
        let both = ["--key-file", key];
        let (count, _) =
            self.counted_by_mcast_recv(size, time, "max", Some(Io::Gso), &[], &both)?;
        Ok(count)
    }

    /// `mcast perf send --rate RATE --duration SECONDS` into `mcast perf recv --report 1s`;
    /// returns the counts and the rate of each full second.
    pub(crate) fn paced(&self, size: usize, rate: u64, seconds: u64) -> Result<(Count, Vec<f64>)> {
        let time = Duration::from_secs(seconds);
        // mcast picks the send path: pacing is about timing, not about one path.
        let rate = rate.to_string();
        let report = ["--report", "1s"];
        let (count, intervals) =
            self.counted_by_mcast_recv(size, time, &rate, None, &report, &[])?;
        Ok((count, parse::full_seconds(&intervals, 1.0, seconds)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_lists_expand_ranges() {
        assert_eq!(parse_cpu_list("0-1\n"), [0, 1]);
        assert_eq!(parse_cpu_list("0,2-4,7"), [0, 2, 3, 4, 7]);
        assert_eq!(parse_cpu_list("3"), [3]);
        assert!(parse_cpu_list("").is_empty());
    }

    #[test]
    fn two_cores_pin_and_one_core_shares() {
        let taskset = Some(PathBuf::from("/usr/bin/taskset"));
        assert_eq!(
            Pinning::choose(&[2, 5, 6], taskset.clone()).describe(),
            "sender on core 2, receiver on core 5 (taskset)"
        );
        assert_eq!(Pinning::choose(&[0], taskset), Pinning::Shared);
        assert_eq!(Pinning::choose(&[0, 1], None), Pinning::Shared);
    }

    #[test]
    fn durations_are_written_as_each_program_takes_them() {
        assert_eq!(millis(Duration::from_millis(2500)), "2500ms");
        assert_eq!(seconds(Duration::from_millis(500)), "0.5");
        assert_eq!(seconds(Duration::from_secs(3)), "3");
    }
}
