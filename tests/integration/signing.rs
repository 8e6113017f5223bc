//! Profile signing and verification, checked by the `openssl` command line (the reference
//! implementation devices agree with) and by our own `verify`. Certificates that must not be
//! committed (expired, not yet valid, TLS-server-only, PKCS#12 bundles) are made here, at run
//! time, with the openssl CLI in a temporary directory.

use std::path::{Path, PathBuf};

use mxconf::signing::{Signer, SigningError, verify};

use crate::support::apple_schema;
use crate::support::cli::{assert_success, check_config, mxconf, temp_file};
use crate::support::openssl::{TestCa, cms_verify, openssl_ok, restrict};

fn certs(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("certs")
        .join(name)
}

/// A small profile with what usually breaks naive signing: LF and CRLF line ends (G1), an
/// escaped `&`, non-ASCII text and a trailing newline.
const PROFILE: &str = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n\
<!DOCTYPE plist PUBLIC \"-//Apple//DTD PLIST 1.0//EN\" \"http://www.apple.com/DTDs/PropertyList-1.0.dtd\">\n\
<plist version=\"1.0\">\r\n<dict>\n\
\t<key>PayloadContent</key>\n\t<array>\n\t\t<dict>\n\
\t\t\t<key>PayloadDisplayName</key>\n\t\t\t<string>Jürgen &amp; Søn Mail</string>\n\
\t\t\t<key>PayloadType</key>\n\t\t\t<string>com.apple.mail.managed</string>\n\
\t\t</dict>\n\t</array>\n\
\t<key>PayloadDisplayName</key>\n\t<string>Example Mail</string>\n\
\t<key>PayloadIdentifier</key>\n\t<string>com.example.mail.jane</string>\n\
\t<key>PayloadType</key>\n\t<string>Configuration</string>\n\
</dict>\n</plist>\n";

/// A certificate valid through 2020 only: it expired on Jan  1 00:00:00 2021 GMT.
fn issue_expired(ca: &TestCa, name: &str, eku: &str) -> (PathBuf, PathBuf) {
    ca.issue(name, "200101000000Z", "210101000000Z", eku)
}

fn dev_signer() -> Signer {
    Signer::from_pem(&certs("fullchain.pem"), None, &certs("signer.key")).unwrap()
}

#[test]
fn openssl_verifies_our_signature_and_the_content_is_byte_identical() {
    let dir = tempfile::tempdir().unwrap();
    let signed = dev_signer().sign(PROFILE.as_bytes()).unwrap();
    let content = cms_verify(dir.path(), signed.as_der(), &certs("root.pem")).unwrap();
    assert_eq!(content, PROFILE.as_bytes());
}

#[test]
fn the_signature_embeds_signer_and_intermediate_in_der_with_sha256() {
    let dir = tempfile::tempdir().unwrap();
    let der = dir.path().join("signed.der");
    std::fs::write(
        &der,
        Signer::development()
            .unwrap()
            .sign(PROFILE.as_bytes())
            .unwrap()
            .as_der(),
    )
    .unwrap();
    let der = der.to_str().unwrap();
    let printed = String::from_utf8(openssl_ok(
        dir.path(),
        &[
            "pkcs7",
            "-inform",
            "DER",
            "-in",
            der,
            "-print_certs",
            "-noout",
        ],
    ))
    .unwrap();
    let subjects: Vec<&str> = printed
        .lines()
        .filter(|l| l.starts_with("subject="))
        .collect();
    assert_eq!(subjects.len(), 2, "{printed}");
    assert!(subjects[0].contains("profile signer") || subjects[1].contains("profile signer"));
    assert!(printed.contains("intermediate CA"), "{printed}");
    assert!(!printed.contains("subject=C = XX, O = mxconf development (NOT FOR PRODUCTION), CN = mxconf development root CA"));

    let structure = String::from_utf8(openssl_ok(
        dir.path(),
        &[
            "cms", "-cmsout", "-print", "-inform", "DER", "-in", der, "-noout",
        ],
    ))
    .unwrap();
    assert!(structure.contains("sha256"), "{structure}");
    assert!(
        structure.contains("eContentType: pkcs7-data"),
        "{structure}"
    );
    // Attached: the content is inside, not detached.
    assert!(!structure.contains("eContent: <ABSENT>"), "{structure}");

    // Definite lengths throughout (DER, as Apple specifies), no streamed BER.
    let parsed = String::from_utf8(openssl_ok(
        dir.path(),
        &["asn1parse", "-inform", "DER", "-in", der],
    ))
    .unwrap();
    assert!(!parsed.contains("l=inf"), "{parsed}");
}

