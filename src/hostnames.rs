//! The host names clients reach this server by, and how they group into HTTPS certificates:
//! for every served domain `d`, `autoconfig.d` and `autodiscover.d` (and `ua-auto-config.d`
//! where it publishes PACC, `pacc = true`), one certificate per domain (so one domain's failed
//! issuance, or a CA's limit on names per certificate, never
//! holds back another's), plus the server's own public name ([`web_host`]). The one place that
//! decides those names: `mxconf dns` lists them, and whatever obtains or checks certificates,
//! or redirects to HTTPS, asks here. Pure: a [`Config`] in, names out.

use crate::account::Domain;
use crate::config::{Config, DomainRedirect};

/// The labels clients put in front of a mail domain to find this server, each with the
/// clients that do so (the `mxconf dns` comment). A new discovery host is one line here.
pub const LABELS: [(&str, &str); 2] = [
    (
        "autoconfig",
        "Thunderbird, K-9, Delta Chat (Mozilla autoconfig)",
    ),
    ("autodiscover", "Outlook, ActiveSync clients"),
];

/// The PACC host, only for domains with `pacc = true`.
pub const PACC_LABEL: (&str, &str) = (
    crate::protocol::pacc::HOST_LABEL,
    "PACC clients (user-agent auto-configuration)",
);

/// The labels of a domain, [`LABELS`] then the PACC host when it publishes one.
pub fn labels(pacc: bool) -> impl Iterator<Item = (&'static str, &'static str)> {
    LABELS.into_iter().chain(pacc.then_some(PACC_LABEL))
}

/// The names one certificate covers: those of one served domain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertificateNames {
    pub domain: Domain,
    /// `autoconfig.<domain>`, `autodiscover.<domain>`[, `ua-auto-config.<domain>`], in
    /// [`labels`] order.
    pub names: Vec<String>,
}

/// Every certificate this configuration needs, and the domains left out of them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HostNames {
    /// One entry per served, non-wildcard domain, in name order.
    pub certificates: Vec<CertificateNames>,
    /// Wildcard patterns (`*.example.org`): a CA issues a name under them only to a DNS
    /// challenge, which mxconf does not answer, so their hosts need a certificate of the
    /// admin's own.
    pub wildcards: Vec<String>,
}

/// The names of `domain`'s certificate.
pub fn names_for(domain: &Domain, pacc: bool) -> Vec<String> {
    labels(pacc)
        .map(|(label, _)| format!("{label}.{domain}"))
        .collect()
}

/// The certificates `config` needs. A domain whose Autodiscover lives on another server
/// (`autodiscover-redirect-url`) has its names pointed there, so it has none here; an alias
/// (`redirect-to-domain`) is answered here and has its own.
pub fn served_host_names(config: &Config) -> HostNames {
    let mut names = HostNames::default();
    for settings in config.domain_patterns() {
        if matches!(settings.redirect, Some(DomainRedirect::Url(_))) {
            continue;
        }
        if settings.pattern.starts_with("*.") {
            names.wildcards.push(settings.pattern.clone());
            continue;
        }
        // Configured patterns were parsed as domains at load; one that is not is no host.
        if let Ok(domain) = Domain::parse(&settings.pattern) {
            names.certificates.push(CertificateNames {
                names: names_for(&domain, settings.pacc),
                domain,
            });
        }
    }
    names.certificates.sort_by(|a, b| a.domain.cmp(&b.domain));
    names.wildcards.sort();
    names
}

/// The public host name of this server: the download page's `[web] host`, else
/// `autoconfig.<provider id>` (the name `mxconf dns` points the discovery hosts at).
pub fn web_host(config: &Config) -> String {
    match &config.web.host {
        Some(host) => host.as_str().to_owned(),
        None => format!("autoconfig.{}", config.provider.id),
    }
}

/// The port plain-HTTP requests are redirected to beside HTTPS bound on `bound`: `[tls]
/// public-port` where a NAT or load balancer forwards another port to the listener, else the
/// bound port itself.
pub fn redirect_port(config: &Config, bound: u16) -> u16 {
    config.tls.public_port.unwrap_or(bound)
}

/// `https://host[:port]path`, the port left out when it is HTTPS's own 443.
pub fn https_url(host: &str, port: u16, path: &str) -> String {
    match port {
        443 => format!("https://{host}{path}"),
        port => format!("https://{host}:{port}{path}"),
    }
}

/// The plain-HTTP redirect rule beside HTTPS bound on `bound`, in one line, for the start-up
/// log and `check-config` (the rule itself: docs/security.md, "Plain HTTP beside HTTPS").
pub fn redirect_rule(config: &Config, bound: u16) -> String {
    let port = redirect_port(config, bound);
    // Said only when it differs from what the listener lines show.
    let forwarded = match config.tls.public_port {
        Some(_) => format!("; port {port} from [tls] public-port (the listener's own: {bound})"),
        None => String::new(),
    };
    format!(
        "plain HTTP beside HTTPS: autoconfig, ACME http-01 and health checks answered; Autodiscover, PACC, the web form and profiles redirected to {} for a host a certificate names, else to {} ([web] host){forwarded}",
        https_url("HOST", port, "/"),
        https_url(&web_host(config), port, "/"),
    )
}

/// A warning when no certificate names the [`web_host`] (neither one `covers` says a served
/// certificate names, nor one `[tls.acme]` obtains): redirects of other hosts then end at a
/// certificate the client refuses.
pub fn uncovered_web_host(config: &Config, covers: impl Fn(&str) -> bool) -> Option<String> {
    let host = web_host(config);
    let by_acme = config.tls.acme.is_some()
        && acme_certificates(config)
            .certificates
            .iter()
            .any(|certificate| certificate.names.contains(&host));
    (!covers(&host) && !by_acme).then(|| {
        format!(
            "web.host: no certificate names {host}, where plain-HTTP requests for hosts without a certificate are redirected; set [web] host to a name a certificate covers"
        )
    })
}

