//! The POX Autodiscover request body (Outlook and MobileSync forms): parsed strictly and
//! bounded, with roxmltree (which refuses DTDs, so no entity expansion, no XXE). Tolerant
//! where real clients differ: `http://` or `https://` namespaces, any declaration casing,
//! a UTF-8 BOM. The HTTP layer caps the body size before it gets here.

use super::ResponseSchema;
use crate::account::EmailAddress;
use crate::protocol::untrusted_xml::{self, AttributeLimits, UntrustedXmlError};

/// A real request has 4 elements plus whitespace; anything far larger is not one.
const NODES_LIMIT: u32 = 256;
/// A real request carries a namespace declaration or three (`xmlns`, `xmlns:xsi`, `xmlns:xsd`)
/// and no other attribute. Checked before roxmltree, whose attribute handling is quadratic.
const ATTRIBUTE_LIMITS: AttributeLimits = AttributeLimits {
    per_element: 16,
    total: 64,
};

/// The request namespaces, without scheme: Microsoft's pages print `https://`, clients send
/// `http://`, both are accepted (docs/protocols.md, "Both namespace spellings").
const REQUEST_NAMESPACES: [&str; 2] = [
    "schemas.microsoft.com/exchange/autodiscover/outlook/requestschema/2006",
    "schemas.microsoft.com/exchange/autodiscover/mobilesync/requestschema/2006",
];
const OUTLOOK_RESPONSE: &str =
    "schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a";
const MOBILESYNC_RESPONSE: &str =
    "schemas.microsoft.com/exchange/autodiscover/mobilesync/responseschema/2006";

/// What the client asked: which answer schema, for which address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PoxRequest {
    pub email: EmailAddress,
    pub schema: ResponseSchema,
}

/// Why a body is not a request we answer; every case is answered with error 600.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum RequestError {
    #[error("the body is not UTF-8")]
    NotUtf8,
    #[error("the body is not well-formed XML without a DTD")]
    NotXml,
    #[error("the body has more attributes than a request")]
    TooManyAttributes,
    #[error("the root is not an Autodiscover request element")]
    NotAutodiscover,
    #[error("the request has no Request element")]
    MissingRequest,
    #[error("the request has no EMailAddress")]
    MissingAddress,
    #[error("the EMailAddress is not a valid address")]
    BadAddress,
    #[error("the AcceptableResponseSchema is missing or unknown")]
    UnknownSchema,
}

impl PoxRequest {
    /// Parses a request body.
    pub fn parse(body: &[u8]) -> Result<Self, RequestError> {
        let text = std::str::from_utf8(body).map_err(|_| RequestError::NotUtf8)?;
        let text = text.strip_prefix('\u{FEFF}').unwrap_or(text);
        match parse_plain(text) {
            Some(request) => Ok(request),
            None => parse_strict(text),
        }
    }

    /// The body a client sends for this request, with the `http://` namespaces clients use
    /// (what `mxconf doctor` POSTs; [`Self::parse`] reads it back).
    pub fn to_xml(&self) -> Vec<u8> {
        let (index, response) = match self.schema {
            ResponseSchema::Outlook => (0, OUTLOOK_RESPONSE),
            ResponseSchema::MobileSync => (1, MOBILESYNC_RESPONSE),
        };
        let namespace = format!("http://{}", REQUEST_NAMESPACES[index]);
        let mut xml = super::super::xml::XmlWriter::new();
        xml.open("Autodiscover", &[("xmlns", &namespace)]);
        xml.open("Request", &[]);
        xml.leaf("EMailAddress", self.email.as_str());
        xml.leaf("AcceptableResponseSchema", &format!("http://{response}"));
        xml.close("Request");
        xml.close("Autodiscover");
        xml.finish()
    }
}

