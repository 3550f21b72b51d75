//! `cargo xtask demo`: the lecture's four hosts, run for real in namespaces, and checked.
//!
//! The demo shows each host's terminal in the order things happen (the receivers join and
//! listen, midwood sends, then what each receiver and bushwick's sniffer saw), marks every
//! outcome as the expected one (or says how it differs), shows the socket options each program
//! set (`--explain`: `IP_MULTICAST_TTL=1`, `IP_MULTICAST_IF=192.168.56.3`, the `ip_mreq` bytes)
//! and spells out how 224.1.1.5 becomes the destination MAC 01:00:5e:01:01:05.
//!
//! `cargo xtask demo --python` runs the lecture's plain-Python programs (`examples/python/`)
//! on the same hosts beside `mcast`, both ways round, to show that they interoperate.
//!
//! `cargo xtask demo --topology pim` replays the lecture's group across a line of PIM-SM
//! routers instead ([`pim`]).
//!
//! What is printed about a program is checked against what it printed: the demo fails (exit 1)
//! when an outcome, an option or the MAC differs from the lecture's.

pub(crate) mod pim;

use std::{
    net::Ipv4Addr,
    path::{Path, PathBuf},
    time::{Duration, Instant},
};

use anyhow::{Context, Result};
use mcast_core::{
    addr::{Group, MacAddr},
    mreq,
};

use crate::{
    lab::{self, Config, Lab, PORT},
    netns::{self, Finished, Proc},
};

/// The group midwood sends to and eastny and flatbush join.
pub(crate) const GROUP: &str = "224.1.1.5";
pub(crate) const OTHER_GROUP: &str = "234.3.2.1";
const MESSAGE: &str = "Hello, World!";
/// The sending host.
const SENDER: &str = "midwood";
/// The lecture's TTL: the local network only.
const TTL: u32 = 1;
/// How many of the groups that share the MAC the narration names.
const SHOWN_COLLISIONS: usize = 5;

/// How long a process may take to print its "listening on" line.
const READY_WAIT: Duration = Duration::from_secs(5);
/// How long a receiver that should get the message waits for it.
const RECV_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a receiver that should get nothing listens before it gives up (short: the demo
/// waits for it).
const SILENCE_TIMEOUT: Duration = Duration::from_secs(3);
/// Every process bounds itself with its timeout; this only catches a hang.
const GRACE: Duration = Duration::from_secs(5);

/// What a program should do; [`check`] compares it with what the program did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Expect {
    /// midwood's sender: TTL 1 and `IP_MULTICAST_IF` set to its own address, then exit 0.
    Send,
    /// A receiver of [`GROUP`]: joins it on its host's address, prints [`MESSAGE`], exits 0.
    Receive,
    /// A receiver of [`OTHER_GROUP`]: joins it, gets nothing, exits 1 after its timeout.
    Silence,
    /// bushwick's sniffer: midwood's frame, addressed to [`GROUP`]'s MAC.
    Sniff,
}

/// Which program a terminal runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Program {
    /// The `mcast` binary.
    Mcast,
    /// One of the lecture's Python programs, `examples/python/*.py`.
    Python,
}

/// One terminal of the demo: which host, its address, what it should do and what it did.
#[derive(Debug, Clone)]
pub(crate) struct Terminal {
    /// The host's name.
    pub(crate) host: &'static str,
    /// The host's address.
    pub(crate) addr: String,
    /// What it should do.
    pub(crate) expect: Expect,
    /// How many of its output lines it had printed when the sender started.
    pub(crate) before_send: usize,
    /// What ran there and what it printed.
    pub(crate) run: Finished,
}

/// One round of the lecture: receivers (and the sniffer) started first, then one sender.
#[derive(Debug, Clone)]
pub(crate) struct Round {
    /// What the round shows, e.g. "mcast on every host".
    pub(crate) title: String,
    /// The receivers and the sniffer, in the order they started.
    pub(crate) listeners: Vec<Terminal>,
    /// midwood's sender.
    pub(crate) sender: Terminal,
}

impl Round {
    fn terminals(&self) -> impl Iterator<Item = &Terminal> {
        self.listeners.iter().chain(std::iter::once(&self.sender))
    }
}

/// A program to start on a host for a round.
struct Part {
    host: &'static str,
    program: Program,
    expect: Expect,
}

