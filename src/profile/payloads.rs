//! The four account payloads of a profile, each a `plist::Dictionary` built from the resolved
//! [`Account`] with exact plist types (`<integer>` ports, real booleans: NOTES.md, Apple).
//! Optional keys are left out rather than written empty (mailcow #2063, #2296). Pure functions.

use plist::{Dictionary, Value};

use super::identity::{PayloadKind, ProfileIdentity};
use crate::account::{Account, AuthMethod, MailServer, Security, ServerKind, UrlService};

/// What every inner payload carries (CommonPayloadKeys.yaml).
fn common(
    kind: PayloadKind,
    identity: &ProfileIdentity,
    organization: &str,
    display_name: &str,
) -> Dictionary {
    let payload_type = match kind {
        PayloadKind::Mail => "com.apple.mail.managed",
        PayloadKind::Eas => "com.apple.eas.account",
        PayloadKind::CalDav => "com.apple.caldav.account",
        PayloadKind::CardDav => "com.apple.carddav.account",
    };
    let mut dict = Dictionary::new();
    dict.insert("PayloadType".into(), payload_type.into());
    dict.insert("PayloadVersion".into(), Value::Integer(1.into()));
    dict.insert(
        "PayloadIdentifier".into(),
        identity.payload_identifier(kind).into(),
    );
    dict.insert("PayloadUUID".into(), identity.payload_uuid(kind).into());
    dict.insert("PayloadDisplayName".into(), display_name.into());
    dict.insert("PayloadOrganization".into(), organization.into());
    dict
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
) -> Option<Dictionary> {
    let (incoming, incoming_auth, account_type) = preferred(account, ServerKind::Imap)
        .map(|(server, auth)| (server, auth, "EmailTypeIMAP"))
        .or_else(|| {
            preferred(account, ServerKind::Pop3)
                .map(|(server, auth)| (server, auth, "EmailTypePOP"))
        })?;
    let (outgoing, outgoing_auth) = preferred(account, ServerKind::Smtp)?;
    let mut dict = common(PayloadKind::Mail, identity, organization, "Mail");
    dict.insert("EmailAccountDescription".into(), address.into());
    if let Some(name) = &account.display_name {
        dict.insert("EmailAccountName".into(), name.as_str().into());
    }
    dict.insert("EmailAccountType".into(), account_type.into());
    dict.insert("EmailAddress".into(), address.into());
    dict.insert(
        "IncomingMailServerAuthentication".into(),
        incoming_auth.into(),
    );
    dict.insert(
        "IncomingMailServerHostName".into(),
        incoming.host.as_str().into(),
    );
    dict.insert(
        "IncomingMailServerPortNumber".into(),
        Value::Integer(incoming.port.into()),
    );
    dict.insert(
        "IncomingMailServerUseSSL".into(),
        use_ssl(incoming.security).into(),
    );
    dict.insert(
        "IncomingMailServerUsername".into(),
        incoming.username.as_str().into(),
    );
    dict.insert(
        "OutgoingMailServerAuthentication".into(),
        outgoing_auth.into(),
    );
    dict.insert(
        "OutgoingMailServerHostName".into(),
        outgoing.host.as_str().into(),
    );
    // Always set: without it the device tries port 25 first (schema text; NOTES.md).
    dict.insert(
        "OutgoingMailServerPortNumber".into(),
        Value::Integer(outgoing.port.into()),
    );
    dict.insert(
        "OutgoingMailServerUseSSL".into(),
        use_ssl(outgoing.security).into(),
    );
    dict.insert(
        "OutgoingMailServerUsername".into(),
        outgoing.username.as_str().into(),
    );
    // One password prompt for both servers when they share the login (interactive installs).
    if incoming.username == outgoing.username {
        dict.insert("OutgoingPasswordSameAsIncomingPassword".into(), true.into());
    }
    Some(dict)
}

/// `com.apple.eas.account` (iOS and visionOS only). `Host` is the bare server name, with the
/// port only when it is not the scheme's default; iOS always speaks to
/// `/Microsoft-Server-ActiveSync`, so the URL's path has no key to go to.
pub fn eas(
    account: &Account,
    identity: &ProfileIdentity,
    organization: &str,
    address: &str,
) -> Option<Dictionary> {
    let url = url::Url::parse(account.url(UrlService::ActiveSync)?).ok()?;
    let host = url.host_str()?;
    let host = match url.port() {
        Some(port) => format!("{host}:{port}"),
        None => host.to_owned(),
    };
    let mut dict = common(
        PayloadKind::Eas,
        identity,
        organization,
        "Exchange ActiveSync",
    );
    dict.insert("EmailAddress".into(), address.into());
    dict.insert("Host".into(), host.into());
    dict.insert("SSL".into(), (url.scheme() == "https").into());
    if let Some(login) = account.login_name() {
        dict.insert("UserName".into(), login.into());
    }
    Some(dict)
}

/// Which DAV service a payload configures; the keys differ only by prefix.
#[derive(Debug, Clone, Copy)]
pub enum Dav {
    Cal,
    Card,
}

/// `com.apple.caldav.account` / `com.apple.carddav.account`: bare host name (never a URL:
/// nextcloud#2065), port, SSL, and the path as principal URL. A root path is left out so the
/// client uses `/.well-known/caldav` discovery (mail-in-a-box PR #1402). `with_principal` is
/// false for a Mac-only profile: `CardDAVPrincipalURL` is iOS-only (carddav.account.yaml).
pub fn dav(
    which: Dav,
    account: &Account,
    identity: &ProfileIdentity,
    organization: &str,
    address: &str,
    with_principal: bool,
) -> Option<Dictionary> {
    let (configured, kind, prefix, display_name) = match which {
        Dav::Cal => (
            account.url(UrlService::CalDav),
            PayloadKind::CalDav,
            "CalDAV",
            "Calendar",
        ),
        Dav::Card => (
            account.url(UrlService::CardDav),
            PayloadKind::CardDav,
            "CardDAV",
            "Contacts",
        ),
    };
    let url = url::Url::parse(configured?).ok()?;
    let host = url.host_str()?;
    let port = url.port_or_known_default()?;
    let mut dict = common(kind, identity, organization, display_name);
    dict.insert(format!("{prefix}AccountDescription"), address.into());
    dict.insert(format!("{prefix}HostName"), host.into());
    dict.insert(format!("{prefix}Port"), Value::Integer(port.into()));
    dict.insert(format!("{prefix}UseSSL"), (url.scheme() == "https").into());
    if let Some(login) = account.login_name() {
        dict.insert(format!("{prefix}Username"), login.into());
    }
    if with_principal && url.path() != "/" && !url.path().is_empty() {
        dict.insert(format!("{prefix}PrincipalURL"), url.as_str().into());
    }
    Some(dict)
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
