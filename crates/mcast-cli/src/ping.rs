//! `mcast ping GROUP PORT`: round trips over multicast, between every instance that runs it.
//!
//! Each instance probes the group and answers the probes it hears, by multicast (the path
//! under test, both ways) and by unicast; running the same command on N hosts gives the N×N
//! picture. The probe logic is mcast-core's `ping::Pinger`, paced by the same session sender
//! as every stream; mcast-sync's `PingDriver` runs it against the sockets.
//!
//! # JSON records (`--json`)
//!
//! | `type`     | when | `data` fields |
//! |------------|------|---------------|
//! | `start`    | once joined | `group`, `port`, `interface`, `session`, `interval_ms`, `count`, `responder` |
//! | `answer`   | each answer, when the interval is 100 ms or more | `peer`, `seq` (a decimal string, see `output.rs`), `via` (`multicast`, `unicast`), `rtt_us`, `late`, `duplicate` |
//! | `interval` | each second, when the interval is shorter | `elapsed_s`, `peers` (object: peer → `received`, `rtt_p50_us`) |
//! | `link`     | the interface changed | `interface`, `index`, `state` (`down`, `up`, `gone`, `back`), `up`, `running`, `multicast`; `back` adds `previous_index`, `rejoined` or `error` (as `recv`'s, see `watch.rs`) |
//! | `end`      | last | `reason` (`count`, or how it was stopped: see `output.rs`), `exit_code`, `probes_sent`, `peers` (object: peer address → `sent`, `received`, `lost`, `duplicates`, `reordered`, `late`, `rtt_us` {`min`, `p50`, `p90`, `p99`, `max`} or `null`, `unicast` {`received`, `lost`, `rtt_us`}, `multicast_broken`) |

use std::collections::BTreeMap;
use std::process::ExitCode;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use mcast_core::auth::AuthStats;
use mcast_core::ping::{PathStats, PeerStats, PingConfig, PingEvent, Pinger, RttStats, Via};
use mcast_core::session::SessionId;
use mcast_sync::driver::{wall_ns, Clock as _, Drive, PingDriver};
use serde::Serialize;

use crate::errors::CliError;
use crate::ssmping::{self, SsmpingArgs, SsmpingOptions};
use crate::stop::{self, Stop};
use crate::{adapter, output, plan, watch};

/// Arguments of `mcast ping`.
#[derive(clap::Args, Debug)]
#[command(after_help = "\
Examples (run the same command on every host; each probes and answers the others):
  mcast ping 239.1.2.3 5000 -i 127.0.0.1 --ttl 0 -c 10        two of these on one host
  mcast ping 224.1.1.5 50001 -i 192.168.56.1 -c 1000 --interval 1ms --json
  mcast ping 224.1.1.5 50001 -i 192.168.56.5 --responder      answer only
  mcast ping 239.1.2.3 5000 -i lab0 --key-file group.key      authenticated probes and answers
  mcast ping --ssmping 192.0.2.1                  an ssmpingd: (192.0.2.1, 232.43.211.234)
  mcast ping --ssmping 192.0.2.1 239.1.2.234      ASM through an ssmpingd, like asmping

Each probe is answered twice: by multicast to the group and by unicast to the prober. When
unicast answers arrive and multicast ones do not, the multicast path is broken (IGMP snooping
without a querier, a firewall, a TTL too small): the summary says so.

Exit status: 0 every peer answered, 1 no answer at all (or a socket error), 2 usage error.")]
pub(crate) struct Opt {
    /// The multicast group (224.0.0.0/4 or ff00::/8); an IPv6 link-local group may carry its
    /// interface, ff02::1%eth0.
    #[arg(value_name = "GROUP")]
    group: Option<String>,

    /// The UDP port (1-65535); or give GROUP:PORT (239.1.2.3:5000, [ff02::1%eth0]:5000).
    #[arg(value_name = "PORT", allow_negative_numbers = true)]
    port: Option<String>,

