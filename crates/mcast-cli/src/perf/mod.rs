//! `mcast perf send` / `mcast perf recv`: throughput, loss and delay measurements, iperf's
//! job done with mcast's engine.
//!
//! Both ends run through the same loops as `mcast send` and `mcast recv` (mcast-sync's
//! `SendDriver` and `RecvDriver` around mcast-core's session machines). The sender numbers,
//! stamps and paces framed datagrams (`--rate`, on the core's absolute schedule, in GSO
//! batches when it can) and ends its stream with end-of-session frames; the receiver counts
//! network loss (the tail included), host drops (the kernel's `SO_RXQ_OVFL` count),
//! duplicates, reordering, RFC 3550 jitter and one-way delay percentiles.
//!
//! # JSON records (`--json`)
//!
//! | `type`     | printed by | `data` fields |
//! |------------|------------|---------------|
//! | `start`    | both       | `group`, `port`, `interface`; send adds `size`, `rate_pps` (`null` for max), `io`, `session`, `authenticated` (`--key-file`); recv adds `recv_buffer` |
//! | `interval` | both       | `start_s`, `end_s` (seconds since the first datagram), `datagrams`, `bytes`, `rate_pps`, `mbit_s`; recv adds `lost` (in the network), `host_drops` (dropped by this host's kernel: full receive buffer), `duplicates`, `reordered`, `jitter_us` |
//! | `summary`  | both       | the same over the whole run (send: `datagrams`, `bytes`, `elapsed_s`, `rate_pps`, `mbit_s`, `io`, `host_drops` (refused by the sending host: `ENOBUFS`), `transmits`); recv adds `sent` (from the senders' end frames), `missing` (sequence numbers that never arrived: `lost` + `host_drops`), `lost_percent`, `suspect`, `stray` (datagrams that reached the port without being sent to the group: unicast, broadcast, another group), `streams`, `delay_us` (`min`, `p50`, `p90`, `p99`, `max`, or `null`), `clocks`, `auth` (`null` without `--key-file`, else `authenticated` and the datagrams dropped: `unauthenticated`, `truncated`, `forged`, `tampered`, `replayed`) |
//! | `link`     | recv       | the interface joined on changed: `interface`, `index`, `state` (`down`, `up`, `gone`, `back`), `up`, `running`, `multicast`; `back` adds `previous_index`, `rejoined` or `error` (as `recv`'s, see `watch.rs`) |
//! | `end`      | both       | `reason` (`count`, `duration`, `ended`, `timeout`, or how it was stopped: `interrupted`, `terminated`, `hangup`, `stdout_closed`, `stdout_failed`; see `output.rs`), `exit_code` |
//!
//! The `summary` and `end` records (and the text summary) go to stdout while it takes output,
//! else to stderr: after a closed stdout, or one still blocked half a second after a stop
//! request.
//!
//! Rates count UDP payload bytes (the frame header included), as iperf does. A bit rate paces
//! one datagram every 8 × size / rate seconds (`start`'s `rate_pps` may be fractional). A run
//! lasts until one spacing after its last datagram (the sender's pace, the receiver's mean
//! spacing), the time that datagram stands for: `-c 3` at 2 datagrams/s is 3 datagrams in
//! 1.5 s, and the last interval is never a sliver of time with an absurd rate.
//!
//! The receiver asks for UDP GRO, so a GSO sender's batches reach it whole (several times
//! cheaper than the kernel cutting them up). The kernel then counts a dropped coalesced run as
//! one host drop: `missing` stays exact, while `host_drops` counts drop events, and `lost`
//! (`missing` less `host_drops`) may include datagrams of dropped runs.

pub(crate) mod rate;
pub(crate) mod recv;
pub(crate) mod send;

use std::process::ExitCode;

/// Arguments of `mcast perf`.
#[derive(clap::Args, Debug)]
#[command(after_help = "\
Examples (run the receiver first):
  mcast perf recv 239.1.2.3 5001 -i 127.0.0.1
  mcast perf send 239.1.2.3 5001 -i 127.0.0.1 --ttl 0 --rate 20000 --duration 5s
  mcast perf send 239.1.2.3 5001 -i lab0 --rate max --size 1400
  mcast perf send 239.1.2.3 5001 -i lab0 --rate 100Mbit --size 1200

The receiver ends by itself when every sender it heard has finished (their end-of-session
frames arrive), or at --timeout, or on Ctrl-C, SIGTERM or SIGHUP (with the summary, exit 0).")]
pub(crate) struct Opt {
    #[command(subcommand)]
    command: Command,
}

#[derive(clap::Subcommand, Debug)]
enum Command {
    /// Send numbered, stamped datagrams at a set rate and report what went out.
    Send(send::Opt),
    /// Receive and measure: rate, loss, host drops, duplicates, reordering, jitter, delay.
    Recv(recv::Opt),
}

/// Runs `mcast perf`.
pub(crate) fn run(opt: Opt) -> anyhow::Result<ExitCode> {
    match opt.command {
        Command::Send(o) => send::run(o),
        Command::Recv(o) => recv::run(o),
    }
}

/// Megabits per second for `bytes` in `secs` seconds.
pub(crate) fn mbit_s(bytes: u64, secs: f64) -> f64 {
    if secs > 0.0 {
        bytes as f64 * 8.0 / secs / 1e6
    } else {
        0.0
    }
}

/// Per second, for `n` in `secs` seconds.
pub(crate) fn per_s(n: u64, secs: f64) -> f64 {
    if secs > 0.0 {
        n as f64 / secs
    } else {
        0.0
    }
}
