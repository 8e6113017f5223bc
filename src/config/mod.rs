//! The validated, immutable configuration: built once at start-up from `mxconf.toml` (or the
//! embedded demo, which is `examples/mxconf.toml` itself) and shared read-only afterwards.
//! First stage of the flow; depends only on `account` for its vocabulary.

pub mod backend;
mod checker;
mod error;
pub mod file;
mod profile;
mod redirect;
mod signing;
mod validate;
pub mod web;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

pub use error::{ConfigError, ConfigIssue};
use ipnet::IpNet;
pub use profile::ProfileSettings;
pub use redirect::DomainRedirect;
pub use signing::SigningSettings;

pub use web::WebSettings;

use crate::account::{Domain, MailServer, Provider};

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

/// One domain's settings after merging the defaults; usernames and URLs are still templates.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DomainSettings {
    /// The name as configured: `example.org` or `*.example.org`.
    pub pattern: String,
    /// IMAP then POP3 servers, each group in preference order (implicit TLS first).
    pub incoming: Vec<MailServer>,
    pub outgoing: Vec<MailServer>,
    pub activesync_url: Option<String>,
    pub caldav_url: Option<String>,
    pub carddav_url: Option<String>,
    pub documentation_url: Option<String>,
    /// Indices into [`Config::backends`], consulted in order; empty for static-only domains.
    pub sources: Vec<usize>,
    /// Autodiscover redirect instead of settings; such a domain serves no settings itself.
    pub redirect: Option<DomainRedirect>,
}

/// The validated configuration.
#[derive(Debug, Clone)]
pub struct Config {
    pub source: ConfigSource,
    pub provider: Provider,
    /// Listen addresses from the file; empty when the file names none.
    pub listen: Vec<SocketAddr>,
    pub trusted_proxies: Vec<IpNet>,
    /// Per-user sources, in name order (`DomainSettings::sources` indexes this).
    pub backends: Vec<backend::BackendSettings>,
    /// `[web]`: branding of the download form.
    pub web: WebSettings,
    /// `[profile]`: labels and identifiers of Apple configuration profiles.
    pub profile: ProfileSettings,
    /// `[signing]`; `None` serves profiles unsigned (and the server says so at start).
    pub signing: Option<SigningSettings>,
    exact: HashMap<String, Arc<DomainSettings>>,
    /// `(".example.org", settings)`, longest suffix first so the most specific wildcard wins.
    wildcards: Vec<(String, Arc<DomainSettings>)>,
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
        validate::validate(text, source)
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
        let name = domain.as_str();
        self.exact.get(name).or_else(|| {
            self.wildcards
                .iter()
                .find(|(suffix, _)| name.ends_with(suffix.as_str()))
                .map(|(_, settings)| settings)
        })
    }

    /// Every configured domain pattern, exact names first.
    pub fn domain_patterns(&self) -> impl Iterator<Item = &DomainSettings> {
        self.exact
            .values()
            .chain(self.wildcards.iter().map(|(_, settings)| settings))
            .map(AsRef::as_ref)
    }
}

#[cfg(test)]
mod tests;
