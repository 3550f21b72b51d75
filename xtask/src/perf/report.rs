//! What `cargo xtask perf` measured, mcast's performance targets judged against it, and BENCHMARKS.md.
//!
//! Everything here is plain data and text, so the table and the verdicts are tested from fixed
//! numbers without root or a lab.

use std::fmt::Write as _;

/// mcast's send paths (`mcast perf send --io …`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Io {
    /// One `sendto` per datagram.
    Single,
    /// `sendmmsg`, many datagrams per call.
    Mmsg,
    /// `UDP_SEGMENT`: one large send the kernel cuts into datagrams.
    Gso,
}

impl Io {
    /// Every path, in the order the rows run.
    pub(crate) const ALL: [Io; 3] = [Io::Single, Io::Mmsg, Io::Gso];

    /// The value of `--io`.
    pub(crate) fn arg(self) -> &'static str {
        match self {
            Self::Single => "single",
            Self::Mmsg => "mmsg",
            Self::Gso => "gso",
        }
    }
}

/// Who sent and who counted one row.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    /// Our C `sendto` loop, counted by the C counter.
    Baseline,
    /// iperf2's client, counted by the C counter.
    Iperf,
    /// `mcast perf send --rate max --io …`, counted by the C counter.
    Mcast(Io),
    /// `mcast perf send --io gso --rate max`, counted by `mcast perf recv`.
    McastRecv,
    /// The same with `--key-file` on both ends: every datagram signed and verified.
    McastRecvAuth,
    /// `mcast perf send --rate N`, counted by `mcast perf recv --report 1s`.
    Paced,
}

impl Kind {
    /// The first column of the table.
    pub(crate) fn label(self) -> String {
        match self {
            Self::Baseline => "baseline: C sendto loop".into(),
            Self::Iperf => "iperf2 -u -b 10G".into(),
            Self::Mcast(io) => format!("mcast perf send --io {}", io.arg()),
            Self::McastRecv => "mcast perf send --io gso → mcast perf recv".into(),
            Self::McastRecvAuth => {
                "mcast perf send --io gso --key-file → mcast perf recv --key-file".into()
            }
            Self::Paced => "mcast perf send --rate 20000 → mcast perf recv".into(),
        }
    }

    /// Whether the C counter (rather than `mcast perf recv`) counted the row.
    fn counted_by_c(self) -> bool {
        matches!(self, Self::Baseline | Self::Iperf | Self::Mcast(_))
    }
}

/// Counts of one row: what the sender says it sent and what the receiver counted.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct Count {
    /// Datagrams the sender reported as sent.
    pub(crate) sent: u64,
    /// Datagrams the receiver counted.
    pub(crate) received: u64,
    /// UDP payload bytes the receiver counted.
    pub(crate) bytes: u64,
    /// The receiving socket's own kernel drops (a full receive buffer).
    pub(crate) drops: u64,
    /// The receiver's time from its first to its last datagram, in seconds.
    pub(crate) seconds: f64,
}

impl Count {
    /// The share of sent datagrams that did not arrive, in percent (0 when more arrived).
    pub(crate) fn loss_pct(&self) -> f64 {
        if self.sent == 0 {
            return 0.0;
        }
        self.sent.saturating_sub(self.received) as f64 * 100.0 / self.sent as f64
    }

    /// The share of sent datagrams that arrived, in percent.
    pub(crate) fn received_pct(&self) -> f64 {
        100.0 - self.loss_pct()
    }

    /// Received datagrams per second.
    pub(crate) fn rate(&self) -> f64 {
        per_second(self.received as f64, self.seconds)
    }

    /// Received UDP payload in Mbit/s.
    pub(crate) fn mbit_s(&self) -> f64 {
        per_second(self.bytes as f64 * 8.0 / 1e6, self.seconds)
    }
}

fn per_second(amount: f64, seconds: f64) -> f64 {
    if seconds > 0.0 {
        amount / seconds
    } else {
        0.0
    }
}

/// How one measurement ended.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Outcome<T> {
    /// It ran and produced numbers.
    Done(T),
    /// It was not attempted, for the reason given (`mcast perf` missing, say).
    NotRun(String),
    /// It ran and failed, for the reason given.
    Failed(String),
}

