//! Root-only test plumbing for the namespace tests (`sniff`, `ipv6`, `ssmping`, `link`,
//! `hints`): mcast-testkit's privilege checks (they say why a test skips, and fail loudly under
//! `CI=true`) and command runner, and [`Netns`], the testkit's named namespace with the `mcast`
//! binary to run in it.

use std::ops::Deref;

pub(crate) use mcast_testkit::cmd::sh;
pub(crate) use mcast_testkit::netns::Veth;
pub(crate) use mcast_testkit::privilege::{
    have, is_root, on_ci, skip_unless_root, skip_without, skip_without_ipv6,
};

use super::{Output, Proc};

/// A network namespace of this test's own (mcast-testkit's [`mcast_testkit::netns::Netns`]:
/// `lo` up, a scratch directory, both deleted on drop), plus the `mcast` binary run inside.
/// Each test module adds the set-up it needs in an `impl Netns` block (or a trait of its own
/// where another module already uses the method's name).
pub(crate) struct Netns {
    /// The namespace's name, for `ip -n NAME`.
    pub(crate) name: String,
    ns: mcast_testkit::netns::Netns,
}

impl Deref for Netns {
    type Target = mcast_testkit::netns::Netns;

    fn deref(&self) -> &Self::Target {
        &self.ns
    }
}

impl Netns {
    /// Creates `<prefix>-<pid>-<n>` with `lo` up.
    pub(crate) fn new(prefix: &str) -> Self {
        let ns = mcast_testkit::netns::Netns::new(prefix);
        Self {
            name: ns.name().to_owned(),
            ns,
        }
    }

    /// Starts `mcast ARGS` inside the namespace.
    pub(crate) fn mcast(&self, args: &[&str]) -> Proc {
        let mut c = self.cmd(env!("CARGO_BIN_EXE_mcast"));
        c.args(args);
        Proc::spawn(&format!("mcast {}", args.join(" ")), c)
    }

    /// Runs `mcast ARGS` inside the namespace to completion (bounded).
    pub(crate) fn run(&self, args: &[&str]) -> Output {
        let mut p = self.mcast(args);
        p.close_stdin();
        p.finish()
    }
}
