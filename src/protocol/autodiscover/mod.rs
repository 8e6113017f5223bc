//! Microsoft Autodiscover, POX form: the request parser and one renderer per answer schema
//! (Outlook `2006a`, MobileSync `2006`) plus the error document. Renderers are pure functions
//! of the resolved account or redirect; errors 600/601/500 are ordinary answers (HTTP 200), not
//! HTTP errors. The client rules are in docs/protocols.md, "Microsoft Autodiscover".

pub mod error;
pub mod mobilesync;
pub mod outlook;
pub mod request;

pub use error::ErrorCode;
pub use request::{PoxRequest, RequestError};

use super::Rendered;
use crate::account::{Account, Redirect};

/// What Exchange sends; Thunderbird's reader needs an XML type.
pub const CONTENT_TYPE: &str = "text/xml; charset=utf-8";

/// Every POX document, errors included, goes out as HTTP 200 (clients read the error codes).
fn answer(xml: super::xml::XmlWriter) -> Rendered {
    Rendered {
        status: 200,
        content_type: CONTENT_TYPE,
        body: xml.finish(),
        error_document: false,
    }
}

/// The outer namespace of every answer, and of the error form's `Response`.
pub const RESPONSE_NAMESPACE: &str =
    "http://schemas.microsoft.com/exchange/autodiscover/responseschema/2006";

/// The answer schema a client asked for in `AcceptableResponseSchema`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResponseSchema {
    /// `…/outlook/responseschema/2006a`: Account/Protocol entries (Outlook, Thunderbird,
    /// eM Client, Delta Chat, exchangelib).
    Outlook,
    /// `…/mobilesync/responseschema/2006`: the ActiveSync URL (iOS, Android, new Outlook).
    MobileSync,
}

/// The settings answer for `account` in `schema`.
pub fn render(schema: ResponseSchema, account: &Account) -> Rendered {
    match schema {
        ResponseSchema::Outlook => outlook::render(account),
        ResponseSchema::MobileSync => mobilesync::render(account),
    }
}

/// The redirect answer in `schema` (a domain's `redirect-to-domain` or
/// `autodiscover-redirect-url`).
pub fn redirect(schema: ResponseSchema, redirect: &Redirect) -> Rendered {
    match schema {
        ResponseSchema::Outlook => outlook::redirect(redirect),
        ResponseSchema::MobileSync => mobilesync::redirect(redirect),
    }
}

/// The answer for an address whose domain is not served here: never another domain's
/// settings. Outlook's schema has a code for exactly this (MS-OXDSCLI 500, which exchangelib
/// maps to "no mailbox"); MobileSync knows only 600/601, and 601 "provider not available" is
/// the one that fits ([MS-ASCMD] 2.2.3.64).
pub fn unknown_domain(schema: ResponseSchema) -> Rendered {
    match schema {
        ResponseSchema::Outlook => error::render(ErrorCode::AddressNotFound),
        ResponseSchema::MobileSync => error::render(ErrorCode::ProviderUnavailable),
    }
}
