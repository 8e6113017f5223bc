//! The resolved account: everything a renderer needs to answer one client for one address
//! (or one domain, when the client did not say who it is). Produced by `resolve`, consumed by
//! `protocol` and `profile`; holds no I/O and no references back to the config.

mod address;
pub mod names;
mod patch;
mod redirect;
mod server;
mod services;
mod template;

pub use address::{AddressError, Domain, EmailAddress, is_hidden};
pub use patch::{
    AccountPatch, AppendedServer, FIELD_NAMES, Field, PatchError, ServerField, ServerPatch,
};
pub use redirect::Redirect;
pub use server::{AuthMethod, MailServer, PerKind, SaslMechanism, Security, ServerKind};
pub use services::{
    OAUTH2_KEY, OAuth2, OPEN_CLIENT_ID, Resolved, Services, Stage, UrlService, Urls,
};
pub use template::{Template, web_url};

/// Who operates the mail service: the autoconfig `emailProvider`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Provider {
    /// A real domain (Thunderbird rejects placeholders here).
    pub id: String,
    pub display_name: String,
    pub short_name: String,
}

/// Settings for one address, or for a whole domain when `email` is `None`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    pub provider: Provider,
    /// The domain the client asked about.
    pub domain: Domain,
    /// The address, when the client sent one. Usernames are expanded only then.
    pub email: Option<EmailAddress>,
    /// The user's display name, when a backend (or the form) supplies one.
    pub display_name: Option<String>,
    /// IMAP then POP3 servers, each group in preference order (implicit TLS first).
    pub incoming: Vec<MailServer>,
    /// SMTP servers in preference order.
    pub outgoing: Vec<MailServer>,
    /// ActiveSync, CalDAV, CardDAV, JMAP, EWS, WebDAV, documentation URLs (only those the
    /// domain offers) and its OAuth2 server.
    pub services: Services<Resolved>,
}

impl Account {
    /// The servers of one kind, in preference order.
    pub fn servers(&self, kind: ServerKind) -> impl Iterator<Item = &MailServer> {
        self.incoming
            .iter()
            .chain(self.outgoing.iter())
            .filter(move |server| server.kind == kind)
    }

    /// The URL of `service`, when the domain offers it.
    pub fn url(&self, service: UrlService) -> Option<&str> {
        self.services.urls[service].as_deref()
    }

    /// The login name of the preferred incoming server (what Outlook shows as `LoginName`).
    pub fn login_name(&self) -> Option<&str> {
        self.incoming
            .first()
            .or(self.outgoing.first())
            .map(|server| server.username.as_str())
    }
}
