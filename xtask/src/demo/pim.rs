//! `cargo xtask demo --topology pim`: the lecture's group across a line of PIM-SM routers,
//! checked step by step.
//!
//! On the pim lab (see `lab::pim`): eastny (behind the middle router, the RP) and flatbush
//! (behind the last router `rN`) join 224.1.1.5, bushwick (beside flatbush) joins 234.3.2.1.
//! The routers' multicast state is printed after the joins. Then midwood (behind `r1`):
//!
//! 1. sends with TTL N+1: eastny and flatbush receive (the time from `lab up`'s start to
//!    flatbush's first datagram is measured and printed);
//! 2. once the first-hop router no longer registers (the datagrams flow natively down the
//!    shortest-path tree), sends with TTL N, one too low for flatbush: eastny, nearer, receives,
//!    flatbush does not;
//! 3. flatbush's receiver leaves while midwood keeps sending: the packets `rN` forwards onto
//!    flatbush's LAN (its `lan58` VIF's counter in `/proc/net/ip_mr_vif`) stop within the
//!    prune time, while eastny still receives;
//! 4. SSM: flatbush joins 232.1.1.1 with `--source 192.168.56.3`, eastny joins it without a
//!    source: flatbush receives, eastny does not, and no router holds a (*,G) for it (no RP).
//!
//! 5. `mcast ping` on all four hosts (another group): every host hears every other's answers
//!    by multicast across the routers, and the round trips are printed by the number of
//!    routers between the two hosts.
//!
//! bushwick must stay silent throughout. Every wait is bounded; every process is bounded by
//! its own timeout; the lab's guard tears everything down, the Ctrl-C handler too.

use std::{
    path::Path,
    thread,
    time::{Duration, Instant},
};

use anyhow::{Context, Result};
use serde_json::Value;

use super::{start, wait_ready, GROUP, OTHER_GROUP};
use crate::{
    lab::{pim, Config, Lab, Topology, PORT},
    netns::{self, Finished, Proc},
};

/// The SSM group of step 4.
const SSM_GROUP: &str = "232.1.1.1";
/// midwood's address, the source.
const SOURCE: &str = "192.168.56.3";
/// How long a receiver listens at most (longer than the whole demo).
const LISTEN: &str = "60s";
/// The bound on each wait for the routers' state.
const STATE_WAIT: Duration = Duration::from_secs(10);
/// How long a datagram that should arrive may take.
const ARRIVAL: Duration = Duration::from_secs(5);
/// How long to wait before deciding a datagram did not arrive (after a nearer receiver got it).
const SETTLE: Duration = Duration::from_millis(800);
/// How long the prune may take before the demo calls it a failure.
const PRUNE_LIMIT: Duration = Duration::from_secs(6);
/// The group and port of step 5's `mcast ping`.
const PING_GROUP: &str = "239.1.2.3";
const PING_PORT: &str = "50002";
/// The probes each host sends in step 5, and their interval.
const PING_COUNT: &str = "40";
const PING_INTERVAL: &str = "50ms";
/// The hosts of step 5.
const PING_HOSTS: [&str; 4] = ["midwood", "eastny", "flatbush", "bushwick"];

/// A record of checks: each printed as it is decided, the failed ones collected.
struct Checks {
    failures: Vec<String>,
}

impl Checks {
    fn check(&mut self, ok: bool, what: &str) {
        let what = what.trim_end();
        if ok {
            outln!("  ✓ {what}");
        } else {
            outln!("  ✗ {what}");
            self.failures.push(what.to_owned());
        }
    }
}

/// Whether `proc` has printed the line `msg`, waiting up to `timeout` for it.
fn got(proc: &mut Proc, msg: &str, timeout: Duration) -> bool {
    proc.wait_for_line(timeout, |l| l == msg)
}

/// Starts `mcast recv GROUP` on `host` (with `--source` when given) and waits until it listens.
fn receiver(lab: &Lab, bin: &Path, host: &str, group: &str, source: Option<&str>) -> Result<Proc> {
    let addr = lab.host(host)?.addr.to_string();
    let mut args = vec!["recv", group, PORT, "-i", &addr, "--timeout", LISTEN];
    if let Some(s) = source {
        args.extend(["--source", s]);
    }
    let mut proc = start(lab, host, bin, &args)?;
    outln!("  {host}$ {}", proc.display);
    wait_ready(lab, host, &mut proc, Some(group));
    Ok(proc)
}