    #[command(flatten)]
    ssmping: SsmpingArgs,

    /// The interface: an IPv4 address, a name, an index, or 0.0.0.0.
    #[arg(short = 'i', long = "iface", value_name = "IFACE")]
    iface: Option<String>,

    /// Send this many probes, then wait --timeout for the last answers (default: until
    /// Ctrl-C).
    #[arg(short = 'c', long, value_name = "N", value_parser = plan::parse_count,
          allow_negative_numbers = true)]
    count: Option<u64>,

    /// One probe per interval (e.g. 1s, 10ms, 1ms).
    #[arg(long, value_name = "D", default_value = "1s",
          value_parser = |s: &str| plan::parse_positive("--interval", s))]
    interval: Duration,

    /// The UDP payload of a probe in bytes, the 28-byte frame header included (and the
    /// 16-byte tag with --key-file).
    #[arg(long, value_name = "B", default_value_t = 64, value_parser = plan::parse_frame_size)]
    size: usize,

    /// Time to live (hop limit): 1 stays on the local network, 0 on this host.
    #[arg(long, value_name = "N", default_value_t = 1, value_parser = plan::parse_ttl,
          allow_negative_numbers = true)]
    ttl: u8,

    /// An answer later than this counts its probe as lost (and is shown as late).
    #[arg(long, value_name = "D", default_value = "1s", value_parser = plan::parse_timeout)]
    timeout: Duration,

    /// Only answer; send no probe. Runs until stopped (Ctrl-C, SIGTERM): -c counts probes, so
    /// it does not go with --responder, nor does --ssmping (an ssmpingd answers, not us).
    #[arg(long, conflicts_with_all = ["count", "ssmping"])]
    responder: bool,

    /// Spin instead of sleeping between datagrams: answers leave sooner, at the cost of a
    /// core kept busy. Worth it on the answering side (--responder); a prober gains little,
    /// since its round trips already end at the kernel's receive timestamp, and two spinning
    /// processes on a two-core machine leave the kernel no core for its own work.
    #[arg(long)]
    busy_poll: bool,

    /// Print JSON Lines (start, answer or interval, end).
    #[arg(long)]
    json: bool,

    #[command(flatten)]
    key: crate::key::KeyArg,
}

#[derive(Serialize)]
struct StartRecord<'a> {
    group: String,
    port: u16,
    interface: &'a str,
    session: SessionId,
    interval_ms: f64,
    count: Option<u64>,
    responder: bool,
}

#[derive(Serialize)]
struct AnswerRecord {
    peer: String,
    #[serde(serialize_with = "mcast_core::json::u64_exact")]
    seq: u64,
    via: Via,
    rtt_us: f64,
    late: bool,
    duplicate: bool,
}

#[derive(Serialize)]
struct IntervalPeer {
    received: u64,
    rtt_p50_us: Option<f64>,
}

#[derive(Serialize)]
struct IntervalRecord {
    elapsed_s: f64,
    peers: BTreeMap<String, IntervalPeer>,
}

#[derive(Serialize, Clone, Copy)]
struct RttUs {
    min: f64,
    p50: f64,
    p90: f64,
    p99: f64,
    max: f64,
}

impl From<RttStats> for RttUs {
    fn from(r: RttStats) -> Self {
        let us = |ns: u64| output::round3(ns as f64 / 1e3);
        Self {
            min: us(r.min_ns),
            p50: us(r.p50_ns),
            p90: us(r.p90_ns),
            p99: us(r.p99_ns),
            max: us(r.max_ns),
        }
    }
}

#[derive(Serialize)]
struct UnicastRecord {
    received: u64,
    lost: u64,
    rtt_us: Option<RttUs>,
}

#[derive(Serialize)]
struct PeerRecord {
    sent: u64,
    received: u64,
    lost: u64,
    duplicates: u64,
    reordered: u64,
    late: u64,
    rtt_us: Option<RttUs>,
    unicast: UnicastRecord,
    multicast_broken: bool,
}

