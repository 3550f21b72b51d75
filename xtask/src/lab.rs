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
//! * `pair`: sender 10.77.0.1 and receiver 10.77.0.2 on 10.77.0.0/24, the two ends of one veth
//!   (no bridge between them), for throughput measurements (`cargo xtask perf`).
//!
//! The machine's own namespace is never changed: veth pairs are created inside the switch
//! namespace (in a pair, the sender's) and one end is moved straight into the host namespace. The
//! [`Lab`] guard deletes everything on drop, and a Ctrl-C handler does the same for every lab still
//! alive (for `lab up`: until it has printed the status and returns, state file included); nothing
//! is started in a lab once that handler runs ([`unless_interrupted`]).

mod faults;
pub(crate) mod find;

use std::{
    fmt::Write as _,
    net::Ipv4Addr,
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    sync::{
        atomic::{AtomicBool, Ordering},
        Mutex, MutexGuard, Once,
    },
    thread,
    time::{Duration, Instant},
};

use anyhow::{bail, Context, Result};

use crate::{
    netns::{self, ip, ip_in, run, run_in},
    prereq::{self, Prereq},
};
pub(crate) use faults::Fault;

/// The UDP port of the lecture, as `mcast` takes it on its command line.
pub(crate) const PORT: &str = "50001";

/// The two layouts a lab can have.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum Topology {
    /// Four hosts on one bridge, 192.168.56.0/24, as in the lecture.
    Lecture,
    /// Two subnets (56 and 57) joined by a multicast router namespace.
    Routed,
    /// Two hosts, sender and receiver, on the two ends of one veth pair (10.77.0.0/24).
    Pair,
}

impl Topology {
    fn name(self) -> &'static str {
        match self {
            Self::Lecture => "lecture",
            Self::Routed => "routed",
            Self::Pair => "pair",
        }
    }

    /// The hosts of this topology.
    pub(crate) fn hosts(self) -> &'static [Host] {
        match self {
            Self::Lecture => &LECTURE,
            Self::Routed => &ROUTED,
            Self::Pair => &PAIR,
        }
    }
}

/// One host namespace.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Host {
    /// The lecture's name for it, also the suffix of its namespace.
    pub(crate) name: &'static str,
    /// Its address on `lab0` (a /24).
    pub(crate) addr: Ipv4Addr,
    /// The bridge its veth is enslaved to (`None`: the veth's other end is the other host's).
    bridge: Option<&'static str>,
    /// Its default gateway, if it has one.
    gateway: Option<Ipv4Addr>,
}

const fn host(name: &'static str, c: u8, d: u8, bridge: &'static str, gw: bool) -> Host {
    Host {
        name,
        addr: Ipv4Addr::new(192, 168, c, d),
        bridge: Some(bridge),
        gateway: if gw {
            Some(Ipv4Addr::new(192, 168, c, 254))
        } else {
            None
        },
    }
}

const LECTURE: [Host; 4] = [
    host("eastny", 56, 1, "br0", false),
    host("midwood", 56, 3, "br0", false),
    host("flatbush", 56, 4, "br0", false),
    host("bushwick", 56, 5, "br0", false),
];

const ROUTED: [Host; 4] = [
    host("eastny", 56, 1, "br0", true),
    host("midwood", 56, 3, "br0", true),
    host("flatbush", 57, 4, "br1", true),
    host("bushwick", 57, 5, "br1", true),
];

/// The two ends of the pair topology's veth.
const PAIR: [Host; 2] = [
    Host {
        name: "sender",
        addr: Ipv4Addr::new(10, 77, 0, 1),
        bridge: None,
        gateway: None,
    },
    Host {
        name: "receiver",
        addr: Ipv4Addr::new(10, 77, 0, 2),
        bridge: None,
        gateway: None,
    },
];

/// The router's legs in the routed topology: (name inside the router, bridge port, address, bridge).
const ROUTER_LEGS: [(&str, &str, Ipv4Addr, &str); 2] = [
    ("lab0", "router0", Ipv4Addr::new(192, 168, 56, 254), "br0"),
    ("lab1", "router1", Ipv4Addr::new(192, 168, 57, 254), "br1"),
];

