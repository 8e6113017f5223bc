//! Mozilla autoconfig over real HTTP: every route, method and Host form; the docs/protocols.md
//! autoconfig rules; bad input. Every 200 answer is checked with xmllint against the draft's
//! RELAX NG schema.

use reqwest::StatusCode;
use reqwest::header::{CONTENT_TYPE, HOST};

use crate::support::cli::mxconf;
use crate::support::{self, TestServer, validate_autoconfig};

const PATHS: [&str; 2] = [
    "/mail/config-v1.1.xml",
    "/.well-known/autoconfig/mail/config-v1.1.xml",
];

async fn demo() -> TestServer {
    TestServer::start(support::demo_config()).await
}

fn client() -> reqwest::Client {
    reqwest::Client::new()
}

/// A plain GET of `path`, whatever the answer.
async fn get(server: &TestServer, path: &str) -> reqwest::Response {
    client().get(server.url(path)).send().await.unwrap()
}

/// Texts of every element named `name`, in document order.
fn texts(body: &str, name: &str) -> Vec<String> {
    let doc = roxmltree::Document::parse(body).unwrap();
    doc.descendants()
        .filter(|n| n.has_tag_name(name))
        .map(|n| n.text().unwrap_or_default().to_owned())
        .collect()
}

/// GETs `path` and returns the 200 body after checking type, declaration and schema.
async fn fetch_valid(server: &TestServer, path: &str, host: Option<&str>) -> String {
    let mut request = client().get(server.url(path));
    if let Some(host) = host {
        request = request.header(HOST, host);
    }
    let response = request.send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK, "{path}");
    assert_eq!(
        response.headers()[CONTENT_TYPE],
        "application/xml; charset=utf-8"
    );
    let body = response.bytes().await.unwrap();
    assert!(body.starts_with(b"<?xml version=\"1.0\" encoding=\"UTF-8\"?>"));
    validate_autoconfig(&body);
    String::from_utf8(body.to_vec()).unwrap()
}

#[tokio::test]
async fn get_and_head_on_both_paths_with_an_address() {
    let server = demo().await;
    for path in PATHS {
        let body = fetch_valid(
            &server,
            &format!("{path}?emailaddress=jane%40example.com"),
            None,
        )
        .await;
        assert_eq!(texts(&body, "username")[0], "jane@example.com");
        let head = client()
            .head(server.url(&format!("{path}?emailaddress=jane%40example.com")))
            .send()
            .await
            .unwrap();
        assert_eq!(head.status(), StatusCode::OK);
        assert_eq!(
            head.headers()[CONTENT_TYPE],
            "application/xml; charset=utf-8"
        );
        // HEAD announces the length of the body GET would send.
        assert_eq!(
            head.headers()["content-length"],
            body.len().to_string().as_str()
        );
        assert!(head.bytes().await.unwrap().is_empty());
    }
}

#[tokio::test]
async fn thunderbird_reads_the_demo_in_preference_order() {
    let server = demo().await;
    let body = fetch_valid(
        &server,
        "/mail/config-v1.1.xml?emailaddress=jane%40example.com",
        None,
    )
    .await;
    let doc = roxmltree::Document::parse(&body).unwrap();
    let provider = doc
        .descendants()
        .find(|n| n.has_tag_name("emailProvider"))
        .unwrap();
    assert_eq!(provider.attribute("id"), Some("example.com"));
    assert_eq!(texts(&body, "domain"), ["example.com"]);
    assert_eq!(texts(&body, "displayName"), ["Example Mail"]);
    // Implicit TLS first, then STARTTLS; never plain unless configured (RFC 8314;
    // docs/protocols.md, "Implicit TLS first, plain only when configured").
    assert_eq!(
        texts(&body, "socketType"),
        ["SSL", "STARTTLS", "SSL", "SSL", "STARTTLS"]
    );
    assert_eq!(texts(&body, "port"), ["993", "143", "995", "465", "587"]);
    assert_eq!(
        texts(&body, "url"),
        [
            "https://mail.example.com/Microsoft-Server-ActiveSync",
            "https://dav.example.com/",
            "https://dav.example.com/"
        ]
    );
    assert!(
        !body.contains('%'),
        "address known: nothing left to expand\n{body}"
    );
}