impl From<&PeerStats> for PeerRecord {
    fn from(p: &PeerStats) -> Self {
        let m: &PathStats = &p.multicast;
        Self {
            sent: p.sent,
            received: m.received,
            lost: m.lost,
            duplicates: m.duplicates,
            reordered: m.reordered,
            late: m.late,
            rtt_us: m.rtt.map(RttUs::from),
            unicast: UnicastRecord {
                received: p.unicast.received,
                lost: p.unicast.lost,
                rtt_us: p.unicast.rtt.map(RttUs::from),
            },
            multicast_broken: p.multicast_broken(),
        }
    }
}

#[derive(Serialize)]
struct EndRecord {
    reason: &'static str,
    exit_code: u8,
    probes_sent: u64,
    peers: BTreeMap<String, PeerRecord>,
    auth: Option<AuthStats>,
}

/// Below this interval, answers are summed up once a second instead of printed one by one.
const PER_ANSWER: Duration = Duration::from_millis(100);

/// Runs `mcast ping`.
pub(crate) fn run(opt: Opt) -> anyhow::Result<ExitCode> {
    let key = opt.key.load()?;
    if let Some((server, group)) = opt.ssmping.target() {
        if key.is_some() {
            return Err(CliError::usage(
                "--key-file does not apply to --ssmping: ssmpingd speaks its own protocol",
            )
            .hint("leave out --key-file, or ping a group of mcast instances")
            .into());
        }
        let opts = SsmpingOptions {
            iface: opt.iface.clone(),
            count: opt.count,
            interval: opt.interval,
            // ssmping's run ends after its last query's replies; --timeout is the mesh's
            // answer timeout and does not bound it.
            timeout: None,
            json: opt.json,
        };
        return ssmping::run(server, group, &opt.ssmping, &opts);
    }
    let Some(group_arg) = opt.group.as_deref() else {
        return Err(
            CliError::usage("mcast ping needs GROUP PORT, or --ssmping SERVER [GROUP]")
                .hint("try 'mcast ping --help'")
                .into(),
        );
    };
    let (group_text, port) = plan::endpoint(group_arg, opt.port.as_deref(), "ping")?;
    let (send_plan, _) = plan::send(group_text, port, opt.iface.as_deref(), opt.ttl, false)?;
    let recv_plan = plan::recv(group_text, port, opt.iface.as_deref(), &[])?;
    let link = watch::start(&recv_plan.iface, false);
    let interrupted = stop::install();
    let (sender, receiver) = adapter::ping_sockets(&send_plan, &recv_plan)?;
    let session = SessionId((wall_ns() as u32) ^ std::process::id().rotate_left(16));
    let group = sender.destination();
    let start = Instant::now();
    let pinger = Pinger::new(
        PingConfig {
            interval: opt.interval,
            count: opt.count,
            timeout: opt.timeout,
            size: opt.size,
            probe: !opt.responder,
            key,
            ..PingConfig::new(group, session)
        },
        start,
    );
    let mut driver = PingDriver::new(pinger, sender, receiver);
    driver.set_busy_poll(opt.busy_poll);
    watch::follow_ping(&mut driver, link, opt.json);
    output::note(&format!(
        "listening on {}:{} (interface {}){}",
        output::host(send_plan.group.addr()),
        port,
        recv_plan.iface_label,
        if opt.responder {
            ", answering only"
        } else {
            ""
        }
    ));
    if opt.json {
        output::emit_json(
            "start",
            &StartRecord {
                group: send_plan.group.to_string(),
                port,
                interface: &recv_plan.iface_label,
                session,
                interval_ms: opt.interval.as_secs_f64() * 1e3,
                count: opt.count,
                responder: opt.responder,
            },
        )?;
    }
    let per_answer = opt.interval >= PER_ANSWER;
    let stop = || interrupted.load(Ordering::SeqCst);
    let mut failure: Option<std::io::Error> = None;
    let mut tick = 1_u64;
    let reason = loop {
        let next = start + Duration::from_secs(tick);
        let drive = driver.run(Some(next), stop, |e| {
            if failure.is_none() && per_answer {
                if let Err(e) = show_answer(&opt, &e) {
                    failure = Some(e);
                }
            }
        })?;
        if let Some(e) = failure.take() {
            return Err(e.into());
        }
        let now = driver.clock().now();
        if now >= next {
            tick = (now - start).as_secs() + 1;
            if !per_answer && !opt.responder {
                show_interval(&opt, &driver.pinger().stats(now), now - start)?;
            }
        }
        match drive {
            Drive::Finished => break Stop::Count,
            Drive::Stopped => break stop::requested_reason(),
            _ => {}
        }
    };
    let now = driver.clock().now();
    // After Ctrl-C the probes still out are not counted: only those whose time is up are.
    let stats = driver.pinger().stats(now);
    let answered = stats
        .peers
        .iter()
        .any(|p| p.multicast.received + p.unicast.received > 0);
    let failed = !opt.responder && stats.probes_settled > 0 && !answered;
    // The end record and the summary reach stdout if it still takes output, else stderr.
    if opt.json {
        output::final_json(
            "end",
            &EndRecord {
                reason: reason.as_str(),
                exit_code: u8::from(failed),
                probes_sent: stats.probes_sent,
                peers: stats
                    .peers
                    .iter()
                    .map(|p| (p.peer.to_string(), PeerRecord::from(p)))
                    .collect(),
                auth: stats.auth,
            },
        )?;
    } else {
        summary(&stats.peers, stats.probes_sent, opt.responder, reason)?;
        if let Some(auth) = &stats.auth {
            output::line(&crate::recv::auth_line(auth))?;
        }
    }
    if failed {
        return Err(CliError::runtime(no_answer(
            stats.probes_sent,
            stats.probes_settled,
            opt.timeout,
        ))
        .hint(match stats.auth.map(|a| a.dropped()) {
            Some(n) if n > 0 => format!(
                "{} failed authentication: check that every instance uses the same key (--key-file)",
                output::count(n, "datagram")
            ),
            _ => "run `mcast ping` with the same group and port on another host (or --responder), on an interface that reaches it (-i), with a TTL that crosses every router".to_owned(),
        })
        .into());
    }
    Ok(ExitCode::SUCCESS)
}

