//! Protocol renderers: pure functions from a resolved [`crate::account::Account`] (or a
//! protocol-level error) to the bytes a client receives. No I/O, no config lookups, no HTTP
//! types; every XML byte goes through the one escaping writer in `xml`.

/// A rendered answer: what the HTTP layer (or `mxconf render`) sends as is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rendered {
    /// The HTTP status the answer goes out with (Autodiscover errors are 200 answers).
    pub status: u16,
    pub content_type: &'static str,
    pub body: Vec<u8>,
}
