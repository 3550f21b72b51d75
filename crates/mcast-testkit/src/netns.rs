//! Network namespaces a test owns, and the veth pairs in them.
//!
//! Three kinds, by how long they live and who is inside:
//!
//! - [`Netns`]: a named namespace (`ip netns add`) that child processes enter with
//!   `ip netns exec` ([`Netns::cmd`]), with `lo` up and a scratch directory; both are deleted
//!   on drop, also when the test panics. For tests that run programs (the CLI's).
//! - [`in_private_netns`]: a closure run on a thread of its own that `unshare(CLONE_NEWNET)`
//!   moved into a namespace nobody else sees, `lo` up; the namespace and every link made in it
//!   vanish when the thread ends. For tests that open sockets in-process (the adapters').
//! - [`isolated_command`]: one child process in a namespace of its own (`unshare -n`), `lo`
//!   up; gone when the process exits. For a command whose load would disturb its neighbours
//!   on the host's `lo` (a hundred thousand memberships).
//!
//! [`Veth`] makes a veth pair in any of them: addresses (IPv6 ones without duplicate address
//! detection), both ends up, and [`Veth::wait_ready`] until the kernel has finished with it.
//!
//! Everything here needs root (or, for [`isolated_command`], a kernel that lets users make
//! user namespaces); check with [`privilege`](crate::privilege) first.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use crate::cmd::{sh, stdout_of};

/// How long [`Veth::wait_ready`] waits for the kernel before it fails the test.
pub const READY_WAIT: Duration = Duration::from_secs(10);

/// A named network namespace of the test's own, with `lo` up and a scratch directory; both
/// are deleted on drop (the namespace's links go with it), also when the test fails.
///
/// Named `<prefix>-<pid>-<n>`, so tests running at once never share one, and marked with the
/// run's name (`MCAST_LAB_RUN`, on `lo`'s alias) when the run has one, so `.ci/run` can find
/// what a run left behind.
#[derive(Debug)]
pub struct Netns {
    name: String,
    dir: PathBuf,
}

impl Netns {
    /// Creates `<prefix>-<pid>-<n>` with `lo` up, and its scratch directory.
    ///
    /// # Panics
    ///
    /// When `ip netns add` fails (not root, no `ip`).
    pub fn new(prefix: &str) -> Self {
        static N: AtomicUsize = AtomicUsize::new(0);
        let name = format!(
            "{prefix}-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::SeqCst)
        );
        let dir = std::env::temp_dir().join(&name);
        // The guard first, so everything made below is removed even if a step fails.
        let ns = Self { name, dir };
        sh(&["ip", "netns", "add", &ns.name]);
        std::fs::create_dir_all(&ns.dir).expect("create scratch dir");
        ns.ip(&["link", "set", "lo", "up"]);
        if let Ok(run) = std::env::var("MCAST_LAB_RUN") {
            let mark = format!("mcast-test run={run}");
            ns.ip(&["link", "set", "dev", "lo", "alias", &mark]);
        }
        ns
    }

    /// The namespace's name, for `ip -n NAME` and `ip netns exec NAME`.
    #[must_use]
    pub fn name(&self) -> &str {
        &self.name
    }

    /// `ip -n NAME ARGS…`: its stdout; panics when it fails.
    pub fn ip(&self, args: &[&str]) -> String {
        let mut all = vec!["ip", "-n", &self.name];
        all.extend_from_slice(args);
        sh(&all)
    }

    /// Runs `args[0]` with the other `args` inside the namespace to completion: its stdout;
    /// panics when it fails.
    pub fn exec(&self, args: &[&str]) -> String {
        let mut all = vec!["ip", "netns", "exec", &self.name];
        all.extend_from_slice(args);
        sh(&all)
    }

    /// A `Command` that runs `program` inside the namespace (`ip netns exec` execs it, so the
    /// child's PID is the program's own), without the caller's backtrace settings.
    #[must_use]
    pub fn cmd(&self, program: &str) -> Command {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", &self.name, program]);
        c.env_remove("RUST_BACKTRACE")
            .env_remove("RUST_LIB_BACKTRACE");
        c
    }

    /// Sets `net.ipv6.conf.{all,default}.KEY=VALUE` inside the namespace; links made later
    /// take the `default` (`disable_ipv6`, `accept_dad` before a [`Veth`], say).
    pub fn ipv6_sysctl(&self, key: &str, value: u8) {
        for which in ["all", "default"] {
            self.exec(&[
                "sysctl",
                "-q",
                "-w",
                &format!("net.ipv6.conf.{which}.{key}={value}"),
            ]);
        }
    }

