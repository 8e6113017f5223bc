//! `AccountPatch`: what one per-user source (SQL row, LDAP entry, command output) says about one
//! address, parsed from flat `field → value` pairs in one vocabulary shared by every backend.
//! Pure data: the backends build patches, the resolver applies them in order on top of the
//! static account. Values are validated here, since they reach clients as settings.

use std::sync::LazyLock;

use super::names::named_enum;
use super::{
    Account, AuthMethod, Domain, MailServer, PerKind, Security, ServerKind, UrlService, Urls,
    web_url,
};

/// Longest accepted value (login names, display names, URLs): a row is data, not a document.
const MAX_VALUE: usize = 1024;

/// Every field name a backend may return, for error messages and the docs, built from the
/// tables: `login_name, display_name, activesync_url, …, {imap,pop3,smtp}_{host,…}, append_…`.
pub static FIELD_NAMES: LazyLock<String> = LazyLock::new(|| {
    let urls = UrlService::ALL.iter().filter_map(|service| service.field());
    let mut names: Vec<&str> = vec!["login_name", "display_name"];
    names.extend(urls);
    let servers = format!(
        "{{{}}}_{{{}}}",
        ServerKind::NAMES.join(","),
        ServerField::NAMES.join(",")
    );
    format!("{}, {servers}, append_{servers}", names.join(", "))
});

/// One field of the vocabulary, e.g. `imap_host` or `append_smtp_port`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Field {
    LoginName,
    DisplayName,
    /// A URL service's address (`caldav_url`), for the services that have a field.
    Url(UrlService),
    /// Overrides a property of every server of the kind.
    Server(ServerKind, ServerField),
    /// Describes one extra server of the kind (automx's `static_append`).
    Append(ServerKind, ServerField),
}

named_enum! {
    /// A property of one mail server, as a field suffix (`imap_host`).
    pub enum ServerField {
        Host = "host",
        Port = "port",
        Security = "security",
        Authentication = "authentication",
        Username = "username",
    }
}

impl Field {
    /// Parses a field name; `None` for anything outside the vocabulary.
    pub fn parse(name: &str) -> Option<Field> {
        match name {
            "login_name" => return Some(Field::LoginName),
            "display_name" => return Some(Field::DisplayName),
            _ => {}
        }
        if let Some(&service) = UrlService::ALL
            .iter()
            .find(|service| service.field() == Some(name))
        {
            return Some(Field::Url(service));
        }
        let (append, rest) = match name.strip_prefix("append_") {
            Some(rest) => (true, rest),
            None => (false, name),
        };
        let (kind, field) = rest.split_once('_')?;
        let kind = ServerKind::from_name(kind)?;
        let field = ServerField::from_name(field)?;
        Some(if append {
            Field::Append(kind, field)
        } else {
            Field::Server(kind, field)
        })
    }
}

/// Why a backend's answer is not a usable patch. Messages name the field, never the value
/// (values may be personal data and end up in logs).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PatchError {
    #[error("unknown field {name:?} (known: {known})", name = .0, known = *FIELD_NAMES)]
    UnknownField(String),
    #[error("field {field}: {problem}")]
    BadValue {
        field: String,
        problem: &'static str,
    },
    #[error("append_{0}_*: host, port and security are all needed to add a server")]
    IncompleteServer(&'static str),
}

/// Changes to the properties of servers of one kind (or the description of an added one).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ServerPatch {
    pub host: Option<String>,
    pub port: Option<u16>,
    pub security: Option<Security>,
    pub authentication: Option<Vec<AuthMethod>>,
    pub username: Option<String>,
}

impl ServerPatch {
    fn is_empty(&self) -> bool {
        *self == ServerPatch::default()
    }
}

/// A server a source adds; `username` falls back to the patch's login name, then the address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppendedServer {
    pub kind: ServerKind,
    pub host: String,
    pub port: u16,
    pub security: Security,
    pub authentication: Vec<AuthMethod>,
    pub username: Option<String>,
}

/// What one source says about one address. Absent fields change nothing.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AccountPatch {
    pub login_name: Option<String>,
    pub display_name: Option<String>,
    /// URLs replacing the domain's, for the services that have a field.
    pub urls: Urls<String>,
    /// Overrides for every server of each kind.
    pub servers: PerKind<ServerPatch>,
    pub append: Vec<AppendedServer>,
}

