//! mcast-core contains a fully deterministic implementation of IP multicast's moving parts: it
//! opens no sockets, spawns no threads and never reads the clock. Time and bytes go in; bytes
//! and events come out. The adapters (`mcast-sync`, `mcast-async`) bind it to real sockets.
//!
//! - [`addr`]: [`addr::Group`] (a checked multicast address), scopes, IANA blocks, group → MAC,
//!   CIDR blocks, sources and group ranges.
//! - [`iface`]: an interface named by address, index or name.
#![warn(missing_docs)]

pub mod addr;
pub mod iface;
