//! `--explain` on `send` and `recv`: the socket options the program set, one line each, in
//! the terms of the lecture's Python (`IP_MULTICAST_TTL=1`, `IP_MULTICAST_IF=192.168.56.3`, an
//! `ip_mreq` as `struct.pack("=4s4s", …)` packs it).
//!
//! The TTL and the loop flag are read back from the socket. The membership requests are
//! mcast-sync's own (`setup::membership_request`: the option, the layout and the bytes, from
//! mcast-core's `mreq` builders, that its joins hand the kernel); the interface option follows
//! the same rule (by the IPv4 address given, as the lecture does, else by index).

use std::net::IpAddr;

use mcast_core::addr::{Group, Source};
use mcast_core::iface::IfaceSpec;
use mcast_sync::resolve::ResolvedIface;

/// How many joins `recv --explain` spells out before it only counts the rest.
const MAX_JOIN_LINES: usize = 8;

/// Bytes as two-digit lowercase hex separated by spaces (`e0 01 01 05`).
fn spaced_hex(bytes: &[u8]) -> String {
    bytes
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(" ")
}

/// The interface as the user named it, with its name when known: `lab0 (index 2)`.
fn iface_words(iface: &ResolvedIface) -> String {
    match &iface.name {
        Some(name) => format!("{name}, index {}", iface.index),
        None => format!("index {}", iface.index),
    }
}

/// The sender's lines: TTL, loop and outgoing interface.
pub(crate) fn sender_lines(
    v6: bool,
    ttl: u32,
    loopback: bool,
    iface: &ResolvedIface,
) -> Vec<String> {
    let (level, hops, lp, ifopt) = if v6 {
        (
            "IPPROTO_IPV6",
            "IPV6_MULTICAST_HOPS",
            "IPV6_MULTICAST_LOOP",
            "IPV6_MULTICAST_IF",
        )
    } else {
        (
            "IPPROTO_IP",
            "IP_MULTICAST_TTL",
            "IP_MULTICAST_LOOP",
            "IP_MULTICAST_IF",
        )
    };
    let interface = if iface.spec.is_any() {
        format!("{ifopt} not set (the kernel chooses the interface by route)")
    } else if v6 {
        format!("{ifopt}={} ({})", iface.index, iface_words(iface))
    } else if let IfaceSpec::Addr(IpAddr::V4(a)) = iface.spec {
        format!("{ifopt}={a} (an in_addr: socket.inet_aton(\"{a}\"))")
    } else {
        format!(
            "{ifopt}=ip_mreqn with imr_ifindex {} ({})",
            iface.index,
            iface_words(iface)
        )
    };
    vec![
        format!("socket option {level} {hops}={ttl}"),
        format!("socket option {level} {lp}={}", u8::from(loopback)),
        format!("socket option {level} {interface}"),
    ]
}

/// One membership request as mcast-sync makes it ([`mcast_sync::setup::membership_request`]):
/// the option, the struct's bytes, and how the lecture's Python would build them (IPv4 by
/// address only).
pub(crate) fn join_line(group: Group, source: Option<Source>, iface: &ResolvedIface) -> String {
    let r = match mcast_sync::setup::membership_request(group, source, iface) {
        Ok(r) => r,
        Err(e) => return format!("socket option: no request for {group}: {e}"),
    };
    let (level, option, layout) = (r.level, r.option, r.layout);
    let about = match (r.by_address, source) {
        (Some(a), None) => format!(
            "{layout}: group {group}, interface {a}; Python: struct.pack(\"=4s4s\", \
             socket.inet_aton(\"{group}\"), socket.inet_aton(\"{a}\"))"
        ),
        (Some(a), Some(s)) => format!(
            "{layout}: group {group}, interface {a}, source {}",
            s.addr()
        ),
        (None, None) => format!("{layout}: group {group}, {}", iface_words(iface)),
        (None, Some(s)) => {
            // group_source_req is 264 bytes of mostly padding: its length, not its bytes.
            return format!(
                "socket option {level} {option} ({} bytes: {layout}, group {group}, source {}, {})",
                r.bytes.len(),
                s.addr(),
                iface_words(iface)
            );
        }
    };
    format!(
        "socket option {level} {option}={} ({about})",
        spaced_hex(&r.bytes)
    )
}

