//! `mcast sniff`: show the multicast traffic on an interface, one scapy-style line per packet.
//!
//! mcast-sync's [`Capture`] opens an `AF_PACKET` socket on the interface and filters in user
//! space; mcast-core's `packet` module turns each frame into the line
//! (`Ether / IP / UDP 192.168.56.3:52582 > 224.1.1.5:50001 / Raw`, IGMP and MLD in words), the
//! hexdump and the pcap records. This module only wires them together.
//!
//! # Filters
//!
//! - `--port N`: UDP with N as source or destination port. IGMP and MLD carry no port, so
//!   `--port` hides them.
//! - `--group G`: packets to G, plus every IGMP/MLD message (joins and leaves stay visible).
//! - both: UDP to G with N on either side.
//!
//! # Ending
//!
//! After `-c COUNT` packets (exit 0); when `--timeout` passes (exit 0 if at least one packet was
//! seen, else 1 with a hint); on Ctrl-C, SIGTERM, SIGHUP or a closed stdout (exit 0). A summary
//! goes to stderr unless `-q`.
//! With `-w FILE` every packet is flushed to the pcap file as it arrives, so the file is
//! readable however the capture ends.
//!
//! # JSON (`--json`)
//!
//! One `{"type": "packet", "data": {...}}` line per packet, then one `end` line:
//!
//! ```json
//! {"type":"packet","data":{"time_ns":"1764038400123456789","interface":"lab0","direction":"in","len":56,"orig_len":56,"summary":"Ether / IP / UDP 192.168.56.3:52582 > 224.1.1.5:50001 / Raw","decoded":{...},"hexdump":null}}
//! {"type":"end","data":{"reason":"count","packets":1,"exit_code":0}}
//! ```
//!
//! `summary` is the text line; `decoded` is mcast-core's decoded view of the packet (`null` when
//! it could not be decoded); `hexdump` is the scapy-style dump with `--hexdump`, else `null`;
//! `direction` is `in`, `out`, `multicast`, `broadcast` or `other` as the kernel reports it.
//! `end.reason` is `count`, `timeout`, or how it was stopped (`interrupted`, `terminated`,
//! `hangup`, `stdout_closed`, `stdout_failed`: see `output.rs`).

use std::fs::File;
use std::io::BufWriter;
use std::net::IpAddr;
use std::ops::ControlFlow;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant, SystemTime};

use mcast_core::addr::Group;
use mcast_core::packet::{self, pcap::PcapWriter};
use mcast_sync::capture::{Capture, CaptureError, CapturedFrame, Direction, Filter};
use mcast_sync::ifaces::{self, Interface};
use serde::Serialize;

use crate::errors::CliError;
use crate::output;
use crate::plan;
use crate::stop::{self, Stop, Until};

/// How long one wait for a packet lasts at most, so Ctrl-C and the deadline are noticed.
const TICK: Duration = Duration::from_millis(100);

/// The buffer for one frame: holds any frame, also GSO/GRO super-frames on veth.
const MAX_FRAME: usize = 65_536;

/// Snap length written in the pcap header.
const SNAPLEN: u32 = 65_535;

/// Arguments of `mcast sniff`.
#[derive(clap::Args, Debug)]
#[command(after_help = "\
Examples:
  mcast sniff -i lab0                              everything on lab0, one line per packet
  mcast sniff -i lab0 --port 50001 -c 1            the next datagram to or from port 50001
  mcast sniff -i lab0 --group 224.1.1.5 --hexdump  traffic to a group (and IGMP/MLD), with bytes
  mcast sniff -i lab0 -w cap.pcap --timeout 10s    save 10 seconds for tcpdump -r / Wireshark

Without -i the first interface that is up, running, multicast-capable and not loopback is
used, and named on stderr. --port shows UDP only (IGMP/MLD carry no port); --group also shows
IGMP/MLD messages. Needs root or CAP_NET_RAW.
Exit status: 0 after COUNT packets, on Ctrl-C, or at --timeout with at least one packet seen;
1 when --timeout passes with none (or capture fails); 2 usage error.")]
#[command(mut_arg("count", |a| a.help("Stop after COUNT packets")))]
#[command(mut_arg("timeout", |a| a.help(
    "Stop after this long (e.g. 5s): exit 0 if any packet was seen, else 1",
)))]
pub(crate) struct Opt {
    /// The interface to capture on: a name, an index or one of its addresses.
    #[arg(short = 'i', long = "iface", value_name = "IFACE")]
    iface: Option<String>,

