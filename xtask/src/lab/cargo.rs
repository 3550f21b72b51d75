//! Where the workspace and its target directory are, and the binaries cargo builds for a lab
//! (`mcast`, and any other by package and name), read from cargo's JSON messages.

use std::{
    path::{Path, PathBuf},
    process::{Command, Stdio},
};

use anyhow::{Context, Result};

use crate::netns::run;

/// The workspace root.
pub(crate) fn project_root() -> PathBuf {
    let xtask = Path::new(env!("CARGO_MANIFEST_DIR"));
    xtask.parent().unwrap_or(xtask).to_path_buf()
}

/// Cargo's target directory (`CARGO_TARGET_DIR` or `<root>/target`).
pub(crate) fn target_dir() -> PathBuf {
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(dir) => project_root().join(dir),
        None => project_root().join("target"),
    }
}

/// The cargo profile a binary is built with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Profile {
    /// `cargo build`: quick to build, what the demo, the lab and the tests use.
    Debug,
    /// `cargo build --release`: what `cargo xtask perf` measures.
    Release,
}

/// Builds the `mcast` binary once (`$CARGO build --message-format=json`, as aya does) and returns
/// its path (`quiet`: without cargo's progress lines). `MCAST_BIN` overrides it with a ready binary.
pub(crate) fn mcast_binary(profile: Profile, quiet: bool) -> Result<PathBuf> {
    if let Some(bin) = std::env::var_os("MCAST_BIN") {
        return Ok(PathBuf::from(bin));
    }
    cargo_binary("mcast-cli", "mcast", profile, quiet)
}

/// Builds the binary `bin` of `package` with cargo in `profile` and returns its path.
pub(crate) fn cargo_binary(
    package: &str,
    bin: &str,
    profile: Profile,
    quiet: bool,
) -> Result<PathBuf> {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.current_dir(project_root())
        .args(["build", "--package", package, "--bin", bin])
        .args((profile == Profile::Release).then_some("--release"))
        .arg("--message-format=json-render-diagnostics")
        .args(quiet.then_some("--quiet"))
        .stderr(Stdio::inherit());
    let out = run(&mut cmd)?;
    out.lines()
        .filter(|l| l.contains(r#""reason":"compiler-artifact""#))
        .filter_map(|l| json_string_field(l, "executable"))
        .map(PathBuf::from)
        .find(|p| p.file_name().is_some_and(|n| n == bin))
        .with_context(|| format!("{cmd:?} reported no `{bin}` executable"))
}

/// The value of the string field `key` of one line of cargo's JSON (`None` when the line is no
/// JSON object or the field is no string).
fn json_string_field(line: &str, key: &str) -> Option<String> {
    let message: serde_json::Value = serde_json::from_str(line).ok()?;
    message.get(key)?.as_str().map(str::to_owned)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cargo_json_executable_is_extracted() {
        let line = r#"{"reason":"compiler-artifact","target":{"name":"mcast"},"executable":"/t/debug/mc\"ast","fresh":true}"#;
        assert_eq!(
            json_string_field(line, "executable").as_deref(),
            Some("/t/debug/mc\"ast")
        );
        assert_eq!(
            json_string_field(r#"{"executable":null}"#, "executable"),
            None
        );
    }
}