    /// Adds the veth pair `va` — `vb` inside, both up, no address (see [`Veth`] for more).
    pub fn add_veth_pair(&self) {
        Veth::new("va", "vb").in_netns(self).create();
    }

    /// The scratch directory (deleted on drop).
    #[must_use]
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// A path in the scratch directory.
    #[must_use]
    pub fn file(&self, name: &str) -> PathBuf {
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

/// Runs `f` on a new thread inside a fresh network namespace private to that thread, whose
/// only interface, `lo`, is up; returns what `f` returns. Child processes the thread starts
/// (`ip`, `tc`) are inside too. The namespace, and every link made in it, vanishes when the
/// thread ends.
///
/// # Panics
///
/// When the namespace cannot be made (not root: check [`skip_unless_root`] first), and again
/// with `f`'s own panic when `f` panics.
///
/// [`skip_unless_root`]: crate::privilege::skip_unless_root
pub fn in_private_netns<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    let thread = std::thread::spawn(move || {
        // SAFETY: unshare takes a flag word and touches no memory of ours; with CLONE_NEWNET
        // alone it moves only the calling thread, one this function made for the purpose and
        // that ends with `f`, into a new network namespace.
        let unshared = unsafe { libc::unshare(libc::CLONE_NEWNET) };
        assert_eq!(
            unshared,
            0,
            "unshare(CLONE_NEWNET): {}",
            std::io::Error::last_os_error()
        );
        sh(&["ip", "link", "set", "lo", "up"]);
        f()
    });
    match thread.join() {
        Ok(value) => value,
        Err(panic) => std::panic::resume_unwind(panic),
    }
}

/// The IPv6 link the adapters' tests send over: runs `f` on a thread inside a fresh network
/// namespace ([`in_private_netns`]) holding the veth pair `mva` (fe80::a) — `mvb` (fe80::b),
/// with no other link-local address, up and ready to carry IPv6 multicast
/// ([`Veth::wait_ready`]). Returns false, after saying why, when not root
/// ([`skip_unless_root`](crate::privilege::skip_unless_root) with `test`'s name).
///
/// # Panics
///
/// When the pair cannot be made, and again with `f`'s own panic.
pub fn in_veth_netns(test: &str, f: impl FnOnce() + Send + 'static) -> bool {
    if crate::privilege::skip_unless_root(test) {
        return false;
    }
    in_private_netns(|| {
        let pair = Veth::new("mva", "mvb")
            .no_kernel_link_local()
            .addr_a("fe80::a/64")
            .addr_b("fe80::b/64");
        pair.create();
        pair.wait_ready();
        f();
    });
    true
}

/// A `Command` that runs `program` in a network namespace of its own, made for it, with `lo`
/// (127.0.0.1) up; the namespace goes when the process exits. `unshare` and `sh` exec what
/// follows them, so the child's PID is `program`'s own (signals reach it).
///
/// As root this is `unshare -n`; otherwise `unshare -rn` (a user namespace as well) when this
/// kernel lets users make one. `None` when neither is possible (or `unshare`, from
/// util-linux, is missing): the caller decides whether to run on the host's `lo` instead.
#[must_use]
pub fn isolated_command(program: &str) -> Option<Command> {
    static USER_NS: OnceLock<bool> = OnceLock::new();
    if !crate::privilege::have("unshare") {
        return None;
    }
    let flags = if crate::privilege::is_root() {
        "-n"
    } else if *USER_NS.get_or_init(|| {
        Command::new("unshare")
            .args(["-rn", "true"])
            .status()
            .is_ok_and(|s| s.success())
    }) {
        "-rn"
    } else {
        return None;
    };
    let mut c = Command::new("unshare");
    c.args([
        flags,
        "--",
        "sh",
        "-c",
        "ip link set lo up && exec \"$0\" \"$@\"",
        program,
    ]);
    c.env_remove("RUST_BACKTRACE")
        .env_remove("RUST_LIB_BACKTRACE");
    Some(c)
}

/// A veth pair to make: its two ends' names, the namespace of each (the caller's own by
/// default: a thread's private one inside [`in_private_netns`]), and addresses.
///
/// IPv6 addresses are added with `nodad`, so they are never "tentative"; the kernel's own
/// link-local addresses are, unless the namespace has `accept_dad=0`
/// ([`Netns::ipv6_sysctl`]) or [`Veth::no_kernel_link_local`] turns them off, and
/// [`Veth::wait_ready`] waits them out.
///
/// ```no_run
/// use mcast_testkit::netns::{in_private_netns, Veth};
///
/// in_private_netns(|| {
///     let pair = Veth::new("mva", "mvb")
///         .no_kernel_link_local()
///         .addr_a("fe80::a/64")
///         .addr_b("fe80::b/64");
///     pair.create();
///     pair.wait_ready();
///     // Send from mva, receive on mvb.
/// });
/// ```
#[derive(Clone, Debug)]
pub struct Veth {
    ends: [End; 2],
    kernel_link_local: bool,
}

#[derive(Clone, Debug)]
struct End {
    name: String,
    netns: Option<String>,
    addrs: Vec<String>,
}

impl End {
    /// `args` run in this end's namespace.
    fn run<'a>(&'a self, args: &[&'a str]) -> Vec<&'a str> {
        let mut all = Vec::with_capacity(args.len() + 4);
        if let Some(ns) = &self.netns {
            all.extend(["ip", "netns", "exec", ns.as_str()]);
        }
        all.extend_from_slice(args);
        all
    }

    fn ip(&self, args: &[&str]) -> String {
        let mut all = vec!["ip"];
        all.extend_from_slice(args);
        sh(&self.run(&all))
    }
}

impl Veth {
    /// The pair `a` — `b`, both in the caller's namespace, no address.
    #[must_use]
    pub fn new(a: &str, b: &str) -> Self {
        let end = |name: &str| End {
            name: name.to_owned(),
            netns: None,
            addrs: Vec::new(),
        };
        Self {
            ends: [end(a), end(b)],
            kernel_link_local: true,
        }
    }

