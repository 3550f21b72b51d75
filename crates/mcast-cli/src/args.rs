//! Options that several subcommands share, declared once and flattened into each subcommand's
//! `Opt` with `#[command(flatten)]`: the flag's name, short form, value name, value parser and
//! default live here. A subcommand that words the help differently (what it counts, which
//! interface it means) rewords only the help, with `#[command(mut_arg(..))]` on its `Opt`.

use std::time::Duration;

use crate::plan;

/// `-c/--count` and `--timeout`: when a receiving subcommand (`recv`, `sniff`) stops on its own.
#[derive(clap::Args, Debug, Clone, Copy)]
pub(crate) struct Limits {
    /// Stop after COUNT datagrams.
    #[arg(short = 'c', long, value_name = "COUNT", value_parser = plan::parse_count,
          allow_negative_numbers = true)]
    pub(crate) count: Option<u64>,

    /// Give up after this long (e.g. 5s): exit 1 if fewer than COUNT datagrams (or none,
    /// without -c) arrived by then.
    #[arg(long, value_name = "D", value_parser = plan::parse_timeout, allow_hyphen_values = true)]
    pub(crate) timeout: Option<Duration>,
}

/// `GROUP PORT [-i IFACE]`: where a `perf` end sends or receives.
#[derive(clap::Args, Debug, Clone)]
pub(crate) struct Endpoint {
    /// The group to join; GROUP:PORT (socat's form: 239.1.2.3:5000, [ff02::1%eth0]:5000)
    /// gives the port too.
    #[arg(value_name = "GROUP")]
    pub(crate) group: String,

    /// The UDP port to bind (1-65535).
    #[arg(value_name = "PORT", allow_negative_numbers = true)]
    pub(crate) port: Option<String>,

    /// The interface to join on: an IPv4 address, a name, an index, or 0.0.0.0.
    #[arg(short = 'i', long = "iface", value_name = "IFACE")]
    pub(crate) iface: Option<String>,
}

impl Endpoint {
    /// The group text and the port, from `GROUP PORT` or `GROUP:PORT` ([`plan::endpoint`]).
    pub(crate) fn resolve(&self, cmd: &str) -> Result<(&str, u16), crate::errors::CliError> {
        plan::endpoint(&self.group, self.port.as_deref(), cmd)
    }
}
