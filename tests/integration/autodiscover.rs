//! Microsoft Autodiscover over real HTTP: POX (Outlook and MobileSync) and v2 JSON. Answers
//! are compared with `tests/fixtures/autodiscover/examples`, validated with xmllint against
//! [MS-ASCMD]'s XSD (MobileSync, errors) and parsed by exchangelib 4.9's POX reader; every
//! rule of docs/protocols.md, "Microsoft Autodiscover", and every bad input has a test here.

use reqwest::StatusCode;
use reqwest::header::{CONTENT_TYPE, HOST};

use crate::support::{self, TestServer, fixtures, raw_http, validate_autodiscover};

use crate::support::pox::{OUTLOOK_REQUEST_NS, PATH as POX, post, pox, request_body};

const OUTLOOK_SCHEMA: &str =
    "http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a";
const MOBILESYNC_SCHEMA: &str =
    "http://schemas.microsoft.com/exchange/autodiscover/mobilesync/responseschema/2006";

async fn demo() -> TestServer {
    TestServer::start(support::demo_config()).await
}

fn client() -> reqwest::Client {
    reqwest::Client::new()
}

fn example(name: &str) -> String {
    std::fs::read_to_string(fixtures().join("autodiscover/examples").join(name)).unwrap()
}

/// Each `Protocol` as (child, text) pairs.
fn protocols(body: &str) -> Vec<Vec<(String, String)>> {
    let doc = roxmltree::Document::parse(body).unwrap();
    doc.descendants()
        .filter(|n| n.has_tag_name((OUTLOOK_SCHEMA, "Protocol")))
        .map(|p| {
            p.children()
                .filter(roxmltree::Node::is_element)
                .map(|c| {
                    (
                        c.tag_name().name().to_owned(),
                        c.text().unwrap_or_default().to_owned(),
                    )
                })
                .collect()
        })
        .collect()
}

fn field<'a>(protocol: &'a [(String, String)], name: &str) -> Option<&'a str> {
    protocol
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.as_str())
}

fn error_code(body: &str) -> Option<String> {
    let doc = roxmltree::Document::parse(body).unwrap();
    doc.descendants()
        .find(|n| n.has_tag_name("ErrorCode"))
        .and_then(|n| n.text().map(str::to_owned))
}

/// The config of `outlook-response-imap-smtp.xml`: IMAP 993 TLS, SMTP 587 STARTTLS.
fn example_config() -> mxconf::config::Config {
    support::config_from(
        "[provider]\nid = \"example.com\"\ndisplay-name = \"Example Mail\"\nshort-name = \"Example\"\n\
         [[domains.\"example.com\".imap]]\nhost = \"imap.example.com\"\nport = 993\nsecurity = \"tls\"\n\
         [[domains.\"example.com\".smtp]]\nhost = \"smtp.example.com\"\nport = 587\nsecurity = \"starttls\"\n",
    )
}

#[tokio::test]
async fn outlook_answer_matches_the_spec_example() {
    let server = TestServer::start(example_config()).await;
    let ours = post(&server, POX, example("outlook-request.xml")).await;
    let theirs = example("outlook-response-imap-smtp.xml");
    let (ours, theirs) = (protocols(&ours), protocols(&theirs));
    assert_eq!(ours.len(), theirs.len());
    for (mine, example) in ours.iter().zip(&theirs) {
        // Every field the example has, with its value; we add SSL/Encryption (docs/protocols.md,
        // "Outlook SSL on").
        for (name, value) in example {
            assert_eq!(
                field(mine, name),
                Some(value.as_str()),
                "{name} in {mine:?}"
            );
        }
        let extra: Vec<_> = mine
            .iter()
            .filter(|(n, _)| field(example, n).is_none())
            .map(|(n, v)| (n.as_str(), v.as_str()))
            .collect();
        let expected: &[(&str, &str)] = match field(mine, "Type") {
            Some("IMAP") => &[("Encryption", "SSL")],
            _ => &[("SSL", "on")],
        };
        assert_eq!(extra, expected);
    }
}

