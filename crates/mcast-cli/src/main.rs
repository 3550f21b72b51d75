//! `mcast`: send, receive, inspect and sniff IP multicast.
//!
//! This binary parses, asks an adapter (mcast-sync / mcast-async) to do the work, and renders
//! the result. **It opens no socket itself** (see ARCHITECTURE.md).
//!
//! # Shape (ripgrep's low/high split)
//!
//! 1. clap parses the command line into one `Opt` per subcommand: only what the user typed.
//! 2. [`plan`] validates it through mcast-core's checked types (`Group`, `GroupRange`, `Source`,
//!    `IfaceSpec`) and resolves the interface; the resulting `Plan` is all the adapters see.
//! 3. The subcommand's `run(opt) -> anyhow::Result<ExitCode>` drives the adapter and prints
//!    through [`output`] (text, or `--json` JSON Lines in a documented envelope).
//!
//! # Exit codes (a contract, tested in `tests/tests.rs`)
//!
//! | code | meaning |
//! |-----:|---------|
//! | 0 | success; also a stop by SIGINT (Ctrl-C), SIGTERM or SIGHUP, and a broken pipe on stdout (`mcast recv … \| head -1`): each ends with the summary and the JSON `end` record naming the reason (see `output.rs`) |
//! | 1 | it ran and failed: a socket error, a failed write to stdout (`> /dev/full`), or `--timeout` passed before `-c COUNT` datagrams (or before any, without `-c`), or `ping --ssmping` got no multicast reply |
//! | 2 | usage error: clap errors, a group that is not multicast, a port outside 1–65535, a source that is not unicast, a malformed interface **or an interface that does not exist on this host** (checked before any socket is opened, like a bad group) |
//! | 128 + N | a second stop signal N arrived while the first was being handled: exit at once, no summary (130 for a second Ctrl-C) |
//!
//! Errors print one line, `error: …` (the anyhow chain with `{:#}`), optionally followed by a
//! `hint: …` line. Nothing panics on user input; there is never a backtrace. Clap's own errors
//! are folded into the same shape by [`clap_error_lines`]: a bad value prints the value
//! parser's message alone (so every `plan::parse_*` names its argument), anything else clap's
//! first paragraph on one line; the hint is clap's `tip:` if it has one, else
//! `try 'mcast CMD --help'`.
#![allow(clippy::print_stdout, clippy::print_stderr)]

mod adapter;
mod args;
mod docs;
mod errors;
mod escape;
mod explain;
mod groups;
mod hints;
mod ifaces;
mod info;
mod joining;
mod key;
mod logging;
mod output;
mod perf;
mod ping;
mod plan;
mod recv;
mod send;
mod sniff;
mod ssmping;
mod stdin;
mod stdout;
mod stop;
mod values;
mod watch;

use std::process::ExitCode;

use clap::{CommandFactory, Parser, Subcommand};

/// Send, receive, inspect and sniff IP multicast.
#[derive(Parser, Debug)]
#[command(
    name = "mcast",
    version,
    about = "Send, receive, inspect and sniff IP multicast",
    long_about = "Send, receive, inspect and sniff IP multicast.\n\n\
        A multicast group is an address in 224.0.0.0/4 (IPv4) or ff00::/8 (IPv6). A receiver \
        joins the group on an interface and binds the port; a sender just sends to GROUP:PORT \
        with a TTL (1 by default: the datagram never crosses a router).",
    after_help = "\
Examples (the lecture's pair, on loopback; run the receiver first):
  mcast recv 224.1.1.5 50001 -i 127.0.0.1
  mcast send 224.1.1.5 50001 \"Hello, World!\" -i 127.0.0.1

  mcast info 224.1.1.5                     scope, block, MAC and the 32 groups sharing it
  mcast recv 239.1.0.1+1000 5000 -i lab0   join 1,000 groups at once
  mcast ifaces                             which interfaces can do multicast
  mcast ping --ssmping 192.0.2.1           can this host receive (S,G) from an ssmpingd?

IFACE is an IPv4 address (192.168.56.3), a name (lab0), an index (3) or 0.0.0.0 (the kernel's
choice). Durations are like 500ms or 5s.

