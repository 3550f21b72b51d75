//! The lab: network namespaces joined by a bridge (and a router) or by one veth pair, owned by a
//! guard.
//!
//! Everything a lab creates is named with its per-run prefix `mcl<pid%10000>-`:
//!
//! * `<prefix>switch`: a "switch" namespace holding the bridges `br0` (192.168.56.0/24) and, for the
//!   routed topology, `br1` (192.168.57.0/24). Each bridge port is named after the host it leads to.
//! * `<prefix>eastny`, `<prefix>midwood`, `<prefix>flatbush`, `<prefix>bushwick`: one namespace per
//!   host, each with `lo` and a veth `lab0` carrying the host's address.
//! * `<prefix>router` (routed topology only): `lab0` 192.168.56.254 on `br0`, `lab1` 192.168.57.254 on
//!   `br1`, `ip_forward` on and kernel multicast routing driven by `smcrouted` (ident `<prefix>smcroute`).
//! * `<prefix>r1` … `<prefix>rN` (pim topology only): routers in a line, each running FRR's
//!   `zebra` and `pimd`, their files under `<prefix>tmp/rI/` ([`pim`] has the addressing).
//! * `<prefix>sender`, `<prefix>receiver` (pair topology only): two host namespaces whose `lab0`
//!   interfaces are the two ends of one veth pair, with no switch namespace.
//! * With `--loss`/`--dup`: nftables tables `ip <prefix>lab` (and `netdev <prefix>lab` for loss
//!   aimed at one host) in each host namespace a fault applies to ([`faults`] says which rules,
//!   and what `P` and `P@HOST` mean).
//! * `<prefix>tmp` in the system's temporary directory: a run's scratch files (`cargo xtask perf`
//!   compiles its C programs there).
//!
//! Every namespace's `lo` carries an interface alias saying whose lab it is ([`find`]): the
//! process that built it, the checkout (target directory), the run, whether `lab up` kept it,
//! and its configuration. That, with the names, is how a lab is found without the state file.
//!
//! Topologies:
//!
//! * `lecture`: eastny .1, midwood .3, flatbush .4 and bushwick .5, all on 192.168.56.0/24 and `br0`.
//! * `routed`: eastny 192.168.56.1 and midwood 192.168.56.3 on `br0`; flatbush 192.168.57.4 and
//!   bushwick 192.168.57.5 on `br1`; the router forwards every IPv4 group outside the link-local
//!   224.0.0.0/24 both ways (smcroute (*,G/len) routes) with TTL threshold 1, so a datagram sent
//!   with TTL 1 stays in its subnet and one sent with TTL 2 crosses.
//! * `pim`: midwood 192.168.56.3 behind `r1`, eastny 192.168.57.1 behind the middle router (the
//!   PIM rendezvous point), flatbush 192.168.58.4 and bushwick 192.168.58.5 behind `rN`; PIM-SM
//!   learns where the receivers are (IGMPv3), so a datagram crosses k routers with TTL k+1.
//! * `pair`: sender 10.77.0.1 and receiver 10.77.0.2 on 10.77.0.0/24, the two ends of one veth
//!   (no bridge between them), for throughput measurements (`cargo xtask perf`).
//!
//! The machine's own namespace is never changed: veth pairs are created inside the switch
//! namespace (in a pair, the sender's) and one end is moved straight into the host namespace. The
//! [`Lab`] guard deletes everything on drop, and a Ctrl-C handler does the same for every lab still
//! alive (for `lab up`: until it has printed the status and returns, state file included); nothing
//! is started in a lab once that handler runs ([`unless_interrupted`]).

mod cargo;
mod cmd;
mod faults;
pub(crate) mod find;
mod interrupt;
pub(crate) mod pim;
mod state;
mod status;
mod teardown;
mod topology;

use std::{
    fmt::Write as _,
    net::Ipv4Addr,
    path::PathBuf,
    process::{Child, Stdio},
    thread,
    time::{Duration, Instant},
};

use anyhow::{bail, Context, Result};

