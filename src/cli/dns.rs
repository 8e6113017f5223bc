//! `mxconf dns DOMAIN`: print the zone-file records to publish for a served domain.

use std::io::Write as _;
use std::process::ExitCode;

use anyhow::{Context as _, bail};

use super::ConfigArg;
use crate::account::{Domain, Redirect};
use crate::answer::Answers;
use crate::resolve::Resolution;

#[derive(Debug, clap::Args)]
pub struct DnsArgs {
    /// A domain served by the configuration.
    pub domain: String,
    /// The public host name of this mxconf server [default: [web] host, else autoconfig.<provider id>].
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
        .unwrap_or_else(|| crate::hostnames::web_host(&config));
    let answers = Answers::shared(std::sync::Arc::clone(&config));
    if let Some(problem) = answers.pacc_problems().first() {
        bail!("{problem}");
    }
    let account = match answers
        .resolver
        .lookup_domain(&domain)
        .with_context(|| format!("{domain} is not configured"))?
    {
        // An alias gets its own records, pointing at the target domain's servers.
        Resolution::Account(account) => account,
        Resolution::Redirect(Redirect::Url(url)) => bail!(
            "{domain} is served by another Autodiscover server ({url}): publish that provider's records; mxconf only answers its Autodiscover redirect"
        ),
        // A domain-level lookup has no address to move: aliases come back as accounts.
        Resolution::Redirect(Redirect::Address(_)) => bail!("{domain} is not configured"),
    };
    let mut out = std::io::stdout().lock();
    writeln!(out, "; DNS records for {domain}, served by {web_host}")?;
    writeln!(
        out,
        "; {web_host} itself needs A/AAAA records pointing at this server."
    )?;
    // The digest of the very bytes the server renders and serves for this configuration.
    let pacc = answers.pacc(&domain).ok();
    let pacc = pacc.as_ref().map(|document| document.body.as_slice());
    for record in crate::dns::records(&account, &web_host, pacc) {
        writeln!(out, "{record}")?;
    }
    let names = crate::hostnames::served_host_names(&config);
    match names
        .certificates
        .iter()
        .find(|certificate| certificate.domain == domain)
    {
        Some(certificate) => writeln!(
            out,
            "; The HTTPS certificate for {domain} must cover: {}",
            certificate.names.join(" ")
        )?,
        // Served through a wildcard entry: no certificate of its own is planned.
        None => writeln!(
            out,
            "; {domain} is served by a wildcard entry: provide a certificate covering {}",
            crate::hostnames::names_for(&domain, false).join(" ")
        )?,
    }
    // The server's own names beyond the domains' ([web] host, [tls.acme] hosts).
    let own: Vec<String> = crate::hostnames::acme_certificates(&config)
        .certificates
        .into_iter()
        .filter(|certificate| !names.certificates.contains(certificate))
        .flat_map(|certificate| certificate.names)
        .collect();
    if !own.is_empty() {
        writeln!(
            out,
            "; This server's own names, a certificate each ([tls.acme] obtains them): {}",
            own.join(" ")
        )?;
    }
    Ok(ExitCode::SUCCESS)
}
