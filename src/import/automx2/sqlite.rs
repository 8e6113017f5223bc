//! automx2's SQLite database → its table rows. Opened read-only through sqlx's SQLite driver
//! (the one the SQL backend uses). Columns added in later automx2 releases (`server.prio`,
//! the `ldapserver` and `davserver` tables) may be missing from an older database; they get
//! the defaults automx2 gave them when it added them.

use std::path::Path;

use sqlx::sqlite::{SqliteConnectOptions, SqliteConnection, SqliteRow};
use sqlx::{Connection as _, Decode, Row as _, Sqlite, Type};

use super::{DavRow, DomainRow, LdapRow, ProviderRow, ServerRow, Tables, invalid};
use crate::import::ImportError;

/// More rows than this in one table is no automx2 database an admin keeps by hand (and the
/// output would be unreadable): refused rather than read without bound.
const MAX_ROWS: usize = 10_000;

pub(super) async fn read(path: &Path, file: &str) -> Result<Tables, ImportError> {
    let options = SqliteConnectOptions::new()
        .filename(path)
        .read_only(true)
        .create_if_missing(false);
    let mut db = SqliteConnection::connect_with(&options)
        .await
        .map_err(|error| sql(file, "cannot open the database", &error))?;
    let reader = Reader { file };
    let tables = reader.tables(&mut db).await;
    // Closing a read-only connection cannot lose anything; its error is of no use here.
    let _ = db.close().await;
    let tables = tables?;
    tables.refuse_control_characters(file)?;
    Ok(tables)
}

fn sql(file: &str, what: &str, error: &sqlx::Error) -> ImportError {
    invalid(file, None, format!("{what}: {error}"))
}

struct Reader<'f> {
    file: &'f str,
}

