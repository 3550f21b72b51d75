//! Listing network interfaces and reading the kernel's multicast membership tables.
//!
//! [`list`] walks `getifaddrs(3)` and folds its one-entry-per-address answer into one
//! [`Interface`] per link (name, index, flags, IPv4/IPv6 addresses with prefix lengths).
//! [`resolve`] turns the user's [`IfaceSpec`] (a name, an index or a local address) into one of
//! them. [`route_to`] asks the kernel which interface it routes an address through (`ip route
//! get`), the interface a join or a send without one ends up on. [`read_igmp`] and [`read_igmp6`] return the raw text of `/proc/net/igmp` and
//! `/proc/net/igmp6`; parsing it is `mcast_core::proc`'s job.

use std::ffi::{CStr, CString};
use std::fmt;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use mcast_core::iface::IfaceSpec;

/// Link-level flags of an interface (`SIOCGIFFLAGS`), the ones that matter for multicast.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct IfaceFlags {
    /// `IFF_UP`: administratively up.
    pub up: bool,
    /// `IFF_RUNNING`: the link is operational (carrier present).
    pub running: bool,
    /// `IFF_MULTICAST`: the interface supports multicast.
    pub multicast: bool,
    /// `IFF_LOOPBACK`: a loopback interface.
    pub loopback: bool,
    /// `IFF_BROADCAST`: a broadcast address is valid.
    pub broadcast: bool,
    /// `IFF_POINTOPOINT`: a point-to-point link.
    pub point_to_point: bool,
}

impl IfaceFlags {
    /// Decodes the `ifa_flags` / `ifr_flags` bits.
    pub fn from_bits(bits: u32) -> Self {
        let has = |flag: libc::c_int| bits & (flag as u32) != 0;
        Self {
            up: has(libc::IFF_UP),
            running: has(libc::IFF_RUNNING),
            multicast: has(libc::IFF_MULTICAST),
            loopback: has(libc::IFF_LOOPBACK),
            broadcast: has(libc::IFF_BROADCAST),
            point_to_point: has(libc::IFF_POINTOPOINT),
        }
    }

    /// The set flags as upper-case words (`UP`, `RUNNING`, `MULTICAST`, ...), in `ip link` order.
    pub fn names(&self) -> Vec<&'static str> {
        let all = [
            (self.loopback, "LOOPBACK"),
            (self.broadcast, "BROADCAST"),
            (self.point_to_point, "POINTOPOINT"),
            (self.multicast, "MULTICAST"),
            (self.up, "UP"),
            (self.running, "RUNNING"),
        ];
        all.iter()
            .filter(|(set, _)| *set)
            .map(|(_, name)| *name)
            .collect()
    }
}

impl fmt::Display for IfaceFlags {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.names().join(","))
    }
}

/// One address on an interface, with its prefix length (`192.168.56.3/24`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct IfaceAddr {
    /// The address.
    pub addr: IpAddr,
    /// The prefix length, from the netmask.
    pub prefix_len: u8,
}

impl fmt::Display for IfaceAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix_len)
    }
}

/// One network interface as the kernel reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Interface {
    /// The name (`eth0`, `lo`, `veth-a`).
    pub name: String,
    /// The index (`ip link` shows it first); never 0.
    pub index: u32,
    /// Link flags.
    pub flags: IfaceFlags,
    /// IPv4 and IPv6 addresses, in the order `getifaddrs` returned them.
    pub addrs: Vec<IfaceAddr>,
}

impl Interface {
    /// Whether the interface is up and multicast-capable (loopback counts: IPv4 multicast loops
    /// back over `lo` even though Linux does not set `IFF_MULTICAST` on it by default).
    pub fn is_multicast_capable(&self) -> bool {
        self.flags.up && (self.flags.multicast || self.flags.loopback)
    }

    /// The first IPv4 address, if any.
    pub fn ipv4(&self) -> Option<Ipv4Addr> {
        self.addrs.iter().find_map(|a| match a.addr {
            IpAddr::V4(v4) => Some(v4),
            IpAddr::V6(_) => None,
        })
    }

    /// The first IPv6 address, if any.
    pub fn ipv6(&self) -> Option<Ipv6Addr> {
        self.addrs.iter().find_map(|a| match a.addr {
            IpAddr::V6(v6) => Some(v6),
            IpAddr::V4(_) => None,
        })
    }

