//! `mcast send GROUP PORT [MESSAGE]`: send datagrams to a group.
//!
//! Numbering, framing and pacing come from mcast-core's session [`Sender`], driven against the
//! adapter's socket ([`crate::adapter::open_sender`]) by mcast-sync's [`SendDriver`], the same loop
//! `mcast perf send` uses. A framed stream ends with end-of-session frames, so `mcast recv`
//! counts loss at its tail.

use std::ffi::OsString;
use std::io::{self, IsTerminal as _};
use std::os::unix::ffi::OsStrExt as _;
use std::process::ExitCode;
use std::sync::atomic::Ordering;
use std::time::Duration;

use anyhow::Context as _;
use mcast_core::addr::GroupAddr;
use mcast_core::session::{Sender, SenderConfig, SessionId};
use mcast_sync::driver::{wall_ns, Clock as _, Drive, SendDriver, Sent};
use serde::Serialize;

use crate::adapter;
use crate::errors::CliError;
use crate::stop::{self, Stop};
use crate::{output, plan, stdin};

/// Arguments of `mcast send`.
#[derive(clap::Args, Debug)]
#[command(after_help = "\
Examples:
  mcast send 224.1.1.5 50001 \"Hello, World!\" -i 127.0.0.1     one datagram on loopback
  mcast send 239.1.2.3 5000 tick -c 10 --interval 1s -i lab0   ten, one per second
  printf 'a\\nb\\n' | mcast send 239.1.2.3 5000 -i 127.0.0.1      one datagram per line
  mcast send 239.1.2.3 5000 --raw -i 127.0.0.1 < blob.bin      raw bytes, a datagram per read
  mcast send 239.1.2.3 5000 hi -c 5 --framed -i 127.0.0.1      numbered frames:
                                                               `mcast recv` counts loss
  mcast send 239.1.2.3 5000 hi -i lab0 --key-file group.key    authenticated frames
  mcast send 239.1.2.3:5000 hi -i lab0                         socat's GROUP:PORT form

One datagram holds at most 65507 bytes over IPv4 (65527 over IPv6), 28 fewer with --framed,
44 fewer with --key-file.
A longer MESSAGE is refused before anything is sent; a longer stdin line stops the command
there (the lines before it were sent).

Prints nothing on success unless -v or --json. Ctrl-C, SIGTERM, SIGHUP or a closed stdout end it
early with a summary on stderr (and the JSON end record, naming the reason), exit 0.")]
pub(crate) struct Opt {
    /// The multicast group to send to (224.0.0.0/4 or ff00::/8); an IPv6 link-local group may
    /// carry its interface, ff02::1%eth0. GROUP:PORT (socat's form: 239.1.2.3:5000,
    /// [ff02::1%eth0]:5000) gives the port too; MESSAGE then follows it.
    #[arg(value_name = "GROUP")]
    group: String,

    /// The destination UDP port (1-65535).
    #[arg(value_name = "PORT", allow_negative_numbers = true)]
    port: Option<OsString>,

    /// The payload (any bytes, not only UTF-8; "" is a zero-length datagram). Without it,
    /// each line of stdin is one datagram (an empty line an empty datagram).
    #[arg(value_name = "MESSAGE")]
    message: Option<OsString>,

    /// The outgoing interface: an IPv4 address, a name, an index, or 0.0.0.0 (the kernel's
    /// choice, the default).
    #[arg(short = 'i', long = "iface", value_name = "IFACE")]
    iface: Option<String>,

