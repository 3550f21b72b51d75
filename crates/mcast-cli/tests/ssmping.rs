//! Integration tests of `mcast ping --ssmping` against the real `ssmpingd` (Debian's `ssmping`
//! package).
//!
//! Each test builds its own lab of two network namespaces, a server (`mcast-ssms-<pid>-<n>`)
//! and a client (`mcast-ssmc-<pid>-<n>`), joined by one veth pair: `va` (10.77.0.1/24,
//! fd77::1/64) in the server, `vb` (10.77.0.2/24, fd77::2/64) in the client, duplicate address
//! detection off. `ssmpingd` runs in the foreground in the server namespace (it answers on
//! the interface holding the address a query came to, so it needs no route for multicast) and
//! is killed by its PID on drop; both namespaces are deleted on drop, also when a test fails.
//! Nothing is sent in the host's namespace, and every query loop is bounded by `-c` and
//! `--timeout`.
//!
//! The lab tests need root and `ssmpingd`, and print why they skip without them; with
//! `CI=true` a missing tool fails the test instead. The usage tests at the end open no socket
//! and run anywhere.
//!
//! "issue (ping ssmping)" marks the requirement these tests serve: `mcast ping --ssmping SERVER
//! [GROUP]` talks the ssmping protocol to an existing `ssmpingd`, IPv4 and IPv6, SSM and ASM,
//! at the interval the user chooses.

use std::thread;
use std::time::{Duration, Instant};

use crate::util::netns::{skip_unless_root, skip_without, skip_without_ipv6, Netns, Veth};
use crate::util::{self, Output, Proc, WAIT};
use serde_json::Value;

const SERVER_V4: &str = "10.77.0.1";
const SERVER_V6: &str = "fd77::1";

/// Whether `test` must skip: prints why (not root, no IPv6, `ip` or `ssmpingd` or one of
/// `programs` missing). A missing program fails the test when `CI=true`.
fn skip(test: &str, programs: &[&str]) -> bool {
    if skip_unless_root(test) {
        return true;
    }
    if skip_without_ipv6(test) {
        return true;
    }
    ["ip", "ssmpingd"]
        .iter()
        .chain(programs)
        .any(|program| skip_without(program, test))
}

/// The two namespaces and, once started, the server. Fields drop in order: the server is
/// killed before the namespaces go.
struct Lab {
    server: Option<Proc>,
    srv: Netns,
    cli: Netns,
}

impl Lab {
    /// Creates both namespaces and the veth between them, addressed and up.
    fn new() -> Self {
        let srv = Netns::new("mcast-ssms");
        let cli = Netns::new("mcast-ssmc");
        for ns in [&srv, &cli] {
            // Before the veths exist, so they inherit it: IPv6 on, no DAD.
            ns.ipv6_sysctl("disable_ipv6", 0);
            ns.ipv6_sysctl("accept_dad", 0);
        }
        let pair = Veth::new("va", "vb")
            .in_netns(&srv)
            .peer_in(&cli)
            .addr_a("10.77.0.1/24")
            .addr_a("fd77::1/64")
            .addr_b("10.77.0.2/24")
            .addr_b("fd77::2/64");
        pair.create();
        // IPv6 drops multicast on a link until its carrier is seen, a moment after both ends
        // are up; the link-local addresses and the multicast route mark the moment.
        pair.wait_ready();
        Self {
            server: None,
            srv,
            cli,
        }
    }

    /// Starts `ssmpingd` in the server namespace (in the foreground: `ip netns exec` execs it,
    /// so the PID is its own) and waits (bounded) until it listens on UDP port 4321, IPv4 and
    /// IPv6.
    fn start_ssmpingd(&mut self) {
        self.server = Some(Proc::spawn("ssmpingd", self.srv.cmd("ssmpingd")));
        let deadline = Instant::now() + WAIT;
        // Port 4321 is 10E1 in /proc/net/udp{,6}.
        let listening = |file: &str| {
            let mut c = self.srv.cmd("cat");
            c.arg(file);
            let out = c.output().expect("run cat in the namespace");
            String::from_utf8_lossy(&out.stdout).contains(":10E1 ")
        };
        while !(listening("/proc/net/udp") && listening("/proc/net/udp6")) {
            assert!(
                Instant::now() < deadline,
                "ssmpingd in {} does not listen on port 4321 within {WAIT:?}",
                self.srv.name
            );
            thread::sleep(Duration::from_millis(20));
        }
    }

