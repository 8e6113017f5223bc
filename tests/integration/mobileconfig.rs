//! `/mobileconfig` on a real socket, and `mxconf profile` / `mxconf export`: headers, filenames,
//! status codes, fail-closed signing, every signed output checked by `openssl cms -verify`
//! against certs/root.pem and compared byte for byte with `mxconf profile --unsigned`, and
//! every profile checked against Apple's YAML.

use std::path::{Path, PathBuf};

use mxconf::config::Config;
use mxconf::server::AppState;
use percent_encoding::{NON_ALPHANUMERIC, utf8_percent_encode};

use crate::support::cli::{assert_success, mxconf, temp_file};
use crate::support::openssl::{TestCa, cms_verify, openssl_ok, restrict};
use crate::support::{TestServer, apple_schema, config_from, demo_config};

fn crate_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn encode(text: &str) -> String {
    utf8_percent_encode(text, NON_ALPHANUMERIC).to_string()
}

/// `openssl cms -verify` of a signed profile against the development root: the signed content.
fn openssl_verify(der: &[u8]) -> Vec<u8> {
    let dir = tempfile::tempdir().unwrap();
    cms_verify(dir.path(), der, &crate_dir().join("certs/root.pem"))
        .unwrap_or_else(|stderr| panic!("openssl cms -verify failed: {stderr}"))
}

/// What `mxconf profile ADDRESS [--name NAME] --unsigned` prints with the demo config.
fn unsigned_from_cli(address: &str, name: Option<&str>) -> Vec<u8> {
    let mut command = mxconf();
    command.args(["profile", address, "--unsigned"]);
    if let Some(name) = name {
        command.args(["--name", name]);
    }
    let output = command.output().unwrap();
    assert_success(&output);
    output.stdout
}

/// Parses the XML and checks it against Apple's YAML; returns the top-level dictionary.
fn schema_checked(xml: &[u8]) -> plist::Dictionary {
    let value = plist::Value::from_reader_xml(xml).unwrap();
    let violations = mxconf::profile::validate_profile(&value, &apple_schema()).unwrap();
    assert!(violations.is_empty(), "{violations:#?}");
    value.into_dictionary().unwrap()
}

fn mail_payload(top: &plist::Dictionary) -> plist::Dictionary {
    top["PayloadContent"].as_array().unwrap()[0]
        .as_dictionary()
        .unwrap()
        .clone()
}

fn header<'a>(response: &'a reqwest::Response, name: &str) -> &'a str {
    response
        .headers()
        .get(name)
        .unwrap_or_else(|| panic!("no {name} header"))
        .to_str()
        .unwrap()
}

#[tokio::test]
async fn get_serves_a_signed_profile_identical_to_the_cli_one() {
    let server = TestServer::start(demo_config()).await;
    let url = server.url(&format!(
        "/mobileconfig?emailaddress={}&name={}",
        encode("jane@example.com"),
        encode("Jane & <Doe>")
    ));
    let response = reqwest::get(url).await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(
        header(&response, "content-type"),
        "application/x-apple-aspen-config"
    );
    assert_eq!(
        header(&response, "content-disposition"),
        "attachment; filename=\"jane@example.com.mobileconfig\""
    );
    assert_eq!(header(&response, "cache-control"), "no-store");
    let der = response.bytes().await.unwrap();
    // DER SEQUENCE, not a text plist: the signature is attached.
    assert_eq!(der[0], 0x30);
    let content = openssl_verify(&der);
    assert_eq!(
        content,
        unsigned_from_cli("jane@example.com", Some("Jane & <Doe>"))
    );
    let top = schema_checked(&content);
    assert_eq!(
        mail_payload(&top)["EmailAccountName"].as_string(),
        Some("Jane & <Doe>")
    );
}

