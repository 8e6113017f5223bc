//! The one writer every importer shares: [`Imported`] → `mxconf.toml` text, built as a
//! `toml_edit` document. Keys, strings and arrays are encoded by the crate (so any text from a
//! foreign file, quotes and control characters included, round-trips); notes become `#`
//! comments in the decor above the table they concern.

use toml_edit::{Array, ArrayOfTables, DocumentMut, InlineTable, Item, Table, Value};

use super::model::{DomainOut, Imported, ServerOut, TableOut, TomlValue};
use crate::account::Services;

impl Imported {
    /// The configuration as `mxconf.toml` text.
    pub fn to_toml(&self) -> String {
        let mut doc = DocumentMut::new();
        // Comments wait here for the next table header; commented-out tables join them.
        let mut pending = comments(&self.header);
        if !pending.is_empty() {
            pending.push('\n');
        }
        pending.push_str(&comments(&self.provider_notes));
        let mut provider = Table::new();
        provider
            .decor_mut()
            .set_prefix(std::mem::take(&mut pending));
        provider.insert("id", string(&self.provider_id));
        provider.insert("display-name", string(&self.display_name));
        provider.insert("short-name", string(&self.short_name));
        doc.insert("provider", Item::Table(provider));

        if let Some(signing) = &self.signing {
            place(&mut doc, &mut pending, "signing", None, signing);
        }
        if let Some(limits) = &self.limits {
            place(&mut doc, &mut pending, "limits", None, limits);
        }
        for backend in &self.backends {
            place(
                &mut doc,
                &mut pending,
                "backends",
                Some(&backend.name),
                &backend.table,
            );
        }
        if let Some(defaults) = &self.defaults {
            let table = domain_table(defaults, &mut pending);
            doc.insert("defaults", Item::Table(table));
        }
        if !self.domains.is_empty() {
            let mut domains = Table::new();
            domains.set_implicit(true);
            for (name, domain) in &self.domains {
                domains.insert(name, Item::Table(domain_table(domain, &mut pending)));
            }
            doc.insert("domains", Item::Table(domains));
        }
        let mut text = doc.to_string();
        if !pending.is_empty() {
            text.push('\n');
            text.push_str(&pending);
        }
        text
    }
}

/// Inserts `table` at `parent.name` (or at `parent` without a name), or, when it is commented
/// out, renders it alone and adds its lines to `pending` as comments.
fn place(
    doc: &mut DocumentMut,
    pending: &mut String,
    parent: &str,
    name: Option<&str>,
    table: &TableOut,
) {
    let mut out = Table::new();
    for (key, value) in &table.keys {
        out.insert(key, Item::Value(toml_value(value)));
    }
    if table.commented_out {
        let mut alone = DocumentMut::new();
        insert_at(&mut alone, parent, name, out);
        pending.push('\n');
        pending.push_str(&comments(&table.notes));
        pending.push_str(&comments(&[alone.to_string()]));
        return;
    }
    out.decor_mut().set_prefix(format!(
        "\n{}{}",
        std::mem::take(pending),
        comments(&table.notes)
    ));
    insert_at(doc, parent, name, out);
}

fn insert_at(doc: &mut DocumentMut, parent: &str, name: Option<&str>, table: Table) {
    match name {
        None => {
            doc.insert(parent, Item::Table(table));
        }
        Some(name) => {
            let parent = doc
                .entry(parent)
                .or_insert_with(|| {
                    let mut implicit = Table::new();
                    implicit.set_implicit(true);
                    Item::Table(implicit)
                })
                .as_table_mut();
            if let Some(parent) = parent {
                parent.insert(name, Item::Table(table));
            }
        }
    }
}

fn domain_table(domain: &DomainOut, pending: &mut String) -> Table {
    let mut table = Table::new();
    table.decor_mut().set_prefix(format!(
        "\n{}{}",
        std::mem::take(pending),
        comments(&domain.notes)
    ));
    let Services { urls, oauth2: _ } = &domain.services;
    for (service, url) in urls.iter() {
        if let Some(url) = url {
            table.insert(service.name(), string(url));
        }
    }
    if let Some(sources) = &domain.sources {
        table.insert(
            "sources",
            Item::Value(toml_value(&TomlValue::Strings(sources.clone()))),
        );
    }
    // An empty list is a plain key; toml_edit writes plain keys before the arrays of tables.
    for (kind, servers) in domain.servers.iter() {
        if servers.as_ref().is_some_and(Vec::is_empty) {
            table.insert(kind.name(), Item::Value(Value::Array(Array::new())));
        }
    }
    for (kind, servers) in domain.servers.iter() {
        let servers = servers.iter().flatten();
        let entries: ArrayOfTables = servers.map(server_table).collect();
        if !entries.is_empty() {
            table.insert(kind.name(), Item::ArrayOfTables(entries));
        }
    }
    table
}

