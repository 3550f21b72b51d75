//! Joining many groups (`mcast recv 239.1.0.1+100000`): a refusal of a count that cannot be
//! joined ([`check_count`], before any group is listed), a warning before a large range,
//! progress on stderr once the joins take more than a second, and a stop request (Ctrl-C,
//! SIGTERM, SIGHUP) honoured between two joins.
//!
//! What a large range costs, measured on Linux 6.18 over `lo` (IPv4, the default
//! `net.ipv4.igmp_max_memberships` of 20): each group is a membership on the interface,
//! about 400 bytes of kernel memory with its share of the sockets, and the kernel searches the
//! interface's list of memberships on every join, so 100,000 groups take 5,000 sockets, about
//! 40 MB and a few seconds to join. Leaving them is as fast only when the sockets close
//! newest first, which mcast-sync's receiver does (the other order is quadratic: minutes).

use std::ops::ControlFlow;
use std::time::{Duration, Instant};

use crate::adapter;
use crate::errors::CliError;
use crate::plan::{self, RecvPlan};
use crate::{output, stop};

/// Above this many groups, `recv` warns before joining.
pub(crate) const LARGE_RANGE: usize = 10_000;

/// The most groups one receiver joins, whatever the limits allow: about 400 MB of kernel
/// memory (see the module docs), and IPv6 has no per-socket limit to stop it sooner.
pub(crate) const MAX_GROUPS: u64 = 1_000_000;

/// Descriptors taken already when the receiver opens its sockets (stdio, the capture of
/// interfaces): the open-file limit leaves the sockets this many fewer.
const OTHER_FILES: u64 = 16;

/// The limits a receiver's joins run into on this host.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Limits {
    /// Groups per socket (`net.ipv4.igmp_max_memberships`); `None` for IPv6, which has none.
    pub(crate) per_socket: Option<usize>,
    /// The soft open-file limit (`ulimit -n`); `None` when unlimited or unknown.
    pub(crate) open_files: Option<u64>,
}

impl Limits {
    /// This host's limits for groups of one family (`ipv6` or not).
    pub(crate) fn of_host(ipv6: bool) -> Self {
        Self {
            per_socket: if ipv6 {
                None
            } else {
                mcast_sync::error::igmp_max_memberships()
            },
            open_files: open_files_limit(),
        }
    }

    /// How many sockets `groups` groups take, `per_socket` each; `None` without a per-socket
    /// limit (one socket holds them all).
    fn sockets(&self, groups: u64) -> Option<u64> {
        self.per_socket
            .filter(|&n| n > 0)
            .map(|n| groups.div_ceil(n as u64))
    }

    /// Whether `sockets` sockets pass the open-file limit (the one rule of both the warning
    /// and the refusal).
    fn too_many_sockets(&self, sockets: u64) -> bool {
        self.open_files
            .is_some_and(|limit| sockets > limit.saturating_sub(OTHER_FILES))
    }

    /// An open-file limit that fits `sockets` sockets, for a `ulimit -n` hint.
    fn files_for(sockets: u64) -> u64 {
        (sockets + OTHER_FILES + 48).next_power_of_two()
    }
}

/// Refuses, before any group is listed, a receiver of `groups` groups (the sum of the ranges
/// as written, `written`) that cannot be joined: more than [`MAX_GROUPS`], or more sockets than
/// the open-file limit allows. A usage error naming the count, the limit and why, with a hint.
pub(crate) fn check_count(groups: u64, written: &str, limits: Limits) -> Result<(), CliError> {
    let named = format!("{} names {groups} groups", plan::quoted(written));
    if groups > MAX_GROUPS {
        return Err(CliError::usage(format!(
            "{named}: mcast recv joins at most {MAX_GROUPS} (each is a kernel membership of \
             about {BYTES_PER_GROUP} bytes, and the kernel searches the interface's list of \
             them on every join)"
        ))
        .hint("give a narrower range, e.g. 239.1.0.1+1000, or split the groups over several receivers"));
    }
    if let (Some(s), Some(n), Some(limit)) =
        (limits.sockets(groups), limits.per_socket, limits.open_files)
    {
        if limits.too_many_sockets(s) {
            let fit = limit.saturating_sub(OTHER_FILES) * n as u64;
            return Err(CliError::usage(format!(
                "{named}, which take {s} sockets (net.ipv4.igmp_max_memberships allows {n} \
             groups per socket), more than the open-file limit ({limit}) allows: at most \
             {fit} groups"
            ))
            .hint(format!(
                "raise the limit, e.g. `ulimit -n {}`, or give a narrower range",
                Limits::files_for(s)
            )));
        }
    }
    Ok(())
}

/// Kernel memory per IPv4 group, sockets included, as measured (see the module docs).
const BYTES_PER_GROUP: usize = 400;

/// Progress shows once the joins have taken this long, and then this often.
const PROGRESS_EVERY: Duration = Duration::from_secs(1);

