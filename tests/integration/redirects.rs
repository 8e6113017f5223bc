//! Autodiscover redirects over real HTTP: a domain alias (`redirect-to-domain`) and a domain
//! served by another Autodiscover server (`autodiscover-redirect-url`). POX bodies are checked
//! field by field, MobileSync ones with xmllint against [MS-ASCMD]'s XSD, Outlook ones with
//! exchangelib 4.9's reader; autoconfig/v2 JSON answer with the target's settings or 404;
//! `mxconf check-config` names file:line:field for every refused redirect.

use reqwest::StatusCode;
use reqwest::header::HOST;

use crate::support::{self, TestServer, validate_autoconfig, validate_autodiscover};

use crate::support::pox::{PATH as POX, pox};

const OUTLOOK_SCHEMA: &str =
    "http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a";
const MOBILESYNC_SCHEMA: &str =
    "http://schemas.microsoft.com/exchange/autodiscover/mobilesync/responseschema/2006";
const ELSEWHERE: &str = "https://autodiscover.other.example/autodiscover/autodiscover.xml";

/// `example.com` serves settings; `old.example` and `*.legacy.example` are aliases of it;
/// `hosted.example` lives on another Autodiscover server.
fn config_text() -> String {
    format!(
        "[provider]\nid = \"example.com\"\ndisplay-name = \"Example Mail\"\nshort-name = \"Example\"\n\
         [[domains.\"example.com\".imap]]\nhost = \"imap.example.com\"\nport = 993\nsecurity = \"tls\"\n\
         [[domains.\"example.com\".smtp]]\nhost = \"smtp.example.com\"\nport = 465\nsecurity = \"tls\"\n\
         [domains.\"example.com\"]\nactivesync = \"https://mail.example.com/Microsoft-Server-ActiveSync\"\n\
         [domains.\"old.example\"]\nredirect-to-domain = \"example.com\"\n\
         [domains.\"*.legacy.example\"]\nredirect-to-domain = \"example.com\"\n\
         [domains.\"hosted.example\"]\nautodiscover-redirect-url = \"{ELSEWHERE}\"\n"
    )
}

async fn server() -> TestServer {
    TestServer::start(support::config_from(&config_text())).await
}

/// The children of the element `parent` (namespace `ns`) as (name, text) pairs.
fn children(body: &str, ns: &str, parent: &str) -> Vec<(String, String)> {
    let doc = roxmltree::Document::parse(body).unwrap();
    let node = doc
        .descendants()
        .find(|n| n.has_tag_name((ns, parent)))
        .unwrap_or_else(|| panic!("no {parent} in {body}"));
    node.children()
        .filter(roxmltree::Node::is_element)
        .map(|c| {
            let text = c.text().unwrap_or_default().to_owned();
            (c.tag_name().name().to_owned(), text)
        })
        .collect()
}

fn pairs(expected: &[(&str, &str)]) -> Vec<(String, String)> {
    expected
        .iter()
        .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
        .collect()
}

async fn get(server: &TestServer, path: &str) -> (StatusCode, Vec<u8>) {
    let response = reqwest::get(server.url(path)).await.unwrap();
    let status = response.status();
    (status, response.bytes().await.unwrap().to_vec())
}

#[tokio::test]
async fn outlook_redirect_addr_for_an_alias_keeps_the_local_part() {
    let server = server().await;
    for (asked, moved) in [
        ("Jane.Doe@OLD.example", "Jane.Doe@example.com"),
        ("bob@x.y.legacy.example", "bob@example.com"),
    ] {
        let body = pox(&server, asked, OUTLOOK_SCHEMA).await;
        assert_eq!(
            children(&body, OUTLOOK_SCHEMA, "Account"),
            pairs(&[
                ("AccountType", "email"),
                ("Action", "redirectAddr"),
                ("RedirectAddr", moved),
            ]),
            "{asked}"
        );
    }
    // The target itself answers with settings: one hop, as validated at load.
    let target = pox(&server, "Jane.Doe@example.com", OUTLOOK_SCHEMA).await;
    assert!(
        children(&target, OUTLOOK_SCHEMA, "Account")
            .contains(&("Action".to_owned(), "settings".to_owned()))
    );
}