    /// Runs `mcast ARGS` in the client namespace to completion (bounded).
    fn mcast(&self, args: &[&str]) -> Output {
        let out = self.cli.run(args);
        out.assert_no_panic();
        out
    }
}

/// The `data` of the records of `kind`.
fn records<'a>(all: &'a [Value], kind: &str) -> Vec<&'a Value> {
    all.iter()
        .filter(|r| r["type"] == kind)
        .map(|r| &r["data"])
        .collect()
}

/// Checks a JSON run of `count` queries to `server` on `group`: every query answered once on
/// each path, the multicast replies sent to `group`, the figures in the `end` record.
fn assert_all_answered(out: &Output, server: &str, group: &str, mode: &str, count: u64) {
    assert_eq!(out.code(), 0, "{}", out.stderr_text());
    // README's JSON section names every record and field printed.
    crate::readme_tour::assert_readme_names_json(&["ping", "--ssmping"], out);
    let all = out.json();
    let start = records(&all, "start");
    assert_eq!(start.len(), 1, "{all:#?}");
    assert_eq!(start[0]["server"], server);
    assert_eq!(start[0]["group"], group);
    assert_eq!(start[0]["mode"], mode);
    let replies = records(&all, "reply");
    for path in ["unicast", "multicast"] {
        let mut seqs: Vec<u64> = replies
            .iter()
            .filter(|r| r["path"] == path && r["duplicate"] == false)
            .map(|r| {
                assert!(r["rtt_us"].as_f64().unwrap() > 0.0, "{r}");
                assert_eq!(r["hop_limit"], 64, "one veth, no router: {r}");
                assert_eq!(r["dist"], 0, "{r}");
                if path == "multicast" {
                    assert_eq!(r["group"], group, "{r}");
                }
                r["seq"].as_u64().unwrap()
            })
            .collect();
        seqs.sort_unstable();
        assert_eq!(seqs, (1..=count).collect::<Vec<_>>(), "{path}: {all:#?}");
    }
    let end = records(&all, "end");
    assert_eq!(end.len(), 1);
    let end = end[0];
    assert_eq!(all.last().unwrap()["type"], "end");
    assert_eq!(end["reason"], "count", "{end}");
    assert_eq!(end["exit_code"], 0);
    for path in ["unicast", "multicast"] {
        let p = &end["peers"][server][path];
        assert_eq!(p["sent"], count, "{path}: {end}");
        assert_eq!(p["received"], count, "{path}: {end}");
        assert_eq!(p["lost"], 0, "{path}: {end}");
        assert_eq!(p["first_seq"], 1, "{path}: {end}");
        let rtt = &p["rtt_us"];
        let min = rtt["min"].as_f64().unwrap();
        let max = rtt["max"].as_f64().unwrap();
        assert!(min > 0.0 && min <= max, "{path}: {end}");
        for q in ["p50", "p90", "p99"] {
            let v = rtt[q].as_f64().unwrap();
            assert!(min <= v && v <= max, "{path} {q}: {end}");
        }
    }
}

// issue (ping ssmping) — IPv4 SSM against ssmpingd: (10.77.0.1, 232.43.211.234), five queries
// 100 ms apart, every one answered unicast and multicast.
#[test]
fn ipv4_ssm_against_ssmpingd() {
    const TEST: &str = "ipv4_ssm_against_ssmpingd";
    if skip(TEST, &[]) {
        return;
    }
    let mut lab = Lab::new();
    lab.start_ssmpingd();
    let out = lab.mcast(&[
        "ping",
        "--ssmping",
        SERVER_V4,
        "-i",
        "vb",
        "-c",
        "5",
        "--interval",
        "100ms",
        "--timeout",
        "15s",
        "--json",
    ]);
    assert_all_answered(&out, SERVER_V4, "232.43.211.234", "ssm", 5);
    let err = out.stderr_text();
    assert!(
        err.contains("joined (S,G) = (10.77.0.1, 232.43.211.234) on vb (10.77.0.2)"),
        "{err}"
    );
}

