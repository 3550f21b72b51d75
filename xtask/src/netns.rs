//! Small wrappers around `std::process` for iproute2, nft and processes inside namespaces.

use std::{
    ffi::OsStr,
    io::{BufRead, BufReader, Read},
    path::{Path, PathBuf},
    process::{Child, Command, ExitStatus, Stdio},
    sync::{Arc, Mutex},
    thread::{self, JoinHandle},
    time::{Duration, Instant},
};

use anyhow::{bail, Context, Result};

/// Runs `cmd` to completion and returns its stdout; a non-zero exit is an error carrying stderr.
pub(crate) fn run(cmd: &mut Command) -> Result<String> {
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .with_context(|| format!("failed to run {cmd:?}"))?;
    if !out.status.success() {
        bail!(
            "{cmd:?} failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Runs `ip ARGS…` in the machine's namespace (only `netns` management and `-n NS …` go through here).
pub(crate) fn ip<S: AsRef<OsStr>>(args: &[S]) -> Result<String> {
    run(Command::new("ip").args(args))
}

/// Runs `ip -n NS ARGS…`, i.e. `ip` acting inside the namespace `ns`.
pub(crate) fn ip_in<S: AsRef<OsStr>>(ns: &str, args: &[S]) -> Result<String> {
    run(Command::new("ip").arg("-n").arg(ns).args(args))
}

/// A command that runs `program args…` inside the namespace `ns` (`ip netns exec`).
pub(crate) fn exec_in(ns: &str, program: impl AsRef<OsStr>) -> Command {
    let mut cmd = Command::new("ip");
    cmd.args(["netns", "exec", ns]).arg(program);
    cmd
}

/// Runs `program args…` inside `ns` to completion and returns its stdout.
pub(crate) fn run_in<S: AsRef<OsStr>>(ns: &str, program: &str, args: &[S]) -> Result<String> {
    run(exec_in(ns, program).args(args))
}

/// Writes `value` to a sysctl file inside `ns` (e.g. `net/ipv4/ip_forward`).
pub(crate) fn sysctl_in(ns: &str, key: &str, value: &str) -> Result<()> {
    run_in(ns, "sysctl", &["-q", "-w", &format!("{key}={value}")]).map(drop)
}

/// The names of all network namespaces (`ip netns list`, first word of each line).
pub(crate) fn list_netns() -> Result<Vec<String>> {
    Ok(ip(&["netns", "list"])?
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .map(str::to_owned)
        .collect())
}

/// The network namespaces whose names start with `prefix` (one lab's, or what is left of it).
pub(crate) fn list_netns_with_prefix(prefix: &str) -> Result<Vec<String>> {
    let mut all = list_netns()?;
    all.retain(|ns| ns.starts_with(prefix));
    Ok(all)
}

/// The pids of processes living in `ns` (`ip netns pids`).
pub(crate) fn pids_in(ns: &str) -> Vec<u32> {
    ip(&["netns", "pids", ns])
        .map(|s| s.lines().filter_map(|l| l.trim().parse().ok()).collect())
        .unwrap_or_default()
}

/// Finds `program` on `PATH` (or the sbin directories root usually has).
pub(crate) fn which(program: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/sbin", "/sbin", "/usr/local/sbin"].map(PathBuf::from))
        .map(|dir| dir.join(program))
        .find(|p| p.is_file())
}

type Lines = Arc<Mutex<Vec<String>>>;

/// A running process inside a namespace whose output is collected line by line.
///
/// Its stderr goes into the same pipe as its stdout (`2>&1`), so the lines keep the order a
/// terminal would show.
#[derive(Debug)]
pub(crate) struct Proc {
    /// The command line as the user would type it (`mcast recv …`).
    pub(crate) display: String,
    child: Child,
    lines: Lines,
    reader: Option<JoinHandle<()>>,
}

/// A finished [`Proc`].
#[derive(Debug, Clone)]
pub(crate) struct Finished {
    /// The command line as the user would type it.
    pub(crate) display: String,
    /// The exit code; `None` when killed by a signal (also when we stopped it after its deadline).
    pub(crate) code: Option<i32>,
    /// True when we had to kill it because it overran its deadline.
    pub(crate) killed: bool,
    /// Every output line (stdout and stderr) in the order the process wrote them.
    pub(crate) lines: Vec<String>,
}

impl Finished {
    /// The output lines.
    pub(crate) fn output(&self) -> impl Iterator<Item = &str> {
        self.lines.iter().map(String::as_str)
    }
}

/// Quotes `arg` for display in a shell-like command line.
pub(crate) fn shell_quote(arg: &str) -> String {
    if !arg.is_empty()
        && arg
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.,:/+=@%".contains(c))
    {
        arg.to_owned()
    } else {
        format!("\"{}\"", arg.replace('\\', "\\\\").replace('"', "\\\""))
    }
}

fn collect(reader: impl Read + Send + 'static, lines: Lines) -> JoinHandle<()> {
    thread::spawn(move || {
        for line in BufReader::new(reader).lines() {
            let Ok(line) = line else { break };
            lines.lock().unwrap_or_else(|e| e.into_inner()).push(line);
        }
    })
}

impl Proc {
    /// Starts `bin args…` inside `ns`; `name` replaces the binary's path in [`Proc::display`].
    pub(crate) fn spawn(ns: &str, bin: &Path, name: &str, args: &[&str]) -> Result<Self> {
        let mut cmd = exec_in(ns, "sh");
        cmd.args(["-c", "exec \"$0\" \"$@\" 2>&1"])
            .arg(bin)
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null());
        let mut child = cmd
            .spawn()
            .with_context(|| format!("failed to run {cmd:?}"))?;
        let lines = Lines::default();
        let reader = child.stdout.take().map(|out| collect(out, lines.clone()));
        let display = std::iter::once(name.to_owned())
            .chain(args.iter().map(|a| shell_quote(a)))
            .collect::<Vec<_>>()
            .join(" ");
        Ok(Self {
            display,
            child,
            lines,
            reader,
        })
    }

    /// Waits up to `timeout` for an output line matching `pred`; returns whether one came.
    pub(crate) fn wait_for_line(&mut self, timeout: Duration, pred: impl Fn(&str) -> bool) -> bool {
        let deadline = Instant::now() + timeout;
        loop {
            let seen = self
                .lines
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .iter()
                .any(|l| pred(l));
            if seen {
                return true;
            }
            // A process that already exited will print nothing more.
            if Instant::now() >= deadline || matches!(self.child.try_wait(), Ok(Some(_))) {
                return false;
            }
            thread::sleep(Duration::from_millis(20));
        }
    }

    /// Whether the process is still running.
    pub(crate) fn running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// How many output lines the process has printed so far.
    pub(crate) fn line_count(&self) -> usize {
        self.lines.lock().unwrap_or_else(|e| e.into_inner()).len()
    }

    /// Sends SIGINT (a Ctrl-C) to the process, by its id, so it can end with its summary.
    ///
    /// `ip netns exec` and the `sh -c exec …` wrapper both exec in place, so the child's id is
    /// the program's own. Does nothing when the process has exited already (it may have been
    /// reaped, and its id be another process's by now). Errors only when `kill` cannot be run.
    pub(crate) fn interrupt(&mut self) -> Result<()> {
        if matches!(self.child.try_wait(), Ok(Some(_))) {
            return Ok(());
        }
        run(Command::new("kill").args(["-INT", &self.child.id().to_string()])).map(drop)
    }

    /// Waits up to `timeout` for the process to exit, killing it after that, and collects its output.
    pub(crate) fn finish(mut self, timeout: Duration) -> Result<Finished> {
        let (status, killed) = wait_or_kill(&mut self.child, timeout)?;
        if let Some(reader) = self.reader.take() {
            let _ = reader.join();
        }
        let lines = std::mem::take(&mut *self.lines.lock().unwrap_or_else(|e| e.into_inner()));
        Ok(Finished {
            display: std::mem::take(&mut self.display),
            code: status.code(),
            killed,
            lines,
        })
    }
}

/// Waits up to `timeout` for `child` to exit, killing it (our own child, by its id) after that;
/// returns its status and whether it had to be killed.
pub(crate) fn wait_or_kill(child: &mut Child, timeout: Duration) -> Result<(ExitStatus, bool)> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(status) = child.try_wait()? {
            return Ok((status, false));
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            return Ok((child.wait()?, true));
        }
        thread::sleep(Duration::from_millis(20));
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        // Only reached when `finish` was not called (an error path): stop our child.
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::shell_quote;

    #[test]
    fn quoting_keeps_plain_words_and_quotes_the_rest() {
        assert_eq!(shell_quote("224.1.1.5"), "224.1.1.5");
        assert_eq!(shell_quote("--timeout"), "--timeout");
        assert_eq!(shell_quote("Hello, World!"), "\"Hello, World!\"");
        assert_eq!(shell_quote(""), "\"\"");
    }
}