#[tokio::test]
async fn post_accepts_automx_web_fields() {
    let server = TestServer::start(demo_config()).await;
    let body = format!(
        "emailaddress={}&cn={}&_mobileconfig=true",
        encode("Jörg.Müller@Example.COM"),
        encode("Jörg Müller")
    );
    let response = reqwest::Client::new()
        .post(server.url("/mobileconfig"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(
        header(&response, "content-disposition"),
        "attachment; filename=\"J_rg.M_ller@example.com.mobileconfig\"; \
         filename*=UTF-8''J%C3%B6rg.M%C3%BCller%40example.com.mobileconfig"
    );
    let content = openssl_verify(&response.bytes().await.unwrap());
    assert_eq!(
        content,
        unsigned_from_cli("Jörg.Müller@Example.COM", Some("Jörg Müller"))
    );
    let top = schema_checked(&content);
    let mail = mail_payload(&top);
    assert_eq!(mail["EmailAccountName"].as_string(), Some("Jörg Müller"));
    assert_eq!(
        mail["EmailAddress"].as_string(),
        Some("Jörg.Müller@example.com")
    );
}

#[tokio::test]
async fn bad_requests_get_short_fixed_answers() {
    let server = TestServer::start(demo_config()).await;
    let client = reqwest::Client::new();
    let cases = [
        ("/mobileconfig", 400, "please give an email address\n"),
        (
            "/mobileconfig?emailaddress=%3Cscript%3Ealert(1)%3C%2Fscript%3E",
            400,
            "the address has no @ sign\n",
        ),
        (
            "/mobileconfig?emailaddress=%3Cscript%3E%40example.com",
            400,
            "the local part (before @) contains a character that is not allowed\n",
        ),
        (
            "/mobileconfig?emailaddress=jane%40example.net",
            404,
            "this domain is not served here\n",
        ),
    ];
    for (path, status, body) in cases {
        let response = client.get(server.url(path)).send().await.unwrap();
        assert_eq!(response.status(), status, "{path}");
        assert_eq!(header(&response, "cache-control"), "no-store");
        assert!(header(&response, "content-type").starts_with("text/plain"));
        assert_eq!(response.text().await.unwrap(), body, "{path}");
    }
    // A POST that is not a form is refused, not guessed at.
    let response = client
        .post(server.url("/mobileconfig"))
        .header("content-type", "application/json")
        .body("{\"emailaddress\":\"jane@example.com\"}")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    assert_eq!(
        response.text().await.unwrap(),
        "the request could not be read\n"
    );
}

/// Query strings are decoded as on every other endpoint (`+` is a `+`), form bodies as forms
/// are (`+` is a space, `%2B` a `+`), and text that is not UTF-8 is refused by both, never
/// replaced by U+FFFD and signed.
#[tokio::test]
async fn one_decoding_rule_and_invalid_utf8_refused() {
    let server = TestServer::start(demo_config()).await;
    let client = reqwest::Client::new();
    let response = client
        .get(server.url("/mobileconfig?emailaddress=jane+lists%40example.com"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(
        header(&response, "content-disposition"),
        "attachment; filename=\"jane+lists@example.com.mobileconfig\""
    );
    let post = |body: &'static str| {
        client
            .post(server.url("/mobileconfig"))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body)
            .send()
    };
    let response = post("emailaddress=jane%2Blists%40example.com&name=Jane+Doe")
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let mail = mail_payload(&schema_checked(&openssl_verify(
        &response.bytes().await.unwrap(),
    )));
    assert_eq!(mail["EmailAccountName"].as_string(), Some("Jane Doe"));
    assert_eq!(
        mail["EmailAddress"].as_string(),
        Some("jane+lists@example.com")
    );
    for response in [
        client
            .get(server.url("/mobileconfig?emailaddress=ja%FFne%40example.com"))
            .send()
            .await
            .unwrap(),
        client
            .get(server.url("/mobileconfig?emailaddress=jane%40example.com&name=%C3"))
            .send()
            .await
            .unwrap(),
        post("emailaddress=jane%40example.com&cn=J%FF")
            .await
            .unwrap(),
    ] {
        assert_eq!(response.status(), 400);
        assert_eq!(
            response.text().await.unwrap(),
            "the request is not valid UTF-8 text\n"
        );
    }
}

const SMALL_DOMAIN: &str = "[provider]\nid = \"example.org\"\ndisplay-name = \"Org\"\nshort-name = \"Org\"\n\
    [[domains.\"example.org\".imap]]\nhost = \"imap.example.org\"\nport = 993\nsecurity = \"tls\"\n\
    [[domains.\"example.org\".smtp]]\nhost = \"smtp.example.org\"\nport = 465\nsecurity = \"tls\"\n";

/// A signer that loads (certificate valid, key matches) but whose key cannot sign: an X25519
/// key in a certificate issued by a throw-away CA. Signing fails at request time, for real.
fn x25519_signer(ca: &TestCa) -> (PathBuf, PathBuf) {
    let run = |args: &[&str]| openssl_ok(ca.dir(), args);
    run(&["genpkey", "-algorithm", "X25519", "-out", "signer.key"]);
    run(&["pkey", "-in", "signer.key", "-pubout", "-out", "signer.pub"]);
    run(&[
        "req",
        "-new",
        "-key",
        "ca.key",
        "-subj",
        "/CN=x25519 signer",
        "-out",
        "signer.csr",
    ]);
    run(&[
        "x509",
        "-req",
        "-in",
        "signer.csr",
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca.key",
        "-force_pubkey",
        "signer.pub",
        "-days",
        "2",
        "-out",
        "signer.pem",
    ]);
    restrict(&ca.path("signer.key"));
    (ca.path("signer.pem"), ca.path("signer.key"))
}

/// [`SMALL_DOMAIN`] signed with the certificate and key at these paths.
fn signing_config(cert: &Path, key: &Path) -> Config {
    config_from(&format!(
        "{SMALL_DOMAIN}[signing]\ncert = {:?}\nkey = {:?}\n",
        cert.display().to_string(),
        key.display().to_string()
    ))
}

/// `GET /mobileconfig` for bob@example.org from a server running `config`.
async fn bob_profile(config: Config) -> reqwest::Response {
    let server = TestServer::start(config).await;
    reqwest::get(server.url("/mobileconfig?emailaddress=bob%40example.org"))
        .await
        .unwrap()
}

#[tokio::test]
async fn signing_failure_is_503_never_the_unsigned_profile() {
    let ca = TestCa::new();
    let (cert, key) = x25519_signer(&ca);
    let response = bob_profile(signing_config(&cert, &key)).await;
    assert_eq!(response.status(), 503);
    assert_eq!(
        header(&response, "content-type"),
        "text/plain; charset=utf-8"
    );
    assert!(response.headers().get("content-disposition").is_none());
    assert_eq!(
        response.text().await.unwrap(),
        "the profile could not be signed; please try again later\n"
    );
}

#[test]
fn a_signer_that_cannot_be_loaded_stops_the_start() {
    let ca = TestCa::new();
    let (cert, key) = x25519_signer(&ca);
    std::fs::remove_file(&key).unwrap();
    let config = signing_config(&cert, &key);
    let error = AppState::load(config).unwrap_err().to_string();
    assert!(error.contains("signer.key"), "{error}");
}

#[tokio::test]
async fn without_signing_the_profile_is_served_unsigned() {
    let response = bob_profile(config_from(SMALL_DOMAIN)).await;
    assert_eq!(response.status(), 200);
    assert_eq!(
        header(&response, "content-type"),
        "application/x-apple-aspen-config"
    );
    let body = response.bytes().await.unwrap();
    assert!(body.starts_with(b"<?xml"));
    let top = schema_checked(&body);
    assert_eq!(
        top["PayloadIdentifier"].as_string(),
        Some("org.example.bob@example.org")
    );
}

/// The CLI runs the server's pipeline: without `--name`, a per-user source's display name
/// stays in the profile, as it does in the server's.
#[tokio::test]
async fn cli_profile_is_the_servers_with_a_sources_display_name() {
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("name.sh");
    std::fs::write(&script, "echo '{\"display_name\": \"Bob Example\"}'\n").unwrap();
    let path = dir.path().join("mxconf.toml");
    std::fs::write(
        &path,
        format!(
            "{SMALL_DOMAIN}[domains.\"example.org\"]\nsources = [\"names\"]\n\
             [backends.names]\ntype = \"command\"\ncommand = [\"/bin/sh\", {:?}]\n",
            script.display().to_string()
        ),
    )
    .unwrap();
    let served = bob_profile(Config::load(&path).unwrap())
        .await
        .bytes()
        .await
        .unwrap();
    let top = schema_checked(&served);
    assert_eq!(
        mail_payload(&top)["EmailAccountName"].as_string(),
        Some("Bob Example")
    );
    let output = mxconf()
        .args(["profile", "bob@example.org", "--unsigned", "--config"])
        .arg(&path)
        .output()
        .unwrap();
    assert_success(&output);
    assert_eq!(output.stdout, served);
}

#[test]
fn cli_profile_writes_a_signed_file_atomically() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("jane.mobileconfig");
    mxconf()
        .args(["profile", "jane@example.com", "--name", "Jane", "-o"])
        .arg(&out)
        .assert()
        .success();
    let content = openssl_verify(&std::fs::read(&out).unwrap());
    assert_eq!(content, unsigned_from_cli("jane@example.com", Some("Jane")));
    schema_checked(&content);
    // Failures write nothing and exit 2 with one line.
    let missing = dir.path().join("none.mobileconfig");
    let output = mxconf()
        .args(["profile", "jane@example.net", "-o"])
        .arg(&missing)
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&output.stderr).contains("example.net: domain not served here")
    );
    assert!(!missing.exists());
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
}