/// Any request, parsed as a whole document: bounded attributes, then roxmltree (no DTD, a node
/// limit), then the fields by name.
fn parse_strict(text: &str) -> Result<PoxRequest, RequestError> {
    untrusted_xml::check_attributes(text, ATTRIBUTE_LIMITS).map_err(|error| match error {
        UntrustedXmlError::Syntax { .. } => RequestError::NotXml,
        UntrustedXmlError::TooManyAttributes { .. } => RequestError::TooManyAttributes,
    })?;
    let options = roxmltree::ParsingOptions {
        allow_dtd: false,
        nodes_limit: NODES_LIMIT,
        ..roxmltree::ParsingOptions::default()
    };
    let doc =
        roxmltree::Document::parse_with_options(text, options).map_err(|_| RequestError::NotXml)?;
    let root = doc.root_element();
    let namespace = root.tag_name().namespace();
    if root.tag_name().name() != "Autodiscover"
        || !namespace.is_none_or(|ns| REQUEST_NAMESPACES.contains(&without_scheme(ns)))
    {
        return Err(RequestError::NotAutodiscover);
    }
    let request = child(root, "Request").ok_or(RequestError::MissingRequest)?;
    let text_of = |name: &str| {
        child(request, name)
            .and_then(|n| n.text())
            .map(str::trim)
            .filter(|t| !t.is_empty())
    };
    let schema = match text_of("AcceptableResponseSchema").map(without_scheme) {
        Some(s) if s.eq_ignore_ascii_case(OUTLOOK_RESPONSE) => ResponseSchema::Outlook,
        Some(s) if s.eq_ignore_ascii_case(MOBILESYNC_RESPONSE) => ResponseSchema::MobileSync,
        _ => return Err(RequestError::UnknownSchema),
    };
    let address = text_of("EMailAddress").ok_or(RequestError::MissingAddress)?;
    let email = EmailAddress::parse(address).map_err(|_| RequestError::BadAddress)?;
    Ok(PoxRequest { email, schema })
}

/// The request as clients send it, read in one streaming pass: an optional plain XML
/// declaration, `<Autodiscover>` with at most its `xmlns`, one `<Request>` without attributes
/// holding `EMailAddress` and `AcceptableResponseSchema` once each, their text printable ASCII
/// without markup or references, whitespace between. `None` on any deviation (comments,
/// prefixes, entities, CDATA, other elements or attributes, a DTD, bad syntax): the strict
/// parser then decides, so every refusal and every unusual form stays its. What this accepts
/// the strict parser reads to the same request.
fn parse_plain(text: &str) -> Option<PoxRequest> {
    use quick_xml::events::Event;
    /// Where in the expected shape the reader is.
    #[derive(Clone, Copy)]
    enum At {
        Prolog,
        Root,
        Request,
        Leaf(usize),
        LeafDone(usize),
        RequestDone,
        End,
    }
    const LEAVES: [&str; 2] = ["EMailAddress", "AcceptableResponseSchema"];
    let mut reader = quick_xml::Reader::from_str(text);
    let mut at = At::Prolog;
    let mut values: [Option<&str>; 2] = [None, None];
    let mut first = true;
    loop {
        at = match (at, reader.read_event().ok()?) {
            (At::Prolog, Event::Decl(decl)) if first && is_plain_declaration(&decl) => At::Prolog,
            (At::Leaf(index), Event::Text(value)) => {
                // A reader over a `&str` borrows its text.
                let std::borrow::Cow::Borrowed(value) = value.into_inner() else {
                    return None;
                };
                let value = value.trim();
                if value.is_empty() || !is_plain(value) {
                    return None;
                }
                values[index] = Some(value);
                At::LeafDone(index)
            }
            (at, Event::Text(space)) if is_space(&space) => at,
            (At::Prolog, Event::Start(root)) if root.name().as_ref() == "Autodiscover" => {
                let mut attributes = root.attributes();
                if let Some(attribute) = attributes.next() {
                    let attribute = attribute.ok()?;
                    let namespace = &*attribute.value;
                    if attribute.key.as_ref() != "xmlns"
                        || !is_plain(namespace)
                        || !REQUEST_NAMESPACES.contains(&without_scheme(namespace))
                        || attributes.next().is_some()
                    {
                        return None;
                    }
                }
                At::Root
            }
            (At::Root, Event::Start(request))
                if request.name().as_ref() == "Request" && request.attributes_raw().is_empty() =>
            {
                At::Request
            }
            (At::Request, Event::Start(leaf)) if leaf.attributes_raw().is_empty() => {
                let index = LEAVES
                    .iter()
                    .position(|name| *name == leaf.name().as_ref())?;
                if values[index].is_some() {
                    return None;
                }
                At::Leaf(index)
            }
            (At::LeafDone(index), Event::End(end)) if end.name().as_ref() == LEAVES[index] => {
                At::Request
            }
            (At::Request, Event::End(end)) if end.name().as_ref() == "Request" => At::RequestDone,
            (At::RequestDone, Event::End(end)) if end.name().as_ref() == "Autodiscover" => At::End,
            (At::End, Event::Eof) => break,
            _ => return None,
        };
        first = false;
    }
    let schema = match without_scheme(values[1]?) {
        s if s.eq_ignore_ascii_case(OUTLOOK_RESPONSE) => ResponseSchema::Outlook,
        s if s.eq_ignore_ascii_case(MOBILESYNC_RESPONSE) => ResponseSchema::MobileSync,
        _ => return None,
    };
    let email = EmailAddress::parse(values[0]?).ok()?;
    Some(PoxRequest { email, schema })
}