/// What the router forwards, for `lab status`.
const ROUTED_SUMMARY: &str = "every group outside 224.0.0.0/24";

/// The prefixes the router forwards: all of 224.0.0.0/4 except the link-local 224.0.0.0/24
/// (RFC 5771: never forwarded), as the 20 disjoint blocks 224.0.1.0/24, 224.0.2.0/23, …,
/// 232.0.0.0/5. Each becomes an smcroute (*,G/len) route per direction.
fn routed_prefixes() -> Vec<(Ipv4Addr, u8)> {
    let base = u32::from(Ipv4Addr::new(224, 0, 0, 0));
    (5..=24u8)
        .rev()
        .map(|len| (Ipv4Addr::from(base | 1 << (32 - u32::from(len))), len))
        .collect()
}

/// Query timing for `--snooping`, in centiseconds (the bridge's unit): the querier counts as
/// present after one response interval, so snooping takes effect about a second after `up`.
const QUERY_RESPONSE_CS: u32 = 100;
const QUERY_INTERVAL_CS: u32 = 200;

/// What to build.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Config {
    /// The layout.
    pub(crate) topology: Topology,
    /// Bridge with IGMP snooping and its own querier (otherwise it floods like a hub).
    pub(crate) snooping: bool,
    /// UDP datagrams dropped: on receipt by every host, or both ways by one host (see [`faults`]).
    pub(crate) loss: Vec<Fault>,
    /// Multicast UDP datagrams sent twice, by every host or by one.
    pub(crate) dup: Vec<Fault>,
}

impl Config {
    /// The lecture's topology with a flooding bridge and no faults.
    pub(crate) const fn lecture() -> Self {
        Self {
            topology: Topology::Lecture,
            snooping: false,
            loss: Vec::new(),
            dup: Vec::new(),
        }
    }

    /// Fails with a one-line message when a fault names a host this topology lacks, or two
    /// faults of one kind cover the same hosts.
    pub(crate) fn check(&self) -> Result<()> {
        let hosts: Vec<&str> = self.topology.hosts().iter().map(|h| h.name).collect();
        let topology = self.topology.name();
        faults::check("--loss", &self.loss, &hosts, topology)?;
        faults::check("--dup", &self.dup, &hosts, topology)
    }

    fn prereqs(&self) -> Vec<Prereq> {
        let mut needed = vec![Prereq::Root, Prereq::Ip];
        if !self.loss.is_empty() || !self.dup.is_empty() {
            needed.push(Prereq::Nft);
        }
        if self.topology == Topology::Routed {
            needed.push(Prereq::Smcroute);
        }
        needed
    }
}

/// The workspace root.
pub(crate) fn project_root() -> PathBuf {
    let xtask = Path::new(env!("CARGO_MANIFEST_DIR"));
    xtask.parent().unwrap_or(xtask).to_path_buf()
}

/// Cargo's target directory (`CARGO_TARGET_DIR` or `<root>/target`).
pub(crate) fn target_dir() -> PathBuf {
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(dir) => project_root().join(dir),
        None => project_root().join("target"),
    }
}

/// The cargo profile a binary is built with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Profile {
    /// `cargo build`: quick to build, what the demo, the lab and the tests use.
    Debug,
    /// `cargo build --release`: what `cargo xtask perf` measures.
    Release,
}

/// Builds the `mcast` binary once (`$CARGO build --message-format=json`, as aya does) and returns
/// its path (`quiet`: without cargo's progress lines). `MCAST_BIN` overrides it with a ready binary.
pub(crate) fn mcast_binary(profile: Profile, quiet: bool) -> Result<PathBuf> {
    if let Some(bin) = std::env::var_os("MCAST_BIN") {
        return Ok(PathBuf::from(bin));
    }
    cargo_binary("mcast-cli", "mcast", profile, quiet)
}

