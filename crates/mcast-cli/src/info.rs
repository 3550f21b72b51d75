//! `mcast info ADDR`: what a multicast address is (scope, block, MAC, colliding groups, SSM).
//!
//! Pure: everything comes from mcast-core's `addr` module; no socket, no system lookup.

use std::process::ExitCode;

use mcast_core::addr::{Group, GroupInfo, Scope};

use crate::errors::CliError;
use crate::output;

/// Arguments of `mcast info`.
#[derive(clap::Args, Debug)]
#[command(after_help = "\
Examples:
  mcast info 224.1.1.5          scope, IANA block, MAC 01:00:5e:01:01:05 and its 32 groups
  mcast info 232.1.1.1          a source-specific (SSM) group
  mcast info ff15::1 --json     an IPv6 group, as one JSON line
  mcast info ff02::1%eth0       a link-local group and its interface (the zone), as send and recv take it")]
pub(crate) struct Opt {
    /// The multicast address to describe (IPv4 224.0.0.0/4 or IPv6 ff00::/8); an IPv6 one may
    /// carry its interface, ff02::1%eth0.
    #[arg(value_name = "ADDR")]
    addr: String,

    /// Print one JSON line, {"type": "info", "data": {...}}.
    #[arg(long)]
    json: bool,
}

/// Runs `mcast info`.
pub(crate) fn run(opt: Opt) -> anyhow::Result<ExitCode> {
    // `ff02::1%eth0`, as send and recv take it: the zone is the interface they would use.
    let (addr, zone) = crate::plan::split_zone(&opt.addr)?;
    let group: Group = addr.parse().map_err(CliError::usage)?;
    if zone.is_some() && group.is_ipv4() {
        return Err(CliError::usage(format!(
            "{}: a %zone belongs to IPv6 addresses",
            crate::plan::quoted(&opt.addr)
        ))
        .into());
    }
    let info = group.info();
    let zone = zone.map(|z| z.iface.to_string());
    if opt.json {
        output::emit_json("info", &InfoRecord { info: &info, zone })?;
    } else {
        for l in render(&info) {
            output::line(&l)?;
        }
        if let Some(z) = zone {
            output::line(&zone_line(&z))?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// The `info` record: the core's `GroupInfo`, and the interface after `%` when one was given.
#[derive(serde::Serialize)]
struct InfoRecord<'a> {
    #[serde(flatten)]
    info: &'a GroupInfo,
    #[serde(skip_serializing_if = "Option::is_none")]
    zone: Option<String>,
}

/// The line naming the zone's interface (as written: `info` looks nothing up).
fn zone_line(zone: &str) -> String {
    format!("zone:        interface {zone} (send and recv use it as -i {zone})")
}

/// The human rendering, one string per line.
fn render(info: &GroupInfo) -> Vec<String> {
    let mut lines = vec![format!("group:       {} ({})", info.group, info.family)];
    if let Some(name) = info.well_known {
        lines.push(format!("known as:    {name}"));
    }
    lines.extend([
        format!("scope:       {}", info.scope),
        format!(
            "block:       {}{}",
            info.block_description,
            match info.scope {
                Scope::InterfaceLocal => "; interface-local, never leaves this host",
                _ if info.link_local => "; link-local, routers never forward it, whatever the TTL",
                _ => "",
            }
        ),
        format!(
            "ssm:         {}",
            if info.ssm {
                "yes: receivers must name the source (mcast recv --source S)"
            } else {
                "no: any-source multicast"
            }
        ),
        format!("mac:         {}", info.mac),
    ]);
    if let Some(flags) = info.ipv6_flags {
        lines.push(format!(
            "flags:       {flags:#x} (R={} P={} T={})",
            (flags >> 2) & 1,
            (flags >> 1) & 1,
            flags & 1
        ));
    }
    if !info.mac_collisions.is_empty() {
        lines.push(format!(
            "same mac:    {} groups share {} (the mapping keeps only 23 bits):",
            info.mac_collisions.len(),
            info.mac
        ));
        for chunk in info.mac_collisions.chunks(4) {
            let row: Vec<String> = chunk.iter().map(|a| format!("{a:<16}")).collect();
            lines.push(format!("             {}", row.join("").trim_end()));
        }
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_lists_scope_mac_and_32_groups() {
        let g: Group = "224.1.1.5".parse().unwrap();
        let text = render(&g.info()).join("\n");
        assert!(text.contains("01:00:5e:01:01:05"), "{text}");
        assert!(text.contains("32 groups share"), "{text}");
        assert!(text.contains("224.129.1.5"), "{text}");
        assert!(text.contains("239.129.1.5"), "{text}");
        assert!(text.contains("ssm:         no"), "{text}");
    }

    #[test]
    fn ipv6_has_flags_and_no_collision_list() {
        let g: Group = "ff35::1".parse().unwrap();
        let text = render(&g.info()).join("\n");
        assert!(text.contains("33:33:00:00:00:01"), "{text}");
        assert!(text.contains("ssm:         yes"), "{text}");
        assert!(text.contains("flags:       0x3"), "{text}");
        assert!(!text.contains("same mac"), "{text}");
    }

    // issue 11 — well-known groups are named, and link-local ones are never routed, whatever
    // the TTL.
    #[test]
    fn well_known_groups_are_named_and_link_local_never_routed() {
        for (g, name) in [
            ("224.0.0.1", "all systems on this link"),
            ("224.0.0.22", "IGMPv3 reports"),
            ("224.0.0.251", "mDNS"),
            ("239.255.255.250", "SSDP"),
            ("ff02::1", "all nodes on this link"),
            ("ff02::fb", "mDNS"),
        ] {
            let text = render(&g.parse::<Group>().unwrap().info()).join("\n");
            assert!(
                text.contains(&format!("known as:    {name}")),
                "{g}: {text}"
            );
        }
        let text = render(&"224.0.0.99".parse::<Group>().unwrap().info()).join("\n");
        assert!(
            text.contains("routers never forward it, whatever the TTL"),
            "{text}"
        );
        assert!(!text.contains("known as"), "{text}");
    }

    // Review fix — `info` takes the zone form that send and recv take, and names the
    // interface; a zone on IPv4 or a malformed one is refused with the reason.
    #[test]
    fn a_zone_is_named_as_the_interface() {
        assert_eq!(
            zone_line("lo"),
            "zone:        interface lo (send and recv use it as -i lo)"
        );
        let record = InfoRecord {
            info: &"ff02::1".parse::<Group>().unwrap().info(),
            zone: Some("lo".into()),
        };
        let v = serde_json::to_value(&record).unwrap();
        assert_eq!(v["zone"], "lo");
        assert_eq!(v["group"], "ff02::1");
        let run_with = |addr: &str| {
            run(Opt {
                addr: addr.into(),
                json: false,
            })
            .map(|_| ())
            .map_err(|e| e.to_string())
        };
        let e = run_with("224.0.0.1%lo").unwrap_err();
        assert!(e.contains("a %zone belongs to IPv6 addresses"), "{e}");
        let e = run_with("ff02::1%").unwrap_err();
        assert!(e.contains("after % comes the interface"), "{e}");
    }

    #[test]
    fn interface_local_is_not_called_link_local() {
        let text = render(&"ff01::1".parse::<Group>().unwrap().info()).join("\n");
        assert!(
            text.contains("interface-local, never leaves this host"),
            "{text}"
        );
        assert!(!text.contains("link-local"), "{text}");
        let text = render(&"ff02::1".parse::<Group>().unwrap().info()).join("\n");
        assert!(
            text.contains("link-local, routers never forward it"),
            "{text}"
        );
    }
}
