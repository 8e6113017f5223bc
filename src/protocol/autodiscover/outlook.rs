//! The Outlook answer (`outlook/responseschema/2006a`): one `Protocol` per mail server in
//! preference order, then CalDAV/CardDAV entries in the shape eM Client reads (`Type`
//! CalDAV/CardDAV, the URL in `Server`: docs/protocols.md, "CalDAV and CardDAV in POX"), and an
//! `EXPR` entry carrying the `EwsUrl` when the domain has EWS ("EWS in POX"). JMAP and WebDAV
//! have no place in this schema.
//! The field rules are in docs/protocols.md, "Microsoft Autodiscover".

use super::RESPONSE_NAMESPACE;
use crate::account::{Account, AuthMethod, MailServer, Redirect, Security, ServerKind};
use crate::account::{Template, UrlService};
use crate::protocol::Rendered;
use crate::protocol::xml::XmlWriter;

const OUTLOOK_NAMESPACE: &str =
    "http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a";

/// Renders the Outlook settings answer for `account`.
pub fn render(account: &Account) -> Rendered {
    let mut xml = XmlWriter::new();
    xml.open("Autodiscover", &[("xmlns", RESPONSE_NAMESPACE)]);
    xml.open("Response", &[("xmlns", OUTLOOK_NAMESPACE)]);
    if account.display_name.is_some() || account.email.is_some() {
        xml.open("User", &[]);
        // Outlook uses DisplayName as the sender name: only a real person's name goes here,
        // never the provider's.
        if let Some(name) = &account.display_name {
            xml.leaf("DisplayName", name);
        }
        if let Some(email) = &account.email {
            xml.leaf("AutoDiscoverSMTPAddress", email.as_str());
        }
        xml.close("User");
    }
    xml.open("Account", &[]);
    xml.leaf("AccountType", "email");
    xml.leaf("Action", "settings");
    for server in account.incoming.iter().chain(&account.outgoing) {
        write_server(&mut xml, server);
    }
    let login = account
        .login_name()
        .filter(|name| !Template::new(name).has_placeholder());
    if let Some(url) = account.url(UrlService::Ews) {
        write_ews(&mut xml, url);
    }
    for (kind, url) in [
        ("CalDAV", account.url(UrlService::CalDav)),
        ("CardDAV", account.url(UrlService::CardDav)),
    ] {
        if let Some(url) = url {
            xml.open("Protocol", &[]);
            xml.leaf("Type", kind);
            xml.leaf("Server", url);
            xml.leaf("DomainRequired", "off");
            if let Some(login) = login {
                xml.leaf("LoginName", login);
            }
            xml.close("Protocol");
        }
    }
    xml.close("Account");
    xml.close("Response");
    xml.close("Autodiscover");
    super::answer(xml)
}

/// The redirect answer: `redirectAddr` restarts discovery with another address,
/// `redirectUrl` re-POSTs the request to another server. The element names are exactly
/// `RedirectAddr` and `RedirectUrl`, Microsoft's spelling (docs/protocols.md, "Redirect element
/// names").
pub fn redirect(redirect: &Redirect) -> Rendered {
    let mut xml = XmlWriter::new();
    xml.open("Autodiscover", &[("xmlns", RESPONSE_NAMESPACE)]);
    xml.open("Response", &[("xmlns", OUTLOOK_NAMESPACE)]);
    xml.open("Account", &[]);
    xml.leaf("AccountType", "email");
    match redirect {
        Redirect::Address(address) => {
            xml.leaf("Action", "redirectAddr");
            xml.leaf("RedirectAddr", address.as_str());
        }
        Redirect::Url(url) => {
            xml.leaf("Action", "redirectUrl");
            xml.leaf("RedirectUrl", url);
        }
    }
    xml.close("Account");
    xml.close("Response");
    xml.close("Autodiscover");
    super::answer(xml)
}

fn write_server(xml: &mut XmlWriter, server: &MailServer) {
    xml.open("Protocol", &[]);
    xml.leaf("Type", protocol_type(server.kind));
    xml.leaf("Server", &server.host);
    xml.leaf_number("Port", server.port);
    xml.leaf("DomainRequired", "off");
    // A domain-level answer (GET, no address) has only a template; a literal
    // `%EMAILADDRESS%` would become the login (a peer leaks them). Without LoginName,
    // Thunderbird and Outlook fall back to the address the user typed.
    if !Template::new(&server.username).has_placeholder() {
        xml.leaf("LoginName", &server.username);
    }
    xml.leaf("SPA", spa(server.primary_auth()));
    let (ssl, encryption) = encryption(server.security);
    xml.leaf("SSL", ssl);
    xml.leaf("Encryption", encryption);
    xml.leaf("AuthRequired", auth_required(server.primary_auth()));
    if server.kind == ServerKind::Smtp {
        // SMTP has its own LoginName; "on" would make Outlook reuse the incoming login.
        xml.leaf("UsePOPAuth", "off");
        xml.leaf("SMTPLast", "off");
    }
    xml.close("Protocol");
}

