//! Hostile inputs that must neither take the service down nor reach outside what they name:
//! planted files beside outputs, bodies built to cost CPU, nesting built to overflow a stack,
//! characters that make a signed profile unreadable.

use std::path::{Path, PathBuf};

use crate::support::cli::{fifo, mxconf};
use crate::support::openssl::openssl_ok;
use crate::support::{TestServer, demo_config, pox, raw_http};

/// Before: outputs went through `DIR/.NAME.PID.tmp`, opened without `O_EXCL`, so a symlink
/// planted at that name made `mxconf profile -o` overwrite whatever it pointed at. The shell
/// plants the link for its own PID and `exec`s mxconf, which keeps that PID.
#[test]
fn a_symlink_planted_at_the_temporary_name_is_not_followed() {
    let dir = tempfile::tempdir().unwrap();
    let victim = dir.path().join("victim");
    std::fs::write(&victim, "precious\n").unwrap();
    let output = dir.path().join("jane.mobileconfig");
    let binary = assert_cmd::cargo::cargo_bin("mxconf");
    let status = std::process::Command::new("/bin/sh")
        .arg("-c")
        .arg(r#"ln -s "$1" "$2/.jane.mobileconfig.$$.tmp" && exec "$3" profile jane@example.com --unsigned -o "$2/jane.mobileconfig""#)
        .arg("sh")
        .arg(&victim)
        .arg(dir.path())
        .arg(&binary)
        .status()
        .unwrap();
    assert!(status.success());
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "precious\n");
    let profile = std::fs::read(&output).unwrap();
    assert!(profile.starts_with(b"<?xml"), "the profile was written");
    // Nothing but the planted link and the output is left behind.
    let mut names: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(names.len(), 3, "{names:?}");
}

/// Two Host lines: before, the first won, so a proxy routing on the second and this server
/// could disagree on which site a request is for.
#[tokio::test]
async fn duplicate_host_headers_are_refused() {
    let server = TestServer::start(demo_config()).await;
    for path in [
        "/healthz",
        "/autodiscover/autodiscover.xml",
        "/mail/config-v1.1.xml",
    ] {
        let request = format!(
            "GET {path} HTTP/1.1\r\nHost: autoconfig.example.com\r\nHost: evil.example\r\nConnection: close\r\n\r\n"
        );
        let response = raw_http(server.addr, request.as_bytes()).await;
        assert_eq!(response.status, 400, "{path}: {}", response.head);
    }
    let single = raw_http(
        server.addr,
        b"GET /healthz HTTP/1.1\r\nHost: example.com\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert_eq!(single.status, 200);
}

/// Before: `check-config` read `/dev/zero` as a certificate until memory ran out. Devices and
/// FIFOs are refused at once, each message naming the file: the signer's files, the HTTPS
/// certificates, and the CAs and client certificate of Redis and LDAP.
#[test]
fn certificate_paths_to_devices_are_refused_without_reading_them() {
    let dir = tempfile::tempdir().unwrap();
    fifo(dir.path(), "bundle.p12");
    let provider = "[provider]\nid = \"example.org\"\ndisplay-name = \"E\"\nshort-name = \"E\"\n";
    for (section, file) in [
        (
            "[signing]\ncert = \"/dev/zero\"\nkey = \"/dev/zero\"",
            "/dev/zero",
        ),
        (
            "[signing]\npkcs12 = \"bundle.p12\"\npassword-file = \"/dev/urandom\"",
            "bundle.p12",
        ),
        (
            "[tls]\nlisten = [\"127.0.0.1:0\"]\n[[tls.certificate]]\ncert = \"bundle.p12\"\nkey = \"/dev/zero\"",
            "bundle.p12",
        ),
        (
            "[limits]\nstore = \"rediss://127.0.0.1:6379/0\"\nca-file = \"bundle.p12\"",
            "bundle.p12",
        ),
        (
            "[limits]\nstore = \"rediss://127.0.0.1:6379/0\"\ncert-file = \"/dev/zero\"\nkey-file = \"/dev/zero\"",
            "/dev/zero",
        ),
        (
            "[backends.directory]\ntype = \"ldap\"\nurl = \"ldaps://ldap.example.org\"\nbase = \"dc=example\"\n\
             filter = \"(mail=%EMAILADDRESS%)\"\nca-file = \"/dev/zero\"\n[backends.directory.attributes]\nlogin_name = \"uid\"",
            "/dev/zero",
        ),
    ] {
        let config = dir.path().join("mxconf.toml");
        std::fs::write(&config, format!("{provider}{section}\n")).unwrap();
        let output = mxconf()
            .args(["check-config", "--config"])
            .arg(&config)
            .timeout(std::time::Duration::from_secs(20))
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(1), "{stderr}");
        assert!(stderr.contains(file), "{stderr}");
        assert!(stderr.contains("not a regular file"), "{stderr}");
    }
}

const OUTLOOK_SCHEMA: &str =
    "http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a";

/// An Outlook request for jane@example.com whose `<Request>` carries `count` attributes.
fn attribute_bomb(count: usize) -> String {
    let attributes: String = (0..count).map(|n| format!(" a{n}=\"\"")).collect();
    pox::request_body("jane@example.com", OUTLOOK_SCHEMA).replacen(
        "<Request>",
        &format!("<Request{attributes}>"),
        1,
    )
}