#[tokio::test]
async fn outlook_ssl_on_for_starttls() {
    // Thunderbird and Delta Chat read `SSL off` as plain text; Outlook reads Encryption to tell
    // STARTTLS (TLS) from implicit TLS (SSL): docs/protocols.md, "Outlook SSL on".
    let server = demo().await;
    let body = pox(&server, "jane@example.com", OUTLOOK_SCHEMA).await;
    let entries = protocols(&body);
    let mail: Vec<_> = entries
        .iter()
        .filter(|p| matches!(field(p, "Type"), Some("IMAP" | "POP3" | "SMTP")))
        .map(|p| {
            (
                field(p, "Port").unwrap(),
                field(p, "SSL").unwrap(),
                field(p, "Encryption").unwrap(),
            )
        })
        .collect();
    assert_eq!(
        mail,
        [
            ("993", "on", "SSL"),
            ("143", "on", "TLS"),
            ("995", "on", "SSL"),
            ("465", "on", "SSL"),
            ("587", "on", "TLS"),
        ]
    );
}

#[tokio::test]
async fn outlook_spa_off_authrequired_and_login_name() {
    let server = demo().await;
    let body = pox(&server, "Jane@Example.COM", OUTLOOK_SCHEMA).await;
    for entry in protocols(&body) {
        assert_eq!(field(&entry, "DomainRequired"), Some("off"));
        assert_eq!(field(&entry, "LoginName"), Some("Jane@example.com"));
        if field(&entry, "Port").is_some() {
            // Outlook assumes SPA on unless told (docs/protocols.md, "SPA off").
            assert_eq!(field(&entry, "SPA"), Some("off"));
            assert_eq!(field(&entry, "AuthRequired"), Some("on"));
        }
    }
}

