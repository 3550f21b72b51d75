//! Privileged lab scenarios with the built `mcast` binary.
//!
//! They need root, so they run from ONE test function, in order (namespaces, bridges and the
//! multicast router are machine-wide resources; aya runs such tests with `--test-threads=1` for
//! the same reason). Without root they are skipped with the reason printed. With root but a missing
//! tool they are skipped too, except under `CI=true`, where a missing tool fails the test.

use std::{path::Path, time::Duration};

use anyhow::Result;

use crate::{
    demo,
    lab::{self, Config, Lab, Topology},
    netns::{Finished, Proc},
    prereq::{self, Prereq},
};

const GROUP: &str = "224.1.1.5";
const PORT: &str = "50001";

fn recv(lab: &Lab, host: &str, bin: &Path, extra: &[&str]) -> Result<Proc> {
    let addr = lab.host(host)?.addr.to_string();
    let mut args = vec!["recv", GROUP, PORT, "-i", &addr];
    args.extend(extra);
    let mut proc = Proc::spawn(&lab.ns(host), bin, "mcast", &args)?;
    if !proc.wait_for_line(Duration::from_secs(5), |l| l.contains("listening on")) {
        eprintln!("warning: {host}: no \"listening on\" line within 5 s");
    }
    Ok(proc)
}

fn sniff(lab: &Lab, host: &str, bin: &Path, timeout: &str) -> Result<Proc> {
    let args = [
        "sniff",
        "-i",
        "lab0",
        "--port",
        PORT,
        "-c",
        "1",
        "--timeout",
        timeout,
    ];
    let mut proc = Proc::spawn(&lab.ns(host), bin, "mcast", &args)?;
    if !proc.wait_for_line(Duration::from_secs(5), |l| l.contains("listening on")) {
        eprintln!("warning: {host}: sniffer printed no \"listening on\" line within 5 s");
    }
    Ok(proc)
}

fn send(lab: &Lab, host: &str, bin: &Path, message: &str, ttl: &str) -> Result<Finished> {
    let addr = lab.host(host)?.addr.to_string();
    let args = ["send", GROUP, PORT, message, "-i", &addr, "--ttl", ttl];
    Proc::spawn(&lab.ns(host), bin, "mcast", &args)?.finish(Duration::from_secs(5))
}

fn got(f: &Finished, message: &str) -> usize {
    f.output().filter(|l| l.trim_end() == message).count()
}

/// TTL 1 stays in 192.168.56.0/24 (eastny gets it, flatbush behind the router does not); TTL 2
/// crosses the router.
fn routed_ttl(bin: &Path) -> Result<Vec<String>> {
    let lab = Lab::up(Config {
        topology: Topology::Routed,
        ..Config::lecture()
    })?;
    let mut failures = Vec::new();
    for (ttl, crosses) in [("1", false), ("2", true)] {
        let message = format!("ttl {ttl}");
        let timeout = ["-c", "1", "--timeout", "2s"];
        let east = recv(&lab, "eastny", bin, &timeout)?;
        let flat = recv(&lab, "flatbush", bin, &timeout)?;
        let sent = send(&lab, "midwood", bin, &message, ttl)?;
        let east = east.finish(Duration::from_secs(7))?;
        let flat = flat.finish(Duration::from_secs(7))?;
        if sent.code != Some(0) {
            failures.push(format!("routed: send with TTL {ttl} failed: {sent:?}"));
        }
        if got(&east, &message) != 1 {
            failures.push(format!(
                "routed: eastny (same subnet) should get the TTL {ttl} datagram: {east:?}"
            ));
        }
        if (got(&flat, &message) == 1) != crosses {
            let verb = if crosses { "should" } else { "should not" };
            failures.push(format!(
                "routed: TTL {ttl} {verb} cross the router to flatbush: {flat:?}"
            ));
        }
    }
    Ok(failures)
}

