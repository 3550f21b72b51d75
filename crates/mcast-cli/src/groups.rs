//! `mcast groups`: the groups this host has joined, per interface, from `/proc/net/igmp` and
//! `/proc/net/igmp6` (read by mcast-sync, parsed by `mcast_core::proc`).
//!
//! # JSON (`--json`)
//!
//! One `{"type": "group", "data": {...}}` line per membership:
//!
//! ```json
//! {"type":"group","data":{"interface":"lo","index":1,"group":"224.1.1.5","family":"ipv4","users":1,"igmp_version":3,"reporter":false,"timer_running":false}}
//! ```
//!
//! `igmp_version` is the IGMP version the interface speaks (`null` for IPv6, which uses MLD);
//! `reporter` is `null` for IPv6.

use std::io;
use std::process::ExitCode;

use mcast_core::proc::{self, ProcMemberships};
use mcast_sync::ifaces;
use serde::Serialize;

use crate::output;
use crate::plan;

/// Arguments of `mcast groups`.
#[derive(clap::Args, Debug)]
#[command(after_help = "\
Every membership the kernel holds, also those of other programs and the kernel's own
(224.0.0.1 all-hosts, ff02::1 ...). The USERS column counts the sockets holding a group.

Examples:
  mcast groups               all interfaces, IPv4 and IPv6
  mcast groups -i lo         only loopback
  mcast groups --json        one JSON line per membership")]
pub(crate) struct Opt {
    /// Only this interface: a name (lo), an index (1) or one of its addresses.
    #[arg(short = 'i', long = "iface", value_name = "IFACE")]
    iface: Option<String>,

    /// Print JSON lines, {"type": "group", "data": {...}}.
    #[arg(long)]
    json: bool,
}

/// One membership as printed.
#[derive(Debug, Serialize, PartialEq, Eq)]
struct GroupRecord {
    interface: String,
    index: u32,
    group: String,
    family: &'static str,
    users: u32,
    igmp_version: Option<u8>,
    reporter: Option<bool>,
    timer_running: bool,
}

/// Flattens the parsed tables into records, keeping only `only` (an interface name) if given.
fn records(tables: &[&ProcMemberships], only: Option<&str>) -> Vec<GroupRecord> {
    let mut out = Vec::new();
    for table in tables {
        for (iface, m) in table.memberships() {
            if only.is_some_and(|name| name != iface.name) {
                continue;
            }
            out.push(GroupRecord {
                interface: iface.name.clone(),
                index: iface.index,
                group: m.group.to_string(),
                family: if m.group.is_ipv4() { "ipv4" } else { "ipv6" },
                users: m.users,
                igmp_version: iface.igmp_version,
                reporter: m.reporter,
                timer_running: m.timer_running,
            });
        }
    }
    // Per interface (by index), IPv4 before IPv6, file order within.
    out.sort_by_key(|r| (r.index, r.family));
    out
}

/// Reads a /proc table; a missing igmp6 (IPv6 disabled) is an empty table.
fn read(path: &str, f: fn() -> io::Result<String>) -> anyhow::Result<String> {
    match f() {
        Ok(text) => Ok(text),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(String::new()),
        Err(e) => Err(anyhow::Error::new(e).context(format!("cannot read {path}"))),
    }
}

/// Runs `mcast groups`.
pub(crate) fn run(opt: Opt) -> anyhow::Result<ExitCode> {
    let spec = plan::parse_iface_spec(opt.iface.as_deref())?;
    let only = if spec.is_any() {
        None
    } else {
        Some(plan::lookup_iface(&spec)?.name)
    };
    let v4 = proc::parse_igmp(&read(ifaces::PROC_NET_IGMP, ifaces::read_igmp)?);
    let v6 = proc::parse_igmp6(&read(ifaces::PROC_NET_IGMP6, ifaces::read_igmp6)?);
    for (path, table) in [(ifaces::PROC_NET_IGMP, &v4), (ifaces::PROC_NET_IGMP6, &v6)] {
        for e in &table.errors {
            output::note(&format!("warning: {path}: skipped {e}"));
        }
    }
    let records = records(&[&v4, &v6], only.as_deref());
    output::records(opt.json, "group", &records, render)?;
    Ok(ExitCode::SUCCESS)
}

