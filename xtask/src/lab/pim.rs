//! The `pim` topology: a line of routers running FRR's `zebra` and `pimd` (PIM-SM with a static
//! rendezvous point, IGMPv3 towards the hosts, PIM-SSM for 232.0.0.0/8), and the routing state
//! they learn, read back for `lab routes`.
//!
//! Layout with N routers (`--routers N`, default 3), every name after the lab's prefix:
//!
//! * routers `r1` … `rN` in a line; the link between `ri` and `ri+1` is one veth pair, the
//!   transit subnet 10.0.i.0/30 (`ri` .1 on its interface `ri+1`, `ri+1` .2 on its interface
//!   `ri`): an interface is named after the router at its other end.
//! * three edge LANs, bridges in the switch namespace: `br0` 192.168.56.0/24 behind `r1`
//!   (midwood .3, the sender), `br1` 192.168.57.0/24 behind the middle router `rM`, M = (N+1)/2
//!   (eastny .1), `br2` 192.168.58.0/24 behind `rN` (flatbush .4, bushwick .5). The router's
//!   interface on a LAN is `lan56`, `lan57` or `lan58` with address .254, the hosts' gateway.
//! * the rendezvous point is `rM`'s 192.168.57.254 for 224.0.0.0/4; 232.0.0.0/8 is FRR's
//!   default SSM range and needs no RP.
//! * unicast routing is static: each router gets a kernel route to every subnet it is not on,
//!   via its neighbour on that side; `zebra` imports them and `pimd` does its RPF checks on them.
//!
//! Each router runs its own `zebra` and `pimd`, inside its namespace (`ip netns exec`, checked
//! with `/proc/PID/ns/net` once started), as the user `frr`, with everything in the router's
//! directory `<lab scratch dir>/rI/`: `pimd.conf`, `zebra.pid`/`pimd.pid`, the vty sockets
//! (`--vty_socket`, so `vtysh --vty_socket DIR` talks to this router's daemons only), the
//! zserv socket (`-z`), `zebra.log`/`pimd.log` and the daemons' stdout. No TCP vty (`-P 0`).
//! Teardown stops the daemons by the ids in their pid files before anything else in the
//! namespaces. Timers are short so that the lab is up, and a prune is seen, within seconds:
//! PIM hellos every second, IGMP queries every 2 s with a 1 s response time, and a
//! last-member query interval of 0.3 s, twice.

use std::{
    fmt::Write as _,
    net::Ipv4Addr,
    path::{Path, PathBuf},
    process::{Child, Stdio},
    thread,
    time::{Duration, Instant},
};

use anyhow::{bail, Context, Result};
use serde_json::Value;

use super::topology::{host, Host};
use crate::netns::{self, exec_in, run};

/// The number of routers `--topology pim` builds without `--routers`.
pub(crate) const DEFAULT_ROUTERS: u8 = 3;
/// The most routers a line may have (each link is one 10.0.i.0/30).
pub(crate) const MAX_ROUTERS: u8 = 30;

/// Where FRR's daemons are (Debian's `frr` package).
pub(crate) const FRR_DIR: &str = "/usr/lib/frr";

/// The hosts of the pim topology, each behind the router of its LAN (see the module's docs).
pub(super) const PIM: [Host; 4] = [
    host("eastny", 57, 1, "br1", true),
    host("midwood", 56, 3, "br0", true),
    host("flatbush", 58, 4, "br2", true),
    host("bushwick", 58, 5, "br2", true),
];

/// The edge bridges of the pim topology.
pub(super) const PIM_BRIDGES: [&str; 3] = ["br0", "br1", "br2"];

/// How long `lab up` waits for every router to see its PIM neighbours.
const NEIGHBOUR_WAIT: Duration = Duration::from_secs(20);

/// A subnet of the line: where it is and which routers are on it.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Subnet {
    net: Ipv4Addr,
    len: u8,
    /// The lowest and highest router index on it.
    first: u8,
    last: u8,
}

/// One interface of a router.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Iface {
    /// Its name inside the router's namespace.
    pub(crate) name: String,
    /// Its address and prefix length.
    pub(crate) addr: Ipv4Addr,
    pub(crate) len: u8,
    /// The edge LAN's bridge, for an edge interface; `None` for a transit link.
    pub(crate) bridge: Option<&'static str>,
}

