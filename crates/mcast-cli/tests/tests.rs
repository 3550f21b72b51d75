//! Integration tests of the `mcast` binary, one test binary in ripgrep's style: this file
//! and its modules, one file per concern (`auth`, `engine`, `hints`, `hostile`, `ipv6`,
//! `link`, `readme_table`, `readme_tour`, `sniff`, `ssmping`, `stop`; `crafted` and `util` are helpers, the
//! namespaces, the root check and the command runner come from mcast-testkit). Add a test to
//! the file of its concern, or a new module here; never a new `[[test]]` target.
//!
//! Every test pins the interface to 127.0.0.1 (never the kernel's default), sends with TTL 0
//! unless it is about the TTL, and bounds every wait (`util::WAIT`); child processes are
//! killed on drop. Each regression test names the requirement it serves:
//! "issue #2 (loopback)" (send/recv on one host), "issue #2 (interop)" (the lecture's Python programs),
//! "issue #2 (multicast-all)" (IP_MULTICAST_ALL trap), "issue #3 (many-groups)" (1,000 groups),
//! "issue #2 (usage-errors)" (exit codes and one-line errors), "issue #2 (framed)" (sequence numbers
//! and loss), "issue #2 (info)", "issue #2 (review)" / "issue #3 (review)" (defects found in
//! review: datagram size, address family, escaping, per-group counts, clap messages).
//!
//! # Running side by side
//!
//! Every test of every module runs at once in this one process, so none may depend on
//! another's absence:
//!
//! - On the host's `lo`, each test has a port and group of its own: this file, `engine` and
//!   `hostile` use ports 471xx, `auth` 478xx, `stop` 47901-47916 with groups in 239.9/16,
//!   the README's bad-input table (`readme_table`) 4799x, the README's console blocks
//!   (`readme_tour`) 50001-50006 as the README prints them and 4776x for its JSON check; a
//!   test also recognises its datagrams by their payload.
//! - The tests that need a link of their own (`sniff`, `ipv6`, `ssmping`, `link`, part of
//!   `hints`) run their commands in network namespaces they create, one or two per test,
//!   named `<prefix>-<pid>-<n>` and deleted on drop, so their ports, addresses and veth names
//!   (`va`, `vb`) never meet.
//! - The heavy ones, `stop`'s two large ranges (30,000 and 200,000 memberships), run their
//!   receiver in a network namespace of its own (mcast-testkit's `isolated_command`:
//!   `unshare -n` as root, a user namespace otherwise where the kernel allows it): their
//!   memberships sit on a `lo` nobody else uses, so the others' joins and leaves do not walk
//!   them, and a lock runs the two one at a time. Only
//!   where no namespace can be had do they fall back to the host's `lo`, as before.
//! - Membership limits are per socket (`igmp_max_memberships`), and `mcast recv` spreads
//!   large ranges over sockets, so no test's joins can fail for another's.

mod auth;
mod crafted;
mod engine;
mod hints;
mod hostile;
mod ipv6;
mod link;
mod logging;
mod readme_table;
mod readme_tour;
mod sniff;
mod ssmping;
mod stop;
mod util;

use util::{mcast, python, run, Proc, LO, PY_MANY_GROUPS, PY_RECEIVER, PY_SENDER};

/// Starts `mcast recv GROUPS PORT -i 127.0.0.1 EXTRA...` and waits until every join is done.
fn receiver(groups: &str, port: &str, extra: &[&str]) -> Proc {
    let mut args = vec!["recv", groups, port, "-i", LO];
    args.extend_from_slice(extra);
    let mut p = Proc::mcast(&args);
    p.wait_listening();
    p
}

/// Runs `mcast send GROUP PORT MESSAGE -i 127.0.0.1 --ttl 0 EXTRA...` and checks it succeeded
/// silently.
fn send(group: &str, port: &str, message: &str, extra: &[&str]) {
    let mut args = vec!["send", group, port, message, "-i", LO, "--ttl", "0"];
    args.extend_from_slice(extra);
    let out = run(&args);
    out.assert_no_panic();
    assert_eq!(out.code(), 0, "mcast send failed: {}", out.stderr_text());
    assert!(out.stdout.is_empty(), "{:?}", out.stdout);
}

// issue #2 (loopback) — the lecture's pair on one host.
#[test]
fn loopback_send_then_recv_prints_the_line() {
    let rx = receiver("239.1.2.3", "47101", &["-c", "1", "--timeout", "10s"]);
    let out = run(&[
        "send",
        "239.1.2.3",
        "47101",
        "Hello, World!",
        "-i",
        LO,
        "--ttl",
        "0",
    ]);
    assert_eq!(out.code(), 0, "{}", out.stderr_text());
    assert!(
        out.stdout.is_empty(),
        "send prints nothing by default: {:?}",
        out.stdout
    );
    let got = rx.finish_ok();
    assert_eq!(got.stdout, ["Hello, World!"]);
    assert!(
        got.stderr_text().contains("received 1 datagram"),
        "summary: {}",
        got.stderr_text()
    );
}

// issue #2 (loopback) — stdin lines are datagrams, -c repeats, several groups get a prefix.
#[test]
fn stdin_lines_and_group_prefix() {
    let rx = receiver(
        "239.1.2.5,239.1.2.6",
        "47102",
        &["-c", "3", "--timeout", "10s"],
    );
    let mut tx = Proc::mcast(&[
        "send",
        "239.1.2.6",
        "47102",
        "-i",
        LO,
        "--ttl",
        "0",
        "-c",
        "1",
    ]);
    tx.write_stdin(b"one\ntwo\r\nthree\n");
    let sent = tx.finish();
    assert_eq!(sent.code(), 0, "{}", sent.stderr_text());
    let got = rx.finish();
    assert_eq!(got.code(), 0, "{}", got.stderr_text());
    assert_eq!(
        got.stdout,
        ["[239.1.2.6] one", "[239.1.2.6] two", "[239.1.2.6] three"]
    );
}

