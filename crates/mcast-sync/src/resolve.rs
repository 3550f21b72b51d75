//! Turning an [`IfaceSpec`] into what the kernel needs: an interface index and, for IPv4, an
//! address on it.

use std::net::{IpAddr, Ipv4Addr};

use mcast_core::iface::IfaceSpec;

use crate::ifaces;
use crate::Error;

/// Kept here for callers that look them up as `resolve::name_to_index`; [`crate::ifaces`] owns
/// them.
pub use crate::ifaces::{index_to_name, name_to_index};

/// An interface as the kernel sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResolvedIface {
    /// The spec it came from.
    pub spec: IfaceSpec,
    /// The interface index; 0 means "the kernel's choice".
    pub index: u32,
    /// The interface name, when known.
    pub name: Option<String>,
    /// An IPv4 address on the interface: the one the user gave, else the first one found
    /// (`0.0.0.0` for "any" or when the interface has none).
    pub v4: Ipv4Addr,
}

impl ResolvedIface {
    /// The kernel's choice.
    pub fn any() -> Self {
        Self {
            spec: IfaceSpec::Any,
            index: 0,
            name: None,
            v4: Ipv4Addr::UNSPECIFIED,
        }
    }

    /// Resolves a spec against this host's interfaces: [`ifaces::resolve`] finds it (and
    /// words a missing one, as [`Error::Iface`]'s reason), this keeps what a socket needs.
    pub fn resolve(spec: &IfaceSpec) -> Result<Self, Error> {
        if spec.is_any() {
            return Ok(Self::any());
        }
        let iface = ifaces::resolve(spec).map_err(|e| Error::Iface {
            spec: spec.clone(),
            reason: e.to_string(),
        })?;
        let v4 = match spec {
            IfaceSpec::Addr(IpAddr::V4(v4)) => *v4,
            _ => iface.ipv4().unwrap_or(Ipv4Addr::UNSPECIFIED),
        };
        Ok(Self {
            spec: spec.clone(),
            index: iface.index,
            name: Some(iface.name),
            v4,
        })
    }

    /// Whether the kernel chooses.
    pub fn is_any(&self) -> bool {
        self.index == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_resolves_every_way() {
        let by_addr = ResolvedIface::resolve(&IfaceSpec::Addr(Ipv4Addr::LOCALHOST.into())).unwrap();
        assert_eq!(by_addr.name.as_deref(), Some("lo"));
        assert_eq!(by_addr.v4, Ipv4Addr::LOCALHOST);
        let by_name = ResolvedIface::resolve(&IfaceSpec::Name("lo".into())).unwrap();
        assert_eq!(by_name.index, by_addr.index);
        assert_eq!(by_name.v4, Ipv4Addr::LOCALHOST);
        let by_index = ResolvedIface::resolve(&IfaceSpec::Index(by_addr.index)).unwrap();
        assert_eq!(by_index.name.as_deref(), Some("lo"));
    }

    #[test]
    fn missing_interfaces_are_iface_errors() {
        for spec in [
            IfaceSpec::Name("nosuch-mc0".into()),
            IfaceSpec::Index(999_999),
            IfaceSpec::Addr("192.0.2.254".parse().unwrap()),
        ] {
            let e = ResolvedIface::resolve(&spec).unwrap_err();
            assert!(matches!(e, Error::Iface { .. }), "{e:?}");
            assert!(e.hint().unwrap().contains("`ip addr`"));
        }
    }
}
