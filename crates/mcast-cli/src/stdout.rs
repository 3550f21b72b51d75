//! Standard output through a writer thread, so that a slow or stalled reader never holds a
//! command's loop past a stop request.
//!
//! [`crate::output`] hands every stdout line to [`write`](fn@write), which queues it; one thread writes
//! the queue out, in order. The queue is bounded ([`QUEUE_BYTES`]): while it is full the
//! command waits, so a slow reader (`mcast recv | slow`) gets every line, but only until a
//! stop is requested (a signal: see [`crate::stop`]). From then on, lines that do not fit are
//! dropped, the loop ends at its next check, and the summary is given [`GRACE`] to get out:
//! [`settle`] says whether stdout drained in time; if not, the summary goes to stderr
//! ([`crate::output::final_line`]) and the command ends anyway, leaving the rest unwritten.
//!
//! When a write fails, the writer stops: a broken pipe (the reader went away) asks the
//! command to stop with [`Stop::StdoutClosed`] (exit 0, as `mcast recv | head -1` should);
//! a reader that goes away while nothing is written is noticed too, at once ([`watch_reader`],
//! for a pipe or a socket);
//! any other error (`ENOSPC` from `> /dev/full`) with [`Stop::StdoutFailed`], and [`finish`]
//! returns it, for `main` to report with context (exit 1).
//!
//! Stderr stays synchronous. So that a terminal shows lines in the order they were made,
//! [`catch_up`] lets stdout drain before a stderr line is written, as long as stdout keeps
//! moving (it does not wait for a stalled one).

use std::collections::VecDeque;
use std::io::{self, Write};
use std::sync::{Condvar, Mutex, MutexGuard, OnceLock};
use std::thread;
use std::time::{Duration, Instant};

use crate::stop::{self, Stop};

/// How many bytes may wait for the writer before a new line waits for room.
const QUEUE_BYTES: usize = 64 * 1024;

/// How long the output may take to get out once a stop was requested.
pub(crate) const GRACE: Duration = Duration::from_millis(500);

/// A write that has made no progress for this long means the reader is not reading.
const STALLED: Duration = Duration::from_millis(100);

/// How long [`catch_up`] waits at most for a stdout that keeps moving.
const CATCH_UP: Duration = Duration::from_secs(1);

/// How often a waiting caller looks at the stop flag.
const POLL: Duration = Duration::from_millis(20);

/// The writer writes at most this much per system call, so its progress is seen.
const CHUNK: usize = 16 * 1024;

/// What became of stdout.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Health {
    /// It takes output.
    Open,
    /// Its reader went away (`EPIPE`).
    Closed,
    /// A write failed otherwise; the error waits in [`State::failure`].
    Failed,
}

/// What the command and the writer thread share.
#[derive(Debug)]
struct State {
    /// Lines not yet taken by the writer.
    queue: VecDeque<Vec<u8>>,
    /// Bytes queued or being written.
    pending: usize,
    /// When the writer last started or advanced a write it has not finished.
    writing_since: Option<Instant>,
    health: Health,
    /// The failed write's error, until [`finish`] takes it.
    failure: Option<io::Error>,
    /// The end of the grace after a stop request, from when it was first noticed.
    grace_end: Option<Instant>,
    /// Set once stdout was given up on (it did not drain within the grace): final lines go to
    /// stderr.
    given_up: bool,
    /// Lines dropped after a stop request because the queue was full.
    dropped: u64,
}

#[derive(Debug)]
struct Writer {
    state: Mutex<State>,
    /// Notified whenever the queue or the health changes.
    changed: Condvar,
}

static WRITER: OnceLock<Writer> = OnceLock::new();