/// The error when no probe was answered: the probes sent, as the summary counts them, and how
/// many of them were still within `timeout` when the run stopped (they were not waited for).
fn no_answer(sent: u64, settled: u64, timeout: Duration) -> String {
    let mut text = format!("no answer to {}", output::count(sent, "probe"));
    if sent > settled {
        text.push_str(&format!(
            " ({} sent less than --timeout {} before the stop)",
            sent - settled,
            humantime::format_duration(timeout)
        ));
    }
    text
}

fn show_answer(opt: &Opt, e: &PingEvent) -> std::io::Result<()> {
    match e {
        PingEvent::NewPeer { peer } if !opt.json => output::note(&format!("new peer {peer}")),
        PingEvent::Answer {
            peer,
            seq,
            via,
            rtt,
            late,
            duplicate,
        } => {
            let rtt_us = rtt.as_nanos() as f64 / 1e3;
            if opt.json {
                return output::emit_json(
                    "answer",
                    &AnswerRecord {
                        peer: peer.to_string(),
                        seq: seq.0,
                        via: *via,
                        rtt_us: output::round3(rtt_us),
                        late: *late,
                        duplicate: *duplicate,
                    },
                );
            }
            let via = match via {
                Via::Multicast => "multicast",
                Via::Unicast => "unicast  ",
            };
            let mark = match (late, duplicate) {
                (true, _) => " (late)",
                (_, true) => " (DUP!)",
                _ => "",
            };
            return output::line(&format!(
                "{peer}: {via} seq={} time={:.3} ms{mark}",
                seq.0,
                rtt_us / 1e3
            ));
        }
        _ => {}
    }
    Ok(())
}

