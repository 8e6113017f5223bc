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
/// fields and status codes, never passwords or looked-up values (the resolver passes every
/// error through [`BackendError::redacted`]).
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
        self.map_text(|text| format!("{context}: {text}"))
    }

    /// The same error with every mention of the looked-up `address` (and of its local part as
    /// a word of its own) replaced: a server's message can quote the value it was given
    /// (PostgreSQL's `invalid input syntax for type integer: "jane"`), a script can print it,
    /// and request data must never reach the log.
    pub fn redacted(self, address: &EmailAddress) -> Self {
        self.map_text(|text| redact(&text, address))
    }

    fn map_text(self, f: impl FnOnce(String) -> String) -> Self {
        match self {
            BackendError::Unavailable(text) => BackendError::Unavailable(f(text)),
            BackendError::Timeout => BackendError::Timeout,
            BackendError::Failed(text) => BackendError::Failed(f(text)),
            BackendError::BadOutput(text) => BackendError::BadOutput(f(text)),
        }
    }
}

/// `text` with `address` replaced by `<address>` and its local part, where it stands as a
/// word of its own (not inside `database` for the local part `a`), by `<local part>`.
pub fn redact(text: &str, address: &EmailAddress) -> String {
    let text = text.replace(address.as_str(), "<address>");
    let local = address.local_part();
    if local.is_empty() {
        return text;
    }
    let word = |c: char| c.is_alphanumeric() || "._-+".contains(c);
    let mut out = String::with_capacity(text.len());
    let mut rest = text.as_str();
    while let Some(at) = rest.find(local) {
        let before = rest[..at].chars().next_back().or(out.chars().next_back());
        let after = rest[at + local.len()..].chars().next();
        out.push_str(&rest[..at]);
        if before.is_some_and(word) || after.is_some_and(word) {
            // Part of a longer word: keep its first character and look on after it.
            let step = local.chars().next().map_or(1, char::len_utf8);
            out.push_str(&rest[at..at + step]);
            rest = &rest[at + step..];
        } else {
            out.push_str("<local part>");
            rest = &rest[at + local.len()..];
        }
    }
    out.push_str(rest);
    out
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