/// A line of `routers` routers (see the module's docs).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Line {
    pub(crate) routers: u8,
}

impl Line {
    /// The router names, `r1` … `rN`.
    pub(crate) fn names(self) -> Vec<String> {
        (1..=self.routers).map(|i| format!("r{i}")).collect()
    }

    /// The index of the middle router, the rendezvous point.
    pub(crate) fn rp_router(self) -> u8 {
        self.routers.div_ceil(2)
    }

    /// The rendezvous point's address (the middle router's address on eastny's LAN).
    pub(crate) fn rp_addr(self) -> Ipv4Addr {
        Ipv4Addr::new(192, 168, 57, 254)
    }

    /// The edge LANs: (bridge, third octet, index of the router it is behind).
    pub(crate) fn lans(self) -> [(&'static str, u8, u8); 3] {
        [
            ("br0", 56, 1),
            ("br1", 57, self.rp_router()),
            ("br2", 58, self.routers),
        ]
    }

    /// The router a host's LAN is behind, which is also how many routers a datagram from
    /// midwood (behind `r1`) crosses to reach it: it needs a TTL one higher, since each router
    /// forwards only a TTL above 1, and decrements it.
    pub(crate) fn router_of(self, h: &Host) -> Option<u8> {
        let c = h.addr.octets()[2];
        self.lans()
            .iter()
            .find(|(_, octet, _)| *octet == c)
            .map(|l| l.2)
    }

    fn subnets(self) -> Vec<Subnet> {
        let mut all: Vec<Subnet> = self
            .lans()
            .iter()
            .map(|&(_, c, r)| Subnet {
                net: Ipv4Addr::new(192, 168, c, 0),
                len: 24,
                first: r,
                last: r,
            })
            .collect();
        all.extend((1..self.routers).map(|i| Subnet {
            net: Ipv4Addr::new(10, 0, i, 0),
            len: 30,
            first: i,
            last: i + 1,
        }));
        all
    }

    /// The interfaces of router `i` (1-based): its edge LANs, then its links to `ri-1`, `ri+1`.
    pub(crate) fn ifaces(self, i: u8) -> Vec<Iface> {
        let mut list: Vec<Iface> = self
            .lans()
            .iter()
            .filter(|l| l.2 == i)
            .map(|&(bridge, c, _)| Iface {
                name: format!("lan{c}"),
                addr: Ipv4Addr::new(192, 168, c, 254),
                len: 24,
                bridge: Some(bridge),
            })
            .collect();
        if i > 1 {
            list.push(Iface {
                name: format!("r{}", i - 1),
                addr: Ipv4Addr::new(10, 0, i - 1, 2),
                len: 30,
                bridge: None,
            });
        }
        if i < self.routers {
            list.push(Iface {
                name: format!("r{}", i + 1),
                addr: Ipv4Addr::new(10, 0, i, 1),
                len: 30,
                bridge: None,
            });
        }
        list
    }

    /// The static routes of router `i`: every subnet it is not on, via its neighbour on that
    /// side, as (`net/len`, gateway).
    pub(crate) fn routes(self, i: u8) -> Vec<(String, Ipv4Addr)> {
        self.subnets()
            .into_iter()
            .filter(|s| !(s.first..=s.last).contains(&i))
            .map(|s| {
                let via = if s.last < i {
                    Ipv4Addr::new(10, 0, i - 1, 1)
                } else {
                    Ipv4Addr::new(10, 0, i, 2)
                };
                (format!("{}/{}", s.net, s.len), via)
            })
            .collect()
    }

    /// How many PIM neighbours router `i` has once the line is up.
    fn neighbours(self, i: u8) -> usize {
        usize::from(i > 1) + usize::from(i < self.routers)
    }

    /// `pimd`'s configuration for router `i`.
    pub(crate) fn pimd_conf(self, i: u8) -> String {
        let mut conf = format!(
            "! written by cargo xtask lab (topology pim)\nhostname r{i}\n\
             ip pim rp {} 224.0.0.0/4\nip pim join-prune-interval 5\n",
            self.rp_addr()
        );
        for iface in self.ifaces(i) {
            let _ = writeln!(conf, "interface {}\n ip pim\n ip pim hello 1 3", iface.name);
            if iface.bridge.is_some() {
                // query-max-response-time is in deciseconds and may not exceed the interval.
                conf.push_str(
                    " ip igmp\n ip igmp version 3\n ip igmp query-max-response-time 10\n \
                     ip igmp query-interval 2\n ip igmp last-member-query-count 2\n \
                     ip igmp last-member-query-interval 3\n",
                );
            }
        }
        conf
    }
}

/// The directory of router `name` inside the lab's scratch directory.
pub(crate) fn router_dir(scratch: &Path, name: &str) -> PathBuf {
    scratch.join(name)
}

/// The daemons of one router, in start order.
pub(crate) const DAEMONS: [&str; 2] = ["zebra", "pimd"];

/// The user and group FRR's daemons run as (members of `frrvty`, which the vty sockets need).
const FRR_USER: &str = "frr";

/// The numeric uid and gid of [`FRR_USER`].
fn frr_ids() -> Result<(u32, u32)> {
    let id = |flag: &str| -> Result<u32> {
        run(std::process::Command::new("id").args([flag, FRR_USER]))?
            .trim()
            .parse()
            .with_context(|| format!("`id {flag} {FRR_USER}` printed no number"))
    };
    Ok((id("-u")?, id("-g")?))
}

/// The first directory above `dir` that users other than its owner cannot enter (no `o+x`):
/// FRR's daemons, which run as their own user, could not reach `dir` through it.
fn closed_ancestor(dir: &Path) -> Option<PathBuf> {
    dir.ancestors().skip(1).find_map(|a| {
        let mode =
            std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(a).ok()?.permissions());
        (mode & 0o001 == 0).then(|| a.to_path_buf())
    })
}

