//! Reading what the senders and receivers of `cargo xtask perf` print.
//!
//! Each takes a process's output lines (stdout and stderr interleaved, as [`Finished`] keeps them)
//! and finds its machine-readable part: the C helpers' one JSON line, iperf2's "Sent N datagrams",
//! and the JSON Lines of `mcast perf send --json` / `mcast perf recv --json`.

use anyhow::{bail, Context, Result};
use serde_json::Value;

use crate::{
    netns::Finished,
    perf::report::{Count, Io},
};

/// The JSON objects among `lines`, in order.
fn json_lines<'a>(lines: impl Iterator<Item = &'a str>) -> Vec<Value> {
    lines
        .map(str::trim)
        .filter(|l| l.starts_with('{'))
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

/// The last JSON object among `lines`.
fn last_json<'a>(lines: impl Iterator<Item = &'a str>) -> Option<Value> {
    json_lines(lines).pop()
}

/// The `data` of every `{"type":KIND,"data":{…}}` record among `lines`.
fn records<'a>(lines: impl Iterator<Item = &'a str>, kind: &str) -> Vec<Value> {
    json_lines(lines)
        .into_iter()
        .filter(|v| v["type"] == kind)
        .map(|mut v| v["data"].take())
        .collect()
}

fn u64_field(v: &Value, key: &str) -> Result<u64> {
    v[key]
        .as_u64()
        .with_context(|| format!("no whole number {key:?} in {v}"))
}

fn f64_field(v: &Value, key: &str) -> Result<f64> {
    v[key]
        .as_f64()
        .with_context(|| format!("no number {key:?} in {v}"))
}

/// The datagrams `sendto_loop` sent (`{"sent":N,…}`).
pub(crate) fn c_sender(run: &Finished) -> Result<u64> {
    let line = last_json(run.output()).context("the C sender printed no JSON line")?;
    u64_field(&line, "sent")
}

/// What `recvmmsg_count` counted: its JSON line as a [`Count`] with `sent` left at 0.
pub(crate) fn c_counter(run: &Finished) -> Result<Count> {
    let line = last_json(run.output()).context("the C counter printed no JSON line")?;
    Ok(Count {
        sent: 0,
        received: u64_field(&line, "datagrams")?,
        bytes: u64_field(&line, "bytes")?,
        drops: u64_field(&line, "drops")?,
        seconds: f64_field(&line, "first_to_last_s")?,
    })
}

/// The datagrams iperf2's client reports at the end (`[  1] Sent 431356 datagrams`).
pub(crate) fn iperf_sent(run: &Finished) -> Result<u64> {
    run.output()
        .filter_map(|l| {
            let (_, rest) = l.split_once("Sent ")?;
            rest.strip_suffix("datagrams")?.trim().parse().ok()
        })
        .last()
        .context("iperf printed no \"Sent N datagrams\" line")
}

/// The datagrams `mcast perf send --json` says it sent. With `asked`, it must also have sent on
/// that path: a row labelled `--io gso` that fell back to sendmmsg would measure something else.
pub(crate) fn mcast_sent(run: &Finished, asked: Option<Io>) -> Result<u64> {
    let summary = records(run.output(), "summary")
        .pop()
        .context("mcast perf send printed no summary record")?;
    let used = summary["io"].as_str().unwrap_or("?");
    if let Some(asked) = asked.filter(|a| a.arg() != used) {
        bail!(
            "asked for --io {} but mcast perf send used {used}",
            asked.arg()
        );
    }
    u64_field(&summary, "datagrams")
}

/// One `{"type":"interval",…}` record of `mcast perf recv --json`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct Interval {
    pub(crate) start_s: f64,
    pub(crate) end_s: f64,
    pub(crate) datagrams: u64,
    /// The receiver's own rate for the interval (datagrams / length when it gives none).
    pub(crate) rate_pps: f64,
}

