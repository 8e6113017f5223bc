//! `mxconf serve`: load the config (or the embedded demo), bind, serve until Ctrl-C/SIGTERM.

use std::net::SocketAddr;
use std::process::ExitCode;

use super::{ConfigArg, logging};

#[derive(Debug, clap::Args)]
pub struct ServeArgs {
    #[command(flatten)]
    pub config: ConfigArg,
    /// Address to listen on (repeatable); replaces the config's [server].listen.
    /// Default 127.0.0.1:8080.
    #[arg(long, value_name = "ADDR")]
    pub listen: Vec<SocketAddr>,
}

pub fn run(args: ServeArgs) -> anyhow::Result<ExitCode> {
    logging::init();
    let config = args.config.load()?;
    if args.config.config.is_none() {
        tracing::warn!("no --config given: serving the embedded demo configuration (example.com)");
    }
    let runtime = tokio::runtime::Runtime::new()?;
    runtime.block_on(crate::server::serve(config, args.listen))?;
    Ok(ExitCode::SUCCESS)
}
