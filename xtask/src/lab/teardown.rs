//! Deleting a lab by its prefix: its processes, nftables tables, namespaces, scratch
//! directory, smcroute's files and the state file that records it.

use std::{
    path::PathBuf,
    process::{Command, Stdio},
    thread,
    time::{Duration, Instant},
};

use super::{
    scratch_dir, smcroute_ident,
    state::{load_state, state_file},
    target_dir,
};
use crate::netns::{self, ip, run_in};

/// Deletes everything named with `prefix`: processes in its namespaces, nft tables, namespaces
/// (which takes their veths and bridges along), the scratch directory, smcroute's files and the
/// state file if it records `prefix`. Returns what went wrong.
pub(crate) fn teardown(prefix: &str) -> Vec<String> {
    let mut problems = Vec::new();
    let namespaces = match netns::list_netns_with_prefix(prefix) {
        Ok(list) => list,
        Err(e) => {
            problems.push(format!("{e:#}"));
            return problems;
        }
    };
    // Processes first: a namespace with a live process would outlive `ip netns del`.
    for signal in ["-TERM", "-KILL"] {
        let pids: Vec<String> = namespaces
            .iter()
            .flat_map(|ns| netns::pids_in(ns))
            .map(|p| p.to_string())
            .collect();
        if pids.is_empty() {
            break;
        }
        let _ = Command::new("kill")
            .arg(signal)
            .args(&pids)
            .stderr(Stdio::null())
            .status();
        let deadline = Instant::now() + Duration::from_secs(2);
        while Instant::now() < deadline
            && namespaces.iter().any(|ns| !netns::pids_in(ns).is_empty())
        {
            thread::sleep(Duration::from_millis(20));
        }
    }
    let has_nft = netns::which("nft").is_some();
    let table = format!("{prefix}lab");
    for ns in &namespaces {
        if has_nft {
            if let Ok(tables) = run_in(ns, "nft", &["list", "tables"]) {
                for family in ["ip", "netdev"] {
                    let listed = format!("table {family} {table}");
                    if !tables.lines().any(|l| l.trim() == listed) {
                        continue;
                    }
                    if let Err(e) = run_in(ns, "nft", &["delete", "table", family, &table]) {
                        problems.push(format!("{e:#}"));
                    }
                }
            }
        }
        if let Err(e) = ip(&["netns", "del", ns]) {
            problems.push(format!("{e:#}"));
        }
    }
    if load_state().is_ok_and(|(recorded, _)| recorded == prefix) {
        if let Err(e) = std::fs::remove_file(state_file()) {
            problems.push(format!("cannot delete {}: {e}", state_file().display()));
        }
    }
    let scratch = scratch_dir(prefix);
    if scratch.exists() {
        if let Err(e) = std::fs::remove_dir_all(&scratch) {
            problems.push(format!("cannot delete {}: {e}", scratch.display()));
        }
    }
    let ident = smcroute_ident(prefix);
    for file in [
        PathBuf::from(format!("/run/{ident}.pid")),
        PathBuf::from(format!("/run/{ident}.sock")),
        target_dir().join(format!("{ident}.conf")),
    ] {
        let _ = std::fs::remove_file(file);
    }
    problems
}
