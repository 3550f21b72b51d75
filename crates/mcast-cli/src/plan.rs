//! The validation layer between what the user typed (the clap `Opt`s) and what the adapters see.
//!
//! Every check goes through mcast-core's checked types: [`Group`], [`GroupRange`], [`Source`]
//! and [`IfaceSpec`]. A failed check is a usage error (exit 2) naming the problem and what
//! would be right. The interface is also resolved here (does it exist on this host?), before any
//! socket is opened: a missing interface is a usage error too, with a hint to `mcast ifaces`.

use std::collections::HashSet;
use std::net::IpAddr;

use mcast_core::addr::{Group, GroupRange, Source};
use mcast_core::iface::IfaceSpec;

use crate::errors::CliError;
use crate::hints::LIST_IFACES;

/// What `mcast recv` will do, validated.
#[derive(Debug, Clone)]
pub(crate) struct RecvPlan {
    /// The groups as the user wrote them (ranges kept), for messages.
    pub(crate) ranges: Vec<GroupRange>,
    /// Every group to join, in order, without duplicates.
    pub(crate) groups: Vec<Group>,
    /// The port to bind.
    pub(crate) port: u16,
    /// The interface to join on.
    pub(crate) iface: IfaceSpec,
    /// The interface in words, e.g. `lo (127.0.0.1)`.
    pub(crate) iface_label: String,
    /// SSM / IGMPv3 source filter: only these senders.
    pub(crate) sources: Vec<Source>,
    /// Remarks for stderr (not errors), e.g. a source on a group outside the SSM range.
    pub(crate) notes: Vec<String>,
}

/// What `mcast send` will do, validated.
#[derive(Debug, Clone)]
pub(crate) struct SendPlan {
    /// The destination group.
    pub(crate) group: Group,
    /// The destination port.
    pub(crate) port: u16,
    /// The outgoing interface.
    pub(crate) iface: IfaceSpec,
    /// The TTL (IPv4) or hop limit (IPv6).
    pub(crate) ttl: u8,
    /// Whether our own datagrams loop back to local receivers.
    pub(crate) loopback: bool,
    /// Remarks for stderr (not errors), e.g. `--no-loop` on `lo`, where it cannot apply.
    pub(crate) notes: Vec<String>,
    /// The UDP port to send from (`send --source-port`); `None` lets the kernel pick one.
    pub(crate) source_port: Option<u16>,
}

/// The note for `--no-loop` on the loopback interface, where it cannot apply.
pub(crate) const NO_LOOP_ON_LO: &str = "note: --no-loop cannot stop delivery on lo: the loopback interface hands everything sent on it back to this host, so local receivers still get it (IP_MULTICAST_LOOP governs only the copy the kernel loops back from other interfaces)";

/// Whether datagrams to `group` leave by a loopback interface: the one `iface` names, or
/// without one the one the kernel routes the group through.
fn leaves_by_loopback(iface: &IfaceSpec, group: Group) -> bool {
    let found = if iface.is_any() {
        mcast_sync::ifaces::route_to(group.addr())
    } else {
        mcast_sync::ifaces::resolve(iface)
    };
    found.is_ok_and(|i| i.flags.loopback)
}

// The value parsers live in `values` (std, humantime and mcast-core only, so the fuzz crate
// can build that file as it is); they are used as `plan::parse_*`.
pub(crate) use crate::values::{
    parse_count, parse_frame_size, parse_interval, parse_port, parse_positive, parse_size,
    parse_source_port, parse_timeout, parse_ttl, quoted,
};

