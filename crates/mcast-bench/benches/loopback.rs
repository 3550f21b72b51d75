//! Send → receive over loopback through mcast-sync's socket setup.
//!
//! Placeholder: the lead writes this once the socket adapter in `crates/mcast-sync` exists.
//! It will use the same `SocketState` as the tool, pinned to 127.0.0.1 with TTL 0, with groups
//! named `batch_{batch}_gso_{gso}_len_{len}`.

fn main() {}