/// Starts midwood's sender: `count` datagrams `msg` to `group`, 100 ms apart, with `ttl`.
fn sender(lab: &Lab, bin: &Path, group: &str, msg: &str, ttl: u8, count: u32) -> Result<Proc> {
    let (ttl, count) = (ttl.to_string(), count.to_string());
    let args = [
        "send",
        group,
        PORT,
        msg,
        "-i",
        SOURCE,
        "--ttl",
        &ttl,
        "-c",
        &count,
        "--interval",
        "100ms",
        "-q",
    ];
    let proc = start(lab, "midwood", bin, &args)?;
    outln!("  midwood$ {}", proc.display);
    Ok(proc)
}

/// Stops a receiver with a Ctrl-C (it leaves its group) and collects its output.
fn stop(mut proc: Proc) -> Result<Finished> {
    let _ = proc.interrupt();
    proc.finish(Duration::from_secs(3))
}

/// The raw `show ip mroute json` of router `name`.
fn mroute_json(lab: &Lab, name: &str) -> Result<Value> {
    let dir = pim::router_dir(&lab.scratch_dir()?, name);
    let text = pim::vtysh(&lab.ns(name), &dir, "show ip mroute json")?;
    Ok(serde_json::from_str(&text).unwrap_or(Value::Null))
}

/// The outgoing interfaces of `(source, group)` in a `show ip mroute json` (`None`: no entry).
fn oil(json: &Value, source: &str, group: &str) -> Option<Vec<String>> {
    let entry = json.get(group)?.get(source)?;
    Some(
        entry
            .get("oil")
            .and_then(Value::as_object)
            .map(|o| o.keys().cloned().collect())
            .unwrap_or_default(),
    )
}

/// Polls `cond` every 100 ms for up to `timeout`; returns whether it came true.
fn poll(timeout: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if cond() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        thread::sleep(Duration::from_millis(100));
    }
}

/// Packets router `name` has forwarded out of its interface `iface` (`/proc/net/ip_mr_vif`).
fn vif_pkts_out(lab: &Lab, name: &str, iface: &str) -> Option<u64> {
    let text = netns::run_in(&lab.ns(name), "cat", &["/proc/net/ip_mr_vif"]).ok()?;
    vif_out(&text, iface)
}

/// The `PktsOut` column of `iface`'s line in `/proc/net/ip_mr_vif`'s text.
pub(crate) fn vif_out(text: &str, iface: &str) -> Option<u64> {
    text.lines().skip(1).find_map(|l| {
        let f: Vec<&str> = l.split_whitespace().collect();
        (f.get(1) == Some(&iface)).then(|| f.get(5)?.parse().ok())?
    })
}

/// Prints the routes table of every router under `title`.
fn show_routes(lab: &Lab, title: &str) -> Result<()> {
    let table = pim::render_routes(&pim::read_routes(
        lab.config.line(),
        &lab.scratch_dir()?,
        |r| lab.ns(r),
    ));
    outln!("\n{title}:");
    for l in table.lines() {
        outln!("  {l}");
    }
    Ok(())
}

/// Runs the demo on a line of `routers` routers; returns the failed checks.
pub(crate) fn run(bin: &Path, routers: u8) -> Result<Vec<String>> {
    let started = Instant::now();
    let lab = Lab::up(Config {
        topology: Topology::Pim,
        routers,
        ..Config::lecture()
    })?;
    let built = started.elapsed();
    let prefix = lab.prefix.clone();
    let scratch = lab.scratch_dir()?;
    let line = lab.config.line();
    outln!(
        "lab {prefix} up in {:.1} s: midwood behind r1, eastny behind r{} (the RP, {}), flatbush and bushwick behind r{routers}",
        built.as_secs_f64(),
        line.rp_router(),
        line.rp_addr()
    );
    let mut checks = Checks {
        failures: Vec::new(),
    };
    let played = play(&lab, bin, started, &mut checks);
    let pids: Vec<u32> = pim::recorded_pids(&scratch)
        .into_iter()
        .map(|(_, p)| p)
        .collect();
    let torn = Instant::now();
    drop(lab);
    played?;
    outln!(
        "\nlab up in {:.1} s, demo ran in {:.1} s, torn down in {:.1} s",
        built.as_secs_f64(),
        (torn - started - built).as_secs_f64(),
        torn.elapsed().as_secs_f64()
    );
    let left = netns::list_netns_with_prefix(&prefix).unwrap_or_default();
    checks.check(
        left.is_empty(),
        &format!("no namespace left behind {}", left.join(" ")),
    );
    let alive: Vec<String> = pids
        .iter()
        .filter(|p| {
            std::fs::read_to_string(format!("/proc/{p}/stat"))
                .is_ok_and(|s| !s.contains(") Z") && !s.contains(") X"))
        })
        .map(ToString::to_string)
        .collect();
    checks.check(
        !pids.is_empty() && alive.is_empty(),
        &format!(
            "the {} FRR daemons stopped by their pid files {}",
            pids.len(),
            alive.join(" ")
        ),
    );
    Ok(checks.failures)
}

