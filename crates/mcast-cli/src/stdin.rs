//! Standard input read on a thread, line by line or (`send --raw`) one `read(2)` at a time, so
//! that a command waiting for the next line still honours a stop request (`mcast send` reading
//! stdin: Ctrl-C, SIGTERM, SIGHUP).

use std::io::{self, BufRead, Read};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::thread;
use std::time::Duration;

use crate::stop;

/// How often a wait for the next line looks at the stop flag.
const POLL: Duration = Duration::from_millis(50);

/// Lines read ahead at most.
const AHEAD: usize = 64;

/// What the reader hands over.
pub(crate) enum Line {
    /// A line, its line ending included (the last one may have none); with
    /// [`Lines::spawn_raw`], the bytes of one read, exactly as they came.
    Text(Vec<u8>),
    /// Stdin ended.
    Eof,
    /// A stop was requested while waiting.
    Stopped,
}

/// Stdin's lines, read by a thread.
pub(crate) struct Lines {
    rx: Receiver<io::Result<Vec<u8>>>,
}

impl Lines {
    /// Starts reading stdin on a thread.
    pub(crate) fn spawn() -> io::Result<Self> {
        Self::spawn_with(|stdin| {
            let mut line = Vec::new();
            stdin.read_until(b'\n', &mut line).map(|_| line)
        })
    }

    /// Starts reading stdin on a thread without line splitting: each `read(2)` of at most `max`
    /// bytes is handed over as it is (a pipe writer's write of up to 4096 bytes, `PIPE_BUF`,
    /// arrives whole).
    pub(crate) fn spawn_raw(max: usize) -> io::Result<Self> {
        let mut buf = vec![0u8; max.max(1)];
        Self::spawn_with(move |stdin| stdin.read(&mut buf).map(|n| buf[..n].to_vec()))
    }

    /// Starts the thread: `read` takes the next piece of stdin (empty at its end) until stdin
    /// ends, a read fails (handed over, then the thread ends) or nobody listens any more.
    fn spawn_with(
        mut read: impl FnMut(&mut io::StdinLock<'static>) -> io::Result<Vec<u8>> + Send + 'static,
    ) -> io::Result<Self> {
        let (tx, rx) = mpsc::sync_channel(AHEAD);
        thread::Builder::new().name("stdin".into()).spawn(move || {
            let mut stdin = io::stdin().lock();
            loop {
                match read(&mut stdin) {
                    Ok(piece) if piece.is_empty() => return,
                    Ok(piece) => {
                        if tx.send(Ok(piece)).is_err() {
                            return;
                        }
                    }
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => {
                        let _ = tx.send(Err(e));
                        return;
                    }
                }
            }
        })?;
        Ok(Self { rx })
    }

    /// The next line, waiting as long as it takes unless a stop is requested.
    pub(crate) fn next(&self) -> io::Result<Line> {
        loop {
            if stop::requested() {
                return Ok(Line::Stopped);
            }
            match self.rx.recv_timeout(POLL) {
                Ok(Ok(line)) => return Ok(Line::Text(line)),
                Ok(Err(e)) => return Err(e),
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => return Ok(Line::Eof),
            }
        }
    }
}
