//! Hostile traffic (issue #9): anyone on the LAN can send to a group or to the port. Each test
//! plays the attacker with a plain socket pinned to 127.0.0.1 (TTL 0), crafting datagrams by
//! hand, against `mcast recv` on loopback.

use std::net::UdpSocket;

use serde_json::Value;

use crate::crafted::{data_frame, end_frame, now_ns, raw_sender};
use crate::util::netns::skip_without;
use crate::util::{run, Proc, LO};

/// The `data` of every record of `kind`.
fn records(out: &[Value], kind: &str) -> Vec<Value> {
    out.iter()
        .filter(|r| r["type"] == kind)
        .map(|r| r["data"].clone())
        .collect()
}

// issue #9 — a receiver joined to two groups does not count a unicast datagram to its port as a
// third group: it is counted apart, by kind, printed nowhere on stdout (noted once on stderr),
// and does not count towards -c.
#[test]
fn a_unicast_datagram_to_the_port_is_not_a_group() {
    // Two ports: a unicast datagram reaches one socket of those sharing a port.
    let groups = "239.1.9.1,239.1.9.2";
    let mut text = crate::receiver(groups, "47191", &["-c", "1", "--timeout", "10s"]);
    let json = crate::receiver(groups, "47196", &["--json", "--timeout", "2s"]);
    let unicast = UdpSocket::bind("127.0.0.1:0").unwrap();
    for port in [47191, 47196] {
        unicast
            .send_to(b"not for the group", ("127.0.0.1", port))
            .unwrap();
    }
    // The text receiver notes it, and keeps waiting for group traffic.
    let note = text.wait_stderr("not sent to a joined group");
    assert!(note.contains("unicast datagram to 127.0.0.1"), "{note}");
    for port in [47191, 47196] {
        raw_sender("239.1.9.1", port)
            .send(b"for the group")
            .unwrap();
    }
    let text = text.finish_ok();
    assert_eq!(text.stdout, ["[239.1.9.1] for the group"]);
    let err = text.stderr_text();
    assert!(!err.contains("127.0.0.1: 1"), "{err}");
    assert!(err.contains("from 1 distinct group "), "{err}");
    assert!(
        err.contains("not group traffic: 1 datagram (1 unicast), 17 bytes"),
        "{err}"
    );

    let out = json.finish_ok();
    let all = out.json();
    let strays = records(&all, "stray");
    assert_eq!(strays.len(), 1, "{all:#?}");
    assert_eq!(strays[0]["kind"], "unicast");
    assert_eq!(strays[0]["destination"], "127.0.0.1");
    assert_eq!(strays[0]["payload"], "not for the group");
    let recvs = records(&all, "recv");
    assert_eq!(recvs.len(), 1, "{all:#?}");
    assert_eq!(recvs[0]["group"], "239.1.9.1");
    let stats = &records(&all, "stats")[0];
    assert_eq!(stats["datagrams"], 1, "{stats}");
    assert_eq!(stats["distinct_groups"], 1, "{stats}");
    let keys: Vec<&String> = stats["groups"].as_object().unwrap().keys().collect();
    assert_eq!(keys, ["239.1.9.1", "239.1.9.2"], "{stats}");
    assert_eq!(stats["stray"]["unicast"], 1, "{stats}");
    assert_eq!(stats["stray"]["bytes"], 17, "{stats}");
    crate::readme_tour::assert_readme_names_json(&["recv"], &out);
}

// issue #9 — only stray datagrams before --timeout: it fails (nothing for the group came) and
// the hint names what did come.
#[test]
fn a_timeout_with_only_stray_datagrams_says_so() {
    // Two groups: a receiver of one group binds the group's address, which no unicast
    // datagram reaches; with several it binds the port on every address.
    let rx = crate::receiver("239.1.9.3,239.1.9.7", "47192", &["--timeout", "1s"]);
    let unicast = UdpSocket::bind("127.0.0.1:0").unwrap();
    for _ in 0..2 {
        unicast.send_to(b"psst", "127.0.0.1:47192").unwrap();
    }
    let out = rx.finish();
    out.assert_no_panic();
    assert_eq!(out.code(), 1, "{}", out.stderr_text());
    assert!(out.stdout.is_empty(), "{:?}", out.stdout);
    let err = out.stderr_text();
    assert!(
        err.contains("error: timeout: received no datagram"),
        "{err}"
    );
    assert!(
        err.contains(
            "hint: 2 datagrams reached port 47192 without being sent to a joined group (2 unicast)"
        ),
        "{err}"
    );
}

