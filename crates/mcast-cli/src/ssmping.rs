//! `mcast ping --ssmping SERVER [GROUP]`: talk the ssmping protocol to an `ssmpingd` already
//! deployed (Debian's `ssmping` package), IPv4 or IPv6, SSM or ASM.
//!
//! The client sends a unicast query to SERVER's UDP port 4321 every `--interval`; the server
//! answers each one twice, unicast and to the group (from its own address, to our port). The
//! adapter ([`crate::adapter::SsmpingSockets`]) opens the unicast socket (connected to the
//! server, bound to the interface's address) and a receiver joined on that socket's port: to
//! (SERVER, GROUP) when GROUP is in the SSM range (232.0.0.0/8, ff3x::/32; the default
//! 232.43.211.234 or ff3e::4321:1234, as `ssmping`), else to (*, GROUP) (any-source, as
//! `asmping`). Without `-i` it joins on the interface the route to the server uses.
//! mcast-sync's [`PingDriver`] runs mcast-core's [`Pinger`] against both: queries on a
//! drift-free schedule, replies matched per sequence number and path, round trip times in HDR
//! histograms.
//!
//! `ssmpingd` answers only groups whose last byte is 234 (IPv4) or whose last four bytes are
//! `43 21 12 34` (IPv6); like `asmping`, the client forces GROUP into that shape, with a note.
//!
//! # Output
//!
//! Text, as `ssmping` prints it: one line per reply on stdout
//! (`  unicast from 10.0.0.1, seq=1 dist=0 time=0.308 ms`, `multicast from ...`; `dist` is how
//! many routers the reply crossed, from its TTL: the server sends with 64), then a summary per
//! path: sent, received, lost, round trip min/p50/p90/p99/max. What the client joined and
//! where it sends from goes to stderr first.
//!
//! # JSON records (`--json`)
//!
//! | `type`  | when | `data` fields |
//! |---------|------|---------------|
//! | `start` | once, after the join | `server`, `port`, `group`, `mode` (`ssm`, `asm`), `source` (our `ip:port`), `interface`, `count` (`null`: until stopped), `interval_ms` |
//! | `reply` | each reply | `server`, `path` (`unicast`, `multicast`), `source` (`ip:port`), `group` (multicast: the group it was sent to; unicast: `null`), `seq`, `rtt_us`, `hop_limit` and `dist` (`null` if unknown), `len`, `duplicate` |
//! | `end`   | last line | `reason` (`count`, `timeout`, or how it was stopped: see `output.rs`), `exit_code`, `elapsed_ms`, `server_version` (`null` unless `--server-version` got one), `peers`: `{SERVER: {"unicast": PATH, "multicast": PATH}}` with PATH = `sent`, `received`, `lost`, `duplicates`, `first_seq` (the first query answered on that path: for multicast, roughly when the tree reached us), `rtt_us` (`min`, `p50`, `p90`, `p99`, `max`, or `null` without replies) |
//!
//! # Ending and exit status
//!
//! It ends after `-c COUNT` queries once every reply is in or a linger (the interval, at
//! least 1 s) has passed since the last query, at `--timeout` (the whole run's limit), or on
//! Ctrl-C, SIGTERM or SIGHUP (or a closed stdout: the summary then goes to stderr); without `-c` it runs until one of the latter, as `ssmping` does. The exit status is
//! 0 when at least one multicast reply arrived, 1 otherwise (with an error naming what was
//! missing: every reply, or only the multicast ones), 2 for a usage error.

use std::collections::BTreeMap;
use std::io;
use std::net::{IpAddr, SocketAddr, ToSocketAddrs as _};
use std::ops::ControlFlow;
use std::process::ExitCode;
use std::sync::atomic::Ordering;
use std::time::Duration;

use mcast_core::addr::Group;
use mcast_core::iface::IfaceSpec;
use mcast_core::ssmping::{self, Path, PathStats, Pinger, PingerConfig, Reply};
use mcast_core::RecvMeta;
use mcast_sync::driver::{Clock as _, Drive, SystemClock};
use mcast_sync::ssmping::{PingDriver, PingEvent};
use serde::Serialize;