// issue #2 (review) — an empty MESSAGE and an empty stdin line are zero-length datagrams
// (UDP carries them): sent, counted and received, not silently skipped.
#[test]
fn empty_message_and_empty_lines_are_zero_length_datagrams() {
    let rx = receiver(
        "239.1.2.20",
        "47120",
        &["-c", "6", "--json", "--timeout", "10s"],
    );
    let out = run(&[
        "send",
        "239.1.2.20",
        "47120",
        "",
        "-i",
        LO,
        "--ttl",
        "0",
        "-c",
        "3",
        "--json",
    ]);
    out.assert_success();
    let records = out.json();
    let end = records.last().expect("an end record");
    assert_eq!(end["type"], "end", "{records:?}");
    assert_eq!(
        (&end["data"]["datagrams"], &end["data"]["bytes"]),
        (&3.into(), &0.into())
    );
    let mut tx = Proc::mcast(&[
        "send",
        "239.1.2.20",
        "47120",
        "-i",
        LO,
        "--ttl",
        "0",
        "--json",
    ]);
    tx.write_stdin(b"a\n\nb\n");
    let sent = tx.finish_ok();
    let sent_lens: Vec<_> = sent
        .json()
        .iter()
        .map(|r| r["data"]["len"].clone())
        .collect();
    assert_eq!(
        sent_lens,
        [1.into(), 0.into(), 1.into(), serde_json::Value::Null]
    );
    let got = rx.finish_ok();
    let lens: Vec<_> = got
        .json()
        .iter()
        .filter(|r| r["type"] == "recv")
        .map(|r| r["data"]["len"].as_u64().unwrap())
        .collect();
    assert_eq!(lens, [0, 0, 0, 1, 0, 1]);
}

// issue #9 (review) — `--rcvbuf` past net.core.rmem_max: the kernel's figure is twice what it
// accepted, so twice rmem_max asked for used to read as "granted, not clamped" and was never
// forced. With CAP_NET_ADMIN (root) it is forced and granted whole; 99999G is capped at the
// most a socket holds, and root is not told to run as root. Without it, rmem_max caps it.
#[test]
fn rcvbuf_past_rmem_max_is_forced_as_root_and_reported_as_the_kernel_does() {
    let Some(max) = mcast_sync::error::rmem_max() else {
        eprintln!("skipping: /proc/sys/net/core/rmem_max is not readable");
        return;
    };
    let privileged = mcast_testkit::privilege::has_cap_net_admin();
    let recv = |size: &str| {
        let out = run(&[
            "recv",
            "239.1.2.21",
            "47121",
            "-i",
            LO,
            "--rcvbuf",
            size,
            "--json",
            "--timeout",
            "200ms",
        ]);
        out.assert_no_panic();
        assert_eq!(out.code(), 1, "nothing was sent: {}", out.stderr_text());
        let stats = out
            .json()
            .into_iter()
            .find(|r| r["type"] == "stats")
            .expect("a stats record");
        (stats["data"]["recv_buffer"].clone(), out.stderr_text())
    };
    let twice = 2 * max;
    let (buffer, note) = recv(&twice.to_string());
    assert_eq!(buffer["requested"], twice, "{buffer}");
    assert_eq!(buffer["rmem_max"], max, "{buffer}");
    if privileged {
        assert_eq!(buffer["granted"], 2 * twice, "{buffer}");
        assert_eq!(
            (&buffer["forced"], &buffer["clamped"]),
            (&true.into(), &false.into())
        );
        assert!(note.contains("forced past net.core.rmem_max"), "{note}");
    } else {
        assert_eq!(buffer["granted"], twice, "{buffer}");
        assert_eq!(
            (&buffer["forced"], &buffer["clamped"]),
            (&false.into(), &true.into())
        );
        assert!(note.contains("caps it without CAP_NET_ADMIN"), "{note}");
    }
    let (buffer, note) = recv("99999G");
    assert_eq!(buffer["clamped"], true, "{buffer}");
    if privileged {
        assert_eq!(buffer["granted"], 2_147_483_646_u64, "{buffer}");
        assert_eq!(buffer["forced"], true, "{buffer}");
        assert!(
            note.contains("the most a socket can hold") && !note.contains("run as root"),
            "{note}"
        );
    } else {
        assert_eq!(buffer["granted"], twice, "{buffer}");
        assert!(note.contains("run as root"), "{note}");
    }
}

// issue #2 (interop) — a plain Python sender (the lecture's) received by `mcast recv`.
#[test]
fn python_sender_to_mcast_recv() {
    let rx = receiver("224.1.1.5", "47103", &["-c", "1", "--timeout", "10s"]);
    let py = python(PY_SENDER, &["224.1.1.5", "47103", "robot"]).finish();
    assert_eq!(py.code(), 0, "python sender: {}", py.stderr_text());
    let got = rx.finish();
    assert_eq!(got.code(), 0, "{}", got.stderr_text());
    assert_eq!(got.stdout, ["robot"]);
}

// issue #2 (interop) — `mcast send` received by a plain Python receiver (the lecture's join).
#[test]
fn mcast_send_to_python_receiver() {
    let mut py = python(PY_RECEIVER, &["224.1.1.5", "47104"]);
    py.wait_stderr("ready");
    send("224.1.1.5", "47104", "Hello, World!", &[]);
    let got = py.finish();
    assert_eq!(got.code(), 0, "python receiver: {}", got.stderr_text());
    assert_eq!(got.stdout, ["Hello, World!"]);
}

// issue #11 (demo) — `--explain` shows the socket options as the lecture set them: the TTL and
// the interface by address on the sender, the join as `struct.pack("=4s4s", …)` bytes.
#[test]
fn explain_shows_the_lecture_socket_options() {
    let mut args = vec!["recv", "224.1.1.5", "47166", "-i", LO];
    args.extend_from_slice(&["-c", "1", "--timeout", "10s", "--explain"]);
    let mut rx = Proc::mcast(&args);
    rx.wait_listening();
    let out = run(&[
        "send",
        "224.1.1.5",
        "47166",
        "hi",
        "-i",
        LO,
        "--ttl",
        "0",
        "--explain",
    ]);
    assert_eq!(out.code(), 0, "{}", out.stderr_text());
    assert!(out.stdout.is_empty(), "{:?}", out.stdout);
    assert_eq!(
        out.stderr_text(),
        "socket option IPPROTO_IP IP_MULTICAST_TTL=0\n\
         socket option IPPROTO_IP IP_MULTICAST_LOOP=1\n\
         socket option IPPROTO_IP IP_MULTICAST_IF=127.0.0.1 (an in_addr: socket.inet_aton(\"127.0.0.1\"))"
    );
    let got = rx.finish_ok();
    assert_eq!(got.stdout, ["hi"]);
    let err = got.stderr_text();
    let lines: Vec<&str> = err.lines().collect();
    assert_eq!(lines[0], "bound to 224.1.1.5:47166", "{err}");
    assert_eq!(
        lines[1],
        "socket option IPPROTO_IP IP_ADD_MEMBERSHIP=e0 01 01 05 7f 00 00 01 (ip_mreq: group \
         224.1.1.5, interface 127.0.0.1; Python: struct.pack(\"=4s4s\", \
         socket.inet_aton(\"224.1.1.5\"), socket.inet_aton(\"127.0.0.1\")))",
        "{err}"
    );
    assert!(
        lines[2].starts_with("listening on 224.1.1.5:47166"),
        "{err}"
    );
}

