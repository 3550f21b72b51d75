//! `-v` / `-q` and `RUST_LOG`: what `mcast` says on stderr besides its results and errors.
//!
//! Logging is off by default: without `-v` and without `RUST_LOG`, no subscriber is installed
//! and nothing extra is printed. `-v` logs at info level (what was opened and joined), `-vv` at
//! debug (mcast-sync's events: each socket option set, each join and leave), `-vvv` at trace.
//! `RUST_LOG`, when set, takes precedence over `-v` (`tracing-subscriber`'s `EnvFilter` syntax,
//! e.g. `RUST_LOG=mcast_sync=debug`). Log lines go to stderr, coloured only when stderr is a
//! terminal.
//!
//! `-q` silences the lines of [`crate::output::note`]: notes, warnings, progress, "listening
//! on", the summaries on stderr and the like. Never errors and their hints, never stdout,
//! never what an option asked for (`--explain`), and never log lines that `-v` or `RUST_LOG`
//! asked for.

use std::io::IsTerminal as _;
use std::sync::atomic::{AtomicBool, Ordering};

use clap::ArgAction;
use tracing_subscriber::filter::{EnvFilter, LevelFilter};

/// Whether `-q` was given (read by [`crate::output::note`]).
static QUIET: AtomicBool = AtomicBool::new(false);

/// The options every subcommand takes (`global`: before or after the subcommand's name).
#[derive(clap::Args, Debug, Clone, Copy, Default)]
pub(crate) struct LogArgs {
    /// Log what mcast does on stderr: -v info (sockets opened, groups joined), -vv debug
    /// (each socket option set, each join and leave), -vvv trace. RUST_LOG, when set, takes
    /// precedence (e.g. RUST_LOG=mcast_sync=debug). recv and send also print a line per
    /// datagram with -v.
    #[arg(short = 'v', long = "verbose", action = ArgAction::Count, global = true)]
    pub(crate) verbose: u8,

    /// Quiet: no notes, warnings, progress, "listening on" lines or summaries on stderr.
    /// Errors (with their hints) and stdout still print, and so do --explain and the log
    /// lines asked for with -v or RUST_LOG.
    #[arg(short = 'q', long = "quiet", global = true)]
    pub(crate) quiet: bool,
}

/// Whether `-q` was given.
pub(crate) fn quiet() -> bool {
    QUIET.load(Ordering::Relaxed)
}

/// The level `-v` given `count` times asks for (`None`: logging stays off).
fn level(count: u8) -> Option<LevelFilter> {
    match count {
        0 => None,
        1 => Some(LevelFilter::INFO),
        2 => Some(LevelFilter::DEBUG),
        _ => Some(LevelFilter::TRACE),
    }
}

/// The filter for `-v` given `count` times and `RUST_LOG` = `env`: `None` when neither asks
/// for anything (no subscriber at all).
fn filter(count: u8, env: Option<&str>) -> Option<EnvFilter> {
    let env = env.map(str::trim).filter(|e| !e.is_empty());
    let default = match (env, level(count)) {
        (None, None) => return None,
        // RUST_LOG decides; targets it does not name stay off.
        (Some(_), _) => LevelFilter::OFF,
        (None, Some(level)) => level,
    };
    Some(
        EnvFilter::builder()
            .with_default_directive(default.into())
            .parse_lossy(env.unwrap_or("")),
    )
}

/// Records `-q` and, when `-v` or `RUST_LOG` asks for it, installs the subscriber that prints
/// log lines on stderr.
pub(crate) fn init(args: LogArgs) {
    QUIET.store(args.quiet, Ordering::Relaxed);
    let env = std::env::var("RUST_LOG").ok();
    let Some(filter) = filter(args.verbose, env.as_deref()) else {
        return;
    };
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .try_init();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn off_unless_asked_for() {
        assert!(filter(0, None).is_none());
        assert!(filter(0, Some("  ")).is_none());
        assert!(filter(1, None).is_some());
        assert!(filter(0, Some("mcast_sync=debug")).is_some());
    }

    #[test]
    fn each_v_raises_the_level() {
        let max = |count| filter(count, None).and_then(|f| f.max_level_hint());
        assert_eq!(max(1), Some(LevelFilter::INFO));
        assert_eq!(max(2), Some(LevelFilter::DEBUG));
        assert_eq!(max(3), Some(LevelFilter::TRACE));
        assert_eq!(max(9), Some(LevelFilter::TRACE));
    }

    #[test]
    fn rust_log_takes_precedence_over_v() {
        let f = filter(3, Some("mcast_sync=debug")).unwrap();
        assert_eq!(f.max_level_hint(), Some(LevelFilter::DEBUG));
        assert!(f.to_string().contains("mcast_sync=debug"), "{f}");
    }
}
