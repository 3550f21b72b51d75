//! Which lab is this checkout's (found by its namespaces, else the state file) and
//! `lab status`: its hosts, addresses, faults, the groups each host has joined and the `mcast`
//! processes running in it, bridges, snooped groups and routes.
//!
//! A host's groups are its kernel's: `/proc/net/igmp` and `/proc/net/igmp6` read inside its
//! namespace (`/proc/net` is the reader's network namespace), parsed by `mcast_core::proc`,
//! without the all-hosts / all-nodes and solicited-node groups every interface joins by itself.
//! Its processes are those whose network namespace is the host's (`ip netns pids` compares
//! `/proc/PID/ns/net` with the namespace's inode) and whose name is `mcast`: the lab records no
//! pid, so `lab exec` and a shell in the namespace count alike. Nothing is signalled.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::process::Command;

use mcast_core::{addr::Group, proc};

use anyhow::{bail, Result};

use super::{
    faults, find, pim,
    state::{load_state, state_file},
    target_dir,
    topology::ROUTED_SUMMARY,
    Config, Topology,
};
use crate::netns::{self, ip_in, run};

/// Whether every interface joins `group` by itself: IPv4 all-hosts, IPv6 all-nodes and the
/// solicited-node groups of its addresses (`ff02::1:ffXX:XXXX`).
fn is_automatic(group: Group) -> bool {
    match group.addr() {
        IpAddr::V4(a) => a == Ipv4Addr::new(224, 0, 0, 1),
        IpAddr::V6(a) => {
            let s = a.segments();
            a == Ipv6Addr::new(0xff01, 0, 0, 0, 0, 0, 0, 1)
                || a == Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 1)
                || (s[..6] == [0xff02, 0, 0, 0, 0, 1] && s[6] & 0xff00 == 0xff00)
        }
    }
}

/// The groups joined on each interface, from the texts of `/proc/net/igmp` and
/// `/proc/net/igmp6`, in file order, IPv4 first; automatic groups ([`is_automatic`]) and
/// interfaces left with none are left out.
pub(super) fn joined_groups(igmp: &str, igmp6: &str) -> Vec<(String, Vec<Group>)> {
    let mut joined: Vec<(String, Vec<Group>)> = Vec::new();
    for parsed in [proc::parse_igmp(igmp), proc::parse_igmp6(igmp6)] {
        for (iface, m) in parsed.memberships() {
            if is_automatic(m.group) {
                continue;
            }
            match joined.iter_mut().find(|(name, _)| *name == iface.name) {
                Some((_, groups)) if !groups.contains(&m.group) => groups.push(m.group),
                Some(_) => {}
                None => joined.push((iface.name.clone(), vec![m.group])),
            }
        }
    }
    joined
}

/// A process found in a host's namespace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Process {
    pid: u32,
    /// Its command line, arguments separated by spaces, the program by its file name.
    cmdline: String,
}

/// A command line as `/proc/PID/cmdline` holds it (NUL-separated) in one line, the program by
/// its file name (`mcast recv …`, not the target directory's path).
fn cmdline_text(raw: &[u8]) -> String {
    let mut args = raw
        .split(|b| *b == 0)
        .filter(|a| !a.is_empty())
        .map(|a| String::from_utf8_lossy(a).into_owned());
    let program = args
        .next()
        .map(|p| p.rsplit('/').next().unwrap_or(&p).to_owned())
        .unwrap_or_default();
    std::iter::once(program)
        .chain(args)
        .collect::<Vec<_>>()
        .join(" ")
}

/// The `mcast` processes living in the namespace `ns` (read from `/proc`, nothing signalled).
fn mcast_processes(ns: &str) -> Vec<Process> {
    netns::pids_in(ns)
        .into_iter()
        .filter(|pid| {
            std::fs::read_to_string(format!("/proc/{pid}/comm")).is_ok_and(|c| c.trim() == "mcast")
        })
        .filter_map(|pid| {
            let raw = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
            Some(Process {
                pid,
                cmdline: cmdline_text(&raw),
            })
        })
        .collect()
}

/// The lines under a host's line in `lab status`: the groups joined per interface and the
/// `mcast` processes running.
pub(super) fn host_details(groups: &[(String, Vec<Group>)], processes: &[Process]) -> Vec<String> {
    let mut lines = Vec::new();
    if groups.is_empty() {
        lines.push("joined: none".to_owned());
    }
    for (iface, list) in groups {
        let list: Vec<String> = list.iter().map(ToString::to_string).collect();
        lines.push(format!("joined on {iface}: {}", list.join(" ")));
    }
    if processes.is_empty() {
        lines.push("mcast: none running".to_owned());
    }
    for p in processes {
        lines.push(format!("mcast: pid {} `{}`", p.pid, p.cmdline));
    }
    lines
}

