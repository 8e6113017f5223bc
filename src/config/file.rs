//! The serde mirror of `mxconf.toml`: the raw, unvalidated form. This is the only place that
//! knows the file's spelling; `validate` turns it into [`super::Config`]. Unknown keys are
//! errors (`deny_unknown_fields`) so a typo never silently does nothing.

use std::collections::BTreeMap;

use serde::Deserialize;
use toml::Spanned;

pub use super::web::WebFile;
use crate::account::{AuthMethod, Security};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct ConfigFile {
    pub provider: ProviderFile,
    #[serde(default)]
    pub server: ServerFile,
    /// Merged into every domain: a domain's own value wins field by field.
    #[serde(default)]
    pub defaults: DomainFile,
    /// Domain entries keyed by name (`"example.org"`) or wildcard (`"*.example.org"`).
    #[serde(default)]
    pub domains: BTreeMap<String, Spanned<DomainFile>>,
    #[serde(default)]
    pub profile: ProfileFile,
    #[serde(default)]
    pub signing: Option<Spanned<SigningFile>>,
    #[serde(default)]
    pub web: WebFile,
    /// Per-user sources (`[backends.NAME]`), named by domains' `sources`.
    #[serde(default)]
    pub backends: BTreeMap<String, Spanned<super::backend::BackendFile>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct ProviderFile {
    pub id: Spanned<String>,
    pub display_name: Spanned<String>,
    pub short_name: Spanned<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct ServerFile {
    /// Addresses to listen on; `--listen` on the command line replaces them.
    pub listen: Option<Vec<Spanned<String>>>,
    /// Peers (IPs or CIDRs) whose `X-Forwarded-Proto`/`X-Forwarded-Host` are believed.
    #[serde(default)]
    pub trusted_proxies: Vec<Spanned<String>>,
}

#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct DomainFile {
    pub imap: Option<Vec<ServerEntryFile>>,
    pub pop3: Option<Vec<ServerEntryFile>>,
    pub smtp: Option<Vec<ServerEntryFile>>,
    pub activesync: Option<Spanned<String>>,
    pub caldav: Option<Spanned<String>>,
    pub carddav: Option<Spanned<String>>,
    pub documentation: Option<Spanned<String>>,
    /// Names of `[backends.NAME]` consulted in order for an address.
    pub sources: Option<Spanned<Vec<Spanned<String>>>>,
    /// Domain alias for Autodiscover (`redirect.rs`); never merged from `[defaults]`.
    pub redirect_to_domain: Option<Spanned<String>>,
    /// Settings on another Autodiscover server (`redirect.rs`); never merged from `[defaults]`.
    pub autodiscover_redirect_url: Option<Spanned<String>>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct ServerEntryFile {
    pub host: Spanned<String>,
    /// Wider than `u16` so that `0` and `70000` get our message, not a serde type error.
    pub port: Spanned<i64>,
    pub security: Security,
    #[serde(default)]
    pub authentication: Option<Spanned<AuthList>>,
    #[serde(default)]
    pub username: Option<Spanned<String>>,
}

/// One method or several in preference order (`"oauth2"` or `["oauth2", "password-cleartext"]`).
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum AuthList {
    One(AuthMethod),
    Many(Vec<AuthMethod>),
}

/// `[profile]`: Apple configuration profile settings (defined beside their validation).
pub use super::profile::ProfileFile;

/// `[signing]`: the identity that signs profiles.
pub use super::signing::SigningFile;