/// Where a command sends or listens: its `GROUP PORT` arguments, also given in socat's
/// `GROUP:PORT` form (`239.1.2.3:5000`, `[ff02::1%eth0]:5000`); `cmd` names the subcommand for
/// the hint. Returns the group text and the port.
pub(crate) fn endpoint<'a>(
    group: &'a str,
    port: Option<&str>,
    cmd: &str,
) -> Result<(&'a str, u16), CliError> {
    let help = || format!("try 'mcast {cmd} --help'");
    let (group_text, inline) =
        crate::values::split_group_port(group).map_err(|e| CliError::usage(e).hint(help()))?;
    match (inline, port) {
        (Some(_), Some(p)) => Err(CliError::usage(format!(
            "{} names the port already, so PORT {} is one too many",
            quoted(group),
            quoted(p)
        ))
        .hint(help())),
        (Some(p), None) => Ok((group_text, p)),
        (None, Some(p)) => parse_port(p)
            .map(|p| (group_text, p))
            .map_err(|e| CliError::usage(e).hint(help())),
        (None, None) => Err(CliError::usage(format!(
            "no PORT after {}: write GROUP PORT or GROUP:PORT, e.g. 239.1.2.3 5000 or 239.1.2.3:5000",
            quoted(group)
        ))
        .hint(help())),
    }
}

/// Checks that an interface given by address is of the group's address family: the core's
/// rule ([`IfaceSpec::check_family`]), in the CLI's words (a usage error).
fn check_iface_family(iface: &IfaceSpec, group: Group) -> Result<(), CliError> {
    iface
        .check_family(group)
        .map_err(|e| CliError::usage(format!("{e}; name an IPv6 interface by its name or index")))
}

/// Parses `-i IFACE` (a name, an index or one of its addresses); without `-i`, "any".
///
/// Every subcommand reads `-i` here, so a malformed one is refused in the same words.
pub(crate) fn parse_iface_spec(text: Option<&str>) -> Result<IfaceSpec, CliError> {
    match text {
        None => Ok(IfaceSpec::Any),
        Some(t) => t
            .parse()
            .map_err(|e| CliError::usage(format!("-i {t}: {e}"))),
    }
}

/// Looks the interface `spec` names up on this host (`spec` is not "any").
///
/// The one interface lookup of the CLI: a missing interface is a usage error (exit 2) with a
/// hint to `mcast ifaces`.
pub(crate) fn lookup_iface(spec: &IfaceSpec) -> Result<mcast_sync::ifaces::Interface, CliError> {
    mcast_sync::ifaces::resolve(spec).map_err(|e| {
        CliError::usage(format!(
            "interface not found: {}",
            crate::errors::chain_text(&e)
        ))
        .hint(LIST_IFACES)
    })
}

/// Checks that the interface exists on this host and describes it with an address of the
/// family in use, e.g. `lo (127.0.0.1)`, `va (fe80::1)`, or `va (index 3)` without one
/// ([`lookup_iface`]). For "any", `group` names the interface the kernel's route lookup picks
/// for it (as the join and the send will), e.g. `eth0 (192.0.2.2), the kernel's choice`.
pub(crate) fn resolve_iface(spec: &IfaceSpec, group: Group) -> Result<String, CliError> {
    if spec.is_any() {
        return Ok(kernel_choice(group));
    }
    Ok(describe_iface(&lookup_iface(spec)?, group.is_ipv6()))
}

/// `name (address)` with an address of the family (`ipv6`), else `name (index N)`.
fn describe_iface(i: &mcast_sync::ifaces::Interface, ipv6: bool) -> String {
    let addr = if ipv6 {
        i.ipv6().map(IpAddr::V6)
    } else {
        i.ipv4().map(IpAddr::V4)
    };
    match addr {
        Some(a) => format!("{} ({a})", i.name),
        None => format!("{} (index {})", i.name, i.index),
    }
}

/// The interface without `-i`: the one the kernel routes `group` through, by the lookup the
/// kernel itself makes when it joins or sends without an interface (`ip route get GROUP`).
/// Without a route the words stay general (the join then fails with its own hint).
fn kernel_choice(group: Group) -> String {
    match mcast_sync::ifaces::route_to(group.addr()) {
        Ok(i) => format!(
            "{}, the kernel's choice",
            describe_iface(&i, group.is_ipv6())
        ),
        Err(_) if group.is_ipv6() => "::, the kernel's choice".into(),
        Err(_) => "0.0.0.0, the kernel's choice".into(),
    }
}

/// The index of the interface `spec` names, when it exists (`None` for "any").
pub(crate) fn iface_index(spec: &IfaceSpec) -> Option<u32> {
    if spec.is_any() {
        return None;
    }
    mcast_sync::ifaces::resolve(spec).ok().map(|i| i.index)
}