impl<T> Outcome<T> {
    /// The numbers, when there are some.
    pub(crate) fn done(&self) -> Option<&T> {
        match self {
            Self::Done(t) => Some(t),
            _ => None,
        }
    }

    /// What the table shows instead of numbers.
    pub(crate) fn placeholder(&self) -> &'static str {
        match self {
            Self::Done(_) => "",
            Self::NotRun(_) => "not run",
            Self::Failed(_) => "failed",
        }
    }

    /// Why there are no numbers.
    fn reason(&self) -> Option<&str> {
        match self {
            Self::Done(_) => None,
            Self::NotRun(why) | Self::Failed(why) => Some(why),
        }
    }
}

/// One line of the table.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Row {
    /// Who sent and who counted.
    pub(crate) kind: Kind,
    /// The UDP payload size in bytes.
    pub(crate) size: usize,
    /// The counts, or why there are none.
    pub(crate) outcome: Outcome<Count>,
}

/// The paced run: its counts and the per-second rates `mcast perf recv --report 1s` printed.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Pacing {
    /// The counts over the whole run.
    pub(crate) count: Count,
    /// The report intervals that lasted a full second, as datagrams per second.
    pub(crate) per_second: Vec<f64>,
}

/// The paced row: what was asked for and what came of it.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct PacedRun {
    /// `--rate`, in datagrams per second.
    pub(crate) rate: u64,
    /// `--duration`, in whole seconds.
    pub(crate) seconds: u64,
    /// `--size`.
    pub(crate) size: usize,
    /// The counts and rates, or why there are none.
    pub(crate) outcome: Outcome<Pacing>,
}

impl PacedRun {
    /// The datagrams the run should deliver.
    pub(crate) fn expected(&self) -> u64 {
        self.rate * self.seconds
    }

    /// The largest deviation of a full second's rate from `--rate`, in percent.
    pub(crate) fn worst_deviation_pct(pacing: &Pacing, rate: u64) -> Option<f64> {
        pacing
            .per_second
            .iter()
            .map(|r| (r - rate as f64).abs() * 100.0 / rate as f64)
            .max_by(f64::total_cmp)
    }
}

/// Where and how the run happened.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Setup {
    /// When the run started (UTC).
    pub(crate) date: String,
    /// The number of cores and the CPU model.
    pub(crate) machine: String,
    /// `uname -r`.
    pub(crate) kernel: String,
    /// The command line that produced the report.
    pub(crate) command: String,
    /// How long each throughput row sent, in seconds.
    pub(crate) row_seconds: f64,
    /// Where the sender and the receiver ran (`core 0` / `core 1`, or why they share one).
    pub(crate) pinning: String,
}

/// Everything BENCHMARKS.md shows.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Report {
    pub(crate) setup: Setup,
    pub(crate) rows: Vec<Row>,
    /// The paced row, when it was part of the run.
    pub(crate) paced: Option<PacedRun>,
    /// The ping rows, when they were part of the run.
    pub(crate) ping: Option<crate::perf::ping::PingRun>,
}

/// Whether a target was met.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Verdict {
    Pass,
    Miss,
    /// A row the target needs has no numbers.
    NotRun,
}

impl Verdict {
    fn of(met: bool) -> Self {
        if met {
            Self::Pass
        } else {
            Self::Miss
        }
    }

    fn word(self) -> &'static str {
        match self {
            Self::Pass => "PASS",
            Self::Miss => "MISS",
            Self::NotRun => "not run",
        }
    }
}

/// One of mcast's performance targets with what was measured for it.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Target {
    /// The target in words.
    pub(crate) claim: String,
    /// The measured value in words (empty when not run).
    pub(crate) measured: String,
    pub(crate) verdict: Verdict,
}

/// The throughput bar: mcast at `--rate max` against the baseline and iperf2.
const MIN_RATIO: f64 = 4.0;
/// The largest loss, in percent, a `--rate max` mcast row may have.
const MAX_LOSS_PCT: f64 = 0.1;
/// The share `mcast perf recv` must receive from a GSO sender, in percent.
const MIN_RECEIVED_PCT: f64 = 99.9;
/// How far, in percent, each paced second may be from the rate asked for.
const MAX_DEVIATION_PCT: f64 = 0.5;

