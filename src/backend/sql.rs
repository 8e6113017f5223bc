//! The SQL source (sqlx `Any`: SQLite file, PostgreSQL, MySQL/MariaDB). The admin writes the
//! query; the address, local part and domain are always bound as `$1`, `$2`, `$3` (SQLite reads
//! `$N` as a numbered parameter too; for MySQL, which only knows positional `?`, each `$N` is
//! turned into a `?` bound to its value), never formatted into the text. The first row's
//! columns, named after patch fields (`SELECT uid AS login_name …`), become the patch.

use std::time::Duration;

use percent_encoding::{AsciiSet, CONTROLS, utf8_percent_encode};
use sqlx::AnyPool;
use sqlx::any::{AnyPoolOptions, AnyRow, AnyTypeInfoKind};
use sqlx::{AssertSqlSafe, Column as _, Row as _, TypeInfo as _, ValueRef as _};
use tokio::sync::OnceCell;

use super::{Backend, BackendError, Lookup, LookupResult, patch_from, read_secret};
use crate::account::EmailAddress;
use crate::config::backend::{SqlDatabase, SqlSettings};

/// What must not appear literally in the path part of a `sqlite://` URL.
const PATH: &AsciiSet = &CONTROLS.add(b'%').add(b'?').add(b'#').add(b' ');

#[derive(Debug)]
pub struct SqlBackend {
    settings: SqlSettings,
    /// The query as the database reads it.
    statement: Statement,
    timeout: Duration,
    /// Created on first use, so start-up does not depend on the database.
    pool: OnceCell<AnyPool>,
}

impl SqlBackend {
    pub fn new(settings: SqlSettings, timeout: Duration) -> Self {
        sqlx::any::install_default_drivers();
        let mysql = matches!(&settings.database, SqlDatabase::Server { url, .. }
            if matches!(url.scheme(), "mysql" | "mariadb"));
        let statement = if mysql {
            Statement::positional(&settings.query)
        } else {
            Statement::numbered(&settings.query)
        };
        SqlBackend {
            settings,
            statement,
            timeout,
            pool: OnceCell::new(),
        }
    }

    async fn pool(&self) -> Result<&AnyPool, BackendError> {
        self.pool
            .get_or_try_init(|| async {
                let url = match &self.settings.database {
                    // Read-only: mxconf never writes to the admin's database.
                    SqlDatabase::Sqlite(path) => {
                        // sqlx percent-decodes the path: encode `%`, `?`, `#` and spaces in it.
                        let path = path.to_string_lossy();
                        let path = utf8_percent_encode(&path, PATH);
                        format!("sqlite://{path}?mode=ro")
                    }
                    SqlDatabase::Server { url, password } => {
                        let mut url = url.clone();
                        if let Some(secret) = password {
                            let password = read_secret(secret)?;
                            // A PostgreSQL socket URL (`postgres:///db?host=/run/postgresql`)
                            // has no user-info part; sqlx also reads the password from the
                            // query there. MySQL URLs always have a host (config check).
                            if url.set_password(Some(&password)).is_err() {
                                url.query_pairs_mut().append_pair("password", &password);
                            }
                        }
                        url.to_string()
                    }
                };
                AnyPoolOptions::new()
                    .max_connections(self.settings.max_connections)
                    .acquire_timeout(self.timeout)
                    .idle_timeout(Some(Duration::from_secs(300)))
                    .connect_lazy(&url)
                    .map_err(classify)
            })
            .await
    }

    /// SQLite's errors ("unable to open database file") do not say which file: name it, as
    /// resolved from the config, so a wrong relative path shows where it points.
    async fn query(&self, address: &EmailAddress) -> LookupResult {
        let result = self.query_pool(address).await;
        match &self.settings.database {
            SqlDatabase::Sqlite(path) => {
                result.map_err(|error| error.within(&format!("SQLite file {}", path.display())))
            }
            SqlDatabase::Server { .. } => result,
        }
    }

    async fn query_pool(&self, address: &EmailAddress) -> LookupResult {
        let pool = self.pool().await?;
        let values = [
            address.as_str(),
            address.local_part(),
            address.domain().as_str(),
        ];
        let mut query = sqlx::query(AssertSqlSafe(self.statement.text.as_str()));
        for &index in &self.statement.binds {
            query = query.bind(values[index]);
        }
        let row = query.fetch_optional(pool).await.map_err(classify)?;
        row.map(|row| patch_from(columns(&row)?)).transpose()
    }
}

/// The admin's query as sent to the database, and which value (0 address, 1 local part,
/// 2 domain) each of its parameters takes, in order.
#[derive(Debug, PartialEq, Eq)]
struct Statement {
    text: String,
    binds: Vec<usize>,
}

impl Statement {
    /// SQLite and PostgreSQL number their parameters: the text goes as written.
    fn numbered(query: &str) -> Statement {
        Statement {
            text: query.to_owned(),
            binds: vec![0, 1, 2],
        }
    }

