//! `mcast completions SHELL` and `mcast man`: shell completions and the man page, generated
//! from the clap definitions (never written by hand).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use clap_complete::Shell;

use crate::output;

/// Print a completion script for a shell.
#[derive(clap::Args, Debug)]
#[command(after_help = "\
Examples:
  mcast completions bash > ~/.local/share/bash-completion/completions/mcast
  mcast completions bash --dir ~/.local/share/bash-completion/completions   (writes mcast.bash)
  mcast completions zsh --dir ~/.zfunc                                       (writes _mcast)
  mcast completions fish --dir ~/.config/fish/completions                    (writes mcast.fish)

--dir creates DIR (and its parents) when it does not exist; with `>` the shell opens the file,
so its directory must exist already.")]
pub(crate) struct CompletionsOpt {
    /// The shell to write completions for.
    #[arg(value_enum)]
    shell: Shell,

    /// Write the script into DIR under the shell's usual file name (mcast.bash, _mcast,
    /// mcast.fish, mcast.elv, _mcast.ps1) instead of printing it, creating DIR if needed.
    #[arg(long, value_name = "DIR")]
    dir: Option<PathBuf>,
}

/// Print the man page (roff) on stdout, or write one page per command into a directory.
#[derive(clap::Args, Debug)]
#[command(after_help = "\
Examples:
  mcast man | man -l -                         read the whole manual now
  mcast man --dir /usr/local/share/man/man1    install mcast.1, mcast-send.1, mcast-recv.1, …")]
pub(crate) struct ManOpt {
    /// Write mcast.1 and one mcast-SUBCOMMAND.1 per subcommand (mcast-perf-send.1 for nested
    /// ones) into DIR instead of printing everything on stdout, creating DIR (and its parents)
    /// if needed.
    #[arg(long, value_name = "DIR")]
    dir: Option<PathBuf>,
}

/// Writes the completion script for `opt.shell` to stdout, or into `opt.dir`.
pub(crate) fn completions(opt: CompletionsOpt, mut cmd: clap::Command) -> anyhow::Result<ExitCode> {
    let Some(dir) = opt.dir else {
        let mut out = Vec::new();
        clap_complete::generate(opt.shell, &mut cmd, "mcast", &mut out);
        return write_stdout(&out);
    };
    create_dir(&dir)?;
    let path =
        clap_complete::generate_to(opt.shell, &mut cmd, "mcast", &dir).with_context(|| {
            format!(
                "cannot write the {} completions into {}",
                opt.shell,
                dir.display()
            )
        })?;
    tracing::info!(path = %path.display(), "completions written");
    output::note(&format!("wrote {}", path.display()));
    Ok(ExitCode::SUCCESS)
}

/// Creates `dir` and its missing parents.
fn create_dir(dir: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))
}

/// The man pages: `(file name, roff)` for the command and each visible subcommand at every
/// depth, whose pages are named after their path (`mcast-SUB`, `mcast-SUB-SUBSUB`), matching
/// the SUBCOMMANDS and SEE ALSO sections of the page above them.
fn man_pages(cmd: &clap::Command) -> anyhow::Result<Vec<(String, Vec<u8>)>> {
    let mut pages = vec![render("mcast", cmd.clone())?];
    // Built, the command has clap's own `help` subcommand too (in every command that has
    // subcommands), which each page's SUBCOMMANDS names as clap_mangen builds it.
    let mut cmd = cmd.clone();
    cmd.build();
    sub_pages(&cmd, "mcast", &mut pages)?;
    Ok(pages)
}

/// Adds the pages of `cmd`'s visible subcommands, and theirs, depth first; `name` is the name
/// of `cmd`'s own page.
fn sub_pages(
    cmd: &clap::Command,
    name: &str,
    pages: &mut Vec<(String, Vec<u8>)>,
) -> anyhow::Result<()> {
    for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
        let name = format!("{name}-{}", sub.get_name());
        let mut page = sub.clone().name(name.clone()).display_name(name.clone());
        if sub.get_name() == "help" {
            // clap's `help` mirrors its parent's subcommands (`mcast help perf send`): one
            // page says how to use it, without a page per mirrored command.
            let mirrored: Vec<String> = sub
                .get_subcommands()
                .map(|s| s.get_name().to_owned())
                .collect();
            for m in mirrored {
                page = page.mut_subcommand(m, |s| s.hide(true));
            }
            pages.push(render(&name, page)?);
            continue;
        }
        pages.push(render(&name, page)?);
        sub_pages(sub, &name, pages)?;
    }
    Ok(())
}

/// Renders one page, named `name.1`.
fn render(name: &str, page: clap::Command) -> anyhow::Result<(String, Vec<u8>)> {
    let mut out = Vec::new();
    clap_mangen::Man::new(page)
        .render(&mut out)
        .with_context(|| format!("cannot render the man page {name}.1"))?;
    Ok((format!("{name}.1"), out))
}

/// Prints every man page on stdout, or writes them into `opt.dir`.
pub(crate) fn man(opt: ManOpt, cmd: clap::Command) -> anyhow::Result<ExitCode> {
    let pages = man_pages(&cmd)?;
    let Some(dir) = opt.dir else {
        let all: Vec<u8> = pages.into_iter().flat_map(|(_, roff)| roff).collect();
        return write_stdout(&all);
    };
    create_dir(&dir)?;
    for (file, roff) in &pages {
        let path = dir.join(file);
        std::fs::write(&path, roff).with_context(|| format!("cannot write {}", path.display()))?;
        tracing::info!(path = %path.display(), bytes = roff.len(), "man page written");
    }
    output::note(&format!(
        "wrote {} man pages to {}",
        pages.len(),
        dir.display()
    ));
    Ok(ExitCode::SUCCESS)
}