fn play(lab: &Lab, bin: &Path, started: Instant, checks: &mut Checks) -> Result<()> {
    let line = lab.config.line();
    let n = line.routers;
    let last = format!("r{n}");
    let rp = format!("r{}", line.rp_router());
    let hops = |host: &str| lab.host(host).ok().and_then(|h| line.router_of(&h));
    let (east_hops, flat_hops) = (
        hops("eastny").context("eastny")?,
        hops("flatbush").context("flatbush")?,
    );

    outln!("\n== the receivers join (IGMPv3 reports to their routers)");
    let mut east = receiver(lab, bin, "eastny", GROUP, None)?;
    let mut flat = receiver(lab, bin, "flatbush", GROUP, None)?;
    let bush = receiver(lab, bin, "bushwick", OTHER_GROUP, None)?;
    let joined = poll(STATE_WAIT, || {
        let has = |r: &str, oif: &str| {
            mroute_json(lab, r)
                .ok()
                .and_then(|j| oil(&j, "*", GROUP))
                .is_some_and(|o| o.iter().any(|x| x == oif))
        };
        has(&last, "lan58") && has(&rp, "lan57")
    });
    checks.check(
        joined,
        &format!("r{n} and {rp} hold (*, {GROUP}) towards flatbush's and eastny's LANs"),
    );
    show_routes(lab, "multicast routes after the joins")?;

    let ttl = flat_hops + 1;
    outln!(
        "\n== TTL {ttl}: enough for {flat_hops} routers (each forwards a TTL above 1 and decrements it)"
    );
    let msg = format!("ttl {ttl}");
    let sent = Instant::now();
    let send = sender(lab, bin, GROUP, &msg, ttl, 30)?;
    let flat_got = got(&mut flat, &msg, ARRIVAL);
    let (first, crossing) = (started.elapsed(), sent.elapsed());
    let east_got = got(&mut east, &msg, ARRIVAL);
    checks.check(
        flat_got,
        &format!("flatbush (behind r{n}) receives `{msg}`"),
    );
    checks.check(east_got, &format!("eastny (behind {rp}) receives `{msg}`"));
    if flat_got {
        outln!(
            "  first datagram at flatbush {:.2} s after `lab up` started ({:.2} s after midwood's first send)",
            first.as_secs_f64(),
            crossing.as_secs_f64()
        );
    }
    // The first-hop router registers the first datagrams with the RP (encapsulated, TTL
    // untouched) until the RP's Register-Stop: the TTL checks need the native path.
    let native = poll(STATE_WAIT, || {
        mroute_json(lab, "r1")
            .ok()
            .and_then(|j| oil(&j, SOURCE, GROUP))
            .is_some_and(|o| !o.iter().any(|x| x == "pimreg") && !o.is_empty())
    });
    checks.check(
        native,
        &format!("r1 forwards ({SOURCE}, {GROUP}) natively, no longer registering"),
    );
    send.finish(Duration::from_secs(5))?;
    show_routes(
        lab,
        "multicast routes after the first datagrams (shortest-path tree)",
    )?;

    let low = flat_hops;
    outln!("\n== TTL {low}: one too low for flatbush");
    let msg = format!("ttl {low}");
    let send = sender(lab, bin, GROUP, &msg, low, 5)?;
    if east_hops < flat_hops {
        checks.check(
            got(&mut east, &msg, ARRIVAL),
            &format!("eastny, {east_hops} router(s) away, receives `{msg}`"),
        );
    }
    send.finish(Duration::from_secs(5))?;
    thread::sleep(SETTLE);
    checks.check(
        !got(&mut flat, &msg, Duration::ZERO),
        &format!("flatbush, {flat_hops} routers away, does not receive `{msg}`"),
    );

    outln!("\n== flatbush's receiver leaves while midwood keeps sending (TTL {ttl})");
    let msg = "after the leave".to_owned();
    let send = sender(lab, bin, GROUP, &msg, ttl, 100)?;
    let flowing = got(&mut flat, &msg, ARRIVAL);
    let before = vif_pkts_out(lab, &last, "lan58");
    let flat_done = stop(flat)?;
    let left = Instant::now();
    outln!("  flatbush$ ^C (leaves {GROUP})");
    // Pruned: the counter, read every time, holds still for a second (ten datagrams' worth).
    let mut last_seen = (before, Instant::now());
    let mut pruned_at = None;
    while before.is_some() && left.elapsed() < PRUNE_LIMIT {
        thread::sleep(Duration::from_millis(100));
        let now = vif_pkts_out(lab, &last, "lan58");
        if now.is_none() {
            break;
        }
        if now != last_seen.0 {
            last_seen = (now, Instant::now());
        } else if last_seen.1.elapsed() >= Duration::from_secs(1) {
            pruned_at = Some(last_seen.1.saturating_duration_since(left));
            break;
        }
    }
    // midwood still sends after that still second, and eastny still gets it: new lines, not
    // the ones it printed before the leave. (So the counter stopped for the prune, not
    // because the sender ended.)
    let east_lines = east.line_count();
    let east_still = poll(ARRIVAL, || east.line_count() > east_lines);
    drop(send);
    checks.check(flowing, "the datagrams reach flatbush before it leaves");
    match pruned_at {
        Some(t) => checks.check(
            east_still,
            &format!(
                "r{n} stops forwarding onto flatbush's LAN {:.1} s after the leave (lan58 VIF: {} packets out)",
                t.as_secs_f64(),
                last_seen.0.map_or("?".into(), |c| c.to_string())
            ),
        ),
        None => checks.check(
            false,
            &format!(
                "r{n} stops forwarding onto flatbush's LAN within {} s of the leave",
                PRUNE_LIMIT.as_secs()
            ),
        ),
    }
    checks.check(
        east_still,
        &format!("eastny still receives, after r{n} went still"),
    );
    let east_done = stop(east)?;
    outln!(
        "  (flatbush printed {} lines, eastny {})",
        flat_done.lines.len(),
        east_done.lines.len()
    );

    outln!("\n== SSM: {SSM_GROUP} with and without a source");
    let mut flat = receiver(lab, bin, "flatbush", SSM_GROUP, Some(SOURCE))?;
    let mut east = receiver(lab, bin, "eastny", SSM_GROUP, None)?;
    let joined = poll(STATE_WAIT, || {
        mroute_json(lab, "r1")
            .ok()
            .and_then(|j| oil(&j, SOURCE, SSM_GROUP))
            .is_some_and(|o| !o.is_empty())
    });
    checks.check(
        joined,
        "flatbush's (S,G) join reaches r1 before any datagram",
    );
    let msg = "ssm".to_owned();
    let send = sender(lab, bin, SSM_GROUP, &msg, ttl, 10)?;
    checks.check(
        got(&mut flat, &msg, ARRIVAL),
        &format!("flatbush, joined to ({SOURCE}, {SSM_GROUP}), receives `{msg}`"),
    );
    send.finish(Duration::from_secs(5))?;
    thread::sleep(SETTLE);
    // Still listening (it said so, and has not ended), so its silence means something.
    let east_listens =
        east.running() && east.wait_for_line(Duration::ZERO, |l| l.contains("listening on"));
    checks.check(
        east_listens && !got(&mut east, &msg, Duration::ZERO),
        &format!("eastny, joined to {SSM_GROUP} without a source and listening, does not"),
    );
    let mut star = Vec::new();
    for r in line.names() {
        if mroute_json(lab, &r)
            .ok()
            .and_then(|j| oil(&j, "*", SSM_GROUP))
            .is_some()
        {
            star.push(r);
        }
    }
    checks.check(
        star.is_empty(),
        &format!(
            "no router holds (*, {SSM_GROUP}): the tree needs no RP {}",
            star.join(" ")
        ),
    );
    show_routes(lab, "multicast routes with SSM")?;
    stop(flat)?;
    stop(east)?;
    let bush = stop(bush)?;
    let data: Vec<&str> = bush
        .output()
        .filter(|l| {
            !l.starts_with("listening on") && !l.starts_with("received") && !l.starts_with("  ")
        })
        .collect();
    checks.check(
        data.is_empty(),
        &format!(
            "bushwick, on flatbush's LAN but joined to {OTHER_GROUP}, received nothing {}",
            data.join(" | ")
        ),
    );
    ping_across(lab, bin, checks)
}

