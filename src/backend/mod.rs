//! Per-user sources behind one trait: an SQL query (SQLite, PostgreSQL), an LDAP search, or an
//! external command, each turning one address into an [`AccountPatch`] (or "no entry").
//! Built from `config::backend` settings; used only by `resolve`, which owns caching, timeouts
//! and the failure policy. Addresses only ever reach a backend as bound parameters, escaped
//! filter values or separate argv entries: never spliced into a query language.

mod command;
mod ldap;
mod sql;

use std::future::Future;
use std::pin::Pin;

use crate::account::{AccountPatch, EmailAddress};
use crate::config::backend::{BackendKind, BackendSettings, Secret};

pub use command::CommandBackend;
pub use ldap::LdapBackend;
pub use sql::SqlBackend;

/// Why a lookup produced no answer, by meaning. The text is for the log only: it names hosts,
/// fields and status codes, never passwords or looked-up values.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BackendError {
    /// Cannot connect, bind, authenticate or start the program.
    #[error("unavailable: {0}")]
    Unavailable(String),
    /// No answer within the source's `timeout`.
    #[error("no answer within the timeout")]
    Timeout,
    /// The server refused the query (SQL error, LDAP result code) or the program failed.
    #[error("lookup failed: {0}")]
    Failed(String),
    /// An answer arrived but is not a usable patch.
    #[error("unusable answer: {0}")]
    BadOutput(String),
}

impl BackendError {
    /// The same error with `context` (a file, a host) before its text.
    fn within(self, context: &str) -> Self {
        match self {
            BackendError::Unavailable(text) => {
                BackendError::Unavailable(format!("{context}: {text}"))
            }
            BackendError::Timeout => BackendError::Timeout,
            BackendError::Failed(text) => BackendError::Failed(format!("{context}: {text}")),
            BackendError::BadOutput(text) => BackendError::BadOutput(format!("{context}: {text}")),
        }
    }
}

/// What a lookup yields: a patch, or `None` when the source has no entry for the address.
pub type LookupResult = Result<Option<AccountPatch>, BackendError>;

/// A boxed lookup future, so backends can sit behind `dyn Backend`.
pub type Lookup<'a> = Pin<Box<dyn Future<Output = LookupResult> + Send + 'a>>;

/// One per-user source. Implementations must be cancel-safe: the resolver drops the future
/// when the timeout fires (the command backend kills its child then).
pub trait Backend: std::fmt::Debug + Send + Sync {
    fn lookup<'a>(&'a self, address: &'a EmailAddress) -> Lookup<'a>;
}

/// Builds the live backend for validated settings. Nothing connects here: connections open
/// on first use, so start-up never waits for (or fails on) a directory being down.
pub fn build(settings: &BackendSettings) -> Box<dyn Backend> {
    match &settings.kind {
        BackendKind::Sql(sql) => Box::new(SqlBackend::new(sql.clone(), settings.timeout)),
        BackendKind::Ldap(ldap) => Box::new(LdapBackend::new(ldap.clone(), settings.timeout)),
        BackendKind::Command(command) => Box::new(CommandBackend::new(command.clone())),
    }
}

/// Turns a source's `(field, value)` pairs into a patch; a bad field is bad output.
fn patch_from<N: AsRef<str>, V: AsRef<str>>(
    fields: impl IntoIterator<Item = (N, V)>,
) -> Result<AccountPatch, BackendError> {
    AccountPatch::from_fields(fields).map_err(|error| BackendError::BadOutput(error.to_string()))
}

/// A source's password, read when it connects.
fn read_secret(secret: &Secret) -> Result<String, BackendError> {
    secret.read().map_err(BackendError::Unavailable)
}
