//! Watching the interface a receiver joined on: down, up, gone, back.
//!
//! A membership lives on an interface *index*. An interface that goes down and up again keeps
//! it: the kernel holds every socket's memberships while the link is down and programs them
//! into the device again when it comes up, for IPv4 and IPv6 alike, so datagrams flow again
//! with nothing re-made. An interface that is deleted takes its memberships along, and one
//! created again under the same name gets a new index: nothing arrives until every group is
//! joined again on the new index. Worse, the socket keeps its memberships of the old index as
//! dead entries, and those still count against `net.ipv4.igmp_max_memberships`: a receiver
//! holding 20 groups on a socket gets `ENOBUFS` when it joins them on the new index, unless it
//! first leaves them on the old one. [`Receiver::rejoin`](crate::Receiver::rejoin) does both.
//!
//! [`LinkWatch`] follows one interface by name and reports each change as a [`LinkEvent`]:
//! [`LinkChange::Down`] and [`LinkChange::Up`] when the link stops or starts being usable (up
//! *and* running: administratively up with a carrier), [`LinkChange::Gone`] when it is deleted
//! (or moved to another network namespace), and [`LinkChange::Back`] when an interface of that
//! name appears again, with its new index. The drivers
//! ([`RecvDriver::follow_link`](crate::driver::RecvDriver::follow_link),
//! [`PingDriver::follow_link`](crate::driver::PingDriver::follow_link)) poll a watch between
//! their waits and rejoin on [`LinkChange::Back`].
//!
//! # How the changes are learnt
//!
//! The kernel pushes them: a `NETLINK_ROUTE` socket bound to the `RTMGRP_LINK` multicast group
//! receives an `RTM_NEWLINK` message for every change of a link's flags and an `RTM_DELLINK`
//! when one is deleted, in order, with nothing polled by hand. That is cheaper and more exact
//! than a periodic `if_nametoindex` + `SIOCGIFFLAGS` check (which would miss a delete and
//! re-create between two checks only when the new index happened to equal the old), and the
//! socket is non-blocking, so a read costs one system call that usually returns `EAGAIN`.
//! [`LinkWatch::poll_event`] reads it at most every [`LinkWatch::CHECK`]; a caller that wants
//! the changes sooner can wait for [`LinkWatch::fd`] and call [`LinkWatch::handle_readable`].
//!
//! The messages are read with plain `libc` and parsed here (a header, a fixed `ifinfomsg` and
//! one attribute, `IFLA_IFNAME`): the netlink crates (netlink-packet-route and its companions)
//! would bring a dozen dependencies for those three fields. When the kernel had to drop
//! messages because the socket's buffer was full (`ENOBUFS` on read), the watch reads the
//! interface's state afresh from [`crate::ifaces::list`] and reports the difference, so no
//! change is lost for good.
//!
//! An interface is followed by the name it had when the watch started, also when the user named
//! it by index or address: an interface given as `-i 10.0.0.1` is the one that held that
//! address at the start, and it is that one (by name) that comes back, whatever its addresses
//! are then. A renamed interface keeps its index and its memberships, so a rename is not a
//! change.
//!
//! ```no_run
//! use std::time::Instant;
//! use mcast_sync::link::{LinkChange, LinkWatch};
//!
//! let mut rx = mcast_sync::Receiver::builder(5000)
//!     .group("239.1.2.3".parse()?)
//!     .iface("veth0".parse()?)
//!     .build()?;
//! let mut watch = LinkWatch::for_iface(rx.iface())?.expect("a named interface");
//! loop {
//!     std::thread::sleep(LinkWatch::CHECK);
//!     while let Some(event) = watch.poll_event(Instant::now()) {
//!         println!("{} is {}", event.name, event.change.as_str());
//!         if event.change == LinkChange::Back {
//!             rx.rejoin(event.index)?;
//!         }
//!     }
//! }
//! # #[allow(unreachable_code)]
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::collections::VecDeque;
use std::io;
use std::mem;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::time::{Duration, Instant};

use crate::ifaces::{self, IfaceFlags};
use crate::resolve::ResolvedIface;
use crate::Error;

/// What happened to a followed interface.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum LinkChange {
    /// It stopped being usable: set down, or it lost its carrier. Its memberships stay.
    Down,
    /// It is usable again (up and running). The kernel kept its memberships.
    Up,
    /// It was deleted (or moved to another network namespace), and its memberships with it.
    Gone,
    /// An interface of the same name appeared again, with a new index (the memberships have to
    /// be made again there). It may still be down: [`LinkChange::Up`] follows when it comes up.
    Back,
}

