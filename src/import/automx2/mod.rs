//! `mxconf import automx2`: automx2's database (SQLite, the schema its `/initdb/` endpoint
//! creates) or its JSON seed file (the body of `POST /initdb/`, version 1 or 2) → an mxconf
//! configuration.
//!
//! One file per job: `seed` reads the JSON and `sqlite` the database, both into the rows of
//! automx2's tables below (the seed with the defaults automx2's seeding code fills in), and
//! `translate` maps those rows onto the model the shared writer prints. Both inputs therefore
//! translate alike, and what automx2 would have answered from the rows is what mxconf answers.

mod seed;
mod sqlite;
mod translate;

use std::path::Path;

use super::{ImportError, Imported};

/// The first bytes of every SQLite 3 database file.
const SQLITE_MAGIC: &[u8] = b"SQLite format 3\0";

/// automx2's default login name (`PLACEHOLDER_ADDRESS`), the same placeholder as mxconf's.
const ADDRESS: &str = "%EMAILADDRESS%";

/// True when `bytes` start like an SQLite database (else the file is taken for a seed).
pub fn is_sqlite(bytes: &[u8]) -> bool {
    bytes.starts_with(SQLITE_MAGIC)
}

/// Translates automx2's JSON seed `text` read from `file` (the name is only used in messages).
pub fn import_seed(text: &str, file: &str) -> Result<Imported, ImportError> {
    super::check_size(text, file)?;
    let tables = seed::read(text, file)?;
    tables.translate(Source::Seed, file)
}

/// Translates automx2's SQLite database at `path` (opened read-only); `file` names it in
/// messages.
pub async fn import_sqlite(path: &Path, file: &str) -> Result<Imported, ImportError> {
    let tables = sqlite::read(path, file).await?;
    tables.translate(Source::Database, file)
}

/// Which of automx2's two forms the rows came from (for the header).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Source {
    Seed,
    Database,
}

/// automx2's tables as rows (its `model.py`), with the link tables folded into the servers.
/// `origin` says where a row was read (`table server, id 3` or `servers[2]`), for messages.
#[derive(Debug, Default)]
struct Tables {
    providers: Vec<ProviderRow>,
    domains: Vec<DomainRow>,
    servers: Vec<ServerRow>,
    davservers: Vec<DavRow>,
    ldapservers: Vec<LdapRow>,
}

#[derive(Debug)]
struct ProviderRow {
    id: i64,
    name: String,
    short_name: String,
}

#[derive(Debug)]
struct DomainRow {
    origin: String,
    id: i64,
    name: String,
    provider_id: i64,
    ldapserver_id: Option<i64>,
}

/// A row of `server` (IMAP, POP, SMTP) and the domains `server_domain` links it to.
#[derive(Debug)]
struct ServerRow {
    origin: String,
    prio: i64,
    name: String,
    port: i64,
    kind: String,
    socket_type: String,
    user_name: String,
    authentication: String,
    domain_ids: Vec<i64>,
}

/// A row of `davserver` (CalDAV, CardDAV) and the domains `davserver_domain` links it to.
#[derive(Debug)]
struct DavRow {
    origin: String,
    url: String,
    port: i64,
    kind: String,
    use_ssl: bool,
    domain_required: bool,
    user_name: Option<String>,
    domain_ids: Vec<i64>,
}

#[derive(Debug)]
struct LdapRow {
    origin: String,
    id: i64,
    name: String,
    port: i64,
    use_ssl: bool,
    search_base: String,
    search_filter: String,
    attr_uid: String,
    attr_cn: Option<String>,
    bind_user: Option<String>,
}

impl Tables {
    /// Every text value with where it came from, for the checks that apply to all of them.
    fn texts(&self) -> Vec<(&str, &'static str, &str)> {
        let mut texts = Vec::new();
        for provider in &self.providers {
            texts.push(("provider", "name", provider.name.as_str()));
            texts.push(("provider", "short_name", provider.short_name.as_str()));
        }
        for domain in &self.domains {
            texts.push((domain.origin.as_str(), "name", domain.name.as_str()));
        }
        for server in &self.servers {
            let origin = server.origin.as_str();
            texts.extend([
                (origin, "name", server.name.as_str()),
                (origin, "type", server.kind.as_str()),
                (origin, "socket_type", server.socket_type.as_str()),
                (origin, "user_name", server.user_name.as_str()),
                (origin, "authentication", server.authentication.as_str()),
            ]);
        }
        for dav in &self.davservers {
            let origin = dav.origin.as_str();
            texts.extend([
                (origin, "url", dav.url.as_str()),
                (origin, "type", &dav.kind),
            ]);
            texts.extend(
                dav.user_name
                    .iter()
                    .map(|u| (origin, "user_name", u.as_str())),
            );
        }
        for ldap in &self.ldapservers {
            let origin = ldap.origin.as_str();
            texts.extend([
                (origin, "name", ldap.name.as_str()),
                (origin, "search_base", &ldap.search_base),
                (origin, "search_filter", &ldap.search_filter),
                (origin, "attr_uid", &ldap.attr_uid),
            ]);
            texts.extend(ldap.attr_cn.iter().map(|a| (origin, "attr_cn", a.as_str())));
            texts.extend(
                ldap.bind_user
                    .iter()
                    .map(|b| (origin, "bind_user", b.as_str())),
            );
        }
        texts
    }

    /// A value with a control character is no setting automx2 could serve, and mxconf's keys
    /// refuse one: refused here, naming the row, rather than carried into the output.
    fn refuse_control_characters(&self, file: &str) -> Result<(), ImportError> {
        for (origin, field, value) in self.texts() {
            if let Some(c) = value.chars().find(|c| c.is_control()) {
                return Err(invalid(
                    file,
                    None,
                    format!(
                        "{origin}: {field} contains the control character U+{:04X}",
                        u32::from(c)
                    ),
                ));
            }
        }
        Ok(())
    }
}

fn invalid(file: &str, line: Option<usize>, message: String) -> ImportError {
    ImportError::Invalid {
        file: file.to_owned(),
        line,
        message,
    }
}
