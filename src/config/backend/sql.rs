//! `type = "sql"`: an SQLite file or a PostgreSQL / MySQL / MariaDB URL, and the admin's query.
//! The settings and their check; `backend::sql` runs them.

use std::path::PathBuf;

use super::{BackendFile, Secret, check_secret, check_url, positive, report_at};
use crate::config::checker::Checker;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SqlSettings {
    pub database: SqlDatabase,
    /// The admin's query; `$1` address, `$2` local part, `$3` domain, always bound (MySQL's
    /// `?` markers are derived from them).
    pub query: String,
    pub max_connections: u32,
}

/// The URL schemes of the database servers sqlx reaches.
const SERVER_SCHEMES: &[&str] = &["postgres", "postgresql", "mysql", "mariadb"];

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SqlDatabase {
    /// Opened read-only.
    Sqlite(PathBuf),
    /// A PostgreSQL or MySQL/MariaDB server: a URL without a password; the password comes
    /// from `password`.
    Server {
        url: url::Url,
        password: Option<Secret>,
    },
}

pub(super) fn check(
    checker: &mut Checker<'_>,
    label: &str,
    raw: &BackendFile,
) -> Option<SqlSettings> {
    let secret = check_secret(
        checker,
        label,
        raw.password_file.as_ref(),
        raw.password_env.as_ref(),
    );
    let database = match (&raw.path, &raw.url) {
        (Some(path), None) => {
            if secret.is_some() {
                report_at(
                    checker,
                    &raw.kind,
                    label,
                    "password-file",
                    "SQLite takes no password",
                );
            }
            Some(SqlDatabase::Sqlite(checker.path(path.get_ref())))
        }
        (None, Some(url)) => {
            check_url(checker, label, url, SERVER_SCHEMES).map(|url| SqlDatabase::Server {
                url,
                password: secret.flatten(),
            })
        }
        _ => {
            report_at(
                checker,
                &raw.kind,
                label,
                "path",
                "give exactly one of path (SQLite file) or url (postgres://… or mysql://…)",
            );
            None
        }
    };
    let query = match &raw.query {
        None => {
            report_at(checker, &raw.kind, label, "query", "is required");
            None
        }
        Some(query) => {
            let text = query.get_ref().trim();
            if text.is_empty() || has_foreign_parameters(text) {
                checker.report(
                    Some(&query.span()),
                    format!("{label}.query"),
                    "must be one statement using only $1 (address), $2 (local part), $3 (domain) as parameters"
                        .into(),
                );
                None
            } else {
                Some(text.to_owned())
            }
        }
    };
    let max_connections = positive(
        checker,
        label,
        "max-connections",
        raw.max_connections.as_ref(),
        4,
    )?;
    Some(SqlSettings {
        database: database?,
        query: query?,
        max_connections: u32::try_from(max_connections).unwrap_or(u32::MAX),
    })
}

/// Whether `query` names a parameter other than `$1`..`$3`, the only values there are: a `$4`
/// would bind to nothing, and `?` is the positional form of SQLite and MySQL, read differently
/// by PostgreSQL, so one style serves every database (mxconf turns `$N` into MySQL's `?`
/// itself). A `?` inside a string literal counts too: the check does not parse SQL.
pub fn has_foreign_parameters(query: &str) -> bool {
    query.contains('?')
        || query.split('$').skip(1).any(|rest| {
            let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
            !digits.is_empty() && !matches!(digits.as_str(), "1" | "2" | "3")
        })
}
