//! automx2's JSON seed (what `POST /initdb/` takes) → its table rows, with the defaults its
//! seeding code (`populate_with_dict`) fills in: ports 993/995/465 by type, `SSL` on those
//! ports and `STARTTLS` elsewhere, every server linked to every domain, the provider's short
//! name as the first word of its name. Version 2 (automx2 2026.1 and later) has `"version": 2`,
//! domain objects and `ldapservers`; version 1 (earlier releases) has no version and domain
//! names as plain strings.

use serde_json::{Map, Value};

use super::{ADDRESS, DavRow, DomainRow, LdapRow, ProviderRow, ServerRow, Tables, invalid};
use crate::import::ImportError;

/// automx2's default LDAP port (`LDAP_PORT`, unless its environment changed it).
const LDAP_PORT: i64 = 636;

pub(super) fn read(text: &str, file: &str) -> Result<Tables, ImportError> {
    let value: Value = serde_json::from_str(text).map_err(|error| ImportError::Syntax {
        file: file.to_owned(),
        line: Some(error.line()),
        message: format!("not a JSON seed: {error}"),
    })?;
    let fail = |message: String| invalid(file, None, message);
    let root = value
        .as_object()
        .ok_or_else(|| fail("a seed is a JSON object".into()))?;
    let version = match root.get("version") {
        None => 1,
        Some(version) => match version.as_i64() {
            Some(version @ (1 | 2)) => version,
            _ => {
                return Err(fail(format!(
                    "version: {version} is not a seed version automx2 knows (1 or 2)"
                )));
            }
        },
    };
    let seed = Seed { root, file };
    let name = seed.string(root, "provider", "provider")?;
    let short_name = name.split(' ').next().unwrap_or_default().to_owned();
    let mut tables = Tables {
        providers: vec![ProviderRow {
            id: 1,
            name,
            short_name,
        }],
        ..Tables::default()
    };
    if version == 2 {
        tables.ldapservers = seed.ldapservers()?;
    } else if root.contains_key("ldapservers") {
        return Err(fail(
            "ldapservers: a version 1 seed has none (add \"version\": 2, as automx2 2026.1 \
             requires)"
                .into(),
        ));
    }
    for (index, domain) in seed.array(root, "domains", "domains")?.iter().enumerate() {
        let at = format!("domains[{index}]");
        let (name, ldapserver_id) = if version == 2 {
            let object = seed.object(domain, &at)?;
            let ldapserver_id = match object.get("ldapserver_id") {
                None | Some(Value::Null) => None,
                Some(id) => Some(
                    id.as_i64()
                        .ok_or_else(|| fail(format!("{at}.ldapserver_id: {id} is not a number")))?,
                ),
            };
            // automx2 aborts the seeding for an id no LDAP server has.
            if let Some(id) = ldapserver_id
                && !tables.ldapservers.iter().any(|ldap| ldap.id == id)
            {
                return Err(fail(format!(
                    "{at}.ldapserver_id: no LDAP server has id {id}"
                )));
            }
            (seed.string(object, "name", &at)?, ldapserver_id)
        } else {
            let name = domain
                .as_str()
                .ok_or_else(|| fail(format!("{at}: a version 1 seed lists domain names")))?;
            (name.to_owned(), None)
        };
        tables.domains.push(DomainRow {
            origin: at,
            id: i64::try_from(index).unwrap_or(i64::MAX) + 1,
            name,
            provider_id: 1,
            ldapserver_id,
        });
    }
    if tables.domains.is_empty() {
        return Err(fail("domains: empty (automx2 needs at least one)".into()));
    }
    let all: Vec<i64> = tables.domains.iter().map(|d| d.id).collect();
    for (index, server) in seed.array(root, "servers", "servers")?.iter().enumerate() {
        let at = format!("servers[{index}]");
        let object = seed.object(server, &at)?;
        let kind = seed.string(object, "type", &at)?;
        let default_port = match kind.as_str() {
            "caldav" | "carddav" => {
                let url = seed.string(object, "url", &at)?;
                tables.davservers.push(DavRow {
                    use_ssl: url.starts_with("https:"),
                    url,
                    port: seed.integer(object, "port", &at, 0)?,
                    kind,
                    domain_required: true,
                    user_name: Some(ADDRESS.to_owned()),
                    domain_ids: all.clone(),
                    origin: at,
                });
                continue;
            }
            "imap" => 993,
            "pop" => 995,
            "smtp" => 465,
            other => return Err(fail(format!("{at}.type: unknown server type {other:?}"))),
        };
        let port = seed.integer(object, "port", &at, default_port)?;
        tables.servers.push(ServerRow {
            prio: seed.integer(object, "prio", &at, 10)?,
            name: seed.string(object, "name", &at)?,
            port,
            kind,
            socket_type: if matches!(port, 465 | 993 | 995) {
                "SSL"
            } else {
                "STARTTLS"
            }
            .into(),
            user_name: ADDRESS.into(),
            authentication: "plain".into(),
            domain_ids: all.clone(),
            origin: at,
        });
    }
    if tables.servers.is_empty() {
        return Err(fail(
            "servers: no IMAP, POP or SMTP server (automx2 aborts such a seed)".into(),
        ));
    }
    tables.refuse_control_characters(file)?;
    Ok(tables)
}

