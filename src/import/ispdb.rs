//! `mxconf import ispdb`: a Thunderbird ISPDB provider file (`clientConfig` v1.1, as served
//! by autoconfig.thunderbird.net) → an mxconf configuration. Parsed with roxmltree (no DTD, no
//! entities); what mxconf cannot model (webmail, POP3 options, root `<oAuth2>`, Exchange
//! types…) becomes a comment in the output rather than disappearing silently.

use roxmltree::{Document, Node, ParsingOptions};

use super::{DomainOut, ImportError, Imported, ServerOut, fit, is_host_template};
use crate::account::{AuthMethod, Domain, PerKind, Security, ServerKind, Template, UrlService};
use crate::protocol::untrusted_xml::{AttributeLimits, UntrustedXmlError, check_attributes};

/// Parses ISPDB XML `text` read from `file` (the name is only used in messages).
///
/// Shape of the output: servers shared by every `<domain>` go to `[defaults]` once, and each
/// `<domain>` gets its own (usually empty) `[domains."NAME"]` table. ISPDB files list up to
/// 191 domains (mail.com); repeating every server per domain would bury the settings. A server
/// whose host is `%EMAILDOMAIN%` (mail.ee, tiki.ne.jp) is written out per domain with the name
/// filled in, because mxconf host names are literal.
pub fn import(text: &str, file: &str) -> Result<Imported, ImportError> {
    super::check_size(text, file)?;
    check_structure(text, file)?;
    let options = ParsingOptions {
        nodes_limit: MAX_NODES,
        ..ParsingOptions::default()
    };
    let doc = Document::parse_with_options(text, options).map_err(|error| ImportError::Syntax {
        file: file.to_owned(),
        line: Some(error.pos().row as usize),
        message: error.to_string(),
    })?;
    let at = |node: Node<'_, '_>| Some(doc.text_pos_at(node.range().start).row as usize);
    let invalid = |node: Node<'_, '_>, message: String| ImportError::Invalid {
        file: file.to_owned(),
        line: at(node),
        message,
    };
    let root = doc.root_element();
    if root.tag_name().name() != "clientConfig" {
        return Err(invalid(
            root,
            format!(
                "root element is <{}>, not <clientConfig>",
                root.tag_name().name()
            ),
        ));
    }
    let provider = child(root, "emailProvider")
        .ok_or_else(|| invalid(root, "no <emailProvider> element".into()))?;

    let mut header = vec![
        format!("Imported from the Thunderbird ISPDB file {file} by `mxconf import ispdb`."),
        "Servers shared by every domain are in [defaults]; each <domain> has its own table.".into(),
        "To add these domains to an existing mxconf.toml, copy the [defaults] server lists".into(),
        "into each domain's table (or into your own [defaults]).".into(),
    ];
    let mut not_carried = Vec::new();
    for node in root.children().filter(Node::is_element) {
        if node.tag_name().name() == "oAuth2" {
            // mxconf answers with the method name only; clients ship their own OAuth client
            // registrations for the big providers and ignore a server-supplied one.
            not_carried.push(format!(
                "<oAuth2> (issuer {}): OAuth endpoints are not part of mxconf's answer; \
                 clients use their built-in registration for the issuer",
                child_text(node, "issuer").unwrap_or("?")
            ));
        } else if node.tag_name().name() != "emailProvider" {
            not_carried.push(format!("<{}> at the top level", node.tag_name().name()));
        }
    }

    let mut domains: Vec<String> = Vec::new();
    let mut incoming = Vec::new();
    let mut outgoing = Vec::new();
    let mut documentation = None;
    for node in provider.children().filter(Node::is_element) {
        match node.tag_name().name() {
            "domain" => {
                let name = node.text().unwrap_or_default().trim();
                if !super::add_domain(&mut domains, name) {
                    not_carried.push(format!("<domain>{name}</domain>: not a domain name"));
                }
            }
            "displayName" | "displayShortName" => {}
            "incomingServer" | "outgoingServer" => {
                let kind = node.attribute("type").unwrap_or_default();
                let expected = if node.tag_name().name() == "outgoingServer" {
                    ["smtp", "smtp"]
                } else {
                    ["imap", "pop3"]
                };
                if !expected.contains(&kind) {
                    // Exchange/EWS/OWA/Graph are URL-based and not IMAP/POP/SMTP; mxconf's
                    // Exchange story is the `activesync` URL.
                    not_carried.push(format!(
                        "<{} type=\"{kind}\"> (line {}): mxconf serves IMAP, POP3 and SMTP only",
                        node.tag_name().name(),
                        at(node).unwrap_or_default()
                    ));
                    continue;
                }
                let server = server(node, &invalid)?;
                match kind {
                    "smtp" => outgoing.push(server),
                    _ => incoming.push((kind, server)),
                }
            }
            "documentation" => {
                let url = node.attribute("url").unwrap_or_default().trim();
                let usable = Template::new(url).is_web_url();
                if usable && documentation.is_none() {
                    documentation = Some(url.to_owned());
                } else {
                    not_carried.push(format!(
                        "<documentation url=\"{url}\">: mxconf keeps one documentation URL"
                    ));
                }
            }
            other => not_carried.push(format!(
                "<{other}> (line {}): no mxconf equivalent",
                at(node).unwrap_or_default()
            )),
        }
    }
    if domains.is_empty() {
        return Err(invalid(provider, "no usable <domain> element".into()));
    }

    let id_text = provider.attribute("id").unwrap_or_default();
    let mut provider_notes = Vec::new();
    let provider_id = match Domain::parse(id_text) {
        Ok(domain) => domain.to_string(),
        Err(_) => {
            // Thunderbird rejects an emailProvider id that is not a domain (docs/protocols.md,
            // "Provider id is a real domain").
            provider_notes.push(format!(
                "The ISPDB id {id_text:?} is not a domain name; its first <domain> is used instead."
            ));
            domains[0].clone()
        }
    };
    // Names and logins go into answers as single lines: a CR/LF or another control character
    // inside one (`&#10;` in the XML) is refused here, with its line, as check-config would.
    for (parent, name) in [(provider, "displayName"), (provider, "displayShortName")] {
        refuse_control_characters(parent, name, &invalid)?;
    }
    let display_name = child_text(provider, "displayName")
        .map(str::trim)
        .filter(|name| !name.is_empty())
        .unwrap_or(&provider_id)
        .to_owned();
    let short_name = child_text(provider, "displayShortName")
        .map(str::trim)
        .filter(|name| !name.is_empty())
        .unwrap_or(&display_name)
        .to_owned();
    // mxconf's provider names are sent as they are (Outlook and Apple profiles do not expand
    // placeholders), so mail.ee's `%EMAILDOMAIN%` becomes the provider's own domain.
    let (display_name, short_name) = if format!("{display_name}{short_name}").contains('%') {
        provider_notes.push(format!(
            "ISPDB names {display_name:?} / {short_name:?}: placeholders filled in with {provider_id}"
        ));
        (
            display_name.replace("%EMAILDOMAIN%", &provider_id),
            short_name.replace("%EMAILDOMAIN%", &provider_id),
        )
    } else {
        (display_name, short_name)
    };
    let display_name = fit(&display_name, 60, "display-name", &mut provider_notes);
    let short_name = fit(&short_name, 20, "short-name", &mut provider_notes);

    let imap: Vec<ServerOut> = select(&incoming, "imap");
    let pop3: Vec<ServerOut> = select(&incoming, "pop3");
    let per_domain = |servers: &[ServerOut]| servers.iter().any(|s| s.host.contains('%'));
    let shared = |servers: Vec<ServerOut>| (!per_domain(&servers)).then_some(servers);
    let of_kind = |kind| match kind {
        ServerKind::Imap => &imap,
        ServerKind::Pop3 => &pop3,
        ServerKind::Smtp => &outgoing,
    };
    let mut defaults = DomainOut {
        servers: PerKind::from_fn(|kind| shared(of_kind(kind).clone())),
        ..DomainOut::default()
    };
    defaults.services.urls[UrlService::Documentation] = documentation;
    let mut entries = Vec::new();
    for name in &domains {
        let mut notes = Vec::new();
        let mut expand = |servers: &[ServerOut]| {
            per_domain(servers).then(|| {
                servers
                    .iter()
                    .filter_map(|server| expand_host(server, name, &mut notes))
                    .collect()
            })
        };
        let servers = PerKind::from_fn(|kind| expand(of_kind(kind)));
        entries.push((
            name.clone(),
            DomainOut {
                notes,
                servers,
                ..DomainOut::default()
            },
        ));
    }
    if !not_carried.is_empty() {
        header.push(String::new());
        header.push("Not carried over:".into());
        header.extend(not_carried.into_iter().map(|item| format!("- {item}")));
    }
    Ok(Imported {
        header,
        provider_id,
        display_name,
        short_name,
        provider_notes,
        backends: Vec::new(),
        defaults: Some(defaults),
        domains: entries,
        ..Imported::default()
    })
}

