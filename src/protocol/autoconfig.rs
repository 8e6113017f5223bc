//! Mozilla autoconfig (`config-v1.1.xml`): `clientConfig version="1.1"` with the v1.2 draft's
//! `addressbook`/`calendar` sections for CardDAV/CalDAV (clients ignore unknown elements).
//! A pure function of the resolved [`Account`]; validated in tests against the draft's RELAX NG
//! schema (`tests/fixtures/autoconfig/autoconfig.rng`). The client rules it follows are in
//! docs/protocols.md, "Mozilla autoconfig".

use super::Rendered;
use super::xml::XmlWriter;
use crate::account::{Account, AuthMethod, MailServer, Security, ServerKind, UrlService};

/// Thunderbird ignores a 200 whose type is not `text/xml` or `application/xml`
/// (docs/protocols.md, "Autoconfig content type").
pub const CONTENT_TYPE: &str = "application/xml; charset=utf-8";

/// The username placeholder clients expand themselves (domain-level answers keep it).
const ADDRESS_PLACEHOLDER: &str = "%EMAILADDRESS%";

/// Renders the autoconfig document for `account`.
pub fn render(account: &Account) -> Rendered {
    let mut xml = XmlWriter::new();
    xml.open("clientConfig", &[("version", "1.1")]);
    // emailProvider id is a real domain (validated at load); each <domain> a literal name,
    // never a placeholder (docs/protocols.md, "Provider id is a real domain"). The requested
    // domain is the one name we know this answer serves; wildcard matches name the concrete
    // subdomain asked for.
    xml.open("emailProvider", &[("id", &account.provider.id)]);
    xml.leaf("domain", account.domain.as_str());
    xml.leaf("displayName", &account.provider.display_name);
    xml.leaf("displayShortName", &account.provider.short_name);
    // The account lists servers in preference order, implicit TLS first (RFC 8314); `plain`
    // only exists when the admin configured it (K-9 rejects the whole file otherwise).
    for server in &account.incoming {
        write_server(&mut xml, "incomingServer", server);
    }
    for server in &account.outgoing {
        write_server(&mut xml, "outgoingServer", server);
    }
    if let Some(url) = account.url(UrlService::Documentation) {
        xml.open("documentation", &[("url", url)]);
        xml.leaf_with("descr", &[("lang", "en")], "Mail setup instructions");
        xml.close("documentation");
    }
    xml.close("emailProvider");
    // Draft v1.2: DAV sections sit at <clientConfig> level, URL-based, HTTP authentication.
    let dav_username = account.login_name().unwrap_or(ADDRESS_PLACEHOLDER);
    if let Some(url) = account.url(UrlService::CardDav) {
        write_dav(&mut xml, "addressbook", "carddav", url, dav_username);
    }
    if let Some(url) = account.url(UrlService::CalDav) {
        write_dav(&mut xml, "calendar", "caldav", url, dav_username);
    }
    xml.close("clientConfig");
    Rendered {
        status: 200,
        content_type: CONTENT_TYPE,
        body: xml.finish(),
        error_document: false,
    }
}

fn write_server(xml: &mut XmlWriter, element: &str, server: &MailServer) {
    xml.open(element, &[("type", server_type(server.kind))]);
    xml.leaf("hostname", &server.host);
    xml.leaf_number("port", server.port);
    xml.leaf("socketType", socket_type(server.security));
    let mut has_password = false;
    for method in &server.authentication {
        has_password |= method.is_password();
        xml.leaf("authentication", authentication(*method));
    }
    // After OAuth2, also list a password method (docs/protocols.md, "Password method after
    // OAuth2"). Thunderbird uses OAuth2 only for
    // hosts it has built-in client credentials for and otherwise falls through to the next
    // entry; with none left the server is unusable.
    if server.authentication.contains(&AuthMethod::OAuth2) && !has_password {
        xml.leaf(
            "authentication",
            authentication(AuthMethod::PasswordCleartext),
        );
    }
    // Always a <username>, even for `none`: K-9 drops servers without one (docs/protocols.md,
    // "Always a username").
    xml.leaf("username", &server.username);
    xml.close(element);
}