impl Report {
    fn row(&self, kind: Kind, size: usize) -> Option<&Row> {
        self.rows.iter().find(|r| r.kind == kind && r.size == size)
    }

    fn count(&self, kind: Kind, size: usize) -> Option<&Count> {
        self.row(kind, size).and_then(|r| r.outcome.done())
    }

    /// The baseline's received datagrams/s at `size`.
    fn baseline_rate(&self, size: usize) -> Option<f64> {
        self.count(Kind::Baseline, size)
            .map(Count::rate)
            .filter(|r| *r > 0.0)
    }

    /// The fastest mcast send path (by received datagrams/s) at `size`.
    fn best_mcast(&self, size: usize) -> Option<(Io, &Count)> {
        Io::ALL
            .iter()
            .filter_map(|&io| Some((io, self.count(Kind::Mcast(io), size)?)))
            .max_by(|a, b| a.1.rate().total_cmp(&b.1.rate()))
    }

    /// The sizes the throughput rows ran at, in order.
    fn sizes(&self) -> Vec<usize> {
        let mut sizes: Vec<usize> = self.rows.iter().map(|r| r.size).collect();
        sizes.sort_unstable();
        sizes.dedup();
        sizes
    }

    /// Every performance target, judged.
    pub(crate) fn targets(&self) -> Vec<Target> {
        let mut targets = Vec::new();
        let not_run = |claim: String| Target {
            claim,
            measured: String::new(),
            verdict: Verdict::NotRun,
        };
        for size in self.sizes() {
            let best = self.best_mcast(size);
            let mut against = vec![("the baseline", self.baseline_rate(size))];
            if size <= 64 {
                let iperf = self.count(Kind::Iperf, size).map(Count::rate);
                against.push(("iperf2", iperf.filter(|r| *r > 0.0)));
            }
            for (name, rate) in against {
                let claim = format!(
                    "{size} B, --rate max: mcast ≥ {MIN_RATIO}× {name}'s received datagrams/s"
                );
                targets.push(match (best, rate) {
                    (Some((io, count)), Some(rate)) => {
                        let ratio = count.rate() / rate;
                        Target {
                            claim,
                            measured: format!("{ratio:.2}× (--io {})", io.arg()),
                            verdict: Verdict::of(ratio >= MIN_RATIO),
                        }
                    }
                    _ => not_run(claim),
                });
            }
            let claim = format!("{size} B, --rate max: mcast loss ≤ {MAX_LOSS_PCT}%");
            targets.push(match best {
                Some((io, count)) => Target {
                    claim,
                    measured: format!("{:.3}% (--io {})", count.loss_pct(), io.arg()),
                    verdict: Verdict::of(count.loss_pct() <= MAX_LOSS_PCT),
                },
                None => not_run(claim),
            });
            let claim = format!(
                "{size} B: mcast perf recv keeps up with a GSO sender: ≥ {MIN_RECEIVED_PCT}% received"
            );
            targets.push(match self.count(Kind::McastRecv, size) {
                Some(count) => Target {
                    claim,
                    measured: format!(
                        "{:.3}% received, {} host drops",
                        count.received_pct(),
                        thousands(count.drops)
                    ),
                    verdict: Verdict::of(count.received_pct() >= MIN_RECEIVED_PCT),
                },
                None => not_run(claim),
            });
        }
        if let Some(paced) = &self.paced {
            let expected = paced.expected();
            let total_claim = format!(
                "--rate {} --duration {}: {} datagrams received",
                paced.rate,
                paced.seconds,
                thousands(expected)
            );
            let second_claim = format!(
                "--rate {}: each second within {MAX_DEVIATION_PCT}% of {}",
                paced.rate,
                thousands(paced.rate)
            );
            match paced.outcome.done() {
                Some(pacing) => {
                    targets.push(Target {
                        claim: total_claim,
                        measured: thousands(pacing.count.received),
                        verdict: Verdict::of(pacing.count.received == expected),
                    });
                    targets.push(match PacedRun::worst_deviation_pct(pacing, paced.rate) {
                        Some(worst) => Target {
                            claim: second_claim,
                            measured: format!(
                                "worst {worst:.2}% over {} full second{}",
                                pacing.per_second.len(),
                                if pacing.per_second.len() == 1 {
                                    ""
                                } else {
                                    "s"
                                }
                            ),
                            verdict: Verdict::of(worst <= MAX_DEVIATION_PCT),
                        },
                        None => Target {
                            claim: second_claim,
                            measured: "no full second was reported".into(),
                            verdict: Verdict::Miss,
                        },
                    });
                }
                None => {
                    targets.push(not_run(total_claim));
                    targets.push(not_run(second_claim));
                }
            }
        }
        targets
    }