/// Real ISPDB elements carry at most two attributes, and the largest file (mail.com, 191
/// domains) has under a thousand nodes; these bounds leave room and keep parsing linear.
const MAX_ATTRIBUTES_PER_ELEMENT: usize = 16;
const MAX_ATTRIBUTES: usize = 4096;
const MAX_NODES: u32 = 65_536;

/// The attribute bound before roxmltree sees the text
/// (docs/security.md, "Hostile clients and hostile files").
fn check_structure(text: &str, file: &str) -> Result<(), ImportError> {
    let limits = AttributeLimits {
        per_element: MAX_ATTRIBUTES_PER_ELEMENT,
        total: MAX_ATTRIBUTES,
    };
    check_attributes(text, limits).map_err(|error| match error {
        UntrustedXmlError::Syntax { .. } => ImportError::Syntax {
            file: file.to_owned(),
            line: Some(error.line(text)),
            message: error.to_string(),
        },
        UntrustedXmlError::TooManyAttributes { .. } => ImportError::Invalid {
            file: file.to_owned(),
            line: Some(error.line(text)),
            message: format!("{error}; not an ISPDB file"),
        },
    })
}

fn select(incoming: &[(&str, ServerOut)], kind: &str) -> Vec<ServerOut> {
    incoming
        .iter()
        .filter(|(k, _)| *k == kind)
        .map(|(_, server)| server.clone())
        .collect()
}