impl AccountPatch {
    /// Builds a patch from `(field name, value)` pairs. Empty values count as absent (a NULL
    /// or empty column, a missing attribute); unknown names and bad values are errors.
    pub fn from_fields<N, V>(fields: impl IntoIterator<Item = (N, V)>) -> Result<Self, PatchError>
    where
        N: AsRef<str>,
        V: AsRef<str>,
    {
        let mut patch = AccountPatch::default();
        let mut append: PerKind<ServerPatch> = PerKind::default();
        for (name, value) in fields {
            let name = name.as_ref();
            let field = Field::parse(name).ok_or_else(|| PatchError::UnknownField(name.into()))?;
            let value = value.as_ref().trim();
            if value.is_empty() {
                continue;
            }
            let bad = |problem| PatchError::BadValue {
                field: name.into(),
                problem,
            };
            if value.len() > MAX_VALUE || value.chars().any(char::is_control) {
                return Err(bad("too long or contains control characters"));
            }
            match field {
                Field::LoginName => patch.login_name = Some(value.into()),
                Field::DisplayName => patch.display_name = Some(value.into()),
                Field::Url(service) => {
                    web_url(value).ok_or_else(|| bad("not an http(s) URL"))?;
                    patch.urls[service] = Some(value.into());
                }
                Field::Server(kind, field) => {
                    set_server(&mut patch.servers[kind], field, value).map_err(bad)?
                }
                Field::Append(kind, field) => {
                    set_server(&mut append[kind], field, value).map_err(bad)?
                }
            }
        }
        for (kind, extra) in append {
            if extra.is_empty() {
                continue;
            }
            let (Some(host), Some(port), Some(security)) = (extra.host, extra.port, extra.security)
            else {
                return Err(PatchError::IncompleteServer(kind.name()));
            };
            patch.append.push(AppendedServer {
                kind,
                host,
                port,
                security,
                authentication: extra
                    .authentication
                    .unwrap_or_else(|| vec![AuthMethod::PasswordCleartext]),
                username: extra.username,
            });
        }
        Ok(patch)
    }

    /// The patch as `(field name, value)` pairs in the vocabulary [`Self::from_fields`]
    /// reads, for showing what a source answered (`mxconf lookup`).
    pub fn fields(&self) -> Vec<(String, String)> {
        let mut fields = Vec::new();
        let mut push = |name: String, value: Option<String>| {
            if let Some(value) = value {
                fields.push((name, value));
            }
        };
        push("login_name".into(), self.login_name.clone());
        push("display_name".into(), self.display_name.clone());
        for (service, url) in self.urls.iter() {
            if let Some(field) = service.field() {
                push(field.into(), url.clone());
            }
        }
        let server_fields = |prefix: String, server: &ServerPatch| {
            [
                (ServerField::Host, server.host.clone()),
                (ServerField::Port, server.port.map(|port| port.to_string())),
                (
                    ServerField::Security,
                    server.security.map(|security| security.name().to_owned()),
                ),
                (
                    ServerField::Authentication,
                    server.authentication.as_ref().map(|methods| {
                        let names: Vec<&str> = methods.iter().map(|method| method.name()).collect();
                        names.join(", ")
                    }),
                ),
                (ServerField::Username, server.username.clone()),
            ]
            .map(|(field, value)| (format!("{prefix}{}", field.name()), value))
        };
        for (kind, server) in self.servers.iter() {
            for (name, value) in server_fields(format!("{}_", kind.name()), server) {
                push(name, value);
            }
        }
        for extra in &self.append {
            let server = ServerPatch {
                host: Some(extra.host.clone()),
                port: Some(extra.port),
                security: Some(extra.security),
                authentication: Some(extra.authentication.clone()),
                username: extra.username.clone(),
            };
            for (name, value) in server_fields(format!("append_{}_", extra.kind.name()), &server) {
                push(name, value);
            }
        }
        fields
    }

