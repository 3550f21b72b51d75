//! When a loop stops: on Ctrl-C, after `-c COUNT` items, or at the `--timeout` deadline. Every
//! long-running command installs the Ctrl-C flag with [`on_ctrl_c`] (the engine's drivers check
//! it between waits); `mcast sniff` also asks [`Until::next_wait`] before each wait.

use std::ops::ControlFlow;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Why a receive loop stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Stop {
    /// `-c COUNT` items arrived.
    Count,
    /// The `--timeout` deadline passed.
    Timeout,
    /// Ctrl-C.
    Interrupted,
}

impl Stop {
    /// The word in the `end` record's `reason`.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::Count => "count",
            Self::Timeout => "timeout",
            Self::Interrupted => "interrupted",
        }
    }
}

/// Installs a Ctrl-C handler and returns the flag it sets. A handler that cannot be installed
/// only costs the summary on Ctrl-C, so that failure is ignored.
pub(crate) fn on_ctrl_c() -> Arc<AtomicBool> {
    let interrupted = Arc::new(AtomicBool::new(false));
    let flag = Arc::clone(&interrupted);
    let _ = ctrlc::set_handler(move || flag.store(true, Ordering::SeqCst));
    interrupted
}

/// The three ways a receive loop ends.
#[derive(Debug)]
pub(crate) struct Until {
    /// Set by Ctrl-C.
    interrupted: Arc<AtomicBool>,
    /// Stop after this many items.
    count: Option<u64>,
    /// Stop at this instant.
    deadline: Option<Instant>,
}

impl Until {
    /// Stops on `interrupted` (see [`on_ctrl_c`]), after `count` items, or `timeout` after
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

    /// After `seen` items, at `now`: how long the next wait may last (at most `tick`, so Ctrl-C
    /// and the deadline are noticed), or why the loop stops. Ctrl-C is checked first, then the
    /// count, then the deadline.
    pub(crate) fn next_wait(
        &self,
        seen: u64,
        now: Instant,
        tick: Duration,
    ) -> ControlFlow<Stop, Duration> {
        if self.interrupted.load(Ordering::SeqCst) {
            return ControlFlow::Break(Stop::Interrupted);
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
    fn stops_on_count_then_on_ctrl_c_first() {
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
        // Count before the deadline, Ctrl-C before both.
        assert_eq!(
            until(false, Some(3), past).next_wait(3, now, TICK),
            ControlFlow::Break(Stop::Count)
        );
        assert_eq!(
            until(true, Some(3), past).next_wait(3, now, TICK),
            ControlFlow::Break(Stop::Interrupted)
        );
    }

    #[test]
    fn reasons_are_the_documented_words() {
        assert_eq!(Stop::Count.as_str(), "count");
        assert_eq!(Stop::Timeout.as_str(), "timeout");
        assert_eq!(Stop::Interrupted.as_str(), "interrupted");
    }
}
