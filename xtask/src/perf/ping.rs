//! The ping rows of `cargo xtask perf`: `mcast ping` against a plain-socket ping-pong, both a
//! closed loop over multicast on the same veth pair, in the same run.

use std::fmt::Write as _;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

use crate::netns::Finished;
use crate::perf::report::{thousands, Outcome};
use crate::perf::rows::{Bench, Side};

/// The group and port of the ping rows (apart from the throughput rows').
const PING_GROUP: &str = "239.77.0.2";
const PING_PORT: &str = "5002";
/// One probe per millisecond, as the targets say.
pub(crate) const INTERVAL_US: u64 = 1000;
/// How many probes a full run sends, and a quick one.
pub(crate) const PROBES: u64 = 10_000;
pub(crate) const PROBES_QUICK: u64 = 500;
/// The round-trip comparison runs the two tools in this many alternating blocks (each of
/// `probes / BLOCKS` probes), so that both meet the same moments of a busy machine.
pub(crate) const BLOCKS: u64 = 5;

/// What one side of the comparison measured.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct PingResult {
    pub(crate) sent: u64,
    pub(crate) received: u64,
    /// Round trips in µs: min, p50, p90, p99, max.
    pub(crate) rtt_us: [f64; 5],
    /// Wall time of the prober, start to exit.
    pub(crate) elapsed_s: f64,
}

impl PingResult {
    fn lost(&self) -> u64 {
        self.sent.saturating_sub(self.received)
    }
}

/// Both sides.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct PingRun {
    pub(crate) probes: u64,
    /// How many alternating blocks the comparison ran in.
    pub(crate) blocks: u64,
    /// The ping-pong over the blocks (see [`combine`]).
    pub(crate) plain: Outcome<PingResult>,
    /// `mcast ping` over the blocks.
    pub(crate) mcast: Outcome<PingResult>,
    /// One `mcast ping` of all `probes` in one go: loss and time.
    pub(crate) full: Outcome<PingResult>,
}