use crate::{
    netns::{self, ip_in, run_in},
    prereq,
};
pub(crate) use cargo::cargo_binary;
pub(crate) use cargo::{mcast_binary, project_root, target_dir, Profile};
pub(crate) use cmd::{run_cmd, Opt};
pub(crate) use faults::Fault;
use interrupt::{active, exit_if_interrupted, register, unregister};
pub(crate) use interrupt::{install as install_interrupt_handler, interrupted, unless_interrupted};
pub(crate) use pim::FRR_DIR;
#[cfg(test)]
pub(crate) use state::STATE_FILE;
pub(crate) use teardown::teardown;
use topology::{routed_prefixes, PAIR, QUERY_INTERVAL_CS, QUERY_RESPONSE_CS, ROUTER_LEGS};
pub(crate) use topology::{Config, Host, Topology, PORT};

/// Picks `mcl<pid%10000>-`, or the next free number when namespaces with that prefix or its
/// scratch directory exist.
fn allocate_prefix() -> Result<String> {
    let existing = netns::list_netns()?;
    let pid = std::process::id() % 10000;
    (0..10000)
        .map(|i| format!("mcl{}-", (pid + i) % 10000))
        // A scratch directory left by a lab that was killed while going down is not reused:
        // its old sockets and pid files would be taken for the new lab's.
        .find(|p| !existing.iter().any(|ns| ns.starts_with(p.as_str())) && !scratch_dir(p).exists())
        .context("no free lab prefix")
}

/// The scratch directory of the lab with `prefix` (see [`Lab::scratch_dir`]).
fn scratch_dir(prefix: &str) -> PathBuf {
    std::env::temp_dir().join(format!("{prefix}tmp"))
}

fn smcroute_ident(prefix: &str) -> String {
    format!("{prefix}smcroute")
}

/// A lab that exists as long as this guard does (unless [`Lab::keep`] is called).
#[derive(Debug)]
pub(crate) struct Lab {
    /// The per-run prefix of every name.
    pub(crate) prefix: String,
    /// What was built.
    pub(crate) config: Config,
    daemons: Vec<Child>,
    kept: bool,
}

impl Lab {
    /// Builds a lab; on any error everything made so far is deleted again.
    pub(crate) fn up(config: Config) -> Result<Self> {
        config.check()?;
        prereq::require(&config.prereqs())?;
        if config.snooping && config.topology == Topology::Pair {
            bail!("the pair topology has no bridge to snoop on: leave out --snooping");
        }
        let prefix = allocate_prefix()?;
        register(&prefix);
        let mut lab = Self {
            prefix,
            config,
            daemons: Vec::new(),
            kept: false,
        };
        let built = {
            let mut building = active();
            exit_if_interrupted(&mut building);
            let built = lab.build();
            exit_if_interrupted(&mut building);
            built
        };
        // On error `lab` is dropped here, after the lock above was released, and tears down.
        built.context("failed to build the lab")?;
        Ok(lab)
    }

    /// The namespace of `name` (a host, `router` or `switch`).
    pub(crate) fn ns(&self, name: &str) -> String {
        format!("{}{name}", self.prefix)
    }

    /// A directory for this run's scratch files, created on first use and deleted with the lab.
    pub(crate) fn scratch_dir(&self) -> Result<PathBuf> {
        let dir = scratch_dir(&self.prefix);
        std::fs::create_dir_all(&dir)
            .with_context(|| format!("failed to create {}", dir.display()))?;
        Ok(dir)
    }

