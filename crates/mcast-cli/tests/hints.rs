//! Hints that name the cause (issue #9): the `INADDR_ANY` trap on a host without a route, `-i`
//! naming an interface that cannot carry the traffic, IPv6 link-local groups with and without
//! an interface (`ff02::1%lo`), privileged ports.
//!
//! The tests that leave the interface to the kernel, or need a second interface, run in a
//! network namespace of their own (root only; they skip, saying why, otherwise): nothing they
//! do can reach the machine's own interfaces.

use std::process::Command;

use crate::util::netns::{have, is_root, on_ci, sh, skip_unless_root, Netns, Veth};
use crate::util::{run, Output, Proc, LO};

/// Asserts `out` failed with `code`, printing `error` and then `hint` (substrings).
fn assert_fails(out: &Output, code: i32, error: &str, hint: &str) {
    out.assert_no_panic();
    let err = out.stderr_text();
    assert_eq!(out.code(), code, "{err}");
    let lines: Vec<&str> = err
        .lines()
        .filter(|l| !l.starts_with("listening"))
        .collect();
    assert!(
        lines
            .first()
            .is_some_and(|l| l.starts_with("error: ") && l.contains(error)),
        "{err}"
    );
    if !hint.is_empty() {
        assert!(
            lines
                .iter()
                .any(|l| l.starts_with("hint: ") && l.contains(hint)),
            "{err}"
        );
    }
}

// issue #9 — the lecture's trap: no route, no -i. The join's ENODEV used to say the interface
// does not exist; the hint now names the missing route and the way out.
#[test]
fn no_route_and_no_interface_names_the_missing_route() {
    if skip_unless_root("no_route_and_no_interface_names_the_missing_route") {
        return;
    }
    // A namespace with only lo up: no route for any group.
    let ns = Netns::new("mcast-noroute");
    let want = "the kernel has no route for 239.1.1.1, so it cannot pick an interface: name one with -i, or add a route";
    let out = ns.run(&["recv", "239.1.1.1", "5000", "--timeout", "1s"]);
    assert_fails(&out, 1, "cannot join 239.1.1.1", want);
    assert!(
        !out.stderr_text().contains("does not exist"),
        "{}",
        out.stderr_text()
    );
    let out = ns.run(&["recv", "239.1.1.1,239.1.1.2", "5000", "--timeout", "1s"]);
    assert_fails(&out, 1, "cannot join 239.1.1.1", want);
    let out = ns.run(&["send", "239.1.1.1", "5000", "hi"]);
    assert_fails(&out, 1, "cannot send to 239.1.1.1:5000", want);
    let out = ns.run(&["recv", "ff15::1", "5000", "--timeout", "1s"]);
    assert_fails(&out, 1, "cannot join ff15::1", "no route for ff15::1");
}

// issue #9 — `-i` given: the hint names what is wrong with that interface (it used to say
// "name the outgoing interface with -i IFACE" although -i was given).
#[test]
fn a_named_interface_that_cannot_carry_it_is_named() {
    if skip_unless_root("a_named_interface_that_cannot_carry_it_is_named") {
        return;
    }
    let ns = Netns::new("mcast-ifdown");
    let n = ns.name.as_str();
    Veth::new("va", "vb")
        .in_netns(&ns)
        .addr_a("10.9.0.1/24")
        .create_down();
    // lo has no MULTICAST flag: no IPv6 multicast route through it.
    let out = ns.run(&["send", "ff02::1", "5000", "hi", "-i", "lo"]);
    assert_fails(
        &out,
        1,
        "cannot send to [ff02::1%1]:5000",
        "interface lo lacks the MULTICAST flag",
    );
    let out = ns.run(&["send", "ff15::1", "5000", "hi", "-i", "lo"]);
    assert_fails(
        &out,
        1,
        "cannot send",
        "interface lo lacks the MULTICAST flag",
    );
    // va is down.
    for group in ["239.1.1.1", "ff02::1"] {
        let out = ns.run(&["send", group, "5000", "hi", "-i", "va", "--ttl", "0"]);
        assert_fails(&out, 1, "cannot send", "interface va is down: bring it up");
        assert!(!out.stderr_text().contains("name the outgoing interface"));
    }
    let out = ns.run(&[
        "send",
        "239.1.1.1",
        "5000",
        "hi",
        "-i",
        "10.9.0.1",
        "--ttl",
        "0",
    ]);
    assert_fails(&out, 1, "cannot send", "interface va is down");
    // va is up, but its peer is not: no carrier, no IPv6 multicast route yet.
    sh(&["ip", "-n", n, "link", "set", "va", "up"]);
    let out = ns.run(&["send", "ff02::1", "5000", "hi", "-i", "va"]);
    assert_fails(
        &out,
        1,
        "cannot send",
        "interface va is up but its link is not (no carrier)",
    );
}

// issue #9 — an IPv6 link-local (or interface-local) group without an interface is a usage
// error naming the scope (it used to be a raw `os error 22` or `101`).
#[test]
fn link_local_without_an_interface_is_a_usage_error() {
    if skip_unless_root("link_local_without_an_interface_is_a_usage_error") {
        return;
    }
    let ns = Netns::new("mcast-ll");
    for args in [
        &["send", "ff02::1", "5000", "hi"][..],
        &["recv", "ff02::1", "5000", "--timeout", "1s"],
        &["recv", "ff15::1,ff12::1", "5000", "--timeout", "1s"],
        &["ping", "ff02::1", "5000", "-c", "1"],
        &["perf", "send", "ff02::1", "5000", "-c", "1"],
    ] {
        let group = args.iter().find(|a| a.starts_with("ff")).unwrap();
        let group = group.split(',').next_back().unwrap();
        let out = ns.run(args);
        assert_fails(
            &out,
            2,
            &format!("{group} is link-local: the same address exists on every link"),
            &format!("name it with -i IFACE, or write {group}%IFACE"),
        );
        assert!(
            !out.stderr_text().contains("os error"),
            "{}",
            out.stderr_text()
        );
    }
    let out = ns.run(&["send", "ff01::1", "5000", "hi"]);
    assert_fails(&out, 2, "ff01::1 is interface-local", "-i IFACE");
}