impl LinkChange {
    /// The change as one word: `down`, `up`, `gone`, `back`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Down => "down",
            Self::Up => "up",
            Self::Gone => "gone",
            Self::Back => "back",
        }
    }
}

impl std::fmt::Display for LinkChange {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One change of a followed interface.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct LinkEvent {
    /// What happened.
    pub change: LinkChange,
    /// The interface's name.
    pub name: String,
    /// Its index: the one it had for [`LinkChange::Gone`], the new one for
    /// [`LinkChange::Back`].
    pub index: u32,
    /// For [`LinkChange::Back`], the index it had before it was gone.
    pub previous_index: Option<u32>,
    /// Its flags after the change (none set once it is gone).
    pub flags: IfaceFlags,
}

impl LinkEvent {
    /// Whether the interface is usable after the change: up and running.
    pub fn is_usable(&self) -> bool {
        usable(self.flags)
    }
}

/// What came of making a receiver's memberships again on an interface's new index
/// ([`Receiver::rejoin`](crate::Receiver::rejoin)).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Rejoined {
    /// The groups joined again.
    pub groups: usize,
    /// The memberships made: one per group, or one per group and source for source-specific
    /// joins.
    pub memberships: usize,
    /// The index they were on.
    pub previous_index: u32,
    /// The index they are on now.
    pub index: u32,
}

/// A change a driver saw, and what it did about it: for [`LinkChange::Back`], the outcome of
/// joining every group again on the new index.
#[derive(Debug)]
#[non_exhaustive]
pub struct LinkReport {
    /// The change.
    pub event: LinkEvent,
    /// For [`LinkChange::Back`]: the memberships made again, or why they could not be.
    pub rejoin: Option<Result<Rejoined, Error>>,
}

/// Whether flags say the link is usable: administratively up, and running (carrier).
fn usable(flags: IfaceFlags) -> bool {
    flags.up && flags.running
}

/// Follows one interface, by name, through a `NETLINK_ROUTE` socket (see the [module
/// docs](self)).
#[derive(Debug)]
pub struct LinkWatch {
    sock: OwnedFd,
    tracker: Tracker,
    events: VecDeque<LinkEvent>,
    next_read: Option<Instant>,
    buf: Vec<u8>,
}

impl LinkWatch {
    /// How often [`LinkWatch::poll_event`] reads the netlink socket at most.
    pub const CHECK: Duration = Duration::from_millis(100);

    /// Starts following the interface called `name`, which had index `index` when the caller
    /// joined on it. The socket is subscribed before the interface's state is read, so no
    /// change after this call is missed; when the interface is already gone, or has another
    /// index, the first events say so.
    ///
    /// # Errors
    ///
    /// [`Error::Io`] when the netlink socket cannot be opened or bound, or the interfaces
    /// cannot be listed.
    pub fn new(name: &str, index: u32) -> Result<Self, Error> {
        let sock = open_netlink()?;
        let mut watch = Self {
            sock,
            tracker: Tracker {
                name: name.to_owned(),
                index: Some(index),
                lost: None,
                flags: IfaceFlags::default(),
            },
            events: VecDeque::new(),
            next_read: None,
            buf: vec![0; 64 * 1024],
        };
        // The flags start as they are now; a different index (or none) is a change to report.
        let now = current(name).map_err(|e| Error::Io {
            context: "cannot list the interfaces to follow one",
            source: e,
        })?;
        if let Some((i, flags)) = now {
            if i == index {
                watch.tracker.flags = flags;
            }
        }
        watch.events.extend(watch.tracker.handle_snapshot(now));
        Ok(watch)
    }

    /// A watch on the interface a socket was resolved to; `None` for the kernel's choice
    /// (no interface named, so none to follow).
    ///
    /// # Errors
    ///
    /// As [`LinkWatch::new`].
    pub fn for_iface(iface: &ResolvedIface) -> Result<Option<Self>, Error> {
        match (&iface.name, iface.index) {
            (Some(name), index) if index != 0 => Self::new(name, index).map(Some),
            _ => Ok(None),
        }
    }

    /// The interface's name.
    pub fn name(&self) -> &str {
        &self.tracker.name
    }

