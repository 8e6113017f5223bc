//! `mxconf serve`: load the config (or the embedded demo), bind, serve until SIGTERM/SIGINT
//! (SIGHUP reloads).

use std::net::SocketAddr;
use std::process::ExitCode;

use super::{ConfigArg, logging};
use crate::config::LogFormat;

#[derive(Debug, clap::Args)]
pub struct ServeArgs {
    #[command(flatten)]
    pub config: ConfigArg,
    /// Address to listen on (repeatable); replaces the config's [server].listen.
    /// Default 127.0.0.1:8080.
    #[arg(long, value_name = "ADDR")]
    pub listen: Vec<SocketAddr>,
    /// Address for HTTPS (repeatable); replaces the config's [tls].listen. Needs
    /// [[tls.certificate]] in the config.
    #[arg(long, value_name = "ADDR")]
    pub tls_listen: Vec<SocketAddr>,
    /// Log lines as `text` or `json` (one object per line); replaces the config's [log].format.
    #[arg(long, value_name = "FORMAT", value_parser = log_format)]
    pub log_format: Option<LogFormat>,
}

fn log_format(text: &str) -> Result<LogFormat, String> {
    LogFormat::from_name(text)
        .ok_or_else(|| format!("expected one of {}", LogFormat::NAMES.join(", ")))
}

pub fn run(args: ServeArgs) -> anyhow::Result<ExitCode> {
    // The config names the log format, so it is loaded first; its errors go to stderr through
    // main like every command's.
    let config = args.config.load()?;
    logging::init_as(args.log_format.unwrap_or(config.log.format));
    if args.config.config.is_none() {
        tracing::warn!("no --config given: serving the embedded demo configuration (example.com)");
    }
    let runtime = tokio::runtime::Runtime::new()?;
    let served = runtime.block_on(crate::server::serve(config, args.listen, args.tls_listen));
    // Whatever still runs (a backend's blocking call) is not waited for beyond this.
    runtime.shutdown_timeout(std::time::Duration::from_secs(1));
    served?;
    Ok(ExitCode::SUCCESS)
}