impl Writer {
    /// The writer, its thread started on first use.
    fn get() -> &'static Self {
        WRITER.get_or_init(|| {
            // `get_or_init` runs this once; the thread waits on the state until then.
            thread::Builder::new()
                .name("stdout".into())
                .spawn(|| {
                    let w = WRITER.get_or_init(|| unreachable!("initialised before the spawn"));
                    w.run(io::stdout());
                })
                .map_or_else(|_| Self::new(Health::Failed), |_| Self::new(Health::Open))
        })
    }

    fn new(health: Health) -> Self {
        Self {
            state: Mutex::new(State {
                queue: VecDeque::new(),
                pending: 0,
                writing_since: None,
                health,
                failure: (health == Health::Failed)
                    .then(|| io::Error::other("cannot start the stdout writer thread")),
                grace_end: None,
                given_up: false,
                dropped: 0,
            }),
            changed: Condvar::new(),
        }
    }

    fn lock(&'static self) -> MutexGuard<'static, State> {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn wait(
        &'static self,
        st: MutexGuard<'static, State>,
        at_most: Duration,
    ) -> MutexGuard<'static, State> {
        self.changed
            .wait_timeout(st, at_most)
            .map_or_else(|e| e.into_inner().0, |(g, _)| g)
    }

    /// The writer thread: takes everything queued, writes it, repeats; ends at the first
    /// failed write.
    fn run(&'static self, mut out: impl Write) {
        let mut batch = Vec::new();
        loop {
            let mut st = self.lock();
            while st.queue.is_empty() {
                st = self
                    .changed
                    .wait(st)
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
            }
            batch.clear();
            for line in st.queue.drain(..) {
                batch.extend_from_slice(&line);
            }
            st.writing_since = Some(Instant::now());
            drop(st);
            let mut result = Ok(());
            for chunk in batch.chunks(CHUNK) {
                result = out.write_all(chunk).and_then(|()| out.flush());
                if result.is_err() {
                    break;
                }
                self.lock().writing_since = Some(Instant::now());
            }
            let mut st = self.lock();
            st.writing_since = None;
            st.pending = st.pending.saturating_sub(batch.len());
            if let Err(e) = result {
                st.queue.clear();
                st.pending = 0;
                let reason = if e.kind() == io::ErrorKind::BrokenPipe {
                    st.health = Health::Closed;
                    Stop::StdoutClosed
                } else {
                    st.health = Health::Failed;
                    st.failure = Some(e);
                    Stop::StdoutFailed
                };
                drop(st);
                stop::request(reason);
                self.changed.notify_all();
                return;
            }
            drop(st);
            self.changed.notify_all();
        }
    }

    /// Stdout's reader went away before a write noticed ([`watch_reader`]): stdout is closed,
    /// as after a broken pipe, and the command asked to stop.
    fn reader_went_away(&'static self) {
        let mut st = self.lock();
        if st.health == Health::Open {
            st.health = Health::Closed;
            st.queue.clear();
            st.pending = 0;
        }
        drop(st);
        stop::request(Stop::StdoutClosed);
        self.changed.notify_all();
    }

    /// Queues `bytes`; `room` says whether to wait for room in the queue first.
    fn push(&'static self, bytes: Vec<u8>, room: bool) {
        let mut st = self.lock();
        loop {
            if st.health != Health::Open {
                // The command stops at its next check; nothing can be written any more.
                return;
            }
            if !room || st.pending == 0 || st.pending + bytes.len() <= QUEUE_BYTES {
                break;
            }
            if stop::requested() {
                st.dropped += 1;
                return;
            }
            st = self.wait(st, POLL);
        }
        st.pending += bytes.len();
        st.queue.push_back(bytes);
        drop(st);
        self.changed.notify_all();
    }

    /// Waits while `busy` holds: without limit (but see `limit`) while no stop is
    /// requested, then until the grace ends. Returns the state and whether `busy` ended.
    fn wait_while(
        &'static self,
        limit: Option<Instant>,
        busy: impl Fn(&State) -> bool,
    ) -> (MutexGuard<'static, State>, bool) {
        let mut st = self.lock();
        loop {
            if st.health != Health::Open || st.given_up || !busy(&st) {
                let done = !busy(&st);
                return (st, done);
            }
            let now = Instant::now();
            let mut until = limit;
            if stop::requested() {
                let end = *st.grace_end.get_or_insert(now + GRACE);
                until = Some(until.map_or(end, |l| l.min(end)));
            }
            let wait = match until {
                Some(u) if u <= now => return (st, false),
                Some(u) => (u - now).min(POLL),
                None => POLL,
            };
            st = self.wait(st, wait);
        }
    }
}