Ctrl-C, SIGTERM, SIGHUP, -c, --timeout and a closed stdout all end a command with its summary
(and the JSON end record, naming the reason); a second Ctrl-C exits at once.

Logging is off by default: -v, -vv and -vvv (or RUST_LOG, e.g. RUST_LOG=mcast_sync=debug) print
log lines on stderr; -q silences notes, warnings and progress, never errors.

Exit status: 0 success (also after Ctrl-C, SIGTERM or SIGHUP), 1 it ran and failed (socket
error, nothing received before --timeout, stdout not writable), 2 usage error (bad group, port,
source or interface), 128+N a second signal N (130: Ctrl-C)."
)]
struct Cli {
    #[command(flatten)]
    log: logging::LogArgs,

    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Send datagrams to a group: MESSAGE, or each line of stdin.
    Send(send::Opt),
    /// Join groups and print what arrives.
    Recv(recv::Opt),
    /// Measure a path: send at a set rate, receive and count loss, drops, jitter, delay.
    Perf(perf::Opt),
    /// Round trips over multicast: every instance probes the group and answers the others
    /// (or, with --ssmping, an ssmpingd server's unicast and multicast replies).
    Ping(ping::Opt),
    /// Describe a multicast address: scope, block, MAC, colliding groups, SSM.
    Info(info::Opt),
    /// Capture multicast traffic on an interface and print one line per packet.
    Sniff(sniff::Opt),
    /// List the groups joined on this host, per interface.
    Groups(groups::Opt),
    /// List the multicast-capable interfaces: index, name, addresses, flags.
    Ifaces(ifaces::Opt),
    /// Write a new random key for authenticated frames (--key-file).
    Keygen(key::KeygenOpt),
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell).
    Completions(docs::CompletionsOpt),
    /// Print the man page (roff), generated from this help.
    Man(docs::ManOpt),
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => return clap_error(&e),
    };
    logging::init(cli.log);
    tracing::debug!(command = ?cli.command, "command line");
    let result = match cli.command {
        Command::Send(opt) => send::run(opt),
        Command::Recv(opt) => recv::run(opt),
        Command::Perf(opt) => perf::run(opt),
        Command::Ping(opt) => ping::run(opt),
        Command::Info(opt) => info::run(opt),
        Command::Sniff(opt) => sniff::run(opt),
        Command::Groups(opt) => groups::run(opt),
        Command::Ifaces(opt) => ifaces::run(opt),
        Command::Keygen(opt) => key::keygen(opt),
        Command::Completions(opt) => docs::completions(opt, Cli::command()),
        Command::Man(opt) => docs::man(opt, Cli::command()),
    };
    // Everything queued for stdout goes out first (bounded after a stop request); a failed
    // write is the error unless the command failed otherwise.
    let flushed = stdout::finish();
    match (result, flushed) {
        (Ok(code), Ok(())) => code,
        (Ok(_), Err(e)) => errors::report(&stdout::error(&e).into()),
        (Err(err), _) => errors::report(&err),
    }
}

/// Reports a clap error: help and `--version` go to stdout with exit 0 (as does a help
/// printed for a missing subcommand, but with exit 2); a real error is one `error: …` line
/// and a `hint: …` line on stderr, exit 2.
fn clap_error(e: &clap::Error) -> ExitCode {
    use clap::error::ErrorKind;
    use std::io::Write as _;
    if !e.use_stderr() {
        let _ = e.print();
        return ExitCode::SUCCESS;
    }
    if e.kind() == ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand {
        let _ = e.print();
        return ExitCode::from(errors::exit::USAGE);
    }
    let rendered = e.render().to_string();
    let source = match e.kind() {
        ErrorKind::ValueValidation => std::error::Error::source(e).map(ToString::to_string),
        _ => None,
    };
    let (error, hint) = clap_error_lines(&rendered, source.as_deref(), subcommand().as_deref());
    let mut stderr = std::io::stderr().lock();
    let _ = writeln!(stderr, "{error}");
    let _ = writeln!(stderr, "{hint}");
    ExitCode::from(errors::exit::USAGE)
}