    /// Time to live (hop limit): 1 stays on the local network, 0 stays on this host.
    #[arg(long, value_name = "N", default_value_t = 1, value_parser = plan::parse_ttl,
          allow_negative_numbers = true)]
    ttl: u8,

    /// Send from this UDP port (1-65535): the socket is bound to it before sending, so
    /// receivers see it as the source port (default: one the kernel picks).
    #[arg(long, value_name = "PORT", value_parser = plan::parse_source_port,
          allow_negative_numbers = true)]
    source_port: Option<u16>,

    /// Do not loop our own datagrams back to receivers on this host (IP_MULTICAST_LOOP off).
    /// It cannot stop delivery over lo (-i lo, -i 127.0.0.1): the loopback interface hands
    /// everything sent on it back to this host by itself, so local receivers still get it.
    #[arg(long)]
    no_loop: bool,

    /// Send each datagram COUNT times (MESSAGE, or each stdin line).
    #[arg(short = 'c', long, value_name = "COUNT", default_value_t = 1,
          value_parser = plan::parse_count, allow_negative_numbers = true)]
    count: u64,

    /// Wait this long between datagrams, e.g. 100ms or 1s.
    #[arg(long, value_name = "D", value_parser = plan::parse_interval, allow_hyphen_values = true)]
    interval: Option<Duration>,

    /// Put an mcast frame header (session, sequence number, send time) in front of each
    /// payload, so `mcast recv` can count loss, duplicates, reordering and delay.
    #[arg(long)]
    framed: bool,

    #[command(flatten)]
    key: crate::key::KeyArg,

    /// Read stdin raw, without line splitting: each read of stdin (at most one datagram's
    /// payload, 65507 bytes over IPv4) goes out as one datagram, byte for byte (newlines and
    /// NULs included), as socat does. Without MESSAGE only.
    #[arg(long)]
    raw: bool,

    /// Print one JSON line per datagram sent (and an `end` line).
    #[arg(long)]
    json: bool,

    /// Print a line per datagram sent; -v also logs at info level, -vv at debug (see
    /// `mcast --help`).
    #[arg(short = 'v', long, action = clap::ArgAction::Count)]
    verbose: u8,

    /// Print on stderr the socket options set before sending (TTL, loop, interface), as
    /// the lecture's Python sets them.
    #[arg(long)]
    explain: bool,
}

/// One `send` JSON record.
#[derive(Serialize)]
struct SentRecord<'a> {
    group: String,
    port: u16,
    len: usize,
    payload: &'a str,
    utf8: bool,
    /// The exact payload bytes in hex, when they are not valid UTF-8.
    #[serde(skip_serializing_if = "Option::is_none")]
    payload_hex: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    session: Option<SessionId>,
    #[serde(
        skip_serializing_if = "Option::is_none",
        serialize_with = "mcast_core::json::option_u64_exact"
    )]
    seq: Option<u64>,
    #[serde(
        skip_serializing_if = "Option::is_none",
        serialize_with = "mcast_core::json::option_u64_exact"
    )]
    sent_at_ns: Option<u64>,
}

/// The `end` JSON record.
#[derive(Serialize)]
struct EndRecord {
    reason: &'static str,
    datagrams: u64,
    bytes: u64,
    exit_code: u8,
}

/// The payload limits of one datagram to the plan's group: raw and framed.
struct Limits {
    family: &'static str,
    raw: usize,
    framed: usize,
    is_framed: bool,
    /// The option that adds the header (and the tag): `--framed` or `--key-file`.
    flag: &'static str,
}

impl Limits {
    fn new(config: &SenderConfig) -> Self {
        let raw = SenderConfig {
            framed: false,
            key: None,
            ..config.clone()
        };
        let framed = SenderConfig {
            framed: true,
            ..config.clone()
        };
        Self {
            family: if config.destination.is_ipv6() {
                "IPv6"
            } else {
                "IPv4"
            },
            raw: raw.max_payload(),
            framed: framed.max_payload(),
            is_framed: config.is_framed(),
            flag: if config.key.is_some() {
                "--key-file"
            } else {
                "--framed"
            },
        }
    }

    /// The most payload one datagram takes, in the mode in use.
    fn max(&self) -> usize {
        if self.is_framed {
            self.framed
        } else {
            self.raw
        }
    }

    /// Why a payload of `len` bytes does not fit, for `what` ("message", "stdin line 3").
    fn too_long(&self, what: &str, len: usize) -> String {
        if self.is_framed {
            format!(
                "{what} is {len} bytes; with {flag} an {} UDP datagram holds at most {} bytes of payload ({} without {flag})",
                self.family,
                self.framed,
                self.raw,
                flag = self.flag
            )
        } else {
            format!(
                "{what} is {len} bytes; an {} UDP datagram holds at most {} bytes ({} with --framed)",
                self.family, self.raw, self.framed
            )
        }
    }
}

/// What was sent before stdin line `line` (1-based) turned out too long; nothing from that
/// line on is sent.
fn sent_before(line: u64) -> String {
    match line {
        0 | 1 => "nothing was sent".into(),
        2 => "line 1 was sent before it, nothing after".into(),
        n => format!("lines 1-{} were sent before it, nothing after", n - 1),
    }
}