    /// Its index now; `None` while it is gone.
    pub fn index(&self) -> Option<u32> {
        self.tracker.index
    }

    /// Its flags as last seen (none set while it is gone).
    pub fn flags(&self) -> IfaceFlags {
        self.tracker.flags
    }

    /// The netlink socket, to wait for it beside others (`poll`); call
    /// [`LinkWatch::handle_readable`] when it is readable.
    pub fn fd(&self) -> BorrowedFd<'_> {
        self.sock.as_fd()
    }

    /// Reads every message queued on the netlink socket now (it never blocks) and queues the
    /// changes they describe for [`LinkWatch::poll_event`]. When the kernel dropped messages
    /// (`ENOBUFS`), a message was longer than the buffer, or reading fails otherwise, the
    /// interface's state is read afresh instead.
    pub fn handle_readable(&mut self) {
        loop {
            // SAFETY: `buf` is a live, writable buffer of `buf.len()` bytes, and the socket is
            // ours. With MSG_TRUNC the kernel returns a datagram's real length, even when it
            // copied only `buf.len()` bytes of it.
            let n = unsafe {
                libc::recv(
                    self.sock.as_raw_fd(),
                    self.buf.as_mut_ptr().cast(),
                    self.buf.len(),
                    libc::MSG_DONTWAIT | libc::MSG_TRUNC,
                )
            };
            if n < 0 {
                let e = io::Error::last_os_error();
                match e.kind() {
                    io::ErrorKind::WouldBlock => return,
                    io::ErrorKind::Interrupted => continue,
                    // ENOBUFS (messages lost) or anything else: read the state afresh.
                    _ => {
                        self.resync();
                        return;
                    }
                }
            }
            let len = usize::try_from(n).unwrap_or(0);
            if len == 0 {
                return;
            }
            if len > self.buf.len() {
                // Cut short: what it said is read afresh instead.
                self.resync();
                continue;
            }
            for msg in parse_messages(&self.buf[..len]) {
                match msg {
                    Message::Link(link) => {
                        let event = self.tracker.handle_message(&link);
                        self.events.extend(event);
                    }
                    Message::Overrun => self.resync(),
                }
            }
        }
    }

    /// The next change of the interface, after reading the netlink socket when
    /// [`LinkWatch::CHECK`] has passed since the last read (or it was never read).
    ///
    /// # When to call
    ///
    /// - between the waits of a receive loop, with the loop's `now`, until it returns `None`
    ///   (it reads at most every [`LinkWatch::CHECK`], so calling it often is cheap);
    /// - after [`LinkWatch::handle_readable`].
    #[must_use]
    pub fn poll_event(&mut self, now: Instant) -> Option<LinkEvent> {
        if self.events.is_empty() && self.next_read.is_none_or(|t| now >= t) {
            self.next_read = now.checked_add(Self::CHECK);
            self.handle_readable();
        }
        self.events.pop_front()
    }

    /// Reads the interface's state afresh and queues the difference. When the interfaces
    /// cannot be listed, nothing is known to have changed.
    fn resync(&mut self) {
        if let Ok(now) = current(&self.tracker.name) {
            let events = self.tracker.handle_snapshot(now);
            self.events.extend(events);
        }
    }
}

/// The index and flags of the interface called `name` now; `None` when there is none.
fn current(name: &str) -> io::Result<Option<(u32, IfaceFlags)>> {
    let list = ifaces::list().map_err(|e| match e {
        ifaces::IfaceLookupError::List(e) => e,
        other => io::Error::other(other),
    })?;
    Ok(list
        .into_iter()
        .find(|i| i.name == name)
        .map(|i| (i.index, i.flags)))
}

