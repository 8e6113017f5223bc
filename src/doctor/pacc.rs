//! What a PACC client does with the document it fetched before it trusts a byte of it: the
//! SHA-256 of the bytes served at `https://ua-auto-config.<domain>/.well-known/…` (fetched by
//! the discovery probes, which also compare them with this config's document) must be the
//! digest of one of the `_ua-auto-config.<domain>` TXT records. The DNS part checks that the
//! record matches the configuration; this one checks it against what the network serves, so a
//! stale document, a proxy that rewrites it or a record published for an older configuration
//! shows up the way a client would meet it.

use super::dns::{publish, txt_texts};
use super::net::Net;
use super::report::{Check, Section};
use crate::protocol::pacc;

/// The check of `served` (the body fetched from the PACC URL) against the TXT records of
/// `domain`; `document` is this config's document, whose record is the one to publish.
pub async fn digest_check(net: &Net, domain: &str, served: &[u8], document: &[u8]) -> Check {
    let name = format!("{}.{domain}.", pacc::TXT_LABEL);
    let line = Check::about(
        Section::Discovery,
        format!("PACC digest {} TXT", name.trim_end_matches('.')),
    )
    .domain(domain);
    let record = crate::dns::pacc_record(domain, document);
    let mut fix = publish(&[&record]);
    if served != document {
        fix = format!("serve this config's document (see the PACC line), then {fix}");
    }
    let texts = match txt_texts(net, &name).await {
        Ok(texts) => texts,
        Err(reason) => return line.fail(format!("lookup failed: {reason}"), fix),
    };
    let served_digest = openssl::sha::sha256(served);
    let vouched: Vec<Vec<u8>> = texts
        .iter()
        .filter_map(|text| pacc::vouched_digest(text))
        .collect();
    let digest = pacc::digest(served);
    if vouched.iter().any(|d| d[..] == served_digest[..]) {
        line.pass(format!(
            "vouches for the served document (SHA-256 {digest})"
        ))
    } else if texts.is_empty() {
        line.fail("missing: clients ignore the served document", fix)
    } else if vouched.is_empty() {
        line.fail(
            format!(
                "no v=UAAC1; a=sha256 record ({}): clients ignore the served document",
                texts.join(", ")
            ),
            fix,
        )
    } else {
        line.fail(
            format!(
                "vouches for other bytes than the served document's (SHA-256 {digest}): clients reject it"
            ),
            fix,
        )
    }
}
