//! Protocol renderers: pure functions from a resolved [`crate::account::Account`] (or a
//! protocol-level error) to the bytes a client receives. No I/O, no config lookups, no HTTP
//! types; every XML byte goes through the one escaping writer in `xml`, and every untrusted
//! XML text is bounded by `untrusted_xml` before it is parsed.

pub mod autoconfig;
pub mod autodiscover;
pub mod autodiscover_json;
pub mod pacc;
pub mod untrusted_xml;
pub mod xml;

/// A rendered answer: what the HTTP layer (or `mxconf render`) sends as is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rendered {
    /// The HTTP status the answer goes out with (Autodiscover errors are 200 answers).
    pub status: u16,
    pub content_type: &'static str,
    pub body: Vec<u8>,
    /// An error answer sent with status 200 (Autodiscover's error documents): whoever counts
    /// client errors (the abuse protection) counts it like a 4xx.
    pub error_document: bool,
}

/// Accounts resolved from the embedded demo, for the renderers' unit tests.
#[cfg(test)]
pub(crate) mod test_accounts {
    use std::sync::Arc;

    use crate::account::{Account, Domain, EmailAddress};
    use crate::config::Config;
    use crate::resolve::Resolver;

    fn resolver() -> Resolver {
        Resolver::new(Arc::new(Config::demo().unwrap()))
    }

    pub fn demo_account(email: &str) -> Account {
        let email = EmailAddress::parse(email).unwrap();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        runtime.block_on(resolver().resolve(&email)).unwrap()
    }

    pub fn demo_domain_account() -> Account {
        resolver()
            .resolve_domain(&Domain::parse("example.com").unwrap())
            .unwrap()
    }
}
