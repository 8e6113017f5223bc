//! The profile and its four account payloads as serde structs, one field per key of Apple's
//! YAML in the order they are written, serialized by `plist` with exact types (`<integer>`
//! ports, real booleans). An optional key is an `Option`, left out when `None`, never written
//! empty (docs/profiles.md, "How a profile is written"). Built from the resolved [`Account`]
//! by pure functions.

use serde::{Serialize, Serializer};

use super::identity::{PayloadKind, ProfileIdentity};
use crate::account::{Account, AuthMethod, MailServer, Security, ServerKind, UrlService};

/// The top level (TopLevel.yaml).
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Profile {
    pub payload_type: &'static str,
    pub payload_version: u8,
    pub payload_identifier: String,
    #[serde(rename = "PayloadUUID")]
    pub payload_uuid: String,
    pub payload_display_name: String,
    pub payload_organization: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub payload_description: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub consent_text: Option<ConsentText>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target_device_type: Option<u8>,
    pub payload_content: Vec<Payload>,
}

/// TopLevel.yaml: `default` is the unlocalized text shown when no language matches.
#[derive(Debug, Serialize)]
pub struct ConsentText {
    pub default: String,
}

/// One inner payload; its keys follow the common ones.
#[derive(Debug, Serialize)]
#[serde(untagged)]
pub enum Payload {
    Mail(Mail),
    Eas(Eas),
    CalDav(CalDav),
    CardDav(CardDav),
}

/// An optional key of an inner payload, written as its value. The common keys come first
/// through `flatten`, which makes the payload a map, and `plist` writes an `Option` in a map
/// as `<dict><key>Some</key>…`; `None` never gets here, it is skipped.
fn present<T: Serialize, S: Serializer>(
    value: &Option<T>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    match value {
        Some(value) => value.serialize(serializer),
        None => serializer.serialize_none(),
    }
}

/// What every inner payload carries first (CommonPayloadKeys.yaml).
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Common {
    payload_type: &'static str,
    payload_version: u8,
    payload_identifier: String,
    #[serde(rename = "PayloadUUID")]
    payload_uuid: String,
    payload_display_name: &'static str,
    payload_organization: String,
}

impl Common {
    fn new(kind: PayloadKind, identity: &ProfileIdentity, organization: &str) -> Self {
        let (payload_type, payload_display_name) = match kind {
            PayloadKind::Mail => ("com.apple.mail.managed", "Mail"),
            PayloadKind::Eas => ("com.apple.eas.account", "Exchange ActiveSync"),
            PayloadKind::CalDav => ("com.apple.caldav.account", "Calendar"),
            PayloadKind::CardDav => ("com.apple.carddav.account", "Contacts"),
        };
        Common {
            payload_type,
            payload_version: 1,
            payload_identifier: identity.payload_identifier(kind),
            payload_uuid: identity.payload_uuid(kind),
            payload_display_name,
            payload_organization: organization.to_owned(),
        }
    }
}

/// `com.apple.mail.managed` (com.apple.mail.managed.yaml).
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Mail {
    #[serde(flatten)]
    common: Common,
    email_account_description: String,
    #[serde(skip_serializing_if = "Option::is_none", serialize_with = "present")]
    email_account_name: Option<String>,
    email_account_type: &'static str,
    email_address: String,
    incoming_mail_server_authentication: &'static str,
    incoming_mail_server_host_name: String,
    incoming_mail_server_port_number: u16,
    #[serde(rename = "IncomingMailServerUseSSL")]
    incoming_mail_server_use_ssl: bool,
    incoming_mail_server_username: String,
    outgoing_mail_server_authentication: &'static str,
    outgoing_mail_server_host_name: String,
    /// Always set: without it the device tries port 25 first (Apple's schema text).
    outgoing_mail_server_port_number: u16,
    #[serde(rename = "OutgoingMailServerUseSSL")]
    outgoing_mail_server_use_ssl: bool,
    outgoing_mail_server_username: String,
    /// One password prompt for both servers when they share the login (interactive
    /// installs); only ever `Some(true)`, since absent means false.
    #[serde(skip_serializing_if = "Option::is_none", serialize_with = "present")]
    outgoing_password_same_as_incoming_password: Option<bool>,
}

