//! Naming an interface: by IPv4 address (the lecture's way), by name, by index, or "any".
//!
//! Resolution (does `eth3` exist? which index has 192.168.56.3?) happens in the adapters; the
//! core only decides what the user meant.
//!
//! ```
//! use mcast_core::iface::IfaceSpec;
//! assert_eq!("0.0.0.0".parse::<IfaceSpec>()?, IfaceSpec::Any);
//! assert_eq!("192.168.56.3".parse::<IfaceSpec>()?, IfaceSpec::Addr("192.168.56.3".parse().unwrap()));
//! assert_eq!("7".parse::<IfaceSpec>()?, IfaceSpec::Index(7));
//! assert_eq!("veth-a".parse::<IfaceSpec>()?, IfaceSpec::Name("veth-a".into()));
//! assert!("no such/if".parse::<IfaceSpec>().is_err());
//! # Ok::<(), mcast_core::iface::IfaceError>(())
//! ```

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

use crate::addr::Group;

/// Linux limits interface names to 15 bytes (IFNAMSIZ - 1).
pub const MAX_NAME_LEN: usize = 15;

/// What is wrong with an interface given as text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum IfaceError {
    /// Empty text.
    #[error("an interface cannot be empty (expected an IPv4 address, a name like eth0, an index, or 0.0.0.0)")]
    Empty,
    /// The text is neither an address, an index nor a valid name.
    #[error("{0:?} is not an interface: expected an IPv4 address like 192.168.56.3, a name like eth0 (at most 15 characters, no '/' or spaces), an index, or 0.0.0.0 for the kernel's choice")]
    Invalid(String),
    /// A multicast address was given where an interface address belongs.
    #[error("{0} is a multicast address; an interface is named by its own unicast address")]
    MulticastAddr(IpAddr),
    /// Index 0 means "any"; it is written 0.0.0.0.
    #[error(
        "interface index 0 means \"any\": write 0.0.0.0 (or leave -i out) for the kernel's choice"
    )]
    ZeroIndex,
    /// An interface named by an address of the other family than the group's.
    #[error("interface address {addr} and group {group} are of different address families")]
    FamilyMismatch {
        /// The interface's address.
        addr: IpAddr,
        /// The group.
        group: Group,
    },
}

/// An interface, as the user named it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub enum IfaceSpec {
    /// Let the kernel choose (`0.0.0.0`, `::` or `any`). Tests never use this: they pin an interface.
    #[default]
    Any,
    /// The interface that holds this local address.
    Addr(IpAddr),
    /// The interface with this index (`ip link` shows it).
    Index(u32),
    /// The interface with this name.
    Name(String),
}

impl IfaceSpec {
    /// Whether the kernel chooses.
    pub fn is_any(&self) -> bool {
        matches!(self, Self::Any)
    }

    /// The one rule for an interface and a group's address family: an interface named by an
    /// address is of the group's family only when the address is (an IPv4 address does not
    /// name an interface for IPv6 multicast, nor the reverse, in the lecture's sense of
    /// "join on the interface with this address"); a name, an index or "any" suits both.
    ///
    /// ```
    /// use mcast_core::{addr::Group, iface::{IfaceError, IfaceSpec}};
    /// let v4: Group = "224.1.1.5".parse()?;
    /// let v6: Group = "ff15::1".parse()?;
    /// let by_addr: IfaceSpec = "192.168.56.3".parse()?;
    /// assert_eq!(by_addr.check_family(v4), Ok(()));
    /// assert!(matches!(by_addr.check_family(v6), Err(IfaceError::FamilyMismatch { .. })));
    /// assert_eq!(IfaceSpec::Name("eth0".into()).check_family(v6), Ok(()));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn check_family(&self, group: Group) -> Result<(), IfaceError> {
        match self {
            Self::Addr(addr) if addr.is_ipv4() != group.is_ipv4() => {
                Err(IfaceError::FamilyMismatch { addr: *addr, group })
            }
            _ => Ok(()),
        }
    }
}

impl FromStr for IfaceSpec {
    type Err = IfaceError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        if s.is_empty() {
            return Err(IfaceError::Empty);
        }
        if s == "any" {
            return Ok(Self::Any);
        }
        if let Ok(ip) = s.parse::<IpAddr>() {
            if ip.is_unspecified() {
                return Ok(Self::Any);
            }
            if ip.is_multicast() {
                return Err(IfaceError::MulticastAddr(ip));
            }
            return Ok(Self::Addr(ip));
        }
        if s.bytes().all(|b| b.is_ascii_digit()) {
            return match s.parse::<u32>() {
                Ok(0) => Err(IfaceError::ZeroIndex),
                Ok(n) => Ok(Self::Index(n)),
                Err(_) => Err(IfaceError::Invalid(s.to_owned())),
            };
        }
        let valid_name = s.len() <= MAX_NAME_LEN
            && s != "."
            && s != ".."
            && s.bytes()
                .all(|b| b.is_ascii_graphic() && b != b'/' && b != b':');
        if valid_name {
            Ok(Self::Name(s.to_owned()))
        } else {
            Err(IfaceError::Invalid(s.to_owned()))
        }
    }
}

impl fmt::Display for IfaceSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Any => f.write_str("any"),
            Self::Addr(a) => a.fmt(f),
            Self::Index(i) => write!(f, "#{i}"),
            Self::Name(n) => f.write_str(n),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_form_parses() {
        assert_eq!("::".parse::<IfaceSpec>().unwrap(), IfaceSpec::Any);
        assert_eq!("any".parse::<IfaceSpec>().unwrap(), IfaceSpec::Any);
        assert_eq!(
            "127.0.0.1".parse::<IfaceSpec>().unwrap(),
            IfaceSpec::Addr("127.0.0.1".parse().unwrap())
        );
        assert_eq!(
            "eth0".parse::<IfaceSpec>().unwrap(),
            IfaceSpec::Name("eth0".into())
        );
        assert_eq!(
            "nosuchif".parse::<IfaceSpec>().unwrap(),
            IfaceSpec::Name("nosuchif".into())
        );
    }

    #[test]
    fn bad_forms_are_errors() {
        assert_eq!("".parse::<IfaceSpec>(), Err(IfaceError::Empty));
        assert_eq!("0".parse::<IfaceSpec>(), Err(IfaceError::ZeroIndex));
        assert!("224.1.1.5".parse::<IfaceSpec>().is_err());
        assert!("a-very-long-interface-name".parse::<IfaceSpec>().is_err());
        assert!("99999999999".parse::<IfaceSpec>().is_err());
        assert!("a b".parse::<IfaceSpec>().is_err());
    }
}