/// The receiver's lines: where it is bound, then each join (the first few of many).
pub(crate) fn receiver_lines(
    bound: Option<std::net::SocketAddr>,
    groups: &[Group],
    sources: &[Source],
    iface: &ResolvedIface,
) -> Vec<String> {
    let mut lines = Vec::new();
    if let Some(addr) = bound {
        lines.push(format!("bound to {addr}"));
    }
    let joins: Vec<(Group, Option<Source>)> = if sources.is_empty() {
        groups.iter().map(|g| (*g, None)).collect()
    } else {
        groups
            .iter()
            .flat_map(|g| sources.iter().map(move |s| (*g, Some(*s))))
            .collect()
    };
    for (g, s) in joins.iter().take(MAX_JOIN_LINES) {
        lines.push(join_line(*g, *s, iface));
    }
    if joins.len() > MAX_JOIN_LINES {
        lines.push(format!(
            "socket option … and {} more joins like these",
            joins.len() - MAX_JOIN_LINES
        ));
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    fn by_addr(a: Ipv4Addr) -> ResolvedIface {
        ResolvedIface {
            spec: IfaceSpec::Addr(IpAddr::V4(a)),
            index: 2,
            name: Some("lab0".into()),
            v4: a,
        }
    }

    #[test]
    fn the_lecture_sender_sets_ttl_1_and_the_interface_by_address() {
        let lines = sender_lines(false, 1, true, &by_addr(Ipv4Addr::new(192, 168, 56, 3)));
        assert_eq!(
            lines,
            [
                "socket option IPPROTO_IP IP_MULTICAST_TTL=1",
                "socket option IPPROTO_IP IP_MULTICAST_LOOP=1",
                "socket option IPPROTO_IP IP_MULTICAST_IF=192.168.56.3 (an in_addr: socket.inet_aton(\"192.168.56.3\"))",
            ]
        );
    }

    #[test]
    fn an_interface_by_name_goes_by_index() {
        let mut iface = by_addr(Ipv4Addr::new(10, 0, 0, 1));
        iface.spec = IfaceSpec::Name("lab0".into());
        let lines = sender_lines(false, 0, false, &iface);
        assert_eq!(lines[1], "socket option IPPROTO_IP IP_MULTICAST_LOOP=0");
        assert_eq!(
            lines[2],
            "socket option IPPROTO_IP IP_MULTICAST_IF=ip_mreqn with imr_ifindex 2 (lab0, index 2)"
        );
        let v6 = sender_lines(true, 5, true, &iface);
        assert_eq!(v6[0], "socket option IPPROTO_IPV6 IPV6_MULTICAST_HOPS=5");
        assert_eq!(
            v6[2],
            "socket option IPPROTO_IPV6 IPV6_MULTICAST_IF=2 (lab0, index 2)"
        );
    }

    #[test]
    fn the_lecture_join_is_an_ip_mreq_packed_as_4s4s() {
        let g: Group = "224.1.1.5".parse().unwrap();
        let line = join_line(g, None, &by_addr(Ipv4Addr::new(192, 168, 56, 1)));
        assert_eq!(
            line,
            "socket option IPPROTO_IP IP_ADD_MEMBERSHIP=e0 01 01 05 c0 a8 38 01 (ip_mreq: group 224.1.1.5, \
             interface 192.168.56.1; Python: struct.pack(\"=4s4s\", socket.inet_aton(\"224.1.1.5\"), \
             socket.inet_aton(\"192.168.56.1\")))"
        );
    }

    #[test]
    fn many_joins_are_counted_after_the_first_few() {
        let groups: Vec<Group> = (1..=10)
            .map(|i| format!("239.1.0.{i}").parse().unwrap())
            .collect();
        let iface = by_addr(Ipv4Addr::LOCALHOST);
        let bound = Some("0.0.0.0:5000".parse().unwrap());
        let lines = receiver_lines(bound, &groups, &[], &iface);
        assert_eq!(lines[0], "bound to 0.0.0.0:5000");
        assert_eq!(lines.len(), 1 + MAX_JOIN_LINES + 1);
        assert!(lines[1].contains("ef 01 00 01 7f 00 00 01"), "{}", lines[1]);
        assert_eq!(lines[9], "socket option … and 2 more joins like these");
    }

    #[test]
    fn ipv6_and_source_specific_joins_name_their_structs() {
        let mut iface = by_addr(Ipv4Addr::LOCALHOST);
        iface.spec = IfaceSpec::Index(2);
        let v6: Group = "ff05::2".parse().unwrap();
        assert!(join_line(v6, None, &iface).contains("IPV6_ADD_MEMBERSHIP=ff 05 00"));
        let ssm: Group = "232.1.1.1".parse().unwrap();
        let s = Source::for_group(ssm, "10.0.0.1".parse().unwrap()).unwrap();
        let line = join_line(ssm, Some(s), &by_addr(Ipv4Addr::LOCALHOST));
        assert!(
            line.contains("IP_ADD_SOURCE_MEMBERSHIP=e8 01 01 01 7f 00 00 01 0a 00 00 01"),
            "{line}"
        );
    }
}
