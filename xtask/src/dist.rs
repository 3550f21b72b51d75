//! `cargo xtask dist`: what a package of `mcast` holds, under `<target>/dist/`.
//!
//! ```text
//! target/dist/
//! ├── mcast                        the binary (release profile; --debug: the debug one)
//! ├── completions/mcast.bash       bash (bash-completion's directory takes it as it is)
//! ├── completions/_mcast           zsh (a directory on $fpath)
//! ├── completions/mcast.fish       fish (~/.config/fish/completions)
//! └── man/man1/mcast.1, mcast-SUBCOMMAND.1 …
//! ```
//!
//! The completions and man pages come from the built binary itself (`mcast completions SHELL
//! --dir`, `mcast man --dir`), so they are generated from the same clap definitions as its
//! `--help`, by the code a user runs. The directory is emptied first, so it holds exactly one
//! build's files; [`check`] then insists that every file is there and not empty, with a man page
//! for each subcommand the main page names.

use std::{
    path::{Path, PathBuf},
    process::Command,
};

use anyhow::{bail, Context, Result};

use crate::{
    lab::{cargo_binary, target_dir, Profile},
    netns::run,
};

/// The shells whose completion scripts a dist holds, with the file each one's script goes to.
const SHELLS: [(&str, &str); 3] = [
    ("bash", "mcast.bash"),
    ("zsh", "_mcast"),
    ("fish", "mcast.fish"),
];

/// `cargo xtask dist`
#[derive(clap::Args, Debug)]
pub(crate) struct Opt {
    /// Package the debug build instead of the release one (quicker to build; CI's check).
    #[arg(long)]
    debug: bool,
}

/// Runs `cargo xtask dist`: builds, writes, checks and lists what was written.
pub(crate) fn run_cmd(opt: &Opt) -> Result<i32> {
    let profile = if opt.debug {
        Profile::Debug
    } else {
        Profile::Release
    };
    let bin = cargo_binary("mcast-cli", "mcast", profile, false)?;
    let dir = target_dir().join("dist");
    let written = write(&bin, &dir)?;
    let problems = check(&dir);
    if !problems.is_empty() {
        bail!(
            "{} is incomplete:\n  {}",
            dir.display(),
            problems.join("\n  ")
        );
    }
    let total: u64 = written.iter().map(|(_, size)| size).sum();
    outln!(
        "{} ({} build):",
        dir.display(),
        if opt.debug { "debug" } else { "release" }
    );
    for (path, size) in &written {
        let shown = path.strip_prefix(&dir).unwrap_or(path);
        outln!("  {size:>10}  {}", shown.display());
    }
    outln!("  {total:>10}  bytes in {} files", written.len());
    Ok(0)
}

/// Empties `dir` and writes into it the binary `bin`, its completion scripts and its man
/// pages; returns every file written with its size, in path order.
pub(crate) fn write(bin: &Path, dir: &Path) -> Result<Vec<(PathBuf, u64)>> {
    if dir.exists() {
        std::fs::remove_dir_all(dir).with_context(|| format!("cannot empty {}", dir.display()))?;
    }
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let copy = dir.join("mcast");
    std::fs::copy(bin, &copy)
        .with_context(|| format!("cannot copy {} to {}", bin.display(), copy.display()))?;
    // The binary creates the directories it is told to write into.
    let completions = dir.join("completions");
    for (shell, _) in SHELLS {
        run(Command::new(bin)
            .args(["-q", "completions", shell, "--dir"])
            .arg(&completions))?;
    }
    run(Command::new(bin)
        .args(["-q", "man", "--dir"])
        .arg(dir.join("man/man1")))?;
    let mut files = Vec::new();
    walk(dir, &mut files)?;
    files.sort();
    Ok(files)
}

/// Every file under `dir` with its size.
fn walk(dir: &Path, files: &mut Vec<(PathBuf, u64)>) -> Result<()> {
    for entry in std::fs::read_dir(dir).with_context(|| format!("cannot list {}", dir.display()))? {
        let entry = entry?;
        let meta = entry.metadata()?;
        if meta.is_dir() {
            walk(&entry.path(), files)?;
        } else {
            files.push((entry.path(), meta.len()));
        }
    }
    Ok(())
}

