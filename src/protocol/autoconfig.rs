//! Mozilla autoconfig (`config-v1.1.xml`) with the v1.2 draft's additions: URL-based
//! servers (JMAP, EWS, ActiveSync), `addressbook`/`calendar`/`fileShare`, the `<oAuth2>` block
//! and SASL recommendations. A pure function of the resolved [`Account`]; validated in tests
//! against the draft's RELAX NG schema (`tests/fixtures/autoconfig/autoconfig.rng`). The client
//! rules it follows, and the `version` it declares, are in docs/protocols.md, "Mozilla
//! autoconfig".

use super::Rendered;
use super::xml::XmlWriter;
use crate::account::{Account, AuthMethod, MailServer, Security, ServerKind, UrlService};

/// Thunderbird ignores a 200 whose type is not `text/xml` or `application/xml`
/// (docs/protocols.md, "Autoconfig content type").
pub const CONTENT_TYPE: &str = "application/xml; charset=utf-8";

/// The username placeholder clients expand themselves (domain-level answers keep it).
const ADDRESS_PLACEHOLDER: &str = "%EMAILADDRESS%";

/// URL-based incoming servers inside `<emailProvider>`, after the TCP ones (Thunderbird takes
/// the first server it can read as the account; IMAP stays that), with the draft's registry
/// spelling of each type.
const URL_INCOMING: [(UrlService, &str); 3] = [
    (UrlService::Jmap, "jmap"),
    (UrlService::Ews, "ews"),
    (UrlService::ActiveSync, "activeSync"),
];

/// Sections at `<clientConfig>` level: (service, element, type).
const URL_SECTIONS: [(UrlService, &str, &str); 3] = [
    (UrlService::CardDav, "addressbook", "carddav"),
    (UrlService::CalDav, "calendar", "caldav"),
    (UrlService::WebDav, "fileShare", "webdav"),
];

/// Renders the autoconfig document for `account`.
pub fn render(account: &Account) -> Rendered {
    let mut xml = XmlWriter::new();
    xml.open("clientConfig", &[("version", version(account))]);
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
    let username = account.login_name().unwrap_or(ADDRESS_PLACEHOLDER);
    for (service, kind) in URL_INCOMING {
        if let Some(url) = account.url(service) {
            write_url_server(
                &mut xml,
                account,
                service,
                "incomingServer",
                kind,
                url,
                username,
            );
        }
    }
    if let Some(url) = account.url(UrlService::Documentation) {
        xml.open("documentation", &[("url", url)]);
        xml.leaf_with("descr", &[("lang", "en")], "Mail setup instructions");
        xml.close("documentation");
    }
    xml.close("emailProvider");
    // Draft v1.2: DAV sections sit at <clientConfig> level, URL-based, HTTP authentication.
    for (service, element, kind) in URL_SECTIONS {
        if let Some(url) = account.url(service) {
            write_url_server(&mut xml, account, service, element, kind, url, username);
        }
    }
    if let Some(oauth2) = &account.services.oauth2 {
        xml.open("oAuth2", &[]);
        xml.leaf("authURL", &oauth2.auth_url);
        xml.leaf("tokenURL", &oauth2.token_url);
        xml.leaf("issuer", &oauth2.issuer);
        xml.leaf("scope", &oauth2.scope);
        xml.leaf("clientID", &oauth2.client_id);
        if let Some(secret) = &oauth2.client_secret {
            xml.leaf("clientSecret", secret);
        }
        xml.close("oAuth2");
    }
    xml.close("clientConfig");
    Rendered {
        status: 200,
        content_type: CONTENT_TYPE,
        body: xml.finish(),
        error_document: false,
    }
}

/// `1.2` once the answer uses what only the v1.2 draft defines (URL-based incoming servers,
/// `fileShare`, `<oAuth2>` with a client ID, SASL recommendations), else `1.1`, the version
/// every deployed client was written against (docs/protocols.md, "Which version").
fn version(account: &Account) -> &'static str {
    let url_servers = URL_INCOMING
        .iter()
        .any(|(service, _)| account.url(*service).is_some());
    let sasl = account
        .incoming
        .iter()
        .chain(&account.outgoing)
        .any(|server| !server.sasl.is_empty());
    let v12 = url_servers
        || sasl
        || account.url(UrlService::WebDav).is_some()
        || account.services.oauth2.is_some();
    if v12 { "1.2" } else { "1.1" }
}

