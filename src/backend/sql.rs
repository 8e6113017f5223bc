//! The SQL source (sqlx `Any`: SQLite file or PostgreSQL). The admin writes the query; the
//! address, local part and domain are always bound as `$1`, `$2`, `$3` (SQLite reads `$N` as
//! a numbered parameter too), never formatted into the text. The first row's columns, named
//! after patch fields (`SELECT uid AS login_name …`), become the patch.

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
    timeout: Duration,
    /// Created on first use, so start-up does not depend on the database.
    pool: OnceCell<AnyPool>,
}

impl SqlBackend {
    pub fn new(settings: SqlSettings, timeout: Duration) -> Self {
        sqlx::any::install_default_drivers();
        SqlBackend {
            settings,
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
                    SqlDatabase::Postgres { url, password } => {
                        let mut url = url.clone();
                        if let Some(secret) = password {
                            let password = read_secret(secret)?;
                            // A socket URL (`postgres:///db?host=/run/postgresql`) has no
                            // user-info part; sqlx also reads the password from the query.
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
            SqlDatabase::Postgres { .. } => result,
        }
    }

    async fn query_pool(&self, address: &EmailAddress) -> LookupResult {
        let pool = self.pool().await?;
        let row = sqlx::query(AssertSqlSafe(self.settings.query.as_str()))
            .bind(address.as_str())
            .bind(address.local_part())
            .bind(address.domain().as_str())
            .fetch_optional(pool)
            .await
            .map_err(classify)?;
        row.map(|row| patch_from(columns(&row)?)).transpose()
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
