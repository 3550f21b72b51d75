//! Prerequisites of the lab, each explained in one line when missing.

use anyhow::{bail, Result};

use crate::netns::which;

/// Something the lab needs from the machine.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Prereq {
    /// Root (namespaces, veth, bridges, nftables and multicast routing all need CAP_NET_ADMIN).
    Root,
    /// iproute2's `ip`.
    Ip,
    /// nftables' `nft` (only for `--loss` / `--dup`).
    Nft,
    /// smcroute's `smcrouted` and `smcroutectl` (only for the routed topology).
    Smcroute,
    /// FRR's `zebra` and `pimd` and its `vtysh` (only for the pim topology).
    Frr,
    /// util-linux's `taskset` (`cargo xtask perf` pins sender and receiver to cores).
    Taskset,
    /// A C compiler as `cc` (`cargo xtask perf` compiles its C sender and counter).
    Cc,
    /// iperf2's `iperf` (`cargo xtask perf` compares mcast with it).
    Iperf,
}

impl Prereq {
    /// Why the prerequisite is missing and how to get it, in one line; `None` when it is present.
    pub(crate) fn missing(self) -> Option<&'static str> {
        let ok = match self {
            Self::Root => is_root(),
            Self::Ip => which("ip").is_some(),
            Self::Nft => which("nft").is_some(),
            Self::Smcroute => which("smcrouted").is_some() && which("smcroutectl").is_some(),
            Self::Frr => {
                ["zebra", "pimd"]
                    .iter()
                    .all(|d| std::path::Path::new(crate::lab::FRR_DIR).join(d).is_file())
                    && which("vtysh").is_some()
            }
            Self::Taskset => which("taskset").is_some(),
            Self::Cc => which("cc").is_some(),
            Self::Iperf => which("iperf").is_some(),
        };
        (!ok).then_some(match self {
            Self::Root => "the lab needs root (network namespaces, veth and bridges need CAP_NET_ADMIN): run it with sudo",
            Self::Ip => "`ip` (iproute2) is missing: apt-get install iproute2",
            Self::Nft => "`nft` is missing (--loss/--dup use nftables, tc netem is not available here): apt-get install nftables",
            Self::Smcroute => "`smcrouted`/`smcroutectl` are missing (the routed topology uses them for kernel multicast routing): apt-get install smcroute",
            Self::Frr => "FRR's /usr/lib/frr/pimd, zebra or vtysh is missing (the pim topology runs FRR's routing daemons): apt-get install frr (then keep its service off: the lab starts its own daemons)",
            Self::Taskset => "`taskset` is missing (perf pins the sender and the receiver to their own cores): apt-get install util-linux",
            Self::Cc => "`cc` is missing (perf compiles its C baseline sender and counter at run time): apt-get install gcc",
            Self::Iperf => "`iperf` (iperf2) is missing (perf compares mcast with it): apt-get install iperf",
        })
    }
}

/// Whether the effective user is root (read from `/proc/self/status`, so no libc is needed).
pub(crate) fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("Uid:"))
                .and_then(|ids| ids.split_whitespace().nth(1).map(|e| e == "0"))
        })
        .unwrap_or(false)
}

/// Every missing prerequisite among `needed`, one line each.
pub(crate) fn missing(needed: &[Prereq]) -> Vec<&'static str> {
    needed.iter().filter_map(|p| p.missing()).collect()
}

/// Fails with every missing prerequisite among `needed` explained.
pub(crate) fn require(needed: &[Prereq]) -> Result<()> {
    let missing = missing(needed);
    if !missing.is_empty() {
        bail!("missing prerequisites:\n  {}", missing.join("\n  "));
    }
    Ok(())
}
