//! `--loss` and `--dup`: faults that nftables injects inside the host namespaces.
//!
//! * `--loss P` drops P% of the UDP datagrams each host receives. Each datagram gets one draw per
//!   receiving host, so a stream from one host to another loses P%.
//! * `--loss P@HOST` drops P% of the UDP datagrams HOST sends and P% of those it receives: HOST's
//!   link is lossy both ways. An exchange of a request and its answer with HOST (what
//!   `mcast ping` measures) crosses HOST's rules twice and fails with chance 1 − (1 − P/100)²;
//!   traffic between the other hosts is untouched.
//! * `--dup P` and `--dup P@HOST` send P% of the multicast UDP datagrams of every host (or of HOST)
//!   twice. Duplicates are made on the sending side only: nftables' `dup` transmits its copy, it
//!   cannot deliver one to the host itself.
//!
//! Faults add up: with `--loss 5 --loss 20@flatbush` a datagram flatbush receives must survive
//! both draws. Each draw is `numgen random mod 100 < P`, independent per rule and per packet.
//!
//! There is no delay fault: nftables cannot hold a packet back, and the kernel the lab was
//! developed on (6.18) has none of the qdiscs that can: no `netem`, and no `fq` or `etf` to honour
//! a departure time that a BPF classifier could set. What is left, the `NFQUEUE` target with a
//! process per host holding each packet in user space, adds that process's wake-up delays, which
//! on a busy machine are as large as the few milliseconds one would ask for (`mcast ping`'s own
//! round trips in the lab reach 2 ms at p99 against a 0.25 ms median).

use std::{fmt, str::FromStr};

use anyhow::{bail, Result};

/// One `--loss` or `--dup` value: a percentage, for every host or for one.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Fault {
    /// The chance, in percent (0 to 100).
    pub(crate) percent: u8,
    /// The host it applies to; `None`: every host.
    pub(crate) host: Option<String>,
}

impl Fault {
    /// `P` for every host.
    pub(crate) const fn everywhere(percent: u8) -> Self {
        Self {
            percent,
            host: None,
        }
    }

    /// `P@HOST`.
    pub(crate) fn on(percent: u8, host: &str) -> Self {
        Self {
            percent,
            host: Some(host.to_owned()),
        }
    }

    fn applies_to(&self, host: &str) -> bool {
        self.host.as_deref().is_none_or(|h| h == host)
    }
}

/// As typed on the command line: `10` or `10@flatbush`.
impl fmt::Display for Fault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.host {
            None => write!(f, "{}", self.percent),
            Some(host) => write!(f, "{}@{host}", self.percent),
        }
    }
}

impl FromStr for Fault {
    type Err = String;

    /// `P` or `P@HOST`, P a whole percentage from 0 to 100. Whether HOST exists depends on the
    /// topology, which [`check`] knows.
    fn from_str(text: &str) -> Result<Self, String> {
        let (percent, host) = match text.split_once('@') {
            Some((p, h)) => (p, Some(h)),
            None => (text, None),
        };
        let value: u32 = percent
            .parse()
            .map_err(|_| format!("{percent:?} is not a percentage: give P or P@HOST"))?;
        let percent = u8::try_from(value)
            .ok()
            .filter(|p| *p <= 100)
            .ok_or_else(|| format!("{value}% is out of 0-100"))?;
        match host {
            Some("") => Err(format!("no host after the @ in {text:?}")),
            Some(h) => Ok(Self::on(percent, h)),
            None => Ok(Self::everywhere(percent)),
        }
    }
}

/// Reads a list as the state file holds it: space-separated values, empty for none.
pub(crate) fn parse_list(text: &str) -> Result<Vec<Fault>, String> {
    text.split_whitespace().map(str::parse).collect()
}

/// Writes a list as [`parse_list`] reads it.
pub(crate) fn list(faults: &[Fault]) -> String {
    faults
        .iter()
        .map(Fault::to_string)
        .collect::<Vec<_>>()
        .join(" ")
}

