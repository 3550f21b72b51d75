#![no_main]
//! The values a user types on `mcast`'s command line, as the CLI parses them: groups, group
//! ranges (`239.1.0.1+100`), sources, interfaces (`-i`), CIDR blocks (mcast-core's `FromStr`
//! types), `--rate`, and the other values: ports, `-c`, `--ttl`, durations (`--interval`,
//! `--timeout`, ...), socat's `GROUP:PORT` and sizes (the CLI's own parsers, included from their source files, which
//! depend on nothing but std, humantime and mcast-core).
//!
//! Besides "no panic": what parses prints back as text that parses to the same value, a group
//! is multicast, a range stays inside the multicast block, an interface is never a multicast
//! address, a rate turns into a pacing interval for any datagram size, and every refusal of a
//! value is one line that quotes the option or value.
use std::net::IpAddr;

use libfuzzer_sys::fuzz_target;
use mcast_core::addr::{Cidr, Group, GroupRange, Source};
use mcast_core::iface::IfaceSpec;

#[allow(dead_code, unreachable_pub)]
#[path = "../../crates/mcast-cli/src/perf/rate.rs"]
mod rate;

#[allow(dead_code, unreachable_pub)]
#[path = "../../crates/mcast-cli/src/values.rs"]
mod values;

/// The plain values: what parses is in range, what does not gets a one-line message.
fn value(which: u8, text: &str) {
    fn one_line<T>(r: Result<T, String>) -> Option<T> {
        match r {
            Ok(v) => Some(v),
            Err(e) => {
                assert!(!e.is_empty() && !e.contains('\n'), "{e:?}");
                None
            }
        }
    }
    match which % 8 {
        0 => {
            if let Some(p) = one_line(values::parse_port(text)) {
                assert!(p >= 1);
            }
        }
        1 => {
            if let Some(n) = one_line(values::parse_count(text)) {
                assert!(n >= 1);
            }
        }
        2 => {
            one_line(values::parse_ttl(text));
        }
        3 => {
            one_line(values::parse_interval(text));
        }
        4 => {
            if let Some(d) = one_line(values::parse_timeout(text)) {
                assert!(!d.is_zero());
            }
            if let Some(d) = one_line(values::parse_positive("--report", text)) {
                assert!(!d.is_zero());
            }
        }
        6 => {
            if let Some((group, port)) = one_line(values::split_group_port(text)) {
                assert!(text.contains(group), "{group:?} from {text:?}");
                assert!(port.is_none_or(|p| p >= 1));
            }
        }
        5 => {
            if let Some(n) = one_line(values::parse_size(text)) {
                assert!(n > 0);
            }
        }
        _ => {
            if let Some(n) = one_line(values::parse_frame_size(text)) {
                assert!((mcast_core::frame::HEADER_LEN..=65_507).contains(&n), "{n}");
            }
        }
    }
}

fn group(text: &str) {
    let Ok(g) = text.parse::<Group>() else { return };
    assert!(g.addr().is_multicast(), "{g}");
    assert_eq!(g.to_string().parse::<Group>(), Ok(g));
    let info = g.info();
    assert_eq!(info.group, g);
    assert_eq!(info.ssm, g.is_ssm());
    for other in g.mac_collisions() {
        assert_eq!(other.mac(), g.mac(), "{other} collides with {g}");
    }
}

fn range(text: &str) {
    let Ok(r) = text.parse::<GroupRange>() else {
        return;
    };
    assert!(r.count() >= 1);
    assert_eq!(r.to_string().parse::<GroupRange>(), Ok(r));
    assert_eq!(GroupRange::new(r.first(), r.count()), Ok(r));
    // The last group is still multicast (checked without walking billions of IPv6 groups).
    let last = match r.first().addr() {
        IpAddr::V4(a) => IpAddr::from((u32::from(a) + (r.count() - 1)).to_be_bytes()),
        IpAddr::V6(a) => IpAddr::from((u128::from(a) + u128::from(r.count() - 1)).to_be_bytes()),
    };
    assert!(last.is_multicast(), "{r} ends at {last}");
    if r.count() <= 256 {
        let groups: Vec<Group> = r.iter().collect();
        assert_eq!(groups.len() as u32, r.count());
        assert_eq!(groups.last().map(Group::addr), Some(last));
        assert!(groups.windows(2).all(|w| w[0] < w[1]));
    }
}

fn source(text: &str) {
    let Ok(s) = text.parse::<Source>() else {
        return;
    };
    assert!(
        !s.addr().is_multicast() && !s.addr().is_unspecified(),
        "{s}"
    );
    assert_eq!(s.to_string().parse::<Source>(), Ok(s));
    for g in ["232.1.1.1", "ff3e::1234"] {
        let g: Group = g.parse().expect("a group");
        assert_eq!(
            Source::for_group(g, s.addr()).is_ok(),
            g.is_ipv4() == s.addr().is_ipv4()
        );
    }
}

fn iface(text: &str) {
    let Ok(spec) = text.parse::<IfaceSpec>() else {
        return;
    };
    match &spec {
        IfaceSpec::Addr(a) => {
            assert!(!a.is_multicast() && !a.is_unspecified(), "{a}");
            assert_eq!(spec.to_string().parse::<IfaceSpec>(), Ok(spec.clone()));
        }
        IfaceSpec::Name(n) => {
            assert!(!n.is_empty() && n.len() <= 15 && !n.contains('/'), "{n:?}");
            assert_eq!(spec.to_string().parse::<IfaceSpec>(), Ok(spec.clone()));
        }
        IfaceSpec::Index(i) => assert!(*i > 0),
        IfaceSpec::Any => {}
    }
}

fn cidr(text: &str) {
    let Ok(c) = text.parse::<Cidr>() else { return };
    assert_eq!(c.to_string().parse::<Cidr>(), Ok(c));
    assert!(c.contains(c.addr()));
}

fn rate(text: &str) {
    let Ok(r) = rate::parse_rate(text) else {
        return;
    };
    let _ = r.to_string();
    for size in [1, 28, 1400, 65_507] {
        match (r, r.pps(size), r.interval(size)) {
            (rate::Rate::Max, None, None) => {}
            (rate::Rate::Pps(n), Some(pps), Some(iv)) => {
                assert!(
                    pps == n as f64 && (1..=100_000_000).contains(&n),
                    "{text:?}"
                );
                paced_as_the_rate_says(text, pps, iv);
            }
            (rate::Rate::Bits(b), Some(pps), Some(iv)) => {
                // A bit rate may come to less than one datagram a second: paced all the same.
                assert!(b > 0 && pps > 0.0 && pps.is_finite(), "{text:?}");
                paced_as_the_rate_says(text, pps, iv);
            }
            other => panic!("{text:?}: {other:?}"),
        }
    }
}

/// The pacing interval is one over the rate, to the nanosecond (and never zero).
fn paced_as_the_rate_says(text: &str, pps: f64, interval: std::time::Duration) {
    let want = (1e9 / pps).max(1.0);
    let got = interval.as_nanos() as f64;
    assert!(
        (got - want).abs() <= 1.0 + want * 1e-9,
        "{text:?}: {pps} datagrams/s paced every {got} ns, not {want}"
    );
}

fuzz_target!(|data: &[u8]| {
    let Some((&which, rest)) = data.split_first() else {
        return;
    };
    let text = String::from_utf8_lossy(rest);
    match which % 7 {
        0 => group(&text),
        1 => range(&text),
        2 => source(&text),
        3 => iface(&text),
        4 => cidr(&text),
        5 => rate(&text),
        _ => value(which / 7, &text),
    }
});