    /// BENCHMARKS.md.
    pub(crate) fn render(&self) -> String {
        let s = &self.setup;
        let mut md = String::from("# Benchmarks\n\n");
        md.push_str(
            "Multicast throughput on a two-namespace veth lab (sender 10.77.0.1 → receiver \
             10.77.0.2, group 239.77.0.1:5001, TTL 1, every socket pinned to the veth).\n\n",
        );
        let _ = writeln!(md, "- date: {}", s.date);
        let _ = writeln!(md, "- machine: {}", s.machine);
        let _ = writeln!(md, "- kernel: {}", s.kernel);
        let _ = writeln!(md, "- command: `{}`", s.command);
        let _ = writeln!(
            md,
            "- each --rate max row sends for {} s; {}",
            trim_float(s.row_seconds),
            s.pinning
        );
        md.push('\n');
        md.push_str(&self.table());
        md.push_str("\n## Targets\n\n");
        for t in self.targets() {
            let measured = if t.measured.is_empty() {
                String::new()
            } else {
                format!(": {}", t.measured)
            };
            let _ = writeln!(md, "- **{}** {}{measured}", t.verdict.word(), t.claim);
        }
        md.push_str(&self.auth_cost());
        if let Some(paced) = &self.paced {
            let _ = writeln!(
                md,
                "\n## Pacing: --rate {} --duration {}\n",
                paced.rate, paced.seconds
            );
            match &paced.outcome {
                Outcome::Done(p) => {
                    let rates: Vec<String> = p
                        .per_second
                        .iter()
                        .map(|r| thousands(r.round() as u64))
                        .collect();
                    let _ = writeln!(
                        md,
                        "Datagrams/s in each full second of `mcast perf recv --report 1s`: {}; \
                         total {} of {}.",
                        if rates.is_empty() {
                            "none".into()
                        } else {
                            rates.join(", ")
                        },
                        thousands(p.count.received),
                        thousands(paced.expected())
                    );
                }
                other => {
                    let _ = writeln!(md, "{}.", other.placeholder());
                }
            }
        }
        if let Some(ping) = &self.ping {
            md.push_str(&crate::perf::ping::render(ping));
        }
        md.push_str("\n## Notes\n\n");
        md.push_str(
            "- Absolute numbers vary between machines (and between runs on a busy one); only the \
             ratios within one run compare.\n\
             - size is the UDP payload. received dgram/s and Mbit/s (UDP payload) are over the \
             receiver's time from its first to its last datagram. loss % = (sent − received) / \
             sent; host drops are the receiving socket's kernel drops (a full receive buffer), \
             part of the loss.\n\
             - The C counter (`xtask/perf/recvmmsg_count.c`: recvmmsg, 64 per call, UDP_GRO, a 64 MiB \
             receive buffer) counts the baseline, iperf2 and `mcast perf send` rows; the rows \
             ending in `→ mcast perf recv` use that receiver's own summary.\n\
             - Both receivers ask for UDP GRO (`UDP_GRO`), as a fast receiver would: a GSO \
             sender's batch then crosses the veth and reaches the socket as one buffer, which \
             the receiver cuts back into datagrams, instead of the kernel cutting it up for the \
             socket. Senders without GSO (the baseline, iperf2, --io single/mmsg) are not \
             affected. With GRO the kernel counts a dropped coalesced run as one host drop.\n\
             - The baseline is `xtask/perf/sendto_loop.c`: one sendto(2) per datagram in a loop.\n\
             - The C counter counts every datagram to the group, so a sender's closing datagrams \
             (mcast's end-of-session frames, iperf2's last one) can make received differ from \
             sent by a few.\n",
        );
        for line in self.reasons() {
            let _ = writeln!(md, "- {line}");
        }
        md
    }