/// Runs `mcast send`.
pub(crate) fn run(opt: Opt) -> anyhow::Result<ExitCode> {
    // With GROUP:PORT, the second word is the MESSAGE.
    let mut opt = opt;
    let (port_text, message): (Option<String>, Option<OsString>) =
        if crate::values::split_group_port(&opt.group).is_ok_and(|(_, p)| p.is_some()) {
            if let (Some(first), Some(_)) = (&opt.port, &opt.message) {
                return Err(CliError::usage(format!(
                "{} names the port already, so {} is the MESSAGE and what follows one word too many",
                plan::quoted(&opt.group),
                plan::quoted(&first.to_string_lossy())
            ))
            .hint("quote a MESSAGE with spaces: mcast send 239.1.2.3:5000 'two words'")
            .into());
            }
            (None, opt.port.take())
        } else {
            let port = opt.port.as_ref().map(|p| p.to_string_lossy().into_owned());
            (port, opt.message.take())
        };
    let (group_text, port) = plan::endpoint(&opt.group, port_text.as_deref(), "send")?;
    if opt.raw && message.is_some() {
        return Err(CliError::usage(
            "--raw reads stdin without line splitting, so it takes no MESSAGE",
        )
        .hint("pipe the bytes in: mcast send GROUP PORT --raw < FILE")
        .into());
    }
    let (mut plan, _label) =
        plan::send(group_text, port, opt.iface.as_deref(), opt.ttl, opt.no_loop)?;
    plan.source_port = opt.source_port;
    for n in &plan.notes {
        output::note(n);
    }
    let key = opt.key.load()?;
    // A key implies frames (the tag lives in one).
    opt.framed |= key.is_some();
    let session = SessionId((wall_ns() as u32) ^ std::process::id().rotate_left(16));
    let message = message.as_ref().map(|m| m.as_bytes());
    // The destination is the socket's (resolved once, with its IPv6 scope); the limits only
    // need the family, known before the socket opens.
    let config = |destination| SenderConfig {
        session,
        framed: opt.framed,
        interval: opt.interval,
        // MESSAGE goes COUNT times; stdin lines raise the count as they come.
        count: Some(if message.is_some() { opt.count } else { 0 }),
        key: key.clone(),
        ..SenderConfig::new(destination)
    };
    let probe = Sender::new(config(GroupAddr::new(plan.group, plan.port)));
    let limits = Limits::new(probe.config());
    // MESSAGE is checked before the socket is opened: nothing is sent when it cannot go.
    if let Some(m) = message {
        if probe.check_payload(m).is_err() {
            return Err(CliError::usage(limits.too_long("message", m.len()))
                .hint("send it in several datagrams: without MESSAGE, each stdin line is one")
                .into());
        }
    }
    let interrupted = stop::install();
    let tx = adapter::open_sender(&plan, mcast_sync::SendPath::default())?;
    if opt.explain {
        let v6 = tx.destination().group().is_ipv6();
        for l in crate::explain::sender_lines(v6, tx.ttl()?, tx.loopback()?, tx.iface()) {
            output::asked_for(&l);
        }
    }
    let mut driver = SendDriver::new(Sender::new(config(tx.destination())));
    let started = driver.clock().now();
    let stop = || interrupted.load(Ordering::SeqCst);
    let mut failure: Option<io::Error> = None;
    let (reason, drive) = match message {
        Some(m) => {
            let drive = driver.run(&tx, m, None, stop, |sent| {
                report_sent(&opt, &plan, m, sent, session, &mut failure);
            })?;
            (Stop::Count, drive)
        }
        None => {
            if io::stdin().is_terminal() {
                output::note(if opt.raw {
                    "reading datagrams from stdin, one per read, not split at lines (Ctrl-D ends)"
                } else {
                    "reading datagrams from stdin, one per line (Ctrl-D ends)"
                });
            }
            // Read on a thread, so a stop request is seen while waiting for a line.
            let stdin = if opt.raw {
                stdin::Lines::spawn_raw(limits.max())
            } else {
                stdin::Lines::spawn()
            }
            .context("cannot read stdin")?;
            let mut number: u64 = 0;
            let mut drive = Drive::Finished;
            while drive == Drive::Finished && failure.is_none() {
                let line = match stdin.next().context("cannot read stdin")? {
                    stdin::Line::Text(line) => line,
                    stdin::Line::Eof | stdin::Line::Stopped => break,
                };
                if stop() {
                    break;
                }
                number += 1;
                let payload = if opt.raw {
                    &line[..]
                } else {
                    let p = line.strip_suffix(b"\n").unwrap_or(&line);
                    p.strip_suffix(b"\r").unwrap_or(p)
                };
                // Streaming: each stdin line is checked just before it goes, so the lines
                // before a too-long one have been sent already; the message says so.
                if driver.session().check_payload(payload).is_err() {
                    return Err(CliError::usage(format!(
                        "{}; {}",
                        limits.too_long(&format!("stdin line {number}"), payload.len()),
                        sent_before(number)
                    ))
                    .hint("split long lines: each stdin line is one datagram")
                    .into());
                }
                driver.session_mut().extend_count(opt.count);
                drive = driver.run_data(&tx, payload, None, stop, |sent| {
                    report_sent(&opt, &plan, payload, sent, session, &mut failure);
                })?;
            }
            if number == 0 && !stop() {
                output::note(
                    "note: stdin was empty, so nothing was sent (give a MESSAGE, or pipe lines in)",
                );
            }
            // The end-of-session frames (framed mode) close the stream.
            let now = driver.clock().now();
            driver.session_mut().finish(now);
            if drive == Drive::Finished && failure.is_none() {
                drive = driver.run(&tx, b"", None, stop, |_| {})?;
            }
            (Stop::Eof, drive)
        }
    };
    if let Some(e) = failure {
        return Err(e.into());
    }
    let reason = if drive == Drive::Stopped || stop() {
        stop::requested_reason()
    } else {
        reason
    };
    // A run cut short (a signal, stdout gone) says how far it got, as `-v` always does.
    if reason.cut_short().is_some() || opt.verbose > 0 {
        let n = driver.datagrams_sent();
        output::note(&format!(
            "sent {}, {} to {}:{} in {:.1}s{}",
            output::count(n, "datagram"),
            output::count(driver.bytes_sent(), "byte"),
            output::host(plan.group.addr()),
            plan.port,
            (driver.clock().now() - started).as_secs_f64(),
            reason.suffix()
        ));
    }
    if opt.json && output::stdout_ok() {
        output::emit_json(
            "end",
            &EndRecord {
                reason: reason.as_str(),
                datagrams: driver.datagrams_sent(),
                bytes: driver.bytes_sent(),
                exit_code: 0,
            },
        )?;
    }
    Ok(ExitCode::SUCCESS)
}