    /// MySQL binds `?` markers by position: every `$1`–`$3` outside string literals, quoted
    /// identifiers and comments becomes a `?` bound to its value (so `$2` may appear twice,
    /// `$1` not at all). A `$` inside a word (`price$1`) is part of an identifier.
    fn positional(query: &str) -> Statement {
        let mut text = String::with_capacity(query.len());
        let mut binds = Vec::new();
        let mut chars = query.chars().peekable();
        let mut previous = ' ';
        while let Some(c) = chars.next() {
            match c {
                '\'' | '"' | '`' => {
                    text.push(c);
                    quoted(c, &mut chars, &mut text);
                }
                '#' => line_comment(c, &mut chars, &mut text),
                // MySQL's `--` comment needs a space after it (`a--1` is arithmetic).
                '-' if chars.peek() == Some(&'-')
                    && chars.clone().nth(1).is_none_or(char::is_whitespace) =>
                {
                    line_comment(c, &mut chars, &mut text)
                }
                '/' if chars.peek() == Some(&'*') => {
                    text.push(c);
                    let mut last = ' ';
                    for c in chars.by_ref() {
                        text.push(c);
                        if last == '*' && c == '/' {
                            break;
                        }
                        last = c;
                    }
                }
                '$' if !is_word(previous) => {
                    let index = chars.peek().and_then(|d| d.to_digit(10));
                    match index {
                        Some(n @ 1..=3) => {
                            chars.next();
                            text.push('?');
                            binds.push(n as usize - 1);
                        }
                        _ => text.push(c),
                    }
                }
                _ => text.push(c),
            }
            previous = c;
        }
        Statement { text, binds }
    }
}

fn is_word(c: char) -> bool {
    c.is_alphanumeric() || c == '_' || c == '$'
}

/// Copies a literal or quoted identifier up to its closing `quote` (a doubled quote reopens
/// it; a backslash escapes the next character in strings, as MySQL reads them by default).
fn quoted(quote: char, chars: &mut impl Iterator<Item = char>, text: &mut String) {
    while let Some(c) = chars.next() {
        text.push(c);
        if c == quote {
            return;
        }
        if c == '\\'
            && quote != '`'
            && let Some(escaped) = chars.next()
        {
            text.push(escaped);
        }
    }
}

/// Copies `-- …` or `# …` up to the end of its line.
fn line_comment(first: char, chars: &mut impl Iterator<Item = char>, text: &mut String) {
    text.push(first);
    for c in chars.by_ref() {
        text.push(c);
        if c == '\n' {
            return;
        }
    }
}

impl Backend for SqlBackend {
    fn lookup<'a>(&'a self, address: &'a EmailAddress) -> Lookup<'a> {
        Box::pin(self.query(address))
    }
}

/// The row as `(column name, text)`; NULL columns are left out. Numbers and booleans are
/// accepted as text (a `port` column is usually an integer).
fn columns(row: &AnyRow) -> Result<Vec<(String, String)>, BackendError> {
    let mut fields = Vec::with_capacity(row.columns().len());
    for (index, column) in row.columns().iter().enumerate() {
        let raw = row.try_get_raw(index).map_err(classify)?;
        if raw.is_null() {
            continue;
        }
        let kind = raw.type_info().kind();
        let text = match kind {
            AnyTypeInfoKind::Text => row.try_get::<String, _>(index).map_err(classify)?,
            AnyTypeInfoKind::Bool => row.try_get::<bool, _>(index).map_err(classify)?.to_string(),
            kind if kind.is_integer() => {
                row.try_get::<i64, _>(index).map_err(classify)?.to_string()
            }
            _ => {
                return Err(BackendError::BadOutput(format!(
                    "column {} has type {}, expected text or an integer",
                    column.name(),
                    raw.type_info().name()
                )));
            }
        };
        fields.push((column.name().to_owned(), text));
    }
    Ok(fields)
}

/// sqlx errors by meaning. The texts name no password: the URL is never part of them.
fn classify(error: sqlx::Error) -> BackendError {
    match error {
        sqlx::Error::Database(error) => BackendError::Failed(format!(
            "database error {}: {}",
            error.code().unwrap_or_default(),
            error.message()
        )),
        sqlx::Error::PoolTimedOut => BackendError::Timeout,
        sqlx::Error::ColumnDecode { .. }
        | sqlx::Error::ColumnNotFound(_)
        | sqlx::Error::ColumnIndexOutOfBounds { .. }
        | sqlx::Error::TypeNotFound { .. }
        | sqlx::Error::Decode(_) => BackendError::BadOutput(error.to_string()),
        sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::Protocol(_)
        | sqlx::Error::PoolClosed
        | sqlx::Error::Configuration(_) => BackendError::Unavailable(error.to_string()),
        other => BackendError::Failed(other.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::Statement;

    fn positional(query: &str) -> (String, Vec<usize>) {
        let statement = Statement::positional(query);
        (statement.text, statement.binds)
    }

    #[test]
    fn mysql_markers_follow_the_numbered_parameters_in_order() {
        assert_eq!(
            positional("SELECT a FROM t WHERE local = $2 AND domain = $3 OR alias = $2"),
            (
                "SELECT a FROM t WHERE local = ? AND domain = ? OR alias = ?".into(),
                vec![1, 2, 1]
            )
        );
        assert_eq!(positional("SELECT 1"), ("SELECT 1".into(), vec![]));
        assert_eq!(positional("SELECT 2--$1"), ("SELECT 2--?".into(), vec![0]));
    }

    #[test]
    fn mysql_markers_skip_literals_identifiers_and_comments() {
        let query = "SELECT '$1', \"it\\\"s $2\", `odd$3`, price$1, 'o''$2' -- $1\n\
                     # $2\n/* $3 */ FROM t WHERE a = $1";
        let (text, binds) = positional(query);
        assert_eq!(text, query.replace("a = $1", "a = ?"));
        assert_eq!(binds, vec![0]);
    }
}