/// How the joins ended.
pub(crate) enum Joined {
    /// Every join is done.
    Ready(Box<mcast_sync::Receiver>),
    /// A stop request came first: `done` of `total` joins were done (and left again).
    Stopped { done: usize, total: usize },
}

/// Opens the receiver of `plan` with every group joined, warning first about a large range
/// and showing progress on stderr (neither when `quiet`); a stop request stops the joins.
pub(crate) fn open(plan: &RecvPlan, rcvbuf: Option<usize>, quiet: bool) -> anyhow::Result<Joined> {
    if !quiet {
        let ipv6 = plan.groups.first().is_some_and(|g| g.is_ipv6());
        if let Some(w) = warning(plan.groups.len(), Limits::of_host(ipv6)) {
            output::note(&w);
        }
    }
    let noun = if plan.sources.is_empty() {
        "groups"
    } else {
        "group-source joins"
    };
    let mut progress = Progress::new(Instant::now());
    let opened = adapter::open_receiver_with_progress(plan, rcvbuf, |p| {
        // After the last join there is nothing left to stop: the receive loop ends at once
        // instead, with the summary.
        if stop::requested() && p.done < p.total {
            return ControlFlow::Break(());
        }
        let count = Count {
            done: p.done,
            total: p.total,
            sockets: p.sockets,
        };
        if let Some(line) = progress.on_join(count, Instant::now(), noun) {
            if !quiet {
                output::note(&line);
            }
        }
        ControlFlow::Continue(())
    });
    match opened {
        Ok(rx) => {
            let total = plan.groups.len() * plan.sources.len().max(1);
            if let (Some(line), false) = (progress.finished(total, Instant::now(), noun), quiet) {
                output::note(&line);
            }
            Ok(Joined::Ready(Box::new(rx)))
        }
        Err(e) => match e.downcast_ref::<mcast_sync::Error>() {
            Some(&mcast_sync::Error::JoinStopped { done, total }) => {
                Ok(Joined::Stopped { done, total })
            }
            _ => Err(e),
        },
    }
}

/// The warning before joining more than [`LARGE_RANGE`] groups: what it costs (sockets with
/// `per_socket` groups each, kernel memory, time) and how to cut it; with the open-file limit
/// when the sockets would pass it.
fn warning(groups: usize, limits: Limits) -> Option<String> {
    if groups <= LARGE_RANGE {
        return None;
    }
    let mut text = format!("warning: joining {groups} groups takes ");
    let sockets = limits.sockets(groups as u64);
    match (sockets, limits.per_socket) {
        (Some(s), Some(n)) => text.push_str(&format!(
            "{s} sockets (net.ipv4.igmp_max_memberships allows {n} groups per socket), about {} MB \
             of kernel memory",
            (groups * BYTES_PER_GROUP).div_ceil(1_000_000)
        )),
        _ => text.push_str("a kernel membership per group"),
    }
    text.push_str(
        " and seconds, since the kernel searches the interface's membership list on each join; \
         a narrower range cuts it",
    );
    if sockets.is_some() {
        text.push_str(" (a larger net.ipv4.igmp_max_memberships only saves sockets)");
    }
    if let (Some(s), Some(limit)) = (sockets, limits.open_files) {
        if limits.too_many_sockets(s) {
            text.push_str(&format!(
                "; {s} sockets pass the open-file limit ({limit}): raise it, e.g. `ulimit -n {}`",
                Limits::files_for(s)
            ));
        }
    }
    Some(text)
}

/// The soft limit on open files (`ulimit -n`), from `/proc/self/limits`.
fn open_files_limit() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/self/limits").ok()?;
    parse_open_files(&text)
}

