//! `mcast ifaces`: the interfaces multicast can use, with index, flags and addresses.
//!
//! # JSON (`--json`)
//!
//! One `{"type": "iface", "data": {...}}` line per interface:
//!
//! ```json
//! {"type":"iface","data":{"index":1,"name":"lo","flags":["LOOPBACK","UP","RUNNING"],"up":true,"running":true,"multicast":false,"loopback":true,"multicast_capable":true,"addrs":["127.0.0.1/8","::1/128"]}}
//! ```
//!
//! `multicast` is the kernel's `IFF_MULTICAST` flag; `multicast_capable` is what `mcast` uses:
//! up and (`IFF_MULTICAST` or loopback, where IPv4 multicast loops back without the flag).

use std::process::ExitCode;

use mcast_sync::ifaces::{self, Interface};
use serde::Serialize;

use crate::output;

/// Arguments of `mcast ifaces`.
#[derive(clap::Args, Debug)]
#[command(after_help = "\
Lists interfaces with the MULTICAST flag, and loopback (IPv4 multicast loops back over lo).
Interfaces that are down are listed too: their flags lack UP.

Examples:
  mcast ifaces            index, name, flags and addresses
  mcast ifaces --all      every interface, multicast or not
  mcast ifaces --json     one JSON line per interface")]
pub(crate) struct Opt {
    /// List every interface, not only multicast-capable ones.
    #[arg(long, short = 'a')]
    all: bool,

    /// Print JSON lines, {"type": "iface", "data": {...}}.
    #[arg(long)]
    json: bool,
}

/// One interface as printed.
#[derive(Debug, Serialize, PartialEq, Eq)]
struct IfaceRecord {
    index: u32,
    name: String,
    flags: Vec<&'static str>,
    up: bool,
    running: bool,
    multicast: bool,
    loopback: bool,
    multicast_capable: bool,
    addrs: Vec<String>,
}

impl IfaceRecord {
    fn new(i: &Interface) -> Self {
        Self {
            index: i.index,
            name: i.name.clone(),
            flags: i.flags.names(),
            up: i.flags.up,
            running: i.flags.running,
            multicast: i.flags.multicast,
            loopback: i.flags.loopback,
            multicast_capable: i.is_multicast_capable(),
            addrs: i.addrs.iter().map(ToString::to_string).collect(),
        }
    }
}

/// Whether an interface belongs in the default listing.
fn listed(i: &Interface, all: bool) -> bool {
    all || i.flags.multicast || i.flags.loopback
}

/// Runs `mcast ifaces`.
pub(crate) fn run(opt: Opt) -> anyhow::Result<ExitCode> {
    let list = ifaces::list()?;
    let records: Vec<IfaceRecord> = list
        .iter()
        .filter(|i| listed(i, opt.all))
        .map(IfaceRecord::new)
        .collect();
    output::records(opt.json, "iface", &records, render)?;
    Ok(ExitCode::SUCCESS)
}

/// The text table, one string per line (header first).
fn render(records: &[IfaceRecord]) -> Vec<String> {
    let name_w = output::column_width("NAME", records.iter().map(|r| r.name.len()));
    let flags: Vec<String> = records.iter().map(|r| r.flags.join(",")).collect();
    let flags_w = output::column_width("FLAGS", flags.iter().map(String::len));
    let mut lines = vec![format!(
        "{:>5}  {:name_w$}  {:flags_w$}  ADDRESSES",
        "INDEX", "NAME", "FLAGS"
    )];
    for (r, f) in records.iter().zip(&flags) {
        let addrs = if r.addrs.is_empty() {
            "-".to_owned()
        } else {
            r.addrs.join(" ")
        };
        let line = format!(
            "{:>5}  {:name_w$}  {:flags_w$}  {addrs}",
            r.index, r.name, f
        );
        lines.push(line);
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(index: u32, name: &str, flags: &[&'static str], addrs: &[&str]) -> IfaceRecord {
        IfaceRecord {
            index,
            name: name.into(),
            flags: flags.to_vec(),
            up: true,
            running: true,
            multicast: flags.contains(&"MULTICAST"),
            loopback: flags.contains(&"LOOPBACK"),
            multicast_capable: true,
            addrs: addrs.iter().map(|a| a.to_string()).collect(),
        }
    }

    #[test]
    fn table_is_aligned() {
        let lines = render(&[
            rec(1, "lo", &["LOOPBACK", "UP"], &["127.0.0.1/8", "::1/128"]),
            rec(12, "veth-lab0", &["MULTICAST", "UP"], &[]),
        ]);
        assert_eq!(
            lines,
            vec![
                "INDEX  NAME       FLAGS         ADDRESSES",
                "    1  lo         LOOPBACK,UP   127.0.0.1/8 ::1/128",
                "   12  veth-lab0  MULTICAST,UP  -",
            ]
        );
    }

    #[test]
    fn json_record_fields() {
        let v = serde_json::to_value(rec(1, "lo", &["LOOPBACK", "UP"], &["127.0.0.1/8"])).unwrap();
        assert_eq!(v["name"], "lo");
        assert_eq!(v["index"], 1);
        assert_eq!(v["flags"], serde_json::json!(["LOOPBACK", "UP"]));
        assert_eq!(v["addrs"], serde_json::json!(["127.0.0.1/8"]));
        assert_eq!(v["loopback"], true);
    }

    #[test]
    fn real_listing_includes_loopback() {
        let list = ifaces::list().unwrap();
        assert!(list.iter().any(|i| i.flags.loopback && listed(i, false)));
    }
}