// issue #9 — from the attacker's side: a forged end-of-session frame naming 2^64-1 numbers, a
// stream opened at seq 2^64-1, and frames stamped 0 and 2^64-1 leave the figures sane: nothing
// lost, no absurd delay, in the summary, the text lines and the JSON records.
#[test]
fn crafted_frames_cannot_poison_the_figures() {
    let text = crate::receiver("239.1.9.4", "47193", &["-v", "--timeout", "1s"]);
    let json = crate::receiver("239.1.9.4", "47193", &["--json", "--timeout", "1s"]);
    let tx = raw_sender("239.1.9.4", 47193);
    // A forged end of a session never heard, then that session's genuine frames.
    tx.send(&end_frame(1, 0, u64::MAX)).unwrap();
    for seq in 0..10 {
        tx.send(&data_frame(1, seq, now_ns(), b"one")).unwrap();
    }
    // A session whose first frame is far away, then its genuine frames.
    tx.send(&data_frame(2, u64::MAX, now_ns(), b"two")).unwrap();
    for seq in 0..10 {
        tx.send(&data_frame(2, seq, now_ns(), b"two")).unwrap();
    }
    // Send times of 0 and 2^64-1.
    tx.send(&data_frame(3, 0, 0, b"zero")).unwrap();
    tx.send(&data_frame(3, 1, u64::MAX, b"max")).unwrap();

    let text = text.finish();
    text.assert_no_panic();
    let err = text.stderr_text();
    // Every "N lost" in the summary is small (it said 18446744073709551615 lost).
    for (i, _) in err.match_indices(" lost") {
        let n: String = err[..i]
            .chars()
            .rev()
            .take_while(char::is_ascii_digit)
            .collect();
        let n: u64 = n.chars().rev().collect::<String>().parse().unwrap();
        assert_eq!(n, 0, "{err}");
    }
    assert!(err.contains(", 0 lost,"), "{err}");
    assert!(!err.contains("-9223372036854"), "{err}");
    assert!(err.contains("suspect"), "{err}");
    let out = text.stdout_text();
    assert!(!out.contains("latency 9223372036854"), "{out}");
    assert!(!out.contains("latency -"), "{out}");
    assert!(
        text.stdout
            .iter()
            .any(|l| l.contains("seq 0 latency ?: zero")),
        "{out}"
    );

    let out = json.finish();
    out.assert_no_panic();
    let all = out.json();
    let stats = &records(&all, "stats")[0]["framed"];
    assert_eq!(stats["lost"], 0, "{stats}");
    assert_eq!(stats["streams_ended"], 0, "{stats}");
    assert_eq!(stats["suspect"], 1, "the forged end: {stats}");
    for s in stats["streams"].as_array().unwrap() {
        assert_eq!(s["lost"], 0, "{s}");
        if let Some(min) = s["delay"]["min_ns"].as_i64() {
            assert!((0..60_000_000_000).contains(&min), "{s}");
        }
    }
    let frames: Vec<Value> = records(&all, "recv")
        .into_iter()
        .map(|r| r["frame"].clone())
        .collect();
    let stamped = |stamp: &str| {
        frames
            .iter()
            .find(|f| f["sent_at_ns"] == stamp)
            .unwrap_or_else(|| panic!("no frame stamped {stamp}: {frames:#?}"))
            .clone()
    };
    assert_eq!(stamped("0")["latency_ns"], Value::Null);
    assert_eq!(stamped("18446744073709551615")["latency_ns"], Value::Null);
    let far = frames
        .iter()
        .find(|f| f["seq"] == "18446744073709551615")
        .expect("the far frame, its number exact");
    assert_eq!(far["arrival"], "first");
}

// issue #9 — JSON integers above 2^53 stay exact through jq 1.6 (which reads numbers as
// doubles): sequence numbers and send times are decimal strings.
#[test]
fn big_numbers_survive_jq() {
    if skip_without("jq", "big_numbers_survive_jq") {
        return;
    }
    let rx = crate::receiver(
        "239.1.9.5",
        "47194",
        &["--json", "-c", "1", "--timeout", "10s"],
    );
    let stamp = 1_764_038_400_123_456_789_u64;
    raw_sender("239.1.9.5", 47194)
        .send(&data_frame(5, u64::MAX - 1, stamp, b"big"))
        .unwrap();
    let out = rx.finish_ok();
    let line = out
        .stdout
        .iter()
        .find(|l| l.contains(r#""type":"recv""#))
        .expect("a recv record");
    let mut jq = std::process::Command::new("jq");
    jq.args(["-r", r#".data.frame | "\(.seq) \(.sent_at_ns)""#]);
    let mut p = Proc::spawn("jq", jq);
    p.write_stdin(line.as_bytes());
    let got = p.finish_ok();
    assert_eq!(got.stdout, ["18446744073709551614 1764038400123456789"]);
}

// issue #9 — payload text escapes every character that can reorder or hide text: bidi
// overrides and isolates, zero-width characters, tags; JSON escapes them too and still reads
// back as the exact text.
#[test]
fn bidi_and_zero_width_characters_are_escaped() {
    let text = crate::receiver("239.1.9.6", "47195", &["-c", "1", "--timeout", "10s"]);
    let json = crate::receiver(
        "239.1.9.6",
        "47195",
        &["-c", "1", "--json", "--timeout", "10s"],
    );
    let payload = "admin\u{202e}nimda\u{2066}x\u{2069}\u{200b}y\u{feff}\u{e0041}\u{61c}z";
    let sent = run(&[
        "send",
        "239.1.9.6",
        "47195",
        payload,
        "-i",
        LO,
        "--ttl",
        "0",
    ]);
    sent.assert_success();
    let text = text.finish_ok();
    assert_eq!(
        text.stdout,
        [r"admin\u{202e}nimda\u{2066}x\u{2069}\u{200b}y\u{feff}\u{e0041}\u{61c}z"]
    );
    let json = json.finish_ok();
    for line in &json.stdout {
        let raw = line
            .chars()
            .find(|c| matches!(u32::from(*c), 0x200b..=0x200f | 0x202a..=0x202e | 0x2066..=0x2069 | 0xfeff | 0x61c | 0xe0000..=0xe0fff));
        assert_eq!(raw, None, "{line:?}");
    }
    let recv = &records(&json.json(), "recv")[0];
    assert_eq!(recv["payload"], payload);
}