/// The soft "Max open files" of a `/proc/PID/limits` text; `None` when unlimited or absent.
fn parse_open_files(text: &str) -> Option<u64> {
    let line = text.lines().find(|l| l.starts_with("Max open files"))?;
    line["Max open files".len()..]
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// How far the joins have come (mcast-sync's `JoinProgress`).
#[derive(Debug, Clone, Copy)]
struct Count {
    done: usize,
    total: usize,
    sockets: usize,
}

/// When to show how far the joins have come.
#[derive(Debug)]
struct Progress {
    start: Instant,
    next: Instant,
    shown: bool,
}

impl Progress {
    fn new(start: Instant) -> Self {
        Self {
            start,
            next: start + PROGRESS_EVERY,
            shown: false,
        }
    }

    /// After a join, at `now`: the progress line, once a second from the first second on.
    fn on_join(&mut self, p: Count, now: Instant, noun: &str) -> Option<String> {
        if now < self.next || p.done >= p.total {
            return None;
        }
        self.next = now + PROGRESS_EVERY;
        self.shown = true;
        Some(format!(
            "joining: {} of {} {noun} joined ({} socket{}, {:.1}s so far)",
            p.done,
            p.total,
            p.sockets,
            if p.sockets == 1 { "" } else { "s" },
            (now - self.start).as_secs_f64()
        ))
    }

    /// Once every join is done: how long they took, when progress was shown.
    fn finished(&self, total: usize, now: Instant, noun: &str) -> Option<String> {
        self.shown.then(|| {
            format!(
                "joined {total} {noun} in {:.1}s",
                (now - self.start).as_secs_f64()
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(per_socket: Option<usize>, open_files: Option<u64>) -> Limits {
        Limits {
            per_socket,
            open_files,
        }
    }

    // Review fix — a count that cannot be joined is refused before any group is listed, by the
    // same rule the warning uses: sockets past the open-file limit; and past the cap whatever
    // the limits.
    #[test]
    fn a_count_that_cannot_be_joined_is_refused_by_the_warnings_rule() {
        let ok = limits(Some(20), Some(1024));
        assert!(check_count(20_160, "239.0.0.0+20160", ok).is_ok());
        assert!(warning(20_160, ok).is_some_and(|w| !w.contains("open-file")));
        let e = check_count(20_161, "239.0.0.0+20161", ok).unwrap_err();
        assert!(warning(20_161, ok)
            .unwrap()
            .contains("pass the open-file limit (1024)"));
        let text = e.to_string();
        assert!(
            text.starts_with("'239.0.0.0+20161' names 20161 groups, which take 1009 sockets"),
            "{text}"
        );
        assert!(text.contains("open-file limit (1024)"), "{text}");
        assert!(text.contains("at most 20160 groups"), "{text}");
        let e = anyhow::Error::new(e);
        assert_eq!(crate::errors::exit_code(&e), crate::errors::exit::USAGE);
        assert!(crate::errors::hint(&e).unwrap().contains("ulimit -n 2048"));
        // IPv6 (no per-socket limit) and an unlimited open-file limit stop at the cap.
        for l in [limits(None, Some(1024)), limits(Some(20), None)] {
            assert!(check_count(MAX_GROUPS, "ff15::1+1000000", l).is_ok());
            let e = check_count(4_294_967_295, "ff15::1+4294967295", l).unwrap_err();
            assert!(
                e.to_string()
                    .starts_with("'ff15::1+4294967295' names 4294967295 groups: mcast recv joins at most 1000000"),
                "{e}"
            );
        }
    }

    fn progress(done: usize, total: usize, sockets: usize) -> Count {
        Count {
            done,
            total,
            sockets,
        }
    }

    // issue #9 — above 10,000 groups, a warning names the cost and how to cut it.
    #[test]
    fn a_large_range_is_warned_about_with_its_cost() {
        assert_eq!(warning(LARGE_RANGE, limits(Some(20), Some(20_000))), None);
        let w = warning(100_000, limits(Some(20), Some(20_000))).unwrap();
        assert!(
            w.starts_with("warning: joining 100000 groups takes 5000 sockets"),
            "{w}"
        );
        assert!(w.contains("about 40 MB"), "{w}");
        assert!(w.contains("a narrower range cuts it"), "{w}");
        assert!(!w.contains("ulimit"), "{w}");
        let w = warning(100_000, limits(Some(20), Some(1024))).unwrap();
        assert!(w.contains("pass the open-file limit (1024)"), "{w}");
        assert!(w.contains("ulimit -n 8192"), "{w}");
        // IPv6: no per-socket limit.
        let w = warning(20_000, limits(None, Some(1024))).unwrap();
        assert!(w.contains("a kernel membership per group"), "{w}");
        assert!(!w.contains("sockets"), "{w}");
    }

    #[test]
    fn the_open_file_limit_is_read_from_proc_limits() {
        let text = "Limit \
             Soft Limit \
             Hard Limit \
             Units     \n\
                    Max cpu time \
             unlimited \
             unlimited \
             seconds   \n\
                    Max open files \
             1024 \
             524288 \
             files     \n";
        assert_eq!(parse_open_files(text), Some(1024));
        assert_eq!(
            parse_open_files(
                "Max open files \
             unlimited \
             unlimited     files"
            ),
            None
        );
        assert!(open_files_limit().is_some());
    }

    // issue #9 — progress shows once the joins have taken a second, then once a second.
    #[test]
    fn progress_shows_after_a_second_then_every_second() {
        let start = Instant::now();
        let mut p = Progress::new(start);
        let at = |ms| start + Duration::from_millis(ms);
        assert_eq!(p.on_join(progress(10, 100, 1), at(500), "groups"), None);
        assert_eq!(p.finished(100, at(600), "groups"), None);
        let line = p.on_join(progress(40, 100, 2), at(1000), "groups").unwrap();
        assert_eq!(
            line,
            "joining: 40 of 100 groups joined (2 sockets, 1.0s so far)"
        );
        assert_eq!(p.on_join(progress(50, 100, 3), at(1500), "groups"), None);
        assert!(p
            .on_join(progress(90, 100, 5), at(2000), "groups")
            .is_some());
        // The last join shows nothing: the summary line follows.
        assert_eq!(p.on_join(progress(100, 100, 5), at(3000), "groups"), None);
        assert_eq!(
            p.finished(100, at(3000), "groups").unwrap(),
            "joined 100 groups in 3.0s"
        );
    }
}