#[tokio::test]
async fn outlook_redirect_url_for_a_domain_served_elsewhere() {
    let server = server().await;
    let body = pox(&server, "jane@hosted.example", OUTLOOK_SCHEMA).await;
    assert_eq!(
        children(&body, OUTLOOK_SCHEMA, "Account"),
        pairs(&[
            ("AccountType", "email"),
            ("Action", "redirectUrl"),
            ("RedirectUrl", ELSEWHERE),
        ])
    );
    assert!(!body.contains("jane"), "the address is not echoed: {body}");
    // Delta Chat's GET (no address, domain from Host) follows RedirectUrl too.
    let response = reqwest::Client::new()
        .get(server.url(POX))
        .header(HOST, "autodiscover.hosted.example")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.text().await.unwrap(), body);
    // An alias's GET answers with the target's domain-level settings.
    let response = reqwest::Client::new()
        .get(server.url(POX))
        .header(HOST, "autodiscover.old.example")
        .send()
        .await
        .unwrap();
    let text = response.text().await.unwrap();
    let account = children(&text, OUTLOOK_SCHEMA, "Account");
    assert_eq!(account[1], ("Action".to_owned(), "settings".to_owned()));
    assert!(text.contains("<Server>imap.example.com</Server>"), "{text}");
}

#[tokio::test]
async fn mobilesync_redirect_validates_against_the_xsd() {
    let server = server().await;
    let body = pox(&server, "Jane.Doe@old.example", MOBILESYNC_SCHEMA).await;
    validate_autodiscover(body.as_bytes());
    assert_eq!(
        children(&body, MOBILESYNC_SCHEMA, "Action"),
        pairs(&[("Redirect", "Jane.Doe@example.com")])
    );
    // No URL redirect in the MobileSync schema: 601, as for any domain without MobileSync here.
    let body = pox(&server, "jane@hosted.example", MOBILESYNC_SCHEMA).await;
    validate_autodiscover(body.as_bytes());
    let doc = roxmltree::Document::parse(&body).unwrap();
    let code = doc
        .descendants()
        .find(|n| n.has_tag_name("ErrorCode"))
        .and_then(|n| n.text());
    assert_eq!(code, Some("601"));
}

#[tokio::test]
async fn autoconfig_and_json_answer_an_alias_with_the_target_settings() {
    let server = server().await;
    let (status, alias) = get(
        &server,
        "/mail/config-v1.1.xml?emailaddress=jane%40old.example",
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    validate_autoconfig(&alias);
    let (_, target) = get(
        &server,
        "/mail/config-v1.1.xml?emailaddress=jane%40example.com",
    )
    .await;
    assert_eq!(
        String::from_utf8(alias).unwrap(),
        String::from_utf8(target).unwrap()
    );

    let json = "/autodiscover/autodiscover.json/v1.0/jane@old.example?Protocol=ActiveSync";
    let (status, body) = get(&server, json).await;
    assert_eq!(status, StatusCode::OK);
    let value: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(
        value,
        serde_json::json!({"Protocol": "ActiveSync", "Url": "https://mail.example.com/Microsoft-Server-ActiveSync"})
    );
}

#[tokio::test]
async fn autoconfig_and_json_activesync_for_a_domain_served_elsewhere_are_404() {
    let server = server().await;
    for path in [
        "/mail/config-v1.1.xml?emailaddress=jane%40hosted.example",
        "/v1.1/hosted.example",
    ] {
        let (status, body) = get(&server, path).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}");
        assert!(!String::from_utf8_lossy(&body).contains("other.example"));
    }
    let path = "/autodiscover/autodiscover.json/v1.0/jane@hosted.example?Protocol=ActiveSync";
    let (status, body) = get(&server, path).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let value: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(value["ErrorCode"], "InvalidDomain");
}

#[tokio::test]
async fn json_autodiscover_v1_names_the_pox_endpoint_that_answers() {
    let server = server().await;
    let v1 = |email: &str| {
        format!("/autodiscover/autodiscover.json?Email={email}&Protocol=AutodiscoverV1")
    };
    let (status, body) = get(&server, &v1("jane%40hosted.example")).await;
    assert_eq!(status, StatusCode::OK);
    let value: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(
        value,
        serde_json::json!({"Protocol": "AutodiscoverV1", "Url": ELSEWHERE})
    );
    // An alias's POX answer (the redirectAddr) is here.
    let (status, body) = get(&server, &v1("jane%40old.example")).await;
    assert_eq!(status, StatusCode::OK);
    let value: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(value["Url"], server.url(POX));
}

#[tokio::test]
async fn exchangelib_reads_the_redirects() {
    // exchangelib 4.9 looks for `RedirectURL` (not Microsoft's `RedirectUrl`, which we emit:
    // docs/protocols.md, "Redirect element names"), so only the action is asserted for the URL
    // form.
    let server = server().await;
    let addr = pox(&server, "jane@old.example", OUTLOOK_SCHEMA).await;
    let url = pox(&server, "jane@hosted.example", OUTLOOK_SCHEMA).await;
    let script = r#"
import json, sys
from exchangelib.autodiscover.properties import Autodiscover
out = []
for path in sys.argv[1:]:
    ad = Autodiscover.from_bytes(open(path, "rb").read())
    ad.raise_errors()
    r = ad.response
    out.append({"action": r.account.action, "redirect_address": r.redirect_address})
print(json.dumps(out))
"#;
    let parsed = crate::support::exchangelib::run(script, &[&addr, &url]);
    assert_eq!(parsed[0]["action"], "redirectAddr");
    assert_eq!(parsed[0]["redirect_address"], "jane@example.com");
    assert_eq!(parsed[1]["action"], "redirectUrl");
}