// issue #2 (multicast-all) — a receiver of 234.3.2.1 must not see 224.1.1.5's traffic on the same
// port, while a receiver of 224.1.1.5 on the same host does (IP_MULTICAST_ALL=0).
#[test]
fn receiver_sees_only_the_groups_it_joined() {
    let joined = receiver("224.1.1.5", "47105", &["-c", "1", "--timeout", "10s"]);
    // Started second, so its 2 s certainly cover the send below.
    let other = receiver("234.3.2.1", "47105", &["--timeout", "2s"]);
    send("224.1.1.5", "47105", "for 224.1.1.5 only", &[]);
    let joined = joined.finish();
    assert_eq!(joined.code(), 0, "{}", joined.stderr_text());
    assert_eq!(joined.stdout, ["for 224.1.1.5 only"]);
    let other = other.finish();
    other.assert_no_panic();
    assert_eq!(
        other.code(),
        1,
        "nothing received before --timeout is exit 1"
    );
    assert!(other.stdout.is_empty(), "leaked: {:?}", other.stdout);
    assert!(
        other.stderr_text().contains("error: timeout"),
        "{}",
        other.stderr_text()
    );
}

// issue #3 (many-groups) — one receiver joins 1,000 groups and counts each.
#[test]
fn one_thousand_groups() {
    let mut rx = Proc::mcast(&[
        "recv",
        "239.1.0.1+1000",
        "47106",
        "-i",
        LO,
        "--json",
        "-c",
        "1000",
        "--timeout",
        "15s",
    ]);
    let listening = rx.wait_listening();
    assert!(listening.contains("1000 groups"), "{listening}");
    let py = python(PY_MANY_GROUPS, &["239.1.0.1", "1000", "47106"]).finish();
    assert_eq!(py.code(), 0, "python sender: {}", py.stderr_text());
    let got = rx.finish();
    assert_eq!(got.code(), 0, "{}", got.stderr_text());
    let records = got.json();
    let recvs = records.iter().filter(|r| r["type"] == "recv").count();
    assert_eq!(recvs, 1000);
    let stats = records
        .iter()
        .find(|r| r["type"] == "stats")
        .expect("a stats record");
    assert_eq!(stats["data"]["distinct_groups"], 1000);
    assert_eq!(stats["data"]["groups"]["239.1.3.232"], 1);
    assert_eq!(records.last().unwrap()["type"], "end");
}

// issue #2 (framed) — numbered frames arrive with their sequence numbers and no loss.
#[test]
fn framed_send_is_counted_by_recv() {
    let rx = receiver(
        "239.1.2.4",
        "47107",
        &["-c", "5", "--json", "--timeout", "10s"],
    );
    send(
        "239.1.2.4",
        "47107",
        "tick",
        &["-c", "5", "--framed", "--interval", "10ms"],
    );
    let got = rx.finish();
    assert_eq!(got.code(), 0, "{}", got.stderr_text());
    let records = got.json();
    assert_eq!(records[0]["type"], "start");
    let seqs: Vec<u64> = records
        .iter()
        .filter(|r| r["type"] == "recv")
        .map(|r| {
            assert_eq!(r["data"]["payload"], "tick");
            // A decimal string: exact beyond 2^53.
            r["data"]["frame"]["seq"]
                .as_str()
                .and_then(|s| s.parse().ok())
                .expect("a frame header")
        })
        .collect();
    assert_eq!(seqs, [0, 1, 2, 3, 4]);
    let stats = &records.iter().find(|r| r["type"] == "stats").unwrap()["data"];
    assert_eq!(stats["framed"]["framed"], 5);
    assert_eq!(stats["framed"]["lost"], 0);
    assert_eq!(stats["framed"]["duplicates"], 0);
    assert_eq!(stats["framed"]["reordered"], 0);
    assert!(!records.iter().any(|r| r["type"] == "gap"));
}

// issue #2 (framed) — `send --json` reports every datagram.
#[test]
fn send_json_reports_each_datagram() {
    let out = run(&[
        "send",
        "239.1.2.7",
        "47108",
        "x",
        "-i",
        LO,
        "-c",
        "3",
        "--framed",
        "--json",
        "--ttl",
        "0",
    ]);
    assert_eq!(out.code(), 0, "{}", out.stderr_text());
    let records = out.json();
    let sends: Vec<&serde_json::Value> = records.iter().filter(|r| r["type"] == "send").collect();
    assert_eq!(sends.len(), 3);
    assert_eq!(sends[2]["data"]["seq"], "2");
    let stamp = sends[2]["data"]["sent_at_ns"]
        .as_str()
        .expect("a decimal string");
    assert!(stamp.parse::<u64>().is_ok_and(|t| t > 1 << 53), "{stamp}");
    assert_eq!(sends[0]["data"]["group"], "239.1.2.7");
    assert_eq!(records.last().unwrap()["data"]["datagrams"], 3);
}

// issue #2 (loopback) — `mcast recv | head -1`: a closed stdout ends the receiver with exit 0.
#[test]
fn broken_pipe_exits_zero() {
    let mut cmd = mcast();
    cmd.args(["recv", "239.1.2.8", "47109", "-i", LO, "--timeout", "10s"]);
    let mut rx = Proc::spawn_stdout_closed("mcast recv | (closed)", cmd);
    rx.wait_listening();
    for _ in 0..3 {
        send("239.1.2.8", "47109", "line", &[]);
    }
    let got = rx.finish_ok();
    assert!(
        !got.stderr_text().contains("error"),
        "{}",
        got.stderr_text()
    );
}

// issue #3 (ctrl-c) — Ctrl-C ends `recv` with a summary (stderr) and stats/end records, exit 0.
#[test]
fn ctrl_c_prints_summary_and_exits_zero() {
    let mut rx = receiver("239.1.2.9", "47111", &["--json"]);
    send("239.1.2.9", "47111", "before ctrl-c", &["--framed"]);
    rx.wait_stdout("before ctrl-c");
    rx.interrupt();
    let got = rx.finish_ok();
    let err = got.stderr_text();
    assert!(err.contains("received 1 datagram, "), "{err}");
    assert!(err.contains("239.1.2.9: 1"), "{err}");
    assert!(err.contains("0 lost"), "{err}");
    let records = got.json();
    let end = records.last().unwrap();
    assert_eq!(end["type"], "end");
    assert_eq!(end["data"]["reason"], "interrupted");
    assert_eq!(end["data"]["exit_code"], 0);
}