/// Starts watching for stdout's reader to go away, so that a command that writes nothing for
/// a while (a receiver that hears nothing: `mcast recv … | true`) stops as soon as it does,
/// not at its next write. Only a pipe or a socket has a reader to lose; for anything else (a
/// terminal, a file, `/dev/null`) nothing is started. A thread waits in `poll` on fd 1 for
/// `POLLERR` (a pipe whose reading end is closed) or `POLLHUP` (a socket shut down both ways);
/// then stdout is closed, as after a broken pipe, and a stop is requested with
/// [`Stop::StdoutClosed`], which the command's loop notices at its next check.
pub(crate) fn watch_reader() {
    if !has_reader(libc::STDOUT_FILENO) {
        return;
    }
    // A thread that cannot start costs only the prompt notice: the next write still fails.
    let _ = thread::Builder::new()
        .name("stdout-reader".into())
        .spawn(|| {
            if reader_gone(libc::STDOUT_FILENO, -1) {
                Writer::get().reader_went_away();
            }
        });
}

/// Whether `fd` is a pipe or a socket (what has a reader that can go away).
fn has_reader(fd: libc::c_int) -> bool {
    // SAFETY: `stat` is plain data, for which all zeroes is a valid value.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: `fstat` writes into the `stat` given; any fd value is safe to pass.
    if unsafe { libc::fstat(fd, &mut st) } != 0 {
        return false;
    }
    matches!(st.st_mode & libc::S_IFMT, libc::S_IFIFO | libc::S_IFSOCK)
}

/// Waits until the reader of `fd` (a pipe or socket) goes away: `true` then, `false` when `fd`
/// is not open or cannot be polled, or after `timeout_ms` (`-1`: no timeout).
fn reader_gone(fd: libc::c_int, timeout_ms: libc::c_int) -> bool {
    let mut p = libc::pollfd {
        fd,
        // No event asked for: `POLLERR` and `POLLHUP` are reported regardless.
        events: 0,
        revents: 0,
    };
    loop {
        // SAFETY: one valid `pollfd`, and its count.
        let n = unsafe { libc::poll(&mut p, 1, timeout_ms) };
        if n < 0 {
            if io::Error::last_os_error().kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return false;
        }
        if n == 0 {
            return false;
        }
        if p.revents & libc::POLLNVAL != 0 {
            return false;
        }
        if p.revents & (libc::POLLERR | libc::POLLHUP) != 0 {
            return true;
        }
    }
}

/// Queues `bytes` for stdout, waiting for room while the queue is full, until a stop is
/// requested (then the bytes are dropped). Nothing is written once stdout failed.
pub(crate) fn write(bytes: Vec<u8>) {
    Writer::get().push(bytes, true);
}

/// Queues `bytes` when stdout takes output and drained within the grace ([`settle`]);
/// returns them when it did not, for the caller to write elsewhere.
pub(crate) fn write_final(bytes: Vec<u8>) -> Result<(), Vec<u8>> {
    if settle() {
        Writer::get().push(bytes, false);
        Ok(())
    } else {
        Err(bytes)
    }
}

/// Waits until everything queued is written: as long as it takes while the command runs on,
/// at most until the grace after a stop request ends. Returns whether stdout still takes
/// output (open, drained, not given up on); once it did not drain in time it is given up
/// on for good.
pub(crate) fn settle() -> bool {
    let Some(w) = WRITER.get() else {
        // Nothing was written yet.
        return true;
    };
    let (mut st, drained) = w.wait_while(None, |st| st.pending > 0);
    if st.health == Health::Open && !drained {
        st.given_up = true;
    }
    st.health == Health::Open && !st.given_up && drained
}

/// Lets stdout drain before a stderr line, so a terminal shows both in order: waits while
/// stdout has lines pending and its writer is not stalled, at most [`CATCH_UP`] (and only
/// within the grace after a stop request).
pub(crate) fn catch_up() {
    let Some(w) = WRITER.get() else {
        return;
    };
    let limit = Instant::now() + CATCH_UP;
    let _ = w.wait_while(Some(limit), |st| {
        st.pending > 0 && st.writing_since.is_none_or(|t| t.elapsed() < STALLED)
    });
}