/// Builds the binary `bin` of `package` with cargo in `profile` and returns its path.
pub(crate) fn cargo_binary(
    package: &str,
    bin: &str,
    profile: Profile,
    quiet: bool,
) -> Result<PathBuf> {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.current_dir(project_root())
        .args(["build", "--package", package, "--bin", bin])
        .args((profile == Profile::Release).then_some("--release"))
        .arg("--message-format=json-render-diagnostics")
        .args(quiet.then_some("--quiet"))
        .stderr(Stdio::inherit());
    let out = run(&mut cmd)?;
    out.lines()
        .filter(|l| l.contains(r#""reason":"compiler-artifact""#))
        .filter_map(|l| json_string_field(l, "executable"))
        .map(PathBuf::from)
        .find(|p| p.file_name().is_some_and(|n| n == bin))
        .with_context(|| format!("{cmd:?} reported no `{bin}` executable"))
}

/// The value of the string field `"key":"…"` in one line of cargo's JSON (paths need no unescaping
/// beyond `\\` and `\"`).
fn json_string_field(line: &str, key: &str) -> Option<String> {
    let start = line.find(&format!("\"{key}\":\""))? + key.len() + 4;
    let mut value = String::new();
    let mut chars = line[start..].chars();
    while let Some(c) = chars.next() {
        match c {
            '"' => return Some(value),
            '\\' => value.push(chars.next()?),
            c => value.push(c),
        }
    }
    None
}

/// Prefixes of labs alive in this process, torn down by the Ctrl-C handler.
///
/// The lock also serialises building, recording and tearing down: the handler holds it from
/// taking the list until the process exits, and a lab holds it while it builds, while `lab up`
/// writes the state file, from [`Lab::keep`] on, and while its guard tears it down. So the
/// handler and a guard never delete the same namespace, nothing is created after the handler
/// looked, and whoever holds the lock after a Ctrl-C sees [`INTERRUPTED`] and tears down.
static ACTIVE: Mutex<Vec<String>> = Mutex::new(Vec::new());

/// Set by the Ctrl-C handler before it waits for [`ACTIVE`], so a thread holding the lock learns of
/// the interrupt and tears down itself ([`exit_if_interrupted`]) instead of going on.
static INTERRUPTED: AtomicBool = AtomicBool::new(false);

fn active() -> MutexGuard<'static, Vec<String>> {
    ACTIVE.lock().unwrap_or_else(|e| e.into_inner())
}

/// After a Ctrl-C: tears down every registered lab (state file included) and exits with 130, the
/// lock still held so no guard or handler starts a second teardown. Otherwise returns.
fn exit_if_interrupted(active: &mut MutexGuard<'static, Vec<String>>) {
    if !INTERRUPTED.load(Ordering::SeqCst) {
        return;
    }
    for prefix in active.drain(..) {
        for problem in teardown(&prefix) {
            eprintln!("warning: {problem}");
        }
    }
    std::process::exit(130);
}

/// Whether a Ctrl-C came: its handler is tearing the labs down and the process is about to exit.
pub(crate) fn interrupted() -> bool {
    INTERRUPTED.load(Ordering::SeqCst)
}

/// Runs `start`, which starts something inside a lab (a process in a namespace), under the labs'
/// lock: a Ctrl-C's teardown either comes later and sees what `start` made, or came first, and
/// then this process tears down and exits instead of starting anything.
pub(crate) fn unless_interrupted<T>(start: impl FnOnce() -> T) -> T {
    let mut active = active();
    exit_if_interrupted(&mut active);
    start()
}

fn register(prefix: &str) {
    static HANDLER: Once = Once::new();
    HANDLER.call_once(|| {
        let installed = ctrlc::set_handler(|| {
            INTERRUPTED.store(true, Ordering::SeqCst);
            eprintln!("interrupted: tearing the lab down");
            exit_if_interrupted(&mut active());
        });
        if let Err(e) = installed {
            eprintln!(
                "warning: no Ctrl-C teardown ({e}); use `cargo xtask lab down` if interrupted"
            );
        }
    });
    active().push(prefix.to_owned());
}

/// Forgets `prefix`; returns whether it was still registered (not yet taken by the handler).
fn unregister(active: &mut Vec<String>, prefix: &str) -> bool {
    let before = active.len();
    active.retain(|p| p != prefix);
    active.len() != before
}

/// Picks `mcl<pid%10000>-`, or the next free number when namespaces with that prefix exist.
fn allocate_prefix() -> Result<String> {
    let existing = netns::list_netns()?;
    let pid = std::process::id() % 10000;
    (0..10000)
        .map(|i| format!("mcl{}-", (pid + i) % 10000))
        .find(|p| !existing.iter().any(|ns| ns.starts_with(p.as_str())))
        .context("no free lab prefix")
}

/// The scratch directory of the lab with `prefix` (see [`Lab::scratch_dir`]).
fn scratch_dir(prefix: &str) -> PathBuf {
    std::env::temp_dir().join(format!("{prefix}tmp"))
}

fn smcroute_ident(prefix: &str) -> String {
    format!("{prefix}smcroute")
}

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

// ---------------------------------------------------------------------------------------------
// `cargo xtask lab …`

/// `cargo xtask lab …`
#[derive(clap::Args, Debug)]
pub(crate) struct Opt {
    #[command(subcommand)]
    cmd: LabCmd,
}

#[derive(clap::Subcommand, Debug)]
enum LabCmd {
    /// Build a lab that stays up until `lab down` (state in target/mcast-lab.state).
    ///
    /// In the routed topology the router forwards every group outside 224.0.0.0/24 both ways;
    /// send with `--ttl 2` or more to cross it. Ctrl-C before `lab up` returns deletes the lab.
    Up {
        /// `lecture`: four hosts on one bridge; `routed`: two subnets joined by a multicast router;
        /// `pair`: sender 10.77.0.1 and receiver 10.77.0.2 on one veth pair.
        #[arg(long, value_enum, default_value = "lecture")]
        topology: Topology,
        /// IGMP snooping with a querier on the bridge(s) (default: flood like a hub).
        #[arg(long)]
        snooping: bool,
        /// Drop P% of the UDP datagrams each host receives; P@HOST: P% of those HOST sends and
        /// of those it receives (nftables; repeatable, e.g. --loss 1 --loss 20@flatbush).
        #[arg(long, value_name = "P[@HOST]")]
        loss: Vec<Fault>,
        /// Send P% of each host's multicast UDP datagrams twice; P@HOST: only HOST's (nftables
        /// `dup`; repeatable).
        #[arg(long, value_name = "P[@HOST]")]
        dup: Vec<Fault>,
    },
    /// Run a command inside a host (or `router`/`switch`); a leading `mcast` runs the built binary.
    Exec {
        /// eastny, midwood, flatbush, bushwick, router or switch (sender or receiver in a pair).
        host: String,
        /// The command and its arguments (after `--`).
        #[arg(last = true, required = true)]
        cmd: Vec<String>,
    },
    /// Show the lab that is up (found by its namespaces when the state file is gone).
    Status,
    /// Delete the lab that is up, and what labs of this checkout left behind.
    Down,
    /// List every lab on this machine, found by its namespaces' names, whoever made it.
    List {
        /// Print instead every namespace made in the run NAME (`MCAST_LAB_RUN=NAME`), labs'
        /// and tests' alike, one per line: what that run left behind.
        #[arg(long, value_name = "NAME")]
        run: Option<String>,
    },
}

/// The name of the state file `lab up` writes into the target directory.
pub(crate) const STATE_FILE: &str = "mcast-lab.state";

fn state_file() -> PathBuf {
    target_dir().join(STATE_FILE)
}

fn save_state(lab: &Lab) -> Result<()> {
    let c = &lab.config;
    let text = format!(
        "prefix={}\ntopology={}\nsnooping={}\nloss={}\ndup={}\n",
        lab.prefix,
        c.topology.name(),
        c.snooping,
        faults::list(&c.loss),
        faults::list(&c.dup),
    );
    std::fs::create_dir_all(target_dir())?;
    std::fs::write(state_file(), text)
        .with_context(|| format!("failed to write {}", state_file().display()))
}

/// The recorded lab: (prefix, config).
fn load_state() -> Result<(String, Config)> {
    load_state_from(&state_file())
}

/// The lab recorded in the state file at `path`.
fn load_state_from(path: &Path) -> Result<(String, Config)> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            bail!(
                "no lab is up (no {}): run `cargo xtask lab up`",
                path.display()
            )
        }
        Err(e) => return Err(e).with_context(|| format!("cannot read {}", path.display())),
    };
    let field = |key: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(key)?.strip_prefix('='))
            .unwrap_or("")
            .to_owned()
    };
    let prefix = field("prefix");
    if !prefix.starts_with("mcl") || !prefix.ends_with('-') {
        bail!("{} holds no lab prefix", path.display());
    }
    let topology = match field("topology").as_str() {
        "routed" => Topology::Routed,
        "pair" => Topology::Pair,
        _ => Topology::Lecture,
    };
    let faults = |key: &str| {
        faults::parse_list(&field(key))
            .map_err(|e| anyhow::anyhow!("{} holds a bad {key} line: {e}", path.display()))
    };
    let config = Config {
        topology,
        snooping: field("snooping") == "true",
        loss: faults("loss")?,
        dup: faults("dup")?,
    };
    Ok((prefix, config))
}