    /// The cost of authentication: at each size, the received datagrams/s of the `--key-file`
    /// row against the same row without a key, from this run; empty when no such row ran.
    fn auth_cost(&self) -> String {
        let sizes: Vec<usize> = self
            .sizes()
            .into_iter()
            .filter(|&size| self.row(Kind::McastRecvAuth, size).is_some())
            .collect();
        if sizes.is_empty() {
            return String::new();
        }
        let mut md = String::from(
            "\n## Authentication\n\n`--key-file` on both ends: the sender signs every datagram \
             (HMAC-SHA256, 16-byte tag, inside the same --size), the receiver verifies each one \
             and checks its replay window before counting it. Received datagrams/s with a key \
             against the same row without one, in this run:\n\n",
        );
        for size in sizes {
            let line = match (
                self.count(Kind::McastRecvAuth, size),
                self.count(Kind::McastRecv, size),
            ) {
                (Some(auth), Some(plain)) if plain.rate() > 0.0 => {
                    let ratio = auth.rate() / plain.rate();
                    format!(
                        "{} against {} dgram/s: {ratio:.2}× ({:.0}% fewer), {:.3}% received",
                        thousands(auth.rate().round() as u64),
                        thousands(plain.rate().round() as u64),
                        (1.0 - ratio) * 100.0,
                        auth.received_pct()
                    )
                }
                (auth, _) => format!(
                    "not measured ({})",
                    if auth.is_none() {
                        "the row with a key has no numbers"
                    } else {
                        "the row without a key has no numbers"
                    }
                ),
            };
            let _ = writeln!(md, "- {size} B: {line}");
        }
        md
    }

