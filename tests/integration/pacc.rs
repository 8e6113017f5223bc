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