/// Runs `cargo xtask lab …`; returns the exit code.
pub(crate) fn run_cmd(opt: Opt) -> Result<i32> {
    match opt.cmd {
        LabCmd::Up {
            topology,
            snooping,
            loss,
            dup,
        } => {
            let config = Config {
                topology,
                snooping,
                loss,
                dup,
            };
            config.check()?;
            refuse_a_second_lab()?;
            let lab = Lab::up(config)?;
            // Under the lock, so a Ctrl-C either comes first (the lab goes, no state file is
            // written) or finds the lab registered and deletes it and its state file.
            let saved = {
                let mut active = active();
                exit_if_interrupted(&mut active);
                lab.mark_kept().and_then(|()| save_state(&lab))
            };
            saved?;
            outln!(
                "lab up: prefix {}, state in {}",
                lab.prefix,
                state_file().display()
            );
            if let Err(e) = status() {
                eprintln!("warning: {e:#}");
            }
            lab.keep();
            Ok(0)
        }
        LabCmd::Exec { host, cmd } => {
            let (prefix, config) = match current()? {
                Some(lab) => lab,
                None => load_state()?,
            };
            check_exec_target(config.topology, &host)?;
            let (program, args) = cmd.split_first().context("no command given")?;
            let program = if program == "mcast" {
                mcast_binary(Profile::Debug, true)?.into_os_string()
            } else {
                program.into()
            };
            let mut command = netns::exec_in(&format!("{prefix}{host}"), program);
            command.args(args);
            let status = command
                .status()
                .with_context(|| format!("failed to run {command:?}"))?;
            Ok(status.code().unwrap_or(1))
        }
        LabCmd::Status => status().map(|()| 0),
        LabCmd::Down => down(),
        LabCmd::List { run } => {
            match run {
                Some(run) => {
                    for ns in find::made_in_run(&run)? {
                        outln!("{ns}");
                    }
                }
                None => {
                    let labs = find::labs()?;
                    if labs.is_empty() {
                        outln!("no lab on this machine");
                    }
                    let here = target_dir();
                    for found in labs {
                        let mine = if found.belongs_to(&here) {
                            " [this checkout]"
                        } else {
                            ""
                        };
                        outln!("{}{mine}", found.describe());
                    }
                }
            }
            Ok(0)
        }
    }
}