#[test]
fn one_flipped_byte_fails_our_verify_and_openssl() {
    let dir = tempfile::tempdir().unwrap();
    let mut der = dev_signer().sign(PROFILE.as_bytes()).unwrap().into_der();
    let at = der.windows(12).position(|w| w == b"Example Mail").unwrap();
    der[at] = b'e';
    assert!(matches!(
        verify(&der, Some(&certs("root.pem"))),
        Err(SigningError::BadSignature(_))
    ));
    assert!(cms_verify(dir.path(), &der, &certs("root.pem")).is_err());

    // A byte of the signature itself (the last bytes of the DER are the signature value).
    let mut der = dev_signer().sign(PROFILE.as_bytes()).unwrap().into_der();
    let last = der.len() - 1;
    der[last] ^= 0x01;
    assert!(matches!(
        verify(&der, Some(&certs("root.pem"))),
        Err(SigningError::BadSignature(_))
    ));
    assert!(cms_verify(dir.path(), &der, &certs("root.pem")).is_err());
}

#[test]
fn a_different_root_fails_the_chain() {
    let ca = TestCa::new();
    let signed = dev_signer().sign(PROFILE.as_bytes()).unwrap();
    let error = verify(signed.as_der(), Some(&ca.path("ca.pem"))).unwrap_err();
    assert!(matches!(error, SigningError::Chain(_)), "{error}");
    assert!(
        error
            .to_string()
            .contains("unable to get local issuer certificate"),
        "{error}"
    );
    assert!(cms_verify(ca.dir(), signed.as_der(), &ca.path("ca.pem")).is_err());
}

#[test]
fn ecdsa_signer_verifies() {
    let dir = tempfile::tempdir().unwrap();
    let signer = Signer::from_pem(
        &certs("signer-ec.pem"),
        Some(&certs("chain.pem")),
        &certs("signer-ec.key"),
    )
    .unwrap();
    let signed = signer.sign(PROFILE.as_bytes()).unwrap();
    assert_eq!(
        cms_verify(dir.path(), signed.as_der(), &certs("root.pem")).unwrap(),
        PROFILE.as_bytes()
    );
    let structure = {
        std::fs::write(dir.path().join("ec.der"), signed.as_der()).unwrap();
        String::from_utf8(openssl_ok(
            dir.path(),
            &[
                "cms", "-cmsout", "-print", "-inform", "DER", "-in", "ec.der", "-noout",
            ],
        ))
        .unwrap()
    };
    assert!(structure.contains("ecdsa-with-SHA256"), "{structure}");
    let report = verify(signed.as_der(), Some(&certs("root.pem"))).unwrap();
    assert!(
        report.signer_subject.contains("(ECDSA)"),
        "{}",
        report.signer_subject
    );
    assert_eq!(report.digest, "sha256");
}