/// A list for `lab status`'s first line: `20%@flatbush 1%`, or `-` when empty.
pub(crate) fn summary(faults: &[Fault]) -> String {
    if faults.is_empty() {
        return "-".to_owned();
    }
    faults
        .iter()
        .map(|f| match &f.host {
            None => format!("{}%", f.percent),
            Some(host) => format!("{}%@{host}", f.percent),
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// Fails with a one-line message when a `flag` (`--loss` or `--dup`) value names a host that is
/// not among `hosts`, or when two values cover the same hosts (two for every host, or two for
/// one host).
pub(crate) fn check(flag: &str, faults: &[Fault], hosts: &[&str], topology: &str) -> Result<()> {
    for (i, fault) in faults.iter().enumerate() {
        if let Some(host) = &fault.host {
            if !hosts.contains(&host.as_str()) {
                bail!(
                    "{flag} {fault}: no host {host} in the {topology} lab: choose one of {}",
                    hosts.join(", ")
                );
            }
        }
        if let Some(earlier) = faults[..i].iter().find(|f| f.host == fault.host) {
            let whom = fault
                .host
                .as_deref()
                .map_or("every host".to_owned(), |h| format!("host {h}"));
            bail!("{flag} is given twice for {whom} ({earlier} and {fault}): give it once");
        }
    }
    Ok(())
}

/// The nftables rules for `host`, named `table`, or `None` when no fault (above 0%) applies to it.
///
/// * Loss on receipt: a `prerouting` chain of the `ip` table drops UDP before anything else in the
///   host sees it.
/// * Loss on sending (faults aimed at this host): an `egress` chain on `lab0` in the `netdev`
///   table drops UDP as it leaves, so the sender's `sendto` still succeeds, as on a lossy wire.
///   (A drop in the `output` hook would fail the `sendto` with `EPERM`, and `mcast send` would
///   stop.)
/// * Duplication: an `output` chain of the `ip` table copies multicast UDP out of `lab0`.
pub(crate) fn ruleset(table: &str, host: &str, loss: &[Fault], dup: &[Fault]) -> Option<String> {
    // `numgen random mod 100` yields 0..=99, so P% is `< P`; 100% needs no draw at all.
    let chance = |p: u8| match p {
        100.. => String::new(),
        p => format!("numgen random mod 100 < {p} "),
    };
    let here = |faults: &[Fault]| -> Vec<Fault> {
        faults
            .iter()
            .filter(|f| f.percent > 0 && f.applies_to(host))
            .cloned()
            .collect()
    };
    let (loss, dup) = (here(loss), here(dup));
    if loss.is_empty() && dup.is_empty() {
        return None;
    }
    let drop = |f: &Fault| {
        format!(
            "meta l4proto udp {}drop comment \"--loss {f}\"",
            chance(f.percent)
        )
    };
    let chain = |name: &str, hook: &str, lines: Vec<String>| -> String {
        if lines.is_empty() {
            return String::new();
        }
        let mut text = format!("  chain {name} {{\n    type filter hook {hook};\n");
        for line in lines {
            text.push_str(&format!("    {line}\n"));
        }
        text + "  }\n"
    };
    let ip = [
        chain(
            "loss_in",
            "prerouting priority -300",
            loss.iter().map(drop).collect(),
        ),
        chain(
            "dup_out",
            "output priority 0",
            dup.iter()
                .map(|f| {
                    format!(
                        "ip daddr 224.0.0.0/4 meta l4proto udp {}dup to ip daddr device \"lab0\" comment \"--dup {f}\"",
                        chance(f.percent)
                    )
                })
                .collect(),
        ),
    ]
    .concat();
    let egress = chain(
        "loss_out",
        "egress device \"lab0\" priority -300",
        loss.iter().filter(|f| f.host.is_some()).map(drop).collect(),
    );
    let mut rules = String::new();
    for (family, chains) in [("ip", ip), ("netdev", egress)] {
        if !chains.is_empty() {
            rules.push_str(&format!("table {family} {table} {{\n{chains}}}\n"));
        }
    }
    Some(rules)
}

/// What the faults do to `host`, for `lab status`: `loss 5% in, 20% in+out; dup 10% out`, or
/// `None` when nothing applies to it.
pub(crate) fn describe(host: &str, loss: &[Fault], dup: &[Fault]) -> Option<String> {
    let terms = |faults: &[Fault], own: &str, all: &str| -> Vec<String> {
        faults
            .iter()
            .filter(|f| f.percent > 0 && f.applies_to(host))
            .map(|f| {
                let way = if f.host.is_some() { own } else { all };
                format!("{}% {way}", f.percent)
            })
            .collect()
    };
    let parts: Vec<String> = [
        ("loss", terms(loss, "in+out", "in")),
        ("dup", terms(dup, "out", "out")),
    ]
    .into_iter()
    .filter(|(_, t)| !t.is_empty())
    .map(|(what, t)| format!("{what} {}", t.join(", ")))
    .collect();
    (!parts.is_empty()).then(|| parts.join("; "))
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOSTS: [&str; 4] = ["eastny", "midwood", "flatbush", "bushwick"];

    #[test]
    fn values_parse_with_and_without_a_host() {
        assert_eq!("10".parse(), Ok(Fault::everywhere(10)));
        assert_eq!("0".parse(), Ok(Fault::everywhere(0)));
        assert_eq!("100@flatbush".parse(), Ok(Fault::on(100, "flatbush")));
        for text in ["10", "5@eastny", "100@bushwick"] {
            assert_eq!(text.parse::<Fault>().unwrap().to_string(), text);
        }
    }

    #[test]
    fn bad_values_say_what_is_wrong_in_one_line() {
        let err = |text: &str| text.parse::<Fault>().unwrap_err();
        assert_eq!(err("101"), "101% is out of 0-100");
        assert_eq!(err("300@flatbush"), "300% is out of 0-100");
        assert_eq!(err("ten"), "\"ten\" is not a percentage: give P or P@HOST");
        assert_eq!(err("-5"), "\"-5\" is not a percentage: give P or P@HOST");
        assert_eq!(
            err("@flatbush"),
            "\"\" is not a percentage: give P or P@HOST"
        );
        assert_eq!(err("10@"), "no host after the @ in \"10@\"");
    }

    #[test]
    fn unknown_hosts_and_repeats_are_refused() {
        let check = |faults: &[Fault]| check("--loss", faults, &HOSTS, "lecture");
        assert!(check(&[Fault::everywhere(5), Fault::on(20, "flatbush")]).is_ok());
        assert!(check(&[Fault::on(20, "flatbush"), Fault::on(5, "eastny")]).is_ok());
        assert_eq!(
            check(&[Fault::on(10, "router")]).unwrap_err().to_string(),
            "--loss 10@router: no host router in the lecture lab: choose one of eastny, midwood, flatbush, bushwick"
        );
        assert_eq!(
            check(&[Fault::on(10, "flatbush"), Fault::on(20, "flatbush")])
                .unwrap_err()
                .to_string(),
            "--loss is given twice for host flatbush (10@flatbush and 20@flatbush): give it once"
        );
        assert_eq!(
            check(&[Fault::everywhere(1), Fault::everywhere(2)])
                .unwrap_err()
                .to_string(),
            "--loss is given twice for every host (1 and 2): give it once"
        );
    }

    #[test]
    fn the_state_file_list_round_trips() {
        let faults = vec![Fault::everywhere(5), Fault::on(20, "flatbush")];
        assert_eq!(list(&faults), "5 20@flatbush");
        assert_eq!(parse_list(&list(&faults)), Ok(faults));
        assert_eq!(parse_list(""), Ok(vec![]));
        // A state file written before faults had hosts.
        assert_eq!(parse_list("20"), Ok(vec![Fault::everywhere(20)]));
    }

    #[test]
    fn a_host_fault_drops_both_ways_and_only_on_that_host() {
        let loss = [Fault::on(20, "flatbush")];
        assert_eq!(ruleset("mcl1-lab", "eastny", &loss, &[]), None);
        assert_eq!(
            ruleset("mcl1-lab", "flatbush", &loss, &[]).unwrap(),
            "table ip mcl1-lab {\n\
             \x20 chain loss_in {\n\
             \x20   type filter hook prerouting priority -300;\n\
             \x20   meta l4proto udp numgen random mod 100 < 20 drop comment \"--loss 20@flatbush\"\n\
             \x20 }\n\
             }\n\
             table netdev mcl1-lab {\n\
             \x20 chain loss_out {\n\
             \x20   type filter hook egress device \"lab0\" priority -300;\n\
             \x20   meta l4proto udp numgen random mod 100 < 20 drop comment \"--loss 20@flatbush\"\n\
             \x20 }\n\
             }\n"
        );
    }

    #[test]
    fn an_everywhere_fault_drops_on_receipt_and_faults_add_up() {
        let loss = [Fault::everywhere(100), Fault::on(20, "flatbush")];
        let dup = [Fault::on(0, "eastny"), Fault::everywhere(5)];
        let east = ruleset("t", "eastny", &loss, &dup).unwrap();
        assert!(east.contains("chain loss_in"), "{east}");
        assert!(!east.contains("table netdev"), "{east}");
        assert!(east.contains("meta l4proto udp drop comment \"--loss 100\""));
        assert!(east.contains(
            "ip daddr 224.0.0.0/4 meta l4proto udp numgen random mod 100 < 5 dup to ip daddr device \"lab0\" comment \"--dup 5\""
        ));
        let flat = ruleset("t", "flatbush", &loss, &dup).unwrap();
        assert_eq!(flat.matches("drop comment").count(), 3, "{flat}");
        // 0% is no rule at all.
        assert_eq!(ruleset("t", "eastny", &[Fault::everywhere(0)], &[]), None);
    }

    #[test]
    fn status_names_each_hosts_faults_and_directions() {
        let loss = [Fault::everywhere(5), Fault::on(20, "flatbush")];
        let dup = [Fault::on(10, "eastny")];
        assert_eq!(
            describe("flatbush", &loss, &dup).as_deref(),
            Some("loss 5% in, 20% in+out")
        );
        assert_eq!(
            describe("eastny", &loss, &dup).as_deref(),
            Some("loss 5% in; dup 10% out")
        );
        assert_eq!(describe("midwood", &[], &dup), None);
        assert_eq!(summary(&loss), "5% 20%@flatbush");
        assert_eq!(summary(&[]), "-");
    }
}