/// The shape Exchange itself answers with for an externally reachable mailbox: `EXPR`, the
/// host, SSL, Basic, and the `EwsUrl` that EWS clients (exchangelib, Thunderbird) read.
fn write_ews(xml: &mut XmlWriter, url: &str) {
    xml.open("Protocol", &[]);
    xml.leaf("Type", "EXPR");
    if let Some(host) = url::Url::parse(url)
        .ok()
        .as_ref()
        .and_then(url::Url::host_str)
    {
        xml.leaf("Server", host);
    }
    xml.leaf("SSL", "On");
    xml.leaf("AuthPackage", "Basic");
    xml.leaf("EwsUrl", url);
    xml.close("Protocol");
}

fn protocol_type(kind: ServerKind) -> &'static str {
    match kind {
        ServerKind::Imap => "IMAP",
        ServerKind::Pop3 => "POP3",
        ServerKind::Smtp => "SMTP",
    }
}

/// `(SSL, Encryption)`: `SSL on` for every TLS entry (Thunderbird and Delta Chat read `SSL off`
/// as "no TLS at all"), and `Encryption` telling implicit TLS (`SSL`) from STARTTLS (`TLS`), so
/// Outlook does not try STARTTLS on an implicit-TLS port (docs/protocols.md, "Outlook SSL on").
fn encryption(security: Security) -> (&'static str, &'static str) {
    match security {
        Security::Tls => ("on", "SSL"),
        Security::Starttls => ("on", "TLS"),
        Security::Plain => ("off", "None"),
    }
}

/// `SPA` is Windows "Secure Password Authentication" (NTLM/Kerberos) and defaults to on:
/// say `off` for everything else or Outlook tries NTLM (docs/protocols.md, "SPA off").
fn spa(method: AuthMethod) -> &'static str {
    match method {
        AuthMethod::Ntlm | AuthMethod::Gssapi => "on",
        AuthMethod::PasswordCleartext
        | AuthMethod::PasswordEncrypted
        | AuthMethod::OAuth2
        | AuthMethod::ClientCert
        | AuthMethod::None => "off",
    }
}