/// The blocks of one tool as one result: counts and times added up, min and max over all,
/// and p50, p90 and p99 the median of the blocks' own (one slow moment moves one block).
pub(crate) fn combine(blocks: &[PingResult]) -> Option<PingResult> {
    let first = blocks.first()?;
    let median = |i: usize| {
        let mut v: Vec<f64> = blocks.iter().map(|b| b.rtt_us[i]).collect();
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    Some(PingResult {
        sent: blocks.iter().map(|b| b.sent).sum(),
        received: blocks.iter().map(|b| b.received).sum(),
        rtt_us: [
            blocks
                .iter()
                .map(|b| b.rtt_us[0])
                .fold(first.rtt_us[0], f64::min),
            median(1),
            median(2),
            median(3),
            blocks
                .iter()
                .map(|b| b.rtt_us[4])
                .fold(first.rtt_us[4], f64::max),
        ],
        elapsed_s: blocks.iter().map(|b| b.elapsed_s).sum(),
    })
}

/// Runs the comparison in alternating blocks, then one full `mcast ping` (`mcast` false: the
/// mcast rows are not run, for `why`).
pub(crate) fn measure(bench: &Bench<'_>, probes: u64, mcast: Result<(), String>) -> PingRun {
    let block = (probes / BLOCKS).max(1);
    let mut plain = Vec::new();
    let mut ours = Vec::new();
    let mut failure: [Option<String>; 2] = [None, None];
    for _ in 0..BLOCKS {
        match bench.ping_plain(block) {
            Ok(r) => plain.push(r),
            Err(e) => failure[0] = Some(format!("{e:#}")),
        }
        if mcast.is_ok() {
            match bench.ping_mcast(block) {
                Ok(r) => ours.push(r),
                Err(e) => failure[1] = Some(format!("{e:#}")),
            }
        }
    }
    let settle =
        |results: &[PingResult], failure: &Option<String>| match (failure, combine(results)) {
            (Some(e), _) => Outcome::Failed(e.clone()),
            (None, Some(r)) => Outcome::Done(r),
            (None, None) => Outcome::Failed("no block ran".into()),
        };
    match mcast {
        Ok(()) => PingRun {
            probes,
            blocks: BLOCKS,
            plain: settle(&plain, &failure[0]),
            mcast: settle(&ours, &failure[1]),
            full: match bench.ping_mcast(probes) {
                Ok(r) => Outcome::Done(r),
                Err(e) => Outcome::Failed(format!("{e:#}")),
            },
        },
        Err(why) => PingRun {
            probes,
            blocks: BLOCKS,
            plain: settle(&plain, &failure[0]),
            mcast: Outcome::NotRun(why.clone()),
            full: Outcome::NotRun(why),
        },
    }
}

/// p50 and p99 of `mcast ping` must each be at most this share of the ping-pong's.
const MAX_RTT_RATIO: f64 = 0.8;

fn rtt_of(v: &serde_json::Value) -> Option<[f64; 5]> {
    let r = v.get("rtt_us")?;
    let f = |k: &str| r.get(k).and_then(serde_json::Value::as_f64);
    Some([f("min")?, f("p50")?, f("p90")?, f("p99")?, f("max")?])
}

/// Reads the plain ping-pong's JSON line.
pub(crate) fn parse_plain(run: &Finished, elapsed_s: f64) -> Result<PingResult> {
    for line in run.output() {
        let Ok(v) = serde_json::from_str::<serde_json::Value>(line) else {
            continue;
        };
        if let (Some(sent), Some(received), Some(rtt)) = (
            v.get("sent").and_then(serde_json::Value::as_u64),
            v.get("received").and_then(serde_json::Value::as_u64),
            rtt_of(&v),
        ) {
            return Ok(PingResult {
                sent,
                received,
                rtt_us: rtt,
                elapsed_s,
            });
        }
    }
    bail!("`{}` printed no result line: {:?}", run.display, run.lines)
}

/// Reads `mcast ping --json`'s end record: the figures of the one peer, `peer`.
pub(crate) fn parse_mcast(run: &Finished, peer: &str, elapsed_s: f64) -> Result<PingResult> {
    for line in run.output() {
        let Ok(v) = serde_json::from_str::<serde_json::Value>(line) else {
            continue;
        };
        if v["type"] != "end" {
            continue;
        }
        let p = &v["data"]["peers"][peer];
        let sent = p["sent"].as_u64().context("no `sent` for the peer")?;
        let received = p["received"]
            .as_u64()
            .context("no `received` for the peer")?;
        let rtt = rtt_of(p).context("no `rtt_us` for the peer")?;
        return Ok(PingResult {
            sent,
            received,
            rtt_us: rtt,
            elapsed_s,
        });
    }
    bail!("`{}` printed no end record: {:?}", run.display, run.lines)
}

impl Bench<'_> {
    /// The plain ping-pong: our C program, blocking in recv(2) on both sides.
    pub(crate) fn ping_plain(&self, probes: u64) -> Result<PingResult> {
        let seconds = (probes as f64 * INTERVAL_US as f64 / 1e6 + 10.0).to_string();
        let server = self.start_receiver(
            &self.c.pingpong,
            "pingpong",
            &[
                "server".into(),
                PING_GROUP.into(),
                PING_PORT.into(),
                self.addr(Side::Receiver)?,
                seconds,
            ],
        )?;
        let started = Instant::now();
        let client = self
            .spawn(
                Side::Sender,
                &self.c.pingpong,
                "pingpong",
                &[
                    "client".into(),
                    PING_GROUP.into(),
                    PING_PORT.into(),
                    self.addr(Side::Sender)?,
                    probes.to_string(),
                    INTERVAL_US.to_string(),
                ],
            )?
            .finish(Duration::from_millis(probes * 2) + Duration::from_secs(10))?;
        let elapsed = started.elapsed().as_secs_f64();
        let _ = server.finish(Duration::ZERO);
        crate::perf::parse::check_exit(&client)?;
        parse_plain(&client, elapsed)
    }

    /// `mcast ping` probing a `mcast ping --responder --busy-poll`. Only the responder spins:
    /// the prober takes each answer's arrival from the kernel's receive timestamp, so its
    /// wake-up is not in the round trip, and a second spinning process on a two-core machine
    /// leaves no core for the kernel's own work (the round trips' tail grew tenfold with it).
    pub(crate) fn ping_mcast(&self, probes: u64) -> Result<PingResult> {
        let responder = self.start_receiver(
            self.mcast,
            "mcast",
            &[
                "ping".into(),
                PING_GROUP.into(),
                PING_PORT.into(),
                "-i".into(),
                self.addr(Side::Receiver)?,
                "--responder".into(),
                "--busy-poll".into(),
            ],
        )?;
        let started = Instant::now();
        let prober = self
            .spawn(
                Side::Sender,
                self.mcast,
                "mcast",
                &[
                    "ping".into(),
                    PING_GROUP.into(),
                    PING_PORT.into(),
                    "-i".into(),
                    self.addr(Side::Sender)?,
                    "-c".into(),
                    probes.to_string(),
                    "--interval".into(),
                    format!("{INTERVAL_US}us"),
                    "--json".into(),
                ],
            )?
            .finish(Duration::from_millis(probes * 2) + Duration::from_secs(10))?;
        let elapsed = started.elapsed().as_secs_f64();
        let _ = responder.finish(Duration::ZERO);
        crate::perf::parse::check_exit(&prober)?;
        parse_mcast(&prober, &self.addr(Side::Receiver)?, elapsed)
    }
}