    /// Whether `ip` is one of this interface's addresses.
    pub fn has_addr(&self, ip: IpAddr) -> bool {
        self.addrs.iter().any(|a| a.addr == ip)
    }

    /// The directed broadcast address of each IPv4 network on the interface
    /// (`192.168.56.3/24` → `192.168.56.255`), as the kernel's local routing table has them:
    /// for every network shorter than /31, loopback's `127.255.255.255` included, with or
    /// without the `BROADCAST` flag.
    pub fn broadcast_addrs(&self) -> Vec<IpAddr> {
        self.addrs
            .iter()
            .filter_map(|a| match a.addr {
                IpAddr::V4(v4) if a.prefix_len < 31 => {
                    let host = u32::MAX >> a.prefix_len;
                    Some(IpAddr::V4(Ipv4Addr::from(u32::from(v4) | host)))
                }
                _ => None,
            })
            .collect()
    }
}

/// Why an interface could not be found.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum IfaceLookupError {
    /// `getifaddrs` failed.
    #[error("cannot list interfaces")]
    List(#[source] io::Error),
    /// No interface has this name.
    #[error("no interface named {0:?} (see `ip link`)")]
    NoSuchName(String),
    /// No interface has this index.
    #[error("no interface with index {0} (see `ip link`)")]
    NoSuchIndex(u32),
    /// No interface holds this address.
    #[error("no interface has the address {0} (see `ip addr`)")]
    NoSuchAddr(IpAddr),
    /// "any" names no single interface.
    #[error("\"any\" names no single interface here; name one (by name, index or address)")]
    Any,
    /// No interface is up and multicast-capable, so none can be picked by default.
    #[error("no interface is up and multicast-capable; name one")]
    NoDefault,
    /// The kernel has no route to this address (`ip route get` fails the same way).
    #[error("no route to {0}")]
    NoRoute(IpAddr, #[source] io::Error),
}

/// Lists every interface (up or down), one entry per link, sorted by index.
pub fn list() -> Result<Vec<Interface>, IfaceLookupError> {
    let mut head: *mut libc::ifaddrs = std::ptr::null_mut();
    // SAFETY: getifaddrs writes a list head into `head` on success; the guard frees it.
    if unsafe { libc::getifaddrs(&mut head) } != 0 {
        return Err(IfaceLookupError::List(io::Error::last_os_error()));
    }
    let list = IfAddrs(head);
    let mut out: Vec<Interface> = Vec::new();
    let mut cur = list.0;
    while !cur.is_null() {
        // SAFETY: `cur` is a node of the list getifaddrs returned, not yet freed.
        let ifa = unsafe { &*cur };
        cur = ifa.ifa_next;
        if ifa.ifa_name.is_null() {
            continue;
        }
        // SAFETY: ifa_name is a NUL-terminated string owned by the list.
        let name = unsafe { CStr::from_ptr(ifa.ifa_name) }
            .to_string_lossy()
            .into_owned();
        let flags = IfaceFlags::from_bits(ifa.ifa_flags);
        // SAFETY: getifaddrs sets ifa_addr to null or to a sockaddr of the family it carries.
        let addr = unsafe { sockaddr_ip(ifa.ifa_addr) };
        // SAFETY: the same holds for ifa_netmask.
        let mask = unsafe { sockaddr_ip(ifa.ifa_netmask) };
        let idx = match out.iter().position(|i| i.name == name) {
            Some(idx) => idx,
            None => {
                let index = name_to_index(&name).unwrap_or(0);
                out.push(Interface {
                    name,
                    index,
                    flags,
                    addrs: Vec::new(),
                });
                out.len() - 1
            }
        };
        if let Some(addr) = addr {
            let prefix_len = mask.map_or(
                match addr {
                    IpAddr::V4(_) => 32,
                    IpAddr::V6(_) => 128,
                },
                prefix_len,
            );
            let entry = IfaceAddr { addr, prefix_len };
            if !out[idx].addrs.contains(&entry) {
                out[idx].addrs.push(entry);
            }
        }
    }
    drop(list);
    out.retain(|i| i.index != 0);
    out.sort_by_key(|i| i.index);
    Ok(out)
}

/// The list `getifaddrs` returned, freed exactly once when dropped (also on a panic).
struct IfAddrs(*mut libc::ifaddrs);

impl Drop for IfAddrs {
    fn drop(&mut self) {
        // SAFETY: the pointer came from a successful getifaddrs and is freed only here.
        unsafe { libc::freeifaddrs(self.0) };
    }
}

/// Finds the interface the user named. [`IfaceSpec::Any`] is an error here: callers that
/// accept "any" decide themselves (see [`default_multicast`]).
pub fn resolve(spec: &IfaceSpec) -> Result<Interface, IfaceLookupError> {
    resolve_in(&list()?, spec)
}

/// [`resolve`] over a given list (testable without the kernel).
pub fn resolve_in(ifaces: &[Interface], spec: &IfaceSpec) -> Result<Interface, IfaceLookupError> {
    let found = match spec {
        IfaceSpec::Any => return Err(IfaceLookupError::Any),
        IfaceSpec::Name(name) => ifaces
            .iter()
            .find(|i| &i.name == name)
            .ok_or_else(|| IfaceLookupError::NoSuchName(name.clone())),
        IfaceSpec::Index(index) => ifaces
            .iter()
            .find(|i| i.index == *index)
            .ok_or(IfaceLookupError::NoSuchIndex(*index)),
        IfaceSpec::Addr(ip) => ifaces
            .iter()
            .find(|i| i.has_addr(*ip))
            .ok_or(IfaceLookupError::NoSuchAddr(*ip)),
    };
    found.cloned()
}

/// The interface a tool uses when none is given: the first (lowest index) interface that is up,
/// running, multicast-capable and not loopback.
pub fn default_multicast() -> Result<Interface, IfaceLookupError> {
    default_multicast_in(&list()?)
}

/// [`default_multicast`] over a given list.
pub fn default_multicast_in(ifaces: &[Interface]) -> Result<Interface, IfaceLookupError> {
    ifaces
        .iter()
        .find(|i| i.flags.up && i.flags.running && i.flags.multicast && !i.flags.loopback)
        .cloned()
        .ok_or(IfaceLookupError::NoDefault)
}

/// The interface the kernel routes `dest` through, as `ip route get DEST` shows it: one
/// `RTM_GETROUTE` request on a `NETLINK_ROUTE` socket, answered with the route's output
/// interface (`RTA_OIF`).
///
/// For a multicast group this is the interface a join or a send without an interface uses:
/// Linux picks it by this very lookup (`ip_mc_find_dev` for IPv4, `rt6_lookup` for IPv6).
/// Fails with [`IfaceLookupError::NoRoute`] where the kernel has no route (a join there fails
/// with `ENODEV`).
pub fn route_to(dest: IpAddr) -> Result<Interface, IfaceLookupError> {
    let index = route_oif(dest).map_err(|e| IfaceLookupError::NoRoute(dest, e))?;
    resolve(&IfaceSpec::Index(index))
}

/// `RTM_GETROUTE`: the route's `rtmsg` is family, dst_len, src_len, tos, table, protocol,
/// scope, type (a byte each) and flags (u32).
const RTMSG_LEN: usize = 12;
const RTA_DST: u16 = 1;
const RTA_OIF: u16 = 4;
const NLMSG_ERROR: u16 = 2;

/// The request `ip route get DEST` sends: `nlmsghdr`, `rtmsg`, one `RTA_DST` attribute.
fn route_request(dest: IpAddr) -> Vec<u8> {
    let (family, addr): (u8, Vec<u8>) = match dest {
        IpAddr::V4(a) => (libc::AF_INET as u8, a.octets().to_vec()),
        IpAddr::V6(a) => (libc::AF_INET6 as u8, a.octets().to_vec()),
    };
    let attr_len = crate::link::RTA_HDRLEN + addr.len();
    let len = crate::link::NLMSG_HDRLEN + RTMSG_LEN + attr_len;
    let mut msg = Vec::with_capacity(len);
    msg.extend_from_slice(&(len as u32).to_ne_bytes());
    msg.extend_from_slice(&libc::RTM_GETROUTE.to_ne_bytes());
    msg.extend_from_slice(&(libc::NLM_F_REQUEST as u16).to_ne_bytes());
    msg.extend_from_slice(&1u32.to_ne_bytes()); // sequence number
    msg.extend_from_slice(&0u32.to_ne_bytes()); // port id: the kernel's
    msg.extend_from_slice(&[family, (addr.len() * 8) as u8, 0, 0, 0, 0, 0, 0]);
    msg.extend_from_slice(&0u32.to_ne_bytes()); // rtm_flags
    msg.extend_from_slice(&(attr_len as u16).to_ne_bytes());
    msg.extend_from_slice(&RTA_DST.to_ne_bytes());
    msg.extend_from_slice(&addr);
    msg
}

/// The output interface in the kernel's answer to [`route_request`]: `RTA_OIF` of its
/// `RTM_NEWROUTE`, or the error an `NLMSG_ERROR` carries. Never panics on any input.
fn parse_route_reply(buf: &[u8]) -> io::Result<u32> {
    use crate::link::{attributes, messages, u32_at};
    for (kind, body) in messages(buf) {
        if kind == NLMSG_ERROR {
            let errno = u32_at(body, 0).map_or(0, |e| e as i32);
            return Err(if errno < 0 {
                io::Error::from_raw_os_error(-errno)
            } else {
                io::Error::other("the kernel acknowledged without a route")
            });
        }
        if kind == libc::RTM_NEWROUTE {
            return attributes(body, RTMSG_LEN)
                .find(|&(kind, _)| kind == RTA_OIF)
                .and_then(|(_, value)| u32_at(value, 0))
                .ok_or_else(|| io::Error::other("the route names no output interface"));
        }
    }
    Err(io::Error::other("no route in the kernel's answer"))
}

/// Asks the kernel for the route to `dest` and returns its output interface's index.
fn route_oif(dest: IpAddr) -> io::Result<u32> {
    use std::os::fd::{AsRawFd as _, FromRawFd as _, OwnedFd};
    // SAFETY: plain socket(2) call; the result is checked before use.
    let fd = unsafe {
        libc::socket(
            libc::AF_NETLINK,
            libc::SOCK_RAW | libc::SOCK_CLOEXEC,
            libc::NETLINK_ROUTE,
        )
    };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `fd` is a new, valid descriptor that nothing else owns.
    let sock = unsafe { OwnedFd::from_raw_fd(fd) };
    // The kernel answers at once; the timeout only bounds a wait that should not happen.
    let timeout = libc::timeval {
        tv_sec: 1,
        tv_usec: 0,
    };
    // SAFETY: `timeout` is a valid timeval and the length is its size.
    let rc = unsafe {
        libc::setsockopt(
            sock.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_RCVTIMEO,
            (&raw const timeout).cast(),
            size_of::<libc::timeval>() as libc::socklen_t,
        )
    };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    let request = route_request(dest);
    // SAFETY: `request` is a valid buffer of its length; the kernel is the destination of an
    // unbound, unconnected netlink socket's send.
    let sent = unsafe { libc::send(sock.as_raw_fd(), request.as_ptr().cast(), request.len(), 0) };
    if sent < 0 {
        return Err(io::Error::last_os_error());
    }
    let mut buf = vec![0u8; 8192];
    // SAFETY: `buf` is a valid, writable buffer of its length.
    let got = unsafe { libc::recv(sock.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len(), 0) };
    if got < 0 {
        return Err(io::Error::last_os_error());
    }
    parse_route_reply(&buf[..got as usize])
}

/// The index of the interface named `name`, via `if_nametoindex(3)`.
pub fn name_to_index(name: &str) -> Option<u32> {
    let c = CString::new(name).ok()?;
    // SAFETY: `c` is a valid NUL-terminated string.
    let index = unsafe { libc::if_nametoindex(c.as_ptr()) };
    (index != 0).then_some(index)
}

/// The name of the interface with index `index`, via `if_indextoname(3)`.
pub fn index_to_name(index: u32) -> Option<String> {
    let mut buf = [0 as libc::c_char; libc::IF_NAMESIZE];
    // SAFETY: `buf` has IF_NAMESIZE bytes, as if_indextoname requires.
    let p = unsafe { libc::if_indextoname(index, buf.as_mut_ptr()) };
    if p.is_null() {
        return None;
    }
    // SAFETY: on success the buffer holds a NUL-terminated name.
    Some(
        unsafe { CStr::from_ptr(buf.as_ptr()) }
            .to_string_lossy()
            .into_owned(),
    )
}

/// Path of the kernel's IPv4 membership table.
pub const PROC_NET_IGMP: &str = "/proc/net/igmp";
/// Path of the kernel's IPv6 membership table.
pub const PROC_NET_IGMP6: &str = "/proc/net/igmp6";

/// The text of `/proc/net/igmp` (IPv4 groups joined per interface).
pub fn read_igmp() -> io::Result<String> {
    std::fs::read_to_string(PROC_NET_IGMP)
}

/// The text of `/proc/net/igmp6` (IPv6 groups joined per interface). `NotFound` when IPv6 is
/// disabled.
pub fn read_igmp6() -> io::Result<String> {
    std::fs::read_to_string(PROC_NET_IGMP6)
}

/// Reads an IPv4/IPv6 address out of a `sockaddr`; `None` for null or other families.
///
/// # Safety
/// `sa` must be null or point to a valid `sockaddr` whose family says how long it is.
unsafe fn sockaddr_ip(sa: *const libc::sockaddr) -> Option<IpAddr> {
    if sa.is_null() {
        return None;
    }
    // SAFETY: `sa` is non-null and, by the caller's promise, points to a valid sockaddr whose
    // family is checked before it is read as the longer sockaddr_in / sockaddr_in6.
    unsafe {
        match libc::c_int::from((*sa).sa_family) {
            libc::AF_INET => {
                let sin = &*(sa as *const libc::sockaddr_in);
                Some(IpAddr::V4(Ipv4Addr::from(u32::from_be(
                    sin.sin_addr.s_addr,
                ))))
            }
            libc::AF_INET6 => {
                let sin6 = &*(sa as *const libc::sockaddr_in6);
                Some(IpAddr::V6(Ipv6Addr::from(sin6.sin6_addr.s6_addr)))
            }
            _ => None,
        }
    }
}

/// The prefix length of a netmask (leading one bits).
fn prefix_len(mask: IpAddr) -> u8 {
    let ones = match mask {
        IpAddr::V4(m) => u32::from(m).leading_ones(),
        IpAddr::V6(m) => u128::from(m).leading_ones(),
    };
    // At most 128, so the conversion cannot fail.
    u8::try_from(ones).unwrap_or(u8::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    // issue 11 — `recv` without `-i` names the interface the kernel chose: the route lookup.
    // Every namespace with `lo` up routes 127.0.0.1 through it.
    #[test]
    fn route_to_loopback_is_lo() {
        let lo = route_to("127.0.0.1".parse().unwrap()).expect("a route to 127.0.0.1");
        assert!(lo.flags.loopback, "{lo:?}");
    }

    #[test]
    fn route_request_is_what_ip_route_get_sends() {
        let req = route_request("224.1.1.5".parse().unwrap());
        assert_eq!(req.len(), 16 + 12 + 8);
        assert_eq!(u32::from_ne_bytes(req[0..4].try_into().unwrap()), 36);
        assert_eq!(&req[16..18], &[libc::AF_INET as u8, 32]);
        assert_eq!(&req[32..36], &[224, 1, 1, 5]);
        assert_eq!(
            route_request("ff15::1".parse().unwrap()).len(),
            16 + 12 + 20
        );
    }

    #[test]
    fn route_replies_give_the_output_interface_or_the_error() {
        let mut reply = Vec::new();
        let body_len = 12 + 8 + 8;
        reply.extend_from_slice(&((16 + body_len) as u32).to_ne_bytes());
        reply.extend_from_slice(&libc::RTM_NEWROUTE.to_ne_bytes());
        reply.extend_from_slice(&[0; 10]);
        reply.extend_from_slice(&[libc::AF_INET as u8, 32, 0, 0, 254, 2, 0, 5, 0, 0, 0, 0]);
        reply.extend_from_slice(&8u16.to_ne_bytes());
        reply.extend_from_slice(&RTA_DST.to_ne_bytes());
        reply.extend_from_slice(&[224, 1, 1, 5]);
        reply.extend_from_slice(&8u16.to_ne_bytes());
        reply.extend_from_slice(&RTA_OIF.to_ne_bytes());
        reply.extend_from_slice(&7u32.to_ne_bytes());
        assert_eq!(parse_route_reply(&reply).unwrap(), 7);
        let mut error = Vec::new();
        error.extend_from_slice(&36u32.to_ne_bytes());
        error.extend_from_slice(&NLMSG_ERROR.to_ne_bytes());
        error.extend_from_slice(&[0; 10]);
        error.extend_from_slice(&(-libc::ENETUNREACH).to_ne_bytes());
        error.extend_from_slice(&[0; 16]);
        let e = parse_route_reply(&error).unwrap_err();
        assert_eq!(e.raw_os_error(), Some(libc::ENETUNREACH));
        for cut in 0..reply.len() {
            let _ = parse_route_reply(&reply[..cut]);
        }
    }

    fn iface(name: &str, index: u32, flags: IfaceFlags, addrs: &[(&str, u8)]) -> Interface {
        Interface {
            name: name.into(),
            index,
            flags,
            addrs: addrs
                .iter()
                .map(|(a, p)| IfaceAddr {
                    addr: a.parse().unwrap(),
                    prefix_len: *p,
                })
                .collect(),
        }
    }

    fn sample() -> Vec<Interface> {
        let lo = IfaceFlags {
            up: true,
            running: true,
            loopback: true,
            ..IfaceFlags::default()
        };
        let down = IfaceFlags {
            multicast: true,
            broadcast: true,
            ..IfaceFlags::default()
        };
        let eth = IfaceFlags {
            up: true,
            running: true,
            multicast: true,
            broadcast: true,
            ..IfaceFlags::default()
        };
        vec![
            iface("lo", 1, lo, &[("127.0.0.1", 8), ("::1", 128)]),
            iface("lab0", 2, down, &[]),
            iface("veth-a", 3, eth, &[("192.168.56.3", 24)]),
        ]
    }

    #[test]
    fn resolve_by_each_form() {
        let l = sample();
        let by = |s: &str| resolve_in(&l, &s.parse().unwrap()).map(|i| i.name);
        assert_eq!(by("veth-a").unwrap(), "veth-a");
        assert_eq!(by("3").unwrap(), "veth-a");
        assert_eq!(by("192.168.56.3").unwrap(), "veth-a");
        assert_eq!(by("::1").unwrap(), "lo");
        assert!(matches!(by("nope"), Err(IfaceLookupError::NoSuchName(_))));
        assert!(matches!(by("9"), Err(IfaceLookupError::NoSuchIndex(9))));
        assert!(matches!(
            by("10.9.9.9"),
            Err(IfaceLookupError::NoSuchAddr(_))
        ));
        assert!(matches!(by("any"), Err(IfaceLookupError::Any)));
    }

    #[test]
    fn default_skips_loopback_and_down() {
        assert_eq!(default_multicast_in(&sample()).unwrap().name, "veth-a");
        assert!(matches!(
            default_multicast_in(&sample()[..2]),
            Err(IfaceLookupError::NoDefault)
        ));
    }

    #[test]
    fn broadcast_addresses_of_ipv4_networks() {
        let l = sample();
        assert_eq!(
            l[2].broadcast_addrs(),
            ["192.168.56.255".parse::<IpAddr>().unwrap()]
        );
        assert_eq!(
            l[0].broadcast_addrs(),
            ["127.255.255.255".parse::<IpAddr>().unwrap()],
            "the kernel's local table has it, although lo has no BROADCAST flag"
        );
        let mut p2p = l[2].clone();
        p2p.addrs = vec![IfaceAddr {
            addr: "10.0.0.1".parse().unwrap(),
            prefix_len: 31,
        }];
        assert!(p2p.broadcast_addrs().is_empty(), "a /31 has no broadcast");
    }

    #[test]
    fn flags_decode_and_print() {
        let bits = (libc::IFF_UP | libc::IFF_MULTICAST | libc::IFF_RUNNING) as u32;
        let f = IfaceFlags::from_bits(bits);
        assert!(f.up && f.multicast && f.running && !f.loopback);
        assert_eq!(f.to_string(), "MULTICAST,UP,RUNNING");
    }

    #[test]
    fn prefix_lengths() {
        assert_eq!(prefix_len("255.255.255.0".parse().unwrap()), 24);
        assert_eq!(prefix_len("255.0.0.0".parse().unwrap()), 8);
        assert_eq!(prefix_len("ffff:ffff:ffff:ffff::".parse().unwrap()), 64);
        assert_eq!(prefix_len("0.0.0.0".parse().unwrap()), 0);
    }

    #[test]
    fn real_list_has_loopback() {
        // Every Linux network namespace has `lo` with index 1.
        let l = list().unwrap();
        let lo = l
            .iter()
            .find(|i| i.flags.loopback)
            .expect("a loopback interface");
        assert_eq!(name_to_index(&lo.name), Some(lo.index));
        assert_eq!(index_to_name(lo.index).as_deref(), Some(lo.name.as_str()));
    }

    #[test]
    fn proc_tables_are_readable() {
        let text = read_igmp().unwrap();
        assert!(
            text.starts_with("Idx"),
            "unexpected /proc/net/igmp: {text:?}"
        );
    }
}