/// `com.apple.eas.account` (com.apple.eas.account.yaml).
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Eas {
    #[serde(flatten)]
    common: Common,
    email_address: String,
    host: String,
    #[serde(rename = "SSL")]
    ssl: bool,
    #[serde(skip_serializing_if = "Option::is_none", serialize_with = "present")]
    user_name: Option<String>,
}

/// `com.apple.caldav.account` and `com.apple.carddav.account` have the same keys under their
/// own prefix, spelled out in full here so each can be found in Apple's YAML.
macro_rules! dav_payload {
    ($name:ident, $description:literal, $host:literal, $port:literal, $ssl:literal,
     $username:literal, $principal:literal) => {
        #[derive(Debug, Serialize)]
        pub struct $name {
            #[serde(flatten)]
            common: Common,
            #[serde(rename = $description)]
            description: String,
            #[serde(rename = $host)]
            host_name: String,
            #[serde(rename = $port)]
            port: u16,
            #[serde(rename = $ssl)]
            use_ssl: bool,
            #[serde(rename = $username)]
            #[serde(skip_serializing_if = "Option::is_none", serialize_with = "present")]
            username: Option<String>,
            #[serde(rename = $principal)]
            #[serde(skip_serializing_if = "Option::is_none", serialize_with = "present")]
            principal_url: Option<String>,
        }

        impl From<DavFields> for $name {
            fn from(fields: DavFields) -> Self {
                $name {
                    common: fields.common,
                    description: fields.description,
                    host_name: fields.host_name,
                    port: fields.port,
                    use_ssl: fields.use_ssl,
                    username: fields.username,
                    principal_url: fields.principal_url,
                }
            }
        }
    };
}

dav_payload!(
    CalDav,
    "CalDAVAccountDescription",
    "CalDAVHostName",
    "CalDAVPort",
    "CalDAVUseSSL",
    "CalDAVUsername",
    "CalDAVPrincipalURL"
);
dav_payload!(
    CardDav,
    "CardDAVAccountDescription",
    "CardDAVHostName",
    "CardDAVPort",
    "CardDAVUseSSL",
    "CardDAVUsername",
    "CardDAVPrincipalURL"
);

/// A DAV payload before it takes its service's key names.
pub struct DavFields {
    common: Common,
    description: String,
    host_name: String,
    port: u16,
    use_ssl: bool,
    username: Option<String>,
    principal_url: Option<String>,
}

/// Apple's name for an authentication method (com.apple.mail.managed.yaml rangelist), or
/// `None` where Mail has no equivalent: such a server cannot be configured by a profile.
fn apple_auth(method: AuthMethod) -> Option<&'static str> {
    match method {
        AuthMethod::PasswordCleartext => Some("EmailAuthPassword"),
        // Thunderbird's "password-encrypted" is CRAM-MD5 (autoconfig spec), Apple's EmailAuthCRAMMD5.
        AuthMethod::PasswordEncrypted => Some("EmailAuthCRAMMD5"),
        AuthMethod::Ntlm => Some("EmailAuthNTLM"),
        AuthMethod::None => Some("EmailAuthNone"),
        AuthMethod::OAuth2 | AuthMethod::Gssapi | AuthMethod::ClientCert => None,
    }
}

/// The server's first (preferred) method that Apple Mail supports.
fn server_auth(server: &MailServer) -> Option<&'static str> {
    server.authentication.iter().copied().find_map(apple_auth)
}

/// `UseSSL` means implicit TLS; with `false` iOS still upgrades with STARTTLS when offered.
fn use_ssl(security: Security) -> bool {
    match security {
        Security::Tls => true,
        Security::Starttls | Security::Plain => false,
    }
}

/// The preferred server of a kind that a profile can express. Servers are already ordered
/// implicit TLS first (config validation, RFC 8314), so the first usable one wins.
fn preferred(account: &Account, kind: ServerKind) -> Option<(&MailServer, &'static str)> {
    account
        .servers(kind)
        .find_map(|server| server_auth(server).map(|auth| (server, auth)))
}