/// At the end of `main`: lets what is queued out ([`settle`]) and returns the error of a
/// failed write, if one failed. Says on stderr how much output was left unwritten when stdout
/// was given up on.
pub(crate) fn finish() -> io::Result<()> {
    let Some(w) = WRITER.get() else {
        return Ok(());
    };
    settle();
    let mut st = w.lock();
    let unwritten = st.pending;
    if st.health == Health::Open && (unwritten > 0 || st.dropped > 0) {
        let dropped = st.dropped;
        drop(st);
        let mut what = Vec::new();
        if dropped > 0 {
            what.push(format!(
                "{} dropped after the stop request",
                crate::output::count(dropped, "line")
            ));
        }
        if unwritten > 0 {
            what.push(format!(
                "{} left unwritten",
                crate::output::count(unwritten as u64, "byte")
            ));
        }
        let _ = writeln!(
            io::stderr().lock(),
            "note: stdout was not read fast enough: {}",
            what.join(", ")
        );
        st = w.lock();
    }
    match st.failure.take() {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

/// The error of a failed write to stdout, with what failed and, for a full device, a hint.
pub(crate) fn error(e: &io::Error) -> crate::errors::CliError {
    let err = crate::errors::CliError::runtime(format!("cannot write to standard output: {e}"));
    match e.kind() {
        io::ErrorKind::StorageFull | io::ErrorKind::QuotaExceeded => err.hint(
            "the file system (or device) that stdout goes to is full: free some space, or send \
             the output elsewhere",
        ),
        io::ErrorKind::FileTooLarge => err.hint(
            "the file that stdout goes to has reached the size limit (`ulimit -f`): send the \
             output elsewhere",
        ),
        _ => err,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // The queue's rules without the thread: a full queue drops nothing before a stop request,
    // and health other than open takes nothing.
    #[test]
    fn a_failed_writer_takes_nothing() {
        let w: &'static Writer = Box::leak(Box::new(Writer::new(Health::Failed)));
        w.push(b"x\n".to_vec(), true);
        let st = w.lock();
        assert!(st.queue.is_empty());
        assert!(st.failure.is_some());
    }

    // issue #9 — `recv > /dev/full` says what failed, and why.
    #[test]
    fn a_full_device_is_named_with_a_hint() {
        let e = error(&io::Error::from(io::ErrorKind::StorageFull));
        assert!(
            e.to_string()
                .starts_with("cannot write to standard output: "),
            "{e}"
        );
        let e = anyhow::Error::new(e);
        assert!(crate::errors::hint(&e).unwrap().contains("is full"));
        assert_eq!(crate::errors::exit_code(&e), crate::errors::exit::FAILURE);
    }

    // Review fix — a pipe whose reader went away is seen without a write; one still read is
    // not; a file has no reader to lose.
    #[test]
    fn a_pipe_without_its_reader_is_seen_without_writing() {
        let mut fds = [0; 2];
        // SAFETY: two fds for `pipe` to fill.
        assert_eq!(unsafe { libc::pipe(fds.as_mut_ptr()) }, 0);
        let [read, write] = fds;
        assert!(has_reader(write));
        assert!(!reader_gone(write, 0), "the reader is still there");
        // SAFETY: closes the fds made above, once each.
        unsafe { libc::close(read) };
        assert!(reader_gone(write, 1000));
        // SAFETY: as above.
        unsafe { libc::close(write) };
        let file = std::fs::File::open("/proc/self/limits").unwrap();
        assert!(!has_reader(std::os::fd::AsRawFd::as_raw_fd(&file)));
    }

    #[test]
    fn lines_queue_in_order_within_the_bound() {
        let w: &'static Writer = Box::leak(Box::new(Writer::new(Health::Open)));
        w.push(b"a\n".to_vec(), true);
        w.push(b"b\n".to_vec(), true);
        // A final line goes in past the bound.
        w.push(vec![b'c'; QUEUE_BYTES + 1], false);
        let st = w.lock();
        assert_eq!(st.queue.len(), 3);
        assert_eq!(st.queue[0], b"a\n");
        assert_eq!(st.pending, 4 + QUEUE_BYTES + 1);
    }
}