use crate::adapter::SsmpingSockets;
use crate::errors::CliError;
use crate::output;
use crate::plan;
use crate::stop::{self, Stop};

/// The ssmping options of `mcast ping`: the server, the group, and what `ssmping -v` / `-s`
/// ask the server for. `mcast ping` flattens them into its own options.
#[derive(clap::Args, Debug, Clone, Default)]
pub(crate) struct SsmpingArgs {
    /// Ping an ssmpingd server (the ssmping protocol, UDP port 4321): time its unicast and
    /// multicast replies. Without GROUP, the SSM channel (SERVER, 232.43.211.234) or
    /// (SERVER, ff3e::4321:1234), as ssmping does; with GROUP, that group: source-specific from
    /// SERVER in 232.0.0.0/8 or ff3x::/32, else any-source, as asmping does.
    #[arg(long = "ssmping", value_names = ["SERVER", "GROUP"], num_args = 1..=2)]
    pub(crate) ssmping: Option<Vec<String>>,

    /// Ask the server for its version (ssmping -v).
    #[arg(long = "server-version", requires = "ssmping")]
    pub(crate) server_version: bool,

    /// Ask the server for replies of BYTES bytes, padded (ssmping -s).
    #[arg(long = "reply-size", value_name = "BYTES", value_parser = parse_reply_size,
          requires = "ssmping")]
    pub(crate) reply_size: Option<u16>,

    /// The server's UDP port.
    #[arg(id = "ssmping_port", long = "ssmping-port", value_name = "PORT", default_value_t = ssmping::PORT,
          value_parser = plan::parse_port, requires = "ssmping")]
    pub(crate) port: u16,
}

impl SsmpingArgs {
    /// SERVER and GROUP as typed, when `--ssmping` was given.
    pub(crate) fn target(&self) -> Option<(&str, Option<&str>)> {
        let values = self.ssmping.as_deref()?;
        let server = values.first()?;
        Some((server, values.get(1).map(String::as_str)))
    }
}

/// The options `mcast ping` shares with its other modes.
#[derive(Debug, Clone)]
pub(crate) struct SsmpingOptions {
    /// `-i IFACE`: the interface to send from and join on (by default the one the route to the
    /// server uses).
    pub(crate) iface: Option<String>,
    /// `-c COUNT`: how many queries; `None` until `--timeout` or Ctrl-C.
    pub(crate) count: Option<u64>,
    /// `--interval D`: the time between queries (longer than 0).
    pub(crate) interval: Duration,
    /// `--timeout D`: the whole run's limit.
    pub(crate) timeout: Option<Duration>,
    /// `--json`: JSON Lines instead of text.
    pub(crate) json: bool,
}

/// Parses `--reply-size` for clap: the size of a reply, 1-65535 bytes (the server pads a reply
/// up to it, and sends a longer one as it is).
fn parse_reply_size(s: &str) -> Result<u16, String> {
    match s.trim().parse::<u16>() {
        Ok(n) if n > 0 => Ok(n),
        _ => Err(format!(
            "--reply-size '{}' is not a size: write a number of bytes, 1-65535",
            s.escape_debug()
        )),
    }
}

/// What the client will do, validated.
#[derive(Debug, Clone)]
struct Plan {
    server: SocketAddr,
    group: Group,
    /// Source-specific: join (server, group); else (*, group).
    ssm: bool,
    iface: IfaceSpec,
    notes: Vec<String>,
}

