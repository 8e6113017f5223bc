//! The serde mirror of `mxconf.toml` as a whole: the raw, unvalidated document, assembled from
//! each section's own file form (defined beside its checks). Unknown keys are errors
//! (`deny_unknown_fields`) so a typo never silently does nothing.

use std::collections::BTreeMap;

use serde::Deserialize;
use toml::Spanned;

use super::backend::BackendFile;
use super::domain::DomainFile;
use super::limits::LimitsFile;
use super::log::LogFile;
use super::metrics::MetricsFile;
use super::profile::ProfileFile;
use super::provider::ProviderFile;
use super::server::ServerFile;
use super::signing::SigningFile;
use super::tls::TlsFile;
use super::web::WebFile;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct ConfigFile {
    pub provider: ProviderFile,
    #[serde(default)]
    pub server: ServerFile,
    #[serde(default)]
    pub log: LogFile,
    #[serde(default)]
    pub metrics: MetricsFile,
    /// Abuse protection; absent means the defaults, on.
    #[serde(default)]
    pub limits: LimitsFile,
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
    /// HTTPS served by mxconf itself (certificates from files or an ACME CA); absent means
    /// plain HTTP only.
    #[serde(default)]
    pub tls: Option<Spanned<TlsFile>>,
    #[serde(default)]
    pub web: WebFile,
    /// Per-user sources (`[backends.NAME]`), named by domains' `sources`.
    #[serde(default)]
    pub backends: BTreeMap<String, Spanned<BackendFile>>,
}
