//! Shared helpers for the `mcast` integration tests, in ripgrep's style: run the built binary
//! (`CARGO_BIN_EXE_mcast`), read its output line by line on threads, bound every wait with a
//! timeout, and kill every child process on drop so a failing test leaves nothing running.
//!
//! Network safety: every helper here pins the interface to 127.0.0.1 and sends with TTL 0
//! (loopback delivery still works, and nothing could cross a router); nothing relies
//! on the kernel's default multicast interface.

#![allow(dead_code)]

pub(crate) mod netns;

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

/// How long any single wait in a test may take before the test fails.
pub(crate) const WAIT: Duration = Duration::from_secs(20);

/// The loopback address every test pins (mcast-testkit's).
pub(crate) use mcast_testkit::loopback::LO;

/// A `Command` for the built `mcast` binary.
pub(crate) fn mcast() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_mcast"));
    cmd.env_remove("RUST_BACKTRACE")
        .env_remove("RUST_LIB_BACKTRACE")
        .env_remove("RUST_LOG");
    cmd
}

/// The finished output of a command.
#[derive(Debug)]
pub(crate) struct Output {
    /// The exit status.
    pub(crate) status: ExitStatus,
    /// Stdout lines.
    pub(crate) stdout: Vec<String>,
    /// Stderr lines.
    pub(crate) stderr: Vec<String>,
}

impl Output {
    /// The exit code (`-1` when killed by a signal).
    pub(crate) fn code(&self) -> i32 {
        self.status.code().unwrap_or(-1)
    }

    /// Stderr as one string, for assertions and messages.
    pub(crate) fn stderr_text(&self) -> String {
        self.stderr.join("\n")
    }

    /// Stdout as one string.
    pub(crate) fn stdout_text(&self) -> String {
        self.stdout.join("\n")
    }

    /// Every stdout line parsed as JSON.
    pub(crate) fn json(&self) -> Vec<serde_json::Value> {
        self.stdout
            .iter()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l:?}")))
            .collect()
    }

    /// Asserts nothing panicked and no backtrace was printed.
    pub(crate) fn assert_no_panic(&self) {
        let err = self.stderr_text();
        assert!(!err.contains("panicked"), "a panic:\n{err}");
        assert!(
            !err.to_lowercase().contains("backtrace"),
            "a backtrace:\n{err}"
        );
    }

    /// Asserts the command exited 0 and nothing panicked.
    pub(crate) fn assert_success(&self) {
        self.assert_no_panic();
        assert_eq!(self.code(), 0, "{}", self.stderr_text());
    }
}

/// A running child process whose stdout and stderr are read line by line; killed on drop.
pub(crate) struct Proc {
    name: String,
    child: Child,
    stdin: Option<ChildStdin>,
    stdout: Receiver<String>,
    stderr: Receiver<String>,
    stdout_all: Arc<Mutex<Vec<String>>>,
    stderr_all: Arc<Mutex<Vec<String>>>,
    readers: Vec<thread::JoinHandle<()>>,
}

fn pump(
    r: impl std::io::Read + Send + 'static,
    all: Arc<Mutex<Vec<String>>>,
) -> (Receiver<String>, thread::JoinHandle<()>) {
    let (tx, rx) = mpsc::channel();
    let h = thread::spawn(move || {
        for line in BufReader::new(r).lines() {
            let Ok(line) = line else { break };
            all.lock().unwrap().push(line.clone());
            let _ = tx.send(line);
        }
    });
    (rx, h)
}

impl Proc {
    /// Spawns `cmd` with piped stdin, stdout and stderr.
    pub(crate) fn spawn(name: &str, cmd: Command) -> Self {
        Self::spawn_with(name, cmd, true)
    }

    /// Spawns `cmd` with its stdout a pipe whose reading end is already closed, as in
    /// `mcast recv ... | head -0`: the first write gets a broken pipe.
    pub(crate) fn spawn_stdout_closed(name: &str, cmd: Command) -> Self {
        Self::spawn_with(name, cmd, false)
    }

    fn spawn_with(name: &str, mut cmd: Command, keep_stdout: bool) -> Self {
        cmd.stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {name}: {e}"));
        let stdout_all = Arc::new(Mutex::new(Vec::new()));
        let stderr_all = Arc::new(Mutex::new(Vec::new()));
        let out = child.stdout.take().unwrap();
        let (stdout, h1) = if keep_stdout {
            pump(out, Arc::clone(&stdout_all))
        } else {
            drop(out);
            pump(std::io::empty(), Arc::clone(&stdout_all))
        };
        let (stderr, h2) = pump(child.stderr.take().unwrap(), Arc::clone(&stderr_all));
        Self {
            name: name.to_owned(),
            stdin: child.stdin.take(),
            child,
            stdout,
            stderr,
            stdout_all,
            stderr_all,
            readers: vec![h1, h2],
        }
    }

    /// Spawns `mcast ARGS`.
    pub(crate) fn mcast(args: &[&str]) -> Self {
        let mut cmd = mcast();
        cmd.args(args);
        Self::spawn(&format!("mcast {}", args.join(" ")), cmd)
    }

    /// Waits (bounded) for a stderr line containing `needle`; panics with everything seen
    /// when it does not come.
    pub(crate) fn wait_stderr(&mut self, needle: &str) -> String {
        wait_line(&self.name, &self.stderr, &self.stderr_all, needle, "stderr")
    }

    /// Waits (bounded) for a stdout line containing `needle`.
    pub(crate) fn wait_stdout(&mut self, needle: &str) -> String {
        wait_line(&self.name, &self.stdout, &self.stdout_all, needle, "stdout")
    }