/// Routers a datagram crosses between hosts behind routers `a` and `b` of the line: none on
/// one LAN, else every router from one to the other.
pub(crate) fn routers_between(a: u8, b: u8) -> u8 {
    if a == b {
        0
    } else {
        a.abs_diff(b) + 1
    }
}

/// One peer as a pinging host saw it: who, how many routers away, and the median round trips.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct PeerRtt {
    pub(crate) from: String,
    pub(crate) to: String,
    pub(crate) routers: u8,
    /// Answers received by multicast.
    pub(crate) received: u64,
    /// Median round trip of the multicast answers, in µs.
    pub(crate) multicast_p50_us: Option<f64>,
    /// Median round trip of the unicast answers, in µs.
    pub(crate) unicast_p50_us: Option<f64>,
}

/// The peers in a `mcast ping --json` `end` record's `peers` object, as `from` saw them.
pub(crate) fn peer_rtts(
    from: &str,
    end: &Value,
    name_of: impl Fn(&str) -> Option<(String, u8)>,
    from_router: u8,
) -> Vec<PeerRtt> {
    let Some(peers) = end["data"]["peers"].as_object() else {
        return Vec::new();
    };
    peers
        .iter()
        .filter_map(|(addr, p)| {
            let (to, router) = name_of(addr)?;
            Some(PeerRtt {
                from: from.to_owned(),
                to,
                routers: routers_between(from_router, router),
                received: p["received"].as_u64().unwrap_or(0),
                multicast_p50_us: p["rtt_us"]["p50"].as_f64(),
                unicast_p50_us: p["unicast"]["rtt_us"]["p50"].as_f64(),
            })
        })
        .collect()
}