/// Opens a non-blocking `NETLINK_ROUTE` socket subscribed to `RTMGRP_LINK`.
fn open_netlink() -> Result<OwnedFd, Error> {
    let err = |context| Error::Io {
        context,
        source: io::Error::last_os_error(),
    };
    // SAFETY: plain socket(2) call; the result is checked before use.
    let fd = unsafe {
        libc::socket(
            libc::AF_NETLINK,
            libc::SOCK_RAW | libc::SOCK_CLOEXEC | libc::SOCK_NONBLOCK,
            libc::NETLINK_ROUTE,
        )
    };
    if fd < 0 {
        return Err(err("cannot open a netlink socket to watch the interface"));
    }
    // SAFETY: `fd` is a new, valid descriptor that nothing else owns.
    let sock = unsafe { OwnedFd::from_raw_fd(fd) };
    // SAFETY: sockaddr_nl is plain data; all zeroes is a valid value.
    let mut addr: libc::sockaddr_nl = unsafe { mem::zeroed() };
    addr.nl_family = libc::AF_NETLINK as libc::sa_family_t;
    addr.nl_groups = libc::RTMGRP_LINK as u32;
    // SAFETY: `addr` is a valid sockaddr_nl and the length is its size.
    let rc = unsafe {
        libc::bind(
            sock.as_raw_fd(),
            (&raw const addr).cast(),
            size_of::<libc::sockaddr_nl>() as libc::socklen_t,
        )
    };
    if rc < 0 {
        return Err(err(
            "cannot subscribe to the kernel's link changes (netlink RTMGRP_LINK)",
        ));
    }
    Ok(sock)
}

/// What one followed interface looks like to the watch, and the rules that turn messages and
/// snapshots into changes (no I/O: tested on its own).
#[derive(Debug, Clone)]
struct Tracker {
    name: String,
    /// `None` while the interface is gone.
    index: Option<u32>,
    /// The index it had before it was gone, until it is back.
    lost: Option<u32>,
    flags: IfaceFlags,
}

impl Tracker {
    fn event(&self, change: LinkChange, index: u32, previous_index: Option<u32>) -> LinkEvent {
        LinkEvent {
            change,
            name: self.name.clone(),
            index,
            previous_index,
            flags: self.flags,
        }
    }

    /// The change one `RTM_NEWLINK` / `RTM_DELLINK` makes, if any.
    fn handle_message(&mut self, msg: &LinkMessage) -> Option<LinkEvent> {
        match (self.index, msg.deleted) {
            (Some(index), true) if msg.index == index => Some(self.gone(index)),
            (Some(index), false) if msg.index == index => {
                let flags = IfaceFlags::from_bits(msg.flags);
                let was = usable(self.flags);
                self.flags = flags;
                match (was, usable(flags)) {
                    (true, false) => Some(self.event(LinkChange::Down, index, None)),
                    (false, true) => Some(self.event(LinkChange::Up, index, None)),
                    _ => None,
                }
            }
            // Gone, and an interface of its name appears: back, with a new index.
            (None, false) if msg.name.as_deref() == Some(self.name.as_str()) => {
                Some(self.back(msg.index, IfaceFlags::from_bits(msg.flags)))
            }
            _ => None,
        }
    }

    /// The changes between what the tracker knows and the interface's state now (`None`: no
    /// interface of its name): up to two, a [`LinkChange::Gone`] then a [`LinkChange::Back`]
    /// when the index changed in between.
    fn handle_snapshot(&mut self, now: Option<(u32, IfaceFlags)>) -> Vec<LinkEvent> {
        let mut events = Vec::new();
        match (self.index, now) {
            (Some(index), Some((i, flags))) if i == index => {
                let was = usable(self.flags);
                self.flags = flags;
                match (was, usable(flags)) {
                    (true, false) => events.push(self.event(LinkChange::Down, index, None)),
                    (false, true) => events.push(self.event(LinkChange::Up, index, None)),
                    _ => {}
                }
            }
            (Some(index), _) => {
                events.push(self.gone(index));
                if let Some((i, flags)) = now {
                    events.push(self.back(i, flags));
                }
            }
            (None, Some((i, flags))) => events.push(self.back(i, flags)),
            (None, None) => {}
        }
        events
    }

    fn gone(&mut self, index: u32) -> LinkEvent {
        self.index = None;
        self.lost = Some(index);
        self.flags = IfaceFlags::default();
        self.event(LinkChange::Gone, index, None)
    }

    fn back(&mut self, index: u32, flags: IfaceFlags) -> LinkEvent {
        let previous = self.lost.take();
        self.index = Some(index);
        self.flags = flags;
        self.event(LinkChange::Back, index, previous)
    }
}

/// One message of the netlink stream, as far as the watch cares.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Message {
    /// `RTM_NEWLINK` or `RTM_DELLINK`.
    Link(LinkMessage),
    /// `NLMSG_OVERRUN`: the kernel lost messages.
    Overrun,
}