    /// Applies the patch to an account resolved for an address: login name first, then the
    /// per-kind overrides, then the added servers; finally the RFC 8314 order is restored and
    /// servers that became identical are merged.
    pub fn apply(&self, account: &mut Account) {
        let servers = account
            .incoming
            .iter_mut()
            .chain(account.outgoing.iter_mut());
        for server in servers {
            if let Some(login) = &self.login_name {
                server.username.clone_from(login);
            }
            let change = &self.servers[server.kind];
            if let Some(host) = &change.host {
                server.host.clone_from(host);
            }
            if let Some(port) = change.port {
                server.port = port;
            }
            if let Some(security) = change.security {
                server.security = security;
            }
            if let Some(methods) = &change.authentication {
                server.authentication.clone_from(methods);
            }
            if let Some(username) = &change.username {
                server.username.clone_from(username);
            }
        }
        for extra in &self.append {
            let username = extra
                .username
                .clone()
                .or_else(|| self.login_name.clone())
                .or_else(|| account.email.as_ref().map(ToString::to_string))
                .unwrap_or_else(|| "%EMAILADDRESS%".to_owned());
            let server = MailServer {
                kind: extra.kind,
                host: extra.host.clone(),
                port: extra.port,
                security: extra.security,
                sasl: Vec::new(),
                authentication: extra.authentication.clone(),
                username,
            };
            match extra.kind {
                ServerKind::Imap | ServerKind::Pop3 => account.incoming.push(server),
                ServerKind::Smtp => account.outgoing.push(server),
            }
        }
        for list in [&mut account.incoming, &mut account.outgoing] {
            // Same order as the static config: IMAP before POP3, implicit TLS first (RFC 8314).
            list.sort_by_key(|s| (s.kind.index(), s.security.preference()));
            let mut seen: Vec<(ServerKind, String, u16, Security)> = Vec::new();
            list.retain(|s| {
                let key = (s.kind, s.host.clone(), s.port, s.security);
                let new = !seen.contains(&key);
                seen.push(key);
                new
            });
        }
        if self.display_name.is_some() {
            account.display_name.clone_from(&self.display_name);
        }
        for (service, url) in self.urls.iter() {
            if url.is_some() {
                account.services.urls[service].clone_from(url);
            }
        }
    }
}