fn write_stdout(bytes: &[u8]) -> anyhow::Result<ExitCode> {
    let mut stdout = std::io::stdout().lock();
    stdout.write_all(bytes).context("cannot write to stdout")?;
    stdout.flush().context("cannot write to stdout")?;
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use crate::Cli;

    #[test]
    fn bash_completions_name_every_subcommand() {
        let mut out = Vec::new();
        clap_complete::generate(
            clap_complete::Shell::Bash,
            &mut Cli::command(),
            "mcast",
            &mut out,
        );
        let text = String::from_utf8(out).unwrap();
        for sub in ["send", "recv", "info", "sniff", "groups", "ifaces"] {
            assert!(
                text.contains(sub),
                "{sub} missing from the bash completions"
            );
        }
    }

    /// The pages a roff page refers to: each `mcast\-…(1)` in it, as a file name (`mcast-perf-send.1`).
    fn references(roff: &str) -> Vec<String> {
        let mut refs = Vec::new();
        let mut rest = roff;
        while let Some(at) = rest.find("mcast\\-") {
            let tail = &rest[at..];
            let end = tail
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '\\' || c == '-'))
                .unwrap_or(tail.len());
            if tail[end..].starts_with("(1)") {
                refs.push(format!("{}.1", tail[..end].replace("\\-", "-")));
            }
            rest = &tail[end..];
        }
        refs
    }

    // Review (man pages): mcast-perf.1 named mcast-perf-send(1) and mcast-perf-recv(1), and
    // neither page was written, so no page documented perf's flags.
    #[test]
    fn every_see_also_page_is_written() {
        let pages = super::man_pages(&Cli::command()).unwrap();
        let names: Vec<&str> = pages.iter().map(|(n, _)| n.as_str()).collect();
        let main = String::from_utf8(pages[0].1.clone()).unwrap();
        for sub in ["send", "recv", "info", "sniff", "groups", "ifaces", "help"] {
            let file = format!("mcast-{sub}.1");
            assert!(
                names.contains(&file.as_str()),
                "{file} missing from {names:?}"
            );
            assert!(
                main.contains(&format!("mcast\\-{sub}(1)")),
                "SEE ALSO lacks mcast-{sub}"
            );
        }
        // Every page any page names, at every depth, is written.
        let mut referenced = 0;
        for (page, roff) in &pages {
            let roff = String::from_utf8(roff.clone()).unwrap();
            for file in references(&roff) {
                assert!(
                    names.contains(&file.as_str()),
                    "{page} names {file}, which is not written; written: {names:?}"
                );
                referenced += 1;
            }
        }
        assert!(referenced >= 10, "only {referenced} references found");
    }

    #[test]
    fn every_subcommand_at_every_depth_has_a_page() {
        let pages = super::man_pages(&Cli::command()).unwrap();
        let names: Vec<&str> = pages.iter().map(|(n, _)| n.as_str()).collect();
        fn walk(cmd: &clap::Command, name: &str, out: &mut Vec<String>) {
            for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
                let name = format!("{name}-{}", sub.get_name());
                out.push(format!("{name}.1"));
                walk(sub, &name, out);
            }
        }
        let mut expected = Vec::new();
        walk(&Cli::command(), "mcast", &mut expected);
        assert!(
            expected.iter().any(|f| f == "mcast-perf-send.1"),
            "{expected:?}"
        );
        for file in &expected {
            assert!(
                names.contains(&file.as_str()),
                "{file} missing from {names:?}"
            );
        }
        // clap's `help` gets one page, not one per command it mirrors.
        assert!(
            names.iter().all(|n| !n.contains("-help-")),
            "pages for help's mirrored commands: {names:?}"
        );
        let send = pages
            .iter()
            .find(|(n, _)| n == "mcast-perf-send.1")
            .map(|(_, roff)| String::from_utf8(roff.clone()).unwrap())
            .unwrap();
        for flag in ["rate", "size", "duration", "io"] {
            assert!(
                send.contains(&format!("\\-\\-{flag}")),
                "mcast-perf-send.1 lacks --{flag}"
            );
        }
        let recv = pages
            .iter()
            .find(|(n, _)| n == "mcast-perf-recv.1")
            .map(|(_, roff)| String::from_utf8(roff.clone()).unwrap())
            .unwrap();
        for flag in ["csv", "iperf", "report"] {
            assert!(
                recv.contains(&format!("\\-\\-{flag}")),
                "mcast-perf-recv.1 lacks --{flag}"
            );
        }
    }

    #[test]
    fn man_page_is_roff_with_the_examples() {
        let mut out = Vec::new();
        clap_mangen::Man::new(Cli::command())
            .render(&mut out)
            .unwrap();
        let text = String::from_utf8(out).unwrap();
        assert!(
            text.starts_with(".ie") || text.contains(".TH mcast"),
            "{}",
            &text[..80.min(text.len())]
        );
        assert!(text.contains("mcast recv 224.1.1.5 50001 \\-i 127.0.0.1"));
    }
}
