//! Deleting a lab by its prefix: FRR's daemons (by their pid files), its other processes, nftables tables, namespaces, scratch
//! directory, smcroute's files and the state file that records it.

use std::{
    path::PathBuf,
    process::{Command, Stdio},
    thread,
    time::{Duration, Instant},
};

use super::{
    pim, scratch_dir, smcroute_ident,
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
    // FRR's daemons first, by the ids in their pid files, each only if it lives in one of the
    // lab's namespaces (a pid file may outlive its process, and the id be reused).
    let scratch = scratch_dir(prefix);
    let daemons: Vec<String> = pim::recorded_pids(&scratch)
        .into_iter()
        .filter(|(router, pid)| pim::lives_in(*pid, &format!("{prefix}{router}")))
        .map(|(_, pid)| pid.to_string())
        .collect();
    for signal in ["-TERM", "-KILL"] {
        let left: Vec<&String> = daemons.iter().filter(|p| running(p)).collect();
        if left.is_empty() {
            break;
        }
        let _ = Command::new("kill")
            .arg(signal)
            .args(&left)
            .stderr(Stdio::null())
            .status();
        let deadline = Instant::now() + Duration::from_secs(3);
        while Instant::now() < deadline && left.iter().any(|p| running(p)) {
            thread::sleep(Duration::from_millis(20));
        }
    }
    if let Some(p) = daemons.iter().find(|p| running(p)) {
        problems.push(format!("FRR daemon pid {p} survived SIGKILL"));
    }
    // Processes next: a namespace with a live process would outlive `ip netns del`.
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

/// Whether the process `pid` exists and has not exited (a zombie our own guard reaps later
/// counts as gone).
fn running(pid: &str) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| {
        stat.rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().next())
            .is_some_and(|state| state != "Z" && state != "X")
    })
}