    /// Only UDP with this source or destination port (hides IGMP/MLD).
    #[arg(long, value_name = "N", value_parser = plan::parse_port, allow_negative_numbers = true)]
    port: Option<u16>,

    /// Only packets to this group (IGMP/MLD messages are still shown).
    #[arg(long, value_name = "G")]
    group: Option<String>,

    #[command(flatten)]
    limits: crate::args::Limits,

    /// Print a hexdump of each packet after its line.
    #[arg(long)]
    hexdump: bool,

    /// Also write the packets to this pcap file (flushed after each packet).
    #[arg(short = 'w', long = "write", value_name = "FILE.pcap")]
    write: Option<PathBuf>,

    /// Print JSON lines ({"type": "packet", ...}) instead of text.
    #[arg(long)]
    json: bool,

    /// No "listening on" line and no summary on stderr.
    #[arg(short = 'q', long)]
    quiet: bool,
}

/// One packet as printed with `--json`.
#[derive(Debug, Serialize)]
struct PacketRecord<'a> {
    #[serde(serialize_with = "mcast_core::json::u64_exact")]
    time_ns: u64,
    interface: &'a str,
    direction: &'static str,
    len: usize,
    orig_len: usize,
    summary: String,
    decoded: Option<packet::PacketSummary>,
    hexdump: Option<String>,
}

/// The last JSON line.
#[derive(Debug, Serialize)]
struct EndRecord {
    reason: &'static str,
    packets: u64,
    exit_code: u8,
}

/// Whether a run that ended this way after `packets` packets failed (exit 1).
fn failed(end: Stop, packets: u64) -> bool {
    end == Stop::Timeout && packets == 0
}

/// Parses `--group` through mcast-core's checked type.
fn parse_group(text: &str) -> Result<Group, CliError> {
    text.parse::<Group>()
        .map_err(|e| CliError::usage(format!("--group {text}: {e}")))
}

/// Finds the interface: the one named with `-i` (looked up as every subcommand does,
/// [`plan::lookup_iface`]), or the default one.
fn pick_iface(text: Option<&str>) -> Result<(Interface, bool), CliError> {
    let spec = plan::parse_iface_spec(text)?;
    if spec.is_any() {
        return ifaces::default_multicast().map(|i| (i, true)).map_err(|e| {
            CliError::usage(e).hint("name one with -i IFACE; `mcast ifaces` lists them")
        });
    }
    plan::lookup_iface(&spec).map(|i| (i, false))
}

/// The filter in words, for the "listening on" line.
fn describe_filter(f: &Filter) -> String {
    match (f.port, f.group) {
        (None, None) => "no filter".into(),
        (Some(p), None) => format!("udp port {p}"),
        (None, Some(g)) => format!("dst {g} or igmp/mld"),
        (Some(p), Some(g)) => format!("udp port {p} and dst {g}"),
    }
}

/// The interface in words: `lab0 (index 3, 192.168.56.3)`.
fn describe_iface(i: &Interface) -> String {
    match i.ipv4().map(IpAddr::V4).or(i.ipv6().map(IpAddr::V6)) {
        Some(a) => format!("{} (index {}, {a}", i.name, i.index),
        None => format!("{} (index {}", i.name, i.index),
    }
}

fn direction_word(d: Direction) -> &'static str {
    match d {
        Direction::Host => "in",
        Direction::Outgoing => "out",
        Direction::Multicast => "multicast",
        Direction::Broadcast => "broadcast",
        _ => "other",
    }
}

/// The link type of the frames, as mcast-core's decoder and pcap name it.
fn link_type(ethernet: bool) -> packet::LinkType {
    if ethernet {
        packet::LinkType::Ethernet
    } else {
        packet::LinkType::RawIp
    }
}