/// Starts `daemon` of router `name` inside the namespace `ns`, its files in `dir`.
fn spawn_daemon(ns: &str, dir: &Path, daemon: &str) -> Result<Child> {
    let file = |f: &str| dir.join(f).to_string_lossy().into_owned();
    let mut cmd = exec_in(ns, Path::new(FRR_DIR).join(daemon));
    // Its own process group: a terminal's Ctrl-C is for xtask, whose handler tears down.
    std::os::unix::process::CommandExt::process_group(&mut cmd, 0);
    cmd.args(["-u", FRR_USER, "-g", FRR_USER, "-P", "0"])
        .args(["-i", &file(&format!("{daemon}.pid"))])
        .args(["--vty_socket", &dir.to_string_lossy()])
        .args(["-z", &file("zserv.api")])
        .arg(format!("--log=file:{}", file(&format!("{daemon}.log"))));
    // Each daemon reads its configuration from the router's directory, never from /etc/frr.
    cmd.args(["-f", &file(&format!("{daemon}.conf"))]);
    let out = std::fs::File::create(dir.join(format!("{daemon}.out")))?;
    cmd.stdin(Stdio::null())
        .stdout(out.try_clone()?)
        .stderr(out);
    cmd.spawn()
        .with_context(|| format!("failed to run {cmd:?}"))
}

/// Whether the process `pid` lives in the network namespace `ns`.
pub(crate) fn lives_in(pid: u32, ns: &str) -> bool {
    let inode = |p: &Path| std::fs::metadata(p).map(|m| std::os::unix::fs::MetadataExt::ino(&m));
    let mine = inode(&Path::new("/proc").join(pid.to_string()).join("ns/net"));
    let theirs = inode(&Path::new("/run/netns").join(ns));
    matches!((mine, theirs), (Ok(a), Ok(b)) if a == b)
}

