//! `mcast sniff`: show the multicast traffic on an interface (or in a pcap file), one
//! scapy-style line per packet.
//!
//! mcast-sync's [`Capture`] opens an `AF_PACKET` socket on the interface and filters in user
//! space; mcast-core's `packet` module turns each frame into the line
//! (`12:00:00.123456 Ether / IP / UDP 192.168.56.3:52582 > 224.1.1.5:50001 / Raw`, IGMP and
//! MLD in words), the `-e` link header, the hexdump, and the pcap records written (`-w`) and
//! read back (`-r`). This module only wires them together.
//!
//! # The line
//!
//! `TIME [LINK: ]SUMMARY`:
//! - `TIME` is when the kernel received the frame (`SO_TIMESTAMPNS`, the moment tcpdump
//!   reports; from a file, the record's time), as `--time` says: `local` (the default,
//!   tcpdump's `HH:MM:SS.ffffff` in the local time zone), `utc` (the same in UTC), `epoch`
//!   (seconds since 1970 with microseconds, tcpdump's `-tt`), `relative` (seconds since the
//!   first packet), or `none` (no column, also `-t`).
//! - `LINK`, with `-e`, is the Ethernet header in tcpdump's `-e` words:
//!   `ce:be:28:7d:4c:16 > 01:00:5e:01:01:05, ethertype IPv4 (0x0800), length 55` (VLAN tags as
//!   `vlan 5, ` before the EtherType).
//!
//! # Filters
//!
//! - `--port N`: UDP with N as source or destination port. IGMP and MLD carry no port, so
//!   `--port` hides them.
//! - `--group G`: packets to G, plus every IGMP/MLD message (joins and leaves stay visible).
//! - both: UDP to G with N on either side.
//! - an EXPRESSION after the options, in a small tcpdump-like language (mcast-core's
//!   `packet::filter::expr` documents it): `host A`, `src|dst [host] A`, `[src|dst] port N`,
//!   `udp`, `igmp`, `mld`, `ip`, `ip6`, `multicast`, `vlan [ID]`, joined by `and`, `or`, `not`
//!   and parentheses. A packet must pass the options and the expression. An expression that
//!   does not parse is a usage error (exit 2) that underlines the offending token.
//!
//! # Reading a file (`-r FILE`)
//!
//! A classic pcap file (what `-w` and `tcpdump -w` write: either byte order, micro- or
//! nanosecond timestamps, Ethernet or raw-IP link type) is printed as a capture would have been,
//! filters and `-c` included; `-w` then writes the packets that passed. Other formats (pcapng,
//! Linux cooked captures from `tcpdump -i any`) are refused with a hint (exit 1).
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
//! {"type":"packet","data":{"time_ns":"1764038400123456789","interface":"lab0","direction":"multicast","len":55,"orig_len":55,"link":{"src_mac":"ce:be:28:7d:4c:16","dst_mac":"01:00:5e:01:01:05","vlans":[],"ether_type":2048},"summary":"Ether / IP / UDP 192.168.56.3:52582 > 224.1.1.5:50001 / Raw","decoded":{...},"hexdump":null}}
//! {"type":"end","data":{"reason":"count","packets":1,"exit_code":0}}
//! ```
//!
//! `time_ns` is the kernel's receive time (or the file record's), in nanoseconds since the
//! Unix epoch, as a decimal string; `interface` and `direction` are `null` for packets read
//! with `-r`; `direction` is `in`, `out`, `multicast`, `broadcast` or `other` as the kernel
//! reports it; `link` is the Ethernet header (MACs as `aa:bb:cc:dd:ee:ff`, the VLAN ids outer
//! first, the EtherType after them as a number), `null` on links without one, and is there with
//! or without `-e`; `summary` is the text line without time and link columns; `decoded` is
//! mcast-core's decoded view of the packet (`null` when it could not be decoded); `hexdump` is
//! the scapy-style dump with `--hexdump`, else `null`.
//! `end.reason` is `count`, `timeout`, `eof` (the end of a `-r` file), or how it was stopped
//! (`interrupted`, `terminated`, `hangup`, `stdout_closed`, `stdout_failed`: see `output.rs`).