/// The text table, one string per line (header first).
fn render(records: &[GroupRecord]) -> Vec<String> {
    let name_w = output::column_width("INTERFACE", records.iter().map(|r| r.interface.len()));
    let group_w = output::column_width("GROUP", records.iter().map(|r| r.group.len()));
    let mut lines = vec![format!(
        "{:name_w$}  {:>5}  {:group_w$}  {:>5}  PROTOCOL",
        "INTERFACE", "INDEX", "GROUP", "USERS"
    )];
    for r in records {
        let protocol = match (r.family, r.igmp_version) {
            ("ipv4", Some(v)) => format!("IGMPv{v}"),
            ("ipv4", None) => "IGMP".to_owned(),
            _ => "MLD".to_owned(),
        };
        lines.push(format!(
            "{:name_w$}  {:>5}  {:group_w$}  {:>5}  {protocol}",
            r.interface, r.index, r.group, r.users
        ));
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_interface_is_refused_as_send_refuses_it() {
        let opt = Opt {
            iface: Some("mcast-nosuch0".into()),
            json: false,
        };
        let groups = run(opt).unwrap_err();
        let send = anyhow::Error::new(
            plan::send("224.1.1.5", 5000, Some("mcast-nosuch0"), 1, false).unwrap_err(),
        );
        assert_eq!(groups.to_string(), send.to_string());
        assert_eq!(crate::errors::hint(&groups), crate::errors::hint(&send));
        assert_eq!(
            crate::errors::exit_code(&groups),
            crate::errors::exit::USAGE
        );
    }

    const IGMP: &str = "Idx\tDevice    : Count Querier\tGroup    Users Timer\tReporter\n\
        1\tlo        :     2      V3\n\
        \t\t\t\t050101E0     2 0:00000000\t\t0\n\
        \t\t\t\t010000E0     1 0:00000000\t\t0\n\
        3\tveth-a    :     1      V2\n\
        \t\t\t\t010203EA     1 0:00000000\t\t1\n";
    const IGMP6: &str = "1    lo              ff020000000000000000000000000001     1 0000000C 0\n\
        3    veth-a          ff150000000000000000000000000005     1 00000004 0\n";

    fn parsed() -> (ProcMemberships, ProcMemberships) {
        // The IGMP sample is written in little-endian order.
        let v4 = proc::parse_igmp_with(IGMP, proc::Endian::Little);
        let v6 = proc::parse_igmp6(IGMP6);
        assert!(v4.errors.is_empty() && v6.errors.is_empty());
        (v4, v6)
    }

    #[test]
    fn records_sorted_by_interface_then_family() {
        let (v4, v6) = parsed();
        let r = records(&[&v4, &v6], None);
        let got: Vec<(&str, &str)> = r
            .iter()
            .map(|r| (r.interface.as_str(), r.group.as_str()))
            .collect();
        assert_eq!(
            got,
            vec![
                ("lo", "224.1.1.5"),
                ("lo", "224.0.0.1"),
                ("lo", "ff02::1"),
                ("veth-a", "234.3.2.1"),
                ("veth-a", "ff15::5"),
            ]
        );
        assert_eq!(r[0].users, 2);
        assert_eq!(r[0].igmp_version, Some(3));
        assert_eq!(r[3].reporter, Some(true));
    }

    #[test]
    fn interface_filter() {
        let (v4, v6) = parsed();
        let r = records(&[&v4, &v6], Some("veth-a"));
        assert_eq!(r.len(), 2);
        assert!(r.iter().all(|r| r.interface == "veth-a"));
    }

    #[test]
    fn table_rendering() {
        let (v4, v6) = parsed();
        let lines = render(&records(&[&v4, &v6], Some("veth-a")));
        assert_eq!(
            lines,
            vec![
                "INTERFACE  INDEX  GROUP      USERS  PROTOCOL",
                "veth-a         3  234.3.2.1      1  IGMPv2",
                "veth-a         3  ff15::5        1  MLD",
            ]
        );
    }

    #[test]
    fn json_record_fields() {
        let (v4, v6) = parsed();
        let r = records(&[&v4, &v6], None);
        let v = serde_json::to_value(&r[0]).unwrap();
        assert_eq!(v["interface"], "lo");
        assert_eq!(v["group"], "224.1.1.5");
        assert_eq!(v["family"], "ipv4");
        assert_eq!(v["igmp_version"], 3);
        let v6 = serde_json::to_value(&r[2]).unwrap();
        assert_eq!(v6["reporter"], serde_json::Value::Null);
    }
}
