//! `AccountPatch`: what one per-user source (SQL row, LDAP entry, command output) says about one
//! address, parsed from flat `field → value` pairs in one vocabulary shared by every backend.
//! Pure data: the backends build patches, the resolver applies them in order on top of the
//! static account. Values are validated here, since they reach clients as settings.

use serde::Deserialize as _;
use serde::de::IntoDeserializer as _;

use super::{Account, AuthMethod, Domain, MailServer, Security, ServerKind};

/// Longest accepted value (login names, display names, URLs): a row is data, not a document.
const MAX_VALUE: usize = 1024;

/// Every field name a backend may return, for error messages and the docs.
pub const FIELD_NAMES: &str = "login_name, display_name, activesync_url, caldav_url, carddav_url, \
     {imap,pop3,smtp}_{host,port,security,authentication,username}, \
     append_{imap,pop3,smtp}_{host,port,security,authentication,username}";

/// One field of the vocabulary, e.g. `imap_host` or `append_smtp_port`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Field {
    LoginName,
    DisplayName,
    ActivesyncUrl,
    CaldavUrl,
    CarddavUrl,
    /// Overrides a property of every server of the kind.
    Server(ServerKind, ServerField),
    /// Describes one extra server of the kind (automx's `static_append`).
    Append(ServerKind, ServerField),
}

/// A property of one mail server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ServerField {
    Host,
    Port,
    Security,
    Authentication,
    Username,
}

impl Field {
    /// Parses a field name; `None` for anything outside the vocabulary.
    pub fn parse(name: &str) -> Option<Field> {
        match name {
            "login_name" => return Some(Field::LoginName),
            "display_name" => return Some(Field::DisplayName),
            "activesync_url" => return Some(Field::ActivesyncUrl),
            "caldav_url" => return Some(Field::CaldavUrl),
            "carddav_url" => return Some(Field::CarddavUrl),
            _ => {}
        }
        let (append, rest) = match name.strip_prefix("append_") {
            Some(rest) => (true, rest),
            None => (false, name),
        };
        let (kind, field) = rest.split_once('_')?;
        let kind = match kind {
            "imap" => ServerKind::Imap,
            "pop3" => ServerKind::Pop3,
            "smtp" => ServerKind::Smtp,
            _ => return None,
        };
        let field = match field {
            "host" => ServerField::Host,
            "port" => ServerField::Port,
            "security" => ServerField::Security,
            "authentication" => ServerField::Authentication,
            "username" => ServerField::Username,
            _ => return None,
        };
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
    #[error("unknown field {0:?} (known: {FIELD_NAMES})")]
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
    pub activesync_url: Option<String>,
    pub caldav_url: Option<String>,
    pub carddav_url: Option<String>,
    /// Overrides for every IMAP, POP3 and SMTP server, in that order.
    pub servers: [ServerPatch; 3],
    pub append: Vec<AppendedServer>,
}

fn kind_index(kind: ServerKind) -> usize {
    match kind {
        ServerKind::Imap => 0,
        ServerKind::Pop3 => 1,
        ServerKind::Smtp => 2,
    }
}

const KINDS: [ServerKind; 3] = [ServerKind::Imap, ServerKind::Pop3, ServerKind::Smtp];

impl AccountPatch {
    /// Builds a patch from `(field name, value)` pairs. Empty values count as absent (a NULL
    /// or empty column, a missing attribute); unknown names and bad values are errors.
    pub fn from_fields<N, V>(fields: impl IntoIterator<Item = (N, V)>) -> Result<Self, PatchError>
    where
        N: AsRef<str>,
        V: AsRef<str>,
    {
        let mut patch = AccountPatch::default();
        let mut append: [ServerPatch; 3] = Default::default();
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
                Field::ActivesyncUrl => {
                    patch.activesync_url =
                        Some(check_url(value).ok_or_else(|| bad("not an http(s) URL"))?)
                }
                Field::CaldavUrl => {
                    patch.caldav_url =
                        Some(check_url(value).ok_or_else(|| bad("not an http(s) URL"))?)
                }
                Field::CarddavUrl => {
                    patch.carddav_url =
                        Some(check_url(value).ok_or_else(|| bad("not an http(s) URL"))?)
                }
                Field::Server(kind, field) => {
                    set_server(&mut patch.servers[kind_index(kind)], field, value).map_err(bad)?
                }
                Field::Append(kind, field) => {
                    set_server(&mut append[kind_index(kind)], field, value).map_err(bad)?
                }
            }
        }
        for (kind, extra) in KINDS.into_iter().zip(append) {
            if extra.is_empty() {
                continue;
            }
            let (Some(host), Some(port), Some(security)) = (extra.host, extra.port, extra.security)
            else {
                return Err(PatchError::IncompleteServer(kind.config_name()));
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
            let change = &self.servers[kind_index(server.kind)];
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
            list.sort_by_key(|s| (kind_index(s.kind), s.security.preference()));
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
        for (target, value) in [
            (&mut account.activesync_url, &self.activesync_url),
            (&mut account.caldav_url, &self.caldav_url),
            (&mut account.carddav_url, &self.carddav_url),
        ] {
            if value.is_some() {
                target.clone_from(value);
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
            // automx2's database spells these SSL / STARTTLS; accept them too.
            let security = match value.to_ascii_lowercase().as_str() {
                "tls" | "ssl" => Security::Tls,
                "starttls" => Security::Starttls,
                "plain" | "none" => Security::Plain,
                _ => return Err("not one of tls, starttls, plain"),
            };
            server.security = Some(security);
        }
        ServerField::Authentication => {
            let methods = value
                .split(',')
                .map(|method| {
                    AuthMethod::deserialize(method.trim().into_deserializer())
                        .map_err(|_: serde::de::value::Error| "not a list of authentication methods (password-cleartext, oauth2, …)")
                })
                .collect::<Result<Vec<_>, _>>()?;
            server.authentication = Some(methods);
        }
        ServerField::Username => server.username = Some(value.into()),
    }
    Ok(())
}

fn check_url(value: &str) -> Option<String> {
    let url = url::Url::parse(value).ok()?;
    (matches!(url.scheme(), "https" | "http") && url.host_str().is_some()).then(|| value.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::account::{EmailAddress, Provider};

    fn server(kind: ServerKind, port: u16, security: Security) -> MailServer {
        MailServer {
            kind,
            host: format!("{}.example.org", kind.config_name()),
            port,
            security,
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
            activesync_url: None,
            caldav_url: None,
            carddav_url: None,
            documentation_url: None,
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
        assert_eq!(account.caldav_url, None);
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