    /// The hosts of this lab.
    pub(crate) fn hosts(&self) -> &'static [Host] {
        self.config.topology.hosts()
    }

    /// The host called `name`.
    pub(crate) fn host(&self, name: &str) -> Result<Host> {
        self.hosts()
            .iter()
            .find(|h| h.name == name)
            .copied()
            .with_context(|| {
                format!(
                    "no host {name} in the {} topology",
                    self.config.topology.name()
                )
            })
    }

    /// Leaves the lab standing after the guard is gone (the last step of `lab up`). A Ctrl-C that
    /// came before tears the lab down and exits instead.
    ///
    /// The lock on the labs stays held until the process exits, so a Ctrl-C after this point
    /// leaves the lab (and its state file) alone rather than deleting it while it is being kept.
    pub(crate) fn keep(mut self) {
        let mut active = active();
        exit_if_interrupted(&mut active);
        self.kept = true;
        unregister(&mut active, &self.prefix);
        std::mem::forget(active);
    }

    /// What this lab's namespaces say about it ([`find`]): this process built it, for this
    /// checkout, in the run named by `MCAST_LAB_RUN` if any; `kept` once `lab up` keeps it.
    fn marker(&self, kept: bool) -> find::Marker {
        find::Marker {
            owner: std::process::id(),
            dir: find::dir_id(&target_dir()),
            run: find::run_name(),
            kept,
            config: self.config.clone(),
        }
    }

    /// Creates the namespace `ns`, marked as this lab's.
    fn add_netns(&self, ns: &str) -> Result<()> {
        find::add_netns(ns, &self.marker(false))
    }

    /// Marks every namespace of the lab as kept by `lab up`.
    fn mark_kept(&self) -> Result<()> {
        let marker = self.marker(true);
        for ns in netns::list_netns_with_prefix(&self.prefix)? {
            find::write_marker(&ns, &marker)?;
        }
        Ok(())
    }

    fn build(&mut self) -> Result<()> {
        if self.config.topology == Topology::Pair {
            return self.build_pair();
        }
        let switch = self.ns("switch");
        self.add_netns(&switch)?;
        ip_in(&switch, &["link", "set", "lo", "up"])?;
        let bridges: &[&str] = match self.config.topology {
            Topology::Lecture => &["br0"],
            Topology::Routed => &["br0", "br1"],
            Topology::Pim => &pim::PIM_BRIDGES,
            Topology::Pair => &[],
        };
        for br in bridges {
            self.add_bridge(&switch, br)?;
        }
        for h in self.hosts() {
            let ns = self.ns(h.name);
            self.add_netns(&ns)?;
            let bridge = h
                .bridge
                .context("a bridged topology's host names its bridge")?;
            self.add_leg(&ns, "lab0", h.name, h.addr, bridge)?;
            if let Some(gw) = h.gateway {
                ip_in(&ns, &["route", "add", "default", "via", &gw.to_string()])?;
            }
        }
        if self.config.topology == Topology::Routed {
            self.add_router()?;
        }
        if self.config.topology == Topology::Pim {
            self.add_pim_routers()?;
        }
        self.add_faults()?;
        if self.config.snooping {
            // The bridge floods group traffic until its querier counts as present, one query
            // response interval after it was switched on.
            let ready =
                Instant::now() + Duration::from_millis(u64::from(QUERY_RESPONSE_CS) * 10 + 300);
            for br in bridges {
                ip_in(
                    &switch,
                    &["link", "set", br, "type", "bridge", "mcast_querier", "1"],
                )?;
            }
            thread::sleep(ready.saturating_duration_since(Instant::now()));
        }
        Ok(())
    }

    /// The pair topology: the veth is created in the sender's namespace with its peer straight in
    /// the receiver's, both called `lab0`.
    fn build_pair(&mut self) -> Result<()> {
        let [sender, receiver] = PAIR.map(|h| self.ns(h.name));
        for ns in [&sender, &receiver] {
            self.add_netns(ns)?;
            ip_in(ns, &["link", "set", "lo", "up"])?;
        }
        ip_in(
            &sender,
            &[
                "link", "add", "lab0", "type", "veth", "peer", "name", "lab0", "netns", &receiver,
            ],
        )?;
        for h in &PAIR {
            let ns = self.ns(h.name);
            ip_in(
                &ns,
                &["addr", "add", &format!("{}/24", h.addr), "dev", "lab0"],
            )?;
            ip_in(&ns, &["link", "set", "lab0", "up"])?;
        }
        self.add_faults()
    }

    fn add_bridge(&self, switch: &str, br: &str) -> Result<()> {
        let mut args = vec!["link", "add", br, "type", "bridge", "stp_state", "0"];
        let response = QUERY_RESPONSE_CS.to_string();
        let interval = QUERY_INTERVAL_CS.to_string();
        if self.config.snooping {
            // The querier itself is switched on last, after these timings (see `build`).
            args.extend([
                "mcast_snooping",
                "1",
                "mcast_query_response_interval",
                &response,
            ]);
            args.extend(["mcast_query_interval", &interval]);
            args.extend(["mcast_startup_query_interval", &response]);
        } else {
            // A hub, as in the lecture: every port sees every group's traffic.
            args.extend(["mcast_snooping", "0"]);
        }
        ip_in(switch, &args)?;
        ip_in(switch, &["link", "set", br, "up"])?;
        Ok(())
    }

    /// A veth from the bridge port `port` in the switch namespace to `ifname` (with `addr`/24) in `ns`.
    fn add_leg(
        &self,
        ns: &str,
        ifname: &str,
        port: &str,
        addr: Ipv4Addr,
        bridge: &str,
    ) -> Result<()> {
        let switch = self.ns("switch");
        ip_in(
            &switch,
            &[
                "link", "add", port, "type", "veth", "peer", "name", ifname, "netns", ns,
            ],
        )?;
        ip_in(&switch, &["link", "set", port, "master", bridge, "up"])?;
        ip_in(ns, &["link", "set", "lo", "up"])?;
        ip_in(ns, &["addr", "add", &format!("{addr}/24"), "dev", ifname])?;
        ip_in(ns, &["link", "set", ifname, "up"])?;
        Ok(())
    }

    fn add_router(&mut self) -> Result<()> {
        let router = self.ns("router");
        self.add_netns(&router)?;
        for (ifname, port, addr, bridge) in ROUTER_LEGS {
            self.add_leg(&router, ifname, port, addr, bridge)?;
            if self.config.snooping {
                // A snooping bridge sends a group's traffic only to ports that joined it and to
                // router ports; the router joins nothing, so its port is a router port for good.
                ip_in(
                    &self.ns("switch"),
                    &[
                        "link",
                        "set",
                        "dev",
                        port,
                        "type",
                        "bridge_slave",
                        "mcast_router",
                        "2",
                    ],
                )?;
            }
        }
        netns::sysctl_in(&router, "net.ipv4.ip_forward", "1")?;
        let mut conf = String::from("# written by cargo xtask lab\n");
        for (ifname, ..) in ROUTER_LEGS {
            let _ = writeln!(conf, "phyint {ifname} enable ttl-threshold 1");
        }
        for (group, len) in routed_prefixes() {
            let _ = writeln!(conf, "mroute from lab0 group {group}/{len} to lab1");
            let _ = writeln!(conf, "mroute from lab1 group {group}/{len} to lab0");
        }
        let ident = smcroute_ident(&self.prefix);
        let conf_path = target_dir().join(format!("{ident}.conf"));
        std::fs::create_dir_all(target_dir())?;
        std::fs::write(&conf_path, conf)
            .with_context(|| format!("failed to write {}", conf_path.display()))?;
        let mut cmd = netns::exec_in(&router, "smcrouted");
        // Its own process group: a terminal's Ctrl-C is for xtask, whose handler tears down.
        std::os::unix::process::CommandExt::process_group(&mut cmd, 0);
        cmd.args(["-n", "-N", "-l", "err", "-i", &ident, "-f"])
            .arg(&conf_path)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        let child = cmd
            .spawn()
            .with_context(|| format!("failed to run {cmd:?}"))?;
        self.daemons.push(child);
        // Ready when the kernel has a VIF for each leg.
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let vifs = run_in(&router, "cat", &["/proc/net/ip_mr_vif"]).unwrap_or_default();
            if ROUTER_LEGS.iter().all(|(ifname, ..)| vifs.contains(ifname)) {
                return Ok(());
            }
            if let Some(status) = self.daemons[0].try_wait()? {
                bail!(
                    "smcrouted exited early ({status}); check {}",
                    conf_path.display()
                );
            }
            if Instant::now() >= deadline {
                bail!("smcrouted did not set up its VIFs within 5 s:\n{vifs}");
            }
            thread::sleep(Duration::from_millis(50));
        }
    }

    /// The pim topology's routers (see [`pim`]): namespaces, edge legs on the bridges, transit
    /// veths, static routes, then FRR's daemons, waiting for every PIM neighbour.
    fn add_pim_routers(&mut self) -> Result<()> {
        let line = self.config.line();
        let names = line.names();
        for name in &names {
            let ns = self.ns(name);
            self.add_netns(&ns)?;
            ip_in(&ns, &["link", "set", "lo", "up"])?;
            netns::sysctl_in(&ns, "net.ipv4.ip_forward", "1")?;
        }
        for (i, name) in (1..).zip(&names) {
            let ns = self.ns(name);
            for iface in line.ifaces(i) {
                if let Some(bridge) = iface.bridge {
                    let port = format!("{name}-{}", iface.name);
                    self.add_leg(&ns, &iface.name, &port, iface.addr, bridge)?;
                }
            }
        }
        // Each transit link from the lower router's side, its peer straight in the higher's.
        for pair in names.windows(2) {
            let [low, high] = [&pair[0], &pair[1]];
            ip_in(
                &self.ns(low),
                &[
                    "link",
                    "add",
                    high,
                    "type",
                    "veth",
                    "peer",
                    "name",
                    low,
                    "netns",
                    &self.ns(high),
                ],
            )?;
        }
        for (i, name) in (1..).zip(&names) {
            let ns = self.ns(name);
            for iface in line.ifaces(i).iter().filter(|f| f.bridge.is_none()) {
                let addr = format!("{}/{}", iface.addr, iface.len);
                ip_in(&ns, &["addr", "add", &addr, "dev", &iface.name])?;
                ip_in(&ns, &["link", "set", &iface.name, "up"])?;
            }
            for (net, via) in line.routes(i) {
                ip_in(&ns, &["route", "add", &net, "via", &via.to_string()])?;
            }
        }
        let scratch = self.scratch_dir()?;
        let prefix = self.prefix.clone();
        pim::start(
            line,
            &scratch,
            |name| format!("{prefix}{name}"),
            &mut self.daemons,
        )
    }

    /// Loads each host's nftables faults into its namespace (hosts no fault applies to get none).
    fn add_faults(&self) -> Result<()> {
        let table = format!("{}lab", self.prefix);
        for h in self.hosts() {
            if let Some(rules) =
                faults::ruleset(&table, h.name, &self.config.loss, &self.config.dup)
            {
                nft_load(&self.ns(h.name), &rules)?;
            }
        }
        Ok(())
    }
}

/// Loads the nftables `rules` into the namespace `ns` (`nft -f -`).
fn nft_load(ns: &str, rules: &str) -> Result<()> {
    let mut cmd = netns::exec_in(ns, "nft");
    cmd.args(["-f", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    let mut child = cmd
        .spawn()
        .with_context(|| format!("failed to run {cmd:?}"))?;
    if let Some(mut stdin) = child.stdin.take() {
        use std::io::Write as _;
        stdin.write_all(rules.as_bytes())?;
    }
    let out = child.wait_with_output()?;
    if !out.status.success() {
        bail!(
            "nft rejected\n{rules}: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(())
}

impl Drop for Lab {
    fn drop(&mut self) {
        if self.kept {
            return;
        }
        let mut active = active();
        if unregister(&mut active, &self.prefix) {
            for problem in teardown(&self.prefix) {
                eprintln!("warning: teardown: {problem}");
            }
        }
        drop(active);
        for mut daemon in self.daemons.drain(..) {
            // Killed with its namespace; reap it (our own child, by id) so no zombie is left.
            let _ = daemon.kill();
            let _ = daemon.wait();
        }
    }
}