fn auth_required(method: AuthMethod) -> &'static str {
    match method {
        AuthMethod::None => "off",
        AuthMethod::PasswordCleartext
        | AuthMethod::PasswordEncrypted
        | AuthMethod::OAuth2
        | AuthMethod::Ntlm
        | AuthMethod::Gssapi
        | AuthMethod::ClientCert => "on",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::test_accounts::{demo_account, demo_domain_account};

    /// Each Protocol entry as (child name, text) pairs in document order.
    fn protocols(body: &[u8]) -> Vec<Vec<(String, String)>> {
        let text = std::str::from_utf8(body).unwrap();
        let doc = roxmltree::Document::parse(text).unwrap();
        doc.descendants()
            .filter(|n| n.has_tag_name((OUTLOOK_NAMESPACE, "Protocol")))
            .map(|p| {
                p.children()
                    .filter(roxmltree::Node::is_element)
                    .map(|c| {
                        let text = c.text().unwrap_or_default().to_owned();
                        (c.tag_name().name().to_owned(), text)
                    })
                    .collect()
            })
            .collect()
    }

    fn field<'a>(protocol: &'a [(String, String)], name: &str) -> Option<&'a str> {
        protocol
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    #[test]
    fn outlook_ssl_on_for_starttls() {
        let rendered = render(&demo_account("jane@example.com"));
        let protocols = protocols(&rendered.body);
        let imap_starttls = protocols
            .iter()
            .find(|p| field(p, "Port") == Some("143"))
            .unwrap();
        assert_eq!(field(imap_starttls, "SSL"), Some("on"));
        assert_eq!(field(imap_starttls, "Encryption"), Some("TLS"));
        let imap_tls = protocols
            .iter()
            .find(|p| field(p, "Port") == Some("993"))
            .unwrap();
        assert_eq!(field(imap_tls, "SSL"), Some("on"));
        assert_eq!(field(imap_tls, "Encryption"), Some("SSL"));
    }

    #[test]
    fn every_mail_entry_has_spa_off_authrequired_and_the_login() {
        let rendered = render(&demo_account("jane@example.com"));
        assert_eq!(rendered.content_type, "text/xml; charset=utf-8");
        let protocols = protocols(&rendered.body);
        let types: Vec<_> = protocols
            .iter()
            .map(|p| field(p, "Type").unwrap())
            .collect();
        assert_eq!(
            types,
            ["IMAP", "IMAP", "POP3", "SMTP", "SMTP", "CalDAV", "CardDAV"]
        );
        for protocol in &protocols[..5] {
            assert_eq!(field(protocol, "SPA"), Some("off"));
            assert_eq!(field(protocol, "AuthRequired"), Some("on"));
            assert_eq!(field(protocol, "DomainRequired"), Some("off"));
            assert_eq!(field(protocol, "LoginName"), Some("jane@example.com"));
        }
        assert_eq!(field(&protocols[3], "UsePOPAuth"), Some("off"));
        assert_eq!(
            field(&protocols[5], "Server"),
            Some("https://dav.example.com/")
        );
        assert_eq!(field(&protocols[6], "LoginName"), Some("jane@example.com"));
    }

    #[test]
    fn domain_level_answer_never_leaks_placeholders() {
        let rendered = render(&demo_domain_account());
        let text = String::from_utf8(rendered.body).unwrap();
        assert!(!text.contains('%'), "{text}");
        assert!(!text.contains("<User>"), "{text}");
    }

    #[test]
    fn plain_and_ntlm_and_none_map_to_their_flags() {
        let mut account = demo_account("jane@example.com");
        account.incoming[0].security = Security::Plain;
        account.incoming[0].authentication = vec![AuthMethod::Ntlm];
        account.outgoing[0].authentication = vec![AuthMethod::None];
        let protocols = protocols(&render(&account).body);
        assert_eq!(field(&protocols[0], "SSL"), Some("off"));
        assert_eq!(field(&protocols[0], "Encryption"), Some("None"));
        assert_eq!(field(&protocols[0], "SPA"), Some("on"));
        assert_eq!(field(&protocols[3], "AuthRequired"), Some("off"));
    }

    #[test]
    fn display_name_is_escaped() {
        let mut account = demo_account("jane@example.com");
        account.display_name = Some("Jane <Doe> & Co".into());
        let text = String::from_utf8(render(&account).body).unwrap();
        assert!(text.contains("<DisplayName>Jane &lt;Doe&gt; &amp; Co</DisplayName>"));
    }

    /// The Account's children as (name, text), in document order.
    fn account_fields(body: &[u8]) -> Vec<(String, String)> {
        let text = std::str::from_utf8(body).unwrap();
        let doc = roxmltree::Document::parse(text).unwrap();
        let account = doc
            .descendants()
            .find(|n| n.has_tag_name((OUTLOOK_NAMESPACE, "Account")))
            .unwrap();
        account
            .children()
            .filter(roxmltree::Node::is_element)
            .map(|c| {
                (
                    c.tag_name().name().to_owned(),
                    c.text().unwrap_or_default().to_owned(),
                )
            })
            .collect()
    }

    fn example_fields(name: &str) -> Vec<(String, String)> {
        let path = format!(
            "{}/tests/fixtures/autodiscover/examples/{name}",
            env!("CARGO_MANIFEST_DIR")
        );
        let mut fields = account_fields(&std::fs::read(path).unwrap());
        // The examples leave out AccountType; Outlook's answers carry it.
        fields.insert(0, ("AccountType".into(), "email".into()));
        fields
    }

    #[test]
    fn redirect_addr_matches_the_spec_example() {
        let to = crate::account::EmailAddress::parse("user@other.example.net").unwrap();
        let rendered = redirect(&Redirect::Address(to));
        assert_eq!(rendered.status, 200);
        assert!(
            rendered
                .body
                .starts_with(b"<?xml version=\"1.0\" encoding=\"UTF-8\"?>")
        );
        assert_eq!(
            account_fields(&rendered.body),
            example_fields("outlook-response-redirectaddr.xml")
        );
    }

    #[test]
    fn redirect_url_matches_the_spec_example() {
        let url = "https://autodiscover.other.example.net/autodiscover/autodiscover.xml";
        let rendered = redirect(&Redirect::Url(url.into()));
        assert_eq!(
            account_fields(&rendered.body),
            example_fields("outlook-response-redirecturl.xml")
        );
    }

    #[test]
    fn redirect_addr_is_escaped() {
        // `&` and `'` are legal in a local part (RFC 5322 atext).
        let to = crate::account::EmailAddress::parse("o'neil&co@example.com").unwrap();
        let text = String::from_utf8(redirect(&Redirect::Address(to)).body).unwrap();
        assert!(
            text.contains("<RedirectAddr>o&apos;neil&amp;co@example.com</RedirectAddr>")
                || text.contains("<RedirectAddr>o'neil&amp;co@example.com</RedirectAddr>"),
            "{text}"
        );
    }

    #[test]
    fn redirect_url_is_escaped() {
        let rendered = redirect(&Redirect::Url("https://a.example/x?a=1&b=<2>".into()));
        let text = String::from_utf8(rendered.body).unwrap();
        assert!(
            text.contains("<RedirectUrl>https://a.example/x?a=1&amp;b=&lt;2&gt;</RedirectUrl>"),
            "{text}"
        );
    }
}