/// The text line and the decoded view of one frame. A frame the decoder rejects still gets a
/// line, naming its length and what was wrong.
fn summarize(bytes: &[u8], ethernet: bool) -> (String, Option<packet::PacketSummary>) {
    match packet::summarize(bytes, link_type(ethernet)) {
        Ok(s) => (s.to_string(), Some(s)),
        Err(e) => (format!("{} bytes, not decoded: {e}", bytes.len()), None),
    }
}

fn since_epoch(t: SystemTime) -> Duration {
    t.duration_since(SystemTime::UNIX_EPOCH).unwrap_or_default()
}

/// Maps capture errors to CLI errors with the adapter's hint.
fn capture_error(e: CaptureError) -> anyhow::Error {
    let msg = crate::errors::chain_text(&e);
    match e.hint() {
        Some(h) => CliError::runtime(msg).hint(h).into(),
        None => anyhow::Error::new(e),
    }
}

/// Runs `mcast sniff`.
pub(crate) fn run(opt: Opt) -> anyhow::Result<ExitCode> {
    let group = opt.group.as_deref().map(parse_group).transpose()?;
    let filter = Filter {
        port: opt.port,
        group,
    };
    let (iface, defaulted) = pick_iface(opt.iface.as_deref())?;
    if defaulted && !opt.quiet {
        output::note(&format!(
            "no -i given: sniffing on {}, the first interface that is up and multicast-capable",
            iface.name
        ));
    }
    let interrupted = stop::install();
    let mut cap = Capture::open_iface(iface).map_err(capture_error)?;
    cap.set_filter(filter);
    cap.set_timeout(TICK).map_err(capture_error)?;
    let ethernet = cap.is_ethernet();
    let mut pcap = match &opt.write {
        None => None,
        Some(path) => {
            let file = File::create(path)
                .map_err(|e| CliError::runtime(format!("cannot create {}: {e}", path.display())))?;
            let w = PcapWriter::new(
                BufWriter::new(file),
                SNAPLEN,
                link_type(ethernet).pcap_linktype(),
            )
            .and_then(|mut w| w.flush().map(|()| w))
            .map_err(|e| CliError::runtime(format!("cannot write {}: {e}", path.display())))?;
            Some(w)
        }
    };
    let name = cap.interface().name.clone();
    if !opt.quiet {
        let mut line = format!(
            "listening on {}; {})",
            describe_iface(cap.interface()),
            describe_filter(&filter)
        );
        if let Some(p) = &opt.write {
            line.push_str(&format!(", writing {}", p.display()));
        }
        output::note(&line);
    }

    let start = Instant::now();
    let until = Until::new(interrupted, opt.limits.count, start, opt.limits.timeout);
    let mut buf = vec![0u8; MAX_FRAME];
    let mut packets = 0u64;
    let mut bytes_seen = 0u64;
    let end = loop {
        let wait = match until.next_wait(packets, Instant::now(), TICK) {
            ControlFlow::Continue(wait) => wait,
            ControlFlow::Break(stop) => break stop,
        };
        cap.set_timeout(wait).map_err(capture_error)?;
        let Some(frame) = cap.next(&mut buf).map_err(capture_error)? else {
            continue;
        };
        packets += 1;
        bytes_seen += frame.orig_len as u64;
        let data = &buf[..frame.len];
        if let Some(w) = pcap.as_mut() {
            w.write_packet_with_len(since_epoch(frame.timestamp), data, frame.orig_len)
                .and_then(|()| w.flush())
                .map_err(|e| {
                    let path = opt.write.as_deref().unwrap_or_else(|| "pcap".as_ref());
                    CliError::runtime(format!("cannot write {}: {e}", path.display()))
                })?;
        }
        show(&opt, &name, &frame, data, frame.is_ethernet())?;
    };

    let code: u8 = if failed(end, packets) { 1 } else { 0 };
    if !opt.quiet {
        let drops = cap.stats().map(|s| s.drops).unwrap_or(0);
        let mut line = format!(
            "{packets} packet{} ({bytes_seen} bytes) captured on {name} in {}",
            if packets == 1 { "" } else { "s" },
            humantime::format_duration(Duration::from_millis(
                u64::try_from(start.elapsed().as_millis()).unwrap_or(u64::MAX)
            ))
        );
        if drops > 0 {
            line.push_str(&format!(", {drops} dropped by the kernel"));
        }
        line.push_str(&end.suffix());
        output::note(&line);
    }
    // The summary is on stderr already: the record goes to stdout only if it still takes it.
    if opt.json && output::stdout_ok() {
        output::emit_json(
            "end",
            &EndRecord {
                reason: end.as_str(),
                packets,
                exit_code: code,
            },
        )?;
    }
    if code != 0 {
        return Err(CliError::runtime(format!(
            "timeout: no packet matched on {name} ({}) within {}",
            describe_filter(&filter),
            humantime::format_duration(opt.limits.timeout.unwrap_or_default())
        ))
        .hint(
            "check the interface (-i: the one the traffic crosses, see `mcast ifaces`) and the \
             filter; send a test datagram with `mcast send GROUP PORT hello -i IFACE`",
        )
        .into());
    }
    Ok(ExitCode::SUCCESS)
}

