//! Real-client acceptance over HTTPS served by mxconf itself: exchangelib 4.9's whole POX
//! discovery (`tests/clients/exchangelib_discover.py`, in a private network namespace so mxconf
//! takes ports 80 and 443) with a certificate from a test CA made here. A domain the
//! certificate covers is found on `https://autodiscover.<domain>/` at once; a domain it does
//! not cover is found through the plain-HTTP step, whose 302 sends exchangelib to the server's
//! own host name over HTTPS.

use serde_json::Value;

use crate::support::clients::Deployment;

/// The demo with EWS for example.com (exchangelib wants an EWS URL from discovery).
fn config() -> String {
    let demo = mxconf::config::DEMO_TOML;
    let config = demo.replacen(
        "# ews = \"https://mail.example.com/EWS/Exchange.asmx\"\n",
        "ews = \"https://mail.example.com/EWS/Exchange.asmx\"\n",
        1,
    );
    assert_ne!(config, demo);
    config
}

fn discover(emails: &[&str]) -> Value {
    let hosts = [
        "example.com",
        "autodiscover.example.com",
        "autoconfig.example.com",
        "example.net",
        "autodiscover.example.net",
    ]
    .join(",");
    let args = std::iter::once(hosts.as_str()).chain(emails.iter().copied());
    Deployment::new(&config()).run("exchangelib_discover.py", args)
}

#[test]
fn exchangelib_discovers_over_https_and_through_the_plain_http_redirect() {
    let result = discover(&["jane@example.com", "joe@example.net"]);
    let log = result["mxconf_log"].as_str().unwrap_or_default();
    let steps = |email: &str| -> Vec<String> {
        result[email]["steps"]
            .as_array()
            .unwrap_or_else(|| panic!("{email}: {}\n{log}", result[email]))
            .iter()
            .map(|step| step.as_str().unwrap().to_owned())
            .collect()
    };

    // Covered by the certificate: https://example.com/ fails the name check, step 2 answers.
    let jane = &result["jane@example.com"];
    assert_eq!(
        jane["ews_url"], "https://mail.example.com/EWS/Exchange.asmx",
        "{jane}\n{log}"
    );
    let jane_steps = steps("jane@example.com");
    assert!(jane_steps[1].starts_with(
        "Step 2: Trying autodiscover on 'https://autodiscover.example.com/Autodiscover/Autodiscover.xml'"
    ), "{jane_steps:?}");
    assert!(jane_steps[2].starts_with("Step 5"), "{jane_steps:?}");

    // Not covered: both HTTPS steps fail the certificate check; the plain-HTTP GET gets a 302
    // to the server's own name over HTTPS, which exchangelib checks (https, a valid
    // certificate) and POSTs to.
    let joe = &result["joe@example.net"];
    assert_eq!(
        joe["ews_url"], "https://mail.example.net/EWS/Exchange.asmx",
        "{joe}\n{log}"
    );
    let joe_steps = steps("joe@example.net");
    assert!(joe_steps[2].starts_with(
        "Step 3: Trying autodiscover on 'http://autodiscover.example.net/Autodiscover/Autodiscover.xml'"
    ), "{joe_steps:?}");
    assert!(joe_steps[3].starts_with("Step 5"), "{joe_steps:?}");
    assert!(
        log.contains("method=GET endpoint=\"/autodiscover/autodiscover.xml\" status=302"),
        "{log}"
    );
}
