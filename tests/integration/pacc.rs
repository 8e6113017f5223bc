//! PACC over real HTTP: the document on `ua-auto-config.<domain>`, byte for byte what
//! `mxconf render pacc` prints, its SHA-256 recomputed from the served body and compared with
//! the TXT record `mxconf dns` prints, checked against docs/pacc.schema.json with Python's
//! `jsonschema`; the host in the certificate plan; and a domain that cannot publish refused
//! at load with its name.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::support::cli::{check_config, mxconf, temp_file};
use crate::support::{self, TestServer};

const CONFIG: &str = r#"
[provider]
id = "example.com"
display-name = "Example Mail"
short-name = "Example"

[defaults]
documentation = "https://help.example.com/mail"

[domains."example.com"]
pacc = true
jmap = "https://jmap.example.com/.well-known/jmap"
caldav = "https://dav.example.com/caldav/"
# Per user: no one URL for the whole domain, so not in the document.
webdav = "https://files.example.com/%EMAILLOCALPART%/"

[domains."example.com".oauth2]
issuer = "login.example.com"
scope = "IMAP SMTP offline_access"
auth-url = "https://login.example.com/authorize"
token-url = "https://login.example.com/token"

# STARTTLS first in the file, implicit TLS on 993 is what PACC can name.
[[domains."example.com".imap]]
host = "imap-starttls.example.com"
port = 143
security = "starttls"

[[domains."example.com".imap]]
host = "imap.example.com"
port = 993
security = "tls"
authentication = ["oauth2", "password-cleartext"]

# Not on 995: a PACC client could not reach it.
[[domains."example.com".pop3]]
host = "pop.example.com"
port = 1995
security = "tls"

[[domains."example.com".smtp]]
host = "smtp.example.com"
port = 465
security = "tls"

[domains."quiet.example"]

[[domains."quiet.example".imap]]
host = "imap.example.com"
port = 993
security = "tls"
"#;

async fn get(server: &TestServer, host: &str) -> reqwest::Response {
    reqwest::Client::new()
        .get(server.url("/.well-known/user-agent-configuration.json"))
        .header("Host", host)
        .send()
        .await
        .unwrap()
}

fn stdout(args: &[&str], config: &std::path::Path) -> String {
    let output = mxconf()
        .args(args)
        .arg("--config")
        .arg(config)
        .output()
        .unwrap();
    crate::support::cli::assert_success(&output);
    String::from_utf8(output.stdout).unwrap()
}

#[tokio::test]
async fn served_document_matches_render_schema_and_dns_digest() {
    let server = TestServer::start(support::config_from(CONFIG)).await;
    let response = get(&server, "ua-auto-config.example.com").await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["content-type"], "application/json");
    let body = response.bytes().await.unwrap();

    let document: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(
        document,
        json!({
            "protocols": {
                "imap": {"host": "imap.example.com"},
                "submit": {"host": "smtp.example.com"},
                "smtp": {"host": "smtp.example.com"},
                "jmap": {"url": "https://jmap.example.com/.well-known/jmap"},
                "caldav": {"url": "https://dav.example.com/caldav/"}
            },
            "authentication": {
                "password": true,
                "oauth-public": {"issuer": "https://login.example.com"}
            },
            "info": {
                "provider": {"name": "Example Mail", "shortName": "Example"},
                "help": {"documentation": "https://help.example.com/mail"}
            }
        })
    );
    support::validate_json_schema("docs/pacc.schema.json", &body);

    let (_dir, config) = temp_file("mxconf.toml", CONFIG);
    // The command line renders the very bytes the server serves.
    let rendered = mxconf()
        .args(["render", "pacc", "someone@example.com", "--config"])
        .arg(&config)
        .output()
        .unwrap();
    assert_eq!(rendered.stdout, body.as_ref());

    // The digest recomputed from the served body is the one `mxconf dns` says to publish.
    let digest = openssl::base64::encode_block(&openssl::sha::sha256(&body));
    let dns = stdout(&["dns", "example.com"], &config);
    let txt: Vec<&str> = dns
        .lines()
        .filter(|line| line.starts_with("_ua-auto-config.example.com."))
        .collect();
    assert_eq!(txt.len(), 1, "{dns}");
    assert!(
        txt[0].contains(&format!("TXT   \"v=UAAC1; a=sha256; d={digest}\"")),
        "{dns}"
    );
    assert!(
        dns.lines()
            .any(|line| line.starts_with("ua-auto-config.example.com.") && line.contains("CNAME")),
        "{dns}"
    );
    assert!(
        dns.contains(
            "must cover: autoconfig.example.com autodiscover.example.com ua-auto-config.example.com"
        ),
        "{dns}"
    );

    // A domain without `pacc = true` publishes neither document nor records.
    assert_eq!(
        get(&server, "ua-auto-config.quiet.example").await.status(),
        StatusCode::NOT_FOUND
    );
    let quiet = stdout(&["dns", "quiet.example"], &config);
    assert!(!quiet.contains("ua-auto-config"), "{quiet}");

    // HEAD gets the headers of the same answer, without the body.
    let head = reqwest::Client::new()
        .head(server.url("/.well-known/user-agent-configuration.json"))
        .header("Host", "ua-auto-config.example.com")
        .send()
        .await
        .unwrap();
    assert_eq!(head.status(), StatusCode::OK);
    assert_eq!(head.headers()["content-type"], "application/json");
}

