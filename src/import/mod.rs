//! Migration from foreign formats into `mxconf.toml` text: automx's INI (`automx`) and
//! Thunderbird ISPDB provider files (`ispdb`). Each importer reads its format into the small
//! model below, and one writer turns the model into commented TOML, so the output always has
//! the same shape and quoting. Sits beside `config` (it writes what `config` reads); never
//! imports `server` or `cli`.

pub mod automx;
pub mod ispdb;

use std::fmt::Write as _;

use crate::account::{AuthMethod, Domain, PerKind, Security, Services, Stage, Template};

/// Why a foreign file could not be imported. Every variant names the file and, where the
/// parser knows it, the line, so `mxconf import` errors read `file:line: what is wrong`.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error("cannot read {file}: {source}")]
    Read {
        file: String,
        #[source]
        source: std::io::Error,
    },
    /// The text is not the format it claims to be (INI or XML syntax).
    #[error("{}: {message}", location(.file, *.line))]
    Syntax {
        file: String,
        line: Option<usize>,
        message: String,
    },
    /// The text parses, but a value cannot be carried over (e.g. a port that is not a number).
    #[error("{}: {message}", location(.file, *.line))]
    Invalid {
        file: String,
        line: Option<usize>,
        message: String,
    },
}

/// Larger inputs are refused before parsing: parsers are bounded. The biggest real
/// files are far below this: automx.conf a few KiB, ISPDB files under 10 KiB.
pub const MAX_INPUT: usize = 4 * 1024 * 1024;

/// Refuses input over [`MAX_INPUT`] before any parser sees it.
fn check_size(text: &str, file: &str) -> Result<(), ImportError> {
    if text.len() > MAX_INPUT {
        return Err(ImportError::Invalid {
            file: file.to_owned(),
            line: None,
            message: format!(
                "larger than {} MiB; not a configuration file",
                MAX_INPUT >> 20
            ),
        });
    }
    Ok(())
}

fn location(file: &str, line: Option<usize>) -> String {
    match line {
        Some(line) => format!("{file}:{line}"),
        None => file.to_owned(),
    }
}

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
    /// `[backends.NAME]` tables (per-user sources), in output order.
    pub backends: Vec<BackendOut>,
    /// `[defaults]`, merged by mxconf into every domain.
    pub defaults: Option<DomainOut>,
    /// `[domains."NAME"]` in output order.
    pub domains: Vec<(String, DomainOut)>,
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
}

/// One `[backends.NAME]` table: keys in output order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackendOut {
    pub name: String,
    pub notes: Vec<String>,
    pub keys: Vec<(&'static str, TomlValue)>,
}

/// The few TOML value shapes a backend table needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TomlValue {
    Str(String),
    Bool(bool),
    Strings(Vec<String>),
    /// An inline table of strings, e.g. `{ login_name = "uid" }`.
    Table(Vec<(String, String)>),
}

impl TomlValue {
    fn to_toml(&self) -> String {
        match self {
            TomlValue::Str(text) => quote(text),
            TomlValue::Bool(value) => value.to_string(),
            TomlValue::Strings(items) => {
                let items: Vec<String> = items.iter().map(|item| quote(item)).collect();
                format!("[{}]", items.join(", "))
            }
            TomlValue::Table(pairs) => {
                let pairs: Vec<String> = pairs
                    .iter()
                    .map(|(key, value)| format!("{} = {}", key_text(key), quote(value)))
                    .collect();
                format!("{{ {} }}", pairs.join(", "))
            }
        }
    }
}

/// A bare key when TOML allows one, else a quoted key.
fn key_text(key: &str) -> String {
    if !key.is_empty()
        && key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    {
        key.to_owned()
    } else {
        quote(key)
    }
}

