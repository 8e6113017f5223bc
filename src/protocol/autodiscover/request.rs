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
        untrusted_xml::check_attributes(text, ATTRIBUTE_LIMITS).map_err(|error| match error {
            UntrustedXmlError::Syntax { .. } => RequestError::NotXml,
            UntrustedXmlError::TooManyAttributes { .. } => RequestError::TooManyAttributes,
        })?;
        let options = roxmltree::ParsingOptions {
            allow_dtd: false,
            nodes_limit: NODES_LIMIT,
            ..roxmltree::ParsingOptions::default()
        };
        let doc = roxmltree::Document::parse_with_options(text, options)
            .map_err(|_| RequestError::NotXml)?;
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
}
