//! Real-client acceptance: Thunderbird's own account-setup code (Debian `thunderbird`,
//! headless, driven by Marionette through `tests/clients/thunderbird.py`) discovers the demo
//! account from mxconf by autoconfig, the ISPDB-style route and Autodiscover POX. The script
//! runs in a private network namespace so mxconf can take ports 80 and 443 where Thunderbird
//! looks, serving HTTPS itself with a certificate from a test CA made here and trusted in
//! Thunderbird's profile. The config is the demo plus every v1.2 form (JMAP, EWS, WebDAV,
//! `[oauth2]`, SASL), so Thunderbird reads an answer that uses them all, and example.net, a
//! domain the certificate does not cover, for the fallback to plain HTTP.

use serde_json::Value;

use crate::support::clients::Deployment;

/// nsMsgSocketType and nsMsgAuthMethod values as Thunderbird reports them.
const SSL: i64 = 3;
const STARTTLS: i64 = 2;
const PASSWORD_CLEARTEXT: i64 = 3;

/// The demo with the v1.2 services added: SASL ahead of the first IMAP server's method, an
/// OAuth2 server, JMAP, EWS and WebDAV next to the demo's ActiveSync and DAV.
fn config() -> String {
    let demo = include_str!("../../examples/mxconf.toml");
    let services = "carddav = \"https://dav.example.com/\"\n\
                    jmap = \"https://jmap.example.com/session\"\n\
                    ews = \"https://mail.example.com/EWS/Exchange.asmx\"\n\
                    webdav = \"https://files.example.com/\"\n";
    let oauth2 = "[domains.\"example.com\".oauth2]\nissuer = \"login.example.com\"\n\
                  scope = \"IMAP SMTP offline_access\"\n\
                  auth-url = \"https://login.example.com/auth\"\n\
                  token-url = \"https://login.example.com/token\"\n\n\
                  [[domains.\"example.com\".imap]]\n";
    let config = demo
        .replacen("carddav = \"https://dav.example.com/\"\n", services, 1)
        .replacen("[[domains.\"example.com\".imap]]\n", oauth2, 1)
        .replacen(
            "security = \"tls\"\n",
            "security = \"tls\"\nsasl = [\"SCRAM-SHA-256-PLUS\", \"SCRAM-SHA-256\"]\n",
            1,
        );
    assert_ne!(config, demo);
    config
}

fn discover() -> Value {
    let accounts = [
        "example.com",
        "Jane.Doe@Example.com",
        "example.net",
        "joe@example.net",
    ];
    Deployment::new(&config()).run("thunderbird.py", accounts)
}

fn server(value: &Value) -> (String, String, i64, i64, i64, String) {
    (
        value["type"].as_str().unwrap_or_default().to_owned(),
        value["hostname"].as_str().unwrap_or_default().to_owned(),
        value["port"].as_i64().unwrap_or_default(),
        value["socketType"].as_i64().unwrap_or_default(),
        value["auth"].as_i64().unwrap_or_default(),
        value["username"].as_str().unwrap_or_default().to_owned(),
    )
}

fn expect(
    kind: &str,
    host: &str,
    port: i64,
    socket: i64,
    user: &str,
) -> (String, String, i64, i64, i64, String) {
    (
        kind.into(),
        host.into(),
        port,
        socket,
        PASSWORD_CLEARTEXT,
        user.into(),
    )
}

#[test]
fn thunderbird_sets_up_the_demo_account_from_every_source() {
    let all = discover();
    falls_back_to_plain_http_where_no_certificate_covers_the_domain(&all["example.net"]);
    let result = &all["example.com"];
    let user = "Jane.Doe@example.com";

    // Mozilla autoconfig fetched from https://autoconfig.example.com/, the first URL
    // Thunderbird tries, with the address: implicit TLS first, usernames expanded server-side.
    let isp = &result["isp"];
    assert!(isp.get("error").is_none(), "autoconfig: {isp}");
    assert_eq!(isp["subSource"], "xml-from-isp-https");
    assert_eq!(isp["id"], "example.com");
    assert_eq!(isp["displayName"], "Example Mail");
    assert_eq!(
        server(&isp["incoming"]),
        expect("imap", "imap.example.com", 993, SSL, user)
    );
    let alternatives: Vec<_> = isp["incomingAlternatives"]
        .as_array()
        .expect("alternatives")
        .iter()
        .map(server)
        .collect();
    // SASL mechanisms ahead of password-cleartext were skipped (the 993 entry above kept
    // its password method); JMAP and ActiveSync are types Thunderbird does not read; EWS is
    // an alternative with its URL, by the password method listed after HTTP Basic.
    assert_eq!(
        alternatives,
        [
            expect("imap", "imap.example.com", 143, STARTTLS, user),
            expect("pop3", "pop.example.com", 995, SSL, user),
            expect("ews", "mail.example.com", 0, SSL, user),
        ]
    );
    assert_eq!(
        isp["incomingAlternatives"][2]["exchangeURL"],
        "https://mail.example.com/EWS/Exchange.asmx"
    );
    assert_eq!(
        server(&isp["outgoing"]),
        expect("smtp", "smtp.example.com", 465, SSL, user)
    );
    assert_eq!(
        server(&isp["outgoingAlternatives"][0]),
        expect("smtp", "smtp.example.com", 587, STARTTLS, user)
    );

    // The ISPDB-style /v1.1/<domain> route: no address, so the template stays for
    // Thunderbird to fill in.
    let ispdb = &result["ispdb"];
    assert!(ispdb.get("error").is_none(), "ispdb route: {ispdb}");
    assert_eq!(
        server(&ispdb["incoming"]),
        expect("imap", "imap.example.com", 993, SSL, "%EMAILADDRESS%")
    );

    // Autodiscover POX (Outlook schema) read by Thunderbird's Exchange reader, from
    // https://autodiscover.example.com/ (its first URL).
    let exchange = &result["exchange"];
    assert!(exchange.get("error").is_none(), "autodiscover: {exchange}");
    assert_eq!(exchange["subSource"], "exchange-from-url1");
    assert_eq!(
        server(&exchange["incoming"]),
        expect("imap", "imap.example.com", 993, SSL, user)
    );
    assert_eq!(
        server(&exchange["outgoing"]),
        expect("smtp", "smtp.example.com", 465, SSL, user)
    );
}

/// example.net, which no certificate covers, in the same Thunderbird session.
fn falls_back_to_plain_http_where_no_certificate_covers_the_domain(result: &Value) {
    let user = "joe@example.net";
    // https://autoconfig.example.net/ presents example.com's certificate: Thunderbird refuses
    // it and takes the answer mxconf still gives over plain HTTP.
    let isp = &result["isp"];
    assert!(isp.get("error").is_none(), "autoconfig: {isp}");
    assert_eq!(isp["subSource"], "xml-from-isp-http");
    assert_eq!(
        server(&isp["incoming"]),
        expect("imap", "imap.example.net", 993, SSL, user)
    );
    // Both HTTPS Autodiscover URLs fail the same way; the plain-HTTP POST is redirected (307)
    // to the server's own name over HTTPS, followed with its body, and answered there.
    let exchange = &result["exchange"];
    assert!(exchange.get("error").is_none(), "autodiscover: {exchange}");
    assert_eq!(exchange["subSource"], "exchange-from-url3");
    assert_eq!(
        server(&exchange["incoming"]),
        expect("imap", "imap.example.net", 993, SSL, user)
    );
}