/// Runs the demo with the `mcast` binary at `bin`: prints each host's terminal and returns the
/// failed checks (empty when the lecture's outcome was reproduced). With `python`, runs the
/// lecture's Python programs beside `mcast` instead of `mcast` alone.
pub(crate) fn run(bin: &Path, python: bool) -> Result<Vec<String>> {
    let scripts = if python {
        Some(python_scripts()?)
    } else {
        None
    };
    let started = Instant::now();
    let lab = Lab::up(Config::lecture())?;
    let built = started.elapsed();
    let prefix = lab.prefix.clone();
    let rounds = match &scripts {
        None => play(&lab, bin, None, "mcast on every host", &mcast_parts()).map(|r| vec![r]),
        Some(py) => python_rounds(&lab, bin, py),
    };
    let played = started.elapsed();
    drop(lab);
    let rounds = rounds?;
    let mut failures = Vec::new();
    for round in &rounds {
        out!("{}", render_round(round));
        failures.extend(check_round(round));
    }
    if !python {
        out!("{}", mac_lesson(&rounds[0]));
    }
    let left = netns::list_netns_with_prefix(&prefix).unwrap_or_default();
    if !left.is_empty() {
        failures.push(format!(
            "namespaces left after teardown: {}",
            left.join(" ")
        ));
    }
    outln!(
        "\nlab up in {:.1} s, demo ran in {:.1} s, torn down in {:.1} s",
        built.as_secs_f64(),
        (played - built).as_secs_f64(),
        (started.elapsed() - played).as_secs_f64()
    );
    Ok(failures)
}

/// The lecture with `mcast` on every host: two receivers of [`GROUP`], bushwick's receiver of
/// [`OTHER_GROUP`] and its sniffer.
fn mcast_parts() -> Vec<Part> {
    let part = |host, expect| Part {
        host,
        program: Program::Mcast,
        expect,
    };
    vec![
        part("eastny", Expect::Receive),
        part("flatbush", Expect::Receive),
        part("bushwick", Expect::Silence),
        part("bushwick", Expect::Sniff),
        part(SENDER, Expect::Send),
    ]
}

/// The lecture's Python programs beside `mcast`: a Python sender to an `mcast` and a Python
/// receiver (and a Python receiver of the other group), then an `mcast` sender to a Python
/// and an `mcast` receiver.
fn python_rounds(lab: &Lab, bin: &Path, py: &PythonScripts) -> Result<Vec<Round>> {
    let part = |host, program, expect| Part {
        host,
        program,
        expect,
    };
    let first = [
        part("eastny", Program::Mcast, Expect::Receive),
        part("flatbush", Program::Python, Expect::Receive),
        part("bushwick", Program::Python, Expect::Silence),
        part(SENDER, Program::Python, Expect::Send),
    ];
    let second = [
        part("eastny", Program::Python, Expect::Receive),
        part("flatbush", Program::Mcast, Expect::Receive),
        part(SENDER, Program::Mcast, Expect::Send),
    ];
    Ok(vec![
        play(
            lab,
            bin,
            Some(py),
            "the Python sender to mcast and Python receivers",
            &first,
        )?,
        play(
            lab,
            bin,
            Some(py),
            "mcast's sender to a Python and an mcast receiver",
            &second,
        )?,
    ])
}

/// The lecture's Python programs, found in the repository.
pub(crate) struct PythonScripts {
    python: PathBuf,
    sender: PathBuf,
    receiver: PathBuf,
}

/// Where the Python programs live, relative to the repository's root (as the demo shows them).
const PY_SENDER: &str = "examples/python/sender.py";
const PY_RECEIVER: &str = "examples/python/receiver.py";

fn python_scripts() -> Result<PythonScripts> {
    let python = netns::which("python3")
        .context("`cargo xtask demo --python` needs python3 (apt-get install python3)")?;
    let root = lab::project_root();
    let found = |rel: &str| {
        let p = root.join(rel);
        if p.is_file() {
            Ok(p)
        } else {
            anyhow::bail!("the lecture's Python program {} is missing", p.display())
        }
    };
    Ok(PythonScripts {
        python,
        sender: found(PY_SENDER)?,
        receiver: found(PY_RECEIVER)?,
    })
}