// issue (ping ssmping) — IPv6 SSM against ssmpingd: (fd77::1, ff3e::4321:1234).
#[test]
fn ipv6_ssm_against_ssmpingd() {
    const TEST: &str = "ipv6_ssm_against_ssmpingd";
    if skip(TEST, &[]) {
        return;
    }
    let mut lab = Lab::new();
    lab.start_ssmpingd();
    let out = lab.mcast(&[
        "ping",
        "--ssmping",
        SERVER_V6,
        "-i",
        "vb",
        "-c",
        "5",
        "--interval",
        "100ms",
        "--timeout",
        "15s",
        "--json",
    ]);
    assert_all_answered(&out, SERVER_V6, "ff3e::4321:1234", "ssm", 5);
}

// issue (ping ssmping) — IPv4 ASM, as asmping: the group is forced to end in .234 (with a note),
// joined any-source; the route to the server picks the interface (no -i).
#[test]
fn ipv4_asm_group_against_ssmpingd() {
    const TEST: &str = "ipv4_asm_group_against_ssmpingd";
    if skip(TEST, &[]) {
        return;
    }
    let mut lab = Lab::new();
    lab.start_ssmpingd();
    let out = lab.mcast(&[
        "ping",
        "--ssmping",
        SERVER_V4,
        "239.7.7.7",
        "-c",
        "5",
        "--interval",
        "100ms",
        "--timeout",
        "15s",
        "--json",
    ]);
    assert_all_answered(&out, SERVER_V4, "239.7.7.234", "asm", 5);
    let err = out.stderr_text();
    assert!(err.contains("using 239.7.7.234 for 239.7.7.7"), "{err}");
    assert!(
        err.contains("joined (*,G) = (*, 239.7.7.234) on vb"),
        "{err}"
    );
}

// issue (ping ssmping) — IPv6 ASM: a transient site-scoped group the server accepts as it is.
#[test]
fn ipv6_asm_group_against_ssmpingd() {
    const TEST: &str = "ipv6_asm_group_against_ssmpingd";
    if skip(TEST, &[]) {
        return;
    }
    let mut lab = Lab::new();
    lab.start_ssmpingd();
    let out = lab.mcast(&[
        "ping",
        "--ssmping",
        SERVER_V6,
        "ff15::4321:1234",
        "-i",
        "vb",
        "-c",
        "5",
        "--interval",
        "100ms",
        "--timeout",
        "15s",
        "--json",
    ]);
    assert_all_answered(&out, SERVER_V6, "ff15::4321:1234", "asm", 5);
    assert!(
        !out.stderr_text().contains("note:"),
        "{}",
        out.stderr_text()
    );
}

// issue (ping ssmping) — text as ssmping prints it, at a 1 ms interval: one line per reply, the
// server's version and padded replies on request, a summary per path, and a run as short as
// the interval makes it (every reply in: no linger).
#[test]
fn text_output_at_a_1ms_interval() {
    const TEST: &str = "text_output_at_a_1ms_interval";
    if skip(TEST, &[]) {
        return;
    }
    let mut lab = Lab::new();
    lab.start_ssmpingd();
    let out = lab.mcast(&[
        "ping",
        "--ssmping",
        SERVER_V4,
        "-i",
        "vb",
        "-c",
        "20",
        "--interval",
        "1ms",
        "--timeout",
        "15s",
        "--server-version",
        "--reply-size",
        "200",
    ]);
    assert_eq!(out.code(), 0, "{}", out.stderr_text());
    let lines = &out.stdout;
    assert!(
        lines[0].starts_with("server version: 0.9.1"),
        "{}",
        out.stdout_text()
    );
    for path in ["  unicast", "multicast"] {
        let replies: Vec<&String> = lines
            .iter()
            .filter(|l| l.starts_with(&format!("{path} from 10.77.0.1, seq=")))
            .collect();
        assert_eq!(replies.len(), 20, "{}", out.stdout_text());
        assert!(
            replies
                .iter()
                .all(|l| l.contains(" dist=0 time=") && l.ends_with(" ms")),
            "{replies:?}"
        );
    }
    let text = out.stdout_text();
    assert!(
        text.contains("--- 10.77.0.1 ssmping statistics ---"),
        "{text}"
    );
    assert!(
        text.contains("  unicast: 20 received, 0 lost (0%), rtt min/p50/p90/p99/max = "),
        "{text}"
    );
    assert!(
        text.contains("multicast: 20 received, 0 lost (0%), rtt min/p50/p90/p99/max = "),
        "{text}"
    );
    let time_ms: f64 = lines
        .iter()
        .find_map(|l| l.strip_prefix("20 queries sent, time "))
        .and_then(|t| t.strip_suffix(" ms"))
        .and_then(|t| t.parse().ok())
        .unwrap_or_else(|| panic!("no time line: {text}"));
    assert!(
        time_ms < 1000.0,
        "20 queries 1 ms apart, every reply in: {time_ms} ms"
    );
}

