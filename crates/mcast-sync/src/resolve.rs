//! Turning an [`IfaceSpec`] into what the kernel needs: an interface index and, for IPv4, an
//! address on it.

use std::ffi::{CStr, CString};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use mcast_core::iface::IfaceSpec;

use crate::Error;

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

    /// Resolves a spec against this host's interfaces.
    pub fn resolve(spec: &IfaceSpec) -> Result<Self, Error> {
        let err = |reason: String| Error::Iface {
            spec: spec.clone(),
            reason,
        };
        match spec {
            IfaceSpec::Any => Ok(Self::any()),
            IfaceSpec::Addr(ip) => {
                let addrs = if_addrs().map_err(|e| err(format!("cannot list interfaces: {e}")))?;
                let (name, _) = addrs.iter().find(|(_, a)| a == ip).ok_or_else(|| {
                    err(format!("no interface on this host has the address {ip}"))
                })?;
                let index =
                    name_to_index(name).ok_or_else(|| err(format!("interface {name} vanished")))?;
                let v4 = match ip {
                    IpAddr::V4(v4) => *v4,
                    IpAddr::V6(_) => first_v4(&addrs, name),
                };
                Ok(Self {
                    spec: spec.clone(),
                    index,
                    name: Some(name.clone()),
                    v4,
                })
            }
            IfaceSpec::Name(name) => {
                let index = name_to_index(name)
                    .ok_or_else(|| err(format!("no interface named {name:?} on this host")))?;
                let v4 = if_addrs()
                    .map(|a| first_v4(&a, name))
                    .unwrap_or(Ipv4Addr::UNSPECIFIED);
                Ok(Self {
                    spec: spec.clone(),
                    index,
                    name: Some(name.clone()),
                    v4,
                })
            }
            IfaceSpec::Index(index) => {
                let name = index_to_name(*index)
                    .ok_or_else(|| err(format!("no interface with index {index} on this host")))?;
                let v4 = if_addrs()
                    .map(|a| first_v4(&a, &name))
                    .unwrap_or(Ipv4Addr::UNSPECIFIED);
                Ok(Self {
                    spec: spec.clone(),
                    index: *index,
                    name: Some(name),
                    v4,
                })
            }
        }
    }

    /// Whether the kernel chooses.
    pub fn is_any(&self) -> bool {
        self.index == 0
    }
}

fn first_v4(addrs: &[(String, IpAddr)], name: &str) -> Ipv4Addr {
    addrs
        .iter()
        .find_map(|(n, a)| match a {
            IpAddr::V4(v4) if n == name => Some(*v4),
            _ => None,
        })
        .unwrap_or(Ipv4Addr::UNSPECIFIED)
}

/// The index of the interface called `name`, if it exists.
pub fn name_to_index(name: &str) -> Option<u32> {
    let c = CString::new(name).ok()?;
    // SAFETY: `c` is a valid NUL-terminated string for the duration of the call.
    let index = unsafe { libc::if_nametoindex(c.as_ptr()) };
    (index != 0).then_some(index)
}

/// The name of the interface with this index, if it exists.
pub fn index_to_name(index: u32) -> Option<String> {
    let mut buf = [0 as libc::c_char; libc::IF_NAMESIZE];
    // SAFETY: `buf` holds IF_NAMESIZE bytes, as if_indextoname requires.
    let p = unsafe { libc::if_indextoname(index, buf.as_mut_ptr()) };
    if p.is_null() {
        return None;
    }
    // SAFETY: on success if_indextoname wrote a NUL-terminated name into `buf`.
    let name = unsafe { CStr::from_ptr(buf.as_ptr()) };
    Some(name.to_string_lossy().into_owned())
}

/// Every (interface name, address) pair on this host, from `getifaddrs`.
pub fn if_addrs() -> std::io::Result<Vec<(String, IpAddr)>> {
    let mut head: *mut libc::ifaddrs = std::ptr::null_mut();
    // SAFETY: getifaddrs writes a list head into `head`, freed below with freeifaddrs.
    if unsafe { libc::getifaddrs(&mut head) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    let mut out = Vec::new();
    let mut cur = head;
    while !cur.is_null() {
        // SAFETY: `cur` is a node of the list getifaddrs returned, not yet freed.
        let ifa = unsafe { &*cur };
        cur = ifa.ifa_next;
        if ifa.ifa_addr.is_null() || ifa.ifa_name.is_null() {
            continue;
        }
        // SAFETY: ifa_name is a NUL-terminated string owned by the list.
        let name = unsafe { CStr::from_ptr(ifa.ifa_name) }
            .to_string_lossy()
            .into_owned();
        // SAFETY: ifa_addr is non-null and points to a sockaddr of the family it names.
        let family = i32::from(unsafe { (*ifa.ifa_addr).sa_family });
        let ip = match family {
            libc::AF_INET => {
                // SAFETY: the family says this is a sockaddr_in.
                let sin = unsafe { &*(ifa.ifa_addr as *const libc::sockaddr_in) };
                IpAddr::V4(Ipv4Addr::from(u32::from_be(sin.sin_addr.s_addr)))
            }
            libc::AF_INET6 => {
                // SAFETY: the family says this is a sockaddr_in6.
                let sin6 = unsafe { &*(ifa.ifa_addr as *const libc::sockaddr_in6) };
                IpAddr::V6(Ipv6Addr::from(sin6.sin6_addr.s6_addr))
            }
            _ => continue,
        };
        out.push((name, ip));
    }
    // SAFETY: `head` came from getifaddrs and is freed once.
    unsafe { libc::freeifaddrs(head) };
    Ok(out)
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
            assert!(e.hint().unwrap().contains("mcast ifaces"));
        }
    }
}