/// Validates SERVER, GROUP and the interface, before any socket is opened.
fn plan(
    server: &str,
    group: Option<&str>,
    args: &SsmpingArgs,
    opts: &SsmpingOptions,
) -> Result<Plan, CliError> {
    let mut notes = Vec::new();
    let typed_group = match group {
        Some(g) => Some(g.trim().parse::<Group>().map_err(|e| {
            CliError::usage(format!("--ssmping GROUP: {e}"))
                .hint("GROUP is the multicast group the server answers on; leave it out for the SSM default")
        })?),
        None => None,
    };
    let server = resolve_server(server, args.port, typed_group.map(|g| g.is_ipv6()))?;
    let group = match typed_group {
        None => ssmping::default_group(server.is_ipv6()),
        Some(g) if g.is_ipv6() != server.is_ipv6() => {
            return Err(CliError::usage(format!(
                "--ssmping: server {} and group {g} are of different address families",
                server.ip()
            )))
        }
        Some(g) if ssmping::server_accepts(g.addr()) => g,
        Some(g) => {
            let forced = Group::new(ssmping::asm_group(g.addr()))
                .map_err(|e| CliError::usage(format!("--ssmping GROUP {g}: {e}")))?;
            notes.push(format!(
                "note: ssmpingd answers only groups ending in {}: using {forced} for {g}, as asmping does",
                if g.is_ipv4() { ".234" } else { "::4321:1234" }
            ));
            forced
        }
    };
    let iface = plan::parse_iface_spec(opts.iface.as_deref())?;
    if let IfaceSpec::Addr(a) = &iface {
        if a.is_ipv4() != server.is_ipv4() {
            return Err(CliError::usage(format!(
                "interface address {a} and server {} are of different address families; name an IPv6 interface by its name or index",
                server.ip()
            )));
        }
    }
    if !iface.is_any() {
        plan::lookup_iface(&iface)?;
    }
    if opts.interval.is_zero() {
        return Err(CliError::usage(
            "--interval 0 would send every query at once: give a duration like 1s or 10ms",
        ));
    }
    Ok(Plan {
        server,
        ssm: group.is_ssm(),
        group,
        iface,
        notes,
    })
}

/// SERVER as an address: an IP address, or a host name looked up (of `family` when GROUP
/// fixes it, else the first address found).
fn resolve_server(server: &str, port: u16, v6: Option<bool>) -> Result<SocketAddr, CliError> {
    let text = server.trim();
    let addr = match text.parse::<IpAddr>() {
        Ok(ip) => SocketAddr::new(ip, port),
        Err(_) => (text, port)
            .to_socket_addrs()
            .map_err(|e| {
                CliError::usage(format!(
                    "--ssmping SERVER {text:?} is neither an IP address nor a host name that resolves: {e}"
                ))
            })?
            .find(|a| v6.is_none_or(|v6| a.is_ipv6() == v6))
            .ok_or_else(|| {
                CliError::usage(format!(
                    "--ssmping SERVER {text:?} has no address of the group's family"
                ))
            })?,
    };
    let ip = addr.ip();
    if ip.is_multicast() || ip.is_unspecified() {
        return Err(CliError::usage(format!(
            "--ssmping SERVER {ip} is not a unicast address: SERVER is the host running ssmpingd"
        ))
        .hint("the group goes after it: --ssmping SERVER GROUP"));
    }
    Ok(addr)
}

/// The `start` record.
#[derive(Serialize)]
struct StartRecord {
    server: String,
    port: u16,
    group: String,
    mode: &'static str,
    source: String,
    interface: String,
    count: Option<u64>,
    interval_ms: f64,
}

/// A `reply` record.
#[derive(Serialize)]
struct ReplyRecord {
    server: String,
    path: &'static str,
    source: String,
    group: Option<String>,
    seq: u32,
    rtt_us: f64,
    hop_limit: Option<u8>,
    dist: Option<u8>,
    len: usize,
    duplicate: bool,
}

/// Round trip percentiles in microseconds.
#[derive(Serialize)]
struct RttUs {
    min: f64,
    p50: f64,
    p90: f64,
    p99: f64,
    max: f64,
}

/// One path's figures in the `end` record.
#[derive(Serialize)]
struct PathRecord {
    sent: u64,
    received: u64,
    lost: u64,
    duplicates: u64,
    first_seq: Option<u32>,
    rtt_us: Option<RttUs>,
}

/// One server's figures in the `end` record.
#[derive(Serialize)]
struct PeerRecord {
    unicast: PathRecord,
    multicast: PathRecord,
}

