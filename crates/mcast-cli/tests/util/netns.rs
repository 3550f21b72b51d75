//! Root-only test plumbing shared by the namespace tests (`sniff.rs`, `ipv6.rs`): privilege and
//! tool checks that say why a test skips (and fail loudly under `CI=true`), a command runner,
//! and [`Netns`], a network namespace of the test's own that is deleted on drop.

use std::path::PathBuf;
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};

use super::{Output, Proc};

/// Whether this process runs as root (uid 0), read from /proc so no libc is needed.
pub(crate) fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .and_then(|l| l.split_whitespace().nth(2).map(|euid| euid == "0"))
        })
        .unwrap_or(false)
}

/// Whether `CI=true` is set: then a missing prerequisite fails the test loudly.
pub(crate) fn on_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true")
}

/// Whether a program is on PATH.
pub(crate) fn have(program: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {program} >/dev/null 2>&1")])
        .status()
        .is_ok_and(|s| s.success())
}

/// Prints why a test skips and returns true when it must: it needs root.
pub(crate) fn skip_unless_root(test: &str) -> bool {
    if is_root() {
        return false;
    }
    eprintln!("skipping {test}: needs root (network namespaces and CAP_NET_RAW)");
    true
}

/// Whether a test needing `program` must skip: fails on CI (`CI=true`), skips with a reason
/// elsewhere.
pub(crate) fn skip_without(program: &str, test: &str) -> bool {
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

/// Runs a command to completion and returns its stdout; panics with its stderr when it fails.
pub(crate) fn sh(args: &[&str]) -> String {
    let out = Command::new(args[0])
        .args(&args[1..])
        .output()
        .unwrap_or_else(|e| panic!("cannot run {args:?}: {e}"));
    assert!(
        out.status.success(),
        "{args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A network namespace of this test's own, with `lo` up and a scratch directory; both are
/// deleted on drop (the namespace's veths go with it), also when the test fails.
pub(crate) struct Netns {
    pub(crate) name: String,
    dir: PathBuf,
}

impl Netns {
    /// Creates `<prefix>-<pid>-<n>` with `lo` up.
    pub(crate) fn new(prefix: &str) -> Self {
        static N: AtomicUsize = AtomicUsize::new(0);
        let name = format!(
            "{prefix}-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::SeqCst)
        );
        let dir = std::env::temp_dir().join(&name);
        // Construct the guard first, so everything made below is removed even if a step fails.
        let ns = Self { name, dir };
        sh(&["ip", "netns", "add", &ns.name]);
        std::fs::create_dir_all(&ns.dir).expect("create scratch dir");
        sh(&["ip", "-n", &ns.name, "link", "set", "lo", "up"]);
        // A run that names itself (`.ci/run` does) finds what it left behind by this mark.
        if let Ok(run) = std::env::var("MCAST_LAB_RUN") {
            let mark = format!("mcast-test run={run}");
            sh(&[
                "ip", "-n", &ns.name, "link", "set", "dev", "lo", "alias", &mark,
            ]);
        }
        ns
    }

    /// Sets `net.ipv6.conf.{all,default}.KEY=VALUE` inside the namespace (for links made later).
    pub(crate) fn ipv6_sysctl(&self, key: &str, value: u8) {
        for which in ["all", "default"] {
            sh(&[
                "ip",
                "netns",
                "exec",
                &self.name,
                "sysctl",
                "-q",
                "-w",
                &format!("net.ipv6.conf.{which}.{key}={value}"),
            ]);
        }
    }

    /// Adds the veth pair `va` — `vb` inside, both up.
    pub(crate) fn add_veth_pair(&self) {
        let n = self.name.as_str();
        sh(&[
            "ip", "-n", n, "link", "add", "va", "type", "veth", "peer", "name", "vb",
        ]);
        sh(&["ip", "-n", n, "link", "set", "va", "up"]);
        sh(&["ip", "-n", n, "link", "set", "vb", "up"]);
    }

    /// A command run inside the namespace.
    pub(crate) fn cmd(&self, program: &str) -> Command {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", &self.name, program]);
        c.env_remove("RUST_BACKTRACE")
            .env_remove("RUST_LIB_BACKTRACE");
        c
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

    /// A path in the scratch directory.
    pub(crate) fn file(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["netns", "del", &self.name])
            .status();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