impl Reader<'_> {
    async fn tables(&self, db: &mut SqliteConnection) -> Result<Tables, ImportError> {
        let names: Vec<String> = self
            .rows(db, "SELECT name FROM sqlite_master WHERE type = 'table'")
            .await?
            .iter()
            .map(|row| self.get(row, "name", "sqlite_master"))
            .collect::<Result<_, _>>()?;
        for table in ["provider", "domain", "server", "server_domain"] {
            if !names.iter().any(|name| name == table) {
                return Err(invalid(
                    self.file,
                    None,
                    format!("no table {table}: not an automx2 database"),
                ));
            }
        }
        let has = |table: &str| names.iter().any(|name| name == table);
        let server_links = self.links(db, "server_domain", "server_id").await?;
        let mut tables = Tables {
            providers: self.providers(db).await?,
            domains: self.domains(db, has("ldapserver")).await?,
            servers: self.servers(db, &server_links).await?,
            ..Tables::default()
        };
        if has("davserver") && has("davserver_domain") {
            let links = self.links(db, "davserver_domain", "davserver_id").await?;
            tables.davservers = self.davservers(db, &links).await?;
        }
        if has("ldapserver") {
            tables.ldapservers = self.ldapservers(db).await?;
        }
        Ok(tables)
    }

    async fn rows(
        &self,
        db: &mut SqliteConnection,
        query: &'static str,
    ) -> Result<Vec<SqliteRow>, ImportError> {
        let rows = sqlx::query(query)
            .fetch_all(&mut *db)
            .await
            .map_err(|error| sql(self.file, query, &error))?;
        if rows.len() > MAX_ROWS {
            return Err(invalid(
                self.file,
                None,
                format!("{query}: more than {MAX_ROWS} rows; not an automx2 database"),
            ));
        }
        Ok(rows)
    }

    /// One column of `row`; NULL, or a value of another type, is an error naming the row.
    fn get<'r, T>(&self, row: &'r SqliteRow, column: &str, origin: &str) -> Result<T, ImportError>
    where
        T: Decode<'r, Sqlite> + Type<Sqlite>,
    {
        row.try_get(column).map_err(|error| {
            invalid(
                self.file,
                None,
                format!("{origin}: column {column}: {error}"),
            )
        })
    }

    /// `(row id, domain id)` pairs of a link table.
    async fn links(
        &self,
        db: &mut SqliteConnection,
        table: &'static str,
        column: &str,
    ) -> Result<Vec<(i64, i64)>, ImportError> {
        let query = match table {
            "server_domain" => "SELECT server_id, domain_id FROM server_domain",
            _ => "SELECT davserver_id, domain_id FROM davserver_domain",
        };
        self.rows(db, query)
            .await?
            .iter()
            .map(|row| {
                Ok((
                    self.get(row, column, table)?,
                    self.get(row, "domain_id", table)?,
                ))
            })
            .collect()
    }

    async fn providers(&self, db: &mut SqliteConnection) -> Result<Vec<ProviderRow>, ImportError> {
        let rows = self
            .rows(db, "SELECT id, name, short_name FROM provider ORDER BY id")
            .await?;
        rows.iter()
            .map(|row| {
                let id: i64 = self.get(row, "id", "table provider")?;
                let origin = format!("table provider, id {id}");
                Ok(ProviderRow {
                    id,
                    name: self.get(row, "name", &origin)?,
                    short_name: self.get(row, "short_name", &origin)?,
                })
            })
            .collect()
    }

    async fn domains(
        &self,
        db: &mut SqliteConnection,
        with_ldap: bool,
    ) -> Result<Vec<DomainRow>, ImportError> {
        let query = if with_ldap {
            "SELECT id, name, provider_id, ldapserver_id FROM domain ORDER BY id"
        } else {
            "SELECT id, name, provider_id, NULL AS ldapserver_id FROM domain ORDER BY id"
        };
        let rows = self.rows(db, query).await?;
        rows.iter()
            .map(|row| {
                let id: i64 = self.get(row, "id", "table domain")?;
                let origin = format!("table domain, id {id}");
                Ok(DomainRow {
                    name: self.get(row, "name", &origin)?,
                    provider_id: self.get(row, "provider_id", &origin)?,
                    ldapserver_id: self.get(row, "ldapserver_id", &origin)?,
                    origin,
                    id,
                })
            })
            .collect()
    }

    async fn servers(
        &self,
        db: &mut SqliteConnection,
        links: &[(i64, i64)],
    ) -> Result<Vec<ServerRow>, ImportError> {
        let columns: Vec<String> = self
            .rows(db, "SELECT name FROM pragma_table_info('server')")
            .await?
            .iter()
            .map(|row| self.get(row, "name", "table server"))
            .collect::<Result<_, _>>()?;
        // `prio` came with automx2 2022.1; before, every server had the same rank.
        let query = if columns.iter().any(|c| c == "prio") {
            "SELECT id, prio, name, port, type, socket_type, user_name, authentication \
             FROM server ORDER BY id"
        } else {
            "SELECT id, 10 AS prio, name, port, type, socket_type, user_name, authentication \
             FROM server ORDER BY id"
        };
        let rows = self.rows(db, query).await?;
        rows.iter()
            .map(|row| {
                let id: i64 = self.get(row, "id", "table server")?;
                let origin = format!("table server, id {id}");
                Ok(ServerRow {
                    prio: self.get(row, "prio", &origin)?,
                    name: self.get(row, "name", &origin)?,
                    port: self.get(row, "port", &origin)?,
                    kind: self.get(row, "type", &origin)?,
                    socket_type: self.get(row, "socket_type", &origin)?,
                    user_name: self.get(row, "user_name", &origin)?,
                    authentication: self.get(row, "authentication", &origin)?,
                    domain_ids: linked(links, id),
                    origin,
                })
            })
            .collect()
    }

    async fn davservers(
        &self,
        db: &mut SqliteConnection,
        links: &[(i64, i64)],
    ) -> Result<Vec<DavRow>, ImportError> {
        let rows = self
            .rows(
                db,
                "SELECT id, url, port, type, use_ssl, domain_required, user_name \
                 FROM davserver ORDER BY id",
            )
            .await?;
        rows.iter()
            .map(|row| {
                let id: i64 = self.get(row, "id", "table davserver")?;
                let origin = format!("table davserver, id {id}");
                Ok(DavRow {
                    url: self.get(row, "url", &origin)?,
                    port: self.get(row, "port", &origin)?,
                    kind: self.get(row, "type", &origin)?,
                    use_ssl: self.get(row, "use_ssl", &origin)?,
                    domain_required: self.get(row, "domain_required", &origin)?,
                    user_name: self.get(row, "user_name", &origin)?,
                    domain_ids: linked(links, id),
                    origin,
                })
            })
            .collect()
    }

    async fn ldapservers(&self, db: &mut SqliteConnection) -> Result<Vec<LdapRow>, ImportError> {
        let rows = self
            .rows(
                db,
                "SELECT id, name, port, use_ssl, search_base, search_filter, attr_uid, attr_cn, \
                 bind_user FROM ldapserver ORDER BY id",
            )
            .await?;
        rows.iter()
            .map(|row| {
                let id: i64 = self.get(row, "id", "table ldapserver")?;
                let origin = format!("table ldapserver, id {id}");
                Ok(LdapRow {
                    name: self.get(row, "name", &origin)?,
                    port: self.get(row, "port", &origin)?,
                    use_ssl: self.get(row, "use_ssl", &origin)?,
                    search_base: self.get(row, "search_base", &origin)?,
                    search_filter: self.get(row, "search_filter", &origin)?,
                    attr_uid: self.get(row, "attr_uid", &origin)?,
                    attr_cn: self.get(row, "attr_cn", &origin)?,
                    bind_user: self.get(row, "bind_user", &origin)?,
                    origin,
                    id,
                })
            })
            .collect()
    }
}

/// The domains a link table ties row `id` to, in link order.
fn linked(links: &[(i64, i64)], id: i64) -> Vec<i64> {
    links
        .iter()
        .filter(|(row, _)| *row == id)
        .map(|(_, domain)| *domain)
        .collect()
}