/// Writes each router's configuration and starts its daemons (zebra first, then pimd once
/// zebra's socket is there), then waits until every router sees its PIM neighbours. The
/// children are pushed onto `daemons` as they start, so a failure still stops them.
pub(crate) fn start(
    line: Line,
    scratch: &Path,
    ns_of: impl Fn(&str) -> String,
    daemons: &mut Vec<Child>,
) -> Result<()> {
    let (uid, gid) = frr_ids()?;
    // The scratch directory's name can be guessed: hand it to FRR's group only when it is a
    // real directory of root's own (a symlink planted there is refused, never followed), and
    // open it to that group whatever the umask (0750: the daemons reach their `rI/`).
    let meta = std::fs::symlink_metadata(scratch)?;
    if !meta.is_dir() || std::os::unix::fs::MetadataExt::uid(&meta) != 0 {
        bail!(
            "{} is not a directory of root's own: refusing to hand it to the {FRR_USER} user (remove it and run again)",
            scratch.display()
        );
    }
    std::os::unix::fs::chown(scratch, Some(0), Some(gid))?;
    std::fs::set_permissions(scratch, std::os::unix::fs::PermissionsExt::from_mode(0o750))?;
    if let Some(closed) = closed_ancestor(scratch) {
        bail!(
            "{} is closed to other users (no search permission), so the {FRR_USER} user cannot reach the lab's directory {}: set TMPDIR to a directory all users can enter, such as /tmp",
            closed.display(),
            scratch.display()
        );
    }
    for (i, name) in (1..).zip(line.names()) {
        let dir = router_dir(scratch, &name);
        std::fs::create_dir_all(&dir)?;
        std::fs::write(dir.join("pimd.conf"), line.pimd_conf(i))?;
        // zebra's own configuration is empty, and named, so it never reads the host's
        // /etc/frr/zebra.conf.
        std::fs::write(dir.join("zebra.conf"), "")?;
        // The daemons read their configuration after dropping to FRR's user: theirs, so that
        // a umask like 077 cannot hide it from them.
        for f in ["pimd.conf", "zebra.conf"] {
            std::os::unix::fs::chown(dir.join(f), Some(uid), Some(gid))?;
        }
        std::os::unix::fs::chown(&dir, Some(uid), Some(gid))?;
    }
    for daemon in DAEMONS {
        for name in line.names() {
            let ns = ns_of(&name);
            let dir = router_dir(scratch, &name);
            // `Lab::up` builds under the labs' lock: a Ctrl-C waits, then tears down.
            let child = spawn_daemon(&ns, &dir, daemon)?;
            let pid = child.id();
            daemons.push(child);
            // `ip netns exec` enters the namespace, then becomes the daemon.
            let entered = Instant::now() + Duration::from_secs(2);
            while !lives_in(pid, &ns) && Instant::now() < entered {
                thread::sleep(Duration::from_millis(5));
            }
            if !lives_in(pid, &ns) {
                bail!("{daemon} (pid {pid}) is not in the namespace {ns}: stopped");
            }
        }
        // pimd talks to zebra through its socket: wait for every zebra's.
        let ready = |name: &String| {
            let f = if daemon == "zebra" {
                "zserv.api"
            } else {
                "pimd.vty"
            };
            router_dir(scratch, name).join(f).exists()
        };
        wait_until(Duration::from_secs(10), daemons, || {
            Ok(line.names().iter().all(ready))
        })
        .with_context(|| format!("{daemon} did not open its sockets within 10 s"))?;
    }
    let waited = wait_until(NEIGHBOUR_WAIT, daemons, || {
        Ok((1..).zip(line.names()).all(|(i, name)| {
            neighbours(&ns_of(&name), &router_dir(scratch, &name))
                .is_ok_and(|n| n.len() >= line.neighbours(i))
        }))
    });
    if let Err(e) = waited {
        let mut seen = String::new();
        for name in line.names() {
            let n = neighbours(&ns_of(&name), &router_dir(scratch, &name)).unwrap_or_default();
            let _ = write!(seen, "\n  {name}: {}", n.join(" "));
        }
        bail!(
            "{e:#}: the routers did not all see their PIM neighbours within {} s; seen:{seen}\n\
             (logs in {})",
            NEIGHBOUR_WAIT.as_secs(),
            scratch.display()
        );
    }
    Ok(())
}