impl DomainOut {
    /// The fields that end up in the config (notes excluded): used to tell whether a domain
    /// differs from the defaults.
    fn same_settings(&self, other: &DomainOut) -> bool {
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

/// A TOML basic string: every character that TOML does not allow raw is escaped, so any text
/// from a foreign file (quotes, backslashes, control characters) round-trips exactly.
pub fn quote(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if c.is_control() => {
                let _ = write!(out, "\\u{:04X}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Writes comment lines; text with line breaks becomes several comment lines.
fn comment(out: &mut String, lines: &[String]) {
    for line in lines.iter().flat_map(|line| line.split('\n')) {
        let line = line.trim_end();
        if line.is_empty() {
            out.push_str("#\n");
        } else {
            let _ = writeln!(out, "# {line}");
        }
    }
}

impl Imported {
    /// The configuration as `mxconf.toml` text.
    pub fn to_toml(&self) -> String {
        let mut out = String::new();
        comment(&mut out, &self.header);
        out.push('\n');
        comment(&mut out, &self.provider_notes);
        out.push_str("[provider]\n");
        let _ = writeln!(out, "id = {}", quote(&self.provider_id));
        let _ = writeln!(out, "display-name = {}", quote(&self.display_name));
        let _ = writeln!(out, "short-name = {}", quote(&self.short_name));
        for backend in &self.backends {
            out.push('\n');
            comment(&mut out, &backend.notes);
            let _ = writeln!(out, "[backends.{}]", key_text(&backend.name));
            for (key, value) in &backend.keys {
                let _ = writeln!(out, "{key} = {}", value.to_toml());
            }
        }
        if let Some(defaults) = &self.defaults {
            out.push('\n');
            write_domain(&mut out, "defaults", defaults);
        }
        for (name, domain) in &self.domains {
            out.push('\n');
            write_domain(&mut out, &format!("domains.{}", quote(name)), domain);
        }
        out
    }
}

fn write_domain(out: &mut String, path: &str, domain: &DomainOut) {
    comment(out, &domain.notes);
    let _ = writeln!(out, "[{path}]");
    let Services { urls } = &domain.services;
    for (service, url) in urls.iter() {
        if let Some(url) = url {
            let _ = writeln!(out, "{} = {}", service.name(), quote(url));
        }
    }
    if let Some(sources) = &domain.sources {
        let _ = writeln!(
            out,
            "sources = {}",
            TomlValue::Strings(sources.clone()).to_toml()
        );
    }
    // Empty lists are plain keys and must come before the first array-of-tables header.
    for (kind, servers) in domain.servers.iter() {
        if servers.as_ref().is_some_and(Vec::is_empty) {
            let _ = writeln!(out, "{} = []", kind.name());
        }
    }
    for (kind, servers) in domain.servers.iter() {
        for server in servers.iter().flatten() {
            out.push('\n');
            comment(out, &server.notes);
            let _ = writeln!(out, "[[{path}.{}]]", kind.name());
            let _ = writeln!(out, "host = {}", quote(&server.host));
            let _ = writeln!(out, "port = {}", server.port);
            let _ = writeln!(out, "security = {}", quote(server.security.name()));
            let methods: Vec<String> = server
                .authentication
                .iter()
                .map(|method| quote(method.name()))
                .collect();
            match methods.as_slice() {
                [] => {}
                [one] => {
                    let _ = writeln!(out, "authentication = {one}");
                }
                many => {
                    let _ = writeln!(out, "authentication = [{}]", many.join(", "));
                }
            }
            if let Some(username) = &server.username {
                let _ = writeln!(out, "username = {}", quote(username));
            }
        }
    }
}

/// Adds `name` to `domains` in canonical form unless it is already there; `false` when it is
/// not a domain name (the caller says so in the output's comments).
fn add_domain(domains: &mut Vec<String>, name: &str) -> bool {
    match Domain::parse(name) {
        Ok(domain) => {
            let domain = domain.to_string();
            if !domains.contains(&domain) {
                domains.push(domain);
            }
            true
        }
        Err(_) => false,
    }
}

/// True when `host` is a host name once `%EMAILDOMAIN%` is filled in (the only placeholder a
/// host may hold before the importer writes it out per domain).
fn is_host_template(host: &str) -> bool {
    Domain::parse(&Template::new(host).probe_domain()).is_ok()
}

/// Cuts `text` to at most `limit` characters (the config's caps on provider names), saying so
/// in `notes` when it had to.
fn fit(text: &str, limit: usize, field: &str, notes: &mut Vec<String>) -> String {
    if text.chars().count() <= limit {
        return text.to_owned();
    }
    let cut: String = text
        .chars()
        .take(limit)
        .collect::<String>()
        .trim_end()
        .to_owned();
    notes.push(format!(
        "{field} shortened to {limit} characters (autoconfig draft limit); was: {text}"
    ));
    cut
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::account::ServerKind;

    #[test]
    fn quote_escapes_what_toml_needs() {
        let tricky = "a\"b\\c\nd\te\u{1}f ü";
        let doc = format!("x = {}\n", quote(tricky));
        let table: toml::Table = toml::from_str(&doc).unwrap();
        assert_eq!(table["x"].as_str(), Some(tricky));
    }

    #[test]
    fn empty_lists_precede_array_tables_and_parse() {
        let mut domain = DomainOut {
            notes: vec!["two\nlines".into()],
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
        let imported = Imported {
            header: vec!["from a test".into()],
            provider_id: "example.org".into(),
            display_name: "Example \"Mail\"".into(),
            short_name: "Ex".into(),
            provider_notes: vec![],
            backends: vec![BackendOut {
                name: "users-1_x".into(),
                notes: vec![],
                keys: vec![
                    ("type", TomlValue::Str("command".into())),
                    (
                        "command",
                        TomlValue::Strings(vec!["/bin/x".into(), "%EMAILADDRESS%".into()]),
                    ),
                ],
            }],
            defaults: None,
            domains: vec![("example.org".into(), domain)],
        };
        let text = imported.to_toml();
        assert!(text.contains("# two\n# lines\n"), "{text}");
        let config = crate::config::Config::from_toml(
            &text,
            crate::config::ConfigSource::File("t.toml".into()),
        )
        .unwrap();
        let settings = config
            .domain(&crate::account::Domain::parse("example.org").unwrap())
            .unwrap();
        assert_eq!(settings.incoming.len(), 1);
        assert_eq!(
            settings.incoming[0].authentication,
            vec![AuthMethod::OAuth2, AuthMethod::PasswordCleartext]
        );
        assert_eq!(config.provider.display_name, "Example \"Mail\"");
    }

    #[test]
    fn oversized_input_is_refused_before_parsing() {
        let big = "#".repeat(MAX_INPUT + 1);
        for result in [automx::import(&big, "big"), ispdb::import(&big, "big")] {
            assert!(
                matches!(result, Err(ImportError::Invalid { line: None, .. })),
                "{result:?}"
            );
        }
    }

    #[test]
    fn fit_cuts_and_explains() {
        let mut notes = Vec::new();
        assert_eq!(fit("short", 20, "x", &mut notes), "short");
        assert!(notes.is_empty());
        assert_eq!(fit("abcdefghij klm", 11, "x", &mut notes), "abcdefghij");
        assert_eq!(notes.len(), 1);
    }
}
