//! `mxconf import automx|automx2|ispdb FILE`: translate a foreign configuration into `mxconf.toml`
//! text on stdout (or `--output`). The result is validated before it is written, so what comes
//! out always loads; a file that cannot be translated exits 1 with `file:line: what`.

use std::io::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;

use super::{EXIT_CHECK_FAILED, write_atomically};
use crate::config::{Config, ConfigError, ConfigSource};
use crate::import::{self, ImportError};

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum Format {
    /// automx 1.x automx.conf (INI)
    Automx,
    /// automx2's SQLite database or its JSON seed file (version 1 or 2)
    Automx2,
    /// Thunderbird ISPDB provider file (clientConfig XML)
    Ispdb,
}

#[derive(Debug, clap::Args)]
pub struct ImportArgs {
    /// The format of FILE.
    #[arg(value_enum)]
    pub format: Format,
    /// The file to translate, e.g. /etc/automx.conf, /var/lib/automx2/db.sqlite or gmail.com.xml.
    pub file: PathBuf,
    /// Write the result here (atomically) instead of to stdout.
    #[arg(long, short = 'o', value_name = "PATH")]
    pub output: Option<PathBuf>,
}

pub fn run(args: &ImportArgs) -> anyhow::Result<ExitCode> {
    let name = args.file.display().to_string();
    let read_error = |source| ImportError::Read {
        file: name.clone(),
        source,
    };
    let bytes = std::fs::read(&args.file).map_err(read_error)?;
    let imported = if matches!(args.format, Format::Automx2) && import::automx2::is_sqlite(&bytes) {
        super::runtime()?.block_on(import::automx2::import_sqlite(&args.file, &name))
    } else {
        let text = String::from_utf8(bytes).map_err(|_| {
            read_error(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                "not UTF-8 text",
            ))
        })?;
        match args.format {
            Format::Automx => import::automx::import(&text, &name),
            Format::Automx2 => import::automx2::import_seed(&text, &name),
            Format::Ispdb => import::ispdb::import(&text, &name),
        }
    };
    let imported = match imported {
        Ok(imported) => imported,
        Err(error @ ImportError::Read { .. }) => return Err(error.into()),
        Err(error) => {
            eprintln!("mxconf: {error}");
            return Ok(ExitCode::from(EXIT_CHECK_FAILED));
        }
    };
    let toml = imported.to_toml();
    // The importer's promise is a config that loads; check it the way `serve` will.
    let source = ConfigSource::File(args.output.clone().unwrap_or_else(|| "<stdout>".into()));
    if let Err(ConfigError::Invalid(issues)) = Config::from_toml(&toml, source) {
        eprintln!("mxconf: the translation of {name} does not validate (please report this):");
        for issue in &issues {
            eprintln!("{issue}");
        }
        return Ok(ExitCode::from(EXIT_CHECK_FAILED));
    }
    match &args.output {
        Some(path) => write_atomically(path, toml.as_bytes())?,
        None => std::io::stdout()
            .write_all(toml.as_bytes())
            .context("cannot write to stdout")?,
    }
    summarise(&imported, &toml);
    Ok(ExitCode::SUCCESS)
}

/// What an admin must know before deploying, on stderr: the warnings, and how much of the
/// output is comments to read.
fn summarise(imported: &import::Imported, toml: &str) {
    for warning in &imported.warnings {
        eprintln!("mxconf: warning: {warning}");
    }
    let comments = toml
        .lines()
        .filter(|line| line.starts_with("# ") || *line == "#")
        .count();
    eprintln!(
        "mxconf: imported {} domain(s); read the {comments} comment line(s) before deploying: \
         they mark what did not carry over as it was",
        imported.domains.len()
    );
}