/// Polls `ready` every 50 ms until it holds; fails when `timeout` passes or a daemon exits.
fn wait_until(
    timeout: Duration,
    daemons: &mut [Child],
    mut ready: impl FnMut() -> Result<bool>,
) -> Result<()> {
    let deadline = Instant::now() + timeout;
    loop {
        if ready()? {
            return Ok(());
        }
        for d in daemons.iter_mut() {
            if let Some(status) = d.try_wait()? {
                bail!("an FRR daemon (pid {}) exited early ({status})", d.id());
            }
        }
        if Instant::now() >= deadline {
            bail!("timed out");
        }
        thread::sleep(Duration::from_millis(50));
    }
}

/// How long one `vtysh` command may take: a wedged daemon must not hang `lab up` (which holds
/// the labs' lock, so a Ctrl-C could not tear down), `lab status` or `lab routes`.
const VTYSH_LIMIT: &str = "5";

/// Runs `vtysh -c COMMAND` against the daemons of the router in `ns` whose files are in `dir`,
/// bounded by [`VTYSH_LIMIT`] seconds (`timeout`, from coreutils).
pub(crate) fn vtysh(ns: &str, dir: &Path, command: &str) -> Result<String> {
    netns::run_in(
        ns,
        "timeout",
        &[
            VTYSH_LIMIT,
            "vtysh",
            "--vty_socket",
            &dir.to_string_lossy(),
            "-c",
            command,
        ],
    )
}

/// The PIM neighbours the router in `ns` sees (`show ip pim neighbor json`).
pub(crate) fn neighbours(ns: &str, dir: &Path) -> Result<Vec<String>> {
    let json: Value = serde_json::from_str(&vtysh(ns, dir, "show ip pim neighbor json")?)?;
    let mut found = Vec::new();
    if let Some(ifaces) = json.as_object() {
        for nbrs in ifaces.values().filter_map(Value::as_object) {
            found.extend(nbrs.keys().cloned());
        }
    }
    Ok(found)
}

/// The pids in the daemons' pid files under the lab's scratch directory, with the router
/// each belongs to (`rI`), for teardown.
pub(crate) fn recorded_pids(scratch: &Path) -> Vec<(String, u32)> {
    let mut pids = Vec::new();
    let Ok(dirs) = std::fs::read_dir(scratch) else {
        return pids;
    };
    for dir in dirs.flatten() {
        let name = dir.file_name().to_string_lossy().into_owned();
        for daemon in DAEMONS {
            let file = dir.path().join(format!("{daemon}.pid"));
            if let Some(pid) = std::fs::read_to_string(file)
                .ok()
                .and_then(|s| s.trim().parse().ok())
            {
                pids.push((name.clone(), pid));
            }
        }
    }
    pids
}

/// One row of `lab routes`: a multicast route of one router.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Route {
    pub(crate) router: String,
    /// `*` or the source address.
    pub(crate) source: String,
    pub(crate) group: String,
    /// The incoming interface (`-` when there is none yet).
    pub(crate) iif: String,
    /// The outgoing interfaces, each with what put it there: `igmp` (a host joined), `pim` (a
    /// downstream router joined), `star` (inherited from the (*,G) entry). `pimreg`, FRR's
    /// register interface, is left out.
    pub(crate) oifs: Vec<String>,
    /// The RP of the group (`SSM` in the SSM range, `-` when none is known).
    pub(crate) rp: String,
}

/// The group ranges and their RP, from `show ip pim rp-info json`: (range, RP address).
pub(crate) fn parse_rp_info(json: &str) -> Vec<(String, String)> {
    let Ok(Value::Object(map)) = serde_json::from_str::<Value>(json) else {
        return Vec::new();
    };
    let mut ranges = Vec::new();
    for (rp, entries) in &map {
        for e in entries.as_array().into_iter().flatten() {
            if let Some(range) = e.get("group").and_then(Value::as_str) {
                ranges.push((range.to_owned(), rp.clone()));
            }
        }
    }
    ranges
}

/// Whether the IPv4 `group` lies in `range` (`a.b.c.d/len`).
fn in_range(group: &str, range: &str) -> bool {
    let (Ok(g), Some((net, len))) = (group.parse::<Ipv4Addr>(), range.split_once('/')) else {
        return false;
    };
    let (Ok(net), Ok(len)) = (net.parse::<Ipv4Addr>(), len.parse::<u32>()) else {
        return false;
    };
    let mask = u32::MAX.checked_shl(32 - len).unwrap_or(0);
    u32::from(g) & mask == u32::from(net) & mask
}

