//! `mxconf doctor`: checks a live deployment end to end, the way each client will see it —
//! DNS records, the discovery URLs over HTTPS, the mail servers the answers name, and the
//! profile signer — and reports one line per check ([`report`]). It reads the config and asks
//! the network; it never sends credentials or logs in. A core module: the expected records
//! come from `dns`, the expected answers from `answer` (the server's own), never from `server`
//! or `cli`.
//!
//! Every check runs concurrently and every probe is bounded by the time limit, so a run over
//! many domains takes about as long as its slowest probe. A mail server named by several
//! domains is probed once.

mod discovery;
mod dns;
mod http;
mod mail;
mod net;
mod pacc;
pub mod report;
mod signer;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

pub use net::ConnectTo;
pub use report::{Check, Report, Section, Status};

use crate::account::{AuthMethod, Domain, EmailAddress, Redirect, UrlService};
use crate::answer::Answers;
use crate::config::Config;
use crate::resolve::{Resolution, Resolver};

/// How to run the checks (the command-line options).
#[derive(Debug, Clone)]
pub struct Options {
    /// Ask this DNS server instead of the system's resolvers.
    pub resolver: Option<SocketAddr>,
    /// Trust this PEM file's CA certificates besides the system's roots.
    pub ca: Option<PathBuf>,
    /// The bound of every probe.
    pub timeout: Duration,
    pub connect_to: Vec<ConnectTo>,
    /// The public name of this mxconf server, as for `mxconf dns`.
    pub web_host: Option<String>,
}

/// Why the doctor could not run at all (a usage error, not a failed check).
#[derive(Debug, thiserror::Error)]
pub enum DoctorError {
    #[error("{0:?} is neither a domain nor an email address")]
    BadTarget(String),
    #[error("{0} is not served by this configuration")]
    NotServed(String),
    #[error(
        "the configuration serves no domain by name (wildcards cannot be listed): name the domains"
    )]
    NoDomains,
    #[error("{}: cannot use as CA certificates: {reason}", file.display())]
    Ca { file: PathBuf, reason: String },
    #[error("cannot load trusted roots: {0}")]
    Roots(String),
    #[error("cannot set up the DNS resolver: {0}")]
    Resolver(String),
}

/// The addresses to ask as: each name given (a domain is asked about as its `postmaster@`,
/// the one address every domain has, RFC 5321 §4.5.1), or every domain the config names.
pub fn targets(
    config: &Config,
    names: &[String],
    all: bool,
) -> Result<Vec<EmailAddress>, DoctorError> {
    let names: Vec<String> = if all {
        let mut served: Vec<String> = config
            .domain_patterns()
            .map(|settings| settings.pattern.clone())
            .filter(|pattern| !pattern.starts_with("*."))
            .collect();
        served.sort();
        if served.is_empty() {
            return Err(DoctorError::NoDomains);
        }
        served
    } else {
        names.to_vec()
    };
    names
        .iter()
        .map(|name| {
            let email = if name.contains('@') {
                EmailAddress::parse(name)
            } else {
                Domain::parse(name)
                    .and_then(|domain| EmailAddress::parse(&format!("postmaster@{domain}")))
            }
            .map_err(|_| DoctorError::BadTarget(name.clone()))?;
            match config.domain(email.domain()) {
                Some(_) => Ok(email),
                None => Err(DoctorError::NotServed(email.domain().to_string())),
            }
        })
        .collect()
}

/// The wildcard patterns (`*.example.org`) `--all` cannot list, for the command to say so.
pub fn wildcards(config: &Config) -> Vec<String> {
    let mut patterns: Vec<String> = config
        .domain_patterns()
        .map(|settings| settings.pattern.clone())
        .filter(|pattern| pattern.starts_with("*."))
        .collect();
    patterns.sort();
    patterns
}

/// Runs every check for `targets` and returns the report.
pub async fn run(
    config: Arc<Config>,
    targets: &[EmailAddress],
    options: &Options,
) -> Result<Report, DoctorError> {
    let net = net::Net::new(
        options.resolver,
        options.ca.as_deref(),
        options.timeout,
        options.connect_to.clone(),
    )?;
    // What this config answers, computed by the server's own answer layer (without signing:
    // a signed profile is compared by its content).
    let answers = Answers::shared(Arc::clone(&config));
    let resolver = &answers.resolver;
    let web_host = options
        .web_host
        .clone()
        .unwrap_or_else(|| crate::hostnames::web_host(&config));

    let dns = futures_util::future::join_all(
        targets
            .iter()
            .map(|email| dns_checks(&net, &answers, email, &web_host)),
    );
    let discovery = futures_util::future::join_all(
        targets
            .iter()
            .map(|email| discovery::checks(&net, &answers, email)),
    );
    let mail = mail_checks(&net, resolver, targets);
    let (dns, discovery, mail) = futures_util::future::join3(dns, discovery, mail).await;
    // The signer is checked on a blocking thread: signing and chain building are CPU work.
    let signing_config = Arc::clone(&config);
    let ca = options.ca.clone();
    let signing =
        tokio::task::spawn_blocking(move || signer::checks(&signing_config, ca.as_deref()))
            .await
            .unwrap_or_default();

    let checks = dns
        .into_iter()
        .flatten()
        .chain(discovery.into_iter().flatten())
        .chain(mail)
        .chain(signing)
        .collect();
    let domains = targets
        .iter()
        .map(|email| email.domain().to_string())
        .collect();
    Ok(Report::new(domains, checks))
}

