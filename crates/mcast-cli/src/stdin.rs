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
        let (tx, rx) = mpsc::sync_channel(AHEAD);
        thread::Builder::new().name("stdin".into()).spawn(move || {
            let mut stdin = io::stdin().lock();
            loop {
                let mut line = Vec::new();
                match stdin.read_until(b'\n', &mut line) {
                    Ok(0) => return,
                    Ok(_) => {
                        if tx.send(Ok(line)).is_err() {
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

    /// Starts reading stdin on a thread without line splitting: each `read(2)` of at most `max`
    /// bytes is handed over as it is (a pipe writer's write of up to 4096 bytes, `PIPE_BUF`,
    /// arrives whole).
    pub(crate) fn spawn_raw(max: usize) -> io::Result<Self> {
        let (tx, rx) = mpsc::sync_channel(AHEAD);
        thread::Builder::new().name("stdin".into()).spawn(move || {
            let mut stdin = io::stdin().lock();
            let mut buf = vec![0u8; max.max(1)];
            loop {
                match stdin.read(&mut buf) {
                    Ok(0) => return,
                    Ok(n) => {
                        if tx.send(Ok(buf[..n].to_vec())).is_err() {
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