/// The subcommand the user typed (the first argument, if it names one).
fn subcommand() -> Option<String> {
    let first = std::env::args_os().nth(1)?;
    let first = first.to_str()?;
    Cli::command()
        .get_subcommands()
        .any(|c| c.get_name() == first)
        .then(|| first.to_owned())
}

/// Folds clap's rendered error (several lines: the message, indented details, usage, a tip
/// and "For more information, try '--help'.") into an `error: …` line and a `hint: …` line.
///
/// `source` is the value parser's message for a value-validation error: it names the argument
/// and the problem, and becomes the whole message. Otherwise the message is clap's first
/// paragraph on one line. The hint is clap's `tip:`, else a pointer to `--help` for `cmd`.
fn clap_error_lines(rendered: &str, source: Option<&str>, cmd: Option<&str>) -> (String, String) {
    let one_line = |text: &str| {
        text.lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .collect::<Vec<_>>()
            .join(" ")
    };
    let message = match source {
        Some(src) if !src.trim().is_empty() => one_line(src),
        _ => {
            let paragraph: Vec<&str> = rendered
                .lines()
                .take_while(|l| !l.trim().is_empty())
                .filter(|l| !l.trim_start().starts_with("tip:"))
                .collect();
            let text = one_line(&paragraph.join("\n"));
            text.strip_prefix("error:")
                .map_or(text.clone(), |t| t.trim().to_owned())
        }
    };
    let tip = rendered
        .lines()
        .map(str::trim)
        .find_map(|l| l.strip_prefix("tip:"))
        .map(str::trim)
        // "to pass '-1' as a value, use '-- -1'" misleads more often than it helps (a mistyped
        // option, a value that is already given): point to --help instead.
        .filter(|t| !t.starts_with("to pass "));
    let hint = match (tip, cmd) {
        (Some(t), _) => t.to_owned(),
        (None, Some(c)) => format!("try 'mcast {c} --help'"),
        (None, None) => "try 'mcast --help'".to_owned(),
    };
    (format!("error: {message}"), format!("hint: {hint}"))
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::{clap_error_lines, Cli};

    #[test]
    fn clap_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    // issue #2 (review) — clap's multi-line errors become one error line and one hint line.
    #[test]
    fn clap_errors_fold_into_two_lines() {
        let rendered = "error: invalid value '0' for '--count <COUNT>': -c/--count must be at least 1\n\nFor more information, try '--help'.\n";
        assert_eq!(
            clap_error_lines(
                rendered,
                Some("-c/--count must be at least 1 (got '0')"),
                Some("recv")
            ),
            (
                "error: -c/--count must be at least 1 (got '0')".to_owned(),
                "hint: try 'mcast recv --help'".to_owned()
            )
        );
        let rendered = "error: the following required arguments were not provided:\n  <GROUPS>\n  <PORT>\n\nUsage: mcast recv <GROUPS> <PORT>\n\nFor more information, try '--help'.\n";
        assert_eq!(
            clap_error_lines(rendered, None, Some("recv")).0,
            "error: the following required arguments were not provided: <GROUPS> <PORT>"
        );
        let rendered = "error: unrecognized subcommand 'sned'\n\n  tip: a similar subcommand exists: 'send'\n\nUsage: mcast <COMMAND>\n\nFor more information, try '--help'.\n";
        assert_eq!(
            clap_error_lines(rendered, None, None),
            (
                "error: unrecognized subcommand 'sned'".to_owned(),
                "hint: a similar subcommand exists: 'send'".to_owned()
            )
        );
        let rendered = "error: unexpected argument '--bogus' found\n\n  tip: to pass '--bogus' as a value, use '-- --bogus'\n\nUsage: mcast send [OPTIONS] <GROUP> <PORT> [MESSAGE]\n\nFor more information, try '--help'.\n";
        assert_eq!(
            clap_error_lines(rendered, None, Some("send")),
            (
                "error: unexpected argument '--bogus' found".to_owned(),
                "hint: try 'mcast send --help'".to_owned()
            )
        );
    }
}