struct Seed<'a> {
    root: &'a Map<String, Value>,
    file: &'a str,
}

impl<'a> Seed<'a> {
    fn fail(&self, message: String) -> ImportError {
        invalid(self.file, None, message)
    }

    fn object(&self, value: &'a Value, at: &str) -> Result<&'a Map<String, Value>, ImportError> {
        value
            .as_object()
            .ok_or_else(|| self.fail(format!("{at}: not a JSON object")))
    }

    fn array(
        &self,
        object: &'a Map<String, Value>,
        key: &str,
        at: &str,
    ) -> Result<&'a Vec<Value>, ImportError> {
        match object.get(key) {
            Some(Value::Array(items)) => Ok(items),
            Some(_) => Err(self.fail(format!("{at}: not a list"))),
            None => Err(self.fail(format!("{at}: missing (automx2 requires it)"))),
        }
    }

    fn string(
        &self,
        object: &Map<String, Value>,
        key: &str,
        at: &str,
    ) -> Result<String, ImportError> {
        let at = if at == key {
            key.to_owned()
        } else {
            format!("{at}.{key}")
        };
        match object.get(key) {
            Some(Value::String(text)) => Ok(text.clone()),
            Some(other) => Err(self.fail(format!("{at}: {other} is not a string"))),
            None => Err(self.fail(format!("{at}: missing (automx2 requires it)"))),
        }
    }

    fn optional_string(
        &self,
        object: &Map<String, Value>,
        key: &str,
        at: &str,
        default: &str,
    ) -> Result<String, ImportError> {
        match object.get(key) {
            None => Ok(default.to_owned()),
            Some(_) => self.string(object, key, at),
        }
    }

    fn integer(
        &self,
        object: &Map<String, Value>,
        key: &str,
        at: &str,
        default: i64,
    ) -> Result<i64, ImportError> {
        match object.get(key) {
            None => Ok(default),
            Some(value) => value
                .as_i64()
                .ok_or_else(|| self.fail(format!("{at}.{key}: {value} is not a number"))),
        }
    }