/// This checkout's labs (those whose namespaces name its target directory) in `state`, for
/// `lab up`, `status` and `down`.
fn labs_here(state: fn(&find::State) -> bool) -> Result<Vec<find::Found>> {
    let here = target_dir();
    Ok(find::labs()?
        .into_iter()
        .filter(|f| f.belongs_to(&here) && state(&f.state()))
        .collect())
}

/// `lab up` builds one lab per checkout: fails, saying how to delete it, when this checkout's
/// lab is up (found by its namespaces, or recorded in the state file) or an earlier one was
/// left half torn down.
fn refuse_a_second_lab() -> Result<()> {
    let hint = "hint: `cargo xtask lab status` shows it, `cargo xtask lab down` deletes it";
    if let Some(found) = labs_here(|s| *s == find::State::Kept)?.first() {
        let topology = found
            .marker
            .as_ref()
            .map_or("?", |m| m.config.topology.name());
        bail!(
            "a lab is already up here (prefix {}, topology {topology}): one lab at a time\n{hint}",
            found.prefix
        );
    }
    if let Some(found) = labs_here(|s| matches!(s, find::State::Orphaned(_)))?.first() {
        bail!(
            "an earlier lab left namespaces behind ({})\n{hint}",
            found.namespaces.join(" ")
        );
    }
    if let Ok((prefix, _)) = load_state() {
        if !netns::list_netns_with_prefix(&prefix)?.is_empty() {
            bail!("a lab is already up (prefix {prefix}, in the state file)\n{hint}");
        }
    }
    Ok(())
}

