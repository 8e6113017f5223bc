//! Verifying a signed profile the way a device does: the signature over the embedded content,
//! then the signer's chain to a trusted root (a given CA file, or the system trust store), with
//! any certificate purpose accepted, since iOS takes TLS server certificates as signers
//! (crates.md G3). Used by `mxconf verify` and the tests; independent of who signed the file.

use std::path::Path;

use openssl::asn1::Asn1Object;
use openssl::cms::{CMSOptions, CmsContentInfo};
use openssl::hash::{MessageDigest, hash};
use openssl::pkcs7::Pkcs7;
use openssl::stack::Stack;
use openssl::x509::store::{X509Store, X509StoreBuilder};
use openssl::x509::{X509, X509PurposeId, X509StoreContext};

use super::der::{CONTEXT_0, INTEGER, OID, SEQUENCE, SET, expect, tlv};
use super::{SigningError, name_to_string, reason};

/// What a verified signature says: the signed bytes, who signed them, and the trusted chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifyReport {
    /// The signed content, exactly as embedded (the profile's XML).
    pub content: Vec<u8>,
    pub signer_subject: String,
    pub signer_issuer: String,
    pub not_before: String,
    pub not_after: String,
    /// Subjects of the verified path, signer first, trusted root last.
    pub chain: Vec<String>,
    /// The digest algorithm(s) the SignedData declares, e.g. `sha256`.
    pub digest: String,
    /// SHA-256 of `content`, lower-case hex: a fingerprint to compare with the unsigned file.
    pub content_sha256: String,
    /// Subjects of the certificates embedded in the SignedData, in file order.
    pub embedded: Vec<String>,
}

/// Checks `der` (a signed profile) and returns what it contains. `ca` is a PEM file of trusted
/// roots; `None` uses the system trust store. Fails on any altered byte, an untrusted or
/// expired chain, or input that is not CMS SignedData.
pub fn verify(der: &[u8], ca: Option<&Path>) -> Result<VerifyReport, SigningError> {
    let not_signed = |reason: String| SigningError::NotSigned { reason };
    let mut cms = CmsContentInfo::from_der(der).map_err(|error| not_signed(reason(&error)))?;
    let parts = signed_data_parts(der).map_err(not_signed)?;

    // Signature and content digest alone first, so that tampering is told apart from trust.
    let content = signed_content(der)?;

    let signer = find_signer(der, &parts.certificates)?;
    let store = trust_store(ca)?;
    let mut untrusted = Stack::new().map_err(|error| SigningError::Chain(reason(&error)))?;
    for certificate in &parts.certificates {
        untrusted
            .push(certificate.clone())
            .map_err(|error| SigningError::Chain(reason(&error)))?;
    }
    let chain = verified_chain(&store, &signer, &untrusted)?;

    // The full check as OpenSSL's CMS_verify does it, with the same store: the belt to the
    // braces above, so no report exists for a file OpenSSL itself would reject.
    cms.verify(None, Some(&store), None, None, CMSOptions::BINARY)
        .map_err(|error| SigningError::Chain(reason(&error)))?;

    let content_sha256 = hash(MessageDigest::sha256(), &content)
        .map(|digest| digest.iter().map(|byte| format!("{byte:02x}")).collect())
        .map_err(|error| SigningError::BadSignature(reason(&error)))?;
    Ok(VerifyReport {
        signer_subject: name_to_string(signer.subject_name()),
        signer_issuer: name_to_string(signer.issuer_name()),
        not_before: signer.not_before().to_string(),
        not_after: signer.not_after().to_string(),
        chain,
        digest: parts.digests.join(", "),
        content_sha256,
        embedded: parts
            .certificates
            .iter()
            .map(|certificate| name_to_string(certificate.subject_name()))
            .collect(),
        content,
    })
}

/// The content of `der` once its signature and content digest check out, whoever signed it
/// (no chain check): what `mxconf doctor` compares with the profile this config builds.
pub fn signed_content(der: &[u8]) -> Result<Vec<u8>, SigningError> {
    let mut cms = CmsContentInfo::from_der(der).map_err(|error| SigningError::NotSigned {
        reason: reason(&error),
    })?;
    let mut content = Vec::new();
    cms.verify(
        None,
        None,
        None,
        Some(&mut content),
        CMSOptions::BINARY | CMSOptions::NOVERIFY,
    )
    .map_err(|error| SigningError::BadSignature(reason(&error)))?;
    Ok(content)
}