/// The fields of an `RTM_NEWLINK` / `RTM_DELLINK` message the watch reads.
#[derive(Debug, Clone, PartialEq, Eq)]
struct LinkMessage {
    /// `RTM_DELLINK`.
    deleted: bool,
    /// `ifi_index`.
    index: u32,
    /// `ifi_flags` (`IFF_*`).
    flags: u32,
    /// `IFLA_IFNAME`, when present.
    name: Option<String>,
}

/// `struct nlmsghdr`: length, type, flags, sequence number, port id.
pub(crate) const NLMSG_HDRLEN: usize = 16;
/// `struct ifinfomsg`: family, pad, type, index, flags, change.
const IFINFOMSG_LEN: usize = 16;
/// `struct rtattr`: length, type.
pub(crate) const RTA_HDRLEN: usize = 4;
const NLMSG_OVERRUN: u16 = 4;
const IFLA_IFNAME: u16 = 3;

/// Netlink's alignment: lengths round up to 4 bytes.
pub(crate) fn align4(n: usize) -> usize {
    n.saturating_add(3) & !3
}

pub(crate) fn u16_at(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_ne_bytes(b.get(at..at + 2)?.try_into().ok()?))
}

pub(crate) fn u32_at(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_ne_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

/// The netlink messages in `buf`, as (type, body) pairs, in native byte order as the kernel
/// writes them. A message shorter than its header, or whose length runs past the buffer, ends
/// the walk. Never panics; the one walk for every netlink reply this crate reads.
pub(crate) fn messages(buf: &[u8]) -> impl Iterator<Item = (u16, &[u8])> {
    let mut at = 0;
    std::iter::from_fn(move || {
        let (len, kind) = (u32_at(buf, at)? as usize, u16_at(buf, at + 4)?);
        if len < NLMSG_HDRLEN || buf.len() - at < len {
            return None;
        }
        let body = &buf[at + NLMSG_HDRLEN..at + len];
        at = at.saturating_add(align4(len));
        Some((kind, body))
    })
}

/// The attributes (`struct rtattr`) of a message body from `at` on, as (type, value) pairs.
/// An attribute shorter than its header, or running past the body, ends the walk. Never
/// panics.
pub(crate) fn attributes(body: &[u8], mut at: usize) -> impl Iterator<Item = (u16, &[u8])> {
    std::iter::from_fn(move || {
        let (len, kind) = (usize::from(u16_at(body, at)?), u16_at(body, at + 2)?);
        if len < RTA_HDRLEN || body.len().checked_sub(at)? < len {
            return None;
        }
        let value = &body[at + RTA_HDRLEN..at + len];
        at = at.saturating_add(align4(len));
        Some((kind, value))
    })
}

/// The link messages in one datagram read from the netlink socket. Anything short, malformed
/// or of another type is skipped; a message whose length runs past the datagram ends the
/// walk. Never panics.
fn parse_messages(buf: &[u8]) -> Vec<Message> {
    messages(buf)
        .filter_map(|(kind, body)| match kind {
            libc::RTM_NEWLINK | libc::RTM_DELLINK => {
                parse_link(body, kind == libc::RTM_DELLINK).map(Message::Link)
            }
            NLMSG_OVERRUN => Some(Message::Overrun),
            _ => None,
        })
        .collect()
}

/// An `ifinfomsg` and its attributes.
fn parse_link(body: &[u8], deleted: bool) -> Option<LinkMessage> {
    let index = u32_at(body, 4)?;
    let flags = u32_at(body, 8)?;
    let name = attributes(body, IFINFOMSG_LEN)
        .filter(|&(kind, _)| kind == IFLA_IFNAME)
        .last()
        .map(|(_, value)| {
            let value = value.split(|&b| b == 0).next().unwrap_or_default();
            String::from_utf8_lossy(value).into_owned()
        });
    Some(LinkMessage {
        deleted,
        index,
        flags,
        name,
    })
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    const UP_RUNNING: u32 = (libc::IFF_UP | libc::IFF_RUNNING | libc::IFF_MULTICAST) as u32;
    const DOWN: u32 = libc::IFF_MULTICAST as u32;

    /// One `RTM_NEWLINK` / `RTM_DELLINK` message as the kernel writes it, with an
    /// `IFLA_MTU` attribute before the name (the parser must step over it).
    fn link_msg(kind: u16, index: u32, flags: u32, name: Option<&str>) -> Vec<u8> {
        let mut body = Vec::new();
        body.extend_from_slice(&[libc::AF_UNSPEC as u8, 0]);
        body.extend_from_slice(&1u16.to_ne_bytes()); // ARPHRD_ETHER
        body.extend_from_slice(&index.to_ne_bytes());
        body.extend_from_slice(&flags.to_ne_bytes());
        body.extend_from_slice(&u32::MAX.to_ne_bytes()); // change
        let attr = |body: &mut Vec<u8>, kind: u16, value: &[u8]| {
            body.extend_from_slice(&((RTA_HDRLEN + value.len()) as u16).to_ne_bytes());
            body.extend_from_slice(&kind.to_ne_bytes());
            body.extend_from_slice(value);
            body.resize(align4(body.len()), 0);
        };
        attr(&mut body, 4, &1500u32.to_ne_bytes()); // IFLA_MTU
        if let Some(name) = name {
            let mut v = name.as_bytes().to_vec();
            v.push(0);
            attr(&mut body, IFLA_IFNAME, &v);
        }
        let mut msg = Vec::new();
        msg.extend_from_slice(&((NLMSG_HDRLEN + body.len()) as u32).to_ne_bytes());
        msg.extend_from_slice(&kind.to_ne_bytes());
        msg.extend_from_slice(&0u16.to_ne_bytes());
        msg.extend_from_slice(&0u32.to_ne_bytes());
        msg.extend_from_slice(&0u32.to_ne_bytes());
        msg.extend_from_slice(&body);
        msg
    }

    fn link(deleted: bool, index: u32, flags: u32, name: &str) -> LinkMessage {
        LinkMessage {
            deleted,
            index,
            flags,
            name: Some(name.into()),
        }
    }

    #[test]
    fn parses_new_and_del_link_messages_in_one_read() {
        let mut buf = link_msg(libc::RTM_NEWLINK, 7, UP_RUNNING, Some("va"));
        buf.extend(link_msg(libc::RTM_DELLINK, 7, DOWN, Some("va")));
        // A message of another type is skipped.
        buf.extend(link_msg(libc::RTM_NEWLINK + 4, 8, 0, Some("x")));
        buf.extend(link_msg(libc::RTM_NEWLINK, 9, 0, None));
        assert_eq!(
            parse_messages(&buf),
            [
                Message::Link(link(false, 7, UP_RUNNING, "va")),
                Message::Link(link(true, 7, DOWN, "va")),
                Message::Link(LinkMessage {
                    deleted: false,
                    index: 9,
                    flags: 0,
                    name: None
                }),
            ]
        );
    }

    #[test]
    fn short_or_overlong_messages_end_the_walk() {
        let msg = link_msg(libc::RTM_NEWLINK, 7, UP_RUNNING, Some("va"));
        for cut in 0..msg.len() {
            assert_eq!(parse_messages(&msg[..cut]), [], "cut at {cut}");
        }
        let mut overrun = msg[..NLMSG_HDRLEN].to_vec();
        overrun[..4].copy_from_slice(&(NLMSG_HDRLEN as u32).to_ne_bytes());
        overrun[4..6].copy_from_slice(&NLMSG_OVERRUN.to_ne_bytes());
        assert_eq!(parse_messages(&overrun), [Message::Overrun]);
        // A length below the header's would loop forever if it were taken.
        let mut zero = msg.clone();
        zero[..4].copy_from_slice(&0u32.to_ne_bytes());
        assert_eq!(parse_messages(&zero), []);
    }

    proptest! {
        #[test]
        fn parsing_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
            let _ = parse_messages(&bytes);
        }

        #[test]
        fn fields_round_trip(index in any::<u32>(), flags in any::<u32>(), name in "[a-z0-9.-]{1,15}") {
            let buf = link_msg(libc::RTM_NEWLINK, index, flags, Some(&name));
            prop_assert_eq!(parse_messages(&buf), [Message::Link(link(false, index, flags, &name))]);
        }
    }

    fn tracker(index: u32, flags: u32) -> Tracker {
        Tracker {
            name: "va".into(),
            index: Some(index),
            lost: None,
            flags: IfaceFlags::from_bits(flags),
        }
    }

    fn changes(events: impl IntoIterator<Item = LinkEvent>) -> Vec<(LinkChange, u32, Option<u32>)> {
        events
            .into_iter()
            .map(|e| (e.change, e.index, e.previous_index))
            .collect()
    }

    #[test]
    fn messages_become_down_up_gone_back() {
        let mut t = tracker(7, UP_RUNNING);
        let mut feed = |deleted, index, flags, name: &str| {
            changes(t.handle_message(&link(deleted, index, flags, name)))
        };
        assert_eq!(feed(false, 7, DOWN, "va"), [(LinkChange::Down, 7, None)]);
        // The same state again (an MTU change, say) is no change.
        assert_eq!(feed(false, 7, DOWN, "va"), []);
        // Up without a carrier is not usable yet.
        assert_eq!(feed(false, 7, libc::IFF_UP as u32, "va"), []);
        assert_eq!(
            feed(false, 7, UP_RUNNING, "va"),
            [(LinkChange::Up, 7, None)]
        );
        // Other interfaces do not matter, nor does a rename of ours.
        assert_eq!(feed(false, 8, DOWN, "vb"), []);
        assert_eq!(feed(true, 8, DOWN, "vb"), []);
        assert_eq!(feed(false, 7, UP_RUNNING, "renamed"), []);
        assert_eq!(feed(true, 7, DOWN, "va"), [(LinkChange::Gone, 7, None)]);
        // While gone: another name, then ours again.
        assert_eq!(feed(false, 9, DOWN, "vb"), []);
        assert_eq!(
            feed(false, 10, DOWN, "va"),
            [(LinkChange::Back, 10, Some(7))]
        );
        assert_eq!(
            feed(false, 10, UP_RUNNING, "va"),
            [(LinkChange::Up, 10, None)]
        );
    }

    #[test]
    fn created_again_with_the_same_index_is_back() {
        let mut t = tracker(7, UP_RUNNING);
        t.handle_message(&link(true, 7, DOWN, "va"));
        let back = t.handle_message(&link(false, 7, DOWN, "va")).unwrap();
        assert_eq!(
            (back.change, back.previous_index),
            (LinkChange::Back, Some(7))
        );
    }

    #[test]
    fn back_reports_the_flags_it_came_with() {
        let mut t = tracker(7, UP_RUNNING);
        t.handle_message(&link(true, 7, DOWN, "va"));
        let back = t.handle_message(&link(false, 8, DOWN, "va")).unwrap();
        assert!(!back.is_usable() && back.flags.multicast);
        assert_eq!(t.index, Some(8));
    }

    #[test]
    fn snapshots_report_the_difference() {
        let up = IfaceFlags::from_bits(UP_RUNNING);
        let down = IfaceFlags::from_bits(DOWN);
        let mut t = tracker(7, UP_RUNNING);
        assert_eq!(changes(t.handle_snapshot(Some((7, up)))), []);
        assert_eq!(
            changes(t.handle_snapshot(Some((7, down)))),
            [(LinkChange::Down, 7, None)]
        );
        // Deleted and created again between two reads: gone, then back.
        assert_eq!(
            changes(t.handle_snapshot(Some((9, up)))),
            [(LinkChange::Gone, 7, None), (LinkChange::Back, 9, Some(7))]
        );
        assert_eq!(
            changes(t.handle_snapshot(None)),
            [(LinkChange::Gone, 9, None)]
        );
        assert_eq!(changes(t.handle_snapshot(None)), []);
        assert_eq!(
            changes(t.handle_snapshot(Some((11, down)))),
            [(LinkChange::Back, 11, Some(9))]
        );
    }

    #[test]
    fn watching_loopback_reports_nothing() {
        let lo = ifaces::list()
            .unwrap()
            .into_iter()
            .find(|i| i.flags.loopback)
            .expect("a loopback interface");
        let mut w = LinkWatch::new(&lo.name, lo.index).unwrap();
        assert_eq!(w.index(), Some(lo.index));
        assert_eq!(w.flags(), lo.flags);
        assert_eq!(w.poll_event(Instant::now()), None);
        // A wrong index at the start is reported at once: gone, then back at the right one.
        let mut w = LinkWatch::new(&lo.name, lo.index + 1000).unwrap();
        let first = w.poll_event(Instant::now()).unwrap();
        assert_eq!(first.change, LinkChange::Gone);
        let second = w.poll_event(Instant::now()).unwrap();
        assert_eq!(
            (second.change, second.index, second.previous_index),
            (LinkChange::Back, lo.index, Some(lo.index + 1000))
        );
    }

    #[test]
    fn the_kernels_choice_is_not_followed() {
        assert!(LinkWatch::for_iface(&ResolvedIface::any())
            .unwrap()
            .is_none());
    }
}
