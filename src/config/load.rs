//! The validated, immutable [`Config`] and its one way in: TOML text → the file form
//! (`file.rs`) → each section's check, in order, through one [`Checker`] that collects every
//! problem (not just the first) with its file, line and field path.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use ipnet::IpNet;

use super::backend::{self, BackendSettings};
use super::checker::Checker;
use super::domain::{self, DomainSettings, Domains};
use super::error::ConfigError;
use super::file::ConfigFile;
use super::limits::{self, LimitSettings};
use super::log::{self, LogSettings};
use super::metrics::{self, MetricsSettings};
use super::profile::{self, ProfileSettings};
use super::provider;
use super::server::{self, ConnectionSettings};
use super::signing::{self, SigningSettings};
use super::tls::{self, TlsSettings};
use super::web::{self, WebSettings};
use crate::account::{Domain, Provider};

/// The embedded demo configuration: byte for byte the shipped `examples/mxconf.toml`.
pub const DEMO_TOML: &str = include_str!("../../examples/mxconf.toml");
/// The name the demo's errors and logs refer to.
pub const DEMO_NAME: &str = "<embedded demo>";

/// Where the configuration came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConfigSource {
    File(PathBuf),
    EmbeddedDemo,
}

/// The validated configuration.
#[derive(Debug, Clone)]
pub struct Config {
    pub source: ConfigSource,
    pub provider: Provider,
    /// Listen addresses from the file; empty when the file names none.
    pub listen: Vec<SocketAddr>,
    pub trusted_proxies: Vec<IpNet>,
    /// `[server]`: the connection cap and timeouts.
    pub connections: ConnectionSettings,
    /// `[log]`: the log format.
    pub log: LogSettings,
    /// `[metrics]`: the Prometheus endpoint's own listener, if any.
    pub metrics: MetricsSettings,
    /// `[tls]`: HTTPS listeners, their certificate files, and `[tls.acme]`.
    pub tls: TlsSettings,
    /// `[limits]`: the abuse protection.
    pub limits: LimitSettings,
    /// Per-user sources, in name order (`DomainSettings::sources` indexes this).
    pub backends: Vec<BackendSettings>,
    /// `[web]`: branding of the download form.
    pub web: WebSettings,
    /// `[profile]`: labels and identifiers of Apple configuration profiles.
    pub profile: ProfileSettings,
    /// `[signing]`; `None` serves profiles unsigned (and the server says so at start).
    pub signing: Option<SigningSettings>,
    domains: Domains,
}

impl Config {
    /// Loads and validates a config file.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            file: path.display().to_string(),
            source,
        })?;
        Self::from_toml(&text, ConfigSource::File(path.to_path_buf()))
    }

    /// The embedded demo (`mxconf serve` without `--config`).
    pub fn demo() -> Result<Self, ConfigError> {
        Self::from_toml(DEMO_TOML, ConfigSource::EmbeddedDemo)
    }

    /// Parses and validates TOML text; `source` names it in error messages.
    pub fn from_toml(text: &str, source: ConfigSource) -> Result<Self, ConfigError> {
        let mut checker = match &source {
            ConfigSource::File(path) => Checker::new(path.display().to_string(), text, Some(path)),
            ConfigSource::EmbeddedDemo => Checker::new(DEMO_NAME.to_owned(), text, None),
        };
        let raw: ConfigFile = match toml::from_str(text) {
            Ok(raw) => raw,
            Err(error) => {
                if !checker.report_syntax_errors() {
                    checker.report_toml_error(&error);
                }
                return Err(ConfigError::Invalid(checker.into_issues()));
            }
        };
        let provider = provider::check(&mut checker, &raw.provider);
        let profile = profile::check(&mut checker, &raw.profile, &provider);
        let server = server::check(&mut checker, &raw.server);
        let log = log::check(&raw.log);
        let metrics = metrics::check(&mut checker, &raw.metrics, &server.listen);
        let tls = tls::check(&mut checker, raw.tls.as_ref(), &server.listen);
        let limits = limits::check(&mut checker, &raw.limits);
        let (mut backends, backend_names) = backend::check_backends(&mut checker, &raw.backends);
        let web = web::check(&mut checker, &raw.web);
        let domains = domain::check_all(&mut checker, &raw.defaults, &raw.domains, &backend_names);
        let signing = signing::check(&mut checker, raw.signing.as_ref());
        // Exact names before wildcards, each in name order: the default probe address does
        // not depend on hash order.
        let mut listing: Vec<(&str, &[usize])> = domains
            .iter()
            .filter(|settings| settings.redirect.is_none())
            .map(|settings| (settings.pattern.as_str(), settings.sources.as_slice()))
            .collect();
        listing.sort_by_key(|(pattern, _)| (pattern.starts_with("*."), *pattern));
        backend::set_probe_addresses(&mut backends, &raw.backends, listing.iter().copied());
        let mut config = Config {
            source,
            provider,
            listen: server.listen,
            trusted_proxies: server.trusted_proxies,
            connections: server.connections,
            log,
            metrics,
            tls,
            limits,
            backends,
            web,
            profile,
            signing,
            domains,
        };
        // `[signing] acme` names a host; which certificate covers it is known only now.
        let certificates: Vec<(String, Vec<String>)> = crate::hostnames::acme_certificates(&config)
            .certificates
            .into_iter()
            .map(|certificate| (certificate.domain.as_str().to_owned(), certificate.names))
            .collect();
        let state_dir = config.tls.acme.as_ref().map(|acme| acme.state_dir.clone());
        signing::locate_acme(
            &mut checker,
            raw.signing.as_ref(),
            &mut config.signing,
            state_dir.as_deref(),
            &certificates,
        );
        if !checker.is_clean() {
            return Err(ConfigError::Invalid(checker.into_issues()));
        }
        Ok(config)
    }

    /// The name used for this config in messages (file path or `<embedded demo>`).
    pub fn source_name(&self) -> String {
        match &self.source {
            ConfigSource::File(path) => path.display().to_string(),
            ConfigSource::EmbeddedDemo => DEMO_NAME.to_owned(),
        }
    }

    /// The settings serving `domain`: an exact entry, else the most specific wildcard.
    /// `*.example.org` matches `a.example.org` and `a.b.example.org`, not `example.org`.
    pub fn domain(&self, domain: &Domain) -> Option<&Arc<DomainSettings>> {
        self.domains.get(domain)
    }

    /// Every configured domain pattern, exact names first.
    pub fn domain_patterns(&self) -> impl Iterator<Item = &DomainSettings> {
        self.domains.iter()
    }
}