use std::fs::File;
use std::io::BufWriter;
use std::net::IpAddr;
use std::ops::ControlFlow;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant, SystemTime};

use mcast_core::addr::{Group, MacAddr};
use mcast_core::packet::ether::EtherHeader;
use mcast_core::packet::filter::Expr;
use mcast_core::packet::pcap::{PcapError, PcapReader, PcapWriter};
use mcast_core::packet::{self, LinkType};
use mcast_sync::capture::{Capture, CaptureError, Direction, Filter};
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
  mcast sniff -i lab0 -e igmp                      IGMP only, with MACs (01:00:5e:... for groups)
  mcast sniff -i lab0 udp and dst 224.1.1.5 and not src host 192.168.56.3
  mcast sniff -i lab0 -w cap.pcap --timeout 10s    save 10 seconds for tcpdump -r / Wireshark
  mcast sniff -r cap.pcap -e 'port 50001'          read a pcap file back (also tcpdump's)

Each line starts with the kernel's receive time, HH:MM:SS.ffffff in local time as tcpdump
prints it (--time utc|epoch|relative|none, -t for none); -e adds the Ethernet header:
  12:00:00.123456 ce:be:28:7d:4c:16 > 01:00:5e:01:01:05, ethertype IPv4 (0x0800),
      length 55: Ether / IP / UDP 192.168.56.3:52582 > 224.1.1.5:50001 / Raw
(one line: the source MAC, then the group's MAC 01:00:5e + the low 23 bits of 224.1.1.5)

EXPRESSION (quote it for the shell when it has parentheses or !):
  host A, src A, dst A           IP packets from or to A / from A / to A (IPv4 or IPv6)
  port N, src port N, dst port N UDP with port N on either side / as source / as destination
  udp, igmp, mld, ip, ip6        by protocol; `udp port 5000` means `udp and port 5000`
  multicast, vlan, vlan ID       to a group / with an 802.1Q tag (with this VLAN id)
  and, or, not, ( )              also &&, ||, !; mixing and/or needs parentheses
A packet must pass --port, --group and the expression.

Without -i the first interface that is up, running, multicast-capable and not loopback is
used, and named on stderr. --port shows UDP only (IGMP/MLD carry no port); --group also shows
IGMP/MLD messages. Capturing needs root or CAP_NET_RAW; reading a file (-r) does not.
Exit status: 0 after COUNT packets, on Ctrl-C, at --timeout with at least one packet seen, or
at the end of a -r file; 1 when --timeout passes with none (or capture or reading fails);
2 usage error (a bad expression included).")]
#[command(mut_arg("count", |a| a.help("Stop after COUNT packets")))]
#[command(mut_arg("timeout", |a| a.help(
    "Stop after this long (e.g. 5s): exit 0 if any packet was seen, else 1",
)))]
pub(crate) struct Opt {
    /// The interface to capture on: a name, an index or one of its addresses.
    #[arg(short = 'i', long = "iface", value_name = "IFACE")]
    iface: Option<String>,

    /// Read packets from this pcap file instead of capturing (pcap as -w and tcpdump -w write).
    #[arg(short = 'r', long = "read", value_name = "FILE.pcap",
          conflicts_with_all = ["iface", "timeout"])]
    read: Option<PathBuf>,

    /// Only UDP with this source or destination port (hides IGMP/MLD).
    #[arg(long, value_name = "N", value_parser = plan::parse_port, allow_negative_numbers = true)]
    port: Option<u16>,

    /// Only packets to this group (IGMP/MLD messages are still shown).
    #[arg(long, value_name = "G")]
    group: Option<String>,

    #[command(flatten)]
    limits: crate::args::Limits,

    /// Show the link-level header on each line: MACs, VLAN tags, EtherType (tcpdump's -e).
    #[arg(short = 'e', long = "link")]
    link: bool,

    /// The time column (the kernel's receive time).
    #[arg(long, value_name = "FORMAT", value_enum, default_value_t = TimeFormat::Local)]
    time: TimeFormat,

    /// No time column (same as --time none).
    #[arg(short = 't', conflicts_with = "time")]
    no_time: bool,

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

    /// A filter expression, e.g. `udp port 50001 and dst 224.1.1.5` (see below).
    #[arg(value_name = "EXPRESSION")]
    expression: Vec<String>,
}

