//! Which lab is this checkout's (found by its namespaces, else the state file) and
//! `lab status`: its hosts, addresses, faults, bridges, snooped groups and routes.

use std::process::Command;

use anyhow::{bail, Result};

use super::{
    faults, find,
    state::{load_state, state_file},
    target_dir,
    topology::ROUTED_SUMMARY,
    Config, Topology,
};
use crate::netns::{self, ip_in, run};

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