fn write_server(xml: &mut XmlWriter, element: &str, server: &MailServer) {
    xml.open(element, &[("type", server_type(server.kind))]);
    xml.leaf("hostname", &server.host);
    xml.leaf_number("port", server.port);
    xml.leaf("socketType", socket_type(server.security));
    // Specific SASL mechanisms first, the generic methods after them as the draft asks
    // ("Recommending specific SASL schemes"): clients that know none of them skip to those.
    for mechanism in &server.sasl {
        xml.leaf_with("authentication", &[("system", "sasl")], mechanism.as_str());
    }
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

/// A URL-based section: `OAuth2` first when the domain has an authorization server (the draft
/// requires its token to be valid for every service in the file), then HTTP Basic. EWS also
/// gets `password-cleartext`, the only password value Thunderbird's EWS reader takes
/// (docs/protocols.md, "URL-based servers").
fn write_url_server(
    xml: &mut XmlWriter,
    account: &Account,
    service: UrlService,
    element: &str,
    kind: &str,
    url: &str,
    username: &str,
) {
    xml.open(element, &[("type", kind)]);
    xml.leaf("url", url);
    if account.services.oauth2.is_some() {
        xml.leaf("authentication", authentication(AuthMethod::OAuth2));
    }
    xml.leaf_with("authentication", &[("system", "http")], "Basic");
    if service == UrlService::Ews {
        xml.leaf(
            "authentication",
            authentication(AuthMethod::PasswordCleartext),
        );
    }
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
        // The demo has ActiveSync, a URL-based incoming server only v1.2 defines.
        assert_eq!(root.attribute("version"), Some("1.2"));
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
        let activesync = (
            "activeSync".into(),
            String::new(),
            String::new(),
            String::new(),
            vec!["Basic".to_owned()],
            user.clone(),
        );
        assert_eq!(
            servers(&doc, "incomingServer"),
            vec![
                server("imap", "imap.example.com", "993", "SSL"),
                server("imap", "imap.example.com", "143", "STARTTLS"),
                server("pop3", "pop.example.com", "995", "SSL"),
                activesync,
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

    /// The section's `<url>` and its `(system, value)` authentication entries.
    fn url_section(
        doc: &roxmltree::Document<'_>,
        element: &str,
        kind: &str,
    ) -> (String, Vec<String>) {
        let node = doc
            .descendants()
            .find(|n| n.has_tag_name(element) && n.attribute("type") == Some(kind))
            .unwrap_or_else(|| panic!("no <{element} type={kind:?}>"));
        let url = node
            .children()
            .find(|c| c.has_tag_name("url"))
            .and_then(|c| c.text())
            .unwrap_or_default()
            .to_owned();
        let auth = node
            .children()
            .filter(|c| c.has_tag_name("authentication"))
            .map(|c| match c.attribute("system") {
                Some(system) => format!("{system}:{}", c.text().unwrap_or_default()),
                None => c.text().unwrap_or_default().to_owned(),
            })
            .collect();
        (url, auth)
    }

    fn oauth2() -> crate::account::OAuth2 {
        crate::account::OAuth2 {
            issuer: "login.example.com".into(),
            scope: "IMAP SMTP offline_access".into(),
            auth_url: "https://login.example.com/auth".into(),
            token_url: "https://login.example.com/token".into(),
            client_id: "open".into(),
            client_secret: None,
        }
    }

    #[test]
    fn url_services_get_their_v12_elements() {
        let mut account = demo_account("jane@example.com");
        account.services.urls[UrlService::Jmap] = Some("https://jmap.example.com/session".into());
        account.services.urls[UrlService::Ews] =
            Some("https://mail.example.com/EWS/Exchange.asmx".into());
        account.services.urls[UrlService::WebDav] = Some("https://files.example.com/".into());
        let text = parse(&render(&account));
        let doc = roxmltree::Document::parse(&text).unwrap();
        let provider = doc.root_element().first_element_child().unwrap();
        let incoming: Vec<_> = provider
            .children()
            .filter(|n| n.has_tag_name("incomingServer"))
            .map(|n| n.attribute("type").unwrap())
            .collect();
        // TCP servers first (Thunderbird takes the first it reads), then the URL-based ones.
        assert_eq!(
            incoming,
            ["imap", "imap", "pop3", "jmap", "ews", "activeSync"]
        );
        let basic = || "http:Basic".to_owned();
        assert_eq!(
            url_section(&doc, "incomingServer", "jmap"),
            ("https://jmap.example.com/session".into(), vec![basic()])
        );
        assert_eq!(
            url_section(&doc, "incomingServer", "ews"),
            (
                "https://mail.example.com/EWS/Exchange.asmx".into(),
                vec![basic(), "password-cleartext".into()]
            )
        );
        assert_eq!(
            url_section(&doc, "fileShare", "webdav"),
            ("https://files.example.com/".into(), vec![basic()])
        );
        // fileShare sits at <clientConfig> level, as addressbook and calendar do.
        let share = doc
            .descendants()
            .find(|n| n.has_tag_name("fileShare"))
            .unwrap();
        assert_eq!(share.parent_element(), Some(doc.root_element()));
        assert!(doc.descendants().all(|n| !n.has_tag_name("oAuth2")));
    }

    #[test]
    fn oauth2_block_and_url_services_offer_oauth2_first() {
        let mut account = demo_account("jane@example.com");
        account.incoming[0].authentication = vec![AuthMethod::OAuth2];
        account.services.oauth2 = Some(crate::account::OAuth2 {
            client_secret: Some("not-really-secret".into()),
            ..oauth2()
        });
        let text = parse(&render(&account));
        let doc = roxmltree::Document::parse(&text).unwrap();
        let block = doc
            .descendants()
            .find(|n| n.has_tag_name("oAuth2"))
            .unwrap();
        assert_eq!(block.parent_element(), Some(doc.root_element()));
        let fields: Vec<_> = block
            .children()
            .filter(|n| n.is_element())
            .map(|n| (n.tag_name().name(), n.text().unwrap_or_default()))
            .collect();
        assert_eq!(
            fields,
            [
                ("authURL", "https://login.example.com/auth"),
                ("tokenURL", "https://login.example.com/token"),
                ("issuer", "login.example.com"),
                ("scope", "IMAP SMTP offline_access"),
                ("clientID", "open"),
                ("clientSecret", "not-really-secret"),
            ]
        );
        assert_eq!(
            url_section(&doc, "calendar", "caldav").1,
            ["OAuth2", "http:Basic"]
        );
        assert_eq!(
            servers(&doc, "incomingServer")[0].4,
            ["OAuth2", "password-cleartext"]
        );
        assert_eq!(doc.root_element().attribute("version"), Some("1.2"));
    }

    #[test]
    fn sasl_mechanisms_come_first_with_the_generic_methods_after() {
        let mut account = demo_account("jane@example.com");
        account.incoming[0].sasl = ["SCRAM-SHA-256-PLUS", "SCRAM-SHA-256"]
            .into_iter()
            .map(|name| crate::account::SaslMechanism::parse(name).unwrap())
            .collect();
        account.incoming[0].authentication = vec![AuthMethod::PasswordEncrypted];
        let text = parse(&render(&account));
        let doc = roxmltree::Document::parse(&text).unwrap();
        let first = doc
            .descendants()
            .find(|n| n.has_tag_name("incomingServer"))
            .unwrap();
        let auth: Vec<_> = first
            .children()
            .filter(|c| c.has_tag_name("authentication"))
            .map(|c| (c.attribute("system"), c.text().unwrap_or_default()))
            .collect();
        assert_eq!(
            auth,
            [
                (Some("sasl"), "SCRAM-SHA-256-PLUS"),
                (Some("sasl"), "SCRAM-SHA-256"),
                (None, "password-encrypted"),
            ]
        );
    }

    #[test]
    fn a_plain_mail_answer_stays_version_1_1() {
        let mut account = demo_account("jane@example.com");
        account.services.urls[UrlService::ActiveSync] = None;
        let text = parse(&render(&account));
        let doc = roxmltree::Document::parse(&text).unwrap();
        assert_eq!(doc.root_element().attribute("version"), Some("1.1"));
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
