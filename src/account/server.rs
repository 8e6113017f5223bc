//! Mail server descriptions shared by every protocol: the closed vocabularies
//! (`ServerKind`, `Security`, `AuthMethod`), each spelled in one table (`names.rs`) that the
//! config, the importers and the patch parser all read, and one configured server. Renderers
//! map these to wire strings with exhaustive `match`es, so a new variant forces every protocol
//! to decide.

use super::names::{PerName, named_enum};

named_enum! {
    /// Which protocol a mail server speaks; the name is its key in a domain table
    /// (`[[domains."…".imap]]`) and its prefix in per-user fields (`imap_host`).
    pub enum ServerKind {
        Imap = "imap",
        Pop3 = "pop3",
        Smtp = "smtp",
    }
}

/// One value per server kind.
pub type PerKind<T> = PerName<ServerKind, T, { ServerKind::COUNT }>;

named_enum! {
    /// Transport security of a server connection.
    pub enum Security {
        /// Implicit TLS from the first byte (RFC 8314), e.g. IMAP 993, SMTP 465.
        Tls = "tls",
        /// Plain connection upgraded with STARTTLS, e.g. IMAP 143, SMTP 587.
        Starttls = "starttls",
        /// No transport security. Only ever emitted when explicitly configured.
        Plain = "plain",
    }
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

named_enum! {
    /// How the client authenticates to a server.
    pub enum AuthMethod {
        PasswordCleartext = "password-cleartext",
        PasswordEncrypted = "password-encrypted",
        OAuth2 = "oauth2",
        Ntlm = "ntlm",
        Gssapi = "gssapi",
        ClientCert = "client-cert",
        None = "none",
    }
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

/// A SASL mechanism name (RFC 4422 §3.1: 1 to 20 of upper-case letters, digits, `-`, `_`),
/// e.g. `SCRAM-SHA-256-PLUS`: what the autoconfig draft lets a server section recommend.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SaslMechanism(String);

impl SaslMechanism {
    /// The name, when it has the RFC's syntax (written in any case, kept upper-case).
    pub fn parse(text: &str) -> Option<Self> {
        let name = text.trim().to_ascii_uppercase();
        let valid = (1..=20).contains(&name.len())
            && name
                .bytes()
                .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'-' || b == b'_');
        valid.then_some(SaslMechanism(name))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// One mail server of an account, with its username already expanded when the address is known.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MailServer {
    pub kind: ServerKind,
    pub host: String,
    pub port: u16,
    pub security: Security,
    /// SASL mechanisms recommended ahead of `authentication`, in preference order; clients that
    /// know none of them use the generic methods.
    pub sasl: Vec<SaslMechanism>,
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
