// Tests fail loudly on any unexpected error.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};

use super::*;

pub(super) fn certs(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("certs")
        .join(name)
}

/// The committed ECDSA P-256 signer under the development intermediate.
pub(super) fn ecdsa_signer() -> Signer {
    Signer::from_pem(
        &certs("signer-ec.pem"),
        Some(&certs("chain.pem")),
        &certs("signer-ec.key"),
    )
    .unwrap()
}

const PROFILE: &[u8] =
    b"<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<plist version=\"1.0\">\r\n<dict/>\n</plist>";

#[test]
fn development_signature_verifies_to_the_dev_root_byte_for_byte() {
    let signer = Signer::development().unwrap();
    assert!(signer.is_development());
    let signed = signer.sign(PROFILE).unwrap();
    let report = verify(signed.as_der(), Some(&certs("root.pem"))).unwrap();
    assert_eq!(report.content, PROFILE);
    assert_eq!(report.digest, "sha256");
    assert!(
        report
            .signer_subject
            .contains("CN=mxconf development profile signer")
    );
    assert_eq!(report.chain.len(), 3, "{:?}", report.chain);
    assert_eq!(report.embedded.len(), 2, "{:?}", report.embedded);
}

#[test]
fn pem_files_and_settings_load_the_same_identity() {
    let from_pem = Signer::from_pem(
        &certs("signer.pem"),
        Some(&certs("chain.pem")),
        &certs("signer.key"),
    )
    .unwrap();
    assert!(!from_pem.is_development());
    let settings = SigningSettings::Pem {
        cert: certs("fullchain.pem"),
        chain: None,
        key: certs("signer.key"),
    };
    let from_settings = Signer::from_settings(&settings).unwrap();
    assert_eq!(from_pem.chain.len(), 1);
    assert_eq!(from_settings.chain.len(), 1);
    assert_eq!(from_pem.certificate, from_settings.certificate);
}

#[test]
fn one_altered_byte_fails_verification() {
    let signed = Signer::development()
        .unwrap()
        .sign(PROFILE)
        .unwrap()
        .into_der();
    let at = signed.windows(7).position(|w| w == b"<plist ").unwrap();
    let mut tampered = signed.clone();
    tampered[at + 1] = b'P';
    assert!(matches!(
        verify(&tampered, Some(&certs("root.pem"))),
        Err(SigningError::BadSignature(_))
    ));
}

#[test]
fn an_untrusted_root_fails_the_chain() {
    let signed = Signer::development().unwrap().sign(PROFILE).unwrap();
    // The intermediate alone is not a trust anchor OpenSSL accepts by default.
    let error = verify(signed.as_der(), Some(&certs("signer-ec.pem"))).unwrap_err();
    assert!(matches!(error, SigningError::Chain(_)), "{error}");
    // The system store does not trust the development root either.
    assert!(matches!(
        verify(signed.as_der(), None),
        Err(SigningError::Chain(_))
    ));
}

#[test]
fn mismatched_key_is_refused_naming_the_files() {
    let error = Signer::from_pem(&certs("signer.pem"), None, &certs("signer-ec.key")).unwrap_err();
    let message = error.to_string();
    assert!(matches!(error, SigningError::KeyMismatch { .. }));
    assert!(
        message.contains("signer-ec.key") && message.contains("signer.pem"),
        "{message}"
    );
}

#[test]
fn debug_output_never_shows_the_key() {
    let text = format!("{:?}", Signer::development().unwrap());
    assert!(text.contains("development profile signer"), "{text}");
    assert!(!text.contains("PRIVATE"), "{text}");
}

#[test]
fn signer_and_keys_are_shareable_across_threads() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<Signer>();
    assert_send_sync::<SignedProfile>();
}

#[test]
fn a_certificate_that_expires_while_running_stops_signing() {
    // Built directly: the constructors would refuse it, which is the point of the other tests.
    let key = PKey::private_key_from_pem(&std::fs::read(certs("signer.key")).unwrap()).unwrap();
    let mut builder = openssl::x509::X509Builder::new().unwrap();
    let mut name = openssl::x509::X509NameBuilder::new().unwrap();
    name.append_entry_by_text("CN", "lapsed").unwrap();
    let name = name.build();
    builder.set_subject_name(&name).unwrap();
    builder.set_issuer_name(&name).unwrap();
    builder.set_pubkey(&key).unwrap();
    builder
        .set_not_before(&Asn1Time::from_str("20200101000000Z").unwrap())
        .unwrap();
    builder
        .set_not_after(&Asn1Time::from_str("20210101000000Z").unwrap())
        .unwrap();
    builder
        .sign(&key, openssl::hash::MessageDigest::sha256())
        .unwrap();
    let certificate = builder.build();
    let signer = Signer {
        valid: (
            unix_time(certificate.not_before()),
            unix_time(certificate.not_after()),
        ),
        certificate,
        key,
        chain: Stack::new().unwrap(),
        origin: "lapsed.pem".into(),
        development: false,
        template: None,
        warned: crate::expiry::Warnings::default(),
    };
    let error = signer.sign(PROFILE).unwrap_err();
    assert!(matches!(error, SigningError::Expired { .. }), "{error}");
    assert!(error.to_string().contains("lapsed.pem"), "{error}");
}