/// The RP of `group`: `SSM` in 232.0.0.0/8, else the RP of the longest range holding it.
fn rp_of(group: &str, ranges: &[(String, String)]) -> String {
    if in_range(group, "232.0.0.0/8") {
        return "SSM (none)".into();
    }
    ranges
        .iter()
        .filter(|(range, _)| in_range(group, range))
        .max_by_key(|(range, _)| range.split('/').nth(1).and_then(|l| l.parse::<u8>().ok()))
        .map_or_else(|| "-".into(), |(_, rp)| rp.clone())
}

/// The rows of router `router` from its `show ip mroute json` and `show ip pim rp-info json`.
pub(crate) fn parse_mroutes(router: &str, mroute: &str, rp_info: &str) -> Vec<Route> {
    let ranges = parse_rp_info(rp_info);
    let Ok(Value::Object(groups)) = serde_json::from_str::<Value>(mroute) else {
        return Vec::new();
    };
    let mut rows = Vec::new();
    for (group, sources) in &groups {
        let Some(sources) = sources.as_object() else {
            continue;
        };
        for (source, entry) in sources {
            let Some(entry) = entry.as_object() else {
                continue;
            };
            let iif = entry
                .get("iif")
                .and_then(Value::as_str)
                .filter(|s| !s.is_empty() && *s != "<iif?>")
                .unwrap_or("-");
            let mut oifs = Vec::new();
            for (name, o) in entry
                .get("oil")
                .and_then(Value::as_object)
                .into_iter()
                .flatten()
            {
                let by: Vec<&str> = [
                    ("protocolIgmp", "igmp"),
                    ("protocolPim", "pim"),
                    ("protocolInherited", "star"),
                ]
                .iter()
                .filter(|(k, _)| {
                    o.get(*k)
                        .is_some_and(|v| v.as_bool() == Some(true) || v.as_i64().unwrap_or(0) != 0)
                })
                .map(|(_, v)| *v)
                .collect();
                if name == "pimreg" {
                    continue;
                } else if by.is_empty() {
                    oifs.push(name.clone());
                } else {
                    oifs.push(format!("{name}({})", by.join(",")));
                }
            }
            rows.push(Route {
                router: router.to_owned(),
                source: source.clone(),
                group: group.clone(),
                iif: iif.to_owned(),
                oifs,
                rp: rp_of(group, &ranges),
            });
        }
    }
    rows
}

/// The table `lab routes` prints: a header and one line per route, columns aligned; a router
/// without routes gets one line saying so.
pub(crate) fn render_routes(routers: &[(String, Vec<Route>)]) -> String {
    let mut lines: Vec<[String; 5]> = vec![[
        "ROUTER".into(),
        "(S,G)".into(),
        "IIF".into(),
        "OIFS".into(),
        "RP".into(),
    ]];
    for (router, rows) in routers {
        if rows.is_empty() {
            lines.push([
                router.clone(),
                "no multicast routes".into(),
                String::new(),
                String::new(),
                String::new(),
            ]);
        }
        for r in rows {
            lines.push([
                router.clone(),
                format!("({}, {})", r.source, r.group),
                r.iif.clone(),
                if r.oifs.is_empty() {
                    "-".into()
                } else {
                    r.oifs.join(" ")
                },
                r.rp.clone(),
            ]);
        }
    }
    let widths: Vec<usize> = (0..5)
        .map(|c| lines.iter().map(|l| l[c].len()).max().unwrap_or(0))
        .collect();
    let mut text = String::new();
    for l in &lines {
        let mut row = String::new();
        for (c, cell) in l.iter().enumerate() {
            let _ = write!(row, "{cell:<w$}  ", w = widths[c]);
        }
        let _ = writeln!(text, "{}", row.trim_end());
    }
    text
}