/// The lab of this checkout: the one `lab up` kept, found by its namespaces (so the state file
/// may be gone), else the one the state file records if its namespaces exist.
fn current() -> Result<Option<(String, Config)>> {
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

/// `lab down`: deletes this checkout's kept lab, the one the state file records, and the
/// namespaces of labs whose builder died without tearing them down; leaves alone the labs of
/// running processes (tests, the demo, `perf`) and of other checkouts.
fn down() -> Result<i32> {
    let mut prefixes = Vec::new();
    for found in labs_here(|s| matches!(s, find::State::Kept | find::State::Orphaned(_)))? {
        if let find::State::Orphaned(pid) = found.state() {
            outln!(
                "deleting what is left of lab {} (pid {pid}, which built it, is gone)",
                found.prefix
            );
        }
        prefixes.push(found.prefix);
    }
    if let Ok((prefix, _)) = load_state() {
        if !prefixes.contains(&prefix) {
            prefixes.push(prefix);
        }
    }
    if prefixes.is_empty() {
        let _ = std::fs::remove_file(state_file());
        outln!("no lab is up");
        return Ok(0);
    }
    let mut problems = Vec::new();
    for prefix in &prefixes {
        problems.extend(teardown(prefix));
    }
    let _ = std::fs::remove_file(state_file());
    if !problems.is_empty() {
        bail!(
            "teardown of {} incomplete:\n  {}",
            prefixes.join(" "),
            problems.join("\n  ")
        );
    }
    for prefix in &prefixes {
        outln!("lab {prefix} is down");
    }
    Ok(0)
}

/// The names `lab exec` accepts in `topology`: its hosts, `switch`, and `router` when routed.
fn exec_targets(topology: Topology) -> Vec<&'static str> {
    let mut names: Vec<&str> = topology.hosts().iter().map(|h| h.name).collect();
    if topology == Topology::Routed {
        names.push("router");
    }
    if topology != Topology::Pair {
        names.push("switch");
    }
    names
}

/// Fails, naming the valid choices, unless `lab exec` can run in `name`.
fn check_exec_target(topology: Topology, name: &str) -> Result<()> {
    let valid = exec_targets(topology);
    if !valid.contains(&name) {
        bail!(
            "no host {name} in the {} lab: choose one of {}",
            topology.name(),
            valid.join(", ")
        );
    }
    Ok(())
}