fn parse_iface(text: Option<&str>, group: Group) -> Result<(IfaceSpec, String), CliError> {
    let spec = parse_iface_spec(text)?;
    let label = resolve_iface(&spec, group)?;
    Ok((spec, label))
}

/// A group as written with its IPv6 zone, `ff02::1%eth0` (RFC 4007's form): the interface
/// named after `%`.
#[derive(Debug, Clone)]
pub(crate) struct Zone {
    /// The entry as written, for messages.
    written: String,
    /// The interface after `%`.
    pub(crate) iface: IfaceSpec,
}

/// Splits `GROUP%IFACE` into the group text and its [`Zone`] (an interface name or index);
/// text without `%` has none.
pub(crate) fn split_zone(text: &str) -> Result<(&str, Option<Zone>), CliError> {
    let Some((group, zone)) = text.split_once('%') else {
        return Ok((text, None));
    };
    let Ok(iface @ (IfaceSpec::Name(_) | IfaceSpec::Index(_))) = zone.parse::<IfaceSpec>() else {
        return Err(CliError::usage(format!(
            "{}: after % comes the interface, by name or index (ff02::1%eth0, ff02::1%2)",
            quoted(text)
        )));
    };
    Ok((
        group,
        Some(Zone {
            written: text.trim().to_owned(),
            iface,
        }),
    ))
}

/// The interface from `-i` and from a group's zone, which must agree: `ff02::1%lo -i lo` is
/// fine, `ff02::1%lo -i va` a usage error. `group` is the first group, to refuse a zone on
/// IPv4.
fn merge_zone(
    iface: Option<&str>,
    zone: Option<Zone>,
    group: Group,
) -> Result<(IfaceSpec, String), CliError> {
    let Some(zone) = zone else {
        return parse_iface(iface, group);
    };
    if group.is_ipv4() {
        return Err(CliError::usage(format!(
            "{}: a %zone belongs to IPv6 addresses; name the interface of an IPv4 group with -i",
            quoted(&zone.written)
        )));
    }
    let zone_label = resolve_iface(&zone.iface, group)?;
    let Some(text) = iface else {
        return Ok((zone.iface, zone_label));
    };
    let (spec, label) = parse_iface(Some(text), group)?;
    if iface_index(&spec) != iface_index(&zone.iface) {
        return Err(CliError::usage(format!(
            "{} names interface {zone_label} but -i names {label}: give the interface once",
            quoted(&zone.written)
        )));
    }
    Ok((spec, label))
}

/// Refuses an IPv6 group of interface- or link-local scope without an interface: the same
/// address exists on every link (the socket calls would fail with a bare `EINVAL`).
fn check_needs_interface(iface: &IfaceSpec, groups: &[Group]) -> Result<(), CliError> {
    match groups.iter().find(|g| g.needs_interface()) {
        Some(g) if iface.is_any() => Err(CliError::usage(format!(
            "{g} is {}: the same address exists on every link, so it needs an interface",
            if g.scope() == mcast_core::addr::Scope::InterfaceLocal {
                "interface-local"
            } else {
                "link-local"
            }
        ))
        .hint(format!("name it with -i IFACE, or write {g}%IFACE"))),
        _ => Ok(()),
    }
}