/// The `end` record.
#[derive(Serialize)]
struct EndRecord {
    reason: &'static str,
    exit_code: u8,
    elapsed_ms: u64,
    server_version: Option<String>,
    peers: BTreeMap<String, PeerRecord>,
}

fn us(d: Duration) -> f64 {
    d.as_nanos() as f64 / 1e3
}

fn ms(d: Duration) -> f64 {
    d.as_nanos() as f64 / 1e6
}

fn path_record(stats: &PathStats, sent: u64) -> PathRecord {
    PathRecord {
        sent,
        received: stats.received(),
        lost: stats.lost(sent),
        duplicates: stats.duplicates(),
        first_seq: stats.first_seq(),
        rtt_us: stats.rtt().map(|r| RttUs {
            min: us(r.min),
            p50: us(r.p50),
            p90: us(r.p90),
            p99: us(r.p99),
            max: us(r.max),
        }),
    }
}

/// How many notes about ignored datagrams are printed before the rest are left out.
const IGNORED_NOTES: u32 = 5;

/// What the event callback prints, and remembers between events.
struct Show {
    json: bool,
    server: IpAddr,
    version_shown: bool,
    refused: u64,
    ignored: u32,
}

impl Show {
    fn event(&mut self, event: PingEvent<'_>) -> io::Result<()> {
        match event {
            PingEvent::Reply { reply, meta } => self.reply(&reply, &meta),
            PingEvent::Ignored { path, meta, why } => {
                self.ignored += 1;
                if self.ignored <= IGNORED_NOTES {
                    output::note(&format!(
                        "note: ignored a {} datagram from {}: {why}{}",
                        path.as_str(),
                        meta.source,
                        if self.ignored == IGNORED_NOTES {
                            " (further ones are not shown)"
                        } else {
                            ""
                        }
                    ));
                }
                Ok(())
            }
            PingEvent::Refused => {
                self.refused += 1;
                if self.refused == 1 {
                    output::note(&format!(
                        "note: {} refused a query (ICMP port unreachable): is ssmpingd running there?",
                        self.server
                    ));
                }
                Ok(())
            }
            _ => Ok(()),
        }
    }

    fn reply(&mut self, reply: &Reply<'_>, meta: &RecvMeta) -> io::Result<()> {
        if self.json {
            return output::emit_json(
                "reply",
                &ReplyRecord {
                    server: self.server.to_string(),
                    path: reply.path.as_str(),
                    source: meta.source.to_string(),
                    group: match reply.path {
                        Path::Multicast => meta.destination.map(|g| g.to_string()),
                        Path::Unicast => None,
                    },
                    seq: reply.seq,
                    rtt_us: us(reply.rtt),
                    hop_limit: reply.hop_limit,
                    dist: reply.distance,
                    len: reply.len,
                    duplicate: reply.duplicate,
                },
            );
        }
        if let (false, Some(v)) = (self.version_shown, reply.version) {
            self.version_shown = true;
            output::line(&format!("server version: {v}"))?;
        }
        output::line(&reply_line(self.server, reply))
    }
}

/// A reply as `ssmping` prints it.
fn reply_line(server: IpAddr, reply: &Reply<'_>) -> String {
    let dist = reply
        .distance
        .map_or_else(|| "?".to_owned(), |d| d.to_string());
    format!(
        "{:>9} from {server}, seq={} dist={dist} time={:.3} ms{}",
        reply.path.as_str(),
        reply.seq,
        ms(reply.rtt),
        if reply.duplicate { " (DUP!)" } else { "" }
    )
}

/// One path's summary line.
fn path_line(path: Path, stats: &PathStats, sent: u64) -> String {
    let lost = stats.lost(sent);
    let percent = if sent > 0 {
        100.0 * lost as f64 / sent as f64
    } else {
        0.0
    };
    let mut line = format!(
        "{:>9}: {} received, {lost} lost ({percent:.0}%)",
        path.as_str(),
        stats.received()
    );
    if stats.duplicates() > 0 {
        line.push_str(&format!(", {} duplicates", stats.duplicates()));
    }
    if let Some(first) = stats.first_seq().filter(|&s| s > 1) {
        line.push_str(&format!(", first at seq {first}"));
    }
    if let Some(r) = stats.rtt() {
        line.push_str(&format!(
            ", rtt min/p50/p90/p99/max = {:.3}/{:.3}/{:.3}/{:.3}/{:.3} ms",
            ms(r.min),
            ms(r.p50),
            ms(r.p90),
            ms(r.p99),
            ms(r.max)
        ));
    }
    line
}

