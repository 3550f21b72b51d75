//! Privileged lab scenarios with the built `mcast` binary.
//!
//! They need root, so the lab scenarios run from ONE test function, in order, and the ping mesh
//! and the perf smoke run wait for them ([`serial`]): namespaces, bridges, the multicast router
//! and the CPU are machine-wide resources (aya runs such tests with `--test-threads=1` for the
//! same reason).
//! Without root they are skipped with the reason printed. With root but a missing tool they are
//! skipped too, except under `CI=true`, where a missing tool fails the test.

use std::{
    collections::BTreeMap,
    path::Path,
    process::{Command, Stdio},
    sync::{Mutex, MutexGuard},
    thread,
    time::{Duration, Instant},
};

use anyhow::{bail, Context, Result};

use crate::{
    demo::{self, GROUP},
    lab::{self, Config, Fault, Lab, Profile, Topology, PORT},
    netns::{self, Finished, Proc},
    perf,
    prereq::{self, Prereq},
};

/// Held by each root-only test while it runs, so they never run at the same time.
fn serial() -> MutexGuard<'static, ()> {
    static SERIAL: Mutex<()> = Mutex::new(());
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

/// Whether the root-only tests can run: without root, or (outside CI) without one of `needed`,
/// they are skipped with the reason printed; under `CI=true` a missing tool fails.
fn can_run(what: &str, needed: &[Prereq]) -> bool {
    if !prereq::is_root() {
        eprintln!(
            "skipping {what}: {}",
            Prereq::Root.missing().unwrap_or("not root")
        );
        return false;
    }
    let missing = prereq::missing(needed);
    if !missing.is_empty() {
        let reason = missing.join("; ");
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "CI=true and {what} cannot run: {reason}"
        );
        eprintln!("skipping {what}: {reason}");
        return false;
    }
    true
}

fn recv(lab: &Lab, host: &str, bin: &Path, extra: &[&str]) -> Result<Proc> {
    recv_group(lab, host, bin, GROUP, extra)
}

fn recv_group(lab: &Lab, host: &str, bin: &Path, group: &str, extra: &[&str]) -> Result<Proc> {
    let addr = lab.host(host)?.addr.to_string();
    let mut args = vec!["recv", group, PORT, "-i", &addr];
    args.extend(extra);
    let mut proc = demo::start(lab, host, bin, &args)?;
    demo::wait_ready(lab, host, &mut proc, Some(group));
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
    let mut proc = demo::start(lab, host, bin, &args)?;
    demo::wait_ready(lab, host, &mut proc, None);
    Ok(proc)
}

fn send(lab: &Lab, host: &str, bin: &Path, message: &str, ttl: &str) -> Result<Finished> {
    send_group(lab, host, bin, GROUP, message, ttl)
}

fn send_group(
    lab: &Lab,
    host: &str,
    bin: &Path,
    group: &str,
    message: &str,
    ttl: &str,
) -> Result<Finished> {
    let addr = lab.host(host)?.addr.to_string();
    let args = ["send", group, PORT, message, "-i", &addr, "--ttl", ttl];
    demo::start(lab, host, bin, &args)?.finish(Duration::from_secs(5))
}

fn got(f: &Finished, message: &str) -> usize {
    f.output().filter(|l| l.trim_end() == message).count()
}

/// A group outside the lecture's two: the router forwards every non-link-local group.
const OTHER_GROUP: &str = "239.1.2.3";

/// With TTL 2, `group` crosses the router from midwood (56) to flatbush (57) and back from
/// bushwick (57) to eastny (56).
fn crosses_both_ways(lab: &Lab, bin: &Path, group: &str, what: &str) -> Result<Vec<String>> {
    let mut failures = Vec::new();
    for (from, to) in [("midwood", "flatbush"), ("bushwick", "eastny")] {
        let message = format!("{group} from {from}");
        let rx = recv_group(lab, to, bin, group, &["-c", "1", "--timeout", "2s"])?;
        let sent = send_group(lab, from, bin, group, &message, "2")?;
        let rx = rx.finish(Duration::from_secs(7))?;
        if sent.code != Some(0) || got(&rx, &message) != 1 {
            failures.push(format!(
                "{what}: {group} with TTL 2 should cross the router from {from} to {to}: {sent:?} {rx:?}"
            ));
        }
    }
    Ok(failures)
}