/// What is missing or empty in the dist at `dir`: the binary, the three completion scripts,
/// `mcast.1`, and a page for each `mcast-SUB(1)` that `mcast.1` names (its SEE ALSO).
pub(crate) fn check(dir: &Path) -> Vec<String> {
    let mut problems = Vec::new();
    let mut need = |path: PathBuf| -> Option<String> {
        match std::fs::read(&path) {
            Ok(bytes) if !bytes.is_empty() => Some(String::from_utf8_lossy(&bytes).into_owned()),
            Ok(_) => {
                problems.push(format!("{} is empty", path.display()));
                None
            }
            Err(e) => {
                problems.push(format!("{}: {e}", path.display()));
                None
            }
        }
    };
    need(dir.join("mcast"));
    for (_, file) in SHELLS {
        need(dir.join("completions").join(file));
    }
    let man = dir.join("man/man1");
    if let Some(main) = need(man.join("mcast.1")) {
        let subs = see_also(&main);
        for sub in &subs {
            need(man.join(format!("mcast-{sub}.1")));
        }
        if subs.is_empty() {
            problems.push("mcast.1 names no subcommand page".to_owned());
        }
    }
    problems
}

/// The subcommands whose pages a roff main page names, `mcast\-SUB(1)`, in order.
fn see_also(roff: &str) -> Vec<String> {
    let mut subs: Vec<String> = Vec::new();
    for piece in roff.split("mcast\\-").skip(1) {
        let Some((name, _)) = piece.split_once("(1)") else {
            continue;
        };
        let valid = !name.is_empty()
            && name
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
        if valid && !subs.iter().any(|s| s == name) {
            subs.push(name.to_owned());
        }
    }
    subs
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn see_also_lists_each_subcommand_once() {
        let roff = ".SH \"SEE ALSO\"\n\\fBmcast\\-send(1)\\fR, \\fBmcast\\-recv(1)\\fR, \\fBmcast\\-send(1)\\fR\nmcast\\-not a page(1)\n";
        assert_eq!(see_also(roff), ["send", "recv"]);
    }

    // issue #11 (dist) — the debug binary's dist holds the binary, three completion scripts
    // and a man page for every subcommand, none empty; the check notices a missing page.
    #[test]
    fn dist_holds_binary_completions_and_every_man_page() {
        let bin = cargo_binary("mcast-cli", "mcast", Profile::Debug, true)
            .expect("the mcast binary builds");
        let dir = std::env::temp_dir().join(format!("mcast-dist-{}", std::process::id()));
        let written = write(&bin, &dir.join("nested/dist"));
        let dist = dir.join("nested/dist");
        let problems = check(&dist);
        let main = std::fs::read_to_string(dist.join("man/man1/mcast.1")).unwrap_or_default();
        let removed = std::fs::remove_file(dist.join("man/man1/mcast-recv.1"));
        let after = check(&dist);
        let _ = std::fs::remove_dir_all(&dir);
        let written = written.unwrap();
        assert!(problems.is_empty(), "{problems:?}");
        for sub in [
            "send", "recv", "perf", "ping", "info", "sniff", "groups", "ifaces",
        ] {
            assert!(see_also(&main).iter().any(|s| s == sub), "{sub} missing");
        }
        let names: Vec<String> = written
            .iter()
            .map(|(p, _)| p.strip_prefix(&dist).unwrap().display().to_string())
            .collect();
        for file in [
            "mcast",
            "completions/mcast.bash",
            "completions/_mcast",
            "completions/mcast.fish",
            "man/man1/mcast.1",
            "man/man1/mcast-sniff.1",
        ] {
            assert!(names.iter().any(|n| n == file), "{file} not in {names:?}");
        }
        assert!(written.iter().all(|(_, size)| *size > 0), "{written:?}");
        removed.unwrap();
        assert_eq!(after.len(), 1, "{after:?}");
        assert!(after[0].contains("mcast-recv.1"), "{after:?}");
    }
}
