//! `cargo xtask`: the mcast lab and the repository's automation, in plain Rust.
//!
//! * `cargo xtask demo` replays the lecture (four hosts, two groups) in network namespaces it
//!   creates, prints each host's terminal, checks the outcome and tears everything down;
//!   `--python` runs the lecture's Python programs beside `mcast` there; `--topology pim`
//!   runs it across a line of FRR routers (PIM-SM, SSM, TTLs, a prune).
//! * `cargo xtask lab up|exec|status|down` keeps a lab standing for experiments.
//! * `cargo xtask perf` measures multicast throughput on a two-namespace veth lab and writes
//!   BENCHMARKS.md.
//! * `cargo xtask dist [--debug]` builds the release binary and writes it, its bash, zsh and
//!   fish completions and its man pages under `target/dist/`.
//! * `cargo xtask fuzz [--seconds N] [TARGET]` builds the fuzz targets with libFuzzer's
//!   instrumentation (no cargo-fuzz needed) and runs each for N seconds.
//!
//! Privileged scenarios and the repository's tidy rules run as `#[test]`s (`cargo test --workspace`).
#![allow(clippy::print_stdout, clippy::print_stderr)]

/// `print!` that treats a closed stdout (`cargo xtask lab up | head -1`) as the reader having seen
/// enough: no panic, and the command goes on (see [`write_out`]).
macro_rules! out {
    ($($arg:tt)*) => {
        $crate::write_out(format_args!($($arg)*))
    };
}

/// `println!` with the behaviour of [`out!`].
macro_rules! outln {
    () => {
        $crate::write_out(format_args!("\n"))
    };
    ($($arg:tt)*) => {
        $crate::write_out(format_args!("{}\n", format_args!($($arg)*)))
    };
}

mod demo;
mod dist;
mod fuzz;
mod lab;
mod netns;
mod perf;
mod prereq;
#[cfg(test)]
mod scenarios;
#[cfg(test)]
mod tidy;

use std::{
    io::{self, Write},
    process::ExitCode,
    sync::atomic::{AtomicBool, Ordering},
};

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};

#[derive(Parser, Debug)]
#[command(
    name = "cargo xtask",
    about = "The mcast lab: network namespaces, a bridge, the built `mcast` binary"
)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand, Debug)]
enum Cmd {
    /// Replay the lecture in throwaway namespaces, check the outcome and tear down.
    Demo(DemoOpt),
    /// Build, use and delete a lab that stays up between commands.
    Lab(lab::Opt),
    /// Measure multicast throughput (C baseline, iperf2, mcast) on a veth pair; write BENCHMARKS.md.
    Perf(perf::Opt),
    /// Build the fuzz targets (libFuzzer, no cargo-fuzz needed) and run each for a while.
    Fuzz(fuzz::Opt),
    /// Build the release binary; write it, its completions (bash, zsh, fish) and man pages
    /// under target/dist/.
    Dist(dist::Opt),
}

/// Options of `cargo xtask demo`.
#[derive(clap::Args, Debug)]
struct DemoOpt {
    /// Run the lecture's plain-Python programs (examples/python/) beside `mcast` instead:
    /// a Python sender to `mcast` and Python receivers, then `mcast send` to both.
    #[arg(long)]
    python: bool,
    /// `lecture`: the four hosts on one LAN; `pim`: across a line of FRR routers (PIM-SM and
    /// SSM: TTLs, a prune, the routers' state).
    #[arg(long, value_enum, default_value = "lecture", conflicts_with = "python")]
    topology: DemoTopology,
    /// How many routers the pim demo puts between midwood and flatbush.
    #[arg(long, default_value_t = lab::pim::DEFAULT_ROUTERS, value_name = "N")]
    routers: u8,
}

/// The labs the demo runs on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
enum DemoTopology {
    Lecture,
    Pim,
}

/// Writes to stdout for [`out!`]/[`outln!`]. After the first failed write (usually a reader that
/// went away: `EPIPE`) the rest of the output is dropped; errors other than a broken pipe are
/// reported on stderr.
pub(crate) fn write_out(args: std::fmt::Arguments<'_>) {
    static CLOSED: AtomicBool = AtomicBool::new(false);
    if CLOSED.load(Ordering::Relaxed) {
        return;
    }
    // The test harness captures `print!` only, not writes to the stdout handle.
    if cfg!(test) {
        print!("{args}");
        return;
    }
    if let Err(e) = io::stdout().lock().write_fmt(args) {
        CLOSED.store(true, Ordering::Relaxed);
        if let Err(e) = ignore_broken_pipe(Err(e)) {
            eprintln!("warning: cannot write to stdout: {e}");
        }
    }
}

