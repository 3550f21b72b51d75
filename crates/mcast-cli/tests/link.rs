//! Integration tests of interfaces that change under a running command: `recv`, `perf recv`
//! and `ping` notice an interface going down, up, away and back (a `link` JSON record and a
//! stderr line each), and join again when it comes back with a new index; `-i` naming a down
//! interface, or one without the MULTICAST flag, gives a warning.
//!
//! Every test runs in a network namespace of its own (`mcast-link-<pid>-<n>`) with a veth pair
//! `va` — `vb` in it; the receivers join on `va` and the senders send out of `va` with TTL 0,
//! so each datagram reaches them as the kernel's local copy of a datagram leaving `va`. The
//! namespace is deleted on drop, also when a test fails; nothing touches the host's
//! interfaces. These tests need root and say why they skip without it.
//!
//! "issue #9 (link)" marks the requirement they serve: part 5 of issue 9, interfaces that
//! change.

use std::thread;
use std::time::Duration;

use crate::util::netns::{sh, skip_unless_root, skip_without, skip_without_ipv6, Netns, Veth};
use crate::util::Proc;

/// The address `va` gets (and gets again once created anew).
const VA_ADDR: &str = "10.9.0.1";

/// Whether `test` must skip: not root, or no `ip`.
fn skip(test: &str) -> bool {
    skip_unless_root(test) || skip_without("ip", test)
}

/// This file's namespace set-up, on top of the shared [`Netns`].
impl Netns {
    /// A namespace with the veth pair `va` — `vb` up and [`VA_ADDR`] on `va`.
    fn with_link() -> Self {
        let ns = Self::new("mcast-link");
        ns.make_va(true);
        ns
    }

    /// As [`Netns::with_link`], with IPv6 on and duplicate address detection off, so that
    /// `va`'s link-local address is usable at once (also once `va` is created anew).
    fn with_link_v6() -> Self {
        let ns = Self::new("mcast-link");
        ns.ipv6_sysctl("disable_ipv6", 0);
        ns.ipv6_sysctl("accept_dad", 0);
        ns.make_va(true);
        ns
    }

    /// Creates the veth pair `va` — `vb` with [`VA_ADDR`] on `va`; `up` sets both up.
    fn make_va(&self, up: bool) {
        let pair = Veth::new("va", "vb")
            .in_netns(self)
            .addr_a(&format!("{VA_ADDR}/24"));
        if up {
            pair.create();
        } else {
            pair.create_down();
        }
    }

    /// `ip link set DEV ARGS...` inside the namespace.
    fn set(&self, dev: &str, args: &[&str]) {
        let mut all = vec!["ip", "-n", &self.name, "link", "set", dev];
        all.extend_from_slice(args);
        sh(&all);
    }

    /// `va`'s index now.
    fn index(&self, dev: &str) -> u64 {
        let out = sh(&["ip", "-n", &self.name, "-o", "link", "show", "dev", dev]);
        out.split(':')
            .next()
            .and_then(|i| i.trim().parse().ok())
            .unwrap_or_else(|| panic!("no index in {out:?}"))
    }

    /// Starts a bounded sender out of `va` (TTL 0): `count` datagrams of `payload`, one every
    /// 200 ms.
    fn sender(&self, group: &str, port: &str, payload: &str, count: u32) -> Proc {
        self.mcast(&[
            "send",
            group,
            port,
            payload,
            "-i",
            "va",
            "--ttl",
            "0",
            "-c",
            &count.to_string(),
            "--interval",
            "200ms",
        ])
    }
}

/// Waits (bounded) for a JSON `link` record with this `state` on the child's stdout, and
/// returns it parsed.
fn wait_link(p: &mut Proc, state: &str) -> serde_json::Value {
    let line = p.wait_stdout(&format!("\"state\":\"{state}\""));
    let v: serde_json::Value = serde_json::from_str(&line).expect("a JSON line");
    assert_eq!(v["type"], "link", "{line}");
    v
}

