//! When and why a command stops: `-c COUNT`, `--timeout`, the end of its input or stream, a
//! signal (SIGINT, SIGTERM, SIGHUP), or a standard output that is gone.
//!
//! Every long-running command calls [`install`] before its loop: the first SIGINT, SIGTERM
//! or SIGHUP then only sets the stop flag it returns (the engine's drivers check it at least
//! every 50 ms), records which signal it was ([`reason`]), and the command ends as it ends
//! on `-c` or `--timeout`: its summary, the JSON `end` record naming the reason, exit 0. A
//! second one exits at once with 128 + the signal's number (130 for a second Ctrl-C), with
//! no summary: that is the way out when the first one cannot finish (a stalled stdout is
//! given half a second; see [`crate::stdout`]).
//!
//! A standard output that is closed (`EPIPE`: `mcast recv | head -1`) or failing (`ENOSPC`:
//! `> /dev/full`) is a stop request too ([`request`]), made by the stdout writer at the write
//! that fails. A pipe or socket whose reader goes away is noticed even when nothing is being
//! written (`mcast recv … | true` while nothing arrives): [`install`] also starts
//! [`crate::stdout::watch_reader`], and the loop stops at its next check, as on a signal.
//!
//! `mcast sniff` also asks [`Until::next_wait`] before each wait.

use std::ops::ControlFlow;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, LazyLock, Once};
use std::time::{Duration, Instant};

use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};

/// Why a command's loop stopped: the `reason` of its JSON `end` record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Stop {
    /// `-c COUNT` items were sent or arrived.
    Count,
    /// Standard input ended (`mcast send` without MESSAGE).
    Eof,
    /// `--duration` passed (`mcast perf send`).
    Duration,
    /// Every stream heard has ended (`mcast perf recv`).
    Ended,
    /// The `--timeout` deadline passed.
    Timeout,
    /// SIGINT (Ctrl-C).
    Interrupted,
    /// SIGTERM (`kill`, `timeout`, systemd, `docker stop`).
    Terminated,
    /// SIGHUP (the terminal went away).
    Hangup,
    /// Standard output was closed by its reader (`EPIPE`).
    StdoutClosed,
    /// Writing to standard output failed (`ENOSPC`, `EIO`, ...): exit 1.
    StdoutFailed,
}

impl Stop {
    /// The word in the `end` record's `reason`.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::Count => "count",
            Self::Eof => "eof",
            Self::Duration => "duration",
            Self::Ended => "ended",
            Self::Timeout => "timeout",
            Self::Interrupted => "interrupted",
            Self::Terminated => "terminated",
            Self::Hangup => "hangup",
            Self::StdoutClosed => "stdout_closed",
            Self::StdoutFailed => "stdout_failed",
        }
    }

    /// How a text summary says the run was cut short (a signal or stdout), e.g.
    /// `stopped by SIGTERM`; `None` for the run's own ends.
    pub(crate) fn cut_short(self) -> Option<&'static str> {
        match self {
            Self::Interrupted => Some("interrupted by SIGINT"),
            Self::Terminated => Some("stopped by SIGTERM"),
            Self::Hangup => Some("stopped by SIGHUP"),
            Self::StdoutClosed => Some("stdout was closed"),
            Self::StdoutFailed => Some("stdout failed"),
            _ => None,
        }
    }

    /// ` (interrupted by SIGINT)` after a summary line, or nothing.
    pub(crate) fn suffix(self) -> String {
        self.cut_short()
            .map_or_else(String::new, |s| format!(" ({s})"))
    }
}

/// The stop flag, which signal set it, and whether stdout asked for it.
struct Requests {
    /// Set by the first signal or by the stdout writer; read by every loop.
    stop: Arc<AtomicBool>,
    /// The number of the signal that arrived, 0 before one did.
    signal: Arc<AtomicUsize>,
    /// [`STDOUT_CLOSED`] or [`STDOUT_FAILED`] once stdout asked to stop, else 0.
    stdout: AtomicUsize,
}

const STDOUT_CLOSED: usize = 1;
const STDOUT_FAILED: usize = 2;

static REQUESTS: LazyLock<Requests> = LazyLock::new(|| Requests {
    stop: Arc::new(AtomicBool::new(false)),
    signal: Arc::new(AtomicUsize::new(0)),
    stdout: AtomicUsize::new(0),
});

/// The signals that stop a command.
const SIGNALS: [i32; 3] = [SIGINT, SIGTERM, SIGHUP];

