//! `mcast ping`: ping a multicast responder. For now one kind, `--ssmping SERVER [GROUP]`
//! (an `ssmpingd`); its logic lives in [`crate::ssmping`], which this module only calls with
//! the options every kind of ping shares.

use std::process::ExitCode;
use std::time::Duration;

use crate::errors::CliError;
use crate::plan;
use crate::ssmping::{self, SsmpingArgs, SsmpingOptions};

/// Arguments of `mcast ping`.
#[derive(clap::Args, Debug)]
#[command(after_help = "\
Examples:
  mcast ping --ssmping 192.0.2.1                  SSM: (192.0.2.1, 232.43.211.234), like ssmping
  mcast ping --ssmping 2001:db8::1 -c 10          IPv6 SSM: (2001:db8::1, ff3e::4321:1234)
  mcast ping --ssmping 192.0.2.1 239.1.2.234      ASM: (*, 239.1.2.234), like asmping
  mcast ping --ssmping 192.0.2.1 -i eth1 --interval 100ms -c 50 --json

Each reply prints as ssmping prints it (unicast and multicast, seq, dist in routers, time);
the summary gives per path sent, received, lost and rtt min/p50/p90/p99/max. Exit status: 0
when a multicast reply arrived, 1 when none did, 2 usage error.")]
pub(crate) struct Opt {
    #[command(flatten)]
    ssmping: SsmpingArgs,

    /// The interface to send from and join on: an address, a name or an index (default: the
    /// one the route to the server uses).
    #[arg(short = 'i', long = "iface", value_name = "IFACE")]
    iface: Option<String>,

    /// Stop after COUNT queries (default: until --timeout or Ctrl-C).
    #[arg(short = 'c', long, value_name = "COUNT", value_parser = plan::parse_count,
          allow_negative_numbers = true)]
    count: Option<u64>,

    /// The time between queries (e.g. 1s, 100ms, 1ms).
    #[arg(long, value_name = "D", default_value = "1s", value_parser = plan::parse_interval,
          allow_hyphen_values = true)]
    interval: Duration,

    /// Stop after this long (e.g. 30s), whatever -c says.
    #[arg(long, value_name = "D", value_parser = plan::parse_timeout, allow_hyphen_values = true)]
    timeout: Option<Duration>,

    /// Print JSON Lines (start, reply, end records) instead of text.
    #[arg(long)]
    json: bool,
}

/// Runs `mcast ping`.
pub(crate) fn run(opt: Opt) -> anyhow::Result<ExitCode> {
    let Some((server, group)) = opt.ssmping.target() else {
        return Err(
            CliError::usage("mcast ping needs a server to ping: --ssmping SERVER [GROUP]")
                .hint("try 'mcast ping --help'")
                .into(),
        );
    };
    let opts = SsmpingOptions {
        iface: opt.iface.clone(),
        count: opt.count,
        interval: opt.interval,
        timeout: opt.timeout,
        json: opt.json,
    };
    ssmping::run(server, group, &opt.ssmping, &opts)
}
