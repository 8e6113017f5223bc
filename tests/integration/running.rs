//! `mxconf serve` as an admin runs it, as a process: what it logs (text or JSON lines, never a
//! query string, colour only on a terminal), and how it answers signals.

use crate::support::cli::temp_file;
use crate::support::process::Served;

async fn get(served: &Served, path: &str) -> reqwest::Response {
    reqwest::get(served.url(path)).await.unwrap()
}

#[tokio::test]
async fn request_lines_name_the_route_never_the_query_at_any_level() {
    let served = Served::start(&["--log-format", "text"], &[("RUST_LOG", "trace")]);
    let paths = [
        "/mail/config-v1.1.xml?emailaddress=jane%40example.com",
        "/autodiscover/autodiscover.json/v1.0/jane@example.com?Protocol=ActiveSync",
        "/nothing-here?emailaddress=jane%40example.com",
    ];
    for path in paths {
        get(&served, path).await;
    }
    served.wait_for_nth("mxconf::request", paths.len());
    let log = served.log();
    assert!(
        log.contains("endpoint=\"/autodiscover/autodiscover.json/v1.0/{email}\""),
        "{log}"
    );
    assert!(log.contains("endpoint=\"-\" status=404"), "{log}");
    for leak in [
        "emailaddress",
        "jane%40",
        "Protocol=",
        "/v1.0/jane",
        "nothing-here",
    ] {
        assert!(!log.contains(leak), "{leak:?} in the log:\n{log}");
    }
    // stderr is a pipe here, not a terminal.
    assert!(!log.contains('\u{1b}'), "colour escapes in a pipe:\n{log}");
}

#[tokio::test]
async fn json_lines_carry_the_request_fields_and_the_client_behind_the_proxy() {
    let (_dir, config) = temp_file(
        "mxconf.toml",
        &mxconf::config::DEMO_TOML
            .replace("trusted-proxies = []", "trusted-proxies = [\"127.0.0.1\"]")
            .replace("format = \"text\"", "format = \"json\""),
    );
    let served = Served::start(&["--config", config.to_str().unwrap()], &[]);
    let response = reqwest::Client::new()
        .get(served.url("/mail/config-v1.1.xml?emailaddress=jane%40example.com"))
        .header("X-Forwarded-For", "203.0.113.50, 198.51.100.7")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    served.wait_for("mxconf::request");
    let log = served.log();
    assert!(!log.contains("jane"), "an address at INFO:\n{log}");
    let lines: Vec<serde_json::Value> = log
        .lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|_| panic!("not JSON: {line}")))
        .collect();
    let request = lines
        .iter()
        .find(|line| line["target"] == "mxconf::request")
        .unwrap();
    assert_eq!(request["level"], "INFO");
    assert_eq!(request["message"], "request");
    assert_eq!(request["method"], "GET");
    assert_eq!(request["endpoint"], "/mail/config-v1.1.xml");
    assert_eq!(request["status"], 200);
    assert_eq!(request["client"], "198.51.100.7");
    assert!(request["duration_ms"].as_f64().unwrap() >= 0.0);
    assert!(request["timestamp"].as_str().unwrap().starts_with("20"));
}