    /// Both ends in `ns`.
    #[must_use]
    pub fn in_netns(mut self, ns: &Netns) -> Self {
        for end in &mut self.ends {
            end.netns = Some(ns.name().to_owned());
        }
        self
    }

    /// The second end (`b`) in `ns`, the first where it was.
    #[must_use]
    pub fn peer_in(mut self, ns: &Netns) -> Self {
        self.ends[1].netns = Some(ns.name().to_owned());
        self
    }

    /// An address for `a`, with its prefix length (`10.77.0.1/24`, `fd77::1/64`).
    #[must_use]
    pub fn addr_a(mut self, cidr: &str) -> Self {
        self.ends[0].addrs.push(cidr.to_owned());
        self
    }

    /// An address for `b`, with its prefix length.
    #[must_use]
    pub fn addr_b(mut self, cidr: &str) -> Self {
        self.ends[1].addrs.push(cidr.to_owned());
        self
    }

    /// No link-local address of the kernel's making (`addrgenmode none`): only the addresses
    /// given here.
    #[must_use]
    pub fn no_kernel_link_local(mut self) -> Self {
        self.kernel_link_local = false;
        self
    }

    /// The name of end `a` (0) or `b` (1).
    #[must_use]
    pub fn name(&self, end: usize) -> &str {
        &self.ends[end].name
    }

    /// Makes the pair with its addresses, both ends left down (a test that brings a link up
    /// itself).
    ///
    /// # Panics
    ///
    /// When an `ip` command fails.
    pub fn create_down(&self) {
        let [a, b] = &self.ends;
        let mut add = vec![
            "link", "add", &a.name, "type", "veth", "peer", "name", &b.name,
        ];
        if let Some(ns) = &b.netns {
            add.extend(["netns", ns.as_str()]);
        }
        a.ip(&add);
        for end in &self.ends {
            if !self.kernel_link_local {
                end.ip(&["link", "set", &end.name, "addrgenmode", "none"]);
            }
            for addr in &end.addrs {
                let mut args = vec!["addr", "add", addr.as_str(), "dev", &end.name];
                if addr.contains(':') {
                    args.push("nodad");
                }
                end.ip(&args);
            }
        }
    }

    /// Sets both ends up.
    pub fn set_up(&self) {
        for end in &self.ends {
            end.ip(&["link", "set", &end.name, "up"]);
        }
    }

    /// [`create_down`](Self::create_down), then [`set_up`](Self::set_up); does not wait (see
    /// [`wait_ready`](Self::wait_ready)).
    pub fn create(&self) {
        self.create_down();
        self.set_up();
    }

