//! Finding labs by their namespaces, with or without the state file.
//!
//! A lab's namespaces are named `mcl<N>-<role>` (the roles are the hosts of every topology,
//! `switch` and `router`), so `ip netns list` shows which labs exist. What a name cannot say is
//! written on each namespace's `lo`, as its interface alias (`ip link set lo alias …`, up to 255
//! bytes, gone with the namespace): a [`Marker`] naming the process that built the lab, the
//! target directory of the checkout it belongs to, whether `lab up` kept it, and its
//! configuration. So `lab status`, `lab exec` and `lab down` find the lab after `cargo clean`
//! took the state file, `lab up` refuses to build a second one beside it, and a test or CI run
//! tells its own namespaces from anyone else's.

use std::path::Path;

use anyhow::Result;

use super::{faults, pim::DEFAULT_ROUTERS, Config, Topology};
use crate::netns::{self, ip, ip_in};

/// What starts every marker, so an alias someone else set is never taken for one.
const MAGIC: &str = "mcast-lab";

/// The environment variable naming a run (a CI job, a test): its labs carry the name, and
/// `lab list --run NAME` finds what the run left behind.
pub(crate) const RUN_ENV: &str = "MCAST_LAB_RUN";

/// What a lab's namespaces say about it (their `lo`'s alias).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Marker {
    /// The process that built the lab.
    pub(crate) owner: u32,
    /// [`dir_id`] of the target directory of the checkout the lab belongs to.
    pub(crate) dir: String,
    /// The run it was made in ([`RUN_ENV`]), if one was named.
    pub(crate) run: Option<String>,
    /// Whether `lab up` left it standing (otherwise it lives as long as its owner).
    pub(crate) kept: bool,
    /// What was built.
    pub(crate) config: Config,
}

impl Marker {
    /// The alias text (words `key=value`; fault lists comma-separated).
    pub(crate) fn render(&self) -> String {
        let mut words = vec![
            MAGIC.to_owned(),
            format!("owner={}", self.owner),
            format!("dir={}", self.dir),
        ];
        if let Some(run) = &self.run {
            words.push(format!("run={run}"));
        }
        let c = &self.config;
        words.extend([
            format!("kept={}", if self.kept { "yes" } else { "no" }),
            format!("topology={}", c.topology.name()),
            format!("snooping={}", if c.snooping { "on" } else { "off" }),
            format!("loss={}", faults::list(&c.loss).replace(' ', ",")),
            format!("dup={}", faults::list(&c.dup).replace(' ', ",")),
        ]);
        if c.topology == Topology::Pim {
            words.push(format!("routers={}", c.routers));
        }
        words.join(" ")
    }

    /// Reads an alias; `None` when it is not a marker.
    pub(crate) fn parse(text: &str) -> Option<Self> {
        let mut words = text.split_whitespace();
        if words.next() != Some(MAGIC) {
            return None;
        }
        let fields: Vec<(&str, &str)> = words.filter_map(|w| w.split_once('=')).collect();
        let field = |key: &str| fields.iter().find(|(k, _)| *k == key).map(|(_, v)| *v);
        let faults = |key: &str| faults::parse_list(&field(key).unwrap_or("").replace(',', " "));
        Some(Self {
            owner: field("owner")?.parse().ok()?,
            dir: field("dir")?.to_owned(),
            run: field("run").map(str::to_owned),
            kept: field("kept")? == "yes",
            config: Config {
                topology: Topology::from_name(field("topology")?)?,
                snooping: field("snooping") == Some("on"),
                loss: faults("loss").ok()?,
                dup: faults("dup").ok()?,
                routers: match field("routers") {
                    Some(n) => n.parse().ok()?,
                    None => DEFAULT_ROUTERS,
                },
            },
        })
    }
}

/// The run name from [`RUN_ENV`], cut to what an alias can carry: letters, digits, `.`, `_`
/// and `-`, at most 40 of them.
pub(crate) fn run_name() -> Option<String> {
    let raw = std::env::var(RUN_ENV).ok()?;
    let name: String = raw
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || "._-".contains(*c))
        .take(40)
        .collect();
    (!name.is_empty()).then_some(name)
}

/// A short, stable name for a target directory (FNV-1a of its path, in hex): which checkout a
/// lab belongs to.
pub(crate) fn dir_id(dir: &Path) -> String {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for b in dir.as_os_str().as_encoded_bytes() {
        hash ^= u64::from(*b);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    format!("{hash:016x}")
}

/// Every name a lab gives a namespace after its prefix, but the pim topology's routers
/// (`r1`, `r2`, …: see [`is_role`]).
fn roles() -> Vec<&'static str> {
    let mut roles = vec!["switch", "router"];
    for topology in [
        Topology::Lecture,
        Topology::Routed,
        Topology::Pair,
        Topology::Pim,
    ] {
        for h in topology.hosts() {
            if !roles.contains(&h.name) {
                roles.push(h.name);
            }
        }
    }
    roles
}