/// Installs the handlers of SIGINT, SIGTERM and SIGHUP (once), starts the watch for stdout's
/// reader going away ([`crate::stdout::watch_reader`]), and returns the stop flag they set. A
/// handler that cannot be installed only costs the summary on that signal, so that failure is
/// ignored.
///
/// Each handler, in the order signal-hook runs them: when the flag is already set (a second
/// signal, or a signal after stdout asked to stop), exit at once with 128 + the signal's
/// number; else record the signal, then set the flag. All three are async-signal-safe
/// (atomics and `_exit`).
pub(crate) fn install() -> Arc<AtomicBool> {
    static INSTALL: Once = Once::new();
    let r = &*REQUESTS;
    INSTALL.call_once(|| {
        for sig in SIGNALS {
            let _ = signal_hook::flag::register_conditional_shutdown(
                sig,
                128 + sig,
                Arc::clone(&r.stop),
            );
            let _ = signal_hook::flag::register_usize(sig, Arc::clone(&r.signal), sig as usize);
            let _ = signal_hook::flag::register(sig, Arc::clone(&r.stop));
        }
        crate::stdout::watch_reader();
    });
    Arc::clone(&r.stop)
}

/// Whether a stop was requested (a signal, or stdout).
pub(crate) fn requested() -> bool {
    REQUESTS.stop.load(Ordering::SeqCst)
}

/// Asks the command to stop because stdout is gone ([`Stop::StdoutClosed`] or
/// [`Stop::StdoutFailed`]); other reasons are ignored (signals record themselves).
pub(crate) fn request(reason: Stop) {
    let code = match reason {
        Stop::StdoutClosed => STDOUT_CLOSED,
        Stop::StdoutFailed => STDOUT_FAILED,
        _ => return,
    };
    let _ = REQUESTS
        .stdout
        .compare_exchange(0, code, Ordering::SeqCst, Ordering::SeqCst);
    REQUESTS.stop.store(true, Ordering::SeqCst);
}

/// Why a stop was requested: the signal that arrived first, else stdout; `None` when none
/// was.
pub(crate) fn reason() -> Option<Stop> {
    let r = &*REQUESTS;
    if !r.stop.load(Ordering::SeqCst) {
        return None;
    }
    reason_of(
        r.signal.load(Ordering::SeqCst),
        r.stdout.load(Ordering::SeqCst),
    )
}

/// [`reason`] from the recorded signal number and stdout code.
fn reason_of(signal: usize, stdout: usize) -> Option<Stop> {
    match (signal, stdout) {
        (s, _) if s == SIGINT as usize => Some(Stop::Interrupted),
        (s, _) if s == SIGTERM as usize => Some(Stop::Terminated),
        (s, _) if s == SIGHUP as usize => Some(Stop::Hangup),
        (_, STDOUT_CLOSED) => Some(Stop::StdoutClosed),
        (_, STDOUT_FAILED) => Some(Stop::StdoutFailed),
        _ => None,
    }
}

/// The reason of a loop that the stop flag ended ([`reason`]), `Interrupted` if somehow none
/// was recorded.
pub(crate) fn requested_reason() -> Stop {
    reason().unwrap_or(Stop::Interrupted)
}

/// The three ways a receive loop ends.
#[derive(Debug)]
pub(crate) struct Until {
    /// Set by a signal or by the stdout writer.
    interrupted: Arc<AtomicBool>,
    /// Stop after this many items.
    count: Option<u64>,
    /// Stop at this instant.
    deadline: Option<Instant>,
}

impl Until {
    /// Stops on `interrupted` (see [`install`]), after `count` items, or `timeout` after
    /// `start`.
    pub(crate) fn new(
        interrupted: Arc<AtomicBool>,
        count: Option<u64>,
        start: Instant,
        timeout: Option<Duration>,
    ) -> Self {
        Self {
            interrupted,
            count,
            deadline: timeout.and_then(|t| start.checked_add(t)),
        }
    }