/// Runs `mcast recv` on `va` (named by `iface`: its name or its address), takes `va` down
/// and up, then deletes it and creates it again, and checks each change is reported and that
/// datagrams flow again after each.
fn recv_follows(test: &str, iface: &str, port: &str) {
    if skip(test) {
        return;
    }
    let ns = Netns::with_link();
    let group = "239.9.9.9";
    let old = ns.index("va");
    let mut recv = ns.mcast(&["recv", group, port, "-i", iface, "--json"]);
    recv.wait_listening();
    let _s = ns.sender(group, port, "before", 25);
    recv.wait_stdout("\"payload\":\"before\"");
    drop(_s);

    ns.set("va", &["down"]);
    let down = wait_link(&mut recv, "down");
    assert_eq!(down["data"]["interface"], "va");
    assert_eq!(down["data"]["index"], old);
    assert_eq!(down["data"]["up"], false);
    recv.wait_stderr("link: va (index");
    ns.set("va", &["up"]);
    let up = wait_link(&mut recv, "up");
    assert_eq!(up["data"]["index"], old);
    assert_eq!(up["data"]["up"], true);
    // The kernel kept the membership while va was down.
    let _s = ns.sender(group, port, "after-up", 25);
    recv.wait_stdout("\"payload\":\"after-up\"");
    drop(_s);

    sh(&["ip", "-n", &ns.name, "link", "del", "va"]);
    let gone = wait_link(&mut recv, "gone");
    assert_eq!(gone["data"]["index"], old);
    // Created again, still down: back, joined again on the new index.
    ns.make_va(false);
    let new = ns.index("va");
    assert_ne!(new, old, "the kernel gave the new va the old index");
    let back = wait_link(&mut recv, "back");
    assert_eq!(back["data"]["index"], new, "{back}");
    assert_eq!(back["data"]["previous_index"], old, "{back}");
    assert_eq!(back["data"]["rejoined"], 1, "{back}");
    assert_eq!(back["data"]["up"], false, "{back}");
    ns.set("va", &["up"]);
    ns.set("vb", &["up"]);
    let up = wait_link(&mut recv, "up");
    assert_eq!(up["data"]["index"], new, "{up}");
    // Sent after the re-creation: arrives only if the group was joined on the new index.
    let _s = ns.sender(group, port, "after-back", 25);
    recv.wait_stdout("\"payload\":\"after-back\"");
    drop(_s);

    recv.interrupt();
    let out = recv.finish_ok();
    let err = out.stderr_text();
    assert!(err.contains("link: va (index"), "{err}");
    assert!(err.contains("is down"), "{err}");
    assert!(err.contains("is gone"), "{err}");
    assert!(
        err.contains(&format!("link: va is back (index {new}, was {old})")),
        "{err}"
    );
    assert!(err.contains("joined 1 group again"), "{err}");
    // The records come in the order of the changes, between the datagrams.
    let kinds: Vec<String> = out
        .json()
        .iter()
        .filter_map(|r| match r["type"].as_str() {
            Some("link") => Some(r["data"]["state"].as_str().unwrap_or("?").to_owned()),
            Some("recv") => Some(format!(
                "recv {}",
                r["data"]["payload"].as_str().unwrap_or("?")
            )),
            _ => None,
        })
        .collect();
    let first = |k: &str| {
        kinds
            .iter()
            .position(|x| x == k)
            .unwrap_or_else(|| panic!("no {k:?} in {kinds:?}"))
    };
    assert!(first("recv before") < first("down"), "{kinds:?}");
    assert!(first("down") < first("up"), "{kinds:?}");
    assert!(first("up") < first("recv after-up"), "{kinds:?}");
    assert!(first("recv after-up") < first("gone"), "{kinds:?}");
    // README's JSON section names the `link` records, `back`'s fields too.
    crate::readme_tour::assert_readme_names_json(&["recv"], &out);
    assert!(first("gone") < first("back"), "{kinds:?}");
    assert!(first("back") < first("recv after-back"), "{kinds:?}");
}

// issue #9 (link) — down, up, gone and back under a running `recv --json`, with datagrams
// flowing again after up and after the interface is created anew.
#[test]
fn recv_follows_iface_by_name() {
    recv_follows("recv_follows_iface_by_name", "va", "47401");
}

// issue #9 (link) — the same with the interface given by its address: the interface that
// held it at the start is followed, and comes back without the address yet.
#[test]
fn recv_follows_iface_by_address() {
    recv_follows("recv_follows_iface_by_address", VA_ADDR, "47402");
}