// issue #9 — `ff02::1%IFACE` is a group and its interface (it was "not an IP address"), on
// send, recv and ping; a different -i beside it is a usage error, the same one is fine.
#[test]
fn a_zone_names_the_interface() {
    if skip_unless_root("a_zone_names_the_interface") {
        return;
    }
    let ns = Netns::new("mcast-zone");
    ns.add_veth_pair();
    let mut rx = ns.mcast(&["recv", "ff02::1%va", "5000", "--timeout", "1s"]);
    let line = rx.wait_listening();
    assert!(line.contains("(interface va"), "{line}");
    let out = rx.finish();
    assert_eq!(out.code(), 1, "nothing was sent: {}", out.stderr_text());
    // The same interface by index and by name is no conflict.
    let link = sh(&["ip", "-n", &ns.name, "-o", "link", "show", "va"]);
    let index = link.split(':').next().unwrap().trim();
    let zoned = format!("ff02::1%{index}");
    let mut rx = ns.mcast(&["recv", &zoned, "5000", "-i", "va", "--timeout", "1s"]);
    rx.wait_listening();
    assert_eq!(rx.finish().code(), 1, "it listened, and timed out");
    for args in [
        &["send", "ff02::1%va", "5000", "hi", "-i", "vb"][..],
        &["recv", "ff02::1%va", "5000", "-i", "lo", "--timeout", "1s"],
        &["ping", "ff02::1%vb", "5000", "-i", "va", "-c", "1"],
    ] {
        let out = ns.run(args);
        assert_fails(&out, 2, "but -i names", "");
        assert!(out.stderr_text().contains("give the interface once"));
    }
    let out = ns.run(&["recv", "ff02::1%va,ff02::2%vb", "5000", "--timeout", "1s"]);
    assert_fails(&out, 2, "name different interfaces", "");
}

// issue #9 — the zone is parsed before any socket: a zone that names no interface is a usage
// error about the interface, not "not an IP address"; IPv4 takes no zone. Nothing is sent.
#[test]
fn zone_errors_are_usage_errors() {
    let out = run(&["send", "ff02::1%nosuch-if0", "5000", "hi"]);
    assert_fails(&out, 2, "no interface named \"nosuch-if0\"", "mcast ifaces");
    assert!(!out.stderr_text().contains("not an IP address"));
    let out = run(&["recv", "ff02::1%nosuch-if0", "5000", "--timeout", "1s"]);
    assert_fails(&out, 2, "no interface named \"nosuch-if0\"", "mcast ifaces");
    let out = run(&["ping", "ff02::1%nosuch-if0", "5000", "-c", "1"]);
    assert_fails(&out, 2, "no interface named \"nosuch-if0\"", "mcast ifaces");
    let out = run(&["send", "239.1.9.9%lo", "5000", "hi", "-i", LO]);
    assert_fails(&out, 2, "a %zone belongs to IPv6 addresses", "");
    let out = run(&["send", "ff02::1%", "5000", "hi"]);
    assert_fails(&out, 2, "after % comes the interface", "");
}

// issue #9 — a port below 1024 as a user without CAP_NET_BIND_SERVICE: the hint names the
// capability and the way out (it was a bare `Permission denied`). As root the receiver runs
// as nobody (setpriv).
#[test]
fn a_privileged_port_names_the_capability() {
    let test = "a_privileged_port_names_the_capability";
    let start: u32 = std::fs::read_to_string("/proc/sys/net/ipv4/ip_unprivileged_port_start")
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(1024);
    if start <= 500 {
        eprintln!("skipping {test}: net.ipv4.ip_unprivileged_port_start is {start}, so port 500 is not privileged here");
        return;
    }
    let args = [
        "recv",
        "239.1.9.8,239.1.9.9",
        "500",
        "-i",
        LO,
        "--timeout",
        "1s",
    ];
    let out = if is_root() {
        if !have("setpriv") {
            assert!(
                !on_ci(),
                "{test}: setpriv (util-linux) is missing but CI=true"
            );
            eprintln!("skipping {test}: root, and no setpriv to drop privileges");
            return;
        }
        // A copy nobody may run (the build directory may be closed to others).
        let dir = std::env::temp_dir().join(format!("mcast-priv-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let bin = dir.join("mcast");
        std::fs::copy(env!("CARGO_BIN_EXE_mcast"), &bin).unwrap();
        sh(&["chmod", "755", dir.to_str().unwrap(), bin.to_str().unwrap()]);
        let mut cmd = Command::new("setpriv");
        cmd.args([
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            "--inh-caps=-all",
        ])
        .arg(&bin)
        .args(args);
        let mut p = Proc::spawn("mcast as nobody", cmd);
        p.close_stdin();
        let out = p.finish();
        let _ = std::fs::remove_dir_all(&dir);
        out
    } else {
        run(&args)
    };
    assert_fails(
        &out,
        1,
        "cannot bind to 0.0.0.0:500",
        &format!("port 500 is privileged (below {start}): run as root, grant CAP_NET_BIND_SERVICE"),
    );
    assert!(out
        .stderr_text()
        .contains(&format!("or use a port of {start} or above")));
}