/// Prints one packet: its line (and hexdump), or a JSON record.
fn show(
    opt: &Opt,
    iface: &str,
    frame: &CapturedFrame,
    data: &[u8],
    ethernet: bool,
) -> anyhow::Result<()> {
    let (line, decoded) = summarize(data, ethernet);
    let dump = opt.hexdump.then(|| packet::hexdump(data));
    if opt.json {
        let time_ns = u64::try_from(since_epoch(frame.timestamp).as_nanos()).unwrap_or(u64::MAX);
        output::emit_json(
            "packet",
            &PacketRecord {
                time_ns,
                interface: iface,
                direction: direction_word(frame.direction),
                len: frame.len,
                orig_len: frame.orig_len,
                summary: line,
                decoded,
                hexdump: dump,
            },
        )?;
    } else {
        output::line(&line)?;
        if let Some(d) = dump {
            output::line(&d)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interfaces_are_looked_up_as_send_and_recv_do() {
        let words = |e: CliError| {
            let e = anyhow::Error::new(e);
            (e.to_string(), crate::errors::hint(&e))
        };
        for bad in ["mcast-nosuch0", "999999", "not an iface"] {
            let sniff = words(pick_iface(Some(bad)).unwrap_err());
            let send = words(plan::send("224.1.1.5", 5000, Some(bad), 1, false).unwrap_err());
            assert_eq!(sniff, send, "-i {bad}");
            let recv = words(plan::recv("224.1.1.5", 5000, Some(bad), &[]).unwrap_err());
            assert_eq!(sniff, recv, "-i {bad}");
        }
        let (lo, default) = pick_iface(Some("lo")).unwrap();
        assert_eq!((lo.name.as_str(), default), ("lo", false));
    }

    #[test]
    fn exit_code_rules() {
        assert!(failed(Stop::Timeout, 0));
        assert!(!failed(Stop::Timeout, 1));
        assert!(!failed(Stop::Count, 3));
        assert!(!failed(Stop::Interrupted, 0));
    }

    #[test]
    fn group_must_be_multicast() {
        assert_eq!(
            parse_group("224.1.1.5").unwrap().addr(),
            "224.1.1.5".parse::<IpAddr>().unwrap()
        );
        assert!(parse_group("10.0.0.1").is_err());
        assert!(parse_group("ff15::1").is_ok());
    }

    #[test]
    fn filter_words() {
        assert_eq!(describe_filter(&Filter::default()), "no filter");
        let f = Filter {
            port: Some(50001),
            group: Some("224.1.1.5".parse().unwrap()),
        };
        assert_eq!(describe_filter(&f), "udp port 50001 and dst 224.1.1.5");
    }

    #[test]
    fn missing_interface_is_a_usage_error() {
        let e = pick_iface(Some("mcast-nosuch0")).unwrap_err();
        let e = anyhow::Error::new(e);
        assert_eq!(crate::errors::exit_code(&e), crate::errors::exit::USAGE);
    }
}