// issue #2 (loopback) — -v shows source, group, length and the frame header.
#[test]
fn verbose_recv_shows_metadata() {
    let rx = receiver(
        "239.1.2.10",
        "47112",
        &["-v", "-c", "1", "--timeout", "10s"],
    );
    send("239.1.2.10", "47112", "hi", &["--framed"]);
    let got = rx.finish();
    assert_eq!(got.code(), 0, "{}", got.stderr_text());
    assert_eq!(got.stdout.len(), 1, "{:?}", got.stdout);
    let line = &got.stdout[0];
    assert!(line.starts_with("[239.1.2.10] from 127.0.0.1:"), "{line}");
    assert!(
        line.contains(" len 30 session ") && line.contains(" seq 0 "),
        "{line}"
    );
    assert!(line.ends_with(": hi"), "{line}");
}

/// Runs a command expected to be a usage error and returns its stderr.
fn usage_error(args: &[&str]) -> String {
    let out = run(args);
    out.assert_no_panic();
    assert_eq!(out.code(), 2, "{args:?}: {}", out.stderr_text());
    assert!(out.stdout.is_empty(), "{:?}", out.stdout);
    let first = out.stderr.first().cloned().unwrap_or_default();
    assert!(
        first.starts_with("error: "),
        "{args:?}: {}",
        out.stderr_text()
    );
    out.stderr_text()
}

// issue #2 (usage-errors) — a unicast group names the problem and the right range.
#[test]
fn usage_unicast_group() {
    let err = usage_error(&["send", "192.168.1.1", "5000", "hi", "-i", LO]);
    assert!(
        err.contains("192.168.1.1 is not a multicast address"),
        "{err}"
    );
    assert!(err.contains("224.0.0.0/4"), "{err}");
    assert!(err.lines().count() <= 2, "one line (and a hint): {err}");
    let err = usage_error(&["recv", "10.0.0.1", "5000", "-i", LO]);
    assert!(err.contains("224.0.0.0/4"), "{err}");
}

// issue #2 (usage-errors) — a port out of range.
#[test]
fn usage_port_out_of_range() {
    let err = usage_error(&["recv", "224.1.1.5", "70000"]);
    assert!(err.contains("70000") && err.contains("1-65535"), "{err}");
}

// issue #2 (usage-errors) — an interface that does not exist: exit 2 with a hint.
#[test]
fn usage_missing_interface() {
    let err = usage_error(&["send", "224.1.1.5", "5000", "hi", "-i", "nosuchif"]);
    assert!(
        err.contains("interface not found") && err.contains("nosuchif"),
        "{err}"
    );
    assert!(
        err.contains("hint: ") && err.contains("mcast ifaces"),
        "{err}"
    );
    let err = usage_error(&["recv", "224.1.1.5", "5000", "-i", "192.0.2.254"]);
    assert!(err.contains("192.0.2.254"), "{err}");
}

// issue #2 (usage-errors) — a source must be unicast; SSM outside 232/8 is only noted.
#[test]
fn usage_source_must_be_unicast() {
    let err = usage_error(&[
        "recv",
        "232.1.1.1",
        "5000",
        "-i",
        LO,
        "--source",
        "239.1.1.1",
    ]);
    assert!(
        err.contains("source 239.1.1.1 is not a unicast address"),
        "{err}"
    );
    let out = run(&[
        "recv",
        "224.1.1.5",
        "47110",
        "-i",
        LO,
        "--source",
        "127.0.0.1",
        "--timeout",
        "200ms",
    ]);
    out.assert_no_panic();
    assert_eq!(
        out.code(),
        1,
        "nothing sent: timeout: {}",
        out.stderr_text()
    );
    assert!(
        out.stderr_text().contains("outside the SSM range"),
        "{}",
        out.stderr_text()
    );
}

// issue #2 (usage-errors) — clap errors are usage errors too; help and version exit 0.
#[test]
fn usage_clap_errors_help_and_version() {
    usage_error(&["recv"]);
    usage_error(&["send", "224.1.1.5", "5000", "hi", "--ttl", "300"]);
    usage_error(&["nosuchcommand"]);
    let help = run(&["--help"]);
    assert_eq!(help.code(), 0);
    assert!(
        help.stdout_text().contains("mcast send 224.1.1.5 50001"),
        "{}",
        help.stdout_text()
    );
    let version = run(&["--version"]);
    assert_eq!(version.code(), 0);
    assert!(
        version.stdout_text().starts_with("mcast "),
        "{}",
        version.stdout_text()
    );
}

// issue #2 (info) — the JSON fields of `mcast info`.
#[test]
fn info_json_fields() {
    let out = run(&["info", "224.1.1.5", "--json"]);
    assert_eq!(out.code(), 0, "{}", out.stderr_text());
    let records = out.json();
    assert_eq!(records.len(), 1);
    assert_eq!(records[0]["type"], "info");
    let d = &records[0]["data"];
    assert_eq!(d["group"], "224.1.1.5");
    assert_eq!(d["family"], "ipv4");
    assert_eq!(d["scope"], "global");
    assert_eq!(d["ssm"], false);
    assert_eq!(d["mac"], "01:00:5e:01:01:05");
    let collisions = d["mac_collisions"].as_array().unwrap();
    assert_eq!(collisions.len(), 32);
    assert!(collisions.contains(&serde_json::json!("239.129.1.5")));
}

// issue #2 (info) — text output, and a unicast address is a usage error.
#[test]
fn info_text_and_errors() {
    let out = run(&["info", "232.1.1.1"]);
    assert_eq!(out.code(), 0, "{}", out.stderr_text());
    assert!(
        out.stdout_text().contains("ssm:         yes"),
        "{}",
        out.stdout_text()
    );
    let err = usage_error(&["info", "8.8.8.8"]);
    assert!(err.contains("224.0.0.0/4"), "{err}");
}

/// Runs `mcast ARGS` (any bytes, not only UTF-8) to completion with `stdin` as its input.
fn run_bytes(args: &[&[u8]], stdin: &[u8]) -> util::Output {
    use std::os::unix::ffi::OsStrExt as _;
    let mut cmd = mcast();
    cmd.args(args.iter().map(|a| std::ffi::OsStr::from_bytes(a)));
    let mut p = Proc::spawn("mcast (bytes)", cmd);
    p.write_stdin(stdin);
    p.close_stdin();
    p.finish()
}

/// Asserts a usage error of exactly two lines, `error: …` and `hint: …`; returns the error line.
fn two_line_usage_error(args: &[&str]) -> String {
    let err = usage_error(args);
    let lines: Vec<&str> = err.lines().collect();
    assert_eq!(
        lines.len(),
        2,
        "{args:?}: one error and one hint line:\n{err}"
    );
    assert!(lines[1].starts_with("hint: "), "{args:?}: {err}");
    lines[0].to_owned()
}