fn server_table(server: &ServerOut) -> Table {
    let mut table = Table::new();
    table
        .decor_mut()
        .set_prefix(format!("\n{}", comments(&server.notes)));
    table.insert("host", string(&server.host));
    table.insert("port", Item::Value(Value::from(i64::from(server.port))));
    table.insert("security", string(server.security.name()));
    match server.authentication.as_slice() {
        [] => {}
        [one] => {
            table.insert("authentication", string(one.name()));
        }
        many => {
            let names: Array = many.iter().map(|method| method.name()).collect();
            table.insert("authentication", Item::Value(Value::Array(names)));
        }
    }
    if let Some(username) = &server.username {
        table.insert("username", string(username));
    }
    table
}

fn string(text: &str) -> Item {
    Item::Value(Value::from(text))
}

fn toml_value(value: &TomlValue) -> Value {
    match value {
        TomlValue::Str(text) => Value::from(text.as_str()),
        TomlValue::Bool(flag) => Value::from(*flag),
        TomlValue::Int(number) => Value::from(*number),
        TomlValue::Strings(items) => Value::Array(items.iter().map(String::as_str).collect()),
        TomlValue::Table(pairs) => {
            let table: InlineTable = pairs
                .iter()
                .map(|(key, value)| (key.as_str(), Value::from(value.as_str())))
                .collect();
            Value::InlineTable(table)
        }
    }
}

/// `#` lines for `lines`; text with line breaks becomes several lines. A comment cannot hold
/// control characters (TOML), and notes quote foreign text, so those are written escaped.
fn comments(lines: &[String]) -> String {
    let mut out = String::new();
    for line in lines.iter().flat_map(|line| line.split('\n')) {
        let line: String = line
            .trim_end()
            .chars()
            .map(|c| {
                if c.is_control() && c != '\t' {
                    c.escape_unicode().to_string()
                } else {
                    c.to_string()
                }
            })
            .collect();
        if line.is_empty() {
            out.push_str("#\n");
        } else {
            out.push_str("# ");
            out.push_str(&line);
            out.push('\n');
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::account::{AuthMethod, Domain, Security, ServerKind};
    use crate::config::{Config, ConfigSource};
    use crate::import::model::BackendOut;

    #[test]
    fn values_round_trip_and_empty_lists_precede_array_tables() {
        let tricky = "a\"b\\c\nd\te\u{1}f ü'";
        let mut domain = DomainOut {
            notes: vec!["two\nlines".into(), "bell \u{7} in a note".into()],
            sources: Some(vec!["users-1_x".into()]),
            ..DomainOut::default()
        };
        domain.servers[ServerKind::Imap] = Some(vec![ServerOut {
            notes: vec![],
            host: "imap.example.org".into(),
            port: 993,
            security: Security::Tls,
            authentication: vec![AuthMethod::OAuth2, AuthMethod::PasswordCleartext],
            username: Some("%EMAILLOCALPART%".into()),
        }]);
        domain.servers[ServerKind::Pop3] = Some(vec![]);
        let command = TableOut {
            notes: vec![],
            keys: vec![
                ("type", TomlValue::Str("command".into())),
                (
                    "command",
                    TomlValue::Strings(vec!["/bin/x".into(), tricky.into()]),
                ),
            ],
            commented_out: false,
        };
        let imported = Imported {
            header: vec!["from a test".into()],
            provider_id: "example.org".into(),
            display_name: "Example \"Mail\"".into(),
            short_name: "Ex".into(),
            signing: Some(TableOut {
                notes: vec!["not here".into()],
                keys: vec![("cert", TomlValue::Str("/nonexistent.pem".into()))],
                commented_out: true,
            }),
            backends: vec![BackendOut {
                name: "users-1_x".into(),
                table: command,
            }],
            domains: vec![("example.org".into(), domain)],
            ..Imported::default()
        };
        let text = imported.to_toml();
        assert!(text.starts_with("# from a test\n\n[provider]\n"), "{text}");
        assert!(
            text.contains("# two\n# lines\n# bell \\u{7} in a note\n"),
            "{text}"
        );
        assert!(
            text.contains("# not here\n# [signing]\n# cert = \"/nonexistent.pem\"\n"),
            "{text}"
        );
        let config = Config::from_toml(&text, ConfigSource::File("t.toml".into()))
            .unwrap_or_else(|error| panic!("{error}\n{text}"));
        assert!(config.signing.is_none());
        let settings = config
            .domain(&Domain::parse("example.org").unwrap())
            .unwrap();
        assert_eq!(settings.incoming.len(), 1);
        assert_eq!(
            settings.incoming[0].authentication,
            vec![AuthMethod::OAuth2, AuthMethod::PasswordCleartext]
        );
        assert_eq!(config.provider.display_name, "Example \"Mail\"");
        let table: toml::Table = toml::from_str(&text).unwrap();
        assert_eq!(
            table["backends"]["users-1_x"]["command"][1].as_str(),
            Some(tricky)
        );
    }
}
