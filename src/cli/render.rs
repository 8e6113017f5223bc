//! `mxconf render PROTOCOL EMAIL`: prints the exact body the server would send, for debugging.

use std::io::Write as _;
use std::process::ExitCode;

use super::ConfigArg;

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum Protocol {
    /// Mozilla autoconfig (config-v1.1.xml)
    Autoconfig,
    /// Autodiscover POX, Outlook schema
    Outlook,
    /// Autodiscover POX, MobileSync (ActiveSync) schema
    Mobilesync,
    /// Autodiscover v2 JSON (Protocol=ActiveSync)
    Json,
}

#[derive(Debug, clap::Args)]
pub struct RenderArgs {
    /// Which protocol's answer to print.
    #[arg(value_enum)]
    pub protocol: Protocol,
    /// The address a client would send.
    pub email: String,
    #[command(flatten)]
    pub config: ConfigArg,
}

pub fn run(args: &RenderArgs) -> anyhow::Result<ExitCode> {
    let config = args.config.load()?;
    let _ = (&config, args.protocol, &args.email);
    std::io::stdout().flush()?;
    anyhow::bail!("render is not wired yet")
}