/// `%EMAILDOMAIN%` in a host name becomes the domain itself; any other placeholder there
/// cannot be a host name, so that server is left out (with a note).
fn expand_host(server: &ServerOut, domain: &str, notes: &mut Vec<String>) -> Option<ServerOut> {
    let host = server.host.replace("%EMAILDOMAIN%", domain);
    if host.contains('%') {
        notes.push(format!(
            "left out {}:{}: a host name cannot depend on the user",
            server.host, server.port
        ));
        return None;
    }
    let mut server = server.clone();
    server.notes.push(format!(
        "ISPDB host {} with %EMAILDOMAIN% filled in",
        server.host
    ));
    server.host = host;
    Some(server)
}

fn server(
    node: Node<'_, '_>,
    invalid: &dyn Fn(Node<'_, '_>, String) -> ImportError,
) -> Result<ServerOut, ImportError> {
    let required = |name: &str| {
        child(node, name)
            .and_then(|n| n.text())
            .map(str::trim)
            .filter(|text| !text.is_empty())
            .ok_or_else(|| invalid(node, format!("server has no <{name}>")))
    };
    let host = required("hostname")?.to_owned();
    if !is_host_template(&host) {
        return Err(invalid(
            child(node, "hostname").unwrap_or(node),
            format!("<hostname> {host:?} is not a host name"),
        ));
    }
    let port_node = child(node, "port").unwrap_or(node);
    let port = required("port")?
        .parse::<u16>()
        .ok()
        .filter(|port| *port != 0)
        .ok_or_else(|| invalid(port_node, "<port> is not a port number".into()))?;
    let socket = required("socketType")?;
    let security = match socket {
        "SSL" => Security::Tls,
        "STARTTLS" => Security::Starttls,
        "plain" => Security::Plain,
        other => {
            return Err(invalid(
                child(node, "socketType").unwrap_or(node),
                format!("unknown <socketType> {other:?}"),
            ));
        }
    };
    let mut notes = Vec::new();
    let mut authentication = Vec::new();
    for method in node
        .children()
        .filter(|n| n.has_tag_name("authentication"))
        .filter_map(|n| n.text())
        .map(str::trim)
    {
        match auth_method(method) {
            Some(method) if !authentication.contains(&method) => authentication.push(method),
            Some(_) => {}
            None => notes.push(format!(
                "ISPDB authentication {method:?} has no mxconf equivalent and was left out"
            )),
        }
    }
    if authentication.is_empty() && !notes.is_empty() {
        // client-IP-address / SMTP-after-POP: the client sends no credentials itself.
        authentication.push(AuthMethod::None);
    }
    refuse_control_characters(node, "username", invalid)?;
    let username = child(node, "username")
        .and_then(|n| n.text())
        .map(str::trim)
        .filter(|text| !text.is_empty())
        .map(str::to_owned);
    if username.is_none() {
        notes.push(
            "no <username> in the ISPDB file: mxconf's default %EMAILADDRESS% applies".into(),
        );
    }
    for extra in node.children().filter(Node::is_element) {
        if !matches!(
            extra.tag_name().name(),
            "hostname" | "port" | "socketType" | "authentication" | "username"
        ) {
            notes.push(format!("ISPDB {} is not carried over", source_text(extra)));
        }
    }
    Ok(ServerOut {
        notes,
        host,
        port,
        security,
        authentication,
        username,
    })
}