    /// Why rows have no numbers, one line per reason: rows that share one (`mcast perf` missing,
    /// say) are counted rather than listed.
    fn reasons(&self) -> Vec<String> {
        let mut rows: Vec<(String, &'static str, &str)> = self
            .rows
            .iter()
            .filter_map(|r| {
                let what = format!("{} {} B", r.kind.label(), r.size);
                Some((what, r.outcome.placeholder(), r.outcome.reason()?))
            })
            .collect();
        if let Some(paced) = &self.paced {
            if let Some(why) = paced.outcome.reason() {
                rows.push((Kind::Paced.label(), paced.outcome.placeholder(), why));
            }
        }
        let mut lines = Vec::new();
        let mut seen: Vec<(&str, &str)> = Vec::new();
        for (what, placeholder, why) in &rows {
            if seen.contains(&(placeholder, why)) {
                continue;
            }
            seen.push((placeholder, why));
            let same = rows
                .iter()
                .filter(|(_, p, w)| (p, w) == (placeholder, why))
                .count();
            lines.push(if same == 1 {
                format!("{what}: {why}")
            } else {
                format!("{same} rows {placeholder}: {why}")
            });
        }
        lines
    }

    /// The Markdown table, one line per row and the paced row last.
    fn table(&self) -> String {
        let mut md = String::from(
            "| tool / path | size | counted by | sent | received | loss % | host drops | received dgram/s | Mbit/s | × baseline |\n\
             |---|---:|---|---:|---:|---:|---:|---:|---:|---:|\n",
        );
        let mut lines: Vec<(Kind, usize, Option<&Count>, &'static str)> = self
            .rows
            .iter()
            .map(|r| (r.kind, r.size, r.outcome.done(), r.outcome.placeholder()))
            .collect();
        if let Some(paced) = &self.paced {
            lines.push((
                Kind::Paced,
                paced.size,
                paced.outcome.done().map(|p| &p.count),
                paced.outcome.placeholder(),
            ));
        }
        for (kind, size, count, placeholder) in lines {
            let counter = if kind.counted_by_c() {
                "C counter"
            } else {
                "mcast perf recv"
            };
            let cells = match count {
                Some(c) => {
                    // A paced row is not a throughput measurement: no ratio.
                    let ratio = match (kind, self.baseline_rate(size)) {
                        (Kind::Paced, _) | (_, None) => "–".to_owned(),
                        (_, Some(base)) => format!("{:.2}×", c.rate() / base),
                    };
                    [
                        thousands(c.sent),
                        thousands(c.received),
                        format!("{:.3}", c.loss_pct()),
                        thousands(c.drops),
                        thousands(c.rate().round() as u64),
                        format!("{:.1}", c.mbit_s()),
                        ratio,
                    ]
                }
                None => {
                    let mut cells: [String; 7] = std::array::from_fn(|_| "–".to_owned());
                    cells[0] = placeholder.to_owned();
                    cells
                }
            };
            let _ = writeln!(
                md,
                "| {} | {size} B | {counter} | {} |",
                kind.label(),
                cells.join(" | ")
            );
        }
        md
    }
}

/// `1234567` as `1,234,567`.
pub(crate) fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// `3.0` as `3`, `0.5` as `0.5`.
fn trim_float(x: f64) -> String {
    let s = format!("{x:.3}");
    s.trim_end_matches('0').trim_end_matches('.').to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn count(sent: u64, received: u64, drops: u64, size: u64) -> Count {
        Count {
            sent,
            received,
            bytes: received * size,
            drops,
            seconds: 2.0,
        }
    }

    fn row(kind: Kind, size: usize, outcome: Outcome<Count>) -> Row {
        Row {
            kind,
            size,
            outcome,
        }
    }

    /// A run with fixed numbers: mcast's gso path is fastest at both sizes, 5× the baseline at
    /// 64 B but under 4× iperf2 and over the loss bar at 1400 B; the mmsg row failed.
    fn report() -> Report {
        let done = Outcome::Done;
        Report {
            setup: Setup {
                date: "2025-01-02 03:04:05 UTC".into(),
                machine: "2 cores, Test CPU".into(),
                kernel: "6.1.0".into(),
                command: "cargo xtask perf --duration 2s".into(),
                row_seconds: 2.0,
                pinning: "sender on core 0, receiver on core 1".into(),
            },
            rows: vec![
                row(Kind::Baseline, 64, done(count(400_000, 400_000, 0, 64))),
                row(Kind::Iperf, 64, done(count(500_000, 499_999, 0, 64))),
                row(
                    Kind::Mcast(Io::Single),
                    64,
                    done(count(420_000, 420_000, 0, 64)),
                ),
                row(
                    Kind::Mcast(Io::Mmsg),
                    64,
                    Outcome::Failed("exit 1: boom".into()),
                ),
                row(
                    Kind::Mcast(Io::Gso),
                    64,
                    done(count(2_000_000, 2_000_000, 0, 64)),
                ),
                row(
                    Kind::McastRecv,
                    64,
                    done(count(2_000_000, 1_999_000, 1_000, 64)),
                ),
                row(
                    Kind::McastRecvAuth,
                    64,
                    done(count(500_000, 500_000, 0, 64)),
                ),
                row(Kind::Baseline, 1400, done(count(300_000, 300_000, 0, 1400))),
                row(Kind::Iperf, 1400, done(count(310_000, 310_000, 0, 1400))),
                row(
                    Kind::Mcast(Io::Gso),
                    1400,
                    done(count(1_300_000, 1_290_000, 10_000, 1400)),
                ),
                row(
                    Kind::McastRecv,
                    1400,
                    Outcome::NotRun("no `mcast perf`".into()),
                ),
                row(
                    Kind::McastRecvAuth,
                    1400,
                    done(count(400_000, 400_000, 0, 1400)),
                ),
            ],
            paced: Some(PacedRun {
                rate: 20_000,
                seconds: 5,
                size: 1400,
                outcome: Outcome::Done(Pacing {
                    count: Count {
                        sent: 100_000,
                        received: 100_000,
                        bytes: 140_000_000,
                        drops: 0,
                        seconds: 5.0,
                    },
                    per_second: vec![20_010.0, 19_950.0, 20_000.0, 20_040.0],
                }),
            }),
            ping: None,
        }
    }

    #[test]
    fn thousands_groups_digits() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1000), "1,000");
        assert_eq!(thousands(100_000), "100,000");
        assert_eq!(thousands(1_234_567), "1,234,567");
    }

    #[test]
    fn counts_derive_loss_rate_and_throughput() {
        let c = count(2_000, 1_998, 2, 1400);
        assert!((c.loss_pct() - 0.1).abs() < 1e-9);
        assert!((c.received_pct() - 99.9).abs() < 1e-9);
        assert!((c.rate() - 999.0).abs() < 1e-9);
        assert!((c.mbit_s() - 1_998.0 * 1400.0 * 8.0 / 1e6 / 2.0).abs() < 1e-9);
        // More received than sent (a sender's end-of-session frames) is no negative loss.
        assert_eq!(count(10, 12, 0, 64).loss_pct(), 0.0);
        assert_eq!(count(0, 0, 0, 64).loss_pct(), 0.0);
        let zero_time = Count {
            seconds: 0.0,
            ..count(1, 1, 0, 64)
        };
        assert_eq!(zero_time.rate(), 0.0);
    }

    #[test]
    fn targets_are_judged_against_the_best_mcast_path() {
        let verdicts: Vec<(String, String, Verdict)> = report()
            .targets()
            .into_iter()
            .map(|t| (t.claim, t.measured, t.verdict))
            .collect();
        let expected = [
            (
                "64 B, --rate max: mcast ≥ 4× the baseline's received datagrams/s",
                "5.00× (--io gso)",
                Verdict::Pass,
            ),
            (
                "64 B, --rate max: mcast ≥ 4× iperf2's received datagrams/s",
                "4.00× (--io gso)",
                Verdict::Pass,
            ),
            (
                "64 B, --rate max: mcast loss ≤ 0.1%",
                "0.000% (--io gso)",
                Verdict::Pass,
            ),
            (
                "64 B: mcast perf recv keeps up with a GSO sender: ≥ 99.9% received",
                "99.950% received, 1,000 host drops",
                Verdict::Pass,
            ),
            (
                "1400 B, --rate max: mcast ≥ 4× the baseline's received datagrams/s",
                "4.30× (--io gso)",
                Verdict::Pass,
            ),
            (
                "1400 B, --rate max: mcast loss ≤ 0.1%",
                "0.769% (--io gso)",
                Verdict::Miss,
            ),
            (
                "1400 B: mcast perf recv keeps up with a GSO sender: ≥ 99.9% received",
                "",
                Verdict::NotRun,
            ),
            (
                "--rate 20000 --duration 5: 100,000 datagrams received",
                "100,000",
                Verdict::Pass,
            ),
            (
                "--rate 20000: each second within 0.5% of 20,000",
                "worst 0.25% over 4 full seconds",
                Verdict::Pass,
            ),
        ];
        let expected: Vec<(String, String, Verdict)> = expected
            .iter()
            .map(|(c, m, v)| ((*c).to_owned(), (*m).to_owned(), *v))
            .collect();
        assert_eq!(verdicts, expected);
    }

    #[test]
    fn a_slow_second_or_a_short_total_misses_the_pacing_targets() {
        let mut r = report();
        if let Some(PacedRun {
            outcome: Outcome::Done(p),
            ..
        }) = &mut r.paced
        {
            p.per_second[1] = 19_800.0;
            p.count.received = 99_999;
        }
        let targets = r.targets();
        let last: Vec<(&str, Verdict)> = targets[targets.len() - 2..]
            .iter()
            .map(|t| (t.measured.as_str(), t.verdict))
            .collect();
        assert_eq!(
            last,
            [
                ("99,999", Verdict::Miss),
                ("worst 1.00% over 4 full seconds", Verdict::Miss)
            ]
        );
    }

    #[test]
    fn without_mcast_rows_every_mcast_target_is_not_run() {
        let mut r = report();
        for row in &mut r.rows {
            if !matches!(row.kind, Kind::Baseline | Kind::Iperf) {
                row.outcome = Outcome::NotRun("no `mcast perf`".into());
            }
        }
        r.paced = Some(PacedRun {
            rate: 20_000,
            seconds: 1,
            size: 1400,
            outcome: Outcome::NotRun("no `mcast perf`".into()),
        });
        assert!(r.targets().iter().all(|t| t.verdict == Verdict::NotRun));
        let md = r.render();
        assert!(md.contains(
            "| mcast perf send --io gso | 64 B | C counter | not run | – | – | – | – | – | – |"
        ));
        assert!(md.contains("- **not run** --rate 20000 --duration 1: 20,000 datagrams received\n"));
        assert!(
            md.ends_with("\n- 9 rows not run: no `mcast perf`\n"),
            "{md}"
        );
    }

    #[test]
    fn the_report_renders_setup_table_targets_pacing_and_notes() {
        let md = report().render();
        let expected_lines = [
            "# Benchmarks",
            "- date: 2025-01-02 03:04:05 UTC",
            "- machine: 2 cores, Test CPU",
            "- kernel: 6.1.0",
            "- command: `cargo xtask perf --duration 2s`",
            "- each --rate max row sends for 2 s; sender on core 0, receiver on core 1",
            "| tool / path | size | counted by | sent | received | loss % | host drops | received dgram/s | Mbit/s | × baseline |",
            "| baseline: C sendto loop | 64 B | C counter | 400,000 | 400,000 | 0.000 | 0 | 200,000 | 102.4 | 1.00× |",
            "| iperf2 -u -b 10G | 64 B | C counter | 500,000 | 499,999 | 0.000 | 0 | 250,000 | 128.0 | 1.25× |",
            "| mcast perf send --io mmsg | 64 B | C counter | failed | – | – | – | – | – | – |",
            "| mcast perf send --io gso | 64 B | C counter | 2,000,000 | 2,000,000 | 0.000 | 0 | 1,000,000 | 512.0 | 5.00× |",
            "| mcast perf send --io gso → mcast perf recv | 64 B | mcast perf recv | 2,000,000 | 1,999,000 | 0.050 | 1,000 | 999,500 | 511.7 | 5.00× |",
            "| mcast perf send --io gso | 1400 B | C counter | 1,300,000 | 1,290,000 | 0.769 | 10,000 | 645,000 | 7224.0 | 4.30× |",
            "| mcast perf send --io gso → mcast perf recv | 1400 B | mcast perf recv | not run | – | – | – | – | – | – |",
            "| mcast perf send --io gso --key-file → mcast perf recv --key-file | 1400 B | mcast perf recv | 400,000 | 400,000 | 0.000 | 0 | 200,000 | 2240.0 | 1.33× |",
            "| mcast perf send --rate 20000 → mcast perf recv | 1400 B | mcast perf recv | 100,000 | 100,000 | 0.000 | 0 | 20,000 | 224.0 | – |",
            "## Targets",
            "- **PASS** 64 B, --rate max: mcast ≥ 4× the baseline's received datagrams/s: 5.00× (--io gso)",
            "- **MISS** 1400 B, --rate max: mcast loss ≤ 0.1%: 0.769% (--io gso)",
            "- **not run** 1400 B: mcast perf recv keeps up with a GSO sender: ≥ 99.9% received",
            "## Authentication",
            "- 64 B: 250,000 against 999,500 dgram/s: 0.25× (75% fewer), 100.000% received",
            "- 1400 B: not measured (the row without a key has no numbers)",
            "## Pacing: --rate 20000 --duration 5",
            "Datagrams/s in each full second of `mcast perf recv --report 1s`: 20,010, 19,950, 20,000, 20,040; total 100,000 of 100,000.",
            "- Absolute numbers vary between machines (and between runs on a busy one); only the ratios within one run compare.",
            "- mcast perf send --io mmsg 64 B: exit 1: boom",
            "- mcast perf send --io gso → mcast perf recv 1400 B: no `mcast perf`",
        ];
        let lines: Vec<&str> = md.lines().collect();
        let mut at = 0;
        for want in expected_lines {
            let found = lines[at..].iter().position(|l| *l == want);
            let Some(offset) = found else {
                panic!("missing or out of order: {want:?}\n{md}");
            };
            at += offset + 1;
        }
    }
}