/// Exports the development signer (+ intermediate) as PKCS#12, modern (AES-256, PBKDF2) or
/// `-legacy` (RC2/3DES, which OpenSSL 3 reads only through its legacy provider, G8).
fn pkcs12(dir: &Path, name: &str, legacy: bool) -> (PathBuf, PathBuf) {
    let password = dir.join(format!("{name}.pass"));
    std::fs::write(&password, "correct horse battery staple\n").unwrap();
    restrict(&password);
    let file = dir.join(format!("{name}.p12"));
    let mut args: Vec<String> = vec![
        "pkcs12".into(),
        "-export".into(),
        "-in".into(),
        certs("signer.pem").display().to_string(),
        "-inkey".into(),
        certs("signer.key").display().to_string(),
        "-certfile".into(),
        certs("chain.pem").display().to_string(),
        "-passout".into(),
        format!("file:{}", password.display()),
        "-out".into(),
        file.display().to_string(),
    ];
    if legacy {
        args.push("-legacy".into());
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    openssl_ok(dir, &args);
    restrict(&file);
    (file, password)
}

#[test]
fn pkcs12_modern_and_legacy_bundles_sign() {
    let dir = tempfile::tempdir().unwrap();
    for legacy in [false, true] {
        let name = if legacy { "legacy" } else { "modern" };
        let (file, password) = pkcs12(dir.path(), name, legacy);
        let signer =
            Signer::from_pkcs12(&file, &password).unwrap_or_else(|error| panic!("{name}: {error}"));
        let signed = signer.sign(PROFILE.as_bytes()).unwrap();
        assert_eq!(
            cms_verify(dir.path(), signed.as_der(), &certs("root.pem")).unwrap(),
            PROFILE.as_bytes(),
            "{name}"
        );
        // The intermediate from the bundle is embedded.
        let report = verify(signed.as_der(), Some(&certs("root.pem"))).unwrap();
        assert_eq!(report.embedded.len(), 2, "{name}: {:?}", report.embedded);
    }
}

#[test]
fn pkcs12_wrong_password_is_named_and_not_shown() {
    let dir = tempfile::tempdir().unwrap();
    let wrong = dir.path().join("wrong.pass");
    std::fs::write(&wrong, "Tr0ub4dor&3\n").unwrap();
    for legacy in [false, true] {
        let (file, _) = pkcs12(dir.path(), if legacy { "legacy" } else { "modern" }, legacy);
        let error = Signer::from_pkcs12(&file, &wrong).unwrap_err();
        let message = error.to_string();
        assert!(
            matches!(error, SigningError::WrongPassword { .. }),
            "{message}"
        );
        assert!(message.contains("wrong PKCS#12 password"), "{message}");
        assert!(message.contains("wrong.pass"), "{message}");
        assert!(!message.contains("Tr0ub4dor"), "{message}");
    }
}

#[test]
fn expired_and_not_yet_valid_signers_are_refused_with_dates() {
    let ca = TestCa::new();
    let (pem, key) = issue_expired(&ca, "expired", "emailProtection");
    let error = Signer::from_pem(&pem, None, &key).unwrap_err();
    let message = error.to_string();
    assert!(matches!(error, SigningError::Expired { .. }), "{message}");
    assert!(
        message.contains("expired on Jan  1 00:00:00 2021 GMT"),
        "{message}"
    );
    assert!(message.contains("expired.pem"), "{message}");

    let (pem, key) = ca.issue(
        "future",
        "400101000000Z",
        "410101000000Z",
        "emailProtection",
    );
    let error = Signer::from_pem(&pem, None, &key).unwrap_err();
    let message = error.to_string();
    assert!(
        matches!(error, SigningError::NotYetValid { .. }),
        "{message}"
    );
    assert!(
        message.contains("valid from Jan  1 00:00:00 2040 GMT"),
        "{message}"
    );
}

#[test]
fn a_tls_server_certificate_is_an_acceptable_signer() {
    // What admins reuse: a Let's Encrypt-style certificate with EKU serverAuth only
    // (docs/profiles.md, "Any certificate purpose").
    let ca = TestCa::new();
    let (pem, key) = ca.issue(
        "mail.example.org",
        "250101000000Z",
        "491231235959Z",
        "serverAuth",
    );
    let signed = Signer::from_pem(&pem, None, &key)
        .unwrap()
        .sign(PROFILE.as_bytes())
        .unwrap();
    let report = verify(signed.as_der(), Some(&ca.path("ca.pem"))).unwrap();
    assert_eq!(report.signer_subject, "CN=mail.example.org");
    assert_eq!(report.chain, ["CN=mail.example.org", "CN=mxconf test CA"]);
    assert!(cms_verify(ca.dir(), signed.as_der(), &ca.path("ca.pem")).is_ok());
}

#[test]
fn encrypted_keys_are_refused_without_prompting() {
    let dir = tempfile::tempdir().unwrap();
    openssl_ok(
        dir.path(),
        &[
            "pkey",
            "-in",
            certs("signer.key").to_str().unwrap(),
            "-aes256",
            "-passout",
            "pass:secret",
            "-out",
            "encrypted.key",
        ],
    );
    let error = Signer::from_pem(
        &certs("signer.pem"),
        None,
        &dir.path().join("encrypted.key"),
    )
    .unwrap_err();
    assert!(
        matches!(error, SigningError::EncryptedKey { .. }),
        "{error}"
    );
}

/// [`PROFILE`] signed, attached and in DER, by `openssl COMMAND -sign` (smime or cms) in `dir`
/// as `signer` with `key`, plus `extra` arguments.
fn sign_with_openssl(
    dir: &Path,
    command: &str,
    signer: &Path,
    key: &Path,
    extra: &[&str],
) -> Vec<u8> {
    std::fs::write(dir.join("profile.xml"), PROFILE).unwrap();
    let args = [
        &[
            command,
            "-sign",
            "-binary",
            "-nodetach",
            "-outform",
            "DER",
            "-in",
            "profile.xml",
            "-signer",
            signer.to_str().unwrap(),
            "-inkey",
            key.to_str().unwrap(),
        ],
        extra,
        &["-out", "signed.der"],
    ]
    .concat();
    openssl_ok(dir, &args);
    std::fs::read(dir.join("signed.der")).unwrap()
}

#[test]
fn our_verify_reads_signatures_made_by_other_tools() {
    // `openssl smime` (PKCS#7 API, automx's way), `cms -keyid` (subject key identifier, as in
    // Apple's own profiles) and `cms -stream` (indefinite-length BER).
    let dir = tempfile::tempdir().unwrap();
    let chain = certs("chain.pem");
    let chain = chain.to_str().unwrap();
    for (label, command, extra) in [
        ("smime", "smime", &["-certfile", chain][..]),
        ("cms -keyid", "cms", &["-certfile", chain, "-keyid"]),
        ("cms -stream", "cms", &["-certfile", chain, "-stream"]),
    ] {
        let der = sign_with_openssl(
            dir.path(),
            command,
            &certs("signer.pem"),
            &certs("signer.key"),
            extra,
        );
        let report = verify(&der, Some(&certs("root.pem")))
            .unwrap_or_else(|error| panic!("{label}: {error}"));
        assert_eq!(report.content, PROFILE.as_bytes(), "{label}");
        assert!(report.signer_subject.contains("profile signer"), "{label}");
        assert_eq!(report.chain.len(), 3, "{label}");
    }
}

// ---- the command line -------------------------------------------------------------------

/// `mxconf verify PROFILE --ca certs/root.pem`, for the caller to add flags to.
fn verify_against_dev_root(profile: &Path) -> assert_cmd::Command {
    let mut command = mxconf();
    command
        .arg("verify")
        .arg(profile)
        .arg("--ca")
        .arg(certs("root.pem"));
    command
}

fn cli_sign(dir: &Path, input: &Path, output: &Path, identity: &[&Path]) -> std::process::Output {
    let mut command = mxconf();
    command
        .current_dir(dir)
        .arg("sign")
        .arg(input)
        .arg("-o")
        .arg(output);
    let flags: &[&str] =
        if identity.len() == 2 && identity[0].extension().is_some_and(|e| e == "p12") {
            &["--pkcs12", "--password-file"]
        } else {
            &["--cert", "--key", "--chain"]
        };
    for (flag, path) in flags.iter().zip(identity) {
        command.arg(flag).arg(path);
    }
    command.output().unwrap()
}

#[test]
fn cli_sign_then_openssl_and_cli_verify() {
    let (dir, input) = temp_file("profile.mobileconfig", PROFILE);
    let output = dir.path().join("signed.mobileconfig");
    let result = cli_sign(
        dir.path(),
        &input,
        &output,
        &[
            &certs("signer.pem"),
            &certs("signer.key"),
            &certs("chain.pem"),
        ],
    );
    assert_success(&result);
    let der = std::fs::read(&output).unwrap();
    assert_eq!(
        cms_verify(dir.path(), &der, &certs("root.pem")).unwrap(),
        PROFILE.as_bytes()
    );

    let verified = verify_against_dev_root(&output).output().unwrap();
    assert_eq!(
        verified.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&verified.stderr)
    );
    let stdout = String::from_utf8(verified.stdout).unwrap();
    for expected in [
        "Signature: OK, chain OK",
        "Signer:    C=XX, O=mxconf development (NOT FOR PRODUCTION), CN=mxconf development profile signer",
        "Issuer:    C=XX, O=mxconf development (NOT FOR PRODUCTION), CN=mxconf development intermediate CA",
        "Validity:  ",
        "2: C=XX, O=mxconf development (NOT FOR PRODUCTION), CN=mxconf development root CA",
        "Digest:    sha256",
        "Profile:   Example Mail (Configuration, com.example.mail.jane)",
        "Payloads:  1",
        "  com.apple.mail.managed: Jürgen & Søn Mail",
    ] {
        assert!(
            stdout.contains(expected),
            "missing {expected:?} in\n{stdout}"
        );
    }
}