/// The table of step 5: one row per number of routers between two hosts, with the pairs and
/// the median of their median round trips.
pub(crate) fn rtt_table(peers: &[PeerRtt]) -> String {
    let median = |mut v: Vec<f64>| -> Option<f64> {
        v.sort_by(f64::total_cmp);
        (!v.is_empty()).then(|| v[v.len() / 2])
    };
    let ms =
        |us: Option<f64>| us.map_or_else(|| "-".to_owned(), |us| format!("{:.3} ms", us / 1000.0));
    let mut out = format!(
        "  {:<8} {:>17} {:>17}  pairs (prober → answerer)\n",
        "routers", "multicast p50", "unicast p50"
    );
    let mut counts: Vec<u8> = peers.iter().map(|p| p.routers).collect();
    counts.sort_unstable();
    counts.dedup();
    for n in counts {
        let row: Vec<&PeerRtt> = peers.iter().filter(|p| p.routers == n).collect();
        let pairs: Vec<String> = row.iter().map(|p| format!("{}→{}", p.from, p.to)).collect();
        out.push_str(&format!(
            "  {n:<8} {:>17} {:>17}  {}\n",
            ms(median(
                row.iter().filter_map(|p| p.multicast_p50_us).collect()
            )),
            ms(median(
                row.iter().filter_map(|p| p.unicast_p50_us).collect()
            )),
            pairs.join(", ")
        ));
    }
    out
}