#[test]
fn cli_profile_without_signing_needs_unsigned() {
    let (_dir, config) = temp_file("mxconf.toml", SMALL_DOMAIN);
    let output = mxconf()
        .args(["profile", "bob@example.org", "--config"])
        .arg(&config)
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("pass --unsigned"));
    assert!(output.stdout.is_empty());
}

#[test]
fn cli_export_writes_every_good_line_and_names_the_bad_ones() {
    let (dir, csv) = temp_file(
        "users.csv",
        "email,name\njane@example.com,\"Doe, Jane\"\n\nnot-an-address\njohn@example.com\n\
         \"unterminated@example.com,x\nx@example.net,Nobody\njane@example.com,Again\nAnn@Example.com,Ann & Co\n",
    );
    let out = dir.path().join("profiles");
    let output = mxconf()
        .args(["export", "--input"])
        .arg(&csv)
        .arg("--out-dir")
        .arg(&out)
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8(output.stderr).unwrap();
    let csv_name = csv.display().to_string();
    for expected in [
        format!("{csv_name}:4: not a usable email address"),
        format!("{csv_name}:6: unterminated quoted field"),
        format!("{csv_name}:7: example.net: domain not served here"),
        format!("{csv_name}:8: jane@example.com.mobileconfig is already written"),
        format!(
            "3 profile(s) written to {}, 4 line(s) failed",
            out.display()
        ),
    ] {
        assert!(stderr.contains(&expected), "{expected:?} not in\n{stderr}");
    }
    let mut files: Vec<_> = std::fs::read_dir(&out)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    files.sort();
    assert_eq!(
        files,
        [
            "Ann@example.com.mobileconfig",
            "jane@example.com.mobileconfig",
            "john@example.com.mobileconfig"
        ]
    );
    let jane = openssl_verify(&std::fs::read(out.join("jane@example.com.mobileconfig")).unwrap());
    assert_eq!(
        jane,
        unsigned_from_cli("jane@example.com", Some("Doe, Jane"))
    );
    let ann = openssl_verify(&std::fs::read(out.join("Ann@example.com.mobileconfig")).unwrap());
    assert_eq!(
        mail_payload(&schema_checked(&ann))["EmailAccountName"].as_string(),
        Some("Ann & Co")
    );
}

