//! What a lab looks like: its topologies (hosts, addresses, bridges, the router's legs and
//! routes), the querier's timers, and the [`Config`] `lab up` builds from.

use std::net::Ipv4Addr;

use anyhow::Result;

use super::{
    faults::{self, Fault},
    pim::{Line, DEFAULT_ROUTERS, MAX_ROUTERS, PIM},
};
use crate::prereq::Prereq;

/// The UDP port of the lecture, as `mcast` takes it on its command line.
pub(crate) const PORT: &str = "50001";

/// The two layouts a lab can have.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum Topology {
    /// Four hosts on one bridge, 192.168.56.0/24, as in the lecture.
    Lecture,
    /// Two subnets (56 and 57) joined by a multicast router namespace.
    Routed,
    /// Two hosts, sender and receiver, on the two ends of one veth pair (10.77.0.0/24).
    Pair,
    /// Routers r1…rN in a line running FRR (PIM-SM, IGMPv3), the hosts on three edge LANs.
    Pim,
}

impl Topology {
    /// The topology called `name` (what [`Topology::name`] gives), if any.
    pub(crate) fn from_name(name: &str) -> Option<Self> {
        [Self::Lecture, Self::Routed, Self::Pair, Self::Pim]
            .into_iter()
            .find(|t| t.name() == name)
    }

    pub(super) fn name(self) -> &'static str {
        match self {
            Self::Lecture => "lecture",
            Self::Routed => "routed",
            Self::Pair => "pair",
            Self::Pim => "pim",
        }
    }

    /// The hosts of this topology.
    pub(crate) fn hosts(self) -> &'static [Host] {
        match self {
            Self::Lecture => &LECTURE,
            Self::Routed => &ROUTED,
            Self::Pair => &PAIR,
            Self::Pim => &PIM,
        }
    }
}

/// One host namespace.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Host {
    /// The lecture's name for it, also the suffix of its namespace.
    pub(crate) name: &'static str,
    /// Its address on `lab0` (a /24).
    pub(crate) addr: Ipv4Addr,
    /// The bridge its veth is enslaved to (`None`: the veth's other end is the other host's).
    pub(super) bridge: Option<&'static str>,
    /// Its default gateway, if it has one.
    pub(super) gateway: Option<Ipv4Addr>,
}

pub(crate) const fn host(name: &'static str, c: u8, d: u8, bridge: &'static str, gw: bool) -> Host {
    Host {
        name,
        addr: Ipv4Addr::new(192, 168, c, d),
        bridge: Some(bridge),
        gateway: if gw {
            Some(Ipv4Addr::new(192, 168, c, 254))
        } else {
            None
        },
    }
}

pub(super) const LECTURE: [Host; 4] = [
    host("eastny", 56, 1, "br0", false),
    host("midwood", 56, 3, "br0", false),
    host("flatbush", 56, 4, "br0", false),
    host("bushwick", 56, 5, "br0", false),
];

pub(super) const ROUTED: [Host; 4] = [
    host("eastny", 56, 1, "br0", true),
    host("midwood", 56, 3, "br0", true),
    host("flatbush", 57, 4, "br1", true),
    host("bushwick", 57, 5, "br1", true),
];

/// The two ends of the pair topology's veth.
pub(super) const PAIR: [Host; 2] = [
    Host {
        name: "sender",
        addr: Ipv4Addr::new(10, 77, 0, 1),
        bridge: None,
        gateway: None,
    },
    Host {
        name: "receiver",
        addr: Ipv4Addr::new(10, 77, 0, 2),
        bridge: None,
        gateway: None,
    },
];

/// The router's legs in the routed topology: (name inside the router, bridge port, address, bridge).
pub(super) const ROUTER_LEGS: [(&str, &str, Ipv4Addr, &str); 2] = [
    ("lab0", "router0", Ipv4Addr::new(192, 168, 56, 254), "br0"),
    ("lab1", "router1", Ipv4Addr::new(192, 168, 57, 254), "br1"),
];

/// What the router forwards, for `lab status`.
pub(super) const ROUTED_SUMMARY: &str = "every group outside 224.0.0.0/24";

/// The prefixes the router forwards: all of 224.0.0.0/4 except the link-local 224.0.0.0/24
/// (RFC 5771: never forwarded), as the 20 disjoint blocks 224.0.1.0/24, 224.0.2.0/23, …,
/// 232.0.0.0/5. Each becomes an smcroute (*,G/len) route per direction.
pub(super) fn routed_prefixes() -> Vec<(Ipv4Addr, u8)> {
    let base = u32::from(Ipv4Addr::new(224, 0, 0, 0));
    (5..=24u8)
        .rev()
        .map(|len| (Ipv4Addr::from(base | 1 << (32 - u32::from(len))), len))
        .collect()
}

/// Query timing for `--snooping`, in centiseconds (the bridge's unit): the querier counts as
/// present after one response interval, so snooping takes effect about a second after `up`.
pub(super) const QUERY_RESPONSE_CS: u32 = 100;
pub(super) const QUERY_INTERVAL_CS: u32 = 200;

