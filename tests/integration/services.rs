//! The v1.2 services over real HTTP: JMAP, EWS, ActiveSync, CalDAV/CardDAV and WebDAV, the
//! `[oauth2]` server and SASL recommendations, each in every answer that can express it.
//! Autoconfig answers are checked with xmllint against the draft's RELAX NG schema; the POX
//! EWS entry is read by exchangelib (pip `exchangelib==4.9.0`), as the EWS client it is.

use reqwest::StatusCode;
use serde_json::Value;

use crate::support::cli::mxconf;
use crate::support::{self, TestServer, validate_autoconfig};

/// A domain offering every service this release knows, with an OAuth2 server and SASL.
pub const CONFIG: &str = r#"
[provider]
id = "example.com"
display-name = "Example Mail"
short-name = "Example"

[domains."example.com"]
jmap = "https://jmap.example.com/.well-known/jmap"
ews = "https://mail.example.com/EWS/Exchange.asmx"
activesync = "https://mail.example.com/Microsoft-Server-ActiveSync"
caldav = "https://dav.example.com/"
carddav = "https://dav.example.com/"
webdav = "https://files.example.com/%EMAILLOCALPART%/"

[domains."example.com".oauth2]
issuer = "login.example.com"
scope = "IMAP SMTP CalDAV CardDAV WebDAV offline_access"
auth-url = "https://login.example.com/authorize"
token-url = "https://login.example.com/token"

[[domains."example.com".imap]]
host = "imap.example.com"
port = 993
security = "tls"
sasl = ["SCRAM-SHA-256-PLUS", "SCRAM-SHA-256"]
authentication = ["oauth2", "password-cleartext"]

[[domains."example.com".smtp]]
host = "smtp.example.com"
port = 465
security = "tls"
sasl = ["SCRAM-SHA-256"]
"#;

async fn server() -> TestServer {
    TestServer::start(support::config_from(CONFIG)).await
}

async fn get(server: &TestServer, path: &str) -> (StatusCode, String) {
    let response = reqwest::get(server.url(path)).await.unwrap();
    (response.status(), response.text().await.unwrap())
}

/// `(element, type, url, [authentication as system:value])` of every section, in order.
fn sections(body: &str) -> Vec<(String, String, String, Vec<String>)> {
    let doc = roxmltree::Document::parse(body).unwrap();
    doc.descendants()
        .filter(|n| n.attribute("type").is_some())
        .map(|n| {
            let text = |c: roxmltree::Node<'_, '_>| c.text().unwrap_or_default().to_owned();
            let url = n.children().find(|c| c.has_tag_name("url")).map(text);
            let auth = n
                .children()
                .filter(|c| c.has_tag_name("authentication"))
                .map(|c| match c.attribute("system") {
                    Some(system) => format!("{system}:{}", text(c)),
                    None => text(c),
                })
                .collect();
            (
                n.tag_name().name().to_owned(),
                n.attribute("type").unwrap_or_default().to_owned(),
                url.unwrap_or_default(),
                auth,
            )
        })
        .collect()
}