#[test]
fn cli_verify_exit_codes() {
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("good.mobileconfig");
    let der = dev_signer().sign(PROFILE.as_bytes()).unwrap().into_der();
    std::fs::write(&good, &der).unwrap();
    let mut tampered_der = der.clone();
    let at = tampered_der
        .windows(13)
        .position(|w| w == b"Configuration")
        .unwrap();
    tampered_der[at] = b'c';
    let tampered = dir.path().join("tampered.mobileconfig");
    std::fs::write(&tampered, tampered_der).unwrap();
    let unsigned = dir.path().join("unsigned.mobileconfig");
    std::fs::write(&unsigned, PROFILE).unwrap();
    let root = certs("root.pem");

    let code = |args: &[&Path]| {
        let output = mxconf().arg("verify").args(args).output().unwrap();
        (
            output.status.code(),
            String::from_utf8_lossy(&output.stderr).into_owned(),
        )
    };
    assert_eq!(code(&[&good, Path::new("--ca"), &root]).0, Some(0));
    let (status, stderr) = code(&[&tampered, Path::new("--ca"), &root]);
    assert_eq!(status, Some(1), "{stderr}");
    assert!(
        stderr.contains("tampered.mobileconfig: the signature does not verify"),
        "{stderr}"
    );
    // The development root is in no system trust store.
    let (status, stderr) = code(&[&good]);
    assert_eq!(status, Some(1), "{stderr}");
    assert!(
        stderr.contains("certificate chain does not verify"),
        "{stderr}"
    );
    let (status, stderr) = code(&[&unsigned, Path::new("--ca"), &root]);
    assert_eq!(status, Some(1), "{stderr}");
    assert!(stderr.contains("not a CMS SignedData"), "{stderr}");
    assert_eq!(code(&[&dir.path().join("missing")]).0, Some(2));
}