async fn dns_checks(
    net: &net::Net,
    answers: &Answers,
    email: &EmailAddress,
    web_host: &str,
) -> Vec<Check> {
    match answers.resolver.lookup_domain(email.domain()) {
        Ok(Resolution::Account(account)) => {
            let pacc = answers.pacc(email.domain()).ok();
            let pacc = pacc.as_ref().map(|document| document.body.as_slice());
            dns::checks(net, &account, web_host, pacc).await
        }
        Ok(Resolution::Redirect(Redirect::Url(url))) => vec![
            Check::about(Section::Dns, email.domain().to_string())
                .domain(email.domain().as_str())
                .pass(format!("served by another Autodiscover server ({url}): its provider publishes the records")),
        ],
        // A domain-level lookup has no address to move, and `targets` checked the domain.
        Ok(Resolution::Redirect(Redirect::Address(_))) | Err(_) => Vec::new(),
    }
}

/// Probes every mail server and CalDAV/CardDAV URL the targets' answers name, each once.
async fn mail_checks(net: &net::Net, resolver: &Resolver, targets: &[EmailAddress]) -> Vec<Check> {
    let mut servers: BTreeMap<mail::Endpoint, Vec<Vec<AuthMethod>>> = BTreeMap::new();
    let mut dav: Vec<(&'static str, String)> = Vec::new();
    for email in targets {
        // Domains this config does not serve settings for name no servers.
        let Ok(account) = resolver.resolve(email).await else {
            continue;
        };
        for server in account.incoming.iter().chain(&account.outgoing) {
            let methods = servers.entry(mail::Endpoint::of(server)).or_default();
            if !methods.contains(&server.authentication) {
                methods.push(server.authentication.clone());
            }
        }
        for (kind, service) in [
            ("CalDAV", UrlService::CalDav),
            ("CardDAV", UrlService::CardDav),
        ] {
            if let Some(url) = account.url(service)
                && !dav.iter().any(|(k, u)| *k == kind && u == url)
            {
                dav.push((kind, url.to_owned()));
            }
        }
    }
    let dav =
        futures_util::future::join_all(dav.iter().map(|(kind, url)| dav_check(net, kind, url)));
    let probes = servers.iter().map(|(endpoint, methods)| async move {
        let outcome = mail::probe(net, endpoint).await;
        // Domains that configure the same server differently get their own auth lines.
        let mut checks: Vec<Check> = Vec::new();
        for check in methods
            .iter()
            .flat_map(|methods| mail::checks(endpoint, methods, &outcome))
        {
            if !checks.contains(&check) {
                checks.push(check);
            }
        }
        checks
    });
    let (mail, dav) = futures_util::future::join(futures_util::future::join_all(probes), dav).await;
    mail.into_iter().flatten().chain(dav).collect()
}

/// A CalDAV/CardDAV URL must answer over HTTPS with a valid certificate (without
/// credentials the answer is usually 401, which is fine).
async fn dav_check(net: &net::Net, kind: &str, url: &str) -> Check {
    let line = Check::about(Section::MailServers, format!("{kind} {url}"));
    let Ok(parsed) = url::Url::parse(url) else {
        return line.fail("not a URL", "correct the URL in the config");
    };
    let request = http::Request {
        url: parsed,
        body: None,
    };
    match http::fetch(net, &request).await {
        Err(error) => line.fail(
            error.to_string(),
            format!("make {url} reachable over HTTPS"),
        ),
        Ok(answer) if answer.status >= 500 => line.fail(
            format!("{}: server error", answer.status),
            "see that server's log",
        ),
        Ok(answer) => match &answer.certificate {
            Some(certificate) => {
                let (status, detail, fix) = certificate.summary();
                line.status(status, format!("answers {}; {detail}", answer.status), fix)
            }
            None => line.warn(
                format!("answers {} without TLS", answer.status),
                format!("serve {kind} over https://"),
            ),
        },
    }
}
