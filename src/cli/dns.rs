//! `mxconf dns DOMAIN`: print the zone-file records to publish for a served domain.

use std::process::ExitCode;

use anyhow::Context as _;

use super::ConfigArg;
use crate::account::Domain;
use crate::resolve::Resolver;

#[derive(Debug, clap::Args)]
pub struct DnsArgs {
    /// A domain served by the configuration.
    pub domain: String,
    /// The public host name of this mxconf server [default: autoconfig.<provider id>].
    #[arg(long, value_name = "HOST")]
    pub web_host: Option<String>,
    #[command(flatten)]
    pub config: ConfigArg,
}

pub fn run(args: &DnsArgs) -> anyhow::Result<ExitCode> {
    let config = std::sync::Arc::new(args.config.load()?);
    let domain = Domain::parse(&args.domain)
        .map_err(|error| anyhow::anyhow!("{:?}: {error}", args.domain))?;
    let web_host = args
        .web_host
        .clone()
        .unwrap_or_else(|| format!("autoconfig.{}", config.provider.id));
    let account = Resolver::new(config)
        .resolve_domain(&domain)
        .with_context(|| format!("{domain} is not configured"))?;
    println!("; DNS records for {domain}, served by {web_host}");
    println!("; {web_host} itself needs A/AAAA records pointing at this server.");
    for record in crate::dns::records(&account, &web_host) {
        println!("{record}");
    }
    Ok(ExitCode::SUCCESS)
}