#[test]
fn a_domain_with_nothing_to_publish_is_refused_at_load() {
    let (_dir, config) = temp_file(
        "mxconf.toml",
        r#"
[provider]
id = "example.com"
display-name = "Example Mail"
short-name = "Example"

[domains."example.com"]
pacc = true

[[domains."example.com".imap]]
host = "imap.example.com"
port = 143
security = "starttls"
"#,
    );
    let output = check_config(&config);
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("domain \"example.com\": pacc: nothing to publish"),
        "{stderr}"
    );
    let serve = mxconf()
        .args(["dns", "example.com", "--config"])
        .arg(&config)
        .output()
        .unwrap();
    assert!(!serve.status.success());
}

/// pim-discovery, when it is installed (CI installs it: `.ci/run`).
fn pim_discovery() -> Option<&'static str> {
    let installed = std::process::Command::new("pim-discovery")
        .arg("--version")
        .output()
        .is_ok_and(|output| output.status.success());
    if !installed {
        assert!(
            std::env::var_os("CI").is_none(),
            "pim-discovery is not installed, and CI must run the PACC client test \
             (cargo install io-pim-discovery --features cli)"
        );
        eprintln!("PACC client test: SKIPPED, pim-discovery is not installed");
        return None;
    }
    Some("pim-discovery")
}

