//! `cargo xtask lab …`: the subcommands (`up`, `exec`, `status`, `down`, `list`), one lab per
//! checkout, and the names `lab exec` accepts.

use anyhow::{bail, Context, Result};

use super::{
    find,
    interrupt::{active, exit_if_interrupted},
    mcast_binary,
    pim::{self, DEFAULT_ROUTERS},
    state::{load_state, save_state, state_file},
    status::{current, labs_here, status},
    target_dir, teardown, Config, Fault, Lab, Profile, Topology,
};
use crate::netns;

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
        /// `pair`: sender 10.77.0.1 and receiver 10.77.0.2 on one veth pair; `pim`: routers
        /// r1…rN in a line running FRR's pimd (PIM-SM, RP on the middle one), midwood behind r1,
        /// eastny behind the middle router, flatbush and bushwick behind rN.
        #[arg(long, value_enum, default_value = "lecture")]
        topology: Topology,
        /// How many routers the pim topology puts in its line.
        #[arg(long, default_value_t = DEFAULT_ROUTERS, value_name = "N")]
        routers: u8,
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
    /// Run a command inside a host (or `router`/`switch`, or a pim router `rI`); a leading `mcast`
    /// runs the built binary, and `vtysh` in a pim router talks to that router's FRR daemons.
    Exec {
        /// eastny, midwood, flatbush, bushwick, router or switch (sender or receiver in a pair).
        host: String,
        /// The command and its arguments (after `--`).
        #[arg(last = true, required = true)]
        cmd: Vec<String>,
    },
    /// Show the lab that is up (found by its namespaces when the state file is gone).
    Status,
    /// Show the multicast routing state of the pim lab's routers: (*,G) and (S,G), incoming and
    /// outgoing interfaces, the RP (from each router's pimd).
    Routes {
        /// Only this router (r1, r2, …), or the router of this host's LAN.
        host: Option<String>,
    },
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

/// Runs `cargo xtask lab …`; returns the exit code.
pub(crate) fn run_cmd(opt: Opt) -> Result<i32> {
    match opt.cmd {
        LabCmd::Up {
            topology,
            routers,
            snooping,
            loss,
            dup,
        } => {
            let config = Config {
                topology,
                snooping,
                loss,
                dup,
                routers,
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
            check_exec_target(&config, &host)?;
            let (program, args) = cmd.split_first().context("no command given")?;
            let program = if program == "mcast" {
                mcast_binary(Profile::Debug, true)?.into_os_string()
            } else {
                program.into()
            };
            let mut command = netns::exec_in(&format!("{prefix}{host}"), &program);
            // A pim router's vtysh talks to that router's daemons, through their own sockets.
            if config.topology == Topology::Pim
                && program == "vtysh"
                && config.line().names().contains(&host)
            {
                let dir = pim::router_dir(&super::scratch_dir(&prefix), &host);
                command.arg("--vty_socket").arg(dir);
            }
            command.args(args);
            let status = command
                .status()
                .with_context(|| format!("failed to run {command:?}"))?;
            Ok(status.code().unwrap_or(1))
        }
        LabCmd::Status => status().map(|()| 0),
        LabCmd::Routes { host } => {
            let (prefix, config) = match current()? {
                Some(lab) => lab,
                None => load_state()?,
            };
            out!("{}", routes(&prefix, &config, host.as_deref())?);
            Ok(0)
        }
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

/// The names `lab exec` accepts in `config`'s topology: its hosts, `switch`, `router` when
/// routed, `r1`…`rN` for pim.
fn exec_targets(config: &Config) -> Vec<String> {
    let topology = config.topology;
    let mut names: Vec<String> = topology.hosts().iter().map(|h| h.name.to_owned()).collect();
    if topology == Topology::Routed {
        names.push("router".into());
    }
    if topology == Topology::Pim {
        names.extend(config.line().names());
    }
    if topology != Topology::Pair {
        names.push("switch".into());
    }
    names
}

/// Fails, naming the valid choices, unless `lab exec` can run in `name`.
fn check_exec_target(config: &Config, name: &str) -> Result<()> {
    let valid = exec_targets(config);
    if !valid.iter().any(|v| v == name) {
        bail!(
            "no host {name} in the {} lab: choose one of {}",
            config.topology.name(),
            valid.join(", ")
        );
    }
    Ok(())
}

/// `lab routes [HOST]`: the table of the pim lab's multicast routes, of every router or of the
/// one HOST names (a router, or a host: the router of its LAN).
pub(crate) fn routes(prefix: &str, config: &Config, only: Option<&str>) -> Result<String> {
    if config.topology != Topology::Pim {
        bail!(
            "the {} lab has no routing daemons: `lab routes` reads pimd's state \
             (`cargo xtask lab up --topology pim`)",
            config.topology.name()
        );
    }
    let line = config.line();
    let names = line.names();
    let wanted = match only {
        None => None,
        Some(name) if names.iter().any(|n| n == name) => Some(name.to_owned()),
        Some(name) => {
            let h = config
                .topology
                .hosts()
                .iter()
                .find(|h| h.name == name)
                .with_context(|| {
                    format!(
                        "no router or host {name} in the pim lab: choose one of {}",
                        exec_targets(config).join(", ")
                    )
                })?;
            line.router_of(h).map(|i| format!("r{i}"))
        }
    };
    let scratch = super::scratch_dir(prefix);
    let mut all = pim::read_routes(line, &scratch, |r| format!("{prefix}{r}"));
    if let Some(w) = wanted {
        all.retain(|(r, _)| *r == w);
    }
    Ok(pim::render_routes(&all))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exec_names_the_valid_hosts_of_the_topology() {
        let cfg = |topology| Config {
            topology,
            ..Config::lecture()
        };
        let err = check_exec_target(&cfg(Topology::Routed), "nohost")
            .unwrap_err()
            .to_string();
        assert_eq!(
            err,
            "no host nohost in the routed lab: choose one of eastny, midwood, flatbush, bushwick, router, switch"
        );
        let err = check_exec_target(&cfg(Topology::Lecture), "router")
            .unwrap_err()
            .to_string();
        assert!(
            err.ends_with("choose one of eastny, midwood, flatbush, bushwick, switch"),
            "{err}"
        );
        for name in ["eastny", "bushwick", "router", "switch"] {
            assert!(
                check_exec_target(&cfg(Topology::Routed), name).is_ok(),
                "{name}"
            );
        }
        // A pair has no switch namespace.
        let err = check_exec_target(&cfg(Topology::Pair), "switch")
            .unwrap_err()
            .to_string();
        assert!(err.ends_with("choose one of sender, receiver"), "{err}");
        // The pim lab's routers are r1…rN.
        let pim = Config {
            routers: 4,
            ..cfg(Topology::Pim)
        };
        assert!(check_exec_target(&pim, "r4").is_ok());
        let err = check_exec_target(&pim, "r5").unwrap_err().to_string();
        assert!(
            err.ends_with("eastny, midwood, flatbush, bushwick, r1, r2, r3, r4, switch"),
            "{err}"
        );
    }
}