/// What `mcast perf recv --json` reported: its summary as a [`Count`] (with `sent` at 0) and its
/// interval records.
pub(crate) fn mcast_received(run: &Finished) -> Result<(Count, Vec<Interval>)> {
    let summary = records(run.output(), "summary")
        .pop()
        .context("mcast perf recv printed no summary record")?;
    let received = u64_field(&summary, "datagrams")?;
    let rate = f64_field(&summary, "rate_pps")?;
    // The receiver's own rate sets the time base, so the table shows the rate it reported (with
    // nothing received, the time does not matter).
    let seconds = if rate > 0.0 {
        received as f64 / rate
    } else {
        0.0
    };
    let count = Count {
        sent: 0,
        received,
        bytes: u64_field(&summary, "bytes")?,
        drops: u64_field(&summary, "host_drops")?,
        seconds,
    };
    let mut intervals = Vec::new();
    for data in records(run.output(), "interval") {
        let start_s = f64_field(&data, "start_s")?;
        let end_s = f64_field(&data, "end_s")?;
        let datagrams = u64_field(&data, "datagrams")?;
        let length = end_s - start_s;
        let rate_pps = data["rate_pps"].as_f64().unwrap_or(if length > 0.0 {
            datagrams as f64 / length
        } else {
            0.0
        });
        intervals.push(Interval {
            start_s,
            end_s,
            datagrams,
            rate_pps,
        });
    }
    Ok((count, intervals))
}

/// The rates of the intervals that cover a full `period` of sending, for a run that sent for
/// `seconds`.
///
/// Intervals whose length is more than 5% off `period` (the last, short one) are left out, and so
/// are those without datagrams before the first and after the last datagram (waiting time). When
/// more intervals with datagrams remain than the run had seconds, the receiver's clock did not
/// start with the sender, so the first and the last of them are partial and are left out too.
pub(crate) fn full_seconds(intervals: &[Interval], period: f64, seconds: u64) -> Vec<f64> {
    let full: Vec<&Interval> = intervals
        .iter()
        .filter(|i| ((i.end_s - i.start_s) - period).abs() <= period * 0.05)
        .collect();
    let first = full.iter().position(|i| i.datagrams > 0);
    let last = full.iter().rposition(|i| i.datagrams > 0);
    let (Some(first), Some(last)) = (first, last) else {
        return Vec::new();
    };
    let mut sending = &full[first..=last];
    if sending.len() as u64 > seconds && sending.len() >= 2 {
        sending = &sending[1..sending.len() - 1];
    }
    sending.iter().map(|i| i.rate_pps).collect()
}

