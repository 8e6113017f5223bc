//! The `mxconf` command line: clap definitions (their doc comments are `--help`) and dispatch
//! to one file per subcommand. The only place besides `server` that knows about the terminal,
//! and the only place that uses `anyhow`.

mod check_config;
mod dns;
mod doctor;
mod export;
mod import;
mod logging;
mod lookup;
mod manual;
mod profile;
mod render;
mod serve;
mod sign;
mod verify;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::config::Config;

/// Mail client autoconfiguration server and Apple configuration profile toolkit.
#[derive(Debug, Parser)]
#[command(name = "mxconf", version, about)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the HTTP server (the embedded demo config when --config is not given).
    Serve(serve::ServeArgs),
    /// Validate a config file; exit 0 when it is valid, 1 when not.
    CheckConfig(check_config::CheckConfigArgs),
    /// Print exactly what the server would answer a client for EMAIL.
    Render(render::RenderArgs),
    /// Ask every per-user source of ADDRESS's domain; print each answer and the merged account.
    Lookup(lookup::LookupArgs),
    /// Translate an automx.conf or a Thunderbird ISPDB file into mxconf.toml (stdout).
    Import(import::ImportArgs),
    /// Print the DNS records to publish for DOMAIN (SRV, CNAME, TXT).
    Dns(dns::DnsArgs),
    /// Check a live deployment as clients see it: DNS, discovery URLs, mail servers, signing.
    Doctor(doctor::DoctorArgs),
    /// Write the Apple configuration profile (.mobileconfig) for one address.
    Profile(profile::ProfileArgs),
    /// Write one profile per line of a CSV file (address[,name]), for MDM.
    Export(export::ExportArgs),
    /// Sign a profile or any property list byte for byte (CMS SignedData, DER, SHA-256).
    Sign(sign::SignArgs),
    /// Verify a signed profile's signature and chain; print the signer and its payloads.
    Verify(verify::VerifyArgs),
    /// Print the shell completion script for bash, zsh or fish.
    Completions(manual::CompletionsArgs),
    /// Print the manual page mxconf(1) (roff), with every subcommand and option.
    Man,
}

/// `--config PATH`, shared by every subcommand that reads the configuration.
#[derive(Debug, clap::Args)]
pub struct ConfigArg {
    /// The mxconf.toml to use; without it, the embedded demo configuration.
    #[arg(long, short = 'c', value_name = "PATH", env = "MXCONF_CONFIG")]
    pub config: Option<PathBuf>,
}

impl ConfigArg {
    /// Loads the named file, or the embedded demo.
    pub fn load(&self) -> anyhow::Result<Config> {
        Ok(match &self.config {
            Some(path) => Config::load(path)?,
            None => Config::demo()?,
        })
    }
}

/// Exit codes: 0 success, 1 the check failed (invalid config, bad signature…), 2 usage or I/O.
pub const EXIT_CHECK_FAILED: u8 = 1;

/// Runs one subcommand. A closed standard output (`mxconf render … | head -0`) ends it
/// quietly: the reader has everything it wanted, so it is no error worth a message.
pub fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let result = dispatch(cli);
    match &result {
        Err(error)
            if error.chain().any(|cause| {
                cause
                    .downcast_ref::<std::io::Error>()
                    .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
            }) =>
        {
            Ok(ExitCode::SUCCESS)
        }
        _ => result,
    }
}

fn dispatch(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Serve(args) => serve::run(args),
        Command::CheckConfig(args) => check_config::run(&args),
        Command::Render(args) => render::run(&args),
        Command::Lookup(args) => lookup::run(&args),
        Command::Import(args) => import::run(&args),
        Command::Dns(args) => dns::run(&args),
        Command::Doctor(args) => doctor::run(&args),
        Command::Profile(args) => profile::run(&args),
        Command::Export(args) => export::run(&args),
        Command::Sign(args) => sign::run(&args),
        Command::Verify(args) => verify::run(&args),
        Command::Completions(args) => manual::completions(&args),
        Command::Man => manual::man(),
    }
}

/// The runtime a one-shot command drives its lookups on.
fn runtime() -> std::io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
}

/// `bytes` to `path` (atomically) when given, else to standard output.
pub fn write_output(path: Option<&Path>, bytes: &[u8]) -> anyhow::Result<()> {
    use std::io::Write as _;
    match path {
        Some(path) => write_atomically(path, bytes),
        None => {
            let mut stdout = std::io::stdout().lock();
            stdout.write_all(bytes)?;
            Ok(stdout.flush()?)
        }
    }
}

/// Writes `bytes` to `path` atomically (a temporary file renamed into place), so a failure
/// never leaves a partial output file behind. The temporary gets a random name and is created
/// with `O_EXCL` (tempfile), so nothing planted beside the target (a symlink at a predictable
/// name) can redirect the write; the rename replaces a symlink at `path` itself rather than
/// follow it. Permissions as `std::fs::write` gives a new file (0666 less the umask).
pub fn write_atomically(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    use anyhow::Context as _;
    use std::io::Write as _;
    use std::os::unix::fs::PermissionsExt as _;
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let cannot_write = || format!("cannot write {}", path.display());
    let mut temp = tempfile::Builder::new()
        .prefix(&format!(".{name}."))
        .suffix(".tmp")
        .permissions(std::fs::Permissions::from_mode(0o666))
        .tempfile_in(dir)
        .with_context(cannot_write)?;
    temp.write_all(bytes).with_context(cannot_write)?;
    // On failure the temporary is removed when `persist`'s error drops it.
    temp.persist(path).with_context(cannot_write)?;
    Ok(())
}