/// Starts `mcast args…` (the binary at `bin`) on `host`, unless a Ctrl-C came (then the
/// process tears the lab down and exits instead: nothing outlives the lab).
pub(crate) fn start(lab: &Lab, host: &str, bin: &Path, args: &[&str]) -> Result<Proc> {
    lab::unless_interrupted(|| Proc::spawn(&lab.ns(host), bin, "mcast", args))
        .with_context(|| format!("failed to start mcast on {host}"))
}

/// The group as `/proc/net/igmp` prints it (hex of the address in memory order).
fn igmp_hex(group: &str) -> String {
    let octets: Vec<u8> = group.split('.').filter_map(|o| o.parse().ok()).collect();
    octets.iter().rev().map(|o| format!("{o:02X}")).collect()
}

/// Waits for `proc`'s "listening on" line; falls back to `/proc/net/igmp` for a receiver.
pub(crate) fn wait_ready(lab: &Lab, host: &str, proc: &mut Proc, group: Option<&str>) {
    if proc.wait_for_line(READY_WAIT, |l| l.contains("listening on")) {
        return;
    }
    eprintln!("warning: {host}: no \"listening on\" line within {READY_WAIT:?}");
    if let Some(group) = group {
        let hex = igmp_hex(group);
        let igmp = netns::run_in(&lab.ns(host), "cat", &["/proc/net/igmp"]).unwrap_or_default();
        if !igmp.contains(&hex) {
            eprintln!("warning: {host}: {group} is not joined either (/proc/net/igmp)");
        }
    }
}

/// The group a part's program joins, and how long it waits.
fn group_and_timeout(expect: Expect) -> (&'static str, Duration) {
    match expect {
        Expect::Silence => (OTHER_GROUP, SILENCE_TIMEOUT),
        _ => (GROUP, RECV_TIMEOUT),
    }
}

/// Starts one part's program on its host.
fn start_part(
    lab: &Lab,
    bin: &Path,
    py: Option<&PythonScripts>,
    part: &Part,
    addr: &str,
) -> Result<Proc> {
    let (group, timeout) = group_and_timeout(part.expect);
    let secs = timeout.as_secs().to_string();
    let timeout_arg = format!("{secs}s");
    match (part.program, py) {
        (Program::Python, Some(py)) => {
            let (script, shown, args): (&Path, &str, Vec<&str>) = match part.expect {
                Expect::Send => (&py.sender, PY_SENDER, vec![GROUP, PORT, MESSAGE, addr]),
                _ => (&py.receiver, PY_RECEIVER, vec![group, PORT, addr, &secs]),
            };
            let script = script.to_string_lossy();
            let mut all = vec![script.as_ref()];
            all.extend(args.iter().copied());
            let ns = lab.ns(part.host);
            let mut proc =
                lab::unless_interrupted(|| Proc::spawn(&ns, &py.python, "python3", &all))
                    .with_context(|| format!("failed to start python3 on {}", part.host))?;
            // Shown as run from the repository's root.
            proc.display = std::iter::once("python3".to_owned())
                .chain(std::iter::once(shown.to_owned()))
                .chain(args.iter().map(|a| netns::shell_quote(a)))
                .collect::<Vec<_>>()
                .join(" ");
            Ok(proc)
        }
        (Program::Python, None) => anyhow::bail!("no Python programs for {}", part.host),
        (Program::Mcast, _) => {
            let args: Vec<&str> = match part.expect {
                Expect::Send => vec!["send", GROUP, PORT, MESSAGE, "-i", addr, "--explain"],
                Expect::Receive => vec![
                    "recv",
                    GROUP,
                    PORT,
                    "-i",
                    addr,
                    "-c",
                    "1",
                    "--timeout",
                    &timeout_arg,
                    "--explain",
                ],
                Expect::Silence => vec![
                    "recv",
                    OTHER_GROUP,
                    PORT,
                    "-i",
                    addr,
                    "--timeout",
                    &timeout_arg,
                    "--explain",
                ],
                Expect::Sniff => vec![
                    "sniff",
                    "-i",
                    "lab0",
                    "--port",
                    PORT,
                    "--hexdump",
                    "-c",
                    "1",
                    "--timeout",
                    &timeout_arg,
                ],
            };
            start(lab, part.host, bin, &args)
        }
    }
}