/// The multicast routes of every router of a lab: `ns_of` names each router's namespace,
/// `scratch` is the lab's scratch directory.
pub(crate) fn read_routes(
    line: Line,
    scratch: &Path,
    ns_of: impl Fn(&str) -> String,
) -> Vec<(String, Vec<Route>)> {
    line.names()
        .into_iter()
        .map(|name| {
            let ns = ns_of(&name);
            let dir = router_dir(scratch, &name);
            let mroute = vtysh(&ns, &dir, "show ip mroute json").unwrap_or_default();
            let rp = vtysh(&ns, &dir, "show ip pim rp-info json").unwrap_or_default();
            let rows = parse_mroutes(&name, &mroute, &rp);
            (name, rows)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `show ip mroute json` of r1 and r3 and `show ip pim rp-info json` of r3 in the default
    /// line (FRR 8.4), while eastny and flatbush were receiving 224.1.1.5 from midwood.
    const R1_MROUTE: &str = r#"{"224.1.1.5":{"192.168.56.3":{"source":"192.168.56.3","group":"224.1.1.5","installed":1,"refCount":1,"oilSize":1,"OilInheritedRescan":1,"oilInheritedRescan":1,"iif":"lan56","upTime":"00:00:10","flags":"SF","oil":{"r2":{"source":"192.168.56.3","group":"224.1.1.5","protocolPim":true,"inboundInterface":"lan56","iVifI":1,"outboundInterface":"r2","oVifI":2,"ttl":1,"upTime":"00:00:10"}}}}}"#;
    const R3_MROUTE: &str = r#"{"224.1.1.5":{"*":{"source":"*","group":"224.1.1.5","installed":1,"refCount":2,"oilSize":2,"OilInheritedRescan":1,"oilInheritedRescan":1,"iif":"r2","upTime":"00:00:03","flags":"SC","oil":{"pimreg":{"source":"*","group":"224.1.1.5","protocolIgmp":true,"inboundInterface":"r2","iVifI":2,"outboundInterface":"pimreg","oVifI":0,"ttl":1,"upTime":"00:00:03"},"lan58":{"source":"*","group":"224.1.1.5","protocolIgmp":true,"inboundInterface":"r2","iVifI":2,"outboundInterface":"lan58","oVifI":1,"ttl":1,"upTime":"00:00:03"}}},"192.168.56.3":{"source":"192.168.56.3","group":"224.1.1.5","installed":1,"refCount":1,"oilSize":1,"OilInheritedRescan":1,"oilInheritedRescan":1,"iif":"r2","upTime":"00:00:02","flags":"S","oil":{"lan58":{"source":"192.168.56.3","group":"224.1.1.5","protocolInherited":true,"inboundInterface":"r2","iVifI":2,"outboundInterface":"lan58","oVifI":1,"ttl":1,"upTime":"00:00:02"}}}}}"#;
    const RP_INFO: &str = r#"{"192.168.57.254":[{"rpAddress":"192.168.57.254","outboundInterface":"r2","iAmRP":false,"group":"224.0.0.0/4","source":"Static","groupType":"ASM"}]}"#;

    #[test]
    fn a_directory_closed_to_others_above_the_lab_is_named() {
        use std::os::unix::fs::PermissionsExt;
        let base = std::env::temp_dir().join(format!("mcast-closed-{}", std::process::id()));
        let closed = base.join("closed");
        let lab = closed.join("inner").join("lab");
        std::fs::create_dir_all(&lab).unwrap();
        std::fs::set_permissions(&base, std::fs::Permissions::from_mode(0o755)).unwrap();
        std::fs::set_permissions(&closed, std::fs::Permissions::from_mode(0o700)).unwrap();
        std::fs::set_permissions(closed.join("inner"), std::fs::Permissions::from_mode(0o755))
            .unwrap();
        let found = closed_ancestor(&lab);
        std::fs::set_permissions(&closed, std::fs::Permissions::from_mode(0o755)).unwrap();
        let open = closed_ancestor(&lab);
        std::fs::remove_dir_all(&base).unwrap();
        assert_eq!(found, Some(closed));
        assert!(
            open.as_ref().is_none_or(|d| !d.starts_with(&base)),
            "opened, the directory is no longer named: {open:?}"
        );
    }

    // issue #12 (lab routes) — each router's (*,G) and (S,G) with incoming and outgoing
    // interfaces and the RP, in one aligned table.
    #[test]
    fn the_routes_table_shows_entries_interfaces_and_the_rp() {
        let r1 = parse_mroutes("r1", R1_MROUTE, RP_INFO);
        let r3 = parse_mroutes("r3", R3_MROUTE, RP_INFO);
        assert_eq!(r3.len(), 2, "{r3:?}");
        assert_eq!(
            r3[0],
            Route {
                router: "r3".into(),
                source: "*".into(),
                group: "224.1.1.5".into(),
                iif: "r2".into(),
                oifs: vec!["lan58(igmp)".into()],
                rp: "192.168.57.254".into(),
            }
        );
        let table = render_routes(&[
            ("r1".into(), r1),
            ("r2".into(), Vec::new()),
            ("r3".into(), r3),
        ]);
        assert_eq!(
            table,
            "ROUTER  (S,G)                      IIF    OIFS         RP\n\
             r1      (192.168.56.3, 224.1.1.5)  lan56  r2(pim)      192.168.57.254\n\
             r2      no multicast routes\n\
             r3      (*, 224.1.1.5)             r2     lan58(igmp)  192.168.57.254\n\
             r3      (192.168.56.3, 224.1.1.5)  r2     lan58(star)  192.168.57.254\n"
        );
        assert_eq!(parse_mroutes("r1", "", RP_INFO), []);
    }

    #[test]
    fn ssm_groups_have_no_rp_and_others_the_longest_range() {
        let ranges = vec![
            ("224.0.0.0/4".to_owned(), "10.0.0.1".to_owned()),
            ("224.1.0.0/16".to_owned(), "10.0.0.2".to_owned()),
        ];
        assert_eq!(rp_of("232.1.1.1", &ranges), "SSM (none)");
        assert_eq!(rp_of("224.1.1.5", &ranges), "10.0.0.2");
        assert_eq!(rp_of("234.3.2.1", &ranges), "10.0.0.1");
        assert_eq!(rp_of("234.3.2.1", &[]), "-");
    }

    #[test]
    fn the_line_routes_every_subnet_it_is_not_on_towards_it() {
        let line = Line { routers: 3 };
        assert_eq!(line.rp_router(), 2);
        let names: Vec<String> = line.ifaces(2).into_iter().map(|i| i.name).collect();
        assert_eq!(names, ["lan57", "r1", "r3"]);
        assert_eq!(
            line.routes(1),
            [
                ("192.168.57.0/24".to_owned(), Ipv4Addr::new(10, 0, 1, 2)),
                ("192.168.58.0/24".to_owned(), Ipv4Addr::new(10, 0, 1, 2)),
                ("10.0.2.0/30".to_owned(), Ipv4Addr::new(10, 0, 1, 2)),
            ]
        );
        assert_eq!(
            line.routes(3),
            [
                ("192.168.56.0/24".to_owned(), Ipv4Addr::new(10, 0, 2, 1)),
                ("192.168.57.0/24".to_owned(), Ipv4Addr::new(10, 0, 2, 1)),
                ("10.0.1.0/30".to_owned(), Ipv4Addr::new(10, 0, 2, 1)),
            ]
        );
        // Five routers: the RP is r3; r1 reaches r5's transit and LAN through r2.
        let five = Line { routers: 5 };
        assert_eq!(five.rp_router(), 3);
        assert!(five
            .routes(1)
            .contains(&("10.0.4.0/30".to_owned(), Ipv4Addr::new(10, 0, 1, 2))));
        let hosts = PIM.map(|h| five.router_of(&h));
        assert_eq!(hosts, [Some(3), Some(1), Some(5), Some(5)]);
        // One router holds all three LANs and needs no route.
        assert!(Line { routers: 1 }.routes(1).is_empty());
        let conf = line.pimd_conf(3);
        assert!(
            conf.contains("ip pim rp 192.168.57.254 224.0.0.0/4"),
            "{conf}"
        );
        assert!(
            conf.contains("interface lan58\n ip pim\n ip pim hello 1 3\n ip igmp\n"),
            "{conf}"
        );
        assert!(!conf.contains("interface r4"), "{conf}");
    }
}
