//! Error kinds the CLI distinguishes, and how `main` renders them.
//!
//! Every failure reaches `main` as an [`anyhow::Error`]. Two things decide how it is shown:
//!
//! - the **exit code**: an error whose chain holds a [`CliError`] of kind [`Kind::Usage`] exits
//!   with 2 (the user asked for something impossible), a broken pipe exits 0 (the reader went
//!   away, as in `mcast recv | head`), anything else exits 1 (it ran and failed);
//! - the **hint**: the first [`CliError`] hint in the chain, or else an adapter error's
//!   (`mcast_sync::Error`) hint in the CLI's words ([`crate::hints`]), is printed on a second line, `hint: …`.
//!
//! The message itself is the anyhow chain printed with `{:#}` after `error: `, on one line.

use std::fmt;
use std::io;
use std::process::ExitCode;

/// The exit code contract (ripgrep style): see the crate docs in `main.rs`.
pub(crate) mod exit {
    /// Success: the command did what was asked.
    pub(crate) const SUCCESS: u8 = 0;
    /// It ran and failed: a socket error, or nothing received before `--timeout`.
    pub(crate) const FAILURE: u8 = 1;
    /// A usage error: bad group, port, source or interface; clap errors.
    pub(crate) const USAGE: u8 = 2;
}

/// Whether an error is the user's input or a runtime failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// The input cannot work (exit 2).
    Usage,
    /// The command ran and failed (exit 1).
    Runtime,
}

/// An error the CLI itself raises, with a kind and an optional hint.
#[derive(Debug)]
pub(crate) struct CliError {
    kind: Kind,
    msg: String,
    hint: Option<String>,
}

impl CliError {
    /// A usage error (exit 2).
    pub(crate) fn usage(msg: impl fmt::Display) -> Self {
        Self {
            kind: Kind::Usage,
            msg: msg.to_string(),
            hint: None,
        }
    }

    /// A runtime failure (exit 1).
    pub(crate) fn runtime(msg: impl fmt::Display) -> Self {
        Self {
            kind: Kind::Runtime,
            msg: msg.to_string(),
            hint: None,
        }
    }

    /// The same error with a `hint: …` line.
    pub(crate) fn hint(mut self, hint: impl fmt::Display) -> Self {
        self.hint = Some(hint.to_string());
        self
    }
}

impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.msg)
    }
}

impl std::error::Error for CliError {}

/// Whether the error is a broken pipe somewhere in its chain.
/// An error and its sources on one line, `outer: inner: …`, for messages built from a library
/// error (whose own `Display` leaves the cause to `source()`).
pub(crate) fn chain_text(e: &(dyn std::error::Error + 'static)) -> String {
    std::iter::successors(Some(e), |e| e.source())
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(": ")
}

pub(crate) fn is_broken_pipe(err: &anyhow::Error) -> bool {
    err.chain().any(|e| {
        e.downcast_ref::<io::Error>()
            .is_some_and(|e| e.kind() == io::ErrorKind::BrokenPipe)
    })
}

/// The exit code for an error.
pub(crate) fn exit_code(err: &anyhow::Error) -> u8 {
    if is_broken_pipe(err) {
        return exit::SUCCESS;
    }
    let usage = err
        .chain()
        .filter_map(|e| e.downcast_ref::<CliError>())
        .any(|e| e.kind == Kind::Usage);
    if usage {
        exit::USAGE
    } else {
        exit::FAILURE
    }
}

/// The hint for an error, if any layer of it has one.
pub(crate) fn hint(err: &anyhow::Error) -> Option<String> {
    for e in err.chain() {
        if let Some(c) = e.downcast_ref::<CliError>() {
            if let Some(h) = &c.hint {
                return Some(h.clone());
            }
        }
        if let Some(h) = crate::hints::of(e) {
            return Some(h);
        }
    }
    None
}

/// Prints the error (and its hint) to stderr and returns the exit code. Never panics, even when
/// stderr is closed.
pub(crate) fn report(err: &anyhow::Error) -> ExitCode {
    use std::io::Write as _;
    let code = exit_code(err);
    if is_broken_pipe(err) {
        return ExitCode::from(code);
    }
    let mut line = format!("error: {err:#}");
    // One line: a multi-line OS message must not break the contract.
    line = line.replace('\n', " ");
    let mut stderr = io::stderr().lock();
    let _ = writeln!(stderr, "{line}");
    if let Some(h) = hint(err) {
        let _ = writeln!(stderr, "hint: {h}");
    }
    ExitCode::from(code)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chain_text_keeps_the_os_error() {
        let e = mcast_sync::Error::Io {
            context: "cannot read",
            // ENODEV on Linux.
            source: io::Error::from_raw_os_error(19),
        };
        let text = chain_text(&e);
        assert!(text.starts_with("cannot read: "), "{text}");
        assert!(text.contains("os error 19"), "{text}");
    }

    #[test]
    fn usage_errors_exit_2_through_context() {
        let e = anyhow::Error::new(CliError::usage("bad group")).context("parsing GROUPS");
        assert_eq!(exit_code(&e), exit::USAGE);
        let e = anyhow::Error::new(CliError::runtime("no datagram"));
        assert_eq!(exit_code(&e), exit::FAILURE);
        let e = anyhow::anyhow!("plain");
        assert_eq!(exit_code(&e), exit::FAILURE);
    }

    #[test]
    fn broken_pipe_is_success() {
        let e = anyhow::Error::new(io::Error::from(io::ErrorKind::BrokenPipe)).context("stdout");
        assert!(is_broken_pipe(&e));
        assert_eq!(exit_code(&e), exit::SUCCESS);
    }

    #[test]
    fn hints_are_found_in_the_chain() {
        let e = anyhow::Error::new(CliError::usage("no such interface").hint("list them"))
            .context("opening");
        assert_eq!(hint(&e).as_deref(), Some("list them"));
        assert_eq!(hint(&anyhow::anyhow!("x")), None);
    }
}