/// What `[tls.acme]` obtains: the served domains' certificates, then one per extra host (the
/// `[web] host` if configured, then `hosts`) that none of those covers already.
pub fn acme_certificates(config: &Config) -> HostNames {
    let mut names = served_host_names(config);
    let web = config.web.host.iter().map(|host| host.as_str().to_owned());
    let extra = web.chain(
        config
            .tls
            .acme
            .iter()
            .flat_map(|acme| acme.hosts.iter().cloned()),
    );
    for host in extra {
        let covered = names
            .certificates
            .iter()
            .any(|certificate| certificate.names.contains(&host));
        if let (false, Ok(domain)) = (covered, Domain::parse(&host)) {
            names.certificates.push(CertificateNames {
                names: vec![host],
                domain,
            });
        }
    }
    names
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::ConfigSource;

    fn config(domains: &str) -> Config {
        let text = format!(
            "[provider]\nid = \"example.org\"\ndisplay-name = \"Org\"\nshort-name = \"Org\"\n{domains}"
        );
        Config::from_toml(&text, ConfigSource::File("mxconf.toml".into())).unwrap()
    }

    #[test]
    fn one_certificate_per_served_domain_and_wildcards_left_out() {
        let names = served_host_names(&config(
            "[domains.\"b.example\"]\n[domains.\"a.example\"]\n[domains.\"*.hosted.example\"]\n\
             [domains.\"alias.example\"]\nredirect-to-domain = \"a.example\"\npacc = true\n\
             [domains.\"elsewhere.example\"]\nautodiscover-redirect-url = \"https://autodiscover.other.example/autodiscover/autodiscover.xml\"\n",
        ));
        let listed: Vec<(&str, Vec<&str>)> = names
            .certificates
            .iter()
            .map(|c| {
                (
                    c.domain.as_str(),
                    c.names.iter().map(String::as_str).collect(),
                )
            })
            .collect();
        assert_eq!(
            listed,
            [
                (
                    "a.example",
                    vec!["autoconfig.a.example", "autodiscover.a.example"]
                ),
                (
                    "alias.example",
                    vec![
                        "autoconfig.alias.example",
                        "autodiscover.alias.example",
                        "ua-auto-config.alias.example"
                    ]
                ),
                (
                    "b.example",
                    vec!["autoconfig.b.example", "autodiscover.b.example"]
                ),
            ]
        );
        assert_eq!(names.wildcards, ["*.hosted.example"]);
    }

    #[test]
    fn extra_acme_hosts_get_a_certificate_each_unless_covered() {
        let config = config(
            "[domains.\"a.example\"]\n[tls.acme]\ndirectory = \"letsencrypt\"\nchallenge = \"http-01\"\n\
             hosts = [\"mail.a.example\", \"autoconfig.a.example\", \"www.b.example\", \"setup.a.example\"]\n\
             [web]\nhost = \"Setup.A.Example\"\n",
        );
        let names: Vec<Vec<String>> = acme_certificates(&config)
            .certificates
            .into_iter()
            .map(|certificate| certificate.names)
            .collect();
        assert_eq!(
            names,
            [
                vec!["autoconfig.a.example", "autodiscover.a.example"],
                vec!["setup.a.example"],
                vec!["mail.a.example"],
                vec!["www.b.example"],
            ]
        );
        assert_eq!(web_host(&config), "setup.a.example");
    }

    #[test]
    fn the_web_host_defaults_to_the_providers_autoconfig_host() {
        let config = config("[domains.\"a.example\"]\n");
        assert_eq!(web_host(&config), "autoconfig.example.org");
        assert_eq!(acme_certificates(&config), served_host_names(&config));
        assert!(
            redirect_rule(&config, 443)
                .ends_with("else to https://autoconfig.example.org/ ([web] host)")
        );
        assert!(redirect_rule(&config, 8443).contains("https://autoconfig.example.org:8443/"));
    }

    #[test]
    fn a_public_port_replaces_the_bound_one_in_redirects() {
        let plain = config("[domains.\"a.example\"]\n");
        assert_eq!(redirect_port(&plain, 8443), 8443);
        assert_eq!(https_url("h.example", 443, "/x?y"), "https://h.example/x?y");
        assert_eq!(https_url("h.example", 8443, "/"), "https://h.example:8443/");
        let mut public = plain.clone();
        public.tls.public_port = Some(443);
        assert_eq!(redirect_port(&public, 8443), 443);
        assert!(
            redirect_rule(&public, 8443).ends_with(
                "else to https://autoconfig.example.org/ ([web] host); port 443 from [tls] public-port (the listener's own: 8443)"
            ),
            "{}",
            redirect_rule(&public, 8443)
        );
    }

    #[test]
    fn an_uncovered_web_host_is_warned_of_unless_acme_obtains_it() {
        let plain = config("[domains.\"a.example\"]\n[web]\nhost = \"setup.a.example\"\n");
        let warning = uncovered_web_host(&plain, |_| false).unwrap();
        assert!(
            warning.starts_with("web.host: no certificate names setup.a.example"),
            "{warning}"
        );
        assert_eq!(
            uncovered_web_host(&plain, |name| name == "setup.a.example"),
            None
        );
        let acme = config(
            "[domains.\"a.example\"]\n[web]\nhost = \"setup.a.example\"\n\
             [tls.acme]\ndirectory = \"letsencrypt\"\nchallenge = \"http-01\"\n",
        );
        assert_eq!(uncovered_web_host(&acme, |_| false), None);
    }
}
