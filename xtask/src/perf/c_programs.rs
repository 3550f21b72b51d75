//! The C programs of `cargo xtask perf` (`xtask/perf/*.c`), compiled at run time with `cc -O2`.

use std::path::{Path, PathBuf};

use anyhow::Result;

use crate::{lab::project_root, netns};

/// The compiled baseline sender and counter.
#[derive(Debug)]
pub(crate) struct CPrograms {
    /// `sendto_loop`: one sendto(2) per datagram.
    pub(crate) sender: PathBuf,
    /// `recvmmsg_count`: the independent receiver.
    pub(crate) counter: PathBuf,
    /// `pingpong`: the plain-socket ping-pong the ping rows compare with.
    pub(crate) pingpong: PathBuf,
}

impl CPrograms {
    /// Compiles both programs into `dir`.
    pub(crate) fn build(dir: &Path) -> Result<Self> {
        Ok(Self {
            sender: compile("sendto_loop", dir)?,
            counter: compile("recvmmsg_count", dir)?,
            pingpong: compile("pingpong", dir)?,
        })
    }
}

/// Compiles `xtask/perf/NAME.c` into `dir/NAME`; a compiler error is returned with its output.
fn compile(name: &str, dir: &Path) -> Result<PathBuf> {
    let source = project_root().join("xtask/perf").join(format!("{name}.c"));
    let out = dir.join(name);
    netns::run(
        std::process::Command::new("cc")
            .args(["-O2", "-Wall", "-o"])
            .arg(&out)
            .arg(&source),
    )?;
    Ok(out)
}