// issue #2 (review) — a MESSAGE too big for one UDP datagram is a usage error before anything
// is sent; the largest one that fits arrives whole.
#[test]
fn oversized_message_is_refused_before_sending() {
    let rx = receiver(
        "239.1.6.1",
        "47113",
        &["-c", "1", "--json", "--timeout", "10s"],
    );
    let big = "x".repeat(65_508);
    let err = usage_error(&["send", "239.1.6.1", "47113", &big, "-i", LO, "--ttl", "0"]);
    assert!(
        err.contains(
            "message is 65508 bytes; an IPv4 UDP datagram holds at most 65507 bytes (65479 with --framed)"
        ),
        "{err}"
    );
    let framed = "x".repeat(65_480);
    let err = usage_error(&[
        "send",
        "239.1.6.1",
        "47113",
        &framed,
        "-i",
        LO,
        "--ttl",
        "0",
        "--framed",
    ]);
    assert!(
        err.contains(
            "message is 65480 bytes; with --framed an IPv4 UDP datagram holds at most 65479 bytes"
        ),
        "{err}"
    );
    // The limit itself goes through, so the refusals above were not a socket's failure.
    let fits = "y".repeat(65_507);
    send("239.1.6.1", "47113", &fits, &[]);
    let got = rx.finish();
    assert_eq!(got.code(), 0, "{}", got.stderr_text());
    let lens: Vec<u64> = got
        .json()
        .iter()
        .filter(|r| r["type"] == "recv")
        .map(|r| r["data"]["len"].as_u64().unwrap())
        .collect();
    assert_eq!(lens, [65_507], "only the datagram that fits was sent");
}

// issue #2 (review) — a too-long stdin line stops `send` there with its line number; the lines
// before it were sent, nothing after.
#[test]
fn oversized_stdin_line_fails_with_its_number() {
    let rx = receiver("239.1.6.2", "47114", &["--timeout", "2s"]);
    let mut input = b"one\ntwo\n".to_vec();
    input.extend(std::iter::repeat_n(b'z', 70_000));
    input.extend(b"\nafter\n");
    let out = run_bytes(
        &[
            b"send",
            b"239.1.6.2",
            b"47114",
            b"-i",
            LO.as_bytes(),
            b"--ttl",
            b"0",
        ],
        &input,
    );
    out.assert_no_panic();
    assert_eq!(out.code(), 2, "{}", out.stderr_text());
    let err = out.stderr_text();
    assert!(
        err.starts_with(
            "error: stdin line 3 is 70000 bytes; an IPv4 UDP datagram holds at most 65507 bytes"
        ) && err.contains("lines 1-2 were sent before it, nothing after"),
        "{err}"
    );
    let got = rx.finish();
    assert_eq!(got.code(), 0, "{}", got.stderr_text());
    assert_eq!(got.stdout, ["one", "two"], "nothing after the long line");
}

// issue #2 (review) — `send` checks the interface's address family like `recv` (exit 2, the
// same message), instead of failing in the socket with "Network is unreachable".
#[test]
fn send_checks_the_address_family_of_the_interface() {
    let send_err = usage_error(&["send", "ff15::1", "47115", "hi", "-i", LO, "--ttl", "0"]);
    let recv_err = usage_error(&["recv", "ff15::1", "47115", "-i", LO]);
    assert!(
        send_err.contains(
            "interface address 127.0.0.1 and group ff15::1 are of different address families"
        ),
        "{send_err}"
    );
    assert_eq!(send_err, recv_err);
}

// issue #2 (review) — text mode prints one payload per line with control characters and bad
// UTF-8 escaped; plain text stays verbatim; JSON carries the exact bytes; MESSAGE may be any
// bytes.
#[test]
fn payloads_are_escaped_in_text_and_exact_in_json() {
    let text = receiver("239.1.6.3", "47116", &["-c", "2", "--timeout", "10s"]);
    let json = receiver(
        "239.1.6.3",
        "47116",
        &["-c", "2", "--json", "--timeout", "10s"],
    );
    send("239.1.6.3", "47116", "Hello, World!", &[]);
    let weird: &[u8] = b"a\nb\x1b[31m\xff\tc";
    let sent = run_bytes(
        &[
            b"send",
            b"239.1.6.3",
            b"47116",
            weird,
            b"-i",
            LO.as_bytes(),
            b"--ttl",
            b"0",
            b"--json",
        ],
        b"",
    );
    assert_eq!(sent.code(), 0, "{}", sent.stderr_text());
    let record = &sent.json()[0];
    assert_eq!(record["type"], "send");
    assert_eq!(record["data"]["utf8"], false);
    assert_eq!(record["data"]["payload_hex"], "610a621b5b33316dff0963");
    let text = text.finish();
    assert_eq!(text.code(), 0, "{}", text.stderr_text());
    assert_eq!(text.stdout, ["Hello, World!", r"a\nb\u{1b}[31m\xff\tc"]);
    let json = json.finish();
    assert_eq!(json.code(), 0, "{}", json.stderr_text());
    let recvs: Vec<serde_json::Value> = json
        .json()
        .into_iter()
        .filter(|r| r["type"] == "recv")
        .map(|r| r["data"].clone())
        .collect();
    assert_eq!(recvs.len(), 2);
    assert_eq!(recvs[0]["payload"], "Hello, World!");
    assert_eq!(recvs[0]["utf8"], true);
    assert!(recvs[0].get("payload_hex").is_none(), "{}", recvs[0]);
    assert_eq!(recvs[1]["utf8"], false);
    assert_eq!(recvs[1]["payload_hex"], "610a621b5b33316dff0963");
}

