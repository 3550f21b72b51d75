//! May this test run here? The root check and the other prerequisites, and the `skip_*`
//! helpers that print why a test skips.
//!
//! A test that needs something this host lacks returns early after one of the `skip_*`
//! helpers said why (`skipping TEST: …` on stderr), so a plain `cargo test` as a user passes
//! and says what it did not check. Under `CI=true` ([`on_ci`]) a missing program or a kernel
//! without IPv6 fails the test instead: there it means the runner is broken. Root is the one
//! exception, never demanded: CI runs the suites both as root and not.

use std::path::Path;
use std::process::Command;

/// Whether this process runs with effective user id 0 (`geteuid`).
///
/// The one root check of the test suites. (xtask keeps its own, a run-time check of a
/// program that is no test.)
#[must_use]
pub fn is_root() -> bool {
    // SAFETY: geteuid takes no argument, cannot fail and touches no memory of ours.
    unsafe { libc::geteuid() == 0 }
}

/// Whether this process holds `CAP_NET_ADMIN` in its effective set (bit 12 of `CapEff` in
/// `/proc/self/status`), which `SO_RCVBUFFORCE` needs: root has it, and so may others.
#[must_use]
pub fn has_cap_net_admin() -> bool {
    const CAP_NET_ADMIN: u32 = 12;
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("CapEff:"))
        .and_then(|hex| u64::from_str_radix(hex.trim(), 16).ok())
        .is_some_and(|caps| caps & (1 << CAP_NET_ADMIN) != 0)
}

/// Whether `CI=true` is set: then a missing program or IPv6 fails a test loudly.
#[must_use]
pub fn on_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true")
}

/// Whether `program` is on `PATH` (`command -v`).
#[must_use]
pub fn have(program: &str) -> bool {
    Command::new("sh")
        .args(["-c", "command -v \"$0\" >/dev/null 2>&1", program])
        .status()
        .is_ok_and(|s| s.success())
}

/// Whether this kernel has IPv6 (`/proc/sys/net/ipv6` exists).
#[must_use]
pub fn have_ipv6() -> bool {
    Path::new("/proc/sys/net/ipv6").exists()
}

/// Whether `test` must skip because it needs root (network namespaces, veth pairs,
/// `CAP_NET_RAW`); prints why when it must.
pub fn skip_unless_root(test: &str) -> bool {
    if is_root() {
        return false;
    }
    eprintln!(
        "skipping {test}: needs root (network namespaces, veth pairs and CAP_NET_RAW need it)"
    );
    true
}

/// Whether `test` must skip because `program` is not installed: prints why, or fails the
/// test under `CI=true`.
///
/// # Panics
///
/// When `program` is missing and [`on_ci`].
pub fn skip_without(program: &str, test: &str) -> bool {
    if have(program) {
        return false;
    }
    assert!(
        !on_ci(),
        "{test}: `{program}` is not installed, but CI=true: install it (apt-get install {program})"
    );
    eprintln!("skipping {test}: `{program}` is not installed");
    true
}

/// Whether `test` must skip because this kernel has no IPv6: prints why, or fails the test
/// under `CI=true`.
///
/// # Panics
///
/// When IPv6 is missing and [`on_ci`].
pub fn skip_without_ipv6(test: &str) -> bool {
    if have_ipv6() {
        return false;
    }
    assert!(!on_ci(), "{test}: this kernel has no IPv6, but CI=true");
    eprintln!("skipping {test}: this kernel has no IPv6 (/proc/sys/net/ipv6 is missing)");
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn root_agrees_with_proc() {
        let status = std::fs::read_to_string("/proc/self/status").unwrap();
        let euid = status
            .lines()
            .find_map(|l| l.strip_prefix("Uid:"))
            .and_then(|ids| ids.split_whitespace().nth(1))
            .unwrap()
            .to_owned();
        assert_eq!(is_root(), euid == "0");
    }

    #[test]
    fn programs_are_found_on_path() {
        assert!(have("sh"));
        assert!(!have("mcast-testkit-no-such-program"));
        // A name with shell syntax in it is a name, not a command.
        assert!(!have("sh; true"));
    }
}