/// The embedded certificate whose key made the signature. Found by asking OpenSSL with one
/// candidate at a time, which works for both signer-identifier forms (issuer+serial and
/// subject key identifier, the one Apple's own profiles use). Each try parses afresh: OpenSSL
/// remembers a signer once found, and would then accept any candidate.
fn find_signer(der: &[u8], certificates: &[X509]) -> Result<X509, SigningError> {
    for candidate in certificates {
        let mut cms = CmsContentInfo::from_der(der).map_err(|error| SigningError::NotSigned {
            reason: reason(&error),
        })?;
        let mut only = Stack::new().map_err(|error| SigningError::Chain(reason(&error)))?;
        only.push(candidate.clone())
            .map_err(|error| SigningError::Chain(reason(&error)))?;
        let flags = CMSOptions::BINARY | CMSOptions::NOVERIFY | CMSOptions::NOINTERN;
        if cms.verify(Some(&only), None, None, None, flags).is_ok() {
            return Ok(candidate.clone());
        }
    }
    Err(SigningError::BadSignature(
        "no embedded certificate made the signature".into(),
    ))
}

fn trust_store(ca: Option<&Path>) -> Result<X509Store, SigningError> {
    let store_error = |file: String| {
        move |error: openssl::error::ErrorStack| SigningError::TrustStore {
            file: file.clone(),
            reason: reason(&error),
        }
    };
    let name = ca.map_or_else(
        || "the system trust store".to_owned(),
        |path| path.display().to_string(),
    );
    let mut builder = X509StoreBuilder::new().map_err(store_error(name.clone()))?;
    match ca {
        Some(path) => {
            let pem = std::fs::read(path).map_err(|error| SigningError::Read {
                file: name.clone(),
                error,
            })?;
            let roots = X509::stack_from_pem(&pem).map_err(store_error(name.clone()))?;
            if roots.is_empty() {
                return Err(SigningError::TrustStore {
                    file: name,
                    reason: "no PEM certificate in it".into(),
                });
            }
            for root in roots {
                builder.add_cert(root).map_err(store_error(name.clone()))?;
            }
        }
        None => builder
            .set_default_paths()
            .map_err(store_error(name.clone()))?,
    }
    // Any purpose: iOS accepts a TLS server certificate (EKU serverAuth only) as the signer,
    // which CMS_verify's default S/MIME purpose would refuse (crates.md G3).
    builder
        .set_purpose(X509PurposeId::ANY)
        .map_err(store_error(name))?;
    Ok(builder.build())
}

/// Builds and checks the path from the signer to a trusted root; returns its subjects.
fn verified_chain(
    store: &X509Store,
    signer: &X509,
    untrusted: &Stack<X509>,
) -> Result<Vec<String>, SigningError> {
    let mut context =
        X509StoreContext::new().map_err(|error| SigningError::Chain(reason(&error)))?;
    context
        .init(store, signer, untrusted, |context| {
            if context.verify_cert()? {
                Ok(Ok(context
                    .chain()
                    .map(|chain| {
                        chain
                            .iter()
                            .map(|certificate| name_to_string(certificate.subject_name()))
                            .collect()
                    })
                    .unwrap_or_default()))
            } else {
                let depth = context.error_depth();
                let at = context
                    .current_cert()
                    .map(|certificate| name_to_string(certificate.subject_name()))
                    .unwrap_or_else(|| format!("depth {depth}"));
                Ok(Err(format!("{} (at {at})", context.error().error_string())))
            }
        })
        .map_err(|error| SigningError::Chain(reason(&error)))?
        .map_err(SigningError::Chain)
}

/// What the report needs from the SignedData that the openssl crate does not expose
/// (crates.md G9): the declared digest algorithms and the embedded certificates.
struct SignedDataParts {
    digests: Vec<String>,
    certificates: Vec<X509>,
}

fn signed_data_parts(der: &[u8]) -> Result<SignedDataParts, String> {
    match walk_signed_data(der) {
        Some(parts) => Ok(parts),
        // Not plain DER (e.g. indefinite-length BER from `openssl cms -sign -stream`): the
        // PKCS#7 parser still finds the certificates; the digest name is then unknown.
        None => {
            let pkcs7 = Pkcs7::from_der(der).map_err(|error| reason(&error))?;
            let certificates = pkcs7
                .signed()
                .and_then(|signed| signed.certificates())
                .map(|stack| stack.iter().map(ToOwned::to_owned).collect())
                .unwrap_or_default();
            Ok(SignedDataParts {
                digests: vec!["unknown (not DER)".into()],
                certificates,
            })
        }
    }
}