/// Before: roxmltree's attribute handling is quadratic and its node cap does not count them,
/// so ~9,800 attributes in a 64 KiB body cost 300 ms of CPU and were then answered as a normal
/// request. Now the body is refused (error 600) before it is parsed; a request with the
/// namespace declarations clients really send is still answered. The cost is measured by
/// benches/load/flood.sh, not here.
#[tokio::test]
async fn pox_attribute_bombs_are_refused_before_parsing() {
    let server = TestServer::start(demo_config()).await;
    let bomb = attribute_bomb(6_000);
    assert!(bomb.len() <= 64 * 1024, "within the body limit");
    let answer = pox::post(&server, pox::PATH, bomb).await;
    assert!(answer.contains("<ErrorCode>600</ErrorCode>"), "{answer}");
    assert!(!answer.contains("imap"), "{answer}");
    let ordinary = pox::request_body("jane@example.com", OUTLOOK_SCHEMA).replacen(
        "<Autodiscover ",
        "<Autodiscover xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\" \
         xmlns:xsd=\"http://www.w3.org/2001/XMLSchema\" ",
        1,
    );
    let answer = pox::post(&server, pox::PATH, ordinary).await;
    assert!(answer.contains("<Type>IMAP</Type>"), "{answer}");
    let crowded = pox::post(&server, pox::PATH, attribute_bomb(17)).await;
    assert!(
        crowded.contains("<ErrorCode>600</ErrorCode>"),
        "17 on one element"
    );
}

fn dev_cert(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("certs")
        .join(name)
}

/// A property list around `body`, as Apple writes them.
fn plist(body: &str) -> String {
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<!DOCTYPE plist PUBLIC \"-//Apple//DTD PLIST \
         1.0//EN\" \"http://www.apple.com/DTDs/PropertyList-1.0.dtd\">\n<plist version=\"1.0\">\
         {body}</plist>\n"
    )
}

/// `content` signed by `openssl cms` with the development chain (mxconf's own `sign` refuses
/// what these tests feed `verify`).
fn signed_by_openssl(dir: &Path, content: &str) -> PathBuf {
    std::fs::write(dir.join("content.plist"), content).unwrap();
    let (cert, key, chain) = (
        dev_cert("signer.pem"),
        dev_cert("signer.key"),
        dev_cert("chain.pem"),
    );
    openssl_ok(
        dir,
        &[
            "cms",
            "-sign",
            "-binary",
            "-nodetach",
            "-md",
            "sha256",
            "-outform",
            "DER",
            "-in",
            "content.plist",
            "-signer",
            cert.to_str().unwrap(),
            "-inkey",
            key.to_str().unwrap(),
            "-certfile",
            chain.to_str().unwrap(),
            "-out",
            "signed.der",
        ],
    );
    dir.join("signed.der")
}

fn mxconf_verify_strict(signed: &Path) -> std::process::Output {
    mxconf()
        .arg("verify")
        .arg(signed)
        .arg("--ca")
        .arg(dev_cert("root.pem"))
        .arg("--strict")
        .timeout(std::time::Duration::from_secs(60))
        .output()
        .unwrap()
}

/// Before: the plist crate builds values recursively, and `sign` and `verify` aborted with a
/// stack overflow (exit 134) at 20,000 nested arrays or 10,000 dictionaries.
#[test]
fn deeply_nested_plists_are_refused_with_a_message() {
    let dir = tempfile::tempdir().unwrap();
    for (label, open, close, depth) in [
        ("arrays", "<array>", "</array>", 20_000),
        ("dicts", "<dict><key>k</key>", "</dict>", 10_000),
    ] {
        let deep = plist(&format!("{}{}", open.repeat(depth), close.repeat(depth)));
        let input = dir.path().join(format!("{label}.plist"));
        std::fs::write(&input, &deep).unwrap();
        let output = mxconf()
            .arg("sign")
            .arg(&input)
            .arg("-o")
            .arg(dir.path().join(format!("{label}.signed")))
            .arg("--cert")
            .arg(dev_cert("signer.pem"))
            .arg("--key")
            .arg(dev_cert("signer.key"))
            .timeout(std::time::Duration::from_secs(60))
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(1), "sign {label}: {stderr}");
        assert!(
            stderr
                .contains("not a property list (nested more than 128 arrays or dictionaries deep)"),
            "sign {label}: {stderr}"
        );

        let verified = mxconf_verify_strict(&signed_by_openssl(dir.path(), &deep));
        let stdout = String::from_utf8_lossy(&verified.stdout);
        assert_eq!(verified.status.code(), Some(1), "verify {label}: {stdout}");
        assert!(
            stdout.contains("nested more than 128"),
            "verify {label}: {stdout}"
        );
    }
}

/// Before: a name holding U+FFFE went into the profile verbatim; libxml2 and plistlib refuse
/// the result, while `mxconf verify --strict` read it with the lenient plist reader and said
/// "Schema: OK". Now the content must be XML as libxml2 reads it.
#[test]
fn verify_strict_fails_a_signed_profile_that_is_not_xml() {
    let dir = tempfile::tempdir().unwrap();
    let content = plist(
        "<dict><key>PayloadDisplayName</key><string>Jane\u{FFFE}</string>\
         <key>PayloadType</key><string>Configuration</string></dict>",
    );
    let rejected = std::process::Command::new("xmllint")
        .arg("--noout")
        .arg("-")
        .stdin(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .and_then(|mut xmllint| {
            use std::io::Write as _;
            xmllint
                .stdin
                .take()
                .unwrap()
                .write_all(content.as_bytes())?;
            xmllint.wait()
        })
        .unwrap();
    assert!(!rejected.success(), "libxml2 refuses it too");
    let verified = mxconf_verify_strict(&signed_by_openssl(dir.path(), &content));
    let stdout = String::from_utf8_lossy(&verified.stdout);
    assert_eq!(verified.status.code(), Some(1), "{stdout}");
    assert!(stdout.contains("Signature: OK"), "{stdout}");
    assert!(stdout.contains("not well-formed XML"), "{stdout}");
    assert!(!stdout.contains("Schema:    OK"), "{stdout}");
}