fn show_interval(
    opt: &Opt,
    stats: &mcast_core::ping::PingStats,
    elapsed: Duration,
) -> std::io::Result<()> {
    let peers: BTreeMap<String, IntervalPeer> = stats
        .peers
        .iter()
        .map(|p| {
            (
                p.peer.to_string(),
                IntervalPeer {
                    received: p.multicast.received,
                    rtt_p50_us: p.multicast.rtt.map(|r| RttUs::from(r).p50),
                },
            )
        })
        .collect();
    if opt.json {
        return output::emit_json(
            "interval",
            &IntervalRecord {
                elapsed_s: output::round3(elapsed.as_secs_f64()),
                peers,
            },
        );
    }
    let parts: Vec<String> = peers
        .iter()
        .map(|(peer, p)| {
            format!(
                "{peer} {} answered, p50 {}",
                p.received,
                p.rtt_p50_us
                    .map_or_else(|| "-".into(), |us| format!("{:.3} ms", us / 1e3))
            )
        })
        .collect();
    output::line(&format!(
        "[{:5.1} s] {} probes: {}",
        elapsed.as_secs_f64(),
        stats.probes_sent,
        if parts.is_empty() {
            "no peer yet".into()
        } else {
            parts.join("; ")
        }
    ))
}

/// The final table: one line per peer and path, and the diagnosis.
fn summary(peers: &[PeerStats], probes: u64, responder: bool, reason: Stop) -> std::io::Result<()> {
    if responder {
        return Ok(());
    }
    output::final_line(&format!("--- {probes} probes{} ---", reason.suffix()))?;
    if peers.is_empty() {
        return output::final_line("no peer answered");
    }
    output::final_line(&format!(
        "{:<16} {:<9} {:>7} {:>8} {:>6} {:>5} {:>6} {:>5}  rtt ms min/p50/p90/p99/max",
        "peer", "path", "sent", "received", "lost", "dup", "reord", "late"
    ))?;
    let ms = |ns: u64| ns as f64 / 1e6;
    for p in peers {
        for (name, path) in [("multicast", &p.multicast), ("unicast", &p.unicast)] {
            let rtt = path.rtt.map_or_else(
                || "-".into(),
                |r| {
                    format!(
                        "{:.3}/{:.3}/{:.3}/{:.3}/{:.3}",
                        ms(r.min_ns),
                        ms(r.p50_ns),
                        ms(r.p90_ns),
                        ms(r.p99_ns),
                        ms(r.max_ns)
                    )
                },
            );
            output::final_line(&format!(
                "{:<16} {:<9} {:>7} {:>8} {:>6} {:>5} {:>6} {:>5}  {rtt}",
                p.peer.to_string(),
                name,
                p.sent,
                path.received,
                path.lost,
                path.duplicates,
                path.reordered,
                path.late
            ))?;
        }
        if p.multicast_broken() {
            output::final_line(&format!(
                "  {}: unicast answers arrive but multicast ones do not: the multicast path back from it is broken (IGMP snooping without a querier, a firewall, or a TTL too small)",
                p.peer
            ))?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    // Review fix — the error counts the probes the summary counts, and says which of them were
    // not waited for.
    #[test]
    fn no_answer_counts_the_probes_the_summary_counts() {
        let t = Duration::from_secs(1);
        assert_eq!(no_answer(5, 5, t), "no answer to 5 probes");
        assert_eq!(no_answer(1, 1, t), "no answer to 1 probe");
        assert_eq!(
            no_answer(41, 21, t),
            "no answer to 41 probes (20 sent less than --timeout 1s before the stop)"
        );
    }
}