// issue #3 (review) — every joined group's count is reported, zeros included: listed up to 20
// groups, summed up beyond that, and always complete in the JSON stats.
#[test]
fn per_group_counts_include_silent_groups() {
    let few = receiver("239.1.7.1+3", "47117", &["-c", "1", "--timeout", "10s"]);
    let many = receiver(
        "239.1.7.1+25",
        "47117",
        &["-c", "1", "--json", "--timeout", "10s"],
    );
    send("239.1.7.2", "47117", "to the second", &[]);
    let few = few.finish();
    assert_eq!(few.code(), 0, "{}", few.stderr_text());
    let err = few.stderr_text();
    for line in ["  239.1.7.1: 0", "  239.1.7.2: 1", "  239.1.7.3: 0"] {
        assert!(few.stderr.iter().any(|l| l == line), "{line:?} in:\n{err}");
    }
    let many = many.finish();
    assert_eq!(many.code(), 0, "{}", many.stderr_text());
    let err = many.stderr_text();
    assert!(
        err.contains("1 group received datagrams, 24 received nothing"),
        "{err}"
    );
    assert!(many.stderr.iter().any(|l| l == "  239.1.7.2: 1"), "{err}");
    assert!(err.contains("use --json for every group"), "{err}");
    let records = many.json();
    let stats = &records.iter().find(|r| r["type"] == "stats").unwrap()["data"];
    let groups = stats["groups"].as_object().unwrap();
    assert_eq!(groups.len(), 25, "{groups:?}");
    assert_eq!(groups["239.1.7.2"], 1);
    assert_eq!(groups["239.1.7.25"], 0);
    assert_eq!(stats["distinct_groups"], 1);
}

// issue #2 (review) — clap errors are one `error:` line and one `hint:` line that name the
// real problem, negative values included.
#[test]
fn clap_errors_are_one_line_and_name_the_problem() {
    assert_eq!(
        two_line_usage_error(&["recv", "224.1.1.5", "5000", "-c", "0"]),
        "error: -c/--count must be at least 1 (got '0')"
    );
    assert_eq!(
        two_line_usage_error(&["send", "224.1.1.5", "5000", "hi", "-c", "0"]),
        "error: -c/--count must be at least 1 (got '0')"
    );
    assert_eq!(
        two_line_usage_error(&["send", "224.1.1.5", "5000", "hi", "--ttl", "-1"]),
        "error: --ttl must be 0-255 (got '-1')"
    );
    assert_eq!(
        two_line_usage_error(&["send", "224.1.1.5", "5000", "hi", "--ttl", "300"]),
        "error: --ttl must be 0-255 (got '300')"
    );
    let err = two_line_usage_error(&["send", "224.1.1.5", "5000", "hi", "--interval", "-1s"]);
    assert!(
        err.starts_with("error: --interval '-1s' is negative"),
        "{err}"
    );
    assert_eq!(
        two_line_usage_error(&["send", "224.1.1.5", "-1", "hi"]),
        "error: port -1 is out of range: a UDP port is 1-65535"
    );
    assert_eq!(
        two_line_usage_error(&["recv", "224.1.1.5", "-1"]),
        "error: port -1 is out of range: a UDP port is 1-65535"
    );
    // PORT may come inside GROUPS (socat's GROUPS:PORT, issue 11): clap asks for GROUPS, and a
    // group without any port is refused by name.
    let err = usage_error(&["recv"]);
    assert_eq!(
        err,
        "error: the following required arguments were not provided: <GROUPS>\nhint: try 'mcast recv --help'"
    );
    assert_eq!(
        two_line_usage_error(&["recv", "224.1.1.5"]),
        "error: no PORT after '224.1.1.5': write GROUP PORT or GROUP:PORT, e.g. 239.1.2.3 5000 or 239.1.2.3:5000"
    );
    // No "to pass '-x' as a value, use '-- -x'" tip: the hint points to --help instead.
    for args in [
        &["send", "-x"][..],
        &["recv", "224.1.1.5", "5000", "-c", "x"],
    ] {
        two_line_usage_error(args);
        let err = usage_error(args);
        assert!(
            err.ends_with(&format!("hint: try 'mcast {} --help'", args[0])),
            "{err}"
        );
    }
    let err = usage_error(&["sned"]);
    assert!(
        err.ends_with("hint: a similar subcommand exists: 'send'"),
        "{err}"
    );
}

// issue #2 (review) — a zero --timeout is a usage error (exit 2) for recv and sniff, not an
// immediate exit 1.
#[test]
fn zero_timeout_is_a_usage_error() {
    for args in [
        &["recv", "239.1.6.4", "47118", "-i", LO, "--timeout", "0s"][..],
        &["sniff", "-i", "lo", "--timeout", "0s"],
        &["sniff", "-i", "lo", "--timeout", "0ms", "-c", "1"],
    ] {
        let err = two_line_usage_error(args);
        assert!(
            err.starts_with("error: --timeout must be longer than 0"),
            "{args:?}: {err}"
        );
    }
}

// Review fix — a range too large to join is refused at once (exit 2, the count, the limit,
// a hint), before any group is listed: 224.0.0.0+268435456 used to list groups for 24 s
// (784 MB) before anything was said, and ignored SIGTERM's summary meanwhile.
#[test]
fn a_range_too_large_to_join_is_refused_at_once() {
    let quick = std::time::Duration::from_secs(5);
    for (groups, says) in [
        (
            "224.0.0.0+268435456",
            "names 268435456 groups: mcast recv joins at most 1000000",
        ),
        (
            "ff15::1+4294967295",
            "names 4294967295 groups: mcast recv joins at most 1000000",
        ),
        ("239.1.0.1+600000,239.2.0.1+600000", "names 1200000 groups"),
    ] {
        let t = std::time::Instant::now();
        let line = two_line_usage_error(&["recv", groups, "47197", "-i", LO, "--timeout", "200ms"]);
        assert!(t.elapsed() < quick, "{groups}: took {:?}", t.elapsed());
        assert!(line.contains(says), "{groups}: {line}");
    }
    // Past the open-file limit: the sockets it would take, the limit and what fits. With
    // `ulimit -n 1024`, 1024 sockets are too many whatever the per-socket limit.
    let per_socket: u64 = std::fs::read_to_string("/proc/sys/net/ipv4/igmp_max_memberships")
        .ok()
        .and_then(|m| m.trim().parse().ok())
        .unwrap_or(20);
    let groups = format!("239.0.0.0+{}", per_socket * 1024);
    let mut cmd = std::process::Command::new("sh");
    cmd.arg("-c")
        .arg("ulimit -n 1024 && exec \"$0\" \"$@\"")
        .arg(env!("CARGO_BIN_EXE_mcast"))
        .args(["recv", &groups, "47197", "-i", LO]);
    let t = std::time::Instant::now();
    let mut p = Proc::spawn("mcast recv (ulimit -n 1024)", cmd);
    p.close_stdin();
    let out = p.finish();
    assert!(t.elapsed() < quick, "took {:?}", t.elapsed());
    assert_eq!(out.code(), 2, "{}", out.stderr_text());
    let err = out.stderr_text();
    assert!(
        err.starts_with(&format!(
            "error: '{groups}' names {} groups, which take 1024 sockets",
            per_socket * 1024
        )),
        "{err}"
    );
    assert!(
        err.contains("more than the open-file limit (1024) allows"),
        "{err}"
    );
    assert!(
        err.contains("hint: raise the limit, e.g. `ulimit -n 2048`"),
        "{err}"
    );
    assert!(!err.contains("listening"), "{err}");
}