/// With snooping a host that joined nothing does not see the group's traffic; without it, it does.
fn snooping(bin: &Path, on: bool) -> Result<Vec<String>> {
    let lab = Lab::up(Config {
        snooping: on,
        ..Config::lecture()
    })?;
    let mut failures = Vec::new();
    let message = format!("snooping {}", if on { "on" } else { "off" });
    let east = recv(&lab, "eastny", bin, &["-c", "1", "--timeout", "3s"])?;
    let bush = sniff(&lab, "bushwick", bin, "2s")?;
    let sent = send(&lab, "midwood", bin, &message, "1")?;
    let east = east.finish(Duration::from_secs(8))?;
    let bush = bush.finish(Duration::from_secs(7))?;
    if sent.code != Some(0) || got(&east, &message) != 1 {
        failures.push(format!(
            "{message}: eastny (joined) should get the datagram: {sent:?} {east:?}"
        ));
    }
    let seen = bush
        .output()
        .any(|l| l.contains(&format!("> {GROUP}:{PORT}")));
    if seen == on {
        let verb = if on { "should not" } else { "should" };
        failures.push(format!(
            "{message}: bushwick (joined nothing) {verb} see the group's traffic: {bush:?}"
        ));
    }
    Ok(failures)
}

/// nftables faults: `--loss 100` drops everything, `--dup 100` delivers each datagram twice.
fn faults(bin: &Path) -> Result<Vec<String>> {
    let mut failures = Vec::new();
    {
        let lab = Lab::up(Config {
            loss: Some(100),
            ..Config::lecture()
        })?;
        let east = recv(&lab, "eastny", bin, &["-c", "1", "--timeout", "1s"])?;
        let sent = send(&lab, "midwood", bin, "lost", "1")?;
        let east = east.finish(Duration::from_secs(6))?;
        if sent.code != Some(0) || got(&east, "lost") != 0 || east.code != Some(1) {
            failures.push(format!(
                "--loss 100: eastny should get nothing and exit 1: {sent:?} {east:?}"
            ));
        }
    }
    {
        let lab = Lab::up(Config {
            dup: Some(100),
            ..Config::lecture()
        })?;
        let east = recv(&lab, "eastny", bin, &["-c", "2", "--timeout", "2s"])?;
        let sent = send(&lab, "midwood", bin, "twice", "1")?;
        let east = east.finish(Duration::from_secs(7))?;
        if sent.code != Some(0) || got(&east, "twice") != 2 {
            failures.push(format!(
                "--dup 100: eastny should get the datagram twice: {sent:?} {east:?}"
            ));
        }
    }
    Ok(failures)
}

#[test]
fn lab_scenarios() {
    if !prereq::is_root() {
        eprintln!(
            "skipping the lab scenarios: {}",
            Prereq::Root.missing().unwrap_or("not root")
        );
        return;
    }
    let missing = prereq::missing(&[Prereq::Ip, Prereq::Nft, Prereq::Smcroute]);
    if !missing.is_empty() {
        let reason = missing.join("; ");
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "CI=true and the lab scenarios cannot run: {reason}"
        );
        eprintln!("skipping the lab scenarios: {reason}");
        return;
    }
    let bin = lab::mcast_binary(false).expect("the mcast binary builds");
    let mut failures = Vec::new();
    let mut note = |name: &str, result: Result<Vec<String>>| match result {
        Ok(f) => failures.extend(f),
        Err(e) => failures.push(format!("{name}: {e:#}")),
    };
    note(
        "demo",
        demo::run(&bin).map(|f| f.into_iter().map(|f| format!("demo: {f}")).collect()),
    );
    note("routed", routed_ttl(&bin));
    note("snooping on", snooping(&bin, true));
    note("snooping off", snooping(&bin, false));
    note("faults", faults(&bin));
    let leftovers: Vec<String> = crate::netns::list_netns()
        .unwrap_or_default()
        .into_iter()
        .filter(|ns| ns.starts_with(&format!("mcl{}-", std::process::id() % 10000)))
        .collect();
    if !leftovers.is_empty() {
        failures.push(format!("namespaces left behind: {leftovers:?}"));
    }
    assert!(
        failures.is_empty(),
        "{} lab check(s) failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