    /// Waits (bounded) until a receiver says it is listening: every join is done.
    pub(crate) fn wait_listening(&mut self) -> String {
        self.wait_stderr("listening on")
    }

    /// Sends SIGINT (Ctrl-C) to the child, with the `kill` utility.
    pub(crate) fn interrupt(&self) {
        let status = Command::new("kill")
            .args(["-INT", &self.child.id().to_string()])
            .status()
            .expect("run kill");
        assert!(status.success(), "kill -INT failed");
    }

    /// Sends `signal` (`STOP`, `CONT`, `TERM`, ...) to the child, by its PID, with `kill`.
    pub(crate) fn signal(&self, signal: &str) {
        let status = Command::new("kill")
            .args([&format!("-{signal}"), &self.child.id().to_string()])
            .status()
            .expect("run kill");
        assert!(status.success(), "kill -{signal} failed");
    }

    /// Writes to the child's stdin.
    pub(crate) fn write_stdin(&mut self, data: &[u8]) {
        let stdin = self.stdin.as_mut().expect("stdin already closed");
        stdin.write_all(data).expect("write to child stdin");
        stdin.flush().expect("flush child stdin");
    }

    /// Closes the child's stdin (EOF).
    pub(crate) fn close_stdin(&mut self) {
        self.stdin = None;
    }

    /// Waits (bounded by [`WAIT`]) for the child to exit and collects its output; kills it and
    /// panics if it does not exit in time.
    pub(crate) fn finish(mut self) -> Output {
        self.stdin = None;
        let deadline = Instant::now() + WAIT;
        let status = loop {
            if let Some(s) = self.child.try_wait().expect("try_wait") {
                break s;
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                let _ = self.child.wait();
                panic!(
                    "{} did not exit within {WAIT:?}\nstdout:\n{}\nstderr:\n{}",
                    self.name,
                    self.stdout_all.lock().unwrap().join("\n"),
                    self.stderr_all.lock().unwrap().join("\n")
                );
            }
            thread::sleep(Duration::from_millis(10));
        };
        for h in self.readers.drain(..) {
            let _ = h.join();
        }
        Output {
            status,
            stdout: self.stdout_all.lock().unwrap().clone(),
            stderr: self.stderr_all.lock().unwrap().clone(),
        }
    }

    /// [`finish`](Self::finish), then asserts the child exited 0 and nothing panicked.
    pub(crate) fn finish_ok(self) -> Output {
        let out = self.finish();
        out.assert_success();
        out
    }
}

fn wait_line(
    name: &str,
    rx: &Receiver<String>,
    all: &Arc<Mutex<Vec<String>>>,
    needle: &str,
    stream: &str,
) -> String {
    let deadline = Instant::now() + WAIT;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(line) if line.contains(needle) => return line,
            Ok(_) => {}
            Err(RecvTimeoutError::Timeout | RecvTimeoutError::Disconnected) => panic!(
                "{name}: no {stream} line containing {needle:?} within {WAIT:?}; {stream} so far:\n{}",
                all.lock().unwrap().join("\n")
            ),
        }
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs `mcast ARGS` to completion (bounded) with empty stdin.
pub(crate) fn run(args: &[&str]) -> Output {
    let mut p = Proc::mcast(args);
    p.close_stdin();
    p.finish()
}

/// Runs a Python 3 program (socket module only, like the lecture's) with arguments.
pub(crate) fn python(script: &str, args: &[&str]) -> Proc {
    let mut cmd = Command::new("python3");
    cmd.arg("-u").arg("-c").arg(script).args(args);
    Proc::spawn("python3", cmd)
}

/// The lecture's sender in Python, but with TTL 0 (the lecture uses 1; a test stays on this
/// host): `IP_MULTICAST_IF` pinned to 127.0.0.1; sends each message once to GROUP PORT.
pub(crate) const PY_SENDER: &str = r#"
import socket, sys
group, port = sys.argv[1], int(sys.argv[2])
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM, socket.IPPROTO_UDP)
s.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL, 0)
s.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF, socket.inet_aton("127.0.0.1"))
for msg in sys.argv[3:]:
    s.sendto(msg.encode(), (group, port))
"#;

/// The lecture's receiver in Python: binds (GROUP, PORT), joins on 127.0.0.1 with
/// `struct.pack("=4s4s", ...)`, prints "ready" once joined, then prints one datagram. It gives
/// up after 10 s (socket timeout).
pub(crate) const PY_RECEIVER: &str = r#"
import socket, struct, sys
group, port = sys.argv[1], int(sys.argv[2])
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM, socket.IPPROTO_UDP)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind((group, port))
mreq = struct.pack("=4s4s", socket.inet_aton(group), socket.inet_aton("127.0.0.1"))
s.setsockopt(socket.IPPROTO_IP, socket.IP_ADD_MEMBERSHIP, mreq)
s.settimeout(10)
print("ready", file=sys.stderr, flush=True)
data, addr = s.recvfrom(65536)
print(data.decode(errors="replace"), flush=True)
"#;

/// Sends one datagram "g<N>" to each of COUNT consecutive groups from FIRST, via 127.0.0.1
/// with TTL 0, pacing a little so the receiver's buffers keep up. Bounded by COUNT.
pub(crate) const PY_MANY_GROUPS: &str = r#"
import socket, sys, time, ipaddress
first, count, port = ipaddress.IPv4Address(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM, socket.IPPROTO_UDP)
s.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL, 0)
s.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF, socket.inet_aton("127.0.0.1"))
for i in range(count):
    s.sendto(b"g%d" % i, (str(first + i), port))
    if i % 20 == 19:
        time.sleep(0.002)
"#;