#[test]
fn render_cli_prints_the_server_redirects() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("mxconf.toml");
    std::fs::write(&path, config_text()).unwrap();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let server = runtime.block_on(server());
    for (protocol, schema, email) in [
        ("outlook", OUTLOOK_SCHEMA, "jane@old.example"),
        ("outlook", OUTLOOK_SCHEMA, "jane@hosted.example"),
        ("mobilesync", MOBILESYNC_SCHEMA, "jane@old.example"),
    ] {
        let cli = assert_cmd::Command::cargo_bin("mxconf")
            .unwrap()
            .args(["render", protocol, email, "--config"])
            .arg(&path)
            .output()
            .unwrap();
        assert!(cli.status.success(), "{protocol} {email}");
        let served = runtime.block_on(pox(&server, email, schema));
        assert_eq!(
            String::from_utf8(cli.stdout).unwrap(),
            served,
            "{protocol} {email}"
        );
    }
}

#[test]
fn check_config_names_file_line_and_field_for_bad_redirects() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("mxconf.toml");
    let text = "[provider]\nid = \"example.com\"\ndisplay-name = \"E\"\nshort-name = \"E\"\n\
        [domains.\"example.com\"]\nactivesync = \"https://mail.example.com/Microsoft-Server-ActiveSync\"\n\
        [domains.\"a.example\"]\nredirect-to-domain = \"nowhere.example\"\n\
        [domains.\"b.example\"]\nredirect-to-domain = \"c.example\"\n\
        [domains.\"c.example\"]\nredirect-to-domain = \"b.example\"\n\
        [domains.\"d.example\"]\nredirect-to-domain = \"example.com\"\nautodiscover-redirect-url = \"https://x.example/\"\n\
        [domains.\"e.example\"]\nautodiscover-redirect-url = \"http://x.example/autodiscover/autodiscover.xml\"\n";
    std::fs::write(&path, text).unwrap();
    let output = assert_cmd::Command::cargo_bin("mxconf")
        .unwrap()
        .args(["check-config", "--config"])
        .arg(&path)
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8(output.stderr).unwrap();
    let file = path.display();
    for expected in [
        format!(
            "{file}:8: domain \"a.example\": redirect-to-domain: \"nowhere.example\" is not a domain this config serves"
        ),
        format!(
            "{file}:10: domain \"b.example\": redirect-to-domain: redirect loop: b.example → c.example → b.example"
        ),
        format!(
            "{file}:12: domain \"c.example\": redirect-to-domain: redirect loop: c.example → b.example → c.example"
        ),
        format!(
            "{file}:15: domain \"d.example\": autodiscover-redirect-url: set either redirect-to-domain or autodiscover-redirect-url, not both"
        ),
        format!(
            "{file}:17: domain \"e.example\": autodiscover-redirect-url: \"http://x.example/autodiscover/autodiscover.xml\" is not an https:// URL"
        ),
    ] {
        assert!(
            stderr.contains(&expected),
            "missing {expected:?} in:\n{stderr}"
        );
    }
}

#[tokio::test]
async fn profiles_for_an_alias_configure_the_moved_address() {
    let server = server().await;
    let (status, alias) = get(&server, "/mobileconfig?emailaddress=jane%40old.example").await;
    assert_eq!(status, StatusCode::OK);
    // No [signing] table here: the plist is served as is.
    let plist = String::from_utf8(alias).unwrap();
    assert!(
        plist.contains("<string>jane@example.com</string>"),
        "{plist}"
    );
    assert!(!plist.contains("old.example"), "{plist}");
    let (status, _) = get(&server, "/mobileconfig?emailaddress=jane%40hosted.example").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[test]
fn dns_gives_an_alias_its_records_and_explains_a_domain_served_elsewhere() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("mxconf.toml");
    std::fs::write(&path, config_text()).unwrap();
    let dns = |domain: &str| {
        assert_cmd::Command::cargo_bin("mxconf")
            .unwrap()
            .args(["dns", domain, "--config"])
            .arg(&path)
            .output()
            .unwrap()
    };
    let alias = dns("old.example");
    assert!(alias.status.success());
    let records = String::from_utf8(alias.stdout).unwrap();
    assert!(
        records.contains("_imaps._tcp.old.example.") && records.contains("imap.example.com."),
        "{records}"
    );
    let elsewhere = dns("hosted.example");
    assert!(!elsewhere.status.success());
    let message = String::from_utf8(elsewhere.stderr).unwrap();
    assert!(message.contains(ELSEWHERE), "{message}");
    assert!(!message.contains("not configured"), "{message}");
}