// Review fix — messages: a range count past the maximum says so (not "is not a group
// range"); a zone followed by :PORT is answered with the bracket form, with or without a PORT
// argument; `info` takes the zone form send and recv take, and names the interface.
#[test]
fn messages_name_the_real_problem() {
    let line = usage_error(&["recv", "ff15::1+4294967296", "47198", "-i", "lo"]);
    assert!(
        line.contains("counts more groups than a range can hold (at most 4294967295)"),
        "{line}"
    );
    assert!(!line.contains("is not a group range"), "{line}");
    for args in [
        &["send", "ff02::1:3%va:5000", "hi"][..],
        &["send", "ff02::1:3%va:5000", "5000", "hi"],
    ] {
        let line = usage_error(args);
        assert!(
            line.contains("goes in brackets: write [ff02::1:3%va]:5000"),
            "{args:?}: {line}"
        );
    }
    let out = run(&["info", "ff02::1%lo"]);
    assert_eq!(out.code(), 0, "{}", out.stderr_text());
    let text = out.stdout_text();
    assert!(text.contains("group:       ff02::1 (ipv6)"), "{text}");
    assert!(text.contains("zone:        interface lo"), "{text}");
    let out = run(&["info", "ff02::1%lo", "--json"]);
    let v: serde_json::Value = serde_json::from_str(out.stdout[0].as_str()).unwrap();
    assert_eq!(v["data"]["zone"], "lo");
    let line = usage_error(&["info", "224.0.0.1%lo"]);
    assert!(line.contains("a %zone belongs to IPv6 addresses"), "{line}");
}

// issue #2 (review) — without MESSAGE and with empty stdin, send says it sent nothing.
#[test]
fn empty_stdin_is_noted() {
    let out = run(&[
        "send",
        "239.1.2.7",
        "47119",
        "-i",
        LO,
        "--ttl",
        "0",
        "--json",
    ]);
    out.assert_no_panic();
    assert_eq!(out.code(), 0, "{}", out.stderr_text());
    assert!(
        out.stderr_text()
            .contains("stdin was empty, so nothing was sent"),
        "{}",
        out.stderr_text()
    );
    let records = out.json();
    assert_eq!(records.last().unwrap()["type"], "end");
    assert_eq!(records.last().unwrap()["data"]["datagrams"], 0);
}

// issue 11 — `recv` without -i names the interface the kernel chose for the group (its route
// lookup), not just "0.0.0.0". In a namespace of its own, so no join leaves this host.
#[test]
fn recv_without_iface_names_the_kernels_choice() {
    use util::netns::{sh, skip_unless_root, Netns};
    if skip_unless_root("recv_without_iface_names_the_kernels_choice") {
        return;
    }
    let ns = Netns::new("mcast-route");
    // No route to the group: the join fails, and the existing hint says why.
    let out = ns.run(&["recv", "239.1.2.3", "47652", "--timeout", "100ms"]);
    assert!(
        out.stderr_text()
            .contains("the kernel has no route for 239.1.2.3"),
        "{}",
        out.stderr_text()
    );
    sh(&[
        "ip",
        "-n",
        &ns.name,
        "route",
        "add",
        "224.0.0.0/4",
        "dev",
        "lo",
    ]);
    let out = ns.run(&["recv", "239.1.2.3", "47652", "--timeout", "100ms", "--json"]);
    let err = out.stderr_text();
    assert!(
        err.contains(
            "listening on 239.1.2.3:47652 (interface lo (127.0.0.1), the kernel's choice)"
        ),
        "{err}"
    );
    assert_eq!(
        out.json()[0]["data"]["interface"],
        "lo (127.0.0.1), the kernel's choice"
    );
}

// issue 11 — one base for session ids (hex in text and in JSON), and "1 byte", not "1 bytes".
#[test]
fn session_ids_are_hex_everywhere_and_counts_agree_in_number() {
    let rx = receiver(
        "239.1.2.11",
        "47653",
        &["-c", "1", "--json", "--timeout", "10s"],
    );
    let out = run(&[
        "send",
        "239.1.2.11",
        "47653",
        "x",
        "-i",
        LO,
        "--ttl",
        "0",
        "--framed",
        "-v",
    ]);
    assert_eq!(out.code(), 0, "{}", out.stderr_text());
    // 28 bytes of frame header and one of payload.
    let line = &out.stdout[0];
    let session = line
        .strip_prefix("sent 29 bytes to 239.1.2.11:47653 (session ")
        .and_then(|rest| rest.strip_suffix(" seq 0)"))
        .unwrap_or_else(|| panic!("{line}"));
    assert!(
        session.len() == 8 && session.bytes().all(|b| b.is_ascii_hexdigit()),
        "{session}"
    );
    // (-v also turns on info-level logging, whose lines come first.)
    assert!(
        out.stderr
            .iter()
            .any(|l| l.starts_with("sent 1 datagram, 29 bytes to ")),
        "{}",
        out.stderr_text()
    );
    let got = rx.finish_ok();
    let records = got.json();
    let recv = records.iter().find(|r| r["type"] == "recv").unwrap();
    assert_eq!(recv["data"]["frame"]["session"], session, "{recv}");
    let stats = records.iter().find(|r| r["type"] == "stats").unwrap();
    assert_eq!(
        stats["data"]["framed"]["streams"][0]["session"], session,
        "{stats}"
    );
    // Raw: one byte is "1 byte", in the line and in the summary.
    let out = run(&[
        "send",
        "239.1.2.11",
        "47653",
        "x",
        "-i",
        LO,
        "--ttl",
        "0",
        "-v",
    ]);
    assert_eq!(out.stdout, ["sent 1 byte to 239.1.2.11:47653"]);
    assert!(
        out.stderr
            .iter()
            .any(|l| l.starts_with("sent 1 datagram, 1 byte to 239.1.2.11:47653")),
        "{}",
        out.stderr_text()
    );
    assert!(
        got.stderr_text()
            .contains("received 1 datagram, 29 bytes, from 1 distinct group in"),
        "{}",
        got.stderr_text()
    );
}