/// This checkout's labs (those whose namespaces name its target directory) in `state`, for
/// `lab up`, `status` and `down`.
pub(super) fn labs_here(state: fn(&find::State) -> bool) -> Result<Vec<find::Found>> {
    let here = target_dir();
    Ok(find::labs()?
        .into_iter()
        .filter(|f| f.belongs_to(&here) && state(&f.state()))
        .collect())
}

/// The lab of this checkout: the one `lab up` kept, found by its namespaces (so the state file
/// may be gone), else the one the state file records if its namespaces exist.
pub(super) fn current() -> Result<Option<(String, Config)>> {
    let kept = labs_here(|s| *s == find::State::Kept)?;
    if let Some(found) = kept.first() {
        if kept.len() > 1 {
            eprintln!(
                "warning: {} labs are up here; this is {} (`cargo xtask lab list` shows all)",
                kept.len(),
                found.prefix
            );
        }
        if let Some(marker) = &found.marker {
            return Ok(Some((found.prefix.clone(), marker.config.clone())));
        }
    }
    match load_state() {
        Ok((prefix, config)) if !netns::list_netns_with_prefix(&prefix)?.is_empty() => {
            Ok(Some((prefix, config)))
        }
        _ => Ok(None),
    }
}

pub(super) fn status() -> Result<()> {
    let Some((prefix, config)) = current()? else {
        let left = labs_here(|s| matches!(s, find::State::Orphaned(_)))?;
        if let Some(found) = left.first() {
            bail!(
                "no lab is up, but an earlier one left namespaces behind ({}): run `cargo xtask lab down`",
                found.namespaces.join(" ")
            );
        }
        let (prefix, _) = load_state()?;
        bail!("the lab {prefix} is recorded but none of its namespaces exist: run `cargo xtask lab down`");
    };
    if !state_file().exists() {
        eprintln!(
            "note: {} is gone (cargo clean?): found the lab by its namespaces",
            state_file().display()
        );
    }
    let alive = netns::list_netns_with_prefix(&prefix)?;
    outln!(
        "lab {prefix}: topology {}, snooping {}, loss {}, dup {}",
        config.topology.name(),
        if config.snooping { "on" } else { "off" },
        faults::summary(&config.loss),
        faults::summary(&config.dup),
    );
    outln!("namespaces: {}", alive.join(" "));
    for h in config.topology.hosts() {
        let ns = format!("{prefix}{}", h.name);
        let addr = ip_in(&ns, &["-br", "-4", "addr", "show", "dev", "lab0"]).unwrap_or_default();
        match faults::describe(h.name, &config.loss, &config.dup) {
            Some(faults) => outln!("  {:<9} {:<15} {}  [{faults}]", h.name, h.addr, addr.trim()),
            None => outln!("  {:<9} {:<15} {}", h.name, h.addr, addr.trim()),
        }
        let read = |file: &str| netns::run_in(&ns, "cat", &[file]).unwrap_or_default();
        let groups = joined_groups(&read("/proc/net/igmp"), &read("/proc/net/igmp6"));
        for line in host_details(&groups, &mcast_processes(&ns)) {
            outln!("  {:<9} {line}", "");
        }
    }
    if config.topology == Topology::Pair {
        outln!("  veth: sender lab0 <-> receiver lab0, no bridge");
        return Ok(());
    }
    let switch = format!("{prefix}switch");
    let bridges = ip_in(&switch, &["-br", "link", "show", "type", "bridge"]).unwrap_or_default();
    for br in bridges.lines().filter_map(|l| l.split_whitespace().next()) {
        let ports = ip_in(&switch, &["-br", "link", "show", "master", br]).unwrap_or_default();
        let ports: Vec<&str> = ports.lines().filter_map(|l| l.split('@').next()).collect();
        outln!("  bridge {br}: ports {}", ports.join(" "));
    }
    // IPv4 groups only: the IPv6 solicited-node groups of every port are noise here.
    let mdb = run(Command::new("bridge").args(["-n", &switch, "mdb", "show"])).unwrap_or_default();
    let mut v4: Vec<&str> = mdb
        .lines()
        .map(str::trim)
        .filter(|l| {
            l.split_whitespace()
                .skip_while(|w| *w != "grp")
                .nth(1)
                .is_some_and(|g| g.contains('.'))
        })
        .collect();
    v4.dedup();
    if config.snooping {
        outln!(
            "  snooped IPv4 groups: {}",
            if v4.is_empty() {
                "none".into()
            } else {
                format!("\n    {}", v4.join("\n    "))
            }
        );
    }
    if config.topology == Topology::Pim {
        let line = config.line();
        let scratch = super::scratch_dir(&prefix);
        outln!(
            "  routers: {} in a line (FRR zebra + pimd each, files and logs in {}/rI/); RP {} (r{}) for 224.0.0.0/4, SSM 232.0.0.0/8",
            line.routers,
            scratch.display(),
            line.rp_addr(),
            line.rp_router()
        );
        for (i, name) in (1..).zip(line.names()) {
            let ifaces: Vec<String> = line
                .ifaces(i)
                .iter()
                .map(|f| format!("{} {}/{}", f.name, f.addr, f.len))
                .collect();
            let ns = format!("{prefix}{name}");
            let nbrs = pim::neighbours(&ns, &pim::router_dir(&scratch, &name))
                .map_or_else(|e| format!("? ({e:#})"), |n| n.join(" "));
            outln!("  {name:<9} {}; PIM neighbours: {nbrs}", ifaces.join(", "));
        }
        outln!("  multicast routes: `cargo xtask lab routes`");
    }
    if config.topology == Topology::Routed {
        let router = format!("{prefix}router");
        let routes = ip_in(&router, &["mroute", "show"]).unwrap_or_default();
        outln!(
            "  router: 192.168.56.254 (lab0) <-> 192.168.57.254 (lab1), forwarding {ROUTED_SUMMARY}; kernel mroutes:{}",
            if routes.trim().is_empty() { " none yet".into() } else { format!("\n    {}", routes.trim().replace('\n', "\n    ")) }
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A host's `/proc/net/igmp` on x86 (groups in host byte order): lo with all-hosts only,
    /// lab0 with 224.1.1.5 and all-hosts.
    const IGMP: &str = "Idx\tDevice    : Count Querier\tGroup    Users Timer\tReporter\n\
1\tlo        :     1      V3\n\
\t\t\t\t010000E0     1 0:00000000\t\t0\n\
2\tlab0      :     2      V3\n\
\t\t\t\t050101E0     2 0:00000000\t\t0\n\
\t\t\t\t010000E0     1 0:00000000\t\t0\n";

    /// Its `/proc/net/igmp6`: all-nodes, a solicited-node group, and ff15::1 joined on lab0.
    const IGMP6: &str = "1    lo              ff020000000000000000000000000001     1 0000000C 0\n\
2    lab0            ff020000000000000000000000000001     1 0000000C 0\n\
2    lab0            ff0200000000000000000001ff2a0b01     1 00000004 0\n\
2    lab0            ff150000000000000000000000000001     1 00000004 0\n";

    // issue #11 (lab status) — per host, the groups joined (without the ones every interface
    // joins by itself) and the mcast processes, one line each.
    #[test]
    fn host_details_name_groups_and_processes() {
        let groups = if cfg!(target_endian = "little") {
            joined_groups(IGMP, IGMP6)
        } else {
            joined_groups("", IGMP6)
        };
        let procs = [Process {
            pid: 4242,
            cmdline: cmdline_text(
                b"/work/target/debug/mcast\x00recv\x00224.1.1.5\x0050001\x00-i\x00lab0\x00",
            ),
        }];
        let lines = host_details(&groups, &procs);
        let mut want = vec![
            "joined on lab0: 224.1.1.5 ff15::1",
            "mcast: pid 4242 `mcast recv 224.1.1.5 50001 -i lab0`",
        ];
        if cfg!(target_endian = "big") {
            want[0] = "joined on lab0: ff15::1";
        }
        assert_eq!(lines, want);
        assert_eq!(
            host_details(&[], &[]),
            ["joined: none", "mcast: none running"]
        );
    }

    #[test]
    fn automatic_groups_are_left_out() {
        for g in ["224.0.0.1", "ff02::1", "ff01::1", "ff02::1:ff00:1"] {
            let group = Group::new(g.parse().unwrap()).unwrap();
            assert!(is_automatic(group), "{g}");
        }
        for g in ["224.0.0.251", "224.1.1.5", "ff02::fb", "ff02::1:2"] {
            let group = Group::new(g.parse().unwrap()).unwrap();
            assert!(!is_automatic(group), "{g}");
        }
    }
}
