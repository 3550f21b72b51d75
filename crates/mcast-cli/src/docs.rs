//! `mcast completions SHELL` and `mcast man`: shell completions and the man page, generated
//! from the clap definitions (never written by hand).

use std::io::Write;
use std::process::ExitCode;

use anyhow::Context;
use clap_complete::Shell;

/// Print a completion script for a shell.
#[derive(clap::Args, Debug)]
#[command(after_help = "\
Examples:
  mcast completions bash > ~/.local/share/bash-completion/completions/mcast
  mcast completions zsh > ~/.zfunc/_mcast
  mcast completions fish > ~/.config/fish/completions/mcast.fish")]
pub(crate) struct CompletionsOpt {
    /// The shell to write completions for.
    #[arg(value_enum)]
    shell: Shell,
}

/// Print the man page (roff) on stdout.
#[derive(clap::Args, Debug)]
#[command(after_help = "\
Examples:
  mcast man | man -l -
  mcast man > /usr/local/share/man/man1/mcast.1")]
pub(crate) struct ManOpt {}

/// Writes the completion script for `opt.shell` to stdout.
pub(crate) fn completions(opt: CompletionsOpt, mut cmd: clap::Command) -> anyhow::Result<ExitCode> {
    let mut out = Vec::new();
    clap_complete::generate(opt.shell, &mut cmd, "mcast", &mut out);
    write_stdout(&out)
}

/// Writes the man page for the whole command, subcommands included, to stdout.
pub(crate) fn man(_opt: ManOpt, cmd: clap::Command) -> anyhow::Result<ExitCode> {
    let mut out = Vec::new();
    clap_mangen::Man::new(cmd.clone())
        .render(&mut out)
        .context("cannot render the man page")?;
    for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
        let name = format!("mcast-{}", sub.get_name());
        let sub = sub.clone().name(name.clone()).display_name(name);
        clap_mangen::Man::new(sub)
            .render(&mut out)
            .context("cannot render the man page")?;
    }
    write_stdout(&out)
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