// issue (ping ssmping) — no ssmpingd: the queries are refused (ICMP port unreachable), and
// without any multicast reply the run fails with exit 1 and says why.
#[test]
fn no_server_is_exit_1() {
    const TEST: &str = "no_server_is_exit_1";
    if skip(TEST, &[]) {
        return;
    }
    let lab = Lab::new();
    let out = lab.mcast(&[
        "ping",
        "--ssmping",
        SERVER_V4,
        "-i",
        "vb",
        "-c",
        "2",
        "--interval",
        "100ms",
        "--timeout",
        "15s",
    ]);
    assert_eq!(out.code(), 1, "{}", out.stderr_text());
    let err = out.stderr_text();
    assert!(err.contains("refused a query"), "{err}");
    assert!(
        err.contains("error: no reply from 10.77.0.1: 2 queries unanswered"),
        "{err}"
    );
    assert!(
        err.contains("hint: is ssmpingd running on 10.77.0.1"),
        "{err}"
    );
    assert!(
        out.stdout_text()
            .contains("multicast: 0 received, 2 lost (100%)"),
        "{}",
        out.stdout_text()
    );
    // Review fix — one query is counted in the singular ("1 queries unanswered").
    let out = lab.mcast(&[
        "ping",
        "--ssmping",
        SERVER_V4,
        "-i",
        "vb",
        "-c",
        "1",
        "--timeout",
        "15s",
    ]);
    assert_eq!(out.code(), 1, "{}", out.stderr_text());
    let err = out.stderr_text();
    assert!(
        err.contains("error: no reply from 10.77.0.1: 1 query unanswered"),
        "{err}"
    );
    assert!(
        out.stdout_text().contains("1 query sent"),
        "{}",
        out.stdout_text()
    );
}

// issue (ping ssmping) — the server's multicast replies dropped by a firewall rule in its own
// namespace: the unicast ones come, the run fails with exit 1 naming the missing multicast.
#[test]
fn multicast_dropped_is_exit_1() {
    const TEST: &str = "multicast_dropped_is_exit_1";
    if skip(TEST, &["nft"]) {
        return;
    }
    let mut lab = Lab::new();
    let rules = "table inet ssm {\n  chain out {\n    type filter hook output priority 0;\n    \
                 ip daddr 224.0.0.0/4 udp sport 4321 drop\n  }\n}\n";
    let mut nft = lab.srv.cmd("nft");
    nft.args(["-f", "-"]);
    let mut p = Proc::spawn("nft", nft);
    p.write_stdin(rules.as_bytes());
    p.close_stdin();
    p.finish_ok();
    lab.start_ssmpingd();
    let out = lab.mcast(&[
        "ping",
        "--ssmping",
        SERVER_V4,
        "-i",
        "vb",
        "-c",
        "3",
        "--interval",
        "100ms",
        "--timeout",
        "15s",
        "--json",
    ]);
    assert_eq!(out.code(), 1, "{}", out.stderr_text());
    let all = out.json();
    let end = records(&all, "end")[0];
    assert_eq!(end["exit_code"], 1);
    assert_eq!(end["peers"][SERVER_V4]["unicast"]["received"], 3, "{end}");
    assert_eq!(end["peers"][SERVER_V4]["multicast"]["received"], 0, "{end}");
    assert_eq!(end["peers"][SERVER_V4]["multicast"]["lost"], 3, "{end}");
    assert!(end["peers"][SERVER_V4]["multicast"]["rtt_us"].is_null());
    let err = out.stderr_text();
    assert!(
        err.contains("error: no multicast reply from 10.77.0.1 (3 unicast replies came)"),
        "{err}"
    );
}

