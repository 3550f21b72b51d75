//! Following the interface a receiver joined on, for `recv`, `perf recv` and `ping`.
//!
//! Before the sockets join, [`start`] subscribes a `mcast_sync::link::LinkWatch` to the
//! interface `-i` named and warns when it is down, has no carrier, or lacks the MULTICAST flag
//! (loopback excepted: IPv4 multicast loops back over `lo` without it). [`follow_recv`] /
//! [`follow_ping`] then hand the watch to the engine's driver, which polls it between its
//! waits, joins every group again when a deleted interface comes back under its name (with a
//! new index), and calls [`LinkReporter`], which says so on stderr (`link: va (index 3) is
//! down: ...`) and, with `--json`, in a `link` record:
//!
//! | `state` | when | extra fields |
//! |---------|------|--------------|
//! | `down`  | the interface was set down or lost its carrier (memberships kept, nothing arrives) | |
//! | `up`    | it is up and running again: datagrams flow again | |
//! | `gone`  | it was deleted (or moved to another namespace), its memberships with it | |
//! | `back`  | an interface of its name exists again, with a new index; every group was joined again there | `previous_index`, `rejoined` (groups joined again) or `error` |
//!
//! Every record has `interface` (the name), `index`, `state`, `up`, `running` and `multicast`
//! (the interface's flags after the change). With `-i 0.0.0.0` (the kernel's choice) there is
//! no interface to follow; an interface given by address is the one that held the address at
//! the start, followed by name.

use mcast_core::iface::IfaceSpec;
use mcast_sync::driver::{PingDriver, RecvDriver};
use mcast_sync::ifaces::IfaceFlags;
use mcast_sync::link::{LinkChange, LinkReport, LinkWatch};
use serde::Serialize;

use crate::errors::chain_text;
use crate::output;

/// Starts following the interface `-i` named, before the sockets join on it, and warns when it
/// is down, has no carrier, or lacks the MULTICAST flag (unless `quiet`). The watch subscribes
/// to the kernel's link messages first and reads the interface's state then: the warnings
/// describe that state, and every change after it reaches the driver as an event, also one
/// made while the sockets join.
///
/// `None` for the kernel's choice (no interface to follow), for an interface that cannot be
/// looked up (the plan already refused a missing one), or, with a note, when the link messages
/// cannot be subscribed to (the warnings are still given).
pub(crate) fn start(spec: &IfaceSpec, quiet: bool) -> Option<LinkWatch> {
    if spec.is_any() {
        return None;
    }
    let iface = mcast_sync::ifaces::resolve(spec).ok()?;
    let (flags, watch) = match LinkWatch::new(&iface.name, iface.index) {
        Ok(w) if w.index() == Some(iface.index) => (w.flags(), Some(w)),
        Ok(w) => (iface.flags, Some(w)),
        Err(e) => {
            if !quiet {
                output::note(&format!(
                    "note: cannot follow interface {} (down, up, gone): {}",
                    iface.name,
                    chain_text(&e)
                ));
            }
            (iface.flags, None)
        }
    };
    if !quiet {
        for w in iface_warnings(&iface.name, flags) {
            output::note(&w);
        }
    }
    watch
}

/// The warnings for an interface with these flags, one line each: down, no carrier, no
/// MULTICAST flag (loopback excepted).
fn iface_warnings(name: &str, flags: IfaceFlags) -> Vec<String> {
    let mut out = Vec::new();
    if !flags.up {
        out.push(format!(
            "warning: interface {name} is down: nothing arrives or leaves on it until it is up (`ip link set {name} up`)"
        ));
    } else if !flags.running {
        out.push(format!(
            "warning: interface {name} is up but has no carrier: nothing arrives until its link is connected"
        ));
    }
    if !flags.multicast && !flags.loopback {
        out.push(format!(
            "warning: interface {name} lacks the MULTICAST flag: the kernel sets up no IPv6 multicast on it, and its driver may not take multicast in (`ip link set {name} multicast on`)"
        ));
    }
    out
}

/// Makes the receive driver follow the interface of `watch` (from [`start`]).
pub(crate) fn follow_recv(
    driver: &mut RecvDriver,
    watch: Option<LinkWatch>,
    json: bool,
    quiet: bool,
) {
    if let Some(w) = watch {
        driver.follow_link(w, LinkReporter { json, quiet }.into_callback());
    }
}

/// Makes the ping driver follow the interface of `watch` (from [`start`]).
pub(crate) fn follow_ping(driver: &mut PingDriver, watch: Option<LinkWatch>, json: bool) {
    if let Some(w) = watch {
        let quiet = false;
        driver.follow_link(w, LinkReporter { json, quiet }.into_callback());
    }
}

/// Says what happened to the interface: a line on stderr (unless `quiet`), a `link` record
/// on stdout with `--json`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct LinkReporter {
    pub(crate) json: bool,
    pub(crate) quiet: bool,
}