fn write_dav(xml: &mut XmlWriter, element: &str, kind: &str, url: &str, username: &str) {
    xml.open(element, &[("type", kind)]);
    xml.leaf("url", url);
    xml.leaf_with("authentication", &[("system", "http")], "Basic");
    xml.leaf("username", username);
    xml.close(element);
}

/// The `type` attribute of a server section.
fn server_type(kind: ServerKind) -> &'static str {
    match kind {
        ServerKind::Imap => "imap",
        ServerKind::Pop3 => "pop3",
        ServerKind::Smtp => "smtp",
    }
}

/// `socketType`: Thunderbird maps SSL/STARTTLS/plain to its socket types 3/2/0.
fn socket_type(security: Security) -> &'static str {
    match security {
        Security::Tls => "SSL",
        Security::Starttls => "STARTTLS",
        Security::Plain => "plain",
    }
}

/// `<authentication>` values from the v1.1 wiki and the draft (§authentication). `none` is
/// the draft's "no authentication" for any server; Thunderbird desktop only honours it for
/// outgoing servers, which is the admin's choice to make, not ours.
fn authentication(method: AuthMethod) -> &'static str {
    match method {
        AuthMethod::PasswordCleartext => "password-cleartext",
        AuthMethod::PasswordEncrypted => "password-encrypted",
        AuthMethod::OAuth2 => "OAuth2",
        AuthMethod::Ntlm => "NTLM",
        AuthMethod::Gssapi => "GSSAPI",
        AuthMethod::ClientCert => "TLS-client-cert",
        AuthMethod::None => "none",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::test_accounts::{demo_account, demo_domain_account};

    fn parse(rendered: &Rendered) -> String {
        String::from_utf8(rendered.body.clone()).unwrap()
    }

    /// (type, hostname, port, socketType, [authentication], username) per server section.
    fn servers(
        doc: &roxmltree::Document<'_>,
        element: &str,
    ) -> Vec<(String, String, String, String, Vec<String>, String)> {
        doc.descendants()
            .filter(|n| n.has_tag_name(element))
            .map(|n| {
                let child = |name: &str| {
                    n.children()
                        .find(|c| c.has_tag_name(name))
                        .and_then(|c| c.text())
                        .unwrap_or_default()
                        .to_owned()
                };
                let auth = n
                    .children()
                    .filter(|c| c.has_tag_name("authentication"))
                    .map(|c| c.text().unwrap_or_default().to_owned())
                    .collect();
                (
                    n.attribute("type").unwrap_or_default().to_owned(),
                    child("hostname"),
                    child("port"),
                    child("socketType"),
                    auth,
                    child("username"),
                )
            })
            .collect()
    }

    #[test]
    fn demo_answer_has_what_thunderbird_reads() {
        let rendered = render(&demo_account("jane@example.com"));
        assert_eq!(rendered.status, 200);
        assert_eq!(rendered.content_type, "application/xml; charset=utf-8");
        let text = parse(&rendered);
        assert!(text.starts_with("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"));
        let doc = roxmltree::Document::parse(&text).unwrap();
        let root = doc.root_element();
        assert_eq!(root.tag_name().name(), "clientConfig");
        assert_eq!(root.attribute("version"), Some("1.1"));
        let provider = root.first_element_child().unwrap();
        assert_eq!(provider.attribute("id"), Some("example.com"));
        let text_of = |name: &str| {
            provider
                .children()
                .find(|c| c.has_tag_name(name))
                .and_then(|c| c.text())
        };
        assert_eq!(text_of("domain"), Some("example.com"));
        assert_eq!(text_of("displayName"), Some("Example Mail"));
        assert_eq!(text_of("displayShortName"), Some("Example"));
        let pw = || vec!["password-cleartext".to_owned()];
        let user = "jane@example.com".to_owned();
        let server = |t: &str, h: &str, p: &str, s: &str| {
            (t.into(), h.into(), p.into(), s.into(), pw(), user.clone())
        };
        assert_eq!(
            servers(&doc, "incomingServer"),
            vec![
                server("imap", "imap.example.com", "993", "SSL"),
                server("imap", "imap.example.com", "143", "STARTTLS"),
                server("pop3", "pop.example.com", "995", "SSL"),
            ]
        );
        assert_eq!(
            servers(&doc, "outgoingServer"),
            vec![
                server("smtp", "smtp.example.com", "465", "SSL"),
                server("smtp", "smtp.example.com", "587", "STARTTLS"),
            ]
        );
        let dav: Vec<_> = root
            .children()
            .filter(|c| c.has_tag_name("addressbook") || c.has_tag_name("calendar"))
            .map(|c| {
                let url = c.children().find(|u| u.has_tag_name("url")).unwrap();
                (c.tag_name().name(), c.attribute("type"), url.text())
            })
            .collect();
        assert_eq!(
            dav,
            vec![
                (
                    "addressbook",
                    Some("carddav"),
                    Some("https://dav.example.com/")
                ),
                ("calendar", Some("caldav"), Some("https://dav.example.com/")),
            ]
        );
    }

    #[test]
    fn domain_level_answer_keeps_the_username_placeholder_only_in_username() {
        let text = parse(&render(&demo_domain_account()));
        let doc = roxmltree::Document::parse(&text).unwrap();
        for (_, _, _, _, _, username) in servers(&doc, "incomingServer") {
            assert_eq!(username, "%EMAILADDRESS%");
        }
        let domain = doc
            .descendants()
            .find(|n| n.has_tag_name("domain"))
            .unwrap();
        assert_eq!(domain.text(), Some("example.com"));
    }

    #[test]
    fn oauth2_is_followed_by_a_password_method() {
        let mut account = demo_account("jane@example.com");
        account.incoming[0].authentication = vec![AuthMethod::OAuth2];
        account.incoming[1].authentication =
            vec![AuthMethod::OAuth2, AuthMethod::PasswordEncrypted];
        let text = parse(&render(&account));
        let doc = roxmltree::Document::parse(&text).unwrap();
        let incoming = servers(&doc, "incomingServer");
        assert_eq!(incoming[0].4, ["OAuth2", "password-cleartext"]);
        assert_eq!(incoming[1].4, ["OAuth2", "password-encrypted"]);
    }

    #[test]
    fn every_auth_method_has_its_wire_name_and_username_is_always_there() {
        let mut account = demo_account("jane@example.com");
        account.outgoing[0].authentication = vec![
            AuthMethod::Ntlm,
            AuthMethod::Gssapi,
            AuthMethod::ClientCert,
            AuthMethod::PasswordEncrypted,
        ];
        account.outgoing[1].authentication = vec![AuthMethod::None];
        let text = parse(&render(&account));
        let doc = roxmltree::Document::parse(&text).unwrap();
        let outgoing = servers(&doc, "outgoingServer");
        assert_eq!(
            outgoing[0].4,
            ["NTLM", "GSSAPI", "TLS-client-cert", "password-encrypted"]
        );
        assert_eq!(outgoing[1].4, ["none"]);
        assert!(outgoing.iter().all(|s| s.5 == "jane@example.com"));
    }

    #[test]
    fn hostile_display_names_are_escaped() {
        let mut account = demo_account("jane@example.com");
        account.provider.display_name = "<b>Mail & Co</b>".into();
        let text = parse(&render(&account));
        assert!(text.contains("&lt;b&gt;Mail &amp; Co&lt;/b&gt;"), "{text}");
        roxmltree::Document::parse(&text).unwrap();
    }

    #[test]
    fn documentation_url_is_an_attribute() {
        let mut account = demo_account("jane@example.com");
        account.services.urls[UrlService::Documentation] =
            Some("https://example.com/help?a=1&b=2".into());
        let text = parse(&render(&account));
        let doc = roxmltree::Document::parse(&text).unwrap();
        let documentation = doc
            .descendants()
            .find(|n| n.has_tag_name("documentation"))
            .unwrap();
        assert_eq!(
            documentation.attribute("url"),
            Some("https://example.com/help?a=1&b=2")
        );
    }
}
