//! `mxconf doctor DOMAIN…`: check a live deployment end to end (the `doctor` module does the
//! work); print the report or its JSON document; exit 0 when nothing failed, 1 when a check
//! failed, 2 on usage errors.

use std::io::Write as _;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::bail;

use super::{ConfigArg, EXIT_CHECK_FAILED};
use crate::doctor::{self, ConnectTo, Options};

#[derive(Debug, clap::Args)]
pub struct DoctorArgs {
    /// Domains to check (or addresses: the per-user answers are then asked for that address;
    /// for a domain, postmaster@DOMAIN is asked).
    #[arg(required_unless_present = "all", value_name = "DOMAIN")]
    pub domains: Vec<String>,
    /// Check every domain the config names (wildcard patterns cannot be listed).
    #[arg(long, conflicts_with = "domains")]
    pub all: bool,
    /// Ask this DNS server instead of the system's resolvers.
    #[arg(long, value_name = "IP[:PORT]", value_parser = parse_resolver)]
    pub resolver: Option<SocketAddr>,
    /// Trust the CA certificates in this PEM file besides the system's roots.
    #[arg(long, value_name = "PEM")]
    pub ca: Option<PathBuf>,
    /// Give up on any one probe (a DNS lookup, a connection and its exchange) after this long.
    #[arg(long, value_name = "SECS", default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..=600))]
    pub timeout: u64,
    /// Print the report as a JSON document (its shape: docs/doctor.schema.json).
    #[arg(long)]
    pub json: bool,
    /// The public host name of this mxconf server, as for `mxconf dns` [default: [web] host, else autoconfig.<provider id>].
    #[arg(long, value_name = "HOST")]
    pub web_host: Option<String>,
    /// Connect to HOST2:PORT2 whenever HOST:PORT is asked for (curl's syntax; HOST or PORT may
    /// be empty for "any"): check a server before DNS points at it. Repeatable.
    #[arg(long = "connect-to", value_name = "HOST:PORT:HOST2:PORT2")]
    pub connect_to: Vec<ConnectTo>,
    #[command(flatten)]
    pub config: ConfigArg,
}

fn parse_resolver(text: &str) -> Result<SocketAddr, String> {
    text.parse::<SocketAddr>()
        .or_else(|_| text.parse::<IpAddr>().map(|ip| SocketAddr::new(ip, 53)))
        .map_err(|_| format!("{text:?}: expected IP or IP:PORT ([IPv6]:PORT)"))
}

pub fn run(args: &DoctorArgs) -> anyhow::Result<ExitCode> {
    let config = Arc::new(args.config.load()?);
    let targets = doctor::targets(&config, &args.domains, args.all)?;
    if args.all {
        for pattern in doctor::wildcards(&config) {
            eprintln!(
                "mxconf doctor: {pattern} is not checked: --all cannot list a wildcard's domains; name them"
            );
        }
    }
    if targets.is_empty() {
        bail!("name at least one domain, or --all");
    }
    let options = Options {
        resolver: args.resolver,
        ca: args.ca.clone(),
        timeout: Duration::from_secs(args.timeout),
        connect_to: args.connect_to.clone(),
        web_host: args.web_host.clone(),
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let report = runtime.block_on(doctor::run(config, &targets, &options))?;
    let text = if args.json {
        report.to_json()
    } else {
        report.to_text()
    };
    std::io::stdout().lock().write_all(text.as_bytes())?;
    Ok(if report.failed() {
        ExitCode::from(EXIT_CHECK_FAILED)
    } else {
        ExitCode::SUCCESS
    })
}