/// `<?xml version="1.0"?>`, optionally with `encoding="utf-8"` in any casing of its value.
fn is_plain_declaration(declaration: &str) -> bool {
    match declaration.strip_prefix("xml version=\"1.0\"") {
        Some("") => true,
        Some(rest) => rest
            .strip_prefix(" encoding=\"")
            .and_then(|rest| rest.strip_suffix('"'))
            .is_some_and(|encoding| encoding.eq_ignore_ascii_case("utf-8")),
        None => false,
    }
}

/// XML whitespace only (what may stand between the request's elements).
fn is_space(text: &str) -> bool {
    text.bytes()
        .all(|b| matches!(b, b' ' | b'\t' | b'\n' | b'\r'))
}

/// Printable ASCII that reads the same raw and parsed: no markup, no reference, no `]]>`, no
/// whitespace (so no line-end normalisation either).
fn is_plain(text: &str) -> bool {
    text.bytes()
        .all(|b| b.is_ascii_graphic() && !matches!(b, b'<' | b'>' | b'&' | b']'))
}

/// The first element child named `name`, whatever its namespace: children inherit the root's
/// default namespace, and the root's namespace was already checked.
fn child<'a, 'input>(
    parent: roxmltree::Node<'a, 'input>,
    name: &str,
) -> Option<roxmltree::Node<'a, 'input>> {
    parent
        .children()
        .find(|n| n.is_element() && n.tag_name().name() == name)
}

fn without_scheme(uri: &str) -> &str {
    uri.strip_prefix("http://")
        .or_else(|| uri.strip_prefix("https://"))
        .unwrap_or(uri)
}

#[cfg(test)]
mod tests {
    use super::*;

    const OUTLOOK_NS: &str =
        "http://schemas.microsoft.com/exchange/autodiscover/outlook/requestschema/2006";
    const OUTLOOK_SCHEMA: &str =
        "http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a";

    fn body(namespace: &str, email: &str, schema: &str) -> String {
        format!(
            "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<Autodiscover xmlns=\"{namespace}\"><Request>\
             <EMailAddress>{email}</EMailAddress>\
             <AcceptableResponseSchema>{schema}</AcceptableResponseSchema></Request></Autodiscover>"
        )
    }