#[tokio::test]
async fn autoconfig_renders_every_service_valid_against_the_schema() {
    let server = server().await;
    let (status, body) = get(
        &server,
        "/mail/config-v1.1.xml?emailaddress=jane@example.com",
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    validate_autoconfig(body.as_bytes());
    let doc = roxmltree::Document::parse(&body).unwrap();
    assert_eq!(doc.root_element().attribute("version"), Some("1.2"));
    let s = |element: &str, kind: &str, url: &str, auth: &[&str]| {
        (
            element.to_owned(),
            kind.to_owned(),
            url.to_owned(),
            auth.iter().map(|a| (*a).to_owned()).collect::<Vec<_>>(),
        )
    };
    let web = ["OAuth2", "http:Basic"];
    assert_eq!(
        sections(&body),
        [
            s(
                "incomingServer",
                "imap",
                "",
                &[
                    "sasl:SCRAM-SHA-256-PLUS",
                    "sasl:SCRAM-SHA-256",
                    "OAuth2",
                    "password-cleartext"
                ]
            ),
            s(
                "outgoingServer",
                "smtp",
                "",
                &["sasl:SCRAM-SHA-256", "password-cleartext"]
            ),
            s(
                "incomingServer",
                "jmap",
                "https://jmap.example.com/.well-known/jmap",
                &web
            ),
            s(
                "incomingServer",
                "ews",
                "https://mail.example.com/EWS/Exchange.asmx",
                &["OAuth2", "http:Basic", "password-cleartext"]
            ),
            s(
                "incomingServer",
                "activeSync",
                "https://mail.example.com/Microsoft-Server-ActiveSync",
                &web
            ),
            s("addressbook", "carddav", "https://dav.example.com/", &web),
            s("calendar", "caldav", "https://dav.example.com/", &web),
            // The placeholder is expanded for the address asked about.
            s(
                "fileShare",
                "webdav",
                "https://files.example.com/jane/",
                &web
            ),
        ]
    );
    let oauth2 = doc
        .descendants()
        .find(|n| n.has_tag_name("oAuth2"))
        .unwrap();
    let field = |name: &str| {
        oauth2
            .children()
            .find(|c| c.has_tag_name(name))
            .and_then(|c| c.text())
    };
    assert_eq!(field("clientID"), Some("open"));
    assert_eq!(field("tokenURL"), Some("https://login.example.com/token"));
    assert_eq!(field("clientSecret"), None);

    // Domain-level (no address): the per-user WebDAV URL cannot be built and is left out.
    let (status, body) = get(&server, "/v1.1/example.com").await;
    assert_eq!(status, StatusCode::OK);
    validate_autoconfig(body.as_bytes());
    assert!(sections(&body).iter().all(|s| s.0 != "fileShare"), "{body}");
}

#[tokio::test]
async fn autodiscover_v2_answers_ews_and_pox_names_the_ews_url() {
    let server = server().await;
    let (status, body) = get(
        &server,
        "/autodiscover/autodiscover.json/v1.0/jane@example.com?Protocol=ews",
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let value: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        value,
        serde_json::json!({"Protocol": "Ews", "Url": "https://mail.example.com/EWS/Exchange.asmx"})
    );
    // JMAP has no v2 protocol name: still InvalidProtocol.
    let (status, body) = get(
        &server,
        "/autodiscover/autodiscover.json/v1.0/jane@example.com?Protocol=Jmap",
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(body.contains("InvalidProtocol"), "{body}");
    // A domain without EWS: the protocol is known, the service is not offered.
    let demo = TestServer::start(support::demo_config()).await;
    let (status, body) = get(
        &demo,
        "/autodiscover/autodiscover.json/v1.0/jane@example.com?Protocol=Ews",
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(body.contains("ProtocolNotAvailable"), "{body}");

    let pox = reqwest::Client::new()
        .post(server.url("/autodiscover/autodiscover.xml"))
        .body(
            "<Autodiscover xmlns=\"http://schemas.microsoft.com/exchange/autodiscover/outlook/requestschema/2006\">\
             <Request><EMailAddress>jane@example.com</EMailAddress><AcceptableResponseSchema>\
             http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a\
             </AcceptableResponseSchema></Request></Autodiscover>",
        )
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let script = r#"
import json, sys
from exchangelib.autodiscover.properties import Autodiscover
ad = Autodiscover.from_bytes(open(sys.argv[1], "rb").read())
ad.raise_errors()
r = ad.response
print(json.dumps({"ews": r.protocol.ews_url, "types": [p.type for p in r.account.protocols]}))
"#;
    let parsed = crate::support::exchangelib::run(script, &[&pox]);
    assert_eq!(parsed["ews"], "https://mail.example.com/EWS/Exchange.asmx");
    assert_eq!(
        parsed["types"],
        serde_json::json!(["IMAP", "SMTP", "EXPR", "CalDAV", "CardDAV"])
    );
}

fn run(args: &[&str]) -> std::process::Output {
    mxconf().args(args).output().unwrap()
}

#[test]
fn render_prints_every_new_form() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("mxconf.toml");
    std::fs::write(&path, CONFIG).unwrap();
    let config = path.to_str().unwrap();
    let output = run(&["render", "json-ews", "jane@example.com", "--config", config]);
    assert!(output.status.success());
    assert!(String::from_utf8_lossy(&output.stdout).contains("EWS/Exchange.asmx"));
    let output = run(&[
        "render",
        "autoconfig",
        "jane@example.com",
        "--config",
        config,
    ]);
    assert!(output.status.success());
    validate_autoconfig(&output.stdout);
    let body = String::from_utf8_lossy(&output.stdout);
    for form in [
        "type=\"jmap\"",
        "type=\"ews\"",
        "type=\"activeSync\"",
        "<fileShare type=\"webdav\">",
        "<authentication system=\"sasl\">SCRAM-SHA-256-PLUS</authentication>",
        "<clientID>open</clientID>",
    ] {
        assert!(body.contains(form), "{form} missing:\n{body}");
    }
    let output = run(&["render", "outlook", "jane@example.com", "--config", config]);
    assert!(String::from_utf8_lossy(&output.stdout).contains("<EwsUrl>"));
}
