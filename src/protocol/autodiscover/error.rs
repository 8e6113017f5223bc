//! The Autodiscover error document, in the outer `responseschema/2006` namespace (the form
//! both Outlook and MobileSync clients read, and the one `AutodiscoverResponse.xsd` accepts).
//! Constant answers: no clock, no request data (`Time`/`Id` are optional and left out).

use super::RESPONSE_NAMESPACE;
use crate::protocol::Rendered;
use crate::protocol::xml::XmlWriter;

/// The error codes mxconf answers with (MS-OXDSCLI 2.2.4.1.1.3.1; [MS-ASCMD] 2.2.3.64).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorCode {
    /// 500: no configuration for the requested address (its domain is not served here).
    AddressNotFound,
    /// 600: the request was missing, malformed or asked for an unknown schema.
    InvalidRequest,
    /// 601: nothing of the requested type is configured (MobileSync without ActiveSync).
    ProviderUnavailable,
}

impl ErrorCode {
    /// The numeric code and the message clients show or match on.
    pub fn code_and_message(self) -> (&'static str, &'static str) {
        match self {
            // exchangelib matches this exact text to raise ErrorNonExistentMailbox.
            ErrorCode::AddressNotFound => ("500", "The e-mail address cannot be found."),
            ErrorCode::InvalidRequest => ("600", "Invalid Request"),
            ErrorCode::ProviderUnavailable => ("601", "Provider is not available"),
        }
    }
}

/// Renders the error document for `code` (HTTP 200, as Exchange answers).
pub fn render(code: ErrorCode) -> Rendered {
    let (number, message) = code.code_and_message();
    let mut xml = XmlWriter::new();
    xml.open("Autodiscover", &[("xmlns", RESPONSE_NAMESPACE)]);
    xml.open("Response", &[]);
    xml.open("Error", &[]);
    xml.leaf("ErrorCode", number);
    xml.leaf("Message", message);
    xml.empty("DebugData", &[]);
    xml.close("Error");
    xml.close("Response");
    xml.close("Autodiscover");
    Rendered {
        error_document: true,
        ..super::answer(xml)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_600_matches_the_spec_example() {
        let ours = render(ErrorCode::InvalidRequest);
        assert_eq!(ours.status, 200);
        assert!(ours.error_document);
        let ours = String::from_utf8(ours.body).unwrap();
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/autodiscover/examples/error-600.xml"
        );
        let example = std::fs::read_to_string(path).unwrap();
        let fields = |text: &str| {
            let doc = roxmltree::Document::parse(text).unwrap();
            let error = doc.descendants().find(|n| n.has_tag_name("Error")).unwrap();
            let response = error.parent().unwrap();
            (
                response.tag_name().namespace().map(str::to_owned),
                error
                    .children()
                    .filter(roxmltree::Node::is_element)
                    .map(|n| (n.tag_name().name().to_owned(), n.text().map(str::to_owned)))
                    .collect::<Vec<_>>(),
            )
        };
        assert_eq!(fields(&ours), fields(&example));
    }

    #[test]
    fn codes_are_distinct() {
        let codes = [
            ErrorCode::AddressNotFound,
            ErrorCode::InvalidRequest,
            ErrorCode::ProviderUnavailable,
        ]
        .map(|c| c.code_and_message().0);
        assert_eq!(codes, ["500", "600", "601"]);
    }
}
