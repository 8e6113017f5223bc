//! `mxconf completions SHELL` and `mxconf man`: generated from the same clap definitions as
//! `--help`, so the shell completions, the man page and the help text cannot drift apart.

use std::io::Write as _;

use clap::CommandFactory as _;

use super::Cli;

/// The shells `mxconf completions` writes for.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum Shell {
    /// bash (with the bash-completion package)
    Bash,
    /// zsh (a `_mxconf` file in a directory of `$fpath`)
    Zsh,
    /// fish (`~/.config/fish/completions/mxconf.fish`)
    Fish,
}

#[derive(Debug, clap::Args)]
pub struct CompletionsArgs {
    /// The shell to complete for (bash: source it or install it as
    /// /usr/share/bash-completion/completions/mxconf).
    #[arg(value_enum)]
    pub shell: Shell,
}

pub fn completions(args: &CompletionsArgs) -> anyhow::Result<std::process::ExitCode> {
    let shell = match args.shell {
        Shell::Bash => clap_complete::Shell::Bash,
        Shell::Zsh => clap_complete::Shell::Zsh,
        Shell::Fish => clap_complete::Shell::Fish,
    };
    let mut out = Vec::new();
    clap_complete::generate(shell, &mut Cli::command(), "mxconf", &mut out);
    std::io::stdout().lock().write_all(&out)?;
    Ok(std::process::ExitCode::SUCCESS)
}

/// `mxconf man`: the page for `mxconf(1)` with every subcommand's options in it (one page, as
/// `git help` does not need: mxconf's subcommands are few and share their options).
pub fn man() -> anyhow::Result<std::process::ExitCode> {
    let command = Cli::command();
    let mut out = Vec::new();
    let page = clap_mangen::Man::new(command.clone());
    page.render_title(&mut out)?;
    page.render_name_section(&mut out)?;
    page.render_synopsis_section(&mut out)?;
    page.render_description_section(&mut out)?;
    render_subcommands(&command, &mut out)?;
    page.render_version_section(&mut out)?;
    std::io::stdout().lock().write_all(&out)?;
    Ok(std::process::ExitCode::SUCCESS)
}

/// One `.SH` section per subcommand with its synopsis and options, from clap_mangen's own
/// renderers (its built-in SUBCOMMANDS section lists names only).
fn render_subcommands(command: &clap::Command, out: &mut Vec<u8>) -> std::io::Result<()> {
    for sub in command.get_subcommands().filter(|sub| !sub.is_hide_set()) {
        let name = format!("mxconf {}", sub.get_name());
        let sub = sub.clone().bin_name(name.clone());
        writeln!(out, ".SH \"{}\"", name.to_uppercase())?;
        let page = clap_mangen::Man::new(sub);
        let mut section = Vec::new();
        page.render_synopsis_section(&mut section)?;
        page.render_description_section(&mut section)?;
        page.render_options_section(&mut section)?;
        // The sub-page's own section headings become subsections of this one.
        let text = String::from_utf8_lossy(&section).replace(".SH ", ".SS ");
        out.extend_from_slice(text.as_bytes());
    }
    Ok(())
}
