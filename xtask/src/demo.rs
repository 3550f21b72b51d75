//! `cargo xtask demo`: the lecture's four hosts, run for real in namespaces, and checked.

use std::{
    path::Path,
    time::{Duration, Instant},
};

use anyhow::{Context, Result};

use crate::{
    lab::{Config, Lab, PORT},
    netns::{self, Finished, Proc},
};

/// The group midwood sends to and eastny and flatbush join.
pub(crate) const GROUP: &str = "224.1.1.5";
const OTHER_GROUP: &str = "234.3.2.1";
const MESSAGE: &str = "Hello, World!";
/// 224.1.1.5's MAC as the sniffer's hexdump prints it (the frame's first six bytes).
const GROUP_MAC_HEX: &str = "01 00 5E 01 01 05";

/// How long a process may take to print its "listening on" line.
const READY_WAIT: Duration = Duration::from_secs(5);

/// One terminal of the demo: which host, its address, and what happened in it.
#[derive(Debug, Clone)]
pub(crate) struct Terminal {
    /// The host's name.
    pub(crate) host: &'static str,
    /// The host's address.
    pub(crate) addr: String,
    /// What ran there and what it printed.
    pub(crate) run: Finished,
}

/// Everything the demo saw, in the lecture's order: midwood, eastny, flatbush, bushwick (recv),
/// bushwick (sniff).
#[derive(Debug, Clone)]
pub(crate) struct Outcome {
    pub(crate) midwood: Terminal,
    pub(crate) eastny: Terminal,
    pub(crate) flatbush: Terminal,
    pub(crate) bushwick_recv: Terminal,
    pub(crate) bushwick_sniff: Terminal,
}

impl Outcome {
    fn terminals(&self) -> [&Terminal; 5] {
        [
            &self.midwood,
            &self.eastny,
            &self.flatbush,
            &self.bushwick_recv,
            &self.bushwick_sniff,
        ]
    }
}

