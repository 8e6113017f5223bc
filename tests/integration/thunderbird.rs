//! Real-client acceptance: Thunderbird's own account-setup code (Debian `thunderbird`,
//! headless, driven by Marionette through `tests/clients/thunderbird.py`) discovers the demo
//! account from mxconf by autoconfig, the ISPDB-style route and Autodiscover POX. The script
//! runs in a private network namespace so mxconf can take port 80 where Thunderbird looks.

use std::process::Command;

use serde_json::Value;

/// nsMsgSocketType and nsMsgAuthMethod values as Thunderbird reports them.
const SSL: i64 = 3;
const STARTTLS: i64 = 2;
const PASSWORD_CLEARTEXT: i64 = 3;

fn discover() -> Value {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/clients/thunderbird.py");
    let output = Command::new("unshare")
        .args([
            "--net",
            "--",
            "python3",
            script,
            env!("CARGO_BIN_EXE_mxconf"),
        ])
        .args(["example.com", "Jane.Doe@Example.com"])
        .output()
        .expect("unshare and python3 run");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "thunderbird harness failed: {stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_str(&stdout).expect("the harness prints JSON")
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
    let result = discover();
    let user = "Jane.Doe@example.com";

    // Mozilla autoconfig fetched from http://autoconfig.example.com/ (and .well-known), with
    // the address: implicit TLS first, usernames expanded server-side.
    let isp = &result["isp"];
    assert!(isp.get("error").is_none(), "autoconfig: {isp}");
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
    assert_eq!(
        alternatives,
        [
            expect("imap", "imap.example.com", 143, STARTTLS, user),
            expect("pop3", "pop.example.com", 995, SSL, user),
        ]
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

    // Autodiscover POX (Outlook schema) read by Thunderbird's Exchange reader.
    let exchange = &result["exchange"];
    assert!(exchange.get("error").is_none(), "autodiscover: {exchange}");
    assert_eq!(
        server(&exchange["incoming"]),
        expect("imap", "imap.example.com", 993, SSL, user)
    );
    assert_eq!(
        server(&exchange["outgoing"]),
        expect("smtp", "smtp.example.com", 465, SSL, user)
    );
}