// issue #9 (link) — IPv6: the group is joined again on the new index too.
#[test]
fn recv_follows_iface_ipv6() {
    const TEST: &str = "recv_follows_iface_ipv6";
    if skip(TEST) || skip_without_ipv6(TEST) {
        return;
    }
    let ns = Netns::with_link_v6();
    let (group, port) = ("ff15::9", "47403");
    let mut recv = ns.mcast(&["recv", group, port, "-i", "va", "--json"]);
    recv.wait_listening();
    let _s = ns.sender(group, port, "before", 25);
    recv.wait_stdout("\"payload\":\"before\"");
    drop(_s);
    sh(&["ip", "-n", &ns.name, "link", "del", "va"]);
    wait_link(&mut recv, "gone");
    ns.make_va(true);
    let back = wait_link(&mut recv, "back");
    assert_eq!(back["data"]["rejoined"], 1, "{back}");
    let _s = ns.sender(group, port, "after-back", 25);
    recv.wait_stdout("\"payload\":\"after-back\"");
    drop(_s);
    recv.interrupt();
    recv.finish_ok();
}

// issue #9 (link) — `perf recv` reports the changes too.
#[test]
fn perf_recv_reports_down_and_up() {
    const TEST: &str = "perf_recv_reports_down_and_up";
    if skip(TEST) {
        return;
    }
    let ns = Netns::with_link();
    let mut recv = ns.mcast(&["perf", "recv", "239.9.9.10", "47404", "-i", "va", "--json"]);
    recv.wait_listening();
    ns.set("va", &["down"]);
    let down = wait_link(&mut recv, "down");
    assert_eq!(down["data"]["interface"], "va");
    ns.set("va", &["up"]);
    wait_link(&mut recv, "up");
    recv.wait_stderr("link: va (index");
    recv.interrupt();
    let out = recv.finish_ok();
    crate::readme_tour::assert_readme_names_json(&["perf", "recv"], &out);
}

// issue #9 (link) — `ping` rides out its interface being deleted (its sends fail meanwhile),
// then joins again and sends by the new index: answers come again.
#[test]
fn ping_follows_iface_gone_and_back() {
    const TEST: &str = "ping_follows_iface_gone_and_back";
    if skip(TEST) {
        return;
    }
    let ns = Netns::with_link();
    let (group, port) = ("239.9.9.11", "47405");
    let ping = |extra: &[&str]| {
        let mut args = vec![
            "ping",
            group,
            port,
            "-i",
            "va",
            "--ttl",
            "0",
            "--interval",
            "100ms",
            "--json",
        ];
        args.extend_from_slice(extra);
        ns.mcast(&args)
    };
    let mut responder = ping(&["--responder"]);
    responder.wait_listening();
    // At most 60 s of probes.
    let mut prober = ping(&["-c", "600"]);
    prober.wait_listening();
    prober.wait_stdout("\"type\":\"answer\"");
    sh(&["ip", "-n", &ns.name, "link", "del", "va"]);
    wait_link(&mut prober, "gone");
    wait_link(&mut responder, "gone");
    // Probes fail to leave for a while; the prober must not die of it.
    thread::sleep(Duration::from_millis(500));
    ns.make_va(true);
    let back = wait_link(&mut prober, "back");
    assert_eq!(back["data"]["rejoined"], 1, "{back}");
    assert!(back["data"].get("error").is_none(), "{back}");
    wait_link(&mut responder, "back");
    // Answers again, through the new index both ways.
    prober.wait_stdout("\"type\":\"answer\"");
    prober.interrupt();
    let out = prober.finish();
    out.assert_no_panic();
    assert_eq!(out.code(), 0, "{}", out.stderr_text());
    crate::readme_tour::assert_readme_names_json(&["ping"], &out);
}