/// Runs the demo with the `mcast` binary at `bin`: prints each host's terminal and returns the
/// failed checks (empty when the lecture's outcome was reproduced).
pub(crate) fn run(bin: &Path) -> Result<Vec<String>> {
    let started = Instant::now();
    let lab = Lab::up(Config::lecture())?;
    let built = started.elapsed();
    let prefix = lab.prefix.clone();
    let outcome = play(&lab, bin);
    let played = started.elapsed();
    drop(lab);
    let outcome = outcome?;
    for t in outcome.terminals() {
        out!("{}", render(t));
    }
    let left = netns::list_netns_with_prefix(&prefix).unwrap_or_default();
    let mut failures = check(&outcome);
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

/// Starts `mcast args…` (the binary at `bin`) on `host`.
pub(crate) fn start(lab: &Lab, host: &str, bin: &Path, args: &[&str]) -> Result<Proc> {
    Proc::spawn(&lab.ns(host), bin, "mcast", args)
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

fn play(lab: &Lab, bin: &Path) -> Result<Outcome> {
    let addr = |name: &str| lab.host(name).map(|h| h.addr.to_string());
    let (east, mid, flat, bush) = (
        addr("eastny")?,
        addr("midwood")?,
        addr("flatbush")?,
        addr("bushwick")?,
    );

    let recv = |host: &str, ip: &str| {
        start(
            lab,
            host,
            bin,
            &["recv", GROUP, PORT, "-i", ip, "-c", "1", "--timeout", "10s"],
        )
    };
    let mut eastny = recv("eastny", &east)?;
    let mut flatbush = recv("flatbush", &flat)?;
    let mut bushwick_recv = start(
        lab,
        "bushwick",
        bin,
        &["recv", OTHER_GROUP, PORT, "-i", &bush, "--timeout", "3s"],
    )?;
    let mut bushwick_sniff = start(
        lab,
        "bushwick",
        bin,
        &[
            "sniff",
            "-i",
            "lab0",
            "--port",
            PORT,
            "--hexdump",
            "-c",
            "1",
            "--timeout",
            "10s",
        ],
    )?;
    wait_ready(lab, "eastny", &mut eastny, Some(GROUP));
    wait_ready(lab, "flatbush", &mut flatbush, Some(GROUP));
    wait_ready(lab, "bushwick", &mut bushwick_recv, Some(OTHER_GROUP));
    wait_ready(lab, "bushwick", &mut bushwick_sniff, None);

    let midwood = start(
        lab,
        "midwood",
        bin,
        &["send", GROUP, PORT, MESSAGE, "-i", &mid],
    )?;
    let term = |host: &'static str, addr: &str, run: Finished| Terminal {
        host,
        addr: addr.to_owned(),
        run,
    };
    // Every process bounds itself with --timeout; the extra seconds only catch a hang.
    let grace = Duration::from_secs(5);
    Ok(Outcome {
        midwood: term("midwood", &mid, midwood.finish(grace)?),
        eastny: term(
            "eastny",
            &east,
            eastny.finish(Duration::from_secs(10) + grace)?,
        ),
        flatbush: term(
            "flatbush",
            &flat,
            flatbush.finish(Duration::from_secs(10) + grace)?,
        ),
        bushwick_recv: term(
            "bushwick",
            &bush,
            bushwick_recv.finish(Duration::from_secs(3) + grace)?,
        ),
        bushwick_sniff: term(
            "bushwick",
            &bush,
            bushwick_sniff.finish(Duration::from_secs(10) + grace)?,
        ),
    })
}

/// One terminal as the lecture shows it: a header, the command line, its output.
pub(crate) fn render(t: &Terminal) -> String {
    let mut s = format!("── {} ({}) ──\n$ {}\n", t.host, t.addr, t.run.display);
    for line in &t.run.lines {
        s.push_str(line);
        s.push('\n');
    }
    match (t.run.killed, t.run.code) {
        (true, _) => s.push_str("[killed: overran its --timeout]\n"),
        (false, Some(code)) => s.push_str(&format!("[exit {code}]\n")),
        (false, None) => s.push_str("[killed by a signal]\n"),
    }
    s.push('\n');
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

/// Every way the outcome differs from the lecture's.
pub(crate) fn check(o: &Outcome) -> Vec<String> {
    let mut failures = Vec::new();
    if o.midwood.run.code != Some(0) {
        failures.push(format!("midwood's sender failed: {}", describe(&o.midwood)));
    }
    for t in [&o.eastny, &o.flatbush] {
        let got = t.run.output().any(|l| l.trim_end() == MESSAGE);
        if !got || t.run.code != Some(0) {
            failures.push(format!(
                "{} should print {MESSAGE:?} and exit 0: {}",
                t.host,
                describe(t)
            ));
        }
    }
    let r = &o.bushwick_recv;
    if r.run.output().any(|l| l.contains(MESSAGE)) || r.run.code != Some(1) {
        failures.push(format!(
            "bushwick (joined {OTHER_GROUP}) should get nothing and exit 1 after its timeout: {}",
            describe(r)
        ));
    }
    let s = &o.bushwick_sniff;
    if !s.run.output().any(is_summary) {
        failures.push(format!(
            "bushwick's sniffer should show `Ether / IP / UDP 192.168.56.3:PORT > {GROUP}:{PORT} / Raw`: {}",
            describe(s)
        ));
    }
    let mac = GROUP_MAC_HEX.to_ascii_lowercase();
    if !s
        .run
        .output()
        .any(|l| l.to_ascii_lowercase().contains(&mac))
    {
        failures.push(format!(
            "bushwick's sniffer hexdump should contain the destination MAC `{GROUP_MAC_HEX}`: {}",
            describe(s)
        ));
    }
    failures
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Lines tagged as stdout, for tests.
    fn finished(display: &str, code: Option<i32>, out: &[&str]) -> Finished {
        Finished {
            display: display.into(),
            code,
            killed: false,
            lines: out.iter().map(|l| (*l).to_owned()).collect(),
        }
    }

    fn term(host: &'static str, run: Finished) -> Terminal {
        Terminal {
            host,
            addr: "192.168.56.9".into(),
            run,
        }
    }

    fn lecture_outcome() -> Outcome {
        Outcome {
            midwood: term("midwood", finished("mcast send", Some(0), &[])),
            eastny: term(
                "eastny",
                finished("mcast recv", Some(0), &["Hello, World!"]),
            ),
            flatbush: term(
                "flatbush",
                finished("mcast recv", Some(0), &["Hello, World!"]),
            ),
            bushwick_recv: term("bushwick", finished("mcast recv", Some(1), &[])),
            bushwick_sniff: term(
                "bushwick",
                finished(
                    "mcast sniff",
                    Some(0),
                    &[
                        "Ether / IP / UDP 192.168.56.3:52582 > 224.1.1.5:50001 / Raw",
                        "0000  01 00 5E 01 01 05 2A 1B 3C 4D 5E 6F 08 00 45 00  ..^...*.<M^o..E.",
                    ],
                ),
            ),
        }
    }

    #[test]
    fn the_lecture_outcome_passes() {
        assert_eq!(check(&lecture_outcome()), Vec::<String>::new());
    }

    #[test]
    fn every_deviation_is_reported_together() {
        let mut o = lecture_outcome();
        o.flatbush.run = finished("mcast recv", Some(1), &[]);
        o.bushwick_recv.run = finished("mcast recv", Some(0), &["Hello, World!"]);
        o.bushwick_sniff.run = finished("mcast sniff", Some(1), &[]);
        let failures = check(&o);
        assert_eq!(failures.len(), 4, "{failures:#?}");
        assert!(failures[0].starts_with("flatbush"));
        assert!(failures[1].starts_with("bushwick (joined 234.3.2.1)"));
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
    fn a_terminal_renders_header_command_and_output() {
        let o = lecture_outcome();
        assert_eq!(
            render(&o.eastny),
            "── eastny (192.168.56.9) ──\n$ mcast recv\nHello, World!\n[exit 0]\n\n"
        );
    }
}