/// TTL 1 stays in 192.168.56.0/24 (eastny gets it, flatbush behind the router does not); TTL 2
/// crosses the router, for the lecture's group and for [`OTHER_GROUP`], both ways, also through
/// snooping bridges.
fn routed_ttl(bin: &Path) -> Result<Vec<String>> {
    let mut failures = Vec::new();
    {
        let lab = Lab::up(Config {
            topology: Topology::Routed,
            snooping: true,
            ..Config::lecture()
        })?;
        failures.extend(crosses_both_ways(
            &lab,
            bin,
            OTHER_GROUP,
            "routed, snooping",
        )?);
    }
    let lab = Lab::up(Config {
        topology: Topology::Routed,
        ..Config::lecture()
    })?;
    failures.extend(crosses_both_ways(&lab, bin, OTHER_GROUP, "routed")?);
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

/// nftables faults: `--loss 100` drops everything, `--loss 100@flatbush` only what flatbush sends
/// or receives, `--dup 100` delivers each datagram twice.
fn faults(bin: &Path) -> Result<Vec<String>> {
    let mut failures = Vec::new();
    {
        let lab = Lab::up(Config {
            loss: vec![Fault::everywhere(100)],
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
        // Only flatbush's link drops, both ways, and its sender does not notice (no EPERM).
        let lab = Lab::up(Config {
            loss: vec![Fault::on(100, "flatbush")],
            ..Config::lecture()
        })?;
        let timeout = ["-c", "1", "--timeout", "1s"];
        let east = recv(&lab, "eastny", bin, &timeout)?;
        let flat = recv(&lab, "flatbush", bin, &timeout)?;
        let sent = send(&lab, "midwood", bin, "to flatbush", "1")?;
        let (east, flat) = (
            east.finish(Duration::from_secs(6))?,
            flat.finish(Duration::from_secs(6))?,
        );
        if sent.code != Some(0) || got(&east, "to flatbush") != 1 || got(&flat, "to flatbush") != 0
        {
            failures.push(format!(
                "--loss 100@flatbush: eastny should get midwood's datagram and flatbush not: {sent:?} {east:?} {flat:?}"
            ));
        }
        let east = recv(&lab, "eastny", bin, &timeout)?;
        let sent = send(&lab, "flatbush", bin, "from flatbush", "1")?;
        let east = east.finish(Duration::from_secs(6))?;
        if sent.code != Some(0) || got(&east, "from flatbush") != 0 {
            failures.push(format!(
                "--loss 100@flatbush: flatbush's send should succeed and eastny get nothing: {sent:?} {east:?}"
            ));
        }
    }
    {
        let lab = Lab::up(Config {
            dup: vec![Fault::everywhere(100)],
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

/// Frames midwood sends in each fault-statistics run.
const STAT_FRAMES: u64 = 1000;
/// The `--loss`/`--dup` percentage of the fault-statistics runs.
const STAT_PERCENT: u8 = 20;
/// How far, in percentage points, a measured fraction may be from [`STAT_PERCENT`].
///
/// Each of the `STAT_FRAMES` datagrams is dropped (or duplicated) independently with chance
/// p = 0.2: the rule draws `numgen random mod 100 < 20` per packet from the kernel's
/// `get_random_u32`, scaled to 0..=99 (a bias below 2^-25). The count is therefore
/// Binomial(1000, 0.2): mean 200, standard deviation sqrt(1000 * 0.2 * 0.8) = 12.6, so ±5 points
/// (±50 datagrams) is ±3.95 standard deviations. The exact binomial tails P(X < 150) + P(X > 250)
/// sum to 6.9e-5, so the two checks together fail by chance about once in 7,000 runs. Pacing at
/// 1 ms keeps the receiver's socket buffer far from overflowing, so no other loss adds to it.
const STAT_TOLERANCE: f64 = 5.0;

/// The receiver's counters for the one stream of a fault-statistics run (`StreamStats` in
/// mcast-core's `session::receiver`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct StreamCount {
    /// Valid frames, duplicates and stale ones included.
    received: u64,
    /// Sequence numbers between the lowest and the highest seen that never arrived.
    lost: u64,
    duplicates: u64,
    stale: u64,
    first_seq: u64,
    highest_seq: u64,
}

impl StreamCount {
    /// Distinct sequence numbers received.
    fn unique(&self) -> u64 {
        self.received
            .saturating_sub(self.duplicates)
            .saturating_sub(self.stale)
    }

    /// Frames lost before the first one received and after the highest one: a receiver cannot see
    /// those as gaps, so `lost` leaves them out; the sender's numbering (0..STAT_FRAMES) shows them.
    fn edges(&self) -> u64 {
        self.first_seq + (STAT_FRAMES - 1).saturating_sub(self.highest_seq)
    }
}

/// The single stream of the final `{"type":"stats",…}` line of `mcast recv --json`.
fn stream_count(f: &Finished) -> Result<StreamCount> {
    let line = f
        .output()
        .filter(|l| l.starts_with('{') && l.contains(r#""type":"stats""#))
        .last()
        .context("no stats line")?;
    let stats: serde_json::Value = serde_json::from_str(line).context("stats line is no JSON")?;
    let streams = stats["data"]["framed"]["streams"]
        .as_array()
        .context("stats line without data.framed.streams")?;
    let [stream] = streams.as_slice() else {
        bail!("expected one stream, got {}: {line}", streams.len());
    };
    let field = |key: &str| {
        stream[key]
            .as_u64()
            .with_context(|| format!("stream without a numeric {key:?}: {line}"))
    };
    // Sequence numbers are decimal strings, exact beyond 2^53.
    let seq = |key: &str| {
        stream[key]
            .as_str()
            .and_then(|s| s.parse::<u64>().ok())
            .with_context(|| format!("stream without a decimal-string {key:?}: {line}"))
    };
    Ok(StreamCount {
        received: field("received")?,
        lost: field("lost")?,
        duplicates: field("duplicates")?,
        stale: field("stale")?,
        first_seq: seq("first_seq")?,
        highest_seq: seq("highest_seq")?,
    })
}

/// Builds a lecture lab with `config`'s faults, has midwood send [`STAT_FRAMES`] numbered frames
/// 1 ms apart and returns what eastny's `mcast recv --json` counted. The receiver is stopped with
/// SIGINT once the sender is done and the last datagram had time to arrive.
fn measure(bin: &Path, config: Config) -> Result<StreamCount> {
    let lab = Lab::up(config)?;
    // The timeout only bounds a run whose interrupt went astray.
    let mut east = recv(&lab, "eastny", bin, &["--json", "--timeout", "20s"])?;
    let addr = lab.host("midwood")?.addr.to_string();
    let count = STAT_FRAMES.to_string();
    let args = [
        "send",
        GROUP,
        PORT,
        "stats",
        "-i",
        &addr,
        "--ttl",
        "1",
        "--framed",
        "-c",
        &count,
        "--interval",
        "1ms",
    ];
    let sent = demo::start(&lab, "midwood", bin, &args)?.finish(Duration::from_secs(10))?;
    if sent.code != Some(0) {
        bail!("the sender failed: {sent:?}");
    }
    thread::sleep(Duration::from_millis(300));
    east.interrupt()?;
    let east = east.finish(Duration::from_secs(5))?;
    if east.killed || east.code != Some(0) {
        bail!(
            "the receiver did not end cleanly on SIGINT: {:?} {:?}",
            east.code,
            east.lines.last()
        );
    }
    stream_count(&east).with_context(|| format!("eastny's receiver: {}", east.display))
}

fn percent(n: u64) -> f64 {
    n as f64 * 100.0 / STAT_FRAMES as f64
}

fn near_expected(pct: f64) -> bool {
    (pct - f64::from(STAT_PERCENT)).abs() <= STAT_TOLERANCE
}

/// `--loss 20` and `--dup 20` over 1,000 frames: the receiver's loss and duplicate counts agree
/// with the configured chances (see [`STAT_TOLERANCE`]) and its accounting adds up.
fn fault_stats(bin: &Path) -> Result<Vec<String>> {
    let started = Instant::now();
    let mut failures = Vec::new();
    let loss = measure(
        bin,
        Config {
            loss: vec![Fault::everywhere(STAT_PERCENT)],
            ..Config::lecture()
        },
    )
    .context("--loss run")?;
    // Every frame either arrived once or is missing: in a gap (`lost`) or at an edge.
    let missing = loss.lost + loss.edges();
    let loss_pct = percent(missing);
    if loss.duplicates != 0
        || loss.stale != 0
        || loss.highest_seq >= STAT_FRAMES
        || loss.unique() + missing != STAT_FRAMES
        || loss.lost > STAT_FRAMES - loss.received
    {
        failures.push(format!(
            "--loss {STAT_PERCENT}: received + lost (+ unseen edges) should be {STAT_FRAMES} with no duplicates: {loss:?}"
        ));
    }
    if !near_expected(loss_pct) {
        failures.push(format!(
            "--loss {STAT_PERCENT}: {loss_pct:.1}% lost is more than {STAT_TOLERANCE} points off: {loss:?}"
        ));
    }
    let dup = measure(
        bin,
        Config {
            dup: vec![Fault::everywhere(STAT_PERCENT)],
            ..Config::lecture()
        },
    )
    .context("--dup run")?;
    let dup_pct = percent(dup.duplicates);
    if dup.lost != 0 || dup.edges() != 0 || dup.stale != 0 || dup.unique() != STAT_FRAMES {
        failures.push(format!(
            "--dup {STAT_PERCENT}: every frame should arrive, none lost: {dup:?}"
        ));
    }
    if !near_expected(dup_pct) {
        failures.push(format!(
            "--dup {STAT_PERCENT}: {dup_pct:.1}% duplicated is more than {STAT_TOLERANCE} points off: {dup:?}"
        ));
    }
    println!(
        "faults: --loss {STAT_PERCENT} → receiver reported {loss_pct:.1}% lost ({missing}/{STAT_FRAMES}: \
         {} in gaps, {} at the edges); --dup {STAT_PERCENT} → {dup_pct:.1}% duplicated ({}/{STAT_FRAMES}) [{:.1} s]",
        loss.lost,
        loss.edges(),
        dup.duplicates,
        started.elapsed().as_secs_f64(),
    );
    Ok(failures)
}

/// The host whose link drops in the ping mesh, and by how much (`--loss 20@flatbush`).
const MESH_FAULTY: &str = "flatbush";
const MESH_LOSS: u8 = 20;
/// Probes each `mcast ping` sends, one per [`MESH_INTERVAL`].
const MESH_PROBES: u64 = 500;
const MESH_INTERVAL: &str = "2ms";
/// Loss allowed, in percent, in a cell without the faulty host: nothing in the lab drops there.
const MESH_CLEAN_MAX: f64 = 1.0;
/// The fewest probes a cell may count: a peer's `sent` covers only the probes sent while it
/// was known, so this bounds the start skew between two instances (20% of the run, 200 ms).
const MESH_MIN_SENT: u64 = MESH_PROBES * 4 / 5;
/// How many standard errors a faulty cell may be from [`mesh_expected`].
///
/// A round trip between flatbush and another host meets flatbush's rules exactly twice: one way
/// out through its `egress` chain, the other way in through its `prerouting` chain (a probe of
/// flatbush's goes out and the answer comes in; a probe to flatbush comes in and its answer
/// goes out). Each rule draws `numgen random mod 100 < 20` independently per packet, so a round
/// trip fails with q = 1 − 0.8² = 0.36 and a cell's `lost` is Binomial(sent, q). (The three
/// cells of flatbush's row share its outgoing probes, so they are correlated with one another,
/// but each one on its own is binomial.) At sent = 500 the standard error is
/// sqrt(0.36 · 0.64 / 500) = 2.15 points, and 4.5 of them, ±9.7 points, leaves a chance of
/// 6.8e-6 per cell (normal approximation, fine at n·q = 180) to fail by accident: at most 4.1e-5
/// for the six cells together, about once in 25,000 runs. The band 26.3–45.7% still tells the
/// two-way rules from one-way ones (q = 0.20, 3.5 standard errors below its lower end) and
/// from rules applied twice each way (q = 0.59).
const MESH_Z: f64 = 4.5;

/// The loss, in percent, of a round trip that meets flatbush's rules twice.
fn mesh_expected() -> f64 {
    let survive = 1.0 - f64::from(MESH_LOSS) / 100.0;
    (1.0 - survive * survive) * 100.0
}

/// The tolerance, in points, for a faulty cell that counted `sent` probes (see [`MESH_Z`]).
fn mesh_tolerance(sent: u64) -> f64 {
    let q = mesh_expected() / 100.0;
    MESH_Z * (q * (1.0 - q) / sent.max(1) as f64).sqrt() * 100.0
}

/// What one prober counted for one responder, from its `end` record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Cell {
    /// Probes sent while the responder was known and whose answer time is up.
    sent: u64,
    /// Of those, probes with no multicast answer in time.
    lost: u64,
    /// Of those, probes with no unicast answer in time.
    unicast_lost: u64,
}

impl Cell {
    fn loss(&self) -> f64 {
        percent_of(self.lost, self.sent)
    }

    fn unicast_loss(&self) -> f64 {
        percent_of(self.unicast_lost, self.sent)
    }
}

fn percent_of(n: u64, of: u64) -> f64 {
    n as f64 * 100.0 / of.max(1) as f64
}

/// The `peers` of the last `{"type":"end",…}` record of `mcast ping --json`: responder address →
/// its cell.
fn ping_end(lines: &[String]) -> Result<BTreeMap<String, Cell>> {
    let end: serde_json::Value = lines
        .iter()
        .rev()
        .filter(|l| l.starts_with('{'))
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .find(|v| v["type"] == "end")
        .context("no end record")?;
    let peers = end["data"]["peers"]
        .as_object()
        .with_context(|| format!("end record without data.peers: {end}"))?;
    peers
        .iter()
        .map(|(addr, p)| {
            let count = |v: &serde_json::Value, key: &str| {
                v[key]
                    .as_u64()
                    .with_context(|| format!("peer {addr} without a numeric {key:?}: {p}"))
            };
            let cell = Cell {
                sent: count(p, "sent")?,
                lost: count(p, "lost")?,
                unicast_lost: count(&p["unicast"], "lost")?,
            };
            Ok((addr.clone(), cell))
        })
        .collect()
}

/// Row = prober, column = responder, in the lab's host order; the diagonal and any responder a
/// prober never heard of are `None`.
type Matrix = Vec<Vec<Option<Cell>>>;

/// Every way `matrix` differs from the mesh's expectation: flatbush's row and column near
/// [`mesh_expected`], every other cell at most [`MESH_CLEAN_MAX`], each off-diagonal cell
/// present with at least [`MESH_MIN_SENT`] probes.
fn judge_mesh(names: &[&str], matrix: &Matrix) -> Vec<String> {
    let mut failures = Vec::new();
    for (r, row) in matrix.iter().enumerate() {
        for (c, cell) in row.iter().enumerate() {
            if r == c {
                continue;
            }
            let (prober, responder) = (names[r], names[c]);
            let Some(cell) = cell else {
                failures.push(format!("{prober} never heard of {responder}"));
                continue;
            };
            if cell.sent < MESH_MIN_SENT {
                failures.push(format!(
                    "{prober} → {responder}: only {} probes counted (at least {MESH_MIN_SENT}): did they start far apart? {cell:?}",
                    cell.sent
                ));
                continue;
            }
            let loss = cell.loss();
            if names[r] == MESH_FAULTY || names[c] == MESH_FAULTY {
                let (want, tol) = (mesh_expected(), mesh_tolerance(cell.sent));
                if (loss - want).abs() > tol {
                    failures.push(format!(
                        "{prober} → {responder}: {loss:.1}% lost, want {want:.1} ± {tol:.1}: {cell:?}"
                    ));
                }
            } else if loss > MESH_CLEAN_MAX {
                failures.push(format!(
                    "{prober} → {responder}: {loss:.1}% lost, want at most {MESH_CLEAN_MAX}% (no fault between them): {cell:?}"
                ));
            }
        }
    }
    failures
}

/// `matrix` as a table, rows the probers and columns the responders; `value` writes a cell.
fn render_mesh(names: &[&str], matrix: &Matrix, value: fn(&Cell) -> String) -> String {
    let mut s = format!("{:>12}", "prober \\ to");
    for name in names {
        s.push_str(&format!(" {name:>9}"));
    }
    s.push('\n');
    for (r, row) in matrix.iter().enumerate() {
        s.push_str(&format!("{:>12}", names[r]));
        for (c, cell) in row.iter().enumerate() {
            let text = match cell {
                _ if r == c => "—".to_owned(),
                None => "?".to_owned(),
                Some(cell) => value(cell),
            };
            s.push_str(&format!(" {text:>9}"));
        }
        s.push('\n');
    }
    s
}

/// Why `mcast ping` cannot run with the binary at `bin`, or `None` when it can.
fn mcast_ping_missing(bin: &Path) -> Option<String> {
    match Command::new(bin)
        .args(["ping", "--help"])
        .stdin(Stdio::null())
        .output()
    {
        Ok(out) if out.status.success() => None,
        Ok(_) => Some(format!("this mcast ({}) has no `ping`", bin.display())),
        Err(e) => Some(format!("cannot run {}: {e}", bin.display())),
    }
}

/// The lecture lab with `--loss 20@flatbush`, `mcast ping 224.1.1.5 50001 -c 500 --interval 2ms
/// --json` on all four hosts at once; returns the host names, the matrix of their end records
/// and the failures of the runs themselves (exit codes, missing records).
fn ping_mesh_run(bin: &Path) -> Result<(Vec<&'static str>, Matrix, Vec<String>)> {
    let lab = Lab::up(Config {
        loss: vec![Fault::on(MESH_LOSS, MESH_FAULTY)],
        ..Config::lecture()
    })?;
    let hosts = lab.hosts();
    let count = MESH_PROBES.to_string();
    let mut procs = Vec::new();
    // Started one after the other without waiting: each probes for a second, and the counts
    // cover only the probes sent while a peer was known, so a start skew only shortens them.
    for h in hosts {
        let addr = h.addr.to_string();
        let args = [
            "ping",
            GROUP,
            PORT,
            "-i",
            &addr,
            "-c",
            &count,
            "--interval",
            MESH_INTERVAL,
            "--json",
        ];
        procs.push(demo::start(&lab, h.name, bin, &args)?);
    }
    for (h, proc) in hosts.iter().zip(&mut procs) {
        demo::wait_ready(&lab, h.name, proc, Some(GROUP));
    }
    // 500 probes of 2 ms and the 1 s --timeout take 2 s; the rest only catches a hang.
    let deadline = Duration::from_secs(12);
    let mut failures = Vec::new();
    let mut ends = Vec::new();
    for (h, proc) in hosts.iter().zip(procs) {
        let run = proc.finish(deadline)?;
        if run.killed || run.code != Some(0) {
            failures.push(format!(
                "{}: `{}` exited {:?}{}: {:?}",
                h.name,
                run.display,
                run.code,
                if run.killed { " (killed)" } else { "" },
                run.lines.iter().rev().take(3).collect::<Vec<_>>()
            ));
        }
        let peers =
            ping_end(&run.lines).with_context(|| format!("{}: `{}`", h.name, run.display))?;
        ends.push(peers);
    }
    let matrix = ends
        .iter()
        .enumerate()
        .map(|(r, peers)| {
            hosts
                .iter()
                .enumerate()
                .map(|(c, h)| {
                    (r != c)
                        .then(|| peers.get(&h.addr.to_string()).copied())
                        .flatten()
                })
                .collect()
        })
        .collect();
    Ok((hosts.iter().map(|h| h.name).collect(), matrix, failures))
}

/// Runs `xtask lab ARGS…` with the lab state in `state_dir`; returns (exit code, stdout, stderr).
fn xtask_lab(
    xtask: &Path,
    mcast: &Path,
    state_dir: &Path,
    args: &[&str],
) -> Result<(i32, String, String)> {
    let out = xtask_command(xtask, mcast, state_dir)
        .arg("lab")
        .args(args)
        .stdin(Stdio::null())
        .output()
        .context("failed to run xtask")?;
    Ok((
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    ))
}

/// The xtask binary with its target directory (state file, smcroute config) in `state_dir`.
fn xtask_command(xtask: &Path, mcast: &Path, state_dir: &Path) -> Command {
    let mut cmd = Command::new(xtask);
    cmd.env("CARGO_TARGET_DIR", state_dir)
        .env("MCAST_BIN", mcast);
    cmd
}

/// What a `lab up` run with its state in `state_dir` left behind: the namespaces of labs that
/// name `state_dir` as their checkout's target directory (so no one else's lab counts), the
/// state file, and smcrouted processes reading a config from `state_dir`.
/// Waits (at most 20 s) until process `pid` catches SIGINT: bit 2 of `SigCgt` in
/// `/proc/PID/status`.
fn wait_for_sigint_handler(pid: u32) -> Result<()> {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
        let caught = status
            .lines()
            .find_map(|l| l.strip_prefix("SigCgt:"))
            .and_then(|mask| u64::from_str_radix(mask.trim(), 16).ok())
            .is_some_and(|mask| mask & (1 << (SIGINT - 1)) != 0);
        if caught {
            return Ok(());
        }
        if Instant::now() > deadline {
            bail!("xtask (pid {pid}) installed no SIGINT handler within 20 s");
        }
        thread::sleep(Duration::from_millis(1));
    }
}

/// SIGINT's number (2 on every Linux architecture).
const SIGINT: u32 = 2;

fn leftovers(state_dir: &Path) -> Vec<String> {
    let mut left: Vec<String> = lab::find::labs()
        .unwrap_or_default()
        .into_iter()
        .filter(|f| f.belongs_to(state_dir))
        .flat_map(|f| f.namespaces)
        .map(|ns| format!("namespace {ns}"))
        .collect();
    let state = state_dir.join(lab::STATE_FILE);
    if state.exists() {
        left.push(format!("state file {}", state.display()));
    }
    let marker = state_dir.to_string_lossy().into_owned();
    for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let cmdline = std::fs::read(entry.path().join("cmdline")).unwrap_or_default();
        let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
        if cmdline.starts_with("smcrouted") && cmdline.contains(&marker) {
            left.push(format!(
                "process {}: {cmdline}",
                entry.file_name().to_string_lossy()
            ));
        }
    }
    left
}

/// Ctrl-C during `lab up --topology routed --snooping` (SIGINT at several points of the build)
/// leaves nothing behind; `lab up` into a closed pipe neither panics nor loses the lab; `lab down`
/// with nothing up is a quiet success; `lab status` without a lab names no os error; `lab exec`
/// of an unknown host lists the valid ones.
fn lab_command(mcast: &Path) -> Result<Vec<String>> {
    let xtask = lab::cargo_binary("xtask", "xtask", Profile::Debug, true)?;
    let state_dir = std::env::temp_dir().join(format!("mcast-xtask-lab-{}", std::process::id()));
    std::fs::create_dir_all(&state_dir)?;
    let result = lab_command_in(&xtask, mcast, &state_dir);
    // Whatever happened, nothing of ours stays up.
    let _ = xtask_lab(&xtask, mcast, &state_dir, &["down"]);
    let _ = std::fs::remove_dir_all(&state_dir);
    result
}

fn lab_command_in(xtask: &Path, mcast: &Path, state_dir: &Path) -> Result<Vec<String>> {
    let mut failures = Vec::new();
    let up = ["lab", "up", "--topology", "routed", "--snooping"];
    for delay_ms in [30, 60, 90, 150, 400, 900] {
        let mut child = xtask_command(xtask, mcast, state_dir)
            .args(up)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .context("failed to run xtask lab up")?;
        // The delays count from the moment its Ctrl-C handler exists (before that a SIGINT
        // ends any program, with nothing made yet); a loaded machine can take longer than
        // the first delay to get there.
        wait_for_sigint_handler(child.id())?;
        thread::sleep(Duration::from_millis(delay_ms));
        // Our own child, by its id.
        netns::run(Command::new("kill").args(["-INT", &child.id().to_string()]))?;
        let (status, killed) = netns::wait_or_kill(&mut child, Duration::from_secs(20))?;
        let left = leftovers(state_dir);
        match status.code().filter(|_| !killed) {
            Some(130) if left.is_empty() => {}
            code => failures.push(format!(
                "lab up interrupted after {delay_ms} ms: exit {code:?} (want 130), left behind: {left:?}"
            )),
        }
        if !left.is_empty() {
            // Clean up before the next round so one failure does not cascade.
            let _ = xtask_lab(xtask, mcast, state_dir, &["down"]);
        }
    }

    // `lab up | head -0`: the reader is gone before the first line.
    let mut child = xtask_command(xtask, mcast, state_dir)
        .args(up)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .context("failed to run xtask lab up")?;
    drop(child.stdout.take());
    let out = child.wait_with_output()?;
    let stderr = String::from_utf8_lossy(&out.stderr);
    if out.status.code() != Some(0) || stderr.contains("panicked") {
        failures.push(format!(
            "lab up into a closed pipe should succeed quietly: {} {stderr}",
            out.status
        ));
    }
    let (code, stdout, stderr) = xtask_lab(xtask, mcast, state_dir, &["status"])?;
    if code != 0 || !stdout.contains("topology routed, snooping on") {
        failures.push(format!(
            "lab status after a piped lab up: exit {code}: {stdout} {stderr}"
        ));
    }
    failures.extend(lab_found_by_its_namespaces(xtask, mcast, state_dir)?);
    let (code, _, stderr) = xtask_lab(xtask, mcast, state_dir, &["exec", "nohost", "--", "true"])?;
    if code == 0
        || !stderr.contains("choose one of eastny, midwood, flatbush, bushwick, router, switch")
    {
        failures.push(format!(
            "lab exec nohost should list the hosts: exit {code}: {stderr}"
        ));
    }
    for round in ["first", "second"] {
        let (code, stdout, stderr) = xtask_lab(xtask, mcast, state_dir, &["down"])?;
        let want = if round == "first" {
            "is down"
        } else {
            "no lab is up"
        };
        if code != 0 || !stdout.contains(want) {
            failures.push(format!(
                "{round} lab down should exit 0 saying {want:?}: exit {code}: {stdout} {stderr}"
            ));
        }
    }
    let left = leftovers(state_dir);
    if !left.is_empty() {
        failures.push(format!("lab down left behind: {left:?}"));
    }
    let (code, _, stderr) = xtask_lab(xtask, mcast, state_dir, &["status"])?;
    if code == 0 || !stderr.contains("no lab is up") || stderr.contains("os error") {
        failures.push(format!(
            "lab status with nothing up should say so without an os error: exit {code}: {stderr}"
        ));
    }
    failures.extend(orphans_and_strangers(xtask, mcast, state_dir)?);
    Ok(failures)
}

/// With the state file gone (`cargo clean`), the standing lab is still found by its
/// namespaces: `lab status` shows it, `lab exec` runs in it, `lab list` names it, and a second
/// `lab up` is refused with a hint to `lab down` (whose run above then finds it too).
fn lab_found_by_its_namespaces(
    xtask: &Path,
    mcast: &Path,
    state_dir: &Path,
) -> Result<Vec<String>> {
    let mut failures = Vec::new();
    std::fs::remove_file(state_dir.join(lab::STATE_FILE)).context("the state file exists")?;
    let (code, stdout, stderr) = xtask_lab(xtask, mcast, state_dir, &["status"])?;
    if code != 0
        || !stdout.contains("topology routed, snooping on")
        || !stderr.contains("found the lab by its namespaces")
    {
        failures.push(format!(
            "lab status without the state file should find the lab: exit {code}: {stdout} {stderr}"
        ));
    }
    let (code, stdout, stderr) = xtask_lab(
        xtask,
        mcast,
        state_dir,
        &["exec", "router", "--", "ip", "-br", "link"],
    )?;
    if code != 0 || !stdout.contains("lab1") {
        failures.push(format!(
            "lab exec without the state file should run in the lab: exit {code}: {stdout} {stderr}"
        ));
    }
    let (code, stdout, _) = xtask_lab(xtask, mcast, state_dir, &["list"])?;
    if code != 0
        || !stdout
            .lines()
            .any(|l| l.contains("kept by `lab up`") && l.ends_with("[this checkout]"))
    {
        failures.push(format!(
            "lab list should name the kept lab as this checkout's: {stdout}"
        ));
    }
    let labs_here = || {
        lab::find::labs()
            .unwrap_or_default()
            .into_iter()
            .filter(|f| f.belongs_to(state_dir))
            .count()
    };
    let (code, _, stderr) = xtask_lab(xtask, mcast, state_dir, &["up"])?;
    if code == 0
        || !stderr.contains("a lab is already up here")
        || !stderr.contains("hint: ")
        || !stderr.contains("cargo xtask lab down")
        || labs_here() != 1
    {
        failures.push(format!(
            "a second lab up should be refused with a hint to lab down, building nothing: exit {code}: {stderr}"
        ));
    }
    Ok(failures)
}

/// A namespace name no lab of this process will allocate (`allocate_prefix` stays below 10000).
fn unused_prefix(n: u32) -> String {
    format!("mcl{}-", 10_000 + (std::process::id() % 10_000) * 10 + n)
}

/// Makes namespace `ns`, marked (or not) as a lab's.
fn fake_lab_namespace(ns: &str, marker: Option<&lab::find::Marker>) -> Result<()> {
    netns::ip(&["netns", "add", ns])?;
    match marker {
        Some(m) => lab::find::write_marker(ns, m),
        None => Ok(()),
    }
}

/// What a lab whose builder was killed left behind blocks `lab up` (with the hint), shows in
/// `lab status` and goes with `lab down`; a kept lab of another checkout and an unmarked one
/// (an older xtask's, or another program's) are neither shown, refused over, deleted nor
/// counted as leftovers.
fn orphans_and_strangers(xtask: &Path, mcast: &Path, state_dir: &Path) -> Result<Vec<String>> {
    let mut failures = Vec::new();
    let mut child = Command::new("true").spawn()?;
    let dead = child.id();
    child.wait()?;
    let here = lab::find::Marker {
        owner: dead,
        dir: lab::find::dir_id(state_dir),
        run: None,
        kept: false,
        config: Config::lecture(),
    };
    let elsewhere = lab::find::Marker {
        owner: std::process::id(),
        dir: lab::find::dir_id(Path::new("/elsewhere/target")),
        kept: true,
        ..here.clone()
    };
    let orphan = format!("{}eastny", unused_prefix(1));
    let foreign = format!("{}switch", unused_prefix(2));
    let unmarked = format!("{}midwood", unused_prefix(3));
    let made = [&orphan, &foreign, &unmarked];
    let result = (|| -> Result<()> {
        fake_lab_namespace(&orphan, Some(&here))?;
        fake_lab_namespace(&foreign, Some(&elsewhere))?;
        fake_lab_namespace(&unmarked, None)?;
        let left = leftovers(state_dir);
        if left != [format!("namespace {orphan}")] {
            failures.push(format!(
                "only the orphan is this checkout's leftover: {left:?}"
            ));
        }
        let (code, _, stderr) = xtask_lab(xtask, mcast, state_dir, &["status"])?;
        if code == 0 || !stderr.contains(&orphan) || !stderr.contains("lab down") {
            failures.push(format!(
                "lab status should point at the orphan: exit {code}: {stderr}"
            ));
        }
        let (code, _, stderr) = xtask_lab(xtask, mcast, state_dir, &["up"])?;
        if code == 0 || !stderr.contains(&orphan) || !stderr.contains("cargo xtask lab down") {
            failures.push(format!(
                "lab up beside an orphan should be refused: exit {code}: {stderr}"
            ));
        }
        let (code, stdout, stderr) = xtask_lab(xtask, mcast, state_dir, &["down"])?;
        let alive = netns::list_netns()?;
        if code != 0
            || !stdout.contains("deleting what is left of lab")
            || alive.contains(&orphan)
            || !alive.contains(&foreign)
            || !alive.contains(&unmarked)
        {
            failures.push(format!(
                "lab down should delete the orphan and nothing else: exit {code}: {stdout} {stderr} {alive:?}"
            ));
        }
        let (code, stdout, _) = xtask_lab(xtask, mcast, state_dir, &["down"])?;
        if code != 0 || !stdout.contains("no lab is up") {
            failures.push(format!(
                "another checkout's lab is not this one's: lab down said {stdout}"
            ));
        }
        Ok(())
    })();
    for ns in made {
        let _ = netns::ip(&["netns", "del", ns]);
    }
    result?;
    Ok(failures)
}

#[test]
fn lab_scenarios() {
    let _serial = serial();
    if !can_run(
        "the lab scenarios",
        &[Prereq::Ip, Prereq::Nft, Prereq::Smcroute],
    ) {
        return;
    }
    let bin = lab::mcast_binary(Profile::Debug, false).expect("the mcast binary builds");
    let mut failures = Vec::new();
    let mut note = |name: &str, result: Result<Vec<String>>| match result {
        Ok(f) => failures.extend(f),
        Err(e) => failures.push(format!("{name}: {e:#}")),
    };
    note(
        "demo",
        demo::run(&bin, false).map(|f| f.into_iter().map(|f| format!("demo: {f}")).collect()),
    );
    note("routed", routed_ttl(&bin));
    note("lab command", lab_command(&bin));
    note("snooping on", snooping(&bin, true));
    note("snooping off", snooping(&bin, false));
    note("faults", faults(&bin));
    note("fault statistics", fault_stats(&bin));
    // Only the labs this process built count (their namespaces name it as their owner).
    let me = std::process::id();
    let leftovers: Vec<String> = lab::find::labs()
        .unwrap_or_default()
        .into_iter()
        .filter(|f| f.marker.as_ref().is_some_and(|m| m.owner == me))
        .flat_map(|f| f.namespaces)
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

/// The cells of every data line of the Markdown table in `report` (not the header or the rule).
/// The rows of the first table after `heading` (the whole report when it is empty), header
/// left out.
fn table_rows_after(report: &str, heading: &str) -> Vec<Vec<String>> {
    let from = report.find(heading).unwrap_or(0);
    report[from..]
        .lines()
        .skip_while(|l| !l.starts_with("| "))
        .take_while(|l| l.starts_with('|'))
        .filter(|l| l.starts_with("| ") && !l.starts_with("| tool"))
        .map(|l| {
            l.trim_matches('|')
                .split(" | ")
                .map(|c| c.trim().to_owned())
                .collect()
        })
        .collect()
}

/// `cargo xtask perf --quick --output -` as root with the debug `mcast`: every row produced a
/// count (mcast's rows say "not run" instead when this `mcast` has no `perf` subcommand), it
/// exits 0, and it leaves no namespace, scratch directory or process behind.
#[test]
fn perf_quick() {
    let _serial = serial();
    if !can_run("the perf smoke run", &perf::PREREQS) {
        return;
    }
    let mcast = lab::mcast_binary(Profile::Debug, false).expect("the mcast binary builds");
    let xtask =
        lab::cargo_binary("xtask", "xtask", Profile::Debug, true).expect("the xtask binary builds");
    let has_perf = perf::mcast_perf_missing(&mcast).is_none();
    let started = Instant::now();
    let out = Command::new(&xtask)
        .args(["perf", "--quick", "--output", "-"])
        .env("MCAST_BIN", &mcast)
        .stdin(Stdio::null())
        .output()
        .expect("xtask perf runs");
    let elapsed = started.elapsed();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let mut failures = Vec::new();
    if out.status.code() != Some(0) {
        failures.push(format!("xtask perf exited with {}", out.status));
    }
    let rows = table_rows_after(&stdout, "");
    // 2 sizes × (baseline, iperf2, 3 mcast paths, mcast perf recv without and with a key)
    // and the paced row.
    if rows.len() != 15 {
        failures.push(format!("expected 15 table rows, got {}", rows.len()));
    }
    // The cost of authentication, as a ratio at each size.
    if has_perf {
        for size in ["64", "1400"] {
            let line = stdout
                .split("## Authentication")
                .nth(1)
                .and_then(|s| s.lines().find(|l| l.starts_with(&format!("- {size} B: "))));
            if !line.is_some_and(|l| l.contains("× (")) {
                failures.push(format!("no authentication cost at {size} B: {line:?}"));
            }
        }
    }
    for row in &rows {
        let (label, received) = (&row[0], row.get(4).map_or("", String::as_str));
        let counted = received
            .replace(',', "")
            .parse::<u64>()
            .is_ok_and(|n| n > 0);
        let skipped = !has_perf && label.starts_with("mcast") && row[3] == "not run";
        if !counted && !skipped {
            failures.push(format!("row without a count: {}", row.join(" | ")));
        }
    }
    // The ping section: the ping-pong and mcast ping (in blocks), and mcast ping in one run,
    // each with probes sent and answered.
    let ping = table_rows_after(&stdout, "## Ping");
    if ping.len() != 3 {
        failures.push(format!("expected 3 ping rows, got {}", ping.len()));
    }
    for row in &ping {
        let sent = row.get(1).map_or("", String::as_str).replace(',', "");
        let skipped = !has_perf && row[0].starts_with("mcast") && row[1] == "not run";
        if !sent.parse::<u64>().is_ok_and(|n| n > 0) && !skipped {
            failures.push(format!("ping row without a count: {}", row.join(" | ")));
        }
    }
    let prefix = stderr
        .lines()
        .find_map(|l| l.strip_prefix("perf: lab ")?.split_whitespace().next())
        .map(str::to_owned);
    match prefix {
        None => failures.push("no \"perf: lab PREFIX up\" line on stderr".into()),
        Some(prefix) => {
            let left = netns::list_netns_with_prefix(&prefix).unwrap_or_default();
            if !left.is_empty() {
                failures.push(format!("namespaces left behind: {left:?}"));
            }
            let scratch = std::env::temp_dir().join(format!("{prefix}tmp"));
            if scratch.exists() {
                failures.push(format!("{} left behind", scratch.display()));
            }
            let marker = scratch.to_string_lossy().into_owned();
            for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
                let cmdline = std::fs::read(entry.path().join("cmdline")).unwrap_or_default();
                if String::from_utf8_lossy(&cmdline).contains(&marker) {
                    failures.push(format!(
                        "process {} left behind",
                        entry.file_name().to_string_lossy()
                    ));
                }
            }
        }
    }
    println!("perf --quick ran in {:.1} s", elapsed.as_secs_f64());
    assert!(
        failures.is_empty(),
        "{} perf check(s) failed:\n{}\n--- stdout\n{stdout}\n--- stderr\n{stderr}",
        failures.len(),
        failures.join("\n")
    );
}

/// The 4×4 ping mesh: `mcast ping` on every host of a lecture lab with `--loss 20@flatbush`.
/// Prints the loss matrices (multicast, then unicast for information) and checks the multicast
/// one: flatbush's row and column near 36% (see [`MESH_Z`]), every other cell at most 1%.
#[test]
fn ping_mesh() {
    let _serial = serial();
    if !can_run("the ping mesh", &[Prereq::Ip, Prereq::Nft]) {
        return;
    }
    let bin = lab::mcast_binary(Profile::Debug, false).expect("the mcast binary builds");
    if let Some(why) = mcast_ping_missing(&bin) {
        eprintln!("skipping the ping mesh: {why}");
        return;
    }
    let started = Instant::now();
    let (names, matrix, mut failures) = ping_mesh_run(&bin).expect("the ping mesh runs");
    let elapsed = started.elapsed();
    failures.extend(judge_mesh(&names, &matrix));
    println!(
        "ping mesh, --loss {MESH_LOSS}@{MESH_FAULTY}, {MESH_PROBES} probes of {MESH_INTERVAL} each: \
         multicast loss % (expected {:.1} ± {:.1} in {MESH_FAULTY}'s row and column, at most \
         {MESH_CLEAN_MAX} elsewhere)\n{}unicast loss % (not checked)\n{}sent (probes counted)\n{}[{:.1} s]",
        mesh_expected(),
        mesh_tolerance(MESH_PROBES),
        render_mesh(&names, &matrix, |c| format!("{:.1}", c.loss())),
        render_mesh(&names, &matrix, |c| format!("{:.1}", c.unicast_loss())),
        render_mesh(&names, &matrix, |c| c.sent.to_string()),
        elapsed.as_secs_f64()
    );
    assert!(
        failures.is_empty(),
        "{} ping mesh check(s) failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn the_mesh_expects_two_draws_per_round_trip() {
    assert!((mesh_expected() - 36.0).abs() < 1e-9);
    assert!((mesh_tolerance(500) - 9.66).abs() < 0.01);
    // Fewer probes counted, a wider band.
    assert!(mesh_tolerance(400) > mesh_tolerance(500));
}

#[test]
fn a_ping_end_record_gives_each_peers_cell() {
    let lines = [
        "listening on 224.1.1.5:50001 (interface 192.168.56.4)",
        r#"{"type":"start","data":{"group":"224.1.1.5"}}"#,
        r#"{"type":"end","data":{"reason":"count","exit_code":0,"probes_sent":500,"peers":{"192.168.56.1":{"sent":498,"received":320,"lost":178,"duplicates":0,"reordered":0,"late":0,"rtt_us":null,"unicast":{"received":318,"lost":180,"rtt_us":null},"multicast_broken":false}}}}"#,
    ]
    .map(str::to_owned);
    let peers = ping_end(&lines).unwrap();
    assert_eq!(
        peers.get("192.168.56.1"),
        Some(&Cell {
            sent: 498,
            lost: 178,
            unicast_lost: 180
        })
    );
    assert!(ping_end(&lines[..2]).is_err());
}

#[test]
fn the_mesh_judge_checks_the_faulty_row_and_column_and_the_rest() {
    let names = ["eastny", "midwood", "flatbush", "bushwick"];
    let cell = |lost| {
        Some(Cell {
            sent: 500,
            lost,
            unicast_lost: lost,
        })
    };
    let good = |r: usize, c: usize| match (r, c) {
        _ if r == c => None,
        (2, _) | (_, 2) => cell(180),
        _ => cell(2),
    };
    let mut matrix: Matrix = (0..4)
        .map(|r| (0..4).map(|c| good(r, c)).collect())
        .collect();
    assert_eq!(judge_mesh(&names, &matrix), Vec::<String>::new());
    matrix[2][0] = cell(100); // 20%: as if flatbush's rules dropped one way only.
    matrix[0][1] = cell(6); // 1.2% between two clean hosts.
    matrix[3][1] = None;
    let failures = judge_mesh(&names, &matrix);
    assert_eq!(failures.len(), 3, "{failures:#?}");
    assert!(failures[0].starts_with("eastny → midwood: 1.2% lost"));
    assert!(failures[1].starts_with("flatbush → eastny: 20.0% lost, want 36.0 ± 9.7"));
    assert_eq!(failures[2], "bushwick never heard of midwood");
    let table = render_mesh(&names, &matrix, |c| format!("{:.1}", c.loss()));
    assert_eq!(
        table.lines().nth(3).unwrap(),
        "    flatbush      20.0      36.0         —      36.0"
    );
}

/// `lab list --run NAME` (what `.ci/run` checks for leftovers) names exactly the namespaces
/// marked as made in run NAME: a lab's and a test's, not another run's, nor unmarked ones.
#[test]
fn leftovers_are_found_by_run() {
    let _serial = serial();
    if !can_run("the run-marker test", &[Prereq::Ip]) {
        return;
    }
    let xtask =
        lab::cargo_binary("xtask", "xtask", Profile::Debug, true).expect("the xtask binary builds");
    let run = format!("t{}", std::process::id());
    let lab_marker = lab::find::Marker {
        owner: std::process::id(),
        dir: lab::find::dir_id(Path::new("/elsewhere/target")),
        run: Some(run.clone()),
        kept: true,
        config: Config::lecture(),
    };
    let ours_lab = format!("{}eastny", unused_prefix(4));
    let ours_test = format!("mcast-runtest-{}", std::process::id());
    let other_run = format!("{}switch", unused_prefix(5));
    let unmarked = format!("{}midwood", unused_prefix(6));
    let made = [&ours_lab, &ours_test, &other_run, &unmarked];
    let result = (|| -> Result<String> {
        fake_lab_namespace(&ours_lab, Some(&lab_marker))?;
        netns::ip(&["netns", "add", &ours_test])?;
        netns::ip_in(
            &ours_test,
            &[
                "link",
                "set",
                "dev",
                "lo",
                "alias",
                &format!("mcast-test run={run}"),
            ],
        )?;
        let other = lab::find::Marker {
            run: Some(format!("{run}0")),
            ..lab_marker.clone()
        };
        fake_lab_namespace(&other_run, Some(&other))?;
        fake_lab_namespace(&unmarked, None)?;
        let state_dir = std::env::temp_dir();
        let (code, stdout, stderr) = xtask_lab(
            &xtask,
            Path::new("mcast"),
            &state_dir,
            &["list", "--run", &run],
        )?;
        anyhow::ensure!(code == 0, "lab list --run failed: {stderr}");
        Ok(stdout)
    })();
    for ns in made {
        let _ = netns::ip(&["netns", "del", ns]);
    }
    let stdout = result.expect("the namespaces are made and listed");
    let mut listed: Vec<&str> = stdout.lines().collect();
    listed.sort_unstable();
    let mut want = [ours_lab.as_str(), ours_test.as_str()];
    want.sort_unstable();
    assert_eq!(listed, want);
}

// issue #12 (PIM lab) — `lab up --topology pim` brings up FRR on every router, `lab routes`
// shows a host's join as (*,G) state, `lab down` leaves no namespace, no directory and no
// daemon behind. Run through the xtask binary, with a target directory of its own (so a lab
// the developer keeps up in this checkout is neither refused nor touched).
#[test]
fn pim_lab_up_routes_down() {
    let _serial = serial();
    if !can_run("the pim lab", &[Prereq::Ip, Prereq::Frr]) {
        return;
    }
    let mcast = lab::mcast_binary(Profile::Debug, false).expect("the mcast binary builds");
    let xtask =
        lab::cargo_binary("xtask", "xtask", Profile::Debug, true).expect("the xtask binary builds");
    let target = std::env::temp_dir().join(format!("mcast-pim-test-{}", std::process::id()));
    let xtask_run = |args: &[&str]| {
        Command::new(&xtask)
            .args(args)
            .env("MCAST_BIN", &mcast)
            .env("CARGO_TARGET_DIR", &target)
            .stdin(Stdio::null())
            .output()
            .expect("xtask runs")
    };
    let text = |out: &std::process::Output| {
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    };
    let mut failures = Vec::new();
    let up = xtask_run(&["lab", "up", "--topology", "pim"]);
    let up_text = text(&up);
    let prefix = up_text
        .lines()
        .find_map(|l| l.strip_prefix("lab up: prefix ")?.split(',').next())
        .map(str::to_owned);
    if up.status.code() != Some(0) || prefix.is_none() {
        failures.push(format!("lab up failed ({}):\n{up_text}", up.status));
    }
    for want in ["r1 ", "r2 ", "r3 ", "PIM neighbours: 10.0.1.1 10.0.2.2"] {
        if !up_text.contains(want) {
            failures.push(format!("lab status shows no `{want}`"));
        }
    }
    let scratch = prefix
        .as_ref()
        .map(|p| std::env::temp_dir().join(format!("{p}tmp")));
    let pids: Vec<u32> = scratch
        .as_ref()
        .map(|s| {
            lab::pim::recorded_pids(s)
                .into_iter()
                .map(|(_, p)| p)
                .collect()
        })
        .unwrap_or_default();
    if prefix.is_some() && pids.len() != 6 {
        failures.push(format!("expected 6 daemon pid files, found {pids:?}"));
    }
    if let Some(prefix) = &prefix {
        // flatbush joins for a few seconds: r3 shows the (*,G) towards its LAN.
        let join = Proc::spawn(
            &format!("{prefix}flatbush"),
            &mcast,
            "mcast",
            &["recv", GROUP, PORT, "-i", "192.168.58.4", "--timeout", "5s"],
        );
        let deadline = Instant::now() + Duration::from_secs(5);
        let mut routes = String::new();
        while Instant::now() < deadline {
            routes = text(&xtask_run(&["lab", "routes", "flatbush"]));
            if routes.contains(&format!("r3      (*, {GROUP})")) {
                break;
            }
            thread::sleep(Duration::from_millis(200));
        }
        if !routes.contains("lan58(igmp)") || !routes.contains("192.168.57.254") {
            failures.push(format!(
                "lab routes flatbush shows no join on lan58:\n{routes}"
            ));
        }
        let all = text(&xtask_run(&["lab", "routes"]));
        for r in ["r1 ", "r2 ", "r3 "] {
            if !all.lines().any(|l| l.starts_with(r)) {
                failures.push(format!("lab routes has no line for {r}:\n{all}"));
            }
        }
        drop(join);
    }
    let down = xtask_run(&["lab", "down"]);
    if down.status.code() != Some(0) {
        failures.push(format!("lab down failed:\n{}", text(&down)));
    }
    if let Some(prefix) = &prefix {
        let left = netns::list_netns_with_prefix(prefix).unwrap_or_default();
        if !left.is_empty() {
            failures.push(format!("namespaces left behind: {left:?}"));
        }
    }
    if scratch.as_ref().is_some_and(|s| s.exists()) {
        failures.push(format!("{scratch:?} left behind"));
    }
    for pid in &pids {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        if !stat.is_empty() && !stat.contains(") Z") {
            failures.push(format!("daemon pid {pid} left running"));
        }
    }
    let _ = std::fs::remove_dir_all(&target);
    assert!(
        failures.is_empty(),
        "{} pim lab check(s) failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