/// The lab prefix of a namespace name (`mcl42-eastny` → `mcl42-`), when it is one a lab gives.
pub(crate) fn lab_prefix(ns: &str) -> Option<&str> {
    let rest = ns.strip_prefix("mcl")?;
    let digits = rest.find(|c: char| !c.is_ascii_digit())?;
    let role = rest[digits..].strip_prefix('-')?;
    (digits > 0 && is_role(role)).then(|| &ns[..3 + digits + 1])
}

/// Whether a lab names a namespace `role` after its prefix: a host, `switch`, `router`, or a
/// pim router `rI` (I from 1, without leading zeros).
fn is_role(role: &str) -> bool {
    let router = role
        .strip_prefix('r')
        .is_some_and(|n| !n.starts_with('0') && n.parse::<u8>().is_ok_and(|n| n > 0));
    router || roles().contains(&role)
}

/// The namespaces of `names` that a lab gives, grouped by prefix (in the order first seen).
pub(crate) fn group_by_prefix(names: &[String]) -> Vec<(String, Vec<String>)> {
    let mut groups: Vec<(String, Vec<String>)> = Vec::new();
    for ns in names {
        let Some(prefix) = lab_prefix(ns) else {
            continue;
        };
        match groups.iter_mut().find(|(p, _)| p == prefix) {
            Some((_, list)) => list.push(ns.clone()),
            None => groups.push((prefix.to_owned(), vec![ns.clone()])),
        }
    }
    groups
}

/// What became of a lab, as far as this machine can tell.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum State {
    /// `lab up` left it standing.
    Kept,
    /// Its owner (a test, the demo, `perf`, a `lab up` still building) is running.
    Owned(u32),
    /// Its owner is gone without tearing it down (killed, or a crash).
    Orphaned(u32),
    /// No namespace carries a marker (a lab of an older xtask, or one half built).
    Unmarked,
}

/// A lab found on the machine.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Found {
    /// Its prefix, `mcl<N>-`.
    pub(crate) prefix: String,
    /// Its namespaces.
    pub(crate) namespaces: Vec<String>,
    /// What they say about it.
    pub(crate) marker: Option<Marker>,
}

/// Whether a process with id `pid` exists.
fn alive(pid: u32) -> bool {
    Path::new("/proc").join(pid.to_string()).exists()
}

impl Found {
    /// What became of it.
    pub(crate) fn state(&self) -> State {
        match &self.marker {
            None => State::Unmarked,
            Some(m) if m.kept => State::Kept,
            Some(m) if alive(m.owner) => State::Owned(m.owner),
            Some(m) => State::Orphaned(m.owner),
        }
    }

    /// Whether it belongs to the checkout whose target directory is `dir`.
    pub(crate) fn belongs_to(&self, dir: &Path) -> bool {
        self.marker.as_ref().is_some_and(|m| m.dir == dir_id(dir))
    }

    /// One line for `lab list`.
    pub(crate) fn describe(&self) -> String {
        let state = match self.state() {
            State::Kept => "kept by `lab up`".to_owned(),
            State::Owned(pid) => format!("owned by pid {pid}"),
            State::Orphaned(pid) => format!("orphaned (pid {pid} is gone)"),
            State::Unmarked => "unmarked".to_owned(),
        };
        let config = self.marker.as_ref().map_or(String::new(), |m| {
            let c = &m.config;
            format!(
                ", topology {}, snooping {}, loss {}, dup {}{}",
                c.topology.name(),
                if c.snooping { "on" } else { "off" },
                faults::summary(&c.loss),
                faults::summary(&c.dup),
                m.run
                    .as_ref()
                    .map_or(String::new(), |r| format!(", run {r}")),
            )
        });
        format!(
            "{}: {state}{config}; namespaces: {}",
            self.prefix,
            self.namespaces.join(" ")
        )
    }
}

/// The alias of `ns`'s `lo`, if it has one.
fn read_alias(ns: &str) -> Option<String> {
    let json = ip_in(ns, &["-j", "link", "show", "dev", "lo"]).ok()?;
    let links: serde_json::Value = serde_json::from_str(&json).ok()?;
    Some(links.get(0)?.get("ifalias")?.as_str()?.to_owned())
}

/// The marker on `ns`'s `lo`, if it has one.
fn read_marker(ns: &str) -> Option<Marker> {
    Marker::parse(&read_alias(ns)?)
}

/// Writes `marker` on `ns`'s `lo`.
pub(crate) fn write_marker(ns: &str, marker: &Marker) -> Result<()> {
    ip_in(ns, &["link", "set", "dev", "lo", "alias", &marker.render()]).map(drop)
}

/// Every lab on the machine, found by its namespaces' names; the marker is read from the first
/// of its namespaces that carries one.
pub(crate) fn labs() -> Result<Vec<Found>> {
    let names = netns::list_netns()?;
    Ok(group_by_prefix(&names)
        .into_iter()
        .map(|(prefix, namespaces)| {
            let marker = namespaces.iter().find_map(|ns| read_marker(ns));
            Found {
                prefix,
                namespaces,
                marker,
            }
        })
        .collect())
}

/// Whether an alias says its namespace was made in the run `name`: a lab's [`Marker`], or any
/// alias with the word `run=NAME` (the `mcast` tests mark their own namespaces so).
fn names_run(alias: &str, name: &str) -> bool {
    let word = format!("run={name}");
    alias.split_whitespace().any(|w| w == word)
}