    /// After `seen` items, at `now`: how long the next wait may last (at most `tick`, so a
    /// stop request and the deadline are noticed), or why the loop stops. A stop request is
    /// checked first (and named by [`requested_reason`]), then the count, then the deadline.
    pub(crate) fn next_wait(
        &self,
        seen: u64,
        now: Instant,
        tick: Duration,
    ) -> ControlFlow<Stop, Duration> {
        if self.interrupted.load(Ordering::SeqCst) {
            return ControlFlow::Break(requested_reason());
        }
        if self.count.is_some_and(|c| seen >= c) {
            return ControlFlow::Break(Stop::Count);
        }
        match self.deadline {
            Some(d) if d <= now => ControlFlow::Break(Stop::Timeout),
            Some(d) => ControlFlow::Continue((d - now).min(tick)),
            None => ControlFlow::Continue(tick),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TICK: Duration = Duration::from_millis(100);

    fn until(interrupted: bool, count: Option<u64>, deadline: Option<Instant>) -> Until {
        Until {
            interrupted: Arc::new(AtomicBool::new(interrupted)),
            count,
            deadline,
        }
    }

    #[test]
    fn deadline_is_timeout_after_start() {
        let start = Instant::now();
        let flag = Arc::new(AtomicBool::new(false));
        let u = Until::new(
            Arc::clone(&flag),
            Some(2),
            start,
            Some(Duration::from_secs(1)),
        );
        assert_eq!(u.deadline, Some(start + Duration::from_secs(1)));
        assert_eq!(u.count, Some(2));
        assert_eq!(Until::new(flag, None, start, None).deadline, None);
    }

    #[test]
    fn waits_a_tick_without_limits() {
        let now = Instant::now();
        assert_eq!(
            until(false, None, None).next_wait(5, now, TICK),
            ControlFlow::Continue(TICK)
        );
    }

    #[test]
    fn waits_no_longer_than_the_deadline() {
        let now = Instant::now();
        let near = until(false, None, Some(now + Duration::from_millis(30)));
        assert_eq!(
            near.next_wait(0, now, TICK),
            ControlFlow::Continue(Duration::from_millis(30))
        );
        let far = until(false, None, Some(now + Duration::from_secs(5)));
        assert_eq!(far.next_wait(0, now, TICK), ControlFlow::Continue(TICK));
        assert_eq!(
            far.next_wait(0, now + Duration::from_secs(5), TICK),
            ControlFlow::Break(Stop::Timeout)
        );
    }

    #[test]
    fn stops_on_count_then_on_a_stop_request_first() {
        let now = Instant::now();
        let past = Some(now);
        assert_eq!(
            until(false, Some(3), None).next_wait(2, now, TICK),
            ControlFlow::Continue(TICK)
        );
        assert_eq!(
            until(false, Some(3), None).next_wait(3, now, TICK),
            ControlFlow::Break(Stop::Count)
        );
        // Count before the deadline, a stop request before both.
        assert_eq!(
            until(false, Some(3), past).next_wait(3, now, TICK),
            ControlFlow::Break(Stop::Count)
        );
        assert!(matches!(
            until(true, Some(3), past).next_wait(3, now, TICK),
            ControlFlow::Break(s) if s.cut_short().is_some()
        ));
    }

    // issue #9 — the reason names the signal that arrived first, else stdout.
    #[test]
    fn reasons_name_the_signal_then_stdout() {
        assert_eq!(reason_of(SIGINT as usize, 0), Some(Stop::Interrupted));
        assert_eq!(reason_of(SIGTERM as usize, 0), Some(Stop::Terminated));
        assert_eq!(
            reason_of(SIGHUP as usize, STDOUT_CLOSED),
            Some(Stop::Hangup)
        );
        assert_eq!(reason_of(0, STDOUT_CLOSED), Some(Stop::StdoutClosed));
        assert_eq!(reason_of(0, STDOUT_FAILED), Some(Stop::StdoutFailed));
        assert_eq!(reason_of(0, 0), None);
    }

    #[test]
    fn reasons_are_the_documented_words() {
        let all = [
            (Stop::Count, "count"),
            (Stop::Eof, "eof"),
            (Stop::Duration, "duration"),
            (Stop::Ended, "ended"),
            (Stop::Timeout, "timeout"),
            (Stop::Interrupted, "interrupted"),
            (Stop::Terminated, "terminated"),
            (Stop::Hangup, "hangup"),
            (Stop::StdoutClosed, "stdout_closed"),
            (Stop::StdoutFailed, "stdout_failed"),
        ];
        for (stop, word) in all {
            assert_eq!(stop.as_str(), word);
            // Only the requests from outside cut a run short.
            let outside = !matches!(
                stop,
                Stop::Count | Stop::Eof | Stop::Duration | Stop::Ended | Stop::Timeout
            );
            assert_eq!(stop.cut_short().is_some(), outside, "{word}");
        }
        assert_eq!(Stop::Terminated.suffix(), " (stopped by SIGTERM)");
        assert_eq!(Stop::Count.suffix(), "");
    }
}