/// A real PACC client (pim-discovery, which reads draft -02's field names) fetches the
/// document over HTTPS from `ua-auto-config.<domain>` and trusts it only because knot serves
/// the digest `mxconf dns` printed: it takes IMAP, submission (from -02's `smtp`, published
/// beside -03's `submit`), JMAP and CalDAV with both authentication methods from it, and
/// takes nothing from a domain whose published digest is another document's.
/// The same client's autoconfig reader (the one Himalaya uses) reads a v1.2 answer whose
/// extras sit outside the mail servers (`<oAuth2>`, calendar, file share) and refuses one
/// with a URL-based incoming server or a SASL mechanism (docs/protocols.md, "Unknown elements
/// are safe").
#[test]
fn pim_discovery_reads_pacc_with_its_digest_and_autoconfig_1_2() {
    use crate::support::deployment::{Knot, TestCa, Validity};
    let Some(pim) = pim_discovery() else {
        return;
    };
    let ca = TestCa::new();
    let names = [
        "ua-auto-config.example.com",
        "ua-auto-config.tampered.example",
        "autoconfig.example.com",
        "autoconfig.dav.example",
        "autoconfig.sasl.example",
        "autoconfig.ews.example",
    ];
    let (cert, key) = ca.issue("pacc", &names, Validity::Current);
    let text = format!(
        "{CONFIG}\n[domains.\"tampered.example\"]\npacc = true\n\
         [[domains.\"tampered.example\".imap]]\nhost = \"imap.tampered.example\"\n\
         port = 993\nsecurity = \"tls\"\n\n{V1_2_DOMAINS}\n\
         [tls]\n[[tls.certificate]]\ncert = {:?}\nkey = {:?}\n",
        cert.display().to_string(),
        key.display().to_string()
    );
    let (dir, config) = temp_file("mxconf.toml", &text);
    let zone = |domain: &str| -> String {
        stdout(&["dns", domain], &config)
            .lines()
            .filter(|line| !line.starts_with(';'))
            .collect::<Vec<_>>()
            .join("\n")
    };
    let example = zone("example.com");
    let digest_of = |zone: &str| -> String {
        zone.split("d=")
            .nth(1)
            .and_then(|rest| rest.split('"').next())
            .expect("mxconf dns prints the PACC digest")
            .to_owned()
    };
    // tampered.example's record carries example.com's digest: a valid record for other bytes.
    let tampered = zone("tampered.example");
    let tampered = tampered.replace(&digest_of(&tampered), &digest_of(&example));
    let knot_conf = Knot::configure(
        dir.path(),
        "127.0.0.1:53".parse().unwrap(),
        &[("example.com", example), ("tampered.example", tampered)],
    );
    let hosts = dir.path().join("hosts");
    std::fs::write(&hosts, format!("127.0.0.1 localhost {}\n", names.join(" "))).unwrap();
    let server = ["--server", "127.0.0.1:53"];
    let queries = serde_json::to_string(&[
        [&["email", "pacc", "jane@example.com"][..], &server].concat(),
        [&["calendar", "pacc", "example.com"][..], &server].concat(),
        [&["email", "pacc", "jane@tampered.example"][..], &server].concat(),
        [&["email", "autoconfig", "jane@dav.example"][..], &server].concat(),
        [&["email", "autoconfig", "jane@example.com"][..], &server].concat(),
        [&["email", "autoconfig", "jane@sasl.example"][..], &server].concat(),
        [&["email", "autoconfig", "jane@ews.example"][..], &server].concat(),
    ])
    .unwrap();
    let output = std::process::Command::new("unshare")
        .args(["--net", "--mount", "--", "python3"])
        .arg(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/clients/pacc_client.py"
        ))
        .arg(env!("CARGO_BIN_EXE_mxconf"))
        .arg(&config)
        .arg(&knot_conf)
        .arg(&hosts)
        .arg(pim)
        .arg(ca.ca_file())
        .arg(queries)
        .output()
        .expect("unshare and python3 run");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "PACC client harness failed: {stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let results: Value = serde_json::from_str(&stdout).expect("the harness prints JSON");
    let services = |result: &Value| -> Vec<(String, Value)> {
        result
            .as_array()
            .expect("a list of service configs")
            .iter()
            .map(|config| {
                (
                    config["service"].as_str().unwrap_or_default().to_owned(),
                    config["endpoint"].clone(),
                )
            })
            .collect()
    };
    let email = services(&results[0]);
    let kinds: Vec<&str> = email.iter().map(|(kind, _)| kind.as_str()).collect();
    assert_eq!(kinds, ["imap", "smtp", "jmap"], "{results:#}");
    assert!(
        email[0].1.to_string().contains("imap.example.com"),
        "{results:#}"
    );
    assert!(email[0].1.to_string().contains("993"), "{results:#}");
    assert!(
        email[1].1.to_string().contains("smtp.example.com"),
        "{results:#}"
    );
    assert!(email[1].1.to_string().contains("465"), "{results:#}");
    assert!(
        email[2]
            .1
            .to_string()
            .contains("https://jmap.example.com/.well-known/jmap"),
        "{results:#}"
    );
    let auth = results[0][0]["auth"].to_string();
    assert!(auth.contains("https://login.example.com"), "{results:#}");
    assert!(auth.to_lowercase().contains("password"), "{results:#}");
    // Its calendar services are CalDAV and JMAP.
    let calendar = services(&results[1]);
    let kinds: Vec<&str> = calendar.iter().map(|(kind, _)| kind.as_str()).collect();
    assert_eq!(kinds, ["jmap", "caldav"], "{results:#}");
    assert!(
        calendar[1]
            .1
            .to_string()
            .contains("https://dav.example.com/caldav/"),
        "{results:#}"
    );
    assert_eq!(results[2], serde_json::json!([]), "{results:#}");

    // Autoconfig v1.2 with OAuth2, a calendar and a file share: read, servers and all.
    let dav = services(&results[3]);
    let kinds: Vec<&str> = dav.iter().map(|(kind, _)| kind.as_str()).collect();
    assert_eq!(kinds, ["imap", "smtp"], "{results:#}");
    assert!(
        dav[0].1.to_string().contains("imap.dav.example"),
        "{results:#}"
    );
    // What it cannot parse refuses the whole document, and it finds nothing: an EWS server
    // (an unknown type), a SASL mechanism (an unknown authentication value), and a JMAP
    // server after the outgoing one (incomingServer elements not side by side).
    for (index, what) in [(4, "jmap"), (5, "sasl"), (6, "ews")] {
        assert_eq!(results[index], serde_json::json!([]), "{what}: {results:#}");
    }
}

/// Two domains whose v1.2 forms sit inside the server list (a SASL mechanism, an EWS server),
/// and one whose answer is v1.2 only through what sits outside the mail servers.
const V1_2_DOMAINS: &str = r#"
[[domains."sasl.example".imap]]
host = "imap.sasl.example"
port = 993
security = "tls"
sasl = ["SCRAM-SHA-256"]

[domains."ews.example"]
ews = "https://mail.ews.example/EWS/Exchange.asmx"

[[domains."ews.example".imap]]
host = "imap.ews.example"
port = 993
security = "tls"

[domains."dav.example"]
caldav = "https://dav.dav.example/"
webdav = "https://files.dav.example/"

[domains."dav.example".oauth2]
issuer = "login.dav.example"
scope = "IMAP SMTP offline_access"
auth-url = "https://login.dav.example/authorize"
token-url = "https://login.dav.example/token"

[[domains."dav.example".imap]]
host = "imap.dav.example"
port = 993
security = "tls"
authentication = ["oauth2", "password-cleartext"]

[[domains."dav.example".smtp]]
host = "smtp.dav.example"
port = 465
security = "tls"
authentication = ["oauth2", "password-cleartext"]
"#;