/// A broken pipe counts as success: whoever read our output has stopped listening.
fn ignore_broken_pipe(result: io::Result<()>) -> io::Result<()> {
    match result {
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => Ok(()),
        other => other,
    }
}

fn main() -> ExitCode {
    match try_main() {
        Ok(code) => ExitCode::from(u8::try_from(code).unwrap_or(1)),
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn try_main() -> Result<i32> {
    let cli = Cli::parse();
    // Fuzzing and packaging need no namespace, so no root.
    match &cli.cmd {
        Cmd::Fuzz(opt) => return fuzz::run_cmd(opt),
        Cmd::Dist(opt) => return dist::run_cmd(opt),
        _ => {}
    }
    // perf measures an optimised build; everything else runs the quick-to-build debug one.
    let profile = match cli.cmd {
        Cmd::Perf(_) => lab::Profile::Release,
        _ => lab::Profile::Debug,
    };
    if let Some(code) = rerun_with_sudo(profile)? {
        return Ok(code);
    }
    // Before any lab work: a Ctrl-C from here on tears down what exists and exits 130.
    lab::install_interrupt_handler();
    match cli.cmd {
        Cmd::Demo(opt) => {
            // Checked before the (slow) build; `Lab::up` checks again.
            prereq::require(&[prereq::Prereq::Root, prereq::Prereq::Ip])?;
            let bin = lab::mcast_binary(lab::Profile::Debug, false)?;
            let failures = match opt.topology {
                DemoTopology::Lecture => demo::run(&bin, opt.python)?,
                DemoTopology::Pim => demo::pim::run(&bin, opt.routers)?,
            };
            if failures.is_empty() {
                outln!("demo: every check passed");
                Ok(0)
            } else {
                eprintln!("demo: {} check(s) failed:", failures.len());
                for f in &failures {
                    eprintln!("  ✗ {f}");
                }
                Ok(1)
            }
        }
        Cmd::Lab(opt) => lab::run_cmd(opt),
        Cmd::Perf(opt) => perf::run_cmd(&opt),
        Cmd::Fuzz(opt) => fuzz::run_cmd(&opt),
        Cmd::Dist(opt) => dist::run_cmd(&opt),
    }
}

/// Every subcommand but `fuzz` and `dist` needs root. A user who is not root but has `sudo` gets the `mcast` binary
/// built as themselves in `profile` (so `target/` stays theirs and cargo need not run as root),
/// then this same xtask binary re-run as root through sudo, with `MCAST_BIN` pointing at that
/// build. Returns the exit code of that run, or `None` when this process should do the work itself.
fn rerun_with_sudo(profile: lab::Profile) -> Result<Option<i32>> {
    if prereq::is_root() || netns::which("sudo").is_none() {
        return Ok(None);
    }
    let bin = lab::mcast_binary(profile, false)?;
    let me = std::env::current_exe().context("cannot find the xtask binary to re-run")?;
    eprintln!("the lab needs root (network namespaces): re-running with sudo");
    let status = std::process::Command::new("sudo")
        .arg("env")
        .arg(format!("MCAST_BIN={}", bin.display()))
        .arg(me)
        .args(std::env::args_os().skip(1))
        .status()
        .context("failed to run sudo")?;
    Ok(Some(status.code().unwrap_or(1)))
}

#[cfg(test)]
mod tests {
    use std::io::{self, Write};

    use super::ignore_broken_pipe;

    /// A writer whose reader has gone, like stdout piped into `head -1` after its first line.
    struct Closed;

    impl Write for Closed {
        fn write(&mut self, _: &[u8]) -> io::Result<usize> {
            Err(io::ErrorKind::BrokenPipe.into())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn a_broken_pipe_is_success_and_other_errors_are_not() {
        assert!(ignore_broken_pipe(writeln!(Closed, "lab up")).is_ok());
        assert!(ignore_broken_pipe(Ok(())).is_ok());
        let full = ignore_broken_pipe(Err(io::Error::from(io::ErrorKind::StorageFull)));
        assert_eq!(full.unwrap_err().kind(), io::ErrorKind::StorageFull);
    }
}
