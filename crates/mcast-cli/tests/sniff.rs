//! Integration tests of `mcast sniff`, `mcast groups` and `mcast ifaces`.
//!
//! Network safety: every test that captures or sends runs inside a network namespace it creates
//! (`mcast-sniff-<pid>-<n>`, with `lo` and a veth pair `va`/`vb` of its own) and deletes again
//! on drop, also when the test fails. Nothing is sent or captured in the host's namespace. Those
//! tests need root (namespaces, `CAP_NET_RAW`) and print why they skip without it.
//!
//! "issue #4 (sniff)" marks the requirement these tests serve (the scapy-style line, filters,
//! pcap output readable by tcpdump, exit codes, the CAP_NET_RAW hint, Ctrl-C).

use std::path::Path;
use std::process::Command;

use crate::util::netns::{is_root, sh, skip_unless_root, skip_without, Netns};
use crate::util::{self, Proc};

/// The sniff tests' own namespace set-up, on top of the shared [`Netns`].
impl Netns {
    /// A fresh `mcast-sniff-<pid>-<n>` namespace.
    fn sniff() -> Self {
        Self::new("mcast-sniff")
    }

    /// Adds the veth pair `va` (192.168.56.3/24) — `vb` (192.168.56.4/24), both up, inside.
    fn with_veth(self) -> Self {
        self.add_veth_pair();
        let n = self.name.as_str();
        sh(&["ip", "-n", n, "addr", "add", "192.168.56.3/24", "dev", "va"]);
        sh(&["ip", "-n", n, "addr", "add", "192.168.56.4/24", "dev", "vb"]);
        self
    }

    /// Turns IPv6 off inside the namespace (before links are made), so no MLD chatter appears.
    fn without_ipv6(self) -> Self {
        self.ipv6_sysctl("disable_ipv6", 1);
        self
    }