#[cfg(unix)]
#[test]
fn key_files_readable_by_others_are_reported() {
    use std::os::unix::fs::PermissionsExt as _;
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("key.pem");
    std::fs::write(&key, "x").unwrap();
    for (mode, exposed) in [
        (0o600, None),
        (0o400, None),
        (0o640, Some(0o640)),
        (0o604, Some(0o604)),
    ] {
        std::fs::set_permissions(&key, std::fs::Permissions::from_mode(mode)).unwrap();
        assert_eq!(credentials::exposed_mode(&key), exposed, "mode {mode:o}");
    }
}

#[test]
fn describe_names_subject_issuer_and_expiry() {
    let text = Signer::development().unwrap().describe();
    assert!(text.starts_with("C=XX, O=mxconf development (NOT FOR PRODUCTION), CN=mxconf development profile signer (issuer "), "{text}");
    assert!(text.contains("intermediate CA"), "{text}");
    assert!(text.contains("valid until"), "{text}");
    assert!(text.contains("GMT"), "{text}");
}

#[test]
fn a_chain_file_in_the_wrong_order_is_named_as_such() {
    let dir = tempfile::tempdir().unwrap();
    let reversed = dir.path().join("reversed.pem");
    let mut pem = std::fs::read(certs("chain.pem")).unwrap();
    pem.extend(std::fs::read(certs("signer.pem")).unwrap());
    std::fs::write(&reversed, pem).unwrap();
    let error = Signer::from_pem(&reversed, None, &certs("signer.key")).unwrap_err();
    assert!(
        matches!(error, SigningError::SignerNotFirst { .. }),
        "{error}"
    );
    assert!(
        error.to_string().contains("put the signer first"),
        "{error}"
    );
}

/// Contents that exercise every DER length form and the bytes `CMS_sign` must not rewrite.
fn contents_of_every_size() -> Vec<Vec<u8>> {
    let line = "<string>Jörg & <Söhne> \r\n\t</string>\n";
    [0, 1, 100, 3_000, 70_000]
        .into_iter()
        .map(|size| line.bytes().cycle().take(size).collect())
        .collect()
}

#[test]
fn rsa_signatures_are_byte_for_byte_what_cms_sign_writes() {
    let signer = Signer::development().unwrap();
    assert!(signer.template.is_some(), "RSA signers use the template");
    let mut session = signer.session().unwrap();
    for content in contents_of_every_size() {
        // RSA PKCS#1 v1.5 is deterministic, so only the signing time (to the second) can
        // differ; a second boundary between the two calls is retried.
        let same = (0..3).any(|_| {
            let ours = session.sign(&content).unwrap();
            let openssl = signer.sign_with_cms(&content).unwrap();
            ours.as_der() == openssl.as_slice()
        });
        assert!(
            same,
            "{} bytes: the template differs from CMS_sign",
            content.len()
        );
    }
}

/// The server's path (cache, the calling worker or a signing thread, the digest computed once
/// for both) writes the same bytes as a session.
#[tokio::test]
async fn the_signing_threads_write_what_cms_sign_writes() {
    let signer = std::sync::Arc::new(Signer::development().unwrap());
    let threads = CachingSigner::new(std::sync::Arc::clone(&signer)).unwrap();
    for content in contents_of_every_size() {
        // Only the signing time can differ: ours lies between the two references, so within a
        // second of one of them.
        let before = signer.sign_with_cms(&content).unwrap();
        let ours = threads.sign(content.clone()).await.unwrap();
        let after = signer.sign_with_cms(&content).unwrap();
        assert!(
            ours.as_der() == before.as_slice() || ours.as_der() == after.as_slice(),
            "{} bytes: the signing threads differ from CMS_sign",
            content.len()
        );
    }
}

#[test]
fn ecdsa_signatures_have_cms_signs_layout_and_verify() {
    let signer = ecdsa_signer();
    let template = signer
        .template
        .clone()
        .expect("ECDSA signers use the template");
    for content in contents_of_every_size() {
        let ours = signer.sign(&content).unwrap();
        // ECDSA signatures are randomised: compare everything else.
        let layout = SignedDataTemplate::from_reference(ours.as_der());
        assert_eq!(layout.as_ref(), Some(&template), "{} bytes", content.len());
        let report = verify(ours.as_der(), Some(&certs("root.pem"))).unwrap();
        assert_eq!(report.content, content);
    }
}

#[test]
fn key_types_without_a_template_still_sign_through_cms() {
    let mut signer = Signer::development().unwrap();
    signer.template = None;
    let signed = signer.sign(PROFILE).unwrap();
    let report = verify(signed.as_der(), Some(&certs("root.pem"))).unwrap();
    assert_eq!(report.content, PROFILE);
}