/// Reports every data datagram of a transmit (`-v`, `--json`); the first write error is kept
/// in `failure` and ends the output.
fn report_sent(
    opt: &Opt,
    plan: &plan::SendPlan,
    payload: &[u8],
    sent: &Sent,
    session: SessionId,
    failure: &mut Option<io::Error>,
) {
    if sent.is_end || failure.is_some() {
        return;
    }
    let len = sent.transmit.segment_size.unwrap_or(sent.transmit.size);
    for k in 0..sent.datagrams as u64 {
        let seq = sent.first_seq.0.saturating_add(k);
        if let Err(e) = report(opt, plan, payload, len, seq, sent.wall_ns, session) {
            *failure = Some(e);
            return;
        }
    }
}

fn report(
    opt: &Opt,
    plan: &plan::SendPlan,
    payload: &[u8],
    len: usize,
    seq: u64,
    stamp: u64,
    session: SessionId,
) -> io::Result<()> {
    if opt.json {
        let (text, utf8) = output::payload_text(payload);
        output::emit_json(
            "send",
            &SentRecord {
                group: plan.group.to_string(),
                port: plan.port,
                len,
                payload: &text,
                utf8,
                payload_hex: output::payload_hex(payload, utf8),
                session: opt.framed.then_some(session),
                seq: opt.framed.then_some(seq),
                sent_at_ns: opt.framed.then_some(stamp),
            },
        )
    } else if opt.verbose > 0 {
        let framed = if opt.framed {
            format!(" (session {session} seq {seq})")
        } else {
            String::new()
        };
        output::line(&format!(
            "sent {} to {}:{}{framed}",
            output::count(len as u64, "byte"),
            output::host(plan.group.addr()),
            plan.port
        ))
    } else {
        Ok(())
    }
}
