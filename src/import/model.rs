//! What every importer produces: an `mxconf.toml` as data, before it becomes text. Notes are
//! the comments the writer puts above the table they concern.

use crate::account::{AuthMethod, PerKind, Security, Services, Stage};

/// A whole imported configuration, before it becomes text.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Imported {
    /// Top-of-file comment lines: where the text came from and what did not carry over.
    pub header: Vec<String>,
    pub provider_id: String,
    pub display_name: String,
    pub short_name: String,
    /// Comments placed above `[provider]`.
    pub provider_notes: Vec<String>,
    /// `[signing]`, when the source signed profiles (or meant to).
    pub signing: Option<TableOut>,
    /// `[limits]`, when the source limited clients.
    pub limits: Option<TableOut>,
    /// `[backends.NAME]` tables (per-user sources), in output order.
    pub backends: Vec<BackendOut>,
    /// `[defaults]`, merged by mxconf into every domain.
    pub defaults: Option<DomainOut>,
    /// `[domains."NAME"]` in output order.
    pub domains: Vec<(String, DomainOut)>,
    /// What the admin must act on before deploying, for the summary on stderr (each also
    /// stands as a comment in the output).
    pub warnings: Vec<String>,
}

/// A plain table such as `[signing]` or one backend.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TableOut {
    pub notes: Vec<String>,
    /// Keys in output order.
    pub keys: Vec<(&'static str, TomlValue)>,
    /// Written as `#` lines: as a table it would not load here (a file this machine does not
    /// have, a database mxconf cannot open). `notes` say why.
    pub commented_out: bool,
}

/// One `[backends.NAME]` table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackendOut {
    pub name: String,
    pub table: TableOut,
}

/// The few TOML value shapes the importers write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TomlValue {
    Str(String),
    Bool(bool),
    Int(i64),
    Strings(Vec<String>),
    /// An inline table of strings, e.g. `{ login_name = "uid" }`.
    Table(Vec<(String, String)>),
}

/// One domain's settings (or the defaults). A `None` server list leaves the key out (the
/// defaults apply); `Some(vec![])` writes `imap = []`, which removes an inherited list.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DomainOut {
    pub notes: Vec<String>,
    pub servers: PerKind<Option<Vec<ServerOut>>>,
    pub services: Services<Output>,
    /// `sources = [...]`: names of `[backends.NAME]`; `Some(vec![])` switches inherited ones off.
    pub sources: Option<Vec<String>>,
}

/// Services as the importers write them: URLs with mxconf's placeholders.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Output;

impl Stage for Output {
    type Url = String;
    /// No importer writes an `[oauth2]` table: the sources' OAuth settings are registrations
    /// of the big providers with their own clients, not open-client servers.
    type OAuth2 = std::convert::Infallible;
}

impl DomainOut {
    /// The fields that end up in the config (notes excluded): used to tell whether a domain
    /// differs from the defaults.
    pub fn same_settings(&self, other: &DomainOut) -> bool {
        let DomainOut {
            notes: _,
            servers,
            services,
            sources,
        } = self;
        *servers == other.servers && *services == other.services && *sources == other.sources
    }
}

/// One `[[domains."NAME".imap]]` (or pop3/smtp) entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerOut {
    pub notes: Vec<String>,
    pub host: String,
    pub port: u16,
    pub security: Security,
    pub authentication: Vec<AuthMethod>,
    /// `None` leaves the key out: mxconf's default `%EMAILADDRESS%` applies.
    pub username: Option<String>,
}