#[test]
fn cli_sign_refuses_bad_input_and_bad_signers_and_writes_nothing() {
    let ca = TestCa::new();
    let dir = ca.dir();
    let plist = dir.join("profile.mobileconfig");
    std::fs::write(&plist, PROFILE).unwrap();
    let not_plist = dir.join("notes.txt");
    std::fs::write(&not_plist, "just some text, not a property list\n").unwrap();
    let (expired, expired_key) = issue_expired(&ca, "expired", "codeSigning");
    let output = dir.join("out.mobileconfig");

    let cases: [(&Path, Vec<PathBuf>, &str); 3] = [
        (
            &not_plist,
            vec![certs("fullchain.pem"), certs("signer.key")],
            "notes.txt: not a property list",
        ),
        (
            &plist,
            vec![expired, expired_key],
            "expired on Jan  1 00:00:00 2021 GMT",
        ),
        (
            &plist,
            vec![certs("signer.pem"), certs("signer-ec.key")],
            "does not match the certificate",
        ),
    ];
    for (input, identity, expected) in cases {
        let identity: Vec<&Path> = identity.iter().map(PathBuf::as_path).collect();
        let result = cli_sign(dir, input, &output, &identity);
        let stderr = String::from_utf8_lossy(&result.stderr);
        assert_eq!(result.status.code(), Some(1), "{stderr}");
        assert!(
            stderr.contains(expected),
            "missing {expected:?} in {stderr}"
        );
        assert_eq!(
            stderr.lines().filter(|l| l.starts_with("mxconf:")).count(),
            1,
            "{stderr}"
        );
        assert!(
            !output.exists(),
            "an output file was written for {expected:?}"
        );
    }
    // Usage errors (no identity, --cert without --key) exit 2.
    let result = cli_sign(dir, &plist, &output, &[]);
    assert_eq!(result.status.code(), Some(2));
    let result = mxconf()
        .arg("sign")
        .arg(&plist)
        .args([
            "-o",
            output.to_str().unwrap(),
            "--cert",
            certs("signer.pem").to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert_eq!(result.status.code(), Some(2));
    assert!(!output.exists());
    // No stray temporary files either.
    let leftovers: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .filter_map(Result::ok)
        .filter(|entry| entry.file_name().to_string_lossy().ends_with(".tmp"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

#[test]
fn cli_sign_with_pkcs12_signs_a_binary_plist_byte_for_byte() {
    let dir = tempfile::tempdir().unwrap();
    let (file, password) = pkcs12(dir.path(), "legacy", true);
    // Any plist, not only ours: a binary one made by the plist crate.
    let value = plist::Value::from(vec![plist::Value::from("a"), plist::Value::from(1)]);
    let input = dir.path().join("any.plist");
    value.to_file_binary(&input).unwrap();
    let output = dir.path().join("any.signed");
    let result = cli_sign(dir.path(), &input, &output, &[&file, &password]);
    assert_success(&result);
    let content = cms_verify(
        dir.path(),
        &std::fs::read(&output).unwrap(),
        &certs("root.pem"),
    )
    .unwrap();
    assert_eq!(content, std::fs::read(&input).unwrap());
}

#[test]
fn demo_profile_is_signed_by_the_dev_chain_and_passes_verify_with_schema() {
    let dir = tempfile::tempdir().unwrap();
    let unsigned = dir.path().join("jane.xml");
    let signed = dir.path().join("jane.mobileconfig");
    for (path, extra) in [(&unsigned, Some("--unsigned")), (&signed, None)] {
        let output = mxconf()
            .args(["profile", "jane@example.com", "--name", "Jane & Søn", "-o"])
            .arg(path)
            .args(extra)
            .output()
            .unwrap();
        assert_success(&output);
    }
    // The signed profile's content is byte for byte the unsigned one.
    let der = std::fs::read(&signed).unwrap();
    assert_eq!(
        cms_verify(dir.path(), &der, &certs("root.pem")).unwrap(),
        std::fs::read(&unsigned).unwrap()
    );
    let output = verify_against_dev_root(&signed)
        .arg("--schema")
        .arg(apple_schema())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(
        output.status.code(),
        Some(0),
        "{stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(stdout.contains("Schema:    OK"), "{stdout}");
    assert!(stdout.contains("com.apple.mail.managed"), "{stdout}");
}

#[test]
fn verify_reports_schema_violations_and_fails_when_strict() {
    let dir = tempfile::tempdir().unwrap();
    let signed = dir.path().join("incomplete.mobileconfig");
    // Signature and chain are fine; the payloads lack Apple's required keys.
    std::fs::write(
        &signed,
        dev_signer().sign(PROFILE.as_bytes()).unwrap().as_der(),
    )
    .unwrap();
    let output = verify_against_dev_root(&signed)
        .arg("--schema")
        .arg(apple_schema())
        .arg("--strict")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stdout}{stderr}");
    assert!(stdout.contains("Signature: OK, chain OK"), "{stdout}");
    assert!(
        stdout.contains(
            "PayloadContent[0] (com.apple.mail.managed): missing required key EmailAccountType"
        ),
        "{stdout}"
    );
    assert!(
        stderr.contains("payload violation(s) of Apple's schema"),
        "{stderr}"
    );
    // Without --schema the copy built into mxconf finds the same; without --strict the exit
    // status speaks for signature and chain only.
    let output = verify_against_dev_root(&signed).output().unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(0), "{stdout}");
    assert!(
        stdout.contains("missing required key EmailAccountType"),
        "{stdout}"
    );
    // A schema directory that is not one is a usage error.
    let output = verify_against_dev_root(&signed)
        .args(["--schema", "/nonexistent"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
}

#[test]
fn check_config_loads_the_signer_relative_to_the_config_file() {
    let dir = tempfile::tempdir().unwrap();
    let provider = "[provider]\nid = \"example.org\"\ndisplay-name = \"X\"\nshort-name = \"X\"\n";
    std::fs::create_dir(dir.path().join("tls")).unwrap();
    for name in ["fullchain.pem", "signer.key", "signer-ec.key"] {
        std::fs::copy(certs(name), dir.path().join("tls").join(name)).unwrap();
        restrict(&dir.path().join("tls").join(name));
    }
    // `mxconf check-config` on `name`, whose signer is tls/fullchain.pem with tls/`key`.
    let check_with_key = |name: &str, key: &str| {
        let path = dir.path().join(name);
        std::fs::write(
            &path,
            format!("{provider}[signing]\ncert = \"tls/fullchain.pem\"\nkey = \"tls/{key}\"\n"),
        )
        .unwrap();
        check_config(&path)
    };
    let output = check_with_key("good.toml", "signer.key");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(
        output.status.code(),
        Some(0),
        "{stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        stdout.contains("signing: C=XX, O=mxconf development"),
        "{stdout}"
    );

    let output = check_with_key("bad.toml", "signer-ec.key");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("bad.toml: signing: "), "{stderr}");
    assert!(
        stderr.contains("tls/signer-ec.key: the private key does not match"),
        "{stderr}"
    );
}

#[test]
fn one_signer_signs_from_many_threads() {
    let signer = std::sync::Arc::new(dev_signer());
    let threads: Vec<_> = (0..4u8)
        .map(|thread| {
            let signer = std::sync::Arc::clone(&signer);
            std::thread::spawn(move || {
                (0..25u8)
                    .map(|index| {
                        let content = format!("{PROFILE}<!-- {thread}/{index} -->");
                        (content.clone(), signer.sign(content.as_bytes()).unwrap())
                    })
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    for handle in threads {
        for (content, signed) in handle.join().unwrap() {
            let report = verify(signed.as_der(), Some(&certs("root.pem"))).unwrap();
            assert_eq!(report.content, content.as_bytes());
        }
    }
}

#[test]
fn a_profile_whose_signer_has_expired_fails_verify() {
    // Devices treat an expired signature as none; verify must not call it good. Signed by the
    // openssl CLI, since our signer refuses expired certificates.
    let ca = TestCa::new();
    let (pem, key) = issue_expired(&ca, "lapsed", "emailProtection");
    let der = sign_with_openssl(ca.dir(), "cms", &pem, &key, &[]);
    let error = verify(&der, Some(&ca.path("ca.pem"))).unwrap_err();
    assert!(matches!(error, SigningError::Chain(_)), "{error}");
    assert!(
        error.to_string().contains("certificate has expired"),
        "{error}"
    );
}

/// `mxconf serve` with the demo's `[signing]` replaced by `signing`, and its log.
fn serve_signing_with(dir: &Path, signing: &str) -> crate::support::process::Served {
    let config = dir.join("mxconf.toml");
    let demo = mxconf::config::DEMO_TOML.replacen("development-chain = true\n", signing, 1);
    std::fs::write(&config, demo).unwrap();
    crate::support::process::Served::start(&["--config", config.to_str().unwrap()], &[])
}

/// Whether `text` says a certificate issued for `days` days has that many whole days left, or
/// one less once a second has passed since it was issued.
fn within(text: &str, days: u32) -> bool {
    text.contains(&format!("in {days} day(s)")) || text.contains(&format!("in {} day(s)", days - 1))
}

/// The warning before a signer expires, as the server logs it.
const EXPIRY_WARNING: &str = "the signing certificate CN=";

#[test]
fn the_server_warns_once_per_threshold_before_the_signer_expires() {
    let ca = TestCa::new();
    let dir = tempfile::tempdir().unwrap();
    // 20 days left: within the 30-day threshold, not yet the 14-day one.
    let (pem, key) = ca.issue_for_days("twenty", 20, "emailProtection");
    let served = serve_signing_with(
        dir.path(),
        &format!(
            "cert = {:?}\nkey = {:?}\n",
            pem.display().to_string(),
            key.display().to_string()
        ),
    );
    // The start-up line says until when it signs.
    let announced = served.wait_for("signing profiles as CN=twenty");
    assert!(announced.contains("valid until "), "{announced}");
    let warning = served.wait_for(EXPIRY_WARNING);
    assert!(
        warning.contains("CN=twenty expires on ") && within(&warning, 20),
        "{warning}"
    );
    // Profiles asked for after it: no further warning.
    let profile = dir.path().join("jane.mobileconfig");
    for _ in 0..3 {
        let fetched = std::process::Command::new("curl")
            .args(["-sSf", "-o"])
            .arg(&profile)
            .arg(served.url("/mobileconfig?emailaddress=jane@example.com"))
            .status()
            .unwrap();
        assert!(fetched.success());
    }
    assert_eq!(served.count(EXPIRY_WARNING), 1, "{}", served.log());
    // `mxconf verify` says so too, for a signer this close to its end.
    let verified = mxconf()
        .arg("verify")
        .arg(&profile)
        .arg("--ca")
        .arg(ca.path("ca.pem"))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&verified.stdout);
    assert!(
        stdout.contains("Expires:   in ") && within(&stdout, 20),
        "{stdout}"
    );
    drop(served);

    // A PKCS#12 signer with 10 days left: the 14-day threshold, one warning.
    let (pem, key) = ca.issue_for_days("ten", 10, "emailProtection");
    let password = dir.path().join("ten.pass");
    std::fs::write(&password, "correct horse battery staple\n").unwrap();
    restrict(&password);
    let bundle = dir.path().join("ten.p12");
    openssl_ok(
        dir.path(),
        &[
            "pkcs12",
            "-export",
            "-in",
            pem.to_str().unwrap(),
            "-inkey",
            key.to_str().unwrap(),
            "-passout",
            &format!("file:{}", password.display()),
            "-out",
            bundle.to_str().unwrap(),
        ],
    );
    restrict(&bundle);
    let served = serve_signing_with(
        dir.path(),
        &format!(
            "pkcs12 = {:?}\npassword-file = {:?}\n",
            bundle.display().to_string(),
            password.display().to_string()
        ),
    );
    let warning = served.wait_for(EXPIRY_WARNING);
    assert!(
        warning.contains("CN=ten expires on ") && within(&warning, 10),
        "{warning}"
    );
    served.wait_for("at most");
    assert_eq!(served.count(EXPIRY_WARNING), 1, "{}", served.log());
}
