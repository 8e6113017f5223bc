//! Verifying a signed profile the way a device does: the signature over the embedded content,
//! then the signer's chain to a trusted root (a given CA file, or the system trust store), with
//! any certificate purpose accepted, since iOS takes TLS server certificates as signers
//! (docs/profiles.md, "Any certificate purpose"). Used by `mxconf verify` and the tests;
//! independent of who signed the file.

use std::path::Path;

use openssl::asn1::Asn1Object;
use openssl::cms::{CMSOptions, CmsContentInfo};
use openssl::hash::{MessageDigest, hash};
use openssl::stack::Stack;
use openssl::x509::store::{X509Store, X509StoreBuilder};
use openssl::x509::{X509, X509PurposeId, X509StoreContext};

use super::{SigningError, name_to_string, reason};
use cms::cert::CertificateChoices;
use cms::content_info::ContentInfo;
use cms::signed_data::SignedData;
use der::asn1::ObjectIdentifier;
use der::{Decode as _, Encode as _, EncodingRules};

/// What a verified signature says: the signed bytes, who signed them, and the trusted chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifyReport {
    /// The signed content, exactly as embedded (the profile's XML).
    pub content: Vec<u8>,
    pub signer_subject: String,
    pub signer_issuer: String,
    pub not_before: String,
    pub not_after: String,
    /// The signer's notAfter, Unix seconds.
    pub expires_at: i64,
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
        expires_at: super::unix_time(signer.not_after()),
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
            let pem = crate::files::read_small(path).map_err(|error| SigningError::Read {
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
    // which CMS_verify's default S/MIME purpose would refuse
    // (docs/profiles.md, "Any certificate purpose").
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

/// What the report needs from the SignedData that the openssl crate does not expose: the
/// declared digest algorithms and the embedded certificates.
struct SignedDataParts {
    digests: Vec<String>,
    certificates: Vec<X509>,
}

/// The SignedData's parts, read as BER so that streamed signatures (`openssl cms -sign
/// -stream`, indefinite lengths) are read too; DER is a subset of it.
fn signed_data_parts(der: &[u8]) -> Result<SignedDataParts, String> {
    let content_info = ContentInfo::from_ber(der).map_err(|error| error.to_string())?;
    let signed_data: SignedData = content_info
        .content
        .decode_as_encoding(EncodingRules::Ber)
        .map_err(|error: der::Error| error.to_string())?;
    let digests = signed_data
        .digest_algorithms
        .iter()
        .map(|algorithm| oid_name(&algorithm.oid))
        .collect();
    let mut certificates = Vec::new();
    for choice in signed_data.certificates.iter().flat_map(|set| set.0.iter()) {
        // Only X.509 certificates; attribute certificates and other formats are skipped.
        if let CertificateChoices::Certificate(certificate) = choice {
            let der = certificate.to_der().map_err(|error| error.to_string())?;
            certificates.push(X509::from_der(&der).map_err(|error| reason(&error))?);
        }
    }
    Ok(SignedDataParts {
        digests,
        certificates,
    })
}

/// OpenSSL's long name for an OID (`sha256`), as `openssl cms -print` shows it, or the dotted
/// form if OpenSSL does not know it.
fn oid_name(oid: &ObjectIdentifier) -> String {
    let dotted = oid.to_string();
    Asn1Object::from_str(&dotted)
        .ok()
        .filter(|object| object.nid() != openssl::nid::Nid::UNDEF)
        .and_then(|object| object.nid().long_name().ok().map(str::to_owned))
        .unwrap_or(dotted)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn oid_names_come_from_openssl() {
        let name = |dotted: &str| oid_name(&ObjectIdentifier::new(dotted).unwrap());
        // RFC 5754
        assert_eq!(name("2.16.840.1.101.3.4.2.1"), "sha256");
        assert_eq!(name("1.3.14.3.2.26"), "sha1");
        // An arc OpenSSL does not know stays dotted.
        assert_eq!(name("1.3.6.1.4.1.311.127"), "1.3.6.1.4.1.311.127");
    }

    #[test]
    fn every_truncation_and_bit_flip_is_an_error_not_a_panic() {
        let der = crate::signing::Signer::development()
            .unwrap()
            .sign(b"<plist version=\"1.0\"><dict/></plist>")
            .unwrap()
            .into_der();
        assert!(signed_data_parts(&der).is_ok());
        for end in 0..der.len() {
            // The decoder must stay in bounds; OpenSSL must refuse what it cannot read.
            let _ = signed_data_parts(&der[..end]);
            assert!(verify(&der[..end], None).is_err(), "truncated at {end}");
        }
        for at in (0..der.len()).step_by(7) {
            let mut flipped = der.clone();
            flipped[at] ^= 0x80;
            let _ = signed_data_parts(&flipped);
        }
    }

    #[test]
    fn garbage_is_not_signed_data() {
        assert!(matches!(
            verify(b"<?xml version=\"1.0\"?><plist/>", None),
            Err(SigningError::NotSigned { .. })
        ));
        assert!(signed_data_parts(&[]).is_err());
    }
}