#[tokio::test]
async fn outlook_dav_entries_as_em_client_reads_them() {
    let server = demo().await;
    let body = pox(&server, "jane@example.com", OUTLOOK_SCHEMA).await;
    let dav: Vec<_> = protocols(&body)
        .into_iter()
        .filter(|p| matches!(field(p, "Type"), Some("CalDAV" | "CardDAV")))
        .map(|p| {
            (
                field(&p, "Type").unwrap().to_owned(),
                field(&p, "Server").unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(
        dav,
        [
            ("CalDAV".to_owned(), "https://dav.example.com/".to_owned()),
            ("CardDAV".to_owned(), "https://dav.example.com/".to_owned()),
        ]
    );
}

#[tokio::test]
async fn exchangelib_parses_the_outlook_answer() {
    // exchangelib 4.9's POX reader as an independent client.
    // Needs `pip install exchangelib==4.9.0` (EXCHANGELIB_PYTHON may name another interpreter).
    let server = demo().await;
    let settings = pox(&server, "jane@example.com", OUTLOOK_SCHEMA).await;
    let unknown = pox(&server, "jane@example.net", OUTLOOK_SCHEMA).await;
    let invalid = post(&server, POX, "garbage").await;
    let script = r#"
import json, sys
from exchangelib.autodiscover.properties import Autodiscover
out = []
for path in sys.argv[1:]:
    ad = Autodiscover.from_bytes(open(path, "rb").read())
    try:
        ad.raise_errors()
        r = ad.response
        out.append({"action": r.account.action, "smtp": r.autodiscover_smtp_address,
                    "protocols": [[p.type, p.server, p.port, p.ssl, p.spa, p.auth_required, p.login_name]
                                  for p in r.account.protocols]})
    except Exception as e:
        out.append({"error": type(e).__name__, "message": str(e)})
print(json.dumps(out))
"#;
    let parsed = crate::support::exchangelib::run(script, &[&settings, &unknown, &invalid]);
    assert_eq!(parsed[0]["action"], "settings");
    assert_eq!(parsed[0]["smtp"], "jane@example.com");
    assert_eq!(
        parsed[0]["protocols"][0],
        serde_json::json!([
            "IMAP",
            "imap.example.com",
            993,
            true,
            false,
            true,
            "jane@example.com"
        ])
    );
    assert_eq!(
        parsed[0]["protocols"][1],
        serde_json::json!([
            "IMAP",
            "imap.example.com",
            143,
            true,
            false,
            true,
            "jane@example.com"
        ])
    );
    assert_eq!(parsed[1]["error"], "ErrorNonExistentMailbox");
    assert_eq!(parsed[2]["error"], "AutoDiscoverFailed");
    assert_eq!(parsed[2]["message"], "Unknown error 600: Invalid Request");
}

#[tokio::test]
async fn mobilesync_answer_validates_and_matches_the_example() {
    let server = demo().await;
    let body = post(&server, POX, example("mobilesync-request.xml")).await;
    validate_autodiscover(body.as_bytes());
    let leaves = |text: &str| -> Vec<(String, String)> {
        let doc = roxmltree::Document::parse(text).unwrap();
        doc.descendants()
            .filter(|n| n.is_element() && !n.children().any(|c| c.is_element()))
            .filter(|n| !n.has_tag_name("DisplayName"))
            .map(|n| {
                (
                    n.tag_name().name().to_owned(),
                    n.text().unwrap_or_default().trim().to_owned(),
                )
            })
            .collect()
    };
    assert_eq!(leaves(&body), leaves(&example("mobilesync-response.xml")));
}

#[tokio::test]
async fn mobilesync_without_activesync_is_error_601() {
    let server = TestServer::start(example_config()).await;
    let body = pox(&server, "jane@example.com", MOBILESYNC_SCHEMA).await;
    validate_autodiscover(body.as_bytes());
    assert_eq!(error_code(&body).as_deref(), Some("601"));
}

#[tokio::test]
async fn unknown_domain_gets_an_error_document_never_other_settings() {
    let server = demo().await;
    let outlook = pox(&server, "jane@example.net", OUTLOOK_SCHEMA).await;
    validate_autodiscover(outlook.as_bytes());
    assert_eq!(error_code(&outlook).as_deref(), Some("500"));
    let mobile = pox(&server, "jane@example.net", MOBILESYNC_SCHEMA).await;
    validate_autodiscover(mobile.as_bytes());
    assert_eq!(error_code(&mobile).as_deref(), Some("601"));
    for body in [outlook, mobile] {
        assert!(
            !body.contains("example.com") && !body.contains("example.net"),
            "{body}"
        );
    }
}

#[tokio::test]
async fn missing_garbled_and_unknown_requests_are_error_600() {
    let server = demo().await;
    let unknown_schema = request_body("jane@example.com", "http://example.com/unknown");
    let bad_address = request_body("<![CDATA[<script>]]>@example.com", OUTLOOK_SCHEMA);
    let no_address = request_body("", OUTLOOK_SCHEMA);
    let long = request_body(&format!("{}@example.com", "a".repeat(1024)), OUTLOOK_SCHEMA);
    for body in [
        "",
        "garbage",
        "<x/>",
        "<Autodiscover><Request/></Autodiscover>",
        "\u{0}\u{1}binary",
        unknown_schema.as_str(),
        bad_address.as_str(),
        no_address.as_str(),
        long.as_str(),
    ] {
        let answer = post(&server, POX, body.to_owned()).await;
        validate_autodiscover(answer.as_bytes());
        assert_eq!(error_code(&answer).as_deref(), Some("600"), "{body:?}");
        assert!(
            !answer.contains("script") && !answer.contains("aaaa"),
            "{answer}"
        );
    }
}

#[tokio::test]
async fn xxe_is_refused_without_reading_files() {
    let server = demo().await;
    let xxe = format!(
        "<?xml version=\"1.0\"?>\n<!DOCTYPE Autodiscover [<!ENTITY xxe SYSTEM \"file:///etc/passwd\">]>\n{}",
        request_body("&xxe;", OUTLOOK_SCHEMA)
            .split_once('\n')
            .unwrap()
            .1
    );
    let answer = post(&server, POX, xxe).await;
    assert_eq!(error_code(&answer).as_deref(), Some("600"));
    assert!(!answer.contains("root:"), "{answer}");
}

#[tokio::test]
async fn billion_laughs_is_refused_quickly() {
    let server = demo().await;
    let mut entities = String::from("<!ENTITY l0 \"lol\">");
    for i in 1..10 {
        let prev = format!("&l{};", i - 1).repeat(10);
        entities.push_str(&format!("<!ENTITY l{i} \"{prev}\">"));
    }
    let bomb = format!(
        "<?xml version=\"1.0\"?><!DOCTYPE lolz [{entities}]><Autodiscover xmlns=\"{OUTLOOK_REQUEST_NS}\">\
         <Request><EMailAddress>&l9;</EMailAddress></Request></Autodiscover>"
    );
    let started = std::time::Instant::now();
    let answer = post(&server, POX, bomb).await;
    assert_eq!(error_code(&answer).as_deref(), Some("600"));
    assert!(started.elapsed() < std::time::Duration::from_secs(2));
}

#[tokio::test]
async fn oversized_bodies_are_413() {
    let server = demo().await;
    let big = format!(
        "{}{}",
        request_body("jane@example.com", OUTLOOK_SCHEMA),
        " ".repeat(64 * 1024)
    );
    let response = client()
        .post(server.url(POX))
        .body(big.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(response.text().await.unwrap(), "request body too large\n");
    // Chunked, without a Content-Length to refuse up front.
    let mut request = format!(
        "POST {POX} HTTP/1.1\r\nHost: example.com\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
    )
    .into_bytes();
    for chunk in big.as_bytes().chunks(8192) {
        request.extend_from_slice(format!("{:x}\r\n", chunk.len()).as_bytes());
        request.extend_from_slice(chunk);
        request.extend_from_slice(b"\r\n");
    }
    request.extend_from_slice(b"0\r\n\r\n");
    let raw = raw_http(server.addr, &request).await;
    assert_eq!(raw.status, 413);
}

#[tokio::test]
async fn chunked_request_bodies_are_accepted() {
    // Samsung phones send the request chunked (docs/protocols.md, "Chunked request bodies").
    let server = demo().await;
    let body = request_body("jane@example.com", OUTLOOK_SCHEMA);
    let (a, b) = body.split_at(body.len() / 2);
    let request = format!(
        "POST {POX} HTTP/1.1\r\nHost: example.com\r\nContent-Type: text/xml\r\n\
         Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n\
         {:x}\r\n{a}\r\n{:x}\r\n{b}\r\n0\r\n\r\n",
        a.len(),
        b.len()
    );
    let raw = raw_http(server.addr, request.as_bytes()).await;
    assert_eq!(raw.status, 200, "{}", raw.head);
    let text = String::from_utf8(raw.body).unwrap();
    assert_eq!(protocols(&text).len(), 7);
}

#[tokio::test]
async fn path_is_case_insensitive() {
    // Outlook, phones and exchangelib 4.x ask for /Autodiscover/Autodiscover.xml
    // (docs/protocols.md, "Autodiscover path case").
    let server = demo().await;
    for path in [
        "/Autodiscover/Autodiscover.xml",
        "/AUTODISCOVER/AUTODISCOVER.XML",
        "/autodiscover/Autodiscover.xml",
    ] {
        let body = post(
            &server,
            path,
            request_body("jane@example.com", OUTLOOK_SCHEMA),
        )
        .await;
        assert_eq!(protocols(&body).len(), 7, "{path}");
    }
}

#[tokio::test]
async fn any_declaration_casing_and_https_namespaces() {
    // Any declaration casing (docs/protocols.md, "Chunked request bodies") and Microsoft's
    // https:// namespaces (docs/protocols.md, "Both namespace spellings").
    let server = demo().await;
    for body in [
        request_body("jane@example.com", OUTLOOK_SCHEMA).replace("utf-8", "UTF-8"),
        request_body("jane@example.com", OUTLOOK_SCHEMA)
            .replace("encoding=\"utf-8\"", "encoding=\"Utf-8\""),
        request_body("jane@example.com", OUTLOOK_SCHEMA).replace("http://", "https://"),
        request_body("jane@example.com", OUTLOOK_SCHEMA).replacen(
            "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n",
            "",
            1,
        ),
    ] {
        let answer = post(&server, POX, body.clone()).await;
        assert_eq!(protocols(&answer).len(), 7, "{body}");
    }
}

#[tokio::test]
async fn get_gives_domain_level_settings() {
    // Delta Chat GETs the POX URL with no body and no address.
    let server = demo().await;
    for host in ["autodiscover.example.com", "example.com"] {
        let response = client()
            .get(server.url(POX))
            .header(HOST, host)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        let body = response.text().await.unwrap();
        assert!(body.starts_with("<?xml"));
        let entries = protocols(&body);
        assert_eq!(field(&entries[0], "Server"), Some("imap.example.com"));
        // No address: no LoginName rather than a literal placeholder (docs/protocols.md, "No
        // placeholder left in a URL").
        assert!(!body.contains('%') && !body.contains("LoginName"), "{body}");
    }
    let unknown = client()
        .get(server.url(POX))
        .header(HOST, "autodiscover.example.net")
        .send()
        .await
        .unwrap();
    assert_eq!(
        error_code(&unknown.text().await.unwrap()).as_deref(),
        Some("500")
    );
    // 127.0.0.1 names no domain.
    let no_domain = client().get(server.url(POX)).send().await.unwrap();
    let text = no_domain.text().await.unwrap();
    validate_autodiscover(text.as_bytes());
    assert_eq!(error_code(&text).as_deref(), Some("600"));
}

#[tokio::test]
async fn wrong_method_is_405() {
    let server = demo().await;
    for method in [
        reqwest::Method::PUT,
        reqwest::Method::DELETE,
        reqwest::Method::PATCH,
    ] {
        let response = client()
            .request(method, server.url(POX))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::METHOD_NOT_ALLOWED);
    }
    let json =
        client()
            .post(server.url(
                "/autodiscover/autodiscover.json?Email=jane%40example.com&Protocol=ActiveSync",
            ))
            .send()
            .await
            .unwrap();
    assert_eq!(json.status(), StatusCode::METHOD_NOT_ALLOWED);
}

async fn get_json(server: &TestServer, path: &str) -> (StatusCode, serde_json::Value) {
    let response = client().get(server.url(path)).send().await.unwrap();
    let status = response.status();
    if status.is_success() {
        assert_eq!(
            response.headers()[CONTENT_TYPE],
            "application/json; charset=utf-8"
        );
    }
    (status, response.json().await.unwrap())
}

fn json_example(name: &str) -> serde_json::Value {
    serde_json::from_str(&example(name)).unwrap()
}

#[tokio::test]
async fn json_both_url_forms_with_case_insensitive_protocol() {
    let server = demo().await;
    for path in [
        "/autodiscover/autodiscover.json/v1.0/jane@example.com?Protocol=ActiveSync",
        "/autodiscover/autodiscover.json/v1.0/jane%40example.com?Protocol=activesync",
        "/Autodiscover/Autodiscover.json/v1.0/jane@example.com?protocol=ACTIVESYNC",
        "/autodiscover/autodiscover.json?Email=jane%40example.com&Protocol=ActiveSync&RedirectCount=1",
        "/autodiscover/autodiscover.json?email=jane@example.com&protocol=activeSync",
    ] {
        let (status, value) = get_json(&server, path).await;
        assert_eq!(status, StatusCode::OK, "{path}");
        assert_eq!(value, json_example("v2-activesync.json"), "{path}");
    }
    let (status, value) = get_json(
        &server,
        "/autodiscover/autodiscover.json/v1.0/jane@example.com?Protocol=AutodiscoverV1",
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(value["Protocol"], "AutodiscoverV1");
    // Not behind a trusted proxy: our own scheme and Host.
    assert_eq!(
        value["Url"],
        format!("http://{}/autodiscover/autodiscover.xml", server.addr)
    );
}

#[tokio::test]
async fn json_autodiscover_v1_honours_forwarded_headers_only_from_trusted_proxies() {
    let forwarded = |request: reqwest::RequestBuilder| {
        request
            .header("X-Forwarded-Proto", "https")
            .header("X-Forwarded-Host", "autodiscover.example.com")
    };
    let path = "/autodiscover/autodiscover.json/v1.0/jane@example.com?Protocol=AutodiscoverV1";
    let trusting = support::config_from(&mxconf::config::DEMO_TOML.replace(
        "trusted-proxies = []",
        "trusted-proxies = [\"127.0.0.0/8\"]",
    ));
    let server = TestServer::start(trusting).await;
    let value: serde_json::Value = forwarded(client().get(server.url(path)))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(value, json_example("v2-autodiscoverv1.json"));
    let untrusting = demo().await;
    let value: serde_json::Value = forwarded(client().get(untrusting.url(path)))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        value["Url"],
        format!("http://{}/autodiscover/autodiscover.xml", untrusting.addr)
    );
}

#[tokio::test]
async fn json_invalid_protocol_is_400_like_microsoft() {
    let server = demo().await;
    let (status, value) = get_json(
        &server,
        "/autodiscover/autodiscover.json/v1.0/jane@example.com?Protocol=Foo",
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(value, json_example("v2-error-invalidprotocol.json"));
    // Microsoft's v2 answers ActiveSync, AutodiscoverV1 and Ews only: the other services mxconf
    // knows (the demo configures CalDAV and CardDAV) are no v2 protocols, in any spelling.
    for bad in [
        "",
        "?Protocol=",
        "?Protocol=%3Cscript%3E",
        "?Protocol=Jmap",
        "?Protocol=jmap",
        "?Protocol=CalDav",
        "?Protocol=CardDav",
        "?Protocol=WebDav",
        "?Protocol=Imap",
        "?Protocol=Pop3",
        "?Protocol=Smtp",
        "?Protocol=Documentation",
    ] {
        let path = format!("/autodiscover/autodiscover.json/v1.0/jane@example.com{bad}");
        let response = client().get(server.url(&path)).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{bad}");
        let text = response.text().await.unwrap();
        assert!(
            text.contains("InvalidProtocol") && !text.contains("script"),
            "{text}"
        );
    }
}

#[tokio::test]
async fn json_unknown_domain_is_404_and_bad_addresses_400() {
    let server = demo().await;
    let (status, value) = get_json(
        &server,
        "/autodiscover/autodiscover.json?Email=jane%40example.net&Protocol=ActiveSync",
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(value["ErrorCode"], "InvalidDomain");
    for path in [
        "/autodiscover/autodiscover.json?Protocol=ActiveSync",
        "/autodiscover/autodiscover.json?Email=not-an-address&Protocol=ActiveSync",
        "/autodiscover/autodiscover.json/v1.0/%3Cscript%3E@example.com?Protocol=ActiveSync",
    ] {
        let response = client().get(server.url(path)).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{path}");
        let text = response.text().await.unwrap();
        assert!(
            text.len() < 100 && !text.contains("script") && !text.contains("not-an"),
            "{text}"
        );
    }
}

#[test]
fn render_cli_prints_exactly_the_server_bodies() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let server = runtime.block_on(demo());
    for (protocol, schema) in [
        ("outlook", OUTLOOK_SCHEMA),
        ("mobilesync", MOBILESYNC_SCHEMA),
    ] {
        let cli = assert_cmd::Command::cargo_bin("mxconf")
            .unwrap()
            .args(["render", protocol, "jane@example.com"])
            .output()
            .unwrap();
        assert!(cli.status.success());
        let served = runtime.block_on(pox(&server, "jane@example.com", schema));
        assert_eq!(String::from_utf8(cli.stdout).unwrap(), served, "{protocol}");
    }
    let cli = assert_cmd::Command::cargo_bin("mxconf")
        .unwrap()
        .args(["render", "json", "jane@example.com"])
        .output()
        .unwrap();
    let served =
        runtime.block_on(async {
            client()
                .get(server.url(
                    "/autodiscover/autodiscover.json/v1.0/jane@example.com?Protocol=ActiveSync",
                ))
                .send()
                .await
                .unwrap()
                .bytes()
                .await
                .unwrap()
        });
    assert_eq!(cli.stdout, served.to_vec());
}