/// How the time column is written (`--time`).
#[derive(clap::ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
enum TimeFormat {
    /// `HH:MM:SS.ffffff` in the local time zone, as tcpdump prints it.
    Local,
    /// `HH:MM:SS.ffffff` in UTC.
    Utc,
    /// Seconds since the Unix epoch, with microseconds (tcpdump's `-tt`).
    Epoch,
    /// Seconds since the first packet, with microseconds.
    Relative,
    /// No time column.
    None,
}

/// One packet as printed with `--json`.
#[derive(Debug, Serialize)]
struct PacketRecord<'a> {
    #[serde(serialize_with = "mcast_core::json::u64_exact")]
    time_ns: u64,
    interface: Option<&'a str>,
    direction: Option<&'static str>,
    len: usize,
    orig_len: usize,
    link: Option<LinkRecord>,
    summary: String,
    decoded: Option<packet::PacketSummary>,
    hexdump: Option<String>,
}

/// The Ethernet header in a packet record.
#[derive(Debug, Serialize)]
struct LinkRecord {
    src_mac: MacAddr,
    dst_mac: MacAddr,
    vlans: Vec<u16>,
    ether_type: u16,
}

impl From<EtherHeader> for LinkRecord {
    fn from(h: EtherHeader) -> Self {
        Self {
            src_mac: h.src,
            dst_mac: h.dst,
            vlans: h.vlans.iter().flatten().copied().collect(),
            ether_type: h.ether_type,
        }
    }
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

/// The options' filter and the expression in words.
fn describe(f: &Filter, expr: Option<&Expr>) -> String {
    match (f.is_empty(), expr) {
        (_, None) => describe_filter(f),
        (true, Some(e)) => format!("filter {e}"),
        (false, Some(e)) => format!("{} and ({e})", describe_filter(f)),
    }
}

/// Parses the EXPRESSION words (joined by spaces); an error names the character where the
/// offending token starts (counted from 1) and the token.
fn parse_expression(words: &[String]) -> Result<Option<Expr>, CliError> {
    if words.is_empty() {
        return Ok(None);
    }
    let text = words.join(" ");
    text.parse()
        .map(Some)
        .map_err(|e: packet::filter::ExprError| {
            let column = text.get(..e.at).unwrap_or(&text).chars().count() + 1;
            // One line, as every error: the position and the token name the spot.
            CliError::usage(format!(
                "filter expression `{text}`, at character {column}: {e}"
            ))
            .hint("the language is described under EXPRESSION in `mcast sniff --help`")
        })
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
fn link_type(ethernet: bool) -> LinkType {
    if ethernet {
        LinkType::Ethernet
    } else {
        LinkType::RawIp
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

/// Hours, minutes and seconds of the day of `secs` since the epoch: in UTC, or in the local
/// time zone (`localtime_r`, which reads `TZ` and /etc/localtime as tcpdump does).
fn time_of_day(secs: u64, local: bool) -> (u64, u64, u64) {
    let mut of_day = secs % 86_400;
    if local {
        if let Ok(t) = libc::time_t::try_from(secs) {
            // SAFETY: tm is plain data; all-zero is a valid value, and localtime_r fills it in
            // from `t`, both live for the call.
            let mut tm: libc::tm = unsafe { std::mem::zeroed() };
            // SAFETY: as above.
            if !unsafe { libc::localtime_r(&t, &mut tm) }.is_null() {
                of_day =
                    u64::try_from(tm.tm_hour * 3600 + tm.tm_min * 60 + tm.tm_sec).unwrap_or(of_day);
            }
        }
    }
    (of_day / 3600, of_day / 60 % 60, of_day % 60)
}

/// The time column for a packet at `t` (since the epoch); `first` is the first packet's time.
fn time_column(format: TimeFormat, t: Duration, first: Duration) -> Option<String> {
    let micros = t.subsec_micros();
    match format {
        TimeFormat::Local | TimeFormat::Utc => {
            let (h, m, s) = time_of_day(t.as_secs(), format == TimeFormat::Local);
            Some(format!("{h:02}:{m:02}:{s:02}.{micros:06}"))
        }
        TimeFormat::Epoch => Some(format!("{}.{micros:06}", t.as_secs())),
        TimeFormat::Relative => {
            let d = t.saturating_sub(first);
            Some(format!("{}.{:06}", d.as_secs(), d.subsec_micros()))
        }
        TimeFormat::None => None,
    }
}

/// Maps capture errors to CLI errors with the adapter's hint.
fn capture_error(e: CaptureError) -> anyhow::Error {
    let msg = crate::errors::chain_text(&e);
    match e.hint() {
        Some(h) => CliError::runtime(msg).hint(h).into(),
        None => anyhow::Error::new(e),
    }
}

/// What every packet goes through, captured or read: the filters, the pcap writer, the printer.
struct Sink<'a> {
    opt: &'a Opt,
    filter: Filter,
    expr: Option<Expr>,
    time: TimeFormat,
    pcap: Option<PcapWriter<BufWriter<File>>>,
    first: Option<Duration>,
    packets: u64,
    bytes: u64,
}

/// One packet: its bytes, the length on the wire, when, and where it was seen (live only).
struct Seen<'b> {
    data: &'b [u8],
    orig_len: usize,
    ethernet: bool,
    time: Duration,
    interface: Option<&'b str>,
    direction: Option<Direction>,
}

impl<'a> Sink<'a> {
    fn new(
        opt: &'a Opt,
        filter: Filter,
        expr: Option<Expr>,
        ethernet: bool,
    ) -> anyhow::Result<Self> {
        let pcap = match &opt.write {
            None => None,
            Some(path) => {
                let file = File::create(path).map_err(|e| {
                    CliError::runtime(format!("cannot create {}: {e}", path.display()))
                })?;
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
        Ok(Self {
            opt,
            filter,
            expr,
            time: if opt.no_time {
                TimeFormat::None
            } else {
                opt.time
            },
            pcap,
            first: None,
            packets: 0,
            bytes: 0,
        })
    }

    /// Whether the packet passes the options' filter and the expression (a capture has
    /// checked the first already; a file has not).
    fn wanted(&self, data: &[u8], ethernet: bool) -> bool {
        self.filter.matches(data, ethernet)
            && self.expr.as_ref().is_none_or(|e| e.matches(data, ethernet))
    }

    /// Writes and prints one packet that passed.
    fn packet(&mut self, p: &Seen<'_>) -> anyhow::Result<()> {
        self.packets += 1;
        self.bytes += p.orig_len as u64;
        let first = *self.first.get_or_insert(p.time);
        if let Some(w) = self.pcap.as_mut() {
            w.write_packet_with_len(p.time, p.data, p.orig_len)
                .and_then(|()| w.flush())
                .map_err(|e| {
                    let path = self.opt.write.as_deref().unwrap_or_else(|| "pcap".as_ref());
                    CliError::runtime(format!("cannot write {}: {e}", path.display()))
                })?;
        }
        let (summary, decoded) = summarize(p.data, p.ethernet);
        let ether = p.ethernet.then(|| EtherHeader::parse(p.data)).flatten();
        let dump = self.opt.hexdump.then(|| packet::hexdump(p.data));
        if self.opt.json {
            output::emit_json(
                "packet",
                &PacketRecord {
                    time_ns: u64::try_from(p.time.as_nanos()).unwrap_or(u64::MAX),
                    interface: p.interface,
                    direction: p.direction.map(direction_word),
                    len: p.data.len(),
                    orig_len: p.orig_len,
                    link: ether.map(LinkRecord::from),
                    summary,
                    decoded,
                    hexdump: dump,
                },
            )?;
            return Ok(());
        }
        let mut line = String::new();
        if let Some(t) = time_column(self.time, p.time, first) {
            line.push_str(&t);
            line.push(' ');
        }
        if self.opt.link {
            match ether {
                Some(h) => line.push_str(&format!("{h}: ")),
                None if p.ethernet => line.push_str("(no Ethernet header): "),
                None => line.push_str("(raw IP, no link header): "),
            }
        }
        line.push_str(&summary);
        output::line(&line)?;
        if let Some(d) = dump {
            output::line(&d)?;
        }
        Ok(())
    }
}

/// Runs `mcast sniff`.
pub(crate) fn run(opt: Opt) -> anyhow::Result<ExitCode> {
    let group = opt.group.as_deref().map(parse_group).transpose()?;
    let filter = Filter {
        port: opt.port,
        group,
    };
    let expr = parse_expression(&opt.expression)?;
    if let Some(path) = opt.read.clone() {
        return read_file(&opt, &path, filter, expr);
    }
    // The kernel's pre-filter also narrows by what the expression needs, where it can.
    let narrowed = expr.as_ref().map(Expr::capture_filter).unwrap_or_default();
    let kernel_filter = Filter {
        port: filter.port.or(narrowed.port),
        group: filter.group.or(narrowed.group),
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
    cap.set_filter(kernel_filter);
    cap.set_timeout(TICK).map_err(capture_error)?;
    let ethernet = cap.is_ethernet();
    let described = describe(&filter, expr.as_ref());
    let mut sink = Sink::new(&opt, filter, expr, ethernet)?;
    let name = cap.interface().name.clone();
    if !opt.quiet {
        let mut line = format!(
            "listening on {}; {described})",
            describe_iface(cap.interface())
        );
        if let Some(p) = &opt.write {
            line.push_str(&format!(", writing {}", p.display()));
        }
        output::note(&line);
    }

    let start = Instant::now();
    let until = Until::new(interrupted, opt.limits.count, start, opt.limits.timeout);
    let mut buf = vec![0u8; MAX_FRAME];
    let end = loop {
        let wait = match until.next_wait(sink.packets, Instant::now(), TICK) {
            ControlFlow::Continue(wait) => wait,
            ControlFlow::Break(stop) => break stop,
        };
        cap.set_timeout(wait).map_err(capture_error)?;
        let Some(frame) = cap.next(&mut buf).map_err(capture_error)? else {
            continue;
        };
        let data = &buf[..frame.len];
        if sink
            .expr
            .as_ref()
            .is_some_and(|e| !e.matches(data, frame.is_ethernet()))
        {
            continue;
        }
        sink.packet(&Seen {
            data,
            orig_len: frame.orig_len,
            ethernet: frame.is_ethernet(),
            time: since_epoch(frame.timestamp),
            interface: Some(&name),
            direction: Some(frame.direction),
        })?;
    };

    let packets = sink.packets;
    let code: u8 = if failed(end, packets) { 1 } else { 0 };
    if !opt.quiet {
        let drops = cap.stats().map(|s| s.drops).unwrap_or(0);
        let mut line = format!(
            "{} ({}) captured on {name} in {}",
            output::count(packets, "packet"),
            output::count(sink.bytes, "byte"),
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
    end_record(&opt, end, packets, code)?;
    if code != 0 {
        return Err(CliError::runtime(format!(
            "timeout: no packet matched on {name} ({described}) within {}",
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

/// The last JSON line. The summary is on stderr already: the record goes to stdout only if it
/// still takes it.
fn end_record(opt: &Opt, end: Stop, packets: u64, code: u8) -> anyhow::Result<()> {
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
    Ok(())
}

/// What to do about a file `-r` cannot read, in words.
fn pcap_hint(e: &PcapError) -> Option<&'static str> {
    match e {
        PcapError::Pcapng => Some(
            "convert it to classic pcap first: `tcpdump -r IN -w OUT.pcap` or \
             `editcap -F pcap IN OUT.pcap`",
        ),
        PcapError::LinkType(113 | 276) => Some(
            "this is a Linux cooked capture (tcpdump -i any): capture on one interface instead",
        ),
        _ => None,
    }
}

/// `mcast sniff -r FILE`: prints the packets of a pcap file as a capture would.
fn read_file(
    opt: &Opt,
    path: &Path,
    filter: Filter,
    expr: Option<Expr>,
) -> anyhow::Result<ExitCode> {
    let bytes = std::fs::read(path)
        .map_err(|e| CliError::runtime(format!("cannot read {}: {e}", path.display())))?;
    let bad = |e: PcapError| -> anyhow::Error {
        let err = CliError::runtime(format!("{}: {e}", path.display()));
        match pcap_hint(&e) {
            Some(h) => err.hint(h).into(),
            None => err.into(),
        }
    };
    let reader = PcapReader::new(&bytes).map_err(bad)?;
    let ethernet = reader.link_type().map_err(bad)? == LinkType::Ethernet;
    let described = describe(&filter, expr.as_ref());
    let mut sink = Sink::new(opt, filter, expr, ethernet)?;
    if !opt.quiet {
        output::note(&format!("reading {}; {described}", path.display()));
    }
    let interrupted = stop::install();
    let start = Instant::now();
    let until = Until::new(interrupted, opt.limits.count, start, None);
    let mut records = reader;
    let mut read = 0u64;
    let mut broken = None;
    let end = loop {
        if let ControlFlow::Break(stop) = until.next_wait(sink.packets, Instant::now(), TICK) {
            break stop;
        }
        let record = match records.next() {
            None => break Stop::Eof,
            Some(Err(e)) => {
                broken = Some(e);
                break Stop::Eof;
            }
            Some(Ok(r)) => r,
        };
        read += 1;
        if !sink.wanted(record.data, ethernet) {
            continue;
        }
        sink.packet(&Seen {
            data: record.data,
            orig_len: record.orig_len,
            ethernet,
            time: record.since_epoch,
            interface: None,
            direction: None,
        })?;
    };
    let code: u8 = u8::from(broken.is_some());
    if !opt.quiet {
        let packets = sink.packets;
        output::note(&format!(
            "{} ({}) of {read} read from {}{}",
            output::count(packets, "packet"),
            output::count(sink.bytes, "byte"),
            path.display(),
            end.suffix()
        ));
    }
    end_record(opt, end, sink.packets, code)?;
    if let Some(e) = broken {
        return Err(bad(e));
    }
    Ok(ExitCode::SUCCESS)
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
    fn time_columns() {
        let t = Duration::new(1_764_028_800 + 3600 + 2 * 60 + 3, 4_567_891); // 2025-11-25 01:02:03Z
        let first = Duration::new(1_764_028_799, 500_000_000);
        let col = |f| time_column(f, t, first);
        assert_eq!(col(TimeFormat::Utc).as_deref(), Some("01:02:03.004567"));
        assert_eq!(col(TimeFormat::Epoch).as_deref(), Some("1764032523.004567"));
        assert_eq!(col(TimeFormat::Relative).as_deref(), Some("3723.504567"));
        assert_eq!(col(TimeFormat::None), None);
        // Local time keeps the minutes and seconds (time zones move by whole quarter hours).
        let local = col(TimeFormat::Local).unwrap();
        assert_eq!((local.len(), &local[5..]), (15, ":03.004567"), "{local}");
    }

    #[test]
    fn expressions_are_usage_errors_with_the_position() {
        let words = |s: &str| s.split(' ').map(String::from).collect::<Vec<_>>();
        assert_eq!(parse_expression(&[]).unwrap(), None);
        let e = parse_expression(&words("udp and port 50001"))
            .unwrap()
            .unwrap();
        assert_eq!(e.to_string(), "udp and port 50001");
        let err = anyhow::Error::new(parse_expression(&words("udp and pört x")).unwrap_err());
        assert_eq!(crate::errors::exit_code(&err), crate::errors::exit::USAGE);
        assert_eq!(
            err.to_string(),
            "filter expression `udp and pört x`, at character 9: expected a primitive (host, \
             src, dst, port, udp, igmp, mld, ip, ip6, multicast, vlan), `not` or `(`, found `pört`"
        );
        let f = Filter {
            port: Some(5),
            group: None,
        };
        assert_eq!(
            describe(&f, Some(&e)),
            "udp port 5 and (udp and port 50001)"
        );
        assert_eq!(
            describe(&Filter::default(), Some(&e)),
            "filter udp and port 50001"
        );
    }

    #[test]
    fn missing_interface_is_a_usage_error() {
        let e = pick_iface(Some("mcast-nosuch0")).unwrap_err();
        let e = anyhow::Error::new(e);
        assert_eq!(crate::errors::exit_code(&e), crate::errors::exit::USAGE);
    }
}
