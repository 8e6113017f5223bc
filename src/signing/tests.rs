// Tests fail loudly on any unexpected error.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};

use super::*;

fn certs(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("certs")
        .join(name)
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
        cert: "fullchain.pem".into(),
        chain: None,
        key: "signer.key".into(),
    };
    let from_settings = Signer::from_settings(&settings, &certs("")).unwrap();
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