/// Runs the ssmping client: `mcast ping --ssmping SERVER [GROUP]` with the common options of
/// `mcast ping`.
pub(crate) fn run(
    server: &str,
    group: Option<&str>,
    args: &SsmpingArgs,
    opts: &SsmpingOptions,
) -> anyhow::Result<ExitCode> {
    let plan = plan(server, group, args, opts)?;
    for n in &plan.notes {
        output::note(n);
    }
    let interrupted = stop::install();
    let mut sockets = SsmpingSockets::open(plan.server, plan.group, plan.ssm, &plan.iface)?;
    let server_ip = plan.server.ip();
    let local = sockets.local_addr();
    let iface_label = sockets.iface_label();
    let channel = if plan.ssm {
        format!("(S,G) = ({server_ip}, {})", plan.group)
    } else {
        format!("(*,G) = (*, {})", plan.group)
    };
    output::note(&format!("joined {channel} on {iface_label}"));
    output::note(&format!(
        "pinging {} from {}",
        output_addr(plan.server),
        output_addr(local)
    ));
    if opts.json {
        output::emit_json(
            "start",
            &StartRecord {
                server: server_ip.to_string(),
                port: plan.server.port(),
                group: plan.group.to_string(),
                mode: if plan.ssm { "ssm" } else { "asm" },
                source: local.to_string(),
                interface: iface_label,
                count: opts.count,
                interval_ms: ms(opts.interval),
            },
        )?;
    }

    let clock = SystemClock;
    let start = clock.now();
    let mut cfg = PingerConfig::new(server_ip, plan.group, std::process::id());
    cfg.count = opts.count;
    cfg.interval = opts.interval;
    cfg.linger = opts.interval.max(Duration::from_secs(1));
    cfg.request_version = args.server_version;
    cfg.reply_size = args.reply_size;
    let mut driver = PingDriver::with_clock(Pinger::new(cfg, start), clock);
    let limit = opts.timeout.and_then(|t| start.checked_add(t));
    let mut show = Show {
        json: opts.json,
        server: server_ip,
        version_shown: false,
        refused: 0,
        ignored: 0,
    };
    let mut failure: Option<io::Error> = None;
    let (unicast, rx) = sockets.parts();
    let drive = driver.run(
        unicast,
        rx,
        limit,
        || interrupted.load(Ordering::SeqCst),
        |event| match show.event(event) {
            Ok(()) => ControlFlow::Continue(()),
            Err(e) => {
                failure = Some(e);
                ControlFlow::Break(())
            }
        },
    )?;
    if let Some(e) = failure {
        return Err(e.into());
    }
    let reason = match drive {
        Drive::Stopped => stop::requested_reason(),
        Drive::Limit => Stop::Timeout,
        _ => Stop::Count,
    };
    let elapsed = start.elapsed();

    let pinger = driver.session();
    let sent = pinger.sent();
    let unicast = pinger.stats(Path::Unicast);
    let multicast = pinger.stats(Path::Multicast);
    let failed = multicast.received() == 0;
    let code = u8::from(failed);
    if opts.json {
        let mut peers = BTreeMap::new();
        peers.insert(
            server_ip.to_string(),
            PeerRecord {
                unicast: path_record(unicast, sent),
                multicast: path_record(multicast, sent),
            },
        );
        // The end record and the summary reach stdout if it still takes output, else stderr.
        output::final_json(
            "end",
            &EndRecord {
                reason: reason.as_str(),
                exit_code: code,
                elapsed_ms: u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX),
                server_version: pinger.server_version().map(str::to_owned),
                peers,
            },
        )?;
    } else {
        output::final_line("")?;
        output::final_line(&format!("--- {server_ip} ssmping statistics ---"))?;
        output::final_line(&format!(
            "{} sent, time {:.0} ms{}",
            output::count(sent, "query"),
            ms(elapsed),
            reason.suffix()
        ))?;
        output::final_line(&path_line(Path::Unicast, unicast, sent))?;
        output::final_line(&path_line(Path::Multicast, multicast, sent))?;
    }
    if failed {
        let (msg, hint) = if unicast.received() == 0 {
            (
                format!(
                    "no reply from {server_ip}: {} unanswered",
                    output::count(sent, "query")
                ),
                format!(
                    "is ssmpingd running on {server_ip}, and does UDP port {} reach it?",
                    plan.server.port()
                ),
            )
        } else {
            (
                format!(
                    "no multicast reply from {server_ip} ({} unicast replies came)",
                    unicast.received()
                ),
                format!(
                    "the multicast replies did not reach this host: check that the routers between \
                     forward {channel} and that -i names the interface facing the server"
                ),
            )
        };
        return Err(CliError::runtime(msg).hint(hint).into());
    }
    Ok(ExitCode::SUCCESS)
}

