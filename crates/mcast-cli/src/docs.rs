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
    /// Write mcast.1 and one mcast-SUBCOMMAND.1 per subcommand into DIR instead of printing
    /// everything on stdout, creating DIR (and its parents) if needed.
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

/// The man pages: `(file name, roff)` for the command and each visible subcommand, whose
/// pages are named `mcast-SUB`, matching the SEE ALSO section of the main page.
fn man_pages(cmd: &clap::Command) -> anyhow::Result<Vec<(String, Vec<u8>)>> {
    let mut pages = Vec::new();
    let mut render = |name: String, page: clap::Command| -> anyhow::Result<()> {
        let mut out = Vec::new();
        clap_mangen::Man::new(page)
            .render(&mut out)
            .context("cannot render the man page")?;
        pages.push((format!("{name}.1"), out));
        Ok(())
    };
    render("mcast".into(), cmd.clone())?;
    // Built, the command has clap's own `help` subcommand too, which the main page's SEE ALSO
    // names as clap_mangen builds it.
    let mut cmd = cmd.clone();
    cmd.build();
    for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
        let name = format!("mcast-{}", sub.get_name());
        render(
            name.clone(),
            sub.clone().name(name.clone()).display_name(name),
        )?;
    }
    Ok(pages)
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