    /// Waits (bounded by [`READY_WAIT`]) until the kernel has configured both ends: operstate
    /// UP (the carrier event, which linkwatch delivers late), no address still "tentative",
    /// and, where IPv6 is on, the kernel's link-local address (unless turned off) and the
    /// `ff00::/8` multicast route: before those, IPv6 multicast on the link is dropped.
    ///
    /// # Panics
    ///
    /// When the pair is not ready in time, with what `ip` showed.
    pub fn wait_ready(&self) {
        let deadline = Instant::now() + READY_WAIT;
        loop {
            let mut seen = String::new();
            let ready = self.ends.iter().all(|end| {
                let out = |args: &[&str]| stdout_of(&end.run(args));
                let link = out(&["ip", "-o", "link", "show", "dev", &end.name]);
                let addrs = out(&["ip", "-o", "addr", "show", "dev", &end.name]);
                let v6_off = out(&[
                    "sysctl",
                    "-n",
                    &format!("net.ipv6.conf.{}.disable_ipv6", end.name),
                ]);
                let routes = out(&["ip", "-6", "route", "show", "table", "local"]);
                seen.push_str(&format!("{link}{addrs}{routes}"));
                let v6 = v6_off.trim() == "0";
                link.contains("state UP")
                    && !addrs.contains("tentative")
                    && (!v6 || !self.kernel_link_local || addrs.contains("inet6 fe80:"))
                    && (!v6 || routes.contains(&format!("ff00::/8 dev {} ", end.name)))
            });
            if ready {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "veth pair {} — {} not ready after {READY_WAIT:?}:\n{seen}",
                self.ends[0].name,
                self.ends[1].name
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::privilege::{skip_unless_root, skip_without};

    fn skip(test: &str) -> bool {
        skip_unless_root(test) || skip_without("ip", test)
    }

    #[test]
    fn a_private_namespace_has_only_lo_and_goes_with_its_thread() {
        if skip("a_private_namespace_has_only_lo_and_goes_with_its_thread") {
            return;
        }
        let links = in_private_netns(|| {
            let pair = Veth::new("tka", "tkb")
                .no_kernel_link_local()
                .addr_a("fe80::a/64")
                .addr_a("10.79.0.1/24")
                .addr_b("fe80::b/64");
            pair.create();
            pair.wait_ready();
            let addrs = sh(&["ip", "-o", "addr", "show", "dev", "tka"]);
            assert!(addrs.contains("10.79.0.1/24") && addrs.contains("fe80::a/64"));
            sh(&["ip", "-o", "link", "show"])
        });
        assert!(
            links.contains(": lo:") && links.contains(": tka@tkb:"),
            "{links}"
        );
        // Not in the test's own namespace.
        assert!(!stdout_of(&["ip", "-o", "link", "show"]).contains("tka@"));
    }

    #[test]
    fn a_panic_in_the_namespace_reaches_the_caller() {
        if skip("a_panic_in_the_namespace_reaches_the_caller") {
            return;
        }
        let caught = std::panic::catch_unwind(|| in_private_netns(|| panic!("inside")));
        let payload = caught.expect_err("the panic crossed the thread");
        assert_eq!(payload.downcast_ref::<&str>(), Some(&"inside"));
    }

    #[test]
    fn a_named_namespace_across_a_pair_is_deleted_on_drop() {
        if skip("a_named_namespace_across_a_pair_is_deleted_on_drop") {
            return;
        }
        let (left, right) = (Netns::new("mcast-tk"), Netns::new("mcast-tk"));
        for ns in [&left, &right] {
            ns.ipv6_sysctl("disable_ipv6", 0);
            ns.ipv6_sysctl("accept_dad", 0);
        }
        let pair = Veth::new("va", "vb")
            .in_netns(&left)
            .peer_in(&right)
            .addr_a("fd79::1/64")
            .addr_b("fd79::2/64");
        pair.create();
        pair.wait_ready();
        assert!(right.exec(&["ip", "-o", "addr"]).contains("fd79::2/64"));
        assert!(left.dir().is_dir());
        let (name, dir) = (left.name().to_owned(), left.dir().to_owned());
        drop(left);
        assert!(!sh(&["ip", "netns", "list"]).contains(&name));
        assert!(!dir.exists());
    }

    #[test]
    fn an_isolated_command_sees_only_its_own_lo() {
        let Some(mut c) = isolated_command("ip") else {
            eprintln!("skipping an_isolated_command_sees_only_its_own_lo: not root and no user namespaces");
            return;
        };
        let out = c.args(["-o", "addr", "show"]).output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let addrs = String::from_utf8_lossy(&out.stdout);
        assert!(addrs.contains("127.0.0.1/8"), "{addrs}");
        assert!(addrs.lines().all(|l| l.contains(" lo ")), "{addrs}");
    }
}
