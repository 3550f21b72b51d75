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
//! | 0 | success; also a broken pipe on stdout (`mcast recv … \| head -1`) and Ctrl-C on `recv` |
//! | 1 | it ran and failed: a socket error, or `--timeout` passed before `-c COUNT` datagrams (or before any, without `-c`) |
//! | 2 | usage error: clap errors, a group that is not multicast, a port outside 1–65535, a source that is not unicast, a malformed interface **or an interface that does not exist on this host** (checked before any socket is opened, like a bad group) |
//!
//! Errors print one line, `error: …` (the anyhow chain with `{:#}`), optionally followed by a
//! `hint: …` line. Nothing panics on user input; there is never a backtrace.
#![allow(clippy::print_stdout, clippy::print_stderr)]

mod adapter;
mod docs;
mod errors;
mod groups;
mod ifaces;
mod info;
mod output;
mod plan;
mod recv;
mod send;
mod sniff;
mod stop;

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

IFACE is an IPv4 address (192.168.56.3), a name (lab0), an index (3) or 0.0.0.0 (the kernel's
choice). Durations are like 500ms or 5s.

Exit status: 0 success, 1 it ran and failed (socket error, nothing received before --timeout),
2 usage error (bad group, port, source or interface)."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Send datagrams to a group: MESSAGE, or each line of stdin.
    Send(send::Opt),
    /// Join groups and print what arrives.
    Recv(recv::Opt),
    /// Describe a multicast address: scope, block, MAC, colliding groups, SSM.
    Info(info::Opt),
    /// Capture multicast traffic on an interface and print one line per packet.
    Sniff(sniff::Opt),
    /// List the groups joined on this host, per interface.
    Groups(groups::Opt),
    /// List the multicast-capable interfaces: index, name, addresses, flags.
    Ifaces(ifaces::Opt),
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell).
    Completions(docs::CompletionsOpt),
    /// Print the man page (roff), generated from this help.
    Man(docs::ManOpt),
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            // Help and --version go to stdout with exit 0; real errors to stderr with exit 2.
            let _ = e.print();
            return if e.use_stderr() {
                ExitCode::from(errors::exit::USAGE)
            } else {
                ExitCode::SUCCESS
            };
        }
    };
    let result = match cli.command {
        Command::Send(opt) => send::run(opt),
        Command::Recv(opt) => recv::run(opt),
        Command::Info(opt) => info::run(opt),
        Command::Sniff(opt) => sniff::run(opt),
        Command::Groups(opt) => groups::run(opt),
        Command::Ifaces(opt) => ifaces::run(opt),
        Command::Completions(opt) => docs::completions(opt, Cli::command()),
        Command::Man(opt) => docs::man(opt, Cli::command()),
    };
    match result {
        Ok(code) => code,
        Err(err) => errors::report(&err),
    }
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::Cli;

    #[test]
    fn clap_definition_is_consistent() {
        Cli::command().debug_assert();
    }
}