fn status() -> Result<()> {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cargo_json_executable_is_extracted() {
        let line = r#"{"reason":"compiler-artifact","target":{"name":"mcast"},"executable":"/t/debug/mc\"ast","fresh":true}"#;
        assert_eq!(
            json_string_field(line, "executable").as_deref(),
            Some("/t/debug/mc\"ast")
        );
        assert_eq!(
            json_string_field(r#"{"executable":null}"#, "executable"),
            None
        );
    }

    #[test]
    fn the_router_forwards_every_group_but_the_link_local_ones() {
        let blocks: Vec<(u32, u32)> = routed_prefixes()
            .into_iter()
            .map(|(net, len)| {
                let size = 1u32 << (32 - u32::from(len));
                let start = u32::from(net);
                assert_eq!(start % size, 0, "{net}/{len} is not aligned");
                (start, start + (size - 1))
            })
            .collect();
        let all = (
            u32::from(Ipv4Addr::new(224, 0, 0, 0)),
            u32::from(Ipv4Addr::new(239, 255, 255, 255)),
        );
        let link_local_end = u32::from(Ipv4Addr::new(224, 0, 0, 255));
        // Sorted, the blocks tile 224.0.1.0 ..= 239.255.255.255 without gap or overlap.
        let mut sorted = blocks.clone();
        sorted.sort_unstable();
        let mut next = link_local_end + 1;
        for (start, end) in sorted {
            assert_eq!(start, next, "gap or overlap at {}", Ipv4Addr::from(start));
            next = end.wrapping_add(1);
        }
        assert_eq!(next.wrapping_sub(1), all.1);
        let routed = |ip: Ipv4Addr| {
            blocks
                .iter()
                .any(|&(s, e)| (s..=e).contains(&u32::from(ip)))
        };
        for group in [
            "224.1.1.5",
            "234.3.2.1",
            "239.1.2.3",
            "224.0.1.1",
            "239.255.255.255",
        ] {
            assert!(routed(group.parse().unwrap()), "{group} is not routed");
        }
        for group in ["224.0.0.1", "224.0.0.22", "224.0.0.251", "224.0.0.255"] {
            assert!(
                !routed(group.parse().unwrap()),
                "{group} is link-local but routed"
            );
        }
    }

    #[test]
    fn exec_names_the_valid_hosts_of_the_topology() {
        let err = check_exec_target(Topology::Routed, "nohost")
            .unwrap_err()
            .to_string();
        assert_eq!(
            err,
            "no host nohost in the routed lab: choose one of eastny, midwood, flatbush, bushwick, router, switch"
        );
        let err = check_exec_target(Topology::Lecture, "router")
            .unwrap_err()
            .to_string();
        assert!(
            err.ends_with("choose one of eastny, midwood, flatbush, bushwick, switch"),
            "{err}"
        );
        for name in ["eastny", "bushwick", "router", "switch"] {
            assert!(check_exec_target(Topology::Routed, name).is_ok(), "{name}");
        }
        // A pair has no switch namespace.
        let err = check_exec_target(Topology::Pair, "switch")
            .unwrap_err()
            .to_string();
        assert!(err.ends_with("choose one of sender, receiver"), "{err}");
    }

    #[test]
    fn a_missing_state_file_means_no_lab_without_the_os_error() {
        let path =
            std::env::temp_dir().join(format!("mcast-lab-{}-absent.state", std::process::id()));
        let err = format!("{:#}", load_state_from(&path).unwrap_err());
        assert_eq!(
            err,
            format!(
                "no lab is up (no {}): run `cargo xtask lab up`",
                path.display()
            )
        );
    }

    #[test]
    fn a_state_file_round_trips() {
        let path = std::env::temp_dir().join(format!("mcast-lab-{}-rt.state", std::process::id()));
        std::fs::write(
            &path,
            "prefix=mcl42-\ntopology=routed\nsnooping=true\nloss=\ndup=20\n",
        )
        .unwrap();
        let loaded = load_state_from(&path);
        let _ = std::fs::remove_file(&path);
        let (prefix, config) = loaded.unwrap();
        assert_eq!(prefix, "mcl42-");
        assert_eq!(
            config,
            Config {
                topology: Topology::Routed,
                snooping: true,
                loss: Vec::new(),
                dup: vec![Fault::everywhere(20)],
            }
        );
    }

    #[test]
    fn interface_names_fit_the_kernel_limit() {
        let names = LECTURE
            .iter()
            .chain(&ROUTED)
            .map(|h| h.name)
            .chain(ROUTER_LEGS.iter().flat_map(|(i, p, ..)| [*i, *p]));
        for name in names {
            assert!(name.len() <= 15, "{name} is longer than IFNAMSIZ-1");
        }
    }

    #[test]
    fn routed_hosts_sit_on_two_subnets_behind_the_router() {
        for h in &ROUTED {
            let gw = h.gateway.expect("every routed host has a gateway");
            assert_eq!(
                h.addr.octets()[..3],
                gw.octets()[..3],
                "{} and its gateway share a /24",
                h.name
            );
        }
        let subnets: std::collections::BTreeSet<u8> =
            ROUTED.iter().map(|h| h.addr.octets()[2]).collect();
        assert_eq!(subnets.into_iter().collect::<Vec<_>>(), [56, 57]);
    }
}