#[test]
fn cli_export_unsigned_writes_plists() {
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("users.csv");
    let lines: String = (0..40)
        .map(|i| format!("user{i}@example.com,User {i}\n"))
        .collect();
    std::fs::write(&csv, lines).unwrap();
    let out = dir.path().join("profiles");
    mxconf()
        .args(["export", "--unsigned", "--input"])
        .arg(&csv)
        .arg("--out-dir")
        .arg(&out)
        .assert()
        .success();
    for i in 0..40 {
        let xml = std::fs::read(out.join(format!("user{i}@example.com.mobileconfig"))).unwrap();
        assert_eq!(
            xml,
            unsigned_from_cli(&format!("user{i}@example.com"), Some(&format!("User {i}")))
        );
    }
}

/// A domain whose IMAP login is the local part, SMTP login the address, and CalDAV URL holds
/// the local part: every kind of substitution point an MDM template can have.
const MDM_DOMAIN: &str = "[domains.\"example.org\"]\n\
    caldav = \"https://dav.example.org/cal/%EMAILLOCALPART%/\"\n\
    [[domains.\"example.org\".imap]]\nhost = \"imap.example.org\"\nport = 993\nsecurity = \"tls\"\n\
    username = \"%EMAILLOCALPART%\"\n\
    [[domains.\"example.org\".smtp]]\nhost = \"smtp.example.org\"\nport = 465\nsecurity = \"tls\"\n";

/// Every string of the profile as (`payload type/key`, text); top-level keys without a type.
fn strings_by_key(top: &plist::Dictionary) -> Vec<(String, String)> {
    let mut strings = Vec::new();
    for (key, value) in top {
        if let Some(text) = value.as_string() {
            strings.push((key.clone(), text.to_owned()));
        }
    }
    for payload in top["PayloadContent"].as_array().unwrap() {
        let payload = payload.as_dictionary().unwrap();
        let kind = payload["PayloadType"].as_string().unwrap();
        for (key, value) in payload {
            if let Some(text) = value.as_string() {
                strings.push((format!("{kind}/{key}"), text.to_owned()));
            }
        }
    }
    strings
}