/// Plays one round: starts every listener and waits until each says it listens, then starts
/// the sender, then collects everyone's output.
fn play(
    lab: &Lab,
    bin: &Path,
    py: Option<&PythonScripts>,
    title: &str,
    parts: &[Part],
) -> Result<Round> {
    let mut listeners = Vec::new();
    let mut sender = None;
    for part in parts {
        let addr = lab.host(part.host)?.addr.to_string();
        if part.expect == Expect::Send {
            sender = Some((part, addr));
            continue;
        }
        let proc = start_part(lab, bin, py, part, &addr)?;
        listeners.push((part, addr, proc));
    }
    for (part, _, proc) in &mut listeners {
        let group = (part.expect != Expect::Sniff).then(|| group_and_timeout(part.expect).0);
        wait_ready(lab, part.host, proc, group);
    }
    let counts: Vec<usize> = listeners.iter().map(|(_, _, p)| p.line_count()).collect();
    let (part, addr) = sender.context("a round needs a sender")?;
    let proc = start_part(lab, bin, py, part, &addr)?;
    let sender = Terminal {
        host: part.host,
        addr,
        expect: part.expect,
        before_send: 0,
        run: proc.finish(GRACE)?,
    };
    let mut done = Vec::new();
    for ((part, addr, proc), before_send) in listeners.into_iter().zip(counts) {
        let timeout = group_and_timeout(part.expect).1;
        done.push(Terminal {
            host: part.host,
            addr,
            expect: part.expect,
            before_send,
            run: proc.finish(timeout + GRACE)?,
        });
    }
    Ok(Round {
        title: title.to_owned(),
        listeners: done,
        sender,
    })
}

/// A terminal's header: host and address (and "sniffer" for the sniffer's, the host's second
/// terminal), and what part of its story follows.
fn header(t: &Terminal, part: &str) -> String {
    let which = if t.expect == Expect::Sniff {
        " sniffer"
    } else {
        ""
    };
    format!("── {} ({}){which}{part} ──\n", t.host, t.addr)
}

/// How the terminal ended and whether that is the lecture's outcome.
fn verdict(t: &Terminal) -> String {
    let exit = match (t.run.killed, t.run.code) {
        (true, _) => "[killed: overran its --timeout]".to_owned(),
        (false, Some(code)) => format!("[exit {code}]"),
        (false, None) => "[killed by a signal]".to_owned(),
    };
    match check(t) {
        Ok(expected) => format!("{exit} ✓ expected: {expected}\n"),
        Err(e) => format!("{exit} ✗ NOT the lecture's outcome: {e}\n"),
    }
}

/// One whole terminal: header, the command line, its output and its verdict.
pub(crate) fn render(t: &Terminal) -> String {
    let mut s = header(t, "");
    s.push_str(&format!("$ {}\n", t.run.display));
    for line in &t.run.lines {
        s.push_str(line);
        s.push('\n');
    }
    s.push_str(&verdict(t));
    s.push('\n');
    s
}

/// A round in the order things happened: each listener's command and its lines up to
/// "listening on", then the sender's whole terminal, then what each listener printed after.
pub(crate) fn render_round(r: &Round) -> String {
    let mut s = format!(
        "════ {}\n\n1. The receivers start, join and listen:\n\n",
        r.title
    );
    for t in &r.listeners {
        s.push_str(&header(t, ""));
        s.push_str(&format!("$ {}\n", t.run.display));
        for line in t.run.lines.iter().take(t.before_send) {
            s.push_str(line);
            s.push('\n');
        }
        s.push('\n');
    }
    s.push_str(&format!("2. Then {} sends:\n\n", r.sender.host));
    s.push_str(&render(&r.sender));
    s.push_str("3. What each of them got:\n\n");
    for t in &r.listeners {
        s.push_str(&header(t, ", continued"));
        for line in t.run.lines.iter().skip(t.before_send) {
            s.push_str(line);
            s.push('\n');
        }
        s.push_str(&verdict(t));
        s.push('\n');
    }
    s
}

fn describe(t: &Terminal) -> String {
    let out: Vec<&str> = t.run.output().collect();
    format!(
        "{} `{}` exited {:?}{}, output: {:?}",
        t.host,
        t.run.display,
        t.run.code,
        if t.run.killed { " (killed)" } else { "" },
        out
    )
}