/// The ping section of BENCHMARKS.md: the two rows, and the targets judged.
pub(crate) fn render(run: &PingRun) -> String {
    let mut md = format!(
        "\n## Ping: {} probes at {} ms, closed loop over multicast\n\n\
         The two tools ran in {} alternating blocks of {} probes; sent and lost are summed, min \
         and max are over all blocks, and p50, p90 and p99 are the median of the blocks' own.\n\n",
        thousands(run.probes),
        INTERVAL_US as f64 / 1000.0,
        run.blocks,
        thousands(run.probes / run.blocks.max(1))
    );
    md.push_str("| tool | sent | lost | rtt µs min | p50 | p90 | p99 | max | time s |\n");
    md.push_str("|---|---:|---:|---:|---:|---:|---:|---:|---:|\n");
    let full = format!(
        "mcast ping (responder --busy-poll), {} probes in one run",
        thousands(run.probes)
    );
    for (name, outcome) in [
        ("plain-socket ping-pong (C, blocking recv)", &run.plain),
        ("mcast ping (responder --busy-poll)", &run.mcast),
        (full.as_str(), &run.full),
    ] {
        match outcome {
            Outcome::Done(r) => {
                let _ = writeln!(
                    md,
                    "| {name} | {} | {} | {:.1} | {:.1} | {:.1} | {:.1} | {:.1} | {:.1} |",
                    thousands(r.sent),
                    thousands(r.lost()),
                    r.rtt_us[0],
                    r.rtt_us[1],
                    r.rtt_us[2],
                    r.rtt_us[3],
                    r.rtt_us[4],
                    r.elapsed_s
                );
            }
            other => {
                let _ = writeln!(md, "| {name} | {} | | | | | | | |", other.placeholder());
            }
        }
    }
    md.push_str("\nTargets:\n\n");
    for (verdict, claim) in targets(run) {
        let _ = writeln!(md, "- **{verdict}** {claim}");
    }
    md.push_str(
        "\nmcast ping answers each probe twice (by multicast and by unicast); the round trips \
         above are the multicast ones. The responder runs with --busy-poll: it spins on \
         non-blocking receives instead of sleeping, which saves a process wake-up on the way \
         back. The prober sleeps: it takes an answer's arrival from the kernel's receive \
         timestamp (`SO_TIMESTAMPNS`, as ping(8) does), so its own wake-up is not counted, and \
         on a two-core machine a second spinning process leaves no core for the kernel's own \
         work (with both ends spinning, p99 was 0.2 to 2.7 ms instead of about 0.1 ms). The \
         ping-pong is what a plain program does: blocking receives, times read after waking \
         up.\n",
    );
    md
}