impl LinkReporter {
    fn into_callback(self) -> impl FnMut(&LinkReport) + Send + 'static {
        move |r| self.report(r)
    }

    fn report(&self, r: &LinkReport) {
        if !self.quiet {
            output::note(&link_line(r));
        }
        if self.json {
            // A failed write (stdout gone) meets the next record or the summary, which end the
            // command as every write error does.
            let _ = output::emit_json("link", &LinkRecord::from(r));
        }
    }
}

/// The `link` record.
#[derive(Debug, Serialize, PartialEq)]
struct LinkRecord {
    interface: String,
    index: u32,
    /// `down`, `up`, `gone` or `back`.
    state: &'static str,
    up: bool,
    running: bool,
    multicast: bool,
    /// `back`: the index before it was gone.
    #[serde(skip_serializing_if = "Option::is_none")]
    previous_index: Option<u32>,
    /// `back`: the groups joined again on the new index.
    #[serde(skip_serializing_if = "Option::is_none")]
    rejoined: Option<usize>,
    /// `back`: why joining again failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
}

impl From<&LinkReport> for LinkRecord {
    fn from(r: &LinkReport) -> Self {
        let e = &r.event;
        let (rejoined, error) = match &r.rejoin {
            Some(Ok(done)) => (Some(done.groups), None),
            Some(Err(err)) => (None, Some(chain_text(err))),
            None => (None, None),
        };
        Self {
            interface: e.name.clone(),
            index: e.index,
            state: e.change.as_str(),
            up: e.flags.up,
            running: e.flags.running,
            multicast: e.flags.multicast,
            previous_index: e.previous_index,
            rejoined,
            error,
        }
    }
}

/// The stderr line for a change.
fn link_line(r: &LinkReport) -> String {
    let e = &r.event;
    let name = &e.name;
    let index = e.index;
    match e.change {
        LinkChange::Down => format!(
            "link: {name} (index {index}) is down: nothing arrives until it is up again (the memberships stay)"
        ),
        LinkChange::Up => format!("link: {name} (index {index}) is up again"),
        LinkChange::Gone => format!(
            "link: {name} (index {index}) is gone, and its memberships with it: waiting for it to come back"
        ),
        LinkChange::Back => {
            let was = e
                .previous_index
                .map_or_else(String::new, |p| format!(", was {p}"));
            let state = if e.is_usable() {
                ""
            } else {
                " (still down)"
            };
            match &r.rejoin {
                Some(Ok(done)) => format!(
                    "link: {name} is back (index {index}{was}){state}: joined {} group{} again",
                    done.groups,
                    if done.groups == 1 { "" } else { "s" }
                ),
                Some(Err(err)) => format!(
                    "link: {name} is back (index {index}{was}){state}, but joining again failed: {}",
                    chain_text(err)
                ),
                None => format!("link: {name} is back (index {index}{was}){state}"),
            }
        }
        // `LinkChange` may grow; a change we do not know yet is still worth a line.
        other => format!("link: {name} (index {index}): {other}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Linux's `IFF_*` bits (the CLI has no libc to read them from).
    const UP: u32 = 0x1;
    const LOOPBACK: u32 = 0x8;
    const RUNNING: u32 = 0x40;
    const MULTICAST: u32 = 0x1000;

    fn flags(bits: u32) -> IfaceFlags {
        IfaceFlags::from_bits(bits)
    }

    // issue #9 (link) — a usable multicast interface, and loopback, need no warning.
    #[test]
    fn no_warning_for_a_usable_interface_or_loopback() {
        assert!(iface_warnings("va", flags(UP | RUNNING | MULTICAST)).is_empty());
        assert!(iface_warnings("lo", flags(UP | RUNNING | LOOPBACK)).is_empty());
    }

    // issue #9 (link) — down, no carrier, no MULTICAST flag: one warning each, naming the fix.
    #[test]
    fn warnings_name_the_state_and_the_fix() {
        let w = iface_warnings("va", flags(MULTICAST));
        assert_eq!(w.len(), 1, "{w:?}");
        assert!(w[0].starts_with("warning: interface va is down"), "{w:?}");
        assert!(w[0].contains("ip link set va up"), "{w:?}");
        let w = iface_warnings("va", flags(UP | MULTICAST));
        assert_eq!(w.len(), 1, "{w:?}");
        assert!(w[0].contains("no carrier"), "{w:?}");
        let w = iface_warnings("tun0", flags(UP | RUNNING));
        assert_eq!(w.len(), 1, "{w:?}");
        assert!(w[0].contains("lacks the MULTICAST flag"), "{w:?}");
        assert!(w[0].contains("ip link set tun0 multicast on"), "{w:?}");
        assert_eq!(iface_warnings("d0", flags(0)).len(), 2);
    }
}