/// Whether `line` is the sniffer's scapy-style summary of midwood's datagram.
fn is_summary(line: &str) -> bool {
    let line = line.trim();
    // The sniffer's line may start with its time column (`HH:MM:SS.ffffff `).
    let line = line
        .split_once(' ')
        .filter(|(t, _)| {
            t.bytes()
                .all(|b| b.is_ascii_digit() || b == b':' || b == b'.')
        })
        .map_or(line, |(_, rest)| rest);
    let Some(rest) = line.strip_prefix("Ether / IP / UDP 192.168.56.3:") else {
        return false;
    };
    let Some((sport, rest)) = rest.split_once(' ') else {
        return false;
    };
    sport.parse::<u16>().is_ok() && rest == format!("> {GROUP}:{PORT} / Raw")
}

/// The lecture's group.
fn group() -> Group {
    GROUP
        .parse()
        .unwrap_or_else(|_| unreachable!("{GROUP} is a group"))
}

/// The destination MAC of the first frame in a hexdump (`0000  01 00 5E 01 01 05 …`): its
/// first six bytes.
pub(crate) fn hexdump_destination(lines: &[String]) -> Option<MacAddr> {
    let row = lines.iter().find_map(|l| l.trim().strip_prefix("0000  "))?;
    let bytes: Vec<u8> = row
        .split_whitespace()
        .take(6)
        .map(|b| u8::from_str_radix(b, 16))
        .collect::<Result<_, _>>()
        .ok()?;
    Some(MacAddr(bytes.try_into().ok()?))
}

/// The `--explain` line of a join of `group` on `iface`: the `ip_mreq` bytes mcast-core builds,
/// which is what Python's `struct.pack("=4s4s", inet_aton(group), inet_aton(iface))` gives.
pub(crate) fn mreq_text(group: &str, iface: &str) -> Result<String, String> {
    let g: Group = group.parse().map_err(|e| format!("{group}: {e}"))?;
    let a: Ipv4Addr = iface.parse().map_err(|e| format!("{iface}: {e}"))?;
    let bytes = mreq::ip_mreq(g, a).map_err(|e| e.to_string())?;
    let hex: Vec<String> = bytes.iter().map(|b| format!("{b:02x}")).collect();
    Ok(format!("IP_ADD_MEMBERSHIP={}", hex.join(" ")))
}

/// Whether some output line holds `needle`.
fn said(t: &Terminal, needle: &str) -> bool {
    t.run.output().any(|l| l.contains(needle))
}

/// Whether the terminal did what the lecture says; `Ok` holds the words for the expected
/// outcome, `Err` how it differs.
pub(crate) fn check(t: &Terminal) -> Result<String, String> {
    match t.expect {
        Expect::Send => {
            let options = [
                format!("IP_MULTICAST_TTL={TTL}"),
                format!("IP_MULTICAST_IF={}", t.addr),
            ];
            if t.run.code != Some(0) {
                return Err(format!("{}'s sender failed: {}", t.host, describe(t)));
            }
            if let Some(missing) = options.iter().find(|o| !said(t, o)) {
                return Err(format!(
                    "{}'s sender should report {missing}: {}",
                    t.host,
                    describe(t)
                ));
            }
            Ok(format!(
                "sent once to {GROUP}:{PORT}, TTL {TTL} (this link only), out of {}",
                t.addr
            ))
        }
        Expect::Receive | Expect::Silence => {
            let (group, _) = group_and_timeout(t.expect);
            let mreq = mreq_text(group, &t.addr)?;
            if !said(t, &mreq) {
                return Err(format!(
                    "{} should join {group} with `{mreq}` (struct.pack(\"=4s4s\", …)): {}",
                    t.host,
                    describe(t)
                ));
            }
            let got = t.run.output().any(|l| l.trim_end() == MESSAGE);
            if t.expect == Expect::Receive {
                if !got || t.run.code != Some(0) {
                    return Err(format!(
                        "{} should print {MESSAGE:?} and exit 0: {}",
                        t.host,
                        describe(t)
                    ));
                }
                Ok(format!(
                    "{} joined {GROUP}, so midwood's datagram arrives",
                    t.host
                ))
            } else {
                if said(t, MESSAGE) || t.run.code != Some(1) {
                    return Err(format!(
                        "{} (joined {OTHER_GROUP}) should get nothing and exit 1 after its timeout: {}",
                        t.host,
                        describe(t)
                    ));
                }
                Ok(format!(
                    "{} joined {OTHER_GROUP} only, so nothing arrives",
                    t.host
                ))
            }
        }
        Expect::Sniff => {
            if !t.run.output().any(is_summary) {
                return Err(format!(
                    "{}'s sniffer should show `Ether / IP / UDP 192.168.56.3:PORT > {GROUP}:{PORT} / Raw`: {}",
                    t.host,
                    describe(t)
                ));
            }
            let want = group().mac();
            match hexdump_destination(&t.run.lines) {
                Some(mac) if mac == want => Ok(format!(
                    "the frame reaches {}'s link all the same, to {GROUP}'s MAC {want}",
                    t.host
                )),
                other => Err(format!(
                    "{}'s sniffer hexdump should start with the destination MAC {want}, got {}: {}",
                    t.host,
                    other.map_or_else(|| "no hexdump".to_owned(), |m| m.to_string()),
                    describe(t)
                )),
            }
        }
    }
}