// issue 11 — `info` names well-known groups (text and JSON) and says that link-local groups
// are never routed, whatever the TTL.
#[test]
fn info_names_well_known_groups() {
    let out = run(&["info", "224.0.0.251"]);
    assert_eq!(out.code(), 0, "{}", out.stderr_text());
    let text = out.stdout_text();
    assert!(
        text.contains("known as:    mDNS, multicast DNS (RFC 6762)"),
        "{text}"
    );
    assert!(
        text.contains("never forward it, whatever the TTL"),
        "{text}"
    );
    let out = run(&["info", "ff02::1:2", "--json"]);
    assert_eq!(
        out.json()[0]["data"]["well_known"],
        "DHCPv6, all relay agents and servers"
    );
    let out = run(&["info", "224.1.1.5", "--json"]);
    assert_eq!(out.json()[0]["data"]["well_known"], serde_json::Value::Null);
}

// issue 11 — joining an SSM group without --source gets a note: nothing will arrive.
#[test]
fn ssm_join_without_source_is_noted() {
    let out = run(&["recv", "232.1.2.3", "47654", "-i", LO, "--timeout", "100ms"]);
    let err = out.stderr_text();
    assert!(
        err.starts_with("note: 232.1.2.3 is in the SSM range (232.0.0.0/8, ff3x::/32): nothing arrives there without --source S"),
        "{err}"
    );
    let out = run(&[
        "recv",
        "232.1.2.3",
        "47654",
        "-i",
        LO,
        "--source",
        LO,
        "--timeout",
        "100ms",
    ]);
    assert!(
        !out.stderr_text().contains("note:"),
        "{}",
        out.stderr_text()
    );
}

// issue 11 — `--no-loop` on lo still delivers (lo hands back what is sent on it): a note says
// so, and the help explains it.
#[test]
fn no_loop_on_lo_is_explained() {
    let rx = receiver("239.1.2.12", "47655", &["-c", "1", "--timeout", "10s"]);
    let out = run(&[
        "send",
        "239.1.2.12",
        "47655",
        "still here",
        "-i",
        LO,
        "--ttl",
        "0",
        "--no-loop",
    ]);
    assert_eq!(out.code(), 0, "{}", out.stderr_text());
    assert!(
        out.stderr_text()
            .starts_with("note: --no-loop cannot stop delivery on lo"),
        "{}",
        out.stderr_text()
    );
    assert_eq!(rx.finish_ok().stdout, ["still here"]);
    let help = run(&["send", "--help"]).stdout_text();
    assert!(help.contains("It cannot stop delivery over lo"), "{help}");
}

// issue 11 — socat's GROUP:PORT form, wherever GROUP PORT are taken.
#[test]
fn group_colon_port_is_accepted() {
    let mut rx = Proc::mcast(&[
        "recv",
        "239.1.2.13:47656",
        "-i",
        LO,
        "-c",
        "2",
        "--timeout",
        "10s",
    ]);
    rx.wait_listening();
    let out = run(&[
        "send",
        "239.1.2.13:47656",
        "from GROUP:PORT",
        "-i",
        LO,
        "--ttl",
        "0",
    ]);
    assert_eq!(out.code(), 0, "{}", out.stderr_text());
    send("239.1.2.13", "47656", "from GROUP PORT", &[]);
    let got = rx.finish_ok();
    assert_eq!(got.stdout, ["from GROUP:PORT", "from GROUP PORT"]);
    assert!(
        got.stderr_text().contains("listening on 239.1.2.13:47656"),
        "{}",
        got.stderr_text()
    );
    // Stdin lines after GROUP:PORT alone.
    let mut rx = receiver("239.1.2.13", "47656", &["-c", "1", "--timeout", "10s"]);
    let mut tx = Proc::mcast(&["send", "239.1.2.13:47656", "-i", LO, "--ttl", "0"]);
    tx.write_stdin(b"a line\n");
    assert_eq!(tx.finish().code(), 0);
    rx.wait_stdout("a line");
    rx.finish_ok();
    // The port once, not twice; a port in range.
    let err = usage_error(&["recv", "239.1.2.13:47656", "47656", "-i", LO]);
    assert!(err.contains("names the port already"), "{err}");
    let err = usage_error(&["send", "239.1.2.13:70000", "x", "-i", LO]);
    assert_eq!(
        err,
        "error: port 70000 is out of range: a UDP port is 1-65535\nhint: try 'mcast send --help'"
    );
    let err = usage_error(&["send", "239.1.2.13:47656", "a", "b", "-i", LO]);
    assert!(err.contains("one word too many"), "{err}");
    let err = usage_error(&["perf", "recv", "239.1.2.13", "-i", LO]);
    assert!(err.contains("no PORT after '239.1.2.13'"), "{err}");
}

// issue 11 — `send --source-port N` binds before sending: the receiver sees port N.
#[test]
fn send_source_port_is_what_the_receiver_sees() {
    let rx = receiver(
        "239.1.2.14",
        "47658",
        &["-c", "1", "--json", "--timeout", "10s"],
    );
    send(
        "239.1.2.14",
        "47658",
        "from 47659",
        &["--source-port", "47659"],
    );
    let got = rx.finish_ok();
    let recv = got
        .json()
        .into_iter()
        .find(|r| r["type"] == "recv")
        .expect("a recv record");
    assert_eq!(recv["data"]["source"], "127.0.0.1:47659", "{recv}");
    let err = usage_error(&["send", "239.1.2.14", "47658", "x", "--source-port", "0"]);
    assert!(
        err.starts_with("error: --source-port: port 0 is out of range"),
        "{err}"
    );
}

// issue 11 — `send --raw`: stdin without line splitting, newlines, CRs and NULs byte-exact.
#[test]
fn raw_stdin_arrives_byte_exact() {
    let rx = receiver(
        "239.1.2.15",
        "47660",
        &["-c", "1", "--json", "--timeout", "10s"],
    );
    let data: &[u8] = b"one\ntwo\r\n\0three\0\xff\xfe\n\n";
    let mut tx = Proc::mcast(&[
        "send",
        "239.1.2.15",
        "47660",
        "--raw",
        "-i",
        LO,
        "--ttl",
        "0",
        "-v",
    ]);
    tx.write_stdin(data);
    let sent = tx.finish();
    assert_eq!(sent.code(), 0, "{}", sent.stderr_text());
    assert_eq!(
        sent.stdout,
        [format!("sent {} bytes to 239.1.2.15:47660", data.len())]
    );
    let got = rx.finish_ok();
    let recv = got
        .json()
        .into_iter()
        .find(|r| r["type"] == "recv")
        .expect("a recv record");
    let hex: String = data.iter().map(|b| format!("{b:02x}")).collect();
    assert_eq!(recv["data"]["payload_hex"], hex, "{recv}");
    assert_eq!(recv["data"]["len"], data.len());
    let err = usage_error(&["send", "239.1.2.15", "47660", "x", "--raw", "-i", LO]);
    assert!(err.contains("--raw reads stdin"), "{err}");
}