#[test]
fn mdm_templates_put_each_products_variables_exactly_where_the_user_goes() {
    use mxconf::profile::mdm::Mdm;
    let config = config_from(&format!(
        "[provider]\nid = \"example.org\"\ndisplay-name = \"Example\"\nshort-name = \"Example\"\n{MDM_DOMAIN}"
    ));
    let answers = mxconf::answer::Answers::new(config);
    let domain = mxconf::account::Domain::parse("example.org").unwrap();
    // The documented substitution points (docs/profiles.md), for this configuration.
    let expected_address = [
        "PayloadDisplayName",
        "com.apple.mail.managed/EmailAccountDescription",
        "com.apple.mail.managed/EmailAddress",
        "com.apple.mail.managed/OutgoingMailServerUsername",
        "com.apple.caldav.account/CalDAVAccountDescription",
    ];
    let expected_local_part = [
        "com.apple.mail.managed/IncomingMailServerUsername",
        "com.apple.caldav.account/CalDAVPrincipalURL",
        "com.apple.caldav.account/CalDAVUsername",
    ];
    let expected_name = ["com.apple.mail.managed/EmailAccountName"];
    let mut identifiers = Vec::new();
    for mdm in Mdm::ALL {
        let xml = answers.mdm_profile(mdm, &domain).unwrap();
        let text = String::from_utf8(xml.clone()).unwrap();
        assert!(!text.contains("stand-in"), "{mdm:?}: {text}");
        let top = plist::Value::from_reader_xml(xml.as_slice())
            .unwrap()
            .into_dictionary()
            .unwrap();
        let v = mdm.variables();
        let holding = |variable: &str| {
            let mut keys: Vec<String> = strings_by_key(&top)
                .into_iter()
                .filter(|(_, text)| text.contains(variable))
                .map(|(key, _)| key)
                .collect();
            keys.sort();
            keys
        };
        let sorted = |keys: &[&str]| {
            let mut keys: Vec<String> = keys.iter().map(|k| (*k).to_owned()).collect();
            keys.sort();
            keys
        };
        // Kandji's $EMAIL is a prefix of its $EMAIL_PREFIX: count the address without it.
        let address_keys: Vec<String> = holding(v.address)
            .into_iter()
            .filter(|key| {
                strings_by_key(&top)
                    .iter()
                    .any(|(k, text)| k == key && text.replace(v.local_part, "").contains(v.address))
            })
            .collect();
        assert_eq!(address_keys, sorted(&expected_address), "{mdm:?} address");
        assert_eq!(
            holding(v.local_part),
            sorted(&expected_local_part),
            "{mdm:?} local part"
        );
        assert_eq!(holding(v.name), sorted(&expected_name), "{mdm:?} name");
        // Filled in for a sample user, as the MDM does, it is a profile Apple's schema accepts.
        let filled = text
            .replace(v.local_part, "jane.doe")
            .replace(v.address, "jane.doe@example.org")
            .replace(v.name, "Jane Doe");
        let top = schema_checked(filled.as_bytes());
        let caldav = top["PayloadContent"].as_array().unwrap()[1]
            .as_dictionary()
            .unwrap();
        assert_eq!(
            caldav["CalDAVPrincipalURL"].as_string(),
            Some("https://dav.example.org/cal/jane.doe/")
        );
        identifiers.push((
            top["PayloadIdentifier"].as_string().unwrap().to_owned(),
            top["PayloadUUID"].as_string().unwrap().to_owned(),
        ));
        // Deterministic: the same bytes every time.
        assert_eq!(answers.mdm_profile(mdm, &domain).unwrap(), xml);
    }
    // One identity per domain, whatever the product.
    identifiers.dedup();
    assert_eq!(identifiers.len(), 1, "{identifiers:?}");
    assert_eq!(identifiers[0].0, "org.example.mdm.example.org");
}

#[test]
fn mdm_export_writes_the_file_and_refuses_to_sign() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("jamf.mobileconfig");
    let output = mxconf()
        .args(["export", "--mdm", "jamf", "example.com", "--unsigned", "-o"])
        .arg(&out)
        .output()
        .unwrap();
    assert_success(&output);
    let text = std::fs::read_to_string(&out).unwrap();
    assert!(text.contains("<string>$EMAIL</string>"), "{text}");
    let output = mxconf()
        .args(["export", "--mdm", "intune", "example.com"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_ne!(output.status.code(), Some(0));
    assert!(
        stderr.contains("--mdm writes unsigned profiles only: Microsoft Intune")
            && stderr.contains("signs the profile itself")
            && stderr.contains("pass --unsigned"),
        "{stderr}"
    );
    assert!(output.stdout.is_empty());
    let output = mxconf()
        .args(["export", "--mdm", "kandji", "example.net", "--unsigned"])
        .output()
        .unwrap();
    assert_ne!(output.status.code(), Some(0));
    assert!(
        String::from_utf8_lossy(&output.stderr).contains("example.net"),
        "{output:?}"
    );
}