/// The `<name>` child of `parent`, trimmed, must hold no control character.
fn refuse_control_characters(
    parent: Node<'_, '_>,
    name: &str,
    invalid: &dyn Fn(Node<'_, '_>, String) -> ImportError,
) -> Result<(), ImportError> {
    let Some(node) = child(parent, name) else {
        return Ok(());
    };
    match node
        .text()
        .map(str::trim)
        .and_then(|text| text.chars().find(|c| c.is_control()))
    {
        Some(c) => Err(invalid(
            node,
            format!(
                "<{name}> contains the control character U+{:04X}; mxconf sends it on one line, so fix the file",
                u32::from(c)
            ),
        )),
        None => Ok(()),
    }
}

/// ISPDB authentication names (plus Thunderbird 2's `plain`/`secure`) → mxconf's methods.
pub(super) fn auth_method(name: &str) -> Option<AuthMethod> {
    Some(match name {
        "password-cleartext" | "plain" => AuthMethod::PasswordCleartext,
        "password-encrypted" | "secure" => AuthMethod::PasswordEncrypted,
        "OAuth2" => AuthMethod::OAuth2,
        "NTLM" => AuthMethod::Ntlm,
        "GSSAPI" => AuthMethod::Gssapi,
        "TLS-client-cert" => AuthMethod::ClientCert,
        "none" => AuthMethod::None,
        _ => return None,
    })
}

/// The element as written in the file, on one line (for comments).
fn source_text(node: Node<'_, '_>) -> String {
    let text = node.document().input_text();
    text.get(node.range())
        .unwrap_or_default()
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .replace("> <", "><")
}