/// What to build.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Config {
    /// The layout.
    pub(crate) topology: Topology,
    /// Bridge with IGMP snooping and its own querier (otherwise it floods like a hub).
    pub(crate) snooping: bool,
    /// UDP datagrams dropped: on receipt by every host, or both ways by one host (see [`faults`]).
    pub(crate) loss: Vec<Fault>,
    /// Multicast UDP datagrams sent twice, by every host or by one.
    pub(crate) dup: Vec<Fault>,
    /// How many routers the pim topology has in its line (ignored by the others).
    pub(crate) routers: u8,
}

impl Config {
    /// The lecture's topology with a flooding bridge and no faults.
    pub(crate) const fn lecture() -> Self {
        Self {
            topology: Topology::Lecture,
            snooping: false,
            loss: Vec::new(),
            dup: Vec::new(),
            routers: DEFAULT_ROUTERS,
        }
    }

    /// The pim topology's line of routers.
    pub(crate) fn line(&self) -> Line {
        Line {
            routers: self.routers,
        }
    }

    /// Fails with a one-line message when a fault names a host this topology lacks, or two
    /// faults of one kind cover the same hosts.
    pub(crate) fn check(&self) -> Result<()> {
        let hosts: Vec<&str> = self.topology.hosts().iter().map(|h| h.name).collect();
        let topology = self.topology.name();
        if !(1..=MAX_ROUTERS).contains(&self.routers) {
            anyhow::bail!("--routers takes 1 to {MAX_ROUTERS}, not {}", self.routers);
        }
        faults::check("--loss", &self.loss, &hosts, topology)?;
        faults::check("--dup", &self.dup, &hosts, topology)
    }

    pub(super) fn prereqs(&self) -> Vec<Prereq> {
        let mut needed = vec![Prereq::Root, Prereq::Ip];
        if !self.loss.is_empty() || !self.dup.is_empty() {
            needed.push(Prereq::Nft);
        }
        if self.topology == Topology::Routed {
            needed.push(Prereq::Smcroute);
        }
        if self.topology == Topology::Pim {
            needed.push(Prereq::Frr);
        }
        needed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_router_forwards_every_group_but_the_link_local_ones() {
        let blocks: Vec<(u32, u32)> = routed_prefixes()
            .into_iter()
            .map(|(net, len)| {
                let size = 1u32 << (32 - u32::from(len));
                let start = u32::from(net);
                assert_eq!(start % size, 0, "{net}/{len} is not aligned");
                (start, start + (size - 1))
            })
            .collect();
        let all = (
            u32::from(Ipv4Addr::new(224, 0, 0, 0)),
            u32::from(Ipv4Addr::new(239, 255, 255, 255)),
        );
        let link_local_end = u32::from(Ipv4Addr::new(224, 0, 0, 255));
        // Sorted, the blocks tile 224.0.1.0 ..= 239.255.255.255 without gap or overlap.
        let mut sorted = blocks.clone();
        sorted.sort_unstable();
        let mut next = link_local_end + 1;
        for (start, end) in sorted {
            assert_eq!(start, next, "gap or overlap at {}", Ipv4Addr::from(start));
            next = end.wrapping_add(1);
        }
        assert_eq!(next.wrapping_sub(1), all.1);
        let routed = |ip: Ipv4Addr| {
            blocks
                .iter()
                .any(|&(s, e)| (s..=e).contains(&u32::from(ip)))
        };
        for group in [
            "224.1.1.5",
            "234.3.2.1",
            "239.1.2.3",
            "224.0.1.1",
            "239.255.255.255",
        ] {
            assert!(routed(group.parse().unwrap()), "{group} is not routed");
        }
        for group in ["224.0.0.1", "224.0.0.22", "224.0.0.251", "224.0.0.255"] {
            assert!(
                !routed(group.parse().unwrap()),
                "{group} is link-local but routed"
            );
        }
    }

    #[test]
    fn interface_names_fit_the_kernel_limit() {
        let names = LECTURE
            .iter()
            .chain(&ROUTED)
            .map(|h| h.name)
            .chain(ROUTER_LEGS.iter().flat_map(|(i, p, ..)| [*i, *p]));
        for name in names {
            assert!(name.len() <= 15, "{name} is longer than IFNAMSIZ-1");
        }
    }

    #[test]
    fn routed_hosts_sit_on_two_subnets_behind_the_router() {
        for h in &ROUTED {
            let gw = h.gateway.expect("every routed host has a gateway");
            assert_eq!(
                h.addr.octets()[..3],
                gw.octets()[..3],
                "{} and its gateway share a /24",
                h.name
            );
        }
        let subnets: std::collections::BTreeSet<u8> =
            ROUTED.iter().map(|h| h.addr.octets()[2]).collect();
        assert_eq!(subnets.into_iter().collect::<Vec<_>>(), [56, 57]);
    }
}
