//! Pinning to loopback: the address and name every socket test without a namespace uses,
//! and what loopback tests of drop counting must allow for.
//!
//! A socket test on the host's network namespace names `lo` as its interface (by [`LO`] or
//! [`LO_NAME`]) for its joins and `IP_MULTICAST_IF`, and sends with TTL 0: it never relies on
//! the kernel's default multicast interface, so nothing it sends can leave the machine.

use std::net::Ipv4Addr;

/// The loopback address every test pins its interface to, as text for command lines.
pub const LO: &str = "127.0.0.1";

/// [`LO`] as an address, for socket builders.
pub const LO_V4: Ipv4Addr = Ipv4Addr::LOCALHOST;

/// The loopback interface's name.
pub const LO_NAME: &str = "lo";

/// Datagrams dropped anywhere on this host because a CPU's input backlog was full (the second
/// column of `/proc/net/softnet_stat`, summed over CPUs): drops no socket counts. A loopback
/// test that adds up what arrived and what its socket dropped compares against this before
/// and after, since a busy host may drop there too.
#[must_use]
pub fn backlog_drops() -> u64 {
    let stat = std::fs::read_to_string("/proc/net/softnet_stat").unwrap_or_default();
    stat.lines()
        .filter_map(|l| l.split_whitespace().nth(1))
        .filter_map(|hex| u64::from_str_radix(hex, 16).ok())
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lo_is_localhost() {
        assert_eq!(LO.parse::<Ipv4Addr>().unwrap(), LO_V4);
        // The count only grows; reading it twice never goes back.
        let first = backlog_drops();
        assert!(backlog_drops() >= first);
    }
}