/// Every namespace on the machine made in the run `name` ([`RUN_ENV`]), whatever its name:
/// what that run left behind, and nothing anyone else made.
pub(crate) fn made_in_run(name: &str) -> Result<Vec<String>> {
    let mut made = Vec::new();
    for ns in netns::list_netns()? {
        if read_alias(&ns).is_some_and(|a| names_run(&a, name)) {
            made.push(ns);
        }
    }
    Ok(made)
}

/// Creates the namespace `ns` with `marker` on its `lo`.
pub(crate) fn add_netns(ns: &str, marker: &Marker) -> Result<()> {
    ip(&["netns", "add", ns])?;
    write_marker(ns, marker)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lab::Fault;

    fn marker() -> Marker {
        Marker {
            owner: 4242,
            dir: dir_id(Path::new("/work/target")),
            run: Some("ci-7".into()),
            kept: true,
            config: Config {
                topology: Topology::Routed,
                snooping: true,
                loss: vec![Fault::on(20, "flatbush"), Fault::everywhere(1)],
                dup: Vec::new(),
                routers: DEFAULT_ROUTERS,
            },
        }
    }

    #[test]
    fn a_marker_round_trips_and_fits_an_alias() {
        let m = marker();
        let text = m.render();
        assert!(text.len() < 256, "{text}");
        assert!(!text.contains("  "), "{text}");
        assert_eq!(Marker::parse(&text), Some(m.clone()));
        let plain = Marker {
            run: None,
            kept: false,
            config: Config::lecture(),
            ..m.clone()
        };
        assert_eq!(Marker::parse(&plain.render()), Some(plain));
        let pim = Marker {
            config: Config {
                topology: Topology::Pim,
                routers: 7,
                ..Config::lecture()
            },
            ..m
        };
        assert!(pim.render().contains(" routers=7"), "{}", pim.render());
        assert_eq!(Marker::parse(&pim.render()), Some(pim));
        for not_ours in ["", "uplink to the core", "mcast-lab owner=x dir=1 kept=yes"] {
            assert_eq!(Marker::parse(not_ours), None, "{not_ours:?}");
        }
    }

    #[test]
    fn lab_namespaces_are_told_apart_by_name() {
        let names: Vec<String> = [
            "mcl42-switch",
            "ilat",
            "mcl42-eastny",
            "mcl7-sender",
            "mcl-eastny",
            "mcl42-nothost",
            "mcl42x-eastny",
            "mcast-sniff1",
            "mcl7-receiver",
            "mcl42-router",
            "mcl42-r1",
            "mcl42-r12",
            "mcl42-r0",
            "mcl42-r01",
            "mcl42-rx",
        ]
        .map(String::from)
        .to_vec();
        assert_eq!(
            group_by_prefix(&names),
            [
                (
                    "mcl42-".to_owned(),
                    vec![
                        "mcl42-switch".to_owned(),
                        "mcl42-eastny".into(),
                        "mcl42-router".into(),
                        "mcl42-r1".into(),
                        "mcl42-r12".into()
                    ]
                ),
                (
                    "mcl7-".to_owned(),
                    vec!["mcl7-sender".to_owned(), "mcl7-receiver".into()]
                ),
            ]
        );
    }

    #[test]
    fn a_lab_is_kept_owned_orphaned_or_unmarked() {
        let mut found = Found {
            prefix: "mcl1-".into(),
            namespaces: vec!["mcl1-eastny".into()],
            marker: None,
        };
        assert_eq!(found.state(), State::Unmarked);
        assert!(!found.belongs_to(Path::new("/work/target")));
        found.marker = Some(marker());
        assert_eq!(found.state(), State::Kept);
        assert!(found.belongs_to(Path::new("/work/target")));
        assert!(!found.belongs_to(Path::new("/elsewhere/target")));
        let me = std::process::id();
        found.marker = Some(Marker {
            kept: false,
            owner: me,
            ..marker()
        });
        assert_eq!(found.state(), State::Owned(me));
        // A process that has exited: our own child, reaped.
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let gone = child.id();
        child.wait().unwrap();
        found.marker = Some(Marker {
            kept: false,
            owner: gone,
            ..marker()
        });
        assert_eq!(found.state(), State::Orphaned(gone));
        assert!(
            found.describe().contains("orphaned"),
            "{}",
            found.describe()
        );
    }

    #[test]
    fn a_run_is_named_by_a_whole_word() {
        assert!(names_run(&marker().render(), "ci-7"));
        assert!(!names_run(&marker().render(), "ci-"));
        assert!(names_run("mcast-test run=ci-7", "ci-7"));
        assert!(!names_run("mcast-test run=ci-70", "ci-7"));
        assert!(!names_run("", "ci-7"));
    }

    #[test]
    fn dir_ids_are_stable_and_differ() {
        assert_eq!(dir_id(Path::new("")), "cbf29ce484222325");
        assert_ne!(
            dir_id(Path::new("/a/target")),
            dir_id(Path::new("/b/target"))
        );
    }
}