/// Validates `mcast recv`'s arguments.
pub(crate) fn recv(
    groups: &str,
    port: u16,
    iface: Option<&str>,
    sources: &[String],
) -> Result<RecvPlan, CliError> {
    let mut ranges = Vec::new();
    let mut zone: Option<Zone> = None;
    for part in groups.split(',') {
        let part = part.trim();
        if part.is_empty() {
            return Err(CliError::usage(format!(
                "{groups:?} has an empty entry: GROUPS is a comma-separated list like 224.1.1.5,234.3.2.1 or 239.1.0.1+1000"
            )));
        }
        let (part, z) = split_zone(part)?;
        let r: GroupRange = part.parse().map_err(CliError::usage)?;
        ranges.push(r);
        match (&zone, z) {
            (None, z) => zone = z,
            (Some(a), Some(b)) if iface_index(&a.iface) != iface_index(&b.iface) => {
                return Err(CliError::usage(format!(
                    "{} and {} name different interfaces: one receiver joins on one interface",
                    quoted(&a.written),
                    quoted(&b.written)
                )))
            }
            _ => {}
        }
    }
    let Some(first) = ranges.first().map(GroupRange::first) else {
        return Err(CliError::usage("no group given"));
    };
    for r in &ranges {
        if let Err(e) = r.first().check_same_family(first) {
            return Err(CliError::usage(format!(
                "{e}: one `mcast recv` joins IPv4 or IPv6 groups, not both"
            )));
        }
    }
    // The count as written (overlaps counted twice), checked before a single group is listed:
    // a count that cannot be joined is refused at once, not after gigabytes of listing.
    let count = ranges.iter().map(|r| u64::from(r.count())).sum();
    crate::joining::check_count(
        count,
        groups,
        crate::joining::Limits::of_host(first.is_ipv6()),
    )?;
    let mut seen = HashSet::new();
    let mut all = Vec::new();
    for g in ranges.iter().flat_map(GroupRange::iter) {
        if seen.insert(g) {
            all.push(g);
        }
    }
    let mut checked = Vec::new();
    for s in sources {
        let ip: IpAddr = s.trim().parse().map_err(|_| {
            CliError::usage(format!(
                "--source {s:?} is not an IP address: a source is the unicast address of the sending host, e.g. 192.168.56.3"
            ))
        })?;
        let src = Source::for_group(first, ip).map_err(CliError::usage)?;
        if !checked.contains(&src) {
            checked.push(src);
        }
    }
    let mut notes = Vec::new();
    let ssm: Vec<String> = all
        .iter()
        .filter(|g| g.is_ssm())
        .take(3)
        .map(ToString::to_string)
        .collect();
    if checked.is_empty() && !ssm.is_empty() {
        notes.push(format!(
            "note: {} {} in the SSM range (232.0.0.0/8, ff3x::/32): nothing arrives there without --source S, the sender's address",
            ssm.join(", "),
            if ssm.len() == 1 { "is" } else { "are" }
        ));
    }
    if !checked.is_empty() {
        let asm: Vec<String> = all
            .iter()
            .filter(|g| !g.is_ssm())
            .take(3)
            .map(ToString::to_string)
            .collect();
        if !asm.is_empty() {
            notes.push(format!(
                "note: {} {} outside the SSM range (232.0.0.0/8, ff3x::/32): --source works there as an IGMPv3/MLDv2 source filter",
                asm.join(", "),
                if asm.len() == 1 { "is" } else { "are" }
            ));
        }
    }
    let (iface, iface_label) = merge_zone(iface, zone, first)?;
    check_iface_family(&iface, first)?;
    check_needs_interface(&iface, &all)?;
    Ok(RecvPlan {
        ranges,
        groups: all,
        port,
        iface,
        iface_label,
        sources: checked,
        notes,
    })
}