/// The ping targets, each as (verdict, claim with the measured value).
pub(crate) fn targets(run: &PingRun) -> Vec<(&'static str, String)> {
    let (Outcome::Done(plain), Outcome::Done(mcast), Outcome::Done(full)) =
        (&run.plain, &run.mcast, &run.full)
    else {
        return vec![(
            "not run",
            "mcast ping against the plain ping-pong: a side has no numbers".into(),
        )];
    };
    let verdict = |ok: bool| if ok { "PASS" } else { "MISS" };
    let mut out = Vec::new();
    for (name, i) in [("p50", 1), ("p99", 3)] {
        let ratio = mcast.rtt_us[i] / plain.rtt_us[i];
        out.push((
            verdict(ratio <= MAX_RTT_RATIO),
            format!(
                "{name} round trip ≤ {MAX_RTT_RATIO}× the ping-pong's: {:.1} µs against {:.1} µs ({ratio:.2}×)",
                mcast.rtt_us[i], plain.rtt_us[i]
            ),
        ));
    }
    out.push((
        verdict(full.lost() == 0 && full.sent >= 5_000.min(run.probes)),
        format!(
            "0 lost over at least {} probes in one run: {} lost of {}",
            thousands(5_000.min(run.probes)),
            thousands(full.lost()),
            thousands(full.sent)
        ),
    ));
    let expected_s = run.probes as f64 * INTERVAL_US as f64 / 1e6;
    out.push((
        verdict(full.elapsed_s <= expected_s * 1.2 + 2.0),
        format!(
            "{} probes at 1 ms finish in about {expected_s:.0} s: {:.1} s (the last answers' timeout and start-up included)",
            thousands(run.probes),
            full.elapsed_s
        ),
    ));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_combine_by_sum_extremes_and_median() {
        let blocks = [
            result(100, 100, 20.0, 90.0, 1.0),
            result(100, 99, 22.0, 400.0, 1.0),
            result(100, 100, 21.0, 80.0, 1.0),
        ];
        let c = combine(&blocks).unwrap();
        assert_eq!((c.sent, c.received), (300, 299));
        assert_eq!(c.rtt_us[1], 21.0);
        assert_eq!(c.rtt_us[3], 90.0, "one slow block moves the median little");
        assert_eq!(c.rtt_us[0], 10.0);
        assert_eq!(c.rtt_us[4], 800.0);
        assert_eq!(c.elapsed_s, 3.0);
        assert!(combine(&[]).is_none());
    }

    fn result(sent: u64, received: u64, p50: f64, p99: f64, elapsed_s: f64) -> PingResult {
        PingResult {
            sent,
            received,
            rtt_us: [p50 / 2.0, p50, p99 / 2.0, p99, p99 * 2.0],
            elapsed_s,
        }
    }

    #[test]
    fn targets_compare_within_the_run() {
        let run = PingRun {
            probes: 10_000,
            blocks: 5,
            plain: Outcome::Done(result(10_000, 10_000, 80.0, 300.0, 12.0)),
            mcast: Outcome::Done(result(10_000, 10_000, 30.0, 250.0, 11.1)),
            full: Outcome::Done(result(10_000, 10_000, 30.0, 250.0, 11.1)),
        };
        let t = targets(&run);
        assert_eq!(t[0].0, "PASS", "{t:?}");
        assert_eq!(t[1].0, "MISS", "250 > 0.8 × 300: {t:?}");
        assert_eq!(t[2].0, "PASS");
        assert_eq!(t[3].0, "PASS");
        let md = render(&run);
        assert!(
            md.contains("| mcast ping (responder --busy-poll) | 10,000 | 0 | 15.0 | 30.0 |"),
            "{md}"
        );
        assert!(md.contains("(0.38×)"), "{md}");
        let lossy = PingRun {
            full: Outcome::Done(result(10_000, 9_999, 30.0, 100.0, 30.0)),
            ..run
        };
        let t = targets(&lossy);
        assert_eq!((t[2].0, t[3].0), ("MISS", "MISS"), "{t:?}");
    }
}