/// Fails with the process's last lines unless it exited 0 by itself.
pub(crate) fn check_exit(run: &Finished) -> Result<()> {
    if run.killed {
        bail!("`{}` overran its time and was stopped", run.display);
    }
    if run.code != Some(0) {
        let tail: Vec<&str> = run
            .lines
            .iter()
            .rev()
            .take(3)
            .rev()
            .map(String::as_str)
            .collect();
        bail!(
            "`{}` exited with {}: {}",
            run.display,
            run.code.map_or("a signal".into(), |c| format!("code {c}")),
            tail.join(" / ")
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn finished(lines: &[&str]) -> Finished {
        Finished {
            display: "test".into(),
            code: Some(0),
            killed: false,
            lines: lines.iter().map(|l| (*l).to_owned()).collect(),
        }
    }

    #[test]
    fn the_c_helpers_lines_are_read() {
        let sender =
            finished(&[r#"{"sent":407232,"bytes":26062848,"errors":0,"elapsed_s":2.000272}"#]);
        assert_eq!(c_sender(&sender).unwrap(), 407_232);
        let counter = finished(&[
            "listening on 239.77.0.1:5001 via 10.77.0.2 (rcvbuf 134217728)",
            r#"{"datagrams":407230,"bytes":26062720,"first_to_last_s":2.0,"drops":2,"truncated":0,"rcvbuf":134217728}"#,
        ]);
        let count = c_counter(&counter).unwrap();
        assert_eq!(
            (count.received, count.bytes, count.drops, count.seconds),
            (407_230, 26_062_720, 2, 2.0)
        );
        assert!(c_counter(&finished(&["listening on …"])).is_err());
    }

    #[test]
    fn iperf_reports_its_sent_datagrams() {
        let run = finished(&[
            "[ ID] Interval       Transfer     Bandwidth",
            "[  1] 0.0000-2.0000 sec  26.3 MBytes   110 Mbits/sec",
            "[  1] Sent 431356 datagrams",
        ]);
        assert_eq!(iperf_sent(&run).unwrap(), 431_356);
        assert!(iperf_sent(&finished(&["Client connecting to 239.77.0.1"])).is_err());
    }

    #[test]
    fn mcast_send_and_recv_json_lines_are_read() {
        let send = finished(&[
            r#"{"type":"interval","data":{"datagrams":10}}"#,
            r#"{"type":"summary","data":{"datagrams":1000,"bytes":64000,"elapsed_s":1.0,"rate_pps":1000.0,"mbit_s":0.5,"io":"gso"}}"#,
            r#"{"type":"end","data":{"reason":"done","exit_code":0}}"#,
        ]);
        assert_eq!(mcast_sent(&send, None).unwrap(), 1000);
        assert_eq!(mcast_sent(&send, Some(Io::Gso)).unwrap(), 1000);
        let err = mcast_sent(&send, Some(Io::Mmsg)).unwrap_err().to_string();
        assert_eq!(err, "asked for --io mmsg but mcast perf send used gso");
        let recv = finished(&[
            "listening on 239.77.0.1:5001 via lab0",
            r#"{"type":"start","data":{}}"#,
            r#"{"type":"interval","data":{"start_s":0.0,"end_s":1.0,"datagrams":20000,"bytes":28000000,"rate_pps":20000.0,"mbit_s":224.0,"lost":0,"host_drops":0,"duplicates":0,"reordered":0,"jitter_us":3.0}}"#,
            r#"{"type":"interval","data":{"start_s":1.0,"end_s":1.2,"datagrams":10,"bytes":14000}}"#,
            r#"{"type":"summary","data":{"start_s":0.0,"end_s":1.2,"datagrams":20010,"bytes":28014000,"rate_pps":20005.0,"mbit_s":224.0,"lost":0,"host_drops":3,"duplicates":0,"reordered":0,"jitter_us":3.0,"delay_us":{"min":1.0,"p50":2.0,"p90":3.0,"p99":4.0,"max":5.0}}}"#,
            r#"{"type":"end","data":{"reason":"senders finished","exit_code":0}}"#,
        ]);
        let (count, intervals) = mcast_received(&recv).unwrap();
        assert_eq!((count.received, count.drops), (20_010, 3));
        assert!((count.rate() - 20_005.0).abs() < 1e-6);
        assert_eq!(intervals.len(), 2);
        assert!((intervals[1].rate_pps - 50.0).abs() < 1e-9);
    }

    fn interval(start_s: f64, end_s: f64, datagrams: u64) -> Interval {
        Interval {
            start_s,
            end_s,
            datagrams,
            rate_pps: datagrams as f64 / (end_s - start_s),
        }
    }

    #[test]
    fn full_seconds_skip_the_short_tail_and_the_waiting_time() {
        // A clock that starts with the first datagram: five full seconds and a short tail.
        let aligned: Vec<Interval> = (0..5)
            .map(|s| interval(f64::from(s), f64::from(s + 1), 20_000))
            .chain([interval(5.0, 5.01, 3)])
            .collect();
        assert_eq!(full_seconds(&aligned, 1.0, 5), vec![20_000.0; 5]);
        // A clock that starts at the join: an idle second, then partial edges around four full ones.
        let mut joined = vec![interval(0.0, 1.0, 0), interval(1.0, 2.0, 6_000)];
        joined.extend((2..6).map(|s| interval(f64::from(s), f64::from(s + 1), 20_000)));
        joined.push(interval(6.0, 7.0, 14_000));
        joined.push(interval(7.0, 7.3, 0));
        assert_eq!(full_seconds(&joined, 1.0, 5), vec![20_000.0; 4]);
        assert!(full_seconds(&[], 1.0, 5).is_empty());
    }

    #[test]
    fn a_failed_or_stopped_process_is_an_error_with_its_last_lines() {
        let mut run = finished(&["a", "b", "c", "error: unrecognized subcommand 'perf'"]);
        run.code = Some(2);
        let err = check_exit(&run).unwrap_err().to_string();
        assert_eq!(
            err,
            "`test` exited with code 2: b / c / error: unrecognized subcommand 'perf'"
        );
        run.killed = true;
        assert!(check_exit(&run)
            .unwrap_err()
            .to_string()
            .contains("overran"));
        assert!(check_exit(&finished(&[])).is_ok());
    }
}