/// Step 5: `mcast ping` on every host; each must hear every other by multicast, and the round
/// trips are printed by the number of routers in between.
fn ping_across(lab: &Lab, bin: &Path, checks: &mut Checks) -> Result<()> {
    let line = lab.config.line();
    let ttl = (line.routers + 2).to_string();
    outln!(
        "\n== mcast ping on every host ({PING_GROUP}, TTL {ttl}): round trips by routers crossed"
    );
    let mut procs = Vec::new();
    for host in PING_HOSTS {
        let addr = lab.host(host)?.addr.to_string();
        let args = [
            "ping",
            PING_GROUP,
            PING_PORT,
            "-i",
            &addr,
            "--ttl",
            &ttl,
            "-c",
            PING_COUNT,
            "--interval",
            PING_INTERVAL,
            "--json",
        ];
        let mut proc = start(lab, host, bin, &args)?;
        outln!("  {host}$ {}", proc.display);
        wait_ready(lab, host, &mut proc, None);
        procs.push((host, proc));
    }
    let name_of = |addr: &str| {
        PING_HOSTS.iter().find_map(|h| {
            let host = lab.host(h).ok()?;
            if host.addr.to_string() != addr {
                return None;
            }
            Some((h.to_string(), line.router_of(&host)?))
        })
    };
    let mut peers = Vec::new();
    for (host, proc) in procs {
        let done = proc.finish(Duration::from_secs(20))?;
        let end = done
            .lines
            .iter()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .find(|v| v["type"] == "end")
            .unwrap_or(Value::Null);
        let router = line.router_of(&lab.host(host)?).unwrap_or(0);
        peers.extend(peer_rtts(host, &end, name_of, router));
    }
    outln!("{}", rtt_table(&peers).trim_end());
    for from in PING_HOSTS {
        for to in PING_HOSTS.iter().filter(|&&t| t != from) {
            let heard = peers
                .iter()
                .find(|p| p.from == from && p.to == *to)
                .map_or(0, |p| p.received);
            checks.check(
                heard > 0,
                &format!("{from} hears {to}'s answers by multicast ({heard} of {PING_COUNT})"),
            );
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_on_one_lan_have_no_router_between_and_others_every_router_on_the_way() {
        assert_eq!(routers_between(3, 3), 0);
        assert_eq!(routers_between(1, 2), 2);
        assert_eq!(routers_between(3, 1), 3);
        assert_eq!(routers_between(1, 5), 5);
    }

    #[test]
    fn ping_peers_are_read_and_tabled_by_routers_crossed() {
        let end: Value = serde_json::from_str(
            r#"{"type":"end","data":{"peers":{
                "192.168.57.1":{"received":38,"rtt_us":{"p50":410.6},"unicast":{"rtt_us":{"p50":300.0}}},
                "192.168.58.4":{"received":0,"rtt_us":null,"unicast":{"rtt_us":{"p50":500.0}}},
                "10.9.9.9":{"received":5}}}}"#,
        )
        .unwrap();
        let name_of = |a: &str| match a {
            "192.168.57.1" => Some(("eastny".to_owned(), 2)),
            "192.168.58.4" => Some(("flatbush".to_owned(), 3)),
            _ => None,
        };
        let peers = peer_rtts("midwood", &end, name_of, 1);
        assert_eq!(
            peers.len(),
            2,
            "an address of no host is left out: {peers:?}"
        );
        let east = peers.iter().find(|p| p.to == "eastny").unwrap();
        assert_eq!((east.routers, east.received), (2, 38));
        assert_eq!(east.multicast_p50_us, Some(410.6));
        let flat = peers.iter().find(|p| p.to == "flatbush").unwrap();
        assert_eq!(
            (flat.routers, flat.received, flat.multicast_p50_us),
            (3, 0, None)
        );
        let table = rtt_table(&peers);
        let rows: Vec<&str> = table.lines().collect();
        assert_eq!(rows.len(), 3, "{table}");
        assert!(
            rows[1].trim_start().starts_with('2') && rows[1].contains("0.411 ms"),
            "{table}"
        );
        assert!(
            rows[1].contains("0.300 ms") && rows[1].ends_with("midwood→eastny"),
            "{table}"
        );
        assert!(
            rows[2].contains('-') && rows[2].contains("0.500 ms"),
            "{table}"
        );
    }

    #[test]
    fn the_vif_counter_is_read_from_its_column() {
        let text = "Interface      BytesIn  PktsIn  BytesOut PktsOut Flags Local    Remote\n \
                    0 pimreg             0       0         0       0 00004 00000000 00000000\n \
                    1 lan58              0       0      1400      35 00000 FE3AA8C0 00000000\n \
                    2 r2              1400      35         0       0 00000 0203000A 00000000\n";
        assert_eq!(vif_out(text, "lan58"), Some(35));
        assert_eq!(vif_out(text, "r2"), Some(0));
        assert_eq!(vif_out(text, "lan57"), None);
    }

    #[test]
    fn the_oil_of_an_entry_is_its_interfaces() {
        let json: Value = serde_json::from_str(
            r#"{"224.1.1.5":{"*":{"oil":{"lan58":{},"pimreg":{}}},"192.168.56.3":{"iif":"r2"}}}"#,
        )
        .unwrap();
        assert_eq!(
            oil(&json, "*", "224.1.1.5"),
            Some(vec!["lan58".to_owned(), "pimreg".into()])
        );
        assert_eq!(oil(&json, "192.168.56.3", "224.1.1.5"), Some(vec![]));
        assert_eq!(oil(&json, "*", "232.1.1.1"), None);
    }
}