// issue #9 (link) — `-i` naming a down interface, or one without the MULTICAST flag, warns
// before listening (`recv`, `perf recv` and `ping` alike).
#[test]
fn warns_for_down_or_non_multicast_iface() {
    const TEST: &str = "warns_for_down_or_non_multicast_iface";
    if skip(TEST) {
        return;
    }
    let ns = Netns::with_link();
    let commands: [&[&str]; 3] = [
        &[
            "recv",
            "239.9.9.12",
            "47406",
            "-i",
            "va",
            "--timeout",
            "300ms",
        ],
        &[
            "perf",
            "recv",
            "239.9.9.12",
            "47406",
            "-i",
            "va",
            "--timeout",
            "300ms",
        ],
        &[
            "ping",
            "239.9.9.12",
            "47406",
            "-i",
            "va",
            "--ttl",
            "0",
            "-c",
            "1",
            "--timeout",
            "300ms",
        ],
    ];
    let warnings = |args: &[&str]| -> Vec<String> {
        let out = ns.run(args);
        out.assert_no_panic();
        out.stderr
            .iter()
            .filter(|l| l.starts_with("warning:"))
            .cloned()
            .collect()
    };
    // Up, running and multicast: no warning.
    for args in commands {
        assert_eq!(warnings(args), Vec::<String>::new(), "{args:?}");
    }
    ns.set("va", &["down"]);
    for args in commands {
        let w = warnings(args);
        assert!(
            w.iter().any(|l| l.contains("interface va is down")),
            "{args:?}: {w:?}"
        );
    }
    ns.set("va", &["up", "multicast", "off"]);
    for args in commands {
        let w = warnings(args);
        assert!(
            w.iter()
                .any(|l| l.contains("interface va lacks the MULTICAST flag")),
            "{args:?}: {w:?}"
        );
        assert!(!w.iter().any(|l| l.contains("is down")), "{args:?}: {w:?}");
    }
    // Given by address, the same interface is checked.
    let w = warnings(&[
        "recv",
        "239.9.9.12",
        "47406",
        "-i",
        VA_ADDR,
        "--timeout",
        "300ms",
    ]);
    assert!(w.iter().any(|l| l.contains("MULTICAST")), "{w:?}");
    // `-q` keeps stderr quiet.
    let out = ns.run(&[
        "recv",
        "239.9.9.12",
        "47406",
        "-i",
        "va",
        "--timeout",
        "300ms",
        "-q",
    ]);
    assert!(
        !out.stderr_text().contains("warning:"),
        "{}",
        out.stderr_text()
    );
}

// issue #9 (link) — more groups than one socket holds (`igmp_max_memberships`, 20 in a fresh
// namespace): the deleted interface's memberships stay on the sockets as dead entries that
// still count against the limit, so joining again works only after leaving them.
#[test]
fn recv_rejoins_past_the_membership_limit() {
    const TEST: &str = "recv_rejoins_past_the_membership_limit";
    if skip(TEST) {
        return;
    }
    let ns = Netns::with_link();
    let port = "47407";
    let mut recv = ns.mcast(&["recv", "239.9.1.1+25", port, "-i", "va", "--json"]);
    recv.wait_listening();
    sh(&["ip", "-n", &ns.name, "link", "del", "va"]);
    wait_link(&mut recv, "gone");
    ns.make_va(true);
    let back = wait_link(&mut recv, "back");
    assert_eq!(back["data"]["rejoined"], 25, "{back}");
    assert!(back["data"].get("error").is_none(), "{back}");
    // The first and the last group, on the first and the second socket.
    for group in ["239.9.1.1", "239.9.1.25"] {
        let _s = ns.sender(group, port, group, 25);
        recv.wait_stdout(&format!("\"payload\":\"{group}\""));
    }
    recv.interrupt();
    recv.finish_ok();
}

// issue #9 (link) — an IPv6 link-local group: the receiver's socket is bound to the group with
// the interface as its scope, so it is moved to the new index as well as joined there.
#[test]
fn recv_follows_iface_ipv6_link_local() {
    const TEST: &str = "recv_follows_iface_ipv6_link_local";
    if skip(TEST) || skip_without_ipv6(TEST) {
        return;
    }
    let ns = Netns::with_link_v6();
    let (group, port) = ("ff12::9", "47408");
    let mut recv = ns.mcast(&["recv", group, port, "-i", "va", "--json"]);
    recv.wait_listening();
    sh(&["ip", "-n", &ns.name, "link", "del", "va"]);
    wait_link(&mut recv, "gone");
    ns.make_va(true);
    let back = wait_link(&mut recv, "back");
    assert_eq!(back["data"]["rejoined"], 1, "{back}");
    let _s = ns.sender(group, port, "after-back", 25);
    recv.wait_stdout("\"payload\":\"after-back\"");
    drop(_s);
    recv.interrupt();
    recv.finish_ok();
}
