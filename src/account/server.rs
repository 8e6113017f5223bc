//! Mail server descriptions shared by every protocol: the closed vocabularies
//! (`ServerKind`, `Security`, `AuthMethod`) and one configured server. Renderers map these
//! to wire strings with exhaustive `match`es, so a new variant forces every protocol to decide.

use serde::Deserialize;

/// Which protocol a mail server speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ServerKind {
    Imap,
    Pop3,
    Smtp,
}

impl ServerKind {
    /// The name used in config field paths and error messages.
    pub fn config_name(self) -> &'static str {
        match self {
            ServerKind::Imap => "imap",
            ServerKind::Pop3 => "pop3",
            ServerKind::Smtp => "smtp",
        }
    }
}

/// Transport security of a server connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Security {
    /// Implicit TLS from the first byte (RFC 8314), e.g. IMAP 993, SMTP 465.
    Tls,
    /// Plain connection upgraded with STARTTLS, e.g. IMAP 143, SMTP 587.
    Starttls,
    /// No transport security. Only ever emitted when explicitly configured.
    Plain,
}

impl Security {
    /// Preference rank: implicit TLS first (RFC 8314 §5.1), then STARTTLS, then plain.
    pub fn preference(self) -> u8 {
        match self {
            Security::Tls => 0,
            Security::Starttls => 1,
            Security::Plain => 2,
        }
    }
}

/// How the client authenticates to a server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum AuthMethod {
    PasswordCleartext,
    PasswordEncrypted,
    #[serde(rename = "oauth2")]
    OAuth2,
    Ntlm,
    Gssapi,
    ClientCert,
    None,
}

impl AuthMethod {
    /// True for methods where the user types a password.
    pub fn is_password(self) -> bool {
        match self {
            AuthMethod::PasswordCleartext | AuthMethod::PasswordEncrypted => true,
            AuthMethod::OAuth2
            | AuthMethod::Ntlm
            | AuthMethod::Gssapi
            | AuthMethod::ClientCert
            | AuthMethod::None => false,
        }
    }
}

/// One mail server of an account, with its username already expanded when the address is known.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MailServer {
    pub kind: ServerKind,
    pub host: String,
    pub port: u16,
    pub security: Security,
    /// Authentication methods in preference order; never empty.
    pub authentication: Vec<AuthMethod>,
    /// Login name: a template (`%EMAILADDRESS%`…) for domain-level answers, expanded for an address.
    pub username: String,
}

impl MailServer {
    /// The first (preferred) authentication method.
    pub fn primary_auth(&self) -> AuthMethod {
        self.authentication
            .first()
            .copied()
            .unwrap_or(AuthMethod::PasswordCleartext)
    }
}