/// Every way a round differs from the lecture's.
pub(crate) fn check_round(r: &Round) -> Vec<String> {
    r.terminals().filter_map(|t| check(t).err()).collect()
}

/// How `group` becomes its Ethernet MAC and which groups share it, from mcast-core's mapping.
pub(crate) fn mac_derivation(group: Group) -> Vec<String> {
    let mac = group.mac();
    let o = mac.octets();
    let low23 = u32::from_be_bytes([0, o[3], o[4], o[5]]);
    let ip_hex: Vec<String> = group
        .as_v4()
        .map(|a| a.octets().iter().map(|b| format!("{b:02x}")).collect())
        .unwrap_or_default();
    let others: Vec<Group> = group
        .mac_collisions()
        .into_iter()
        .filter(|g| *g != group)
        .collect();
    let shown: Vec<String> = others
        .iter()
        .take(SHOWN_COLLISIONS)
        .map(ToString::to_string)
        .collect();
    let last = others.last().map(ToString::to_string).unwrap_or_default();
    vec![
        format!("{group} → low 23 bits → {mac}"),
        format!(
            "  {group} is {} in hex; its low 23 bits are 0x{low23:06x}; 01:00:5e:00:00:00 + 0x{low23:06x} = {mac}",
            ip_hex.join(" ")
        ),
        format!(
            "  the 5 bits after the 1110 prefix are dropped, so {} groups share {mac}: {group} and {} others,",
            others.len() + 1,
            others.len()
        ),
        format!("  {}, …, {last}", shown.join(", ")),
    ]
}