/// Validates `mcast send`'s arguments.
pub(crate) fn send(
    group: &str,
    port: u16,
    iface: Option<&str>,
    ttl: u8,
    no_loop: bool,
) -> Result<(SendPlan, String), CliError> {
    let (group, zone) = split_zone(group)?;
    let group: Group = group.parse().map_err(|e| {
        CliError::usage(e).hint("a sender sends to a group; `mcast info ADDR` explains an address")
    })?;
    let (iface, label) = merge_zone(iface, zone, group)?;
    check_iface_family(&iface, group)?;
    check_needs_interface(&iface, &[group])?;
    let mut notes = Vec::new();
    if no_loop && leaves_by_loopback(&iface, group) {
        notes.push(NO_LOOP_ON_LO.to_owned());
    }
    Ok((
        SendPlan {
            group,
            port,
            iface,
            ttl,
            loopback: !no_loop,
            notes,
            source_port: None,
        },
        label,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::values::parse_duration;
    use std::time::Duration;

    #[test]
    fn ports_are_1_to_65535() {
        assert_eq!(parse_port("50001"), Ok(50001));
        let e = parse_port("70000").unwrap_err();
        assert!(e.contains("out of range") && e.contains("65535"), "{e}");
        assert!(parse_port("0").unwrap_err().contains("1-65535"));
        assert!(parse_port("x").is_err());
    }

    #[test]
    fn frame_sizes_hold_the_header_and_fit_a_datagram() {
        assert_eq!(parse_frame_size("28"), Ok(28));
        assert_eq!(parse_frame_size("65507"), Ok(65_507));
        assert!(parse_frame_size("27").unwrap_err().contains("28-65507"));
        assert!(parse_frame_size("65508").is_err());
        assert!(parse_frame_size("x").unwrap_err().starts_with("--size "));
    }

    #[test]
    fn sizes_take_binary_suffixes() {
        assert_eq!(parse_size("212992"), Ok(212_992));
        assert_eq!(parse_size("64K"), Ok(65_536));
        assert_eq!(parse_size("8M"), Ok(8 << 20));
        assert_eq!(parse_size("1GiB"), Ok(1 << 30));
        assert!(parse_size("0").is_err());
        assert!(parse_size("8X").is_err());
        assert!(parse_size("-1").is_err());
        assert!(parse_size("99999999999999999999G").is_err());
    }

    #[test]
    fn durations_are_humantime() {
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("5s"), Ok(Duration::from_secs(5)));
        assert!(parse_duration("5").is_err());
    }

    #[test]
    fn recv_groups_are_lists_of_ranges_without_duplicates() {
        let p = recv(
            "224.1.1.5,234.3.2.1,239.1.0.1+3,224.1.1.5",
            5000,
            Some("127.0.0.1"),
            &[],
        )
        .unwrap();
        assert_eq!(p.groups.len(), 5);
        assert_eq!(p.ranges.len(), 4);
        assert!(p.notes.is_empty());
    }

    #[test]
    fn recv_rejects_unicast_mixed_families_and_bad_sources() {
        let e = recv("192.168.1.1", 1, Some("127.0.0.1"), &[]).unwrap_err();
        assert!(e.to_string().contains("224.0.0.0/4"), "{e}");
        assert!(recv("224.1.1.5,ff15::1", 1, Some("127.0.0.1"), &[]).is_err());
        assert!(recv("224.1.1.5,", 1, Some("127.0.0.1"), &[]).is_err());
        let e = recv("232.1.1.1", 1, Some("127.0.0.1"), &["239.1.1.1".into()]).unwrap_err();
        assert!(e.to_string().contains("unicast"), "{e}");
        let e = recv("232.1.1.1", 1, Some("127.0.0.1"), &["ff::1".into()]).unwrap_err();
        assert!(e.to_string().contains("famil"), "{e}");
    }

    // issue 11 — an SSM group without --source gets a note: nothing will arrive.
    #[test]
    fn ssm_without_a_source_is_noted() {
        for g in ["232.1.1.1", "ff35::8000:1", "224.1.1.5,232.1.1.1+2"] {
            let p = recv(g, 1, None, &[]).unwrap();
            assert_eq!(p.notes.len(), 1, "{g}: {:?}", p.notes);
            assert!(
                p.notes[0].contains("nothing arrives there without --source"),
                "{}",
                p.notes[0]
            );
        }
        let p = recv("232.1.1.1+2", 1, None, &[]).unwrap();
        assert!(
            p.notes[0].starts_with("note: 232.1.1.1, 232.1.1.2 are in the SSM range"),
            "{}",
            p.notes[0]
        );
        assert!(recv("224.1.1.5", 1, None, &[]).unwrap().notes.is_empty());
    }

    #[test]
    fn a_source_outside_ssm_is_a_note_not_an_error() {
        let p = recv("224.1.1.5", 1, Some("127.0.0.1"), &["127.0.0.1".into()]).unwrap();
        assert_eq!(p.notes.len(), 1);
        assert!(p.notes[0].contains("source filter"), "{}", p.notes[0]);
        let p = recv("232.1.1.1", 1, Some("127.0.0.1"), &["127.0.0.1".into()]).unwrap();
        assert!(p.notes.is_empty());
    }

    #[test]
    fn send_rejects_unicast_groups_and_missing_interfaces() {
        let e = send("192.168.1.1", 5000, Some("127.0.0.1"), 1, false).unwrap_err();
        assert!(e.to_string().contains("not a multicast address"), "{e}");
        let e = send("224.1.1.5", 5000, Some("nosuchif"), 1, false).unwrap_err();
        assert!(e.to_string().contains("nosuchif"), "{e}");
        let (p, label) = send("224.1.1.5", 5000, Some("127.0.0.1"), 1, true).unwrap();
        assert!(!p.loopback);
        // issue 11 — --no-loop on lo is noted: lo itself delivers back.
        assert_eq!(p.notes, [NO_LOOP_ON_LO]);
        let (p, _) = send("224.1.1.5", 5000, Some("lo"), 1, false).unwrap();
        assert!(p.notes.is_empty());
        assert!(label.contains("127.0.0.1"), "{label}");
    }

    // issue #2 (review) — value parsers name the argument and the real problem, negative
    // numbers included.
    #[test]
    fn value_parsers_name_the_argument_and_the_problem() {
        assert_eq!(parse_count("3"), Ok(3));
        assert_eq!(
            parse_count("0").unwrap_err(),
            "-c/--count must be at least 1 (got '0')"
        );
        assert!(parse_count("-1").unwrap_err().contains("at least 1"));
        assert!(parse_count("x").unwrap_err().contains("not a number"));
        assert_eq!(parse_ttl("0"), Ok(0));
        assert_eq!(parse_ttl("255"), Ok(255));
        assert_eq!(
            parse_ttl("-1").unwrap_err(),
            "--ttl must be 0-255 (got '-1')"
        );
        assert_eq!(
            parse_ttl("256").unwrap_err(),
            "--ttl must be 0-255 (got '256')"
        );
        assert_eq!(
            parse_ttl("1\n2").unwrap_err(),
            "--ttl '1\\n2' is not a number: --ttl must be 0-255",
            "one line, whatever was typed"
        );
        assert!(parse_port("-1")
            .unwrap_err()
            .contains("port -1 is out of range"));
        assert_eq!(parse_interval("0s"), Ok(Duration::ZERO));
        let e = parse_interval("-1s").unwrap_err();
        assert!(
            e.starts_with("--interval ") && e.contains("negative"),
            "{e}"
        );
        assert!(parse_duration("-5ms").unwrap_err().contains("negative"));
    }

    // issue #3 (review) — a zero --timeout is a usage error, not an immediate exit 1.
    #[test]
    fn timeout_must_be_longer_than_zero() {
        assert_eq!(parse_timeout("5s"), Ok(Duration::from_secs(5)));
        for zero in ["0s", "0ms", "0"] {
            let e = parse_timeout(zero).unwrap_err();
            assert!(e.starts_with("--timeout "), "{zero}: {e}");
        }
        assert!(parse_timeout("0s").unwrap_err().contains("longer than 0"));
        assert!(parse_timeout("-1s").unwrap_err().contains("negative"));
        let e = parse_positive("--interval", "0s").unwrap_err();
        assert!(
            e.starts_with("--interval ") && e.contains("longer than 0"),
            "{e}"
        );
        assert_eq!(parse_positive("--report", "1s"), Ok(Duration::from_secs(1)));
    }

    // issue #9 — `GROUP%IFACE` is a group and its interface; -i may repeat it, by name or
    // index, but not name another; IPv4 takes no zone.
    #[test]
    fn a_zone_is_the_groups_interface() {
        let (p, label) = send("ff02::1%lo", 5000, None, 1, false).unwrap();
        assert_eq!(p.group.to_string(), "ff02::1");
        assert_eq!(p.iface, IfaceSpec::Name("lo".into()));
        assert!(label.starts_with("lo"), "{label}");
        let (p, _) = send("ff02::1%lo", 5000, Some("lo"), 1, false).unwrap();
        assert_eq!(p.iface, IfaceSpec::Name("lo".into()));
        let lo = iface_index(&IfaceSpec::Name("lo".into())).unwrap();
        let (p, _) = send(&format!("ff02::1%{lo}"), 5000, Some("lo"), 1, false).unwrap();
        assert_eq!(p.iface, IfaceSpec::Name("lo".into()), "-i's form is kept");
        let r = recv("ff02::1%lo,ff02::2", 5000, None, &[]).unwrap();
        assert_eq!(r.iface, IfaceSpec::Name("lo".into()));
        assert_eq!(r.groups.len(), 2);
        let e = send("224.1.1.5%lo", 5000, None, 1, false).unwrap_err();
        assert!(e.to_string().contains("a %zone belongs to IPv6"), "{e}");
        for bad in ["ff02::1%", "ff02::1%0", "ff02::1%any", "ff02::1%a/b"] {
            let e = send(bad, 5000, None, 1, false).unwrap_err();
            assert!(
                e.to_string().contains("after % comes the interface"),
                "{bad}: {e}"
            );
        }
        let e = send("ff02::1%nosuch-if0", 5000, None, 1, false).unwrap_err();
        assert!(e.to_string().contains("interface not found"), "{e}");
    }

    // issue #9 — an IPv6 group that needs an interface, without one, is a usage error; IPv4
    // link-local and wider IPv6 scopes are not.
    #[test]
    fn link_local_ipv6_needs_an_interface() {
        for g in ["ff02::1", "ff12::1234", "ff32::1"] {
            let e = send(g, 5000, None, 1, false).unwrap_err();
            assert!(e.to_string().contains("link-local"), "{g}: {e}");
            assert!(crate::errors::hint(&anyhow::Error::new(e))
                .unwrap()
                .contains(&format!("write {g}%IFACE")));
        }
        let e = send("ff01::1", 5000, None, 1, false).unwrap_err();
        assert!(e.to_string().contains("interface-local"), "{e}");
        let e = recv("ff15::1,ff02::2", 5000, None, &[]).unwrap_err();
        assert!(e.to_string().starts_with("ff02::2 is link-local"), "{e}");
        assert!(send("ff02::1", 5000, Some("lo"), 1, false).is_ok());
        assert!(send("ff15::1", 5000, None, 1, false).is_ok());
        assert!(send("224.0.0.251", 5000, None, 1, false).is_ok());
    }

    // issue 11 — GROUP PORT or socat's GROUP:PORT, never both, never neither.
    #[test]
    fn endpoints_take_group_port_in_either_form() {
        assert_eq!(
            endpoint("239.1.2.3", Some("5000"), "recv").unwrap(),
            ("239.1.2.3", 5000)
        );
        assert_eq!(
            endpoint("239.1.2.3:5000", None, "recv").unwrap(),
            ("239.1.2.3", 5000)
        );
        assert_eq!(
            endpoint("[ff02::1%lo]:5000", None, "recv").unwrap(),
            ("ff02::1%lo", 5000)
        );
        let e = endpoint("239.1.2.3:5000", Some("5000"), "recv").unwrap_err();
        assert!(e.to_string().contains("names the port already"), "{e}");
        let e = endpoint("239.1.2.3", None, "perf").unwrap_err();
        assert!(
            e.to_string().starts_with("no PORT after '239.1.2.3'"),
            "{e}"
        );
        let e = endpoint("239.1.2.3", Some("70000"), "send").unwrap_err();
        assert_eq!(
            e.to_string(),
            "port 70000 is out of range: a UDP port is 1-65535"
        );
        let hint = crate::errors::hint(&anyhow::Error::new(e));
        assert_eq!(hint.as_deref(), Some("try 'mcast send --help'"));
    }

    // issue #2 (review) — `send` checks the interface's address family as `recv` does.
    #[test]
    fn send_rejects_an_interface_address_of_the_other_family() {
        let e = send("ff15::1", 5000, Some("127.0.0.1"), 1, false).unwrap_err();
        assert!(e.to_string().contains("different address families"), "{e}");
        let e = recv("ff15::1", 5000, Some("127.0.0.1"), &[]).unwrap_err();
        assert!(e.to_string().contains("different address families"), "{e}");
    }
}
