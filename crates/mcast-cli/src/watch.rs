//! Following the interface a receiver joined on, for `recv`, `perf recv` and `ping`.
//!
//! Before the sockets open, [`warn_iface`] warns when `-i` names an interface that is down,
//! has no carrier, or lacks the MULTICAST flag (loopback excepted: IPv4 multicast loops back
//! over `lo` without it). Once the command listens, [`follow_recv`] / [`follow_ping`] hand the
//! engine's driver a `mcast_sync::link::LinkWatch` on that interface: the driver polls it
//! between its waits, joins every group again when a deleted interface comes back under its
//! name (with a new index), and calls [`LinkReporter`], which says so on stderr and, with
//! `--json`, in a `link` record:
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
use mcast_sync::link::{LinkChange, LinkReport, LinkWatch};
use mcast_sync::{Receiver, ResolvedIface};
use serde::Serialize;

use crate::errors::chain_text;
use crate::output;

/// The warnings for the interface `-i` named, one line each: down, no carrier, no MULTICAST
/// flag. None for the kernel's choice, or one that cannot be looked up (the plan already
/// refused a missing interface).
pub(crate) fn iface_warnings(spec: &IfaceSpec) -> Vec<String> {
    if spec.is_any() {
        return Vec::new();
    }
    let Ok(iface) = mcast_sync::ifaces::resolve(spec) else {
        return Vec::new();
    };
    let name = &iface.name;
    let mut out = Vec::new();
    if !iface.flags.up {
        out.push(format!(
            "warning: interface {name} is down: nothing arrives or leaves on it until it is up (`ip link set {name} up`)"
        ));
    } else if !iface.flags.running {
        out.push(format!(
            "warning: interface {name} is up but has no carrier: nothing arrives until its link is connected"
        ));
    }
    if !iface.flags.multicast && !iface.flags.loopback {
        out.push(format!(
            "warning: interface {name} lacks the MULTICAST flag: multicast may neither arrive nor leave on it (`ip link set {name} multicast on`)"
        ));
    }
    out
}

/// Prints [`iface_warnings`] on stderr, unless `quiet`.
pub(crate) fn warn_iface(spec: &IfaceSpec, quiet: bool) {
    if quiet {
        return;
    }
    for w in iface_warnings(spec) {
        output::note(&w);
    }
}

/// A watch on `iface`; `None` for the kernel's choice, or (with a note on stderr unless
/// `quiet`) when the kernel's link messages cannot be subscribed to.
pub(crate) fn watch(iface: &ResolvedIface, quiet: bool) -> Option<LinkWatch> {
    match LinkWatch::for_iface(iface) {
        Ok(w) => w,
        Err(e) => {
            if !quiet {
                output::note(&format!(
                    "note: cannot follow the interface (down, up, gone): {}",
                    chain_text(&e)
                ));
            }
            None
        }
    }
}

/// Makes the receive driver follow the interface `rx` joined on.
pub(crate) fn follow_recv(driver: &mut RecvDriver, rx: &Receiver, json: bool, quiet: bool) {
    if let Some(w) = watch(rx.iface(), quiet) {
        driver.follow_link(w, LinkReporter { json, quiet }.into_callback());
    }
}

/// Makes the ping driver follow the interface of `watch` (taken with [`watch`] before the
/// receiver went into the driver).
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