/// The lecture's point about the wire: the destination MAC bushwick's sniffer saw, where it
/// comes from, and why bushwick's receiver stayed silent although the frame reached it.
fn mac_lesson(r: &Round) -> String {
    let mut s = String::from("4. The MAC on the wire:\n\n");
    let sniffed = r
        .listeners
        .iter()
        .find(|t| t.expect == Expect::Sniff)
        .and_then(|t| hexdump_destination(&t.run.lines));
    s.push_str(&match sniffed {
        Some(mac) => format!(
            "the sniffed frame's destination MAC is {mac} (the hexdump's first six bytes)\n"
        ),
        None => "the sniffer printed no frame\n".to_owned(),
    });
    for line in mac_derivation(group()) {
        s.push_str(&line);
        s.push('\n');
    }
    let other: Group = OTHER_GROUP
        .parse()
        .unwrap_or_else(|_| unreachable!("{OTHER_GROUP} is a group"));
    s.push_str(&format!(
        "bushwick joined {OTHER_GROUP} (MAC {}): its sniffer sees the frame on the link, its \
         receiver's socket gets nothing\n",
        other.mac()
    ));
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A finished program with these output lines, for tests.
    fn finished(display: &str, code: Option<i32>, out: &[&str]) -> Finished {
        Finished {
            display: display.into(),
            code,
            killed: false,
            lines: out.iter().map(|l| (*l).to_owned()).collect(),
        }
    }

    fn term(host: &'static str, addr: &str, expect: Expect, run: Finished) -> Terminal {
        Terminal {
            host,
            addr: addr.into(),
            expect,
            before_send: 1,
            run,
        }
    }

    fn join(group: &str, addr: &str) -> String {
        format!(
            "socket option IPPROTO_IP {} (ip_mreq: …)",
            mreq_text(group, addr).unwrap()
        )
    }

    fn lecture_round() -> Round {
        let recv = |host, addr: &str| {
            term(
                host,
                addr,
                Expect::Receive,
                finished(
                    "mcast recv",
                    Some(0),
                    &[&join(GROUP, addr), "Hello, World!"],
                ),
            )
        };
        Round {
            title: "test".into(),
            listeners: vec![
                recv("eastny", "192.168.56.1"),
                recv("flatbush", "192.168.56.4"),
                term(
                    "bushwick",
                    "192.168.56.5",
                    Expect::Silence,
                    finished("mcast recv", Some(1), &[&join(OTHER_GROUP, "192.168.56.5")]),
                ),
                term(
                    "bushwick",
                    "192.168.56.5",
                    Expect::Sniff,
                    finished(
                        "mcast sniff",
                        Some(0),
                        &[
                            "Ether / IP / UDP 192.168.56.3:52582 > 224.1.1.5:50001 / Raw",
                            "0000  01 00 5E 01 01 05 2A 1B 3C 4D 5E 6F 08 00 45 00  ..^...*.<M^o..E.",
                        ],
                    ),
                ),
            ],
            sender: term(
                SENDER,
                "192.168.56.3",
                Expect::Send,
                finished(
                    "mcast send",
                    Some(0),
                    &[
                        "socket option IPPROTO_IP IP_MULTICAST_TTL=1",
                        "socket option IPPROTO_IP IP_MULTICAST_IF=192.168.56.3 (an in_addr)",
                    ],
                ),
            ),
        }
    }

    #[test]
    fn the_lecture_outcome_passes() {
        assert_eq!(check_round(&lecture_round()), Vec::<String>::new());
    }

    #[test]
    fn every_deviation_is_reported_together() {
        let mut r = lecture_round();
        let flat_join = join(GROUP, "192.168.56.4");
        r.listeners[1].run = finished("mcast recv", Some(1), &[&flat_join]);
        r.listeners[2].run = finished(
            "mcast recv",
            Some(0),
            &[&join(OTHER_GROUP, "192.168.56.5"), "Hello, World!"],
        );
        r.listeners[3].run = finished("mcast sniff", Some(1), &[]);
        r.sender.run = finished("mcast send", Some(1), &[]);
        let failures = check_round(&r);
        assert_eq!(failures.len(), 4, "{failures:#?}");
        assert!(failures[0].starts_with("flatbush"));
        assert!(failures[1].starts_with("bushwick (joined 234.3.2.1)"));
        assert!(failures[2].starts_with("bushwick's sniffer"));
        assert!(failures[3].starts_with("midwood's sender failed"));
    }

    #[test]
    fn the_socket_options_are_checked_not_only_printed() {
        let mut r = lecture_round();
        // TTL 2 is not the lecture's.
        r.sender.run = finished(
            "mcast send",
            Some(0),
            &[
                "socket option IPPROTO_IP IP_MULTICAST_TTL=2",
                "socket option IPPROTO_IP IP_MULTICAST_IF=192.168.56.3",
            ],
        );
        // eastny joined on flatbush's address.
        r.listeners[0].run = finished(
            "mcast recv",
            Some(0),
            &[&join(GROUP, "192.168.56.4"), "Hello, World!"],
        );
        let failures = check_round(&r);
        assert_eq!(failures.len(), 2, "{failures:#?}");
        assert!(
            failures[0].contains("IP_ADD_MEMBERSHIP=e0 01 01 05 c0 a8 38 01"),
            "{}",
            failures[0]
        );
        assert!(
            failures[1].contains("should report IP_MULTICAST_TTL=1"),
            "{}",
            failures[1]
        );
    }

    #[test]
    fn a_wrong_destination_mac_fails() {
        let mut r = lecture_round();
        r.listeners[3].run.lines[1] =
            "0000  01 00 5E 03 02 01 2A 1B 3C 4D 5E 6F 08 00 45 00  ..^...*.<M^o..E.".into();
        let failures = check_round(&r);
        assert_eq!(failures.len(), 1, "{failures:#?}");
        assert!(
            failures[0].contains("destination MAC 01:00:5e:01:01:05, got 01:00:5e:03:02:01"),
            "{}",
            failures[0]
        );
    }

    #[test]
    fn summary_line_must_name_sender_group_and_port() {
        assert!(is_summary(
            "Ether / IP / UDP 192.168.56.3:52582 > 224.1.1.5:50001 / Raw"
        ));
        assert!(is_summary(
            "12:00:00.123456 Ether / IP / UDP 192.168.56.3:52582 > 224.1.1.5:50001 / Raw"
        ));
        assert!(!is_summary(
            "Ether / IP / UDP 192.168.56.3:52582 > 234.3.2.1:50001 / Raw"
        ));
        assert!(!is_summary(
            "Ether / IP / UDP 192.168.56.4:52582 > 224.1.1.5:50001 / Raw"
        ));
        assert!(!is_summary(
            "Ether / IP / UDP 192.168.56.3:x > 224.1.1.5:50001 / Raw"
        ));
    }

    #[test]
    fn igmp_hex_is_in_proc_order() {
        assert_eq!(igmp_hex("224.1.1.5"), "050101E0");
    }

    #[test]
    fn a_terminal_renders_header_command_output_and_verdict() {
        let r = lecture_round();
        assert_eq!(
            render(&r.listeners[0]),
            format!(
                "── eastny (192.168.56.1) ──\n$ mcast recv\n{}\nHello, World!\n\
                 [exit 0] ✓ expected: eastny joined 224.1.1.5, so midwood's datagram arrives\n\n",
                join(GROUP, "192.168.56.1")
            )
        );
    }

    #[test]
    fn bushwicks_silence_is_marked_as_expected() {
        let r = lecture_round();
        assert_eq!(
            verdict(&r.listeners[2]),
            "[exit 1] ✓ expected: bushwick joined 234.3.2.1 only, so nothing arrives\n"
        );
        let mut wrong = r.listeners[2].clone();
        wrong.run.code = Some(0);
        assert!(verdict(&wrong).starts_with("[exit 0] ✗ NOT the lecture's outcome: bushwick"));
    }

    #[test]
    fn a_round_shows_listening_before_the_send_and_receipts_after() {
        let text = render_round(&lecture_round());
        let at = |needle: &str| {
            text.find(needle)
                .unwrap_or_else(|| panic!("{needle:?} missing from:\n{text}"))
        };
        let joined = at("IP_ADD_MEMBERSHIP=e0 01 01 05 c0 a8 38 01");
        let sent = at("$ mcast send");
        let got = at("Hello, World!");
        assert!(joined < sent && sent < got, "{text}");
        assert!(text.contains("── eastny (192.168.56.1), continued ──\nHello, World!\n"));
    }

    #[test]
    fn the_mac_derivation_spells_out_the_low_23_bits_and_the_31_others() {
        assert_eq!(
            mac_derivation(group()),
            [
                "224.1.1.5 → low 23 bits → 01:00:5e:01:01:05",
                "  224.1.1.5 is e0 01 01 05 in hex; its low 23 bits are 0x010105; \
                 01:00:5e:00:00:00 + 0x010105 = 01:00:5e:01:01:05",
                "  the 5 bits after the 1110 prefix are dropped, so 32 groups share \
                 01:00:5e:01:01:05: 224.1.1.5 and 31 others,",
                "  224.129.1.5, 225.1.1.5, 225.129.1.5, 226.1.1.5, 226.129.1.5, …, 239.129.1.5",
            ]
        );
    }

    #[test]
    fn the_mreq_text_is_pythons_4s4s_packing() {
        // struct.pack("=4s4s", inet_aton("224.1.1.5"), inet_aton("192.168.56.1"))
        // == b"\xe0\x01\x01\x05\xc0\xa8\x38\x01"
        assert_eq!(
            mreq_text("224.1.1.5", "192.168.56.1").unwrap(),
            "IP_ADD_MEMBERSHIP=e0 01 01 05 c0 a8 38 01"
        );
        assert!(mreq_text("ff02::1", "192.168.56.1").is_err());
    }

    #[test]
    fn the_hexdump_gives_the_destination_mac() {
        let lines = vec![
            "Ether / IP / UDP …".to_owned(),
            "0000  01 00 5E 01 01 05 56 C5 E5 F0 D4 96 08 00 45 00  ..^...V.......E.".to_owned(),
        ];
        assert_eq!(
            hexdump_destination(&lines).map(|m| m.to_string()),
            Some("01:00:5e:01:01:05".to_owned())
        );
        assert_eq!(hexdump_destination(&["0000  01 00".to_owned()]), None);
    }
}