    /// Sends one UDP datagram per `(dst, dport)` inside the namespace, from `src:sport`, with
    /// `IP_MULTICAST_IF` pinned to `src` and TTL 1. Bounded: one datagram each.
    fn send(&self, src: &str, sport: u16, msgs: &[(&str, u16)]) {
        let targets: Vec<String> = msgs.iter().map(|(d, p)| format!("{d}:{p}")).collect();
        let mut c = self.cmd("python3");
        c.args(["-c", PY_SEND, src, &sport.to_string()])
            .args(&targets);
        let out = c.output().expect("run python3");
        assert!(
            out.status.success(),
            "sending failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

/// `python3 -c PY_SEND SRC SPORT DST:PORT...`: one "Hello, World!" to each target.
const PY_SEND: &str = r#"
import socket, sys
src, sport = sys.argv[1], int(sys.argv[2])
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind((src, sport))
s.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF, socket.inet_aton(src))
s.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL, 1)
for t in sys.argv[3:]:
    host, port = t.rsplit(":", 1)
    s.sendto(b"Hello, World!", (host, int(port)))
"#;

/// `tcpdump -r FILE -nn` lines (the packets), panicking with tcpdump's stderr on failure.
fn tcpdump_read(file: &Path) -> Vec<String> {
    let out = Command::new("tcpdump")
        .arg("-r")
        .arg(file)
        .arg("-nn")
        .output()
        .expect("run tcpdump");
    assert!(
        out.status.success(),
        "tcpdump -r {} failed: {}",
        file.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_owned)
        .collect()
}

// issue #4 (sniff) — the lecture's datagram on a veth, filtered by port, saved as pcap.
#[test]
fn sniff_veth_port_filter_line_and_pcap() {
    const TEST: &str = "sniff_veth_port_filter_line_and_pcap";
    if skip_unless_root(TEST) || skip_without("python3", TEST) || skip_without("tcpdump", TEST) {
        return;
    }
    let ns = Netns::sniff().with_veth();
    let pcap = ns.file("x.pcap");
    let pcap_arg = pcap.to_str().expect("utf-8 temp path");
    let mut sniff = ns.mcast(&[
        "sniff",
        "-i",
        "vb",
        "--port",
        "50001",
        "-c",
        "1",
        "-w",
        pcap_arg,
        "--timeout",
        "10s",
    ]);
    let listening = sniff.wait_stderr("listening on");
    assert!(listening.contains("vb"), "names the interface: {listening}");
    // A datagram to another port first: the filter must skip it.
    ns.send(
        "192.168.56.3",
        52582,
        &[("224.1.1.5", 50002), ("224.1.1.5", 50001)],
    );
    let out = sniff.finish_ok();
    assert_eq!(
        out.stdout,
        ["Ether / IP / UDP 192.168.56.3:52582 > 224.1.1.5:50001 / Raw"]
    );
    assert!(
        out.stderr_text().contains("1 packet"),
        "summary: {}",
        out.stderr_text()
    );
    let packets = tcpdump_read(&pcap);
    assert_eq!(packets.len(), 1, "tcpdump read: {packets:?}");
    assert!(
        packets[0].contains("192.168.56.3.52582 > 224.1.1.5.50001: UDP, length 13"),
        "tcpdump read: {packets:?}"
    );
}

// issue #4 (sniff) — --group and --json: one packet record, then an end record.
#[test]
fn sniff_group_filter_json() {
    const TEST: &str = "sniff_group_filter_json";
    if skip_unless_root(TEST) || skip_without("python3", TEST) {
        return;
    }
    let ns = Netns::sniff();
    let mut sniff = ns.mcast(&[
        "sniff",
        "-i",
        "lo",
        "--group",
        "224.1.1.5",
        "-c",
        "1",
        "--json",
        "--hexdump",
        "--timeout",
        "10s",
    ]);
    sniff.wait_stderr("listening on");
    ns.send(
        "127.0.0.1",
        40001,
        &[("234.3.2.1", 50001), ("224.1.1.5", 50001)],
    );
    let out = sniff.finish_ok();
    let records = out.json();
    assert_eq!(records.len(), 2, "{records:?}");
    let p = &records[0];
    assert_eq!(p["type"], "packet");
    assert_eq!(
        p["data"]["summary"],
        "Ether / IP / UDP 127.0.0.1:40001 > 224.1.1.5:50001 / Raw"
    );
    assert_eq!(p["data"]["interface"], "lo");
    assert_eq!(p["data"]["len"], 14 + 20 + 8 + 13);
    assert_eq!(p["data"]["decoded"]["dst"], "224.1.1.5");
    // A decimal string: a timestamp in ns is above 2^53.
    assert!(p["data"]["time_ns"]
        .as_str()
        .and_then(|t| t.parse::<u64>().ok())
        .is_some_and(|t| t > 1 << 53));
    let dump = p["data"]["hexdump"].as_str().expect("hexdump text");
    assert!(dump.starts_with("0000  00 00 00 00 00 00"), "{dump}");
    assert_eq!(records[1]["type"], "end");
    assert_eq!(records[1]["data"]["reason"], "count");
    assert_eq!(records[1]["data"]["packets"], 1);
}

/// Joins 224.1.1.5 on 192.168.56.3 (va), prints "joined", and holds the membership until stdin
/// closes (at most 20 s).
const PY_JOIN: &str = "import socket, struct, sys, select\n\
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n\
s.setsockopt(socket.IPPROTO_IP, socket.IP_ADD_MEMBERSHIP, \
struct.pack('=4s4s', socket.inet_aton('224.1.1.5'), socket.inet_aton('192.168.56.3')))\n\
print('joined')\n\
select.select([sys.stdin], [], [], 20)\n";

/// Starts [`PY_JOIN`] inside `ns` and waits until it joined.
fn join_on_va(ns: &Netns) -> Proc {
    let mut c = ns.cmd("python3");
    c.args(["-u", "-c", PY_JOIN]);
    let mut p = Proc::spawn("python3 joiner", c);
    p.wait_stdout("joined");
    p
}

// issue #4 (sniff) — --group keeps IGMP visible: a join on va shows up on vb as a report.
#[test]
fn sniff_group_filter_shows_igmp_join() {
    const TEST: &str = "sniff_group_filter_shows_igmp_join";
    if skip_unless_root(TEST) || skip_without("python3", TEST) {
        return;
    }
    let ns = Netns::sniff().without_ipv6().with_veth();
    let mut sniff = ns.mcast(&[
        "sniff",
        "-i",
        "vb",
        "--group",
        "224.1.1.5",
        "-c",
        "1",
        "--timeout",
        "10s",
    ]);
    sniff.wait_stderr("listening on");
    let mut joiner = join_on_va(&ns);
    let out = sniff.finish();
    joiner.close_stdin();
    drop(joiner.finish());
    out.assert_no_panic();
    assert_eq!(out.code(), 0, "{}", out.stderr_text());
    assert_eq!(out.stdout.len(), 1, "{:?}", out.stdout);
    let line = &out.stdout[0];
    assert!(line.starts_with("Ether / IP / IGMPv"), "{line}");
    assert!(line.contains("224.1.1.5"), "{line}");
    // The line names the joining host (va) as the sender, and says "join" in any version.
    assert!(line.contains(" 192.168.56.3 > "), "{line}");
    assert!(line.contains(" report: join 224.1.1.5"), "{line}");
}

// issue #4 (sniff) — --timeout with nothing captured exits 1 with a hint; with something, 0.
#[test]
fn sniff_timeout_exit_codes() {
    const TEST: &str = "sniff_timeout_exit_codes";
    if skip_unless_root(TEST) || skip_without("python3", TEST) {
        return;
    }
    let ns = Netns::sniff();
    let out = ns.run(&["sniff", "-i", "lo", "--port", "50001", "--timeout", "300ms"]);
    out.assert_no_panic();
    assert_eq!(out.code(), 1, "{}", out.stderr_text());
    let err = out.stderr_text();
    assert!(err.contains("error: timeout: no packet"), "{err}");
    assert!(err.contains("hint: "), "{err}");
    assert!(out.stdout.is_empty());

    // Two packets wanted, one sent: the timeout still ends it with success. (The timeout
    // leaves room for the sender's start, which a loaded host, or the rest of the test binary
    // running beside this test, can stretch past a second.)
    let mut sniff = ns.mcast(&[
        "sniff",
        "-i",
        "lo",
        "--port",
        "50001",
        "-c",
        "2",
        "--timeout",
        "5s",
    ]);
    sniff.wait_stderr("listening on");
    ns.send("127.0.0.1", 40002, &[("224.1.1.5", 50001)]);
    let out = sniff.finish();
    assert_eq!(out.code(), 0, "{}", out.stderr_text());
    assert_eq!(out.stdout.len(), 1, "{:?}", out.stdout);
}

// issue #4 (sniff) — Ctrl-C ends the capture cleanly and leaves a readable pcap file.
#[test]
fn sniff_ctrl_c_leaves_readable_pcap() {
    const TEST: &str = "sniff_ctrl_c_leaves_readable_pcap";
    if skip_unless_root(TEST) || skip_without("python3", TEST) || skip_without("tcpdump", TEST) {
        return;
    }
    let ns = Netns::sniff();
    let pcap = ns.file("ctrl-c.pcap");
    let pcap_arg = pcap.to_str().expect("utf-8 temp path");
    let mut sniff = ns.mcast(&[
        "sniff",
        "-i",
        "lo",
        "--port",
        "50001",
        "-w",
        pcap_arg,
        "--timeout",
        "15s",
    ]);
    sniff.wait_stderr("listening on");
    ns.send("127.0.0.1", 40003, &[("224.1.1.5", 50001)]);
    sniff.wait_stdout("224.1.1.5:50001");
    sniff.interrupt();
    let out = sniff.finish_ok();
    assert!(
        out.stderr_text().contains("interrupted"),
        "{}",
        out.stderr_text()
    );
    assert_eq!(tcpdump_read(&pcap).len(), 1);
}

// issue #4 (sniff) — without CAP_NET_RAW the error says why and how to fix it.
#[test]
fn sniff_without_cap_net_raw_explains() {
    const TEST: &str = "sniff_without_cap_net_raw_explains";
    let bin = env!("CARGO_BIN_EXE_mcast");
    let args = ["sniff", "-i", "lo", "-c", "1", "--timeout", "1s"];
    let mut cmd = if is_root() {
        // Drop to nobody: setuid away from root clears every capability.
        if skip_without("setpriv", TEST) {
            return;
        }
        let mut c = Command::new("setpriv");
        c.args(["--reuid=65534", "--regid=65534", "--clear-groups", bin]);
        c
    } else {
        // Already unprivileged; the opening itself fails.
        Command::new(bin)
    };
    cmd.args(args);
    let mut p = Proc::spawn("mcast sniff (unprivileged)", cmd);
    p.close_stdin();
    let out = p.finish();
    out.assert_no_panic();
    assert_eq!(out.code(), 1, "{}", out.stderr_text());
    let err = out.stderr_text();
    assert!(
        err.contains("error: cannot open a packet capture socket"),
        "{err}"
    );
    assert!(
        err.contains("hint: sniffing needs root or CAP_NET_RAW"),
        "{err}"
    );
    assert_eq!(err.lines().count(), 2, "one error line and one hint: {err}");
}

// issue #4 (sniff) — usage errors exit 2 before anything is opened.
#[test]
fn sniff_usage_errors() {
    for (args, needle) in [
        (&["sniff", "-i", "mcast-nosuch0"][..], "interface not found"),
        (
            &["sniff", "-i", "lo", "--group", "10.1.1.1"][..],
            "not a multicast",
        ),
        (&["sniff", "-i", "lo", "--port", "70000"][..], "70000"),
        (&["sniff", "-i", "lo", "-c", "0"][..], "'0'"),
    ] {
        let out = util::run(args);
        out.assert_no_panic();
        assert_eq!(out.code(), 2, "{args:?}: {}", out.stderr_text());
        assert!(
            out.stderr_text().contains(needle),
            "{args:?}: {}",
            out.stderr_text()
        );
    }
}

// issue #4 (sniff) — `mcast ifaces` shows the veth with its address and flags.
#[test]
fn ifaces_in_namespace() {
    const TEST: &str = "ifaces_in_namespace";
    if skip_unless_root(TEST) {
        return;
    }
    let ns = Netns::sniff().with_veth();
    let out = ns.run(&["ifaces", "--json"]);
    out.assert_success();
    let records = out.json();
    let mut names: Vec<&str> = records
        .iter()
        .map(|r| r["data"]["name"].as_str().unwrap_or(""))
        .collect();
    names.sort_unstable();
    assert_eq!(names, ["lo", "va", "vb"], "{records:?}");
    let va = &records
        .iter()
        .find(|r| r["data"]["name"] == "va")
        .expect("va listed")["data"];
    assert!(va["addrs"]
        .as_array()
        .is_some_and(|a| a.iter().any(|x| x == "192.168.56.3/24")));
    assert_eq!(va["multicast"], true);
    assert_eq!(va["up"], true);

    let text = ns.run(&["ifaces"]);
    assert_eq!(text.code(), 0);
    assert!(text.stdout[0].starts_with("INDEX"), "{:?}", text.stdout);
    assert!(
        text.stdout.iter().any(|l| l.contains(" va ")
            && l.contains("MULTICAST")
            && l.contains("192.168.56.3/24")),
        "{:?}",
        text.stdout
    );
}

// issue #4 (sniff) — `mcast groups` shows a group another program joined.
#[test]
fn groups_shows_a_join() {
    const TEST: &str = "groups_shows_a_join";
    if skip_unless_root(TEST) || skip_without("python3", TEST) {
        return;
    }
    let ns = Netns::sniff().with_veth();
    let mut joiner = join_on_va(&ns);
    let out = ns.run(&["groups", "-i", "va", "--json"]);
    out.assert_success();
    let records = out.json();
    assert!(
        records
            .iter()
            .all(|r| r["type"] == "group" && r["data"]["interface"] == "va"),
        "{records:?}"
    );
    let joined = records
        .iter()
        .find(|r| r["data"]["group"] == "224.1.1.5")
        .unwrap_or_else(|| panic!("224.1.1.5 not listed: {records:?}"));
    assert_eq!(joined["data"]["users"], 1);
    assert_eq!(joined["data"]["family"], "ipv4");

    let text = ns.run(&["groups"]);
    assert_eq!(text.code(), 0);
    assert!(
        text.stdout
            .iter()
            .any(|l| l.starts_with("va ") && l.contains("224.1.1.5")),
        "{:?}",
        text.stdout
    );
    joiner.close_stdin();
    drop(joiner.finish());
}