    fn ldapservers(&self) -> Result<Vec<LdapRow>, ImportError> {
        let Some(list) = self.root.get("ldapservers") else {
            return Ok(Vec::new());
        };
        let Value::Array(items) = list else {
            return Err(self.fail("ldapservers: not a list".into()));
        };
        let mut rows = Vec::new();
        for (index, item) in items.iter().enumerate() {
            let at = format!("ldapservers[{index}]");
            let object = self.object(item, &at)?;
            let id = match object.get("id") {
                Some(id) => id
                    .as_i64()
                    .ok_or_else(|| self.fail(format!("{at}.id: {id} is not a number")))?,
                None => return Err(self.fail(format!("{at}.id: missing (automx2 requires it)"))),
            };
            // Mandatory in automx2's seed, although mxconf never copies the password.
            self.string(object, "bind_password", &at)?;
            let port = self.integer(object, "port", &at, LDAP_PORT)?;
            rows.push(LdapRow {
                id,
                name: self.string(object, "name", &at)?,
                port,
                use_ssl: object.get("use_ssl").map_or(port == LDAP_PORT, truthy),
                search_base: self.string(object, "search_base", &at)?,
                search_filter: self.optional_string(object, "search_filter", &at, "(mail={0})")?,
                attr_uid: self.optional_string(object, "attr_uid", &at, "uid")?,
                attr_cn: Some(self.optional_string(object, "attr_cn", &at, "cn")?),
                bind_user: Some(self.string(object, "bind_user", &at)?),
                origin: at,
            });
        }
        Ok(rows)
    }
}

/// automx2's `truthy`: a boolean, a non-zero number, or the text 1/true/yes.
fn truthy(value: &Value) -> bool {
    match value {
        Value::Bool(flag) => *flag,
        Value::Number(number) => number.as_f64().is_some_and(|n| n != 0.0),
        Value::String(text) => matches!(text.to_lowercase().as_str(), "1" | "true" | "yes"),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_1_and_2_fill_in_automx2_defaults() {
        let v1 = r#"{"provider": "Example Inc.", "domains": ["example.com", "example.net"],
            "servers": [{"type": "imap", "name": "imap.example.com"},
                        {"type": "smtp", "port": 587, "name": "smtp.example.com"},
                        {"type": "caldav", "url": "https://dav.example.com/"}]}"#;
        let tables = read(v1, "v1.json").unwrap();
        assert_eq!(tables.providers[0].short_name, "Example");
        assert_eq!(tables.domains.len(), 2);
        let imap = &tables.servers[0];
        assert_eq!((imap.port, imap.socket_type.as_str()), (993, "SSL"));
        let smtp = &tables.servers[1];
        assert_eq!((smtp.port, smtp.socket_type.as_str()), (587, "STARTTLS"));
        assert_eq!(smtp.domain_ids, [1, 2]);
        assert!(tables.davservers[0].use_ssl);

        let v2 = r#"{"version": 2, "provider": "P", "domains": [{"name": "a.example"},
            {"name": "b.example", "ldapserver_id": 7}],
            "ldapservers": [{"id": 7, "name": "ldap.example", "port": 389, "search_base": "o=x",
                             "bind_user": "cn=u", "bind_password": "secret"}],
            "servers": [{"type": "pop", "name": "pop.a.example"}]}"#;
        let tables = read(v2, "v2.json").unwrap();
        assert_eq!(tables.domains[1].ldapserver_id, Some(7));
        let ldap = &tables.ldapservers[0];
        assert!(!ldap.use_ssl, "port 389 is not automx2's TLS default");
        assert_eq!(ldap.search_filter, "(mail={0})");
        assert_eq!(tables.servers[0].port, 995);
    }

    #[test]
    fn errors_name_the_place() {
        let error = |text: &str| read(text, "s.json").unwrap_err().to_string();
        assert!(error("{\n\"provider\": }").starts_with("s.json:2:"));
        assert_eq!(
            error(r#"{"version": 3}"#),
            "s.json: version: 3 is not a seed version automx2 knows (1 or 2)"
        );
        assert_eq!(
            error(r#"{"provider": "P", "domains": ["a.example"], "servers": [{"type": "jmap"}]}"#),
            "s.json: servers[0].type: unknown server type \"jmap\""
        );
        assert_eq!(
            error(
                r#"{"version": 2, "provider": "P", "domains": [{"name": "a.example", "ldapserver_id": 4}], "servers": []}"#
            ),
            "s.json: domains[0].ldapserver_id: no LDAP server has id 4"
        );
        assert!(
            error(r#"{"provider": "P\u0007", "domains": ["a.example"], "servers": [{"type": "imap", "name": "i"}]}"#)
                .contains("control character U+0007")
        );
    }
}