/// `com.apple.mail.managed`: IMAP, or POP when the domain has no usable IMAP, plus SMTP.
/// `None` when either side is missing: both host names are required keys.
pub fn mail(
    account: &Account,
    identity: &ProfileIdentity,
    organization: &str,
    address: &str,
) -> Option<Mail> {
    let (incoming, incoming_auth, account_type) = preferred(account, ServerKind::Imap)
        .map(|(server, auth)| (server, auth, "EmailTypeIMAP"))
        .or_else(|| {
            preferred(account, ServerKind::Pop3)
                .map(|(server, auth)| (server, auth, "EmailTypePOP"))
        })?;
    let (outgoing, outgoing_auth) = preferred(account, ServerKind::Smtp)?;
    Some(Mail {
        common: Common::new(PayloadKind::Mail, identity, organization),
        email_account_description: address.to_owned(),
        email_account_name: account.display_name.clone(),
        email_account_type: account_type,
        email_address: address.to_owned(),
        incoming_mail_server_authentication: incoming_auth,
        incoming_mail_server_host_name: incoming.host.clone(),
        incoming_mail_server_port_number: incoming.port,
        incoming_mail_server_use_ssl: use_ssl(incoming.security),
        incoming_mail_server_username: incoming.username.clone(),
        outgoing_mail_server_authentication: outgoing_auth,
        outgoing_mail_server_host_name: outgoing.host.clone(),
        outgoing_mail_server_port_number: outgoing.port,
        outgoing_mail_server_use_ssl: use_ssl(outgoing.security),
        outgoing_mail_server_username: outgoing.username.clone(),
        outgoing_password_same_as_incoming_password: (incoming.username == outgoing.username)
            .then_some(true),
    })
}

/// `com.apple.eas.account` (iOS and visionOS only). `Host` is the bare server name, with the
/// port only when it is not the scheme's default; iOS always speaks to
/// `/Microsoft-Server-ActiveSync`, so the URL's path has no key to go to.
pub fn eas(
    account: &Account,
    identity: &ProfileIdentity,
    organization: &str,
    address: &str,
) -> Option<Eas> {
    let url = url::Url::parse(account.url(UrlService::ActiveSync)?).ok()?;
    let host = url.host_str()?;
    let host = match url.port() {
        Some(port) => format!("{host}:{port}"),
        None => host.to_owned(),
    };
    Some(Eas {
        common: Common::new(PayloadKind::Eas, identity, organization),
        email_address: address.to_owned(),
        host,
        ssl: url.scheme() == "https",
        user_name: account.login_name().map(str::to_owned),
    })
}

/// The CalDAV or CardDAV payload: bare host name (docs/protocols.md, "Host names, not URLs"),
/// port, SSL, and the URL as principal URL. A root path is left out so the client uses
/// `/.well-known/caldav` discovery (docs/protocols.md, "A root DAV path is left out").
/// `with_principal` is false for a Mac-only profile: `CardDAVPrincipalURL` is iOS-only
/// (carddav.account.yaml).
pub fn dav(
    kind: PayloadKind,
    configured: Option<&str>,
    account: &Account,
    identity: &ProfileIdentity,
    organization: &str,
    address: &str,
    with_principal: bool,
) -> Option<DavFields> {
    let url = url::Url::parse(configured?).ok()?;
    let host = url.host_str()?;
    let port = url.port_or_known_default()?;
    Some(DavFields {
        common: Common::new(kind, identity, organization),
        description: address.to_owned(),
        host_name: host.to_owned(),
        port,
        use_ssl: url.scheme() == "https",
        username: account.login_name().map(str::to_owned),
        principal_url: (with_principal && url.path() != "/" && !url.path().is_empty())
            .then(|| url.as_str().to_owned()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_auth_method_maps_to_an_apple_value_or_none() {
        let all = [
            AuthMethod::PasswordCleartext,
            AuthMethod::PasswordEncrypted,
            AuthMethod::OAuth2,
            AuthMethod::Ntlm,
            AuthMethod::Gssapi,
            AuthMethod::ClientCert,
            AuthMethod::None,
        ];
        let mapped: Vec<_> = all.iter().map(|m| apple_auth(*m)).collect();
        assert_eq!(
            mapped,
            [
                Some("EmailAuthPassword"),
                Some("EmailAuthCRAMMD5"),
                None,
                Some("EmailAuthNTLM"),
                None,
                None,
                Some("EmailAuthNone"),
            ]
        );
    }
}