// issue (ping ssmping) — without -c the client runs as ssmping does, until Ctrl-C, which ends
// it with the end record (reason `interrupted`) and exit 0 once multicast replies came.
#[test]
fn ctrl_c_ends_an_unbounded_run() {
    const TEST: &str = "ctrl_c_ends_an_unbounded_run";
    if skip(TEST, &["kill"]) {
        return;
    }
    let mut lab = Lab::new();
    lab.start_ssmpingd();
    let mut p = lab.cli.mcast(&[
        "ping",
        "--ssmping",
        SERVER_V4,
        "-i",
        "vb",
        "--interval",
        "50ms",
        "--timeout",
        "15s",
        "--json",
    ]);
    p.wait_stdout("\"path\":\"multicast\"");
    p.interrupt();
    let out = p.finish_ok();
    let all = out.json();
    let end = records(&all, "end")[0];
    assert_eq!(end["reason"], "interrupted", "{end}");
    assert_eq!(end["exit_code"], 0, "{end}");
    let multicast = &end["peers"][SERVER_V4]["multicast"];
    assert!(multicast["received"].as_u64().unwrap() >= 1, "{end}");
}

/// Runs a `mcast ping` expected to be a usage error (no socket is opened) and returns its
/// stderr.
fn usage_error(args: &[&str]) -> String {
    let out = util::run(args);
    out.assert_no_panic();
    assert_eq!(out.code(), 2, "{args:?}: {}", out.stderr_text());
    assert!(out.stdout.is_empty(), "{:?}", out.stdout);
    assert!(
        out.stderr[0].starts_with("error: "),
        "{}",
        out.stderr_text()
    );
    out.stderr_text()
}

// issue (ping ssmping) — mistakes are usage errors, caught before any socket is opened.
#[test]
fn usage_errors() {
    let err = usage_error(&["ping"]);
    assert!(err.contains("--ssmping SERVER [GROUP]"), "{err}");
    let err = usage_error(&["ping", "--ssmping", "232.43.211.234"]);
    assert!(err.contains("not a unicast address"), "{err}");
    let err = usage_error(&["ping", "--ssmping", "127.0.0.1", "ff3e::4321:1234"]);
    assert!(err.contains("different address families"), "{err}");
    let err = usage_error(&["ping", "--ssmping", "127.0.0.1", "--interval", "0s"]);
    assert!(err.contains("--interval '0s' is too short"), "{err}");
    let err = usage_error(&["ping", "--ssmping", "127.0.0.1", "-i", "nosuch-ssm0"]);
    assert!(err.contains("nosuch-ssm0"), "{err}");
    let err = usage_error(&["ping", "--server-version"]);
    assert!(err.contains("--ssmping"), "{err}");
    usage_error(&["ping", "--ssmping", "127.0.0.1", "--reply-size", "0"]);
    // Review fix — a responder runs until stopped, so -c is refused with it (it was ignored),
    // and so is --responder with --ssmping (ignored too).
    let err = usage_error(&["ping", "239.1.2.3", "47990", "--responder", "-c", "3"]);
    assert!(
        err.contains("'--responder' cannot be used with '--count <N>'"),
        "{err}"
    );
    let err = usage_error(&["ping", "--ssmping", "127.0.0.1", "--responder"]);
    assert!(err.contains("cannot be used with '--responder'"), "{err}");
    assert!(err.contains("--ssmping"), "{err}");
}
