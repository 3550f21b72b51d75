//! Test support for the mcast workspace: what every test suite that touches the network
//! needs, written once. A dev-dependency only (`publish = false`); Linux only, like the
//! adapters it tests.
//!
//! One module per job:
//!
//! - [`privilege`]: may this test run here? The root check, `CAP_NET_ADMIN`, programs on
//!   `PATH`, IPv6 in the kernel, and the `skip_*` helpers that say why a test skips (and fail
//!   it instead under `CI=true`, where a missing prerequisite is a broken runner).
//! - [`cmd`]: running a program to completion (`ip`, `sysctl`, …) with its failure in the
//!   panic message.
//! - [`netns`]: network namespaces a test owns: [`netns::Netns`], a named one (`ip netns add`)
//!   with a scratch directory, deleted on drop; [`netns::in_private_netns`], a thread of its
//!   own in a namespace private to that thread (`unshare(CLONE_NEWNET)`), gone with the thread;
//!   [`netns::isolated_command`], a child process in a namespace of its own; and
//!   [`netns::Veth`], a veth pair with addresses, duplicate address detection off, waited for
//!   until it can carry multicast.
//! - [`loopback`]: pinning to `lo` (127.0.0.1), and the host's input-backlog drop counter that
//!   loopback tests of drop counting allow for.
//!
//! Network safety: nothing here sends a datagram. What the suites send is pinned to `lo` or
//! stays in a namespace made here, so no test traffic can leave the machine.
//!
//! ```
//! use mcast_testkit::privilege;
//!
//! if privilege::skip_unless_root("doc_example") || privilege::skip_without("ip", "doc_example") {
//!     return;
//! }
//! let answer = mcast_testkit::netns::in_private_netns(|| {
//!     // Only `lo` exists in here, and it is up.
//!     mcast_testkit::cmd::sh(&["ip", "-o", "link", "show"])
//! });
//! assert!(answer.contains(": lo:"));
//! ```

#![warn(missing_docs)]

pub mod cmd;
pub mod loopback;
pub mod netns;
pub mod privilege;