/// ContentInfo { contentType, [0] SignedData { version, digestAlgorithms SET, encapContentInfo,
/// [0] certificates OPTIONAL, [1] crls OPTIONAL, signerInfos } } (RFC 5652 §5.1).
fn walk_signed_data(der: &[u8]) -> Option<SignedDataParts> {
    let (content_info, _) = expect(der, SEQUENCE)?;
    let (_content_type, rest) = expect(content_info, OID)?;
    let (explicit, _) = expect(rest, CONTEXT_0)?;
    let (signed_data, _) = expect(explicit, SEQUENCE)?;
    let (_version, rest) = expect(signed_data, INTEGER)?;
    let (mut algorithms, rest) = expect(rest, SET)?;
    let (_encapsulated, rest) = expect(rest, SEQUENCE)?;

    let mut digests = Vec::new();
    while !algorithms.is_empty() {
        let (algorithm, next) = expect(algorithms, SEQUENCE)?;
        let (oid, _) = expect(algorithm, OID)?;
        digests.push(oid_name(oid)?);
        algorithms = next;
    }

    let mut certificates = Vec::new();
    if let Some((mut set, _)) = expect(rest, CONTEXT_0) {
        while !set.is_empty() {
            let item = tlv(set)?;
            // Only X.509 certificates (SEQUENCE); attribute certificates and others are skipped.
            if item.tag == SEQUENCE {
                certificates.push(X509::from_der(item.whole).ok()?);
            }
            set = item.rest;
        }
    }
    Some(SignedDataParts {
        digests,
        certificates,
    })
}

/// An OID's content bytes → OpenSSL's long name (`sha256`), or the dotted form if unknown.
fn oid_name(bytes: &[u8]) -> Option<String> {
    let (&first, rest) = bytes.split_first()?;
    let mut arcs = vec![
        u64::from(first.min(80) / 40),
        u64::from(first) - u64::from(first.min(80) / 40) * 40,
    ];
    let mut value: u64 = 0;
    for &byte in rest {
        value = value.checked_mul(128)? | u64::from(byte & 0x7f);
        if byte & 0x80 == 0 {
            arcs.push(value);
            value = 0;
        }
    }
    let dotted = arcs
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(".");
    let name = Asn1Object::from_str(&dotted)
        .ok()
        .filter(|object| object.nid() != openssl::nid::Nid::UNDEF)
        .and_then(|object| object.nid().long_name().ok().map(str::to_owned));
    Some(name.unwrap_or(dotted))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn oid_names_come_from_openssl() {
        // 2.16.840.1.101.3.4.2.1, RFC 5754
        let sha256 = [0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01];
        assert_eq!(oid_name(&sha256).unwrap(), "sha256");
        // 1.3.14.3.2.26
        assert_eq!(oid_name(&[0x2b, 0x0e, 0x03, 0x02, 0x1a]).unwrap(), "sha1");
        // An arc OpenSSL does not know stays dotted.
        assert_eq!(
            oid_name(&[0x2b, 0x06, 0x01, 0x04, 0x01, 0x82, 0x37, 0x7f]).unwrap(),
            "1.3.6.1.4.1.311.127"
        );
    }

    #[test]
    fn every_truncation_and_bit_flip_is_an_error_not_a_panic() {
        let der = crate::signing::Signer::development()
            .unwrap()
            .sign(b"<plist version=\"1.0\"><dict/></plist>")
            .unwrap()
            .into_der();
        assert!(walk_signed_data(&der).is_some());
        for end in 0..der.len() {
            // The walker must stay in bounds; OpenSSL must refuse what the walker cannot read.
            let _ = walk_signed_data(&der[..end]);
            assert!(verify(&der[..end], None).is_err(), "truncated at {end}");
        }
        for at in (0..der.len()).step_by(7) {
            let mut flipped = der.clone();
            flipped[at] ^= 0x80;
            let _ = walk_signed_data(&flipped);
        }
    }

    #[test]
    fn garbage_is_not_signed_data() {
        assert!(matches!(
            verify(b"<?xml version=\"1.0\"?><plist/>", None),
            Err(SigningError::NotSigned { .. })
        ));
        assert!(walk_signed_data(&[]).is_none());
    }
}