/// An address and port as `ping` writes them: `10.0.0.1 port 4321`.
fn output_addr(addr: SocketAddr) -> String {
    format!("{} port {}", addr.ip(), addr.port())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts() -> SsmpingOptions {
        SsmpingOptions {
            iface: Some("127.0.0.1".into()),
            count: Some(1),
            interval: Duration::from_secs(1),
            timeout: None,
            json: false,
        }
    }

    fn args() -> SsmpingArgs {
        SsmpingArgs {
            port: ssmping::PORT,
            ..SsmpingArgs::default()
        }
    }

    #[test]
    fn the_default_group_is_the_ssm_channel_of_the_servers_family() {
        let p = plan("127.0.0.1", None, &args(), &opts()).unwrap();
        assert_eq!(p.group.to_string(), "232.43.211.234");
        assert!(p.ssm);
        assert_eq!(p.server, "127.0.0.1:4321".parse().unwrap());
        let v6 = SsmpingOptions {
            iface: None,
            ..opts()
        };
        let p = plan("::1", None, &args(), &v6).unwrap();
        assert_eq!(p.group.to_string(), "ff3e::4321:1234");
    }

    #[test]
    fn an_asm_group_is_forced_into_the_servers_shape_with_a_note() {
        let p = plan("127.0.0.1", Some("239.1.2.3"), &args(), &opts()).unwrap();
        assert_eq!(p.group.to_string(), "239.1.2.234");
        assert!(!p.ssm);
        assert!(p.notes[0].contains("using 239.1.2.234"), "{:?}", p.notes);
        let p = plan("127.0.0.1", Some("232.1.1.234"), &args(), &opts()).unwrap();
        assert!(p.ssm && p.notes.is_empty());
    }

    #[test]
    fn usage_errors_name_the_problem() {
        let err = |server, group, o: &SsmpingOptions| {
            plan(server, group, &args(), o).unwrap_err().to_string()
        };
        let e = err("239.1.1.1", None, &opts());
        assert!(e.contains("not a unicast address"), "{e}");
        let e = err("127.0.0.1", Some("ff3e::1"), &opts());
        assert!(e.contains("different address families"), "{e}");
        let e = err("127.0.0.1", Some("10.0.0.1"), &opts());
        assert!(e.contains("--ssmping GROUP"), "{e}");
        let zero = SsmpingOptions {
            interval: Duration::ZERO,
            ..opts()
        };
        assert!(err("127.0.0.1", None, &zero).contains("--interval 0"));
        let missing = SsmpingOptions {
            iface: Some("nosuch-ssm0".into()),
            ..opts()
        };
        assert!(err("127.0.0.1", None, &missing).contains("nosuch-ssm0"));
    }

    #[test]
    fn reply_sizes_are_1_to_65535() {
        assert_eq!(parse_reply_size("100"), Ok(100));
        assert!(parse_reply_size("0").is_err());
        assert!(parse_reply_size("70000").is_err());
    }
}