#[tokio::test]
async fn domain_comes_from_the_host_header_without_an_address() {
    let server = demo().await;
    for host in [
        "autoconfig.example.com",
        "example.com",
        "AutoConfig.Example.COM:8080",
    ] {
        for path in PATHS {
            let body = fetch_valid(&server, path, Some(host)).await;
            assert_eq!(texts(&body, "domain"), ["example.com"], "{host}");
            // Thunderbird expands the placeholder itself; only <username> carries it.
            assert!(
                texts(&body, "username")
                    .iter()
                    .all(|u| u == "%EMAILADDRESS%")
            );
        }
    }
    // 127.0.0.1 names no domain: a short 400, not a guess.
    let response = get(&server, PATHS[0]).await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let unknown = client()
        .get(server.url(PATHS[0]))
        .header(HOST, "autoconfig.example.net")
        .send()
        .await
        .unwrap();
    assert_eq!(unknown.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn ispdb_style_route_serves_the_domain() {
    let server = demo().await;
    for domain in ["example.com", "EXAMPLE.com"] {
        let body = fetch_valid(&server, &format!("/v1.1/{domain}"), None).await;
        assert_eq!(texts(&body, "domain"), ["example.com"]);
    }
    let head = client()
        .head(server.url("/v1.1/example.com"))
        .send()
        .await
        .unwrap();
    assert_eq!(head.status(), StatusCode::OK);
    let unknown = get(&server, "/v1.1/example.net").await;
    assert_eq!(unknown.status(), StatusCode::NOT_FOUND);
    let bad = get(&server, "/v1.1/%3Cscript%3E").await;
    assert_eq!(bad.status(), StatusCode::BAD_REQUEST);
    assert!(!bad.text().await.unwrap().contains("script"));
}

#[tokio::test]
async fn unknown_domain_is_404_and_never_another_domains_settings() {
    let server = demo().await;
    let response = get(
        &server,
        "/mail/config-v1.1.xml?emailaddress=jane%40example.net",
    )
    .await;
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    let body = response.text().await.unwrap();
    assert_eq!(body, "no settings for this domain\n");
}

#[tokio::test]
async fn percent_encoded_address_is_decoded_never_echoed() {
    // Delta Chat encodes everything but the dot; murena.io once echoed `%2E` into <username>.
    let server = demo().await;
    let body = fetch_valid(
        &server,
        "/mail/config-v1.1.xml?emailaddress=Jane%2EDoe%2Blists%40Example%2ECOM",
        None,
    )
    .await;
    assert!(
        texts(&body, "username")
            .iter()
            .all(|u| u == "Jane.Doe+lists@example.com")
    );
    assert!(!body.contains("%2E") && !body.contains("%40"), "{body}");
}

#[tokio::test]
async fn known_domain_unknown_user_gets_the_generic_settings() {
    // No enumeration: any local part gets the same answer, with its own login filled in.
    let server = demo().await;
    let a = fetch_valid(
        &server,
        "/mail/config-v1.1.xml?emailaddress=exists%40example.com",
        None,
    )
    .await;
    let b = fetch_valid(
        &server,
        "/mail/config-v1.1.xml?emailaddress=nobody%40example.com",
        None,
    )
    .await;
    assert_eq!(a.replace("exists@", "nobody@"), b);
}

#[tokio::test]
async fn hostile_addresses_get_a_short_400_without_reflection() {
    let server = demo().await;
    let long = format!("{}%40example.com", "a".repeat(1024));
    for raw in [
        "not-an-address",
        "%3Cscript%3Ealert(1)%3C%2Fscript%3E%40example.com",
        "jane%40example.com%3Cx%3E",
        "%22%3E%3Cimg%20src%3Dx%3E%40example.com",
        "%00%40example.com",
        "%FF%FE",
        long.as_str(),
    ] {
        let response = get(
            &server,
            &format!("/mail/config-v1.1.xml?emailaddress={raw}"),
        )
        .await;
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{raw}");
        assert!(
            response.headers()[CONTENT_TYPE]
                .to_str()
                .unwrap()
                .starts_with("text/plain")
        );
        let body = response.text().await.unwrap();
        assert!(body.len() < 100, "{body}");
        for needle in ["<", "script", "img", "aaaa", "not-an"] {
            assert!(!body.contains(needle), "{raw} reflected: {body}");
        }
    }
}

#[tokio::test]
async fn idn_domains_are_accepted() {
    let config = support::config_from(
        "[provider]\nid = \"example.com\"\ndisplay-name = \"Bücher Mail\"\nshort-name = \"Bücher\"\n\
         [[domains.\"bücher.example\".imap]]\nhost = \"imap.example.com\"\nport = 993\nsecurity = \"tls\"\n\
         [[domains.\"bücher.example\".smtp]]\nhost = \"smtp.example.com\"\nport = 465\nsecurity = \"tls\"\n",
    );
    let server = TestServer::start(config).await;
    let body = fetch_valid(
        &server,
        "/mail/config-v1.1.xml?emailaddress=j%C3%B6rg%40B%C3%BCcher.example",
        None,
    )
    .await;
    assert_eq!(texts(&body, "domain"), ["xn--bcher-kva.example"]);
    assert_eq!(texts(&body, "username")[0], "jörg@xn--bcher-kva.example");
    assert_eq!(texts(&body, "displayName"), ["Bücher Mail"]);
    let punycode = fetch_valid(&server, "/v1.1/xn--bcher-kva.example", None).await;
    assert_eq!(texts(&punycode, "domain"), ["xn--bcher-kva.example"]);
}

#[tokio::test]
async fn wildcard_domains_name_the_literal_domain_and_plain_comes_last() {
    let config = support::config_from(
        "[provider]\nid = \"example.org\"\ndisplay-name = \"Org Mail\"\nshort-name = \"Org\"\n\
         [[domains.\"*.example.org\".imap]]\nhost = \"imap.example.org\"\nport = 143\nsecurity = \"plain\"\n\
         [[domains.\"*.example.org\".imap]]\nhost = \"imap.example.org\"\nport = 993\nsecurity = \"tls\"\n\
         authentication = [\"oauth2\"]\nusername = \"%EMAILLOCALPART%\"\n\
         [[domains.\"*.example.org\".smtp]]\nhost = \"smtp.example.org\"\nport = 25\nsecurity = \"starttls\"\n\
         authentication = \"none\"\n",
    );
    let server = TestServer::start(config).await;
    let body = fetch_valid(
        &server,
        "/mail/config-v1.1.xml?emailaddress=jane%40Team.Example.org",
        None,
    )
    .await;
    assert_eq!(texts(&body, "domain"), ["team.example.org"]);
    assert_eq!(texts(&body, "socketType"), ["SSL", "plain", "STARTTLS"]);
    // After OAuth2 a password method; <username> always, even with `none` (docs/protocols.md,
    // "Password method after OAuth2" and "Always a username").
    assert_eq!(
        texts(&body, "authentication"),
        ["OAuth2", "password-cleartext", "password-cleartext", "none"]
    );
    assert_eq!(
        texts(&body, "username"),
        ["jane", "jane@team.example.org", "jane@team.example.org"]
    );
    let apex = get(
        &server,
        "/mail/config-v1.1.xml?emailaddress=jane%40example.org",
    )
    .await;
    assert_eq!(apex.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn wrong_method_is_405_and_unknown_path_404() {
    let server = demo().await;
    for path in PATHS {
        for method in [
            reqwest::Method::POST,
            reqwest::Method::PUT,
            reqwest::Method::DELETE,
        ] {
            let response = client()
                .request(method.clone(), server.url(path))
                .send()
                .await
                .unwrap();
            assert_eq!(
                response.status(),
                StatusCode::METHOD_NOT_ALLOWED,
                "{method} {path}"
            );
            assert_eq!(response.headers()["allow"], "GET,HEAD");
            assert_eq!(response.text().await.unwrap(), "method not allowed\n");
        }
    }
    let missing = get(&server, "/mail/other.xml").await;
    assert_eq!(missing.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn responses_are_never_sniffed() {
    let server = demo().await;
    let response = get(&server, "/mail/config-v1.1.xml?emailaddress=x").await;
    assert_eq!(response.headers()["x-content-type-options"], "nosniff");
}

#[test]
fn render_cli_prints_exactly_the_server_body() {
    let cli = mxconf()
        .args(["render", "autoconfig", "jane@example.com"])
        .output()
        .unwrap();
    assert!(cli.status.success());
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let served = runtime.block_on(async {
        let server = demo().await;
        get(
            &server,
            "/mail/config-v1.1.xml?emailaddress=jane%40example.com",
        )
        .await
        .bytes()
        .await
        .unwrap()
    });
    assert_eq!(cli.stdout, served.to_vec());
}

#[tokio::test]
async fn dav_url_placeholders_are_expanded_or_left_out() {
    // Never a placeholder left in a URL we built (docs/protocols.md, "No placeholder left in a
    // URL").
    let config = support::config_from(
        "[provider]\nid = \"example.org\"\ndisplay-name = \"Org Mail\"\nshort-name = \"Org\"\n\
         [domains.\"example.org\"]\ncaldav = \"https://dav.example.org/%EMAILLOCALPART%/cal/\"\n\
         carddav = \"https://%EMAILDOMAIN%.dav.example.net/book/\"\n\
         [[domains.\"example.org\".imap]]\nhost = \"imap.example.org\"\nport = 993\nsecurity = \"tls\"\n\
         [[domains.\"example.org\".smtp]]\nhost = \"smtp.example.org\"\nport = 465\nsecurity = \"tls\"\n",
    );
    let server = TestServer::start(config).await;
    let body = fetch_valid(
        &server,
        "/mail/config-v1.1.xml?emailaddress=Jane%40example.org",
        None,
    )
    .await;
    assert_eq!(
        texts(&body, "url"),
        [
            "https://example.org.dav.example.net/book/",
            "https://dav.example.org/Jane/cal/"
        ]
    );
    let domain_level = fetch_valid(&server, "/v1.1/example.org", None).await;
    assert_eq!(
        texts(&domain_level, "url"),
        ["https://example.org.dav.example.net/book/"]
    );
}

#[tokio::test]
async fn any_host_is_fine_when_the_address_is_given() {
    let server = demo().await;
    for host in ["mail.example.net", "127.0.0.1", "bogus host"] {
        let body = fetch_valid(
            &server,
            "/mail/config-v1.1.xml?emailaddress=jane%40example.com",
            Some(host),
        )
        .await;
        assert_eq!(texts(&body, "domain"), ["example.com"], "{host}");
    }
}
