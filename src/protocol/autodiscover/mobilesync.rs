//! The MobileSync answer (`mobilesync/responseschema/2006`, [MS-ASCMD] 2.2.3 and its XSD):
//! the ActiveSync URL, or error 601 when the domain has none. Sent by iOS and Android
//! Exchange accounts and the new Outlook for Windows (docs/protocols.md, "The schema decides
//! the answer").

use super::RESPONSE_NAMESPACE;
use super::error::{self, ErrorCode};
use crate::account::{Account, Redirect, UrlService};
use crate::protocol::Rendered;
use crate::protocol::xml::XmlWriter;

const MOBILESYNC_NAMESPACE: &str =
    "http://schemas.microsoft.com/exchange/autodiscover/mobilesync/responseschema/2006";

/// Renders the MobileSync answer for `account`.
pub fn render(account: &Account) -> Rendered {
    let Some(url) = account.url(UrlService::ActiveSync) else {
        return error::render(ErrorCode::ProviderUnavailable);
    };
    let mut xml = XmlWriter::new();
    xml.open("Autodiscover", &[("xmlns", RESPONSE_NAMESPACE)]);
    xml.open("Response", &[("xmlns", MOBILESYNC_NAMESPACE)]);
    xml.leaf("Culture", "en:us");
    // The XSD requires EMailAddress inside User, so User only appears with an address.
    if let Some(email) = &account.email {
        xml.open("User", &[]);
        if let Some(name) = &account.display_name {
            xml.leaf("DisplayName", name);
        }
        xml.leaf("EMailAddress", email.as_str());
        xml.close("User");
    }
    xml.open("Action", &[]);
    xml.open("Settings", &[]);
    xml.open("Server", &[]);
    xml.leaf("Type", "MobileSync");
    xml.leaf("Url", url);
    xml.leaf("Name", url);
    xml.close("Server");
    xml.close("Settings");
    xml.close("Action");
    xml.close("Response");
    xml.close("Autodiscover");
    super::answer(xml)
}

/// The redirect answer. [MS-ASCMD] 2.2.3.143: MobileSync's `Redirect` carries an SMTP address
/// and nothing else; the schema has no URL redirect. A domain whose settings live on another
/// Autodiscover server therefore gets 601 "Provider is not available", the answer this server
/// gives whenever it has no MobileSync settings for an address: clients then fall back to
/// their next method or ask the user, instead of looping on a `Redirect` to the same address.
pub fn redirect(redirect: &Redirect) -> Rendered {
    let address = match redirect {
        Redirect::Address(address) => address,
        Redirect::Url(_) => return error::render(ErrorCode::ProviderUnavailable),
    };
    let mut xml = XmlWriter::new();
    xml.open("Autodiscover", &[("xmlns", RESPONSE_NAMESPACE)]);
    xml.open("Response", &[("xmlns", MOBILESYNC_NAMESPACE)]);
    xml.leaf("Culture", "en:us");
    xml.open("Action", &[]);
    xml.leaf("Redirect", address.as_str());
    xml.close("Action");
    xml.close("Response");
    xml.close("Autodiscover");
    super::answer(xml)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::test_accounts::demo_account;

    fn leaves(body: &[u8]) -> Vec<(String, String)> {
        let text = std::str::from_utf8(body).unwrap();
        let doc = roxmltree::Document::parse(text).unwrap();
        doc.descendants()
            .filter(|n| n.is_element() && !n.children().any(|c| c.is_element()))
            .map(|n| {
                let text = n.text().unwrap_or_default().trim().to_owned();
                (n.tag_name().name().to_owned(), text)
            })
            .collect()
    }

    #[test]
    fn matches_the_spec_example_field_for_field() {
        let mut account = demo_account("chris@example.com");
        account.display_name = Some("Chris Gray".into());
        let ours = render(&account);
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/autodiscover/examples/mobilesync-response.xml"
        );
        let example = std::fs::read(path).unwrap();
        assert_eq!(leaves(&ours.body), leaves(&example));
    }

    #[test]
    fn without_activesync_the_answer_is_error_601() {
        let mut account = demo_account("chris@example.com");
        account.services.urls[UrlService::ActiveSync] = None;
        let rendered = render(&account);
        assert_eq!(rendered.status, 200);
        assert!(leaves(&rendered.body).contains(&("ErrorCode".into(), "601".into())));
    }

    #[test]
    fn address_redirect_is_action_redirect() {
        let to = crate::account::EmailAddress::parse("chris@new.example").unwrap();
        let rendered = redirect(&Redirect::Address(to));
        assert_eq!(rendered.status, 200);
        let text = String::from_utf8(rendered.body).unwrap();
        let doc = roxmltree::Document::parse(&text).unwrap();
        let action = doc
            .descendants()
            .find(|n| n.has_tag_name((MOBILESYNC_NAMESPACE, "Action")))
            .unwrap();
        let children: Vec<_> = action
            .children()
            .filter(roxmltree::Node::is_element)
            .map(|c| (c.tag_name().name(), c.text().unwrap_or_default()))
            .collect();
        assert_eq!(children, [("Redirect", "chris@new.example")]);
    }

    #[test]
    fn url_redirect_is_error_601() {
        let rendered = redirect(&Redirect::Url(
            "https://autodiscover.other.example/x".into(),
        ));
        assert_eq!(rendered.status, 200);
        assert!(leaves(&rendered.body).contains(&("ErrorCode".into(), "601".into())));
        assert!(
            !String::from_utf8(rendered.body)
                .unwrap()
                .contains("other.example")
        );
    }
}