fn child<'a, 'i>(node: Node<'a, 'i>, name: &str) -> Option<Node<'a, 'i>> {
    node.children().find(|n| n.has_tag_name(name))
}

fn child_text<'a>(node: Node<'a, '_>, name: &str) -> Option<&'a str> {
    child(node, name).and_then(|n| n.text())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Config, ConfigSource};

    fn load(text: &str) -> Config {
        Config::from_toml(text, ConfigSource::File("out.toml".into())).unwrap()
    }

    #[test]
    fn per_domain_host_placeholder_is_filled_in() {
        let xml = r#"<clientConfig version="1.1"><emailProvider id="Odd Id">
            <domain>a.example</domain><domain>B.example</domain><domain>a.example</domain>
            <displayName>%EMAILDOMAIN%</displayName>
            <incomingServer type="imap"><hostname>%EMAILDOMAIN%</hostname><port>993</port>
              <socketType>SSL</socketType><authentication>password-cleartext</authentication>
              <username>%EMAILLOCALPART%</username></incomingServer>
            <outgoingServer type="smtp"><hostname>smtp.example</hostname><port>587</port>
              <socketType>STARTTLS</socketType><authentication>client-IP-address</authentication>
              <restriction>client-IP-address</restriction></outgoingServer>
            <webMail><loginPage url="https://x.example/"/></webMail>
            </emailProvider></clientConfig>"#;
        let imported = import(xml, "t.xml").unwrap();
        let text = imported.to_toml();
        assert_eq!(imported.provider_id, "a.example");
        assert_eq!(imported.display_name, "a.example");
        assert_eq!(imported.domains.len(), 2);
        assert!(text.contains("<webMail>"), "{text}");
        let config = load(&text);
        let b = config.domain(&Domain::parse("b.example").unwrap()).unwrap();
        assert_eq!(b.incoming[0].host, "b.example");
        assert_eq!(b.incoming[0].username, "%EMAILLOCALPART%");
        assert_eq!(b.outgoing[0].authentication, vec![AuthMethod::None]);
        assert_eq!(b.outgoing[0].host, "smtp.example");
    }

    #[test]
    fn errors_name_the_line() {
        let error = import(
            "<clientConfig>\n<emailProvider>\n</clientConfig>",
            "bad.xml",
        )
        .unwrap_err()
        .to_string();
        assert!(error.starts_with("bad.xml:3:"), "{error}");
        let xml = "<clientConfig><emailProvider id=\"x.example\">\n<domain>x.example</domain>\n\
                   <incomingServer type=\"imap\"><hostname>h.example</hostname>\n<port>99999</port>\
                   <socketType>SSL</socketType></incomingServer></emailProvider></clientConfig>";
        let error = import(xml, "port.xml").unwrap_err().to_string();
        assert_eq!(error, "port.xml:4: <port> is not a port number");
    }

    #[test]
    fn attribute_bombs_are_refused_before_parsing() {
        let many: String = (0..200_000).map(|i| format!(" a{i}=\"\"")).collect();
        let xml = format!("<clientConfig>\n<emailProvider{many}/></clientConfig>");
        let error = import(&xml, "bomb.xml").unwrap_err().to_string();
        assert!(
            error.starts_with("bomb.xml:2: too many attributes"),
            "{error}"
        );
        // Spread over elements, the total counts.
        let spread: String = (0..5000).map(|i| format!("<d a=\"{i}\"/>")).collect();
        let xml = format!("<clientConfig>{spread}</clientConfig>");
        let error = import(&xml, "spread.xml").unwrap_err().to_string();
        assert!(error.contains("too many attributes"), "{error}");
    }

    #[test]
    fn refuses_dtds() {
        let xml = "<!DOCTYPE x [<!ENTITY a \"b\">]><clientConfig/>";
        assert!(matches!(
            import(xml, "dtd.xml"),
            Err(ImportError::Syntax { .. })
        ));
    }
}