fn set_server(
    server: &mut ServerPatch,
    field: ServerField,
    value: &str,
) -> Result<(), &'static str> {
    match field {
        ServerField::Host => {
            // Same rule as the config file: a DNS name, never an IP literal or a URL.
            let host = Domain::parse(value).map_err(|_| "not a host name")?;
            server.host = Some(host.to_string());
        }
        ServerField::Port => {
            let port = value
                .parse::<u16>()
                .ok()
                .filter(|&p| p != 0)
                .ok_or("not a port (1-65535)")?;
            server.port = Some(port);
        }
        ServerField::Security => {
            // The config's spellings, in any case, and automx2's database's SSL and NONE.
            let security = match value.to_ascii_lowercase().as_str() {
                "ssl" => Security::Tls,
                "none" => Security::Plain,
                other => Security::from_name(other).ok_or("not one of tls, starttls, plain")?,
            };
            server.security = Some(security);
        }
        ServerField::Authentication => {
            let methods = value
                .split(',')
                .map(|method| {
                    AuthMethod::from_name(method.trim()).ok_or(
                        "not a list of authentication methods (password-cleartext, oauth2, …)",
                    )
                })
                .collect::<Result<Vec<_>, _>>()?;
            server.authentication = Some(methods);
        }
        ServerField::Username => server.username = Some(value.into()),
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::account::{EmailAddress, Provider};

    #[test]
    fn fields_read_back_as_the_same_patch() {
        let fields = [
            ("login_name", "jdoe"),
            ("display_name", "Jane Doe"),
            ("caldav_url", "https://dav.example.org/jane/"),
            ("imap_host", "store7.example.org"),
            ("smtp_port", "587"),
            ("smtp_security", "STARTTLS"),
            ("imap_authentication", "oauth2, password-cleartext"),
            ("append_pop3_host", "pop.example.org"),
            ("append_pop3_port", "995"),
            ("append_pop3_security", "tls"),
        ];
        let patch = AccountPatch::from_fields(fields).unwrap();
        let shown = patch.fields();
        assert!(
            shown.contains(&("smtp_security".into(), "starttls".into())),
            "{shown:?}"
        );
        assert_eq!(AccountPatch::from_fields(shown).unwrap(), patch);
    }

    fn server(kind: ServerKind, port: u16, security: Security) -> MailServer {
        MailServer {
            kind,
            host: format!("{}.example.org", kind.name()),
            port,
            security,
            sasl: Vec::new(),
            authentication: vec![AuthMethod::PasswordCleartext],
            username: "jane@example.org".into(),
        }
    }

    fn account() -> Account {
        Account {
            provider: Provider {
                id: "example.org".into(),
                display_name: "Example".into(),
                short_name: "Ex".into(),
            },
            domain: Domain::parse("example.org").unwrap(),
            email: Some(EmailAddress::parse("jane@example.org").unwrap()),
            display_name: None,
            incoming: vec![
                server(ServerKind::Imap, 993, Security::Tls),
                server(ServerKind::Imap, 143, Security::Starttls),
            ],
            outgoing: vec![server(ServerKind::Smtp, 465, Security::Tls)],
            services: Default::default(),
        }
    }

    #[test]
    fn overrides_login_host_and_adds_servers_in_rfc8314_order() {
        let patch = AccountPatch::from_fields([
            ("login_name", "jdoe"),
            ("display_name", "Jane Doe"),
            ("imap_host", "Store7.Example.org"),
            ("smtp_username", "jdoe-smtp"),
            ("append_pop3_host", "pop.example.org"),
            ("append_pop3_port", "995"),
            ("append_pop3_security", "SSL"),
            ("append_smtp_host", "relay.example.org"),
            ("append_smtp_port", "587"),
            ("append_smtp_security", "starttls"),
            ("append_smtp_authentication", "oauth2, password-cleartext"),
            ("caldav_url", ""),
        ])
        .unwrap();
        let mut account = account();
        patch.apply(&mut account);
        let summary: Vec<_> = account
            .incoming
            .iter()
            .chain(&account.outgoing)
            .map(|s| (s.host.as_str(), s.port, s.username.as_str()))
            .collect();
        assert_eq!(
            summary,
            [
                ("store7.example.org", 993, "jdoe"),
                ("store7.example.org", 143, "jdoe"),
                ("pop.example.org", 995, "jdoe"),
                ("smtp.example.org", 465, "jdoe-smtp"),
                ("relay.example.org", 587, "jdoe"),
            ]
        );
        assert_eq!(
            account.outgoing[1].authentication,
            [AuthMethod::OAuth2, AuthMethod::PasswordCleartext]
        );
        assert_eq!(account.display_name.as_deref(), Some("Jane Doe"));
        assert_eq!(account.url(UrlService::CalDav), None);
    }

    #[test]
    fn field_names_come_from_the_tables() {
        assert_eq!(
            *FIELD_NAMES,
            "login_name, display_name, activesync_url, caldav_url, carddav_url, jmap_url, \
             ews_url, webdav_url, \
             {imap,pop3,smtp}_{host,port,security,authentication,username}, \
             append_{imap,pop3,smtp}_{host,port,security,authentication,username}"
        );
        for &service in UrlService::ALL {
            if let Some(name) = service.field() {
                assert_eq!(Field::parse(name), Some(Field::Url(service)));
            }
        }
        assert_eq!(
            Field::parse("append_pop3_username"),
            Some(Field::Append(ServerKind::Pop3, ServerField::Username))
        );
        // A service without a field is not one.
        assert_eq!(Field::parse("documentation_url"), None);
    }

    #[test]
    fn servers_made_identical_are_merged() {
        let patch =
            AccountPatch::from_fields([("imap_port", "993"), ("imap_security", "tls")]).unwrap();
        let mut account = account();
        patch.apply(&mut account);
        assert_eq!(account.incoming.len(), 1);
    }

    #[test]
    fn bad_values_name_the_field_not_the_value() {
        for (field, value) in [
            ("imap_host", "evil host"),
            ("imap_host", "10.0.0.1"),
            ("imap_port", "0"),
            ("smtp_security", "maybe"),
            ("imap_authentication", "kerberos"),
            ("caldav_url", "javascript:alert(1)"),
            ("login_name", "a\nb"),
        ] {
            let error = AccountPatch::from_fields([(field, value)]).unwrap_err();
            assert!(
                matches!(&error, PatchError::BadValue { field: f, .. } if f == field),
                "{error}"
            );
            assert!(!error.to_string().contains(value), "{error}");
        }
        assert!(matches!(
            AccountPatch::from_fields([("imap_hostname", "x")]),
            Err(PatchError::UnknownField(_))
        ));
        assert_eq!(
            AccountPatch::from_fields([("append_imap_host", "imap.example.org")]),
            Err(PatchError::IncompleteServer("imap"))
        );
    }
}