    #[test]
    fn written_requests_parse_back() {
        for schema in [ResponseSchema::Outlook, ResponseSchema::MobileSync] {
            let request = PoxRequest {
                email: EmailAddress::parse("o'neil&co@example.com").unwrap(),
                schema,
            };
            assert_eq!(PoxRequest::parse(&request.to_xml()).unwrap(), request);
        }
    }

    #[test]
    fn parses_the_spec_examples() {
        let dir = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/autodiscover/examples"
        );
        let outlook = std::fs::read(format!("{dir}/outlook-request.xml")).unwrap();
        let request = PoxRequest::parse(&outlook).unwrap();
        assert_eq!(request.email.as_str(), "user@example.com");
        assert_eq!(request.schema, ResponseSchema::Outlook);
        let mobile = std::fs::read(format!("{dir}/mobilesync-request.xml")).unwrap();
        let request = PoxRequest::parse(&mobile).unwrap();
        assert_eq!(request.email.as_str(), "chris@example.com");
        assert_eq!(request.schema, ResponseSchema::MobileSync);
    }

    #[test]
    fn accepts_https_namespaces_any_declaration_casing_and_a_bom() {
        let https = body(
            &OUTLOOK_NS.replace("http:", "https:"),
            " Jane@Example.COM ",
            &OUTLOOK_SCHEMA.replace("http:", "https:"),
        );
        let request = PoxRequest::parse(https.as_bytes()).unwrap();
        assert_eq!(request.email.as_str(), "Jane@example.com");
        for declaration in ["UTF-8", "utf-8", "Utf-8"] {
            let text = format!(
                "\u{FEFF}{}",
                body(OUTLOOK_NS, "a@example.com", OUTLOOK_SCHEMA)
            )
            .replace("utf-8", declaration);
            assert!(PoxRequest::parse(text.as_bytes()).is_ok(), "{declaration}");
        }
    }

    #[test]
    fn rejects_dtds_entities_and_garbage() {
        let xxe = format!(
            "<?xml version=\"1.0\"?><!DOCTYPE a [<!ENTITY x SYSTEM \"file:///etc/passwd\">]>{}",
            body(OUTLOOK_NS, "&x;@example.com", OUTLOOK_SCHEMA)
        );
        assert_eq!(PoxRequest::parse(xxe.as_bytes()), Err(RequestError::NotXml));
        let laughs = "<?xml version=\"1.0\"?><!DOCTYPE l [<!ENTITY a \"aaaaaaaaaa\">\
            <!ENTITY b \"&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;\"><!ENTITY c \"&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;\">]>\
            <Autodiscover><Request><EMailAddress>&c;</EMailAddress></Request></Autodiscover>";
        assert_eq!(
            PoxRequest::parse(laughs.as_bytes()),
            Err(RequestError::NotXml)
        );
        assert_eq!(PoxRequest::parse(b""), Err(RequestError::NotXml));
        assert_eq!(PoxRequest::parse(b"\xff\xfe<"), Err(RequestError::NotUtf8));
        assert_eq!(PoxRequest::parse(b"hello"), Err(RequestError::NotXml));
        assert_eq!(
            PoxRequest::parse(b"<Other xmlns=\"urn:x\"/>"),
            Err(RequestError::NotAutodiscover)
        );
        let crowded = (0..20).map(|n| format!(" a{n}=\"\"")).collect::<String>();
        let crowded = body(OUTLOOK_NS, "a@example.com", OUTLOOK_SCHEMA).replacen(
            "<Request>",
            &format!("<Request{crowded}>"),
            1,
        );
        assert_eq!(
            PoxRequest::parse(crowded.as_bytes()),
            Err(RequestError::TooManyAttributes)
        );
        let many = format!("<Autodiscover>{}</Autodiscover>", "<a/>".repeat(1000));
        assert_eq!(
            PoxRequest::parse(many.as_bytes()),
            Err(RequestError::NotXml)
        );
    }

    #[test]
    fn missing_or_bad_fields_are_named() {
        let no_request = format!("<Autodiscover xmlns=\"{OUTLOOK_NS}\"/>");
        assert_eq!(
            PoxRequest::parse(no_request.as_bytes()),
            Err(RequestError::MissingRequest)
        );
        let bad_schema = body(OUTLOOK_NS, "a@example.com", "urn:unknown");
        assert_eq!(
            PoxRequest::parse(bad_schema.as_bytes()),
            Err(RequestError::UnknownSchema)
        );
        let bad_address = body(OUTLOOK_NS, "not-an-address", OUTLOOK_SCHEMA);
        assert_eq!(
            PoxRequest::parse(bad_address.as_bytes()),
            Err(RequestError::BadAddress)
        );
        let no_address = body(OUTLOOK_NS, "", OUTLOOK_SCHEMA);
        assert_eq!(
            PoxRequest::parse(no_address.as_bytes()),
            Err(RequestError::MissingAddress)
        );
    }

    #[test]
    fn the_streaming_pass_takes_what_clients_send_and_leaves_the_rest_to_the_strict_parser() {
        let sent = std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/benches/load/pox-request.xml"
        ))
        .unwrap();
        let written = PoxRequest {
            email: EmailAddress::parse("jane@example.com").unwrap(),
            schema: ResponseSchema::MobileSync,
        }
        .to_xml();
        let plain = [
            sent.clone(),
            String::from_utf8(written).unwrap(),
            body(OUTLOOK_NS, " Jane@Example.COM ", OUTLOOK_SCHEMA),
            body(OUTLOOK_NS, "a@example.com", OUTLOOK_SCHEMA).replace("utf-8", "UTF-8"),
            format!(
                "<Autodiscover><Request><AcceptableResponseSchema>{OUTLOOK_SCHEMA}\
                 </AcceptableResponseSchema><EMailAddress>a@example.com</EMailAddress>\
                 </Request></Autodiscover>\n"
            ),
        ];
        for text in &plain {
            let fast = parse_plain(text).unwrap_or_else(|| panic!("not plain: {text}"));
            assert_eq!(parse_strict(text), Ok(fast), "{text}");
        }
        let unusual = [
            sent.replace("jane@", "&#106;ane@"),
            sent.replace("jane@", "<!-- c -->jane@"),
            sent.replace("jane@example.com", "<![CDATA[jane@example.com]]>"),
            sent.replace("<Request>", "<Request a=\"1\">"),
            sent.replace("<Request>", "<Request><Extra/>"),
            sent.replace("xmlns=", "xmlns:xsi=\"urn:x\" xmlns="),
            sent.replace("<Autodiscover xmlns=", "<a:Autodiscover xmlns:a="),
            sent.replace(
                "</Request>",
                "<EMailAddress>b@example.com</EMailAddress></Request>",
            ),
            sent.replace("<?xml version", "<?XML version"),
            sent.replace("<?xml", " <?xml"),
            sent.replace("jane@", "ja\u{1}ne@"),
            sent.replace("jane@", "jäne@"),
            sent.replace("jane@", "]]>jane@"),
            sent.replace("</Autodiscover>", "</Autodiscover><Autodiscover/>"),
            sent.replace("</Autodiscover>", "</Autodiscover>x"),
            sent.replace("</Autodiscover>", ""),
            sent.replace("</Request>", "</Requests>"),
            sent.replace("jane@example.com", "not-an-address"),
            sent.replace("2006a", "2006b"),
            format!("<!DOCTYPE a>{sent}"),
        ];
        for text in &unusual {
            assert_eq!(parse_plain(text), None, "{text}");
            // The whole body is answered by the strict parser, as before the streaming pass.
            assert_eq!(
                PoxRequest::parse(text.as_bytes()),
                parse_strict(text.strip_prefix('\u{FEFF}').unwrap_or(text))
            );
        }
    }
}
